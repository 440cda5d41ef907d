"""Keys sent as SIP INFO (``application/dtmf-relay``, what many desk phones are set to send)
between a queue caller and the agent pycc connected it to: each call is its own SIP dialog
with pycc, so pycc itself passes the key on, as the telephone-events (RFC 4733) the other
party negotiated, or as the key's tones in its audio when it negotiated none."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callcenter.test_inbound_flow import Center, answer, call_in, eventually, run
from pycc.ccs.agent import AgentState
from pycc.dsp.goertzel import DtmfDetector
from pycc.sdp.session import SessionDescription


def test_info_keys_cross_between_a_queue_caller_and_its_agent(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, alice = await c.phone("1001", tone=400)
        caller_ua, caller = await c.phone("1003", tone=1000)
        c.login("alice")
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("1")  # the menu: to the queue
        agent_call = await answer(alice_ua, alice)
        # pycc sends the agent events on the number its phone's answer gave them (RFC 3264
        # §5.1: each side receives on the payload types it declared), not on its own offer's.
        alice.event_type = events_type(agent_call.local_sdp)
        await eventually(lambda: c.agent("alice")[1] is AgentState.ON_CALL)
        # The agent's phone sends INFO; the caller hears events.
        for digit in "59#":
            response = await agent_call.send_info_dtmf(digit)
            assert response.status == 200
        assert await caller.next_digits(3) == ["5", "9", "#"]
        # And the other way round.
        for digit in "*0":
            response = await call.send_info_dtmf(digit)
            assert response.status == 200
        assert await alice.next_digits(2) == ["*", "0"]
        await call.hangup()
        await asyncio.wait_for(agent_call.wait_ended(5), 6)

    run(tmp_path, scenario)


def test_info_keys_reach_a_caller_without_telephone_events_as_tones(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, alice = await c.phone("1001")
        # The caller's phone offers no telephone-events: keys reach it only as tones.
        caller_ua, caller = await c.phone("1003", telephone_events=False)
        c.login("alice")
        call = await call_in(c, caller_ua, caller, "8000")
        assert "telephone-event" not in (call.remote_sdp or b"").decode()
        response = await call.send_info_dtmf("1")  # the menu, by INFO: to the queue
        assert response.status == 200
        agent_call = await answer(alice_ua, alice)
        await eventually(lambda: c.agent("alice")[1] is AgentState.ON_CALL)
        await asyncio.sleep(0.3)
        started = caller.now()
        for digit in "37":
            response = await agent_call.send_info_dtmf(digit)
            assert response.status == 200
            await asyncio.sleep(0.4)
        heard = caller.heard(since=started)
        assert DtmfDetector(8000).feed(heard) == ["3", "7"]
        assert caller.digits == []  # no events were sent to it
        await call.hangup()
        await asyncio.wait_for(agent_call.wait_ended(5), 6)

    run(tmp_path, scenario)


def events_type(sdp: bytes | None) -> int:
    """The telephone-event payload type an SDP declares."""
    assert sdp is not None
    audio = SessionDescription.parse(sdp).media[0]
    return next(c.payload_type for c in audio.codecs()
                if c.encoding.casefold() == "telephone-event")
