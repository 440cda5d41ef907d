"""Symmetric RTP latching (RFC 4961) and its protection against RTP bleed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import LatchState, SourceLatch
from pycc.rtp.latch import TRANSITIONS, LatchInput, Verdict

SDP = ("192.168.1.10", 4000)  # what the phone wrote in its SDP (behind NAT)
NAT = ("203.0.113.7", 61000)  # where its packets really come from
EVIL = ("198.51.100.66", 5555)


def test_the_table_is_total() -> None:
    assert set(TRANSITIONS) == {(s, i) for s in LatchState for i in LatchInput}
    # Once locked, nothing but the current peer is ever accepted.
    for event in LatchInput:
        verdict, state = TRANSITIONS[(LatchState.LOCKED, event)]
        assert state is LatchState.LOCKED
        assert verdict in ((Verdict.ACCEPT,) if event is LatchInput.FROM_PEER
                           else (Verdict.REFUSE, Verdict.NONE))


def test_packets_from_the_signalled_address_are_accepted() -> None:
    latch = SourceLatch(SDP, learn_until=5.0)
    assert latch.peer == SDP and not latch.latched and latch.state is LatchState.SIGNALLED
    assert latch.accept(SDP, 0.0)
    assert latch.latched and latch.state is LatchState.LEARNING
    assert latch.accept(SDP, 10.0)
    assert latch.state is LatchState.LOCKED and latch.peer == SDP


def test_nat_source_is_learned_while_the_sdp_address_is_silent() -> None:
    latch = SourceLatch(SDP, learn_until=5.0)
    assert latch.accept(NAT, 0.1)
    assert latch.peer == NAT and latch.latched and latch.moves == 1
    for i in range(300):  # up to 6.1 s, past learn_until
        assert latch.accept(NAT, 0.12 + 0.02 * i)
    assert latch.state is LatchState.LOCKED


def test_a_third_party_cannot_steal_an_active_peer() -> None:
    latch = SourceLatch(SDP, learn_until=5.0)
    latch.accept(NAT, 0.0)
    assert not latch.accept(EVIL, 0.3)  # NAT spoke 0.3 s ago: still talking
    assert latch.peer == NAT and latch.refused == 1


def test_while_learning_a_silent_peer_can_be_replaced() -> None:
    latch = SourceLatch(SDP, learn_until=5.0, silence=0.5)
    latch.accept(NAT, 0.0)
    assert latch.accept(EVIL, 0.6)  # e.g. the phone's NAT binding changed
    assert latch.peer == EVIL


def test_the_signalled_address_wins_back_while_learning() -> None:
    latch = SourceLatch(SDP, learn_until=5.0)
    latch.accept(EVIL, 0.0)  # an early bleeder, before the phone spoke
    assert latch.accept(SDP, 0.05)
    assert latch.peer == SDP
    assert not latch.accept(EVIL, 0.06)


def test_after_learning_the_latch_is_locked() -> None:
    latch = SourceLatch(SDP, learn_until=1.0)
    latch.accept(NAT, 0.5)
    assert not latch.accept(EVIL, 3.0)  # NAT silent for 2.5 s, but learning is over
    assert not latch.accept(SDP, 3.1)
    assert latch.peer == NAT and latch.refused == 2
    assert latch.accept(NAT, 3.2)


def test_locked_on_the_sdp_address_when_nothing_came_in_time() -> None:
    latch = SourceLatch(SDP, learn_until=1.0)
    assert not latch.accept(NAT, 2.0)
    assert latch.peer == SDP and not latch.latched and latch.state is LatchState.LOCKED


def test_no_signalled_address_learns_the_first_source() -> None:
    latch = SourceLatch(None, learn_until=1.0)
    assert latch.peer is None
    assert latch.accept(NAT, 0.0) and latch.peer == NAT


def test_resignal_reopens_learning_for_a_new_address() -> None:
    latch = SourceLatch(SDP, learn_until=1.0)
    latch.accept(NAT, 0.5)
    latch.accept(NAT, 2.0)
    assert latch.state is LatchState.LOCKED
    new = ("10.0.0.5", 7000)
    latch.resignal(new, now=10.0, learn_until=15.0)
    assert latch.peer == new and latch.state is LatchState.SIGNALLED and not latch.latched
    assert latch.accept(("203.0.113.7", 61002), 10.1)  # the new NAT mapping
    assert latch.peer == ("203.0.113.7", 61002)


def test_resignal_with_the_same_address_keeps_the_learned_peer() -> None:
    latch = SourceLatch(SDP, learn_until=1.0)
    latch.accept(NAT, 0.5)
    latch.resignal(SDP, now=10.0, learn_until=10.0)  # hold re-INVITE, no new learning
    assert latch.peer == NAT and latch.state is LatchState.LOCKED
    assert not latch.accept(EVIL, 20.0)
    latch.resignal(SDP, now=30.0, learn_until=35.0)
    assert latch.peer == NAT and latch.state is LatchState.LEARNING


addresses = st.tuples(st.sampled_from(["198.51.100.1", "198.51.100.2", "192.0.2.9"]),
                      st.integers(1024, 1030))


@given(
    learn_until=st.floats(0.0, 5.0),
    before=st.lists(st.tuples(addresses, st.floats(0.0, 4.99)), max_size=10),
    after=st.lists(st.tuples(addresses, st.floats(0.0, 100.0)), min_size=1, max_size=30),
)
def test_no_third_party_moves_a_locked_latch(
    learn_until: float,
    before: list[tuple[tuple[str, int], float]],
    after: list[tuple[tuple[str, int], float]],
) -> None:
    latch = SourceLatch(SDP, learn_until=learn_until)
    latch.accept(NAT, 0.0)
    for source, at in sorted(before, key=lambda p: p[1]):
        latch.accept(source, at)
    latch.accept(EVIL, learn_until + 1.0)  # whatever happened before, learning is over now
    assert latch.state is LatchState.LOCKED
    peer, refused = latch.peer, latch.refused
    third = [(s, learn_until + 1.0 + t) for s, t in after if s != peer]
    for source, at in sorted(third, key=lambda p: p[1]):
        assert latch.accept(source, at) is False
        assert latch.peer == peer
    assert latch.refused == refused + len(third)
