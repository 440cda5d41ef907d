"""The inbound call center end to end on an embedded Switch, with phones that send and hear
real RTP (``pycc.ua`` user agents whose media is an ``RtpPhone``).

The configuration is a ``pycc apply`` file applied before the switch starts. A caller dials
the IVR's number, presses 1 as an RFC 4733 event, waits in "sales" hearing music; two agents
are logged in; the longest-idle one rings and does not answer and is set not ready, the other
answers; each party hears the other's tone; a supervisor whispers (the agent hears the
supervisor, the caller does not); after the hang-up the agent is in wrap-up and then
available, and the call record names the IVR path, the queue, the wait and the agent. The
faults: an agent's phone that vanishes mid-call, a caller who hangs up while queued, and a
queue with nobody logged in.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peers.net import free_port
from peers.rtp_phone import RtpPhone, band_share
from pycc.bus import Event
from pycc.ccs.agent import AgentState, AgentStatus
from pycc.config import SwitchConfig
from pycc.provision.command import apply_file
from pycc.store.db import make_url
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, UserAgent

PASSWORDS = {f"100{n}": f"secret-100{n}" for n in range(1, 6)}
RATE = 8000
RTP_PORT_COUNT = 60

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1002", skills: {sales: 5}}
queues:
  - name: sales
    skill: sales
    strategy: longest-idle
    ring_timeout: 1.5
    wrapup: 1
    max_wait: 60
    music: tone:hold
  - name: callback
    skill: sales
    ring_timeout: 5
    music: tone:hold
    callback: {key: "*", prompt: tone:beep}
  - name: announced
    skill: sales
    music: tone:hold
    announce: {every: 1, position: true, wait: false}
  - name: full
    skill: sales
    max_wait: 1
    overflow: {voicemail: "1001"}
  - name: empty
    skill: nobody
    no_agents: {ivr: sorry}
ivr:
  - name: main
    steps:
      - answer
      - menu:
          prompt: tone:dial
          timeout: 5
          retries: 1
          options:
            "1": {queue: sales}
            "2": {queue: empty}
            "3": {queue: callback}
            "4": {queue: announced}
            "5": {queue: full}
            "6": {extension: "1002"}
  - name: sorry
    steps:
      - play: tone:beep
      - hangup
routes:
  - {match: "8000", to: {ivr: main}}
"""


class Center:
    """A running switch configured from CENTER, its store and the phones of one test."""

    def __init__(self, switch: Switch, store: Store, stack: contextlib.AsyncExitStack) -> None:
        self.switch = switch
        self.store = store
        self.stack = stack
        self.events: list[Event] = []
        switch.bus.subscribe("*", self.events.append)

    async def phone(self, user: str, tone: float | None = None,
                    **options: Any) -> tuple[UserAgent, RtpPhone]:
        phone = await self.stack.enter_async_context(RtpPhone())
        ua = UserAgent(user, PASSWORDS[user], server=self.switch.addresses["udp"],
                       rtp_port=phone.port, **options)
        await self.stack.enter_async_context(ua)
        await ua.register()
        if tone is not None:
            phone.tone(tone)
        return ua, phone

    def agent(self, agent_id: str) -> tuple[AgentStatus, AgentState]:
        assert self.switch.center is not None
        state = self.switch.center.acd.agent_status(agent_id)
        assert state is not None
        return state

    def login(self, agent_id: str) -> None:
        assert self.switch.center is not None
        assert self.switch.center.acd.login(agent_id) is None

    async def record(self, call_id: str, timeout: float = 5.0) -> CallRecord:
        async with asyncio.timeout(timeout):
            while True:
                records = await asyncio.to_thread(self.store.list_call_records, "default")
                for record in records:
                    if record.call_id == call_id:
                        return record
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def center(tmp_path: Path, **overrides: Any) -> AsyncIterator[Center]:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=RTP_PORT_COUNT)
    config = SwitchConfig(
        data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
        secret="center-tests-nonce-secret", rtp_ports=f"{first}-{first + RTP_PORT_COUNT - 1}",
        **overrides)
    yaml_file = tmp_path / "center.yaml"
    yaml_file.write_text(CENTER, encoding="utf-8")
    errors: list[str] = []
    assert apply_file(yaml_file, config, out=lambda _line: None, err=errors.append) == 0, errors
    try:
        async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
            yield Center(switch, store, stack)
    finally:
        store.close()


def run(tmp_path: Path, scenario: Callable[[Center], Awaitable[None]], *, limit: float = 40,
        **overrides: Any) -> None:
    async def main() -> None:
        async with asyncio.timeout(limit), center(tmp_path, **overrides) as the_center:
            await scenario(the_center)

    asyncio.run(main())


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def call_in(c: Center, ua: UserAgent, phone: RtpPhone, number: str) -> Call:
    call = await ua.call(number, timeout=5)
    phone.learn(call.remote_sdp)
    return call


async def answer(ua: UserAgent, phone: RtpPhone, *, timeout: float = 5.0) -> Call:
    incoming = await ua.next_call(timeout)
    await incoming.answer()
    phone.learn(incoming.remote_sdp)
    return incoming


def share(pcm: Any, freq: float) -> float:
    return band_share(pcm, RATE, freq)


def test_menu_queue_ring_no_answer_next_agent_whisper_wrap_up(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, _alice = await c.phone("1001")
        bob_ua, bob = await c.phone("1002", tone=400)
        caller_ua, caller = await c.phone("1003", tone=1000)
        boss_ua, boss = await c.phone("1004", tone=2000)
        c.login("alice")
        await asyncio.sleep(0.05)  # alice has been idle longer
        c.login("bob")
        assert c.agent("alice") == (AgentStatus.AVAILABLE, AgentState.IDLE)

        call = await call_in(c, caller_ua, caller, "8000")
        # The menu's prompt (the dial tone, 350+440 Hz) plays until a key is pressed.
        heard = await caller.hear(0.3, since=caller.now() + 0.1)
        assert share(heard, 350) + share(heard, 440) > 0.5
        await caller.press("1")

        # alice (longest idle) rings first and does not answer.
        ringing = await alice_ua.next_call(5)
        assert c.agent("alice")[1] is AgentState.RESERVED
        # What the agent's phone learns about the call: the queue it comes from.
        assert ringing.invite is not None
        assert ringing.invite.headers.get("x-pycc-queue") == "sales"
        # Meanwhile the caller hears the queue's music (tone:hold is a 480 Hz tone... of the
        # tone plan: anything but silence and not the dial tone).
        music = await caller.hear(0.4, since=caller.now() + 0.1)
        assert share(music, 350) + share(music, 440) < 0.2
        assert abs(music).max() > 500
        await ringing.wait_ended(4)
        assert c.agent("alice") == (AgentStatus.NOT_READY, AgentState.IDLE)

        # bob rings next and answers; each side hears the other.
        agent_call = await answer(bob_ua, bob)
        await eventually(lambda: c.agent("bob")[1] is AgentState.ON_CALL)
        mark_caller, mark_bob = caller.now() + 0.3, bob.now() + 0.3
        to_caller = await caller.hear(0.5, since=mark_caller)
        to_bob = await bob.hear(0.5, since=mark_bob)
        assert share(to_caller, 400) > 0.5, share(to_caller, 400)
        assert share(to_bob, 1000) > 0.5, share(to_bob, 1000)

        # A supervisor whispers to bob: bob hears the supervisor, the caller does not.
        boss_call = await call_in(c, boss_ua, boss, "*34bob")
        await eventually(lambda: any(e.topic == "supervisor.monitor" for e in c.events))
        mark_caller, mark_bob, mark_boss = (caller.now() + 0.3, bob.now() + 0.3,
                                            boss.now() + 0.3)
        to_bob = await bob.hear(0.5, since=mark_bob)
        to_caller = await caller.hear(0.5, since=mark_caller)
        to_boss = await boss.hear(0.5, since=mark_boss)
        assert share(to_bob, 2000) > 0.1 and share(to_bob, 1000) > 0.1, (
            share(to_bob, 2000), share(to_bob, 1000))
        assert share(to_caller, 2000) < 0.01, share(to_caller, 2000)
        assert share(to_caller, 400) > 0.5
        assert share(to_boss, 400) > 0.1 and share(to_boss, 1000) > 0.1

        # 3: barge in (both hear the supervisor); 1: listen only (nobody hears it).
        await boss.press("3")
        await asyncio.sleep(0.3)
        mark_caller, mark_bob = caller.now() + 0.2, bob.now() + 0.2
        assert share(await caller.hear(0.5, since=mark_caller), 2000) > 0.1
        assert share(await bob.hear(0.5, since=mark_bob), 2000) > 0.1
        await boss.press("1")
        await asyncio.sleep(0.3)
        mark_caller, mark_bob = caller.now() + 0.2, bob.now() + 0.2
        assert share(await caller.hear(0.5, since=mark_caller), 2000) < 0.01
        assert share(await bob.hear(0.5, since=mark_bob), 2000) < 0.01
        await boss_call.hangup()

        # The caller hangs up: bob's call ends, bob wraps up and then is available again.
        await asyncio.sleep(0.3)
        await call.hangup()
        await agent_call.wait_ended(5)
        await eventually(lambda: c.agent("bob") == (AgentStatus.AVAILABLE,
                                                      AgentState.WRAP_UP))
        await eventually(lambda: c.agent("bob") == (AgentStatus.AVAILABLE, AgentState.IDLE),
                         timeout=3)

        record = await c.record(call.call_id)
        assert record.disposition == "answered"
        assert record.queue == "sales" and record.agent == "bob"
        assert record.queue_wait is not None and record.queue_wait >= 1.5
        assert record.route is not None
        assert record.ivr_path is not None
        assert "main" in record.ivr_path and "queue:sales=answered" in record.ivr_path
        assert record.agent_answer is not None and record.end - record.agent_answer > 1.0
        # The agent's state changes were stored for the reports.
        assert c.switch.center is not None
        await c.switch.center.flush()
        events = await asyncio.to_thread(c.store.list_agent_events, "default", "alice")
        assert [(e.to_status, e.to_state) for e in events][-2:] == [
            ("available", "reserved"), ("not_ready", "idle")]
        assert events[-1].reason == "no-answer"
        keys = await asyncio.to_thread(c.store.list_ivr_keys, "default")
        assert any(k.flow == "main" and k.key == "1" and k.count == 1 for k in keys), keys

    run(tmp_path, scenario)


def test_agent_phone_vanishing_mid_call_frees_the_caller_and_the_agent(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        bob_ua, bob = await c.phone("1002", tone=400)
        caller_ua, caller = await c.phone("1003", tone=1000)
        c.login("bob")
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("1")
        await answer(bob_ua, bob)
        await caller.hear(0.3, since=caller.now() + 0.2)
        # bob's phone dies: no BYE, no more RTP.
        await bob.close()
        await bob_ua.close(graceful=False)
        await call.wait_ended(8)
        status, state = c.agent("bob")
        assert state is AgentState.IDLE and status is not AgentStatus.AVAILABLE
        record = await c.record(call.call_id)
        assert record.agent == "bob" and record.disposition == "answered"

    run(tmp_path, scenario, rtp_timeout=2.0)


def test_caller_hanging_up_while_queued_leaves_at_once(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, _alice = await c.phone("1001")
        caller_ua, caller = await c.phone("1003", tone=1000)
        c.login("alice")
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("1")
        ringing = await alice_ua.next_call(5)
        await call.hangup()
        # alice stops ringing at once and is free again, the queue is empty.
        await ringing.wait_ended(2)
        await eventually(lambda: c.agent("alice") == (AgentStatus.AVAILABLE, AgentState.IDLE))
        assert c.switch.center is not None
        queues = {q["queue"]: q for q in c.switch.center.acd.snapshot()["queues"]}  # type: ignore[index]
        assert queues["sales"]["waiting"] == 0 and queues["sales"]["abandoned"] == 1
        record = await c.record(call.call_id)
        assert record.queue == "sales" and record.agent is None
        assert record.ivr_path is not None and "queue:sales=abandoned" in record.ivr_path

    run(tmp_path, scenario)


def test_queue_without_agents_overflows_to_its_flow(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        caller_ua, caller = await c.phone("1003", tone=1000)
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("2")
        # The "sorry" flow beeps and hangs up.
        await call.wait_ended(8)
        record = await c.record(call.call_id)
        assert record.ivr_path is not None
        assert "queue:empty=overflow" in record.ivr_path and "sorry" in record.ivr_path

    run(tmp_path, scenario)


@pytest.mark.parametrize("action", ["logout", "not_ready"])
def test_feature_codes_change_the_agent(tmp_path: Path, action: str) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, alice = await c.phone("1001")
        login = await call_in(c, alice_ua, alice, "*21")
        await login.wait_ended(5)
        assert c.agent("alice") == (AgentStatus.AVAILABLE, AgentState.IDLE)
        code = {"logout": "*22", "not_ready": "*24"}[action]
        done = await call_in(c, alice_ua, alice, code)
        await done.wait_ended(5)
        expected = AgentStatus.OFFLINE if action == "logout" else AgentStatus.NOT_READY
        assert c.agent("alice")[0] is expected

    run(tmp_path, scenario)


def test_callback_keeps_the_place_and_calls_the_caller_back(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, alice = await c.phone("1001", tone=400)
        caller_ua, caller = await c.phone("1003", tone=1000, auto_answer=True)
        c.login("alice")
        assert c.switch.center is not None
        assert c.switch.center.acd.not_ready("alice", "lunch") is None
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("3")
        await eventually(lambda: any(e.topic == "queue.joined" for e in c.events))
        await asyncio.sleep(0.3)
        await caller.press("*")
        # pycc confirms and hangs up; the caller keeps its place in the queue.
        await call.wait_ended(5)
        assert any(e.topic == "queue.callback" for e in c.events)
        queues = {q["queue"]: q for q in c.switch.center.acd.snapshot()["queues"]}  # type: ignore[index]
        assert queues["callback"]["waiting"] == 1
        # When alice is ready she rings first; once she answers, pycc calls the caller back.
        assert c.switch.center.acd.ready("alice") is None
        agent_call = await answer(alice_ua, alice)
        back = await caller_ua.next_call(5)
        await asyncio.wait_for(back.answered.wait(), 5)
        caller.learn(back.remote_sdp)
        heard = await caller.hear(0.5, since=caller.now() + 0.3)
        assert share(heard, 400) > 0.5, share(heard, 400)
        to_alice = await alice.hear(0.5, since=alice.now() + 0.3)
        assert share(to_alice, 1000) > 0.5, share(to_alice, 1000)
        await back.hangup()
        await agent_call.wait_ended(5)
        await eventually(lambda: c.agent("alice")[1] is not AgentState.ON_CALL)

    run(tmp_path, scenario)


def test_position_is_announced_between_the_music(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        await c.phone("1001")
        caller_ua, caller = await c.phone("1003", tone=1000)
        c.login("alice")
        assert c.switch.center is not None
        c.switch.center.acd.not_ready("alice", "meeting")
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("4")
        # "You are number 1 in the queue", spoken by espeak-ng, cached in the data dir.
        tts = c.switch.data_dir / "tts"
        await eventually(lambda: tts.is_dir() and any(tts.glob("*.wav")), timeout=8)
        heard = await caller.hear(3.0, since=caller.now())
        # Music is one steady tone; speech spreads its energy over many frequencies.
        hold = max(share(heard, f) for f in range(300, 700, 20))
        assert hold < 0.9, hold
        await call.hangup()

    run(tmp_path, scenario)


def test_a_developers_coroutine_flow_transfers_to_a_queue(tmp_path: Path) -> None:
    from pycc.sia.call import IvrCall
    from pycc.sia.flow import Target

    collected: list[str] = []

    async def account_menu(call: IvrCall) -> Target | None:
        await call.play("tone:beep")
        digits = await call.collect(max=2, timeout=5)
        collected.append(digits)
        return Target("queue", "sales") if digits == "12" else None

    async def scenario(c: Center) -> None:
        bob_ua, bob = await c.phone("1002", tone=400)
        caller_ua, caller = await c.phone("1003", tone=1000)
        c.login("bob")
        c.switch.add_flow("7000", account_menu)
        call = await call_in(c, caller_ua, caller, "7000")
        await caller.press("1")
        await caller.press("2")
        agent_call = await answer(bob_ua, bob)
        heard = await caller.hear(0.5, since=caller.now() + 0.3)
        assert share(heard, 400) > 0.5
        await agent_call.hangup()
        await call.wait_ended(5)
        record = await c.record(call.call_id)
        assert collected == ["12"]
        assert record.agent == "bob" and record.ivr_path is not None
        assert record.ivr_path.startswith("account_menu>queue:sales=answered"), record.ivr_path

    run(tmp_path, scenario)


def test_max_wait_overflows_to_voicemail(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        await c.phone("1001")
        caller_ua, caller = await c.phone("1003", tone=1000)
        c.login("alice")
        assert c.switch.center is not None
        c.switch.center.acd.not_ready("alice", "training")
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("5")
        await eventually(lambda: any(e.topic == "queue.left" for e in c.events), timeout=5)
        await asyncio.sleep(2.0)  # the caller speaks after the beep
        await call.hangup()
        await eventually(lambda: any(e.topic == "voicemail.left" for e in c.events),
                         timeout=5)
        left = [e for e in c.events if e.topic == "voicemail.left"]
        message = Path(left[0].data["file"])
        assert message.is_file() and message.parent.name == "messages"
        with wave.open(str(message), "rb") as wav:
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            rate = wav.getframerate()
        assert len(pcm) / rate > 1.0
        assert band_share(pcm, rate, 1000) > 0.5
        record = await c.record(call.call_id)
        assert record.ivr_path is not None
        assert "queue:full=overflow>voicemail:1001" in record.ivr_path, record.ivr_path

    run(tmp_path, scenario)


def test_ivr_transfer_to_an_extension_bridges_the_caller(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        bob_ua, bob = await c.phone("1002", tone=400, auto_answer=True)
        caller_ua, caller = await c.phone("1003", tone=1000)
        call = await call_in(c, caller_ua, caller, "8000")
        await caller.press("6")
        incoming = await bob_ua.next_call(5)
        await asyncio.wait_for(incoming.answered.wait(), 5)
        bob.learn(incoming.remote_sdp)
        heard = await caller.hear(0.5, since=caller.now() + 0.3)
        assert share(heard, 400) > 0.5
        to_bob = await bob.hear(0.5, since=bob.now() + 0.3)
        assert share(to_bob, 1000) > 0.5
        await incoming.hangup()
        await call.wait_ended(5)
        record = await c.record(call.call_id)
        assert record.ivr_path is not None and "extension:1002" in record.ivr_path

    run(tmp_path, scenario)
