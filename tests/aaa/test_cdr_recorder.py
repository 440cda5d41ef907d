"""Call records: the row a call's facts make, open and closed records, crash recovery, costs.

The pure helpers (`complete`, `close_interrupted`, `HoldClock`, `is_hold_offer`) are tested on
plain rows; `CallRecorder` runs against a real store (SQLite, and PostgreSQL when it is there)
with B2BUA and outbound call objects carrying only the facts a record reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, cast

import pytest

from pycc.aaa.cdr import (
    CallRecorder,
    HoldClock,
    close_interrupted,
    complete,
    disposition_of,
    is_hold_offer,
)
from pycc.ccmanager.b2bua import Call, CallState, Leg, Outside
from pycc.ccmanager.outbound import OutboundCall, OutboundState
from pycc.routing.rating import Increment, Rate, RatePlan, RateTable
from pycc.sip.address import Address
from pycc.store import CallRecord, Store
from pycc.store.async_store import AsyncStore

T0 = 1_700_000_000.0
D = Decimal
RATES = RatePlan({"retail": RateTable("retail", [Rate("44", D("0.06"), Increment(1, 1)),
                                                 Rate("1", D("0.01"))])},
                 default="retail")


def base_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "call_id": "c1", "caller": "1001", "callee": "1002", "direction": "internal",
        "start": T0, "ring": T0 + 1.0, "answer": T0 + 4.0, "end": T0 + 64.0,
        "state": "closed", "disposition": "answered", "hangup_by": "caller",
        "hangup_cause": "200 BYE", "sip_status": 200, "trunk": None,
    }
    row.update(changes)
    return row


# -- the row's derived columns ---------------------------------------------------------------


def test_durations_of_an_answered_call() -> None:
    row = complete(base_row(hold_seconds=10.0))
    assert (row["duration"], row["ring_seconds"], row["talk_seconds"], row["hold_seconds"]) == \
        (60.0, 3.0, 50.0, 10.0)
    assert row["cost"] == 0 and row["rate_table"] is None  # an internal call costs nothing


def test_an_unanswered_call_rang_until_it_ended() -> None:
    row = complete(base_row(answer=None, end=T0 + 21.0, disposition="no-answer",
                            hold_seconds=4.0))
    assert (row["duration"], row["ring_seconds"], row["talk_seconds"], row["hold_seconds"]) == \
        (0.0, 20.0, 0.0, 0.0)
    without_ringing = complete(base_row(ring=None, answer=None, end=T0 + 2.5))
    assert without_ringing["ring_seconds"] == 2.5


def test_talk_time_is_the_agents_and_the_wrap_up_is_the_queues() -> None:
    row = complete(base_row(answer=T0 + 0.5, agent="alice", agent_answer=T0 + 30.0,
                            queue="sales", queue_wait=25.0, hold_seconds=4.0),
                   wrapups={"sales": 7.5})
    assert row["talk_seconds"] == 30.0  # 64 - 30 - 4 on hold
    assert (row["queue_enter"], row["queue_exit"]) == (T0 + 5.0, T0 + 30.0)
    assert row["wrapup_seconds"] == 7.5
    no_agent = complete(base_row(queue="sales", queue_wait=12.0, end=T0 + 20.0),
                        wrapups={"sales": 7.5})
    assert no_agent["wrapup_seconds"] is None
    assert (no_agent["queue_enter"], no_agent["queue_exit"]) == (T0 + 8.0, T0 + 20.0)
    noted = complete(base_row(queue="sales", queue_wait=3.0, queue_enter=T0 + 10.0,
                              queue_exit=T0 + 13.0))
    assert (noted["queue_enter"], noted["queue_exit"]) == (T0 + 10.0, T0 + 13.0)


def test_calls_out_over_a_trunk_are_rated_on_the_translated_callee() -> None:
    row = complete(base_row(direction="outbound", trunk="carrier", callee="+4420123"),
                   rates=RATES)
    # 60 s at 0.06 a minute, by the second.
    assert (row["cost"], row["rate_table"], row["rate_prefix"]) == (60_000, "retail", "44")
    unanswered = complete(base_row(direction="outbound", trunk="carrier", callee="+4420123",
                                   answer=None, disposition="busy"), rates=RATES)
    assert unanswered["cost"] == 0 and unanswered["rate_prefix"] == "44"
    unrated = complete(base_row(direction="outbound", trunk="carrier", callee="+3312"),
                       rates=RATES)
    assert unrated["cost"] is None and unrated["rate_table"] == "retail"
    no_table = complete(base_row(direction="outbound", trunk="carrier", callee="+4420"),
                        rates=RatePlan({}))
    assert no_table["cost"] == 0 and no_table["rate_table"] is None
    inbound = complete(base_row(direction="inbound", trunk="carrier", callee="+4420"),
                       rates=RATES)
    assert inbound["cost"] == 0
    still_up = complete(base_row(direction="outbound", trunk="carrier", callee="+4420",
                                 state="open"), rates=RATES)
    assert still_up["cost"] is None


def test_an_interrupted_record_ends_when_the_call_was_last_known_up() -> None:
    open_row = base_row(state="open", disposition="in-progress", hangup_by="system",
                        hangup_cause="", end=T0 + 30.0, direction="outbound",
                        trunk="carrier", callee="+1555", id=7)
    closed = close_interrupted(open_row, rates=RATES)
    assert "id" not in closed
    assert (closed["state"], closed["disposition"], closed["hangup_by"]) == \
        ("closed", "interrupted", "system")
    assert closed["end"] == T0 + 30.0 and closed["duration"] == 26.0
    assert closed["cost"] == 10_000  # one minute at 0.01 (60/60)
    # An answer after the last heartbeat is still known to have happened.
    late = close_interrupted(base_row(state="open", end=T0, answer=T0 + 3.0))
    assert late["end"] == T0 + 3.0


@pytest.mark.parametrize(("status", "answered", "disposition"), [
    (200, True, "answered"), (486, False, "busy"), (408, False, "no-answer"),
    (487, False, "cancelled"), (503, False, "failed"), (480, False, "unavailable"),
])
def test_dispositions(status: int, answered: bool, disposition: str) -> None:
    assert disposition_of(status, answered) == disposition


# -- hold ------------------------------------------------------------------------------------


def test_the_hold_clock_counts_while_any_party_holds() -> None:
    clock = HoldClock()
    clock.set("a", True, 10.0)
    clock.set("b", True, 12.0)
    clock.set("a", False, 15.0)  # b still holds
    assert clock.held and clock.seconds(16.0) == 6.0
    clock.set("b", False, 20.0)
    clock.set("b", False, 21.0)  # a resume without a hold changes nothing
    assert not clock.held and clock.seconds(100.0) == 10.0
    clock.set("a", True, 30.0)
    assert clock.seconds(31.5) == 11.5


def sdp(direction: str | None, address: str = "192.0.2.1") -> bytes:
    lines = ["v=0", f"o=- 1 2 IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0",
             "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]
    if direction:
        lines.append(f"a={direction}")
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize(("body", "held"), [
    (sdp("sendonly"), True), (sdp("inactive"), True), (sdp(None, "0.0.0.0"), True),
    (sdp("sendrecv"), False), (sdp(None), False), (sdp("recvonly"), False),
    (b"not sdp at all", False), (b"", False),
])
def test_hold_offers(body: bytes, held: bool) -> None:
    assert is_hold_offer(body) is held


# -- the recorder against a store ------------------------------------------------------------


@pytest.fixture
def tenant_id(store: Store) -> int:
    tenant = store.get_tenant("acme")
    assert tenant is not None and tenant.id is not None
    return tenant.id


@pytest.fixture
def astore(store: Store) -> Iterator[AsyncStore]:
    wrapped = AsyncStore(store)
    yield wrapped
    wrapped._executor.shutdown(wait=True)


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(20):
            await body()

    asyncio.run(main())


def b2bua_call(call_id: str, *, start: float = T0, trunk: str | None = None) -> Call:
    call = Call(call_id=call_id, a_txn=cast(Any, None), a_invite=cast(Any, None),
                a_source=Address("udp", "127.0.0.1", 5062), caller="1001", callee="1002",
                to_tag="t", start=start)
    call.media_info.update(caller_dialed="1001", callee_dialed="91002")
    if trunk is not None:
        call.media_info["direction"] = "outbound"
        call.callee = "+4420123"
        way = Outside(uri=cast(Any, None), destination=Address("udp", "127.0.0.1", 5080),
                      trunk=trunk)
        call.legs.append(Leg(call, way.destination, cast(Any, None), cast(Any, None),
                             outside=way))
    return call


def end_call(call: Call, *, answer: float | None, end: float) -> None:
    call.answer = answer
    call.end = end
    call.state = CallState.ENDED
    call.disposition = "answered" if answer is not None else "busy"
    call.sip_status = 200 if answer is not None else 486
    call.hangup_by = "caller" if answer is not None else "callee"
    call.hangup_cause = "200 BYE" if answer is not None else "486 Busy Here"


def listed(store: Store) -> list[CallRecord]:
    return store.list_call_records("acme", include_open=True)


def test_a_short_call_is_one_write_of_its_closed_record(store: Store, astore: AsyncStore,
                                                        tenant_id: int) -> None:
    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1", clock=lambda: T0 + 9)
        call = b2bua_call("short")
        recorder.opened(call)
        end_call(call, answer=T0 + 2.0, end=T0 + 8.0)
        recorder.record(call)  # replaces the open row still waiting
        await recorder.close()
        assert recorder.written == 1

    run(body)
    [record] = listed(store)
    assert (record.state, record.disposition, record.duration) == ("closed", "answered", 6.0)
    assert (record.caller_dialed, record.callee_dialed, record.node) == ("1001", "91002", "n1")


def test_rows_gather_between_batches_and_a_lone_row_goes_at_once(
        store: Store, astore: AsyncStore, tenant_id: int) -> None:
    """Group commit with a gap: the rows of calls placed while a batch was just written wait
    for the gap and go in one transaction (a call that ended meanwhile is one closed row);
    after a quiet spell a row is written at once."""
    batches: list[tuple[float, list[tuple[str, str]]]] = []
    write = astore.add_call_records

    async def counting(rows: Any) -> int:
        batches.append((asyncio.get_running_loop().time(),
                        [(row["call_id"], row["state"]) for row in rows]))
        return await write(rows)

    astore.add_call_records = counting  # type: ignore[method-assign]

    async def body() -> None:
        loop = asyncio.get_running_loop()
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1", clock=lambda: T0 + 1,
                                batch_gap=0.3)
        first = loop.time()
        recorder.opened(b2bua_call("c1"))
        await recorder.drain()
        calls = [b2bua_call(f"c{n}") for n in range(2, 6)]
        for call in calls:
            recorder.opened(call)
        end_call(calls[0], answer=T0 + 0.5, end=T0 + 1.0)
        recorder.record(calls[0])
        await recorder.drain()
        await asyncio.sleep(0.35)
        quiet = loop.time()
        recorder.opened(b2bua_call("c6"))
        await recorder.drain()
        assert batches[2][0] - quiet < 0.2
        assert batches[1][0] - first >= 0.29
        await recorder.close()

    run(body)
    assert [sorted(rows) for _when, rows in batches] == [
        [("c1", "open")],
        [("c2", "closed"), ("c3", "open"), ("c4", "open"), ("c5", "open")],
        [("c6", "open")],
    ]


def test_an_open_record_is_written_then_closed_never_twice(store: Store, astore: AsyncStore,
                                                            tenant_id: int) -> None:
    now = [T0 + 1.0]

    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1", clock=lambda: now[0])
        call = b2bua_call("long", trunk="carrier")
        recorder.configure(RATES)
        recorder.opened(call)
        await recorder.drain()
        [record] = listed(store)
        assert (record.state, record.disposition, record.cost) == ("open", "in-progress", None)
        assert record.end == T0 + 1.0 and record.direction == "outbound"
        assert store.list_call_records("acme") == []  # reports see finished calls only
        now[0] = T0 + 5.0
        call.answer = T0 + 5.0
        recorder.answered(call)
        await recorder.drain()
        [record] = listed(store)
        assert record.answer == T0 + 5.0 and record.state == "open"
        end_call(call, answer=T0 + 5.0, end=T0 + 65.0)
        recorder.record(call)
        await recorder.drain()
        recorder.answered(call)  # too late: the record is closed
        await recorder.close()

    run(body)
    [record] = listed(store)
    assert (record.state, record.disposition, record.trunk) == ("closed", "answered", "carrier")
    assert (record.cost, record.rate_prefix, record.callee) == (60_000, "44", "+4420123")


def test_a_late_open_row_never_reopens_a_closed_record(store: Store, tenant_id: int) -> None:
    closed = complete(base_row(tenant_id=tenant_id, node="n1"))
    store.add_call_records([closed])
    store.add_call_records([{**closed, "state": "open", "disposition": "in-progress",
                             "end": T0 + 999.0}])
    store.add_call_record(CallRecord(**{**closed, "state": "open",
                                        "disposition": "in-progress"}))
    [record] = listed(store)
    assert (record.state, record.disposition, record.end) == ("closed", "answered", T0 + 64.0)


def test_the_heartbeat_moves_the_end_of_open_records(store: Store, astore: AsyncStore,
                                                     tenant_id: int) -> None:
    now = [T0]

    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1", heartbeat=0.05,
                                clock=lambda: now[0])
        recorder.opened(b2bua_call("up"))
        await recorder.drain()
        now[0] = T0 + 42.0
        async with asyncio.timeout(5):
            while listed(store)[0].end < T0 + 42.0:
                await asyncio.sleep(0.05)
        await recorder.close()

    run(body)
    assert listed(store)[0].state == "open"


def test_recovery_closes_this_nodes_open_records_once(store: Store, astore: AsyncStore,
                                                      tenant_id: int) -> None:
    rows = [complete(base_row(call_id=f"n1-{i}", tenant_id=tenant_id, node="n1", state="open",
                              disposition="in-progress", hangup_by="system",
                              direction="outbound", trunk="carrier", callee="+1555",
                              end=T0 + 120.0))
            for i in range(3)]
    rows.append({**rows[0], "call_id": "n2-0", "node": "n2"})
    rows.append(complete(base_row(call_id="done", tenant_id=tenant_id, node="n1")))
    store.add_call_records(rows)

    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1")
        recorder.configure(RATES, credit_limit=D("0.05"))
        assert await recorder.recover() == 3
        assert await recorder.recover() == 0
        # Three interrupted calls of 116 s, two minutes at 0.01 each: the limit is reached.
        assert recorder.credit.total == 60_000 and recorder.credit.exhausted
        await recorder.close()

    run(body)
    by_id = {record.call_id: record for record in listed(store)}
    assert len(by_id) == 5
    for i in range(3):
        record = by_id[f"n1-{i}"]
        assert (record.state, record.disposition, record.hangup_by) == \
            ("closed", "interrupted", "system")
        assert (record.end, record.duration, record.cost) == (T0 + 120.0, 116.0, 20_000)
    assert by_id["n2-0"].state == "open"  # another node's call may still be up
    assert by_id["done"].disposition == "answered"


def test_costs_written_count_against_the_credit(store: Store, astore: AsyncStore,
                                                tenant_id: int) -> None:
    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1")
        recorder.configure(RATES, credit_limit=D("0.10"), credit_since=T0)
        await recorder.recover()
        assert recorder.credit.total == 0 and not recorder.credit.exhausted
        for index in range(2):
            call = b2bua_call(f"out-{index}", trunk="carrier")
            end_call(call, answer=T0 + 1.0, end=T0 + 61.0)
            recorder.record(call)
        await recorder.drain()
        assert recorder.credit.total == 120_000 and recorder.credit.exhausted
        old = b2bua_call("before", start=T0 - 100.0, trunk="carrier")
        end_call(old, answer=T0 - 99.0, end=T0 - 39.0)
        recorder.record(old)
        await recorder.close()
        assert recorder.credit.total == 120_000  # before the period: not counted
        # A restarted switch finds the same total in the records.
        again = CallRecorder(astore, tenant_id=tenant_id, node="n1")
        again.configure(RATES, credit_limit=D("0.10"), credit_since=T0)
        await again.recover()
        assert again.credit.total == 120_000
        await again.close()

    run(body)
    assert store.call_cost_total(tenant_id) == 180_000
    assert store.call_cost_total(tenant_id, T0) == 120_000


def test_a_call_pycc_placed_gets_its_own_record(store: Store, astore: AsyncStore,
                                                 tenant_id: int) -> None:
    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1")
        recorder.configure(RATES, {"sales": 3.0})
        out = OutboundCall(id="out-1@pycc", target="+4420555", caller="+15551230000",
                           start=T0, media=cast(Any, None))
        out.details.update(direction="outbound", trunk="carrier", route="dial_out",
                           campaign="spring", contact="c-17")
        recorder.opened(out)
        out.ring, out.answer = T0 + 2.0, T0 + 6.0
        out.state = OutboundState.ANSWERED
        recorder.answered(out)
        out.details.update(queue="sales", agent="alice", agent_answer=T0 + 7.0,
                           queue_wait=1.0, hold_seconds=5.0)
        out.end, out.status, out.state = T0 + 36.0, 200, OutboundState.ENDED
        out.hangup_by, out.hangup_cause = "system", "200 BYE"
        recorder.record(out)
        await recorder.close()

    run(body)
    [record] = listed(store)
    assert (record.call_id, record.direction, record.trunk, record.route) == \
        ("out-1@pycc", "outbound", "carrier", "dial_out")
    assert (record.caller, record.callee, record.campaign, record.contact) == \
        ("+15551230000", "+4420555", "spring", "c-17")
    assert (record.disposition, record.sip_status, record.hangup_by) == \
        ("answered", 200, "system")
    assert (record.queue_enter, record.queue_exit, record.wrapup_seconds) == \
        (T0 + 6.0, T0 + 7.0, 3.0)
    assert (record.ring_seconds, record.duration, record.talk_seconds, record.hold_seconds) == \
        (4.0, 30.0, 24.0, 5.0)
    assert record.cost == 30_000  # 30 s by the second at 0.06 a minute


def test_a_record_the_store_refuses_does_not_hold_back_the_others(
        store: Store, astore: AsyncStore, tenant_id: int) -> None:
    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1")
        bad, good = b2bua_call("bad"), b2bua_call("good")
        for call in (bad, good):
            end_call(call, answer=T0 + 1.0, end=T0 + 2.0)
        bad.disposition = "vanished"
        recorder.record(bad)
        recorder.record(good)
        await recorder.close()
        assert recorder.written == 1

    run(body)
    assert [record.call_id for record in listed(store)] == ["good"]


def test_an_answer_noted_while_the_open_record_is_written_is_written_too(
        store: Store, astore: AsyncStore, tenant_id: int) -> None:
    """The same call queued again while its open row is in flight is a newer record: the
    writer must not take it for the one it just wrote."""
    write = astore.add_call_records
    in_flight = asyncio.Event()
    go_on = asyncio.Event()

    async def slow(rows: Any) -> int:
        in_flight.set()
        await go_on.wait()
        return await write(rows)

    astore.add_call_records = slow  # type: ignore[method-assign]

    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1", clock=lambda: T0 + 6,
                                batch_gap=0.0)
        call = b2bua_call("racing")
        recorder.opened(call)
        await in_flight.wait()  # the row without the answer is being written
        call.answer = T0 + 5.0
        recorder.answered(call)
        go_on.set()
        await recorder.drain()
        await recorder.close()

    run(body)
    [record] = listed(store)
    assert (record.state, record.answer) == ("open", T0 + 5.0)


def test_an_open_record_that_cannot_be_built_holds_back_no_other(
        store: Store, astore: AsyncStore, tenant_id: int) -> None:
    """An open row is built when its batch is written: a call whose facts break it is
    logged and dropped there, and the writer goes on."""
    async def body() -> None:
        recorder = CallRecorder(astore, tenant_id=tenant_id, node="n1", clock=lambda: T0 + 1)
        broken, good = b2bua_call("broken"), b2bua_call("good")
        broken.hold = cast(Any, None)  # no hold clock: its row cannot be built
        recorder.opened(broken)
        recorder.opened(good)
        good.ring = T0 + 0.5  # after opened(): the row is built later, with it
        await recorder.close()

    run(body)
    assert [(r.call_id, r.state, r.ring) for r in listed(store)] == [("good", "open", T0 + 0.5)]


NEW_COLUMNS = ("state", "caller_dialed", "callee_dialed", "trunk", "queue_enter", "queue_exit",
               "campaign", "contact", "ring_seconds", "talk_seconds", "hold_seconds",
               "wrapup_seconds", "cost", "rate_table", "rate_prefix")


def test_an_older_database_gains_the_new_columns_and_index(store_url: str) -> None:
    """The call_records table of an older pycc, with a record: `create_all` (what
    ``pycc serve`` runs first) adds the columns and the open-records index, the old record
    reads back closed and new records carry every column."""
    import sqlalchemy

    first = Store(store_url)
    first.create_all()
    tenant = first.ensure_tenant("acme", "acme.example")
    assert tenant.id is not None
    first.add_call_records([complete(base_row(call_id="old", tenant_id=tenant.id))])
    first.close()
    engine = sqlalchemy.create_engine(store_url.replace("postgresql://",
                                                        "postgresql+psycopg://"))
    with engine.begin() as connection:  # the table as an older pycc made it
        connection.execute(sqlalchemy.text("DROP INDEX ix_call_records_open"))
        for column in NEW_COLUMNS:
            connection.execute(sqlalchemy.text(
                f'ALTER TABLE call_records DROP COLUMN "{column}"'))
    engine.dispose()
    store = Store(store_url)
    try:
        store.create_all()
        store.create_all()  # a second run finds nothing to add
        indexes = {index["name"] for index in
                   sqlalchemy.inspect(store.engine).get_indexes("call_records")}
        assert "ix_call_records_open" in indexes
        [old] = store.list_call_records("acme")
        assert (old.call_id, old.state, old.cost, old.trunk) == ("old", "closed", None, None)
        store.add_call_records([complete(base_row(call_id="new", tenant_id=tenant.id,
                                                  direction="outbound", trunk="carrier",
                                                  callee="+4420"), rates=RATES)])
        new = {r.call_id: r for r in store.list_call_records("acme")}["new"]
        assert (new.trunk, new.cost, new.rate_prefix) == ("carrier", 60_000, "44")
    finally:
        store.close()
