"""Time conditions: weekdays, hours across midnight, dates, holidays, and DST in real zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.routing import (
    DateRange,
    HolidayCalendar,
    HourRange,
    RoutingError,
    TimeCondition,
    TimeSchedule,
    instant_from_epoch,
    parse_weekdays,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def office(zone: ZoneInfo, **extra: object) -> TimeCondition:
    return TimeCondition.from_dict({"weekdays": "mon-fri", "hours": "09:00-17:00",
                                    "zone": zone.key, **extra})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def matching_minutes(condition: TimeCondition, start: datetime, hours: int) -> int:
    return sum(condition.matches(start + timedelta(minutes=m)) for m in range(hours * 60))


def test_weekdays_parse() -> None:
    assert parse_weekdays("mon-fri") == {0, 1, 2, 3, 4}
    assert parse_weekdays("sat,sun") == {5, 6}
    assert parse_weekdays("fri-mon") == {4, 5, 6, 0}
    assert parse_weekdays(["Monday", "wed"]) == {0, 2}
    with pytest.raises(RoutingError, match="unknown day 'fry'"):
        parse_weekdays("mon-fry")


def test_hour_ranges_parse() -> None:
    assert HourRange.parse("09:00-17:30") == HourRange(9 * 3600, 17 * 3600 + 1800)
    assert HourRange.parse("22:00-06:00").crosses_midnight
    assert HourRange.parse("00:00-24:00") == HourRange(0, 86400)
    for bad in ("9-17", "09:00-09:00", "24:00-01:00", "09:60-10:00", "25:00-26:00", "09:00"):
        with pytest.raises(RoutingError, match="bad hours"):
            HourRange.parse(bad)


def test_office_hours_follow_british_summer_time() -> None:
    # BST starts at 01:00 UTC on Sunday 30 March 2025: 09:00 local moves from 09:00 to 08:00 UTC.
    condition = office(LONDON)
    assert not condition.matches(utc(2025, 3, 28, 8, 30))  # Friday 08:30 GMT
    assert condition.matches(utc(2025, 3, 28, 9, 0))
    assert condition.matches(utc(2025, 3, 31, 8, 30))  # Monday 09:30 BST
    assert condition.matches(utc(2025, 3, 31, 15, 59))  # 16:59 BST
    assert not condition.matches(utc(2025, 3, 31, 16, 0))  # 17:00 BST
    assert not condition.matches(utc(2025, 3, 29, 12, 0))  # Saturday


def test_office_hours_follow_new_york_daylight_time() -> None:
    # EDT starts at 07:00 UTC on Sunday 9 March 2025 and ends at 06:00 UTC on 2 November.
    condition = office(NEW_YORK)
    assert condition.matches(utc(2025, 3, 7, 14, 0)) and not condition.matches(
        utc(2025, 3, 7, 13, 30))  # Friday, EST: 09:00 is 14:00 UTC
    assert condition.matches(utc(2025, 3, 10, 13, 0)) and not condition.matches(
        utc(2025, 3, 10, 21, 0))  # Monday, EDT: 09:00-17:00 is 13:00-21:00 UTC
    assert condition.matches(utc(2025, 11, 3, 14, 0)) and not condition.matches(
        utc(2025, 11, 3, 13, 0))  # back on EST


@pytest.mark.parametrize(
    ("zone", "day", "minutes"),
    [
        (LONDON, date(2025, 3, 30), 23 * 60),  # clocks go forward: a 23-hour day
        (LONDON, date(2025, 10, 26), 25 * 60),  # clocks go back: a 25-hour day
        (LONDON, date(2025, 6, 1), 24 * 60),
        (NEW_YORK, date(2025, 3, 9), 23 * 60),
        (NEW_YORK, date(2025, 11, 2), 25 * 60),
    ],
)
def test_a_whole_local_day_has_its_real_length(zone: ZoneInfo, day: date, minutes: int) -> None:
    condition = TimeCondition(dates=(DateRange(day, day),), zone=zone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC) - \
        timedelta(hours=2)
    assert matching_minutes(condition, start, 30) == minutes


@pytest.mark.parametrize(
    ("zone", "day", "hours", "minutes"),
    [
        (LONDON, date(2025, 3, 30), "01:00-02:00", 0),  # the skipped hour never happens
        (LONDON, date(2025, 10, 26), "01:00-02:00", 120),  # the repeated hour happens twice
        (LONDON, date(2025, 3, 29), "01:00-02:00", 60),
        (NEW_YORK, date(2025, 3, 9), "02:00-03:00", 0),
        (NEW_YORK, date(2025, 11, 2), "01:00-02:00", 120),
        (NEW_YORK, date(2025, 3, 9), "00:00-04:00", 180),
    ],
)
def test_ranges_inside_a_dst_change(zone: ZoneInfo, day: date, hours: str,
                                    minutes: int) -> None:
    condition = TimeCondition(hours=(HourRange.parse(hours),), dates=(DateRange(day, day),),
                              zone=zone)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=12)
    assert matching_minutes(condition, start, 48) == minutes


def test_a_range_across_midnight_belongs_to_the_day_it_starts() -> None:
    night = TimeCondition.from_dict({"weekdays": "fri", "hours": "22:00-06:00",
                                     "zone": "Europe/London"})
    friday, saturday = date(2025, 6, 6), date(2025, 6, 7)
    assert friday.weekday() == 4

    def at(day: date, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)

    assert night.matches(at(friday, 23)) and night.matches(at(saturday, 2))
    assert night.matches(at(saturday, 5).replace(minute=59))
    assert not night.matches(at(saturday, 6)) and not night.matches(at(friday, 2))
    assert not night.matches(at(saturday, 23)) and not night.matches(at(friday, 21))


def test_several_hour_ranges_and_the_whole_day() -> None:
    split = TimeCondition.from_dict({"hours": ["08:00-12:00", "13:00-17:00"], "zone": "UTC"})
    assert split.matches(utc(2025, 1, 1, 11, 59)) and not split.matches(utc(2025, 1, 1, 12, 30))
    assert split.matches(utc(2025, 1, 1, 13, 0))
    whole = TimeCondition.from_dict({"hours": "00:00-24:00"})
    assert whole.matches(utc(2025, 1, 1, 23, 59, 59)) and whole.matches(utc(2025, 1, 1))


def test_dates_and_yearly_ranges() -> None:
    assert DateRange.parse("2025-12-24").contains(date(2025, 12, 24))
    winter = DateRange.parse("2025-12-24/2026-01-02")
    assert winter.contains(date(2026, 1, 1)) and not winter.contains(date(2026, 12, 25))
    assert DateRange.parse("2025-12-24..2026-01-02") == winter
    yearly = DateRange.parse("12-24/01-02")
    assert yearly.yearly
    assert yearly.contains(date(2031, 12, 31)) and yearly.contains(date(2032, 1, 2))
    assert not yearly.contains(date(2032, 1, 3)) and not yearly.contains(date(2032, 12, 23))
    leap = DateRange.parse("02-29")
    assert leap.contains(date(2028, 2, 29)) and not leap.contains(date(2027, 3, 1))
    for bad in ("2025-02-30", "13-01", "2025-12-31/2025-01-01", "2025-01-01/12-31", "tomorrow",
                "1/2/3"):
        with pytest.raises(RoutingError, match="bad date"):
            DateRange.parse(bad)


def test_holiday_calendars() -> None:
    uk = HolidayCalendar.from_entries("uk", [
        {"date": "2025-12-25", "name": "Christmas Day"},
        {"date": "2025-12-26", "name": "Boxing Day"},
        "2025-08-25",
        {"date": "01-01", "name": "New Year's Day"},
        {"date": "2025-04-18/2025-04-21", "name": "Easter"},
    ])
    assert uk.describe(date(2025, 12, 25)) == "Christmas Day"
    assert uk.describe(date(2025, 8, 25)) == ""
    assert uk.describe(date(2030, 1, 1)) == "New Year's Day"
    assert uk.describe(date(2025, 4, 20)) == "Easter" and uk.describe(date(2025, 4, 22)) is None
    closed_days = TimeCondition.from_dict({"holidays": "uk", "zone": "Europe/London"},
                                          {"uk": uk})
    open_days = TimeCondition.from_dict(
        {"weekdays": "mon-fri", "hours": "09:00-17:00", "except_holidays": "uk",
         "zone": "Europe/London"}, {"uk": uk})
    christmas = datetime(2025, 12, 25, 10, tzinfo=LONDON)  # a Thursday
    assert not open_days.matches(christmas) and closed_days.matches(christmas)
    normal = datetime(2025, 12, 23, 10, tzinfo=LONDON)
    assert open_days.matches(normal) and not closed_days.matches(normal)


def test_holiday_calendar_errors() -> None:
    with pytest.raises(RoutingError, match=r"holidays 'uk'\[1\]: bad date"):
        HolidayCalendar.from_entries("uk", ["2025-12-25", "2025-13-01"])
    with pytest.raises(RoutingError, match="expected a list"):
        HolidayCalendar.from_entries("uk", "2025-12-25")
    with pytest.raises(RoutingError, match="at most a year"):
        HolidayCalendar.from_entries("uk", ["2025-01-01/2027-01-01"])
    with pytest.raises(RoutingError, match=r"holidays 'uk'\[0\]: expected"):
        HolidayCalendar.from_entries("uk", [{"day": "2025-01-01"}])


def test_without_a_zone_the_instant_zone_counts() -> None:
    condition = TimeCondition(hours=(HourRange.parse("09:00-10:00"),))
    assert condition.matches(datetime(2025, 1, 1, 9, 30, tzinfo=NEW_YORK))
    assert not condition.matches(datetime(2025, 1, 1, 9, 30, tzinfo=UTC).astimezone(NEW_YORK))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(RoutingError, match="aware"):
        office(LONDON).matches(datetime(2025, 1, 1, 10))
    with pytest.raises(RoutingError, match="aware"):
        TimeSchedule((office(LONDON),)).matches(datetime(2025, 1, 1, 10))


def test_a_schedule_is_any_of_its_conditions() -> None:
    schedule = TimeSchedule((
        office(LONDON),
        TimeCondition.from_dict({"weekdays": "sat", "hours": "10:00-14:00",
                                 "zone": "Europe/London"}),
    ))
    assert schedule.matches(datetime(2025, 6, 7, 11, tzinfo=LONDON))  # Saturday
    assert schedule.matches(datetime(2025, 6, 6, 11, tzinfo=LONDON))  # Friday
    assert not schedule.matches(datetime(2025, 6, 8, 11, tzinfo=LONDON))  # Sunday


def test_epoch_seconds() -> None:
    assert instant_from_epoch(0) == utc(1970, 1, 1)
    assert office(LONDON).matches(instant_from_epoch(1743409800))  # 2025-03-31 08:30 UTC


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekdays": "mon-fry"}, "time.weekdays: bad weekdays"),
        ({"hours": "9-5"}, "time.hours: bad hours '9-5'"),
        ({"hours": 9}, "time.hours: expected text"),
        ({"dates": ["2025-02-30"]}, "time.dates: bad date '2025-02-30'"),
        ({"holidays": "fr"}, "time.holidays: unknown holiday calendar 'fr'"),
        ({"zone": "Mars/Olympus"}, "time.zone: unknown time zone 'Mars/Olympus'"),
        ({"zone": 5}, "time.zone: expected an IANA zone name"),
        ({"when": "now"}, "time: unknown field 'when'"),
        ({}, "time: an empty time condition"),
    ],
)
def test_from_dict_errors_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        TimeCondition.from_dict(data)
    assert str(caught.value).startswith(message), str(caught.value)


@given(st.integers(0, 1439), st.integers(0, 1439), st.integers(0, 86399))
def test_hour_range_membership(start: int, end: int, second: int) -> None:
    if start == end:
        return
    span = HourRange(start * 60, end * 60)
    condition = TimeCondition(hours=(span,))
    instant = utc(2025, 5, 5) + timedelta(seconds=second)
    if start < end:
        expected = start * 60 <= second < end * 60
    else:
        expected = second >= start * 60 or second < end * 60
    assert condition.matches(instant) is expected
