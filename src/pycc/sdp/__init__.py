"""SDP (RFC 8866) session descriptions and the offer/answer model (RFC 3264).

:mod:`pycc.sdp.session` holds the model with its parser and serializer,
:mod:`pycc.sdp.attributes` the typed views of the attributes pycc interprets (rtpmap, fmtp,
direction, rtcp, crypto, ptime), :mod:`pycc.sdp.offer_answer` the RFC 3264 helpers. Pure code:
no I/O, no clock.
"""

from __future__ import annotations

from pycc.sdp.attributes import STATIC_PAYLOAD_TYPES, Crypto, Direction, Rtcp, RtpMap
from pycc.sdp.errors import SdpError
from pycc.sdp.offer_answer import (
    CodecLike,
    CodecSpec,
    bump_version,
    is_hold,
    make_answer,
    negotiated_codecs,
    rewrite_connection,
)
from pycc.sdp.session import (
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
    UnknownLine,
)

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "CodecLike",
    "CodecSpec",
    "Connection",
    "Crypto",
    "Direction",
    "MediaDescription",
    "Origin",
    "Rtcp",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "Timing",
    "UnknownLine",
    "bump_version",
    "is_hold",
    "make_answer",
    "negotiated_codecs",
    "rewrite_connection",
]
