"""The admin API on a running switch: tokens and roles, problem documents naming the field,
agents' live state, campaigns (contact import with idempotency keys, callbacks), call
records in pages, reports, the OpenAPI document, health and metrics.

Requests go through the ASGI application in the switch's own event loop (httpx's ASGI
transport); the WebSocket stream and a real `pycc serve` are in test_api_live.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from peers.net import free_port
from pycc.aaa.accounts import create_user, issue_token
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.api import ApiContext, create_app
from pycc.config import SwitchConfig
from pycc.pds.store import DialerStore
from pycc.provision.command import apply_file
from pycc.store.db import make_url
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch

#: Cheap hashes: these tests are about the API, not about scrypt's cost.
FAST = ScryptParams(log2_n=4, r=1, p=1)
ORIGIN = Origin("tests", "cli")

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1002", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
campaigns:
  - {name: spring, queue: sales, mode: progressive, timezone: America/New_York}
"""


@dataclass
class Api:
    client: httpx.AsyncClient
    switch: Switch
    store: Store
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def prepare(tmp_path: Path, db_url: str | None = None) -> tuple[SwitchConfig, dict[str, str]]:
    data = tmp_path / "data"
    data.mkdir()
    first = free_port("udp", count=10)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="api-tests-nonce-secret", rtp_ports=f"{first}-{first + 9}",
                          db_url=db_url)
    (tmp_path / "center.yaml").write_text(CENTER, encoding="utf-8")
    errors: list[str] = []
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    (tmp_path / "acme.yaml").write_text("tenant: acme\n", encoding="utf-8")
    assert apply_file(tmp_path / "acme.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    store = Store(make_url(data, db_url))
    tokens = add_users(store)
    store.close()
    return config, tokens


def add_users(store: Store) -> dict[str, str]:
    """The users the API tests act as (an admin, a supervisor and two agents of the default
    tenant, an admin of "acme"), with a token each, by user name."""
    now = time.time()
    users = {"admin": ("default", "admin", None), "super": ("default", "supervisor", None),
             "alice": ("default", "agent", "alice"), "bob": ("default", "agent", "bob"),
             "acme": ("acme", "admin", None)}
    tokens = {}
    for name, (tenant, role, agent) in users.items():
        create_user(store, tenant, name, role, password=f"pw-{name}-123456", now=now,
                    origin=ORIGIN, agent=agent, params=FAST)
        tokens[name] = issue_token(store, tenant, name, now=now, origin=ORIGIN).plaintext
    return tokens


def run(tmp_path: Path, scenario: Callable[[Api], Awaitable[None]],
        db_url: str | None = None) -> None:
    """``scenario`` against a running switch on SQLite, or on ``db_url``."""
    config, tokens = prepare(tmp_path, db_url)

    async def main() -> None:
        async with Switch(config) as switch:
            assert switch.store is not None
            app = create_app(ApiContext(switch.store, "default", switch))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://pycc.test") as client:
                await scenario(Api(client, switch, switch.store.store, tokens))

    asyncio.run(main())


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["title"]
    return body


def fields(body: dict[str, object]) -> list[str]:
    errors = body.get("errors", [])
    assert isinstance(errors, list)
    return [str(e["field"]) for e in errors]


def test_tokens_identify_the_caller_and_bad_ones_are_refused(tmp_path: Path,
        db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        refused = await c.get("/v1/me")
        assert "Bearer" in refused.headers["www-authenticate"]
        assert "needs an API token" in str(problem(refused, 401)["detail"])
        problem(await c.get("/v1/me", headers={"Authorization": "Basic eDp5"}), 401)
        problem(await c.get("/v1/me", headers={"Authorization": "Bearer pycc_nope"}), 401)
        me = await c.get("/v1/me", headers=api.auth("alice"))
        assert me.json() == {"user": "alice", "tenant": "default", "role": "agent",
                             "agent": "alice"}
        # Logging in with a password gives a token that works.
        problem(await c.post("/v1/login", json={"user": "admin", "password": "wrong-pw"}), 401)
        body = problem(await c.post("/v1/login", json={"user": "", "password": "x"}), 422)
        assert fields(body) == ["body.user"]
        login = await c.post("/v1/login", json={"user": "super",
                                                 "password": "pw-super-123456"})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        me = await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "supervisor"

    run(tmp_path, scenario, db_url)


def test_agents_live_state_by_role(tmp_path: Path,
        db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        listed = await c.get("/v1/agents", headers=api.auth("super"))
        assert [a["agent"] for a in listed.json()] == ["alice", "bob"]
        assert {a["status"] for a in listed.json()} == {"offline"}
        # An agent sees itself only, changes its own state, not another's.
        own = await c.get("/v1/agents", headers=api.auth("alice"))
        assert [a["agent"] for a in own.json()] == ["alice"]
        done = await c.post("/v1/agents/alice/state", json={"action": "login"},
                            headers=api.auth("alice"))
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "available"
        problem(await c.post("/v1/agents/bob/state", json={"action": "login"},
                             headers=api.auth("alice")), 403)
        problem(await c.get("/v1/agents/bob", headers=api.auth("alice")), 403)
        # The supervisor sets bob not ready with a reason; the ACD agrees.
        await c.post("/v1/agents/bob/state", json={"action": "login"},
                     headers=api.auth("super"))
        done = await c.post("/v1/agents/bob/state",
                            json={"action": "not_ready", "reason": "lunch"},
                            headers=api.auth("super"))
        assert (done.json()["status"], done.json()["reason"]) == ("not_ready", "lunch")
        assert api.switch.center is not None
        status = api.switch.center.acd.agent_status("bob")
        assert status is not None and status[0].value == "not_ready"
        body = problem(await c.post("/v1/agents/bob/state", json={"action": "dance"},
                                    headers=api.auth("super")), 422)
        assert fields(body) == ["body.action"]
        problem(await c.post("/v1/agents/zed/state", json={"action": "ready"},
                             headers=api.auth("super")), 404)
        # Another tenant's admin cannot see this tenant's agents at all.
        problem(await c.get("/v1/agents", headers=api.auth("acme")), 404)
        queues = await c.get("/v1/queues", headers=api.auth("admin"))
        assert queues.json()[0]["queue"] == "sales"
        assert queues.json()[0]["agents_logged_in"] == 2
        problem(await c.get("/v1/queues", headers=api.auth("alice")), 403)

    run(tmp_path, scenario, db_url)


CSV = "id,phone,name\nc1,+12125550101,Ann\nc2,12,Bad\nc3,+12125550101,Dup\nc4,+12125550104,Bo\n"


def test_contact_import_reports_rows_and_replays_by_idempotency_key(tmp_path: Path,
        db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        headers = {**api.auth("admin"), "Content-Type": "text/csv", "Idempotency-Key": "k-1"}
        first = await c.post("/v1/campaigns/spring/contacts", content=CSV, headers=headers)
        assert first.status_code == 201, first.text
        body = first.json()
        assert (body["rows"], body["added"], body["already_there"]) == (4, 2, 0)
        assert [r["line"] for r in body["rejected"]] == [3]
        assert body["duplicates"] == [{"line": 4, "reason": "duplicate of line 2"}]
        # The same request with the same key: the same answer, no second import.
        again = await c.post("/v1/campaigns/spring/contacts", content=CSV, headers=headers)
        assert again.status_code == 201 and again.json() == body
        assert again.headers["idempotent-replayed"] == "true"
        # The same key with another body is refused; without a key the ids are skipped.
        other = await c.post("/v1/campaigns/spring/contacts", content=CSV + "c9,+12125550109\n",
                             headers=headers)
        assert "Idempotency-Key" in str(problem(other, 422)["detail"])
        plain = {**api.auth("admin"), "Content-Type": "text/csv"}
        fresh = await c.post("/v1/campaigns/spring/contacts", content=CSV, headers=plain)
        assert (fresh.json()["added"], fresh.json()["already_there"]) == (0, 2)
        contacts = DialerStore(api.store, "default").contacts("spring")
        assert sorted(x.external_id for x in contacts) == ["c1", "c4"]
        # Wrong type, unknown campaign, a supervisor (no configuration rights).
        problem(await c.post("/v1/campaigns/spring/contacts", content=CSV,
                             headers={**api.auth("admin"), "Content-Type": "image/png"}), 415)
        problem(await c.post("/v1/campaigns/autumn/contacts", content=CSV, headers=plain),
                404)
        problem(await c.post("/v1/campaigns/spring/contacts", content=CSV,
                             headers={**api.auth("super"), "Content-Type": "text/csv"}), 403)
        bad = await c.post("/v1/campaigns/spring/contacts", content=b"\xff\xfe",
                           headers=plain)
        assert fields(problem(bad, 422)) == ["body"]
        status = await c.get("/v1/campaigns/spring", headers=api.auth("super"))
        assert status.json()["contacts"]["ready"] == 2 and status.json()["running"] is False
        listed = await c.get("/v1/campaigns", headers=api.auth("admin"))
        assert [x["campaign"] for x in listed.json()] == ["spring"]

    run(tmp_path, scenario, db_url)


def test_callbacks_through_the_api(tmp_path: Path,
        db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        plain = {**api.auth("admin"), "Content-Type": "text/csv"}
        await c.post("/v1/campaigns/spring/contacts", content=CSV, headers=plain)
        # An agent schedules its own callback; 10:30 New York time.
        done = await c.post("/v1/campaigns/spring/callbacks",
                            json={"contact": "c1", "at": "2099-01-02T10:30"},
                            headers=api.auth("alice"))
        assert done.status_code == 201, done.text
        assert done.json()["agent"] == "alice"
        assert done.json()["at"] == 4071051000.0  # 15:30 UTC
        problem(await c.post("/v1/campaigns/spring/callbacks",
                             json={"contact": "c4", "at": "+1h", "agent": "bob"},
                             headers=api.auth("alice")), 403)
        for payload, field in (({"contact": "c4", "at": "soon"}, "body.at"),
                               ({"contact": "c4", "at": "2001-01-01T00:00"}, "body.at"),
                               ({"contact": "c4", "at": "+1h", "agent": "zed"},
                                "body.agent"),
                               ({"at": "+1h"}, "body.contact")):
            body = problem(await c.post("/v1/campaigns/spring/callbacks", json=payload,
                                        headers=api.auth("super")), 422)
            assert fields(body) == [field], body
        problem(await c.post("/v1/campaigns/spring/callbacks",
                             json={"contact": "nobody", "at": "+1h"},
                             headers=api.auth("super")), 404)
        contact = next(x for x in DialerStore(api.store, "default").contacts("spring")
                       if x.external_id == "c1")
        assert (contact.state, contact.callback_agent) == ("scheduled", "alice")

    run(tmp_path, scenario, db_url)


def test_call_records_come_in_pages_and_agents_see_their_own(tmp_path: Path,
        db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        tenant_id = api.store.ensure_tenant("default", "pycc").id
        rows = [CallRecord(tenant_id=tenant_id, call_id=f"call-{i}", caller="1001",
                           callee="1002", start=1000.0 + i, end=1010.0 + i,
                           disposition="answered", hangup_by="caller", direction="internal",
                           hangup_cause="200 BYE", sip_status=200,
                           agent="alice" if i % 2 else "bob")
                for i in range(5)]
        api.store.add_call_records([r.model_dump(exclude={"id"}) for r in rows])
        seen: list[str] = []
        cursor = None
        for _ in range(4):
            params = {"limit": "2", **({"after": cursor} if cursor else {})}
            page = (await c.get("/v1/records", params=params,
                                headers=api.auth("super"))).json()
            seen += [r["call_id"] for r in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == [f"call-{i}" for i in range(5)]
        # Newest first, paged back in time by the same kind of cursor.
        seen, cursor = [], None
        for _ in range(4):
            params = {"limit": "2", "order": "newest", **({"after": cursor} if cursor else {})}
            page = (await c.get("/v1/records", params=params,
                                headers=api.auth("super"))).json()
            seen += [r["call_id"] for r in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == [f"call-{i}" for i in reversed(range(5))]
        body = problem(await c.get("/v1/records", params={"order": "random"},
                                   headers=api.auth("super")), 422)
        assert fields(body) == ["query.order"]
        own = (await c.get("/v1/records", headers=api.auth("alice"))).json()
        assert [r["call_id"] for r in own["items"]] == ["call-1", "call-3"]
        problem(await c.get("/v1/records", params={"agent": "bob"},
                            headers=api.auth("alice")), 403)
        body = problem(await c.get("/v1/records", params={"after": "!!"},
                                   headers=api.auth("super")), 422)
        assert fields(body) == ["query.after"]
        body = problem(await c.get("/v1/records", params={"limit": "0"},
                                   headers=api.auth("super")), 422)
        assert fields(body) == ["query.limit"]
        since = (await c.get("/v1/records", params={"since": "1003"},
                             headers=api.auth("admin"))).json()
        assert [r["call_id"] for r in since["items"]] == ["call-3", "call-4"]
        # Another tenant sees none of them.
        other = (await c.get("/v1/records", headers=api.auth("acme"))).json()
        assert other["items"] == []

    run(tmp_path, scenario, db_url)


def test_reports_openapi_health_and_metrics(tmp_path: Path,
        db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        names = (await c.get("/v1/reports", headers=api.auth("super"))).json()
        assert {"campaign", "results"} <= set(names)
        report = await c.get("/v1/reports/campaign", headers=api.auth("super"))
        assert report.status_code == 200 and isinstance(report.json(), list)
        body = problem(await c.get("/v1/reports/nothing", headers=api.auth("super")), 404)
        assert fields(body) == ["path.name"]
        problem(await c.get("/v1/reports/campaign", headers=api.auth("alice")), 403)
        spec = (await c.get("/openapi.json")).json()
        for path in ("/v1/agents", "/v1/campaigns/{name}/contacts", "/v1/records",
                     "/v1/login", "/health", "/metrics"):
            assert path in spec["paths"], path
        health = await c.get("/health")
        assert health.json()["status"] in ("ok", "degraded")
        metrics = await c.get("/metrics")
        assert metrics.status_code == 200 and "pycc_" in metrics.text

    run(tmp_path, scenario, db_url)


@pytest.mark.parametrize("header", ["", "x" * 201])
def test_bad_idempotency_keys_are_named(tmp_path: Path, header: str) -> None:
    async def scenario(api: Api) -> None:
        response = await api.client.post(
            "/v1/campaigns/spring/contacts", content=CSV,
            headers={**api.auth("admin"), "Content-Type": "text/csv",
                     "Idempotency-Key": header})
        assert "Idempotency-Key" in str(problem(response, 422)["detail"])

    run(tmp_path, scenario)


def test_contacts_and_the_do_not_call_list(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        await c.post("/v1/campaigns/spring/contacts", content=CSV,
                     headers={**admin, "Content-Type": "text/csv"})
        page = (await c.get("/v1/campaigns/spring/contacts", params={"limit": 1},
                            headers=api.auth("super"))).json()
        assert [x["id"] for x in page["items"]] == ["c1"] and page["next"]
        rest = (await c.get("/v1/campaigns/spring/contacts", params={"after": page["next"]},
                            headers=admin)).json()
        assert [(x["id"], x["state"], x["name"]) for x in rest["items"]] == [
            ("c4", "ready", "Bo")] and rest["next"] is None
        problem(await c.get("/v1/campaigns/autumn/contacts", headers=admin), 404)
        added = await c.post("/v1/do-not-call", json={"numbers": ["+12125550199", "12",
                                                                 "+12125550198"]},
                             headers=admin)
        assert added.status_code == 201, added.text
        assert added.json()["added"] == 2 and [r["line"] for r in added.json()["rejected"]] \
            == [2]
        listed = (await c.get("/v1/do-not-call", headers=admin)).json()["items"]
        assert sorted(x["number"] for x in listed) == ["+12125550198", "+12125550199"]
        assert (await c.delete("/v1/do-not-call/+12125550199",
                               headers=admin)).status_code == 204
        problem(await c.delete("/v1/do-not-call/+12125550199", headers=admin), 404)
        body = problem(await c.delete("/v1/do-not-call/12;drop", headers=admin), 422)
        assert fields(body) == ["path.number"]
        problem(await c.delete("/v1/do-not-call/..%2Fetc", headers=admin), 404)
        # Both changes are in the audit log, the addition naming what it added.
        log = (await c.get("/v1/audit", params={"actor": "admin@default"},
                           headers=admin)).json()["items"]
        dnc = [e for e in log if e["target_kind"] == "do-not-call"]
        assert [(e["action"], e["target_id"]) for e in dnc] == [
            ("create", "2 numbers"), ("delete", "+12125550199")]
        assert dnc[0]["detail"]["numbers"] == ["+12125550199", "+12125550198"]
        problem(await c.post("/v1/do-not-call", json={"numbers": ["+12125550111"]},
                             headers=api.auth("super")), 403)

    run(tmp_path, scenario, db_url)
