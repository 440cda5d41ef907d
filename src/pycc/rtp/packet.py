"""RTP data packets: the fixed header, its parser and serializer, and fast paths for relays.

Implements RFC 3550 §5.1 (the fixed header: version, padding, extension, CSRC count, marker,
payload type, sequence number, timestamp, SSRC, CSRC list), §5.3.1 (the header extension:
16-bit profile-defined word, 16-bit length in 32-bit words) and the validity checks of
appendix A.1 that can be made on one packet alone. `is_rtcp` demultiplexes RTP and RTCP sharing
one port (RFC 5761 §4). A relay that only renumbers packets uses `header_fields` and
`rewrite_header` on the received buffer and never builds an `RtpPacket`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TypeAlias

from pycc.rtp.errors import RtpError

__all__ = [
    "HEADER_SIZE",
    "BytesLike",
    "RtpPacket",
    "checked_header_fields",
    "fixed_header",
    "header_fields",
    "is_rtcp",
    "parse_rtp",
    "rewrite_header",
]

BytesLike: TypeAlias = bytes | bytearray | memoryview

#: The fixed header without CSRCs (RFC 3550 §5.1).
HEADER_SIZE = 12

_FIXED = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
# Byte 0 is left alone by a rewrite: version, padding, extension and CSRC count stay the source's.
_REWRITE = struct.Struct("!BHII")
_CSRC = [struct.Struct(f"!{n}I") for n in range(16)]


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet.

    ``extension`` is the §5.3.1 header extension as (profile-defined 16 bits, data), the data a
    multiple of 4 bytes. ``padding`` is the number of padding octets, the count octet included
    (0: no padding); the padding itself is not kept, since its content carries nothing.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0

    def serialize(self) -> bytes:
        """The packet on the wire; raises `RtpError` (reason ``"field"``) for a field that does
        not fit its width."""
        if not 0 <= self.payload_type <= 127:
            raise RtpError("field", f"payload type {self.payload_type} is not 0..127")
        if len(self.csrc) > 15:
            raise RtpError("csrc", f"{len(self.csrc)} CSRCs, at most 15 fit")
        if not 0 <= self.padding <= 255:
            raise RtpError("padding", f"{self.padding} padding octets, at most 255 fit")
        b0 = 0x80 | len(self.csrc)
        if self.padding:
            b0 |= 0x20
        if self.extension is not None:
            b0 |= 0x10
        b1 = self.payload_type | 0x80 if self.marker else self.payload_type
        try:
            parts = [_FIXED.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
            if self.csrc:
                parts.append(_CSRC[len(self.csrc)].pack(*self.csrc))
            if self.extension is not None:
                profile, data = self.extension
                if len(data) % 4:
                    raise RtpError("extension", "extension data is not a multiple of 4 bytes")
                parts.append(_EXTENSION.pack(profile, len(data) // 4))
                parts.append(data)
        except struct.error as exc:
            raise RtpError("field", str(exc)) from None
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def _payload_bounds(data: BytesLike, b0: int) -> tuple[int, int, int]:
    """Offsets of the payload (start, end) and the padding count; checks CSRCs, the header
    extension and the padding against the packet's length (RFC 3550 §5.1, §5.3.1)."""
    size = len(data)
    count = b0 & 0x0F
    offset = HEADER_SIZE + 4 * count
    if offset > size:
        raise RtpError("csrc", f"{count} CSRCs do not fit in {size} bytes")
    if b0 & 0x10:
        if offset + 4 > size:
            raise RtpError("extension", "the extension header is cut off")
        words = int.from_bytes(data[offset + 2:offset + 4], "big")
        offset += 4 + 4 * words
        if offset > size:
            raise RtpError("extension", f"extension of {words} words runs past the packet")
    end = size
    padding = 0
    if b0 & 0x20:
        # The last octet counts the padding, itself included (§5.1): it can be neither zero nor
        # reach back into the header.
        padding = data[size - 1]
        if padding == 0 or padding > size - offset:
            raise RtpError("padding", f"padding count {padding} with {size - offset} bytes left")
        end = size - padding
    return offset, end, padding


def parse_rtp(data: BytesLike) -> RtpPacket:
    """Parse one RTP packet; raises `RtpError` if it is not valid RTP version 2."""
    size = len(data)
    if size < HEADER_SIZE:
        raise RtpError("short", f"{size} bytes, the fixed header alone is 12")
    b0, b1, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        raise RtpError("version", f"version {b0 >> 6}, expected 2")
    start, end, padding = _payload_bounds(data, b0)
    count = b0 & 0x0F
    csrc: tuple[int, ...] = _CSRC[count].unpack_from(data, HEADER_SIZE) if count else ()
    extension = None
    if b0 & 0x10:
        at = HEADER_SIZE + 4 * count
        profile, _words = _EXTENSION.unpack_from(data, at)
        extension = (profile, bytes(data[at + 4:start]))
    return RtpPacket(
        b1 & 0x7F,
        sequence,
        timestamp,
        ssrc,
        bytes(data[start:end]),
        b1 >= 0x80,
        csrc,
        extension,
        padding,
    )


def checked_header_fields(data: BytesLike) -> tuple[int, bool, int, int, int]:
    """`header_fields` plus the length checks of CSRCs, extension and padding: what a relay
    must verify before passing a packet on, without copying its payload."""
    fields = header_fields(data)
    if data[0] & 0x3F:
        _payload_bounds(data, data[0])
    return fields


def is_rtcp(data: BytesLike) -> bool:
    """True when a datagram on an RTP/RTCP-multiplexed port is RTCP (RFC 5761 §4).

    RTCP packet types 192..223 sit where RTP would have marker=1 and payload type 64..95, which
    RFC 5761 forbids for RTP on a multiplexed port.
    """
    return len(data) >= 2 and 192 <= data[1] <= 223


def header_fields(data: BytesLike) -> tuple[int, bool, int, int, int]:
    """``(payload_type, marker, sequence, timestamp, ssrc)`` without parsing the rest.

    Only the version and length are checked: this is the relay's per-packet path.
    """
    if len(data) < HEADER_SIZE:
        raise RtpError("short", f"{len(data)} bytes, the fixed header alone is 12")
    b0, b1, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        raise RtpError("version", f"version {b0 >> 6}, expected 2")
    return b1 & 0x7F, b1 >= 0x80, sequence, timestamp, ssrc


def fixed_header(payload_type: int, marker: bool, sequence: int, timestamp: int,
                 ssrc: int) -> bytes:
    """The 12-byte header of a packet with no padding, extension or CSRC (RFC 3550 §5.1)
    whose fields are in range already: what pycc's own streams (transcoded, played,
    mixed) put before each payload, without building an `RtpPacket`."""
    return _FIXED.pack(0x80, payload_type | 0x80 if marker else payload_type, sequence,
                       timestamp, ssrc)


def rewrite_header(
    buf: bytearray, *, pt: int, seq: int, ts: int, ssrc: int, marker: bool
) -> None:
    """Overwrite payload type, marker, sequence, timestamp and SSRC of a packet in place.

    Sequence and timestamp are taken modulo their width, so a relay may add offsets freely.
    """
    if len(buf) < HEADER_SIZE:
        raise RtpError("short", f"{len(buf)} bytes, the fixed header alone is 12")
    if not 0 <= pt <= 127:
        raise RtpError("field", f"payload type {pt} is not 0..127")
    _REWRITE.pack_into(
        buf, 1, pt | 0x80 if marker else pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc & 0xFFFFFFFF
    )
