"""The transaction layer driven with a fake clock: schedules, generated messages, matching.

Times are exact because the layer never reads a clock: each test passes ``now`` itself and
fires timers at the deadlines `get_timer` reports.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pycc.sip.address import Address
from pycc.sip.errors import SipUsageError
from pycc.sip.message import Request, Response, make_response, parse_message
from pycc.sip.transaction import (
    AckReceived,
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    TimerConfig,
    Transaction,
    TransactionEvent,
    TransactionInput,
    TransactionLayer,
    TransactionState,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    response_destination,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sip-torture"

PEER_UDP = Address("udp", "192.0.2.20", 5060)
PEER_TCP = Address("tcp", "192.0.2.20", 5060, connection=7)
PHONE_UDP = Address("udp", "203.0.113.7", 40000)  # a phone behind NAT
PHONE_TCP = Address("tcp", "203.0.113.7", 40001, connection=3)

Sent = tuple[Request | Response, Address]


# -- helpers --------------------------------------------------------------------------------


def layer(**kwargs: int) -> TransactionLayer:
    return TransactionLayer(TimerConfig(), random.Random(1), **kwargs)


def outgoing(method: str = "INVITE", *, branch: str | None = None, routes: int = 0) -> Request:
    """A request the switch sends; the top Via is its own, maybe without a branch."""
    via = "SIP/2.0/UDP 198.51.100.1:5060;rport" + (f";branch={branch}" if branch else "")
    lines = [f"{method} sip:bob@192.0.2.20 SIP/2.0", f"Via: {via}"]
    lines += [f"Route: <sip:proxy{i}.pycc.test;lr>" for i in range(routes)]
    lines += [
        "Max-Forwards: 70",
        "From: \"Alice\" <sip:alice@pycc.test>;tag=from1",
        "To: <sip:bob@pycc.test>",
        "Call-ID: out-1@pycc.test",
        f"CSeq: 7 {method}",
        "Contact: <sip:alice@198.51.100.1>",
    ]
    body = b"v=0\r\n" if method == "INVITE" else b""
    head = "\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""])
    message = parse_message(head.encode() + body)
    assert isinstance(message, Request)
    return message


def incoming(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKphone1",
    via_params: str = "",
    via_port: str = ":5070",
    to_tag: str | None = None,
    cseq_method: str | None = None,
) -> Request:
    """A request a phone sends to the switch."""
    to = "<sip:bob@pycc.test>" + (f";tag={to_tag}" if to_tag else "")
    text = "\r\n".join([
        f"{method} sip:bob@pycc.test SIP/2.0",
        f"Via: SIP/2.0/UDP 10.0.0.5{via_port};branch={branch}{via_params}",
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKfirst",
        "Max-Forwards: 70",
        "From: <sip:alice@pycc.test>;tag=a1",
        f"To: {to}",
        "Call-ID: in-1@pycc.test",
        f"CSeq: 3 {cseq_method or method}",
        "Content-Length: 0",
        "",
        "",
    ])
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def answer(request: Request, status: int, to_tag: str = "t1") -> Response:
    """A response as received off the wire."""
    wire = make_response(request, status, to_tag=to_tag).to_bytes()
    message = parse_message(wire)
    assert isinstance(message, Response)
    return message


def drain(tl: TransactionLayer) -> list[TransactionEvent]:
    events = []
    while (event := tl.next_event()) is not None:
        events.append(event)
    return events


def sent(tl: TransactionLayer) -> list[Sent]:
    out: list[Sent] = []
    for data, destination in tl.messages_to_send():
        out.append((parse_message(data), destination))
    return out


def run_until(tl: TransactionLayer, until: float) -> list[tuple[float, Request | Response]]:
    """Fire every timer up to ``until``; return what was sent, with the time."""
    log: list[tuple[float, Request | Response]] = []
    while (deadline := tl.get_timer()) is not None and deadline <= until:
        tl.handle_timer(deadline)
        log += [(deadline, message) for message, _ in sent(tl)]
    return log


def state(txn: Transaction) -> TransactionState:
    """The state, read through a call so that mypy does not narrow it between inputs."""
    return txn.state


def kinds(events: list[TransactionEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def start_client(
    tl: TransactionLayer,
    method: str = "INVITE",
    destination: Address = PEER_UDP,
    *,
    branch: str | None = None,
    routes: int = 0,
) -> tuple[ClientTransaction, Request]:
    txn = tl.send_request(outgoing(method, branch=branch, routes=routes), destination, 0.0)
    [(wire, where)] = sent(tl)
    assert where == destination
    assert isinstance(wire, Request)
    return txn, wire


def start_server(
    tl: TransactionLayer, request: Request | None = None, source: Address = PHONE_UDP
) -> ServerTransaction:
    tl.receive_request(request or incoming(), source, 0.0)
    [event] = drain(tl)
    assert isinstance(event, RequestReceived)
    return event.transaction


# -- timers ---------------------------------------------------------------------------------


def test_timer_values_follow_table_4() -> None:
    timers = TimerConfig()
    unreliable = {t: timers.duration(t, reliable=False) for t in _timer_inputs()}
    reliable = {t: timers.duration(t, reliable=True) for t in _timer_inputs()}
    T = TransactionInput
    assert unreliable == {
        T.TIMER_A: 0.5, T.TIMER_B: 32.0, T.TIMER_D: 32.0, T.TIMER_E: 0.5, T.TIMER_F: 32.0,
        T.TIMER_G: 0.5, T.TIMER_H: 32.0, T.TIMER_I: 5.0, T.TIMER_J: 32.0, T.TIMER_K: 5.0,
        T.TIMER_L: 32.0, T.TIMER_M: 32.0, T.TIMER_TRYING: 0.2, T.TIMER_CANCEL: 32.0,
    }
    assert reliable == {
        T.TIMER_A: None, T.TIMER_B: 32.0, T.TIMER_D: 0.0, T.TIMER_E: None, T.TIMER_F: 32.0,
        T.TIMER_G: None, T.TIMER_H: 32.0, T.TIMER_I: 0.0, T.TIMER_J: 0.0, T.TIMER_K: 0.0,
        T.TIMER_L: 32.0, T.TIMER_M: 32.0, T.TIMER_TRYING: 0.2, T.TIMER_CANCEL: 32.0,
    }
    assert TimerConfig(t1=0.1).duration(T.TIMER_B, reliable=True) == pytest.approx(6.4)
    with pytest.raises(ValueError):
        timers.duration(T.ACK, reliable=False)


def _timer_inputs() -> list[TransactionInput]:
    return [t for t in TransactionInput if t.name.startswith("TIMER_")]


@pytest.mark.parametrize("bad", [{"t1": 0.0}, {"t1": 5.0, "t2": 4.0}, {"t4": -1.0}])
def test_inconsistent_timers_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TimerConfig(**bad)


# -- INVITE client --------------------------------------------------------------------------


def test_invite_client_retransmits_on_udp_until_timer_b() -> None:
    tl = layer()
    txn, _ = start_client(tl)
    assert state(txn) is TransactionState.CALLING
    log = run_until(tl, 100.0)
    assert [t for t, _ in log] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(isinstance(m, Request) and m.method == "INVITE" for _, m in log)
    assert kinds(drain(tl)) == ["TransactionTimedOut", "TransactionTerminated"]
    assert txn.state is TransactionState.TERMINATED
    assert (tl.transaction_count, tl.timer_count, tl.get_timer()) == (0, 0, None)


def test_invite_client_does_not_retransmit_on_tcp() -> None:
    tl = layer()
    txn, _ = start_client(tl, destination=PEER_TCP)
    assert tl.get_timer() == 32.0
    assert run_until(tl, 100.0) == []
    assert kinds(drain(tl)) == ["TransactionTimedOut", "TransactionTerminated"]
    assert txn.state is TransactionState.TERMINATED


def test_provisional_stops_retransmissions_and_timer_b() -> None:
    tl = layer()
    txn, wire = start_client(tl)
    run_until(tl, 0.5)
    tl.receive_response(answer(wire, 180), PEER_UDP, 0.7)
    [event] = drain(tl)
    assert isinstance(event, ResponseReceived) and event.response.status == 180
    assert txn.state is TransactionState.PROCEEDING
    assert tl.get_timer() is None  # Proceeding waits for the user or the peer
    assert run_until(tl, 1000.0) == []


def test_invite_client_2xx_enters_accepted_and_passes_every_2xx() -> None:
    tl = layer()
    txn, wire = start_client(tl)
    tl.receive_response(answer(wire, 180), PEER_UDP, 0.1)
    tl.receive_response(answer(wire, 200), PEER_UDP, 1.0)
    assert txn.state is TransactionState.ACCEPTED
    assert txn.deadline(TransactionInput.TIMER_M) == 33.0
    tl.receive_response(answer(wire, 200), PEER_UDP, 1.5)  # retransmission
    tl.receive_response(answer(wire, 200, to_tag="fork2"), PEER_UDP, 2.0)  # another fork
    tl.receive_response(answer(wire, 486), PEER_UDP, 2.5)  # discarded (RFC 6026 §7.2)
    tl.receive_response(answer(wire, 183), PEER_UDP, 2.5)  # discarded
    events = drain(tl)
    statuses = [e.response.status for e in events if isinstance(e, ResponseReceived)]
    assert statuses == [180, 200, 200, 200]
    assert sent(tl) == []  # the ACK for a 2xx is the user's
    assert run_until(tl, 33.0) == []
    assert kinds(drain(tl)) == ["TransactionTerminated"]
    late = answer(wire, 200)
    tl.receive_response(late, PEER_UDP, 40.0)
    assert drain(tl) == [StrayResponse(late, PEER_UDP)]


def test_invite_client_acks_a_failure_itself() -> None:
    tl = layer()
    txn, wire = start_client(tl, routes=2)
    busy = answer(wire, 486, to_tag="busy9")
    tl.receive_response(busy, PEER_UDP, 0.3)
    assert txn.state is TransactionState.COMPLETED
    [(ack, where)] = sent(tl)
    assert where == PEER_UDP
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert str(ack.uri) == str(wire.uri)
    assert ack.headers.get_all("via") == [wire.headers.get_all("via")[0]]
    assert ack.top_via.branch == wire.top_via.branch
    assert ack.headers.get_all("route") == wire.headers.get_all("route")
    assert len(ack.routes) == 2
    assert ack.to.tag == "busy9"
    assert ack.headers.get("from") == wire.headers.get("from")
    assert ack.call_id == wire.call_id
    assert (ack.cseq.seq, ack.cseq.method) == (7, "ACK")
    assert ack.max_forwards == 70
    assert ack.headers.get("content-length") == "0" and ack.body == b""
    assert "contact" not in ack.headers
    [event] = drain(tl)
    assert isinstance(event, ResponseReceived) and event.response is busy

    # A retransmitted 486 is absorbed and ACKed again with the very same ACK.
    tl.receive_response(answer(wire, 486, to_tag="busy9"), PEER_UDP, 1.0)
    [(again, _)] = sent(tl)
    assert again.to_bytes() == ack.to_bytes()
    assert drain(tl) == []
    assert txn.deadline(TransactionInput.TIMER_D) == pytest.approx(32.3)
    run_until(tl, 32.3)
    assert kinds(drain(tl)) == ["TransactionTerminated"]
    assert (tl.transaction_count, tl.timer_count) == (0, 0)


def test_invite_client_failure_over_tcp_terminates_at_once() -> None:
    tl = layer()
    txn, wire = start_client(tl, destination=PEER_TCP)
    tl.receive_response(answer(wire, 603), PEER_TCP, 1.0)
    assert [m.method for m, _ in sent(tl) if isinstance(m, Request)] == ["ACK"]
    assert kinds(drain(tl)) == ["ResponseReceived", "TransactionTerminated"]
    assert txn.state is TransactionState.TERMINATED
    assert tl.get_timer() is None


# -- non-INVITE client ----------------------------------------------------------------------


def test_non_invite_client_timer_e_caps_at_t2_until_timer_f() -> None:
    tl = layer()
    txn, _ = start_client(tl, "OPTIONS")
    log = run_until(tl, 100.0)
    assert [t for t, _ in log] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert kinds(drain(tl)) == ["TransactionTimedOut", "TransactionTerminated"]
    assert txn.state is TransactionState.TERMINATED
    assert tl.timer_count == 0


def test_non_invite_client_proceeding_retransmits_every_t2() -> None:
    tl = layer()
    txn, wire = start_client(tl, "BYE")
    tl.receive_response(answer(wire, 100), PEER_UDP, 0.2)
    assert txn.state is TransactionState.PROCEEDING
    log = run_until(tl, 13.0)
    assert [t for t, _ in log] == [0.5, 4.5, 8.5, 12.5]


def test_non_invite_client_final_then_timer_k() -> None:
    tl = layer()
    txn, wire = start_client(tl, "BYE")
    tl.receive_response(answer(wire, 200), PEER_UDP, 1.0)
    assert txn.state is TransactionState.COMPLETED
    tl.receive_response(answer(wire, 200), PEER_UDP, 2.0)  # absorbed
    assert kinds(drain(tl)) == ["ResponseReceived"]
    assert run_until(tl, 5.9) == []
    assert txn.state is TransactionState.COMPLETED
    run_until(tl, 6.0)
    assert kinds(drain(tl)) == ["TransactionTerminated"]


def test_non_invite_client_over_tcp_terminates_on_final() -> None:
    tl = layer()
    txn, wire = start_client(tl, "BYE", destination=PEER_TCP)
    tl.receive_response(answer(wire, 481), PEER_TCP, 1.0)
    assert kinds(drain(tl)) == ["ResponseReceived", "TransactionTerminated"]
    assert txn.state is TransactionState.TERMINATED


def test_branch_is_added_when_missing_and_kept_when_given() -> None:
    tl = layer()
    txn, wire = start_client(tl)
    branch = wire.top_via.branch
    assert branch is not None and branch.startswith("z9hG4bK") and len(branch) > 16
    assert txn.request.top_via.branch == branch
    assert wire.top_via.wants_rport  # the other Via parameters stay
    txn2, wire2 = start_client(tl, "OPTIONS", branch="z9hG4bKmine")
    assert wire2.top_via.branch == "z9hG4bKmine" == txn2.branch


def test_misuse_of_send_request_is_a_usage_error() -> None:
    tl = layer()
    with pytest.raises(SipUsageError):
        tl.send_request(outgoing("ACK"), PEER_UDP, 0.0)
    tl.send_request(outgoing("OPTIONS", branch="z9hG4bKsame"), PEER_UDP, 0.0)
    with pytest.raises(SipUsageError):
        tl.send_request(outgoing("OPTIONS", branch="z9hG4bKsame"), PEER_UDP, 0.0)
    no_via = outgoing("OPTIONS")
    no_via.headers.remove("via")
    with pytest.raises(SipUsageError):
        tl.send_request(no_via, PEER_UDP, 0.0)


def test_response_matching_uses_branch_and_cseq_method() -> None:
    tl = layer()
    _, wire = start_client(tl, "INVITE", branch="z9hG4bKone")
    wrong_method = answer(wire, 200)
    wrong_method.headers.set("CSeq", "7 BYE")
    tl.receive_response(wrong_method, PEER_UDP, 1.0)
    other_branch = answer(wire, 200)
    other_branch.headers.set("Via", "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKtwo")
    tl.receive_response(other_branch, PEER_UDP, 1.0)
    assert kinds(drain(tl)) == ["StrayResponse", "StrayResponse"]


# -- CANCEL (§9.1) --------------------------------------------------------------------------


def _cancel_of(messages: list[Sent]) -> Request:
    [cancel] = [m for m, _ in messages if isinstance(m, Request) and m.method == "CANCEL"]
    return cancel


def test_cancel_after_provisional_is_sent_at_once() -> None:
    tl = layer()
    txn, wire = start_client(tl, routes=1)
    assert isinstance(txn, InviteClientTransaction)
    tl.receive_response(answer(wire, 180), PEER_UDP, 0.1)
    drain(tl)
    cancel_txn = tl.cancel(txn, 2.0)
    assert isinstance(cancel_txn, NonInviteClientTransaction)
    assert tl.cancel(txn, 2.5) is cancel_txn  # asking twice sends one CANCEL
    messages = sent(tl)
    assert [where for _, where in messages] == [PEER_UDP]
    cancel = _cancel_of(messages)
    assert str(cancel.uri) == str(wire.uri)
    assert cancel.headers.get_all("via") == [wire.headers.get_all("via")[0]]
    assert cancel.headers.get("to") == wire.headers.get("to")
    assert cancel.headers.get("from") == wire.headers.get("from")
    assert cancel.call_id == wire.call_id
    assert (cancel.cseq.seq, cancel.cseq.method) == (7, "CANCEL")
    assert cancel.headers.get_all("route") == wire.headers.get_all("route")
    assert cancel.max_forwards == 70 and cancel.body == b""

    # The CANCEL's 200 goes to its own transaction, the 487 to the INVITE's.
    tl.receive_response(answer(cancel, 200), PEER_UDP, 2.1)
    tl.receive_response(answer(wire, 487), PEER_UDP, 2.2)
    events = [e for e in drain(tl) if isinstance(e, ResponseReceived)]
    assert [(e.transaction, e.response.status) for e in events] == [(cancel_txn, 200), (txn, 487)]
    assert [m.method for m, _ in sent(tl) if isinstance(m, Request)] == ["ACK"]
    assert txn.state is TransactionState.COMPLETED


def test_cancel_before_provisional_waits_for_one() -> None:
    tl = layer()
    txn, wire = start_client(tl)
    assert isinstance(txn, InviteClientTransaction)
    assert tl.cancel(txn, 0.2) is None
    assert sent(tl) == [] and txn.cancel_requested
    assert txn.state is TransactionState.CALLING
    tl.receive_response(answer(wire, 100), PEER_UDP, 0.3)
    assert kinds(drain(tl)) == ["ResponseReceived"]
    cancel = _cancel_of(sent(tl))
    assert cancel.top_via.branch == wire.top_via.branch
    assert txn.cancel_transaction is not None
    assert txn.cancel_transaction.request.method == "CANCEL"
    assert tl.cancel(txn, 0.4) is txn.cancel_transaction


def test_no_cancel_when_a_final_response_comes_first() -> None:
    tl = layer()
    txn, wire = start_client(tl)
    assert isinstance(txn, InviteClientTransaction)
    assert tl.cancel(txn, 0.2) is None
    tl.receive_response(answer(wire, 486), PEER_UDP, 0.3)
    tl.receive_response(answer(wire, 180), PEER_UDP, 0.4)  # late, absorbed
    assert [m.method for m, _ in sent(tl) if isinstance(m, Request)] == ["ACK"]
    assert tl.cancel(txn, 0.5) is None
    assert txn.cancel_transaction is None


def test_cancel_without_final_response_gives_up_after_64_t1() -> None:
    tl = layer()
    txn, wire = start_client(tl, destination=PEER_TCP)
    assert isinstance(txn, InviteClientTransaction)
    tl.receive_response(answer(wire, 180), PEER_TCP, 1.0)
    tl.cancel(txn, 10.0)
    drain(tl)
    run_until(tl, 42.0)
    events = drain(tl)
    assert TransactionTimedOut(txn) in events
    assert TransactionTerminated(txn) in events
    assert tl.transaction_count == 0  # the CANCEL's Timer F ended its transaction too


# -- INVITE server --------------------------------------------------------------------------


def test_invite_server_sends_100_trying_after_200_ms() -> None:
    tl = layer()
    txn = start_server(tl)
    assert isinstance(txn, InviteServerTransaction)
    assert txn.state is TransactionState.PROCEEDING
    assert tl.get_timer() == pytest.approx(0.2)
    assert run_until(tl, 0.19) == []
    [(when, trying)] = run_until(tl, 0.2)
    assert when == pytest.approx(0.2)
    assert isinstance(trying, Response) and trying.status == 100
    assert trying.call_id == "in-1@pycc.test"
    # A retransmitted INVITE gets the 100 again and makes no new transaction.
    tl.receive_request(incoming(), PHONE_UDP, 0.5)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [100]
    assert drain(tl) == []


def test_no_100_trying_when_the_user_answers_in_time() -> None:
    tl = layer()
    txn = start_server(tl)
    tl.receive_request(incoming(), PHONE_UDP, 0.05)  # nothing to resend yet
    assert sent(tl) == []
    tl.send_response(txn, make_response(txn.request, 180, to_tag="uas1"), 0.1)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [180]
    assert run_until(tl, 10.0) == []
    tl.receive_request(incoming(), PHONE_UDP, 11.0)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [180]


def test_invite_server_failure_retransmits_and_times_out_with_timer_h() -> None:
    tl = layer()
    txn = start_server(tl)
    tl.send_response(txn, make_response(txn.request, 486, to_tag="uas1"), 0.1)
    assert txn.state is TransactionState.COMPLETED
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [486]
    log = run_until(tl, 100.0)
    expected = [0.6, 1.6, 3.6, 7.6, 11.6, 15.6, 19.6, 23.6, 27.6, 31.6]
    assert [t for t, _ in log] == pytest.approx(expected)
    assert all(isinstance(m, Response) and m.status == 486 for _, m in log)
    assert kinds(drain(tl)) == ["TransactionTimedOut", "TransactionTerminated"]
    assert (tl.transaction_count, tl.timer_count) == (0, 0)


def test_ack_confirms_the_failure_and_timer_i_ends_it() -> None:
    tl = layer()
    txn = start_server(tl)
    tl.send_response(txn, make_response(txn.request, 404, to_tag="uas1"), 0.0)
    sent(tl)
    tl.receive_request(incoming(), PHONE_UDP, 0.2)  # INVITE again: the 404 again
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [404]
    ack = incoming("ACK", to_tag="uas1")
    tl.receive_request(ack, PHONE_UDP, 0.7)
    assert txn.state is TransactionState.CONFIRMED
    assert drain(tl) == []  # absorbed: the ACK of a failure belongs to the transaction
    tl.receive_request(incoming("ACK", to_tag="uas1"), PHONE_UDP, 1.0)  # absorbed again
    assert drain(tl) == []
    assert txn.deadline(TransactionInput.TIMER_I) == pytest.approx(5.7)
    assert run_until(tl, 100.0) == []  # Timer G stopped
    assert kinds(drain(tl)) == ["TransactionTerminated"]


def test_invite_server_over_tcp_does_not_retransmit_and_confirmed_ends_at_once() -> None:
    tl = layer()
    txn = start_server(tl, source=PHONE_TCP)
    tl.send_response(txn, make_response(txn.request, 480, to_tag="uas1"), 0.0)
    [(_, where)] = sent(tl)
    assert where == PHONE_TCP  # back on the request's connection
    assert txn.deadline(TransactionInput.TIMER_G) is None
    tl.receive_request(incoming("ACK", to_tag="uas1"), PHONE_TCP, 0.1)
    assert kinds(drain(tl)) == ["TransactionTerminated"]


def test_invite_server_2xx_enters_accepted() -> None:
    tl = layer()
    txn = start_server(tl)
    ok = make_response(txn.request, 200, to_tag="uas1")
    tl.send_response(txn, ok, 0.1)
    assert txn.state is TransactionState.ACCEPTED
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [200]
    tl.receive_request(incoming(), PHONE_UDP, 0.6)  # absorbed, the 2xx is not resent
    assert sent(tl) == [] and drain(tl) == []
    tl.send_response(txn, ok, 0.6)  # the user's retransmission goes through
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [200]
    # An ACK matching the transaction (a client reusing the branch) reaches the user.
    same_branch_ack = incoming("ACK", to_tag="uas1")
    tl.receive_request(same_branch_ack, PHONE_UDP, 0.7)
    assert drain(tl) == [AckReceived(same_branch_ack, PHONE_UDP)]
    assert txn.state is TransactionState.ACCEPTED
    with pytest.raises(SipUsageError):
        tl.send_response(txn, make_response(txn.request, 500), 0.8)
    assert txn.deadline(TransactionInput.TIMER_L) == pytest.approx(32.1)
    assert run_until(tl, 33.0) == []
    assert kinds(drain(tl)) == ["TransactionTerminated"]  # Timer L: no timeout event
    with pytest.raises(SipUsageError):
        tl.send_response(txn, ok, 40.0)


def test_ack_for_a_2xx_is_passed_to_the_user() -> None:
    tl = layer()
    txn = start_server(tl)
    tl.send_response(txn, make_response(txn.request, 200, to_tag="uas1"), 0.1)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [200]
    ack = incoming("ACK", branch="z9hG4bKnewack", to_tag="uas1")
    tl.receive_request(ack, PHONE_UDP, 0.3)
    assert drain(tl) == [AckReceived(ack, PHONE_UDP)]
    stray = incoming("ACK", branch="z9hG4bKnothing", to_tag="x")
    tl.receive_request(stray, PHONE_UDP, 0.4)
    assert drain(tl) == [AckReceived(stray, PHONE_UDP)]
    assert sent(tl) == []


def test_timer_h_reports_a_missing_ack_over_tcp() -> None:
    tl = layer()
    txn = start_server(tl, source=PHONE_TCP)
    tl.send_response(txn, make_response(txn.request, 503, to_tag="uas1"), 2.0)
    assert tl.get_timer() == 34.0
    run_until(tl, 34.0)
    assert drain(tl) == [TransactionTimedOut(txn), TransactionTerminated(txn)]


# -- non-INVITE server ----------------------------------------------------------------------


def test_non_invite_server_resends_its_last_response() -> None:
    tl = layer()
    txn = start_server(tl, incoming("OPTIONS"))
    assert isinstance(txn, NonInviteServerTransaction)
    assert tl.get_timer() is None  # no automatic 100 for non-INVITE
    tl.receive_request(incoming("OPTIONS"), PHONE_UDP, 0.1)
    assert sent(tl) == [] and drain(tl) == []  # Trying absorbs retransmissions
    tl.send_response(txn, make_response(txn.request, 100), 0.2)
    tl.receive_request(incoming("OPTIONS"), PHONE_UDP, 0.3)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [100, 100]
    tl.send_response(txn, make_response(txn.request, 200, to_tag="uas1"), 0.4)
    tl.receive_request(incoming("OPTIONS"), PHONE_UDP, 0.5)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [200, 200]
    assert txn.deadline(TransactionInput.TIMER_J) == pytest.approx(32.4)
    with pytest.raises(SipUsageError):
        tl.send_response(txn, make_response(txn.request, 500), 0.6)
    run_until(tl, 32.4)
    assert kinds(drain(tl)) == ["TransactionTerminated"]


def test_a_retransmission_byte_for_byte_is_absorbed_without_parsing() -> None:
    tl = layer()
    raw = incoming("REGISTER").to_bytes()
    assert not tl.absorb_retransmission(raw, 0.0)  # no transaction yet
    request = parse_message(raw)
    assert isinstance(request, Request)
    tl.receive_request(request, PHONE_UDP, 0.0, raw)
    [event] = drain(tl)
    assert isinstance(event, RequestReceived)
    txn = event.transaction
    assert tl.absorb_retransmission(raw, 0.1)  # Trying: absorbed, nothing to send yet
    assert sent(tl) == [] and drain(tl) == []
    tl.send_response(txn, make_response(txn.request, 401, to_tag="uas1"), 0.2)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [401]
    assert tl.absorb_retransmission(raw, 0.7)
    [(again, where)] = sent(tl)
    assert isinstance(again, Response) and again.status == 401 and where == txn.destination
    assert drain(tl) == []
    # One byte different is not the same message: it goes through the parser.
    assert not tl.absorb_retransmission(raw.replace(b"CSeq: 3", b"CSeq:  3"), 0.8)
    run_until(tl, 40.0)
    assert kinds(drain(tl)) == ["TransactionTerminated"]
    assert not tl.absorb_retransmission(raw, 41.0)  # the ended transaction left no entry
    assert tl._by_wire == {}


def test_requests_over_streams_keep_no_copy_for_retransmissions() -> None:
    tl = layer()
    raw = incoming("OPTIONS").to_bytes()
    request = parse_message(raw)
    assert isinstance(request, Request)
    tl.receive_request(request, PHONE_TCP, 0.0)
    assert not tl.absorb_retransmission(raw, 0.1)


def test_non_invite_server_over_tcp_ends_with_its_final_response() -> None:
    tl = layer()
    txn = start_server(tl, incoming("BYE", to_tag="t"), source=PHONE_TCP)
    tl.send_response(txn, make_response(txn.request, 200), 0.4)
    assert kinds(drain(tl)) == ["TransactionTerminated"]
    assert tl.transaction_count == 0


# -- CANCEL received (§9.2) -----------------------------------------------------------------


def test_cancel_gets_its_own_transaction_and_finds_the_invite() -> None:
    tl = layer()
    invite_txn = start_server(tl)
    tl.send_response(invite_txn, make_response(invite_txn.request, 180, to_tag="uas1"), 0.1)
    sent(tl)
    tl.receive_request(incoming("CANCEL"), PHONE_UDP, 1.0)
    [event] = drain(tl)
    assert isinstance(event, RequestReceived)
    cancel_txn = event.transaction
    assert isinstance(cancel_txn, NonInviteServerTransaction)
    assert cancel_txn is not invite_txn
    assert sent(tl) == []  # not taken for an INVITE retransmission
    assert tl.find_invite_server_transaction(event.request) is invite_txn
    assert tl.find_invite_server_transaction(incoming("CANCEL", branch="z9hG4bKother")) is None
    other_host = incoming("CANCEL", via_port=":5071")
    assert tl.find_invite_server_transaction(other_host) is None
    tl.receive_request(incoming("CANCEL"), PHONE_UDP, 1.1)  # the CANCEL retransmitted
    assert drain(tl) == []


# -- RFC 2543 fallback ----------------------------------------------------------------------


def _inv2543() -> Request:
    message = parse_message((VECTORS / "inv2543.dat").read_bytes())
    assert isinstance(message, Request)
    return message


def _ack2543(to_tag: str) -> Request:
    text = (
        "ACK sip:UserB@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP iftgw.example.com\r\n"
        "From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
        f"To: sip:+16505552222@ss1.example.net;user=phone;tag={to_tag}\r\n"
        "Call-ID: inv2543.1717@ift.client.example.com\r\n"
        "CSeq: 56 ACK\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


GATEWAY = Address("udp", "192.0.2.99", 5060)


def test_rfc2543_invite_is_matched_without_a_magic_cookie() -> None:
    tl = layer()
    txn = start_server(tl, _inv2543(), source=GATEWAY)
    assert txn.branch is None
    # The received stamp does not break matching of the retransmission.
    assert txn.request.top_via.received == "192.0.2.99"
    tl.receive_request(_inv2543(), GATEWAY, 0.5)
    assert drain(tl) == []
    tl.send_response(txn, make_response(txn.request, 486, to_tag="legacy1"), 1.0)
    [(busy, where)] = sent(tl)
    assert where == Address("udp", "192.0.2.99", 5060)  # received address, port 5060
    assert isinstance(busy, Response)
    assert busy.top_via.received == "192.0.2.99"
    tl.receive_request(_inv2543(), GATEWAY, 1.5)
    assert [m.status for m, _ in sent(tl) if isinstance(m, Response)] == [486]

    # An ACK with another To tag is not this transaction's (§17.2.3).
    wrong = _ack2543("other")
    tl.receive_request(wrong, GATEWAY, 2.0)
    assert drain(tl) == [AckReceived(wrong, GATEWAY)]
    assert txn.state is TransactionState.COMPLETED
    tl.receive_request(_ack2543("legacy1"), GATEWAY, 2.1)
    assert state(txn) is TransactionState.CONFIRMED
    assert drain(tl) == []


def test_rfc2543_cancel_finds_the_invite_and_other_requests_do_not_match() -> None:
    tl = layer()
    invite_txn = start_server(tl, _inv2543(), source=GATEWAY)
    cancel = _inv2543()
    cancel.method = "CANCEL"
    cancel.headers.set("CSeq", "56 CANCEL")
    tl.receive_request(cancel, GATEWAY, 1.0)
    [event] = drain(tl)
    assert isinstance(event, RequestReceived) and event.transaction is not invite_txn
    assert tl.find_invite_server_transaction(event.request) is invite_txn
    other_call = _inv2543()
    other_call.headers.set("Call-ID", "another@ift.client.example.com")
    tl.receive_request(other_call, GATEWAY, 1.0)
    assert kinds(drain(tl)) == ["RequestReceived"]


# -- received, rport and response routing (§18.2.1, §18.2.2, RFC 3581) ----------------------


def test_received_is_added_when_the_source_differs() -> None:
    tl = layer()
    txn = start_server(tl)
    via = txn.request.top_via
    assert via.received == "203.0.113.7"
    assert via.rport is None and not via.wants_rport
    assert txn.request.vias[1].received is None  # only the top Via
    assert txn.destination == Address("udp", "203.0.113.7", 5070)  # received, sent-by port
    tl.send_response(txn, make_response(txn.request, 180), 0.0)
    [(ringing, where)] = sent(tl)
    assert where == Address("udp", "203.0.113.7", 5070)
    assert ringing.top_via.received == "203.0.113.7"
    assert len(ringing.vias) == 2


def test_empty_rport_is_filled_and_responses_go_to_the_source_port() -> None:
    tl = layer()
    txn = start_server(tl, incoming(via_params=";rport"))
    via = txn.request.top_via
    assert (via.rport, via.received) == (40000, "203.0.113.7")
    assert "rport=40000" in txn.request.headers.get_all("via")[0]
    assert txn.destination == PHONE_UDP
    run_until(tl, 0.2)  # the 100 Trying
    # A retransmission matches although the stamped Via now differs from the wire's.
    tl.receive_request(incoming(via_params=";rport"), PHONE_UDP, 0.3)
    assert drain(tl) == []


def test_rport_adds_received_even_when_the_host_is_the_same() -> None:
    tl = layer()
    source = Address("udp", "10.0.0.5", 5070)
    txn = start_server(tl, incoming(via_params=";rport"), source=source)
    assert (txn.request.top_via.received, txn.request.top_via.rport) == ("10.0.0.5", 5070)


def test_nothing_is_stamped_when_the_source_matches_sent_by() -> None:
    tl = layer()
    source = Address("udp", "10.0.0.5", 5070)
    request = incoming()
    before = request.headers.get_all("via")
    txn = start_server(tl, request, source=source)
    assert txn.request.headers.get_all("via") == before
    assert txn.destination == source


def test_response_destination_rules() -> None:
    request = incoming(via_port="")
    assert response_destination(request.top_via, PHONE_UDP) == Address(
        "udp", "203.0.113.7", 5060
    )
    assert response_destination(request.top_via, PHONE_TCP) == PHONE_TCP
    with_rport = incoming(via_params=";rport").top_via
    assert response_destination(with_rport, PHONE_UDP) == PHONE_UDP


# -- transport errors -----------------------------------------------------------------------


def test_transport_error_fails_the_transactions_to_that_destination() -> None:
    tl = layer()
    failed, _ = start_client(tl, "OPTIONS", destination=PEER_TCP)
    other_peer = Address("tcp", "192.0.2.21", 5060)
    kept = tl.send_request(outgoing("OPTIONS"), other_peer, 0.0)
    tl.transport_error(Address("tcp", "192.0.2.20", 5060, connection=99), 1.0)
    assert drain(tl) == [TransportFailed(failed), TransactionTerminated(failed)]
    assert kept.state is TransactionState.TRYING
    tl.transport_error(Address("udp", "192.0.2.99", 1), 1.0)  # nobody there
    assert drain(tl) == []


def test_transport_error_on_a_server_transaction() -> None:
    tl = layer()
    invite_txn = start_server(tl, source=PHONE_TCP)
    tl.transport_error(PHONE_TCP, 0.1)
    assert drain(tl) == [TransportFailed(invite_txn)]  # RFC 6026: Proceeding stays
    assert invite_txn.state is TransactionState.PROCEEDING
    tl.send_response(invite_txn, make_response(invite_txn.request, 500, to_tag="x"), 0.2)
    tl.transport_error(PHONE_TCP, 0.3)
    assert drain(tl) == [TransportFailed(invite_txn), TransactionTerminated(invite_txn)]


# -- limits and leaks -----------------------------------------------------------------------


def test_overload_is_answered_statelessly_with_503() -> None:
    tl = layer(max_transactions=2, retry_after=30)
    start_server(tl, incoming(branch="z9hG4bKa"))
    start_server(tl, incoming("OPTIONS", branch="z9hG4bKb"))
    tl.receive_request(incoming(branch="z9hG4bKc", via_params=";rport"), PHONE_UDP, 0.0)
    assert drain(tl) == []
    [(refusal, where)] = sent(tl)
    assert isinstance(refusal, Response)
    assert refusal.status == 503
    assert refusal.headers.get("retry-after") == "30"
    assert refusal.to.tag is not None
    assert refusal.top_via.rport == 40000
    assert where == PHONE_UDP
    assert tl.transaction_count == 2
    ack = incoming("ACK", branch="z9hG4bKd", to_tag="t")  # ACKs are never refused
    tl.receive_request(ack, PHONE_UDP, 0.0)
    assert drain(tl) == [AckReceived(ack, PHONE_UDP)]


def _copy(request: Request, top_via: str | None = None) -> Request:
    """A cheap copy of a parsed request, for tests that need thousands of them."""
    copy = Request(request.headers.copy(), request.body, request.method, request.uri)
    if top_via is not None:
        copy.headers.set("Via", top_via)
    return copy


def test_thousands_of_transactions_leave_nothing_behind() -> None:
    tl = layer()
    invite, options, phone = outgoing("INVITE"), outgoing("OPTIONS"), incoming()
    for i in range(1000):
        now = i * 0.001
        # An INVITE that times out, one rejected, an OPTIONS answered, a server INVITE.
        tl.send_request(_copy(invite), PEER_UDP, now)
        rejected = tl.send_request(_copy(invite), PEER_UDP, now)
        answered = tl.send_request(_copy(options), PEER_UDP, now)
        tl.receive_response(make_response(rejected.request, 486, to_tag="x"), PEER_UDP, now)
        tl.receive_response(make_response(answered.request, 200, to_tag="x"), PEER_UDP, now)
        via = f"SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKleak{i}"
        tl.receive_request(_copy(phone, via), Address("udp", "10.0.0.5", 5070), now)
    assert tl.transaction_count == 4000
    servers = [e.transaction for e in drain(tl) if isinstance(e, RequestReceived)]
    assert len(servers) == 1000
    for txn in servers:
        tl.send_response(txn, make_response(txn.request, 603, to_tag="no"), 3.0)
    tl.messages_to_send()
    deadline = tl.get_timer()
    while deadline is not None:
        tl.handle_timer(deadline)
        tl.messages_to_send()
        deadline = tl.get_timer()
    terminated = [e for e in drain(tl) if isinstance(e, TransactionTerminated)]
    assert len(terminated) == 4000
    assert (tl.transaction_count, tl.timer_count) == (0, 0)
    assert tl._by_destination == {}


def test_stopped_timers_do_not_pile_up_in_the_heap() -> None:
    tl = layer()
    invite = outgoing("INVITE")
    for _ in range(3000):
        # Each provisional stops Timers A and B: two stale heap entries per call.
        txn = tl.send_request(_copy(invite), PEER_UDP, 0.0)
        tl.receive_response(make_response(txn.request, 180), PEER_UDP, 0.1)
    assert tl.transaction_count == 3000
    assert tl.timer_count < 2000  # compacted, rather than 6,000 dead entries
    assert tl.get_timer() is None
    assert tl.timer_count == 0
