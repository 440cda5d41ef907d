"""pycc's own RTCP (RFC 3550 §6.4): where pycc originates a stream (transcoding) it sends
sender reports with a block about what it receives, computes the round-trip time from the
party's receiver reports (§6.4.1), and stays quiet on relayed legs, whose parties' reports
pass through. Real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from peers.aio import eventually, runner
from peers.net import free_port
from pycc.media.server import MediaServer
from pycc.media.session import MediaSession
from pycc.rtp.packet import RtpPacket, is_rtcp
from pycc.rtp.rtcp import (
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    middle32,
    ntp_from_unix,
    parse_rtcp,
    serialize_rtcp,
)
from pycc.sdp.session import SessionDescription

HOST = "127.0.0.1"


def description(port: int, pt: int, name: str) -> SessionDescription:
    return SessionDescription.parse(
        f"v=0\r\no=x 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\na=rtcp-mux\r\n")


def phone() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096))
        except BlockingIOError:
            return out


def rtcp_of(packets: list[bytes]) -> list[object]:
    return [p for data in packets if is_rtcp(data) for p in parse_rtcp(data)]


@contextlib.asynccontextmanager
async def call(b_pt: int, b_codec: str, *, rtcp_interval: float) -> AsyncIterator[
        tuple[MediaSession, socket.socket, socket.socket, tuple[str, int], tuple[str, int]]]:
    """A media server and one call: phone A offers PCMU, phone B answers ``b_codec``. Yields
    the session, the two phones' sockets and pycc's ports for A and for B."""
    base = free_port("udp", count=20)
    first = base + (base & 1)
    server = MediaServer(HOST, f"{first}-{first + 15}", rtp_timeout=0,
                         rtcp_interval=rtcp_interval, sweep_interval=rtcp_interval / 2)
    await server.start()
    a, b = phone(), phone()
    try:
        session = server.new_session("rtcp")
        to_b = session.relay_offer(description(a.getsockname()[1], 0, "PCMU"), "a")
        to_a = session.relay_answer(description(b.getsockname()[1], b_pt, b_codec), "b")
        yield session, a, b, (HOST, to_a.media[0].port), (HOST, to_b.media[0].port)
    finally:
        a.close()
        b.close()
        await server.close()


def test_a_transcoded_leg_gets_sender_reports_and_measures_the_round_trip() -> None:
    async def scenario() -> None:
        async with call(8, "PCMA", rtcp_interval=0.2) as (session, a, b, pycc_a, pycc_b):
            leg_a = session.legs("a")[0]
            got_a: list[bytes] = []
            for seq in range(10):
                a.sendto(RtpPacket(0, seq, seq * 160, 0xA1, b"\xff" * 160).serialize(), pycc_a)
                b.sendto(RtpPacket(8, seq, seq * 160, 0xB1, b"\xd5" * 160).serialize(), pycc_b)
                await asyncio.sleep(0.02)
            def sender_report_arrived() -> bool:
                got_a.extend(drain(a))
                return any(isinstance(p, SenderReport) for p in rtcp_of(got_a))
            await eventually(sender_report_arrived, timeout=3)
            await asyncio.sleep(0.3)  # a report sent after the last packet arrived
            got_a.extend(drain(a))
            report = [p for p in rtcp_of(got_a) if isinstance(p, SenderReport)][-1]
            assert report.ssrc == leg_a.own_ssrc  # pycc's own transcoded stream
            assert report.packet_count >= 1 and report.octet_count == 160 * report.packet_count
            assert [block.ssrc for block in report.reports] == [0xA1]
            assert report.reports[0].highest_sequence >= 9
            assert any(isinstance(p, SourceDescription) for p in rtcp_of(got_a))
            # Phone A answers with a receiver report about pycc's stream, echoing the SR.
            lsr = middle32(report.ntp_timestamp)
            held = 0.25
            await asyncio.sleep(held)
            block = ReportBlock(report.ssrc, 0, 0, 10, 0, lsr, int(0.1 * 65536))
            a.sendto(serialize_rtcp([ReceiverReport(0xA1, [block])]), pycc_a)
            await eventually(lambda: leg_a.rtt is not None)
            assert leg_a.rtt is not None and 0.0 <= leg_a.rtt < held + 0.5

    runner(None)(scenario)


def test_a_relayed_leg_sends_no_reports_of_its_own() -> None:
    async def scenario() -> None:
        async with call(0, "PCMU", rtcp_interval=0.1) as (_session, a, b, pycc_a, pycc_b):
            for seq in range(10):
                a.sendto(RtpPacket(0, seq, seq * 160, 0xA1, bytes(160)).serialize(), pycc_a)
                b.sendto(RtpPacket(0, seq, seq * 160, 0xB1, bytes(160)).serialize(), pycc_b)
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.4)
            assert rtcp_of(drain(a)) == [] and rtcp_of(drain(b)) == []
            # The parties' own reports pass through unchanged.
            sr = serialize_rtcp([SenderReport(0xA1, ntp_from_unix(1e9), 0, 10, 1600)])
            a.sendto(sr, pycc_a)
            received: list[bytes] = []
            await eventually(lambda: bool(received.extend(drain(b)) or received))
            assert sr in received

    runner(None)(scenario)
