"""Call reports on SQLite and PostgreSQL: summaries by local hour and day (across daylight
saving changes), wrap-up, customers, the call log and records, queue service level, billing,
IVR keys and the dialer's reports, each checked against figures computed here from the
hand-made records.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pycc.aaa.reports import REPORTS, ReportError, ReportOptions, sql
from pycc.aaa.reports.calls import RECORD_COLUMNS
from pycc.pds.campaign import CampaignConfig
from pycc.pds.contacts import parse_csv
from pycc.pds.store import DialerStore
from pycc.store.config_models import ConfigObject
from pycc.store.repo import Store

NEW_YORK = ZoneInfo("America/New_York")
#: Around the autumn change in New York: 2025-11-02 02:00 EDT becomes 01:00 EST at 06:00Z.
AUTUMN = datetime(2025, 11, 2, 4, 0, tzinfo=ZoneInfo("UTC")).timestamp()
#: The spring change: 2025-03-09 02:00 EST becomes 03:00 EDT at 07:00Z.
SPRING = datetime(2025, 3, 9, 7, 0, tzinfo=ZoneInfo("UTC")).timestamp()


def tenant_of(store: Store, name: str) -> int:
    tenant = store.get_tenant(name)
    assert tenant is not None and tenant.id is not None
    return tenant.id


def record(tenant_id: int, call_id: str, start: float, **values: Any) -> dict[str, Any]:
    """A closed call record: answered and 60 s long unless ``values`` say otherwise."""
    disposition = values.pop("disposition", "answered")
    answered = disposition == "answered"
    duration = values.pop("duration", 60.0 if answered else 0.0)
    row: dict[str, Any] = {
        "tenant_id": tenant_id, "call_id": call_id, "caller": "+12125550100",
        "callee": "8000", "direction": "inbound", "start": start,
        "answer": start + 2 if answered else None, "end": start + 2 + duration,
        "disposition": disposition, "hangup_cause": "200 BYE" if answered else "487 Cancel",
        "hangup_by": "caller", "sip_status": 200 if answered else 487, "duration": duration,
        "state": "closed", "trunk": None, "queue": None, "queue_wait": None, "agent": None,
        "agent_answer": None, "campaign": None, "talk_seconds": duration if answered else 0.0,
        "hold_seconds": 0.0, "cost": 0,
    }
    row.update(values)
    return row


def save(store: Store, rows: list[dict[str, Any]]) -> None:
    keys = set().union(*(row.keys() for row in rows))
    store.add_call_records([{key: row.get(key) for key in sorted(keys)} for row in rows])


def local_day(start: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(start, zone).date().isoformat()


def local_hour(start: float, zone: ZoneInfo) -> str:
    moment = datetime.fromtimestamp(start, zone)
    return moment.replace(minute=0, second=0, microsecond=0).isoformat(timespec="minutes")


def expected_summary(rows: list[dict[str, Any]], bucket: Any) -> list[tuple[Any, ...]]:
    """(bucket, direction, calls, answered, abandoned, avg talk, ASR %) from the records."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["state"] != "closed":
            continue
        groups.setdefault((bucket(row["start"]), row["direction"]), []).append(row)
    result = []
    for (label, direction), mine in groups.items():
        answered = [r for r in mine if r["disposition"] == "answered"]
        abandoned = [r for r in mine if r["queue"] is not None and r["agent_answer"] is None]
        talk = sum(r["talk_seconds"] or 0 for r in mine)
        result.append((label, direction, len(mine), len(answered), len(abandoned),
                       round(talk / len(answered), 3) if answered else None,
                       round(100 * len(answered) / len(mine), 2)))
    return result


def summary_tuples(found: list[dict[str, Any]], key: str) -> list[tuple[Any, ...]]:
    return [(r[key], r["direction"], r["calls"], r["answered"], r["abandoned"], r["avg_talk"],
             r["asr_pct"]) for r in found]


def dst_calls(acme: int) -> list[dict[str, Any]]:
    """Calls either side of both changes, in and out, some abandoned, one still up."""
    starts = [AUTUMN - 60, AUTUMN + 60, AUTUMN + 5400, AUTUMN + 7200 + 1800,
              AUTUMN + 7200 + 3000, AUTUMN + 10800 + 60, SPRING - 1800, SPRING - 1,
              SPRING, SPRING + 3599]
    rows = []
    for n, start in enumerate(starts):
        values: dict[str, Any] = {}
        if n % 3 == 1:
            values = {"direction": "outbound", "callee": "+4930555", "caller": "1001"}
        if n % 4 == 2:
            values.update(disposition="no-answer")
        if n % 5 == 3:
            values.update(queue="sales", queue_wait=30.0, talk_seconds=0.0)
        if n in (0, 4):
            values.update(queue="sales", queue_wait=5.0, agent="alice",
                          agent_answer=start + 7, talk_seconds=50.0)
        rows.append(record(acme, f"dst-{n}", start, **values))
    rows.append(record(acme, "still-up", AUTUMN + 100, state="open",
                       disposition="in-progress"))
    return rows


@pytest.mark.parametrize("tz", ["America/New_York", "UTC", "Asia/Kolkata"])
def test_daily_and_hourly_summaries_bucket_by_local_time(store: Store, tz: str) -> None:
    acme = tenant_of(store, "acme")
    rows = dst_calls(acme)
    save(store, rows)
    save(store, [record(tenant_of(store, "globex"), "other", AUTUMN)])
    zone = ZoneInfo(tz)
    options = ReportOptions(tz=tz)
    daily = REPORTS["summary-daily"].run(store, "acme", options)
    want = expected_summary(rows, lambda s: local_day(s, zone))
    assert summary_tuples(daily, "day") == sorted(want, key=lambda t: (t[0], t[1]))
    hourly = REPORTS["summary-hourly"].run(store, "acme", options)
    want = expected_summary(rows, lambda s: local_hour(s, zone))
    # Hours in time order: by the instant each begins.
    assert summary_tuples(hourly, "hour") == sorted(
        want, key=lambda t: (datetime.fromisoformat(t[0]), t[1]))
    for found in (daily, hourly):
        for row in found:
            assert list(row) == list(REPORTS["summary-daily" if "day" in row
                                             else "summary-hourly"].columns)


def test_the_repeated_autumn_hour_is_two_buckets_and_spring_skips_one(store: Store) -> None:
    acme = tenant_of(store, "acme")
    save(store, dst_calls(acme))
    hours = [r["hour"] for r in REPORTS["summary-hourly"].run(
        store, "acme", ReportOptions(tz="America/New_York"))]
    assert "2025-11-02T01:00-04:00" in hours and "2025-11-02T01:00-05:00" in hours
    assert "2025-03-09T01:00-05:00" in hours and "2025-03-09T03:00-04:00" in hours
    assert not any(hour.startswith("2025-03-09T02") for hour in hours)
    days = {r["day"] for r in REPORTS["summary-daily"].run(
        store, "acme", ReportOptions(tz="America/New_York"))}
    # 04:00Z minus a minute is still the evening before in New York.
    assert days == {"2025-11-01", "2025-11-02", "2025-03-09"}


def test_summaries_filter_by_range_agent_queue_and_campaign(store: Store) -> None:
    acme = tenant_of(store, "acme")
    rows = dst_calls(acme)
    rows.append(record(acme, "camp", AUTUMN + 30, direction="outbound", campaign="spring"))
    save(store, rows)
    since, until = AUTUMN, AUTUMN + 7200
    options = ReportOptions(since=since, until=until)
    found = REPORTS["summary-daily"].run(store, "acme", options)
    inside = [r for r in rows if since <= r["start"] < until]
    assert summary_tuples(found, "day") == sorted(
        expected_summary(inside, lambda s: local_day(s, ZoneInfo("UTC"))))
    assert sum(r["calls"] for r in REPORTS["summary-daily"].run(
        store, "acme", ReportOptions(agent="alice"))) == 2
    assert sum(r["abandoned"] for r in REPORTS["summary-daily"].run(
        store, "acme", ReportOptions(queue="sales"))) == sum(
        1 for r in rows if r["queue"] == "sales" and r["agent_answer"] is None)
    assert [r["calls"] for r in REPORTS["summary-hourly"].run(
        store, "acme", ReportOptions(campaign="spring"))] == [1]


def test_wrapup_counts_and_shares_per_disposition_and_cause(store: Store) -> None:
    acme = tenant_of(store, "acme")
    rows = [record(acme, f"a{n}", SPRING + n, duration=10.0 * (n + 1)) for n in range(5)]
    rows += [record(acme, f"b{n}", SPRING + 10 + n, disposition="busy",
                    hangup_cause="486 Busy Here") for n in range(3)]
    rows += [record(acme, "c", SPRING + 20, disposition="no-answer")]
    save(store, rows)
    found = REPORTS["wrapup"].run(store, "acme", ReportOptions())
    assert [(r["disposition"], r["hangup_cause"], r["calls"], r["share_pct"])
            for r in found] == [("answered", "200 BYE", 5, round(500 / 9, 2)),
                                ("busy", "486 Busy Here", 3, round(300 / 9, 2)),
                                ("no-answer", "487 Cancel", 1, round(100 / 9, 2))]
    assert found[0]["avg_duration"] == 30.0


def test_customers_are_the_outside_party_most_calls_first(store: Store) -> None:
    acme = tenant_of(store, "acme")
    rows = [
        record(acme, "1", SPRING, caller="+111"),
        record(acme, "2", SPRING + 10, caller="+111", disposition="cancelled"),
        record(acme, "3", SPRING + 20, direction="outbound", caller="1001", callee="+111"),
        record(acme, "4", SPRING + 30, caller="+222"),
        record(acme, "5", SPRING + 40, direction="internal", caller="1001", callee="1002"),
    ]
    save(store, rows)
    found = REPORTS["customers"].run(store, "acme", ReportOptions())
    assert [(r["customer"], r["calls"], r["inbound"], r["outbound"], r["answered"])
            for r in found] == [("+111", 3, 2, 1, 2), ("+222", 1, 1, 0, 1)]
    assert (found[0]["first_call"], found[0]["last_call"]) == (SPRING, SPRING + 20)
    assert found[0]["talk_seconds"] == 120.0
    assert [r["customer"] for r in REPORTS["customers"].run(
        store, "acme", ReportOptions(limit=1))] == ["+111"]


def test_call_log_and_records_newest_first_with_a_limit(store: Store) -> None:
    acme = tenant_of(store, "acme")
    rows = [record(acme, f"c{n}", SPRING + n * 60, agent="bob" if n % 2 else None,
                   cost=12_500 * n) for n in range(6)]
    rows.append(record(acme, "open", SPRING + 1000, state="open", disposition="in-progress"))
    save(store, rows)
    log = REPORTS["calls"].run(store, "acme", ReportOptions(limit=4))
    assert [r["call_id"] for r in log] == ["c5", "c4", "c3", "c2"]
    assert log[0]["cost"] == "0.062500" and list(log[0]) == list(REPORTS["calls"].columns)
    mine = REPORTS["calls"].run(store, "acme", ReportOptions(agent="bob"))
    assert [r["call_id"] for r in mine] == ["c5", "c3", "c1"]
    found = REPORTS["records"].run(store, "acme", ReportOptions(since=SPRING + 60,
                                                                 until=SPRING + 180))
    assert [r["call_id"] for r in found] == ["c2", "c1"]
    assert tuple(found[0]) == RECORD_COLUMNS and "mos_caller" in found[0]
    assert found[0]["cost"] == 25_000  # records keep the stored micro-units


def test_service_level_per_queue_with_its_own_target(store: Store) -> None:
    acme = tenant_of(store, "acme")
    store.write(lambda session: session.add(ConfigObject(
        tenant_id=acme, kind="queue", name="vip", updated=0.0,
        spec=json.dumps({"name": "vip", "skill": "vip", "service_level": 10}))))
    waits = {"sales": [(5, True), (19, True), (25, True), (40, False), (3, False)],
             "vip": [(5, True), (12, True), (50, False)]}
    rows = []
    for queue, calls in waits.items():
        for n, (wait, answered) in enumerate(calls):
            start = SPRING + 100 * n
            rows.append(record(acme, f"{queue}{n}", start, queue=queue, queue_wait=float(wait),
                               agent="alice" if answered else None,
                               agent_answer=start + wait if answered else None))
    rows.append(record(acme, "no-queue", SPRING))
    save(store, rows)

    def expect(queue: str, target: float) -> dict[str, Any]:
        calls = waits[queue]
        took = [w for w, a in calls if a]
        gave_up = [w for w, a in calls if not a]
        within = [w for w in took if w <= target]
        return {"queue": queue, "target_seconds": target, "offered": len(calls),
                "answered": len(took), "abandoned": len(gave_up),
                "answered_in_target": len(within),
                "service_level_pct": round(100 * len(within) / len(calls), 2),
                "asa": round(sum(took) / len(took), 3),
                "abandon_pct": round(100 * len(gave_up) / len(calls), 2),
                "avg_abandon_wait": round(sum(gave_up) / len(gave_up), 3)}

    found = REPORTS["service-level"].run(store, "acme", ReportOptions())
    assert found == [expect("sales", 20.0), expect("vip", 10.0)]
    found = REPORTS["service-level"].run(store, "acme", ReportOptions(threshold=30))
    assert found == [expect("sales", 30.0), expect("vip", 30.0)]
    assert REPORTS["service-level"].run(store, "acme", ReportOptions(queue="vip")) == [
        expect("vip", 10.0)]


def test_billing_adds_micro_units_exactly_per_day_and_trunk(store: Store) -> None:
    acme = tenant_of(store, "acme")
    costs = {"carrier": [1, 2_500_001, 333_333], "backup": [999_999]}
    rows = []
    for trunk, amounts in costs.items():
        for n, cost in enumerate(amounts):
            rows.append(record(acme, f"{trunk}{n}", SPRING - 3 * 3600 + n, direction="outbound",
                               trunk=trunk, cost=cost, duration=61.0))
    rows.append(record(acme, "unrated", SPRING - 3 * 3600, direction="outbound",
                       trunk="carrier", cost=None))
    rows.append(record(acme, "next-day", SPRING + 5 * 3600, direction="outbound",
                       trunk="carrier", cost=7))
    rows.append(record(acme, "inbound", SPRING, trunk="carrier"))
    save(store, rows)
    found = REPORTS["billing"].run(store, "acme", ReportOptions(tz="America/New_York"))
    total = sum(costs["carrier"])
    assert [(r["day"], r["trunk"], r["calls"], r["cost"], r["unrated"]) for r in found] == [
        ("2025-03-08", "backup", 1, "0.999999", 0),
        ("2025-03-08", "carrier", 4, f"{Decimal(total).scaleb(-6):.6f}", 1),
        ("2025-03-09", "carrier", 1, "0.000007", 0),
    ]
    assert found[1]["cost"] == "2.833335" and found[1]["tenant"] == "acme"
    assert found[1]["billed_seconds"] == 183.0 + 60.0


def test_ivr_keys_with_their_share_of_the_step(store: Store) -> None:
    acme = tenant_of(store, "acme")
    store.add_ivr_keys(acme, {("main", "menu", "1"): 6, ("main", "menu", "2"): 2,
                              ("main", "menu", "timeout"): 2, ("main", "pin", "1"): 1})
    found = REPORTS["ivr-keys"].run(store, "acme", ReportOptions())
    assert [(r["step"], r["key"], r["count"], r["share_pct"]) for r in found] == [
        ("menu", "1", 6, 60.0), ("menu", "2", 2, 20.0), ("menu", "timeout", 2, 20.0),
        ("pin", "1", 1, 100.0)]


def test_campaign_reports_come_from_the_dialer(store: Store) -> None:
    assert REPORTS["campaign"].run(store, "acme", ReportOptions()) == []
    dialer = DialerStore(store, "acme")
    for name in ("spring", "autumn"):
        dialer.save_campaign(CampaignConfig.from_dict({"name": name}), SPRING)
    line = 0
    for name, results, start in (("spring", ["connected", "connected", "busy"], SPRING),
                                 ("spring", ["abandoned"], SPRING + 600),
                                 ("autumn", ["busy"], SPRING)):
        numbers = "\n".join(f"+1212555{line + n:04d}" for n in range(len(results)))
        line += len(results)
        dialer.import_contacts(name, parse_csv(f"phone\n{numbers}\n",
                                               dialer.get_campaign(name)), start)
        claims = dialer.claim(name, len(results), start)
        for claim, result in zip(claims, results, strict=True):
            dialer.finish(claim.attempt_id, result, start + 30)
    spring = REPORTS["campaign"].run(store, "acme", ReportOptions(campaign="spring"))
    assert [(r["campaign"], r["dialed"], r["connected"], r["abandoned"]) for r in spring] \
        == [("spring", 4, 2, 1)]
    later = REPORTS["campaign"].run(store, "acme", ReportOptions(since=SPRING + 1))
    assert [(r["campaign"], r["dialed"]) for r in later] == [("autumn", 0), ("spring", 1)]
    results = REPORTS["results"].run(store, "acme", ReportOptions(campaign="spring"))
    assert [(r["result"], r["attempts"]) for r in results] == [
        ("connected", 2), ("abandoned", 1), ("busy", 1)]
    assert set(results[0]) == set(REPORTS["results"].columns)


def test_every_report_of_an_empty_tenant_is_empty(store: Store) -> None:
    for name, spec in REPORTS.items():
        assert spec.run(store, "globex", ReportOptions(now=SPRING)) == [], name


def test_an_unknown_tenant_is_named(store: Store) -> None:
    with pytest.raises(ReportError) as caught:
        REPORTS["summary-daily"].run(store, "initech", ReportOptions())
    assert caught.value.field == "tenant" and "initech" in str(caught.value)


@pytest.mark.parametrize("native", [True, False])
def test_buckets_are_exact_at_the_edges_with_or_without_floor(
        store: Store, native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call a millisecond before an hour or a day is in that hour and day, whether the
    database rounds down with its own floor or (SQLite built without it) with CAST."""
    if not native and store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always has floor")
    monkeypatch.setitem(sql._FLOOR, store.engine, native)
    acme = tenant_of(store, "acme")
    midnight = datetime(2025, 3, 10, tzinfo=NEW_YORK).timestamp()
    starts = [midnight - 0.001, midnight, midnight + 3600 - 0.001, midnight + 3600,
              3600.0 - 0.001, 3600.0]  # and two in 1970, New York's day still the 31st
    save(store, [record(acme, f"edge{n}", start) for n, start in enumerate(starts)])
    options = ReportOptions(tz="America/New_York")
    hours = [(r["hour"], r["calls"]) for r in REPORTS["summary-hourly"].run(
        store, "acme", options)]
    assert hours == [("1969-12-31T19:00-05:00", 1), ("1969-12-31T20:00-05:00", 1),
                     ("2025-03-09T23:00-04:00", 1), ("2025-03-10T00:00-04:00", 2),
                     ("2025-03-10T01:00-04:00", 1)]
    assert [hour for hour, _ in hours] == sorted({local_hour(s, NEW_YORK) for s in starts})
    days = [(r["day"], r["calls"]) for r in REPORTS["summary-daily"].run(
        store, "acme", options)]
    assert days == [("1969-12-31", 2), ("2025-03-09", 1), ("2025-03-10", 3)]
