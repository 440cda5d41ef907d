"""Parsing and serializing SDP (RFC 8866) with pycc.sdp.session, on realistic descriptions."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pycc.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    Crypto,
    Direction,
    MediaDescription,
    Origin,
    Rtcp,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
    UnknownLine,
)

RFC5118_WIRE = Path(__file__).parents[1] / "vectors" / "sip-torture" / "rfc5118" / "wire"


def crlf(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


BARESIP_OFFER = crlf(
    "v=0",
    "o=- 3829458301 3829458302 IN IP4 192.0.2.10",
    "s=-",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "a=tool:baresip 3.10.1",
    "m=audio 10000 RTP/AVP 96 9 0 8 101 102",
    "b=AS:89",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1;useinbandfec=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/48000",
    "a=fmtp:101 0-15",
    "a=rtpmap:102 telephone-event/8000",
    "a=fmtp:102 0-15",
    "a=rtcp-mux",
    "a=sendrecv",
    "a=label:1",
    "a=ssrc:3145727385 cname:5b7c1e5a-6f0e-4d4e-9e3c-b1f1a0c3d2e4",
    "a=ptime:20",
)

SIPP_OFFER = crlf(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
)

SRTP_OFFER = crlf(
    "v=0",
    "o=pycc 2890844526 2890842807 IN IP4 198.51.100.7",
    "s=SRTP call",
    "c=IN IP4 198.51.100.7",
    "t=0 0",
    "m=audio 49170 RTP/SAVP 0 8 101",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20 "
    "KDR=1 UNENCRYPTED_SRTCP",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendrecv",
)

VIDEO_OFFER = crlf(
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 203.0.113.5",
    "s=-",
    "c=IN IP4 203.0.113.5",
    "b=AS:2048",
    "t=0 0",
    "m=audio 40000 RTP/AVPF 111 0",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtcp:40001 IN IP4 203.0.113.5",
    "m=video 40002 RTP/AVPF 96 97 98",
    "b=AS:1500",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtcp-fb:96 ccm fir",
    "a=rtpmap:97 H264/90000",
    "a=fmtp:97 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
    "a=rtpmap:98 H264/90000",
    "a=fmtp:98 profile-level-id=42e01f;packetization-mode=0",
    "a=rtcp-mux",
    "a=rtcp:40002",
    "a=recvonly",
)

SAMPLES = {
    "baresip": BARESIP_OFFER,
    "sipp": SIPP_OFFER,
    "srtp": SRTP_OFFER,
    "video": VIDEO_OFFER,
}


def rfc5118_body(name: str) -> bytes:
    message = (RFC5118_WIRE / name).read_bytes()
    head, _, body = message.partition(b"\r\n\r\n")
    # The wire copies carry a corrected Content-Length; check we cut the body where it says.
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    assert len(body) == length
    return body


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_is_byte_exact(name: str) -> None:
    data = SAMPLES[name]
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data
    assert sd.to_bytes() == data
    assert str(sd) == data.decode()
    assert SessionDescription.parse(data.decode()) == sd


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_lf_line_ends_and_trailing_blank_line_are_tolerated(name: str) -> None:
    data = SAMPLES[name]
    lf_only = data.replace(b"\r\n", b"\n")
    assert bytes(SessionDescription.parse(lf_only)) == data
    assert bytes(SessionDescription.parse(data + b"\r\n")) == data
    assert bytes(SessionDescription.parse(lf_only + b"\n\n")) == data


@pytest.mark.parametrize("name", ["ipv6-in-sdp.dat", "mult-ip-in-sdp.dat", "ipv4-mapped-ipv6.dat"])
def test_rfc5118_bodies_round_trip(name: str) -> None:
    body = rfc5118_body(name)
    assert bytes(SessionDescription.parse(body)) == body


def test_rfc5118_ipv6_in_sdp() -> None:
    sd = SessionDescription.parse(rfc5118_body("ipv6-in-sdp.dat"))
    assert sd.origin == Origin("assistant", "971731711378798081", 0, "IN", "IP6", "2001:db8::20")
    assert sd.session_name == "Live video feed for today's meeting"
    assert sd.connection == Connection("IN", "IP6", "2001:db8::20")
    assert sd.connection.ip == ipaddress.IPv6Address("2001:db8::20")
    assert sd.times == [Timing(3338481189, 3370017201)]
    audio, video = sd.media
    assert audio.rtpmap(2) == RtpMap(2, "G726-32", 8000)
    assert video.codecs() == [RtpMap(107, "H263-1998", 90000)]
    assert sd.media_connection(video) == sd.connection


def test_rfc5118_multiple_address_families() -> None:
    sd = SessionDescription.parse(rfc5118_body("mult-ip-in-sdp.dat"))
    assert sd.connection is None
    assert sd.session_name == ""
    audio, video = sd.media
    assert sd.media_connection(audio) == Connection("IN", "IP4", "192.0.2.1")
    assert sd.media_connection(video) == Connection("IN", "IP6", "2001:db8::1")
    assert isinstance(audio.connection and audio.connection.ip, ipaddress.IPv4Address)


def test_rfc5118_ipv4_mapped_address() -> None:
    sd = SessionDescription.parse(rfc5118_body("ipv4-mapped-ipv6.dat"))
    assert sd.connection is not None
    ip = sd.connection.ip
    assert isinstance(ip, ipaddress.IPv6Address)
    assert ip.ipv4_mapped == ipaddress.IPv4Address("192.0.2.2")
    assert not sd.connection.is_null


# --- the model of each sample -------------------------------------------------------------


def test_baresip_offer_model() -> None:
    sd = SessionDescription.parse(BARESIP_OFFER)
    assert sd.origin.sess_version == 3829458302
    assert sd.attribute("tool") == Attribute("tool", "baresip 3.10.1")
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 10000, "RTP/AVP")
    assert audio.formats == ["96", "9", "0", "8", "101", "102"]
    assert audio.payload_types == [96, 9, 0, 8, 101, 102]
    assert audio.bandwidths == [Bandwidth("AS", 89)]
    assert [c.encoding for c in audio.codecs()] == [
        "opus",
        "G722",
        "PCMU",
        "PCMA",
        "telephone-event",
        "telephone-event",
    ]
    assert audio.rtpmap(96) == RtpMap(96, "opus", 48000, 2)
    assert audio.fmtp(96) == "stereo=1;sprop-stereo=1;useinbandfec=1"
    assert audio.fmtp_parameters(96) == {"stereo": "1", "sprop-stereo": "1", "useinbandfec": "1"}
    assert audio.fmtp(101) == "0-15"
    assert audio.fmtp(9) is None
    assert audio.ptime == 20
    assert audio.rtcp_mux
    assert audio.rtcp is None
    assert audio.direction is Direction.SENDRECV
    assert audio.attribute("ssrc") == Attribute(
        "ssrc", "3145727385 cname:5b7c1e5a-6f0e-4d4e-9e3c-b1f1a0c3d2e4"
    )


def test_static_payload_type_needs_no_rtpmap() -> None:
    sd = SessionDescription.parse(SIPP_OFFER.replace(b"a=rtpmap:0 PCMU/8000\r\n", b""))
    (audio,) = sd.media
    assert audio.attributes == []
    assert audio.rtpmap(0) == RtpMap(0, "PCMU", 8000)
    assert audio.codecs() == [RtpMap(0, "PCMU", 8000)]
    assert audio.rtpmap(96) is None


def test_srtp_offer_keeps_crypto_lines() -> None:
    sd = SessionDescription.parse(SRTP_OFFER)
    (audio,) = sd.media
    assert audio.proto == "RTP/SAVP"
    assert audio.is_rtp
    first, second = audio.crypto
    assert first == Crypto(
        1,
        "AES_CM_128_HMAC_SHA1_80",
        "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
    )
    assert first.inline_key == "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
    assert second.suite == "AES_CM_128_HMAC_SHA1_32"
    assert second.session_params == ("KDR=1", "UNENCRYPTED_SRTCP")
    assert [str(c) for c in audio.crypto] == audio.attribute_values("crypto")
    assert audio.fmtp(101) == "0-16"


def test_video_offer_model() -> None:
    sd = SessionDescription.parse(VIDEO_OFFER)
    assert sd.bandwidths == [Bandwidth("AS", 2048)]
    audio, video = sd.media
    assert audio.rtcp == Rtcp(40001, "IN", "IP4", "203.0.113.5")
    assert not audio.rtcp_mux
    assert sd.media_direction(audio) is Direction.SENDRECV
    assert video.codecs() == [
        RtpMap(96, "VP8", 90000),
        RtpMap(97, "H264", 90000),
        RtpMap(98, "H264", 90000),
    ]
    assert video.fmtp_parameters(97)["packetization-mode"] == "1"
    assert video.fmtp_parameters(98)["packetization-mode"] == "0"
    assert video.attribute_values("rtcp-fb") == ["96 nack", "96 nack pli", "96 ccm fir"]
    assert video.rtcp_mux
    assert video.rtcp == Rtcp(40002)
    assert sd.media_direction(video) is Direction.RECVONLY


# --- details of the grammar ---------------------------------------------------------------


def test_multicast_connection_suffixes() -> None:
    ip4 = Connection.parse("IN IP4 224.2.1.1/127/3")
    assert ip4 == Connection("IN", "IP4", "224.2.1.1", ttl=127, count=3)
    assert str(ip4) == "IN IP4 224.2.1.1/127/3"
    assert Connection.parse("IN IP4 224.2.1.1/127") == Connection("IN", "IP4", "224.2.1.1", 127)
    ip6 = Connection.parse("IN IP6 ff15::101/3")
    assert ip6 == Connection("IN", "IP6", "ff15::101", count=3)
    assert str(ip6) == "IN IP6 ff15::101/3"
    # An address type pycc does not know is kept as written.
    assert Connection.parse("ATM NSAP 47.0091/x").address == "47.0091/x"


def test_connection_for_address_and_null_addresses() -> None:
    assert Connection.for_address("192.0.2.1") == Connection("IN", "IP4", "192.0.2.1")
    assert Connection.for_address("2001:db8::1") == Connection("IN", "IP6", "2001:db8::1")
    assert Connection.for_address("pbx.example.com").ip is None
    assert Connection.for_address("0.0.0.0").is_null
    assert Connection.for_address("::").is_null
    assert Connection.for_address("::ffff:0.0.0.0").is_null
    assert not Connection.for_address("192.0.2.1").is_null
    assert not Connection.for_address("pbx.example.com").is_null


def test_media_port_count() -> None:
    media = MediaDescription.parse_media_line("video 49170/2 RTP/AVP 31")
    assert (media.port, media.port_count, media.formats) == (49170, 2, ["31"])
    assert media.media_line() == "video 49170/2 RTP/AVP 31"


def test_non_rtp_media_formats_are_not_payload_types() -> None:
    data = crlf(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "m=image 0 udptl t38",
        "a=fmtp:t38 whatever",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    )
    sd = SessionDescription.parse(data)
    image, app = sd.media
    assert not image.is_rtp and image.payload_types == []
    assert image.rejected
    assert image.fmtp("t38") == "whatever"
    assert app.formats == ["webrtc-datachannel"]
    assert bytes(sd) == data


def test_attribute_forms_are_kept_exactly() -> None:
    data = crlf(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "a=flag",
        "a=empty:",
        "a=colons:a:b:c",
        "a=spaces:  two leading",
    )
    sd = SessionDescription.parse(data)
    assert sd.attributes == [
        Attribute("flag"),
        Attribute("empty", ""),
        Attribute("colons", "a:b:c"),
        Attribute("spaces", "  two leading"),
    ]
    assert bytes(sd) == data


def test_unknown_lines_are_kept_in_place() -> None:
    data = crlf(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "x=session extension",
        "t=0 0",
        "r=7d 1h 0 25h",
        "m=audio 5004 RTP/AVP 0",
        "y=right after m",
        "c=IN IP4 192.0.2.1",
        "a=sendonly",
        "Q=after the last attribute",
    )
    sd = SessionDescription.parse(data)
    assert sd.unknown_lines == [UnknownLine("x", "session extension", "s")]
    assert sd.times == [Timing(0, 0, ("7d 1h 0 25h",))]
    assert sd.media[0].unknown_lines == [
        UnknownLine("y", "right after m", "m"),
        UnknownLine("Q", "after the last attribute", "a"),
    ]
    assert bytes(sd) == data


def test_every_session_field_round_trips() -> None:
    data = crlf(
        "v=0",
        "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5",
        "s=SDP Seminar",
        "i=A Seminar on the session description protocol",
        "u=http://www.example.com/seminars/sdp.pdf",
        "e=j.doe@example.com (Jane Doe)",
        "e=ops@example.com",
        "p=+1 617 555-6011",
        "c=IN IP4 224.2.17.12/127",
        "b=CT:1000",
        "t=2873397496 2873404696",
        "r=604800 3600 0 90000",
        "t=2873397500 2873404700",
        "z=2882844526 -1h 2898848070 0",
        "k=prompt",
        "a=recvonly",
        "m=audio 49170 RTP/AVP 0",
        "i=main audio",
        "k=clear:secret",
        "m=video 51372 RTP/AVP 99",
        "b=AS:512",
        "a=rtpmap:99 h263-1998/90000",
    )
    sd = SessionDescription.parse(data)
    assert sd.information == "A Seminar on the session description protocol"
    assert sd.uri == "http://www.example.com/seminars/sdp.pdf"
    assert sd.emails == ["j.doe@example.com (Jane Doe)", "ops@example.com"]
    assert sd.phones == ["+1 617 555-6011"]
    assert sd.times == [
        Timing(2873397496, 2873404696, ("604800 3600 0 90000",)),
        Timing(2873397500, 2873404700),
    ]
    assert sd.timezones == "2882844526 -1h 2898848070 0"
    assert sd.key == "prompt"
    assert sd.media[0].information == "main audio"
    assert sd.media[0].key == "clear:secret"
    assert sd.direction is Direction.RECVONLY
    assert sd.media_direction(sd.media[0]) is Direction.RECVONLY
    assert bytes(sd) == data


def test_out_of_order_lines_are_accepted_and_written_in_rfc_order() -> None:
    sd = SessionDescription.parse(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.1",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            "s=late name",
            "m=audio 5004 RTP/AVP 0",
            "a=ptime:20",
            "c=IN IP4 192.0.2.2",
        )
    )
    assert bytes(sd) == crlf(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=late name",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
        "c=IN IP4 192.0.2.2",
        "a=ptime:20",
    )


def test_repeated_spaces_between_fields_are_tolerated() -> None:
    sd = SessionDescription.parse(
        b"v=0\r\no=-  1 1  IN IP4 192.0.2.1\r\ns=-\r\nt=0  0\r\nm=audio  5004 RTP/AVP 0 8 \r\n"
    )
    assert sd.origin.address == "192.0.2.1"
    assert sd.media[0].formats == ["0", "8"]


def test_non_utf8_bytes_survive_a_round_trip() -> None:
    data = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=caf\xe9\r\nt=0 0\r\n"
    sd = SessionDescription.parse(data)
    assert bytes(sd) == data


def test_decimal_ptime() -> None:
    sd = SessionDescription.parse(SIPP_OFFER + b"a=ptime:22.5\r\n")
    assert sd.media[0].ptime == 22.5


# --- direction and attribute editing ------------------------------------------------------


def test_direction_is_inherited_from_the_session_and_defaults_to_sendrecv() -> None:
    base = SessionDescription.parse(SIPP_OFFER)
    assert base.direction is None
    assert base.media_direction(base.media[0]) is Direction.SENDRECV

    held = SessionDescription.parse(SIPP_OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n"))
    assert held.direction is Direction.SENDONLY
    assert held.media[0].direction is None
    assert held.media_direction(held.media[0]) is Direction.SENDONLY

    overridden = SessionDescription.parse(bytes(held) + b"a=inactive\r\n")
    assert overridden.media_direction(overridden.media[0]) is Direction.INACTIVE


def test_set_direction_replaces_in_place() -> None:
    sd = SessionDescription.parse(BARESIP_OFFER)
    audio = sd.media[0]
    names = [a.name for a in audio.attributes]
    audio.set_direction(Direction.SENDONLY)
    assert [a.name for a in audio.attributes] == [
        "sendonly" if n == "sendrecv" else n for n in names
    ]
    assert audio.direction is Direction.SENDONLY
    audio.set_direction(None)
    assert audio.direction is None
    audio.set_direction(Direction.INACTIVE)
    assert audio.attributes[-1] == Attribute("inactive")


def test_set_and_remove_attributes() -> None:
    sd = SessionDescription.parse(BARESIP_OFFER)
    audio = sd.media[0]
    audio.set_attribute("ptime", "30")
    assert audio.ptime == 30
    assert audio.attribute_values("ptime") == ["30"]
    audio.set_attribute("maxptime", "60")
    assert audio.attributes[-1] == Attribute("maxptime", "60")
    audio.remove_attributes("rtpmap", "fmtp")
    assert audio.rtpmap(96) is None
    assert audio.rtpmap(0) == RtpMap(0, "PCMU", 8000)
    assert not audio.has_attribute("fmtp")


def test_direction_helpers() -> None:
    assert Direction.SENDONLY.reversed() is Direction.RECVONLY
    assert Direction.RECVONLY.reversed() is Direction.SENDONLY
    assert Direction.INACTIVE.reversed() is Direction.INACTIVE
    assert Direction.SENDRECV.reversed() is Direction.SENDRECV
    assert Direction.from_flags(send=True, receive=False) is Direction.SENDONLY


def test_rtpmap_text() -> None:
    assert str(RtpMap(96, "opus", 48000, 2)) == "96 opus/48000/2"
    assert str(RtpMap(0, "PCMU", 8000)) == "0 PCMU/8000"
    assert RtpMap.parse("101 telephone-event/8000") == RtpMap(101, "telephone-event", 8000)


# --- errors -------------------------------------------------------------------------------

VALID_HEAD = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"]


@pytest.mark.parametrize(
    ("lines", "line", "field", "fragment"),
    [
        (["o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"], 1, "v", "must start with v="),
        (["", "v=0"], 1, None, "expected '<type>=<value>'"),
        (["v=1", *VALID_HEAD[1:]], 1, "v", "unsupported protocol version"),
        (["v=0", "o=- 1 1 IN IP4", "s=-", "t=0 0"], 2, "o", "got 5 fields"),
        (["v=0", "o=- 1 x IN IP4 192.0.2.1", "s=-", "t=0 0"], 2, "o", "sess-version 'x'"),
        (["v=0", "s=-", "t=0 0"], None, "o", "missing o="),
        (["v=0", "o=- 1 1 IN IP4 192.0.2.1", "t=0 0"], None, "s", "missing s="),
        (["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "m=audio 1 RTP/AVP 0"], 4, "t", "missing t="),
        ([*VALID_HEAD, "o=- 2 2 IN IP4 192.0.2.1"], 5, "o", "more than one o="),
        ([*VALID_HEAD, "c=IN IP4"], 5, "c", "<connection-address>"),
        ([*VALID_HEAD, "c=IN IP4 224.2.1.1/300"], 5, "c", "TTL 300 is out of range"),
        ([*VALID_HEAD, "b=AS"], 5, "b", "<bwtype>:<bandwidth>"),
        ([*VALID_HEAD, "b=AS:fast"], 5, "b", "bandwidth 'fast'"),
        (["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 later"], 4, "t", "stop time 'later'"),
        (["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "r=1d 1h 0", "t=0 0"], 4, "r", "follow a t="),
        ([*VALID_HEAD, "a=:value"], 5, "a", "empty attribute name"),
        ([*VALID_HEAD, "m=audio abc RTP/AVP 0"], 5, "m", "port 'abc' is not a number"),
        ([*VALID_HEAD, "m=audio 70000 RTP/AVP 0"], 5, "m", "port 70000 is out of range"),
        ([*VALID_HEAD, "m=audio 5004/0 RTP/AVP 0"], 5, "m", "port count 0"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP PCMU"], 5, "m", "payload type 'PCMU'"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0 128"], 5, "m", "payload type 128"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP"], 5, "m", "no media formats"),
        ([*VALID_HEAD, "m=audio 5004"], 5, "m", "<media> <port> <proto>"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "a=rtpmap:x PCMU/8000"], 6, "rtpmap", "'x'"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "a=rtpmap:0 PCMU"], 6, "rtpmap", "clock rate"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "a=rtpmap:0 PCMU/fast"], 6, "rtpmap", "'fast'"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "a=fmtp:x y=1"], 6, "fmtp", "payload type 'x'"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "t=0 0"], 6, "t", "not allowed in a media"),
        ([*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "c=IN IP4 a", "c=IN IP4 b"], 7, "c", "more"),
        ([*VALID_HEAD, "hello"], 5, None, "expected '<type>=<value>'"),
        ([*VALID_HEAD, "", "a=x"], 5, None, "expected '<type>=<value>'"),
        ([*VALID_HEAD, "a=bad\rvalue"], 5, "a", "CR or NUL"),
        ([*VALID_HEAD, "1=digit type"], 5, None, "expected '<type>=<value>'"),
    ],
)
def test_errors_name_the_line_and_field(
    lines: list[str], line: int | None, field: str | None, fragment: str
) -> None:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse("\n".join(lines) + "\n")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.line == line
    assert error.field == field
    message = str(error)
    assert fragment in message
    if line is not None:
        assert f"line {line}" in message
    if field is not None:
        assert (f"{field}=" if len(field) == 1 else f"a={field}") in message


def test_empty_input_is_an_error_about_v() -> None:
    for data in (b"", b"\r\n", "\n\n"):
        with pytest.raises(SdpError, match="v="):
            SessionDescription.parse(data)


def test_lazy_attribute_views_raise_sdp_error() -> None:
    sd = SessionDescription.parse(
        crlf(*VALID_HEAD, "m=audio 5004 RTP/AVP 0", "a=ptime:soon", "a=rtcp:x", "a=crypto:1 x")
    )
    media = sd.media[0]
    with pytest.raises(SdpError, match="a=ptime"):
        _ = media.ptime
    with pytest.raises(SdpError, match="a=rtcp"):
        _ = media.rtcp
    with pytest.raises(SdpError, match="a=crypto"):
        _ = media.crypto


def test_serializer_refuses_line_injection() -> None:
    sd = SessionDescription.parse(SIPP_OFFER)
    sd.session_name = "x\r\na=injected"
    with pytest.raises(SdpError, match="s="):
        sd.to_bytes()
    sd = SessionDescription.parse(SIPP_OFFER)
    sd.media[0].attributes.append(Attribute("x", "1\n"))
    with pytest.raises(SdpError, match="a="):
        bytes(sd)


def test_serializer_refuses_what_it_could_not_parse_back() -> None:
    sd = SessionDescription.parse(SIPP_OFFER)
    sd.media[0].formats = []
    with pytest.raises(SdpError, match="no media formats"):
        bytes(sd)
    sd = SessionDescription.parse(SIPP_OFFER)
    sd.connection = Connection("IN", "IP4", "224.2.1.1", count=2)
    with pytest.raises(SdpError, match="TTL"):
        bytes(sd)


def test_built_description_defaults() -> None:
    sd = SessionDescription(
        origin=Origin("pycc", "1", 1, "IN", "IP4", "192.0.2.1"),
        connection=Connection.for_address("192.0.2.1"),
        media=[MediaDescription(media="audio", port=4000, proto="RTP/AVP", formats=["0"])],
    )
    assert bytes(sd) == crlf(
        "v=0",
        "o=pycc 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0",
    )
