"""Every operation of the admin API against every role of the tenant: what the role table
of `pycc.aaa.roles` allows answers with anything but 401/403, what it does not answers 403
(a WebSocket: closed before it is accepted, 4401 or 4403); and another tenant's admin never
reaches this tenant's live state or data."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from api.test_api_core import Api, run
from api.test_api_files import files_of, record_call
from files.audio_files import wav_bytes
from pycc.api.app import ApiContext, create_app


@dataclass(frozen=True)
class Raw:
    """A request body that is not JSON."""

    content: bytes
    media_type: str


ALL = {"admin", "super", "alice"}
STAFF = {"admin", "super"}
ADMIN = {"admin"}
#: A contact list of one row.
CONTACTS = Raw(b"id,phone\nc7,+12125550107\n", "text/csv")
#: A prompt an admin uploads.
PROMPT = Raw(wav_bytes(0.2), "audio/wav")

#: (method, path, body, the roles allowed among admin, super, alice). The method "WS" opens a
#: WebSocket. ``{name}`` in a path is what the scenario made before: the ids of a customer,
#: a ticket, an article, the recordings of alice's and of bob's call, and of an article, an
#: announcement and one of bob's tokens to delete (the first role allowed deletes it: for
#: the next, it is not found). The roles act one after the other, each through the whole
#: list: the admin last, as its writes change things.
OPERATIONS: list[tuple[str, str, object, set[str]]] = [
    ("GET", "/v1/agents", None, {"admin", "super", "alice"}),
    ("GET", "/v1/agents/alice", None, {"admin", "super", "alice"}),
    ("GET", "/v1/agents/bob", None, {"admin", "super"}),
    ("POST", "/v1/agents/alice/state", {"action": "login"}, {"admin", "super", "alice"}),
    ("POST", "/v1/agents/bob/state", {"action": "login"}, {"admin", "super"}),
    ("GET", "/v1/queues", None, {"admin", "super"}),
    ("GET", "/v1/calls", None, {"admin", "super"}),
    ("POST", "/v1/calls", {"extension": "1001", "number": "1002"}, {"admin", "super"}),
    ("DELETE", "/v1/calls/x", None, {"admin", "super"}),
    # An agent may transfer a call it is on: an unknown one is not found, not forbidden.
    ("POST", "/v1/calls/x/transfer", {"target": {"kind": "queue", "name": "sales"}},
     {"admin", "super", "alice"}),
    ("GET", "/v1/campaigns", None, {"admin", "super"}),
    ("GET", "/v1/campaigns/spring", None, {"admin", "super"}),
    ("POST", "/v1/campaigns/spring/start", None, STAFF),
    ("POST", "/v1/campaigns/spring/stop", None, {"admin", "super"}),
    ("GET", "/v1/campaigns/spring/contacts", None, {"admin", "super"}),
    ("POST", "/v1/campaigns/spring/callbacks", {"contact": "c1", "at": "+1h"},
     {"admin", "super", "alice"}),
    ("GET", "/v1/do-not-call", None, {"admin", "super"}),
    ("POST", "/v1/do-not-call", {"numbers": ["+12125550100"]}, {"admin"}),
    ("GET", "/v1/config", None, {"admin", "super"}),
    ("GET", "/v1/config/queues", None, {"admin", "super"}),
    ("PUT", "/v1/config/queues/extra", {"skill": "sales"}, {"admin"}),
    ("DELETE", "/v1/config/queues/extra", None, {"admin"}),
    ("GET", "/v1/extensions", None, {"admin", "super"}),
    ("PUT", "/v1/extensions/1009", {"password": "secret-1009"}, {"admin"}),
    ("GET", "/v1/records", None, {"admin", "super", "alice"}),
    ("GET", "/v1/reports", None, {"admin", "super", "alice"}),
    ("GET", "/v1/reports/campaign", None, {"admin", "super"}),
    ("GET", "/v1/users", None, {"admin"}),
    ("POST", "/v1/users", {"name": "zoe", "role": "supervisor", "password": "zoe-pw-123"},
     {"admin"}),
    ("GET", "/v1/tokens", None, {"admin"}),
    ("GET", "/v1/audit", None, {"admin"}),
    ("GET", "/v1/me", None, {"admin", "super", "alice"}),
    # Open to anyone: load balancers, Prometheus, logging in.
    ("GET", "/health", None, ALL),
    ("GET", "/metrics", None, ALL),
    ("POST", "/v1/login", {"user": "bob", "password": "pw-bob-123456"}, ALL),
    # Agents' live state: an agent its own only.
    ("GET", "/v1/dispositions", None, ALL),
    ("POST", "/v1/agents/alice/wrapup", {"call": "x", "code": "sale"}, ALL),
    ("POST", "/v1/agents/bob/wrapup", {"call": "x", "code": "sale"}, STAFF),
    ("GET", "/v1/alarms", None, STAFF),
    # Campaigns: settings are configuration, running them is not; an agent schedules its
    # own callbacks only.
    ("POST", "/v1/campaigns/spring/contacts", CONTACTS, ADMIN),
    ("POST", "/v1/campaigns/spring/callbacks", {"contact": "c7", "at": "+1h", "agent": "bob"},
     STAFF),
    ("DELETE", "/v1/do-not-call/+12125550100", None, ADMIN),
    # Every section of the configuration, read whole, by entry, and written.
    *[("GET", f"/v1/config/{section}", None, STAFF)
      for section in ("agents", "ivr", "routes", "trunks", "dids", "campaigns", "dispositions",
                      "calendars", "blacklist", "limits", "rates")],
    ("GET", "/v1/config/agents/alice", None, STAFF),
    ("PUT", "/v1/config/limits", {"calls": 50}, ADMIN),
    ("PUT", "/v1/config/dispositions", [{"code": "sale", "label": "Sale"},
                                         {"code": "callback", "label": "Call back",
                                          "callback": True}], ADMIN),
    ("PUT", "/v1/config/dispositions/wrapped", {"label": "Wrapped up"}, ADMIN),
    ("DELETE", "/v1/config/dispositions/wrapped", None, ADMIN),
    ("DELETE", "/v1/extensions/1009", None, ADMIN),
    # Records and reports: an agent its own only.
    ("GET", "/v1/records?agent=bob", None, STAFF),
    ("GET", "/v1/reports/agents", None, ALL),
    ("GET", "/v1/reports/agents?agent=bob", None, STAFF),
    ("GET", "/v1/reports/calls", None, STAFF),
    # Recordings: an agent those of its own calls; only an admin deletes.
    ("GET", "/v1/recordings", None, ALL),
    ("GET", "/v1/recordings?agent=bob", None, STAFF),
    ("GET", "/v1/recordings/{alice_recording}", None, ALL),
    ("GET", "/v1/recordings/{alice_recording}/content", None, ALL),
    ("GET", "/v1/recordings/{bob_recording}", None, STAFF),
    ("GET", "/v1/recordings/{bob_recording}/content", None, STAFF),
    ("DELETE", "/v1/recordings/{bob_recording}", None, ADMIN),
    # Prompts are configuration.
    ("GET", "/v1/prompts", None, STAFF),
    ("PUT", "/v1/prompts/hello.wav", PROMPT, ADMIN),
    ("GET", "/v1/prompts/hello.wav", None, STAFF),
    ("DELETE", "/v1/prompts/hello.wav", None, ADMIN),
    # Users and their tokens.
    ("PATCH", "/v1/users/zoe", {"enabled": False}, ADMIN),
    ("POST", "/v1/users/zoe/tokens", {"label": "wallboard"}, ADMIN),
    ("DELETE", "/v1/users/zoe", None, ADMIN),
    ("DELETE", "/v1/tokens/{bob_token}", None, ADMIN),
    # The agent desktop's records: customers and tickets for everyone; the knowledge base
    # read by everyone, written by admins and supervisors.
    ("GET", "/v1/customers", None, ALL),
    ("POST", "/v1/customers", {"name": "Ann Lee", "phones": ["+12125550150"]}, ALL),
    ("GET", "/v1/customers/{customer}", None, ALL),
    ("PATCH", "/v1/customers/{customer}", {"notes": "Prefers mornings"}, ALL),
    ("GET", "/v1/tickets", None, ALL),
    ("POST", "/v1/tickets", {"subject": "Refund"}, ALL),
    ("GET", "/v1/tickets/{ticket}", None, ALL),
    ("PATCH", "/v1/tickets/{ticket}", {"priority": "high"}, ALL),
    ("POST", "/v1/tickets/{ticket}/comments", {"body": "Called back"}, ALL),
    ("GET", "/v1/kb", None, ALL),
    ("GET", "/v1/kb/{article}", None, ALL),
    ("POST", "/v1/kb", {"title": "Refunds"}, STAFF),
    ("PATCH", "/v1/kb/{article}", {"tags": ["money"]}, STAFF),
    ("DELETE", "/v1/kb/{spare_article}", None, STAFF),
    # Announcements: every desktop shows them; admins and supervisors make them.
    ("GET", "/v1/announcements", None, ALL),
    ("POST", "/v1/announcements", {"text": "Team meeting at four", "minutes": 5}, STAFF),
    ("DELETE", "/v1/announcements/{spare_announcement}", None, STAFF),
    # Live streams: events for everyone (an agent sees its own), the wallboard for admins
    # and supervisors; the phone is an agent's, or a supervisor's naming an extension (this
    # one is gone by the admin's turn: no phone opens).
    ("WS", "/v1/events", None, ALL),
    ("WS", "/v1/wallboard", None, STAFF),
    ("WS", "/v1/phone", None, {"alice"}),
    ("WS", "/v1/phone?extension=1009", None, ALL),
]


async def made_before(api: Api) -> dict[str, str]:
    """What the paths of `OPERATIONS` name: records the operations read, change and delete."""
    admin = api.auth("admin")

    async def made(path: str, body: object) -> Any:
        answer = await api.client.post(path, json=body, headers=admin)
        assert answer.status_code == 201, (path, answer.text)
        return answer.json()

    record_call(api, "call-alice", "alice", wav_bytes(0.5))
    record_call(api, "call-bob", "bob", wav_bytes(0.5))
    assert await files_of(api).index() == 2
    listed = await api.client.get("/v1/recordings", headers=admin)
    recordings = {item["agent"]: str(item["id"]) for item in listed.json()["items"]}
    return {
        "alice_recording": recordings["alice"], "bob_recording": recordings["bob"],
        "customer": str((await made("/v1/customers", {"name": "Bo Chan"}))["id"]),
        "ticket": str((await made("/v1/tickets", {"subject": "Broken headset"}))["id"]),
        "article": str((await made("/v1/kb", {"title": "Headsets"}))["id"]),
        "spare_article": str((await made("/v1/kb", {"title": "Old news"}))["id"]),
        "spare_announcement": str((await made("/v1/announcements",
                                              {"text": "Lunch is served", "minutes": 5}))["id"]),
        "bob_token": (await made("/v1/users/bob/tokens", {"label": "spare"}))["prefix"],
    }


#: How a WebSocket refused before it is accepted says why, as the HTTP status it stands for.
CLOSED = {4401: 401, 4403: 403}


async def socket_status(app: FastAPI, target: str, headers: dict[str, str]) -> int:
    """Open a WebSocket to ``target`` of ``app``: 101 when it is accepted (and then closed by
    this side), else the status its close code stands for (the close code itself when it
    stands for none)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("pycc.test", 80),
        "subprotocols": [],
        "headers": [(b"host", b"pycc.test"),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
    }
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def send(message: MutableMapping[str, Any]) -> None:
        if outcome.done():
            return
        if message["type"] == "websocket.accept":
            outcome.set_result(101)
        elif message["type"] == "websocket.close":
            code = int(message.get("code", 1000))
            outcome.set_result(CLOSED.get(code, code))
        elif message["type"] == "websocket.http.response.start":
            outcome.set_result(int(message["status"]))

    task = asyncio.ensure_future(app(scope, inbox.get, send))
    try:
        return await asyncio.wait_for(asyncio.shield(outcome), 10)
    finally:
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def test_every_operation_by_every_role(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        names = await made_before(api)
        # Another app over the same switch takes the WebSockets (httpx speaks HTTP only).
        assert api.switch.store is not None
        sockets = create_app(ApiContext(api.switch.store, "default", api.switch))
        wrong: list[str] = []
        for who in ("alice", "super", "admin"):  # the admin last: its writes change things
            for method, template, body, allowed in OPERATIONS:
                path = template.format(**names)
                if method == "WS":
                    status, text = await socket_status(sockets, path, api.auth(who)), ""
                else:
                    headers = api.auth(who)
                    extra: dict[str, Any] = {"json": body}
                    if isinstance(body, Raw):
                        extra = {"content": body.content}
                        headers["Content-Type"] = body.media_type
                    response = await api.client.request(method, path, headers=headers,
                                                        **extra)
                    status, text = response.status_code, response.text
                refused = status in (401, 403)
                if refused == (who in allowed):
                    wrong.append(f"{who} {method} {path}: {status} {text[:120]}")
                if status >= 500 and method != "WS":
                    wrong.append(f"{who} {method} {path}: server error {text[:200]}")
        assert not wrong, "\n".join(wrong)

    run(tmp_path, scenario)


def test_another_tenant_reaches_nothing_of_this_one(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        acme = api.auth("acme")
        c = api.client
        # Live state belongs to the tenant this node serves: not acme's.
        for path in ("/v1/agents", "/v1/queues", "/v1/calls", "/v1/agents/alice"):
            assert (await c.get(path, headers=acme)).status_code == 404, path
        assert (await c.post("/v1/agents/alice/state", json={"action": "login"},
                             headers=acme)).status_code == 404
        # Data: acme sees its own, which is nothing of default's.
        assert (await c.get("/v1/campaigns", headers=acme)).json() == []
        assert (await c.get("/v1/records", headers=acme)).json()["items"] == []
        assert (await c.get("/v1/config/agents", headers=acme)).json() == []
        assert [u["name"] for u in (await c.get("/v1/users", headers=acme)).json()] == ["acme"]
        assert (await c.get("/v1/campaigns/spring", headers=acme)).status_code == 404
        # Naming the other tenant outright does not help.
        assert (await c.get("/v1/users", params={"tenant": "default"},
                            headers=acme)).status_code == 404

    run(tmp_path, scenario)
