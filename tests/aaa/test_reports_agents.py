"""Agent reports on SQLite and PostgreSQL: statistics, sessions, work log and hourly workload.

The event logs are made by pycc's own agent state machine (`pycc.ccs.agent.Agent`), driven
by hand or at random; the expected times are computed here by walking each agent's events in
order and cutting the intervals to the range, which is not how the report computes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pycc.aaa.reports import REPORTS, ReportOptions
from pycc.aaa.reports.intervals import agent_times, event_range
from pycc.aaa.reports.sql import Scope, reading
from pycc.ccs.agent import Agent, AgentStatus, Changed
from pycc.store.models import CallRecord
from pycc.store.repo import Store

T0 = 1_736_000_000.0  # 2025-01-04T14:13:20Z


class Log:
    """Drives agents through pycc's state machine and keeps the events it records."""

    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self.events: list[dict[str, Any]] = []

    def do(self, name: str, action: str, at: float, *args: Any) -> bool:
        agent = self.agents.setdefault(name, Agent(name))
        # Most events take the time first; these take what they act on first.
        first = args[:1] if action in ("login", "set_not_ready", "offer", "force") else ()
        result = getattr(agent, action)(*first, at, *args[len(first):])
        if not isinstance(result, Changed):
            return False
        r = result.record
        self.events.append({"agent": r.agent, "from_status": r.from_status.value,
                            "from_state": r.from_state.value, "to_status": r.to_status.value,
                            "to_state": r.to_state.value, "reason": r.reason,
                            "call_id": r.call_id, "at": r.at})
        return True

    def save(self, store: Store, tenant: str = "acme") -> None:
        owner = store.get_tenant(tenant)
        assert owner is not None and owner.id is not None
        store.add_agent_events([{**event, "tenant_id": owner.id} for event in self.events])


@dataclass
class Expected:
    logged_in: float = 0.0
    on_call: float = 0.0
    wrap_up: float = 0.0
    not_ready: dict[str, float] = field(default_factory=dict)


def expected_times(events: Iterable[dict[str, Any]], since: float | None,
                   until: float | None, now: float | None) -> dict[str, Expected]:
    """Walk each agent's events in order: every event starts an interval that lasts to the
    agent's next event, cut to [since, end)."""
    ends = [value for value in (until, now) if value is not None]
    end = min(ends) if ends else None
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_agent.setdefault(event["agent"], []).append(event)
    result: dict[str, Expected] = {}
    for name, mine in by_agent.items():
        found = Expected()
        reason = ""
        last = end if end is not None else mine[-1]["at"]
        for n, event in enumerate(mine):
            if event["from_status"] != event["to_status"] or \
                    event["from_state"] == event["to_state"]:
                reason = event["reason"]
            begins = event["at"]
            stops = mine[n + 1]["at"] if n + 1 < len(mine) else last
            if since is not None:
                begins = max(begins, since)
            stops = min(stops, last)
            if stops <= begins:
                continue
            span = stops - begins
            if event["to_status"] != "offline":
                found.logged_in += span
            if event["to_state"] == "on_call":
                found.on_call += span
            if event["to_state"] == "wrap_up":
                found.wrap_up += span
            if event["to_status"] == "not_ready":
                found.not_ready[reason] = found.not_ready.get(reason, 0.0) + span
        result[name] = found
    return result


def measured(store: Store, since: float | None = None, until: float | None = None,
             now: float | None = None, agent: str | None = None) -> dict[str, Expected]:
    with reading(store) as connection:
        scope = Scope(connection, "acme", ReportOptions(since=since, until=until, agent=agent))
        times = agent_times(scope, agent, event_range(since, until, now))
    return {name: Expected(t.logged_in, t.on_call, t.wrap_up, t.not_ready)
            for name, t in times.items()}


def assert_same(got: dict[str, Expected], want: dict[str, Expected]) -> None:
    for name in sorted(set(got) | set(want)):
        g, w = got.get(name, Expected()), want.get(name, Expected())
        assert g.logged_in == pytest.approx(w.logged_in, abs=0.01), name
        assert g.on_call == pytest.approx(w.on_call, abs=0.01), name
        assert g.wrap_up == pytest.approx(w.wrap_up, abs=0.01), name
        reasons = {k: v for k, v in g.not_ready.items() if v > 0.005}
        assert reasons == pytest.approx({k: v for k, v in w.not_ready.items() if v > 0.005},
                                        abs=0.01), name


def shift(log: Log) -> Log:
    """Alice's shift, by hand: 1000 s logged in, 300 s at lunch, one call of 100 s with 10 s
    of wrap-up; a supervisor's break that a call ignores."""
    log.do("alice", "login", T0, "1001")
    log.do("alice", "set_not_ready", T0 + 100, "lunch")
    log.do("alice", "set_available", T0 + 400)
    log.do("alice", "offer", T0 + 500, "call-1", 15.0)
    log.do("alice", "answered", T0 + 505)
    log.do("alice", "call_ended", T0 + 605, 10.0)
    log.do("alice", "wrap_up_done", T0 + 615)
    log.do("alice", "logout", T0 + 1000)
    # Bob is put on a break while on a call: the call and its wrap-up stay "break".
    log.do("bob", "login", T0, "1002")
    log.do("bob", "offer", T0 + 10, "call-2", 15.0)
    log.do("bob", "answered", T0 + 12)
    log.do("bob", "force", T0 + 20, AgentStatus.NOT_READY, "break")
    log.do("bob", "call_ended", T0 + 50, 5.0)
    log.do("bob", "wrap_up_done", T0 + 55)
    log.do("bob", "set_not_ready", T0 + 70, "training")
    log.do("bob", "set_available", T0 + 100)
    return log


def call(store: Store, call_id: str, agent: str | None, start: float, *, talk: float = 90.0,
         hold: float = 10.0, tenant: str = "acme") -> None:
    owner = store.get_tenant(tenant)
    assert owner is not None and owner.id is not None
    answered = agent is not None
    store.add_call_record(CallRecord(
        tenant_id=owner.id, call_id=call_id, caller="+12125550100", callee="8000",
        direction="inbound", start=start, answer=start + 1, end=start + 1 + talk + hold,
        disposition="answered", hangup_cause="200 BYE", hangup_by="caller", sip_status=200,
        queue="sales", agent=agent, agent_answer=start + 1 if answered else None,
        talk_seconds=talk if answered else 0.0, hold_seconds=hold if answered else 0.0))


def test_agent_statistics_of_a_hand_made_shift(store: Store) -> None:
    shift(Log()).save(store)
    call(store, "call-1", "alice", T0 + 500)
    call(store, "call-x", "alice", T0 + 2000, talk=30.0, hold=0.0)
    call(store, "other", None, T0 + 700)  # abandoned in the queue: no agent's
    rows = REPORTS["agents"].run(store, "acme", ReportOptions(now=T0 + 5000))
    assert [row["agent"] for row in rows] == ["alice", "bob"]
    alice, bob = rows
    assert set(alice) == set(REPORTS["agents"].columns)
    assert (alice["calls"], alice["talk_seconds"], alice["hold_seconds"]) == (2, 120.0, 10.0)
    assert alice["avg_talk"] == 60.0
    assert alice["logged_in_seconds"] == pytest.approx(1000.0)
    assert alice["not_ready_by_reason"] == pytest.approx({"lunch": 300.0})
    assert alice["not_ready_seconds"] == pytest.approx(300.0)
    assert alice["wrapup_seconds"] == pytest.approx(10.0)
    # Her two calls (100 s and 30 s, answer to end) and 10 s of wrap-up, over 1000 s.
    assert alice["occupancy_pct"] == pytest.approx(14.0)
    # Bob is still logged in: his last interval runs to "now".
    assert bob["calls"] == 0
    assert bob["logged_in_seconds"] == pytest.approx(5000.0)
    assert bob["not_ready_by_reason"] == pytest.approx({"break": 50.0, "training": 30.0})
    assert bob["wrapup_seconds"] == pytest.approx(5.0)


def test_agent_statistics_cut_to_the_range(store: Store) -> None:
    shift(Log()).save(store)
    call(store, "call-1", "alice", T0 + 500)
    call(store, "call-x", "alice", T0 + 2000, talk=30.0, hold=0.0)  # after the range
    options = ReportOptions(since=T0 + 200, until=T0 + 550, agent="alice", now=T0 + 5000)
    (alice,) = REPORTS["agents"].run(store, "acme", options)
    assert alice["logged_in_seconds"] == pytest.approx(350.0)
    assert alice["not_ready_by_reason"] == pytest.approx({"lunch": 200.0})
    # The call started in the range counts whole (100 s), though it ran past its end.
    assert alice["occupancy_pct"] == pytest.approx(100 * 100 / 350, abs=0.01)
    # A range inside one interval: the agent was at lunch throughout.
    inside = ReportOptions(since=T0 + 150, until=T0 + 250, agent="alice")
    (alice,) = REPORTS["agents"].run(store, "acme", inside)
    assert alice["not_ready_by_reason"] == pytest.approx({"lunch": 100.0})
    assert alice["logged_in_seconds"] == pytest.approx(100.0)


@pytest.mark.parametrize("seed", range(4))
def test_agent_times_match_a_walk_through_the_events(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    log = Log()
    at = T0
    actions = ["login", "logout", "set_available", "set_not_ready", "offer", "answered",
               "ring_no_answer", "withdraw", "call_ended", "wrap_up_done", "phone_lost"]
    calls = 0
    while len(log.events) < 120:
        # Dan starts late: a range can begin before his first event.
        name = rng.choice(("ann", "ben", "cat", "dan") if len(log.events) > 60 else
                          ("ann", "ben", "cat"))
        action = rng.choice(actions)
        # Ties happen: several events of one agent in the same millisecond.
        at += rng.choice((0.0, 0.0, 0.5, 3.0, 40.0, 600.0))
        if action == "login":
            log.do(name, action, at, "10" + name)
        elif action == "set_not_ready":
            log.do(name, action, at, rng.choice(("lunch", "break", "coaching")))
        elif action == "offer":
            calls += 1
            log.do(name, action, at, f"c{calls}", 15.0)
        elif action == "call_ended":
            log.do(name, action, at, 5.0)
        else:
            log.do(name, action, at)
    log.save(store)
    last = at
    windows = [(None, None, None), (None, None, last + 100),
               (T0 + (last - T0) / 3, None, last + 50), (None, T0 + (last - T0) / 2, None),
               (T0 + (last - T0) / 4, T0 + (last - T0) * 3 / 4, None),
               (last + 10, last + 20, last + 30)]
    for since, until, now in windows:
        assert_same(measured(store, since, until, now),
                    expected_times(log.events, since, until, now))
    assert_same(measured(store, agent="ben", now=last),
                {k: v for k, v in expected_times(log.events, None, None, last).items()
                 if k == "ben"})


def test_sessions_pair_logins_with_logouts(store: Store) -> None:
    log = shift(Log())
    log.do("alice", "login", T0 + 3000, "1001")  # the node stops: no log-out recorded
    log.save(store)
    # Then the node restarts and alice logs in again, without the log-out of before.
    owner = store.get_tenant("acme")
    assert owner is not None and owner.id is not None
    store.add_agent_events([{"tenant_id": owner.id, "agent": "alice",
                             "from_status": "offline", "from_state": "idle",
                             "to_status": "available", "to_state": "idle", "reason": "login",
                             "at": T0 + 4000}])
    rows = REPORTS["agent-sessions"].run(store, "acme", ReportOptions())
    # Newest first; bob's and alice's first log-ins tie, the later written first.
    assert [(r["agent"], r["login"], r["logout"], r["seconds"]) for r in rows] == [
        ("alice", T0 + 4000, None, None),
        ("alice", T0 + 3000, None, None),
        ("bob", T0, None, None),
        ("alice", T0, T0 + 1000, 1000.0),
    ]
    only = REPORTS["agent-sessions"].run(store, "acme", ReportOptions(agent="alice", limit=2))
    assert [r["login"] for r in only] == [T0 + 4000, T0 + 3000]
    later = REPORTS["agent-sessions"].run(store, "acme", ReportOptions(since=T0 + 1))
    assert {r["login"] for r in later} == {T0 + 3000, T0 + 4000}


def test_work_log_lists_intervals_newest_first(store: Store) -> None:
    shift(Log()).save(store)
    rows = REPORTS["agent-work"].run(store, "acme", ReportOptions(agent="alice"))
    assert set(rows[0]) == set(REPORTS["agent-work"].columns)
    assert [(r["start"] - T0, r["status"], r["state"], r["seconds"]) for r in rows] == [
        (1000, "offline", "idle", None),
        (615, "available", "idle", 385.0),
        (605, "available", "wrap_up", 10.0),
        (505, "available", "on_call", 100.0),
        (500, "available", "reserved", 5.0),
        (400, "available", "idle", 100.0),
        (100, "not_ready", "idle", 300.0),
        (0, "available", "idle", 100.0),
    ]
    assert rows[3]["call_id"] == "call-1" and rows[6]["reason"] == "lunch"
    limited = REPORTS["agent-work"].run(store, "acme", ReportOptions(limit=3,
                                                                     since=T0 + 50))
    assert [(r["agent"], r["start"] - T0) for r in limited] == [
        ("alice", 1000), ("alice", 615), ("alice", 605)]


def test_agent_hourly_counts_answered_calls_per_local_hour(store: Store) -> None:
    # 2025-03-09 is the spring change in New York: 01:30 EST, then 03:10 EDT.
    spring = 1_741_501_800.0  # 2025-03-09T06:30:00Z
    call(store, "a", "alice", spring)
    call(store, "b", "alice", spring + 600, talk=30.0)
    call(store, "c", "alice", spring + 2400)  # 07:10Z = 03:10 EDT
    call(store, "d", "bob", spring + 60)
    call(store, "e", None, spring + 120)
    rows = REPORTS["agent-hourly"].run(store, "acme", ReportOptions(tz="America/New_York"))
    assert [(r["hour"], r["agent"], r["calls"], r["talk_seconds"]) for r in rows] == [
        ("2025-03-09T01:00-05:00", "alice", 2, 120.0),
        ("2025-03-09T01:00-05:00", "bob", 1, 90.0),
        ("2025-03-09T03:00-04:00", "alice", 1, 90.0),
    ]
    assert rows[0]["avg_talk"] == 60.0


def test_agent_reports_of_no_data_are_empty(store: Store) -> None:
    for name in ("agents", "agent-sessions", "agent-work", "agent-hourly"):
        assert REPORTS[name].run(store, "globex", ReportOptions(now=T0)) == [], name


def test_agent_reports_keep_tenants_apart(store: Store) -> None:
    shift(Log()).save(store, tenant="globex")
    call(store, "g", "alice", T0, tenant="globex")
    for name in ("agents", "agent-sessions", "agent-work", "agent-hourly"):
        assert REPORTS[name].run(store, "acme", ReportOptions()) == [], name
    assert [r["agent"] for r in REPORTS["agents"].run(store, "globex", ReportOptions())] \
        == ["alice", "bob"]
