"""RTCP packets: sender and receiver reports, SDES, BYE, APP and RTP/AVPF feedback.

Implements RFC 3550 §6.4.1 (SR), §6.4.2 (RR), §6.5 (SDES), §6.6 (BYE), §6.7 (APP) and the
compound-packet framing of §6.1 with the validity checks of appendix A.2 (version 2 on every
packet, length fields that tile the datagram exactly, padding only on the last packet);
RFC 4585 §6.1-§6.3 feedback messages (transport-layer 205 with generic NACK, payload-specific
206 with PLI) and RFC 5104 §4.3.1 Full Intra Request. A compound packet is not required to start
with SR or RR, so reduced-size RTCP (RFC 5506) parses too. Packet types this module does not know
come back as `UnknownRtcp` and serialize back unchanged: a new extension from the peer is not an
error. §4 NTP timestamps are built by `ntp_from_unix`; `middle32` gives the LSR/DLSR form.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from pycc.rtp.errors import RtcpError
from pycc.rtp.packet import BytesLike

__all__ = [
    "APP",
    "BYE",
    "NTP_UNIX_OFFSET",
    "PSFB",
    "RR",
    "RTPFB",
    "SDES",
    "SR",
    "App",
    "Bye",
    "Feedback",
    "ReceiverReport",
    "ReportBlock",
    "RtcpError",
    "RtcpPacket",
    "SdesItem",
    "SenderReport",
    "SourceDescription",
    "UnknownRtcp",
    "middle32",
    "ntp_from_unix",
    "parse_rtcp",
    "serialize_rtcp",
    "unix_from_ntp",
]

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
#: RFC 4585 §6.1: transport-layer and payload-specific feedback.
RTPFB, PSFB = 205, 206

#: SDES item types (RFC 3550 §6.5).
CNAME, NAME, EMAIL, PHONE, LOC, TOOL, NOTE, PRIV = range(1, 9)

#: Seconds from the NTP era 0 epoch (1900-01-01) to the Unix epoch.
NTP_UNIX_OFFSET = 2_208_988_800

_HEADER = struct.Struct("!BBH")
_WORD = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IIIIII")
_TWO_WORDS = struct.Struct("!II")
_NACK = struct.Struct("!HH")
_FIR = struct.Struct("!IB3x")
_MAX_COUNT = 31


def ntp_from_unix(seconds: float) -> int:
    """The 64-bit NTP timestamp (32.32 fixed point since 1900) of a Unix time (RFC 3550 §4)."""
    return round((seconds + NTP_UNIX_OFFSET) * 2**32) & 0xFFFF_FFFF_FFFF_FFFF


def unix_from_ntp(ntp: int) -> float:
    """Inverse of `ntp_from_unix` (era 0)."""
    return ntp / 2**32 - NTP_UNIX_OFFSET


def middle32(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp: the LSR field and the unit of RTT arithmetic
    (16.16 fixed-point seconds, RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


# -- report blocks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (RFC 3550 §6.4.1).

    ``fraction_lost`` is the 8-bit fixed-point fraction (lost/expected * 256);
    ``cumulative_lost`` is signed 24-bit (duplicates can make it negative); ``jitter`` is in
    timestamp units; ``lsr``/``dlsr`` are 16.16 fixed-point seconds.
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    def serialize(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise RtcpError("field", f"fraction lost {self.fraction_lost} is not 0..255")
        if not -(2**23) <= self.cumulative_lost < 2**23:
            raise RtcpError("field", f"cumulative lost {self.cumulative_lost} exceeds 24 bits")
        try:
            return _BLOCK.pack(
                self.ssrc,
                self.fraction_lost << 24 | self.cumulative_lost & 0xFFFFFF,
                self.highest_sequence,
                self.jitter,
                self.lsr,
                self.dlsr,
            )
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None


def _parse_blocks(body: BytesLike, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for _ in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset)
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
        offset += _BLOCK.size
    return tuple(blocks)


def _frame(packet_type: int, count: int, body: bytes) -> bytes:
    """Prefix a body (a multiple of 4 bytes) with the common header (RFC 3550 §6.4.1)."""
    if not 0 <= count <= _MAX_COUNT:
        raise RtcpError("count", f"count {count} does not fit 5 bits")
    if len(body) % 4:
        raise RtcpError("length", f"{len(body)}-byte body is not a multiple of 4")
    words = len(body) // 4  # the length field is words - 1, the header word included
    if words > 0xFFFF:
        raise RtcpError("length", "packet too long for the 16-bit length field")
    return _HEADER.pack(0x80 | count, packet_type, words) + body


def _check_extension(extension: bytes) -> None:
    if len(extension) % 4:
        raise RtcpError("length", "profile-specific extension is not a multiple of 4 bytes")


def _tuple_of_blocks(reports: Sequence[ReportBlock]) -> tuple[ReportBlock, ...]:
    return reports if isinstance(reports, tuple) else tuple(reports)


# -- the packet types --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 §6.4.1). ``extension`` holds profile-specific bytes after the blocks."""

    packet_type: ClassVar[int] = SR

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: Sequence[ReportBlock] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reports", _tuple_of_blocks(self.reports))

    def serialize(self) -> bytes:
        _check_extension(self.extension)
        try:
            info = _SENDER_INFO.pack(
                self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
                self.octet_count,
            )
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None
        blocks = b"".join(block.serialize() for block in self.reports)
        return _frame(SR, len(self.reports), info + blocks + self.extension)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 §6.4.2)."""

    packet_type: ClassVar[int] = RR

    ssrc: int
    reports: Sequence[ReportBlock] = ()
    extension: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "reports", _tuple_of_blocks(self.reports))

    def serialize(self) -> bytes:
        _check_extension(self.extension)
        try:
            head = _WORD.pack(self.ssrc)
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None
        blocks = b"".join(block.serialize() for block in self.reports)
        return _frame(RR, len(self.reports), head + blocks + self.extension)


#: An SDES item: (type, value). Type 1 is CNAME; see the constants CNAME..PRIV.
SdesItem: TypeAlias = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES (RFC 3550 §6.5): for each source, its list of (item type, value) items."""

    packet_type: ClassVar[int] = SDES

    chunks: Sequence[tuple[int, Sequence[SdesItem]]]

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "chunks", tuple((ssrc, tuple(items)) for ssrc, items in self.chunks)
        )

    def cname(self, ssrc: int) -> bytes | None:
        """The CNAME a source gave, if any."""
        for chunk_ssrc, items in self.chunks:
            if chunk_ssrc == ssrc:
                for item_type, value in items:
                    if item_type == CNAME:
                        return value
        return None

    def serialize(self) -> bytes:
        parts = []
        for ssrc, items in self.chunks:
            try:
                chunk = bytearray(_WORD.pack(ssrc))
            except struct.error as exc:
                raise RtcpError("field", str(exc)) from None
            for item_type, value in items:
                if not 1 <= item_type <= 255:
                    raise RtcpError("field", f"SDES item type {item_type} is not 1..255")
                if len(value) > 255:
                    raise RtcpError("field", f"SDES item of {len(value)} bytes, at most 255")
                chunk += bytes((item_type, len(value))) + value
            # At least one null octet ends the item list, then nulls up to the next word.
            chunk += bytes(4 - len(chunk) % 4)
            parts.append(bytes(chunk))
        return _frame(SDES, len(self.chunks), b"".join(parts))


@dataclass(frozen=True, slots=True)
class Bye:
    """BYE (RFC 3550 §6.6). An empty ``reason`` is sent as no reason at all."""

    packet_type: ClassVar[int] = BYE

    ssrcs: Sequence[int]
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ssrcs", tuple(self.ssrcs))

    def serialize(self) -> bytes:
        try:
            body = bytearray(b"".join(_WORD.pack(ssrc) for ssrc in self.ssrcs))
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None
        if self.reason:
            text = self.reason.encode("utf-8")
            if len(text) > 255:
                raise RtcpError("field", f"BYE reason of {len(text)} bytes, at most 255")
            body += bytes((len(text),)) + text
            body += bytes(-len(body) % 4)
        return _frame(BYE, len(self.ssrcs), bytes(body))


@dataclass(frozen=True, slots=True)
class App:
    """APP (RFC 3550 §6.7): ``name`` is four ASCII characters, ``data`` a multiple of 4 bytes.

    The name is read and written as Latin-1, so any four received bytes survive a round trip.
    """

    packet_type: ClassVar[int] = APP

    subtype: int
    ssrc: int
    name: str
    data: bytes = b""

    def serialize(self) -> bytes:
        try:
            name = self.name.encode("latin-1")
        except UnicodeEncodeError:
            name = b""
        if len(name) != 4:
            raise RtcpError("field", f"APP name {self.name!r} is not 4 characters")
        if len(self.data) % 4:
            raise RtcpError("length", "APP data is not a multiple of 4 bytes")
        try:
            head = _WORD.pack(self.ssrc)
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None
        return _frame(APP, self.subtype, head + name + self.data)


@dataclass(frozen=True, slots=True)
class Feedback:
    """An RTP/AVPF feedback message (RFC 4585 §6.1): ``kind`` is `RTPFB` (205) or `PSFB` (206),
    ``fmt`` the feedback message type, ``fci`` the feedback control information.

    Build the common ones with `pli`, `fir` and `nack`; read them with `is_pli`, `fir_entries`
    and `nack_sequences`.
    """

    kind: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""

    #: RFC 4585 §6.2.1 generic NACK (RTPFB), §6.3.1 PLI (PSFB); RFC 5104 §4.3.1 FIR (PSFB).
    NACK: ClassVar[int] = 1
    PLI: ClassVar[int] = 1
    FIR: ClassVar[int] = 4

    @property
    def packet_type(self) -> int:
        return self.kind

    @classmethod
    def pli(cls, sender_ssrc: int, media_ssrc: int) -> Feedback:
        """Picture Loss Indication: the decoder lost its reference, send a key frame."""
        return cls(PSFB, cls.PLI, sender_ssrc, media_ssrc)

    @classmethod
    def fir(cls, sender_ssrc: int, entries: Iterable[tuple[int, int]]) -> Feedback:
        """Full Intra Request for each (media SSRC, 8-bit command sequence number).

        RFC 5104 §4.3.1.2: the media source field of a FIR is zero; the targets are in the FCI.
        """
        try:
            fci = b"".join(_FIR.pack(ssrc, seq & 0xFF) for ssrc, seq in entries)
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None
        return cls(PSFB, cls.FIR, sender_ssrc, 0, fci)

    @classmethod
    def nack(cls, sender_ssrc: int, media_ssrc: int, sequences: Iterable[int]) -> Feedback:
        """Generic NACK for the lost sequence numbers, packed as PID + 16-bit BLP pairs."""
        pairs: list[list[int]] = []
        for seq in sorted({s & 0xFFFF for s in sequences}):
            if pairs and 1 <= seq - pairs[-1][0] <= 16:
                pairs[-1][1] |= 1 << (seq - pairs[-1][0] - 1)
            else:
                pairs.append([seq, 0])
        fci = b"".join(_NACK.pack(pid, blp) for pid, blp in pairs)
        return cls(RTPFB, cls.NACK, sender_ssrc, media_ssrc, fci)

    @property
    def is_pli(self) -> bool:
        return self.kind == PSFB and self.fmt == self.PLI

    @property
    def is_fir(self) -> bool:
        return self.kind == PSFB and self.fmt == self.FIR

    @property
    def is_nack(self) -> bool:
        return self.kind == RTPFB and self.fmt == self.NACK

    def fir_entries(self) -> list[tuple[int, int]]:
        """(media SSRC, command sequence number) of each FIR entry; [] for other messages."""
        if not self.is_fir:
            return []
        return [_FIR.unpack_from(self.fci, off) for off in range(0, len(self.fci) - 7, 8)]

    def nack_sequences(self) -> list[int]:
        """The sequence numbers a generic NACK reports lost; [] for other messages."""
        if not self.is_nack:
            return []
        lost = []
        for offset in range(0, len(self.fci) - 3, 4):
            pid, blp = _NACK.unpack_from(self.fci, offset)
            lost.append(pid)
            lost.extend((pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1)
        return lost

    def serialize(self) -> bytes:
        if self.kind not in (RTPFB, PSFB):
            raise RtcpError("field", f"feedback kind {self.kind} is neither 205 nor 206")
        if len(self.fci) % 4:
            raise RtcpError("length", "FCI is not a multiple of 4 bytes")
        try:
            head = _TWO_WORDS.pack(self.sender_ssrc, self.media_ssrc)
        except struct.error as exc:
            raise RtcpError("field", str(exc)) from None
        return _frame(self.kind, self.fmt, head + self.fci)


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """A packet of a type this module does not interpret, kept whole (header fields + body)."""

    packet_type: int
    count: int
    body: bytes

    def serialize(self) -> bytes:
        if not 0 <= self.packet_type <= 255:
            raise RtcpError("field", f"packet type {self.packet_type} is not 0..255")
        return _frame(self.packet_type, self.count, self.body)


RtcpPacket: TypeAlias = (
    SenderReport | ReceiverReport | SourceDescription | Bye | App | Feedback | UnknownRtcp
)


# -- parsing -----------------------------------------------------------------------------------


def parse_rtcp(data: BytesLike) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (or a single one); raises `RtcpError` if it is malformed."""
    size = len(data)
    if size < 4:
        raise RtcpError("short", f"{size} bytes, the common header alone is 4")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < size:
        if size - offset < 4:
            raise RtcpError("length", f"{size - offset} stray bytes after the last packet")
        b0, packet_type, words = _HEADER.unpack_from(data, offset)
        if b0 >> 6 != 2:
            raise RtcpError("version", f"version {b0 >> 6}, expected 2")
        end = offset + 4 * (words + 1)
        if end > size:
            raise RtcpError("length", f"packet of {4 * (words + 1)} bytes runs past the datagram")
        body_end = end
        if b0 & 0x20:
            # RFC 3550 §6.4.1: only the last packet of a compound may be padded.
            if end != size:
                raise RtcpError("padding", "padding on a packet that is not the last one")
            padding = data[end - 1]
            if padding == 0 or padding > end - offset - 4:
                raise RtcpError("padding", f"padding count {padding} does not fit")
            body_end = end - padding
        body = bytes(data[offset + 4 : body_end])
        packets.append(_parse_one(packet_type, b0 & 0x1F, body))
        offset = end
    return packets


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    size = len(body)
    if packet_type == SR:
        need = _SENDER_INFO.size + count * _BLOCK.size
        if size < need:
            raise RtcpError("length", f"SR with {count} blocks needs {need} bytes, has {size}")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        blocks = _parse_blocks(body, _SENDER_INFO.size, count)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks, _words(body, need))
    if packet_type == RR:
        need = 4 + count * _BLOCK.size
        if size < need:
            raise RtcpError("length", f"RR with {count} blocks needs {need} bytes, has {size}")
        return ReceiverReport(_WORD.unpack_from(body)[0], _parse_blocks(body, 4, count),
                              _words(body, need))
    if packet_type == SDES:
        return _parse_sdes(count, body)
    if packet_type == BYE:
        return _parse_bye(count, body)
    if packet_type == APP:
        if size < 8:
            raise RtcpError("length", f"APP of {size} bytes, needs 8")
        return App(count, _WORD.unpack_from(body)[0], body[4:8].decode("latin-1"), body[8:])
    if packet_type in (RTPFB, PSFB):
        if size < 8:
            raise RtcpError("length", f"feedback of {size} bytes, needs 8")
        sender, media = _TWO_WORDS.unpack_from(body)
        return Feedback(packet_type, count, sender, media, _words(body, 8))
    return UnknownRtcp(packet_type, count, body)


def _words(body: bytes, start: int) -> bytes:
    """The whole 32-bit words of ``body`` from ``start``: padding may leave a ragged tail, and
    every field read from here is counted in words, so the tail is dropped."""
    return body[start : start + (len(body) - start) // 4 * 4]


def _parse_sdes(count: int, body: bytes) -> SourceDescription:
    size = len(body)
    chunks: list[tuple[int, tuple[SdesItem, ...]]] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > size:
            raise RtcpError("sdes", f"chunk {len(chunks) + 1} of {count} is missing")
        ssrc = _WORD.unpack_from(body, offset)[0]
        offset += 4
        items: list[SdesItem] = []
        while True:
            if offset >= size:
                raise RtcpError("sdes", "item list not ended by a null octet")
            item_type = body[offset]
            if item_type == 0:
                break
            if offset + 2 > size:
                raise RtcpError("sdes", "item header cut off")
            length = body[offset + 1]
            start = offset + 2
            offset = start + length
            if offset > size:
                raise RtcpError("sdes", f"item of {length} bytes runs past the packet")
            items.append((item_type, body[start:offset]))
        offset = (offset // 4 + 1) * 4  # the null octet, then on to the next word
        chunks.append((ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))


def _parse_bye(count: int, body: bytes) -> Bye:
    size = len(body)
    if size < 4 * count:
        raise RtcpError("length", f"BYE with {count} sources needs {4 * count} bytes, has {size}")
    ssrcs = struct.unpack_from(f"!{count}I", body)
    reason = ""
    offset = 4 * count
    if offset < size:
        length = body[offset]
        if offset + 1 + length > size:
            raise RtcpError("bye", f"reason of {length} bytes runs past the packet")
        reason = body[offset + 1 : offset + 1 + length].decode("utf-8", errors="replace")
    return Bye(ssrcs, reason)


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """A compound packet of ``packets`` in the given order (RFC 3550 §6.1 says SR or RR first,
    then SDES with a CNAME; the caller orders them)."""
    return b"".join(packet.serialize() for packet in packets)
