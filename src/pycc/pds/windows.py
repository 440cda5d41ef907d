"""Calling windows: the local hours, in the contact's own time zone, when the dialer may call.

A campaign's ``window: {start: "09:00", end: "20:00", days: mon-fri}`` is read as wall-clock
time where the customer lives, not where the switch runs: a contact in Los Angeles is called
from 09:00 Pacific time. Start is included and end excluded; ``end`` may be ``"24:00"``;
``start`` after ``end`` (``"20:00"`` to ``"02:00"``) crosses midnight, and then the part after
midnight belongs to the day the window opened (with ``days: fri``, Saturday 01:00 is inside).

Local time comes from :mod:`zoneinfo`, so daylight-saving time is the zone database's business:
on the day clocks go forward a window that opens inside the skipped hour opens when the clocks
reach it (at the jump), and on the day they go back the repeated hour is inside twice.
`next_opening` finds the first instant at or after ``now`` when calling is allowed, including
an opening caused by a clock change. Pure: the instant is passed in as epoch seconds (UTC).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycc.routing.patterns import RoutingError
from pycc.routing.timecond import HourRange, parse_weekdays

__all__ = ["ALL_DAYS", "CallingWindow", "WindowError", "may_call", "next_opening",
           "window_close", "zone_of"]

ALL_DAYS: Final = frozenset(range(7))
_DAY: Final = 86400
#: How far ahead `next_opening` looks: a window open on at least one weekday opens within
#: a week, and a day either side covers a window that crosses midnight.
_HORIZON_DAYS: Final = 9


class WindowError(ValueError):
    """A calling window is malformed; the message says which part."""


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Local times of day ``start <= t < end`` (seconds after midnight) on ``days``
    (Monday is 0); ``start > end`` crosses midnight."""

    start: int
    end: int
    days: frozenset[int] = ALL_DAYS

    @classmethod
    def parse(cls, start: str, end: str, days: str | None = None) -> CallingWindow:
        """From ``"09:00"``, ``"20:00"`` and optional weekdays (``"mon-fri"``, ``"sat,sun"``)."""
        if not isinstance(start, str) or not isinstance(end, str):
            raise WindowError("start and end must be times such as \"09:00\"")
        try:
            hours = HourRange.parse(f"{start.strip()}-{end.strip()}")
            weekdays = ALL_DAYS if days is None else parse_weekdays(days)
        except RoutingError as exc:
            raise WindowError(str(exc)) from None
        if not weekdays:
            raise WindowError("no weekdays")
        return cls(hours.start, hours.end, weekdays)

    @property
    def crosses_midnight(self) -> bool:
        return self.start > self.end

    def to_dict(self) -> dict[str, object]:
        """The window as ``pycc apply`` writes it."""
        value: dict[str, object] = {"start": _clock(self.start), "end": _clock(self.end)}
        if self.days != ALL_DAYS:
            names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            value["days"] = ",".join(names[day] for day in sorted(self.days))
        return value

    def contains(self, local: datetime) -> bool:
        """Whether the local wall-clock time ``local`` is inside the window."""
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        today = local.date()
        if not self.crosses_midnight:
            return self.start <= seconds < self.end and today.weekday() in self.days
        if seconds >= self.start:
            return today.weekday() in self.days
        return seconds < self.end and (today - timedelta(days=1)).weekday() in self.days


def zone_of(name: str | tzinfo) -> tzinfo:
    """The zone of an IANA name; `WindowError` if there is no such zone."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise WindowError(f"unknown time zone {name!r}") from None


def may_call(zone: str | tzinfo, window: CallingWindow | None, now_utc: float) -> bool:
    """Whether a contact in ``zone`` may be called at ``now_utc`` (no window: always)."""
    if window is None:
        return True
    local = datetime.fromtimestamp(now_utc, UTC).astimezone(zone_of(zone))
    return window.contains(local)


def next_opening(zone: str | tzinfo, window: CallingWindow | None, now_utc: float) -> float:
    """The first instant at or after ``now_utc`` when a contact in ``zone`` may be called."""
    if may_call(zone, window, now_utc):
        return now_utc
    assert window is not None  # no window always allows calling
    tz = zone_of(zone)
    today = datetime.fromtimestamp(now_utc, UTC).astimezone(tz).date()
    candidates = sorted(instant for instant in _openings(window, tz, today, now_utc)
                        if instant > now_utc)
    for instant in candidates:
        if may_call(tz, window, instant):
            return instant
    # Unreachable for a window open on some weekday; a day later is a safe answer anyway.
    return now_utc + _DAY


def window_close(zone: str | tzinfo, window: CallingWindow | None,
                 now_utc: float) -> float | None:
    """When the window open at ``now_utc`` in ``zone`` closes (the shift's end that tapered
    pacing plans for); None with no window or when it is closed now."""
    if window is None or not may_call(zone, window, now_utc):
        return None
    tz = zone_of(zone)
    local = datetime.fromtimestamp(now_utc, UTC).astimezone(tz)
    day = local.date()
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    if window.crosses_midnight and seconds >= window.start:
        day += timedelta(days=1)
    closes_at = time(window.end // 3600, window.end % 3600 // 60)
    return datetime.combine(day, closes_at, tz).timestamp()


def _openings(window: CallingWindow, tz: tzinfo, today: date,
              now_utc: float) -> Iterator[float]:
    """Instants where the window may open: each day's start (both readings of an ambiguous
    local time) and every change of the zone's UTC offset (the start may fall in a gap)."""
    opens_at = time(window.start // 3600, window.start % 3600 // 60)
    for offset in range(-1, _HORIZON_DAYS):
        day = today + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        for fold in (0, 1):
            yield datetime.combine(day, opens_at, tz).replace(fold=fold).timestamp()
    yield from _offset_changes(tz, now_utc, now_utc + _HORIZON_DAYS * _DAY)


def _offset_changes(tz: tzinfo, first: float, last: float) -> Iterator[float]:
    """The instants in [first, last] where ``tz``'s UTC offset changes (to the second)."""
    step = 6 * 3600  # zones never change offset twice within six hours
    # Whole seconds: every zone changes its offset on a whole second.
    low, end = math.floor(first), math.ceil(last)
    while low < end:
        high = min(low + step, end)
        if _offset(tz, low) != _offset(tz, high):
            a, b = low, high
            while b - a > 1:
                middle = (a + b) // 2
                if _offset(tz, middle) == _offset(tz, a):
                    a = middle
                else:
                    b = middle
            yield float(b)
        low = high


def _offset(tz: tzinfo, instant: float) -> timedelta | None:
    return datetime.fromtimestamp(instant, UTC).astimezone(tz).utcoffset()


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
