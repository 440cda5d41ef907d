"""Every operation of the admin API against every role of the tenant: what the role table
of `pycc.aaa.roles` allows answers with anything but 401/403, what it does not answers 403;
and another tenant's admin never reaches this tenant's live state or data."""

from __future__ import annotations

from pathlib import Path

from api.test_api_core import Api, run

#: (method, path, json body, the roles allowed among admin, super, alice).
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
]


def test_every_operation_by_every_role(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        wrong: list[str] = []
        for who in ("alice", "super", "admin"):  # the admin last: its writes change things
            for method, path, body, allowed in OPERATIONS:
                response = await api.client.request(
                    method, path, json=body, headers=api.auth(who))
                refused = response.status_code in (401, 403)
                if refused == (who in allowed):
                    wrong.append(f"{who} {method} {path}: {response.status_code} "
                                 f"{response.text[:120]}")
                if response.status_code >= 500:
                    wrong.append(f"{who} {method} {path}: server error {response.text[:200]}")
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
