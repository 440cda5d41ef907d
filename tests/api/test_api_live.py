"""The admin API of a real ``pycc serve``, over real HTTP and a real WebSocket: the live
event stream for wallboards and agent screens, filtered by topic and by who is watching."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from peers.pycc_server import start_pycc
from pycc.aaa.accounts import create_user, issue_token
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1002", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
"""


def test_events_stream_agent_states_to_who_may_see_them(tmp_path: Path) -> None:
    server = start_pycc(tmp_path)
    try:
        (tmp_path / "center.yaml").write_text(CENTER, encoding="utf-8")
        done = server.cli("apply", str(tmp_path / "center.yaml"))
        assert done.returncode == 0, done.stderr
        store = Store(make_url(server.data_dir, None))
        now = time.time()
        tokens = {}
        for name, role, agent in (("super", "supervisor", None), ("alice", "agent", "alice")):
            create_user(store, "default", name, role, password=f"pw-{name}-123456", now=now,
                        origin=Origin("tests", "cli"), agent=agent,
                        params=ScryptParams(log2_n=4, r=1, p=1))
            tokens[name] = issue_token(store, "default", name, now=now,
                                       origin=Origin("tests", "cli")).plaintext
        store.close()
        base = f"http://127.0.0.1:{server.http_port}"
        socket_url = f"ws://127.0.0.1:{server.http_port}/v1/events"

        async def main() -> None:
            async with httpx.AsyncClient(base_url=base) as http:
                auth = {"Authorization": f"Bearer {tokens['super']}"}
                assert (await http.get("/v1/me", headers=auth)).json()["role"] == "supervisor"
                # No token: the stream is refused.
                with pytest.raises(WebSocketException):
                    async with connect(socket_url) as refused:
                        await asyncio.wait_for(refused.recv(), 5)
                watching = await connect(
                    f"{socket_url}?topics=agent.*", additional_headers=auth)
                agent_screen = await connect(
                    f"{socket_url}?token={tokens['alice']}")
                # The switch reloads the applied file on its housekeeping round.
                for action in ("login", "ready"):
                    for agent in ("bob", "alice"):
                        answer = await http.post(f"/v1/agents/{agent}/state",
                                                 json={"action": action}, headers=auth)
                        assert answer.status_code in (200, 409), answer.text
                seen: list[dict[str, object]] = []
                while len({e["data"]["agent"] for e in seen}) < 2:  # type: ignore[index]
                    seen.append(json.loads(await asyncio.wait_for(watching.recv(), 10)))
                assert {e["topic"] for e in seen} == {"agent.state"}
                own = json.loads(await asyncio.wait_for(agent_screen.recv(), 10))
                assert own["data"]["agent"] == "alice"
                # Alice's screen never shows bob: the next events it gets are hers too.
                await http.post("/v1/agents/bob/state", json={"action": "not_ready"},
                                headers=auth)
                await http.post("/v1/agents/alice/state", json={"action": "not_ready"},
                                headers=auth)
                while True:
                    event = json.loads(await asyncio.wait_for(agent_screen.recv(), 10))
                    assert event["data"]["agent"] == "alice", event
                    if event["data"].get("status") == "not_ready":
                        break
                await watching.close()
                await agent_screen.close()

        asyncio.run(main())
    finally:
        server.stop()
