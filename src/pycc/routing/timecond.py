"""Time conditions of the dial plan: weekdays, hours, dates and holiday calendars.

A `TimeCondition` says when a rule applies, in local wall-clock time of an IANA zone (its own
``zone``, or the zone of the instant it is given, which the dial plan converts to the tenant's
zone). Every field that is set must hold:

- ``weekdays``: ``"mon-fri"``, ``"sat,sun"``, ``"fri-mon"`` (a range may wrap past Sunday);
- ``hours``: one or more ``"09:00-17:30"`` ranges, start included and end excluded;
  ``"22:00-06:00"`` crosses midnight, ``"00:00-24:00"`` is the whole day;
- ``dates``: ``"2025-12-24"``, ISO 8601 intervals ``"2025-12-24/2026-01-02"`` (``..`` works
  too), and the yearly forms ``"12-25"`` and ``"12-24/01-02"`` (which may wrap the year);
- ``holidays``: only on the days of these calendars; ``except_holidays``: never on them.

The day a time belongs to is the day its hour range started on: with ``fri`` and
``22:00-06:00``, Saturday 02:00 is inside (the Friday night shift) and Friday 02:00 is not. So
weekdays, dates and holidays are checked against the previous day for the part of a range after
midnight.

Local time is ``instant.astimezone(zone)``, so DST is the zone database's business: on the day
clocks go forward a range inside the skipped hour never holds, on the day they go back a range
inside the repeated hour holds twice. Naive datetimes are refused: an instant must be aware.
`TimeSchedule` is any of several conditions (office hours on weekdays *or* Saturday morning).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final, Protocol, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycc.routing.patterns import RoutingError

__all__ = [
    "DateRange",
    "HolidayCalendar",
    "HourRange",
    "TimeCondition",
    "TimeRule",
    "TimeSchedule",
    "instant_from_epoch",
    "parse_weekdays",
    "time_zone",
]

_DAY_SECONDS: Final = 86400
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                         "sunday")
_HOUR = re.compile(r"(\d{1,2}):(\d{2})")
_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_YEARLY_DATE = re.compile(r"(\d{2})-(\d{2})")
#: Holiday entries given as ranges are expanded day by day; a year is the sane limit.
_MAX_HOLIDAY_SPAN: Final = 366

MonthDay: TypeAlias = tuple[int, int]


class TimeRule(Protocol):
    """Anything that says whether an instant is inside it."""

    def matches(self, instant: datetime) -> bool: ...


def time_zone(name: str | tzinfo) -> tzinfo:
    """The zone named by an IANA key (``"Europe/London"``); a tzinfo is returned as it is."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise RoutingError(f"unknown time zone {name!r}", text=str(name)) from None


def instant_from_epoch(seconds: float) -> datetime:
    """The aware (UTC) instant of Unix time ``seconds``, for callers that keep time as floats."""
    return datetime.fromtimestamp(seconds, UTC)


def _aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise RoutingError(f"time conditions need an aware datetime, not naive {instant}")


def parse_weekdays(text: str | Iterable[str]) -> frozenset[int]:
    """Weekday numbers (Monday 0) of ``"mon-fri"``, ``"sat,sun"``, ``["mon", "wed"]``..."""
    items = text.split(",") if isinstance(text, str) else list(text)
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise RoutingError(f"weekday {item!r} is not text")
        token = item.strip().lower()
        if not token:
            raise RoutingError(f"bad weekdays {text!r}: empty item")
        if "-" in token:
            first_text, last_text = token.split("-", 1)
            first, last = _weekday(first_text, text), _weekday(last_text, text)
            span = (last - first) % 7
            days.update((first + step) % 7 for step in range(span + 1))
        else:
            days.add(_weekday(token, text))
    return frozenset(days)


def _weekday(token: str, text: object) -> int:
    token = token.strip()
    if token in _WEEKDAYS:
        return _WEEKDAYS.index(token)
    if token in _FULL_WEEKDAYS:
        return _FULL_WEEKDAYS.index(token)
    raise RoutingError(f"bad weekdays {text!r}: unknown day {token!r} (use mon, tue, ... sun)")


@dataclass(frozen=True, slots=True)
class HourRange:
    """Local times of day ``start <= t < end`` in seconds; ``start > end`` crosses midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> HourRange:
        if not isinstance(text, str) or text.count("-") != 1:
            raise RoutingError(f"bad hours {text!r}: expected HH:MM-HH:MM", text=str(text))
        first, last = text.split("-")
        start, end = _clock(first, text), _clock(last, text)
        if start == _DAY_SECONDS:
            raise RoutingError(f"bad hours {text!r}: a range cannot start at 24:00", text=text)
        if start == end:
            raise RoutingError(f"bad hours {text!r}: the range is empty", text=text)
        return cls(start, end)

    @property
    def crosses_midnight(self) -> bool:
        return self.start > self.end


def _clock(part: str, text: str) -> int:
    found = _HOUR.fullmatch(part.strip())
    if found is None:
        raise RoutingError(f"bad hours {text!r}: {part.strip()!r} is not HH:MM", text=text)
    hours, minutes = int(found[1]), int(found[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise RoutingError(f"bad hours {text!r}: {part.strip()!r} is not a time of day",
                           text=text)
    return hours * 3600 + minutes * 60


@dataclass(frozen=True, slots=True)
class DateRange:
    """Days ``first <= d <= last``: calendar dates, or (month, day) pairs every year."""

    first: date | MonthDay
    last: date | MonthDay

    @classmethod
    def parse(cls, text: str) -> DateRange:
        if not isinstance(text, str):
            raise RoutingError(f"bad date {text!r}: expected text")
        separator = "/" if "/" in text else ".." if ".." in text else None
        parts = text.split(separator) if separator else [text]
        if len(parts) > 2:
            raise RoutingError(f"bad date range {text!r}: more than two ends", text=text)
        ends = [_day(part.strip(), text) for part in parts]
        first, last = ends[0], ends[-1]
        if isinstance(first, date) != isinstance(last, date):
            raise RoutingError(f"bad date range {text!r}: mixes a date with a yearly day",
                               text=text)
        if isinstance(first, date) and isinstance(last, date) and last < first:
            raise RoutingError(f"bad date range {text!r}: it ends before it starts", text=text)
        return cls(first, last)

    @property
    def yearly(self) -> bool:
        return not isinstance(self.first, date)

    def contains(self, day: date) -> bool:
        first, last = self.first, self.last
        if isinstance(first, date) and isinstance(last, date):
            return first <= day <= last
        assert not isinstance(first, date) and not isinstance(last, date)
        key = (day.month, day.day)
        if first <= last:
            return first <= key <= last
        return key >= first or key <= last  # wraps the new year

    def days(self) -> Iterable[date]:
        """Every calendar day of a non-yearly range."""
        first, last = self.first, self.last
        assert isinstance(first, date) and isinstance(last, date)
        for offset in range((last - first).days + 1):
            yield first + timedelta(days=offset)


def _day(part: str, text: str) -> date | MonthDay:
    full = _FULL_DATE.fullmatch(part)
    if full is not None:
        try:
            return date(int(full[1]), int(full[2]), int(full[3]))
        except ValueError as exc:
            raise RoutingError(f"bad date {text!r}: {exc}", text=text) from None
    yearly = _YEARLY_DATE.fullmatch(part)
    if yearly is not None:
        month, day = int(yearly[1]), int(yearly[2])
        try:
            date(2000, month, day)  # a leap year, so 02-29 is a valid yearly day
        except ValueError as exc:
            raise RoutingError(f"bad date {text!r}: {exc}", text=text) from None
        return month, day
    raise RoutingError(f"bad date {text!r}: expected YYYY-MM-DD or MM-DD", text=text)


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """A named list of holidays: calendar dates and yearly days, each with a description."""

    name: str
    dates: Mapping[date, str] = field(default_factory=dict)
    yearly: Mapping[MonthDay, str] = field(default_factory=dict)

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.dates or (day.month, day.day) in self.yearly

    def describe(self, day: date) -> str | None:
        """The holiday's description ("" when it has none), None when ``day`` is no holiday."""
        found = self.dates.get(day)
        return found if found is not None else self.yearly.get((day.month, day.day))

    @classmethod
    def from_entries(cls, name: str, entries: Iterable[object]) -> HolidayCalendar:
        """From ``["2025-12-25", {date: "2025-12-26", name: "Boxing Day"}, "01-01", ...]``;
        a date may be a range (``"2025-12-24/2025-12-31"``), one day per entry of it."""
        if isinstance(entries, str | Mapping):
            raise RoutingError(f"holidays {name!r}: expected a list of dates")
        dates: dict[date, str] = {}
        yearly: dict[MonthDay, str] = {}
        for index, entry in enumerate(entries):
            where = f"holidays {name!r}[{index}]"
            if isinstance(entry, str):
                text, description = entry, ""
            elif isinstance(entry, Mapping):
                unknown = set(entry) - {"date", "name", "description"}
                if unknown or "date" not in entry:
                    raise RoutingError(f"{where}: expected {{date: ..., name: ...}}")
                text = entry["date"]
                description = str(entry.get("name", entry.get("description", "")))
            else:
                raise RoutingError(f"{where}: expected a date or {{date: ..., name: ...}}")
            try:
                span = DateRange.parse(text)
            except RoutingError as exc:
                raise exc.within(where) from None
            if span.yearly:
                if span.first != span.last:
                    raise RoutingError(f"{where}: a yearly holiday is a single day")
                assert not isinstance(span.first, date)
                yearly[span.first] = description
                continue
            assert isinstance(span.first, date) and isinstance(span.last, date)
            if (span.last - span.first).days >= _MAX_HOLIDAY_SPAN:
                raise RoutingError(f"{where}: a holiday range is at most a year")
            for day in span.days():
                dates[day] = description
        return cls(name, dates, yearly)


@dataclass(frozen=True, slots=True)
class TimeCondition:
    """When a rule applies; every field that is set must hold (see the module docstring)."""

    weekdays: frozenset[int] | None = None
    hours: tuple[HourRange, ...] = ()
    dates: tuple[DateRange, ...] = ()
    holidays: tuple[HolidayCalendar, ...] = ()
    except_holidays: tuple[HolidayCalendar, ...] = ()
    zone: tzinfo | None = None

    def matches(self, instant: datetime) -> bool:
        if instant.tzinfo is None or instant.utcoffset() is None:
            _aware(instant)
        zone = self.zone
        # ZoneInfo objects are cached per key, so the dial plan's conversion is usually reused.
        local = instant if zone is None or instant.tzinfo is zone else instant.astimezone(zone)
        if not self.hours:
            return self._day_holds(local.date())
        second = local.hour * 3600 + local.minute * 60 + local.second
        for span in self.hours:
            start, end = span.start, span.end
            if start < end:
                if start <= second < end and self._day_holds(local.date()):
                    return True
            elif second >= start:
                if self._day_holds(local.date()):
                    return True
            elif second < end and self._day_holds(local.date() - timedelta(days=1)):
                return True
        return False

    def _day_holds(self, day: date) -> bool:
        weekdays = self.weekdays
        if weekdays is not None and day.weekday() not in weekdays:
            return False
        if self.dates and not any(span.contains(day) for span in self.dates):
            return False
        if self.holidays and not any(day in calendar for calendar in self.holidays):
            return False
        return not (self.except_holidays
                    and any(day in calendar for calendar in self.except_holidays))

    @classmethod
    def from_dict(cls, data: Mapping[str, object],
                  calendars: Mapping[str, HolidayCalendar] | None = None,
                  where: str = "time") -> TimeCondition:
        """From ``{weekdays: mon-fri, hours: "09:00-17:30", dates: [...], holidays: uk,
        except_holidays: uk, zone: Europe/London}`` (``days`` is accepted for ``weekdays``)."""
        known = {"weekdays", "days", "hours", "dates", "holidays", "except_holidays", "zone"}
        for key in data:
            if key not in known:
                raise RoutingError(f"{where}: unknown field {key!r}", field=where)
        if not data:
            raise RoutingError(f"{where}: an empty time condition", field=where)
        weekdays = None
        day_text = data.get("weekdays", data.get("days"))
        if day_text is not None:
            try:
                weekdays = parse_weekdays(_text_or_list(day_text, f"{where}.weekdays"))
            except RoutingError as exc:
                if exc.field is not None:
                    raise
                raise exc.within(f"{where}.weekdays") from None
        try:
            hours = tuple(HourRange.parse(item)
                          for item in _items(data.get("hours"), f"{where}.hours"))
        except RoutingError as exc:
            if exc.field is not None:
                raise
            raise exc.within(f"{where}.hours") from None
        try:
            dates = tuple(DateRange.parse(item)
                          for item in _items(data.get("dates"), f"{where}.dates"))
        except RoutingError as exc:
            if exc.field is not None:
                raise
            raise exc.within(f"{where}.dates") from None
        holidays = _calendars(data.get("holidays"), calendars, f"{where}.holidays")
        except_holidays = _calendars(data.get("except_holidays"), calendars,
                                     f"{where}.except_holidays")
        zone = None
        if data.get("zone") is not None:
            zone_name = data["zone"]
            if not isinstance(zone_name, str):
                raise RoutingError(f"{where}.zone: expected an IANA zone name")
            try:
                zone = time_zone(zone_name)
            except RoutingError as exc:
                raise exc.within(f"{where}.zone") from None
        return cls(weekdays, hours, dates, holidays, except_holidays, zone)


@dataclass(frozen=True, slots=True)
class TimeSchedule:
    """Any of several time conditions."""

    conditions: tuple[TimeCondition, ...]

    def matches(self, instant: datetime) -> bool:
        _aware(instant)
        return any(condition.matches(instant) for condition in self.conditions)


def _text_or_list(value: object, where: str) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise RoutingError(f"{where}: expected text or a list of text", field=where)


def _items(value: object, where: str) -> list[str]:
    if value is None:
        return []
    text = _text_or_list(value, where)
    return [text] if isinstance(text, str) else text


def _calendars(value: object, calendars: Mapping[str, HolidayCalendar] | None,
               where: str) -> tuple[HolidayCalendar, ...]:
    found = []
    for name in _items(value, where):
        calendar = (calendars or {}).get(name)
        if calendar is None:
            raise RoutingError(f"{where}: unknown holiday calendar {name!r}", field=where)
        found.append(calendar)
    return tuple(found)
