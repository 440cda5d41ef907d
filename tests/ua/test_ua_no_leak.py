"""Nothing is left behind: after calls of every outcome end and the transaction timers run
out, the switch holds no transaction, call, dialog or relay (short timers make it quick)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_ua_switch import Lab, run

from pycc.media.channel import Channel
from pycc.ua import CallFailed


async def prompt_forever(channel: Channel) -> None:
    await channel.play("tone:ringback")


def test_calls_leave_no_state_behind(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        switch = lab.switch
        assert switch.b2bua is not None and switch.endpoint is not None
        caller = await lab.agent("1001")
        callee = await lab.agent("1002", auto_answer=True)
        await lab.agent("1003", register=False)
        for _ in range(3):  # answered, then hung up by the caller
            call = await caller.call("1002")
            await call.hangup()
        with pytest.raises(CallFailed):  # not registered: 480
            await caller.call("1003")
        with pytest.raises(CallFailed):  # unknown: 404
            await caller.call("9999")
        callee.auto_answer = False
        ringing = await caller.dial("1002")  # cancelled while ringing: 487
        await asyncio.wait_for(ringing.ringing.wait(), 5)
        await ringing.hangup()
        # A call pycc answers itself, with a prompt playing when the caller hangs up.
        switch.add_application("7000", prompt_forever)
        app_call = await caller.call("7000")
        await asyncio.sleep(0.1)
        await app_call.hangup()
        await asyncio.sleep(0.2)
        layer = switch.endpoint.transactions
        b2bua = switch.b2bua
        # Timers J, K, H and I are 64*T1 or T4 at most: 3.2 s with T1 = 50 ms; D is set to 1 s.
        for _ in range(100):
            if layer.transaction_count == 0:
                break
            await asyncio.sleep(0.1)
        assert layer.transaction_count == 0, (layer._client, layer._server)
        assert b2bua.calls == {}
        assert b2bua._dialogs == {} and b2bua._by_a_txn == {}
        assert b2bua._by_b_txn == {} and b2bua._relays == {}
        assert b2bua.active_calls() == 0
        # Every call's media is gone: sessions, RTP ports, channels, mixes, clock subscribers.
        media = switch.media
        assert media is not None and media.engine is not None
        assert media.sessions == {}
        assert media.allocator.in_use == 0
        assert media.engine.channels == {} and media.engine.recordings == set()
        assert media.engine.clock.subscribers == ()

    run(tmp_path, scenario, t1=0.05, t2=0.4, t4=0.5, timer_d=1.0)
