"""The SDP offer/answer model (RFC 3264) as pycc's switch and media server use it.

- :func:`make_answer`: RFC 3264 §6 and §6.1 — one ``m=`` line per offered line, in the same
  order; a stream that cannot be accepted keeps its line with port 0; accepted payload formats
  follow the offerer's order and numbers; the direction is the offer's reversed and limited by
  what the answerer wants (sendonly → recvonly, recvonly → sendonly, inactive → inactive); the
  ``t=`` line equals the offer's. RFC 4733 telephone-event formats are kept when offered at the
  clock rate of an accepted codec.
- :func:`negotiated_codecs`: what an exchange settled on, per media line.
- :func:`is_hold`: RFC 3264 §8.4 hold (``sendonly``/``inactive``) and the older RFC 2543 form
  (connection address ``0.0.0.0``).
- :func:`bump_version`: §8 — a changed re-offer carries the ``o=`` version plus one.
- :func:`rewrite_connection`: §8.3.1 — move every stream to a new address and ports, which a
  B2BUA does to anchor the media of a call on itself.

Every function returns a new description; none changes its arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from pycc.sdp.attributes import Direction, RtpMap
from pycc.sdp.errors import SdpError
from pycc.sdp.session import Attribute, Connection, MediaDescription, Origin, SessionDescription

__all__ = [
    "DEFAULT_PROTOS",
    "TELEPHONE_EVENT",
    "CodecLike",
    "CodecSpec",
    "FmtpPolicy",
    "bump_version",
    "codec_matches",
    "is_hold",
    "make_answer",
    "negotiated_codecs",
    "rewrite_connection",
    "stream_on_hold",
]

#: The RTP profiles an answer accepts unless told otherwise. SRTP profiles need keys, which the
#: media server adds (a=crypto) on top of the answer built here.
DEFAULT_PROTOS: tuple[str, ...] = ("RTP/AVP", "RTP/AVPF")
#: RFC 4733 §7.1.1 encoding name of DTMF events.
TELEPHONE_EVENT = "telephone-event"

#: Attributes describing the transport path of the party that wrote the description; once the
#: media is anchored elsewhere they are wrong, and stale ICE candidates would lead the peer
#: straight past the anchor.
_PATH_ATTRIBUTES = (
    "rtcp",
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
)


class CodecLike(Protocol):
    """What the answer needs to know of a codec the answerer supports.

    :class:`~pycc.sdp.attributes.RtpMap` and :class:`CodecSpec` qualify; so does any codec
    class with these three read-only attributes.
    """

    @property
    def encoding(self) -> str: ...

    @property
    def clock_rate(self) -> int: ...

    @property
    def channels(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """A supported codec as SDP names it: ``CodecSpec("opus", 48000, 2)``."""

    encoding: str
    clock_rate: int
    channels: int = 1


#: Chooses the ``a=fmtp`` parameters of an accepted format from the offered ones (``None``
#: leaves the line out). The default echoes the offer's.
FmtpPolicy = Callable[[RtpMap, str | None], str | None]


def codec_matches(offered: CodecLike, supported: CodecLike) -> bool:
    """Same codec: encoding names compare case-insensitively (RFC 4855 §3), rates and channel
    counts exactly."""
    return (
        offered.encoding.casefold() == supported.encoding.casefold()
        and offered.clock_rate == supported.clock_rate
        and offered.channels == supported.channels
    )


def make_answer(
    offer: SessionDescription,
    supported: Sequence[CodecLike],
    local_address: str,
    local_ports: Sequence[int],
    *,
    username: str = "-",
    session_id: str = "0",
    session_version: int = 0,
    session_name: str = "-",
    direction: Direction = Direction.SENDRECV,
    protos: Collection[str] = DEFAULT_PROTOS,
    telephone_event: bool = True,
    rtcp_mux: bool = True,
    answer_fmtp: FmtpPolicy | None = None,
) -> SessionDescription:
    """Answer ``offer`` with the codecs in ``supported`` (RFC 3264 §6).

    ``local_ports`` gives the answerer's port for each offered ``m=`` line, in order; a 0 there
    declines that stream. A stream is also declined when the offer disabled it, its transport is
    not in ``protos``, or none of its formats matches a supported codec. ``direction`` is what
    the answerer wants for every stream; the answer never sends where the offerer will not
    receive, nor receives where it will not send. ``o=`` uses ``username``, ``session_id`` and
    ``session_version``; the caller keeps those across re-answers of one dialog.
    """
    if len(local_ports) != len(offer.media):
        raise ValueError(
            f"{len(local_ports)} local ports given for {len(offer.media)} offered media lines"
        )
    connection = Connection.for_address(local_address)
    origin = Origin(
        username,
        session_id,
        session_version,
        connection.nettype,
        connection.addrtype,
        local_address,
    )
    media = [
        _answer_media(
            offer,
            offered,
            port,
            supported,
            direction=direction,
            protos=protos,
            telephone_event=telephone_event,
            rtcp_mux=rtcp_mux,
            answer_fmtp=answer_fmtp,
        )
        for offered, port in zip(offer.media, local_ports, strict=True)
    ]
    return SessionDescription(
        origin=origin,
        session_name=session_name,
        connection=connection,
        # §6: "The t= line in the answer MUST equal that of the offer."
        times=list(offer.times),
        media=media,
    )


def _answer_media(
    offer: SessionDescription,
    offered: MediaDescription,
    port: int,
    supported: Sequence[CodecLike],
    *,
    direction: Direction,
    protos: Collection[str],
    telephone_event: bool,
    rtcp_mux: bool,
    answer_fmtp: FmtpPolicy | None,
) -> MediaDescription:
    accepted: list[RtpMap] = []
    if port and not offered.rejected and offered.proto in protos and offered.is_rtp:
        accepted = _accepted_codecs(offered, supported, telephone_event=telephone_event)
    if not accepted:
        # §6: a refused stream keeps its m= line with port 0 and, as the grammar needs at least
        # one, the offered formats; its attributes carry no meaning and are left out.
        return MediaDescription(
            media=offered.media, port=0, proto=offered.proto, formats=list(offered.formats)
        )
    answer = MediaDescription(
        media=offered.media,
        port=port,
        proto=offered.proto,
        formats=[str(codec.payload_type) for codec in accepted],
    )
    mapped = offered.rtpmaps()
    for codec in accepted:
        pt = codec.payload_type
        # Static payload types need no rtpmap; mirror the offerer, who chose whether to write it.
        if pt in mapped:
            answer.attributes.append(Attribute("rtpmap", str(codec)))
        params = offered.fmtp(pt)
        if answer_fmtp is not None:
            params = answer_fmtp(codec, params)
        if params is not None:
            answer.attributes.append(Attribute("fmtp", f"{pt} {params}" if params else str(pt)))
    if rtcp_mux and offered.rtcp_mux:
        answer.attributes.append(Attribute("rtcp-mux"))
    wanted = _offered_direction(offer, offered)
    result = Direction.from_flags(
        send=wanted.receives and direction.sends, receive=wanted.sends and direction.receives
    )
    # sendrecv is the default; write it only when the offer spelled its direction out.
    if result is not Direction.SENDRECV or offered.direction or offer.direction:
        answer.set_direction(result)
    return answer


def _accepted_codecs(
    offered: MediaDescription, supported: Sequence[CodecLike], *, telephone_event: bool
) -> list[RtpMap]:
    codecs = offered.codecs()
    matched = {c.payload_type for c in codecs if any(codec_matches(c, s) for s in supported)}
    # RFC 4733 §2.1: events use the clock rate of the audio they go with, so keep the
    # telephone-event formats whose rate matches an accepted codec.
    rates = {c.clock_rate for c in codecs if c.payload_type in matched and not _is_event(c)}
    return [
        c
        for c in codecs
        if c.payload_type in matched or (telephone_event and _is_event(c) and c.clock_rate in rates)
    ]


def _is_event(codec: CodecLike) -> bool:
    return codec.encoding.casefold() == TELEPHONE_EVENT


def _offered_direction(sdp: SessionDescription, media: MediaDescription) -> Direction:
    direction = sdp.media_direction(media)
    connection = sdp.media_connection(media)
    if connection is not None and connection.is_null:
        # RFC 2543 hold: the offerer cannot receive at 0.0.0.0, whatever the attribute says.
        return Direction.from_flags(send=direction.sends, receive=False)
    return direction


def negotiated_codecs(offer: SessionDescription, answer: SessionDescription) -> list[list[RtpMap]]:
    """The codecs both sides accepted, per media line, in the answer's order.

    Formats are matched by encoding, clock rate and channels rather than by number (RFC 3264
    §6.1 only says the answerer SHOULD reuse the offerer's numbers), and returned with the
    answer's payload type numbers. A line refused on either side gives an empty list.
    """
    if len(answer.media) != len(offer.media):
        # §6: "The answer MUST contain exactly the same number of "m=" lines as the offer."
        raise SdpError(
            f"the answer has {len(answer.media)} m= lines, the offer {len(offer.media)}",
            field="m",
        )
    result: list[list[RtpMap]] = []
    for offered, answered in zip(offer.media, answer.media, strict=True):
        if offered.rejected or answered.rejected:
            result.append([])
            continue
        offered_codecs = offered.codecs()
        result.append(
            [c for c in answered.codecs() if any(codec_matches(c, o) for o in offered_codecs)]
        )
    return result


def stream_on_hold(sdp: SessionDescription, media: MediaDescription) -> bool:
    """True when the author of ``sdp`` does not want to receive on ``media``: ``sendonly`` or
    ``inactive`` (RFC 3264 §8.4), or a null connection address (RFC 2543)."""
    return not _offered_direction(sdp, media).receives


def is_hold(sdp: SessionDescription) -> bool:
    """True when ``sdp`` puts the call on hold: every stream in use is on hold.

    A description whose streams are all refused (port 0) is not a hold.
    """
    active = [media for media in sdp.media if not media.rejected]
    return bool(active) and all(stream_on_hold(sdp, media) for media in active)


def bump_version(sdp: SessionDescription) -> SessionDescription:
    """A copy of ``sdp`` with the ``o=`` session version plus one, for a changed re-offer (§8)."""
    result = sdp.copy()
    result.origin = dataclasses.replace(sdp.origin, sess_version=sdp.origin.sess_version + 1)
    return result


def rewrite_connection(
    sdp: SessionDescription, address: str, ports: Sequence[int]
) -> SessionDescription:
    """A copy of ``sdp`` whose streams all go to ``address`` and ``ports`` (one per ``m=``).

    The address becomes the session-level ``c=`` and media-level ones are dropped; refused
    streams keep port 0. Attributes that describe the old transport path (``a=rtcp``, ICE) are
    removed, so RTCP follows the RFC 3550 default of port + 1 or ``rtcp-mux``. A stream held
    the RFC 2543 way (``c=0.0.0.0``) keeps its meaning through a direction attribute, since
    the new address is a real one. ``o=`` is left to the caller, who owns the session version.
    """
    if len(ports) != len(sdp.media):
        raise ValueError(f"{len(ports)} ports given for {len(sdp.media)} media lines")
    result = sdp.copy()
    result.connection = Connection.for_address(address)
    result.remove_attributes(*_PATH_ATTRIBUTES)
    for original, media, port in zip(sdp.media, result.media, ports, strict=True):
        connection = sdp.media_connection(original)
        if connection is not None and connection.is_null:
            media.set_direction(_offered_direction(sdp, original))
        media.connection = None
        if not media.rejected:
            media.port = port
        media.remove_attributes(*_PATH_ATTRIBUTES)
    return result
