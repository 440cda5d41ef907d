"""SDP session descriptions: the model, its parser and its serializer (RFC 8866).

:meth:`SessionDescription.parse` reads the text of RFC 8866 §5 and §9 into dataclasses;
:meth:`SessionDescription.to_bytes` writes it back with CRLF line ends in the strict order of
§5 (``v o s i u e p c b t r z k a``, then per media ``m i c b k a``). Connection addresses
follow §5.7 with the IPv6 forms of RFC 5118 §4.5/§4.6 (``c=IN IP6 2001:db8::1``, IPv4-mapped
``::ffff:192.0.2.1``, multicast ``/ttl/count`` suffixes).

Parsing is tolerant where peers differ in harmless ways and strict where a value would be
misread:

- LF-only line ends, a final blank line, repeated spaces between fields and fields out of the
  §5 order are accepted;
- ``a=`` lines are kept as written (name and raw value), and lines whose type letter SDP does
  not define are kept with their position (§5 lets a parser ignore such a description; a B2BUA
  passing SDP through must not lose them), so serializing a parsed, well-ordered description
  gives back the same bytes;
- the mandatory ``v= o= s= t=`` lines, numbers, ports and RTP payload types are checked, and
  any failure raises :class:`~pycc.sdp.errors.SdpError` naming the line and field.

Text is UTF-8 (§5); undecodable bytes survive a round trip through ``surrogateescape``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import TypeAlias

from pycc.sdp.attributes import (
    STATIC_PAYLOAD_TYPES,
    Crypto,
    Direction,
    Rtcp,
    RtpMap,
    fmtp_parameters,
    is_digits,
    parse_fmtp,
    parse_integer,
    parse_payload_type,
    parse_ptime,
)
from pycc.sdp.errors import SdpError

__all__ = [
    "Attribute",
    "Bandwidth",
    "Connection",
    "MediaDescription",
    "Origin",
    "SessionDescription",
    "Timing",
    "UnknownLine",
]

#: The §5 line order; each letter is also the anchor of the unknown lines that follow it.
_SESSION_ORDER = ("v", "o", "s", "i", "u", "e", "p", "c", "b", "t", "z", "k", "a")
_MEDIA_ORDER = ("m", "i", "c", "b", "k", "a")
#: Lines that only have a meaning at session level.
_SESSION_ONLY = frozenset("vosueptrz")
_SINGLE_SESSION = frozenset("vosiuczk")
_SINGLE_MEDIA = frozenset("ick")
_REQUIRED = ("o", "s", "t")
_DIRECTIONS = frozenset(d.value for d in Direction)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def _fields(value: str) -> list[str]:
    # §5 separates fields by exactly one space; extra spaces from sloppy peers are not data.
    return [token for token in value.split(" ") if token]


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`` (§5.2).

    ``sess_id`` is an opaque identifier and kept as text; ``sess_version`` is a number because
    RFC 3264 §8 requires it to grow by one with every changed offer.
    """

    username: str
    sess_id: str
    sess_version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = _fields(value)
        if len(parts) != 6:
            raise SdpError(
                "expected '<username> <sess-id> <sess-version> <nettype> <addrtype> <address>',"
                f" got {len(parts)} fields",
                field="o",
            )
        version = parse_integer(parts[2], "sess-version", "o")
        return cls(parts[0], parts[1], version, parts[3], parts[4], parts[5])

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (§5.7).

    For multicast the address carries suffixes: ``IP4`` ``address/ttl[/count]``, ``IP6``
    ``address[/count]`` (IPv6 has no TTL). They are split into ``ttl`` and ``count``; for other
    address types the address is kept as written.
    """

    nettype: str
    addrtype: str
    address: str
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """An ``IN`` connection for a literal or host name (IPv6 when it contains ``:``)."""
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = _fields(value)
        if len(parts) != 3:
            raise SdpError(
                f"expected '<nettype> <addrtype> <connection-address>', got {value!r}", field="c"
            )
        nettype, addrtype, address = parts
        pieces = address.split("/")
        ttl: int | None = None
        count: int | None = None
        if addrtype == "IP4" and len(pieces) > 1:
            if len(pieces) > 3:
                raise SdpError(f"too many '/' in address {address!r}", field="c")
            ttl = parse_integer(pieces[1], "TTL", "c", high=255)
            if len(pieces) == 3:
                count = parse_integer(pieces[2], "address count", "c", low=1)
            address = pieces[0]
        elif addrtype == "IP6" and len(pieces) > 1:
            if len(pieces) > 2:
                raise SdpError(f"too many '/' in IPv6 address {address!r}", field="c")
            count = parse_integer(pieces[1], "address count", "c", low=1)
            address = pieces[0]
        if not address:
            raise SdpError("empty connection address", field="c")
        return cls(nettype, addrtype, address, ttl, count)

    def __str__(self) -> str:
        suffix = ""
        if self.ttl is not None:
            if self.addrtype != "IP4":
                raise SdpError(f"a TTL is only defined for IP4, not {self.addrtype}", field="c")
            suffix += f"/{self.ttl}"
        if self.count is not None:
            if self.addrtype == "IP4" and self.ttl is None:
                raise SdpError("an IP4 address count needs a TTL before it", field="c")
            if self.addrtype not in ("IP4", "IP6"):
                raise SdpError(f"no address count is defined for {self.addrtype}", field="c")
            suffix += f"/{self.count}"
        return f"{self.nettype} {self.addrtype} {self.address}{suffix}"

    @property
    def ip(self) -> IPAddress | None:
        """The address as an :mod:`ipaddress` object, or ``None`` for a host name."""
        try:
            return ipaddress.ip_address(self.address)
        except ValueError:
            return None

    @property
    def is_null(self) -> bool:
        """True for the unspecified address that RFC 2543 used to put a stream on hold.

        ``0.0.0.0`` is the historical form; ``::`` and its IPv4-mapped spelling
        ``::ffff:0.0.0.0`` mean the same in an ``IP6`` line.
        """
        ip = self.ip
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_unspecified
        return ip is not None and ip.is_unspecified


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (§5.8), e.g. ``AS:64`` in kilobits per second."""

    bwtype: str
    bandwidth: int

    @classmethod
    def parse(cls, value: str) -> Bandwidth:
        bwtype, sep, amount = value.partition(":")
        if not sep or not bwtype:
            raise SdpError(f"expected '<bwtype>:<bandwidth>', got {value!r}", field="b")
        return cls(bwtype, parse_integer(amount, "bandwidth", "b"))

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start-time> <stop-time>`` (§5.9, NTP seconds; ``0 0`` means unbounded) and the raw
    ``r=`` repeat lines (§5.10) that belong to it."""

    start: int
    stop: int
    repeats: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> Timing:
        parts = _fields(value)
        if len(parts) != 2:
            raise SdpError(f"expected '<start-time> <stop-time>', got {value!r}", field="t")
        return cls(
            parse_integer(parts[0], "start time", "t"), parse_integer(parts[1], "stop time", "t")
        )

    def __str__(self) -> str:
        return f"{self.start} {self.stop}"


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<name>`` (a flag) or ``a=<name>:<value>`` (§5.13), value kept exactly as written.

    ``value`` is ``None`` for a flag and ``""`` for ``a=name:`` so both round-trip.
    """

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, sep, value = text.partition(":")
        if not name:
            raise SdpError(f"empty attribute name in {text!r}", field="a")
        return cls(name, value if sep else None)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"

    def __repr__(self) -> str:
        # Key material (SDES crypto, key-mgmt) must never reach a log through a repr.
        value = "<redacted>" if self.name in _SECRET_ATTRIBUTES else repr(self.value)
        return f"Attribute(name={self.name!r}, value={value})"


_SECRET_ATTRIBUTES = frozenset({"crypto", "key-mgmt"})


@dataclass(frozen=True, slots=True)
class UnknownLine:
    """A line whose type letter SDP does not define, kept verbatim.

    ``after`` is the type letter of the known line it followed within its section (``"v"`` or
    ``"m"`` when it came first), so the serializer puts it back in the same place.
    """

    type: str
    value: str
    after: str


class _AttributeList:
    """Attribute look-ups shared by the session and each media description."""

    attributes: list[Attribute]

    def attribute(self, name: str) -> Attribute | None:
        """The first attribute called ``name``."""
        return next((a for a in self.attributes if a.name == name), None)

    def attribute_values(self, name: str) -> list[str]:
        """The values of every attribute called ``name`` (``""`` for a flag)."""
        return [a.value or "" for a in self.attributes if a.name == name]

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def set_attribute(self, name: str, value: str | None = None) -> None:
        """Replace the first ``name`` attribute in place (dropping repeats), or append one."""
        new = Attribute(name, value)
        kept: list[Attribute] = []
        placed = False
        for attr in self.attributes:
            if attr.name != name:
                kept.append(attr)
            elif not placed:
                kept.append(new)
                placed = True
        if not placed:
            kept.append(new)
        self.attributes = kept

    def remove_attributes(self, *names: str) -> None:
        self.attributes = [a for a in self.attributes if a.name not in names]

    @property
    def direction(self) -> Direction | None:
        """The direction attribute written in this section, ``None`` when absent."""
        for attr in self.attributes:
            if attr.value is None and attr.name in _DIRECTIONS:
                return Direction(attr.name)
        return None

    def set_direction(self, direction: Direction | None) -> None:
        """Write ``direction`` where the old one was (or append it); ``None`` removes it."""
        kept: list[Attribute] = []
        placed = direction is None
        for attr in self.attributes:
            if attr.name not in _DIRECTIONS or attr.value is not None:
                kept.append(attr)
            elif not placed and direction is not None:
                kept.append(Attribute(direction.value))
                placed = True
        if not placed and direction is not None:
            kept.append(Attribute(direction.value))
        self.attributes = kept


@dataclass(kw_only=True)
class MediaDescription(_AttributeList):
    """One ``m=`` section (§5.14) with its ``i= c= b= k= a=`` lines.

    ``formats`` are kept as text; for RTP profiles they are payload type numbers.
    """

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int = 1
    information: str | None = None
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    unknown_lines: list[UnknownLine] = field(default_factory=list)

    @classmethod
    def parse_media_line(cls, value: str) -> MediaDescription:
        """Parse the value of ``m=<media> <port>[/<count>] <proto> <fmt> ...``."""
        parts = _fields(value)
        if len(parts) < 3:
            raise SdpError(
                f"expected '<media> <port> <proto> <format>...', got {value!r}", field="m"
            )
        if len(parts) == 3:
            raise SdpError("no media formats", field="m")
        port_text, slash, count_text = parts[1].partition("/")
        port = parse_integer(port_text, "port", "m", high=65535)
        count = parse_integer(count_text, "port count", "m", low=1) if slash else 1
        media = cls(media=parts[0], port=port, port_count=count, proto=parts[2], formats=parts[3:])
        if media.is_rtp:
            for fmt in media.formats:
                parse_payload_type(fmt, "m")
        return media

    def media_line(self) -> str:
        """The value of this section's ``m=`` line."""
        if not self.formats:
            raise SdpError("no media formats", field="m")
        count = f"/{self.port_count}" if self.port_count != 1 else ""
        return f"{self.media} {self.port}{count} {self.proto} {' '.join(self.formats)}"

    @property
    def is_rtp(self) -> bool:
        """True for the RTP profiles (``RTP/AVP``, ``RTP/SAVPF``, ``UDP/TLS/RTP/SAVPF`` ...)."""
        return "RTP" in self.proto.upper().split("/")

    @property
    def rejected(self) -> bool:
        """Port zero: the stream is refused or disabled (RFC 3264 §5.1, §6)."""
        return self.port == 0

    @property
    def payload_types(self) -> list[int]:
        """The RTP payload type numbers of the ``m=`` line, in its order of preference."""
        return [int(fmt) for fmt in self.formats if is_digits(fmt)] if self.is_rtp else []

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Every ``a=rtpmap`` of the section by payload type (the first one wins)."""
        result: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            rtpmap = RtpMap.parse(value)
            result.setdefault(rtpmap.payload_type, rtpmap)
        return result

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The mapping of a payload type: its ``a=rtpmap`` line or the RFC 3551 static one."""
        return self.rtpmaps().get(payload_type, STATIC_PAYLOAD_TYPES.get(payload_type))

    def codecs(self) -> list[RtpMap]:
        """The mapped payload formats of the ``m=`` line, in its order; unmapped ones skipped."""
        explicit = self.rtpmaps()
        result: list[RtpMap] = []
        for pt in self.payload_types:
            rtpmap = explicit.get(pt, STATIC_PAYLOAD_TYPES.get(pt))
            if rtpmap is not None:
                result.append(rtpmap)
        return result

    def fmtp(self, fmt: int | str) -> str | None:
        """The parameter string of ``a=fmtp:<fmt>``, or ``None``."""
        wanted = str(fmt)
        for value in self.attribute_values("fmtp"):
            name, params = parse_fmtp(value, numeric=False)
            if name == wanted:
                return params
        return None

    def fmtp_parameters(self, fmt: int | str) -> dict[str, str]:
        """The ``name=value;...`` parameters of ``a=fmtp:<fmt>`` (empty when there are none)."""
        params = self.fmtp(fmt)
        return fmtp_parameters(params) if params is not None else {}

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux``: RTP and RTCP share the one port (RFC 5761 §5.1.1)."""
        return self.has_attribute("rtcp-mux")

    @property
    def rtcp(self) -> Rtcp | None:
        """``a=rtcp``: where RTCP goes when it is not on port + 1 (RFC 3605)."""
        value = next(iter(self.attribute_values("rtcp")), None)
        return Rtcp.parse(value) if value is not None else None

    @property
    def crypto(self) -> list[Crypto]:
        """The SDES ``a=crypto`` offers of the section, in order (RFC 4568)."""
        return [Crypto.parse(value) for value in self.attribute_values("crypto")]

    def copy(self) -> MediaDescription:
        """A copy that can be changed without changing this one (the items of its lists are
        immutable, so new lists are enough: cheaper than `copy.deepcopy`)."""
        return dataclasses.replace(
            self, formats=list(self.formats), bandwidths=list(self.bandwidths),
            attributes=list(self.attributes), unknown_lines=list(self.unknown_lines))

    @property
    def ptime(self) -> float | None:
        """``a=ptime`` in milliseconds, or ``None``."""
        value = next(iter(self.attribute_values("ptime")), None)
        return parse_ptime(value) if value is not None else None


_PLACEHOLDER_ORIGIN = Origin("-", "0", 0, "IN", "IP4", "0.0.0.0")


@dataclass(kw_only=True)
class SessionDescription(_AttributeList):
    """A whole SDP body (§5): session-level fields and the media descriptions."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    times: list[Timing] = field(default_factory=lambda: [Timing(0, 0)])
    timezones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    unknown_lines: list[UnknownLine] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; raises :class:`SdpError` naming the line and field at fault."""
        text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
        return _Parser().parse(text)

    def to_bytes(self) -> bytes:
        """The description in the §5 order with CRLF line ends."""
        try:
            return str(self).encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise SdpError(f"text cannot be encoded as UTF-8: {exc.reason}") from None

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __str__(self) -> str:
        lines = _section_lines(_session_groups(self), self.unknown_lines)
        for media in self.media:
            lines += _section_lines(_media_groups(media), media.unknown_lines)
        return "".join(f"{kind}={value}\r\n" for kind, value in lines)

    def copy(self) -> SessionDescription:
        """A copy that can be changed without changing this one, media descriptions
        included."""
        return dataclasses.replace(
            self, emails=list(self.emails), phones=list(self.phones),
            bandwidths=list(self.bandwidths), times=list(self.times),
            attributes=list(self.attributes), media=[media.copy() for media in self.media],
            unknown_lines=list(self.unknown_lines))

    def media_direction(self, media: MediaDescription) -> Direction:
        """The direction in force for ``media``: its own attribute, else the session's, else
        ``sendrecv`` (§6.7)."""
        return media.direction or self.direction or Direction.SENDRECV

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """The connection in force for ``media``: its own ``c=``, else the session's (§5.7)."""
        return media.connection or self.connection


Groups = list[tuple[str, list[tuple[str, str]]]]


def _session_groups(sd: SessionDescription) -> Groups:
    timing: list[tuple[str, str]] = []
    for t in sd.times:
        timing.append(("t", str(t)))
        timing += [("r", r) for r in t.repeats]
    return [
        ("v", [("v", str(sd.version))]),
        ("o", [("o", str(sd.origin))]),
        ("s", [("s", sd.session_name)]),
        ("i", _optional("i", sd.information)),
        ("u", _optional("u", sd.uri)),
        ("e", [("e", e) for e in sd.emails]),
        ("p", [("p", p) for p in sd.phones]),
        ("c", _optional("c", str(sd.connection) if sd.connection else None)),
        ("b", [("b", str(b)) for b in sd.bandwidths]),
        ("t", timing),
        ("z", _optional("z", sd.timezones)),
        ("k", _optional("k", sd.key)),
        ("a", [("a", str(a)) for a in sd.attributes]),
    ]


def _media_groups(media: MediaDescription) -> Groups:
    return [
        ("m", [("m", media.media_line())]),
        ("i", _optional("i", media.information)),
        ("c", _optional("c", str(media.connection) if media.connection else None)),
        ("b", [("b", str(b)) for b in media.bandwidths]),
        ("k", _optional("k", media.key)),
        ("a", [("a", str(a)) for a in media.attributes]),
    ]


def _optional(kind: str, value: str | None) -> list[tuple[str, str]]:
    return [] if value is None else [(kind, value)]


def _section_lines(groups: Groups, unknown: list[UnknownLine]) -> list[tuple[str, str]]:
    anchors = {anchor for anchor, _ in groups}
    lines: list[tuple[str, str]] = []
    for anchor, group in groups:
        lines += group
        lines += [(u.type, u.value) for u in unknown if u.after == anchor]
    # Unknown lines anchored to nothing this section has go last rather than vanish.
    lines += [(u.type, u.value) for u in unknown if u.after not in anchors]
    for kind, value in lines:
        _check_line(kind, value)
    return lines


def _check_line(kind: str, value: str) -> None:
    # A CR or LF in a value would end the line early and let text from an API or another leg
    # inject lines into the description.
    if len(kind) != 1 or not (kind.isascii() and kind.isalpha()):
        raise SdpError(f"invalid line type {kind!r}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise SdpError(f"value {value!r} contains CR, LF or NUL", field=kind)


class _Parser:
    """One pass over the lines; each ``m=`` opens a new media section."""

    def __init__(self) -> None:
        self.session = SessionDescription(origin=_PLACEHOLDER_ORIGIN, times=[])
        self.media: MediaDescription | None = None
        self.seen: set[str] = set()
        self.last = "v"

    def parse(self, text: str) -> SessionDescription:
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            raise SdpError("empty description; it must start with v=", line=1, field="v")
        for number, line in enumerate(lines, 1):
            kind, value = line[:1], line[2:]
            if line[1:2] != "=" or not (kind.isascii() and kind.isalpha()):
                raise SdpError(f"expected '<type>=<value>', got {line[:40]!r}", line=number)
            if number == 1 and kind != "v":
                raise SdpError(
                    f"the description must start with v=, not {kind}=", line=1, field="v"
                )
            if "\r" in value or "\0" in value:
                raise SdpError("value contains a CR or NUL character", line=number, field=kind)
            try:
                self._line(kind, value)
            except SdpError as exc:
                raise SdpError(exc.reason, line=number, field=exc.field or kind) from None
        if self.media is None:
            self._check_required()
        # Unknown lines are written back after their anchors in §5 order; list them in that
        # order too, so a description read from out-of-order text equals its own re-reading.
        sd = self.session
        sd.unknown_lines.sort(key=lambda line: _SESSION_ORDER.index(line.after))
        for media in sd.media:
            media.unknown_lines.sort(key=lambda line: _MEDIA_ORDER.index(line.after))
        return sd

    def _line(self, kind: str, value: str) -> None:
        if kind == "m":
            if self.media is None:
                self._check_required()
            self.media = MediaDescription.parse_media_line(value)
            self.session.media.append(self.media)
            self.seen, self.last = set(), "m"
            return
        if self.media is None:
            known = self._session_line(kind, value)
        elif kind in _SESSION_ONLY:
            raise SdpError(f"{kind}= is not allowed in a media description")
        else:
            known = self._media_line(self.media, kind, value)
        if known:
            self.last = "t" if kind == "r" else kind
            return
        target = self.media if self.media is not None else self.session
        target.unknown_lines.append(UnknownLine(kind, value, self.last))

    def _check_required(self) -> None:
        # Called when the session part ends (first m= or end of text), on its own seen set.
        for kind in _REQUIRED:
            if kind not in self.seen:
                raise SdpError(f"missing {kind}= line", field=kind)

    def _once(self, kind: str, singles: frozenset[str]) -> None:
        if kind in singles and kind in self.seen:
            raise SdpError(f"more than one {kind}= line in this section")
        self.seen.add(kind)

    def _session_line(self, kind: str, value: str) -> bool:
        sd = self.session
        if kind not in _SESSION_ORDER and kind != "r":
            return False
        self._once(kind, _SINGLE_SESSION)
        if kind == "v":
            if value != "0":
                raise SdpError(f"unsupported protocol version {value!r} (only 0 exists)")
        elif kind == "o":
            sd.origin = Origin.parse(value)
        elif kind == "s":
            sd.session_name = value
        elif kind == "i":
            sd.information = value
        elif kind == "u":
            sd.uri = value
        elif kind == "e":
            sd.emails.append(value)
        elif kind == "p":
            sd.phones.append(value)
        elif kind == "c":
            sd.connection = Connection.parse(value)
        elif kind == "b":
            sd.bandwidths.append(Bandwidth.parse(value))
        elif kind == "t":
            sd.times.append(Timing.parse(value))
        elif kind == "r":
            if not sd.times:
                raise SdpError("r= must follow a t= line")
            last = sd.times[-1]
            sd.times[-1] = Timing(last.start, last.stop, (*last.repeats, value))
        elif kind == "z":
            sd.timezones = value
        elif kind == "k":
            sd.key = value
        else:
            sd.attributes.append(Attribute.parse(value))
        return True

    def _media_line(self, media: MediaDescription, kind: str, value: str) -> bool:
        if kind not in _MEDIA_ORDER:
            return False
        self._once(kind, _SINGLE_MEDIA)
        if kind == "i":
            media.information = value
        elif kind == "c":
            media.connection = Connection.parse(value)
        elif kind == "b":
            media.bandwidths.append(Bandwidth.parse(value))
        elif kind == "k":
            media.key = value
        else:
            attr = Attribute.parse(value)
            if media.is_rtp:
                _check_rtp_attribute(attr)
            media.attributes.append(attr)
        return True


def _check_rtp_attribute(attr: Attribute) -> None:
    # rtpmap and fmtp drive codec negotiation: a broken one is reported with its line number
    # now rather than as a puzzling failure during offer/answer.
    if attr.name == "rtpmap":
        RtpMap.parse(attr.value or "")
    elif attr.name == "fmtp":
        parse_fmtp(attr.value or "")
