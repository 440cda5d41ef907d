"""Announcements through the API: a supervisor puts one on the agents' desktops (stored, and
published on the bus for the open ones), agents read but never make them, bad ones are named
by field, and another tenant sees none; the alarms raised now are listed for the console."""

from __future__ import annotations

import time
from pathlib import Path

from api.test_api_core import Api, fields, problem, run
from pycc.bus import Event


def test_announcements_reach_the_agents_and_only_supervisors_make_them(
        tmp_path: Path, db_url: str | None) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        published: list[Event] = []
        api.switch.bus.subscribe("announcement", published.append)
        made = await c.post("/v1/announcements", json={"text": "CRM down until noon",
                                                       "minutes": 30},
                            headers=api.auth("super"))
        assert made.status_code == 201, made.text
        notice = made.json()
        assert notice["author"] == "super"
        assert 29 * 60 < notice["until"] - time.time() <= 30 * 60
        assert [e.data["text"] for e in published] == ["CRM down until noon"]
        # Every user of the tenant reads it; another tenant does not see it.
        for who in ("alice", "admin"):
            shown = (await c.get("/v1/announcements", headers=api.auth(who))).json()
            assert [n["text"] for n in shown] == ["CRM down until noon"], who
        assert (await c.get("/v1/announcements", headers=api.auth("acme"))).json() == []
        # Agents do not announce; bad ones are named by field.
        problem(await c.post("/v1/announcements", json={"text": "hi", "minutes": 5},
                             headers=api.auth("alice")), 403)
        for body, field in (({"text": "", "minutes": 5}, "body.text"),
                            ({"text": "x" * 501, "minutes": 5}, "body.text"),
                            ({"text": "ok", "minutes": 0}, "body.minutes"),
                            ({"text": "ok", "minutes": "ten"}, "body.minutes")):
            answer = problem(await c.post("/v1/announcements", json=body,
                                          headers=api.auth("admin")), 422)
            assert fields(answer) == [field], body
        # Taken off: gone for everyone, and the open desktops are told.
        gone = await c.delete(f"/v1/announcements/{notice['id']}", headers=api.auth("admin"))
        assert gone.status_code == 204
        assert (await c.get("/v1/announcements", headers=api.auth("alice"))).json() == []
        assert published[-1].data == {"id": notice["id"], "withdrawn": True}
        problem(await c.delete(f"/v1/announcements/{notice['id']}",
                               headers=api.auth("admin")), 404)
        # The console's monitoring page: the alarms raised now (none on a quiet switch).
        alarms = await c.get("/v1/alarms", headers=api.auth("super"))
        assert alarms.status_code == 200 and isinstance(alarms.json(), list)
        problem(await c.get("/v1/alarms", headers=api.auth("alice")), 403)

    run(tmp_path, scenario, db_url)
