"""Video calls: a VP8 or H264 stream beside the audio is negotiated and relayed between the two
phones untouched (pycc does not transcode video), and RTCP feedback (RFC 4585 PLI, RFC 5104
FIR) passes from the receiver back to the sender. Real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from peers.aio import eventually, runner
from peers.net import free_port
from pycc.media.server import MediaServer
from pycc.rtp.packet import RtpPacket, is_rtcp, parse_rtp
from pycc.rtp.rtcp import Feedback, parse_rtcp, serialize_rtcp
from pycc.sdp.session import SessionDescription

HOST = "127.0.0.1"


def description(audio: int, video: int, video_codec: str, video_pt: int) -> SessionDescription:
    fmtp = (f"a=fmtp:{video_pt} profile-level-id=42e01f;packetization-mode=1\r\n"
            if video_codec == "H264" else "")
    return SessionDescription.parse(
        f"v=0\r\no=x 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {audio} RTP/AVP 0\r\na=rtcp-mux\r\n"
        f"m=video {video} RTP/AVPF {video_pt}\r\na=rtpmap:{video_pt} {video_codec}/90000\r\n"
        f"{fmtp}a=rtcp-fb:{video_pt} nack pli\r\na=rtcp-fb:{video_pt} ccm fir\r\n"
        "a=rtcp-mux\r\n")


def bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket, into: list[bytes]) -> list[bytes]:
    while True:
        try:
            into.append(sock.recv(4096))
        except BlockingIOError:
            return into


@pytest.mark.parametrize(("codec", "a_pt", "b_pt"), [("VP8", 96, 100), ("H264", 97, 97)])
def test_video_is_relayed_with_feedback(codec: str, a_pt: int, b_pt: int) -> None:
    async def scenario() -> None:
        base = free_port("udp", count=20)
        first = base + (base & 1)
        server = MediaServer(HOST, f"{first}-{first + 15}", rtp_timeout=0)
        await server.start()
        a_audio, a_video, b_audio, b_video = (bound() for _ in range(4))
        try:
            session = server.new_session("video")
            to_b = session.relay_offer(description(
                a_audio.getsockname()[1], a_video.getsockname()[1], codec, a_pt), "a")
            assert to_b.media[1].media == "video" and to_b.media[1].port != 0
            assert [c.encoding for c in to_b.media[1].codecs()] == [codec]  # no audio added
            to_a = session.relay_answer(description(
                b_audio.getsockname()[1], b_video.getsockname()[1], codec, b_pt), "b")
            assert to_a.media[1].port != 0 and session.plans[1].relay
            frames = [RtpPacket(a_pt, seq, 3000 * seq, 0xF00D, bytes([seq]) * 900,
                                marker=seq % 3 == 2).serialize() for seq in range(6)]
            for frame in frames:
                a_video.sendto(frame, (HOST, to_a.media[1].port))
            got: list[bytes] = []
            await eventually(lambda: len(drain(b_video, got)) >= 6)
            relayed = [parse_rtp(p) for p in got]
            assert [p.payload_type for p in relayed] == [b_pt] * 6
            assert [(p.sequence, p.timestamp, p.ssrc, p.marker, p.payload) for p in relayed] == [
                (p.sequence, p.timestamp, p.ssrc, p.marker, p.payload)
                for p in map(parse_rtp, frames)]
            # B asks A for a key frame; the request reaches A unchanged.
            for request in (Feedback.pli(0xBEEF, 0xF00D), Feedback.fir(0xBEEF, [(0xF00D, 1)])):
                b_video.sendto(serialize_rtcp([request]), (HOST, to_b.media[1].port))
            back: list[bytes] = []
            await eventually(lambda: len(drain(a_video, back)) >= 2)
            feedback = [p for data in back if is_rtcp(data) for p in parse_rtcp(data)]
            assert any(isinstance(p, Feedback) and p.is_pli for p in feedback)
            assert any(isinstance(p, Feedback) and p.is_fir for p in feedback)
        finally:
            for sock in (a_audio, a_video, b_audio, b_video):
                sock.close()
            await server.close()

    runner(None)(scenario)
