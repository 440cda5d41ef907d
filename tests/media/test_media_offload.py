"""Relay offload (pycc.media.offload, pycc.media.relay_worker): a plain relayed bridge is
forwarded by the relay worker process, packet for packet as the bridge would, and taken back
whenever something needs the packets in the switch process.

Two fake phones on real UDP sockets (the ones of test_media_bridge) call through a media server
started with one relay worker. The latch's learning time is shortened so that the sources lock
quickly; the media server's sweep is run by hand to hand the bridge over."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest
from test_media_bridge import (
    HOST,
    SSRC_A,
    SSRC_B,
    Call,
    Phone,
    call,
    pcmu_answer,
    pcmu_offer,
    rtp,
)

from peers.aio import Run, eventually
from pycc.media import leg as leg_module
from pycc.media.audio import LegInput
from pycc.media.offload import eligible
from pycc.rtp.dtmf import DtmfSender
from pycc.rtp.packet import parse_rtp


@pytest.fixture(autouse=True)
def short_learning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leg_module, "LEARN_SECONDS", 0.2)


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


def test_a_relayed_call_is_forwarded_by_the_worker_byte_for_byte(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
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

    run(scenario)


def test_two_workers_share_the_calls_and_each_forwards_its_own(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=2) as c:
            assert len(c.server.offloaders) == 2
            # A second call through the same media server.
            a2, b2 = Phone("a2"), Phone("b2")
            try:
                session2 = c.server.new_session("second")
                offer_to_b2 = session2.relay_offer(pcmu_offer(a2), "a")
                b2.learn(offer_to_b2)
                a2.learn(session2.relay_answer(pcmu_answer(b2, offer_to_b2), "b"))
                second = Call(c.server, session2, a2, b2, offer_to_b2, offer_to_b2)
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
            finally:
                a2.close()
                b2.close()

    run(scenario)


def test_a_stranger_is_refused_and_keys_still_reach_the_switch(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
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
            plan = DtmfSender(8000, 20).packets("7", 100, timestamp=160 * 30)
            for n, p in enumerate(plan):
                c.a.send(rtp(event_pt, 300 + n, p.timestamp, SSRC_A, p.payload,
                             marker=p.marker))
                await asyncio.sleep(0.005)
            await eventually(lambda: ("a", "7", "rfc4733") in c.digits, timeout=3.0)
            await eventually(lambda: a_leg.dropped["source"] >= 5, timeout=3.0)
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


def test_when_the_worker_dies_the_switch_relays_again(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, relay_workers=1) as c:
            await _offloaded(c)
            (offloader,) = c.server.offloaders
            assert offloader._process is not None
            os.kill(offloader._process.pid, signal.SIGKILL)
            await eventually(lambda: offloader.failed and not offloader.handed)
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
