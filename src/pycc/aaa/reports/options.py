"""What a report is asked for: the time range, the agent, queue or campaign it is limited to,
the time zone of its hour and day buckets, and the few report-specific knobs.

`ReportOptions` is the checked form every report function takes. `parse_options` builds it
from text, as the command line and the HTTP API receive it, and names the option at fault in
a `ReportError`. Times are epoch seconds of the call's start (``since`` inclusive, ``until``
exclusive); as text they may also be ISO 8601, read in the report's time zone when they carry
no offset of their own. Pure: ``now`` (which closes an agent's interval still open) is passed
in by the caller, never read from a clock here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycc.aaa.reports.zones import utc_label

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_THRESHOLD",
    "MAX_LIMIT",
    "MAX_TIME",
    "OPTION_NAMES",
    "ReportError",
    "ReportOptions",
    "parse_options",
    "zone_of",
]

#: Rows a list report (call log, records, customers, agent logs) gives unless told.
DEFAULT_LIMIT: Final = 1000
#: The most rows one report may be asked for.
MAX_LIMIT: Final = 1_000_000
#: Seconds within which a queue call counts as answered in time, unless the queue or the
#: request says otherwise (the common 80/20 service level).
DEFAULT_THRESHOLD: Final = 20.0
#: A longest wait worth naming as a service-level target: one day.
MAX_THRESHOLD: Final = 86400.0
#: Longest agent id, queue or campaign name accepted in a filter.
MAX_NAME: Final = 128
#: The latest time accepted (the last second of year 9999, as dates go).
MAX_TIME: Final = 253_402_300_799.0
#: The options a request may give, as the command line and the API name them.
OPTION_NAMES: Final = ("since", "until", "agent", "queue", "campaign", "tz", "limit",
                       "threshold")

_UTC: Final = "UTC"


class ReportError(ValueError):
    """A report that cannot be made as asked; ``field`` names the option at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The checked options of one report request (None: not limited)."""

    since: float | None = None
    until: float | None = None
    agent: str | None = None
    queue: str | None = None
    campaign: str | None = None
    #: IANA time zone name of the hour and day buckets.
    tz: str = _UTC
    limit: int | None = None
    #: Service-level target in seconds, overriding every queue's own.
    threshold: float | None = None
    #: The time an agent's interval still open is taken to end at (None: at its start).
    now: float | None = None
    #: Whether the report may read the summary tables (`pycc.aaa.reports.rollups`); False
    #: reads only the call records and agent events, the reference the summaries are
    #: checked against. Not a request option: the rows are the same either way.
    summaries: bool = True

    def __post_init__(self) -> None:
        for name in ("since", "until", "now"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_TIME):
                raise ReportError(name, f"must be epoch seconds from 0 to {MAX_TIME:.0f} "
                                        f"(1970 to 9999), not {value!r}")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ReportError("until", f"must be after since ({utc_label(self.until)} is "
                                       f"not after {utc_label(self.since)})")
        for name in ("agent", "queue", "campaign"):
            value = getattr(self, name)
            if value is not None and not 0 < len(value) <= MAX_NAME:
                raise ReportError(name, f"must be 1 to {MAX_NAME} characters")
        zone_of(self.tz)
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise ReportError("limit", f"must be 1 to {MAX_LIMIT}, not {self.limit}")
        if self.threshold is not None and not (
                math.isfinite(self.threshold) and 0 < self.threshold <= MAX_THRESHOLD):
            raise ReportError("threshold", f"must be seconds above 0 and at most "
                                           f"{MAX_THRESHOLD:g}, not {self.threshold!r}")

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.tz)

    @property
    def rows(self) -> int:
        """How many rows a list report gives."""
        return self.limit if self.limit is not None else DEFAULT_LIMIT

    def given(self) -> tuple[str, ...]:
        """The names of the options set (``tz`` only when not UTC)."""
        names = [name for name in OPTION_NAMES if name != "tz" and getattr(self, name)
                 is not None]
        if self.tz != _UTC:
            names.append("tz")
        return tuple(names)


def zone_of(name: str) -> ZoneInfo:
    """The time zone ``name`` (IANA, e.g. ``Europe/Berlin``), or the error naming ``tz``."""
    # ZoneInfo reads files named after the key: refuse anything that is not a zone name
    # before it gets near the file system.
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name \
            or "\\" in name or "\0" in name:
        raise ReportError("tz", f"not a time zone name: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ReportError("tz", f"unknown time zone {name!r} (use an IANA name such as "
                                f"Europe/Berlin or UTC)") from None


def parse_options(raw: Mapping[str, str | None], *, now: float | None = None) -> ReportOptions:
    """`ReportOptions` from text values (None or absent: not given); unknown names are
    refused, so a typo is not silently ignored."""
    unknown = sorted(set(raw) - set(OPTION_NAMES))
    if unknown:
        raise ReportError(unknown[0], f"unknown option (use {', '.join(OPTION_NAMES)})")
    values = {name: value for name, value in raw.items() if value is not None}
    tz = values.get("tz") or _UTC
    zone = zone_of(tz)
    limit = values.get("limit")
    threshold = values.get("threshold")
    return ReportOptions(
        since=_time(values.get("since"), "since", zone),
        until=_time(values.get("until"), "until", zone),
        agent=_name(values.get("agent"), "agent"),
        queue=_name(values.get("queue"), "queue"),
        campaign=_name(values.get("campaign"), "campaign"),
        tz=tz,
        limit=None if limit is None else _whole(limit, "limit"),
        threshold=None if threshold is None else _number(threshold, "threshold"),
        now=now,
    )


def _time(text: str | None, field: str, zone: ZoneInfo) -> float | None:
    if text is None:
        return None
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _finite(number, field)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(field, f"not a time: {text!r} (use epoch seconds or ISO 8601, "
                                 f"e.g. 2025-03-01 or 2025-03-01T08:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.timestamp()


def _finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise ReportError(field, f"must be a finite number, not {value!r}")
    return value


def _number(text: str, field: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ReportError(field, f"not a number: {text!r}") from None
    return _finite(number, field)


def _whole(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ReportError(field, f"not a whole number: {text!r}") from None


def _name(text: str | None, field: str) -> str | None:
    if text is None:
        return None
    if not text.strip():
        raise ReportError(field, "must not be empty")
    return text
