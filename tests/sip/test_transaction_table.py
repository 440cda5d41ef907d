"""The four transaction tables checked pair by pair, and random input sequences through the layer.

`EDGES` below is the RFC 3261 / RFC 6026 figures transcribed on their own, as next states
only; the module's tables must agree with it on every (state, input) pair, and a pair the
figures do not have must be ignored (or, for a user's response, refused with SipUsageError).
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.sip.address import Address
from pycc.sip.errors import SipUsageError
from pycc.sip.message import Request, Response, make_response, parse_message
from pycc.sip.transaction import (
    TIMERS,
    USER_RESPONSES,
    Effect,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    RequestReceived,
    Start,
    TimerConfig,
    Transaction,
    TransactionInput,
    TransactionLayer,
    TransactionState,
    TransactionTerminated,
)

Machine = type[Transaction]
MACHINES: list[Machine] = [
    InviteClientTransaction,
    NonInviteClientTransaction,
    InviteServerTransaction,
    NonInviteServerTransaction,
]

#: state, input, next state -- one line per arrow of RFC 6026 Figures 5 and 7 and RFC 3261
#: Figures 6 and 8, plus pycc's CANCEL handling (§9.1) on the INVITE client.
EDGES: dict[Machine, str] = {
    InviteClientTransaction: """
        CALLING      TIMER_A          CALLING
        CALLING      TIMER_B          TERMINATED
        CALLING      TRANSPORT_ERROR  TERMINATED
        CALLING      CANCEL           CALLING
        CALLING      RECV_1XX         PROCEEDING
        CALLING      RECV_2XX         ACCEPTED
        CALLING      RECV_3XX_6XX     COMPLETED
        PROCEEDING   RECV_1XX         PROCEEDING
        PROCEEDING   RECV_2XX         ACCEPTED
        PROCEEDING   RECV_3XX_6XX     COMPLETED
        PROCEEDING   CANCEL           PROCEEDING
        PROCEEDING   TIMER_CANCEL     TERMINATED
        PROCEEDING   TRANSPORT_ERROR  TERMINATED
        ACCEPTED     RECV_2XX         ACCEPTED
        ACCEPTED     TIMER_M          TERMINATED
        COMPLETED    RECV_3XX_6XX     COMPLETED
        COMPLETED    TIMER_D          TERMINATED
        COMPLETED    TRANSPORT_ERROR  TERMINATED
    """,
    NonInviteClientTransaction: """
        TRYING       TIMER_E          TRYING
        TRYING       TIMER_F          TERMINATED
        TRYING       TRANSPORT_ERROR  TERMINATED
        TRYING       RECV_1XX         PROCEEDING
        TRYING       RECV_2XX         COMPLETED
        TRYING       RECV_3XX_6XX     COMPLETED
        PROCEEDING   TIMER_E          PROCEEDING
        PROCEEDING   TIMER_F          TERMINATED
        PROCEEDING   TRANSPORT_ERROR  TERMINATED
        PROCEEDING   RECV_1XX         PROCEEDING
        PROCEEDING   RECV_2XX         COMPLETED
        PROCEEDING   RECV_3XX_6XX     COMPLETED
        COMPLETED    TIMER_K          TERMINATED
    """,
    InviteServerTransaction: """
        PROCEEDING   TIMER_TRYING     PROCEEDING
        PROCEEDING   REQUEST          PROCEEDING
        PROCEEDING   SEND_1XX         PROCEEDING
        PROCEEDING   SEND_2XX         ACCEPTED
        PROCEEDING   SEND_3XX_6XX     COMPLETED
        PROCEEDING   TRANSPORT_ERROR  PROCEEDING
        ACCEPTED     REQUEST          ACCEPTED
        ACCEPTED     ACK              ACCEPTED
        ACCEPTED     SEND_2XX         ACCEPTED
        ACCEPTED     TRANSPORT_ERROR  ACCEPTED
        ACCEPTED     TIMER_L          TERMINATED
        COMPLETED    REQUEST          COMPLETED
        COMPLETED    TIMER_G          COMPLETED
        COMPLETED    TIMER_H          TERMINATED
        COMPLETED    ACK              CONFIRMED
        COMPLETED    TRANSPORT_ERROR  TERMINATED
        CONFIRMED    TIMER_I          TERMINATED
    """,
    NonInviteServerTransaction: """
        TRYING       SEND_1XX         PROCEEDING
        TRYING       SEND_2XX         COMPLETED
        TRYING       SEND_3XX_6XX     COMPLETED
        PROCEEDING   REQUEST          PROCEEDING
        PROCEEDING   SEND_1XX         PROCEEDING
        PROCEEDING   SEND_2XX         COMPLETED
        PROCEEDING   SEND_3XX_6XX     COMPLETED
        PROCEEDING   TRANSPORT_ERROR  TERMINATED
        COMPLETED    REQUEST          COMPLETED
        COMPLETED    TIMER_J          TERMINATED
        COMPLETED    TRANSPORT_ERROR  TERMINATED
    """,
}

STATES: dict[Machine, list[TransactionState]] = {
    InviteClientTransaction: [
        TransactionState.CALLING, TransactionState.PROCEEDING, TransactionState.ACCEPTED,
        TransactionState.COMPLETED, TransactionState.TERMINATED,
    ],
    NonInviteClientTransaction: [
        TransactionState.TRYING, TransactionState.PROCEEDING, TransactionState.COMPLETED,
        TransactionState.TERMINATED,
    ],
    InviteServerTransaction: [
        TransactionState.PROCEEDING, TransactionState.ACCEPTED, TransactionState.COMPLETED,
        TransactionState.CONFIRMED, TransactionState.TERMINATED,
    ],
    NonInviteServerTransaction: [
        TransactionState.TRYING, TransactionState.PROCEEDING, TransactionState.COMPLETED,
        TransactionState.TERMINATED,
    ],
}


def _edges(machine: Machine) -> dict[tuple[TransactionState, TransactionInput], TransactionState]:
    edges = {}
    for line in EDGES[machine].strip().splitlines():
        state, event, target = line.split()
        edges[(TransactionState[state], TransactionInput[event])] = TransactionState[target]
    return edges


def _request(method: str) -> Request:
    text = (
        f"{method} sip:bob@pycc.test SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKtable\r\n"
        "From: <sip:alice@pycc.test>;tag=a1\r\nTo: <sip:bob@pycc.test>\r\n"
        f"Call-ID: table@pycc.test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def _bare(machine: Machine) -> Transaction:
    """A transaction outside any layer, to drive its table alone."""
    where = Address("udp", "192.0.2.1", 5060)
    if machine is InviteClientTransaction:
        return InviteClientTransaction(_request("INVITE"), where, ("z9hG4bKtable", "INVITE"))
    if machine is NonInviteClientTransaction:
        return NonInviteClientTransaction(_request("BYE"), where, ("z9hG4bKtable", "BYE"))
    if machine is InviteServerTransaction:
        return InviteServerTransaction(_request("INVITE"), where, where, ("z9hG4bKtable",))
    return NonInviteServerTransaction(_request("BYE"), where, where, ("z9hG4bKtable",))


PAIRS = [
    (machine, state, event)
    for machine in MACHINES
    for state, event in itertools.product(STATES[machine], TransactionInput)
]


@pytest.mark.parametrize(
    ("machine", "state", "event"),
    PAIRS,
    ids=[f"{m.__name__}-{s.name}-{e.name}" for m, s, e in PAIRS],
)
def test_every_pair_follows_the_figures(
    machine: Machine, state: TransactionState, event: TransactionInput
) -> None:
    txn = _bare(machine)
    txn.state = state
    expected = _edges(machine).get((state, event))
    if expected is not None:
        txn.process_input(event)
        assert txn.state is expected
    elif event in USER_RESPONSES:
        with pytest.raises(SipUsageError):
            txn.process_input(event)
        assert txn.state is state
    else:
        assert txn.process_input(event) == ()
        assert txn.state is state


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_table_has_no_pair_beyond_the_figures(machine: Machine) -> None:
    table = machine.TRANSITIONS
    assert {pair: target for pair, (target, _) in table.items()} == _edges(machine)
    assert all(state is not TransactionState.TERMINATED for state, _ in table)  # never left


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_every_started_timer_is_handled_where_it_runs(machine: Machine) -> None:
    table = machine.TRANSITIONS
    starts = [(machine.INITIAL[0], machine.INITIAL[1])]
    starts += [(target, actions) for target, actions in table.values()]
    for state, actions in starts:
        for action in actions:
            if isinstance(action, Start):
                assert (state, action.timer) in table, (state, action.timer)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_failures_are_reported(machine: Machine) -> None:
    timeouts = {
        TransactionInput.TIMER_B, TransactionInput.TIMER_F, TransactionInput.TIMER_H,
        TransactionInput.TIMER_CANCEL,
    }
    for (_state, event), (_target, actions) in machine.TRANSITIONS.items():
        if event in timeouts:
            assert Effect.REPORT_TIMEOUT in actions
        elif event is TransactionInput.TRANSPORT_ERROR:
            assert Effect.REPORT_TRANSPORT_ERROR in actions
        else:
            assert Effect.REPORT_TIMEOUT not in actions
            assert Effect.REPORT_TRANSPORT_ERROR not in actions


# -- random sequences through the layer ---------------------------------------------------------

PEER = {False: Address("udp", "192.0.2.20", 5060), True: Address("tcp", "192.0.2.20", 5060, 4)}

CLIENT_OPS = st.one_of(
    st.tuples(st.just("recv"), st.sampled_from([100, 180, 200, 486])),
    st.tuples(st.just("recv_cancel"), st.sampled_from([200, 481])),
    st.tuples(st.just("wait"), st.sampled_from([0.1, 0.5, 4.0, 40.0])),
    st.tuples(st.just("transport_error"), st.just(0)),
    st.tuples(st.just("cancel"), st.just(0)),
)
SERVER_OPS = st.one_of(
    st.tuples(st.just("request"), st.just(0)),
    st.tuples(st.just("ack"), st.just(0)),
    st.tuples(st.just("send"), st.sampled_from([100, 180, 200, 486])),
    st.tuples(st.just("wait"), st.sampled_from([0.1, 0.5, 4.0, 40.0])),
    st.tuples(st.just("transport_error"), st.just(0)),
)


def _parse(data: bytes) -> Request | Response:
    return parse_message(data)


def _answer(request: Request, status: int) -> Response:
    message = parse_message(make_response(request, status, to_tag="t1").to_bytes())
    assert isinstance(message, Response)
    return message


def _incoming(method: str) -> Request:
    to_tag = ";tag=t1" if method == "ACK" else ""
    text = (
        f"{method} sip:bob@pycc.test SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKrandom;rport\r\n"
        f"From: <sip:alice@pycc.test>;tag=a1\r\nTo: <sip:bob@pycc.test>{to_tag}\r\n"
        f"Call-ID: random@pycc.test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def _handled_timers(txn: Transaction) -> set[TransactionInput]:
    return {event for (state, event) in txn.TRANSITIONS if state is txn.state and event in TIMERS}


def _check_invariants(tl: TransactionLayer, txns: list[Transaction], ended: set[int]) -> None:
    events = []
    while (event := tl.next_event()) is not None:
        events.append(event)
    for event in events:
        if isinstance(event, RequestReceived):
            txns.append(event.transaction)  # a late retransmission starts a new one
        elif isinstance(event, TransactionTerminated):
            assert id(event.transaction) not in ended, "terminated twice"
            ended.add(id(event.transaction))
    for txn in txns:
        # Only timers the current state reacts to may run: anything else would be a leak.
        assert txn.running_timers <= _handled_timers(txn)
        assert (txn.state is TransactionState.TERMINATED) == (id(txn) in ended)


def _settle(tl: TransactionLayer, now: float, txns: list[Transaction], ended: set[int]) -> None:
    tl.handle_timer(now + 10_000.0)
    _check_invariants(tl, txns, ended)
    if all(t.state is TransactionState.TERMINATED for t in txns):
        assert tl.transaction_count == 0
        assert tl.get_timer() is None
        assert tl.timer_count == 0


@settings(max_examples=150, deadline=None)
@given(
    invite=st.booleans(),
    reliable=st.booleans(),
    ops=st.lists(CLIENT_OPS, max_size=25),
)
def test_random_client_inputs(
    invite: bool, reliable: bool, ops: list[tuple[str, float]]
) -> None:
    tl = TransactionLayer(TimerConfig(), random.Random(0))
    method = "INVITE" if invite else "OPTIONS"
    txn = tl.send_request(_request(method), PEER[reliable], 0.0)
    wire = txn.request
    txns: list[Transaction] = [txn]
    ended: set[int] = set()
    cancel_wire: Request | None = None
    now = 0.0
    for op, arg in ops:
        before = txn.state
        if op == "recv":
            tl.receive_response(_answer(wire, int(arg)), PEER[reliable], now)
        elif op == "recv_cancel" and cancel_wire is not None:
            tl.receive_response(_answer(cancel_wire, int(arg)), PEER[reliable], now)
        elif op == "wait":
            now += arg
            tl.handle_timer(now)
        elif op == "transport_error":
            tl.transport_error(PEER[reliable], now)
        elif op == "cancel" and isinstance(txn, InviteClientTransaction):
            tl.cancel(txn, now)
        cancel_txn = txn.cancel_transaction if isinstance(txn, InviteClientTransaction) else None
        if cancel_txn is not None and cancel_wire is None:
            cancel_wire = cancel_txn.request
            txns.append(cancel_txn)
        tl.messages_to_send()
        if before is TransactionState.TERMINATED:
            assert txn.state is TransactionState.TERMINATED
        _check_invariants(tl, txns, ended)
    _settle(tl, now, txns, ended)
    # Only an INVITE that got a provisional response and was never cancelled may wait on.
    waiting = (
        isinstance(txn, InviteClientTransaction)
        and txn.state is TransactionState.PROCEEDING
        and txn.cancel_transaction is None
    )
    assert waiting or txn.state is TransactionState.TERMINATED


@settings(max_examples=150, deadline=None)
@given(
    invite=st.booleans(),
    reliable=st.booleans(),
    ops=st.lists(SERVER_OPS, max_size=25),
)
def test_random_server_inputs(
    invite: bool, reliable: bool, ops: list[tuple[str, float]]
) -> None:
    tl = TransactionLayer(TimerConfig(), random.Random(0))
    method = "INVITE" if invite else "OPTIONS"
    source = PEER[reliable]
    tl.receive_request(_incoming(method), source, 0.0)
    first = tl.next_event()
    assert isinstance(first, RequestReceived)
    txn = first.transaction
    txns: list[Transaction] = [txn]
    ended: set[int] = set()
    now = 0.0
    for op, arg in ops:
        before = txn.state
        if op == "request":
            tl.receive_request(_incoming(method), source, now)
        elif op == "ack":
            tl.receive_request(_incoming("ACK"), source, now)
        elif op == "send":
            try:
                tl.send_response(txn, make_response(txn.request, int(arg), to_tag="t1"), now)
            except SipUsageError:
                assert txn.state is before  # refused without a change
        elif op == "wait":
            now += arg
            tl.handle_timer(now)
        elif op == "transport_error":
            tl.transport_error(source, now)
        for data, _where in tl.messages_to_send():
            _parse(data)  # everything sent parses
        if before is TransactionState.TERMINATED:
            assert txn.state is TransactionState.TERMINATED
        # The server side never starts a second transaction for the same request.
        assert tl.transaction_count <= 1
        _check_invariants(tl, txns, ended)
    _settle(tl, now, txns, ended)
    # A server transaction only outlives every timer while the user owes it a final answer.
    for each in txns:
        waiting = each.state in (TransactionState.TRYING, TransactionState.PROCEEDING)
        assert waiting or each.state is TransactionState.TERMINATED
