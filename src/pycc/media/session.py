"""The media of one call: each party's legs, the bridges between them, and the SDP pycc writes.

A :class:`MediaSession` has two parties, ``"a"`` (the caller's side) and ``"b"`` (the callee's).
When one party makes an offer, :meth:`MediaSession.relay_offer` gives the offer pycc makes to the
other party (pycc's ports and keys, the codecs it can transcode); when that party answers,
:meth:`MediaSession.relay_answer` configures both legs and gives pycc's answer to the offerer.
Each ``m=`` line has one :class:`~pycc.media.leg.MediaLeg` per party and one
:class:`~pycc.media.bridge.Bridge` between them.

SDES keys (RFC 4568) are made per leg: pycc offers its own keys to the answerer in any case
(best-effort SRTP: a party that does not know ``a=crypto`` ignores it) and answers an SRTP
offerer with a fresh key for the suite it chose.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pycc.media.bridge import Bridge
from pycc.media.leg import MediaLeg
from pycc.media.srtp import SrtpError, SrtpLeg
from pycc.rtp.dtmf import DtmfPacket, DtmfSender
from pycc.rtp.packet import RtpPacket
from pycc.sdp.anchor import (
    SECURE_PROTOS,
    LocalCodec,
    StreamPlan,
    answer_side,
    local_answer,
    local_offer,
    relay_answer,
    relay_offer,
)
from pycc.sdp.attributes import Crypto
from pycc.sdp.crypto import CryptoAttribute, CryptoError, new_crypto, parse_crypto, select_crypto
from pycc.sdp.errors import SdpError
from pycc.sdp.session import Origin, SessionDescription

__all__ = ["MediaSession", "Party"]

log = logging.getLogger("pycc.media")

Party = str  # "a" or "b"
_OTHER = {"a": "b", "b": "a"}
#: Suites pycc offers, in order of preference (RFC 4568 §6.2, RFC 7714 §12).
OFFER_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM")


@dataclass
class _PendingOffer:
    offerer: Party
    offer: SessionDescription
    relayed: SessionDescription
    #: pycc's offered keys per m= line (to the answerer)
    keys: list[list[CryptoAttribute]]


@dataclass
class _PartyState:
    address: str = "127.0.0.1"
    origin: Origin | None = None
    legs: list[MediaLeg] = field(default_factory=list)
    last_answer: tuple[bytes, SessionDescription] | None = None
    #: The description pycc last sent this party (offer or answer): pycc's side as it is.
    last_sent: SessionDescription | None = None


class _EventStream:
    """An RTP stream of telephone-events pycc originates towards one party."""

    def __init__(self, clock_rate: int, ptime_ms: int) -> None:
        self.ssrc = secrets.randbits(32)
        self._sequence = secrets.randbits(16)
        self._planner = DtmfSender(clock_rate, ptime_ms,
                                   initial_timestamp=secrets.randbits(32))

    def next_sequence(self) -> int:
        self._sequence = (self._sequence + 1) & 0xFFFF
        return self._sequence

    def packets(self, digit: str, duration_ms: int) -> list[DtmfPacket]:
        return self._planner.packets(digit, duration_ms)


class MediaSession:
    """The media of one call; made by :class:`pycc.media.server.MediaServer`."""

    _ids = itertools.count(1)

    def __init__(
        self,
        new_leg: Callable[[str], MediaLeg],
        release_leg: Callable[[MediaLeg], None],
        transcodable: Sequence[LocalCodec],
        *,
        name: str = "",
        on_digit: Callable[[Party, str, str], None] | None = None,
    ) -> None:
        self.name = name or f"media-{next(self._ids)}"
        self._new_leg = new_leg
        self._release_leg = release_leg
        self.transcodable = list(transcodable)
        self.on_digit = on_digit
        self.parties: dict[Party, _PartyState] = {"a": _PartyState(), "b": _PartyState()}
        self.bridges: list[Bridge] = []
        self.plans: list[StreamPlan] = []
        #: The party whose offer the current plans answer ("a" or "b").
        self.plans_offerer: Party = "a"
        #: Whoever made the session (the B2BUA's call), for its callbacks.
        self.owner: object | None = None
        #: The party whose media pycc terminates itself (no relay), if any.
        self.local_party: Party | None = None
        self._pending: _PendingOffer | None = None
        self.closed = False
        self.hangup_reason: str | None = None
        self._senders: dict[Party, _EventStream] = {}
        self._local_offer: tuple[Party, SessionDescription, list[CryptoAttribute]] | None = None

    # -- addressing -------------------------------------------------------------------------
    def set_address(self, party: Party, address: str) -> None:
        """The address pycc writes in SDP for ``party``: the one that party can reach."""
        self.parties[party].address = address

    def legs(self, party: Party) -> list[MediaLeg]:
        return self.parties[party].legs

    def _origin(self, party: Party) -> Origin:
        state = self.parties[party]
        if state.origin is None:
            state.origin = Origin("pycc", str(secrets.randbelow(10**12)), 1, "IN",
                                  "IP6" if ":" in state.address else "IP4", state.address)
        else:
            state.origin = Origin(state.origin.username, state.origin.sess_id,
                                  state.origin.sess_version + 1, state.origin.nettype,
                                  state.origin.addrtype, state.origin.address)
        return state.origin

    def _ensure_legs(self, party: Party, count: int) -> list[MediaLeg]:
        legs = self.parties[party].legs
        while len(legs) < count:
            legs.append(self._new_leg(f"{self.name}/{party}{len(legs)}"))
        return legs

    # -- offer/answer -----------------------------------------------------------------------
    def relay_offer(self, offer: SessionDescription, offerer: Party) -> SessionDescription:
        """The offer pycc makes to the other party for ``offer`` from ``offerer``."""
        answerer = _OTHER[offerer]
        count = len(offer.media)
        self._ensure_legs(offerer, count)
        far_legs = self._ensure_legs(answerer, count)
        keys: list[list[CryptoAttribute]] = []
        for media in offer.media:
            if media.rejected or not media.is_rtp:
                keys.append([])
            else:
                keys.append([new_crypto(tag, suite) for tag, suite in enumerate(OFFER_SUITES, 1)])
        crypto = [[Crypto.parse(k.format()) for k in line] for line in keys]
        ports = [leg.port for leg in far_legs[:count]]
        relayed = relay_offer(offer, self.parties[answerer].address, ports,
                              origin=self._origin(answerer), transcodable=self.transcodable,
                              crypto=crypto)
        self._pending = _PendingOffer(offerer, offer, relayed, keys)
        self.parties[answerer].last_sent = relayed
        return relayed

    def relay_answer(self, answer: SessionDescription, answerer: Party) -> SessionDescription:
        """pycc's answer to the pending offer, now that ``answerer`` answered pycc's offer.

        Raises :class:`~pycc.sdp.errors.SdpError` when no offer is pending from the other party
        or the answer does not fit the offer.
        """
        pending = self._pending
        if pending is None or pending.offerer != _OTHER[answerer]:
            raise SdpError("an answer without a pending offer")
        offerer = pending.offerer
        raw = answer.to_bytes()
        cached = self.parties[offerer].last_answer
        if cached is not None and cached[0] == raw:
            # The same answer again (a 183 then the 200): pycc's answer must not change either.
            return cached[1]
        our_keys: list[CryptoAttribute | None] = []
        for media in pending.offer.media:
            our_keys.append(self._answer_key(media.attribute_values("crypto"), media.proto))
        crypto_lines = [None if k is None else Crypto.parse(k.format()) for k in our_keys]
        offerer_legs = self.parties[offerer].legs
        ports = [leg.port for leg in offerer_legs[: len(pending.offer.media)]]
        result, plans = relay_answer(
            pending.offer, pending.relayed, answer, self.parties[offerer].address, ports,
            origin=self._origin(offerer), transcodable=self.transcodable, crypto=crypto_lines,
        )
        answerer_legs = self.parties[answerer].legs
        for plan in plans:
            offerer_leg = offerer_legs[plan.index]
            answerer_leg = answerer_legs[plan.index]
            offerer_leg.configure(plan.offerer, self._srtp(our_keys[plan.index],
                                                           plan.offerer.crypto))
            answerer_leg.configure(plan.answerer, self._srtp_answered(
                pending.keys[plan.index], plan.answerer.crypto))
        self.plans = plans
        self.plans_offerer = offerer
        self._bridge()
        self.parties[offerer].last_answer = (raw, result)
        self.parties[offerer].last_sent = result
        return result

    def answer_locally(self, offer: SessionDescription, party: Party) -> SessionDescription:
        """pycc answers ``party``'s offer itself: the media ends in pycc (an IVR, a prompt, a
        conference), with no other party. Configures ``party``'s legs and returns the answer."""
        raw = offer.to_bytes()
        cached = self.parties[party].last_answer
        if cached is not None and cached[0] == raw:
            return cached[1]
        legs = self._ensure_legs(party, len(offer.media))
        our_keys = [self._answer_key(m.attribute_values("crypto"), m.proto) for m in offer.media]
        crypto_lines = [None if k is None else Crypto.parse(k.format()) for k in our_keys]
        answer, sides = local_answer(
            offer, self.parties[party].address, [leg.port for leg in legs],
            origin=self._origin(party), supported=self.transcodable, crypto=crypto_lines)
        for index, side in enumerate(sides):
            legs[index].configure(side, self._srtp(our_keys[index], side.crypto))
            # No bridge here to report RFC 4733 keys: the session does.
            legs[index].on_digit = lambda leg, digit: self._digit(leg, digit, "rfc4733")
        self.local_party = party
        self.parties[party].last_answer = (raw, answer)
        self.parties[party].last_sent = answer
        return answer

    def offer_locally(self, party: Party) -> SessionDescription:
        """pycc's own offer to ``party`` (a call pycc places: to an agent, a customer): one
        audio stream with every codec pycc can decode, its SDES keys best-effort. The answer
        goes to :meth:`accept_local_answer`."""
        legs = self._ensure_legs(party, 1)
        keys = [new_crypto(tag, suite) for tag, suite in enumerate(OFFER_SUITES, 1)]
        crypto = [Crypto.parse(k.format()) for k in keys]
        offer = local_offer(self.parties[party].address, [legs[0].port],
                            origin=self._origin(party), supported=self.transcodable,
                            crypto=crypto)
        self._local_offer = (party, offer, keys)
        self.parties[party].last_sent = offer
        return offer

    def accept_local_answer(self, answer: SessionDescription, party: Party) -> None:
        """``party`` answered :meth:`offer_locally`: configure its leg; the media ends in pycc
        until a channel of the session is bridged or mixed. Raises SdpError when the answer
        settles on nothing pycc can use."""
        pending = self._local_offer
        if pending is None or pending[0] != party:
            raise SdpError("no offer of pycc's is waiting for this answer")
        _, offer, keys = pending
        if not answer.media:
            raise SdpError("the answer has no media line")
        side = answer_side(answer, offer, 0)
        if side.codec is None:
            raise SdpError("the answer refused every codec pycc offered")
        leg = self.parties[party].legs[0]
        ours = None
        if side.crypto is not None:
            ours = next((k for k in keys if k.tag == side.crypto.tag), None)
        leg.configure(side, self._srtp(ours, side.crypto))
        leg.on_digit = lambda leg, digit: self._digit(leg, digit, "rfc4733")
        self.local_party = party
        self._local_offer = None

    @staticmethod
    def _answer_key(values: list[str], proto: str) -> CryptoAttribute | None:
        if proto not in SECURE_PROTOS:
            return None
        offered: list[CryptoAttribute] = []
        for value in values:
            try:
                offered.append(parse_crypto(value))
            except CryptoError:
                continue  # an unknown suite or a malformed line: skip it (RFC 4568 §5.1.2)
        chosen = select_crypto(offered)
        if chosen is None:
            return None
        return new_crypto(chosen.tag, chosen.suite)

    @staticmethod
    def _srtp(ours: CryptoAttribute | None, theirs: Crypto | None) -> SrtpLeg | None:
        if ours is None or theirs is None:
            return None
        try:
            return SrtpLeg(ours, parse_crypto(str(theirs)))
        except (CryptoError, SrtpError) as exc:
            log.warning("SRTP not set up: %s", exc)
            return None

    @staticmethod
    def _srtp_answered(offered: list[CryptoAttribute], theirs: Crypto | None) -> SrtpLeg | None:
        if theirs is None:
            return None
        ours = next((k for k in offered if k.tag == theirs.tag), None)
        if ours is None:
            return None
        return MediaSession._srtp(ours, theirs)

    def _bridge(self) -> None:
        a_legs, b_legs = self.parties["a"].legs, self.parties["b"].legs
        for index in range(min(len(a_legs), len(b_legs))):
            if index < len(self.bridges):
                self.bridges[index].update()
            else:
                self.bridges.append(Bridge(a_legs[index], b_legs[index],
                                           on_digit=self._digit))

    def _digit(self, leg: MediaLeg, digit: str, form: str) -> None:
        self.report_digit("a" if leg in self.parties["a"].legs else "b", digit, form)

    def report_digit(self, party: Party, digit: str, form: str) -> None:
        """A key ``party`` pressed, for whoever owns the session (its signalling layer)."""
        if self.on_digit is not None:
            self.on_digit(party, digit, form)

    # -- DTMF -------------------------------------------------------------------------------
    def has_events(self, party: Party) -> bool:
        """True when ``party`` negotiated RFC 4733 telephone-events on its audio stream."""
        legs = self.parties[party].legs
        return bool(legs) and legs[0].side is not None and legs[0].side.event is not None

    def send_digit(self, party: Party, digit: str, duration_ms: int = 160) -> bool:
        """Send ``digit`` to ``party`` as RFC 4733 events (False when it negotiated none).

        The packets go out at their RFC 4733 §2.5.1 times on a stream of their own (a new
        SSRC), which every receiver must accept (RFC 3550 §8.2).
        """
        legs = self.parties[party].legs
        side = legs[0].side if legs else None
        event = side.event if side is not None else None
        if side is None or event is None:
            return False
        leg = legs[0]
        ptime = int(side.ptime or 20)
        sender = self._senders.get(party)
        if sender is None:
            sender = self._senders[party] = _EventStream(event.clock_rate, ptime)
        loop = asyncio.get_running_loop()
        for packet in sender.packets(digit, duration_ms):
            data = RtpPacket(event.payload_type, sender.next_sequence(), packet.timestamp,
                             sender.ssrc, packet.payload, marker=packet.marker).serialize()
            loop.call_later(packet.offset, self._send_event, leg, data)
        return True

    def _send_event(self, leg: MediaLeg, data: bytes) -> None:
        if not self.closed:
            leg.send_rtp(data)

    # -- supervision ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Some party has settled on a codec: media is expected to flow."""
        return any(leg.side is not None and leg.side.codec is not None
                   for state in self.parties.values() for leg in state.legs)

    def silent_for(self, now: float, started: float) -> float:
        """How long the quietest party that should be sending has sent nothing (0 when no
        party is expected to send, e.g. both on hold)."""
        worst = 0.0
        for state in self.parties.values():
            for leg in state.legs:
                side = leg.side
                if side is None or side.codec is None or not side.sends:
                    continue
                last = leg.last_received if leg.last_received is not None else started
                worst = max(worst, now - last)
        return worst

    def quality(self) -> dict[Party, dict[str, float]]:
        """Per party: packets, loss, jitter and round-trip time of its first stream."""
        result: dict[Party, dict[str, float]] = {}
        for party, state in self.parties.items():
            if not state.legs:
                continue
            leg = state.legs[0]
            stats = leg.stats
            lost = stats.cumulative_lost if stats is not None else 0
            expected = stats.expected if stats is not None else 0
            result[party] = {
                "received": float(leg.received),
                "sent": float(leg.sent),
                "lost": float(max(0, lost)),
                "loss": (max(0, lost) / expected) if expected > 0 else 0.0,
                "jitter_ms": stats.jitter_ms if stats is not None else 0.0,
                "rtt": leg.rtt if leg.rtt is not None else 0.0,
            }
        return result

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for bridge in self.bridges:
            bridge.close()
        for state in self.parties.values():
            for leg in state.legs:
                self._release_leg(leg)
            state.legs.clear()
