"""Call control through the admin API on real SIP phones (``pycc.ua`` with RTP): click-to-
call rings the agent's phone first, then the number, and connects their audio; the calls are
listed while up and hung up on request."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from api.test_api_core import Api, fields, problem, run
from peers.rtp_phone import RtpPhone, band_share
from pycc.ua import UserAgent

pytestmark = pytest.mark.peer


def test_click_to_call_connects_the_agent_to_the_number(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        for number in ("1001", "1002"):
            api.store.add_extension("default", number, f"secret-{number}")
        async with contextlib.AsyncExitStack() as stack:
            phones = {}
            for number in ("1001", "1002"):
                rtp = await stack.enter_async_context(RtpPhone())
                ua = UserAgent(number, f"secret-{number}",
                               server=api.switch.addresses["udp"], rtp_port=rtp.port,
                               auto_answer=True)
                await stack.enter_async_context(ua)
                await ua.register()
                phones[number] = (ua, rtp)
            body = problem(await c.post("/v1/calls", json={"number": "1002"},
                                        headers=admin), 422)
            assert "extension or agent" in str(body["detail"])
            problem(await c.post("/v1/calls", json={"agent": "zed", "number": "1002"},
                                 headers=admin), 422)
            body = problem(await c.post("/v1/calls", json={"extension": "1009",
                                                           "number": "1002"},
                                        headers=admin), 409)
            assert fields(body) == ["body.extension"]
            problem(await c.post("/v1/calls", json={"agent": "alice", "number": "1002"},
                                 headers=api.auth("alice")), 403)
            placed = await c.post("/v1/calls", json={"agent": "alice", "number": "1002"},
                                  headers=admin)
            assert placed.status_code == 201, placed.text
            agent_call = await phones["1001"][0].next_call(10)
            assert agent_call.invite is not None
            assert "1002" in (agent_call.invite.headers.get("from") or "")
            await agent_call.answered.wait()
            customer_call = await phones["1002"][0].next_call(10)
            await customer_call.answered.wait()
            agent_rtp, customer_rtp = phones["1001"][1], phones["1002"][1]
            agent_rtp.learn(agent_call.remote_sdp)
            customer_rtp.learn(customer_call.remote_sdp)
            agent_rtp.tone(600)
            mark = customer_rtp.now()
            heard = await customer_rtp.hear(0.6, since=mark + 0.3, timeout=8)
            assert band_share(heard, 8000, 600) > 0.5
            calls = (await c.get("/v1/calls", headers=api.auth("super"))).json()
            assert {(x["kind"], x["callee"], x["state"]) for x in calls} == {
                ("placed", "1001", "answered"), ("placed", "1002", "answered")}
            problem(await c.delete("/v1/calls/nope", headers=admin), 404)
            gone = await c.delete(f"/v1/calls/{placed.json()['id']}", headers=admin)
            assert gone.status_code == 204
            # The other side is hung up with it.
            async with asyncio.timeout(5):
                await customer_call.ended.wait()
                await agent_call.ended.wait()
            assert (await c.get("/v1/calls", headers=admin)).json() == []

    run(tmp_path, scenario)
