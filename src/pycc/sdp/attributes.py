"""Typed views of the SDP attributes a soft switch interprets.

A session description keeps every ``a=`` line as an opaque :class:`~pycc.sdp.session.Attribute`
so that it re-serializes byte for byte; the classes here parse the values pycc acts on:

- media direction, RFC 8866 §6.7 (``sendrecv``, ``sendonly``, ``recvonly``, ``inactive``);
- ``rtpmap`` (RFC 8866 §6.6) and the static payload types of RFC 3551 §6 tables 4 and 5;
- ``fmtp`` (RFC 8866 §6.15) and its ``name=value;...`` parameter convention;
- ``ptime`` (RFC 8866 §6.4), ``rtcp`` (RFC 3605 §2.1), ``rtcp-mux`` (RFC 5761 §5.1.1);
- ``crypto`` (RFC 4568 §9.1, SDES keys for SRTP).

Each ``parse`` raises :class:`~pycc.sdp.errors.SdpError` naming the attribute.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

from pycc.sdp.errors import SdpError

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Crypto",
    "Direction",
    "Rtcp",
    "RtpMap",
    "fmtp_parameters",
    "is_digits",
    "parse_fmtp",
    "parse_integer",
    "parse_payload_type",
    "parse_ptime",
]


def is_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits.

    ``str.isdigit`` alone accepts superscripts and other scripts' digits, and ``int()`` accepts
    signs, spaces and underscores; none of those are SDP integers.
    """
    return text.isascii() and text.isdigit()


def parse_integer(
    text: str, what: str, field: str, *, low: int = 0, high: int | None = None
) -> int:
    """Parse a non-negative SDP integer within ``low..high``, naming ``what`` on failure."""
    if not is_digits(text):
        raise SdpError(f"{what} {text!r} is not a number", field=field)
    value = int(text)
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f">= {low}"
        raise SdpError(f"{what} {value} is out of range ({bound})", field=field)
    return value


def parse_payload_type(text: str, field: str) -> int:
    """Parse an RTP payload type number (7 bits, RFC 3550 §5.1)."""
    return parse_integer(text, "payload type", field, high=127)


class Direction(StrEnum):
    """The media direction attributes of RFC 8866 §6.7, as seen by the description's author."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def from_flags(cls, *, send: bool, receive: bool) -> Direction:
        if send:
            return cls.SENDRECV if receive else cls.SENDONLY
        return cls.RECVONLY if receive else cls.INACTIVE

    def reversed(self) -> Direction:
        """The same stream seen from the other end: what one side sends, the other receives."""
        return Direction.from_flags(send=self.receives, receive=self.sends)


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`` (RFC 8866 §6.6).

    ``channels`` is the audio encoding parameter; it is 1 when omitted, and omitted again when
    written back as 1.
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    def __str__(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{suffix}"

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        # Every offer and answer that crosses pycc names the same few mappings, and they
        # are read several times on the way: one parse per distinct line is enough. Only
        # lines of a usual length are kept, so a peer cannot fill the cache with long ones.
        if len(value) <= _CACHED_RTPMAP_LENGTH:
            return _cached_rtpmap(value)
        return _parse_rtpmap(value)


#: The longest ``a=rtpmap`` value whose parse is kept ("96 telephone-event/48000/2" is 25).
_CACHED_RTPMAP_LENGTH = 48


def _parse_rtpmap(value: str) -> RtpMap:
    pt_text, _, mapping = value.partition(" ")
    pt = parse_payload_type(pt_text, "rtpmap")
    parts = mapping.strip().split("/")
    if len(parts) not in (2, 3) or not parts[0]:
        raise SdpError(
            f"expected '<pt> <encoding>/<clock rate>[/<channels>]', got {value!r}",
            field="rtpmap",
        )
    clock_rate = parse_integer(parts[1], "clock rate", "rtpmap", low=1)
    channels = parse_integer(parts[2], "channels", "rtpmap", low=1) if len(parts) == 3 else 1
    return RtpMap(pt, parts[0], clock_rate, channels)


_cached_rtpmap = functools.lru_cache(maxsize=1024)(_parse_rtpmap)


#: RFC 3551 §6 tables 4 and 5: payload types that need no rtpmap line.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    pt: RtpMap(pt, name, rate, channels)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, 1),
        (3, "GSM", 8000, 1),
        (4, "G723", 8000, 1),
        (5, "DVI4", 8000, 1),
        (6, "DVI4", 16000, 1),
        (7, "LPC", 8000, 1),
        (8, "PCMA", 8000, 1),
        # G.722 samples at 16 kHz but RFC 3551 §4.5.2 fixes its RTP clock at 8000 for history.
        (9, "G722", 8000, 1),
        (10, "L16", 44100, 2),
        (11, "L16", 44100, 1),
        (12, "QCELP", 8000, 1),
        (13, "CN", 8000, 1),
        (14, "MPA", 90000, 1),
        (15, "G728", 8000, 1),
        (16, "DVI4", 11025, 1),
        (17, "DVI4", 22050, 1),
        (18, "G729", 8000, 1),
        (25, "CelB", 90000, 1),
        (26, "JPEG", 90000, 1),
        (28, "nv", 90000, 1),
        (31, "H261", 90000, 1),
        (32, "MPV", 90000, 1),
        (33, "MP2T", 90000, 1),
        (34, "H263", 90000, 1),
    )
}


def parse_fmtp(value: str, *, numeric: bool = True) -> tuple[str, str]:
    """Split ``a=fmtp:<format> <parameters>`` into the format and its parameter string.

    With ``numeric`` (RTP media) the format must be a payload type number.
    """
    fmt, _, params = value.partition(" ")
    if not fmt:
        raise SdpError(f"expected '<format> <parameters>', got {value!r}", field="fmtp")
    if numeric:
        parse_payload_type(fmt, "fmtp")
    return fmt, params.strip()


def fmtp_parameters(params: str) -> dict[str, str]:
    """Split the common ``name=value;name=value`` form of fmtp parameters.

    RFC 8866 leaves the syntax to each format; most (opus, H264, VP8) use this form. Items
    without ``=`` (telephone-event's ``0-15``) map to ``""`` so no information is lost.
    """
    result: dict[str, str] = {}
    for item in params.split(";"):
        name, _, value = item.strip().partition("=")
        if name:
            result[name.strip()] = value.strip()
    return result


def parse_ptime(value: str) -> float:
    """``a=ptime`` in milliseconds; RFC 8866 §6.4 allows a decimal (``non-zero-int-or-real``)."""
    whole, dot, fraction = value.strip().partition(".")
    if not is_digits(whole) or (dot and not is_digits(fraction)):
        raise SdpError(f"packet time {value!r} is not a number", field="ptime")
    ptime = float(value)
    if ptime <= 0:
        raise SdpError("packet time must be greater than zero", field="ptime")
    return ptime


@dataclass(frozen=True, slots=True)
class Rtcp:
    """``a=rtcp:<port> [<nettype> <addrtype> <connection-address>]`` (RFC 3605 §2.1).

    The address part is optional; without it RTCP goes to the stream's connection address.
    """

    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None

    @classmethod
    def parse(cls, value: str) -> Rtcp:
        parts = value.split()
        if len(parts) not in (1, 4):
            raise SdpError(
                f"expected '<port> [<nettype> <addrtype> <address>]', got {value!r}", field="rtcp"
            )
        port = parse_integer(parts[0], "port", "rtcp", high=65535)
        if len(parts) == 1:
            return cls(port)
        return cls(port, parts[1], parts[2], parts[3])

    def __str__(self) -> str:
        if self.address is None:
            return str(self.port)
        return f"{self.port} {self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class Crypto:
    """``a=crypto:<tag> <crypto-suite> <key-params> [<session-params>...]`` (RFC 4568 §9.1).

    ``key_params`` is kept whole (``inline:<base64 key||salt>[|lifetime][|MKI:length]``, several
    joined by ``;``); the SRTP layer decodes it. Session parameters stay as written.
    """

    tag: int
    suite: str
    #: Holds the key: never shown in a repr, so it cannot reach a log by accident.
    key_params: str = field(repr=False)
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> Crypto:
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(
                f"expected '<tag> <suite> <key-params> [<session-params>]', got {len(parts)}"
                " fields",
                field="crypto",
            )
        # RFC 4568 §9.1: tag = 1*9DIGIT.
        if len(parts[0]) > 9:
            raise SdpError(f"tag {parts[0]!r} has more than 9 digits", field="crypto")
        tag = parse_integer(parts[0], "tag", "crypto")
        return cls(tag, parts[1], parts[2], tuple(parts[3:]))

    @property
    def inline_key(self) -> str | None:
        """The base64 key and salt of the first ``inline:`` key parameter, if any."""
        for key_param in self.key_params.split(";"):
            method, _, info = key_param.partition(":")
            if method == "inline":
                return info.split("|", 1)[0]
        return None

    def __str__(self) -> str:
        return " ".join((str(self.tag), self.suite, self.key_params, *self.session_params))
