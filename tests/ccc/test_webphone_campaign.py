"""The browser phone in a preview campaign against a real ``pycc serve`` and SIPp customers
behind a trunk: the agent's page rings with the contact before the customer is dialed,
answering dials the customer, and the wrap-up's callback code schedules the contact to be
called back at the time the agent chose, by that agent."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from ccc.browser_double import PageDouble
from ccc.center import PASSWORD, campaign_center, serving
from peers.pycc_server import PyccServer
from peers.sipp import scenario, start_sipp_uas
from pycc.aaa.accounts import issue_token
from pycc.aaa.audit import Origin
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

CUSTOMER = "+12125551035"  # the SIPp customers answer numbers ending in 3 to 9


def test_a_preview_rings_the_page_first_and_a_callback_is_scheduled_at_wrap_up(
        tmp_path: Path) -> None:
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "200"],
                               workdir=tmp_path / "customers")
    users = (("alice", "agent", "alice"), ("boss", "admin", None))
    try:
        with serving(tmp_path, extensions=("1001",), users=users,
                     center=campaign_center(customers.local_port, mode="preview",
                                            ring_timeout=10, wrapup=30)) as server:
            with Store(make_url(server.data_dir, None)) as store:
                token = issue_token(store, "default", "boss", now=time.time(),
                                    origin=Origin("tests", "cli")).plaintext
            asyncio.run(asyncio.wait_for(preview(server, token), 90))
    finally:
        customers.stop()


async def preview(server: PyccServer, token: str) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    boss = {"Authorization": f"Bearer {token}"}
    page = PageDouble(base, 600.0)
    try:
        async with httpx.AsyncClient(base_url=base, headers=boss) as http:
            imported = await http.post(
                "/v1/campaigns/spring/contacts",
                content=f"id,phone,name,plan\nc0,{CUSTOMER},Ann Lee,gold\n",
                headers={"Content-Type": "text/csv"})
            assert imported.status_code == 201, imported.text
            await page.login("alice", PASSWORD)
            await page.open_phone()
            await page.next_message("ready")
            for _ in range(50):  # the switch loads the applied file on its next round
                answer = await page.api("POST", "/v1/agents/alice/state",
                                        json={"action": "login"})
                if answer.status_code != 404:
                    break
                await asyncio.sleep(0.2)
            assert answer.status_code == 200, answer.text
            started = await http.post("/v1/campaigns/spring/start")
            assert started.status_code == 200, started.text
            # The page rings with the contact; nobody has dialed the customer yet.
            ringing = await page.next_message("call", state="ringing", timeout=30)
            info = ringing["info"]
            assert (info.get("phone"), info.get("plan"), info.get("mode")) == (
                CUSTOMER, "gold", "preview"), info
            await page.send(op="answer_call", call=ringing["call"])
            await page.next_message("call", call=ringing["call"], state="answered")
            # Answering dialed the customer; once connected, the page knows that call.
            async with asyncio.timeout(20):
                while True:
                    calls = (await http.get("/v1/calls")).json()
                    if any(c["callee"].endswith(CUSTOMER[1:]) and c["answer"] for c in calls):
                        break
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # the page's call is looked up while it lasts
            await page.send(op="hangup", call=ringing["call"])
            ended = await page.next_message("call", call=ringing["call"], state="ended")
            pycc_call = ended["pycc_call"]
            assert pycc_call, ended
            # Wrap-up: call back in an hour, this agent.
            at = time.time() + 3600
            done = await page.api("POST", "/v1/agents/alice/wrapup", json={
                "call": pycc_call, "code": "callback", "notes": "after her meeting",
                "callback_at": at})
            assert done.status_code == 200, done.text
            contact = (await http.get("/v1/campaigns/spring/contacts")).json()["items"][0]
            assert contact["callback_agent"] == "alice", contact
            assert contact["next_at"] == pytest.approx(at, abs=1.0), contact
            records = (await http.get("/v1/records", params={"order": "newest"})).json()
            record = next(r for r in records["items"] if r["call_id"] == pycc_call)
            assert (record["campaign"], record["contact"], record["agent"],
                    record["wrapup_code"]) == ("spring", "c0", "alice", "callback")
            await http.post("/v1/campaigns/spring/stop")
    finally:
        await page.close()
