"""pycc.sdp.anchor: the B2BUA's two offer/answer exchanges (RFC 3264 twice, RFC 4568 per leg).

The offers are written as phones send them (baresip, Linphone, a WebRTC-style SRTP offer with
BUNDLE, ssrc, extmap and a VP8 video line). ``relay_offer`` must give the far party pycc's
address and ports, the offerer's codecs first with their numbers, the codecs pycc transcodes
after them on free numbers, telephone-event at every audio rate, and none of the offerer's own
RTP session attributes or keys. ``relay_answer`` must relay when the far party picked one of the
offerer's codecs, transcode otherwise, mirror the far party's direction (hold), and refuse what
it cannot serve. A Hypothesis property drives random codec lists on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pycc.sdp import Crypto, Direction, Origin, RtpMap, SdpError, SessionDescription
from pycc.sdp.anchor import LocalCodec, StreamPlan, relay_answer, relay_offer
from pycc.sdp.crypto import new_crypto
from pycc.sdp.offer_answer import CodecSpec, codec_matches, make_answer

PYCC = "203.0.113.5"
OFFERER_PORTS = [40000, 40002]  # pycc's ports towards the offerer
FAR_PORTS = [41000, 41002]  # pycc's ports towards the far party
ORIGIN_FAR = Origin("pycc", "777", 3, "IN", "IP4", PYCC)
ORIGIN_OFFERER = Origin("pycc", "888", 5, "IN", "IP4", PYCC)

#: What the media server transcodes, as it offers them (RFC 3551 static numbers; Opus dynamic).
TRANSCODABLE = (
    LocalCodec("PCMU", 8000, 1, 0),
    LocalCodec("PCMA", 8000, 1, 8),
    LocalCodec("G722", 8000, 1, 9),
    LocalCodec("opus", 48000, 2, None, "minptime=10;useinbandfec=1"),
)


def sdp(text: str) -> SessionDescription:
    lines = [line.strip() for line in text.strip().splitlines()]
    return SessionDescription.parse("\r\n".join(lines) + "\r\n")


def key(tag: int, suite: str = "AES_CM_128_HMAC_SHA1_80", seed: int = 0) -> Crypto:
    """A deterministic SDES line (the key bytes only need to be distinct per party)."""
    attr = new_crypto(tag, suite, lambda n: bytes((seed + i) % 256 for i in range(n)))
    return Crypto.parse(attr.format())


OFFERER_KEY_80 = key(1, seed=1)
OFFERER_KEY_32 = key(2, "AES_CM_128_HMAC_SHA1_32", seed=2)
PYCC_KEY_FAR = key(1, seed=100)  # what pycc offers the far party
PYCC_KEY_ANSWER = key(1, seed=200)  # pycc's answer to an SRTP offerer

BARESIP = """
    v=0
    o=- 1730982271 3563120466 IN IP4 192.168.1.10
    s=-
    c=IN IP4 192.168.1.10
    t=0 0
    a=tool:baresip 3.10.0
    m=audio 10022 RTP/AVP 111 9 0 8 101
    b=AS:64
    a=rtpmap:111 opus/48000/2
    a=fmtp:111 stereo=1;sprop-stereo=1
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=rtcp-mux
    a=ssrc:3735928559 cname:baresip@host
    a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
    a=sendrecv
    a=label:1
    a=ptime:20
"""

LINPHONE = """
    v=0
    o=alice 2349 1772 IN IP4 10.0.0.23
    s=Talk
    c=IN IP4 10.0.0.23
    t=0 0
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
    m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
    a=rtpmap:96 opus/48000/2
    a=fmtp:96 useinbandfec=1
    a=rtpmap:97 speex/16000
    a=fmtp:97 vbr=on
    a=rtpmap:98 speex/8000
    a=fmtp:98 vbr=on
    a=fmtp:18 annexb=yes
    a=rtpmap:101 telephone-event/48000
    a=rtpmap:99 telephone-event/16000
    a=rtpmap:100 telephone-event/8000
    a=rtcp:7079
    a=rtcp-fb:* trr-int 1000
    a=rtcp-fb:* ccm tmmbr
"""

SRTP_WITH_VIDEO = f"""
    v=0
    o=- 4611731400430051336 2 IN IP4 192.168.1.30
    s=-
    t=0 0
    a=group:BUNDLE 0 1
    a=msid-semantic: WMS stream
    m=audio 50000 RTP/SAVPF 111 0 8 126
    c=IN IP4 192.168.1.30
    a=rtcp:50001 IN IP4 192.168.1.30
    a=mid:0
    a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
    a=sendrecv
    a=msid:stream track-a
    a=rtcp-mux
    a=rtcp-rsize
    a=crypto:{OFFERER_KEY_80}
    a=crypto:{OFFERER_KEY_32}
    a=rtpmap:111 opus/48000/2
    a=rtcp-fb:111 transport-cc
    a=fmtp:111 minptime=10;useinbandfec=1
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:126 telephone-event/8000
    a=ssrc:1001 cname:webrtc
    a=ssrc:1001 msid:stream track-a
    m=video 50002 RTP/SAVPF 96 97
    c=IN IP4 192.168.1.30
    a=rtcp:50003 IN IP4 192.168.1.30
    a=mid:1
    a=sendrecv
    a=rtcp-mux
    a=crypto:{OFFERER_KEY_80}
    a=rtpmap:96 VP8/90000
    a=rtcp-fb:96 goog-remb
    a=rtcp-fb:96 ccm fir
    a=rtcp-fb:96 nack
    a=rtcp-fb:96 nack pli
    a=rtpmap:97 rtx/90000
    a=fmtp:97 apt=96
    a=ssrc-group:FID 2001 2002
    a=ssrc:2001 cname:webrtc
    a=ssrc:2002 cname:webrtc
"""

#: Attributes of the offerer's own RTP session, none of which may reach the far party.
SESSION_BOUND = ("ssrc", "ssrc-group", "msid", "msid-semantic", "group", "extmap", "mid",
                 "crypto", "rtcp-mux", "rtcp-rsize", "rtcp")


def offer_to_far(offer: SessionDescription, *, keys: Sequence[Sequence[Crypto]] | None = None,
                 transcodable: Sequence[LocalCodec] = TRANSCODABLE) -> SessionDescription:
    return relay_offer(offer, PYCC, FAR_PORTS[: len(offer.media)], origin=ORIGIN_FAR,
                       transcodable=transcodable, crypto=keys)


def answer_offerer(
    offer: SessionDescription, relayed: SessionDescription, far_answer: SessionDescription, *,
    keys: Sequence[Crypto | None] | None = None,
    transcodable: Sequence[LocalCodec] = TRANSCODABLE,
) -> tuple[SessionDescription, list[StreamPlan]]:
    return relay_answer(offer, relayed, far_answer, PYCC, OFFERER_PORTS[: len(offer.media)],
                        origin=ORIGIN_OFFERER, transcodable=transcodable, crypto=keys)


def far_answer(*media: str, host: str = "198.51.100.7") -> SessionDescription:
    """The far party's answer: ``media`` holds each m= section's lines, one string each."""
    head = f"v=0\no=far 1 1 IN IP4 {host}\ns=-\nc=IN IP4 {host}\nt=0 0\n"
    return sdp(head + "\n".join(media))


def names(codecs: Sequence[RtpMap]) -> list[tuple[int, str, int, int]]:
    return [(c.payload_type, c.encoding, c.clock_rate, c.channels) for c in codecs]


def attribute_names(description: SessionDescription) -> set[str]:
    found = {a.name for a in description.attributes}
    for media in description.media:
        found |= {a.name for a in media.attributes}
    return found


# -- relay_offer -------------------------------------------------------------------------------


def test_baresip_offer_keeps_its_codecs_and_numbers_first() -> None:
    offer = sdp(BARESIP)
    relayed = offer_to_far(offer)
    media = relayed.media[0]
    assert media.formats[:5] == ["111", "9", "0", "8", "101"]
    assert names(media.codecs()[:5]) == names(offer.media[0].codecs())
    # Every transcodable codec was already offered; only events at Opus's rate are missing.
    added = media.codecs()[5:]
    assert [(c.encoding, c.clock_rate) for c in added] == [("telephone-event", 48000)]
    assert 96 <= added[0].payload_type <= 127
    assert added[0].payload_type not in (111, 101)
    assert media.fmtp(added[0].payload_type) == "0-16"
    # The offerer's own parameters travel with its numbers.
    assert media.fmtp(111) == "stereo=1;sprop-stereo=1"
    assert media.fmtp(101) == "0-15"
    assert media.ptime == 20


def test_linphone_offer_gets_only_what_it_lacks() -> None:
    offer = sdp(LINPHONE)
    media = offer_to_far(offer).media[0]
    assert media.formats == ["96", "97", "98", "0", "8", "18", "101", "99", "100", "9"]
    assert media.rtpmap(9) == RtpMap(9, "G722", 8000)
    # Events were offered at all three rates already: none added.
    events = [c for c in media.codecs() if c.encoding == "telephone-event"]
    assert sorted(c.clock_rate for c in events) == [8000, 16000, 48000]
    assert media.fmtp(18) == "annexb=yes"
    assert media.attribute_values("rtcp-fb") == ["* trr-int 1000", "* ccm tmmbr"]
    # a=rtcp named the offerer's port; the far party must use pycc's (port + 1).
    assert media.rtcp is None


def test_added_codecs_take_free_numbers_and_events_cover_every_rate() -> None:
    offer = sdp("""
        v=0
        o=x 1 1 IN IP4 192.0.2.1
        s=-
        c=IN IP4 192.0.2.1
        t=0 0
        m=audio 4000 RTP/AVP 96 97 98
        a=rtpmap:96 iLBC/8000
        a=rtpmap:97 speex/16000
        a=rtpmap:98 telephone-event/8000
    """)
    media = offer_to_far(offer).media[0]
    codecs = media.codecs()
    assert media.formats[:3] == ["96", "97", "98"]
    assert names(codecs[:3]) == names(offer.media[0].codecs())
    numbers = [c.payload_type for c in codecs]
    assert len(numbers) == len(set(numbers)) == len(media.formats)
    by_name = {(c.encoding, c.clock_rate): c.payload_type for c in codecs[3:]}
    assert by_name[("PCMU", 8000)] == 0
    assert by_name[("PCMA", 8000)] == 8
    assert by_name[("G722", 8000)] == 9
    assert by_name[("opus", 48000)] in range(99, 128)
    # RFC 4733 §2.1: events at the rate of each audio codec offered (16 kHz speex, 48 kHz Opus).
    event_rates = sorted(c.clock_rate for c in codecs if c.encoding == "telephone-event")
    assert event_rates == [8000, 16000, 48000]
    assert media.fmtp(by_name[("opus", 48000)]) == "minptime=10;useinbandfec=1"


def test_no_dynamic_number_left_adds_only_static_codecs() -> None:
    rtpmaps = "\n".join(f"a=rtpmap:{pt} X{pt}/8000" for pt in range(96, 128))
    formats = " ".join(str(pt) for pt in range(96, 128))
    offer = sdp(f"v=0\no=x 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                f"m=audio 4000 RTP/AVP {formats}\n{rtpmaps}")
    media = offer_to_far(offer).media[0]
    assert media.formats == [*formats.split(), "0", "8", "9"]
    assert len(set(media.formats)) == len(media.formats)


def test_srtp_offer_goes_on_as_plain_rtp_with_pycc_keys_and_nothing_session_bound() -> None:
    offer = sdp(SRTP_WITH_VIDEO)
    before = offer.to_bytes()
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR], []])
    assert offer.to_bytes() == before, "relay_offer changed its argument"
    audio, video = relayed.media
    assert audio.proto == "RTP/AVPF" and video.proto == "RTP/AVPF"
    assert audio.crypto == [PYCC_KEY_FAR]
    assert video.crypto == []
    text = relayed.to_bytes().decode()
    assert OFFERER_KEY_80.inline_key not in text and OFFERER_KEY_32.inline_key not in text
    assert not attribute_names(relayed) & set(SESSION_BOUND) - {"crypto"}
    # Video is relayed as offered, feedback included; nothing of pycc's audio reaches it.
    assert names(video.codecs()) == [(96, "VP8", 90000, 1), (97, "rtx", 90000, 1)]
    assert video.fmtp(97) == "apt=96"
    assert "nack pli" in [v.split(" ", 1)[1] for v in video.attribute_values("rtcp-fb")]
    # The audio line: the offerer's codecs, then G722, then events at Opus's rate.
    assert audio.formats[:4] == ["111", "0", "8", "126"]
    assert [c.encoding for c in audio.codecs()[4:]] == ["G722", "telephone-event"]


def test_savp_becomes_avp() -> None:
    offer = sdp(BARESIP.replace("RTP/AVP", "RTP/SAVP").replace(
        "a=rtcp-mux", f"a=rtcp-mux\na=crypto:{OFFERER_KEY_80}"))
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR]])
    assert relayed.media[0].proto == "RTP/AVP"
    assert relayed.media[0].crypto == [PYCC_KEY_FAR]


def test_connection_ports_and_origin_are_pycc_s() -> None:
    offer = sdp(SRTP_WITH_VIDEO)
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR], [PYCC_KEY_FAR]])
    assert relayed.origin == ORIGIN_FAR
    assert relayed.connection is not None and relayed.connection.address == PYCC
    assert [m.connection for m in relayed.media] == [None, None]
    assert [m.port for m in relayed.media] == FAR_PORTS
    assert "192.168.1.30" not in relayed.to_bytes().decode()


def test_a_refused_line_stays_refused_and_gets_no_keys() -> None:
    offer = sdp(SRTP_WITH_VIDEO.replace("m=video 50002", "m=video 0"))
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR], [PYCC_KEY_FAR]])
    assert relayed.media[1].port == 0
    assert relayed.media[1].crypto == []


def test_rfc2543_hold_offer_is_relayed_as_sendonly_from_pycc_address() -> None:
    offer = sdp(BARESIP.replace("c=IN IP4 192.168.1.10", "c=IN IP4 0.0.0.0"))
    relayed = offer_to_far(offer)
    assert relayed.connection is not None and relayed.connection.address == PYCC
    assert relayed.media_direction(relayed.media[0]) is Direction.SENDONLY


# -- relay_answer ------------------------------------------------------------------------------


def test_far_party_picks_an_offered_codec_relay() -> None:
    offer = sdp(BARESIP)
    relayed = offer_to_far(offer)
    answer, plans = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000"))
    (plan,) = plans
    assert plan.relay
    assert plan.offerer.codec == RtpMap(0, "PCMU", 8000)
    assert plan.answerer.codec == RtpMap(0, "PCMU", 8000)
    assert plan.offerer.event == RtpMap(101, "telephone-event", 8000)
    assert plan.answerer.event == RtpMap(101, "telephone-event", 8000)
    media = answer.media[0]
    assert media.formats == ["0", "101"]
    assert media.port == OFFERER_PORTS[0]
    assert answer.origin == ORIGIN_OFFERER
    assert answer.connection is not None and answer.connection.address == PYCC
    # Where pycc sends: the offerer multiplexes RTCP, the far party uses port + 1.
    assert plan.offerer.rtp_address == ("192.168.1.10", 10022)
    assert plan.offerer.rtcp_mux and plan.offerer.rtcp_address == ("192.168.1.10", 10022)
    assert media.rtcp_mux
    assert plan.answerer.rtp_address == ("198.51.100.7", 30000)
    assert plan.answerer.rtcp_address == ("198.51.100.7", 30001)
    assert plan.offerer.ptime == 20


def test_relay_of_a_dynamic_codec_keeps_each_side_s_numbers() -> None:
    offer = sdp(LINPHONE)
    relayed = offer_to_far(offer)
    # The far party renumbers Opus (RFC 3264 §6.1 allows it) and names its RTCP port.
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 120 121\na=rtpmap:120 opus/48000/2\n"
        "a=rtpmap:121 telephone-event/48000\na=rtcp:30011"))
    assert plan.relay
    assert plan.offerer.codec == RtpMap(96, "opus", 48000, 2)
    assert plan.answerer.codec == RtpMap(120, "opus", 48000, 2)
    assert plan.offerer.event == RtpMap(101, "telephone-event", 48000)
    assert plan.answerer.event == RtpMap(121, "telephone-event", 48000)
    assert plan.answerer.rtcp_address == ("198.51.100.7", 30011)
    assert not plan.offerer.rtcp_mux
    assert plan.offerer.rtcp_address == ("10.0.0.23", 7079)
    assert answer.media[0].formats == ["96", "101"]
    assert answer.media[0].fmtp(96) == "useinbandfec=1"


def test_far_party_picks_a_codec_the_offerer_lacks_transcode() -> None:
    offer = sdp("""
        v=0
        o=x 1 1 IN IP4 192.0.2.1
        s=-
        c=IN IP4 192.0.2.1
        t=0 0
        m=audio 4000 RTP/AVP 97 8 111 101
        a=rtpmap:97 speex/16000
        a=rtpmap:8 PCMA/8000
        a=rtpmap:111 opus/48000/2
        a=rtpmap:101 telephone-event/8000
    """)
    relayed = offer_to_far(offer)
    assert relayed.media[0].rtpmap(0) == RtpMap(0, "PCMU", 8000)
    event_pt = next(c.payload_type for c in relayed.media[0].codecs()
                    if c.encoding == "telephone-event" and c.clock_rate == 8000)
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        f"m=audio 30000 RTP/AVP 0 {event_pt}\na=rtpmap:0 PCMU/8000\n"
        f"a=rtpmap:{event_pt} telephone-event/8000"))
    assert not plan.relay
    assert plan.answerer.codec == RtpMap(0, "PCMU", 8000)
    # speex is first but pycc cannot decode it: the offerer's first transcodable codec.
    assert plan.offerer.codec == RtpMap(8, "PCMA", 8000)
    assert answer.media[0].formats == ["8", "101"]
    assert plan.offerer.event == RtpMap(101, "telephone-event", 8000)
    assert all(codec.encoding != "speex" for codec in answer.media[0].codecs())


def test_nothing_pycc_can_decode_on_the_offerer_side_refuses_the_line() -> None:
    offer = sdp("""
        v=0
        o=x 1 1 IN IP4 192.0.2.1
        s=-
        c=IN IP4 192.0.2.1
        t=0 0
        m=audio 4000 RTP/AVP 3 97
        a=rtpmap:97 speex/16000
    """)
    relayed = offer_to_far(offer)
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000"))
    assert answer.media[0].port == 0
    assert plan.offerer.codec is None and not plan.relay


def test_far_party_refusing_the_line_refuses_it_to_the_offerer() -> None:
    offer = sdp(SRTP_WITH_VIDEO)
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR], [PYCC_KEY_FAR]])
    answer, plans = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000", "m=video 0 RTP/AVPF 96"),
        keys=[PYCC_KEY_ANSWER, PYCC_KEY_ANSWER])
    assert len(answer.media) == 2
    assert answer.media[0].port == OFFERER_PORTS[0]
    assert answer.media[1].port == 0 and answer.media[1].media == "video"
    assert plans[1].offerer.codec is None and plans[1].answerer.codec is None


@pytest.mark.parametrize("far", [Direction.RECVONLY, Direction.SENDONLY, Direction.INACTIVE])
def test_far_party_direction_is_mirrored_to_the_offerer(far: Direction) -> None:
    offer = sdp(BARESIP)
    relayed = offer_to_far(offer)
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        f"m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na={far.value}"))
    # pycc sends the offerer what the far party sends, and takes what the far party takes.
    assert answer.media_direction(answer.media[0]) is far
    assert (plan.answerer.sends, plan.answerer.receives) == (far.sends, far.receives)
    # The offerer follows pycc's answer: it sends only if pycc receives, and so on. The media
    # server's RTP timeout relies on this (a party told not to send must not be expected to).
    assert (plan.offerer.sends, plan.offerer.receives) == (far.receives, far.sends)


def test_offerer_hold_gives_the_far_party_s_answer_and_no_sending_expected() -> None:
    offer = sdp(BARESIP.replace("a=sendrecv", "a=sendonly"))
    relayed = offer_to_far(offer)
    assert relayed.media_direction(relayed.media[0]) is Direction.SENDONLY
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=recvonly"))
    assert answer.media_direction(answer.media[0]) is Direction.RECVONLY
    assert plan.offerer.sends and not plan.offerer.receives
    assert not plan.answerer.sends and plan.answerer.receives


def test_rfc2543_hold_in_the_answer_gives_no_send_address() -> None:
    offer = sdp(BARESIP)
    relayed = offer_to_far(offer)
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000", host="0.0.0.0"))
    assert plan.answerer.rtp_address is None and plan.answerer.rtcp_address is None
    assert not plan.answerer.receives
    # The far party does not receive: pycc's answer tells the offerer not to send.
    assert not answer_direction(answer).receives


def test_rfc2543_hold_in_the_offer_gives_no_send_address() -> None:
    offer = sdp(BARESIP.replace("c=IN IP4 192.168.1.10", "c=IN IP4 0.0.0.0"))
    relayed = offer_to_far(offer)
    _answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=recvonly"))
    assert plan.offerer.rtp_address is None and plan.offerer.rtcp_address is None
    assert not plan.offerer.receives


def answer_direction(answer: SessionDescription) -> Direction:
    return answer.media_direction(answer.media[0])


def test_srtp_offerer_is_answered_with_pycc_key_for_its_suite() -> None:
    offer = sdp(SRTP_WITH_VIDEO)
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR], []])
    answer, plans = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVPF 0\na=rtpmap:0 PCMU/8000", "m=video 0 RTP/AVPF 96"),
        keys=[PYCC_KEY_ANSWER, None])
    audio = answer.media[0]
    assert audio.proto == "RTP/SAVPF"
    assert audio.crypto == [PYCC_KEY_ANSWER]
    assert plans[0].offerer.crypto == OFFERER_KEY_80
    assert plans[0].offerer.proto == "RTP/SAVPF"
    assert plans[0].answerer.crypto is None and plans[0].answerer.proto == "RTP/AVPF"
    assert plans[0].relay


def test_srtp_offer_without_a_key_from_pycc_is_refused() -> None:
    offer = sdp(SRTP_WITH_VIDEO)
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR], [PYCC_KEY_FAR]])
    answer, plans = answer_offerer(offer, relayed, far_answer(
        "m=audio 30000 RTP/AVPF 0\na=rtpmap:0 PCMU/8000",
        "m=video 30002 RTP/AVPF 96\na=rtpmap:96 VP8/90000"), keys=None)
    assert [m.port for m in answer.media] == [0, 0]
    assert [m.proto for m in answer.media] == ["RTP/SAVPF", "RTP/SAVPF"]
    assert all(not m.crypto for m in answer.media)
    assert [p.offerer.codec for p in plans] == [None, None]


def test_far_party_answering_with_keys_gets_its_key_in_the_plan() -> None:
    offer = sdp(BARESIP)
    relayed = offer_to_far(offer, keys=[[PYCC_KEY_FAR]])
    far_key = key(1, seed=50)
    answer, (plan,) = answer_offerer(offer, relayed, far_answer(
        f"m=audio 30000 RTP/SAVP 0\na=rtpmap:0 PCMU/8000\na=crypto:{far_key}"))
    assert plan.answerer.crypto == far_key
    # The offerer spoke plain RTP: its answer stays plain, whatever the far party does.
    assert answer.media[0].proto == "RTP/AVP" and not answer.media[0].crypto


@pytest.mark.parametrize("lines", [0, 2])
def test_answer_with_the_wrong_number_of_lines_raises(lines: int) -> None:
    offer = sdp(BARESIP)
    relayed = offer_to_far(offer)
    sections = ["m=audio 30000 RTP/AVP 0\na=rtpmap:0 PCMU/8000"] * lines
    with pytest.raises(SdpError) as caught:
        answer_offerer(offer, relayed, far_answer(*sections))
    assert caught.value.field == "m"


# -- Hypothesis: random codec lists on both sides ----------------------------------------------

#: (encoding, clock rate, channels, static payload type or None)
KNOWN = (
    ("opus", 48000, 2, None),
    ("G722", 8000, 1, 9),
    ("PCMU", 8000, 1, 0),
    ("PCMA", 8000, 1, 8),
    ("G729", 8000, 1, 18),
    ("GSM", 8000, 1, 3),
    ("iLBC", 8000, 1, None),
    ("speex", 16000, 1, None),
    ("AMR-WB", 16000, 1, None),
)


@st.composite
def offers(draw: st.DrawFn) -> tuple[SessionDescription, list[RtpMap]]:
    chosen = draw(st.lists(st.sampled_from(KNOWN), min_size=1, max_size=len(KNOWN),
                           unique=True))
    dynamic = draw(st.permutations(list(range(96, 128))))
    codecs: list[RtpMap] = []
    for index, (name, rate, channels, static) in enumerate(chosen):
        number = static if static is not None else dynamic[index]
        codecs.append(RtpMap(number, name, rate, channels))
    if draw(st.booleans()):
        codecs.append(RtpMap(dynamic[-1], "telephone-event", 8000))
    lines = [f"m=audio 5004 RTP/AVP {' '.join(str(c.payload_type) for c in codecs)}"]
    lines += [f"a=rtpmap:{c}" for c in codecs]
    if draw(st.booleans()):
        lines.append("m=video 5006 RTP/AVP 100\na=rtpmap:100 VP8/90000")
    text = "v=0\no=x 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" + "\n".join(lines)
    return sdp(text), codecs


@st.composite
def far_codecs(draw: st.DrawFn, offer_codecs: list[RtpMap]) -> list[CodecSpec]:
    """The far party's codecs; half the time none of the offerer's, so transcoding is common."""
    pool = list(KNOWN)
    if draw(st.booleans()):
        pool = [k for k in KNOWN if not any(
            codec_matches(CodecSpec(k[0], k[1], k[2]), c) for c in offer_codecs)]
    chosen = draw(st.lists(st.sampled_from(pool), max_size=len(pool), unique=True)
                  if pool else st.just([]))
    return [CodecSpec(name, rate, channels) for name, rate, channels, _ in chosen]


@settings(max_examples=150, deadline=None)
@given(st.data(), offers(), st.booleans())
def test_random_codecs_on_both_sides(
    data: st.DataObject, offered: tuple[SessionDescription, list[RtpMap]], far_video: bool,
) -> None:
    far = data.draw(far_codecs(offered[1]))
    offer, offer_codecs = offered
    relayed = offer_to_far(offer)
    audio_codecs = [c for c in relayed.media[0].codecs() if c.encoding != "telephone-event"]
    # The far party answers like any RFC 3264 answerer: the first offered codec it has.
    supported: list[CodecSpec] = [*far, CodecSpec("VP8", 90000)] if far_video else list(far)
    ports = [30000 + 2 * i for i in range(len(relayed.media))]
    far_sdp = make_answer(relayed, supported, "198.51.100.7", ports)
    answer, plans = answer_offerer(offer, relayed, far_sdp)

    assert len(answer.media) == len(offer.media) == len(plans)
    offered_numbers = {c.payload_type: c for c in offer_codecs}
    for index, media in enumerate(answer.media):
        for codec in media.codecs():
            original = offer.media[index].rtpmap(codec.payload_type)
            assert original is not None and codec_matches(codec, original)
    far_pick = next((c for c in audio_codecs if any(codec_matches(c, s) for s in far)), None)
    plan = plans[0]
    if far_pick is None:
        event("the far party refuses")
        assert answer.media[0].port == 0 and not plan.relay
        return
    in_offer = any(codec_matches(far_pick, c) for c in offer_codecs)
    if in_offer:
        event("relay")
    assert plan.relay == in_offer
    if in_offer:
        assert plan.offerer.codec is not None
        assert plan.offerer.codec == offered_numbers[plan.offerer.codec.payload_type]
        assert codec_matches(plan.offerer.codec, far_pick)
    else:
        transcodable = [c for c in offer_codecs if c.encoding != "telephone-event"
                        and any(codec_matches(c, t) for t in TRANSCODABLE)]
        if transcodable:
            event("transcode")
            assert plan.offerer.codec == transcodable[0]
            assert answer.media[0].formats[0] == str(transcodable[0].payload_type)
        else:
            event("nothing to transcode from")
            assert plan.offerer.codec is None and answer.media[0].port == 0
