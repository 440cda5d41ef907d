"""Every operator report over one million call records, on SQLite and on PostgreSQL.

    python benchmarks/reports.py [--records 1000000] [--runs 3] [--seed 1]
                                 [--only sqlite|postgresql] [--keep DIR] [--no-append]

The script fills a database with ``--records`` call records of one tenant over 180 days, as a
call center of 100 agents makes them: each agent works an eight-hour shift a day (log-in, two
not-ready breaks, log-out) and takes call after call (offer, answer, talk with some hold,
wrap-up), each of which writes its agent events and its call record (inbound through an IVR
and a queue, or outbound for a campaign over a rated trunk); the rest are calls no agent
answered (abandoned in a queue, unanswered campaign calls, calls between extensions). About
2.6 agent events per call record, the dialer's attempts and contacts of the two campaigns,
and IVR key counts come with them. Rows go in with one ``executemany`` on SQLite and ``COPY``
on PostgreSQL (started like the tests start it, tests/peers/postgres.py). Then the report
summaries are activated, as the first report on a database would: their triggers created and
the tables filled from the rows just loaded (`pycc.store.report_models`; timed and printed).

Then every report of `pycc.aaa.reports.REPORTS` runs ``--runs`` times with its default options
(the whole 180 days, time zone America/New_York for the hourly and daily buckets) and the
median wall time is printed as a Markdown table, one column per database, and appended with
the command and the commit to benchmarks/RESULTS.md. The target is under 2 s for every report
on both.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from pycc.aaa.reports import REPORTS, ReportOptions  # noqa: E402
from pycc.store import (  # noqa: E402
    Store,
    make_url,
    report_models,
)

TENANT = "default"
#: The first day of the data (a Monday), and how many days it covers.
FIRST_DAY = datetime(2025, 1, 6, tzinfo=UTC).timestamp()
DAYS = 180
AGENTS = 100
QUEUES = ("sales", "support", "billing", "vip")
CAMPAIGNS = ("spring", "renewals")
TRUNKS = ("carrier-a", "carrier-b", "carrier-c")
NOT_READY = ("break", "lunch", "training", "meeting")
#: Share of the calls no agent answered; the agents' calls make up the rest.
OTHER_SHARE = 0.35
ZONE = "America/New_York"

CALL_COLUMNS = (
    "tenant_id", "call_id", "caller", "callee", "direction", "start", "ring", "answer", "end",
    "disposition", "hangup_cause", "hangup_by", "sip_status", "duration", "node", "state",
    "caller_dialed", "callee_dialed", "trunk", "codec_caller", "codec_callee", "media_path",
    "mos_caller", "mos_callee", "route", "ivr_path", "queue", "queue_wait", "queue_enter",
    "queue_exit", "agent", "agent_answer", "campaign", "contact", "ring_seconds",
    "talk_seconds", "hold_seconds", "wrapup_seconds", "cost", "rate_table", "rate_prefix",
)
EVENT_COLUMNS = ("tenant_id", "agent", "from_status", "from_state", "to_status", "to_state",
                 "reason", "call_id", "at", "node")
ATTEMPT_COLUMNS = ("campaign_id", "contact_id", "number", "caller_id", "started", "answered",
                   "connected", "ended", "result", "sip_status", "agent", "call_id", "node")

Row = tuple[Any, ...]
_START = CALL_COLUMNS.index("start")
_AT = EVENT_COLUMNS.index("at")
_STARTED = ATTEMPT_COLUMNS.index("started")


class Data:
    """The generated rows, as tuples in the column orders above."""

    def __init__(self) -> None:
        self.calls: list[Row] = []
        self.events: list[Row] = []
        self.attempts: list[Row] = []
        self.contacts = 0


def generate(records: int, tenant_id: int, seed: int) -> Data:
    """``records`` call records (and their agent events and dialer attempts) of a call
    center of `AGENTS` agents over `DAYS` days."""
    rng = random.Random(seed)
    data = Data()
    agent_calls = int(records * (1 - OTHER_SHARE))
    per_agent_day = agent_calls / (AGENTS * DAYS)
    # A shift of eight hours holds that many call cycles: the idle gap takes what is left.
    cycle = 8 * 3600 / per_agent_day
    talk_mean = min(240.0, cycle * 0.6)
    serial = 0
    customers = max(1000, records // 5)
    data.contacts = customers

    def customer() -> str:
        return f"+1212{rng.randrange(customers):07d}"

    def add_event(agent: str, before: tuple[str, str], after: tuple[str, str], reason: str,
                  at: float, call_id: str | None = None) -> None:
        data.events.append((tenant_id, agent, *before, *after, reason, call_id, at, "bench"))

    for day in range(DAYS):
        # 08:00 in New York, as UTC: 13:00 in winter, 12:00 in summer (close enough here).
        opening = FIRST_DAY + day * 86400 + (13 if day < 62 or day > 300 else 12) * 3600
        for a in range(AGENTS):
            if len(data.calls) >= agent_calls:
                break
            agent = f"agent{a:03d}"
            t = opening + rng.uniform(0, 1800)
            shift_end = t + 8 * 3600
            idle = ("available", "idle")
            add_event(agent, ("offline", "idle"), idle, "login", t)
            breaks = sorted(rng.uniform(t + 3600, shift_end - 3600) for _ in range(2))
            while t < shift_end and len(data.calls) < agent_calls:
                if breaks and t >= breaks[0]:
                    breaks.pop(0)
                    reason = rng.choice(NOT_READY)
                    add_event(agent, idle, ("not_ready", "idle"), reason, t)
                    t += rng.uniform(300, 1800)
                    add_event(agent, ("not_ready", "idle"), idle, "available", t)
                    continue
                t += rng.expovariate(1 / max(1.0, cycle - talk_mean - 30))
                serial += 1
                call_id = f"c{serial}@bench"
                offer = t
                agent_answer = offer + rng.uniform(2, 9)
                talk = rng.expovariate(1 / talk_mean) + 5
                end = agent_answer + talk
                hold = rng.choice((0.0, 0.0, 0.0, rng.uniform(5, min(60.0, talk))))
                wrap = rng.uniform(3, 25)
                add_event(agent, idle, ("available", "reserved"), "offer", offer, call_id)
                add_event(agent, ("available", "reserved"), ("available", "on_call"),
                          "answered", agent_answer, call_id)
                add_event(agent, ("available", "on_call"), ("available", "wrap_up"),
                          "call-ended", end, call_id)
                add_event(agent, ("available", "wrap_up"), idle, "wrap-up-done", end + wrap,
                          call_id)
                if rng.random() < 0.7:
                    wait = rng.expovariate(1 / 25)
                    _inbound(data, rng, tenant_id, call_id, customer(), agent, offer, wait,
                             agent_answer, end, hold)
                else:
                    _outbound(data, rng, tenant_id, call_id, customer(), agent, offer,
                              agent_answer, end, hold)
                t = end + wrap
            add_event(agent, idle, ("offline", "idle"), "logout", max(t, shift_end))
    while len(data.calls) < records:
        serial += 1
        call_id = f"c{serial}@bench"
        start = FIRST_DAY + rng.randrange(DAYS) * 86400 + rng.uniform(12 * 3600, 22 * 3600)
        kind = rng.random()
        if kind < 0.4:
            _abandoned(data, rng, tenant_id, call_id, customer(), start)
        elif kind < 0.8:
            _unanswered_out(data, rng, tenant_id, call_id, customer(), start)
        else:
            _internal(data, rng, tenant_id, call_id, start)
    # pycc writes a record when its call starts and an event when it happens: rows lie in
    # the table in time order, as they do here.
    data.calls.sort(key=lambda row: row[_START])
    data.events.sort(key=lambda row: row[_AT])
    data.attempts.sort(key=lambda row: row[_STARTED])
    return data


def _call(tenant_id: int, call_id: str, caller: str, callee: str, direction: str,
          start: float, answer: float | None, end: float, disposition: str,
          **extra: Any) -> Row:
    values: dict[str, Any] = {
        "tenant_id": tenant_id, "call_id": call_id, "caller": caller, "callee": callee,
        "direction": direction, "start": round(start, 3), "ring": round(start + 0.2, 3),
        "answer": None if answer is None else round(answer, 3), "end": round(end, 3),
        "disposition": disposition, "hangup_cause": "200 BYE" if answer else "487 Request "
        "Terminated", "hangup_by": "caller", "sip_status": 200 if answer else 487,
        "duration": round(end - answer, 3) if answer is not None else 0.0, "node": "bench",
        "state": "closed", "caller_dialed": caller, "callee_dialed": callee,
        "codec_caller": "PCMU/8000", "codec_callee": "PCMU/8000", "media_path": "relay",
        "mos_caller": 4.3, "mos_callee": 4.2,
        "ring_seconds": round((answer if answer is not None else end) - start, 3),
        "cost": 0,
    }
    values.update(extra)
    return tuple(values.get(name) for name in CALL_COLUMNS)


def _inbound(data: Data, rng: random.Random, tenant_id: int, call_id: str, caller: str,
             agent: str, offer: float, wait: float, agent_answer: float, end: float,
             hold: float) -> None:
    queue = QUEUES[rng.randrange(len(QUEUES))]
    enter = offer - wait
    start = enter - rng.uniform(5, 20)
    key = "1" if queue == "sales" else "2"
    data.calls.append(_call(
        tenant_id, call_id, caller, "8000", "inbound", start, start + 0.5, end, "answered",
        trunk=TRUNKS[0], route="8000", ivr_path=f"main.menu={key}>queue:{queue}=answered",
        queue=queue, queue_wait=round(agent_answer - enter, 3), queue_enter=round(enter, 3),
        queue_exit=round(agent_answer, 3), agent=agent, agent_answer=round(agent_answer, 3),
        talk_seconds=round(end - agent_answer - hold, 3), hold_seconds=round(hold, 3),
        wrapup_seconds=10.0))


def _outbound(data: Data, rng: random.Random, tenant_id: int, call_id: str, callee: str,
              agent: str, offer: float, agent_answer: float, end: float, hold: float) -> None:
    campaign = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
    trunk = TRUNKS[rng.randrange(len(TRUNKS))]
    start = offer - rng.uniform(8, 25)
    answer = offer - 0.3
    billed = math.ceil(end - answer)
    data.calls.append(_call(
        tenant_id, call_id, "+15551230000", callee, "outbound", start, answer, end,
        "answered", trunk=trunk, queue="sales", queue_wait=0.3, queue_enter=round(answer, 3),
        queue_exit=round(agent_answer, 3), agent=agent, agent_answer=round(agent_answer, 3),
        campaign=campaign, contact=f"k{rng.randrange(data.contacts)}",
        talk_seconds=round(end - agent_answer - hold, 3), hold_seconds=round(hold, 3),
        wrapup_seconds=10.0, cost=billed * 200 + 10000, rate_table="standard",
        rate_prefix="1212"))
    data.attempts.append((CAMPAIGNS.index(campaign) + 1, 0, callee, "+15551230000", start,
                          answer, agent_answer, end, "connected", 200, agent, call_id,
                          "bench"))


def _abandoned(data: Data, rng: random.Random, tenant_id: int, call_id: str, caller: str,
               start: float) -> None:
    queue = QUEUES[rng.randrange(len(QUEUES))]
    enter = start + rng.uniform(5, 20)
    wait = rng.expovariate(1 / 60)
    data.calls.append(_call(
        tenant_id, call_id, caller, "8000", "inbound", start, start + 0.5, enter + wait,
        "answered", trunk=TRUNKS[0], route="8000", ivr_path=f"main.menu=1>queue:{queue}"
        "=abandoned", queue=queue, queue_wait=round(wait, 3), queue_enter=round(enter, 3),
        queue_exit=round(enter + wait, 3), talk_seconds=0.0, hold_seconds=0.0))


def _unanswered_out(data: Data, rng: random.Random, tenant_id: int, call_id: str,
                    callee: str, start: float) -> None:
    campaign = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
    disposition, status = rng.choice((("no-answer", 480), ("busy", 486), ("failed", 503)))
    end = start + rng.uniform(5, 30)
    data.calls.append(_call(
        tenant_id, call_id, "+15551230000", callee, "outbound", start, None, end, disposition,
        trunk=TRUNKS[rng.randrange(len(TRUNKS))], campaign=campaign, sip_status=status,
        hangup_cause=f"{status} x", hangup_by="callee", rate_table="standard"))
    result = {"no-answer": "no_answer", "busy": "busy", "failed": "failed"}[disposition]
    data.attempts.append((CAMPAIGNS.index(campaign) + 1, 0, callee, "+15551230000", start,
                          None, None, end, result, status, None, call_id, "bench"))


def _internal(data: Data, rng: random.Random, tenant_id: int, call_id: str,
              start: float) -> None:
    answered = rng.random() < 0.8
    answer = start + rng.uniform(2, 10) if answered else None
    end = (answer or start) + rng.uniform(10, 300)
    data.calls.append(_call(
        tenant_id, call_id, f"1{rng.randrange(100):03d}", f"1{rng.randrange(100):03d}",
        "internal", start, answer, end, "answered" if answered else "no-answer",
        talk_seconds=round(end - answer, 3) if answer else 0.0, hold_seconds=0.0))


# -- loading -----------------------------------------------------------------------------------


def load(store: Store, data: Data, tenant_id: int, now: float) -> None:
    """Write ``data`` and the campaigns, contacts and IVR key counts around it."""
    campaigns = [(i + 1, tenant_id, name, "{}", "stopped", 0, now, now)
                 for i, name in enumerate(CAMPAIGNS)]
    contacts_per = data.contacts // len(CAMPAIGNS)
    contacts = [(c + 1, (c % len(CAMPAIGNS)) + 1, f"k{c}", f"+1212{c:07d}", "America/New_York",
                 None, 0, "{}", "done", 1, "{}", now, "connected", 0, now, now)
                for c in range(contacts_per * len(CAMPAIGNS))]
    attempts = [(*a[:1], (i % len(contacts)) + 1, *a[2:]) for i, a in enumerate(data.attempts)]
    ivr = [(tenant_id, "main", step, key, 1000 + 37 * n)
           for n, (step, key) in enumerate((s, k) for s in ("menu", "confirm")
                                           for k in ("1", "2", "3", "timeout", "invalid"))]
    tables: list[tuple[str, Sequence[str], Sequence[Row]]] = [
        ("call_records", CALL_COLUMNS, data.calls),
        ("agent_events", EVENT_COLUMNS, data.events),
        ("dialer_campaigns", ("id", "tenant_id", "name", "config", "state", "caller_index",
                              "created", "updated"), campaigns),
        ("dialer_contacts", ("id", "campaign_id", "external_id", "phone", "zone", "name",
                             "priority", "fields", "state", "attempts", "tries", "next_at",
                             "result", "line", "imported", "updated"), contacts),
        ("dialer_attempts", ATTEMPT_COLUMNS, attempts),
        ("ivr_key_counts", ("tenant_id", "flow", "step", "key", "count"), ivr),
    ]
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        postgres = store.engine.dialect.name == "postgresql"
        if not postgres:
            # pycc's SQLite connections commit each statement unless told BEGIN (see
            # pycc.store.db), and write every commit through: one transaction, no fsync.
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("BEGIN")
        for table, columns, rows in tables:
            names = ", ".join(f'"{c}"' for c in columns)
            if postgres:
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        if postgres:
            # COPY with explicit ids leaves the sequences behind.
            for table in ("dialer_campaigns", "dialer_contacts"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")
        raw.commit()
        cursor.close()
        if postgres:
            # VACUUM runs outside a transaction: on the driver's own connection, autocommit.
            driver = raw.dbapi_connection
            assert driver is not None
            driver.autocommit = True
            driver.execute("VACUUM ANALYZE")
        else:
            raw.cursor().execute("ANALYZE")
    finally:
        raw.close()


def summarise(store: Store) -> None:
    """Activate the report summaries: create their triggers and fill them from the rows just
    loaded (what the first report on a database does; `pycc.store.report_models`)."""
    store.write(lambda session: report_models.activate(session.connection()))
    if store.engine.dialect.name == "postgresql":
        raw = store.engine.raw_connection()
        try:
            driver = raw.dbapi_connection
            assert driver is not None
            driver.autocommit = True
            driver.execute("VACUUM ANALYZE")
        finally:
            raw.close()


# -- what the summaries cost the writers ------------------------------------------------------


def write_cost(store: Store, summaries: bool, history: int,
               records: int = 10_000) -> tuple[float, float]:
    """Seconds to write ``records`` call records as the CDR writer does (open, then closed,
    in group commits of 100) and twice as many agent events (in batches of 10), with the
    report summaries active or not, into a database that holds ``history`` records (and
    their events) already, with its statistics up to date, as a database in use has."""
    store.create_all()
    tenant = store.ensure_tenant(TENANT, "pycc")
    assert tenant.id is not None
    load(store, generate(history, tenant.id, 1), tenant.id, time.time())
    if summaries:
        summarise(store)
    rng = random.Random(1)
    base = FIRST_DAY + DAYS * 86400
    closed = []
    for n in range(records):
        start = base + n * 3.7
        closed.append({
            "tenant_id": tenant.id, "call_id": f"w{n}",
            "caller": f"+1212{rng.randrange(10**6):07d}", "callee": "8000",
            "direction": rng.choice(("inbound", "outbound")), "start": start,
            "answer": start + 3, "end": start + 100, "disposition": "answered",
            "hangup_cause": "200 BYE", "hangup_by": "caller", "sip_status": 200,
            "duration": 97.0, "state": "closed", "trunk": TRUNKS[0], "cost": 1000,
            "queue": QUEUES[0], "queue_wait": round(rng.random() * 30, 3),
            "agent": f"agent{rng.randrange(AGENTS):03d}", "agent_answer": start + 5,
            "talk_seconds": 90.0, "hold_seconds": 0.0, "node": "bench"})
    opened = [{**row, "state": "open", "disposition": "in-progress", "hangup_cause": "",
               "hangup_by": "system", "answer": None, "agent": None, "agent_answer": None,
               "talk_seconds": None, "cost": None} for row in closed]
    began = time.perf_counter()
    for first in range(0, records, 100):
        store.add_call_records(opened[first:first + 100])
        store.add_call_records(closed[first:first + 100])
    calls = time.perf_counter() - began
    pairs = (("available", "idle"), ("available", "on_call"), ("available", "wrap_up"),
             ("not_ready", "idle"))
    events = []
    for n in range(2 * records):
        before, after = rng.choice(pairs), rng.choice(pairs)
        events.append({"tenant_id": tenant.id, "agent": f"agent{n % AGENTS:03d}",
                       "from_status": before[0], "from_state": before[1],
                       "to_status": after[0], "to_state": after[1], "reason": "break",
                       "at": base + n * 1.9})
    began = time.perf_counter()
    for first in range(0, len(events), 10):
        store.add_agent_events(events[first:first + 10])
    return calls, time.perf_counter() - began


# -- timing ------------------------------------------------------------------------------------


def time_reports(store: Store, runs: int) -> Iterator[tuple[str, float, int]]:
    """(report, median seconds, rows) of every report on ``store``."""
    for name, spec in REPORTS.items():
        # Its default options: all the data; hours and days in New York where it has them.
        options = ReportOptions(tz=ZONE if "tz" in spec.options else "UTC",
                                now=FIRST_DAY + DAYS * 86400)
        times: list[float] = []
        rows = 0
        for _ in range(runs):
            began = time.perf_counter()
            rows = len(spec.function(store, TENANT, options))
            times.append(time.perf_counter() - began)
        yield name, statistics.median(times), rows


def with_database(kind: str, work: Callable[[Store], None], keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="pycc-reports-") as scratch:
        base = keep or Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        if kind == "sqlite":
            for name in ("pycc.db", "pycc.db-wal", "pycc.db-shm"):
                (base / name).unlink(missing_ok=True)
            with Store(make_url(base, None)) as store:
                work(store)
            return
        # The test peers live in tests/ (put on the path above), which mypy's path lacks.
        from peers.postgres import (  # type: ignore[import-not-found, unused-ignore]
            start_postgres,
        )

        url, stop = start_postgres(Path(tempfile.mkdtemp(prefix="pycc-pg-", dir=base)))
        try:
            with Store(url) as store:
                work(store)
        finally:
            stop()


#: An index the agent reports would read instead of the table (see RESULTS.md).
PROPOSED_INDEX = "ix_agent_events_tenant_agent_states"


def propose_index() -> None:
    """Declare `PROPOSED_INDEX` on the events table, as models.py would: the databases made
    next have it, and the reports see it declared."""
    from sqlalchemy import Index

    from pycc.aaa.reports.sql import EVENTS

    Index(PROPOSED_INDEX, EVENTS.c.tenant_id, EVENTS.c.agent, EVENTS.c.at,
          EVENTS.c.from_state, EVENTS.c.to_state)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--keep", type=Path, help="Keep the databases under this directory.")
    parser.add_argument("--no-append", action="store_true",
                        help="Print only; do not append to benchmarks/RESULTS.md.")
    parser.add_argument("--write-cost", action="store_true",
                        help="Instead: time writing records and events with the report "
                             "summaries and without, into a tenth of --records.")
    parser.add_argument("--index", action="store_true",
                        help=f"Add the proposed index {PROPOSED_INDEX} to the agent events, "
                             "as if pycc declared it.")
    args = parser.parse_args(argv)
    if args.index:
        propose_index()
    if args.records < 1000:
        parser.error("--records: at least 1000")
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    if args.write_cost:
        for kind in kinds:
            for summaries in (False, True):
                def cost(store: Store, kind: str = kind, summaries: bool = summaries) -> None:
                    calls, events = write_cost(store, summaries, args.records // 10)
                    print(f"{kind}, summaries {'on' if summaries else 'off'}, "
                          f"{args.records // 10:,} records before: 10,000 records "
                          f"open then closed, 100 a batch: {calls / 100 * 1000:.1f} ms a "
                          f"batch; 20,000 agent events, 10 a batch: {events / 2000 * 1000:.2f}"
                          f" ms a batch")

                with_database(kind, cost, None)
        return 0
    results: dict[str, dict[str, tuple[float, int]]] = {}
    sizes: dict[str, str] = {}
    for kind in kinds:
        def work(store: Store, kind: str = kind) -> None:
            store.create_all()
            tenant = store.ensure_tenant(TENANT, "pycc")
            assert tenant.id is not None
            began = time.perf_counter()
            # The same rows for both databases (the same seed; the tenant is the first row of
            # each), made again for each: millions of rows held while the reports run would
            # make the garbage collector's passes, and so the reports, slower than pycc's.
            data = generate(args.records, tenant.id, args.seed)
            made = time.perf_counter() - began
            began = time.perf_counter()
            load(store, data, tenant.id, time.time())
            loaded = time.perf_counter() - began
            began = time.perf_counter()
            summarise(store)
            summarised = time.perf_counter() - began
            sizes[kind] = (f"{len(data.calls):,} call records, {len(data.events):,} agent "
                           f"events, {len(data.attempts):,} dialer attempts; summaries "
                           f"built from them in {summarised:.1f} s")
            print(f"{kind}: {sizes[kind]}: generated in {made:.1f} s, loaded in "
                  f"{loaded:.1f} s", file=sys.stderr)
            del data
            gc.collect()
            results[kind] = {}
            for name, seconds, rows in time_reports(store, args.runs):
                results[kind][name] = (seconds, rows)
                print(f"{kind}: {name}: {seconds * 1000:.0f} ms ({rows} rows)",
                      file=sys.stderr)

        with_database(kind, work, args.keep)
    table = markdown(results, kinds)
    print(table)
    if not args.no_append:
        append_results(table, argv if argv is not None else sys.argv[1:], sizes, args.runs,
                       args.records)
    missed = [f"{kind}/{name}" for kind in kinds for name, (seconds, _) in
              results[kind].items() if seconds >= 2.0]
    if missed:
        print(f"over 2 s: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed else 0


def markdown(results: dict[str, dict[str, tuple[float, int]]], kinds: Sequence[str]) -> str:
    names = list(dict.fromkeys(name for kind in kinds for name in results[kind]))
    lines = ["| report | " + " | ".join(f"{kind} (ms)" for kind in kinds) + " | rows |",
             "| --- | " + " | ".join("---:" for _ in kinds) + " | ---: |"]
    for name in names:
        cells = [f"{results[kind][name][0] * 1000:.0f}" if name in results[kind] else "-"
                 for kind in kinds]
        rows = next(results[kind][name][1] for kind in kinds if name in results[kind])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {rows} |")
    return "\n".join(lines)


def append_results(table: str, argv: Sequence[str], sizes: dict[str, str], runs: int,
                   records: int) -> None:
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True, check=False).stdout.strip()
    command = " ".join(["python benchmarks/reports.py", *argv])
    today = datetime.now(UTC).date().isoformat()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    text = (f"\n## Operator reports over {records:,} call records ({today})\n\n"
            f"```\n{command}\n```\n\n"
            f"At commit {commit or 'unknown'}{' with uncommitted changes in src/' if dirty else ''}"
            f", {os.cpu_count()} CPUs ({platform.machine()}), Python "
            f"{platform.python_version()}, load average {load} when it ended (the machine "
            f"is shared); median of {runs} runs, default options (the whole {DAYS} days, "
            f"time zone {ZONE} for hours and days).\n\n"
            + "".join(f"- {kind}: {size}\n" for kind, size in sizes.items())
            + f"\n{table}\n")
    with (ROOT / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as out:
        out.write(text)


if __name__ == "__main__":
    raise SystemExit(main())
