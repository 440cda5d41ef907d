"""Offer/answer for a B2BUA that anchors media (RFC 3264 applied twice, RFC 4568 per leg).

pycc sits between two parties and terminates media on both sides, so every offer one party
makes is answered twice: pycc offers the other party a description of its own ports, and when
that party answers, pycc answers the first one. Between the two answers pycc either relays
packets untouched (both legs settled on the same codec) or transcodes.

- :func:`relay_offer` turns the offerer's description into pycc's offer to the far party: the
  same streams, pycc's address and ports, the offerer's codecs first (so that a relay is
  possible, keeping the offerer's payload numbers) and then the codecs pycc can transcode,
  telephone-event (RFC 4733) always, and pycc's own SDES keys. An SRTP offer (RTP/SAVP) goes on
  as RTP/AVP with keys: best-effort SRTP, so an SRTP phone can call a plain one (RFC 4568
  §7.1.2 lets an answerer that does not know the attribute ignore it).
- :func:`local_answer` is pycc answering an offer itself (an IVR, a conference, a prompt):
  the offerer's first audio codec pycc can decode, telephone-event, pycc's key for SRTP;
  :func:`local_offer` is pycc's own offer (a call pycc places, a re-INVITE from pycc).
- :func:`relay_answer` takes the far party's answer and builds pycc's answer to the offerer:
  the far party's codec if the offerer offered it (relay), else the offerer's first codec pycc
  can transcode, with the far party's direction mirrored so hold works end to end. It returns
  a :class:`StreamPlan` per stream saying what each leg uses, for the media server.

Pure code: pycc's ports, keys and ``o=`` line are passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from pycc.sdp.attributes import Crypto, Direction, RtpMap
from pycc.sdp.errors import SdpError
from pycc.sdp.offer_answer import (
    TELEPHONE_EVENT,
    codec_matches,
    make_answer,
    rewrite_connection,
)
from pycc.sdp.session import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
)

__all__ = [
    "SECURE_PROTOS",
    "LocalCodec",
    "StreamPlan",
    "StreamSide",
    "answer_side",
    "local_answer",
    "local_offer",
    "relay_answer",
    "relay_offer",
]

#: SRTP profiles with SDES keys (RFC 4568 §3.1.4): answered when pycc can key them.
SECURE_PROTOS = ("RTP/SAVP", "RTP/SAVPF")
_PLAIN = {"RTP/SAVP": "RTP/AVP", "RTP/SAVPF": "RTP/AVPF"}
_PROTOS = ("RTP/AVP", "RTP/AVPF", *SECURE_PROTOS)
#: Attributes that belong to the offerer's own RTP session and must not reach the far party:
#: its SSRCs and bundling (pycc has its own sockets per stream) and header extensions, which a
#: transcoded stream would not carry.
_SESSION_BOUND = ("ssrc", "ssrc-group", "msid", "msid-semantic", "group", "extmap",
                  "extmap-allow-mixed", "mid", "crypto", "fingerprint", "setup",
                  "rtcp-mux", "rtcp-rsize")
_DYNAMIC = range(96, 128)


@dataclass(frozen=True, slots=True)
class LocalCodec:
    """A codec pycc can decode and encode, as it offers it: ``payload_type`` for static
    payload types (RFC 3551 table 4), ``None`` to take a free dynamic number."""

    encoding: str
    clock_rate: int
    channels: int = 1
    payload_type: int | None = None
    fmtp: str | None = None


@dataclass(frozen=True, slots=True)
class StreamSide:
    """What one party of one stream settled on, seen from pycc."""

    codec: RtpMap | None
    event: RtpMap | None
    #: Where pycc sends RTP and RTCP to this party (None: nowhere, e.g. hold at 0.0.0.0).
    rtp_address: tuple[str, int] | None
    rtcp_address: tuple[str, int] | None
    rtcp_mux: bool
    #: The party sends media to pycc / wants media from pycc.
    sends: bool
    receives: bool
    proto: str
    ptime: float | None
    #: The party's own SDES key for what it sends, chosen from its crypto lines.
    crypto: Crypto | None
    fmtp: str | None
    #: The numbers of ``codec`` and ``event`` in the description pycc sent this party: the
    #: ones it sends with (RFC 3264 §5.1), when they differ from its own.
    local_codec_pt: int | None = None
    local_event_pt: int | None = None

    @property
    def receive_types(self) -> frozenset[int]:
        """Payload types this party may send to pycc for its codec and events."""
        types = {t for t in (self.local_codec_pt, self.local_event_pt) if t is not None}
        if self.codec is not None:
            types.add(self.codec.payload_type)
        if self.event is not None:
            types.add(self.event.payload_type)
        return frozenset(types)

    @property
    def active(self) -> bool:
        return self.codec is not None


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """One ``m=`` line of a settled exchange: the offerer's side and the answerer's side."""

    index: int
    media: str
    offerer: StreamSide
    answerer: StreamSide

    @property
    def relay(self) -> bool:
        """Both sides use the same codec: packets pass without decoding."""
        a, b = self.offerer.codec, self.answerer.codec
        return a is not None and b is not None and codec_matches(a, b)


def relay_offer(
    offer: SessionDescription,
    local_address: str,
    local_ports: Sequence[int],
    *,
    origin: Origin,
    transcodable: Sequence[LocalCodec] = (),
    crypto: Sequence[Sequence[Crypto]] | None = None,
) -> SessionDescription:
    """pycc's offer to the far party for ``offer`` (see the module docstring).

    ``local_ports`` has pycc's far-side RTP port for each ``m=`` line (0 refuses the line);
    ``crypto`` pycc's SDES keys for each line (empty: plain RTP on that line).
    """
    result = rewrite_connection(offer, local_address, local_ports)
    result.origin = origin
    result.remove_attributes(*_SESSION_BOUND)
    for index, media in enumerate(result.media):
        keys = crypto[index] if crypto is not None and index < len(crypto) else ()
        if media.rejected or not media.is_rtp:
            media.remove_attributes("crypto")
            continue
        media.remove_attributes(*_SESSION_BOUND)
        media.proto = _PLAIN.get(media.proto, media.proto)
        if media.media == "audio":
            _add_codecs(media, transcodable)
        for key in keys:
            media.attributes.append(Attribute("crypto", str(key)))
    return result


def _add_codecs(media: MediaDescription, transcodable: Sequence[LocalCodec]) -> None:
    offered = media.codecs()
    used = {int(f) for f in media.formats if f.isdigit()}
    added: list[LocalCodec] = [
        c for c in transcodable if not any(codec_matches(o, c) for o in offered)
    ]
    rates = {c.clock_rate for c in offered if not _is_event(c)}
    rates |= {c.clock_rate for c in added}
    have_events = {c.clock_rate for c in offered if _is_event(c)}
    for rate in sorted(rates - have_events):
        # RFC 4733 §2.1: events at the clock rate of the audio they go with.
        if rate in (8000, 16000, 48000):
            added.append(LocalCodec(TELEPHONE_EVENT, rate, 1, None, "0-16"))
    for codec in added:
        pt = codec.payload_type
        if pt is None or pt in used:
            pt = next((n for n in _DYNAMIC if n not in used), None)
            if pt is None:
                continue
        used.add(pt)
        media.formats.append(str(pt))
        rtpmap = RtpMap(pt, codec.encoding, codec.clock_rate, codec.channels)
        media.attributes.append(Attribute("rtpmap", str(rtpmap)))
        if codec.fmtp:
            media.attributes.append(Attribute("fmtp", f"{pt} {codec.fmtp}"))


def relay_answer(
    offer: SessionDescription,
    far_offer: SessionDescription,
    far_answer: SessionDescription,
    local_address: str,
    local_ports: Sequence[int],
    *,
    origin: Origin,
    transcodable: Sequence[LocalCodec] = (),
    crypto: Sequence[Crypto | None] | None = None,
) -> tuple[SessionDescription, list[StreamPlan]]:
    """pycc's answer to ``offer`` once the far party answered ``far_offer`` with ``far_answer``.

    ``crypto`` holds pycc's key for each line the offerer secured (RTP/SAVP), chosen to match
    the offerer's suite (see :func:`pycc.sdp.crypto.select_crypto`). A line refused by the far
    party, or with no codec pycc can use towards the offerer, is refused.
    Raises :class:`~pycc.sdp.errors.SdpError` when the answer has the wrong number of lines.
    """
    if len(far_answer.media) != len(far_offer.media) or len(far_offer.media) != len(offer.media):
        raise SdpError(
            f"the answer has {len(far_answer.media)} m= lines, the offer {len(far_offer.media)}",
            field="m",
        )
    choices: list[RtpMap | None] = []
    ports: list[int] = []
    plans_far: list[StreamSide] = []
    for index, (offered, far_offered, answered) in enumerate(
        zip(offer.media, far_offer.media, far_answer.media, strict=True)
    ):
        far_side = _with_local_numbers(_side(far_answer, answered, far_offered), far_offered)
        plans_far.append(far_side)
        chosen: RtpMap | None = None
        if far_side.codec is not None and not offered.rejected:
            codecs = [c for c in offered.codecs() if not _is_event(c)]
            chosen = next((c for c in codecs if codec_matches(c, far_side.codec)), None)
            if chosen is None and offered.media == "audio":
                chosen = next(
                    (c for c in codecs if any(codec_matches(c, t) for t in transcodable)), None
                )
        secure = offered.proto in SECURE_PROTOS
        key = crypto[index] if crypto is not None and index < len(crypto) else None
        if secure and key is None:
            chosen = None  # an SRTP line pycc cannot key is refused (RFC 4568 §7.1.2)
        choices.append(chosen)
        ports.append(local_ports[index] if chosen is not None else 0)

    answer = SessionDescription(origin=origin, connection=Connection.for_address(local_address),
                                times=list(offer.times))
    plans: list[StreamPlan] = []
    for index, offered in enumerate(offer.media):
        chosen = choices[index]
        far_side = plans_far[index]
        if chosen is None:
            answer.media.append(MediaDescription(
                media=offered.media, port=0, proto=offered.proto, formats=list(offered.formats)))
            plans.append(StreamPlan(index, offered.media, _inactive(offered), far_side))
            continue
        single = SessionDescription(origin=origin, connection=offer.connection,
                                    attributes=list(offer.attributes), times=list(offer.times),
                                    media=[offered])
        wanted = Direction.from_flags(send=far_side.sends, receive=far_side.receives)
        part = make_answer(
            single, [chosen], local_address, [ports[index]], direction=wanted,
            protos=_PROTOS, rtcp_mux=True,
        )
        media = part.media[0]
        _keep_events(media, offered)
        key = crypto[index] if crypto is not None and index < len(crypto) else None
        if offered.proto in SECURE_PROTOS and key is not None:
            media.attributes.append(Attribute("crypto", str(key)))
        answer.media.append(media)
        offerer_side = _side(offer, offered, None, answered=media)
        plans.append(StreamPlan(index, offered.media, offerer_side, far_side))
    return answer, plans


def _with_local_numbers(side: StreamSide, ours: MediaDescription) -> StreamSide:
    """``side`` with the numbers pycc gave its codec and events in ``ours``."""
    codec, event = side.codec, side.event
    local_codec = local_event = None
    if codec is not None:
        local_codec = next((c.payload_type for c in ours.codecs() if codec_matches(c, codec)),
                           None)
    if event is not None:
        local_event = next((c.payload_type for c in ours.codecs() if codec_matches(c, event)),
                           None)
    return dataclasses.replace(side, local_codec_pt=local_codec, local_event_pt=local_event)


def _keep_events(answer: MediaDescription, offered: MediaDescription) -> None:
    """Accept the offered telephone-event even at another clock rate than the codec's.

    RFC 4733 §2.1 only says events SHOULD use the audio's rate; phones offer
    telephone-event/8000 beside Opus at 48000, and refusing it would lose their keys.
    """
    if answer.rejected or any(_is_event(c) for c in answer.codecs()):
        return
    event = next((c for c in offered.codecs() if _is_event(c)), None)
    if event is None:
        return
    answer.formats.append(str(event.payload_type))
    answer.attributes.append(Attribute("rtpmap", str(event)))
    params = offered.fmtp(event.payload_type)
    if params:
        answer.attributes.append(Attribute("fmtp", f"{event.payload_type} {params}"))


def _is_event(codec: RtpMap) -> bool:
    return codec.encoding.casefold() == TELEPHONE_EVENT


def _inactive(media: MediaDescription) -> StreamSide:
    return StreamSide(None, None, None, None, False, False, False, media.proto, None, None, None)


def _side(
    sdp: SessionDescription,
    media: MediaDescription,
    offered: MediaDescription | None,
    *,
    answered: MediaDescription | None = None,
) -> StreamSide:
    """The party that wrote ``media`` in ``sdp``: what it uses and where it listens.

    For an answer, ``offered`` is the matching offered line (the codec is the answer's first
    one that was offered). For an offer, ``answered`` is pycc's answer to it, which fixes the
    codec and whether RTCP is multiplexed.
    """
    if media.rejected or not media.is_rtp:
        return _inactive(media)
    chosen_from = answered if answered is not None else media
    codecs = [c for c in chosen_from.codecs() if not _is_event(c)]
    if offered is not None:
        offered_codecs = offered.codecs()
        codecs = [c for c in codecs if any(codec_matches(c, o) for o in offered_codecs)]
    codec = codecs[0] if codecs else None
    if codec is not None and answered is not None:
        # The offerer's own numbers for the answered codec.
        codec = next((c for c in media.codecs() if codec_matches(c, codec)), codec)
    event = None
    if codec is not None:
        events = [c for c in (answered or media).codecs() if _is_event(c)]
        # Events at the codec's rate first (RFC 4733 §2.1), else whatever rate was settled.
        event = next((c for c in events if c.clock_rate == codec.clock_rate),
                     events[0] if events else None)
        if event is not None and answered is not None:
            event = next((c for c in media.codecs() if codec_matches(c, event)), event)
    connection = sdp.media_connection(media)
    direction = sdp.media_direction(media)
    if answered is not None:
        # What was settled: the offer's wish limited by pycc's answer (RFC 3264 §6.1).
        settled = answered.direction or Direction.SENDRECV
        direction = Direction.from_flags(send=direction.sends and settled.receives,
                                         receive=direction.receives and settled.sends)
    address: tuple[str, int] | None = None
    rtcp_address: tuple[str, int] | None = None
    if connection is not None and not connection.is_null:
        address = (connection.address, media.port)
        rtcp = media.rtcp
        rtcp_host = rtcp.address if rtcp is not None and rtcp.address else connection.address
        rtcp_address = (rtcp_host, rtcp.port if rtcp is not None else media.port + 1)
    null = connection is not None and connection.is_null
    mux = media.rtcp_mux and (answered.rtcp_mux if answered is not None else True)
    keys = media.crypto
    crypto = keys[0] if keys else None
    if answered is not None:
        # The offerer's key is the one whose tag pycc's answer took (RFC 4568 §5.1.2).
        ours = answered.crypto
        crypto = next((k for k in keys if ours and k.tag == ours[0].tag), None)
    fmtp = media.fmtp(codec.payload_type) if codec is not None else None
    return StreamSide(
        codec=codec,
        event=event,
        rtp_address=address,
        rtcp_address=address if mux else rtcp_address,
        rtcp_mux=mux,
        sends=direction.sends,
        receives=direction.receives and not null,
        proto=media.proto,
        ptime=media.ptime,
        crypto=crypto,
        fmtp=fmtp,
    )


def local_answer(
    offer: SessionDescription,
    local_address: str,
    local_ports: Sequence[int],
    *,
    origin: Origin,
    supported: Sequence[LocalCodec],
    crypto: Sequence[Crypto | None] | None = None,
) -> tuple[SessionDescription, list[StreamSide]]:
    """pycc's own answer to ``offer``, for media pycc terminates, and what the offerer uses.

    Each audio line gets the offerer's first codec in ``supported`` (the offerer's
    preference, RFC 3264 §6.1), plus telephone-event at its rate; other lines are refused.
    ``crypto`` as in :func:`relay_answer`.
    """
    answer = SessionDescription(origin=origin, connection=Connection.for_address(local_address),
                                times=list(offer.times))
    sides: list[StreamSide] = []
    for index, offered in enumerate(offer.media):
        key = crypto[index] if crypto is not None and index < len(crypto) else None
        chosen: RtpMap | None = None
        if offered.media == "audio" and not offered.rejected and offered.is_rtp:
            chosen = next((c for c in offered.codecs() if not _is_event(c)
                           and any(codec_matches(c, s) for s in supported)), None)
        if offered.proto in SECURE_PROTOS and key is None:
            chosen = None
        if chosen is None or index >= len(local_ports):
            answer.media.append(MediaDescription(
                media=offered.media, port=0, proto=offered.proto, formats=list(offered.formats)))
            sides.append(_inactive(offered))
            continue
        single = SessionDescription(origin=origin, connection=offer.connection,
                                    attributes=list(offer.attributes), times=list(offer.times),
                                    media=[offered])
        media = make_answer(single, [chosen], local_address, [local_ports[index]],
                            protos=_PROTOS, rtcp_mux=True).media[0]
        _keep_events(media, offered)
        if offered.proto in SECURE_PROTOS and key is not None:
            media.attributes.append(Attribute("crypto", str(key)))
        answer.media.append(media)
        sides.append(_side(offer, offered, None, answered=media))
    return answer, sides


def answer_side(answer: SessionDescription, offer: SessionDescription,
                index: int) -> StreamSide:
    """What the party that answered pycc's own ``offer`` uses on line ``index``: its codec
    (with pycc's number for it, the one it sends with) and where it listens."""
    if index >= len(answer.media) or index >= len(offer.media):
        raise SdpError(f"the answer has no media line {index}")
    media, ours = answer.media[index], offer.media[index]
    return _with_local_numbers(_side(answer, media, ours), ours)


def local_offer(
    local_address: str,
    local_ports: Sequence[int],
    *,
    origin: Origin,
    supported: Sequence[LocalCodec],
    crypto: Sequence[Crypto] = (),
    direction: Direction = Direction.SENDRECV,
) -> SessionDescription:
    """pycc's own offer of one audio stream with ``supported`` codecs, in that order, and
    telephone-events; ``crypto`` lines make it best-effort SRTP (still RTP/AVP)."""
    media = MediaDescription(media="audio", port=local_ports[0], proto="RTP/AVP", formats=[])
    _add_codecs(media, supported)
    media.attributes.append(Attribute("ptime", "20"))
    media.set_direction(direction)
    media.attributes.append(Attribute("rtcp-mux"))
    for key in crypto:
        media.attributes.append(Attribute("crypto", str(key)))
    return SessionDescription(origin=origin, connection=Connection.for_address(local_address),
                              media=[media])
