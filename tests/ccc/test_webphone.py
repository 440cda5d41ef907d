"""The browser softphone against a real ``pycc serve``: a page (played by aiortc, see
`browser_double`) logs in, sends its WebRTC offer over ``/v1/phone``, and takes a queue call
from a SIP phone; each side hears the other's tone. Then what the page may and may not do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ccc.browser_double import RATE as PAGE_RATE
from ccc.browser_double import PageDouble
from ccc.center import PASSWORD, recording_settings, serving
from peers.pycc_server import PyccServer
from peers.rtp_phone import RtpPhone, band_share
from pycc.aaa.accounts import create_user
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.dsp.pcm import Pcm
from pycc.sip.address import Address
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.ua import Call, UserAgent

pytestmark = pytest.mark.peer

def run_with_switch(tmp_path: Path, scenario: Callable[[PyccServer, str], Awaitable[None]],
                    ) -> None:
    with serving(tmp_path, extensions=("1001", "1002", "1003")) as server:
        asyncio.run(asyncio.wait_for(
            scenario(server, f"http://127.0.0.1:{server.http_port}"), 90))


async def rtp_hears(rtp: RtpPhone, share: Callable[[Pcm], float], least: float,
                    timeout: float = 15.0) -> float:
    """Listen in half-second windows until ``share`` of one reaches ``least`` (a new media
    path can take a moment on a loaded machine); the share."""
    best = 0.0
    async with asyncio.timeout(timeout):
        while best < least:
            best = share(await rtp.hear(0.5, since=rtp.now() + 0.1))
    return best


@contextlib.asynccontextmanager
async def page(base: str, tone: float) -> AsyncIterator[PageDouble]:
    double = PageDouble(base, tone)
    try:
        yield double
    finally:
        await double.close()


async def ready_agent(agent_page: PageDouble) -> None:
    """Log the agent in: it is available at once."""
    for _ in range(50):  # the switch loads the applied file on its next round
        answer = await agent_page.api("POST", "/v1/agents/alice/state",
                                      json={"action": "login"})
        if answer.status_code != 404:
            break
        await asyncio.sleep(0.2)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "available"


def test_a_queue_call_rings_the_browser_and_both_sides_hear_each_other(tmp_path: Path) -> None:
    async def scenario(server: PyccServer, base: str) -> None:
        async with page(base, tone=600.0) as agent_page, RtpPhone() as rtp:
            session = await agent_page.login("alice", PASSWORD)
            assert session["agent"] == "alice" and session["csrf"]
            await agent_page.open_phone()
            assert (await agent_page.next_message("ready"))["extension"] == "1001"
            await ready_agent(agent_page)
            switch = Address("udp", "127.0.0.1", server.sip_port)
            async with UserAgent("1002", "secret-1002", server=switch,
                                 rtp_port=rtp.port) as caller:
                await caller.register()
                rtp.tone(400.0)
                # Through the IVR's menu (key 1) to the queue: the agent sees the way taken.
                call = await caller.dial("8000")
                await call.wait_answered(10)
                rtp.learn(call.remote_sdp)
                await rtp.press("1")
                ringing = await agent_page.next_message("call", state="ringing")
                assert ringing["direction"] == "incoming"
                assert ringing["info"].get("queue") == "sales"
                assert "main" in ringing["info"].get("ivr_path", ""), ringing
                assert int(ringing["info"]["queue_wait"]) >= 0
                assert ringing["pycc_call"], ringing
                await agent_page.send(op="answer_call", call=ringing["call"])
                answered = await agent_page.next_message("call", state="answered")
                assert answered["call"] == ringing["call"]
                assert answered["codec"] == "PCMU/8000"  # the caller's: relayed, not transcoded
                # The agent hears the caller's 400 Hz, the caller the browser's 600 Hz.
                await agent_page.until_heard(lambda pcm: band_share(pcm, PAGE_RATE, 400.0), 0.5)
                await rtp_hears(rtp, lambda pcm: band_share(pcm, 8000, 600.0), 0.5)
                # Hold: the caller stops hearing the agent; resume brings the tone back.
                await agent_page.send(op="hold", call=ringing["call"], on=True)
                await agent_page.next_message("call", state="held")
                await agent_page.send(op="hold", call=ringing["call"], on=False)
                await agent_page.next_message("call", state="answered")
                await rtp_hears(rtp, lambda pcm: band_share(pcm, 8000, 600.0), 0.5)
                # Mute: the caller hears silence from the agent, then the tone again.
                await agent_page.send(op="mute", on=True)
                await rtp_hears(rtp, lambda pcm: 1.0 - band_share(pcm, 8000, 600.0), 0.9)
                await agent_page.send(op="mute", on=False)
                await rtp_hears(rtp, lambda pcm: band_share(pcm, 8000, 600.0), 0.5)
                # Keys from the pad reach the caller.
                await agent_page.send(op="dtmf", call=ringing["call"], digits="12#")
                assert await rtp.next_digits(3) == ["1", "2", "#"]
                await agent_page.send(op="hangup", call=ringing["call"])
                ended = await agent_page.next_message("call", state="ended")
                assert ended["was_answered"] and ended["pycc_call"] == ringing["pycc_call"]
                assert await call.wait_ended(10) == "remote"
            await wraps_up(agent_page, ended["pycc_call"])

    run_with_switch(tmp_path, scenario)


async def wraps_up(agent_page: PageDouble, pycc_call: str) -> None:
    """The agent's disposition lands on the call's record; bad ones are refused by field."""
    codes = (await agent_page.api("GET", "/v1/dispositions")).json()
    assert {"sale", "callback"} <= {c["code"] for c in codes}
    path = "/v1/agents/alice/wrapup"
    refused = {
        "body.code": {"call": pycc_call, "code": "no-such-code"},
        "body.callback_at": {"call": pycc_call, "code": "callback"},
        "body.call": {"call": "not-a-call", "code": "sale"},
    }
    for field, body in refused.items():
        answer = await agent_page.api("POST", path, json=body)
        assert answer.status_code in (404, 422), answer.text
        assert answer.json()["errors"][0]["field"] == field, answer.text
    # A browser request without the session's anti-forgery value is refused.
    forged = await agent_page.http.post(path, json={"call": pycc_call, "code": "sale"})
    assert forged.status_code == 403, forged.text
    done = await agent_page.api("POST", path, json={"call": pycc_call, "code": "sale",
                                                     "notes": "two licences"})
    assert done.status_code == 200, done.text
    records = (await agent_page.api("GET", "/v1/records", params={"limit": 50})).json()
    record = next(r for r in records["items"] if r["call_id"] == pycc_call)
    assert record["agent"] == "alice"
    assert (record["wrapup_code"], record["wrapup_notes"]) == ("sale", "two licences")


def test_a_page_that_loses_its_connection_keeps_the_call_and_the_agent_stops_getting_calls(
        tmp_path: Path) -> None:
    async def scenario(server: PyccServer, base: str) -> None:
        async with page(base, tone=600.0) as first, RtpPhone() as rtp:
            await first.login("alice", PASSWORD)
            await first.open_phone()
            await first.next_message("ready")
            await ready_agent(first)
            switch = Address("udp", "127.0.0.1", server.sip_port)
            async with UserAgent("1002", "secret-1002", server=switch,
                                 rtp_port=rtp.port) as caller:
                await caller.register()
                rtp.tone(400.0)
                call = await caller.dial("8100")
                ringing = await first.next_message("call", state="ringing")
                await first.send(op="answer_call", call=ringing["call"])
                await first.next_message("call", state="answered")
                await call.wait_answered(10)
                # The page's network goes: its sockets close without a word.
                await first.close()
                status = await wait_status(base, first.http.cookies, "not_ready")
                assert status["reason"] == "disconnected"
                assert call.state.value == "answered"
                # The page comes back (same session) and finds its call, and its audio.
                async with page(base, tone=700.0) as second:
                    second.http.cookies = first.http.cookies
                    second.csrf = first.csrf
                    await second.open_phone()
                    await second.next_message("ready")
                    again = await second.next_message("call", call=ringing["call"])
                    assert again["state"] == "answered"
                    rtp.learn(call.remote_sdp)
                    await rtp_hears(rtp, lambda pcm: band_share(pcm, 8000, 700.0), 0.5)
                    await call.hangup()
                    ended = await second.next_message("call", call=ringing["call"],
                                                      state="ended")
                    assert ended["was_answered"]

    run_with_switch(tmp_path, scenario)


async def wait_status(base: str, cookies: httpx.Cookies, status: str,
                      timeout: float = 10.0) -> dict[str, object]:
    """The agent's state once its status is ``status``."""
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
        async with asyncio.timeout(timeout):
            while True:
                found: dict[str, object] = (await http.get("/v1/agents/alice")).json()
                if found.get("status") == status:
                    return found
                await asyncio.sleep(0.1)


def test_a_supervisor_watches_the_wallboard_and_whispers_to_the_agent(tmp_path: Path) -> None:
    async def scenario(server: PyccServer, base: str) -> None:
        with Store(make_url(server.data_dir, None)) as store:
            create_user(store, "default", "sup", "supervisor", password="pw-sup-1234567",
                        now=time.time(), origin=Origin("tests", "cli"),
                        params=ScryptParams(log2_n=4, r=1, p=1))
            store.add_extension("default", "1009", "secret-1009")
        async with page(base, tone=600.0) as agent_page, page(base, tone=900.0) as sup, \
                RtpPhone() as rtp:
            await agent_page.login("alice", PASSWORD)
            await agent_page.open_phone()
            await agent_page.next_message("ready")
            await ready_agent(agent_page)
            await sup.login("sup", "pw-sup-1234567")
            ws = base.replace("http://", "ws://")
            # An agent may not watch the wallboard; the supervisor may.
            with pytest.raises(WebSocketException):
                async with connect(f"{ws}/v1/wallboard",
                                   additional_headers=agent_page.cookie_headers()) as refused:
                    await asyncio.wait_for(refused.recv(), 5)
            board = await connect(f"{ws}/v1/wallboard", additional_headers=sup.cookie_headers())
            first = json.loads(await asyncio.wait_for(board.recv(), 10))
            assert first["op"] == "snapshot" and first["feature_codes"]["whisper"] == "*34"
            alice = next(a for a in first["agents"] if a["agent"] == "alice")
            assert alice["status"] == "available"
            # A supervisor's phone may not be an agent's extension.
            async with connect(f"{ws}/v1/phone?extension=1001",
                               additional_headers=sup.cookie_headers()) as taken:
                refusal = json.loads(await asyncio.wait_for(taken.recv(), 10))
                assert refusal["op"] == "error" and "agent" in refusal["message"]
            await sup.open_phone("?extension=1009")
            await sup.next_message("ready")
            switch = Address("udp", "127.0.0.1", server.sip_port)
            async with UserAgent("1002", "secret-1002", server=switch,
                                 rtp_port=rtp.port) as caller:
                await caller.register()
                rtp.tone(400.0)
                call = await caller.dial("8100")
                ringing = await agent_page.next_message("call", state="ringing")
                await agent_page.send(op="answer_call", call=ringing["call"])
                await call.wait_answered(10)
                rtp.learn(call.remote_sdp)
                await until_board(board, lambda b: any(
                    a["agent"] == "alice" and a["state"] == "on_call" for a in b["agents"]))
                await sup.send(op="dial", number="*34alice")
                monitor = await sup.next_message("call", state="answered")
                await until_board(board, lambda b: {"agent": "alice", "mode": "whisper"}.items()
                                  <= next(iter(b["monitors"]), {}).items())
                # The agent hears the caller and the supervisor; the caller only the agent;
                # the supervisor both.
                await agent_page.until_heard(
                    lambda pcm: min(band_share(pcm, PAGE_RATE, 900.0),
                                    band_share(pcm, PAGE_RATE, 400.0)), 0.2)
                await rtp_hears(rtp, lambda pcm: band_share(pcm, 8000, 600.0), 0.5)
                caller_heard = await rtp.hear(0.8, since=rtp.now() + 0.2)
                assert band_share(caller_heard, 8000, 900.0) < 0.05
                await sup.until_heard(lambda pcm: band_share(pcm, PAGE_RATE, 400.0), 0.2)
                # Key 3 barges in: now the caller hears the supervisor too.
                await sup.send(op="dtmf", call=monitor["call"], digits="3")
                await until_board(board, lambda b: {"agent": "alice", "mode": "barge"}.items()
                                  <= next(iter(b["monitors"]), {}).items())
                await rtp_hears(rtp, lambda pcm: band_share(pcm, 8000, 900.0), 0.2)
                # Key 1: listen only; the agent no longer hears the supervisor.
                await sup.send(op="dtmf", call=monitor["call"], digits="1")
                await until_board(board, lambda b: {"agent": "alice", "mode": "listen"}.items()
                                  <= next(iter(b["monitors"]), {}).items())
                await agent_page.until_heard(
                    lambda pcm: 1.0 - band_share(pcm, PAGE_RATE, 900.0), 0.9)
                await call.hangup()
            await board.close()

    run_with_switch(tmp_path, scenario)


async def until_board(board: ClientConnection, wanted: Callable[[dict[str, Any]], bool],
                      timeout: float = 15.0) -> dict[str, Any]:
    """The first wallboard picture for which ``wanted`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            picture: dict[str, Any] = json.loads(await board.recv())
            if wanted(picture):
                return picture


@dataclass
class Consultation:
    """An agent with a queue caller on hold and an expert answered on a second call."""

    page: PageDouble
    held: str
    consult: str
    caller: Call
    caller_rtp: RtpPhone
    expert: Call
    expert_rtp: RtpPhone


def run_consultation(tmp_path: Path,
                     scenario: Callable[[Consultation, str], Awaitable[None]]) -> None:
    """The caller says 400 Hz, the agent 600 Hz, the expert (extension 1003) 800 Hz."""
    async def consulting(server: PyccServer, base: str) -> None:
        switch = Address("udp", "127.0.0.1", server.sip_port)
        async with page(base, tone=600.0) as agent_page, RtpPhone() as caller_rtp, \
                RtpPhone() as expert_rtp, \
                UserAgent("1002", "secret-1002", server=switch,
                          rtp_port=caller_rtp.port) as caller, \
                UserAgent("1003", "secret-1003", server=switch, rtp_port=expert_rtp.port,
                          auto_answer=True) as expert:
            await agent_page.login("alice", PASSWORD)
            await agent_page.open_phone()
            await agent_page.next_message("ready")
            await ready_agent(agent_page)
            await caller.register()
            await expert.register()
            caller_rtp.tone(400.0)
            expert_rtp.tone(800.0)
            call = await caller.dial("8100")
            ringing = await agent_page.next_message("call", state="ringing")
            await agent_page.send(op="answer_call", call=ringing["call"])
            await call.wait_answered(10)
            caller_rtp.learn(call.remote_sdp)
            # Hold the caller, consult the expert on a second call.
            await agent_page.send(op="hold", call=ringing["call"], on=True)
            await agent_page.next_message("call", call=ringing["call"], state="held")
            await agent_page.send(op="dial", number="1003")
            consult = await agent_page.next_message("call", direction="outgoing",
                                                    state="answered")
            consulted = await expert.next_call(10)
            expert_rtp.learn(consulted.remote_sdp)
            await agent_page.until_heard(lambda pcm: band_share(pcm, PAGE_RATE, 800.0), 0.5)
            # The held call cannot be resumed while the agent talks on the other.
            await agent_page.send(op="hold", call=ringing["call"], on=False)
            refused = await agent_page.next_message("error", call=ringing["call"])
            assert "first" in refused["message"]
            await scenario(Consultation(agent_page, ringing["call"], consult["call"], call,
                                        caller_rtp, consulted, expert_rtp), base)

    run_with_switch(tmp_path, consulting)


def test_attended_transfer_connects_the_held_caller_with_whom_the_agent_consulted(
        tmp_path: Path) -> None:
    async def scenario(c: Consultation, base: str) -> None:
        # Complete: the caller and the expert talk; both of the agent's calls end.
        await c.page.send(op="transfer", call=c.held, to_call=c.consult)
        await c.page.next_message("call", call=c.held, state="ended")
        await c.page.next_message("call", call=c.consult, state="ended")
        await rtp_hears(c.caller_rtp, lambda pcm: band_share(pcm, 8000, 800.0), 0.5)
        await rtp_hears(c.expert_rtp, lambda pcm: band_share(pcm, 8000, 400.0), 0.5)
        # Either hanging up ends both.
        await c.caller.hangup()
        await c.expert.wait_ended(10)
        status = await wait_status(base, c.page.http.cookies, "available")
        assert status["state"] in ("wrap_up", "idle")

    # Every call recorded: the caller's conversation is one file, through the transfer.
    recording_settings(tmp_path / "data")
    run_consultation(tmp_path, scenario)
    with Store(make_url(tmp_path / "data", None)) as store:
        named = {r.recording for r in store.list_call_records("default") if r.queue == "sales"}
    assert len(named) == 1 and None not in named, named
    path = tmp_path / "data" / "recordings" / str(named.pop())
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 2
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    left, right = samples[0::2], samples[1::2]
    assert band_share(left, rate, 400.0) > 0.5
    # Half-second windows of the right channel: the agent (600 Hz) first, then the expert.
    windows = [right[i:i + rate // 2] for i in range(0, len(right) - rate // 2, rate // 2)]
    agent = [i for i, w in enumerate(windows) if band_share(w, rate, 600.0) > 0.5]
    expert = [i for i, w in enumerate(windows) if band_share(w, rate, 800.0) > 0.5]
    assert agent and expert and max(agent) < min(expert), (agent, expert)


def test_a_three_way_call_lets_the_caller_the_agent_and_the_expert_hear_each_other(
        tmp_path: Path) -> None:
    async def scenario(c: Consultation, base: str) -> None:
        # Conference: the expert joins the caller and the agent; the first call resumes.
        await c.page.send(op="conference", call=c.held, **{"with": c.consult})
        await c.page.next_message("call", call=c.consult, state="ended")
        await c.page.next_message("call", call=c.held, state="answered")
        await c.page.until_heard(lambda pcm: min(band_share(pcm, PAGE_RATE, 400.0),
                                                 band_share(pcm, PAGE_RATE, 800.0)), 0.2)
        await rtp_hears(c.caller_rtp, lambda pcm: min(band_share(pcm, 8000, 600.0),
                                                      band_share(pcm, 8000, 800.0)), 0.2)
        await rtp_hears(c.expert_rtp, lambda pcm: min(band_share(pcm, 8000, 400.0),
                                                      band_share(pcm, 8000, 600.0)), 0.2)
        # The agent hangs up: the conversation is over for everyone.
        await c.page.send(op="hangup", call=c.held)
        await c.caller.wait_ended(10)
        await c.expert.wait_ended(10)

    run_consultation(tmp_path, scenario)


def test_blind_transfer_from_the_page_sends_the_caller_to_an_extension(tmp_path: Path) -> None:
    async def scenario(server: PyccServer, base: str) -> None:
        switch = Address("udp", "127.0.0.1", server.sip_port)
        async with page(base, tone=600.0) as agent_page, RtpPhone() as caller_rtp, \
                RtpPhone() as target_rtp, \
                UserAgent("1002", "secret-1002", server=switch,
                          rtp_port=caller_rtp.port) as caller, \
                UserAgent("1003", "secret-1003", server=switch, rtp_port=target_rtp.port,
                          auto_answer=True) as target:
            await agent_page.login("alice", PASSWORD)
            await agent_page.open_phone()
            await agent_page.next_message("ready")
            await ready_agent(agent_page)
            await caller.register()
            await target.register()
            caller_rtp.tone(400.0)
            target_rtp.tone(800.0)
            call = await caller.dial("8100")
            ringing = await agent_page.next_message("call", state="ringing")
            await agent_page.send(op="answer_call", call=ringing["call"])
            await call.wait_answered(10)
            caller_rtp.learn(call.remote_sdp)
            # A target that is no extension and no number is refused, naming it.
            await agent_page.send(op="transfer", call=ringing["call"], target="queue:nowhere")
            refused = await agent_page.next_message("error", call=ringing["call"])
            assert "nowhere" in refused["message"]
            await agent_page.send(op="transfer", call=ringing["call"], target="1003")
            await agent_page.next_message("call", call=ringing["call"], state="ended")
            answered = await target.next_call(10)
            target_rtp.learn(answered.remote_sdp)
            await rtp_hears(caller_rtp, lambda pcm: band_share(pcm, 8000, 800.0), 0.5)
            await call.hangup()

    run_with_switch(tmp_path, scenario)


def test_stopping_pycc_unregisters_the_browsers_phones(tmp_path: Path) -> None:
    """No binding is left behind pointing at a web phone that stopped with the switch."""
    stopped: list[PyccServer] = []

    async def scenario(server: PyccServer, base: str) -> None:
        async with page(base, tone=600.0) as agent_page:
            await agent_page.login("alice", PASSWORD)
            await agent_page.open_phone()
            await agent_page.next_message("ready")
            with Store(make_url(server.data_dir, None)) as store:
                bound = [b.contact for b in store.list_bindings(time.time())]
            assert any("1001" in c for c in bound), bound
            assert server.stop() == 0
            stopped.append(server)

    run_with_switch(tmp_path, scenario)
    with Store(make_url(stopped[0].data_dir, None)) as store:
        assert store.list_bindings(time.time()) == []
