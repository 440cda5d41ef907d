"""Users, tokens and the audit log through the admin API: an admin manages its own tenant's
users only, a new token works until it is revoked (at once, despite the token cache), a
disabled user's token stops, and every change is in the audit log."""

from __future__ import annotations

from pathlib import Path

from api.test_api_core import Api, fields, problem, run


def test_an_admin_manages_its_tenant_s_users_and_tokens(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        made = await c.post("/v1/users", json={"name": "carol", "role": "supervisor",
                                                "password": "carol-password-1"},
                            headers=admin)
        assert made.status_code == 201, made.text
        assert made.json()["role"] == "supervisor" and "password" not in made.json()
        problem(await c.post("/v1/users", json={"name": "carol", "role": "supervisor",
                                                "password": "carol-password-1"},
                             headers=admin), 409)
        body = problem(await c.post("/v1/users", json={"name": "dave", "role": "boss",
                                                       "password": "x"}, headers=admin), 422)
        assert fields(body) == ["body.role"]
        body = problem(await c.post("/v1/users", json={"name": "dave", "role": "agent",
                                                       "password": "dave-password-1"},
                                    headers=admin), 422)
        assert fields(body) == ["body.agent"], body
        issued = await c.post("/v1/users/carol/tokens", json={"label": "wallboard"},
                              headers=admin)
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        carol = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/v1/me", headers=carol)).json()["user"] == "carol"
        listed = (await c.get("/v1/tokens", params={"user": "carol"}, headers=admin)).json()
        assert [t["label"] for t in listed] == ["wallboard"] and listed[0]["token"] is None
        # Revoked: refused at once, though the token was just used (and cached).
        prefix = listed[0]["prefix"]
        assert (await c.delete(f"/v1/tokens/{prefix}", headers=admin)).status_code == 204
        problem(await c.get("/v1/me", headers=carol), 401)
        problem(await c.delete("/v1/tokens/zz", headers=admin), 422)
        # Disabling a user stops its other tokens too.
        second = (await c.post("/v1/users/carol/tokens", json={}, headers=admin)).json()
        carol = {"Authorization": f"Bearer {second['token']}"}
        assert (await c.get("/v1/me", headers=carol)).status_code == 200
        changed = await c.patch("/v1/users/carol", json={"enabled": False}, headers=admin)
        assert changed.json()["enabled"] is False
        problem(await c.get("/v1/me", headers=carol), 401)
        # Other tenants, other roles.
        acme_users = (await c.get("/v1/users", headers=api.auth("acme"))).json()
        assert [u["name"] for u in acme_users] == ["acme"]
        problem(await c.delete("/v1/users/carol", headers=api.auth("acme")), 404)
        problem(await c.get("/v1/users", headers=api.auth("super")), 403)
        problem(await c.get("/v1/users", params={"tenant": "acme"}, headers=admin), 404)
        problem(await c.post("/v1/users/alice/tokens", json={}, headers=api.auth("alice")),
                403)
        problem(await c.delete("/v1/users/admin", headers=admin), 409)
        body = problem(await c.patch("/v1/users/admin", json={"enabled": False},
                                     headers=admin), 409)
        assert fields(body) == ["body.enabled"]
        body = problem(await c.patch("/v1/users/admin", json={"role": "agent"},
                                     headers=admin), 409)
        assert fields(body) == ["body.role"]
        assert (await c.delete("/v1/users/carol", headers=admin)).status_code == 204
        problem(await c.delete("/v1/users/carol", headers=admin), 404)
        # The audit log has it all, in order, by the admin through the API.
        log = (await c.get("/v1/audit", params={"actor": "admin@default"},
                           headers=admin)).json()["items"]
        assert [(e["action"], e["target_kind"]) for e in log] == [
            ("create", "user"), ("issue", "token"), ("revoke", "token"), ("issue", "token"),
            ("disable", "user"), ("delete", "user")]
        assert all(e["source"] == "api" for e in log)
        problem(await c.get("/v1/audit", headers=api.auth("super")), 403)
        page = (await c.get("/v1/audit", params={"limit": 2}, headers=admin)).json()
        assert len(page["items"]) == 2 and page["next"] is not None

    run(tmp_path, scenario, db_url)
