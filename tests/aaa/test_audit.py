"""The audit log: entries written with their change, read back with filters a page at a
time; ``pycc apply`` writes one entry per changed object (SQLite and PostgreSQL)."""

from __future__ import annotations

import getpass
from collections.abc import Callable

import pytest
from sqlmodel import Session

from pycc.aaa import audit
from pycc.aaa.audit import MAX_PAGE, Origin, detail_of, query, record
from pycc.provision.schema import CallCenterSpec, validate
from pycc.provision.source import ApplyError, load
from pycc.provision.sync import apply
from pycc.store import Store
from pycc.store.admin_models import AuditEntry

NOW = 1_700_000_000.0
CLI = Origin("ops", "cli")
API = Origin("boss@acme", "api")


@pytest.fixture
def spec_of() -> Callable[[str], CallCenterSpec]:
    """Validate YAML text that must be valid."""

    def build(text: str) -> CallCenterSpec:
        source = load(text, "test.yaml")
        spec, errors = validate(source.data, source=source)
        assert spec is not None, "\n".join(map(str, errors))
        return spec

    return build


def write(store: Store, count: int, *, tenant: str = "acme", origin: Origin = CLI,
          start: float = NOW, action: str = "update") -> None:
    def work(session: Session) -> None:
        for i in range(count):
            record(session, now=start + i, tenant=tenant, origin=origin, action=action,
                   target_kind="queue", target_id=f"q{i}", detail={"n": i})

    store.write(work)


def test_an_entry_reads_back_as_written(store: Store) -> None:
    write(store, 1, origin=API)
    (entry,) = query(store).entries
    assert (entry.at, entry.tenant, entry.actor, entry.source, entry.action, entry.target_kind,
            entry.target_id) == (NOW, "acme", "boss@acme", "api", "update", "queue", "q0")
    assert detail_of(entry) == {"n": 0}


def test_an_entry_is_written_only_with_its_transaction(store: Store) -> None:
    def work(session: Session) -> None:
        record(session, now=NOW, tenant="acme", origin=CLI, action="create",
               target_kind="user", target_id="ann")
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        store.write(work)
    assert query(store).entries == []


def test_filters_combine(store: Store) -> None:
    write(store, 3, tenant="acme", origin=CLI)
    write(store, 2, tenant="globex", origin=API, start=NOW + 100, action="delete")
    assert len(query(store).entries) == 5
    assert {e.tenant for e in query(store, tenant="globex").entries} == {"globex"}
    assert [e.target_id for e in query(store, actor="ops", since=NOW + 1).entries] == [
        "q1", "q2"]
    assert [e.at for e in query(store, until=NOW + 2).entries] == [NOW, NOW + 1]
    assert len(query(store, source="api", action="delete", target_kind="queue").entries) == 2
    assert [e.tenant for e in query(store, target_id="q1").entries] == ["acme", "globex"]
    assert query(store, tenant="acme", action="delete").entries == []


def test_pages_follow_each_other_by_id_without_gaps_or_repeats(store: Store) -> None:
    write(store, 7)
    seen: list[int] = []
    after: int | None = None
    pages = 0
    while True:
        page = query(store, after=after, limit=3)
        pages += 1
        seen.extend(e.id for e in page.entries if e.id is not None)
        if page.next_after is None:
            break
        assert page.next_after == page.entries[-1].id
        after = page.next_after
    assert pages == 3 and len(seen) == 7 and seen == sorted(set(seen))
    # A page that is exactly full but last says so.
    assert query(store, limit=7).next_after is None


def test_entries_appended_between_pages_are_not_skipped(store: Store) -> None:
    write(store, 2)
    first = query(store, limit=2)
    write(store, 1, start=NOW + 50)
    assert first.next_after is None
    last_id = first.entries[-1].id
    later = query(store, after=last_id)
    assert [e.at for e in later.entries] == [NOW + 50]


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"limit": 0}, "limit: must be between 1 and 1000, not 0"),
    ({"limit": MAX_PAGE + 1}, "limit: must be between 1 and 1000"),
    ({"after": -1}, "after: must not be negative"),
])
def test_bad_query_arguments_are_named(store: Store, kwargs: dict[str, int], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        query(store, **kwargs)  # type: ignore[arg-type]


def test_hostile_filter_values_are_only_compared(store: Store) -> None:
    write(store, 1)
    assert query(store, tenant="acme' OR '1'='1").entries == []
    assert len(query(store).entries) == 1


@pytest.mark.parametrize(("actor", "source", "says"), [
    ("", "cli", "actor: must not be empty"),
    ("ops", "web", "source: must be one of api, cli, apply, not 'web'"),
])
def test_an_origin_needs_an_actor_and_a_known_source(actor: str, source: str,
                                                     says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Origin(actor, source)


def test_an_oversized_detail_is_refused(store: Store) -> None:
    def work(session: Session) -> None:
        record(session, now=NOW, tenant="acme", origin=CLI, action="update",
               target_kind="queue", target_id="q", detail={"blob": "x" * 20_000})

    with pytest.raises(ValueError, match=r"detail: .* more than 16384"):
        store.write(work)


def test_a_detail_that_is_not_an_object_reads_as_empty() -> None:
    entry = AuditEntry(at=NOW, tenant="acme", actor="a", action="x", target_kind="k",
                       target_id="i", source="cli", detail="[1, 2]")
    assert detail_of(entry) == {}
    entry.detail = "not json"
    assert detail_of(entry) == {}


def test_the_local_actor_is_a_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    assert audit.local_actor() == "carol"

    def no_user() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert audit.local_actor() == "operator"


# -- pycc apply -----------------------------------------------------------------------------

FILE = """\
tenant: acme
extensions:
  - {number: "1001", password: topsecret1001}
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
"""


def test_apply_writes_one_entry_per_changed_object(
        store: Store, spec_of: Callable[[str], CallCenterSpec]) -> None:
    ops = Origin("ops", "apply")
    result = apply(store, spec_of(FILE), NOW, origin=ops)
    made = query(store, tenant="acme").entries
    assert [(e.target_kind, e.target_id) for e in made] == list(result.created)
    assert result.created == (("extension", "1001"), ("agent", "alice"), ("queue", "sales"))
    assert {(e.action, e.actor, e.source, e.at) for e in made} == {("create", "ops", "apply",
                                                                    NOW)}
    assert {detail_of(e)["version"] for e in made} == {result.version}
    assert all("topsecret1001" not in e.detail for e in made)


def test_reapplying_or_a_dry_run_writes_no_entry(
        store: Store, spec_of: Callable[[str], CallCenterSpec]) -> None:
    apply(store, spec_of(FILE), NOW)
    before = len(query(store).entries)
    apply(store, spec_of(FILE), NOW + 1)
    changed = FILE.replace("{name: sales, skill: sales}", "{name: sales, skill: sales, "
                                                          "wrapup: 9}")
    dry = apply(store, spec_of(changed), NOW + 2, dry_run=True)
    assert dry.updated == (("queue", "sales"),)
    assert len(query(store).entries) == before


def test_apply_entries_say_update_and_delete(
        store: Store, spec_of: Callable[[str], CallCenterSpec]) -> None:
    apply(store, spec_of(FILE), NOW)
    after = query(store).entries[-1].id
    changed = FILE.replace("{name: sales, skill: sales}", "{name: sales, skill: sales, "
                                                          "wrapup: 9}")
    changed = changed.replace("extensions:\n  - {number: \"1001\", password: topsecret1001}\n",
                              "extensions:\n  - {number: \"1001\", password: topsecret1001}\n"
                              "  - {number: \"1002\", password: othersecret2}\n")
    apply(store, spec_of(changed), NOW + 5)
    apply(store, spec_of(changed.replace("queues:\n  - {name: sales, skill: sales, wrapup: 9}\n",
                                         "queues: []\n")), NOW + 6)
    later = query(store, after=after).entries
    assert [(e.action, e.target_kind, e.target_id) for e in later] == [
        ("create", "extension", "1002"), ("update", "queue", "sales"),
        ("delete", "queue", "sales")]
    assert {e.actor for e in later} == {"operator"}  # apply's default origin


def test_a_failed_apply_writes_no_entry(store: Store,
                                        spec_of: Callable[[str], CallCenterSpec]) -> None:
    with pytest.raises(ApplyError, match="realm"):
        apply(store, spec_of("tenant: acme\nrealm: other.example\n"
                             "queues:\n  - {name: q, skill: s}\n"), NOW)
    assert query(store).entries == []


def test_a_tenant_made_by_apply_is_audited_as_the_files_tenant(
        store: Store, spec_of: Callable[[str], CallCenterSpec]) -> None:
    apply(store, spec_of(FILE.replace("tenant: acme", "tenant: initech")), NOW)
    made = query(store, tenant="initech").entries
    assert [(e.action, e.target_kind, e.target_id) for e in made][:2] == [
        ("create", "tenant", "initech"), ("create", "extension", "1001")]
    assert query(store, tenant="acme").entries == []
