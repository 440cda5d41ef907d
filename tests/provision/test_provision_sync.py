"""Applying a spec to the database: all or nothing, idempotent, and read back unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest
from sqlmodel import Session, col, select

from pycc.provision import sync
from pycc.provision.schema import CallCenterSpec
from pycc.provision.source import ApplyError
from pycc.provision.sync import ApplyResult, apply, load, stored_names, version
from pycc.store import ConfigObject, ConfigVersion, Store, StoreError, Tenant

SpecOf = Callable[[str], CallCenterSpec]
T0 = 1_700_000_000.0


def rows(store: Store) -> list[tuple[str, str, str, int, str, float]]:
    """Every stored object: (tenant, kind, name, position, spec, updated)."""
    with Session(store.engine) as session:
        found = session.exec(
            select(Tenant.name, ConfigObject)
            .join(Tenant, col(Tenant.id) == ConfigObject.tenant_id)
            .order_by(col(Tenant.name), col(ConfigObject.kind), col(ConfigObject.name)))
        return [(tenant, row.kind, row.name, row.position, row.spec, row.updated)
                for tenant, row in found]


def extensions(store: Store) -> list[tuple[str, str | None, str, str]]:
    return [(e.number, e.display_name, e.ha1_md5, e.ha1_sha256)
            for e in store.list_extensions()]


def snapshot(store: Store) -> tuple[object, ...]:
    with Session(store.engine) as session:
        versions = [tuple(v) for v in session.exec(
            select(ConfigVersion.tenant_id, ConfigVersion.version, ConfigVersion.updated))]
    return (rows(store), extensions(store), [(t.name, t.realm) for t in store.list_tenants()],
            versions)


def kinds(store: Store, kind: str) -> list[str]:
    return [name for _, k, name, *_ in rows(store) if k == kind]


def test_a_full_file_is_stored(store: Store, example_text: str, spec_of: SpecOf) -> None:
    spec = spec_of(example_text)
    result = apply(store, spec, T0)
    assert result.changed and not result.dry_run
    assert result.created[:4] == (("tenant", "default"), ("extension", "1001"),
                                  ("extension", "1002"), ("extension", "1003"))
    assert set(result.created[4:]) == {
        ("agent", "alice"), ("agent", "bob"), ("agent", "carol"), ("queue", "sales"),
        ("queue", "support"), ("ivr", "main"), ("ivr", "closed"), ("route", "8000"),
        ("route", "8001"), ("route", "outside"), ("trunk", "carrier"),
        ("trunk", "backup"), ("did", "+15551230000"), ("did", "+15551230001"),
        ("calendar", "holidays"), ("blacklist", "blacklist"), ("limits", "limits"),
        ("campaign", "spring"), ("disposition", "sale"), ("disposition", "no_sale"),
        ("disposition", "callback"), ("disposition", "dnc")}
    assert result.updated == result.deleted == ()
    assert result.version == 1 == version(store, "default")
    tenant = store.get_tenant("default")
    assert tenant is not None and tenant.realm == "pycc"
    # The entries as written, canonical JSON, in the file's order.
    stored = {(kind, name): (position, text) for _, kind, name, position, text, _ in rows(store)}
    assert stored["queue", "support"][0] == 1
    assert stored["route", "outside"] == (2, json.dumps(
        {"name": "outside", "match": "_9X.", "to": {"trunk": ["carrier", "backup"]},
         "translate": {"strip": 1}}, sort_keys=True, separators=(",", ":")))
    assert json.loads(stored["limits", "limits"][1]) == {"calls": 50}
    assert all(updated == T0 for *_, updated in rows(store))
    # Only the HA1 values, under the tenant's realm (RFC 7616 section 3.4.2).
    number, name, md5, sha256 = extensions(store)[0]
    assert (number, name) == ("1001", "Alice")
    assert md5 == hashlib.md5(b"1001:pycc:secret1001").hexdigest()
    assert sha256 == hashlib.sha256(b"1001:pycc:secret1001").hexdigest()


def test_applying_the_same_file_again_changes_nothing(store: Store, example_text: str,
                                                      spec_of: SpecOf) -> None:
    apply(store, spec_of(example_text), T0)
    before = snapshot(store)
    again = apply(store, spec_of(example_text), T0 + 60)
    assert again == ApplyResult(version=1)
    assert not again.changed
    assert snapshot(store) == before  # timestamps included


def test_changing_one_queue_updates_only_it(store: Store, example_text: str,
                                            spec_of: SpecOf) -> None:
    apply(store, spec_of(example_text), T0)
    before = {row[1:3]: row for row in rows(store)}
    changed = example_text.replace("    max_size: 20\n", "    max_size: 25\n")
    assert changed != example_text
    result = apply(store, spec_of(changed), T0 + 60)
    assert (result.created, result.updated, result.deleted) == ((), (("queue", "sales"),), ())
    assert result.version == 2
    after = {row[1:3]: row for row in rows(store)}
    assert set(after) == set(before)
    differing = {key for key in after if after[key] != before[key]}
    assert differing == {("queue", "sales")}
    assert after["queue", "sales"][5] == T0 + 60
    assert json.loads(after["queue", "sales"][4])["max_size"] == 25


def test_removing_an_agent_deletes_it_and_absent_sections_stay(store: Store,
                                                               example_text: str,
                                                               spec_of: SpecOf) -> None:
    apply(store, spec_of(example_text), T0)
    before = rows(store)
    result = apply(store, spec_of("""\
agents:
  - {id: alice, extension: "1001", skills: {sales: 5, support: 2}, name: Alice}
  - {id: carol, extension: "1003", skills: {support: 8}}
"""), T0 + 60)
    assert (result.created, result.updated, result.deleted) == (
        (), (("agent", "carol"),), (("agent", "bob"),))  # carol moved up one place
    assert kinds(store, "agent") == ["alice", "carol"]
    others = [row for row in rows(store) if row[1] != "agent"]
    assert others == [row for row in before if row[1] != "agent"]
    assert len(extensions(store)) == 3  # no extensions section: left alone


def test_an_empty_section_deletes_everything_of_its_kind(store: Store, example_text: str,
                                                         spec_of: SpecOf) -> None:
    apply(store, spec_of(example_text), T0)
    result = apply(store, spec_of("routes: []\nextensions: []\nlimits: {}\n"), T0 + 1)
    assert set(result.deleted) == {("route", "8000"), ("route", "8001"), ("route", "outside"),
                                   ("extension", "1001"),
                                   ("extension", "1002"), ("extension", "1003"),
                                   ("limits", "limits")}
    assert kinds(store, "route") == [] and extensions(store) == []
    assert kinds(store, "queue") == ["sales", "support"]


def test_extensions_are_updated_when_their_password_or_name_changes(
        store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of("extensions:\n  - {number: '1001', password: firstpass}\n"
                         "  - {number: '1002', password: otherpass}\n"), T0)
    first = extensions(store)
    result = apply(store, spec_of("extensions:\n  - {number: '1001', password: secondpass}\n"
                                  "  - {number: '1002', password: otherpass, name: Bo}\n"),
                   T0 + 1)
    assert result.updated == (("extension", "1001"), ("extension", "1002"))
    second = extensions(store)
    assert second[0][2] == hashlib.md5(b"1001:default:secondpass").hexdigest() != first[0][2]
    assert second[1][1:] == ("Bo", *first[1][2:])


def test_a_new_tenant_gets_the_default_realm_and_an_existing_one_keeps_its_own(
        store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of("tenant: acme\nlimits: {calls: 3}\n"), T0, default_realm="pycc.test")
    tenant = store.get_tenant("acme")
    assert tenant is not None and tenant.realm == "pycc.test"
    apply(store, spec_of("tenant: other\nlimits: {calls: 3}\n"), T0)
    other = store.get_tenant("other")
    assert other is not None and other.realm == "other"
    # Not naming a realm keeps the stored one; naming another is refused, nothing written.
    result = apply(store, spec_of("tenant: acme\nextensions: [{number: '7', password: "
                                  "password7}]\n"), T0, default_realm="else")
    assert result.created == (("extension", "7"),)
    assert store.list_extensions("acme")[0].ha1_md5 == \
        hashlib.md5(b"7:pycc.test:password7").hexdigest()
    before = snapshot(store)
    with pytest.raises(ApplyError, match=r"has realm 'pycc\.test'") as caught:
        apply(store, spec_of("tenant: acme\nrealm: new.realm\nlimits: {calls: 9}\n"), T0 + 1)
    assert caught.value.where == "realm"
    assert snapshot(store) == before


def test_tenants_are_kept_apart(store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of("tenant: a\nqueues: [{name: q1}]\n"), T0)
    apply(store, spec_of("tenant: b\nqueues: [{name: q2}]\n"), T0)
    assert [(t, name) for t, kind, name, *_ in rows(store)] == [("a", "q1"), ("b", "q2")]
    assert (version(store, "a"), version(store, "b"), version(store, "c")) == (1, 1, 0)
    assert stored_names(store, "a") == {"extensions": [], "queues": ["q1"]}
    assert stored_names(store, "nobody") == {}


def test_a_failure_halfway_leaves_the_database_unchanged(
        store: Store, example_text: str, spec_of: SpecOf,
        monkeypatch: pytest.MonkeyPatch) -> None:
    apply(store, spec_of(example_text), T0)
    before = snapshot(store)
    real = sync._sync_kind
    calls: list[str] = []

    def failing(session: Session, tenant_id: int, kind: str, *args: object) -> None:
        calls.append(kind)
        if kind == "route":  # agents and queues are written already
            raise RuntimeError("disk full")
        real(session, tenant_id, kind, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "_sync_kind", failing)
    changed = (example_text.replace("    max_size: 20\n", "    max_size: 21\n")
               .replace("{id: bob, ", "{id: robert, ")
               .replace('  - {number: "1003", password: secret1003, name: Carol}\n', ""))
    with pytest.raises(RuntimeError, match="disk full"):
        apply(store, spec_of(changed.replace('extension: "1003"', 'extension: "1004"')),
              T0 + 60)
    assert calls[:3] == ["agent", "queue", "ivr"]
    assert snapshot(store) == before


def test_a_constraint_violation_rolls_everything_back(
        store: Store, example_text: str, spec_of: SpecOf,
        monkeypatch: pytest.MonkeyPatch) -> None:
    apply(store, spec_of(example_text), T0)
    before = snapshot(store)
    spec = spec_of(example_text.replace("max_size: 20", "max_size: 30"))
    # Two routes under one name break the unique key (validation never lets that happen, so
    # the names are forced); the queue change written before it must go too.
    monkeypatch.setattr(sync, "route_names", lambda routes: ["same"] * len(routes))
    with pytest.raises(StoreError, match="nothing written"):
        apply(store, spec, T0 + 60)
    assert snapshot(store) == before


def test_a_dry_run_reports_and_writes_nothing(store: Store, example_text: str,
                                              spec_of: SpecOf) -> None:
    preview = apply(store, spec_of(example_text), T0, dry_run=True)
    assert preview.dry_run and preview.version == 1
    assert ("queue", "sales") in preview.created
    assert store.list_tenants() == [] and rows(store) == []
    real = apply(store, spec_of(example_text), T0)
    assert (real.created, real.version) == (preview.created, preview.version)


def test_load_gives_back_the_applied_spec(store: Store, example_text: str,
                                          spec_of: SpecOf) -> None:
    applied = spec_of(example_text)
    apply(store, applied, T0)
    loaded = load(store, "default")
    assert loaded is not None
    assert loaded == applied
    # Passwords are never stored: only numbers and names come back.
    assert [(e.number, e.name, e.password) for e in loaded.extensions] == [
        ("1001", "Alice", ""), ("1002", "Bob", ""), ("1003", "Carol", "")]
    assert loaded.sections >= {"extensions", "queues", "routes", "blacklist", "limits"}
    # The compiled parts work the same.
    assert [rule.name for rule in loaded.dial_plan.rules] == \
        [rule.name for rule in applied.dial_plan.rules]
    assert loaded.queues[1].config.skills.steps == applied.queues[1].config.skills.steps
    assert loaded.ivr["main"].flow == applied.ivr["main"].flow
    assert load(store, "nobody") is None


def test_a_changed_file_loads_back_changed(store: Store, example_text: str,
                                           spec_of: SpecOf) -> None:
    apply(store, spec_of(example_text), T0)
    changed = spec_of(example_text.replace("strategy: skill-weighted", "strategy: ring-all"))
    apply(store, changed, T0 + 1)
    loaded = load(store, "default")
    assert loaded == changed != spec_of(example_text)


def test_load_reports_a_stored_entry_that_no_longer_validates(store: Store,
                                                              spec_of: SpecOf) -> None:
    apply(store, spec_of("queues: [{name: q}]\n"), T0)
    with Session(store.engine) as session, session.begin():
        row = session.exec(select(ConfigObject)).one()
        row.spec = json.dumps({"name": "q", "ring_timeout": -3})
        session.add(row)
    with pytest.raises(sync.StoredConfigError, match="ring_timeout") as caught:
        load(store, "default")
    assert [e.where for e in caught.value.errors] == ["queues[0].ring_timeout"]


def test_version_counts_changes_and_not_repeats(store: Store, spec_of: SpecOf) -> None:
    assert version(store, "default") == 0
    apply(store, spec_of("queues: [{name: a}]\n"), T0)
    apply(store, spec_of("queues: [{name: a}]\n"), T0)
    assert version(store, "default") == 1
    apply(store, spec_of("queues: [{name: a}, {name: b}]\n"), T0)
    apply(store, spec_of("queues: [{name: b}]\n"), T0)  # only a deletion: still counts
    assert version(store, "default") == 3
