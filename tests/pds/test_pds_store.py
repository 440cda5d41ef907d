"""`DialerStore`: imports all or nothing, claims that never hand a contact out twice, results
that settle once, recovery after a crash, and do-not-call checks at dial time.

Every test runs on a SQLite file and (marked ``peer``) on a throwaway PostgreSQL server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

import pycc.pds.store as dialer_store
from peers.postgres import PostgresUnavailable, postgres_unavailable, start_postgres
from pycc.pds.campaign import CampaignConfig
from pycc.pds.contacts import ImportReport, parse_csv
from pycc.pds.states import TransitionError
from pycc.pds.store import DialerStore
from pycc.store import NotFound, Store, StoreError, make_url

T0 = 1_750_000_000.0  # a Sunday, 2025-06-15 15:06:40 UTC
SPRING: dict[str, Any] = {
    "name": "spring", "queue": "sales", "country": "US",
    "caller_ids": ["+15551230000", "+15551230001", "+15551230002"],
    "retries": {"busy": {"max": 2, "after": 600}, "failed": {"max": 3, "after": 60},
                "abandoned": {"max": 2, "after": 300}},
}


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return make_url(tmp_path, None)
    server: str = request.getfixturevalue("pg_url")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return server


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = Store(url)
    opened.create_all()
    opened.ensure_tenant("default", "pycc")
    try:
        yield opened
    finally:
        opened.close()


def dialer_with(store: Store, **changes: Any) -> DialerStore:
    dialer = DialerStore(store)
    dialer.save_campaign(CampaignConfig.from_dict({**SPRING, **changes}), T0)
    return dialer


def contacts_csv(count: int, start: int = 0, **columns: str) -> str:
    header = ",".join(["phone", "id", *columns])
    rows = [",".join([f"+1212555{index:04d}", f"c{index}", *columns.values()])
            for index in range(start, start + count)]
    return "\n".join([header, *rows]) + "\n"


def report_of(text: str) -> ImportReport:
    return parse_csv(text, CampaignConfig.from_dict(SPRING))


# -- import ------------------------------------------------------------------------------------


def test_import_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    dialer = dialer_with(store)
    monkeypatch.setattr(dialer_store, "_CHUNK", 3)
    inserts = 0

    def fail_on_third_insert(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        nonlocal inserts
        if statement.startswith("INSERT INTO dialer_contacts"):
            inserts += 1
            if inserts == 3:
                raise RuntimeError("the disk is full")

    event.listen(store.engine, "before_cursor_execute", fail_on_third_insert)
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            dialer.import_contacts("spring", report_of(contacts_csv(10)), T0)
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_third_insert)
    assert inserts == 3  # two chunks were written before the failure, and rolled back
    assert dialer.contacts("spring") == []
    result = dialer.import_contacts("spring", report_of(contacts_csv(10)), T0)
    assert (result.added, result.skipped_existing) == (10, 0)


def test_a_constraint_failure_mid_import_writes_nothing(store: Store) -> None:
    dialer = dialer_with(store)
    good = report_of(contacts_csv(4)).good
    clash = ImportReport(good=[*good, good[1]])  # one id twice: only the database sees it
    with pytest.raises(StoreError, match="nothing written"):
        dialer.import_contacts("spring", clash, T0)
    assert dialer.campaign_status("spring")["total"] == 0


def test_importing_the_same_ids_again_adds_nothing(store: Store) -> None:
    dialer = dialer_with(store)
    first = dialer.import_contacts("spring", report_of(contacts_csv(5)), T0)
    again = dialer.import_contacts("spring", report_of(contacts_csv(5)), T0 + 10)
    more = dialer.import_contacts("spring", report_of(contacts_csv(5, start=3)), T0 + 20)
    assert (first.added, again.added, again.skipped_existing) == (5, 0, 5)
    assert (more.added, more.skipped_existing) == (3, 2)
    stored = dialer.contacts("spring")
    assert [c.external_id for c in stored] == [f"c{i}" for i in range(8)]
    assert stored[0].phone == "+12125550000" and stored[0].zone == "America/New_York"


def test_unknown_campaigns_and_tenants(store: Store) -> None:
    dialer = dialer_with(store)
    with pytest.raises(NotFound, match="no dialer campaign 'autumn'"):
        dialer.import_contacts("autumn", report_of(contacts_csv(1)), T0)
    with pytest.raises(NotFound):
        dialer.claim("autumn", 1, T0)
    with pytest.raises(NotFound, match="tenant 'nobody'"):
        DialerStore(store, "nobody").save_campaign(CampaignConfig.from_dict(SPRING), T0)
    with pytest.raises(NotFound):
        dialer.finish(12345, "busy", T0)
    with pytest.raises(ValueError, match="template"):
        dialer.save_campaign(CampaignConfig.from_dict({"name": "t", "template": True}))


def test_saving_a_campaign_keeps_its_state_and_updates_its_settings(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.set_campaign_state("spring", "running", T0)
    assert not dialer.save_campaign(CampaignConfig.from_dict({**SPRING, "ring_time": 40}))
    assert dialer.campaign_state("spring") == "running"
    assert dialer.get_campaign("spring").ring_time == 40.0
    assert dialer.campaign_names() == ["spring"]
    with pytest.raises(ValueError):
        dialer.set_campaign_state("spring", "paused")


# -- claim -------------------------------------------------------------------------------------


def test_claim_orders_by_priority_then_time_and_opens_attempts(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(
        "phone,id,priority,plan\n+12125550001,low,,a\n+12125550002,high,9,b\n"
        "+12125550003,mid,3,c\n+12125550004,low2,,d\n"), T0)
    claims = dialer.claim("spring", 3, T0 + 1, node="n1")
    assert [c.external_id for c in claims] == ["high", "mid", "low"]
    assert [c.attempt for c in claims] == [1, 1, 1]
    assert claims[0].fields == {"plan": "b"} and claims[0].zone == "America/New_York"
    # Caller IDs turn round-robin over the pool.
    assert len({c.caller_id for c in claims}) == 3
    assert all(c.caller_id in SPRING["caller_ids"] for c in claims)
    attempts = dialer.attempts("spring")
    assert [(a.id, a.contact_id, a.number, a.started, a.node) for a in attempts] == [
        (c.attempt_id, c.contact_id, c.phone, T0 + 1, "n1") for c in claims]
    assert dialer.campaign_status("spring")["dialing"] == 3
    rest = dialer.claim("spring", 10, T0 + 1)
    assert [c.external_id for c in rest] == ["low2"]
    assert dialer.claim("spring", 10, T0 + 1) == []
    assert dialer.claim("spring", 0, T0 + 1) == []


def test_contacts_are_not_claimed_before_their_time(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(1)), T0)
    assert dialer.claim("spring", 5, T0 - 1) == []
    assert len(dialer.claim("spring", 5, T0)) == 1


def claim_all(url: str, results: list[int], batch: int, start: threading.Barrier,
              errors: list[BaseException]) -> None:
    try:
        with Store(url) as own:
            dialer = DialerStore(own)
            start.wait(timeout=30)
            while True:
                claims = dialer.claim("spring", batch, T0 + 1)
                if not claims:
                    return
                results.extend(claim.contact_id for claim in claims)
                # A dialer places its calls between claims; SQLite's busy wait backs off, so
                # without a pause the first thread would take everything alone.
                time.sleep(0.005)
    except BaseException as exc:  # the main thread reports it
        errors.append(exc)


def test_concurrent_claims_never_take_a_contact_twice(store: Store, url: str) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(150)), T0)
    taken: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []
    start = threading.Barrier(3)
    threads = [threading.Thread(target=claim_all, args=(url, taken[i], 2 + i, start, errors))
               for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [contact for part in taken for contact in part]
    assert len(every) == len(set(every)) == 150
    assert sum(1 for part in taken if part) >= 2  # they really ran side by side
    assert len(dialer.attempts("spring")) == 150
    assert dialer.campaign_status("spring")["dialing"] == 150


def test_do_not_call_and_blacklist_are_checked_at_dial_time(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(4)), T0)
    # Listed after the import: the claim still refuses them.
    assert dialer.add_dnc("default", ["+12125550001", "+12125550001"], T0) == 1
    assert dialer.add_dnc("default", ["+12125550001"], T0) == 0
    assert dialer.dnc_numbers(["+12125550001", "+12125550002"]) == {"+12125550001"}
    claims = dialer.claim("spring", 10, T0 + 1, blocked=lambda number: number.endswith("3"))
    assert [c.phone for c in claims] == ["+12125550000", "+12125550002"]
    by_phone = {c.phone: c for c in dialer.contacts("spring")}
    for phone in ("+12125550001", "+12125550003"):
        assert (by_phone[phone].state, by_phone[phone].result) == ("done", "blocked")
    assert len(dialer.attempts("spring")) == 2  # blocked contacts were never dialed
    with pytest.raises(ValueError, match=r"not an E\.164"):
        dialer.add_dnc("default", ["2125550100"])


def test_contacts_outside_their_window_wait_for_it(store: Store) -> None:
    # 09:00-17:00 local. At T0 (15:06 UTC) it is 08:06 in Los Angeles, 11:06 in New York.
    dialer = dialer_with(store, window={"start": "09:00", "end": "17:00"})
    dialer.import_contacts("spring", report_of(
        "phone,id\n+14155550100,la\n+12125550100,ny\n"), T0)
    assert [c.external_id for c in dialer.claim("spring", 5, T0)] == ["ny"]
    la = next(c for c in dialer.contacts("spring") if c.external_id == "la")
    assert la.state == "ready" and la.next_at == 1_750_003_200.0  # 16:00 UTC, 09:00 PDT
    assert dialer.claim("spring", 5, la.next_at - 1) == []
    assert [c.external_id for c in dialer.claim("spring", 5, la.next_at)] == ["la"]


# -- finish, retries and callbacks -------------------------------------------------------------


def test_finish_settles_once_and_schedules_retries(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(1)), T0)
    (claim,) = dialer.claim("spring", 1, T0)
    outcome = dialer.finish(claim.attempt_id, "busy", T0 + 20, sip_status=486, call_id="x1")
    assert (outcome.state, outcome.result, outcome.next_at, outcome.changed) == \
        ("retry", "busy", T0 + 620, True)
    again = dialer.finish(claim.attempt_id, "no_answer", T0 + 30)
    assert (again.changed, again.result, again.state) == (False, "busy", "retry")
    (attempt,) = dialer.attempts("spring")
    assert (attempt.ended, attempt.result, attempt.sip_status, attempt.call_id) == \
        (T0 + 20, "busy", 486, "x1")
    assert dialer.claim("spring", 1, T0 + 619) == []
    (second,) = dialer.claim("spring", 1, T0 + 620)
    assert second.attempt == 2 and second.caller_id != claim.caller_id
    last = dialer.finish(second.attempt_id, "busy", T0 + 700)
    assert (last.state, last.next_at) == ("done", None)
    contact = dialer.contact_of(claim.contact_id)
    assert (contact.state, contact.result, contact.attempts) == ("done", "busy", 2)
    assert dialer.claim("spring", 1, T0 + 10_000) == []
    with pytest.raises(ValueError, match="unknown result"):
        dialer.finish(second.attempt_id, "answered", T0)


def test_answered_and_connected_progress_is_recorded(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(2)), T0)
    first, second = dialer.claim("spring", 2, T0)
    assert dialer.mark_answered(first.attempt_id, T0 + 5)
    assert not dialer.mark_answered(first.attempt_id, T0 + 6)
    assert dialer.mark_connected(first.attempt_id, T0 + 6, agent="alice")
    assert not dialer.mark_connected(first.attempt_id, T0 + 7)
    # However the call ends, a customer who reached an agent is done and connected.
    outcome = dialer.finish(first.attempt_id, "failed", T0 + 90)
    assert (outcome.state, outcome.result) == ("done", "connected")
    attempt = dialer.attempts("spring")[0]
    assert (attempt.answered, attempt.connected, attempt.agent) == (T0 + 5, T0 + 6, "alice")
    abandoned = dialer.finish(second.attempt_id, "abandoned", T0 + 8)
    assert (abandoned.state, abandoned.next_at) == ("retry", T0 + 308)
    assert dialer.attempts("spring")[1].answered == T0 + 8


def test_a_contact_in_the_wrong_state_is_refused_and_nothing_written(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(1)), T0)
    (claim,) = dialer.claim("spring", 1, T0)
    dialer.mark_answered(claim.attempt_id, T0 + 1)
    with pytest.raises(TransitionError):
        dialer.finish(claim.attempt_id, "busy", T0 + 2)
    assert dialer.attempts("spring")[0].ended is None
    assert dialer.contact_of(claim.contact_id).state == "answered"


def test_callbacks_by_agents(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(3)), T0)
    first, second, third = dialer.claim("spring", 3, T0)
    # Asked for while talking: applied when the call ends.
    dialer.mark_connected(first.attempt_id, T0 + 5, agent="alice")
    dialer.schedule_callback(first.contact_id, T0 + 3600, "alice", now=T0 + 10)
    ended = dialer.finish(first.attempt_id, "connected", T0 + 60)
    assert (ended.state, ended.next_at) == ("scheduled", T0 + 3600)
    dialer.finish(second.attempt_id, "rejected", T0 + 5)
    dialer.finish(third.attempt_id, "busy", T0 + 5)
    # A finished contact can be scheduled again too, with a priority.
    dialer.schedule_callback(second.contact_id, T0 + 7200, priority=50)
    assert dialer.contact_of(second.contact_id).state == "scheduled"
    # Scheduled callbacks come before retries that are due too, higher priority first.
    claims = dialer.claim("spring", 3, T0 + 7200)
    assert [c.contact_id for c in claims] == \
        [second.contact_id, first.contact_id, third.contact_id]
    assert [c.callback_agent for c in claims] == [None, "alice", None]
    assert [c.attempt for c in claims] == [2, 2, 2]
    with pytest.raises(NotFound):
        dialer.schedule_callback(999_999, T0)


# -- recovery ----------------------------------------------------------------------------------


def test_recover_closes_calls_in_flight_and_never_redials_a_connected_one(
        store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(4)), T0)
    ringing, answered, talking, done = dialer.claim("spring", 4, T0, node="a")
    dialer.mark_answered(answered.attempt_id, T0 + 3)
    dialer.mark_connected(talking.attempt_id, T0 + 4, agent="bob")
    dialer.finish(done.attempt_id, "no_answer", T0 + 30)
    # The switch is killed here; on restart:
    result = dialer.recover("spring", T0 + 100)
    assert (result.failed, result.connected) == (2, 1)
    by_id = {a.contact_id: a for a in dialer.attempts("spring")}
    for claim in (ringing, answered):
        attempt = by_id[claim.contact_id]
        assert (attempt.result, attempt.note, attempt.ended) == \
            ("failed", "interrupted", T0 + 100)
        contact = dialer.contact_of(claim.contact_id)
        assert (contact.state, contact.next_at) == ("retry", T0 + 160)
    kept = dialer.contact_of(talking.contact_id)
    assert (kept.state, kept.result) == ("done", "connected")
    assert by_id[talking.contact_id].agent == "bob"
    # Recovering again finds nothing; the connected customer is never dialed again.
    assert dialer.recover("spring", T0 + 101) == dialer_store.RecoverResult(0, 0)
    redialed = dialer.claim("spring", 10, T0 + 10_000)
    assert sorted(c.contact_id for c in redialed) == \
        sorted([ringing.contact_id, answered.contact_id])
    assert dialer.campaign_status("spring") == {
        "ready": 0, "retry": 0, "scheduled": 0, "dialing": 2, "answered": 0,
        "connected": 0, "done": 2, "total": 4}


def test_recover_by_node_leaves_other_nodes_calls_alone(store: Store) -> None:
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(2)), T0)
    (mine,) = dialer.claim("spring", 1, T0, node="a")
    (theirs,) = dialer.claim("spring", 1, T0, node="b")
    assert dialer.recover("spring", T0 + 5, node="a") == dialer_store.RecoverResult(1, 0)
    assert dialer.contact_of(theirs.contact_id).state == "dialing"
    assert dialer.contact_of(mine.contact_id).state == "retry"


def test_release_gives_a_contact_back_without_counting_the_attempt(store: Store) -> None:
    """A preview the agent passed on: the attempt ends "skipped", the contact may be claimed
    again after the delay, and its attempt count is as before."""
    dialer = dialer_with(store)
    dialer.import_contacts("spring", report_of(contacts_csv(2)), T0)
    first, = dialer.claim("spring", 1, T0)
    assert dialer.release(first.attempt_id, T0 + 5, after=60.0, note="declined")
    contact = dialer.contact_of(first.contact_id)
    assert (contact.state, contact.attempts, contact.next_at) == ("retry", 0, T0 + 65)
    attempt, = [a for a in dialer.attempts("spring") if a.id == first.attempt_id]
    assert (attempt.result, attempt.note, attempt.ended) == ("skipped", "declined", T0 + 5)
    # Released once only, and a finished attempt cannot be released.
    assert not dialer.release(first.attempt_id, T0 + 6)
    assert [c.external_id for c in dialer.claim("spring", 2, T0 + 10)] == ["c1"]
    again, = dialer.claim("spring", 1, T0 + 65)
    assert again.contact_id == first.contact_id and again.attempt == 1
    dialer.finish(again.attempt_id, "busy", T0 + 70)
    assert not dialer.release(again.attempt_id, T0 + 71)
    assert dialer.find_contact("spring", "c0") == first.contact_id
    with pytest.raises(NotFound, match="no contact 'zz'"):
        dialer.find_contact("spring", "zz")
