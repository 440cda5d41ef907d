"""Tests for reliable provisional responses and PRACK (RFC 3262) in pycc.sip.dialog.

A UAS (Bob) sends 1xx reliably, resends them on its timer and matches PRACKs; a UAC (Alice)
answers each new in-order one with exactly one PRACK. Messages cross as bytes.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.sip.dialog import (
    Dialog,
    DialogCheck,
    DialogState,
    OfferState,
    ReliableProvisionalTimedOut,
    is_reliable_provisional,
)
from pycc.sip.errors import SipUsageError
from pycc.sip.headers import Headers
from pycc.sip.message import Request, Response, make_response, parse_message
from pycc.sip.uri import parse_uri

SDP = "application/sdp"
INVITE_SEQ = 7
OFFER = b"v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=bob 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"

_branches = itertools.count(1)


def wire(message: Request | Response) -> Request | Response:
    if isinstance(message, Request) and message.headers.get("via") is None:
        message.headers.prepend("Via", f"SIP/2.0/TCP 10.9.9.9;branch=z9hG4bK{next(_branches)}")
    return parse_message(message.to_bytes())


def req(message: Request) -> Request:
    parsed = wire(message)
    assert isinstance(parsed, Request)
    return parsed


def resp(message: Response) -> Response:
    parsed = wire(message)
    assert isinstance(parsed, Response)
    return parsed


def build_invite(body: bytes = OFFER, supported: str = "100rel") -> Request:
    headers = Headers([
        ("Via", "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK-prack-invite"),
        ("Max-Forwards", "70"),
        ("To", "<sip:bob@example.com>"),
        ("From", "<sip:alice@example.com>;tag=a7"),
        ("Call-ID", "prack-call@10.0.0.1"),
        ("CSeq", f"{INVITE_SEQ} INVITE"),
        ("Contact", "<sip:alice@10.0.0.1;transport=tcp>"),
        ("Supported", supported),
    ])
    if body:
        headers.add("Content-Type", SDP)
    return Request(headers, body, "INVITE", parse_uri("sip:bob@example.com"))


class Ringing:
    """Bob has the INVITE and an early dialog; Alice has nothing yet."""

    def __init__(self, body: bytes = OFFER, supported: str = "100rel", seed: int = 11) -> None:
        self.invite = build_invite(body, supported)
        self.at_bob = req(build_invite(body, supported))
        self.bob = Dialog.from_uas_request(self.at_bob, "b7", "<sip:bob@10.0.0.2;transport=tcp>",
                                           early=True, rng=random.Random(seed))
        self.alice: Dialog | None = None

    def reliable(self, status: int, now: float, body: bytes = b"") -> Response:
        response = self.bob.create_response(self.at_bob, status, now, body=body,
                                            content_type=SDP if body else None)
        return self.bob.prepare_reliable_provisional(response, now)

    def to_alice(self, provisional: Response) -> Response:
        received = resp(provisional)
        if self.alice is None:
            self.alice = Dialog.from_uac_response(self.invite, received, rng=random.Random(5))
        else:
            self.alice.receive_response(received, 0.0)
        return received


def test_reliable_provisional_gets_require_and_random_rseq() -> None:
    ringing = Ringing(seed=11)
    sent = ringing.reliable(183, 0.0, body=ANSWER)
    expected_first = random.Random(11).randint(1, 2**31 - 1)
    received = resp(sent)
    assert "100rel" in received.option_tags("require")
    assert received.headers.get("rseq") == str(expected_first)
    assert is_reliable_provisional(received)
    assert received.to.tag == "b7" and received.contacts
    assert ringing.bob.offer_state is OfferState.STABLE  # the 183 answered the INVITE's offer


def test_prack_flow_with_retransmission_and_matching() -> None:
    ringing = Ringing()
    bob = ringing.bob
    sent = ringing.reliable(183, 0.0, body=ANSWER)
    rseq = int(sent.headers.get("rseq") or 0)
    # Bob resends at T1, then 2*T1 later, doubling, until the PRACK.
    assert bob.reliable_provisional_timer() == 0.5
    assert bob.handle_timer(0.49) == []
    assert bob.handle_timer(0.5) == [sent]
    assert bob.reliable_provisional_timer() == 1.5
    assert bob.handle_timer(1.5) == [sent]
    assert bob.reliable_provisional_timer() == 3.5

    first = ringing.to_alice(sent)
    alice = ringing.alice
    assert alice is not None and alice.state is DialogState.EARLY
    assert alice.offer_state is OfferState.STABLE
    prack = alice.create_prack(first)
    assert prack is not None
    assert prack.method == "PRACK"
    assert prack.headers.get("rack") == f"{rseq} {INVITE_SEQ} INVITE"
    assert str(prack.cseq) == f"{INVITE_SEQ + 1} PRACK"
    assert prack.uri == parse_uri("sip:bob@10.0.0.2;transport=tcp")
    assert prack.to.tag == "b7" and prack.from_.tag == "a7"
    assert prack.headers.get("contact") is None
    # Retransmissions of the 183 are not PRACKed again.
    again = resp(sent)
    assert alice.receive_response(again, 1.6) is False
    assert alice.create_prack(again) is None
    assert alice.create_prack(first) is None

    at_bob = req(prack)
    assert bob.receive_request(at_bob, 1.7) == DialogCheck()
    assert bob.reliable_provisional_timer() is None
    assert bob.handle_timer(10.0) == []
    ok = bob.create_response(at_bob, 200, 1.7)
    assert alice.receive_response(resp(ok), 1.8)

    # After the first is acknowledged a second may go; its RSeq is one higher.
    second = ringing.reliable(180, 2.0)
    assert second.headers.get("rseq") == str(rseq + 1)
    prack2 = alice.create_prack(ringing.to_alice(second))
    assert prack2 is not None and prack2.headers.get("rack") == f"{rseq + 1} {INVITE_SEQ} INVITE"
    assert prack2.cseq.seq == INVITE_SEQ + 2
    assert bob.receive_prack(req(prack2)) == 200

    final = bob.create_response(ringing.at_bob, 200, 3.0)
    assert bob.state is DialogState.CONFIRMED
    assert alice.receive_response(resp(final), 3.1)
    assert alice.state is DialogState.CONFIRMED
    assert alice.offer_state is OfferState.STABLE and bob.offer_state is OfferState.STABLE


def test_prack_that_matches_nothing_is_481() -> None:
    ringing = Ringing()
    sent = ringing.reliable(183, 0.0, body=ANSWER)
    rseq = int(sent.headers.get("rseq") or 0)
    prack = ringing.bob.create_request("INFO")  # Alice is bypassed: any request, reshaped
    for rack, status in [
        (f"{rseq + 1} {INVITE_SEQ} INVITE", 481),
        (f"{rseq} {INVITE_SEQ + 1} INVITE", 481),
        (f"{rseq} {INVITE_SEQ} UPDATE", 481),
        ("garbage", 400),
    ]:
        prack.headers.set("RAck", rack)
        assert ringing.bob.receive_prack(prack) == status
    prack.headers.remove("RAck")
    assert ringing.bob.receive_prack(prack) == 400
    prack.headers.set("RAck", f"{rseq} {INVITE_SEQ} INVITE")
    assert ringing.bob.receive_prack(prack) == 200
    assert ringing.bob.receive_prack(prack) == 481  # already acknowledged


def test_prack_with_bad_rack_is_rejected_through_receive_request() -> None:
    ringing = Ringing()
    sent = ringing.reliable(183, 0.0, body=ANSWER)
    received = ringing.to_alice(sent)
    assert ringing.alice is not None
    prack = ringing.alice.create_prack(received)
    assert prack is not None
    prack.headers.set("RAck", f"1 {INVITE_SEQ} INVITE" if sent.headers.get("rseq") != "1"
                      else f"2 {INVITE_SEQ} INVITE")
    assert ringing.bob.receive_request(req(prack), 1.0) == DialogCheck(481)
    assert ringing.bob.reliable_provisional_timer() is not None


def test_unacknowledged_provisional_gives_up_after_64_t1() -> None:
    ringing = Ringing()
    bob = ringing.bob
    sent = ringing.reliable(180, 100.0)
    fired: list[float] = []
    while (when := bob.reliable_provisional_timer()) is not None:
        responses = bob.handle_timer(when)
        if responses:
            assert responses == [sent]
            fired.append(when - 100.0)
    assert fired == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    event = bob.next_event()
    assert event == ReliableProvisionalTimedOut(INVITE_SEQ, int(sent.headers.get("rseq") or 0))
    assert bob.next_event() is None
    # RFC 3262 §3: the UAS now rejects the INVITE with a 5xx.
    bob.create_response(ringing.at_bob, 504, 133.0)
    assert bob.state is DialogState.TERMINATED


def test_uas_rules_for_reliable_provisionals() -> None:
    ringing = Ringing()
    ringing.reliable(183, 0.0, body=ANSWER)
    with pytest.raises(SipUsageError):
        ringing.reliable(180, 0.1)  # the first is not acknowledged yet
    with pytest.raises(SipUsageError):
        ringing.bob.create_response(ringing.at_bob, 200, 0.2)  # it carried SDP: PRACK first
    no_100rel = Ringing(supported="timer")
    with pytest.raises(SipUsageError):
        no_100rel.reliable(180, 0.0)
    final = make_response(ringing.at_bob, 200, to_tag="b7")
    with pytest.raises(SipUsageError, match="101-199"):
        ringing.bob.prepare_reliable_provisional(final, 0.0)


def test_final_response_stops_retransmission_without_sdp() -> None:
    ringing = Ringing()
    ringing.reliable(180, 0.0)
    ringing.bob.create_response(ringing.at_bob, 486, 1.0)
    assert ringing.bob.reliable_provisional_timer() is None
    assert ringing.bob.get_timer() is None


def test_offer_in_reliable_provisional_is_answered_in_prack() -> None:
    ringing = Ringing(body=b"")
    assert ringing.bob.offer_state is OfferState.STABLE
    sent = ringing.reliable(183, 0.0, body=OFFER)
    assert ringing.bob.offer_state is OfferState.LOCAL_OFFER
    alice_view = ringing.to_alice(sent)
    alice = ringing.alice
    assert alice is not None and alice.offer_state is OfferState.REMOTE_OFFER
    prack = alice.create_prack(alice_view, body=ANSWER, content_type=SDP)
    assert prack is not None and prack.content_type == SDP
    assert alice.offer_state is OfferState.STABLE
    at_bob = req(prack)
    assert ringing.bob.receive_request(at_bob, 0.3).accepted
    assert ringing.bob.offer_state is OfferState.STABLE
    ringing.bob.create_response(at_bob, 200, 0.3)
    # The 2xx may repeat the offer it already sent: that is no new offer (RFC 3262 §5).
    final = ringing.bob.create_response(ringing.at_bob, 200, 1.0, body=OFFER, content_type=SDP)
    assert ringing.bob.offer_state is OfferState.STABLE
    assert alice.receive_response(resp(final), 1.1)
    assert alice.offer_state is OfferState.STABLE
    ack = alice.create_ack(INVITE_SEQ)
    assert ringing.bob.receive_request(req(ack), 1.2).accepted
    assert ringing.bob.offer_state is OfferState.STABLE


def test_unreliable_provisional_gets_no_prack() -> None:
    ringing = Ringing()
    plain = ringing.bob.create_response(ringing.at_bob, 180, 0.0)
    received = ringing.to_alice(plain)
    assert ringing.alice is not None
    assert ringing.alice.create_prack(received) is None


def test_prack_created_without_receive_response_first() -> None:
    """The B2BUA asks for the PRACK straight away; the dialog takes the response then."""
    ringing = Ringing()
    ringing.to_alice(ringing.bob.create_response(ringing.at_bob, 180, 0.0))
    alice = ringing.alice
    assert alice is not None
    sent = ringing.reliable(183, 0.1, body=ANSWER)
    prack = alice.create_prack(resp(sent))
    assert prack is not None
    assert alice.create_prack(resp(sent)) is None
    assert ringing.bob.receive_prack(req(prack)) == 200


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=20))
def test_uac_pracks_exactly_the_new_in_order_responses(deliveries: list[int]) -> None:
    """Deliver the nth reliable 1xx in any order, with repeats: PRACK only the next one."""
    ringing = Ringing()
    sent: list[Response] = []
    for n in range(6):
        response = ringing.bob.create_response(ringing.at_bob, 180 if n else 183, 0.0)
        response.headers.add("Require", "100rel")
        response.headers.set("RSeq", str(1000 + n))
        sent.append(response)
    invite = ringing.invite
    alice: Dialog | None = None
    last: int | None = None
    for n in deliveries:
        received = resp(sent[n])
        if alice is None:
            alice = Dialog.from_uac_response(invite, received)
        else:
            alice.receive_response(received, 0.0)
        prack = alice.create_prack(received)
        expected = last is None or n == last + 1
        assert (prack is not None) == expected
        if expected:
            assert prack is not None
            assert prack.headers.get("rack") == f"{1000 + n} {INVITE_SEQ} INVITE"
            last = n


@given(st.floats(min_value=0.05, max_value=2.0), st.floats(min_value=0.0, max_value=1e6))
def test_retransmission_schedule_for_any_t1(t1: float, start: float) -> None:
    ringing = Ringing()
    ringing.bob.t1 = t1
    ringing.reliable(180, start)
    times: list[float] = []
    while (when := ringing.bob.reliable_provisional_timer()) is not None:
        if ringing.bob.handle_timer(when):
            times.append(when)
    gaps = [b - a for a, b in itertools.pairwise([start, *times])]
    for k, gap in enumerate(gaps):
        assert gap == pytest.approx(t1 * 2**k, rel=1e-6, abs=1e-6)
    assert times[-1] < start + 64 * t1 + 1e-6
    assert isinstance(ringing.bob.next_event(), ReliableProvisionalTimedOut)


def test_refused_prack_body_consumes_no_cseq() -> None:
    ringing = Ringing(body=OFFER)
    received = ringing.to_alice(ringing.reliable(180, 0.0))
    alice = ringing.alice
    assert alice is not None and alice.offer_state is OfferState.LOCAL_OFFER
    before = alice.local_seq
    # Alice's own offer is still unanswered: her PRACK cannot carry another description.
    with pytest.raises(SipUsageError):
        alice.create_prack(received, body=ANSWER, content_type=SDP)
    assert alice.local_seq == before
    prack = alice.create_prack(received)  # the PRACK is still owed
    assert prack is not None and prack.cseq.seq == (before or 0) + 1
