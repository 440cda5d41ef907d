"""Relay offload (pycc.media.offload, pycc.media.relay_worker): a plain relayed bridge is
forwarded by the relay worker process, packet for packet as the bridge would, a transcoded one
carried on there on the streams the switch began, and either is taken back whenever something
needs the packets in the switch process.

Two fake phones on real UDP sockets (the ones of test_media_bridge) call through a media server
started with one relay worker. The latch's learning time is shortened so that the sources lock
quickly; the media server's sweep is run by hand to hand the bridge over."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import signal
import socket
import struct
from collections.abc import Iterator

import pytest
from test_media_bridge import (
    BAD,
    HOST,
    OPUS,
    PCMU,
    SSRC_A,
    SSRC_B,
    Audio,
    Call,
    Phone,
    call,
    check_tone,
    fec_flags,
    payload_type,
    pcmu_answer,
    pcmu_offer,
    require,
    rtp,
    warble_packets,
)

from peers.aio import Run, eventually
from pycc import accel
from pycc.media import leg as leg_module
from pycc.media import relay_native
from pycc.media.audio import LegInput
from pycc.media.bridge import Bridge, TranscodePlan
from pycc.media.leg import MediaLeg
from pycc.media.offload import eligible
from pycc.media.relay_worker import PENDING_LIMIT
from pycc.rtp.dtmf import DtmfSender, parse_event
from pycc.rtp.packet import RtpPacket, parse_rtp
from pycc.rtp.rtcp import ReceiverReport, ReportBlock
from pycc.sdp.session import SessionDescription


@pytest.fixture(autouse=True)
def short_learning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leg_module, "LEARN_SECONDS", 0.2)


@pytest.fixture(params=["c", "python"])
def packet_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The worker forwards in its C loop (built by ``pycc accel build``) or, with
    ``PYCC_PURE``, in Python; the worker process inherits the choice."""
    if request.param == "python":
        monkeypatch.setenv(accel.ENV_PURE, "1")
    elif relay_native.load() is None:
        pytest.skip("the relay's C loop is not built here (pycc accel build)")
    return str(request.param)


async def _loop_is(c: Call, packet_loop: str) -> None:
    (offloader,) = c.server.offloaders
    await eventually(lambda: offloader.packet_loop == packet_loop, timeout=3.0)


async def _talk(c: Call, count: int, start: int = 0) -> None:
    """Both phones send ``count`` PCMU packets, 5 ms apart."""
    for n in range(start, start + count):
        c.a.send(rtp(0, 100 + n, 160 * n, SSRC_A, bytes([n % 256]) * 160))
        c.b.send(rtp(0, 500 + n, 160 * n, SSRC_B, bytes([(n + 7) % 256]) * 160))
        await asyncio.sleep(0.005)


async def _offloaded(c: Call) -> None:
    """Lock both sources, then let the sweep hand the bridge over."""
    await asyncio.sleep(0.25)
    await _talk(c, 4)
    bridge = c.session.bridges[0]
    (offloader,) = c.server.offloaders
    assert eligible(bridge, c.server), (bridge.x.latch.state, bridge.y.latch.state)
    c.server.sweep()
    assert len(offloader.handed) == 1 and bridge.reclaim is not None


def test_a_relayed_call_is_forwarded_by_the_worker_byte_for_byte(run: Run,
                                                                packet_loop: str) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            await _loop_is(c, packet_loop)
            a_leg, b_leg = c.session.bridges[0].x, c.session.bridges[0].y
            before_a, before_b = a_leg.received, b_leg.received
            c.a.rtp_in.clear()
            c.b.rtp_in.clear()
            await _talk(c, 40, start=10)

            def this_talk(packets: list[bytes], first: int) -> list[bytes]:
                # A packet of the warm-up may still arrive after the clear on a loaded machine.
                return [p for p in packets if parse_rtp(p).sequence >= first]

            await eventually(lambda: len(this_talk(c.b.rtp_in, 110)) >= 40
                             and len(this_talk(c.a.rtp_in, 510)) >= 40)
            sent_a = [rtp(0, 100 + n, 160 * n, SSRC_A, bytes([n % 256]) * 160)
                      for n in range(10, 50)]
            assert this_talk(c.b.rtp_in, 110) == sent_a
            assert [parse_rtp(p).ssrc for p in this_talk(c.a.rtp_in, 510)] == [SSRC_B] * 40
            # The worker's counts reach the legs (the media time-out reads them).
            await eventually(lambda: a_leg.received >= before_a + 40
                             and b_leg.received >= before_b + 40, timeout=3.0)
            assert b_leg.sent >= 40 and a_leg.last_received is not None
            # Taken back, the legs' RFC 3550 statistics go on from the worker's.
            (offloader,) = c.server.offloaders
            c.server.end_session(c.session)
            await eventually(lambda: not offloader._returning, timeout=3.0)
            assert a_leg.stats is not None and b_leg.stats is not None
            assert a_leg.stats.highest_sequence == 100 + 49
            assert b_leg.stats.highest_sequence == 500 + 49
            # 100 to 103, then 110 to 149; the first packet went to A.1's probation.
            assert a_leg.stats.expected == 49
            assert a_leg.stats.received + a_leg.stats.cumulative_lost == 49

    run(scenario)


@contextlib.contextmanager
def _second_call(c: Call) -> Iterator[Call]:
    """A second PCMU call through the same media server."""
    a2, b2 = Phone("a2"), Phone("b2")
    try:
        session2 = c.server.new_session("second")
        offer_to_b2 = session2.relay_offer(pcmu_offer(a2), "a")
        b2.learn(offer_to_b2)
        a2.learn(session2.relay_answer(pcmu_answer(b2, offer_to_b2), "b"))
        yield Call(c.server, session2, a2, b2, offer_to_b2, offer_to_b2)
    finally:
        a2.close()
        b2.close()


def test_a_pass_that_fills_its_batch_is_followed_by_another(run: Run) -> None:
    """Many calls at once move to the worker in batches a tenth of a second apart, not one
    batch per sweep."""
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            (offloader,) = c.server.offloaders
            c.server.offload_batch = 1
            with _second_call(c) as second:
                await asyncio.sleep(0.25)
                await asyncio.gather(_talk(c, 4), _talk(second, 4))
                c.server.sweep()
                assert len(offloader.handed) == 1
                await eventually(lambda: len(offloader.handed) == 2, timeout=0.5)

    run(scenario)


def test_two_workers_share_the_calls_and_each_forwards_its_own(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=2) as c:
            assert len(c.server.offloaders) == 2
            with _second_call(c) as second:
                await asyncio.sleep(0.25)
                await asyncio.gather(_talk(c, 4), _talk(second, 4))
                c.server.sweep()
                # One bridge each: a new one goes to the worker with the fewest.
                assert [len(o.handed) for o in c.server.offloaders] == [1, 1]
                assert c.server.offloaded == 2
                for each in (c, second):
                    each.a.rtp_in.clear()
                    each.b.rtp_in.clear()
                await asyncio.gather(_talk(c, 20, start=10), _talk(second, 20, start=10))

                def this_talk(packets: list[bytes]) -> list[bytes]:
                    return [p for p in packets if parse_rtp(p).sequence >= 110]

                for each in (c, second):
                    await eventually(lambda each=each: len(this_talk(each.b.rtp_in)) >= 20)
                    assert this_talk(each.b.rtp_in) == [
                        rtp(0, 100 + n, 160 * n, SSRC_A, bytes([n % 256]) * 160)
                        for n in range(10, 30)]
                # Each worker's process is its own.
                pids = {o._process.pid for o in c.server.offloaders if o._process is not None}
                assert len(pids) == 2

    run(scenario)


def test_a_stranger_is_refused_and_keys_still_reach_the_switch(run: Run,
                                                              packet_loop: str) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            await _loop_is(c, packet_loop)
            a_leg = c.session.bridges[0].x
            c.b.rtp_in.clear()
            stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stranger.bind((HOST, 0))
            try:
                assert c.a.pycc_rtp is not None
                for n in range(5):
                    stranger.sendto(rtp(0, n, 0, 0x99, b"\xff" * 160), c.a.pycc_rtp)
            finally:
                stranger.close()
            event_pt = 101
            await _press_key(c, "7", 300, 160 * 30)
            await eventually(lambda: ("a", "7", "rfc4733") in c.digits, timeout=3.0)
            await eventually(lambda: a_leg.dropped["source"] >= 5, timeout=3.0)
            # RTCP multiplexed on the RTP port reaches the switch, even a reduced-size
            # packet shorter than an RTP header (RFC 5506).
            rtcp_heard: list[bytes] = []
            passed_on = a_leg.on_rtcp

            def hear(leg: object, data: bytes) -> None:
                rtcp_heard.append(data)
                if passed_on is not None:
                    passed_on(leg, data)

            a_leg.on_rtcp = hear  # type: ignore[assignment]
            short_rr = struct.pack("!BBHI", 0x80, 201, 1, SSRC_A)
            c.a.send(short_rr)
            await eventually(lambda: short_rr in rtcp_heard, timeout=3.0)
            # The stranger's packets never reached B; the key's packets did.
            assert all(parse_rtp(p).ssrc == SSRC_A for p in c.b.rtp_in)
            assert any(parse_rtp(p).payload_type == event_pt for p in c.b.rtp_in)

    run(scenario)


def test_a_listener_or_a_new_answer_takes_the_bridge_back(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            (offloader,) = c.server.offloaders
            bridge = c.session.bridges[0]
            heard: list[bytes] = []
            listener = LegInput(bridge.x, 8000)
            listener.on_packet = lambda _leg, data: heard.append(data)  # type: ignore[method-assign]
            listener.attach()
            assert not offloader.handed and bridge.reclaim is None
            # Until the worker answers the removal it forwards what reaches it; from then on
            # the listener hears every packet.
            await eventually(lambda: not offloader._returning, timeout=3.0)
            c.b.rtp_in.clear()
            await _talk(c, 10, start=60)
            await eventually(lambda: len(heard) >= 10 and len(c.b.rtp_in) >= 10)
            listener.detach()
            # Handed over again once nobody listens; a re-INVITE's answer takes it back.
            c.server.sweep()
            assert len(offloader.handed) == 1
            offer = c.session.relay_offer(pcmu_offer(c.a), "a")
            c.b.learn(offer)
            # An answer that differs from the last (an identical one changes nothing).
            answer = c.b.sdp("0 101", "a=rtpmap:0 PCMU/8000",
                             "a=rtpmap:101 telephone-event/8000", "a=ptime:30")
            c.a.learn(c.session.relay_answer(answer, "b"))
            assert not offloader.handed
            c.b.rtp_in.clear()
            await _talk(c, 10, start=80)
            await eventually(lambda: len(c.b.rtp_in) >= 10)

    run(scenario)


@pytest.mark.parametrize("count", [8, PENDING_LIMIT + 30])
def test_packets_waiting_for_a_stalled_worker_reach_a_listener_that_took_the_bridge(
        run: Run, count: int) -> None:
    """The C loop's sockets connected to the parties hold what they sent while the worker
    was not running; when the switch takes the bridge back, those packets are the switch's
    to read: its listener hears them, in order, and B hears each once. Past
    `PENDING_LIMIT` only the newest come back; the older ones are counted dropped."""
    if relay_native.load() is None:
        pytest.skip("the relay's C loop is not built here (pycc accel build)")

    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            await _loop_is(c, "c")
            (offloader,) = c.server.offloaders
            bridge = c.session.bridges[0]
            await eventually(lambda: _port_shared(bridge.x) and _port_shared(bridge.y))
            assert offloader._process is not None
            os.kill(offloader._process.pid, signal.SIGSTOP)
            try:
                c.b.rtp_in.clear()
                await _talk(c, count, start=300)  # they wait on the worker's sockets
                heard: list[bytes] = []
                listener = LegInput(bridge.x, 8000)
                listener.on_packet = lambda _leg, data: heard.append(data)  # type: ignore[method-assign]
                listener.attach()
                assert not offloader.handed
                await asyncio.sleep(0.1)
                assert heard == [] and c.b.rtp_in == []
            finally:
                os.kill(offloader._process.pid, signal.SIGCONT)
            returned = min(count, PENDING_LIMIT)
            await eventually(lambda: len(heard) >= returned and len(c.b.rtp_in) >= returned,
                             timeout=3.0)
            newest = list(range(400 + count - returned, 400 + count))
            assert [parse_rtp(p).sequence for p in heard] == newest
            assert [parse_rtp(p).sequence for p in c.b.rtp_in] == newest
            assert bridge.x.dropped["send"] == count - returned
            assert not offloader.failed

    run(scenario)


def _port_shared(leg: MediaLeg) -> bool:
    """Whether the leg's RTP socket shares its port (SO_REUSEPORT) with a worker's twin."""
    with socket.fromfd(leg.sockets.rtp_fileno(), socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))


def test_when_the_worker_dies_the_switch_relays_again(run: Run, packet_loop: str) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            await _loop_is(c, packet_loop)
            (offloader,) = c.server.offloaders
            bridge = c.session.bridges[0]
            # The C loop sends through sockets connected to the parties on the legs' ports.
            shared = packet_loop == "c"
            await eventually(lambda: _port_shared(bridge.x) == _port_shared(bridge.y) == shared)
            process = offloader._process
            assert process is not None
            os.kill(process.pid, signal.SIGKILL)
            await eventually(lambda: offloader.failed and not offloader.handed)
            # The kernel closes a dying process's sockets one by one: its control socket
            # may close before its twins, and a packet that reaches a twin then is lost
            # with it. Gone for good once the process has ended.
            await eventually(lambda: process.poll() is not None)
            # The twins died with the worker: the ports are the legs' own again.
            assert not _port_shared(bridge.x) and not _port_shared(bridge.y)
            c.b.rtp_in.clear()
            await _talk(c, 10, start=120)
            await eventually(lambda: len(c.b.rtp_in) >= 10)
            c.server.sweep()  # no worker: nothing is handed over any more
            assert not offloader.handed

    run(scenario)


def test_closing_the_call_takes_the_sockets_back_from_the_worker(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            (offloader,) = c.server.offloaders
            c.server.end_session(c.session)
            assert not offloader.handed
            # The worker let go of its copies too: nothing answers on the old ports.
            await eventually(lambda: not offloader._returning, timeout=3.0)
            c.b.rtp_in.clear()
            await _talk(c, 5, start=200)
            await asyncio.sleep(0.2)
            assert c.b.rtp_in == []

    run(scenario)


# -- transcoded bridges ---------------------------------------------------------------------------


def _followed_on(packets: list[RtpPacket], before: RtpPacket) -> None:
    """``packets`` carry on the stream ``before`` ended: same SSRC, sequence numbers one
    apart from there, 20 ms timestamp steps."""
    assert {p.ssrc for p in packets} == {before.ssrc}
    sequences = [before.sequence] + [p.sequence for p in packets]
    assert {(b - a) & 0xFFFF for a, b in itertools.pairwise(sequences)} == {1}
    steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)}
    assert len(steps) == 1, steps


async def _send_both(c: Call, from_a: list[bytes], from_b: list[bytes], first: int,
                     last: int) -> None:
    """Phone A sends its packets ``first`` to ``last`` (excluded), phone B its own."""
    for n in range(first, last):
        c.a.send(from_a[n])
        if n < len(from_b):
            c.b.send(from_b[n])
        await asyncio.sleep(0.004)


async def _lock_transcoded(c: Call, from_a: list[bytes], from_b: list[bytes]) -> None:
    """Ten packets each way, the last five past the latch's learning time."""
    await _send_both(c, from_a, from_b, 0, 5)
    await asyncio.sleep(0.25)
    await _send_both(c, from_a, from_b, 5, 10)
    await eventually(lambda: len(c.b.rtp_in) >= 10 and len(c.a.rtp_in) >= 10)


G729 = Audio("G729", 8000, 1, 18)


async def _locked_transcoded_call(c: Call, seconds: float, a: Audio = PCMU, b: Audio = OPUS,
                                  lost: tuple[int, ...] = (),
                                  ) -> tuple[int, int, list[bytes], list[bytes]]:
    """``a`` from A (less its packets ``lost``) and ``b`` from B (PCMU and Opus unless
    told), ``seconds`` of tone each: their payload types and packets, the first ten of each
    sent so that both sources lock."""
    a_pt = payload_type(c.answer_to_a, a.name, a.rate)
    b_pt = payload_type(c.offer_to_b, b.name, b.rate)
    from_a = a.packets(a_pt, SSRC_A, seconds=seconds, lost=lost)
    from_b = b.packets(b_pt, SSRC_B, seconds=seconds)
    await _lock_transcoded(c, from_a, from_b)
    return a_pt, b_pt, from_a, from_b


async def _press_key(c: Call, key: str, seq: int, timestamp: int) -> list[RtpPacket]:
    """A sends ``key`` as RFC 4733 events (payload type 101 at 8000 Hz) from ``seq``; the
    packets it sent."""
    keys = DtmfSender(8000, 20).packets(key, 100, timestamp=timestamp)
    for n, p in enumerate(keys):
        c.a.send(rtp(101, seq + n, p.timestamp, SSRC_A, p.payload, marker=p.marker))
        await asyncio.sleep(0.004)
    return keys


def test_a_transcoded_call_is_carried_on_by_the_worker(run: Run, packet_loop: str) -> None:
    """PCMU on A, Opus on B: once the sources lock, the worker decodes and encodes both ways
    on the streams the switch began (same SSRCs, sequence numbers going on), each party
    hears the other's tone, and the worker's sending reaches the legs' counts; a listener
    takes the bridge back, and the switch goes on with fresh streams."""
    require(PCMU, OPUS)

    async def scenario() -> None:
        async with call(PCMU.offer, OPUS.answer, relay_workers=1) as c:
            bridge = c.session.bridges[0]
            assert bridge.transcoding
            (offloader,) = c.server.offloaders
            a_pt, b_pt, from_a, from_b = await _locked_transcoded_call(c, 3.2)
            last_to_b, last_to_a = parse_rtp(c.b.rtp_in[-1]), parse_rtp(c.a.rtp_in[-1])

            async def b_reports_lost(fraction: int) -> None:
                c.b.send_rtcp(ReceiverReport(SSRC_B, [ReportBlock(
                    last_to_b.ssrc, fraction, 0, 0, 0, 0, 0)]).serialize())
                await eventually(lambda: bridge.y.remote_loss == fraction / 256)
                await asyncio.sleep(0.02)  # the worker's copy of the report is on its way

            # B reports no loss before the hand-over: the worker's encoder starts there too.
            await b_reports_lost(0)
            assert eligible(bridge, c.server)
            c.server.sweep()
            assert len(offloader.handed) == 1 and bridge.reclaim is not None
            await _loop_is(c, packet_loop)
            # With the C loop, both directions are transcoded in C too.
            assert offloader.c_transcoding == (2 if packet_loop == "c" else 0)
            sent_b_before = bridge.y.sent
            c.a.rtp_in.clear()
            c.b.rtp_in.clear()
            await _send_both(c, from_a, from_b, 10, 100)
            await eventually(lambda: len(c.b.rtp_in) >= 90 and len(c.a.rtp_in) >= 90)
            to_b = [parse_rtp(p) for p in c.b.rtp_in]
            to_a = [parse_rtp(p) for p in c.a.rtp_in]
            _followed_on(to_b, last_to_b)
            _followed_on(to_a, last_to_a)
            assert {p.payload_type for p in to_b} == {b_pt}
            assert {p.payload_type for p in to_a} == {a_pt}
            check_tone(OPUS, to_b)
            check_tone(PCMU, to_a)
            # What the worker sent is counted on the legs (pycc's sender reports use it).
            await eventually(lambda: bridge.y.sent >= sent_b_before + 90, timeout=3.0)
            # B's reports of what it lost of pycc's stream size the worker's Opus FEC: none
            # as reported before the hand-over, FEC at 25 % lost, none again at 0 %.
            warble = warble_packets(a_pt, SSRC_A, 30, seq=1100, ts=50_000 + 100 * 160)
            for first, fraction, fec in ((0, None, False), (10, 64, True), (20, 0, False)):
                if fraction is not None:
                    await b_reports_lost(fraction)
                c.b.rtp_in.clear()
                await _send_both(c, warble, from_b[100:], first, first + 10)
                await eventually(lambda: len(c.b.rtp_in) >= 10)
                assert fec_flags([parse_rtp(p) for p in c.b.rtp_in[2:]]) == {fec}
            # A key from A reaches B in B's event numbering and clock, and the switch.
            b_event = payload_type(c.offer_to_b, "telephone-event", 48000)
            c.b.rtp_in.clear()
            keys = await _press_key(c, "7", 1130, 50_000 + 130 * 160)

            def events() -> list[RtpPacket]:
                return [e for e in map(parse_rtp, c.b.rtp_in) if e.payload_type == b_event]

            await eventually(lambda: ("a", "7", "rfc4733") in c.digits
                             and len(events()) == len(keys), timeout=3.0)
            assert [parse_event(e.payload).duration for e in events()] == [
                parse_event(p.payload).duration * 6 for p in keys]
            assert {e.ssrc for e in events()} == {last_to_b.ssrc}
            # A listener takes the bridge back: fresh streams from the switch's transcoders.
            listener = LegInput(bridge.x, 8000)
            listener.attach()
            try:
                assert not offloader.handed and bridge.reclaim is None
                await asyncio.sleep(0.05)  # what the worker still forwarded arrives
                c.b.rtp_in.clear()
                await _send_both(c, from_a, from_b, 140, 150)
                await eventually(lambda: len(c.b.rtp_in) >= 10)
                after = [parse_rtp(p) for p in c.b.rtp_in]
                assert len({p.ssrc for p in after}) == 1
                assert after[0].ssrc not in (last_to_b.ssrc, SSRC_A) and after[0].marker
                # B's last report (nothing lost) still holds for the new encoder: no FEC.
                assert fec_flags(after[2:]) == {False}
            finally:
                listener.detach()

    run(scenario)


def test_a_transcoded_call_that_listens_for_tones_stays_in_the_switch(run: Run) -> None:
    """A party without telephone-events sends keys as tones, which only the switch listens
    for: such a bridge is not handed over."""
    require(PCMU, OPUS)

    def opus_without_events(phone: Phone, offer: SessionDescription) -> SessionDescription:
        pt = payload_type(offer, "opus", 48000)
        return phone.sdp(str(pt), f"a=rtpmap:{pt} opus/48000/2", "a=ptime:20")

    async def scenario() -> None:
        async with call(PCMU.offer, opus_without_events, relay_workers=1) as c:
            bridge = c.session.bridges[0]
            assert bridge.transcoding and not bridge.transcodes_alone
            a_pt = payload_type(c.answer_to_a, "PCMU", 8000)
            b_pt = payload_type(c.offer_to_b, "opus", 48000)
            await _lock_transcoded(c, PCMU.packets(a_pt, SSRC_A, seconds=0.2),
                                   OPUS.packets(b_pt, SSRC_B, seconds=0.2))
            assert not eligible(bridge, c.server)
            c.server.sweep()
            assert c.server.offloaded == 0

    run(scenario)


def test_a_bridge_the_worker_cannot_transcode_stays_with_the_switch(
        run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan naming a codec the worker has not got is refused: the switch takes the bridge
    back and its own transcoders, untouched meanwhile, go on."""
    require(PCMU, OPUS)
    plans = Bridge.transcode_plans

    def unknown_codec(bridge: Bridge) -> tuple[TranscodePlan, TranscodePlan] | None:
        found = plans(bridge)
        if found is None:
            return None
        src = found[0].src
        assert src.codec is not None
        strange = dataclasses.replace(src, codec=dataclasses.replace(src.codec,
                                                                    encoding="X-NONE"))
        return dataclasses.replace(found[0], src=strange), found[1]

    monkeypatch.setattr(Bridge, "transcode_plans", unknown_codec)

    async def scenario() -> None:
        async with call(PCMU.offer, OPUS.answer, relay_workers=1) as c:
            bridge = c.session.bridges[0]
            (offloader,) = c.server.offloaders
            _a_pt, _b_pt, from_a, _from_b = await _locked_transcoded_call(c, 1.0)
            before = parse_rtp(c.b.rtp_in[-1])
            c.server.sweep()
            assert len(offloader.handed) == 1
            await eventually(lambda: not offloader.handed and bridge.reclaim is None)
            c.b.rtp_in.clear()
            await _send_both(c, from_a, [], 10, 30)
            await eventually(lambda: len(c.b.rtp_in) >= 20)
            # The switch's own stream goes on where it stopped.
            _followed_on([parse_rtp(p) for p in c.b.rtp_in], before)
            assert not offloader.failed

    run(scenario)


def test_when_the_worker_dies_a_transcoded_call_goes_on_in_the_switch(run: Run) -> None:
    """The switch transcodes again, on a fresh stream: where the worker's stream stopped
    is not known here."""
    require(PCMU, OPUS)

    async def scenario() -> None:
        async with call(PCMU.offer, OPUS.answer, relay_workers=1) as c:
            (offloader,) = c.server.offloaders
            _a_pt, _b_pt, from_a, from_b = await _locked_transcoded_call(c, 0.8)
            before = parse_rtp(c.b.rtp_in[-1])
            c.server.sweep()
            process = offloader._process
            assert len(offloader.handed) == 1 and process is not None
            os.kill(process.pid, signal.SIGKILL)
            await eventually(lambda: offloader.failed and not offloader.handed
                             and process.poll() is not None)  # its twins closed too
            c.b.rtp_in.clear()
            await _send_both(c, from_a, from_b, 10, 30)
            await eventually(lambda: len(c.b.rtp_in) >= 20)
            after = [parse_rtp(p) for p in c.b.rtp_in]
            assert len({p.ssrc for p in after}) == 1
            assert after[0].ssrc != before.ssrc and after[0].marker
            check_tone(OPUS, after)

    run(scenario)


def test_a_g729_call_is_transcoded_in_the_workers_loop(run: Run, packet_loop: str) -> None:
    """G.729 on A, PCMU on B: the worker transcodes both ways in its loop (the C one when
    built, with the C transcoder), on the streams the switch began. Each party hears the
    other's tone; two packets A lost are concealed (B hears 20 ms for every 20 ms); a key
    goes through; payloads G.729 refuses are counted lost and the call goes on."""
    require(G729, PCMU)

    async def scenario() -> None:
        async with call(G729.offer, PCMU.answer, relay_workers=1) as c:
            bridge = c.session.bridges[0]
            assert bridge.transcoding
            (offloader,) = c.server.offloaders
            a_pt, b_pt, from_a, from_b = await _locked_transcoded_call(
                c, 2.5, G729, PCMU, lost=(60, 61))
            last_to_b, last_to_a = parse_rtp(c.b.rtp_in[-1]), parse_rtp(c.a.rtp_in[-1])
            c.server.sweep()
            assert len(offloader.handed) == 1
            await _loop_is(c, packet_loop)
            assert offloader.c_transcoding == (2 if packet_loop == "c" else 0)
            sent_b_before = bridge.y.sent
            c.a.rtp_in.clear()
            c.b.rtp_in.clear()
            await _send_both(c, from_a, from_b, 10, 100)
            await eventually(lambda: len(c.b.rtp_in) >= 92 and len(c.a.rtp_in) >= 90)
            await asyncio.sleep(0.05)
            to_b = [parse_rtp(p) for p in c.b.rtp_in]
            to_a = [parse_rtp(p) for p in c.a.rtp_in]
            assert len(to_b) == 92  # 90 sent, 2 concealed
            _followed_on(to_b, last_to_b)
            _followed_on(to_a, last_to_a)
            assert {p.payload_type for p in to_b} == {b_pt}
            assert {p.payload_type for p in to_a} == {a_pt}
            check_tone(PCMU, to_b)
            check_tone(G729, to_a)
            await eventually(lambda: bridge.y.sent >= sent_b_before + 92, timeout=3.0)
            # A key from A reaches B and the switch.
            b_event = payload_type(c.offer_to_b, "telephone-event", 8000)
            c.b.rtp_in.clear()
            keys = await _press_key(c, "4", 1110, 50_000 + 110 * 160)
            await eventually(lambda: ("a", "4", "rfc4733") in c.digits and len(
                [e for e in map(parse_rtp, c.b.rtp_in) if e.payload_type == b_event])
                == len(keys), timeout=3.0)
            # Payloads G.729 refuses: lost and counted; the call goes on.
            dropped = bridge.x.dropped["codec"]
            for n, payload in enumerate((b"", bytes(7), bytes(13))):
                c.a.send(rtp(a_pt, 1120 + n, 50_000 + 160 * (120 + n), SSRC_A, payload))
            await eventually(lambda: bridge.x.dropped["codec"] == dropped + 3, timeout=3.0)
            c.b.rtp_in.clear()
            for n in range(20):
                c.a.send(rtp(a_pt, 1123 + n, 50_000 + 160 * (123 + n), SSRC_A,
                             parse_rtp(from_a[20 + n]).payload))
                await asyncio.sleep(0.004)
            await eventually(lambda: len(c.b.rtp_in) >= 20)
            assert not offloader.failed and len(offloader.handed) == 1

    run(scenario)


def test_bad_packets_to_a_transcoding_worker_are_dropped_and_the_call_goes_on(
        run: Run, packet_loop: str) -> None:
    """Malformed RTP from the PCMU phone and Opus payloads libopus refuses from the other
    reach the worker's transcoders: they are dropped, the worker lives on, both directions
    carry on."""
    require(PCMU, OPUS)

    async def scenario() -> None:
        async with call(PCMU.offer, OPUS.answer, relay_workers=1) as c:
            (offloader,) = c.server.offloaders
            _a_pt, b_pt, from_a, from_b = await _locked_transcoded_call(c, 1.0)
            c.server.sweep()
            assert len(offloader.handed) == 1
            await _loop_is(c, packet_loop)
            for packet in BAD.values():
                c.a.send(packet)
            for n, payload in enumerate((b"", b"\xff", b"\x03\xff\xff", bytes(range(40)))):
                c.b.send(rtp(b_pt, 1010 + n, 50_000 + 960 * (10 + n), SSRC_B, payload))
            c.a.rtp_in.clear()
            c.b.rtp_in.clear()
            await _send_both(c, from_a, from_b, 20, 50)
            await eventually(lambda: len(c.b.rtp_in) >= 30 and len(c.a.rtp_in) >= 30)
            check_tone(OPUS, [parse_rtp(p) for p in c.b.rtp_in])
            check_tone(PCMU, [parse_rtp(p) for p in c.a.rtp_in])
            assert not offloader.failed and len(offloader.handed) == 1
            assert offloader._process is not None and offloader._process.poll() is None
            # The worker's drops reach the legs by reason, as the switch's own would.
            bridge = c.session.bridges[0]
            await eventually(lambda: bridge.y.dropped["codec"] == 3, timeout=3.0)
            assert {reason: bridge.x.dropped[reason] for reason in BAD} == \
                dict.fromkeys(BAD, 1)

    run(scenario)
