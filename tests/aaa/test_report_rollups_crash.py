"""The summaries the triggers keep on SQLite and PostgreSQL equal the ones rebuilt from the
rows: after records are rewritten (open, answered, closed, replayed, recovered after a crash),
after a transaction fails part-way, after deletes, on a database that had records before its
first report, and after a writer is killed (``SIGKILL``) in the middle of its writes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import text

from pycc.aaa.cdr import CallRecorder
from pycc.aaa.reports import REPORTS, ReportOptions
from pycc.aaa.reports.rebuild import check
from pycc.store import AsyncStore
from pycc.store import report_models as rm
from pycc.store.errors import StoreError
from pycc.store.repo import Store


def summaries(store: Store, tenant_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """The tenant's summary rows, as they are."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as connection:
        for table in rm.SUMMARY_TABLES:
            name = str(table.__tablename__)
            found[name] = sorted(tuple(row) for row in connection.execute(
                text(f"SELECT * FROM {name} WHERE tenant_id = :t"), {"t": tenant_id}))
    return found


def exact(store: Store, tenant: str) -> bool:
    """Whether the tenant's summaries are what its rows give (and are kept at all)."""
    with store.engine.connect() as connection:
        assert rm.active(connection)
    return check(store, tenant) == []


def open_row(tenant_id: int, call_id: str, start: float, **values: Any) -> dict[str, Any]:
    row = {"tenant_id": tenant_id, "call_id": call_id, "caller": "+15550100",
           "callee": "8000", "direction": "inbound", "start": start, "ring": None,
           "answer": None, "end": start, "disposition": "in-progress", "hangup_cause": "",
           "hangup_by": "system", "sip_status": 0, "duration": 0.0, "node": "n1",
           "state": "open", "queue": "sales", "queue_wait": None, "agent": None,
           "agent_answer": None, "talk_seconds": None, "hold_seconds": None, "cost": None,
           "trunk": "carrier"}
    row.update(values)
    return row


def test_records_rewritten_and_recovered_keep_the_summaries_exact(store: Store) -> None:
    tenant = store.ensure_tenant("crash", "crash.example")
    assert tenant.id is not None
    t0 = 1_741_503_600.0
    # Written open as calls start; answered (still open); some closed; one replayed late.
    store.add_call_records([open_row(tenant.id, f"k{n}", t0 + 61.5 * n) for n in range(8)])
    store.add_call_records([open_row(tenant.id, f"k{n}", t0 + 61.5 * n, answer=t0 + 61.5 * n
                                     + 2, agent="ann", agent_answer=t0 + 61.5 * n + 3)
                            for n in range(6)])
    closed = [open_row(tenant.id, f"k{n}", t0 + 61.5 * n, state="closed",
                       disposition="answered", hangup_cause="200 BYE", hangup_by="caller",
                       sip_status=200, answer=t0 + 61.5 * n + 2, end=t0 + 61.5 * n + 50,
                       duration=48.0, agent="ann", agent_answer=t0 + 61.5 * n + 3,
                       talk_seconds=47.0, queue_wait=3.25) for n in range(4)]
    store.add_call_records(closed)
    store.add_call_records(closed[:2])  # a retried batch: the same rows again
    store.add_call_records([open_row(tenant.id, "k0", t0)])  # a late open row: ignored
    store.touch_open_call_records(tenant.id, "n1", t0 + 1000)
    before = summaries(store, tenant.id)
    # A batch that fails part-way (a NOT NULL column missing) leaves nothing behind.
    with pytest.raises(StoreError):
        store.add_call_records([open_row(tenant.id, "k1", t0, state="closed",
                                         disposition="answered"),
                                open_row(tenant.id, "bad", t0, caller=None, state="closed",
                                         disposition="answered")])
    assert summaries(store, tenant.id) == before
    # The node restarts: its open records are closed as interrupted.

    async def recover() -> int:
        async_store = AsyncStore(store)
        try:
            return await CallRecorder(async_store, tenant_id=tenant.id, node="n1").recover()
        finally:
            await async_store.close()

    assert asyncio.run(recover()) == 4
    rows = REPORTS["summary-daily"].run(store, "crash", ReportOptions())
    assert sum(row["calls"] for row in rows) == 8
    assert exact(store, tenant.name)
    # Deleting records takes them off; the customer's first and last call went with them, so
    # its row is stale (the report reads the records) until a rebuild.
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM call_records WHERE call_id IN ('k0', 'k7')"))
    assert exact(store, tenant.name)
    stale = summaries(store, tenant.id)["report_customers"]
    assert [row[-1] for row in stale] == [1]
    for _ in range(2):
        (customer,) = REPORTS["customers"].run(store, "crash", ReportOptions())
        assert (customer["calls"], customer["first_call"], customer["last_call"]) == (
            6, t0 + 61.5, t0 + 61.5 * 6)
        store.write(lambda session: rm.rebuild(session.connection(), tenant.id))
    assert [row[-1] for row in summaries(store, tenant.id)["report_customers"]] == [0]


def test_a_database_with_records_gets_its_summaries_on_the_first_report(
        store: Store) -> None:
    # What an older pycc left: records and events, and no triggers yet (on SQLite; the
    # PostgreSQL schema is shared with the other tests, and may have them already).
    tenant = store.ensure_tenant("older", "older.example")
    assert tenant.id is not None
    t0 = 1_762_059_600.0  # 2025-11-02T01:00-04:00
    store.add_call_records([open_row(tenant.id, f"o{n}", t0 + 3600 * n, state="closed",
                                     disposition="no-answer") for n in range(5)])
    store.add_agent_events([{"tenant_id": tenant.id, "agent": "ann", "from_status": "offline",
                             "from_state": "idle", "to_status": "available",
                             "to_state": "idle", "at": t0}])
    rows = REPORTS["summary-hourly"].run(store, "older", ReportOptions(tz="America/New_York"))
    with store.engine.connect() as connection:
        assert rm.active(connection)
    assert [(row["hour"], row["calls"]) for row in rows] == [
        ("2025-11-02T01:00-04:00", 1), ("2025-11-02T01:00-05:00", 1),
        ("2025-11-02T02:00-05:00", 1), ("2025-11-02T03:00-05:00", 1),
        ("2025-11-02T04:00-05:00", 1)]
    assert summaries(store, tenant.id)["report_call_slots"]
    assert exact(store, tenant.name)
    times = REPORTS["agents"].run(store, "older", ReportOptions(now=t0 + 86400 * 2))
    assert times[0]["logged_in_seconds"] == 2 * 86400.0


def _write_until_killed(url: str, tenant_id: int, ready: Any) -> None:
    """Write records and events, batch after batch, until killed."""
    store = Store(url)
    n = 0
    ready.set()
    while True:
        base = 1_741_503_600.0 + n * 7.0
        store.add_call_records([open_row(tenant_id, f"w{n}-{k}", base + k, state="closed",
                                         disposition="answered", agent="ann",
                                         agent_answer=base + k + 1, talk_seconds=5.0)
                                for k in range(20)])
        store.add_agent_events([{"tenant_id": tenant_id, "agent": "ann",
                                 "from_status": "available", "from_state": "idle",
                                 "to_status": "not_ready" if k % 2 else "available",
                                 "to_state": "idle", "reason": "lunch", "at": base + k}
                                for k in range(20)])
        n += 1


def test_a_writer_killed_mid_write_leaves_summaries_equal_to_the_rows(
        store: Store) -> None:
    tenant = store.ensure_tenant("killed", "killed.example")
    assert tenant.id is not None
    REPORTS["wrapup"].run(store, "killed", ReportOptions())  # activates the summaries
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writer = context.Process(target=_write_until_killed, args=(store.url, tenant.id, ready))
    writer.start()
    try:
        assert ready.wait(30)
        time.sleep(1.5)
    finally:
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(10)
    assert summaries(store, tenant.id)["report_call_slots"]
    assert exact(store, tenant.name)


def test_the_rebuild_command_checks_and_repairs_the_summaries(store: Store,
                                                              store_url: str) -> None:
    from pycc.aaa.reports.rebuild import main

    tenant = store.ensure_tenant("repair", "repair.example")
    assert tenant.id is not None
    t0 = 1_741_503_600.0
    store.add_call_records([open_row(tenant.id, f"r{n}", t0 + 900 * n, state="closed",
                                     disposition="answered") for n in range(3)])
    assert main(["--db", store_url, "--tenant", "repair"]) == 0  # activates them
    assert main(["--db", store_url, "--check"]) == 0
    with store.engine.begin() as connection:  # a summary gone wrong
        connection.execute(text("UPDATE report_call_slots SET calls = calls + 1 "
                                "WHERE tenant_id = :t"), {"t": tenant.id})
    assert check(store, "repair") == ["report_call_slots"]
    assert main(["--db", store_url, "--check", "--tenant", "repair"]) == 1
    assert check(store, "repair") == ["report_call_slots"]  # a check changes nothing
    assert main(["--db", store_url, "--tenant", "repair"]) == 0
    assert check(store, "repair") == []
    assert main(["--db", store_url, "--tenant", "nobody"]) == 2
