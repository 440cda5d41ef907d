"""Registrations: saving a REGISTER's contacts, expiry, atomicity, persistence."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from pycc.store import Binding, BindingUpdate, NotFound, Store, StoreError

AOR = "sip:1001@pycc"
NOW = 1_700_000_000.0


def _contact(
    user_part: str, *, q: float = 1.0, expires: float = 3600, cseq: int = 1
) -> BindingUpdate:
    return BindingUpdate(
        contact=f"sip:{user_part}@192.0.2.10:5062;transport=udp",
        expires_at=NOW + expires,
        call_id="reg-call-1",
        cseq=cseq,
        q=q,
        path="<sip:edge1@pycc;lr>,<sip:edge2@pycc;lr>",
        received="udp:198.51.100.7:40123",
        user_agent="Desk Phone 1.0",
        instance_id="<urn:uuid:00000000-0000-1000-8000-000000000001>",
        reg_id=1,
    )


@pytest.fixture
def tenant_store(store: Store) -> Store:
    store.ensure_tenant("default", "pycc")
    return store


def test_save_and_get_all_fields(tenant_store: Store) -> None:
    update = _contact("a")
    saved = tenant_store.save_bindings("default", AOR, [update], [], NOW, extension_number="1001")
    [got] = tenant_store.get_bindings("default", AOR, NOW)
    assert saved == [got]
    assert got.id is not None
    assert got.tenant_id == tenant_store.list_tenants()[0].id
    assert (got.aor, got.extension_number, got.updated) == (AOR, "1001", NOW)
    for name in (
        "contact", "expires_at", "call_id", "cseq", "q", "path",
        "received", "user_agent", "instance_id", "reg_id",
    ):  # fmt: skip
        assert getattr(got, name) == getattr(update, name), name


@dataclass
class _RegistrarBinding:
    """A registrar's own binding type: Path values as a list, and no extension number."""

    contact: str
    expires_at: float
    q: float = 1.0
    call_id: str = "c"
    cseq: int = 1
    path: list[str] = field(default_factory=list)
    received: str | None = None
    instance_id: str | None = None
    reg_id: int | None = None
    user_agent: str | None = None


def test_save_accepts_other_binding_objects_and_path_lists(tenant_store: Store) -> None:
    update = _RegistrarBinding(
        contact="sip:1001@192.0.2.1", expires_at=NOW + 60, path=["<sip:e1;lr>", "<sip:e2;lr>"]
    )
    [saved] = tenant_store.save_bindings("default", AOR, [update], [], NOW)
    assert saved.path == "<sip:e1;lr>,<sip:e2;lr>"
    assert saved.extension_number == ""
    # A stored Binding can be saved again as it is (e.g. copied to another AoR).
    [copied] = tenant_store.save_bindings("default", "sip:copy@pycc", [saved], [], NOW)
    assert (copied.aor, copied.path, copied.contact) == (
        "sip:copy@pycc",
        saved.path,
        saved.contact,
    )
    assert copied.id != saved.id


def test_get_bindings_orders_by_q_and_hides_expired(tenant_store: Store) -> None:
    contacts = [
        _contact("low", q=0.1),
        _contact("high", q=0.9),
        _contact("gone", q=1.0, expires=-1),
        _contact("mid", q=0.5),
    ]
    saved = tenant_store.save_bindings("default", AOR, contacts, [], NOW)
    expected = [contacts[1].contact, contacts[3].contact, contacts[0].contact]
    assert [b.contact for b in saved] == expected
    got = tenant_store.get_bindings("default", AOR, NOW)
    assert [b.contact for b in got] == expected
    # At exactly its expiry time a binding is gone.
    later = tenant_store.get_bindings("default", AOR, NOW + 3600)
    assert later == []


def test_get_bindings_separates_aors_and_tenants(tenant_store: Store) -> None:
    tenant_store.ensure_tenant("other", "other")
    tenant_store.save_bindings("default", AOR, [_contact("a")], [], NOW)
    tenant_store.save_bindings("default", "sip:1002@pycc", [_contact("b")], [], NOW)
    tenant_store.save_bindings("other", AOR, [_contact("c")], [], NOW)
    assert [b.contact for b in tenant_store.get_bindings("default", AOR, NOW)] == [
        _contact("a").contact
    ]
    assert [b.contact for b in tenant_store.get_bindings("other", AOR, NOW)] == [
        _contact("c").contact
    ]
    assert tenant_store.get_bindings("nobody", AOR, NOW) == []


def test_refresh_updates_the_same_row(tenant_store: Store) -> None:
    [first] = tenant_store.save_bindings("default", AOR, [_contact("a")], [], NOW)
    refreshed = _contact("a", expires=7200, cseq=2, q=0.7)
    [second] = tenant_store.save_bindings("default", AOR, [refreshed], [], NOW + 10)
    assert second.id == first.id
    [got] = tenant_store.get_bindings("default", AOR, NOW + 10)
    assert (got.cseq, got.q, got.expires_at, got.updated) == (2, 0.7, NOW + 7200, NOW + 10)


def test_removals_delete_only_the_named_contacts(tenant_store: Store) -> None:
    tenant_store.save_bindings("default", AOR, [_contact("a"), _contact("b")], [], NOW)
    after = tenant_store.save_bindings(
        "default", AOR, [_contact("c")], [_contact("a").contact, "sip:unknown@x"], NOW
    )
    expected = {_contact("b").contact, _contact("c").contact}
    assert {b.contact for b in after} == expected
    assert {b.contact for b in tenant_store.get_bindings("default", AOR, NOW)} == expected


def test_contact_removed_and_upserted_is_kept(tenant_store: Store) -> None:
    tenant_store.save_bindings("default", AOR, [_contact("a")], [], NOW)
    after = tenant_store.save_bindings(
        "default", AOR, [_contact("a", cseq=5)], [_contact("a").contact], NOW
    )
    assert [b.cseq for b in after] == [5]


def test_save_bindings_needs_the_tenant(store: Store) -> None:
    with pytest.raises(NotFound, match="nobody"):
        store.save_bindings("nobody", AOR, [_contact("a")], [], NOW)


def test_save_bindings_is_all_or_nothing(tenant_store: Store) -> None:
    tenant_store.save_bindings("default", AOR, [_contact("a"), _contact("b")], [], NOW)
    # The third contact violates NOT NULL after the removal, the refresh and the insert
    # before it have been sent to the database.
    broken = BindingUpdate(contact="sip:broken@x", expires_at=NOW + 60, call_id=None, cseq=1)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="constraint"):
        tenant_store.save_bindings(
            "default",
            AOR,
            [_contact("b", cseq=9), _contact("new"), broken],
            [_contact("a").contact],
            NOW,
        )
    got = tenant_store.get_bindings("default", AOR, NOW)
    assert sorted((b.contact, b.cseq) for b in got) == [
        (_contact("a").contact, 1),
        (_contact("b").contact, 1),
    ]


def test_bindings_survive_reopening(store_url: str) -> None:
    with Store(store_url) as first:
        first.create_all()
        first.ensure_tenant("default", "pycc")
        first.save_bindings("default", AOR, [_contact("a"), _contact("b", q=0.5)], [], NOW)
    with Store(store_url) as second:
        got = second.get_bindings("default", AOR, NOW + 1)
    assert [(b.contact, b.q) for b in got] == [
        (_contact("a").contact, 1.0),
        (_contact("b").contact, 0.5),
    ]


def test_remove_all_bindings(tenant_store: Store) -> None:
    tenant_store.save_bindings("default", AOR, [_contact("a"), _contact("b")], [], NOW)
    tenant_store.save_bindings("default", "sip:1002@pycc", [_contact("c")], [], NOW)
    assert tenant_store.remove_all_bindings("default", AOR) == 2
    assert tenant_store.get_bindings("default", AOR, NOW) == []
    assert len(tenant_store.get_bindings("default", "sip:1002@pycc", NOW)) == 1
    assert tenant_store.remove_all_bindings("default", AOR) == 0
    assert tenant_store.remove_all_bindings("nobody", AOR) == 0


def test_purge_expired(tenant_store: Store) -> None:
    tenant_store.ensure_tenant("other", "other")
    tenant_store.save_bindings(
        "default", AOR, [_contact("short", expires=60), _contact("long", expires=3600)], [], NOW
    )
    tenant_store.save_bindings("other", AOR, [_contact("short", expires=60)], [], NOW)
    assert tenant_store.purge_expired(NOW) == 0
    assert tenant_store.purge_expired(NOW + 60) == 2
    assert tenant_store.purge_expired(NOW + 60) == 0
    # Purged rows are gone, not just hidden: asking about the past finds only the survivor.
    assert [b.contact for b in tenant_store.list_bindings(NOW)] == [_contact("long").contact]


def test_list_bindings(tenant_store: Store) -> None:
    tenant_store.ensure_tenant("other", "other")
    tenant_store.save_bindings("default", "sip:1002@pycc", [_contact("b")], [], NOW)
    tenant_store.save_bindings(
        "default", AOR, [_contact("a2", q=0.2), _contact("a9", q=0.9)], [], NOW
    )
    tenant_store.save_bindings("other", AOR, [_contact("x", expires=10)], [], NOW)
    listed = tenant_store.list_bindings(NOW)
    assert [(b.aor, b.contact) for b in listed][:3] == [
        (AOR, _contact("a9").contact),
        (AOR, _contact("a2").contact),
        ("sip:1002@pycc", _contact("b").contact),
    ]
    assert len(listed) == 4
    assert len(tenant_store.list_bindings(NOW + 10)) == 3
    assert [b.contact for b in tenant_store.list_bindings(NOW, tenant="other")] == [
        _contact("x").contact
    ]


def test_returned_bindings_are_readable_from_another_thread(tenant_store: Store) -> None:
    tenant_store.save_bindings("default", AOR, [_contact("a")], [], NOW)
    got = tenant_store.get_bindings("default", AOR, NOW)
    tenant_store.close()
    seen: list[str] = []

    def read(bindings: list[Binding]) -> None:
        seen.extend(f"{b.contact}|{b.received}|{b.expires_at}" for b in bindings)

    reader = threading.Thread(target=read, args=(got,))
    reader.start()
    reader.join()
    assert seen == [f"{_contact('a').contact}|udp:198.51.100.7:40123|{NOW + 3600}"]


def test_save_bindings_many_in_one_transaction(tenant_store: Store) -> None:
    from pycc.store import BindingChange

    other = "sip:1002@pycc"
    tenant_store.save_bindings_many([
        BindingChange("default", AOR, [_contact("a"), _contact("b", q=0.5)], [], NOW, "1001"),
        BindingChange("default", other, [_contact("c")], [], NOW, "1002"),
    ])
    assert [b.contact for b in tenant_store.get_bindings("default", AOR, NOW)] == [
        _contact("a").contact, _contact("b").contact]
    # a refresh upserts in place, a removal deletes, other AORs are untouched
    tenant_store.save_bindings_many([
        BindingChange("default", AOR, [_contact("a", expires=60, cseq=2)],
                      [_contact("b").contact], NOW, "1001"),
    ])
    [a] = tenant_store.get_bindings("default", AOR, NOW)
    assert a.cseq == 2 and a.expires_at == NOW + 60 and a.extension_number == "1001"
    assert a.path == _contact("a").path and a.instance_id == _contact("a").instance_id
    assert len(tenant_store.get_bindings("default", other, NOW)) == 1
    assert len(tenant_store.list_bindings(NOW)) == 2


def test_save_bindings_many_is_all_or_nothing(tenant_store: Store) -> None:
    from pycc.store import BindingChange

    with pytest.raises(NotFound):
        tenant_store.save_bindings_many([
            BindingChange("default", AOR, [_contact("a")], [], NOW, "1001"),
            BindingChange("no-such-tenant", AOR, [_contact("b")], [], NOW, "1001"),
        ])
    assert tenant_store.get_bindings("default", AOR, NOW) == []
