"""RTP packet parsing and serialization (RFC 3550 §5.1, §5.3.1), RTCP demultiplexing
(RFC 5761 §4) and the relay fast path."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import (
    RtpError,
    RtpPacket,
    fixed_header,
    header_fields,
    is_rtcp,
    parse_rtp,
    rewrite_header,
)

# PCMA (PT 8), seq 1, ts 160, SSRC 0xdeadbeef, 4 bytes of payload: bytes written out by hand.
PCMA = bytes.fromhex("80080001000000a0deadbeef") + b"\xd5\xd5\xd5\xd5"
# Marker, PT 0, two CSRCs, an RFC 8285 one-byte-header extension (profile 0xBEDE, 1 word),
# 3 payload bytes, then 5 padding octets (P bit, count 5 in the last one).
FULL = (
    bytes.fromhex("b2807fff12345678cafebabe")
    + bytes.fromhex("0000000100000002")
    + bytes.fromhex("bede0001" "10ff0000")
    + b"abc"
    + bytes.fromhex("0000000005")
)


def test_parse_known_bytes() -> None:
    packet = parse_rtp(PCMA)
    assert packet == RtpPacket(8, 1, 160, 0xDEADBEEF, b"\xd5\xd5\xd5\xd5")
    assert packet.serialize() == PCMA


def test_parse_every_header_part() -> None:
    packet = parse_rtp(FULL)
    assert packet.payload_type == 0
    assert packet.marker is True
    assert packet.sequence == 0x7FFF
    assert packet.timestamp == 0x12345678
    assert packet.ssrc == 0xCAFEBABE
    assert packet.csrc == (1, 2)
    assert packet.extension == (0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.payload == b"abc"
    assert packet.padding == 5
    assert packet.serialize() == FULL


def test_parse_accepts_bytearray_and_memoryview() -> None:
    assert parse_rtp(bytearray(FULL)) == parse_rtp(FULL)
    assert parse_rtp(memoryview(FULL)) == parse_rtp(FULL)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "short"),
        (PCMA[:11], "short"),
        (b"\x40" + PCMA[1:], "version"),  # version 1
        (b"\x00" + PCMA[1:], "version"),
        (b"\x83" + PCMA[1:12] + b"\0" * 8, "csrc"),  # 3 CSRCs announced, 2 present
        (b"\x90" + PCMA[1:12] + b"\xbe\xde", "extension"),  # extension header cut off
        (b"\x90" + PCMA[1:12] + b"\xbe\xde\x00\x02" + b"\0" * 4, "extension"),  # 2 words, 1 there
        (b"\xa0" + PCMA[1:12] + b"ab\x00", "padding"),  # zero padding count
        (b"\xa0" + PCMA[1:12] + b"ab\x04", "padding"),  # 4 padding octets, only 3 bytes
        (b"\xa0" + PCMA[1:12], "padding"),  # padding bit with no room for any padding
    ],
)
def test_malformed_packets_raise_rtp_error(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError) as info:
        parse_rtp(data)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_padding_may_take_the_whole_payload() -> None:
    packet = parse_rtp(b"\xa0" + PCMA[1:12] + b"\x00\x00\x03")
    assert packet.payload == b"" and packet.padding == 3


def test_serialize_rejects_fields_that_do_not_fit() -> None:
    with pytest.raises(RtpError, match="payload type"):
        RtpPacket(128, 0, 0, 0, b"").serialize()
    with pytest.raises(RtpError) as info:
        RtpPacket(0, 65536, 0, 0, b"").serialize()
    assert info.value.reason == "field"
    with pytest.raises(RtpError):
        RtpPacket(0, 0, 0, 0, b"", csrc=tuple(range(16))).serialize()
    with pytest.raises(RtpError):
        RtpPacket(0, 0, 0, 0, b"", extension=(1, b"abc")).serialize()
    with pytest.raises(RtpError):
        RtpPacket(0, 0, 0, 0, b"", padding=256).serialize()


@pytest.mark.parametrize(
    ("second_byte", "expected"),
    [(200, True), (201, True), (192, True), (223, True), (206, True),
     (0, False), (8, False), (96, False), (191, False), (224, False), (0x80 | 111, False)],
)
def test_is_rtcp_follows_rfc5761(second_byte: int, expected: bool) -> None:
    assert is_rtcp(bytes((0x80, second_byte, 0, 1))) is expected


def test_is_rtcp_on_tiny_datagrams() -> None:
    assert is_rtcp(b"") is False
    assert is_rtcp(b"\x80") is False


def test_header_fields_and_rewrite() -> None:
    assert header_fields(FULL) == (0, True, 0x7FFF, 0x12345678, 0xCAFEBABE)
    buf = bytearray(FULL)
    rewrite_header(buf, pt=96, seq=65536 + 5, ts=2**32 + 7, ssrc=0x01020304, marker=False)
    rewritten = parse_rtp(buf)
    assert (rewritten.payload_type, rewritten.marker, rewritten.sequence) == (96, False, 5)
    assert (rewritten.timestamp, rewritten.ssrc) == (7, 0x01020304)
    # Everything after the fixed header, and byte 0's flags, stay as they were.
    assert buf[0] == FULL[0] and buf[12:] == FULL[12:]
    with pytest.raises(RtpError):
        header_fields(FULL[:11])
    with pytest.raises(RtpError):
        header_fields(b"\x40" + FULL[1:])
    with pytest.raises(RtpError):
        rewrite_header(bytearray(5), pt=0, seq=0, ts=0, ssrc=0, marker=False)
    with pytest.raises(RtpError):
        rewrite_header(bytearray(FULL), pt=200, seq=0, ts=0, ssrc=0, marker=False)


# -- properties --------------------------------------------------------------------------------

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
words = st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))

packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=u16,
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15).map(tuple),
    extension=st.none() | st.tuples(u16, words),
    padding=st.integers(0, 255),
)


@given(packets)
def test_parse_serialize_round_trip(packet: RtpPacket) -> None:
    wire = packet.serialize()
    assert parse_rtp(wire) == packet
    assert header_fields(wire) == (
        packet.payload_type, packet.marker, packet.sequence, packet.timestamp, packet.ssrc,
    )


@given(st.binary(max_size=80))
def test_random_bytes_raise_only_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    # Anything accepted is re-serialized to the same bytes, padding content aside.
    wire = packet.serialize()
    assert len(wire) == len(data)
    assert wire[: len(data) - packet.padding] == data[: len(data) - packet.padding]


@given(st.binary(min_size=12, max_size=40).map(lambda b: bytes((0x80 | b[0] & 0x0F,)) + b[1:]))
def test_version_2_headers_with_room_parse(data: bytes) -> None:
    count = data[0] & 0x0F
    if 12 + 4 * count <= len(data):
        packet = parse_rtp(data)
        assert packet.csrc == struct.unpack_from(f"!{count}I", data, 12)


@given(st.integers(0, 127), st.booleans(), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF), st.binary(max_size=40))
def test_fixed_header_is_the_serialized_packets_header(pt: int, marker: bool, seq: int,
                                                       ts: int, ssrc: int,
                                                       payload: bytes) -> None:
    header = fixed_header(pt, marker, seq, ts, ssrc)
    assert header + payload == RtpPacket(pt, seq, ts, ssrc, payload, marker=marker).serialize()
    assert header_fields(header + payload) == (pt, marker, seq, ts, ssrc)
