"""pycc.media sessions and the media server on real UDP sockets (127.0.0.1).

- symmetric RTP with latching (RFC 4961, :mod:`pycc.rtp.latch`): a phone behind NAT, whose
  packets come from another port than its SDP names, is learned, pycc sends to where it really
  is, and a third party can neither take the stream over nor inject packets;
- RTP timeout: a call whose offerer stops sending is reported once; a call on hold is not;
- ports: every leg gives its RTP/RTCP pair back (``end_session``, ``close``), and a full range
  raises :class:`~pycc.media.server.PortsExhausted`;
- re-offers in either direction (RFC 3264 §8) keep pycc's ports and re-plan the bridge: relay
  to transcoding, hold and resume; a repeated answer (183 then 200) changes nothing.

Each scenario runs on stock asyncio and on uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import numpy as np
import numpy.typing as npt
import pytest

from peers.aio import Run, eventually
from peers.net import free_port, udp_bound
from pycc.codecs.registry import default_registry
from pycc.media.leg import LEARN_SECONDS, MediaLeg
from pycc.media.server import MediaServer, PortsExhausted
from pycc.media.session import MediaSession
from pycc.rtp.packet import RtpPacket, parse_rtp
from pycc.sdp.errors import SdpError
from pycc.sdp.session import SessionDescription

HOST = "127.0.0.1"
SSRC_A = 0x0A0A0A0A
SSRC_B = 0x0B0B0B0B


class Endpoint:
    """One UDP socket on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.received: list[bytes] = []
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        while True:
            try:
                self.received.append(self.sock.recv(4096))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


class Phone:
    """A phone: its RTP socket (RTCP multiplexed), the SDP it writes, where pycc listens.

    ``signalled`` is the endpoint its SDP names; a phone behind NAT sends from another one
    (``rtp``), as a NAT's outside port differs from the phone's own."""

    def __init__(self, name: str, *, behind_nat: bool = False) -> None:
        self.name = name
        self.rtp = Endpoint()
        self.signalled = Endpoint() if behind_nat else self.rtp
        self.pycc: tuple[str, int] | None = None

    def sdp(self, formats: str = "0", *lines: str, direction: str | None = None,
            version: int = 1) -> SessionDescription:
        text = ["v=0", f"o={self.name} 1 {version} IN IP4 {HOST}", "s=-", f"c=IN IP4 {HOST}",
                "t=0 0", f"m=audio {self.signalled.address[1]} RTP/AVP {formats}", *lines,
                "a=rtcp-mux"]
        if direction is not None:
            text.append(f"a={direction}")
        return SessionDescription.parse("\r\n".join(text) + "\r\n")

    def learn(self, description: SessionDescription) -> None:
        media = description.media[0]
        connection = description.media_connection(media)
        assert connection is not None and media.port
        self.pycc = (connection.address, media.port)

    def send(self, data: bytes) -> None:
        assert self.pycc is not None
        self.rtp.send(data, self.pycc)

    @property
    def received(self) -> list[bytes]:
        return self.rtp.received

    def close(self) -> None:
        self.rtp.close()
        if self.signalled is not self.rtp:
            self.signalled.close()


def rtp(seq: int, ssrc: int, pt: int = 0, payload: bytes = bytes(160)) -> bytes:
    return RtpPacket(pt, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, payload).serialize()


def port_block(pairs: int) -> str:
    """A free range holding exactly ``pairs`` RTP/RTCP pairs (an even first port)."""
    base = free_port("udp", count=2 * pairs + 1)
    first = base + (base & 1)
    return f"{first}-{first + 2 * pairs - 1}"


@contextlib.asynccontextmanager
async def media_server(pairs: int = 12, *, rtp_timeout: float = 60.0,
                       sweep_interval: float = 1.0) -> AsyncIterator[MediaServer]:
    server = MediaServer(HOST, port_block(pairs), rtp_timeout=rtp_timeout,
                         sweep_interval=sweep_interval)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def connect(session: MediaSession, a: Phone, b: Phone, *, a_direction: str | None = None,
            b_direction: str | None = None) -> None:
    """A offers PCMU, B answers PCMU: pycc relays."""
    offer_to_b = session.relay_offer(a.sdp("0", direction=a_direction), "a")
    b.learn(offer_to_b)
    a.learn(session.relay_answer(b.sdp("0", direction=b_direction), "b"))


def leg(session: MediaSession, party: str) -> MediaLeg:
    return session.legs(party)[0]


# -- latching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("nat", ["a", "b"])
def test_a_phone_behind_nat_is_learned_and_then_defended(run: Run, nat: str) -> None:
    async def scenario() -> None:
        async with media_server() as server:
            loop = asyncio.get_running_loop()
            phones = {name: Phone(name, behind_nat=nat == name) for name in "ab"}
            natted, other = phones[nat], phones["b" if nat == "a" else "a"]
            intruder = Endpoint()
            try:
                session = server.new_session("nat")
                connect(session, phones["a"], phones["b"])
                natted_leg = leg(session, nat)
                # The NATed phone speaks first, from a port its SDP does not name.
                natted.send(rtp(1, 0x1234))
                await eventually(lambda: len(other.received) == 1)
                assert natted_leg.peer == natted.rtp.address
                other.send(rtp(1, 0x5678))
                await eventually(lambda: len(natted.received) == 1)
                assert natted.signalled.received == []
                # While the phone talks, a third party cannot take the stream over.
                natted.send(rtp(2, 0x1234))
                await eventually(lambda: len(other.received) == 2)
                assert natted.pycc is not None
                intruder.send(rtp(99, 0x6666), natted.pycc)
                await eventually(lambda: natted_leg.dropped["source"] == 1)
                # Once learning time is over the latch is locked, even though the phone is
                # now silent (the leg reads the loop clock; move it past the window).
                natted_leg.clock = lambda: loop.time() + LEARN_SECONDS + 1
                intruder.send(rtp(100, 0x6666), natted.pycc)
                await eventually(lambda: natted_leg.dropped["source"] == 2)
                other.send(rtp(2, 0x5678))
                natted.send(rtp(3, 0x1234))
                await eventually(lambda: len(natted.received) == 2 and len(other.received) == 3)
                assert [parse_rtp(p).ssrc for p in other.received] == [0x1234] * 3
                assert natted_leg.peer == natted.rtp.address
                assert intruder.received == [] and natted.signalled.received == []
                assert natted_leg.dropped == {"source": 2}
            finally:
                intruder.close()
                for phone in phones.values():
                    phone.close()
    run(scenario)


def test_packets_go_to_the_signalled_address_until_a_source_is_heard(run: Run) -> None:
    async def scenario() -> None:
        async with media_server() as server:
            a, b = Phone("a"), Phone("b", behind_nat=True)
            try:
                session = server.new_session("before-latch")
                connect(session, a, b)
                a.send(rtp(1, SSRC_A))
                await eventually(lambda: len(b.signalled.received) == 1)
                assert b.rtp.received == []
            finally:
                a.close()
                b.close()
    run(scenario)


# -- RTP timeout ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("a_direction", "b_direction"),
                         [("inactive", "inactive"), ("sendrecv", "inactive")],
                         ids=["offer-inactive", "answer-inactive"])
def test_rtp_timeout_reports_a_silent_offerer_once_and_spares_a_held_call(
    run: Run, a_direction: str, b_direction: str,
) -> None:
    async def scenario() -> None:
        async with media_server(rtp_timeout=0.5, sweep_interval=0.1) as server:
            timeouts: list[MediaSession] = []
            phones = [Phone(name) for name in ("held-a", "held-b", "a", "b")]
            held_a, held_b, a, b = phones
            talker: asyncio.Task[None] | None = None
            try:
                # Both directions inactive: nobody is expected to send.
                held = server.new_session("held", on_timeout=timeouts.append)
                connect(held, held_a, held_b, a_direction=a_direction, b_direction=b_direction)
                silent = server.new_session("silent", on_timeout=timeouts.append)
                connect(silent, a, b)

                async def keep_talking() -> None:
                    for seq in range(10_000):
                        b.send(rtp(seq, SSRC_B))
                        await asyncio.sleep(0.02)

                talker = asyncio.get_running_loop().create_task(keep_talking())
                for seq in range(3):
                    a.send(rtp(seq, SSRC_A))
                await eventually(lambda: len(b.received) == 3)
                # The offerer has stopped; the answerer goes on talking.
                await eventually(lambda: timeouts != [], timeout=3)
                await eventually(lambda: silent in timeouts, timeout=3)
                assert [s.name for s in timeouts] == ["silent"]
                assert silent.hangup_reason == "rtp-timeout"
                server.sweep()
                server.sweep()
                assert [s.name for s in timeouts] == ["silent"], "reported twice"
                assert held.hangup_reason is None
                assert leg(silent, "b").received > 3
            finally:
                if talker is not None:
                    talker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await talker
                for phone in phones:
                    phone.close()
    run(scenario)


# -- ports ---------------------------------------------------------------------------------------


def test_sessions_give_their_ports_back(run: Run) -> None:
    async def scenario() -> None:
        server = MediaServer(HOST, port_block(6))
        await server.start()
        phones = [Phone(name) for name in "abcd"]
        try:
            first, second = server.new_session("one"), server.new_session("two")
            connect(first, phones[0], phones[1])
            connect(second, phones[2], phones[3])
            assert server.allocator.in_use == 4
            first_ports = [leg(first, p).port for p in "ab"]
            second_ports = [leg(second, p).port for p in "ab"]
            assert len(set(first_ports + second_ports)) == 4
            assert all(port % 2 == 0 for port in first_ports + second_ports)
            assert all(udp_bound(p) and udp_bound(p + 1) for p in first_ports)
            server.end_session(first)
            assert server.allocator.in_use == 2
            assert first not in server.sessions
            assert not any(udp_bound(p) or udp_bound(p + 1) for p in first_ports)
            await server.close()
            assert server.allocator.in_use == 0
            assert not any(udp_bound(p) or udp_bound(p + 1) for p in second_ports)
        finally:
            await server.close()
            for phone in phones:
                phone.close()
    run(scenario)


def test_a_full_range_raises_ports_exhausted_and_leaks_nothing(run: Run) -> None:
    async def scenario() -> None:
        async with media_server(pairs=2) as server:
            a, b = Phone("a"), Phone("b")
            try:
                assert server.allocator.capacity == 2
                first = server.new_session("one")
                connect(first, a, b)
                assert server.allocator.in_use == 2
                second = server.new_session("two")
                with pytest.raises(PortsExhausted):
                    second.relay_offer(a.sdp("0"), "a")
                server.end_session(second)
                assert server.allocator.in_use == 2
                # Two streams need four legs: the third cannot be had.
                server.end_session(first)
                third = server.new_session("three")
                two_lines = SessionDescription.parse(
                    a.sdp("0").to_bytes()
                    + f"m=audio {a.rtp.address[1] + 2} RTP/AVP 8\r\n".encode())
                with pytest.raises(PortsExhausted):
                    third.relay_offer(two_lines, "a")
                server.end_session(third)
                assert server.allocator.in_use == 0
                # What was given back can be used again.
                fourth = server.new_session("four")
                connect(fourth, a, b)
                assert server.allocator.in_use == 2
            finally:
                a.close()
                b.close()
    run(scenario)


# -- re-offers -----------------------------------------------------------------------------------


def test_the_same_answer_twice_changes_nothing(run: Run) -> None:
    async def scenario() -> None:
        async with media_server() as server:
            a, b = Phone("a"), Phone("b")
            try:
                session = server.new_session("early")
                session.relay_offer(a.sdp("0"), "a")
                answer = b.sdp("0")
                early = session.relay_answer(answer, "b")  # in a 183
                final = session.relay_answer(b.sdp("0"), "b")  # the same SDP in the 200
                assert final.to_bytes() == early.to_bytes()
                assert server.allocator.in_use == 2
                assert len(session.bridges) == 1
            finally:
                a.close()
                b.close()
    run(scenario)


def test_an_answer_without_an_offer_is_refused(run: Run) -> None:
    async def scenario() -> None:
        async with media_server() as server:
            a = Phone("a")
            try:
                session = server.new_session("no-offer")
                with pytest.raises(SdpError):
                    session.relay_answer(a.sdp("0"), "b")
                session.relay_offer(a.sdp("0"), "a")
                with pytest.raises(SdpError):
                    session.relay_answer(a.sdp("0"), "a")  # the offerer cannot answer itself
            finally:
                a.close()
    run(scenario)


def test_a_re_offer_from_the_callee_moves_the_call_from_relay_to_transcoding(run: Run) -> None:
    async def scenario() -> None:
        async with media_server() as server:
            a, b = Phone("a"), Phone("b")
            try:
                session = server.new_session("reinvite")
                connect(session, a, b)
                assert session.plans[0].relay
                ports = (leg(session, "a").port, leg(session, "b").port)
                # B now wants PCMA only; A keeps PCMU: pycc transcodes.
                offer_to_a = session.relay_offer(b.sdp("8", version=2), "b")
                assert offer_to_a.media[0].port == ports[0]
                assert offer_to_a.media[0].formats[0] == "8"
                answer_to_b = session.relay_answer(a.sdp("0", version=2), "a")
                assert answer_to_b.media[0].port == ports[1]
                assert answer_to_b.media[0].formats == ["8"]
                assert session.plans_offerer == "b" and not session.plans[0].relay
                assert session.bridges[0].transcoding
                assert server.allocator.in_use == 2
                pcmu = default_registry().find("PCMU", 8000)
                payload = pcmu.encoder().encode(pcm_ramp())
                a.send(rtp(1, SSRC_A, 0, payload))
                await eventually(lambda: len(b.received) == 1)
                got = parse_rtp(b.received[0])
                assert got.payload_type == 8 and len(got.payload) == 160
                assert got.ssrc != SSRC_A
            finally:
                a.close()
                b.close()
    run(scenario)


def test_hold_and_resume_by_re_offer(run: Run) -> None:
    async def scenario() -> None:
        async with media_server() as server:
            a, b = Phone("a"), Phone("b")
            try:
                session = server.new_session("hold")
                connect(session, a, b)
                a.send(rtp(1, SSRC_A))
                b.send(rtp(1, SSRC_B))
                await eventually(lambda: len(a.received) == 1 and len(b.received) == 1)
                # A holds (RFC 3264 §8.4): it sends music, takes nothing.
                offer_to_b = session.relay_offer(a.sdp("0", direction="sendonly", version=2),
                                                 "a")
                assert offer_to_b.media_direction(offer_to_b.media[0]).value == "sendonly"
                held = session.relay_answer(b.sdp("0", direction="recvonly", version=2), "b")
                assert held.media_direction(held.media[0]).value == "recvonly"
                b_leg, a_leg = leg(session, "b"), leg(session, "a")
                sent_to_a = a_leg.sent
                b.send(rtp(2, SSRC_B))
                await eventually(lambda: b_leg.received == 2)
                assert a_leg.sent == sent_to_a and len(a.received) == 1
                a.send(rtp(2, SSRC_A))
                await eventually(lambda: len(b.received) == 2)
                # Resume.
                session.relay_offer(a.sdp("0", version=3), "a")
                session.relay_answer(b.sdp("0", version=3), "b")
                b.send(rtp(3, SSRC_B))
                await eventually(lambda: len(a.received) == 2)
                assert parse_rtp(a.received[-1]).sequence == 3
            finally:
                a.close()
                b.close()
    run(scenario)


def pcm_ramp() -> npt.NDArray[np.int16]:
    return (np.arange(160, dtype=np.int16) * 50).astype(np.int16)
