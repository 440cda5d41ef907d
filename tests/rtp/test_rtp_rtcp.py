"""RTCP packets (RFC 3550 §6, RFC 4585 §6, RFC 5104 §4.3.1): known bytes written out by hand,
compound framing rules, round trips and the any-bytes property."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import (
    PSFB,
    RTPFB,
    App,
    Bye,
    Feedback,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    RtpError,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    middle32,
    ntp_from_unix,
    parse_rtcp,
    serialize_rtcp,
    unix_from_ntp,
)
from pycc.rtp.rtcp import CNAME

SR_BYTES = bytes.fromhex(
    "81c8000c"  # V=2, RC=1, PT=200, length 12 (13 words)
    "11223344"  # SSRC
    "83aa7e8080000000"  # NTP: the Unix epoch and a half second
    "000003e8"  # RTP timestamp 1000
    "0000000a"  # 10 packets
    "00000640"  # 1600 octets
    "55667788"  # report block about 0x55667788
    "40ffffff"  # fraction 64/256, cumulative lost -1
    "00010005"  # one cycle, max seq 5
    "00000020"  # jitter 32
    "b7052000"  # LSR
    "00054000"  # DLSR 5.25 s
)
SDES_BYTES = bytes.fromhex("81ca0003" "11223344" "0105") + b"alice" + b"\x00"
BYE_BYTES = bytes.fromhex("81cb0003" "11223344" "04") + b"done" + b"\x00\x00\x00"

SR = SenderReport(
    ssrc=0x11223344,
    ntp_timestamp=0x83AA7E80_80000000,
    rtp_timestamp=1000,
    packet_count=10,
    octet_count=1600,
    reports=[ReportBlock(0x55667788, 64, -1, 0x10005, 32, 0xB7052000, 0x54000)],
)


def test_parse_known_compound_packet() -> None:
    packets = parse_rtcp(SR_BYTES + SDES_BYTES + BYE_BYTES)
    assert packets == [
        SR,
        SourceDescription([(0x11223344, [(CNAME, b"alice")])]),
        Bye([0x11223344], "done"),
    ]
    sdes = packets[1]
    assert isinstance(sdes, SourceDescription)
    assert sdes.cname(0x11223344) == b"alice"
    assert sdes.cname(1) is None
    assert serialize_rtcp(packets) == SR_BYTES + SDES_BYTES + BYE_BYTES


def test_sequences_are_normalised_to_tuples() -> None:
    assert SR.reports == (ReportBlock(0x55667788, 64, -1, 0x10005, 32, 0xB7052000, 0x54000),)
    assert Bye([1, 2]) == Bye((1, 2))


def test_receiver_report_and_empty_packets() -> None:
    rr = ReceiverReport(0xABCDEF01)
    assert rr.serialize() == bytes.fromhex("80c90001abcdef01")
    assert parse_rtcp(rr.serialize()) == [rr]
    assert Bye([]).serialize() == bytes.fromhex("80cb0000")
    assert parse_rtcp(bytes.fromhex("80cb0000")) == [Bye(())]


def test_app_packet() -> None:
    app = App(subtype=3, ssrc=7, name="PYCC", data=b"\x00\x01\x02\x03")
    wire = app.serialize()
    assert wire == bytes.fromhex("83cc0003" "00000007") + b"PYCC" + b"\x00\x01\x02\x03"
    assert parse_rtcp(wire) == [app]
    with pytest.raises(RtcpError):
        App(0, 0, "TOOLONG").serialize()
    with pytest.raises(RtcpError):
        App(0, 0, "ABCD", b"xyz").serialize()


def test_pli() -> None:
    pli = Feedback.pli(sender_ssrc=1, media_ssrc=2)
    assert pli.serialize() == bytes.fromhex("81ce0002" "00000001" "00000002")
    (parsed,) = parse_rtcp(pli.serialize())
    assert isinstance(parsed, Feedback) and parsed.is_pli and not parsed.is_fir
    assert parsed.nack_sequences() == [] and parsed.fir_entries() == []


def test_fir_per_rfc5104() -> None:
    fir = Feedback.fir(sender_ssrc=1, entries=[(0xAABBCCDD, 7), (5, 256 + 9)])
    assert fir.serialize() == bytes.fromhex(
        "84ce0006" "00000001" "00000000" "aabbccdd" "07000000" "00000005" "09000000"
    )
    (parsed,) = parse_rtcp(fir.serialize())
    assert isinstance(parsed, Feedback)
    assert parsed.is_fir and parsed.kind == PSFB and parsed.media_ssrc == 0
    assert parsed.fir_entries() == [(0xAABBCCDD, 7), (5, 9)]


def test_generic_nack_packs_pid_and_blp() -> None:
    nack = Feedback.nack(1, 2, [103, 100, 101, 117, 101])
    # PID 100 with bits for 101 and 103; 117 is past 100 + 16, so it opens a second pair.
    assert nack.fci == bytes.fromhex("00640005" "00750000")
    assert nack.serialize()[:4] == bytes.fromhex("81cd0004")  # 5 words
    (parsed,) = parse_rtcp(nack.serialize())
    assert isinstance(parsed, Feedback) and parsed.is_nack and parsed.kind == RTPFB
    assert parsed.nack_sequences() == [100, 101, 103, 117]


@given(st.sets(st.integers(0, 0xFFFF), max_size=40))
def test_nack_round_trips_any_set(lost: set[int]) -> None:
    (parsed,) = parse_rtcp(Feedback.nack(1, 2, lost).serialize())
    assert isinstance(parsed, Feedback)
    assert sorted(parsed.nack_sequences()) == sorted(lost)


def test_unknown_packet_types_are_kept() -> None:
    xr = bytes.fromhex("80cf0002" "00000001" "deadbeef")  # RFC 3611 XR, not interpreted
    packets = parse_rtcp(SR_BYTES + xr)
    assert packets[1] == UnknownRtcp(207, 0, bytes.fromhex("00000001deadbeef"))
    assert serialize_rtcp(packets) == SR_BYTES + xr


def test_padding_only_on_the_last_packet() -> None:
    padded_rr = bytes.fromhex("a0c90002" "abcdef01" "00000004")  # 4 padding octets
    assert parse_rtcp(SR_BYTES + padded_rr) == [SR, ReceiverReport(0xABCDEF01)]
    with pytest.raises(RtcpError) as info:
        parse_rtcp(padded_rr + SR_BYTES)
    assert info.value.reason == "padding"
    with pytest.raises(RtcpError):
        parse_rtcp(bytes.fromhex("a0c90002" "abcdef01" "00000000"))  # padding count 0
    with pytest.raises(RtcpError):
        parse_rtcp(bytes.fromhex("a0c90002" "abcdef01" "0000000c"))  # into the header


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "short"),
        (b"\x81\xc8", "short"),
        (bytes.fromhex("41c80001abcdef01"), "version"),
        (SR_BYTES[:-4], "length"),  # the length field promises one more word
        (SR_BYTES + b"\x80\xc9", "length"),  # stray bytes after the last packet
        (bytes.fromhex("82c90007") + bytes(28), "length"),  # RR with 2 blocks in 28 bytes
        (bytes.fromhex("81c80001abcdef01"), "length"),  # SR without sender info
        (bytes.fromhex("81ca0001abcdef01"), "sdes"),  # chunk without a terminating null
        (bytes.fromhex("81ca0002abcdef01" "0109aabb"), "sdes"),  # item runs past the packet
        (bytes.fromhex("82ca0002abcdef01" "00000000"), "sdes"),  # second chunk missing
        (bytes.fromhex("81cb0002abcdef01" "09616263"), "bye"),  # reason runs past
        (bytes.fromhex("82cb0001abcdef01"), "length"),  # 2 SSRCs announced, 1 there
        (bytes.fromhex("80cc0001abcdef01"), "length"),  # APP without a name
        (bytes.fromhex("81cd0001abcdef01"), "length"),  # feedback without media SSRC
    ],
)
def test_malformed_rtcp(data: bytes, reason: str) -> None:
    with pytest.raises(RtcpError) as info:
        parse_rtcp(data)
    assert info.value.reason == reason
    assert isinstance(info.value, RtpError)


def test_serialize_refuses_what_does_not_fit() -> None:
    block = ReportBlock(1, 0, 0, 0, 0, 0, 0)
    with pytest.raises(RtcpError, match="count"):
        ReceiverReport(1, [block] * 32).serialize()
    with pytest.raises(RtcpError):
        ReportBlock(1, 256, 0, 0, 0, 0, 0).serialize()
    with pytest.raises(RtcpError):
        ReportBlock(1, 0, 2**23, 0, 0, 0, 0).serialize()
    with pytest.raises(RtcpError):
        SourceDescription([(1, [(CNAME, b"x" * 256)])]).serialize()
    with pytest.raises(RtcpError):
        Feedback(207, 1, 0, 0).serialize()
    with pytest.raises(RtcpError):
        SenderReport(2**32, 0, 0, 0, 0).serialize()


def test_ntp_helpers() -> None:
    assert ntp_from_unix(0.0) == 2_208_988_800 << 32
    assert ntp_from_unix(0.5) == (2_208_988_800 << 32) + 2**31
    assert unix_from_ntp(ntp_from_unix(1_700_000_000.25)) == pytest.approx(1_700_000_000.25)
    # RFC 3550 §6.4.1 figure 2: NTP 46864.500 s has middle 32 bits 0xb710:8000.
    assert middle32((46864 << 32) + 2**31) == 0xB7108000


# -- properties --------------------------------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
words = st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4))
blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-(2**23), 2**23 - 1),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
block_lists = st.lists(blocks, max_size=4).map(tuple)
rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32, block_lists, words),
    st.builds(ReceiverReport, u32, block_lists, words),
    st.builds(
        SourceDescription,
        st.lists(
            st.tuples(u32, st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=20))
                                    .map(lambda i: i), max_size=3).map(tuple)),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Bye, st.lists(u32, max_size=4).map(tuple),
              st.text(max_size=20).filter(lambda t: len(t.encode()) <= 255)),
    st.builds(App, st.integers(0, 31), u32,
              st.text(st.characters(max_codepoint=255), min_size=4, max_size=4), words),
    st.builds(Feedback, st.sampled_from([RTPFB, PSFB]), st.integers(0, 31), u32, u32, words),
    st.builds(UnknownRtcp, st.integers(207, 255), st.integers(0, 31), words),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=5))
def test_compound_round_trip(packets: list[RtcpPacket]) -> None:
    wire = serialize_rtcp(packets)
    assert parse_rtcp(wire) == packets
    assert serialize_rtcp(parse_rtcp(wire)) == wire


@given(st.binary(max_size=120))
def test_random_bytes_raise_only_rtcp_error(data: bytes) -> None:
    with contextlib.suppress(RtcpError):
        parse_rtcp(data)


@given(st.binary(min_size=4, max_size=120))
def test_plausible_headers_raise_only_rtcp_error(data: bytes) -> None:
    # Version 2 and a packet type in the RTCP range, so the body parsers get exercised.
    head = bytes((0x80 | data[0] & 0x3F, 200 + data[1] % 8, 0, (len(data) - 4) // 4))
    with contextlib.suppress(RtcpError):
        parse_rtcp(head + data[4:])
