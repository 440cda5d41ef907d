"""Symmetric RTP source latching with protection against RTP bleed.

RFC 4961 (symmetric RTP) lets pycc send media back to wherever the peer's media comes from,
which is how phones behind NAT get audio at all: the address in their SDP is often private. The
danger is "RTP bleed": anyone who can reach the port could send packets and have the call's
audio redirected to them. So a `SourceLatch` moves only while learning is allowed (until
``learn_until``, set by the media layer at answer or re-INVITE), never away from a source that is
still talking (one heard within ``silence`` seconds), and locks for good when learning time is
over; packets from anywhere else are then refused and counted. The address the peer signalled in
SDP is trusted more than a learned one: while learning it always wins the latch back.

Addresses are compared as given: the caller passes ``(host, port)`` tuples in one normal form.
The states and moves are the table `TRANSITIONS`.
"""

from __future__ import annotations

import enum
from typing import Final, TypeAlias

__all__ = ["TRANSITIONS", "Address", "LatchInput", "LatchState", "SourceLatch", "Verdict"]

Address: TypeAlias = tuple[str, int]


class LatchState(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; keeps the table lookup in C

    SIGNALLED = "signalled"  # sending to the SDP address; nothing heard yet
    LEARNING = "learning"  # a source was heard; it may still move to a silent peer's successor
    LOCKED = "locked"  # learning time is over: only the current peer is accepted


class LatchInput(enum.Enum):
    __hash__ = object.__hash__

    FROM_PEER = "packet from the current peer"
    FROM_SIGNALLED = "packet from the signalled address, which is not the current peer"
    FROM_OTHER_PEER_SILENT = "packet from another source while the peer is silent"
    FROM_OTHER_PEER_ACTIVE = "packet from another source while the peer is talking"
    LEARNING_OVER = "learn_until has passed"


class Verdict(enum.Enum):
    __hash__ = object.__hash__

    ACCEPT = "accept"
    MOVE = "accept and latch onto the source"
    REFUSE = "refuse"
    NONE = "no packet"  # for LEARNING_OVER, which is a time and not a packet


S, In, V = LatchState, LatchInput, Verdict

#: (state, input) -> (verdict, next state). Every pair is present.
TRANSITIONS: Final[dict[tuple[LatchState, LatchInput], tuple[Verdict, LatchState]]] = {
    (S.SIGNALLED, In.FROM_PEER): (V.ACCEPT, S.LEARNING),
    (S.SIGNALLED, In.FROM_SIGNALLED): (V.MOVE, S.LEARNING),
    # Nothing has been heard from the peer yet, so it counts as silent: the NAT case.
    (S.SIGNALLED, In.FROM_OTHER_PEER_SILENT): (V.MOVE, S.LEARNING),
    (S.SIGNALLED, In.FROM_OTHER_PEER_ACTIVE): (V.REFUSE, S.SIGNALLED),
    (S.SIGNALLED, In.LEARNING_OVER): (V.NONE, S.LOCKED),
    (S.LEARNING, In.FROM_PEER): (V.ACCEPT, S.LEARNING),
    (S.LEARNING, In.FROM_SIGNALLED): (V.MOVE, S.LEARNING),
    (S.LEARNING, In.FROM_OTHER_PEER_SILENT): (V.MOVE, S.LEARNING),
    # The bleed attempt: someone else sends while the real peer is talking.
    (S.LEARNING, In.FROM_OTHER_PEER_ACTIVE): (V.REFUSE, S.LEARNING),
    (S.LEARNING, In.LEARNING_OVER): (V.NONE, S.LOCKED),
    (S.LOCKED, In.FROM_PEER): (V.ACCEPT, S.LOCKED),
    (S.LOCKED, In.FROM_SIGNALLED): (V.REFUSE, S.LOCKED),
    (S.LOCKED, In.FROM_OTHER_PEER_SILENT): (V.REFUSE, S.LOCKED),
    (S.LOCKED, In.FROM_OTHER_PEER_ACTIVE): (V.REFUSE, S.LOCKED),
    (S.LOCKED, In.LEARNING_OVER): (V.NONE, S.LOCKED),
}

del S, In, V


class SourceLatch:
    """Decides, per received packet, whether its source is the peer; `peer` is where to send."""

    __slots__ = (
        "_last_heard",
        "_learn_until",
        "_peer",
        "_signalled",
        "_silence",
        "_state",
        "moves",
        "refused",
    )

    def __init__(
        self, signalled: Address | None, learn_until: float, *, silence: float = 0.5
    ) -> None:
        if silence < 0:
            raise ValueError(f"silence must not be negative, got {silence}")
        self._silence = silence
        self._signalled = signalled
        self._peer = signalled
        self._learn_until = learn_until
        self._last_heard: float | None = None
        self._state = LatchState.SIGNALLED
        #: Packets refused since creation (the media layer's bleed counter).
        self.refused = 0
        #: Times the latch moved to a new source.
        self.moves = 0

    @property
    def peer(self) -> Address | None:
        """Where to send media: the latched source, else the signalled address."""
        return self._peer

    @property
    def signalled(self) -> Address | None:
        return self._signalled

    @property
    def latched(self) -> bool:
        """A packet has been accepted from `peer`: it is a confirmed, reachable source."""
        return self._last_heard is not None

    @property
    def state(self) -> LatchState:
        """The state as of the last `accept` or `resignal` (time alone changes nothing here)."""
        return self._state

    def accept(self, source: Address, now: float) -> bool:
        """Whether a packet from ``source`` received at ``now`` belongs to the call."""
        if now >= self._learn_until and self._state is not LatchState.LOCKED:
            self._state = TRANSITIONS[(self._state, LatchInput.LEARNING_OVER)][1]
        if source == self._peer:
            if self._state is not LatchState.SIGNALLED:
                self._last_heard = now  # the per-packet path: every FROM_PEER row accepts
                return True
            event = LatchInput.FROM_PEER
        elif source == self._signalled:
            event = LatchInput.FROM_SIGNALLED
        elif self._last_heard is None or now - self._last_heard >= self._silence:
            event = LatchInput.FROM_OTHER_PEER_SILENT
        else:
            event = LatchInput.FROM_OTHER_PEER_ACTIVE
        verdict, self._state = TRANSITIONS[(self._state, event)]
        if verdict is Verdict.REFUSE:
            self.refused += 1
            return False
        if verdict is Verdict.MOVE:
            self._peer = source
            self.moves += 1
        self._last_heard = now
        return True

    def resignal(self, address: Address | None, now: float, learn_until: float) -> None:
        """A new SDP (re-INVITE, UPDATE) names ``address``: learning reopens until
        ``learn_until``.

        If the address is the one already signalled, the learned peer is kept (a re-INVITE for
        hold repeats the old address; the NATed source is still right).
        """
        self._learn_until = learn_until
        if address != self._signalled or self._last_heard is None:
            self._signalled = address
            self._peer = address
            self._last_heard = None
            self._state = LatchState.SIGNALLED
        else:
            self._state = LatchState.LEARNING
        if now >= learn_until:
            self._state = TRANSITIONS[(self._state, LatchInput.LEARNING_OVER)][1]
