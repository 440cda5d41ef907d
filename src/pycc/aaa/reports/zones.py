"""Local hours and days of a time zone, for reports that bucket calls by hour or day.

SQLite knows no time zones, and both databases should bucket alike, so the zone's rules are
turned into plain numbers here: `offsets` lists the UTC offsets in force over a time range
(one entry per daylight-saving change), which the query adds to each call's start as a
``CASE`` on the start time. A local day is then ``floor((start + offset) / 86400)``; a local
hour is identified by the UTC instant it begins at, ``floor((start + offset) / 3600) * 3600 -
offset``, so the hour repeated when the clocks go back is two buckets (01:00-04:00 and
01:00-05:00 in New York), and the day the clocks go forward has 23 hours. Pure: no clock, no
database.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

__all__ = ["DAY", "HOUR", "day_label", "hour_label", "offset_at", "offsets", "utc_label"]

HOUR: Final = 3600
DAY: Final = 86400
#: How far apart the zone is sampled: no zone changes its offset twice within a day.
_STEP: Final = DAY
_EPOCH: Final = date(1970, 1, 1)


def offset_at(zone: tzinfo, at: float) -> int:
    """The UTC offset of ``zone`` at epoch ``at``, in whole seconds."""
    offset = datetime.fromtimestamp(at, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offsets(zone: tzinfo, start: float, end: float) -> list[tuple[float, int]]:
    """The offsets of ``zone`` in force from ``start`` to ``end``: ``[(since, offset)]`` in
    time order, the first from ``start`` (and before it), each next one from the instant the
    clocks changed."""
    current = offset_at(zone, start)
    found = [(start, current)]
    at = start
    while at < end:
        step_end = min(at + _STEP, end)
        later = offset_at(zone, step_end)
        if later != current:
            # The change lies in (at, step_end]: find its first second.
            low, high = at, step_end
            while high - low > 1:
                middle = (low + high) / 2
                if offset_at(zone, middle) == current:
                    low = middle
                else:
                    high = middle
            # Zones change on whole seconds: the change is at or before high's second.
            found.append((float(math.floor(high)), later))
            current = later
        at = step_end
    return found


def day_label(day: int) -> str:
    """The date of local day number ``day`` (days since 1970-01-01), ISO 8601."""
    return (_EPOCH + timedelta(days=day)).isoformat()


def hour_label(begins: float, zone: tzinfo) -> str:
    """The local hour that begins at epoch ``begins``, ISO 8601 with its offset
    (``2025-11-02T01:00-05:00``)."""
    return datetime.fromtimestamp(begins, zone).isoformat(timespec="minutes")


def utc_label(at: float) -> str:
    """Epoch ``at`` as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
