"""Reports through the admin API: the list, every report as JSON, CSV and the daily chart,
options as query parameters with bad ones named, and who may read what (an agent only its
own agent reports, another tenant nothing)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

from api.test_api_core import Api, fields, problem, run
from pycc.aaa.reports import AGENT_REPORTS, REPORTS
from pycc.store.models import CallRecord

T0 = 1_741_500_000.0  # 2025-03-09T06:00:00Z


def add_calls(api: Api) -> None:
    tenant = api.store.get_tenant("default")
    assert tenant is not None and tenant.id is not None
    for n, agent in enumerate(["alice", "alice", "bob", None]):
        start = T0 + 3600 * n
        api.store.add_call_record(CallRecord(
            tenant_id=tenant.id, call_id=f"api-{n}", caller="+12125550100", callee="8000",
            direction="inbound", start=start, answer=start + 1, end=start + 61,
            disposition="answered", hangup_cause="200 BYE", hangup_by="caller",
            sip_status=200, duration=60.0, queue="sales", queue_wait=8.0 * (n + 1),
            agent=agent, agent_answer=start + 9 if agent else None,
            talk_seconds=50.0 if agent else 0.0, hold_seconds=0.0))


def test_reports_as_json_csv_and_svg(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        add_calls(api)
        listed = (await c.get("/v1/reports", headers=api.auth("super"))).json()
        assert listed == {name: spec.title for name, spec in sorted(REPORTS.items())}
        for name, spec in REPORTS.items():
            response = await c.get(f"/v1/reports/{name}", headers=api.auth("admin"))
            assert response.status_code == 200, (name, response.text)
            for row in response.json():
                assert list(row) == list(spec.columns), name
        levels = await c.get("/v1/reports/service-level", headers=api.auth("super"),
                             params={"threshold": "20", "since": str(T0)})
        (sales,) = levels.json()
        assert (sales["offered"], sales["answered"], sales["answered_in_target"],
                sales["abandoned"]) == (4, 3, 2, 1)
        text = await c.get("/v1/reports/calls", headers=api.auth("super"),
                           params={"format": "csv", "limit": "2"})
        assert text.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(text.text)))
        assert [row["call_id"] for row in rows] == ["api-3", "api-2"]
        chart = await c.get("/v1/reports/summary-daily", headers=api.auth("super"),
                            params={"format": "svg", "tz": "America/New_York"})
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert ET.fromstring(chart.text).tag.endswith("svg")
        days = await c.get("/v1/reports/summary-daily", headers=api.auth("super"),
                           params={"tz": "America/New_York", "since": "2025-03-09"})
        assert [(r["day"], r["calls"], r["abandoned"]) for r in days.json()] == [
            ("2025-03-09", 4, 1)]

    run(tmp_path, scenario)


def test_bad_report_options_are_named(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        for name, params, field in [
            ("calls", {"since": "tomorrow"}, "query.since"),
            ("calls", {"since": "10", "until": "5"}, "query.until"),
            ("summary-daily", {"tz": "Atlantis/Capital"}, "query.tz"),
            ("summary-daily", {"tz": "../../../etc/passwd"}, "query.tz"),
            ("calls", {"limit": "0"}, "query.limit"),
            ("agents", {"format": "svg"}, "query.format"),
            ("calls", {"format": "table"}, "query.format"),
            ("ivr-keys", {"since": "5"}, "query.since"),
            ("billing", {"queue": "sales"}, "query.queue"),
            ("service-level", {"threshold": "-1"}, "query.threshold"),
        ]:
            response = await c.get(f"/v1/reports/{name}", headers=api.auth("admin"),
                                   params=params)
            assert fields(problem(response, 422)) == [field], (name, params)
        body = problem(await c.get("/v1/reports/nothing", headers=api.auth("admin")), 404)
        assert fields(body) == ["path.name"]

    run(tmp_path, scenario)


def test_an_agent_reads_only_its_own_agent_reports(tmp_path: Path) -> None:
    async def scenario(api: Api) -> None:
        c = api.client
        add_calls(api)
        listed = (await c.get("/v1/reports", headers=api.auth("alice"))).json()
        assert set(listed) == set(AGENT_REPORTS)
        mine = await c.get("/v1/reports/agents", headers=api.auth("alice"))
        assert mine.status_code == 200, mine.text
        assert [(r["agent"], r["calls"]) for r in mine.json()] == [("alice", 2)]
        hourly = await c.get("/v1/reports/agent-hourly", headers=api.auth("bob"))
        assert {r["agent"] for r in hourly.json()} == {"bob"}
        same = await c.get("/v1/reports/agents", headers=api.auth("alice"),
                           params={"agent": "alice"})
        assert same.json() == mine.json()
        problem(await c.get("/v1/reports/agents", headers=api.auth("alice"),
                            params={"agent": "bob"}), 403)
        for name in ("calls", "records", "summary-daily", "customers", "billing",
                     "campaign"):
            problem(await c.get(f"/v1/reports/{name}", headers=api.auth("alice")), 403)
        # The supervisor sees every agent; another tenant's admin sees none of them.
        everyone = await c.get("/v1/reports/agents", headers=api.auth("super"))
        assert [r["agent"] for r in everyone.json()] == ["alice", "bob"]
        other = await c.get("/v1/reports/agents", headers=api.auth("acme"))
        assert other.status_code == 200 and other.json() == []
        log = await c.get("/v1/reports/calls", headers=api.auth("acme"))
        assert log.json() == []
        problem(await c.get("/v1/reports/agents"), 401)

    run(tmp_path, scenario)
