"""Blind transfer of live calls through the admin API (``POST /v1/calls/{id}/transfer``), on a
running switch with real SIP phones (``pycc.ua`` user agents whose media is an ``RtpPhone``
sending a tone of its own): a queue caller answered by an agent goes to another extension, a
call between two extensions goes to an IVR (the caller then reaches an agent) or, keeping the
callee, to another extension, and a click-to-call customer goes to an extension. Each time
the party kept hears the new party and is heard by it, the party released gets a BYE, and the
call keeps one record that notes the transfer. Then every refusal (problem documents naming
the field) and who may transfer whose call; and the pure validation of targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.test_api_core import Api, add_users, fields, problem
from peers.net import free_port
from peers.rtp_phone import RtpPhone, band_share
from pycc.api import ApiContext, create_app
from pycc.api.routes_calls import TransferTarget
from pycc.bus import Event
from pycc.ccmanager.center import TRANSFER_KINDS, CenterConfig, transfer_target_error
from pycc.ccs.agent import AgentState, AgentStatus
from pycc.ccs.queue import QueueConfig
from pycc.ccs.service import AgentConfig, QueueMedia
from pycc.config import SwitchConfig
from pycc.provision.command import apply_file
from pycc.sia.flow import parse_flow
from pycc.store.db import make_url
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, UserAgent

RATE = 8000
EXTENSIONS = ("1001", "1002", "1003", "1004", "1005")

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1002", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales, ring_timeout: 10, wrapup: 1, music: tone:hold}
ivr:
  - name: main
    steps:
      - answer
      - menu:
          prompt: tone:dial
          timeout: 10
          retries: 1
          options:
            "1": {queue: sales}
routes:
  - {match: "8000", to: {ivr: main}}
  - {match: "8100", to: {queue: sales}}
"""


# -- a running switch with the API over it -------------------------------------------------------


class Center:
    """The API over a running switch, the phones of one test and the bus events seen."""

    def __init__(self, api: Api, stack: contextlib.AsyncExitStack) -> None:
        self.api = api
        self.stack = stack
        self.events: list[Event] = []
        api.switch.bus.subscribe("*", self.events.append)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    def auth(self, who: str) -> dict[str, str]:
        return self.api.auth(who)

    async def phone(self, number: str, tone: float, **options: Any) -> tuple[UserAgent,
                                                                            RtpPhone]:
        rtp = await self.stack.enter_async_context(RtpPhone())
        ua = UserAgent(number, f"secret-{number}", server=self.api.switch.addresses["udp"],
                       rtp_port=rtp.port, **options)
        await self.stack.enter_async_context(ua)
        await ua.register()
        rtp.tone(tone)
        return ua, rtp

    def agent(self, agent_id: str) -> tuple[AgentStatus, AgentState]:
        center = self.api.switch.center
        assert center is not None
        state = center.acd.agent_status(agent_id)
        assert state is not None
        return state

    def login(self, agent_id: str) -> None:
        center = self.api.switch.center
        assert center is not None
        assert center.acd.login(agent_id) is None

    async def transfer(self, call_id: str, who: str, kind: str, name: str,
                       party: str | None = None) -> httpx.Response:
        body: dict[str, object] = {"target": {"kind": kind, "name": name}}
        if party is not None:
            body["party"] = party
        return await self.client.post(f"/v1/calls/{call_id}/transfer", json=body,
                                      headers=self.auth(who))

    async def records(self, count: int, timeout: float = 8.0) -> list[CallRecord]:
        """The tenant's closed call records, once there are ``count`` of them."""
        found: list[CallRecord] = []
        async with asyncio.timeout(timeout):
            while len(found) < count:
                await asyncio.sleep(0.1)
                found = await asyncio.to_thread(self.api.store.list_call_records, "default")
        await asyncio.sleep(0.3)  # and no more come
        return await asyncio.to_thread(self.api.store.list_call_records, "default")


def prepare(tmp_path: Path, **settings: Any) -> tuple[SwitchConfig, dict[str, str]]:
    data = tmp_path / "data"
    data.mkdir()
    first = free_port("udp", count=40)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="transfer-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + 39}", **settings)
    errors: list[str] = []
    for name, text in (("center.yaml", CENTER), ("acme.yaml", "tenant: acme\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert apply_file(tmp_path / name, config, out=lambda _l: None,
                          err=errors.append) == 0, errors
    store = Store(make_url(data, None))
    for number in EXTENSIONS:
        store.add_extension("default", number, f"secret-{number}")
    tokens = add_users(store)
    store.close()
    return config, tokens


def run(tmp_path: Path, scenario: Callable[[Center], Awaitable[None]],
        limit: float = 60.0, **settings: Any) -> None:
    config, tokens = prepare(tmp_path, **settings)

    async def main() -> None:
        async with Switch(config) as switch:
            assert switch.store is not None
            app = create_app(ApiContext(switch.store, "default", switch))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://pycc.test") as client, \
                    contextlib.AsyncExitStack() as stack, asyncio.timeout(limit):
                await scenario(Center(Api(client, switch, switch.store.store, tokens), stack))

    asyncio.run(main())


# -- helpers ---------------------------------------------------------------------------------------


async def answer(ua: UserAgent, rtp: RtpPhone, timeout: float = 8.0) -> Call:
    incoming = await ua.next_call(timeout)
    await incoming.answer()
    rtp.learn(incoming.remote_sdp)
    return incoming


async def dial(ua: UserAgent, rtp: RtpPhone, number: str) -> Call:
    call = await ua.call(number, timeout=8)
    rtp.learn(call.remote_sdp)
    return call


async def hears(rtp: RtpPhone, freq: float, seconds: float = 0.5) -> float:
    """The share of ``freq`` in what ``rtp`` hears from a moment from now."""
    pcm = await rtp.hear(seconds, since=rtp.now() + 0.3)
    return band_share(pcm, RATE, freq)


async def talking(first: RtpPhone, first_tone: float, second: RtpPhone,
                  second_tone: float) -> None:
    """Each of the two phones hears the other's tone (and so not its old party's)."""
    heard_by_first, heard_by_second = await asyncio.gather(
        hears(first, second_tone), hears(second, first_tone))
    assert heard_by_first > 0.5, heard_by_first
    assert heard_by_second > 0.5, heard_by_second


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def transferred(events: list[Event]) -> list[Event]:
    return [e for e in events if e.topic == "call.transferred"]


@dataclass
class QueueCall:
    """A caller (1003, 1000 Hz) of the queue talking with alice (1001, 400 Hz); 1004
    (700 Hz) registered to be transferred to."""

    call: Call
    caller: RtpPhone
    agent_call: Call
    alice: RtpPhone
    other_ua: UserAgent
    other: RtpPhone
    #: time.monotonic() when alice's phone answered.
    answered: float


async def queue_call_with_alice(c: Center) -> QueueCall:
    alice_ua, alice = await c.phone("1001", 400)
    caller_ua, caller = await c.phone("1003", 1000)
    other_ua, other = await c.phone("1004", 700)
    c.login("alice")
    call = await dial(caller_ua, caller, "8100")
    agent_call = await answer(alice_ua, alice)
    answered = time.monotonic()
    await eventually(lambda: c.agent("alice")[1] is AgentState.ON_CALL)
    await talking(caller, 1000, alice, 400)
    return QueueCall(call, caller, agent_call, alice, other_ua, other, answered)


async def transfer_on_record(c: Center, call_id: str, who: str, kept_call: Call,
                             kept: RtpPhone, other_ua: UserAgent, other: RtpPhone,
                             answered: float) -> None:
    """With ``record_calls``: ``who`` transfers ``call_id`` to 1004, which answers and talks
    with the kept party (1000 Hz) until that party hangs up. The call's one record then
    names one stereo file: the kept party on the left throughout; on the right the first
    party's 400 Hz until the transfer, then 1004's 700 Hz (times from ``answered``, the
    first party's answer)."""
    await asyncio.sleep(0.5)
    transferred_at = time.monotonic() - answered
    done = await c.transfer(call_id, who, "extension", "1004")
    assert done.status_code == 202, done.text
    await answer(other_ua, other)
    joined_at = time.monotonic() - answered
    await talking(kept, 1000, other, 700)
    await asyncio.sleep(1.0)
    ended_at = time.monotonic() - answered
    await kept_call.hangup()
    record, = await c.records(1)
    assert record.recording is not None
    media = c.api.switch.media
    assert media is not None and media.engine is not None
    engine = media.engine
    await eventually(lambda: not engine.recordings)
    path = c.api.switch.config.recordings_path / record.recording
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == RATE
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    left, right = samples[0::2], samples[1::2]
    assert len(left) >= (ended_at - 0.5) * RATE, (len(left) / RATE, ended_at)

    def part(pcm: np.ndarray, start: float, end: float) -> np.ndarray:
        return pcm[int(start * RATE):int(end * RATE)]

    # The recording starts within a moment of the answer: margins of 0.3 s.
    assert band_share(part(left, 0.3, ended_at - 0.3), RATE, 1000) > 0.5
    before = part(right, 0.3, transferred_at - 0.3)
    after = part(right, joined_at + 0.3, ended_at - 0.3)
    assert band_share(before, RATE, 400) > 0.5
    assert band_share(before, RATE, 700) < 0.01
    assert band_share(after, RATE, 700) > 0.5
    assert band_share(after, RATE, 400) < 0.01
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@dataclass
class ClickToCall:
    """The agent's phone (1001, 400 Hz) called by click-to-call, then the customer (1002,
    1000 Hz); 1004 (700 Hz) registered to be transferred to."""

    placed_id: str
    agent_call: Call
    agent: RtpPhone
    customer_call: Call
    customer: RtpPhone
    other_ua: UserAgent
    other: RtpPhone
    #: time.monotonic() when the customer's phone answered.
    answered: float


async def click_to_call_up(c: Center) -> ClickToCall:
    agent_ua, agent = await c.phone("1001", 400, auto_answer=True)
    customer_ua, customer = await c.phone("1002", 1000)
    other_ua, other = await c.phone("1004", 700)
    placed = await c.client.post("/v1/calls", json={"extension": "1001", "number": "1002"},
                                 headers=c.auth("admin"))
    assert placed.status_code == 201, placed.text
    agent_call = await agent_ua.next_call(8)
    await agent_call.answered.wait()
    agent.learn(agent_call.remote_sdp)
    customer_call = await answer(customer_ua, customer)
    return ClickToCall(placed.json()["id"], agent_call, agent, customer_call, customer,
                       other_ua, other, time.monotonic())


# -- transfers on real calls -----------------------------------------------------------------------


@pytest.mark.peer
def test_queue_call_answered_by_an_agent_goes_to_another_extension(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        up = await queue_call_with_alice(c)
        call, agent_call, caller, other_ua, other = (
            up.call, up.agent_call, up.caller, up.other_ua, up.other)
        listed = (await c.client.get("/v1/calls", headers=c.auth("super"))).json()
        agent_leg = next(x["id"] for x in listed if x["kind"] == "placed")

        done = await c.transfer(call.call_id, "super", "extension", "1004")
        assert done.status_code == 202, done.text
        assert done.json() == {"id": call.call_id, "party": "caller", "kept": call.call_id,
                               "released": agent_leg,
                               "target": {"kind": "extension", "name": "1004"}}
        # The agent's phone gets a BYE; the agent wraps up as after any call.
        assert await agent_call.wait_ended(5) == "remote"
        await eventually(lambda: c.agent("alice") == (AgentStatus.AVAILABLE,
                                                        AgentState.WRAP_UP))
        # 1004 rings and answers; the caller and 1004 hear each other.
        target_call = await answer(other_ua, other)
        await talking(caller, 1000, other, 700)
        assert not call.ended.is_set()
        event, = transferred(c.events)
        assert event.data["call"] == call.call_id and event.data["agent"] == "alice"
        assert (event.data["target"], event.data["name"]) == ("extension", "1004")
        assert event.data["by"] == "super@default"

        await call.hangup()
        assert await target_call.wait_ended(5) == "remote"
        record, = await c.records(1)
        assert record.call_id == call.call_id and record.disposition == "answered"
        assert record.queue == "sales" and record.agent == "alice"
        assert record.ivr_path == "queue:sales=answered>transfer>extension:1004"

    run(tmp_path, scenario)


@pytest.mark.peer
def test_a_recorded_queue_call_stays_one_file_through_a_transfer(tmp_path: Path) -> None:
    # With record_calls, the queue caller's conversation is recorded from the agent's answer;
    # transferred, it goes on in the same file with the new party on the right, and the call
    # record names that file.
    async def scenario(c: Center) -> None:
        up = await queue_call_with_alice(c)
        await transfer_on_record(c, up.call.call_id, "super", up.call, up.caller, up.other_ua,
                                 up.other, up.answered)

    run(tmp_path, scenario, record_calls=True)


@pytest.mark.peer
def test_call_between_extensions_goes_to_an_ivr_and_on_to_an_agent(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, alice = await c.phone("1001", 400)
        caller_ua, caller = await c.phone("1003", 1000)
        callee_ua, callee = await c.phone("1004", 700)
        c.login("alice")
        dialing = asyncio.ensure_future(dial(caller_ua, caller, "1004"))
        callee_call = await answer(callee_ua, callee)
        call = await dialing
        await talking(caller, 1000, callee, 700)

        done = await c.transfer(call.call_id, "admin", "ivr", "main")
        assert done.status_code == 202, done.text
        assert done.json()["party"] == "caller" and done.json()["kept"] == call.call_id
        assert await callee_call.wait_ended(5) == "remote"
        # The caller is in the IVR: it hears the menu's prompt (the dial tone) and its key,
        # sent as an RFC 4733 event, takes it to the queue and the agent.
        menu = await caller.hear(0.4, since=caller.now() + 0.2)
        assert band_share(menu, RATE, 350) + band_share(menu, RATE, 440) > 0.5
        await caller.press("1")
        agent_call = await answer(alice_ua, alice)
        await talking(caller, 1000, alice, 400)

        await agent_call.hangup()
        assert await call.wait_ended(5) == "remote"
        record, = await c.records(1)
        assert record.call_id == call.call_id and record.callee == "1004"
        assert record.queue == "sales" and record.agent == "alice"
        assert record.ivr_path is not None
        assert record.ivr_path.startswith("transfer>main"), record.ivr_path
        assert record.ivr_path.endswith("queue:sales=answered"), record.ivr_path
        assert record.codec_callee is not None  # the released party's media is on record

    run(tmp_path, scenario)


@pytest.mark.peer
def test_the_callee_of_a_call_between_extensions_stays_and_goes_on(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        caller_ua, caller = await c.phone("1003", 1000)
        callee_ua, callee = await c.phone("1004", 700)
        third_ua, third = await c.phone("1005", 1500)
        dialing = asyncio.ensure_future(dial(caller_ua, caller, "1004"))
        callee_call = await answer(callee_ua, callee)
        call = await dialing

        done = await c.transfer(call.call_id, "admin", "extension", "1005", party="callee")
        assert done.status_code == 202, done.text
        assert done.json()["party"] == "callee"
        assert await call.wait_ended(5) == "remote"
        third_call = await answer(third_ua, third)
        await talking(callee, 700, third, 1500)
        # The call is listed as long as the callee is on it.
        listed = (await c.client.get("/v1/calls", headers=c.auth("admin"))).json()
        assert call.call_id in {x["id"] for x in listed}

        await callee_call.hangup()
        assert await third_call.wait_ended(5) == "remote"
        record, = await c.records(1)
        assert record.call_id == call.call_id and record.disposition == "answered"
        assert record.ivr_path == "transfer>extension:1005"
        assert record.hangup_by == "callee"

    run(tmp_path, scenario)


@pytest.mark.peer
def test_click_to_call_customer_goes_to_an_extension(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        up = await click_to_call_up(c)
        agent_call, agent, customer_call, customer, other_ua, other = (
            up.agent_call, up.agent, up.customer_call, up.customer, up.other_ua, up.other)
        await talking(agent, 400, customer, 1000)

        # Named by the agent's leg, the call's outside party is the customer: it stays.
        done = await c.transfer(up.placed_id, "admin", "extension", "1004")
        assert done.status_code == 202, done.text
        body = done.json()
        assert body["party"] == "caller" and body["released"] == up.placed_id
        assert await agent_call.wait_ended(5) == "remote"
        target_call = await answer(other_ua, other)
        await talking(customer, 1000, other, 700)

        await customer_call.hangup()
        assert await target_call.wait_ended(5) == "remote"
        record, = await c.records(1)  # the customer's: the agent's leg has none
        assert record.call_id == body["kept"]
        assert record.ivr_path == "transfer>extension:1004"

    run(tmp_path, scenario)


# -- refusals and roles ----------------------------------------------------------------------------


@pytest.mark.peer
def test_a_recorded_click_to_call_customer_stays_one_file_through_a_transfer(
        tmp_path: Path) -> None:
    # The customer is the recording's first party (left), the agent and then whom the
    # customer is transferred to are on the right.
    async def scenario(c: Center) -> None:
        up = await click_to_call_up(c)
        await talking(up.agent, 400, up.customer, 1000)
        await transfer_on_record(c, up.placed_id, "admin", up.customer_call, up.customer,
                                 up.other_ua, up.other, up.answered)

    run(tmp_path, scenario, record_calls=True)


@pytest.mark.peer
def test_every_refusal_names_its_field_and_roles_decide_who_transfers(tmp_path: Path) -> None:
    async def scenario(c: Center) -> None:
        alice_ua, alice = await c.phone("1001", 400)
        caller_ua, caller = await c.phone("1003", 1000)
        ringer_ua, _ringer = await c.phone("1005", 1500)
        callee_ua, _callee = await c.phone("1004", 700)
        c.login("alice")
        call = await dial(caller_ua, caller, "8100")
        agent_call = await answer(alice_ua, alice)
        await eventually(lambda: c.agent("alice")[1] is AgentState.ON_CALL)

        body = problem(await c.transfer("nope", "admin", "queue", "sales"), 404)
        assert "nope" in str(body["detail"])
        problem(await c.transfer("nope", "alice", "queue", "sales"), 404)
        for kind, name in (("queue", "nowhere"), ("ivr", "nowhere"), ("agent", "zed"),
                           ("extension", "1099"), ("number", "12ab"),
                           ("conference", "a room")):
            body = problem(await c.transfer(call.call_id, "admin", kind, name), 422)
            assert fields(body) == ["body.target.name"], (kind, body)
        body = problem(await c.transfer(call.call_id, "admin", "voicemail", "1001"), 422)
        assert fields(body) == ["body.target.kind"]
        body = problem(await c.transfer(call.call_id, "admin", "queue", "sales",
                                        party="boss"), 422)
        assert fields(body) == ["body.party"]
        bad = await c.client.post(f"/v1/calls/{call.call_id}/transfer", json={},
                                  headers=c.auth("admin"))
        assert fields(problem(bad, 422)) == ["body.target"]

        # Another agent may not move alice's call; another tenant does not see it.
        problem(await c.transfer(call.call_id, "bob", "queue", "sales"), 403)
        problem(await c.transfer(call.call_id, "acme", "queue", "sales"), 404)
        unauthenticated = await c.client.post(f"/v1/calls/{call.call_id}/transfer",
                                              json={"target": {"kind": "ivr", "name": "main"}})
        problem(unauthenticated, 401)

        # A call still ringing cannot be transferred.
        ringing = await ringer_ua.dial("1004")
        await callee_ua.next_call(8)
        body = problem(await c.transfer(ringing.call_id, "admin", "ivr", "main"), 409)
        assert "not answered" in str(body["detail"])
        await ringing.hangup()

        # A caller alone in the IVR has nobody as its callee.
        lonely_ua, lonely = await c.phone("1002", 1200)
        lonely_call = await dial(lonely_ua, lonely, "8000")
        body = problem(await c.transfer(lonely_call.call_id, "super", "queue", "sales",
                                        party="callee"), 422)
        assert fields(body) == ["body.party"]
        assert not transferred(c.events)

        # alice, the agent on the call, transfers her own call to a conference.
        done = await c.transfer(call.call_id, "alice", "conference", "room-1")
        assert done.status_code == 202, done.text
        assert await agent_call.wait_ended(5) == "remote"
        assert not call.ended.is_set()
        event, = transferred(c.events)
        assert event.data["by"] == "alice@default" and event.data["agent"] == "alice"
        # Her call is over: she may not move the caller again, a supervisor may.
        problem(await c.transfer(call.call_id, "alice", "ivr", "main"), 403)
        again = await c.transfer(call.call_id, "super", "ivr", "main")
        assert again.status_code == 202, again.text
        assert again.json()["released"] is None
        await call.hangup()
        await lonely_call.hangup()
        records = {r.call_id: r for r in await c.records(3)}
        path = records[call.call_id].ivr_path
        assert path is not None
        assert path.startswith("queue:sales=answered>transfer>conference:room-1>transfer>main"), \
            path

    run(tmp_path, scenario)


# -- the pure validation of targets ----------------------------------------------------------------


CONFIG = CenterConfig(flows={"main": parse_flow("main", [{"play": "tone:beep"}])},
                      agents=[AgentConfig("alice", "1001")],
                      queues=[(QueueConfig("sales"), QueueMedia())])


@pytest.mark.parametrize(("kind", "name", "expected"), [
    ("queue", "sales", None), ("queue", "support", ("name", "no queue 'support'")),
    ("ivr", "main", None), ("ivr", "sales", ("name", "no IVR flow 'sales'")),
    ("agent", "alice", None), ("agent", "1001", ("name", "no agent '1001'")),
    ("extension", "1001", None), ("extension", "", ("name", "'' is not an extension number")),
    ("number", "+15551230000", None), ("number", "*21", None),
    ("number", "555-1234", ("name", "'555-1234' is not a number (digits, * and #, an "
                                    "optional +)")),
    ("conference", "room-1", None),
    ("conference", "room 1", ("name", "'room 1' is not a conference name (letters, "
                                      "digits, . _ -)")),
])
def test_targets_are_checked_against_the_configuration(kind: str, name: str,
                                                       expected: object) -> None:
    assert transfer_target_error(kind, name, CONFIG) == expected


def test_the_api_offers_exactly_the_kinds_the_call_center_takes() -> None:
    assert set(get_args(TransferTarget.model_fields["kind"].annotation)) == set(TRANSFER_KINDS)


@given(st.text(max_size=12), st.text(max_size=70))
def test_an_unknown_kind_is_the_kind_at_fault_and_a_known_one_never(kind: str,
                                                                    name: str) -> None:
    found = transfer_target_error(kind, name, CONFIG)
    if kind not in TRANSFER_KINDS:
        assert found is not None and found[0] == "kind"
    else:
        assert found is None or found[0] == "name"
    for known in TRANSFER_KINDS:
        problem_found = transfer_target_error(known, name, CONFIG)
        assert problem_found is None or (problem_found[0] == "name" and repr(name) in
                                         problem_found[1])
