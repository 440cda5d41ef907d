"""Tenants and extensions: digest HA1 values, uniqueness, not-found errors."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from pycc.store import AlreadyExists, NotFound, Store


def _md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_ensure_tenant_creates_once(store: Store) -> None:
    first = store.ensure_tenant("acme", "acme.example")
    again = store.ensure_tenant("acme", "acme.example")
    assert first.id is not None
    assert again.id == first.id
    assert again.realm == "acme.example"
    assert first.created > 0
    assert [t.name for t in store.list_tenants()] == ["acme"]


def test_ensure_tenant_refuses_another_realm(store: Store) -> None:
    store.ensure_tenant("acme", "acme.example")
    with pytest.raises(AlreadyExists, match="acme"):
        store.ensure_tenant("acme", "other.example")
    tenant = store.get_tenant("acme")
    assert tenant is not None
    assert tenant.realm == "acme.example"


def test_get_and_list_tenants(store: Store) -> None:
    assert store.get_tenant("nobody") is None
    assert store.list_tenants() == []
    store.ensure_tenant("zeta", "z")
    store.ensure_tenant("alpha", "a")
    assert [t.name for t in store.list_tenants()] == ["alpha", "zeta"]
    tenant = store.get_tenant("zeta")
    assert tenant is not None
    assert tenant.realm == "z"


def test_add_extension_stores_ha1_not_password(store: Store) -> None:
    store.ensure_tenant("default", "pycc")
    added = store.add_extension("default", "1001", "secret1001", display_name="Alice")
    assert added.id is not None
    assert added.number == "1001"
    assert added.display_name == "Alice"
    assert added.enabled
    assert added.ha1_md5 == _md5("1001:pycc:secret1001")
    assert added.ha1_sha256 == _sha256("1001:pycc:secret1001")
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM extensions")).all()
    assert rows
    assert all("secret1001" not in str(value) for row in rows for value in row)


def test_add_extension_twice_names_the_extension(store: Store) -> None:
    store.ensure_tenant("default", "pycc")
    store.add_extension("default", "1001", "a")
    with pytest.raises(AlreadyExists, match="1001"):
        store.add_extension("default", "1001", "b")
    extension = store.get_extension("default", "1001")
    assert extension is not None
    assert extension.ha1_md5 == _md5("1001:pycc:a")


def test_same_number_in_two_tenants(store: Store) -> None:
    store.ensure_tenant("a", "realm-a")
    store.ensure_tenant("b", "realm-b")
    in_a = store.add_extension("a", "1001", "pw")
    in_b = store.add_extension("b", "1001", "pw")
    # The realm is part of HA1: the same password hashes differently per tenant.
    assert in_a.ha1_md5 != in_b.ha1_md5
    assert in_b.ha1_md5 == _md5("1001:realm-b:pw")


def test_add_extension_needs_the_tenant(store: Store) -> None:
    with pytest.raises(NotFound, match="nobody"):
        store.add_extension("nobody", "1001", "pw")


def test_get_extension(store: Store) -> None:
    store.ensure_tenant("default", "pycc")
    assert store.get_extension("default", "1001") is None
    assert store.get_extension("nobody", "1001") is None
    store.add_extension("default", "1001", "pw")
    extension = store.get_extension("default", "1001")
    assert extension is not None
    assert extension.number == "1001"
    assert extension.display_name is None


def test_list_extensions_all_or_one_tenant(store: Store) -> None:
    store.ensure_tenant("a", "ra")
    store.ensure_tenant("b", "rb")
    store.add_extension("a", "1002", "pw")
    store.add_extension("a", "1001", "pw")
    store.add_extension("b", "2001", "pw")
    assert [e.number for e in store.list_extensions("a")] == ["1001", "1002"]
    assert [e.number for e in store.list_extensions("b")] == ["2001"]
    assert [e.number for e in store.list_extensions()] == ["1001", "1002", "2001"]
    assert store.list_extensions("nobody") == []


def test_remove_extension(store: Store) -> None:
    store.ensure_tenant("default", "pycc")
    store.add_extension("default", "1001", "pw")
    store.add_extension("default", "1002", "pw")
    store.remove_extension("default", "1001")
    assert store.get_extension("default", "1001") is None
    assert [e.number for e in store.list_extensions()] == ["1002"]
    with pytest.raises(NotFound, match="1001"):
        store.remove_extension("default", "1001")
    with pytest.raises(NotFound, match="nobody"):
        store.remove_extension("nobody", "1002")


def test_set_password_replaces_both_hashes(store: Store) -> None:
    store.ensure_tenant("default", "pycc")
    store.add_extension("default", "1001", "old")
    changed = store.set_password("default", "1001", "new")
    assert changed.ha1_md5 == _md5("1001:pycc:new")
    assert changed.ha1_sha256 == _sha256("1001:pycc:new")
    stored = store.get_extension("default", "1001")
    assert stored is not None
    assert stored.ha1_md5 == _md5("1001:pycc:new")
    assert stored.ha1_sha256 == _sha256("1001:pycc:new")
    with pytest.raises(NotFound, match="1009"):
        store.set_password("default", "1009", "pw")
