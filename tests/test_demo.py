"""`pycc demo`: a short run end to end, and the pure parts it is made of.

The run checks the closing line against what the switch stored: every campaign call it
counts as connected is a stored attempt that reached one of the demo's agents, and every
inbound caller it says reached an agent has a call record naming that agent.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from pycc.demo import (
    AGENT_NAMES,
    CAMPAIGN,
    IVR_NUMBER,
    Frame,
    center_spec,
    contact_numbers,
    contacts_csv,
    customer_action,
    make_people,
    render,
    run_demo,
    totals_line,
)
from pycc.pds.contacts import parse_csv
from pycc.pds.store import DialerStore
from pycc.provision.schema import validate
from pycc.store.db import make_url
from pycc.store.repo import Store

TOTALS = re.compile(
    r"totals: campaign (?P<campaign>\S+): (?P<dialed>\d+) dialed, (?P<answered>\d+) answered, "
    r"(?P<connected>\d+) connected, (?P<abandoned>\d+) abandoned .*; inbound: "
    r"(?P<calls>\d+) calls, (?P<reached>\d+) reached an agent, (?P<gave_up>\d+) gave up")


def test_short_run_connects_customers_and_callers_and_reports_what_was_stored(
        tmp_path: Path) -> None:
    lines: list[str] = []
    status = run_demo(8, agents=3, data_dir=tmp_path, seed=1, live=False, out=lines.append)
    assert status == 0, lines
    totals = [match for line in lines if (match := TOTALS.search(line))]
    assert len(totals) == 1, lines
    figures = {key: int(value) for key, value in totals[0].groupdict().items()
               if value.isdigit()}
    assert totals[0]["campaign"] == CAMPAIGN
    # Both reports are tables (one printed string each) with rows of the campaign.
    text = "\n".join(lines)
    rows = [line for line in text.splitlines() if re.match(rf"\W*{CAMPAIGN}\s", line)]
    assert len(rows) >= 2, text
    assert figures["connected"] >= 1 and figures["reached"] >= 1, lines[-1]

    store = Store(make_url(tmp_path, None))
    try:
        attempts = DialerStore(store, "default").attempts(CAMPAIGN)
        records = store.list_call_records("default")
    finally:
        store.close()
    agents = set(AGENT_NAMES[:3])
    assert len(attempts) == figures["dialed"]
    assert all(a.result is not None for a in attempts), "a call was left without a result"
    connected = [a for a in attempts if a.result == "connected"]
    assert len(connected) == figures["connected"]
    assert all(a.agent in agents and a.connected is not None for a in connected)
    answered = [a for a in attempts if a.result in ("connected", "abandoned")]
    assert len(answered) == figures["answered"]
    inbound = [r for r in records if r.callee == IVR_NUMBER]
    assert len(inbound) == figures["calls"]
    assert sum(1 for r in inbound if r.agent in agents) == figures["reached"]
    # Every call went to 127.0.0.1 and nowhere else: the trunk is the demo's own endpoint.
    assert "127.0.0.1:" in (tmp_path / "demo.yaml").read_text(encoding="utf-8")


def test_bad_arguments_are_refused_with_the_name_of_the_argument(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_demo(0, data_dir=tmp_path, live=False, out=lines.append) == 2
    assert run_demo(float("nan"), data_dir=tmp_path, live=False, out=lines.append) == 2
    assert run_demo(5, agents=0, data_dir=tmp_path, live=False, out=lines.append) == 2
    assert [line.split(":")[2].strip() for line in lines] == ["seconds", "seconds", "agents"]
    assert not (tmp_path / "pycc.db").exists()


def test_customers_answer_busy_or_ring_in_the_planned_shares() -> None:
    rng = random.Random(7)
    actions = [customer_action(rng) for _ in range(20_000)]
    kinds = [a.kind for a in actions]
    assert abs(kinds.count("answer") / len(kinds) - 0.65) < 0.02
    assert abs(kinds.count("busy") / len(kinds) - 0.15) < 0.02
    talks = [a.talk for a in actions if a.kind == "answer"]
    assert abs(sum(talks) / len(talks) - 8.0) < 0.4
    # Lognormal: a long right tail, the median below the mean.
    assert sorted(talks)[len(talks) // 2] < sum(talks) / len(talks)


@given(st.integers(min_value=0, max_value=2**32))
def test_every_customer_action_is_in_range(seed: int) -> None:
    action = customer_action(random.Random(seed))
    if action.kind == "answer":
        assert 1.0 <= action.ring <= 5.0 and action.talk > 0
    elif action.kind == "busy":
        assert 0.2 <= action.ring <= 1.0
    else:
        assert action.kind == "no_answer"


def test_contact_list_imports_without_a_rejected_row() -> None:
    numbers = contact_numbers(300, random.Random(3))
    assert len(set(numbers)) == 300
    report = parse_csv(contacts_csv(numbers, "run1"))
    assert [row.phone for row in report.good] == numbers
    assert not report.rejected and not report.duplicates
    assert {row.external_id for row in report.good} == {f"run1-{i:04d}" for i in range(1, 301)}
    with pytest.raises(ValueError, match="count"):
        contact_numbers(601, random.Random(3))


def test_call_center_file_is_valid_for_pycc_apply() -> None:
    staff, public = make_people(4, 2)
    spec, errors = validate(center_spec(staff, public, "127.0.0.1:5099"),
                            default_tenant="default")
    assert spec is not None, [str(e) for e in errors]
    assert [a.id for a in spec.agents] == [p.agent for p in staff]
    assert [c["name"] for c in spec.campaigns] == [CAMPAIGN]
    assert [t.config.name for t in spec.trunks] == ["pstn"]
    # A phone number is an E.164 caller ID the campaign accepts, not only a string.
    broken = center_spec(staff, public, "127.0.0.1:5099")
    broken["campaigns"][0]["caller_ids"] = ["5550100"]  # type: ignore[index]
    spec, errors = validate(broken, default_tenant="default")
    assert spec is None and any("caller_ids" in str(e) for e in errors), errors


def test_view_shows_the_figures_of_the_frame() -> None:
    frame = Frame(
        elapsed=12.0, seconds=60.0, address="udp:127.0.0.1:5060",
        campaign={"mode": "predictive", "dialed": 17, "in_flight": 4, "answered": 9},
        connected=7, customers={"answer": 9, "busy": 3, "no_answer": 1},
        inbound={"calls": 5, "reached": 4, "gave_up": 1},
        queues=[{"queue": "sales", "waiting": 2, "longest_wait": 1.5, "answered": 11,
                 "abandoned": 1, "agents_free": 0, "agents_logged_in": 3}],
        agents=[{"agent": "alice", "extension": "1001", "status": "available",
                 "state": "on_call", "calls_today": 3}],
        events=["  3.0  caller 2001 talks to alice"])
    buffer = io.StringIO()
    Console(file=buffer, width=160, color_system=None).print(render(frame))
    text = buffer.getvalue()
    assert re.search(r"\b17\b.*\b4\b.*\b9\b.*\b7\b.*\b0\b", text)  # dialed .. abandoned
    assert "0.0%" in text  # nobody abandoned of the 7 put through
    assert "sales" in text and "1.5 s" in text and "0/3" in text
    assert "alice" in text and "on_call" in text
    assert "caller 2001 talks to alice" in text
    assert "4 reached an agent" in text and "1 gave up" in text


def test_totals_line_gives_the_abandon_rate_of_live_answers() -> None:
    line = totals_line({"dialed": 40, "answered": 25, "connected": 24, "abandoned": 1},
                       {"calls": 3, "reached": 2, "gave_up": 1}, 60.2, 8)
    match = TOTALS.search(line)
    assert match is not None
    assert match["dialed"] == "40" and match["connected"] == "24" and match["reached"] == "2"
    assert f"{1 / 25:.1%}" in line
