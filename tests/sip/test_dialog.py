"""Tests for pycc.sip.dialog: a UAC and a UAS dialog wired together in memory.

Every message crosses the "wire" as bytes (serialized, then parsed and validated), passing two
loose-routing proxies that record-route, so each header RFC 3261 §12 specifies is checked as
the peer would see it.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.sip.dialog import (
    DIALOG_TRANSITIONS,
    MAX_FORWARDS,
    OFFER_TRANSITIONS,
    AckTimedOut,
    Dialog,
    DialogCheck,
    DialogId,
    DialogInput,
    DialogState,
    OfferInput,
    OfferState,
    glare_retry_delay,
)
from pycc.sip.errors import SipParseError, SipUsageError
from pycc.sip.headers import Headers, NameAddr
from pycc.sip.message import Request, Response, make_response, parse_message
from pycc.sip.uri import SipUri, parse_uri

SDP = "application/sdp"
CALL_ID = "f81d4fae-7dec@10.0.0.1"
ALICE_CONTACT = "<sip:alice@10.0.0.1:5060;transport=udp>"
BOB_CONTACT = "<sip:bob@10.0.0.2:5062>"
P1 = "<sip:p1.example.com;lr>"  # next to Alice
P2 = "<sip:p2.example.com;lr;ftag=a1>"  # next to Bob
INVITE_SEQ = 314159


def sdp(owner: str, version: int, port: int) -> bytes:
    return (
        f"v=0\r\no={owner} 1 {version} IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
        f"t=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    ).encode()


OFFER = sdp("alice", 1, 4000)
ANSWER = sdp("bob", 1, 5000)

_branches = itertools.count(1)


def wire(message: Request | Response) -> Request | Response:
    """What the peer parses: a request gets the Via the caller adds, then bytes both ways."""
    if isinstance(message, Request) and message.headers.get("via") is None:
        message.headers.prepend("Via", f"SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK{next(_branches)}")
    return parse_message(message.to_bytes())


def request_over(message: Request, hops: int) -> Request:
    """Deliver a request through ``hops`` loose routers, each removing its Route."""
    received = wire(message)
    assert isinstance(received, Request)
    for _ in range(hops):
        received.headers.pop_first("Route")
    return received


def response_over(message: Response) -> Response:
    received = wire(message)
    assert isinstance(received, Response)
    return received


def build_invite(
    *,
    body: bytes = OFFER,
    supported: str = "100rel, timer",
    uri: str = "sip:bob@example.com",
) -> Request:
    """The INVITE Alice's user agent builds by hand, as the application would."""
    headers = Headers([
        ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-invite-1"),
        ("Max-Forwards", "70"),
        ("To", '"Bob" <sip:bob@example.com>'),
        ("From", '"Alice" <sip:alice@example.com>;tag=a1'),
        ("Call-ID", CALL_ID),
        ("CSeq", f"{INVITE_SEQ} INVITE"),
        ("Contact", ALICE_CONTACT),
        ("Supported", supported),
    ])
    if body:
        headers.add("Content-Type", SDP)
    return Request(headers, body, "INVITE", parse_uri(uri))


def at_uas(invite: Request, record_routes: tuple[str, ...] = (P1, P2)) -> Request:
    """The INVITE as Bob receives it: each proxy on the way puts its Record-Route on top."""
    received = wire(invite)
    assert isinstance(received, Request)
    for route in record_routes:
        received.headers.prepend("Record-Route", route)
    return received


class Call:
    """Alice (UAC) and Bob (UAS) with an early dialog on each side after a 180."""

    def __init__(self, *, body: bytes = OFFER, record_routes: tuple[str, ...] = (P1, P2)) -> None:
        self.invite = build_invite(body=body)
        self.hops = len(record_routes)
        self.uas_invite = at_uas(self.invite, record_routes)
        self.bob = Dialog.from_uas_request(
            self.uas_invite, "b1", BOB_CONTACT, early=True, rng=random.Random(7)
        )
        self.ringing = self.bob.create_response(self.uas_invite, 180, 0.0)
        self.alice = Dialog.from_uac_response(
            self.invite, response_over(self.ringing), rng=random.Random(8)
        )

    def answer(self, now: float = 1.0, body: bytes = ANSWER) -> Response:
        ok = self.bob.create_response(self.uas_invite, 200, now, body=body,
                                      content_type=SDP if body else None)
        assert self.alice.receive_response(response_over(ok), now)
        return ok

    def to_bob(self, request: Request) -> Request:
        return request_over(request, self.hops)

    def to_alice(self, request: Request) -> Request:
        return request_over(request, self.hops)


def confirmed_call() -> Call:
    call = Call()
    call.answer()
    ack = call.alice.create_ack(INVITE_SEQ)
    assert call.bob.receive_request(call.to_bob(ack), 1.1).accepted
    return call


# -- the whole call, header by header --------------------------------------------------------


def test_uas_dialog_from_request_follows_12_1_1() -> None:
    call = Call()
    bob = call.bob
    assert bob.id == DialogId(CALL_ID, "b1", "a1")
    assert bob.state is DialogState.EARLY
    assert not bob.is_uac
    assert bob.route_set == [P2, P1]  # Record-Route in order
    assert bob.remote_target == parse_uri("sip:alice@10.0.0.1:5060;transport=udp")
    assert bob.remote_seq == INVITE_SEQ
    assert bob.local_seq is None
    assert str(bob.local_uri) == '"Bob" <sip:bob@example.com>'
    assert str(bob.remote_uri) == '"Alice" <sip:alice@example.com>'
    assert bob.secure is False
    assert bob.offer_state is OfferState.REMOTE_OFFER


def test_dialog_creating_provisional_carries_tag_record_route_and_contact() -> None:
    call = Call()
    ringing = response_over(call.ringing)
    assert ringing.status == 180
    assert ringing.to.tag == "b1"
    assert ringing.from_.tag == "a1"
    assert ringing.headers.get_all("record-route") == [P2, P1]
    assert [str(c) for c in ringing.contacts] == [BOB_CONTACT]
    assert ringing.cseq.seq == INVITE_SEQ
    assert ringing.call_id == CALL_ID
    assert ringing.top_via.branch == "z9hG4bK-invite-1"


def test_uac_dialog_from_provisional_follows_12_1_2() -> None:
    call = Call()
    alice = call.alice
    assert alice.id == DialogId(CALL_ID, "a1", "b1")
    assert alice.state is DialogState.EARLY
    assert alice.is_uac
    assert alice.route_set == [P1, P2]  # Record-Route reversed
    assert alice.remote_target == parse_uri("sip:bob@10.0.0.2:5062")
    assert alice.local_seq == INVITE_SEQ
    assert alice.remote_seq is None
    assert str(alice.local_uri) == '"Alice" <sip:alice@example.com>'
    assert str(alice.remote_uri) == '"Bob" <sip:bob@example.com>'
    assert str(alice.local_contact) == ALICE_CONTACT
    assert alice.offer_state is OfferState.LOCAL_OFFER


def test_answer_confirms_both_sides_and_settles_the_offer() -> None:
    call = Call()
    ok = response_over(call.answer())
    assert ok.to.tag == "b1"
    assert ok.headers.get_all("record-route") == [P2, P1]
    assert [str(c) for c in ok.contacts] == [BOB_CONTACT]
    assert call.bob.state is DialogState.CONFIRMED
    assert call.alice.state is DialogState.CONFIRMED
    assert call.alice.offer_state is OfferState.STABLE
    assert call.bob.offer_state is OfferState.STABLE
    # A retransmitted 2xx changes nothing: the UAC sends the same ACK again.
    assert call.alice.receive_response(ok, 1.2) is False


def test_ack_for_2xx_follows_13_2_2_4() -> None:
    call = Call()
    call.answer()
    ack = call.alice.create_ack(INVITE_SEQ)
    assert ack.method == "ACK"
    assert ack.headers.get("via") is None  # the caller adds it
    assert ack.uri == parse_uri("sip:bob@10.0.0.2:5062")
    assert ack.headers.values("route") == [P1, P2]
    assert str(ack.cseq) == f"{INVITE_SEQ} ACK"
    assert ack.headers.get("max-forwards") == str(MAX_FORWARDS)
    assert ack.headers.get("contact") is None
    assert ack.to.tag == "b1" and ack.from_.tag == "a1"
    assert ack.call_id == CALL_ID
    assert call.alice.local_seq == INVITE_SEQ  # an ACK does not take a new number
    received = call.to_bob(ack)
    assert received.headers.get("route") is None
    assert call.bob.receive_request(received, 1.1) == DialogCheck()


def test_uas_resends_2xx_until_ack() -> None:
    call = Call()
    ok = call.answer(now=10.0)
    bob = call.bob
    assert bob.get_timer() == 10.5
    assert bob.handle_timer(10.4) == []
    assert bob.handle_timer(10.5) == [ok]
    assert bob.get_timer() == 11.5
    assert bob.handle_timer(11.5) == [ok]
    assert bob.get_timer() == 13.5
    bob.receive_request(call.to_bob(call.alice.create_ack(INVITE_SEQ)), 12.0)
    assert bob.get_timer() is None
    assert bob.handle_timer(20.0) == []


def test_2xx_retransmission_caps_at_t2_and_gives_up_after_64_t1() -> None:
    call = Call()
    call.answer(now=0.0)
    bob = call.bob
    fired: list[float] = []
    while (when := bob.get_timer()) is not None:
        if bob.handle_timer(when):
            fired.append(when)
    assert fired == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert bob.next_event() == AckTimedOut(INVITE_SEQ)
    assert bob.next_event() is None
    assert bob.state is DialogState.CONFIRMED  # §13.3.1.4: confirmed; the caller sends BYE


def test_reinvite_from_uac_refreshes_target_and_sequence() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    alice.local_contact = NameAddr.parse("<sip:alice@10.0.0.7:5070>")
    hold = sdp("alice", 2, 4000)
    reinvite = alice.create_request("INVITE", body=hold, content_type=SDP)
    assert reinvite.uri == parse_uri("sip:bob@10.0.0.2:5062")
    assert reinvite.headers.values("route") == [P1, P2]
    assert str(reinvite.cseq) == f"{INVITE_SEQ + 1} INVITE"
    assert [str(c) for c in reinvite.contacts] == ["<sip:alice@10.0.0.7:5070>"]
    assert reinvite.headers.get("max-forwards") == "70"
    assert reinvite.content_type == SDP and reinvite.body == hold
    assert reinvite.headers.get("via") is None
    assert not alice.can_reinvite() and alice.offer_state is OfferState.LOCAL_OFFER

    received = call.to_bob(reinvite)
    assert bob.receive_request(received, 5.0).accepted
    assert bob.remote_seq == INVITE_SEQ + 1
    assert bob.remote_target == parse_uri("sip:alice@10.0.0.7:5070")
    assert bob.offer_state is OfferState.REMOTE_OFFER
    ok = bob.create_response(received, 200, 5.0, body=ANSWER, content_type=SDP)
    assert [str(c) for c in response_over(ok).contacts] == [BOB_CONTACT]
    assert ok.headers.get("record-route") is None  # only the dialog-creating 2xx carries it
    assert alice.receive_response(response_over(ok), 5.1)
    assert alice.offer_state is OfferState.STABLE
    ack = alice.create_ack(INVITE_SEQ + 1)
    assert str(ack.cseq) == f"{INVITE_SEQ + 1} ACK"
    assert bob.receive_request(call.to_bob(ack), 5.2).accepted
    assert bob.get_timer() is None
    assert alice.can_reinvite() and bob.can_reinvite()


def test_reinvite_from_uas_uses_its_own_sequence_and_reversed_roles() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    reinvite = bob.create_request("INVITE", body=sdp("bob", 2, 5000), content_type=SDP)
    first = bob.local_seq
    assert first is not None and 1 <= first < 2**31
    assert str(reinvite.cseq) == f"{first} INVITE"
    assert reinvite.uri == parse_uri("sip:alice@10.0.0.1:5060;transport=udp")
    assert reinvite.headers.values("route") == [P2, P1]
    assert str(reinvite.to) == '"Alice" <sip:alice@example.com>;tag=a1'
    assert str(reinvite.from_) == '"Bob" <sip:bob@example.com>;tag=b1'
    assert reinvite.call_id == CALL_ID

    received = call.to_alice(reinvite)
    assert alice.receive_request(received, 6.0).accepted
    assert alice.remote_seq == first
    ok = alice.create_response(received, 200, 6.0, body=sdp("alice", 3, 4000), content_type=SDP)
    assert ok.to.tag == "a1" and ok.from_.tag == "b1"
    assert [str(c) for c in ok.contacts] == [ALICE_CONTACT]
    assert alice.get_timer() == 6.5  # Alice resends her 2xx until Bob's ACK
    assert bob.receive_response(response_over(ok), 6.1)
    ack = bob.create_ack(first)
    assert str(ack.cseq) == f"{first} ACK"
    assert alice.receive_request(call.to_alice(ack), 6.2).accepted
    assert alice.get_timer() is None
    # The next request from Bob takes the next number.
    info = bob.create_request("INFO", body=b"Signal=1\r\n", content_type="application/dtmf-relay")
    assert info.cseq.seq == first + 1
    assert info.headers.get("contact") is None  # INFO is no target refresh


def test_bye_terminates_both_sides() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    bye = alice.create_request("BYE")
    assert str(bye.cseq) == f"{INVITE_SEQ + 1} BYE"
    assert bye.headers.get("contact") is None
    assert alice.state is DialogState.TERMINATED
    received = call.to_bob(bye)
    assert bob.receive_request(received, 9.0).accepted
    assert bob.state is DialogState.TERMINATED
    ok = bob.create_response(received, 200, 9.0)
    assert alice.receive_response(response_over(ok), 9.1) is False
    with pytest.raises(SipUsageError):
        alice.create_request("INFO")
    late = call.to_bob(request_with_seq(alice, "INFO", INVITE_SEQ + 5))
    assert bob.receive_request(late, 9.2) == DialogCheck(481)


def request_with_seq(dialog: Dialog, method: str, seq: int) -> Request:
    """A request in ``dialog`` with a chosen CSeq, as a misbehaving peer would send it."""
    saved_state, saved_seq = dialog.state, dialog.local_seq
    dialog.state, dialog.local_seq = DialogState.CONFIRMED, seq - 1
    try:
        return dialog.create_request(method)
    finally:
        dialog.state, dialog.local_seq = saved_state, saved_seq


def test_every_in_dialog_request_parses_back() -> None:
    call = confirmed_call()
    for method in ("INFO", "UPDATE", "OPTIONS", "REFER", "NOTIFY", "MESSAGE"):
        request = call.alice.create_request(method)
        parsed = wire(request)
        assert isinstance(parsed, Request)
        assert parsed.method == method and parsed.cseq.method == method
        assert ("contact" in parsed.headers) == (method == "UPDATE")


# -- routing ---------------------------------------------------------------------------------


def uac_dialog_with_routes(record_routes: list[str], contact: str = BOB_CONTACT) -> Dialog:
    invite = build_invite()
    headers = [("Record-Route", value) for value in record_routes]
    ok = make_response(wire(invite), 200, to_tag="b9",  # type: ignore[arg-type]
                       extra=[*headers, ("Contact", contact)])
    return Dialog.from_uac_response(invite, response_over(ok))


def test_loose_routing_keeps_target_in_request_uri_and_all_route_params() -> None:
    dialog = uac_dialog_with_routes(["<sip:p2.example.com;lr;ftag=x>", "<sip:p1.example.com;lr>"])
    request = dialog.create_request("INFO")
    assert request.uri == parse_uri("sip:bob@10.0.0.2:5062")
    assert request.headers.values("route") == ["<sip:p1.example.com;lr>",
                                               "<sip:p2.example.com;lr;ftag=x>"]


def test_empty_route_set_sends_straight_to_target_without_route() -> None:
    dialog = uac_dialog_with_routes([])
    request = dialog.create_request("INFO")
    assert request.uri == parse_uri("sip:bob@10.0.0.2:5062")
    assert "route" not in request.headers


def test_strict_router_becomes_request_uri_and_target_the_last_route() -> None:
    # Record-Route at the UAC: p2 (loose, nearest Bob) then the strict router nearest Alice.
    strict, loose = "<sip:strict.example.com;maddr=10.1.1.1>", "<sip:p2.example.com;lr>"
    dialog = uac_dialog_with_routes([loose, strict])
    assert dialog.route_set == [strict, loose]
    request = dialog.create_request("INFO")
    assert request.uri == parse_uri("sip:strict.example.com;maddr=10.1.1.1")
    assert request.headers.values("route") == [loose, "<sip:bob@10.0.0.2:5062>"]
    parsed = wire(request)
    assert isinstance(parsed, Request)
    assert str(parsed.uri) == "sip:strict.example.com;maddr=10.1.1.1"


def test_strict_route_loses_parameters_a_request_uri_may_not_hold() -> None:
    dialog = uac_dialog_with_routes(["<sip:strict.example.com;method=INVITE?Subject=hi>"])
    request = dialog.create_request("BYE")
    uri = request.uri
    assert isinstance(uri, SipUri)
    assert uri.host == "strict.example.com" and uri.params == {} and uri.headers == {}
    assert request.headers.values("route") == ["<sip:bob@10.0.0.2:5062>"]
    assert isinstance(wire(request), Request)


def test_2xx_recomputes_the_route_set_of_an_early_dialog() -> None:
    invite = build_invite()
    ringing = make_response(wire(invite), 180, to_tag="b1",  # type: ignore[arg-type]
                            extra=[("Record-Route", P1), ("Contact", BOB_CONTACT)])
    alice = Dialog.from_uac_response(invite, response_over(ringing))
    assert alice.route_set == [P1]
    ok = make_response(wire(invite), 200, to_tag="b1",  # type: ignore[arg-type]
                       extra=[("Record-Route", P2), ("Record-Route", P1),
                              ("Contact", "<sip:bob@10.0.0.3>")])
    alice.receive_response(response_over(ok), 1.0)
    assert alice.route_set == [P1, P2]
    assert alice.remote_target == parse_uri("sip:bob@10.0.0.3")
    # Once confirmed the route set is fixed, even if a re-INVITE's 2xx says otherwise.
    reinvite = alice.create_request("INVITE")
    again = make_response(wire(reinvite), 200,  # type: ignore[arg-type]
                          extra=[("Record-Route", "<sip:other.example.com;lr>"),
                                 ("Contact", "<sip:bob@10.0.0.4>")])
    alice.receive_response(response_over(again), 2.0)
    assert alice.route_set == [P1, P2]
    assert alice.remote_target == parse_uri("sip:bob@10.0.0.4")


# -- sequence numbers ------------------------------------------------------------------------


def test_lower_cseq_is_answered_500_and_changes_nothing() -> None:
    call = confirmed_call()
    bob = call.bob
    newer = call.to_bob(request_with_seq(call.alice, "INFO", INVITE_SEQ + 10))
    assert bob.receive_request(newer, 1.0).accepted
    older = call.to_bob(request_with_seq(call.alice, "INFO", INVITE_SEQ + 5))
    check = bob.receive_request(older, 1.1)
    assert check == DialogCheck(500, "CSeq out of order")
    assert not check.accepted
    assert bob.remote_seq == INVITE_SEQ + 10
    rejection = check.response(older)
    assert (rejection.status, rejection.reason) == (500, "CSeq out of order")
    assert rejection.to.tag == "b1" and rejection.cseq.seq == INVITE_SEQ + 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=INVITE_SEQ, max_value=INVITE_SEQ + 40), max_size=25))
def test_cseq_order_matches_a_running_maximum(seqs: list[int]) -> None:
    call = confirmed_call()
    highest = INVITE_SEQ
    for seq in seqs:
        request = call.to_bob(request_with_seq(call.alice, "INFO", seq))
        check = call.bob.receive_request(request, 2.0)
        assert check.accepted == (seq >= highest)
        if check.accepted:
            highest = seq
        else:
            assert check.status == 500
        assert call.bob.remote_seq == highest


def test_request_of_another_dialog_is_481() -> None:
    call = confirmed_call()
    request = call.to_bob(call.alice.create_request("INFO"))
    request.headers.set("From", '"Alice" <sip:alice@example.com>;tag=zz')
    assert call.bob.receive_request(request, 1.0) == DialogCheck(481)


def test_in_dialog_481_or_408_terminates_the_uac_dialog() -> None:
    for status in (481, 408):
        call = confirmed_call()
        info = call.alice.create_request("INFO")
        assert call.alice.receive_response(response_over(make_response(wire(info), status)), 2.0)  # type: ignore[arg-type]
        assert call.alice.state is DialogState.TERMINATED
    call = confirmed_call()
    info = call.alice.create_request("INFO")
    call.alice.receive_response(response_over(make_response(wire(info), 404)), 2.0)  # type: ignore[arg-type]
    assert call.alice.state is DialogState.CONFIRMED


# -- early dialogs ---------------------------------------------------------------------------


def test_failure_ends_early_dialog_on_both_sides() -> None:
    call = Call()
    busy = call.bob.create_response(call.uas_invite, 486, 1.0)
    assert call.bob.state is DialogState.TERMINATED
    assert busy.headers.get("contact") is None
    assert busy.headers.get("record-route") is None
    assert call.alice.receive_response(response_over(busy), 1.0)
    assert call.alice.state is DialogState.TERMINATED


def test_early_dialog_rules_for_requests() -> None:
    call = Call()
    with pytest.raises(SipUsageError):
        call.bob.create_request("BYE")  # §15: the callee answers instead
    with pytest.raises(SipUsageError):
        call.alice.create_request("INVITE")  # re-INVITE needs a confirmed dialog
    bye = call.alice.create_request("BYE")  # the caller may end an early dialog
    assert call.alice.state is DialogState.TERMINATED
    assert call.bob.receive_request(call.to_bob(bye), 1.0).accepted
    assert call.bob.state is DialogState.TERMINATED


def test_create_request_refuses_misuse() -> None:
    call = confirmed_call()
    with pytest.raises(SipUsageError):
        call.alice.create_request("ACK")
    with pytest.raises(SipUsageError):
        call.alice.create_request("CANCEL")
    with pytest.raises(SipUsageError):
        call.alice.create_request("INFO", body=b"x")
    call.alice.create_request("INVITE")
    with pytest.raises(SipUsageError):
        call.alice.create_request("INVITE")  # §14.1: one INVITE at a time


def test_uas_dialog_by_default_is_created_after_its_2xx() -> None:
    invite = at_uas(build_invite())
    bob = Dialog.from_uas_request(invite, "b1", BOB_CONTACT)
    assert bob.state is DialogState.CONFIRMED
    assert bob.offer_state is OfferState.STABLE
    assert bob.can_reinvite()
    assert bob.create_request("BYE").to.tag == "a1"


def test_uas_dialog_needs_contact() -> None:
    invite = at_uas(build_invite())
    invite.headers.remove("Contact")
    with pytest.raises(SipParseError):
        Dialog.from_uas_request(invite, "b1", BOB_CONTACT)


def test_secure_flag_needs_sips_and_tls() -> None:
    invite = at_uas(build_invite(uri="sips:bob@example.com"))
    assert Dialog.from_uas_request(invite, "b1", BOB_CONTACT, over_tls=True).secure
    assert not Dialog.from_uas_request(invite, "b1", BOB_CONTACT).secure
    plain = at_uas(build_invite())
    assert not Dialog.from_uas_request(plain, "b1", BOB_CONTACT, over_tls=True).secure


# -- offer/answer and glare ------------------------------------------------------------------


def test_offer_in_2xx_is_answered_in_ack() -> None:
    call = Call(body=b"")
    assert call.bob.offer_state is OfferState.STABLE
    call.answer(body=OFFER)
    assert call.bob.offer_state is OfferState.LOCAL_OFFER
    assert call.alice.offer_state is OfferState.REMOTE_OFFER
    ack = call.alice.create_ack(INVITE_SEQ, body=ANSWER)
    assert ack.content_type == SDP
    assert call.alice.offer_state is OfferState.STABLE
    call.bob.receive_request(call.to_bob(ack), 2.0)
    assert call.bob.offer_state is OfferState.STABLE


def test_reinvite_glare_is_answered_491_on_both_sides() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    from_alice = alice.create_request("INVITE", body=sdp("alice", 2, 4000), content_type=SDP)
    from_bob = bob.create_request("INVITE", body=sdp("bob", 2, 5000), content_type=SDP)
    assert not alice.can_send_offer() and not bob.can_send_offer()
    at_bob, at_alice = call.to_bob(from_alice), call.to_alice(from_bob)
    check_bob = bob.receive_request(at_bob, 3.0)
    check_alice = alice.receive_request(at_alice, 3.0)
    assert check_bob == DialogCheck(491) and check_alice == DialogCheck(491)
    # The rejected re-INVITEs leave the targets and offers alone.
    assert bob.offer_state is OfferState.LOCAL_OFFER
    assert alice.receive_response(response_over(check_bob.response(at_bob)), 3.1)
    assert bob.receive_response(response_over(check_alice.response(at_alice)), 3.1)
    assert alice.can_reinvite() and bob.can_reinvite()
    assert alice.offer_state is OfferState.STABLE and bob.offer_state is OfferState.STABLE
    assert 2.1 <= alice.glare_retry_delay() <= 4.0  # Alice's UA made the Call-ID
    assert 0.0 <= bob.glare_retry_delay() <= 2.0


def test_invite_before_previous_answered_gets_500_with_retry_after() -> None:
    call = confirmed_call()
    first = call.to_bob(call.alice.create_request("INVITE"))
    assert call.bob.receive_request(first, 1.0).accepted
    # Alice's dialog refuses a second INVITE; a broken peer sends one anyway.
    second = parse_message(first.to_bytes())
    assert isinstance(second, Request)
    second.headers.set("CSeq", f"{INVITE_SEQ + 2} INVITE")
    check = call.bob.receive_request(second, 1.1)
    assert check.status == 500 and check.retry_after is not None
    assert 0 <= check.retry_after <= 10
    assert check.response(second).headers.get("retry-after") == str(check.retry_after)


def test_update_glare_491_and_500() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    alice.create_request("UPDATE", body=sdp("alice", 2, 4000), content_type=SDP)
    crossing = call.to_alice(bob.create_request("UPDATE", body=sdp("bob", 2, 5000),
                                                content_type=SDP))
    assert alice.receive_request(crossing, 1.0) == DialogCheck(491)
    # Bob now owes an answer to Alice's UPDATE offer when a second offer of Alice's lands.
    call2 = confirmed_call()
    offer = call2.to_bob(call2.alice.create_request("UPDATE", body=OFFER, content_type=SDP))
    assert call2.bob.receive_request(offer, 1.0).accepted
    assert call2.bob.offer_state is OfferState.REMOTE_OFFER
    again = call2.to_bob(request_with_seq(call2.alice, "UPDATE", INVITE_SEQ + 5))
    again.body = OFFER
    again.headers.set("Content-Type", SDP)
    check = call2.bob.receive_request(again, 1.1)
    assert check.status == 500 and check.retry_after is not None
    with pytest.raises(SipUsageError):
        call2.alice.create_request("UPDATE", body=OFFER, content_type=SDP)


def test_update_answer_in_2xx_and_target_refresh() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    update = call.to_bob(alice.create_request("UPDATE", body=sdp("alice", 2, 4002),
                                              content_type=SDP))
    assert bob.receive_request(update, 1.0).accepted
    bob.local_contact = NameAddr.parse("<sip:bob@10.0.0.8>")
    ok = bob.create_response(update, 200, 1.0, body=ANSWER, content_type=SDP)
    assert [str(c) for c in ok.contacts] == ["<sip:bob@10.0.0.8>"]
    assert bob.get_timer() is None  # only a 2xx to INVITE is resent by the dialog
    assert alice.receive_response(response_over(ok), 1.1)
    assert alice.remote_target == parse_uri("sip:bob@10.0.0.8")
    assert alice.offer_state is OfferState.STABLE and bob.offer_state is OfferState.STABLE


def test_failed_reinvite_rolls_back_the_offer_and_keeps_the_dialog() -> None:
    call = confirmed_call()
    alice, bob = call.alice, call.bob
    received = call.to_bob(alice.create_request("INVITE", body=sdp("alice", 2, 4000),
                                                content_type=SDP))
    bob.receive_request(received, 1.0)
    rejected = bob.create_response(received, 488, 1.0)
    assert bob.offer_state is OfferState.STABLE and bob.can_reinvite()
    assert alice.receive_response(response_over(rejected), 1.1)
    assert alice.offer_state is OfferState.STABLE and alice.can_reinvite()
    assert alice.state is DialogState.CONFIRMED and bob.state is DialogState.CONFIRMED


def test_glare_retry_delay_ranges() -> None:
    rng = random.Random(3)
    owner = [glare_retry_delay(True, rng) for _ in range(500)]
    other = [glare_retry_delay(False, rng) for _ in range(500)]
    assert min(owner) >= 2.1 and max(owner) <= 4.0
    assert min(other) >= 0.0 and max(other) <= 2.0
    assert all(round(x * 100) == x * 100 or abs(round(x * 100) - x * 100) < 1e-9 for x in owner)
    assert max(other) > 1.5 and min(owner) < 2.5  # the whole range is used


@given(st.integers(min_value=0, max_value=2**32))
def test_glare_retry_delay_is_in_10ms_steps(seed: int) -> None:
    for owner in (True, False):
        delay = glare_retry_delay(owner, random.Random(seed))
        ticks = round(delay * 100)
        assert abs(delay * 100 - ticks) < 1e-9
        assert (210 <= ticks <= 400) if owner else (0 <= ticks <= 200)


# -- the tables ------------------------------------------------------------------------------


def test_dialog_table_is_total() -> None:
    assert set(DIALOG_TRANSITIONS) == {(s, i) for s in DialogState for i in DialogInput}


@given(st.lists(st.sampled_from(list(DialogInput)), max_size=12))
def test_dialog_table_never_goes_back(inputs: list[DialogInput]) -> None:
    state = DialogState.EARLY
    seen_confirmed = False
    for event in inputs:
        before, state = state, DIALOG_TRANSITIONS[(state, event)]
        if before is DialogState.TERMINATED:
            assert state is DialogState.TERMINATED
        if before is not DialogState.EARLY:
            assert state is not DialogState.EARLY
        if state is DialogState.CONFIRMED and before is DialogState.EARLY:
            assert event is DialogInput.SUCCESS
        seen_confirmed |= state is DialogState.CONFIRMED
    if DialogInput.BYE in inputs or DialogInput.GONE in inputs:
        assert state is DialogState.TERMINATED


def test_offer_table_pairs_offers_with_answers() -> None:
    assert OFFER_TRANSITIONS == {
        (OfferState.STABLE, OfferInput.SEND_OFFER): OfferState.LOCAL_OFFER,
        (OfferState.STABLE, OfferInput.RECEIVE_OFFER): OfferState.REMOTE_OFFER,
        (OfferState.LOCAL_OFFER, OfferInput.RECEIVE_ANSWER): OfferState.STABLE,
        (OfferState.REMOTE_OFFER, OfferInput.SEND_ANSWER): OfferState.STABLE,
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["alice-update", "bob-update", "alice-answers", "bob-answers",
                                 "alice-rejects", "bob-rejects"]), max_size=12))
def test_offers_in_updates_never_cross(actions: list[str]) -> None:
    """Whatever the two sides try, both agree on the offer state after each delivery."""
    call = confirmed_call()
    sides = {"alice": (call.alice, call.bob), "bob": (call.bob, call.alice)}
    pending: dict[str, Request] = {}  # offer received by this side, not answered yet
    for action in actions:
        who, what = action.split("-")
        me, peer = sides[who]
        if what == "update":
            if not me.can_send_offer():
                with pytest.raises(SipUsageError):
                    me.create_request("UPDATE", body=OFFER, content_type=SDP)
                continue
            other = "bob" if who == "alice" else "alice"
            received = request_over(me.create_request("UPDATE", body=OFFER, content_type=SDP), 2)
            check = peer.receive_request(received, 1.0)
            if check.accepted:
                pending[other] = received
            else:
                assert check.status in (491, 500)
                me.receive_response(response_over(check.response(received)), 1.0)
        elif who in pending:
            received = pending.pop(who)
            if what == "answers":
                response = me.create_response(received, 200, 1.0, body=ANSWER, content_type=SDP)
            else:
                response = me.create_response(received, 488, 1.0)
            peer.receive_response(response_over(response), 1.0)
        flipped = {OfferState.LOCAL_OFFER: OfferState.REMOTE_OFFER,
                   OfferState.REMOTE_OFFER: OfferState.LOCAL_OFFER,
                   OfferState.STABLE: OfferState.STABLE}
        assert flipped[call.alice.offer_state] is call.bob.offer_state
