"""Users, logins and API tokens in the store (SQLite and PostgreSQL), each change audited in
its own transaction."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select, update

from pycc.aaa import accounts, audit, passwords
from pycc.aaa.accounts import (
    LAST_USED_GRANULARITY,
    AccountError,
    authenticate,
    create_user,
    delete_user,
    disable_user,
    get_user,
    issue_token,
    list_tokens,
    list_users,
    resolve_token,
    revoke_token,
    update_user,
)
from pycc.aaa.audit import Origin, detail_of
from pycc.aaa.passwords import ScryptParams, verify_password
from pycc.aaa.roles import SYSTEM_TENANT, Principal, Role
from pycc.store import AlreadyExists, NotFound, Store
from pycc.store.admin_models import ApiToken, AuditEntry, User

FAST = ScryptParams(log2_n=4, r=1, p=1)
NOW = 1_700_000_000.0
BY = Origin("root@*", "api")
TOKEN_SHAPE = re.compile(r"pycc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def add(store: Store, tenant: str, name: str, role: Role | str = Role.ADMIN, *,
        password: str = "password-1", agent: str | None = None) -> accounts.Account:
    return create_user(store, tenant, name, role, password=password, agent=agent, now=NOW,
                       origin=BY, params=FAST)


def entries(store: Store) -> list[AuditEntry]:
    return audit.query(store, limit=1000).entries


def stored_user(store: Store, tenant: str, name: str) -> User:
    def work(session: Any) -> User:
        found = session.exec(select(User).where(User.tenant == tenant, User.name == name))
        return found.one()  # type: ignore[no-any-return]

    return store.read(work)


# -- users ----------------------------------------------------------------------------------


def test_a_created_user_is_listed_without_its_password(store: Store) -> None:
    created = add(store, "acme", "ann", Role.AGENT, agent="alice")
    assert created == accounts.Account("acme", "ann", Role.AGENT, "alice", True, NOW)
    assert get_user(store, "acme", "ann") == created
    assert get_user(store, "globex", "ann") is None
    assert list_users(store) == [created]
    assert not hasattr(created, "password_hash")
    row = stored_user(store, "acme", "ann")
    assert "password-1" not in row.password_hash and verify_password("password-1",
                                                                      row.password_hash)


def test_names_are_unique_per_tenant_only(store: Store) -> None:
    add(store, "acme", "boss")
    add(store, "globex", "boss")
    with pytest.raises(AlreadyExists, match="user 'boss' already exists in tenant 'acme'"):
        add(store, "acme", "boss", Role.SUPERVISOR)
    assert [(u.tenant, u.name) for u in list_users(store)] == [("acme", "boss"),
                                                                ("globex", "boss")]
    assert [u.tenant for u in list_users(store, "globex")] == ["globex"]


def test_a_user_needs_an_existing_tenant_except_the_operators(store: Store) -> None:
    with pytest.raises(NotFound, match="tenant 'initech' does not exist"):
        add(store, "initech", "boss")
    root = add(store, SYSTEM_TENANT, "root")
    assert root.tenant == SYSTEM_TENANT
    assert [e.action for e in entries(store)] == ["create"]


@pytest.mark.parametrize(("tenant", "name", "role", "agent", "password", "field"), [
    ("acme", "", "admin", None, "password-1", "name"),
    ("acme", "-dash", "admin", None, "password-1", "name"),
    ("acme", "has space", "admin", None, "password-1", "name"),
    ("acme", "x" * 65, "admin", None, "password-1", "name"),
    ("acme", "ann", "boss", None, "password-1", "role"),
    ("acme", "ann", "agent", None, "password-1", "agent"),
    ("acme", "ann", "supervisor", "alice", "password-1", "agent"),
    ("acme", "ann", "agent", "bad\nid", "password-1", "agent"),
    (SYSTEM_TENANT, "ann", "agent", "alice", "password-1", "role"),
    ("", "ann", "admin", None, "password-1", "tenant"),
    ("acme", "ann", "admin", None, "short", "password"),
    ("acme", "ann", "admin", None, "p" * 1025, "password"),
])
def test_bad_input_is_refused_naming_the_field(store: Store, tenant: str, name: str,
                                               role: str, agent: str | None, password: str,
                                               field: str) -> None:
    with pytest.raises(AccountError) as raised:
        add(store, tenant, name, role, agent=agent, password=password)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert password not in str(raised.value)
    assert list_users(store) == [] and entries(store) == []


def test_updates_change_only_what_is_given_and_audit_the_field_names(store: Store) -> None:
    add(store, "acme", "ann", Role.AGENT, agent="alice")
    with pytest.raises(AccountError, match="agent: only a user with the role agent"):
        update_user(store, "acme", "ann", role=Role.SUPERVISOR, now=NOW, origin=BY)
    changed = update_user(store, "acme", "ann", role=Role.SUPERVISOR, agent=None,
                          password="new-password-2", now=NOW + 1, origin=BY, params=FAST)
    assert (changed.role, changed.agent, changed.enabled) == (Role.SUPERVISOR, None, True)
    unchanged = update_user(store, "acme", "ann", now=NOW + 2, origin=BY)
    assert unchanged == changed
    last = entries(store)[-1]
    assert (last.action, last.target_kind, last.target_id, last.at) == (
        "update", "user", "ann", NOW + 1)
    assert detail_of(last) == {"role": "supervisor", "agent": None, "password": "changed"}
    assert authenticate(store, "ann", "new-password-2", tenant="acme", params=FAST) == \
        Principal("ann", "acme", Role.SUPERVISOR)


def test_disabling_stops_logins_and_tokens_and_enabling_restores_them(store: Store) -> None:
    add(store, "acme", "boss")
    token = issue_token(store, "acme", "boss", now=NOW, origin=BY).plaintext
    assert disable_user(store, "acme", "boss", now=NOW, origin=BY).enabled is False
    assert authenticate(store, "boss", "password-1", params=FAST) is None
    assert resolve_token(store, token, NOW) is None
    update_user(store, "acme", "boss", enabled=True, now=NOW, origin=BY)
    assert authenticate(store, "boss", "password-1", params=FAST) is not None
    assert resolve_token(store, token, NOW) is not None
    assert [e.action for e in entries(store)] == ["create", "issue", "disable", "enable"]


def test_deleting_a_user_deletes_its_tokens(store: Store) -> None:
    add(store, "acme", "boss")
    token = issue_token(store, "acme", "boss", now=NOW, origin=BY).plaintext
    delete_user(store, "acme", "boss", now=NOW, origin=BY)
    assert get_user(store, "acme", "boss") is None
    assert resolve_token(store, token, NOW) is None
    assert list_tokens(store) == []
    assert detail_of(entries(store)[-1]) == {"role": "admin", "tokens_deleted": 1}
    with pytest.raises(NotFound, match="user 'boss' does not exist in tenant 'acme'"):
        delete_user(store, "acme", "boss", now=NOW, origin=BY)


def test_a_change_and_its_audit_entry_commit_together(store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        add(store, "acme", "ann")
    monkeypatch.undo()
    assert get_user(store, "acme", "ann") is None and entries(store) == []


# -- logins ---------------------------------------------------------------------------------


def test_authenticate_returns_the_principal_for_the_right_password_only(store: Store) -> None:
    add(store, "acme", "ann", Role.AGENT, agent="alice")
    add(store, SYSTEM_TENANT, "root")
    ann = Principal("ann", "acme", Role.AGENT, "alice")
    assert authenticate(store, "ann", "password-1", tenant="acme", params=FAST) == ann
    assert authenticate(store, "ann", "password-1", params=FAST) == ann
    assert authenticate(store, "ann", "password-2", tenant="acme", params=FAST) is None
    assert authenticate(store, "ann", "password-1", tenant="globex", params=FAST) is None
    assert authenticate(store, "root", "password-1", tenant=SYSTEM_TENANT,
                        params=FAST) == Principal("root", SYSTEM_TENANT, Role.ADMIN)


def test_a_name_in_two_tenants_needs_the_tenant(store: Store) -> None:
    add(store, "acme", "boss")
    add(store, "globex", "boss", password="password-2")
    assert authenticate(store, "boss", "password-1", params=FAST) is None
    assert authenticate(store, "boss", "password-2", tenant="globex",
                        params=FAST) == Principal("boss", "globex", Role.ADMIN)


def test_every_refusal_costs_one_hash_at_the_same_cost(store: Store,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    add(store, "acme", "boss")
    add(store, "acme", "off")
    disable_user(store, "acme", "off", now=NOW, origin=BY)
    costs: list[tuple[int, int, int]] = []
    real = passwords._scrypt

    def counting(password: str, salt: bytes, params: ScryptParams, length: int) -> bytes:
        costs.append((params.log2_n, params.r, params.p))
        return real(password, salt, params, length)

    passwords.dummy_hash(FAST)  # made before counting: once per process, not per login
    monkeypatch.setattr(passwords, "_scrypt", counting)
    for name, password in (("boss", "wrong-password"), ("nobody", "password-1"),
                           ("off", "password-1"), ("boss", "password-1")):
        costs.clear()
        authenticate(store, name, password, tenant="acme", params=FAST)
        assert costs == [(FAST.log2_n, FAST.r, FAST.p)], name


def test_an_unreadable_stored_hash_refuses_the_login(store: Store) -> None:
    add(store, "acme", "boss")
    store.write(lambda session: session.exec(
        update(User).where(col(User.name) == "boss").values(password_hash="$md5$abc")))
    assert authenticate(store, "boss", "password-1", tenant="acme", params=FAST) is None


def test_a_login_upgrades_a_hash_made_with_older_parameters(store: Store) -> None:
    add(store, "acme", "boss")
    stronger = ScryptParams(log2_n=5, r=1, p=1)
    assert passwords.needs_rehash(stored_user(store, "acme", "boss").password_hash, stronger)
    assert authenticate(store, "boss", "wrong-password", tenant="acme", params=stronger) is None
    assert passwords.needs_rehash(stored_user(store, "acme", "boss").password_hash, stronger)
    assert authenticate(store, "boss", "password-1", tenant="acme", params=stronger)
    upgraded = stored_user(store, "acme", "boss").password_hash
    assert not passwords.needs_rehash(upgraded, stronger)
    assert verify_password("password-1", upgraded)


# -- tokens ---------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored(store: Store) -> None:
    add(store, "acme", "boss")
    issued = issue_token(store, "acme", "boss", label="crm", now=NOW, origin=BY)
    assert TOKEN_SHAPE.fullmatch(issued.plaintext), issued.plaintext
    assert issued.plaintext.startswith(f"pycc_{issued.info.prefix}_")
    assert (issued.info.tenant, issued.info.user, issued.info.label, issued.info.revoked) == (
        "acme", "boss", "crm", False)
    rows = store.read(lambda session: list(session.exec(select(ApiToken))))
    assert len(rows) == 1
    # The secret's own alphabet has "_": it is what follows the prefix, not the last part.
    secret = issued.plaintext.removeprefix(f"pycc_{issued.info.prefix}_")
    assert len(secret) == 43
    dumped = " ".join(str(value) for value in rows[0].model_dump().values())
    assert secret not in dumped and issued.plaintext not in dumped
    assert list_tokens(store) == [issued.info]
    entry = entries(store)[-1]
    assert (entry.action, entry.target_kind, entry.target_id) == ("issue", "token",
                                                                  issued.info.prefix)
    assert secret not in entry.detail


def test_a_token_resolves_to_its_users_principal(store: Store) -> None:
    add(store, "acme", "ann", Role.AGENT, agent="alice")
    plaintext = issue_token(store, "acme", "ann", now=NOW, origin=BY).plaintext
    assert resolve_token(store, plaintext, NOW) == Principal("ann", "acme", Role.AGENT, "alice")


def test_expired_revoked_and_tampered_tokens_resolve_to_nothing(store: Store) -> None:
    add(store, "acme", "boss")
    expiring = issue_token(store, "acme", "boss", now=NOW, origin=BY, expires=NOW + 3600)
    assert resolve_token(store, expiring.plaintext, NOW + 3599) is not None
    assert resolve_token(store, expiring.plaintext, NOW + 3600) is None
    other = issue_token(store, "acme", "boss", now=NOW, origin=BY).plaintext
    head, secret = other[:18], other[18:]
    flipped = head + ("A" if secret[0] != "A" else "B") + secret[1:]
    assert resolve_token(store, flipped, NOW) is None
    assert resolve_token(store, other, NOW) is not None
    revoked = revoke_token(store, other[5:17], now=NOW, origin=BY)
    assert revoked.revoked
    assert resolve_token(store, other, NOW) is None
    # Revoking again changes nothing and writes no second entry.
    revoke_token(store, "pycc_" + other[5:17], now=NOW, origin=BY)
    assert [e.action for e in entries(store)].count("revoke") == 1


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80) | st.from_regex(TOKEN_SHAPE, fullmatch=True))
def test_any_presented_text_resolves_to_nothing_without_error(store: Store,
                                                              presented: str) -> None:
    assert resolve_token(store, presented, NOW) is None


def test_last_used_is_written_at_most_once_a_minute(store: Store) -> None:
    add(store, "acme", "boss")
    plaintext = issue_token(store, "acme", "boss", now=NOW, origin=BY).plaintext

    def last_used() -> float | None:
        return list_tokens(store)[0].last_used

    assert last_used() is None
    resolve_token(store, plaintext, NOW + 10)
    assert last_used() == NOW + 10
    resolve_token(store, plaintext, NOW + 10 + LAST_USED_GRANULARITY - 1)
    assert last_used() == NOW + 10
    resolve_token(store, plaintext, NOW + 10 + LAST_USED_GRANULARITY)
    assert last_used() == NOW + 10 + LAST_USED_GRANULARITY


def test_a_tenant_cannot_revoke_or_list_another_tenants_tokens(store: Store) -> None:
    add(store, "acme", "boss")
    add(store, "globex", "boss")
    acme = issue_token(store, "acme", "boss", now=NOW, origin=BY).info
    globex = issue_token(store, "globex", "boss", now=NOW, origin=BY).info
    assert list_tokens(store, "acme") == [acme]
    assert list_tokens(store, user="boss") == [acme, globex]
    with pytest.raises(NotFound, match=f"no API token {globex.prefix} in tenant 'acme'"):
        revoke_token(store, globex.prefix, now=NOW, origin=BY, tenant="acme")
    assert not list_tokens(store, "globex")[0].revoked
    assert revoke_token(store, globex.prefix, now=NOW, origin=BY, tenant="globex").revoked


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"label": "x" * 201}, "label"), ({"label": "tab\there"}, "label"),
    ({"expires": NOW}, "expires"), ({"expires": NOW - 1}, "expires"),
])
def test_bad_token_requests_name_the_field(store: Store, kwargs: dict[str, Any],
                                           field: str) -> None:
    add(store, "acme", "boss")
    with pytest.raises(AccountError) as raised:
        issue_token(store, "acme", "boss", now=NOW, origin=BY, **kwargs)
    assert raised.value.field == field
    assert list_tokens(store) == []


def test_tokens_of_unknown_users_and_prefixes_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="user 'ghost' does not exist"):
        issue_token(store, "acme", "ghost", now=NOW, origin=BY)
    with pytest.raises(NotFound, match="no API token 0123456789ab"):
        revoke_token(store, "0123456789ab", now=NOW, origin=BY)
    with pytest.raises(AccountError, match="prefix: must be the 12 hex digits"):
        revoke_token(store, "'; DROP TABLE api_tokens; --", now=NOW, origin=BY)
