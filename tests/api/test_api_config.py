"""Configuration through the admin API: entries of the ``pycc apply`` sections created,
replaced and deleted one at a time, validated with the whole configuration, audited, guarded
by ETags, and picked up by the running switch; extensions with their passwords."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api.test_api_core import Api, fields, problem, run
from pycc.aaa.audit import query
from pycc.api.config_edit import read_document


def test_entries_are_created_replaced_and_deleted_with_the_whole_file_s_rules(
        tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        listed = await c.get("/v1/config/queues", headers=api.auth("super"))
        assert [q["name"] for q in listed.json()] == ["sales"]
        etag = listed.headers["etag"]
        created = await c.put("/v1/config/queues/support",
                              json={"skill": "sales", "ring_timeout": 12}, headers=admin)
        assert created.status_code == 201, created.text
        assert created.headers["etag"] != etag
        # The running switch has it at once.
        assert api.switch.center is not None
        assert "support" in api.switch.center.acd.distributor.queues
        replaced = await c.put("/v1/config/queues/support",
                               json={"name": "support", "skill": "sales", "wrapup": 4},
                               headers=admin)
        assert replaced.status_code == 200, replaced.text
        got = await c.get("/v1/config/queues/support", headers=admin)
        assert got.json() == {"name": "support", "skill": "sales", "wrapup": 4}
        # A bad field of the entry is named in the body; another name is refused.
        bad = problem(await c.put("/v1/config/queues/support",
                                  json={"skill": "sales", "ring_timeout": -1},
                                  headers=admin), 422)
        assert fields(bad) == ["body.ring_timeout"], bad
        other = problem(await c.put("/v1/config/queues/support", json={"name": "x"},
                                    headers=admin), 422)
        assert fields(other) == ["body.name"]
        # The campaign refers to sales: deleting it would leave that dangling.
        refused = problem(await c.delete("/v1/config/queues/sales", headers=admin), 409)
        assert any(f.startswith("campaigns[0]") for f in fields(refused)), refused
        deleted = await c.delete("/v1/config/queues/support", headers=admin)
        assert deleted.status_code == 204
        problem(await c.get("/v1/config/queues/support", headers=admin), 404)
        problem(await c.delete("/v1/config/queues/support", headers=admin), 404)
        # A stale If-Match is refused; the current one works.
        problem(await c.put("/v1/config/agents/carol",
                            json={"extension": "1003", "skills": {"sales": 1}},
                            headers={**admin, "If-Match": etag}), 412)
        current = (await c.get("/v1/config/agents", headers=admin)).headers["etag"]
        done = await c.put("/v1/config/agents/carol",
                           json={"extension": "1003", "skills": {"sales": 1}},
                           headers={**admin, "If-Match": current})
        assert done.status_code == 201, done.text
        problem(await c.get("/v1/config/nothing", headers=admin), 404)
        # Roles: a supervisor reads but does not write, an agent does neither.
        problem(await c.put("/v1/config/queues/x", json={"skill": "sales"},
                            headers=api.auth("super")), 403)
        problem(await c.get("/v1/config/queues", headers=api.auth("alice")), 403)
        # Every change is in the audit log, by the API's user.
        entries = query(api.store, tenant="default", source="api").entries
        assert [(e.action, e.target_kind, e.target_id) for e in entries] == [
            ("create", "queue", "support"), ("update", "queue", "support"),
            ("delete", "queue", "support"), ("create", "agent", "carol")]
        assert {e.actor for e in entries} == {"admin@default"}

    run(tmp_path, scenario, db_url)


def test_concurrent_edits_of_one_section_both_land(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        admin = api.auth("admin")
        answers = await asyncio.gather(*(
            api.client.put(f"/v1/config/agents/agent-{i}",
                           json={"extension": f"20{i:02d}", "skills": {"sales": 1}},
                           headers=admin) for i in range(4)))
        assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
        document = read_document(api.store, "default")
        assert document is not None
        assert {a["id"] for a in document.data["agents"]} >= {f"agent-{i}" for i in range(4)}

    run(tmp_path, scenario, db_url)


def test_whole_sections_routes_and_other_tenants(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        routes = [{"match": "8000", "to": {"queue": "sales"}},
                  {"name": "out", "match": "_9X.", "to": {"queue": "sales"}}]
        done = await c.put("/v1/config/routes", json=routes, headers=admin)
        assert done.status_code == 200, done.text
        assert [r["match"] for r in (await c.get("/v1/config/routes",
                                                 headers=admin)).json()] == ["8000", "_9X."]
        one = await c.get("/v1/config/routes/out", headers=admin)
        assert one.json()["match"] == "_9X."
        bad = problem(await c.put("/v1/config/routes/8000",
                                  json={"match": "8000", "to": {"queue": "nowhere"}},
                                  headers=admin), 422)
        assert fields(bad) == ["body.to.queue"], bad
        whole = (await c.get("/v1/config", headers=admin)).json()
        assert whole["tenant"] == "default" and len(whole["routes"]) == 2
        # Another tenant's admin works on its own (empty) configuration only.
        acme = (await c.get("/v1/config/queues", headers=api.auth("acme"))).json()
        assert acme == []

    run(tmp_path, scenario, db_url)


def test_extensions(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        body = problem(await c.put("/v1/extensions/1005", json={"name": "Eve"},
                                   headers=admin), 422)
        assert fields(body) == ["body.password"]
        short = problem(await c.put("/v1/extensions/1005", json={"password": "123"},
                                    headers=admin), 422)
        assert fields(short) == ["body.password"]
        made = await c.put("/v1/extensions/1005", json={"password": "secret-1005",
                                                        "name": "Eve"}, headers=admin)
        assert made.status_code == 201, made.text
        renamed = await c.put("/v1/extensions/1005", json={"name": "Eve L."}, headers=admin)
        assert renamed.status_code == 200
        stored = api.store.get_extension("default", "1005")
        assert stored is not None and stored.display_name == "Eve L." and stored.ha1_md5
        listed = (await c.get("/v1/extensions", headers=admin)).json()
        assert {"number": "1005", "name": "Eve L."} in listed
        assert (await c.delete("/v1/extensions/1005", headers=admin)).status_code == 204
        problem(await c.delete("/v1/extensions/1005", headers=admin), 404)
        problem(await c.put("/v1/extensions/10 05", json={"password": "secret-1005"},
                            headers=admin), 422)

    run(tmp_path, scenario, db_url)


def test_rate_tables_are_one_section(tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        assert (await c.get("/v1/config/rates", headers=admin)).json() == {}
        rates = {"tables": [{"name": "retail", "increment": "6/6",
                             "rates": [{"prefix": "44", "price": "0.02"},
                                       {"prefix": "1", "price": "0.01"}]}],
                 "default": "retail"}
        done = await c.put("/v1/config/rates", json=rates, headers=admin)
        assert done.status_code == 200, done.text
        stored = (await c.get("/v1/config/rates", headers=admin)).json()
        assert stored["default"] == "retail"
        assert sorted(r["prefix"] for r in stored["tables"][0]["rates"]) == ["1", "44"]
        bad = {**rates, "tables": [{"name": "retail", "increment": "6/0",
                                    "rates": [{"prefix": "44", "price": -1}]}]}
        body = problem(await c.put("/v1/config/rates", json=bad, headers=admin), 422)
        assert all(f.startswith("body.tables[0]") for f in fields(body)), body
        problem(await c.put("/v1/config/rates/retail", json={}, headers=admin), 404)

    run(tmp_path, scenario, db_url)


def test_dispositions_start_from_the_defaults_in_force(tmp_path: Path,
                                                       db_url: str | None) -> None:
    """A tenant listing no dispositions has the default ones: they are what the section
    reads, and adding or deleting a code keeps the others."""
    async def scenario(api: Api) -> None:
        c, admin = api.client, api.auth("admin")
        in_force = [(d["code"], d["label"], d["callback"])
                    for d in (await c.get("/v1/dispositions", headers=admin)).json()]
        listed = (await c.get("/v1/config/dispositions", headers=admin)).json()
        assert [(d["code"], d["label"], d["callback"]) for d in listed] == in_force
        assert len(in_force) > 1
        added = await c.put("/v1/config/dispositions/refund", json={"label": "Refund"},
                            headers=admin)
        assert added.status_code == 201, added.text
        codes = [d["code"] for d in (await c.get("/v1/config/dispositions",
                                                 headers=admin)).json()]
        assert codes == [code for code, _, _ in in_force] + ["refund"]
        agents_see = [d["code"] for d in (await c.get("/v1/dispositions",
                                                      headers=admin)).json()]
        assert agents_see == codes
        # A default one deleted: the rest stay.
        deleted = await c.delete("/v1/config/dispositions/other", headers=admin)
        assert deleted.status_code == 204, deleted.text
        left = [d["code"] for d in (await c.get("/v1/dispositions", headers=admin)).json()]
        assert left == [code for code in codes if code != "other"]

    run(tmp_path, scenario, db_url)
