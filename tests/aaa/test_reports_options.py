"""Report options, time-zone offsets, the registry's checks and the text formats, without a
database: bad options are named, ISO times are read in the report's zone, a zone's offsets
are the ones it really has, and the daily chart is a well-formed SVG with a bar per day."""

from __future__ import annotations

import bisect
import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.aaa.reports import REPORTS, ReportError, ReportOptions, parse_options
from pycc.aaa.reports.chart import daily_chart, nice_step
from pycc.aaa.reports.options import OPTION_NAMES
from pycc.aaa.reports.zones import day_label, hour_label, offset_at, offsets

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"since": "yesterday"}, "since", "not a time"),
        ({"since": "2025-13-01"}, "since", "not a time"),
        ({"until": "-5"}, "until", "from 0"),
        ({"since": "inf"}, "since", "finite"),
        ({"since": "1e300"}, "since", "9999"),
        ({"since": "200", "until": "100"}, "until", "after since"),
        ({"since": "100", "until": "100"}, "until", "after since"),
        ({"tz": "Mars/Olympus_Mons"}, "tz", "unknown time zone"),
        ({"tz": "../../etc/passwd"}, "tz", "not a time zone"),
        ({"tz": "/etc/localtime"}, "tz", "not a time zone"),
        ({"limit": "ten"}, "limit", "whole number"),
        ({"limit": "0"}, "limit", "1 to"),
        ({"limit": "1000001"}, "limit", "1 to"),
        ({"threshold": "0"}, "threshold", "above 0"),
        ({"threshold": "nan"}, "threshold", "finite"),
        ({"agent": " "}, "agent", "empty"),
        ({"queue": "q" * 129}, "queue", "128"),
        ({"agnet": "alice"}, "agnet", "unknown option"),
    ],
)
def test_bad_options_name_the_option(raw: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_options(raw)
    assert caught.value.field == field
    assert words in str(caught.value), str(caught.value)


def test_iso_times_without_an_offset_are_read_in_the_report_zone() -> None:
    options = parse_options({"since": "2025-03-09", "until": "2025-03-10T00:00",
                             "tz": "America/New_York", "limit": "5", "threshold": "12.5"})
    assert options.since == datetime(2025, 3, 9, 5, tzinfo=UTC).timestamp()
    assert options.until == datetime(2025, 3, 10, 4, tzinfo=UTC).timestamp()  # EDT by then
    assert (options.limit, options.threshold, options.rows) == (5, 12.5, 5)
    assert parse_options({"since": "2025-03-09T00:00+01:00", "tz": "America/New_York"}
                         ).since == datetime(2025, 3, 8, 23, tzinfo=UTC).timestamp()
    assert parse_options({"since": "1741496400.5"}).since == 1741496400.5
    assert parse_options({}, now=5.0) == ReportOptions(now=5.0)
    assert ReportOptions().rows == 1000


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(OPTION_NAMES), st.one_of(st.none(), st.text(max_size=40))))
def test_any_text_gives_options_or_an_error_naming_one(raw: dict[str, str | None]) -> None:
    try:
        options = parse_options(raw)
    except ReportError as exc:
        assert exc.field in OPTION_NAMES
    else:
        assert set(options.given()) <= {name for name, value in raw.items()
                                         if value is not None}


def test_reports_refuse_options_they_do_not_take() -> None:
    with pytest.raises(ReportError) as caught:
        REPORTS["ivr-keys"].check(ReportOptions(since=5.0))
    assert caught.value.field == "since" and "no options" in str(caught.value)
    with pytest.raises(ReportError) as caught:
        REPORTS["billing"].check(ReportOptions(agent="alice"))
    assert caught.value.field == "agent"
    with pytest.raises(ReportError) as caught:
        REPORTS["agents"].check_format("svg")
    assert caught.value.field == "format" and "summary-daily" in str(caught.value)
    with pytest.raises(ReportError):
        REPORTS["calls"].check_format("xml")
    REPORTS["summary-daily"].check(ReportOptions(since=1.0, until=2.0, agent="a", queue="q",
                                                 campaign="c", tz="Europe/Berlin"))
    REPORTS["summary-daily"].check_format("svg")


def test_every_report_is_named_titled_and_has_columns() -> None:
    assert {"calls", "records", "summary-hourly", "summary-daily", "agents", "agent-sessions",
            "agent-work", "agent-hourly", "wrapup", "customers", "service-level", "ivr-keys",
            "campaign", "results", "billing"} == set(REPORTS)
    for name, spec in REPORTS.items():
        assert spec.name == name and spec.title and spec.columns
        assert spec.options <= set(OPTION_NAMES), name
        assert spec.times <= set(spec.columns), name


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
                                  "Asia/Kolkata", "UTC"])
def test_offsets_are_the_zones_own_at_every_instant(zone: str) -> None:
    tz = ZoneInfo(zone)
    start, end = datetime(2024, 1, 1, tzinfo=UTC).timestamp(), \
        datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    found = offsets(tz, start, end)
    changes = [since for since, _ in found]
    assert changes == sorted(changes)
    # Every hour of two years, and the seconds either side of each change.
    probes = [start + 3600 * n for n in range(int((end - start) / 3600))]
    probes += [since + d for since, _ in found[1:] for d in (-1, 0, 1)]
    for at in probes:
        expected = int(datetime.fromtimestamp(at, tz).utcoffset().total_seconds())  # type: ignore[union-attr]
        assert found[bisect.bisect_right(changes, at) - 1][1] == expected, at
    assert len(found) == (1 if zone in ("Asia/Kolkata", "UTC") else 5)


def test_labels_of_days_and_hours() -> None:
    assert day_label(0) == "1970-01-01" and day_label(20156) == "2025-03-09"
    new_york = ZoneInfo("America/New_York")
    autumn = datetime(2025, 11, 2, 5, tzinfo=UTC).timestamp()
    assert hour_label(autumn, new_york) == "2025-11-02T01:00-04:00"
    assert hour_label(autumn + 3600, new_york) == "2025-11-02T01:00-05:00"
    assert offset_at(ZoneInfo("Asia/Kolkata"), autumn) == 19800


@pytest.mark.parametrize(("largest", "step"), [(0, 1), (4, 1), (7, 2), (10, 2), (23, 5),
                                               (51, 20), (99, 20), (1000, 200), (4321, 1000)])
def test_nice_steps(largest: int, step: int) -> None:
    assert nice_step(largest) == step


def test_the_daily_chart_has_two_bars_a_day_and_its_labels() -> None:
    rows = [{"day": "2025-03-08", "direction": "inbound", "calls": 30, "answered": 20},
            {"day": "2025-03-08", "direction": "outbound", "calls": 10, "answered": 5},
            {"day": "2025-03-11", "direction": "inbound", "calls": 8, "answered": 8}]
    svg = daily_chart(rows, "Calls <per> day")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    bars = [bar for group in root.iter(f"{SVG}g") for bar in group.iter(f"{SVG}rect")]
    assert len(bars) == 2 * 4  # 8th to 11th March, the empty days included
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert heights[0] == max(heights) and heights[1] == pytest.approx(heights[0] * 25 / 40)
    assert heights[2:6] == [0.0, 0.0, 0.0, 0.0]
    assert heights[6] == heights[7] == pytest.approx(heights[0] * 8 / 40)
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "2025-03-08" in texts and "Calls <per> day" in texts and "40" in texts
    tips = [t.text for t in root.iter(f"{SVG}title")]
    assert "2025-03-08: 40 calls, 25 answered" in tips
    empty = ET.fromstring(daily_chart([], "nothing"))
    assert "no calls" in [element.text for element in empty.iter(f"{SVG}text")]


def test_csv_and_json_keep_the_columns_and_values() -> None:
    spec = REPORTS["agents"]
    row = {column: None for column in spec.columns}
    row.update(agent="alice", calls=3, not_ready_by_reason={"lunch": 1.5})
    text = spec.render([row], "csv", ReportOptions())
    (read,) = list(csv.DictReader(io.StringIO(text)))
    assert list(read) == list(spec.columns)
    assert (read["agent"], read["calls"], read["occupancy_pct"]) == ("alice", "3", "")
    assert json.loads(read["not_ready_by_reason"]) == {"lunch": 1.5}
    assert json.loads(spec.render([row], "json", ReportOptions())) == [row]
    table = REPORTS["calls"].render([{"start": 0.0, "call_id": "x"}], "table",
                                    ReportOptions(tz="Asia/Kolkata"))
    assert "1970-01-01T05:30:00+05:30" in table and "x" in table
