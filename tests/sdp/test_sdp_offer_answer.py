"""RFC 3264 offer/answer helpers of pycc.sdp.offer_answer: the RFC §10 examples and the rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.sdp import (
    Attribute,
    CodecSpec,
    Connection,
    Direction,
    RtpMap,
    SdpError,
    SessionDescription,
    bump_version,
    is_hold,
    make_answer,
    negotiated_codecs,
    rewrite_connection,
)
from pycc.sdp.offer_answer import stream_on_hold

PCMU = CodecSpec("PCMU", 8000)
PCMA = CodecSpec("PCMA", 8000)
G722 = CodecSpec("G722", 8000)
OPUS = CodecSpec("opus", 48000, 2)


def sdp(*lines: str) -> SessionDescription:
    return SessionDescription.parse("\r\n".join(lines) + "\r\n")


def text(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


# --- RFC 3264 §10.1 -----------------------------------------------------------------------

ALICE_OFFER = sdp(
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 host.anywhere.com",
    "s=",
    "c=IN IP4 host.anywhere.com",
    "t=0 0",
    "m=audio 49170 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
    "m=video 51372 RTP/AVP 31",
    "a=rtpmap:31 H261/90000",
    "m=video 53000 RTP/AVP 32",
    "a=rtpmap:32 MPV/90000",
)

BOB_ANSWER = text(
    "v=0",
    "o=bob 2890844730 2890844730 IN IP4 host.example.com",
    "s=",
    "c=IN IP4 host.example.com",
    "t=0 0",
    "m=audio 49920 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
    "m=video 0 RTP/AVP 31",
    "m=video 53000 RTP/AVP 32",
    "a=rtpmap:32 MPV/90000",
)

BOB_REOFFER = sdp(
    "v=0",
    "o=bob 2890844730 2890844731 IN IP4 host.example.com",
    "s=",
    "c=IN IP4 host.example.com",
    "t=0 0",
    "m=audio 65422 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
    "m=video 0 RTP/AVP 31",
    "m=video 53000 RTP/AVP 32",
    "a=rtpmap:32 MPV/90000",
    "m=audio 51434 RTP/AVP 110",
    "a=rtpmap:110 telephone-events/8000",
    "a=recvonly",
)

# Alice's answer as printed in the RFC, less the a=rtpmap:31 it keeps under the refused stream:
# the RFC's own first answer (above) shows a refused stream without attributes.
ALICE_ANSWER = text(
    "v=0",
    "o=alice 2890844526 2890844527 IN IP4 host.anywhere.com",
    "s=",
    "c=IN IP4 host.anywhere.com",
    "t=0 0",
    "m=audio 49170 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
    "m=video 0 RTP/AVP 31",
    "m=video 53000 RTP/AVP 32",
    "a=rtpmap:32 MPV/90000",
    "m=audio 53122 RTP/AVP 110",
    "a=rtpmap:110 telephone-events/8000",
    "a=sendonly",
)


def test_rfc3264_10_1_basic_exchange() -> None:
    answer = make_answer(
        ALICE_OFFER,
        [PCMU, CodecSpec("MPV", 90000)],  # Bob has no H.261, so that stream is refused.
        "host.example.com",
        [49920, 51374, 53000],
        username="bob",
        session_id="2890844730",
        session_version=2890844730,
        session_name="",
    )
    assert bytes(answer) == BOB_ANSWER
    assert negotiated_codecs(ALICE_OFFER, answer) == [
        [RtpMap(0, "PCMU", 8000)],
        [],
        [RtpMap(32, "MPV", 90000)],
    ]


def test_rfc3264_10_1_reoffer_adds_a_receive_only_stream() -> None:
    answer = make_answer(
        BOB_REOFFER,
        [
            PCMU,
            CodecSpec("H261", 90000),
            CodecSpec("MPV", 90000),
            CodecSpec("telephone-events", 8000),
        ],
        "host.anywhere.com",
        [49170, 51372, 53000, 53122],
        username="alice",
        session_id="2890844526",
        session_version=2890844527,
        session_name="",
    )
    assert bytes(answer) == ALICE_ANSWER
    assert negotiated_codecs(BOB_REOFFER, answer)[3] == [RtpMap(110, "telephone-events", 8000)]


# --- RFC 3264 §10.2 -----------------------------------------------------------------------


def test_rfc3264_10_2_one_of_n_codec_selection() -> None:
    offer = sdp(
        "v=0",
        "o=alice 2890844526 2890844526 IN IP4 host.anywhere.com",
        "s=",
        "c=IN IP4 host.anywhere.com",
        "t=0 0",
        "m=audio 62986 RTP/AVP 0 4 18",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:4 G723/8000",
        "a=rtpmap:18 G729/8000",
        "a=inactive",
    )
    bob = [PCMU, CodecSpec("G723", 8000)]
    answer = make_answer(
        offer,
        bob,
        "host.example.com",
        [54344],
        username="bob",
        session_id="2890844730",
        session_version=2890844731,
        session_name="",
    )
    assert bytes(answer) == text(
        "v=0",
        "o=bob 2890844730 2890844731 IN IP4 host.example.com",
        "s=",
        "c=IN IP4 host.example.com",
        "t=0 0",
        "m=audio 54344 RTP/AVP 0 4",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:4 G723/8000",
        "a=inactive",
    )

    # Alice locks the codec down with a second offer; Bob accepts the single codec.
    second = sdp(
        "v=0",
        "o=alice 2890844526 2890844527 IN IP4 host.anywhere.com",
        "s=",
        "c=IN IP4 host.anywhere.com",
        "t=0 0",
        "m=audio 62986 RTP/AVP 4",
        "a=rtpmap:4 G723/8000",
        "a=sendrecv",
    )
    answer = make_answer(
        second,
        bob,
        "host.example.com",
        [54344],
        username="bob",
        session_id="2890844730",
        session_version=2890844732,
        session_name="",
    )
    assert bytes(answer) == text(
        "v=0",
        "o=bob 2890844730 2890844732 IN IP4 host.example.com",
        "s=",
        "c=IN IP4 host.example.com",
        "t=0 0",
        "m=audio 54344 RTP/AVP 4",
        "a=rtpmap:4 G723/8000",
        "a=sendrecv",
    )


# --- answer rules on realistic offers -----------------------------------------------------

BARESIP_OFFER = sdp(
    "v=0",
    "o=- 3829458301 3829458302 IN IP4 192.0.2.10",
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=audio 10000 RTP/AVP 96 9 0 8 101 102",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/48000",
    "a=fmtp:101 0-15",
    "a=rtpmap:102 telephone-event/8000",
    "a=fmtp:102 0-15",
    "a=rtcp-mux",
    "a=sendrecv",
)

AUDIO_VIDEO_OFFER = sdp(
    "v=0",
    "o=- 1 1 IN IP4 203.0.113.5",
    "s=-",
    "c=IN IP4 203.0.113.5",
    "t=0 0",
    "m=audio 40000 RTP/AVP 0 8",
    "m=video 40002 RTP/AVP 96 97",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 H264/90000",
    "a=fmtp:97 packetization-mode=1",
)


def test_formats_follow_the_offerers_order_and_telephone_event_is_kept() -> None:
    # Our preference (PCMA first) does not reorder: RFC 3264 §6.1 lets the offerer's order
    # stand, and the telephone-event at 48 kHz goes since no 48 kHz codec was accepted.
    answer = make_answer(BARESIP_OFFER, [PCMA, PCMU], "192.0.2.1", [20000])
    audio = answer.media[0]
    assert audio.formats == ["0", "8", "102"]
    assert audio.attributes == [
        Attribute("rtpmap", "0 PCMU/8000"),
        Attribute("rtpmap", "8 PCMA/8000"),
        Attribute("rtpmap", "102 telephone-event/8000"),
        Attribute("fmtp", "102 0-15"),
        Attribute("rtcp-mux"),
        Attribute("sendrecv"),
    ]
    assert [c.encoding for c in negotiated_codecs(BARESIP_OFFER, answer)[0]] == [
        "PCMU",
        "PCMA",
        "telephone-event",
    ]


def test_telephone_event_at_every_accepted_rate() -> None:
    answer = make_answer(BARESIP_OFFER, [OPUS, G722], "192.0.2.1", [20000])
    audio = answer.media[0]
    assert audio.formats == ["96", "9", "101", "102"]
    assert audio.fmtp(96) == "stereo=1;sprop-stereo=1"


def test_telephone_event_can_be_left_out() -> None:
    answer = make_answer(BARESIP_OFFER, [PCMU], "192.0.2.1", [20000], telephone_event=False)
    assert answer.media[0].formats == ["0"]


def test_telephone_event_alone_does_not_accept_a_stream() -> None:
    answer = make_answer(BARESIP_OFFER, [CodecSpec("G729", 8000)], "192.0.2.1", [20000])
    assert answer.media[0].port == 0
    assert answer.media[0].formats == BARESIP_OFFER.media[0].formats


def test_answer_fmtp_policy_and_rtcp_mux_switch() -> None:
    def ours(codec: RtpMap, offered: str | None) -> str | None:
        return "useinbandfec=1" if codec.encoding == "opus" else offered

    answer = make_answer(
        BARESIP_OFFER, [OPUS], "192.0.2.1", [20000], answer_fmtp=ours, rtcp_mux=False
    )
    audio = answer.media[0]
    assert audio.fmtp(96) == "useinbandfec=1"
    assert audio.fmtp(101) == "0-15"
    assert not audio.rtcp_mux


def test_unsupported_media_is_refused_with_port_zero_keeping_the_line() -> None:
    answer = make_answer(AUDIO_VIDEO_OFFER, [PCMU], "192.0.2.1", [20000, 20002])
    audio, video = answer.media
    assert (audio.port, audio.formats) == (20000, ["0"])
    # The offer did not write rtpmap for static type 0, so neither does the answer.
    assert audio.attributes == []
    assert (video.media, video.port, video.proto) == ("video", 0, "RTP/AVP")
    assert video.formats == ["96", "97"]
    assert video.attributes == []
    assert negotiated_codecs(AUDIO_VIDEO_OFFER, answer) == [[RtpMap(0, "PCMU", 8000)], []]


def test_video_is_accepted_with_its_fmtp() -> None:
    answer = make_answer(
        AUDIO_VIDEO_OFFER,
        [PCMA, CodecSpec("H264", 90000)],
        "192.0.2.1",
        [20000, 20002],
    )
    video = answer.media[1]
    assert (video.port, video.formats) == (20002, ["97"])
    assert video.fmtp(97) == "packetization-mode=1"


def test_a_zero_local_port_declines_the_stream() -> None:
    answer = make_answer(
        AUDIO_VIDEO_OFFER, [PCMU, CodecSpec("VP8", 90000)], "192.0.2.1", [20000, 0]
    )
    assert answer.media[1].rejected


def test_transport_profiles_not_listed_are_refused() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 198.51.100.7",
        "s=-",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
        "m=audio 49170 RTP/SAVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
        "m=image 49172 udptl t38",
    )
    refused = make_answer(offer, [PCMU], "192.0.2.1", [20000, 20002])
    assert [m.port for m in refused.media] == [0, 0]
    accepted = make_answer(offer, [PCMU], "192.0.2.1", [20000, 20002], protos=["RTP/SAVP", "udptl"])
    assert accepted.media[0].port == 20000
    assert accepted.media[0].proto == "RTP/SAVP"
    # Keys are the media server's business; the answer carries none of the offerer's.
    assert accepted.media[0].crypto == []
    # udptl is not RTP: no payload types to match, so the stream stays refused.
    assert accepted.media[1].port == 0


@pytest.mark.parametrize(
    ("offered", "local", "expected"),
    [
        (Direction.SENDONLY, Direction.SENDRECV, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.SENDRECV, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE),
        (Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV),
        (Direction.SENDRECV, Direction.SENDONLY, Direction.SENDONLY),
        (Direction.SENDRECV, Direction.RECVONLY, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.RECVONLY, Direction.INACTIVE),
        (Direction.SENDONLY, Direction.INACTIVE, Direction.INACTIVE),
    ],
)
def test_direction_rules(offered: Direction, local: Direction, expected: Direction) -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 192.0.2.9",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
        f"a={offered}",
    )
    answer = make_answer(offer, [PCMU], "192.0.2.1", [20000], direction=local)
    media = answer.media[0]
    assert media.direction is expected
    assert answer.media_direction(media) is expected


def test_session_level_direction_is_answered_per_stream() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 192.0.2.9",
        "t=0 0",
        "a=sendonly",
        "m=audio 5004 RTP/AVP 0",
    )
    answer = make_answer(offer, [PCMU], "192.0.2.1", [20000])
    assert answer.direction is None
    assert answer.media[0].direction is Direction.RECVONLY


def test_sendrecv_is_not_written_unless_the_offer_wrote_a_direction() -> None:
    answer = make_answer(AUDIO_VIDEO_OFFER, [PCMU], "192.0.2.1", [20000, 20002])
    assert answer.media[0].direction is None
    assert answer.media_direction(answer.media[0]) is Direction.SENDRECV


def test_rfc2543_hold_offer_is_answered_recvonly() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 2 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
    )
    answer = make_answer(offer, [PCMU], "192.0.2.1", [20000])
    assert answer.media[0].direction is Direction.RECVONLY


def test_answer_origin_connection_and_time_for_ipv6() -> None:
    offer = sdp(
        "v=0",
        "o=assistant 971731711378798081 0 IN IP6 2001:db8::20",
        "s=Live video feed for today's meeting",
        "c=IN IP6 2001:db8::20",
        "t=3338481189 3370017201",
        "m=audio 6000 RTP/AVP 2",
        "a=rtpmap:2 G726-32/8000",
    )
    answer = make_answer(
        offer,
        [CodecSpec("G726-32", 8000)],
        "2001:db8::10",
        [30000],
        username="pycc",
        session_id="42",
        session_version=7,
    )
    assert str(answer.origin) == "pycc 42 7 IN IP6 2001:db8::10"
    assert answer.connection == Connection("IN", "IP6", "2001:db8::10")
    assert answer.times == offer.times
    assert answer.media[0].formats == ["2"]
    assert SessionDescription.parse(bytes(answer)) == answer


def test_make_answer_checks_the_port_count() -> None:
    with pytest.raises(ValueError, match="2 local ports given for 1"):
        make_answer(BARESIP_OFFER, [PCMU], "192.0.2.1", [1, 2])


def test_negotiated_codecs_match_by_name_not_number() -> None:
    answer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 20000 RTP/AVP 111 0",
        "a=rtpmap:111 OPUS/48000/2",
    )
    assert negotiated_codecs(BARESIP_OFFER, answer) == [
        [RtpMap(111, "OPUS", 48000, 2), RtpMap(0, "PCMU", 8000)]
    ]


def test_negotiated_codecs_needs_matching_media_lines() -> None:
    with pytest.raises(SdpError, match="m= lines"):
        negotiated_codecs(AUDIO_VIDEO_OFFER, BARESIP_OFFER)


# --- hold, versions, connection rewrite ---------------------------------------------------


def two_streams(
    session_extra: str, audio_extra: str, video_extra: str, video_port: int = 5006
) -> SessionDescription:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 192.0.2.9",
        "t=0 0",
        session_extra,
        "m=audio 5004 RTP/AVP 0",
        audio_extra,
        f"m=video {video_port} RTP/AVP 96",
        "a=rtpmap:96 VP8/90000",
        video_extra,
    ]
    return sdp(*(line for line in lines if line))


@pytest.mark.parametrize(
    ("session_extra", "audio_extra", "video_extra", "held"),
    [
        ("", "", "", False),
        ("a=sendonly", "", "", True),
        ("a=inactive", "", "", True),
        ("a=recvonly", "", "", False),
        ("", "a=sendonly", "a=inactive", True),
        ("", "a=sendonly", "", False),
        ("", "a=sendonly", "a=sendrecv", False),
        ("a=sendonly", "", "a=sendrecv", False),
        ("", "c=IN IP4 0.0.0.0", "c=IN IP4 0.0.0.0", True),
        ("", "c=IN IP6 ::", "a=sendonly", True),
    ],
)
def test_is_hold(session_extra: str, audio_extra: str, video_extra: str, held: bool) -> None:
    assert is_hold(two_streams(session_extra, audio_extra, video_extra)) is held


def test_is_hold_rfc2543_session_connection_and_refused_streams() -> None:
    old_style = sdp(
        "v=0",
        "o=- 1 2 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
    )
    assert is_hold(old_style)
    assert stream_on_hold(old_style, old_style.media[0])
    all_refused = sdp(
        "v=0",
        "o=- 1 2 IN IP4 192.0.2.9",
        "s=-",
        "t=0 0",
        "a=inactive",
        "m=audio 0 RTP/AVP 0",
    )
    assert not is_hold(all_refused)
    # A held audio stream next to a refused video stream is still a hold.
    assert is_hold(two_streams("", "a=sendonly", "", video_port=0))
    assert not is_hold(two_streams("", "", "a=inactive", video_port=0))


def test_bump_version() -> None:
    bumped = bump_version(BARESIP_OFFER)
    assert bumped.origin.sess_version == 3829458303
    assert BARESIP_OFFER.origin.sess_version == 3829458302
    before = bytes(BARESIP_OFFER).split(b"\r\n")
    after = bytes(bumped).split(b"\r\n")
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [1]
    assert bump_version(bumped).origin.sess_version == 3829458304


def test_rewrite_connection_anchors_every_stream() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 203.0.113.5",
        "s=-",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
        "a=ice-lite",
        "m=audio 40000 RTP/AVP 0",
        "c=IN IP4 203.0.113.6",
        "a=rtcp:40001 IN IP4 203.0.113.6",
        "a=candidate:1 1 UDP 2130706431 203.0.113.6 40000 typ host",
        "a=rtcp-mux",
        "m=video 0 RTP/AVP 96",
        "m=audio 40004 RTP/AVP 8",
    )
    original = bytes(offer)
    anchored = rewrite_connection(offer, "192.0.2.1", [20000, 20002, 20004])
    assert bytes(offer) == original
    assert anchored.connection == Connection("IN", "IP4", "192.0.2.1")
    assert anchored.origin == offer.origin
    assert anchored.attributes == []
    assert [m.port for m in anchored.media] == [20000, 0, 20004]
    assert all(m.connection is None for m in anchored.media)
    assert anchored.media[0].attributes == [Attribute("rtcp-mux")]
    assert anchored.media[2].formats == ["8"]


def test_rewrite_connection_to_ipv6_keeps_rfc2543_hold() -> None:
    held = sdp(
        "v=0",
        "o=- 1 2 IN IP4 192.0.2.9",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
    )
    anchored = rewrite_connection(held, "2001:db8::1", [20000])
    assert anchored.connection == Connection("IN", "IP6", "2001:db8::1")
    assert anchored.media[0].direction is Direction.SENDONLY
    assert is_hold(anchored)


def test_rewrite_connection_checks_the_port_count() -> None:
    with pytest.raises(ValueError, match="1 ports given for 2"):
        rewrite_connection(AUDIO_VIDEO_OFFER, "192.0.2.1", [1])


# --- properties ---------------------------------------------------------------------------

CODEC_POOL = [
    RtpMap(0, "PCMU", 8000),
    RtpMap(8, "PCMA", 8000),
    RtpMap(9, "G722", 8000),
    RtpMap(18, "G729", 8000),
    RtpMap(96, "opus", 48000, 2),
    RtpMap(97, "iLBC", 8000),
    RtpMap(98, "speex", 16000),
    RtpMap(101, "telephone-event", 8000),
    RtpMap(102, "telephone-event", 48000),
    RtpMap(103, "telephone-event", 16000),
]


@st.composite
def offers(draw: st.DrawFn) -> SessionDescription:
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.9", "s=-", "c=IN IP4 192.0.2.9", "t=0 0"]
    for _ in range(draw(st.integers(1, 3))):
        codecs = draw(st.lists(st.sampled_from(CODEC_POOL), min_size=1, unique=True))
        port = draw(st.sampled_from([0, 5004, 6000]))
        lines.append(f"m=audio {port} RTP/AVP {' '.join(str(c.payload_type) for c in codecs)}")
        lines += [f"a=rtpmap:{c}" for c in codecs]
        direction = draw(st.none() | st.sampled_from(list(Direction)))
        if direction is not None:
            lines.append(f"a={direction}")
    return sdp(*lines)


@given(
    offers(),
    st.lists(st.sampled_from(CODEC_POOL), unique=True),
    st.sampled_from(list(Direction)),
)
def test_answers_obey_rfc3264(
    offer: SessionDescription, supported: list[RtpMap], local: Direction
) -> None:
    ports = [20000 + 2 * i for i in range(len(offer.media))]
    answer = make_answer(offer, supported, "192.0.2.1", ports, direction=local)
    assert SessionDescription.parse(bytes(answer)) == answer
    assert len(answer.media) == len(offer.media)
    negotiated = negotiated_codecs(offer, answer)
    for offered, answered, port, codecs in zip(
        offer.media, answer.media, ports, negotiated, strict=True
    ):
        assert (answered.media, answered.proto) == (offered.media, offered.proto)
        if answered.rejected:
            assert answered.formats == offered.formats
            assert codecs == []
            continue
        assert answered.port == port and not offered.rejected
        # A subsequence of the offered formats, in the offer's order.
        remaining = iter(offered.formats)
        assert all(fmt in remaining for fmt in answered.formats)
        assert any(c.encoding != "telephone-event" for c in codecs) or any(
            c.encoding == "telephone-event" for c in supported
        )
        for codec in codecs:
            is_event = codec.encoding == "telephone-event"
            assert codec in supported or is_event
        wanted = offer.media_direction(offered)
        got = answer.media_direction(answered)
        assert got.sends == (wanted.receives and local.sends)
        assert got.receives == (wanted.sends and local.receives)
