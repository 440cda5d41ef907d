"""The reports' summary tables on SQLite and PostgreSQL: every report gives exactly the same
rows from the summaries as from the records and events alone, whatever the records (open,
closed, rewritten), events (out of order, ties, inconsistent chains), zones (half and
quarter-hour offsets, daylight saving changes, a local mean time), ranges (aligned to the
slots or not) and filters; the summaries the triggers kept equal the rebuilt ones. And a
range is cut into whole slots and edges exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_report_rollups_crash import exact

from pycc.aaa.reports import REPORTS, ReportOptions
from pycc.aaa.reports.rollups import cut
from pycc.store import report_models as rm
from pycc.store.config_models import ConfigObject
from pycc.store.repo import Store

#: Instants around which the data lies: zone changes (New York's spring and autumn, Lord
#: Howe's half-hour one, Monrovia's last local-mean-time offset of -0:44:30) and a plain day.
ANCHORS = (
    datetime(2025, 3, 9, 7, 0, tzinfo=UTC).timestamp(),
    datetime(2025, 11, 2, 6, 0, tzinfo=UTC).timestamp(),
    datetime(2025, 4, 5, 15, 0, tzinfo=UTC).timestamp(),
    datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC).timestamp(),
    datetime(2025, 6, 18, 23, 59, 59, tzinfo=UTC).timestamp(),
)
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
         "America/St_Johns", "Africa/Monrovia", "Europe/Berlin")
SPREAD_MS = 2 * 86400 * 1000
AGENTS = ("ann", "bob", "cat")


def moment(anchor: float) -> st.SearchStrategy[float]:
    """A time near ``anchor``, to the millisecond; often on a slot boundary."""
    free = st.integers(-SPREAD_MS, SPREAD_MS).map(lambda ms: anchor + ms / 1000)
    slots = st.sampled_from((900, 3600, 86400)).flatmap(
        lambda grain: st.integers(-2 * 86400 // grain, 2 * 86400 // grain).map(
            lambda n, grain=grain: float((int(anchor) // grain + n) * grain)))
    return st.one_of(free, slots)


def seconds(top: int = 600) -> st.SearchStrategy[float]:
    return st.integers(0, top * 1000).map(lambda ms: ms / 1000)


@st.composite
def call_row(draw: st.DrawFn, anchor: float, n: int) -> dict[str, Any]:
    start = draw(moment(anchor))
    direction = draw(st.sampled_from(("inbound", "outbound", "internal")))
    answered = draw(st.booleans())
    queue = draw(st.sampled_from((None, "sales", "support")))
    agent = draw(st.sampled_from((None, *AGENTS)))
    return {
        "call_id": f"c{n}", "caller": draw(st.sampled_from(("+1555000", "+1555001", "1001"))),
        "callee": draw(st.sampled_from(("+4420700", "8000", "1002"))), "direction": direction,
        "start": start, "answer": start + 1 if answered else None, "end": start + 100,
        "disposition": draw(st.sampled_from(("answered", "no-answer", "busy", "interrupted"))),
        "hangup_cause": draw(st.sampled_from(("200 BYE", "486 Busy Here", "487 Cancel"))),
        "hangup_by": "caller", "sip_status": 200, "duration": draw(seconds()),
        "state": draw(st.sampled_from(("closed", "closed", "closed", "open"))),
        "trunk": draw(st.sampled_from((None, "carrier", "backup"))),
        "cost": draw(st.sampled_from((None, 0, 12_345, 600_000))),
        "queue": queue, "agent": agent,
        "queue_wait": draw(st.one_of(st.none(), seconds(60),
                                     st.integers(0, 40).map(float))),
        "agent_answer": draw(st.sampled_from((None, start + 3))),
        "campaign": draw(st.sampled_from((None, "spring"))),
        "talk_seconds": draw(st.one_of(st.none(), seconds())),
        "hold_seconds": draw(st.one_of(st.none(), seconds(60))), "node": "n1",
    }


@st.composite
def agent_event(draw: st.DrawFn, anchor: float) -> dict[str, Any]:
    statuses = ("offline", "available", "not_ready")
    states = ("idle", "reserved", "on_call", "wrap_up")
    return {"agent": draw(st.sampled_from(AGENTS)), "at": draw(moment(anchor)),
            "from_status": draw(st.sampled_from(statuses)),
            "from_state": draw(st.sampled_from(states)),
            "to_status": draw(st.sampled_from(statuses)),
            "to_state": draw(st.sampled_from(states)),
            "reason": draw(st.sampled_from(("", "lunch", "break")))}


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    anchor = draw(st.sampled_from(ANCHORS))
    count = draw(st.integers(0, 24))
    calls = [draw(call_row(anchor, n)) for n in range(count)]
    # Rewrites: a record written again closed (or replayed as it was).
    rewrites = [dict(row, state="closed", disposition="interrupted",
                     start=row["start"] + draw(st.sampled_from((0.0, 0.0, 901.5))))
                for row in calls if draw(st.integers(0, 3)) == 0]
    events = draw(st.lists(agent_event(anchor), max_size=30))
    since = draw(st.one_of(st.none(), moment(anchor)))
    until = draw(st.one_of(st.none(), moment(anchor)))
    if since is not None and until is not None and until <= since:
        since, until = until - 1, since + 1
    # One filter at most, and most often none (the summaries' own case).
    limit = draw(st.sampled_from(("", "", "", "agent", "queue", "campaign")))
    choices = {"agent": AGENTS, "queue": ("sales",), "campaign": ("spring",)}
    return {
        "calls": calls, "rewrites": rewrites, "events": events,
        "batches": draw(st.integers(1, 4)),
        "options": {
            "since": since, "until": until, "tz": draw(st.sampled_from(ZONES)),
            **{name: draw(st.sampled_from(values)) if name == limit else None
               for name, values in choices.items()},
            "threshold": draw(st.sampled_from((None, None, 20.0, 7.5))),
            "limit": draw(st.sampled_from((None, 3))),
            "now": draw(st.one_of(st.none(), moment(anchor))),
        },
        "target": draw(st.sampled_from((None, 15, 12.5))),
    }


_TENANTS = iter(range(1_000_000))


def write(store: Store, tenant_id: int, data: dict[str, Any]) -> None:
    """The records and events of ``data``, in batches, events out of order."""
    calls = [{**row, "tenant_id": tenant_id} for row in data["calls"]]
    size = max(1, len(calls) // data["batches"])
    for first in range(0, len(calls), size):
        store.add_call_records(calls[first:first + size])
    if data["rewrites"]:
        store.add_call_records([{**row, "tenant_id": tenant_id} for row in data["rewrites"]])
    events = [{**event, "tenant_id": tenant_id} for event in data["events"]]
    size = max(1, len(events) // data["batches"])
    for first in range(0, len(events), size):
        store.add_agent_events(events[first:first + size])


def both_ways(store: Store, tenant: str, given_options: dict[str, Any]) -> None:
    for name, spec in REPORTS.items():
        values = {key: value for key, value in given_options.items()
                  if key in spec.options or key == "now"}
        options = ReportOptions(**values)
        from_rows = spec.run(store, tenant, ReportOptions(**values, summaries=False))
        assert spec.run(store, tenant, options) == from_rows, (name, values)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=scenario())
def test_every_report_is_the_same_from_the_summaries(store: Store, data: dict[str, Any]
                                                     ) -> None:
    name = f"h{next(_TENANTS)}"
    tenant = store.ensure_tenant(name, f"{name}.example")
    assert tenant.id is not None
    if data["target"] is not None:
        store.write(lambda session: session.add(ConfigObject(
            tenant_id=tenant.id, kind="queue", name="sales", updated=0.0,
            spec=json.dumps({"name": "sales", "service_level": data["target"]}))))
    write(store, tenant.id, data)
    both_ways(store, name, data["options"])
    assert exact(store, name)


def test_slots_and_edges_cover_the_range_exactly() -> None:
    assert cut(None, None, 900) == cut(None, None, 900)
    whole = cut(1800.0, 9000.0, 900)
    assert whole is not None and (whole.first, whole.stop, whole.edges) == (2, 10, ())
    ragged = cut(1800.5, 9000.25, 3600)
    assert ragged is not None
    assert (ragged.first, ragged.stop) == (1, 2)
    assert ragged.edges == ((1800.5, 3600.0), (7200.0, 9000.25))
    assert cut(100.0, 800.0, 900) is None  # no whole slot: the records only
    # A time a float division would put in the next slot stays in its own.
    below = 1_741_503_600.0 - 2 ** -22
    assert rm.slot_of(below, 900) == 1_741_503_600 // 900 - 1


@given(st.floats(0, 4e9), st.floats(0, 4e9), st.sampled_from((900, 3600, 86400)))
def test_a_cut_splits_any_range_into_slots_and_edges(a: float, b: float, grain: int) -> None:
    since, until = min(a, b), max(a, b)
    found = cut(since, until, grain)
    if found is None:
        assert rm.slot_of(until, grain) <= rm.slot_of(since, grain) + 1
        return
    assert found.first is not None and found.stop is not None
    low, high = found.first * grain, found.stop * grain
    pieces = sorted([*found.edges, (float(low), float(high))])
    # Adjacent, in order, from since to until.
    assert pieces[0][0] == since and pieces[-1][1] == until
    for (_, end), (start, _) in pairwise(pieces):
        assert end == start
    # Each edge is less than a slot (compared exactly: a float difference may round up).
    for low_edge, high_edge in found.edges:
        assert low_edge > high_edge - grain or (high_edge == low and since > (found.first - 1)
                                                * grain) or (low_edge == high and until
                                                             < (found.stop + 1) * grain)
