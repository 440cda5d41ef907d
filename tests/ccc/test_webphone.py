"""The browser softphone against a real ``pycc serve``: a page (played by aiortc, see
`browser_double`) logs in, sends its WebRTC offer over ``/v1/phone``, and takes a queue call
from a SIP phone; each side hears the other's tone. Then what the page may and may not do."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from ccc.browser_double import RATE as PAGE_RATE
from ccc.browser_double import PageDouble
from peers.pycc_server import PyccServer, start_pycc
from peers.rtp_phone import RtpPhone, band_share
from pycc.aaa.accounts import create_user
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.ccc.ice import offer_addresses
from pycc.sip.address import Address
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.ua import UserAgent

pytestmark = pytest.mark.peer

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
routes:
  - {match: "8100", to: {queue: sales}}
"""
PASSWORD = "pw-alice-123456"


def run_with_switch(tmp_path: Path, scenario: Callable[[PyccServer, str], Awaitable[None]],
                    ) -> None:
    # The page double's ICE, like pycc's, must offer 127.0.0.1 in a loopback-only network.
    offer_addresses()
    server = start_pycc(tmp_path, [("1001", "secret-1001"), ("1002", "secret-1002")])
    try:
        (tmp_path / "center.yaml").write_text(CENTER, encoding="utf-8")
        done = server.cli("apply", str(tmp_path / "center.yaml"))
        assert done.returncode == 0, done.stderr
        with Store(make_url(server.data_dir, None)) as store:
            create_user(store, "default", "alice", "agent", password=PASSWORD, now=time.time(),
                        origin=Origin("tests", "cli"), agent="alice",
                        params=ScryptParams(log2_n=4, r=1, p=1))
        asyncio.run(asyncio.wait_for(
            scenario(server, f"http://127.0.0.1:{server.http_port}"), 90))
    except BaseException:
        print(server.log()[-6000:])
        raise
    finally:
        server.stop()


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
                call = await caller.dial("8100")
                ringing = await agent_page.next_message("call", state="ringing")
                assert ringing["direction"] == "incoming"
                assert ringing["info"].get("queue") == "sales"
                assert ringing["pycc_call"], ringing
                await agent_page.send(op="answer_call", call=ringing["call"])
                answered = await agent_page.next_message("call", state="answered")
                assert answered["call"] == ringing["call"]
                await call.wait_answered(10)
                rtp.learn(call.remote_sdp)
                # The agent hears the caller's 400 Hz, the caller the browser's 600 Hz.
                heard = await agent_page.hear(0.6)
                assert band_share(heard, PAGE_RATE, 400.0) > 0.5
                caller_heard = await rtp.hear(0.6, since=rtp.now() + 0.3)
                assert band_share(caller_heard, 8000, 600.0) > 0.5
                # Hold: the caller stops hearing the agent; resume brings the tone back.
                await agent_page.send(op="hold", call=ringing["call"], on=True)
                await agent_page.next_message("call", state="held")
                await agent_page.send(op="hold", call=ringing["call"], on=False)
                await agent_page.next_message("call", state="answered")
                caller_heard = await rtp.hear(0.5, since=rtp.now() + 0.3)
                assert band_share(caller_heard, 8000, 600.0) > 0.5
                # Keys from the pad reach the caller.
                await agent_page.send(op="dtmf", call=ringing["call"], digits="12#")
                assert await rtp.next_digits(3) == ["1", "2", "#"]
                await agent_page.send(op="hangup", call=ringing["call"])
                ended = await agent_page.next_message("call", state="ended")
                assert ended["was_answered"] and ended["pycc_call"] == ringing["pycc_call"]
                assert await call.wait_ended(10) == "remote"

    run_with_switch(tmp_path, scenario)
