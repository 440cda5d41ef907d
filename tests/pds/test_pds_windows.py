"""Calling windows in the contact's own zone, across daylight-saving changes and midnight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.pds.windows import (
    CallingWindow,
    WindowError,
    may_call,
    next_opening,
    window_close,
    zone_of,
)

NY = "America/New_York"
OFFICE = CallingWindow.parse("09:00", "20:00", "mon-fri")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def test_the_same_local_hour_is_another_utc_hour_after_the_march_change() -> None:
    # 2025-03-09: New York moves from EST (UTC-5) to EDT (UTC-4).
    assert not may_call(NY, OFFICE, utc(2025, 3, 7, 13, 30))   # Friday 08:30 EST
    assert may_call(NY, OFFICE, utc(2025, 3, 7, 14, 0))        # Friday 09:00 EST
    assert may_call(NY, OFFICE, utc(2025, 3, 10, 13, 30))      # Monday 09:30 EDT
    assert not may_call(NY, OFFICE, utc(2025, 3, 10, 12, 59))  # Monday 08:59 EDT
    assert may_call(NY, OFFICE, utc(2025, 3, 10, 23, 59))      # Monday 19:59 EDT
    assert not may_call(NY, OFFICE, utc(2025, 3, 11, 0, 0))    # Monday 20:00 EDT


def test_next_opening_over_a_weekend_with_a_clock_change() -> None:
    # Saturday evening in New York, before the change: Monday 09:00 EDT is 13:00 UTC.
    assert next_opening(NY, OFFICE, utc(2025, 3, 8, 22, 0)) == utc(2025, 3, 10, 13, 0)
    # November: Monday 09:00 EST after the change back is 14:00 UTC.
    assert next_opening(NY, OFFICE, utc(2025, 10, 31, 0, 30)) == utc(2025, 10, 31, 13, 0)
    assert next_opening(NY, OFFICE, utc(2025, 11, 1, 12, 0)) == utc(2025, 11, 3, 14, 0)
    # Already open: now.
    assert next_opening(NY, OFFICE, utc(2025, 11, 3, 15, 0)) == utc(2025, 11, 3, 15, 0)


def test_a_window_opening_in_the_skipped_hour_opens_at_the_jump() -> None:
    night = CallingWindow.parse("02:30", "04:00")
    # 2025-03-09 02:00 EST becomes 03:00 EDT (07:00 UTC): 02:30 never happens.
    assert next_opening(NY, night, utc(2025, 3, 9, 6, 0)) == utc(2025, 3, 9, 7, 0)
    assert not may_call(NY, night, utc(2025, 3, 9, 6, 59, 59))
    # The day after, 02:30 EDT is 06:30 UTC.
    assert next_opening(NY, night, utc(2025, 3, 9, 9, 0)) == utc(2025, 3, 10, 6, 30)


def test_the_repeated_hour_is_inside_twice() -> None:
    repeated = CallingWindow.parse("01:15", "01:45")
    # 2025-11-02: 01:00-02:00 happens in EDT (05:00-06:00 UTC), then again in EST.
    assert may_call(NY, repeated, utc(2025, 11, 2, 5, 30))
    assert not may_call(NY, repeated, utc(2025, 11, 2, 6, 0))
    assert may_call(NY, repeated, utc(2025, 11, 2, 6, 30))
    assert next_opening(NY, repeated, utc(2025, 11, 2, 5, 50)) == utc(2025, 11, 2, 6, 15)


def test_london_changes_on_another_sunday() -> None:
    hours = CallingWindow.parse("09:00", "17:00")
    # 2025-03-30: London moves to BST (UTC+1); New York changed three weeks earlier.
    assert next_opening("Europe/London", hours, utc(2025, 3, 28, 0, 0)) == \
        utc(2025, 3, 28, 9, 0)
    assert next_opening("Europe/London", hours, utc(2025, 3, 31, 0, 0)) == \
        utc(2025, 3, 31, 8, 0)


def test_windows_across_midnight_belong_to_the_day_they_open() -> None:
    late = CallingWindow.parse("20:00", "02:00", "fri")
    assert late.crosses_midnight
    # 2025-06-06 is a Friday; London is UTC+1 in June.
    assert may_call("Europe/London", late, utc(2025, 6, 6, 19, 0))     # Fri 20:00
    assert may_call("Europe/London", late, utc(2025, 6, 7, 0, 30))     # Sat 01:30
    assert not may_call("Europe/London", late, utc(2025, 6, 7, 1, 0))  # Sat 02:00
    assert not may_call("Europe/London", late, utc(2025, 6, 6, 0, 30))  # Fri 01:30
    assert next_opening("Europe/London", late, utc(2025, 6, 7, 1, 0)) == \
        utc(2025, 6, 13, 19, 0)


def test_no_window_always_allows_and_whole_day_windows() -> None:
    assert may_call(NY, None, 0.0) and next_opening(NY, None, 12.5) == 12.5
    whole = CallingWindow.parse("00:00", "24:00", "sat,sun")
    assert whole.to_dict() == {"start": "00:00", "end": "24:00", "days": "sat,sun"}
    assert may_call("UTC", whole, utc(2025, 6, 7, 23, 59, 59))
    assert next_opening("UTC", whole, utc(2025, 6, 9, 0, 0)) == utc(2025, 6, 14, 0, 0)


@pytest.mark.parametrize(("start", "end", "days"), [
    ("9", "17:00", None), ("09:00", "09:00", None), ("24:00", "10:00", None),
    ("09:00", "17:60", None), ("09:00", "17:00", "someday"), ("09:00", "17:00", ""),
])
def test_malformed_windows_are_refused(start: str, end: str, days: str | None) -> None:
    with pytest.raises(WindowError):
        CallingWindow.parse(start, end, days)


def test_unknown_zones_are_refused() -> None:
    with pytest.raises(WindowError, match="unknown time zone"):
        zone_of("Mars/Olympus")


ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "America/St_Johns",
         "Asia/Kolkata", "Pacific/Chatham"]
TIMES = [f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in (0, 30)]


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.sampled_from(TIMES), end=st.sampled_from(TIMES),
       days=st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                    min_size=1),
       now=st.integers(int(utc(2024, 1, 1)), int(utc(2026, 12, 31))))
def test_next_opening_is_the_first_allowed_instant(zone: str, start: str, end: str,
                                                   days: set[str], now: int) -> None:
    if start == end:
        return
    window = CallingWindow.parse(start, end, ",".join(sorted(days)))
    found = next_opening(zone, window, float(now))
    assert found >= now and may_call(zone, window, found)
    if found > now:
        assert not may_call(zone, window, found - 1)
        step = max(1.0, (found - now) / 200)
        probe = float(now)
        while probe < found:
            assert not may_call(zone, window, probe)
            probe += step


def test_window_close_is_the_end_of_the_open_shift_in_the_zone() -> None:
    # Monday 10:00 EDT: the shift ends 20:00 EDT, 00:00 UTC the next day.
    assert window_close(NY, OFFICE, utc(2025, 3, 10, 14, 0)) == utc(2025, 3, 11, 0, 0)
    # The Friday before the change, 20:00 EST is 01:00 UTC.
    assert window_close(NY, OFFICE, utc(2025, 3, 7, 14, 0)) == utc(2025, 3, 8, 1, 0)
    assert window_close(NY, OFFICE, utc(2025, 3, 8, 15, 0)) is None  # Saturday: closed
    assert window_close(NY, None, utc(2025, 3, 10, 14, 0)) is None
    night = CallingWindow.parse("22:00", "02:00")
    # Before midnight it closes the next morning; after midnight the same morning.
    assert window_close("UTC", night, utc(2025, 5, 1, 23, 0)) == utc(2025, 5, 2, 2, 0)
    assert window_close("UTC", night, utc(2025, 5, 2, 1, 0)) == utc(2025, 5, 2, 2, 0)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1.7e9, max_value=1.9e9))
def test_window_close_lies_ahead_and_the_window_is_open_until_then(now: float) -> None:
    closes = window_close(NY, OFFICE, now)
    if closes is None:
        assert not may_call(NY, OFFICE, now)
        return
    assert now < closes <= now + 11 * 3600 + 1
    assert may_call(NY, OFFICE, closes - 1) and not may_call(NY, OFFICE, closes)
