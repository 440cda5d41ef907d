"""``pycc report NAME``: every report from the command line (in-process with typer's
CliRunner, on SQLite and PostgreSQL), its formats, the daily chart, and bad options as one
line naming the option with exit status 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pycc.aaa.reports import REPORTS
from pycc.cli import app
from pycc.config import DEFAULT_REALM, DEFAULT_TENANT, write_initial_config
from pycc.store import CallRecord, Store, make_url

RUNNER = CliRunner()
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}
T0 = 1_741_500_000.0  # 2025-03-09T06:00:00Z, an hour before New York's spring change


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    return lines[0]


class Report:
    """``pycc report ...`` against one data directory and database."""

    def __init__(self, data_dir: Path, db: str) -> None:
        self.where = ["--data-dir", str(data_dir), "--db", db]

    def __call__(self, *args: str) -> Result:
        return RUNNER.invoke(app, ["report", *args, *self.where], env=WIDE)


def prepare(tmp_path: Path, store_url: str) -> Report:
    """A data directory as ``pycc init`` makes it, and six calls of the default tenant."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_initial_config(data_dir)
    with Store(store_url) as store:
        store.create_all()
        tenant = store.ensure_tenant(DEFAULT_TENANT, DEFAULT_REALM)
        assert tenant.id is not None
        for n in range(6):
            start = T0 + n * 1800
            answered = n != 2
            store.add_call_record(CallRecord(
                tenant_id=tenant.id, call_id=f"call-{n}", caller=f"+1212555010{n % 3}",
                callee="8000", direction="inbound", start=start,
                answer=start + 1 if answered else None, end=start + 61,
                disposition="answered" if answered else "cancelled",
                hangup_cause="200 BYE" if answered else "487 Request Terminated",
                hangup_by="caller", sip_status=200 if answered else 487,
                duration=60.0 if answered else 0.0, queue="sales", agent="alice"
                if answered else None, agent_answer=start + 5 if answered else None,
                queue_wait=4.0, talk_seconds=56.0 if answered else 0.0, hold_seconds=0.0))
    return Report(data_dir, store_url)


@pytest.fixture
def report(tmp_path: Path, store_url: str) -> Report:
    return prepare(tmp_path, store_url)


@pytest.fixture
def sqlite_report(tmp_path: Path) -> Report:
    """`report` on SQLite only, for the tests that run many commands (on PostgreSQL the
    reports themselves are tested in test_reports_calls.py and test_reports_agents.py)."""
    return prepare(tmp_path, make_url(tmp_path, None))


def test_every_report_runs(sqlite_report: Report) -> None:
    for name, spec in REPORTS.items():
        found = sqlite_report(name, "--format", "json")
        assert found.exit_code == 0, (name, found.output)
        rows = json.loads(found.stdout)
        assert isinstance(rows, list)
        for row in rows:
            assert list(row) == list(spec.columns), name


@pytest.mark.parametrize("name", ["calls", "agents", "service-level"])
def test_tables_and_csv(sqlite_report: Report, name: str) -> None:
    report = sqlite_report
    spec = REPORTS[name]
    table = report(name, "--tz", "America/New_York") if "tz" in spec.options else report(name)
    assert table.exit_code == 0 and spec.title in table.stdout, name
    assert "alice" in table.stdout or "sales" in table.stdout
    text = report(name, "--format", "csv")
    assert text.exit_code == 0, name
    assert next(csv.reader(io.StringIO(text.stdout))) == list(spec.columns)


def test_daily_summary_as_figures_and_as_a_chart(report: Report) -> None:
    found = report("summary-daily", "--format", "json", "--tz", "America/New_York")
    assert json.loads(found.stdout) == [
        {"day": "2025-03-09", "direction": "inbound", "calls": 6, "answered": 5,
         "abandoned": 1, "avg_talk": 56.0, "asr_pct": 83.33}]
    chart = report("summary-daily", "--format", "svg", "--tz", "America/New_York")
    assert chart.exit_code == 0, chart.output
    root = ET.fromstring(chart.stdout)
    assert root.tag.endswith("svg")
    assert any("America/New_York" in (t.text or "") for t in root.iter(root.tag[:-3] + "text"))
    hours = json.loads(report("summary-hourly", "--format", "json", "--tz",
                              "America/New_York").stdout)
    # 06:00Z is 01:00 EST; 07:00Z is already 03:00 EDT.
    assert [(h["hour"], h["calls"]) for h in hours] == [
        ("2025-03-09T01:00-05:00", 2), ("2025-03-09T03:00-04:00", 2),
        ("2025-03-09T04:00-04:00", 2)]


def test_options_filter_and_limit(report: Report) -> None:
    log = json.loads(report("calls", "--format", "json", "--limit", "2").stdout)
    assert [r["call_id"] for r in log] == ["call-5", "call-4"]
    since = json.loads(report("calls", "--format", "json", "--since", "2025-03-09T07:00Z",
                              "--until", str(T0 + 3 * 1800)).stdout)
    assert [r["call_id"] for r in since] == ["call-2"]
    levels = json.loads(report("service-level", "--format", "json", "--threshold", "3").stdout)
    assert (levels[0]["offered"], levels[0]["answered_in_target"]) == (6, 0)
    mine = json.loads(report("agents", "--format", "json", "--agent", "alice").stdout)
    assert [(r["agent"], r["calls"]) for r in mine] == [("alice", 5)]


@pytest.mark.parametrize(
    ("args", "named"),
    [(["calls", "--format", "xml"], "--format"),
     (["agents", "--format", "svg"], "--format"),
     (["calls", "--since", "soon"], "--since"),
     (["calls", "--since", "10", "--until", "5"], "--until"),
     (["summary-daily", "--tz", "Nowhere/Special"], "--tz"),
     (["calls", "--limit", "-1"], "--limit"),
     (["ivr-keys", "--agent", "alice"], "--agent"),
     (["billing", "--queue", "sales"], "--queue"),
     (["service-level", "--threshold", "x"], "--threshold")],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                             named: str) -> None:
    # Refused before the data directory or the database is even opened.
    result = Report(tmp_path / "nowhere", make_url(tmp_path, None))(*args)
    assert result.exit_code == 2, result.output
    assert error_line(result).startswith(f"pycc: error: {named}:")


def test_report_cdr_still_works_beside_them(report: Report) -> None:
    result = report("cdr", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["call_id"] for r in json.loads(result.stdout)] == [f"call-{n}" for n in range(6)]


def test_the_chart_through_the_real_command(tmp_path: Path) -> None:
    data_dir = prepare(tmp_path, make_url(tmp_path / "data", None)).where[1]
    done = subprocess.run([sys.executable, "-m", "pycc", "report", "summary-daily", "--format",
                           "svg", "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(done.stdout)
    assert root.tag.endswith("svg")
    assert "2025-03-09" in [text.text for text in root.iter(root.tag[:-3] + "text")]
