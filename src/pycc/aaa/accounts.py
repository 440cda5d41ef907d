"""Users of the admin API and CLI, their passwords and API tokens, in the store.

Every function is one transaction through `Store.read` or `Store.write`; every change also
writes its audit entry (:mod:`pycc.aaa.audit`) in the same transaction, so there is no
change without its entry and no entry without its change. Functions return plain views
(`Account`, `TokenInfo`) that carry no password hash and no token hash.

A user belongs to a tenant, which must exist, or to the operator's pseudo-tenant ``*``
(:data:`pycc.aaa.roles.SYSTEM_TENANT`); names are unique per tenant.

An API token is ``pycc_<prefix>_<secret>``: a random 12-hex-digit prefix that names the
token in lists and for revoking, and 32 random bytes (base64url) of which only the SHA-256
is stored, so a stolen database holds no usable token. The plaintext is returned once, by
`issue_token`. `resolve_token` stores when a token was last used at most once a minute,
so most API requests only read.

Bad input raises `AccountError` naming the field; a missing tenant, user or token raises
`NotFound`, a taken name `AlreadyExists`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Final

from sqlmodel import Session, col, delete, select, update

from pycc.aaa import audit
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import (
    DEFAULT_PARAMS,
    PasswordHashError,
    ScryptParams,
    check_password,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from pycc.aaa.roles import SYSTEM_TENANT, Principal, Role
from pycc.store.admin_models import ApiToken, User
from pycc.store.errors import AlreadyExists, NotFound
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = [
    "KEEP",
    "LAST_USED_GRANULARITY",
    "TOKEN_PREFIX",
    "Account",
    "AccountError",
    "IssuedToken",
    "TokenInfo",
    "authenticate",
    "create_user",
    "delete_user",
    "disable_user",
    "get_user",
    "issue_token",
    "list_tokens",
    "list_users",
    "resolve_token",
    "revoke_token",
    "update_user",
]

log = logging.getLogger("pycc.accounts")

#: What every token starts with, so secret scanners and people recognise one.
TOKEN_PREFIX: Final = "pycc_"
#: Seconds between two writes of a token's ``last_used``.
LAST_USED_GRANULARITY: Final = 60.0

_USER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_MAX_AGENT_ID: Final = 128
_MAX_LABEL: Final = 200
_SECRET_BYTES: Final = 32
_TOKEN: Final = re.compile(r"pycc_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")


class AccountError(ValueError):
    """Bad input for an account operation; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _Keep(enum.Enum):
    KEEP = "keep"


#: `update_user`'s default for ``agent``: leave it as it is (None clears it).
KEEP: Final = _Keep.KEEP


@dataclass(frozen=True, slots=True)
class Account:
    """A user as others may see it: no password hash."""

    tenant: str
    name: str
    role: Role
    agent: str | None
    enabled: bool
    created: float


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as others may see it: no hash, no secret."""

    prefix: str
    tenant: str
    user: str
    label: str
    created: float
    expires: float | None
    last_used: float | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``plaintext`` is shown once and stored nowhere."""

    plaintext: str
    info: TokenInfo


# -- users -----------------------------------------------------------------------------------


def create_user(store: Store, tenant: str, name: str, role: Role | str, *, password: str,
                now: float, origin: Origin, agent: str | None = None,
                params: ScryptParams = DEFAULT_PARAMS) -> Account:
    """Create user ``name`` of ``tenant`` with ``role`` and ``password``."""
    checked_role = _check_user(tenant, name, role, agent)
    _check_password(password)
    encoded = hash_password(password, params)

    def work(session: Session) -> Account:
        _require_tenant(session, tenant)
        if _user(session, tenant, name) is not None:
            raise AlreadyExists(f"user {name!r} already exists in tenant {tenant!r}")
        user = User(tenant=tenant, name=name, role=checked_role.value, agent=agent,
                    password_hash=encoded, created=now)
        session.add(user)
        session.flush()
        audit.record(session, now=now, tenant=tenant, origin=origin, action="create",
                     target_kind="user", target_id=name,
                     detail={"role": checked_role.value, "agent": agent})
        return _account(user)

    return store.write(work)


def update_user(store: Store, tenant: str, name: str, *, now: float, origin: Origin,
                role: Role | str | None = None, agent: str | _Keep | None = KEEP,
                password: str | None = None, enabled: bool | None = None,
                params: ScryptParams = DEFAULT_PARAMS) -> Account:
    """Change what is given of user ``name`` of ``tenant``; the rest stays.

    The audit entry lists the fields that changed (for a password only that it did).
    Disabling a user stops its logins and tokens at once, without revoking the tokens.
    """
    if password is not None:
        _check_password(password)
    encoded = None if password is None else hash_password(password, params)

    def work(session: Session) -> Account:
        user = _require_user(session, tenant, name)
        new_role = _role(role) if role is not None else Role(user.role)
        new_agent = user.agent if isinstance(agent, _Keep) else agent
        _check_user(tenant, name, new_role, new_agent)
        changed: dict[str, object] = {}
        if new_role.value != user.role:
            changed["role"] = user.role = new_role.value
        if new_agent != user.agent:
            changed["agent"] = user.agent = new_agent
        if enabled is not None and enabled != user.enabled:
            changed["enabled"] = user.enabled = enabled
        if encoded is not None:
            user.password_hash = encoded
            changed["password"] = "changed"
        if changed:
            session.add(user)
            action = ("disable" if changed == {"enabled": False} else
                      "enable" if changed == {"enabled": True} else "update")
            audit.record(session, now=now, tenant=tenant, origin=origin, action=action,
                         target_kind="user", target_id=name, detail=changed)
        return _account(user)

    return store.write(work)


def disable_user(store: Store, tenant: str, name: str, *, now: float,
                 origin: Origin) -> Account:
    """Stop user ``name`` of ``tenant`` from logging in and using its tokens."""
    return update_user(store, tenant, name, now=now, origin=origin, enabled=False)


def delete_user(store: Store, tenant: str, name: str, *, now: float, origin: Origin) -> None:
    """Delete user ``name`` of ``tenant`` and all its API tokens."""

    def work(session: Session) -> None:
        user = _require_user(session, tenant, name)
        gone = session.exec(delete(ApiToken).where(col(ApiToken.user_id) == user.id))
        session.delete(user)
        audit.record(session, now=now, tenant=tenant, origin=origin, action="delete",
                     target_kind="user", target_id=name,
                     detail={"role": user.role, "tokens_deleted": gone.rowcount})

    store.write(work)


def get_user(store: Store, tenant: str, name: str) -> Account | None:
    """User ``name`` of ``tenant``, or None."""

    def work(session: Session) -> Account | None:
        user = _user(session, tenant, name)
        return None if user is None else _account(user)

    return store.read(work)


def list_users(store: Store, tenant: str | None = None) -> list[Account]:
    """The users of ``tenant`` (of every tenant, ``*`` included, if None), by tenant and
    name."""
    statement = select(User).order_by(col(User.tenant), col(User.name))
    if tenant is not None:
        statement = statement.where(User.tenant == tenant)
    return store.read(lambda session: [_account(u) for u in session.exec(statement)])


def authenticate(store: Store, name: str, password: str, *, tenant: str | None = None,
                 params: ScryptParams = DEFAULT_PARAMS) -> Principal | None:
    """The principal of user ``name`` (of ``tenant``; if None, of whichever tenant has the
    only user so named) if ``password`` is its password and it is enabled, else None.

    An unknown or ambiguous name, a disabled user and a wrong password take the same time
    (one scrypt each) and give the same answer. A hash made with other parameters than
    ``params`` is replaced by a fresh one after a successful login.
    """

    def work(session: Session) -> User | None:
        statement = select(User).where(User.name == name).limit(2)
        if tenant is not None:
            statement = statement.where(User.tenant == tenant)
        found = list(session.exec(statement))
        return found[0] if len(found) == 1 else None

    # Made before the lookup, so the first unknown name after start costs no extra hash.
    dummy = dummy_hash(params)
    user = store.read(work)
    encoded = user.password_hash if user is not None else dummy
    try:
        matched = verify_password(password, encoded)
    except PasswordHashError as exc:
        # Refuse, and say which user's hash needs resetting, but nothing about the password.
        assert user is not None  # dummy hashes are always readable
        log.warning("user %r of tenant %r: unreadable password hash (%s)", user.name,
                    user.tenant, exc)
        verify_password(password, dummy)
        return None
    if user is None or not matched or not user.enabled:
        return None
    principal = _principal(user)
    if principal is None:
        return None
    if needs_rehash(encoded, params):
        _rehash(store, user, password, params)
    return principal


# -- API tokens ------------------------------------------------------------------------------


def issue_token(store: Store, tenant: str, name: str, *, now: float, origin: Origin,
                label: str = "", expires: float | None = None) -> IssuedToken:
    """A new API token for user ``name`` of ``tenant``, valid until ``expires`` (epoch
    seconds; None: until revoked)."""
    if len(label) > _MAX_LABEL or not label.isprintable():
        raise AccountError("label", f"must be printable and at most {_MAX_LABEL} characters")
    if expires is not None and not expires > now:
        raise AccountError("expires", "must be in the future")

    def work(session: Session) -> IssuedToken:
        user = _require_user(session, tenant, name)
        assert user.id is not None
        # Drawn inside the transaction: if the prefix is taken, the retry draws another.
        prefix = secrets.token_hex(6)
        secret = secrets.token_bytes(_SECRET_BYTES)
        token = ApiToken(user_id=user.id, label=label, prefix=prefix,
                         token_hash=hashlib.sha256(secret).hexdigest(), created=now,
                         expires=expires)
        session.add(token)
        session.flush()
        audit.record(session, now=now, tenant=tenant, origin=origin, action="issue",
                     target_kind="token", target_id=prefix,
                     detail={"user": name, "label": label, "expires": expires})
        plaintext = f"{TOKEN_PREFIX}{prefix}_{_b64url(secret)}"
        return IssuedToken(plaintext, _token_info(token, user))

    return store.write(work)


def resolve_token(store: Store, plaintext: str, now: float) -> Principal | None:
    """The principal a bearer token acts as, or None if it is malformed, unknown, revoked,
    expired, or its user is disabled."""
    match = _TOKEN.fullmatch(plaintext) if len(plaintext) < 100 else None
    if match is None:
        return None
    secret = _b64url_decode(match["secret"])
    if secret is None or len(secret) != _SECRET_BYTES:
        return None
    digest = hashlib.sha256(secret).hexdigest()

    def work(session: Session) -> tuple[ApiToken, User] | None:
        row = session.exec(select(ApiToken, User).join(User)
                           .where(ApiToken.prefix == match["prefix"])).first()
        return None if row is None else (row[0], row[1])

    found = store.read(work)
    if found is None:
        return None
    token, user = found
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked or (token.expires is not None and now >= token.expires):
        return None
    if not user.enabled:
        return None
    principal = _principal(user)
    if principal is not None and (token.last_used is None
                                  or now - token.last_used >= LAST_USED_GRANULARITY):
        _touch(store, token, now)
    return principal


def revoke_token(store: Store, prefix: str, *, now: float, origin: Origin,
                 tenant: str | None = None) -> TokenInfo:
    """Revoke the token named by ``prefix`` (the 12 hex digits, with or without the
    ``pycc_`` in front). With ``tenant``, only a token of that tenant's users is found:
    a tenant's admin cannot revoke, or learn of, another tenant's tokens."""
    bare = prefix.removeprefix(TOKEN_PREFIX)
    if not re.fullmatch(r"[0-9a-f]{12}", bare):
        raise AccountError("prefix", "must be the 12 hex digits after pycc_ in the token")

    def work(session: Session) -> TokenInfo:
        statement = select(ApiToken, User).join(User).where(ApiToken.prefix == bare)
        if tenant is not None:
            statement = statement.where(User.tenant == tenant)
        row = session.exec(statement).first()
        if row is None:
            raise NotFound(f"no API token {bare}"
                           + (f" in tenant {tenant!r}" if tenant is not None else ""))
        token, user = row
        if not token.revoked:
            token.revoked = True
            session.add(token)
            audit.record(session, now=now, tenant=user.tenant, origin=origin,
                         action="revoke", target_kind="token", target_id=bare,
                         detail={"user": user.name, "label": token.label})
        return _token_info(token, user)

    return store.write(work)


def list_tokens(store: Store, tenant: str | None = None,
                user: str | None = None) -> list[TokenInfo]:
    """The tokens of ``tenant``'s users (all if None), of user ``user`` if given, oldest
    first."""
    statement = select(ApiToken, User).join(User).order_by(col(ApiToken.id))
    if tenant is not None:
        statement = statement.where(User.tenant == tenant)
    if user is not None:
        statement = statement.where(User.name == user)
    return store.read(
        lambda session: [_token_info(token, owner) for token, owner in session.exec(statement)])


# -- helpers ---------------------------------------------------------------------------------


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError("role", f"must be one of {', '.join(Role)}, not {role!r}") from None


def _check_user(tenant: str, name: str, role: Role | str, agent: str | None) -> Role:
    if not tenant or len(tenant) > 128 or not tenant.isprintable():
        raise AccountError("tenant", "must be a tenant name (printable, 1 to 128 characters)")
    if not _USER_NAME.fullmatch(name):
        raise AccountError("name", f"{name[:70]!r} is not a user name: use 1 to 64 letters, "
                                   "digits and . _ @ + -, starting with a letter or digit")
    checked = _role(role)
    if agent is not None and (not agent or len(agent) > _MAX_AGENT_ID
                              or not agent.isprintable()):
        raise AccountError("agent", f"must be an agent id (printable, 1 to {_MAX_AGENT_ID} "
                                    "characters)")
    try:
        Principal(name, tenant, checked, agent)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise AccountError(field, message) from None
    return checked


def _check_password(password: str) -> None:
    try:
        check_password(password)
    except ValueError as exc:
        raise AccountError("password", str(exc).partition(": ")[2]) from None


def _require_tenant(session: Session, tenant: str) -> None:
    if tenant == SYSTEM_TENANT:
        return
    if session.exec(select(Tenant.id).where(Tenant.name == tenant)).first() is None:
        raise NotFound(f"tenant {tenant!r} does not exist")


def _user(session: Session, tenant: str, name: str) -> User | None:
    return session.exec(select(User).where(User.tenant == tenant, User.name == name)).first()


def _require_user(session: Session, tenant: str, name: str) -> User:
    user = _user(session, tenant, name)
    if user is None:
        raise NotFound(f"user {name!r} does not exist in tenant {tenant!r}")
    return user


def _account(user: User) -> Account:
    return Account(user.tenant, user.name, Role(user.role), user.agent, user.enabled,
                   user.created)


def _principal(user: User) -> Principal | None:
    try:
        return Principal(user.name, user.tenant, Role(user.role), user.agent)
    except ValueError as exc:
        # A row written by hand or by a newer pycc: refuse it rather than guess.
        log.warning("user %r of tenant %r cannot act: %s", user.name, user.tenant, exc)
        return None


def _token_info(token: ApiToken, user: User) -> TokenInfo:
    return TokenInfo(token.prefix, user.tenant, user.name, token.label, token.created,
                     token.expires, token.last_used, token.revoked)


def _rehash(store: Store, user: User, password: str, params: ScryptParams) -> None:
    encoded = hash_password(password, params)
    # Only if the hash is still the one verified: a password changed meanwhile wins.
    store.write(lambda session: session.exec(
        update(User).where(col(User.id) == user.id,
                           col(User.password_hash) == user.password_hash)
        .values(password_hash=encoded)))


def _touch(store: Store, token: ApiToken, now: float) -> None:
    # Conditional, so concurrent requests of one token write it once per interval.
    stale = now - LAST_USED_GRANULARITY
    store.write(lambda session: session.exec(
        update(ApiToken).where(col(ApiToken.id) == token.id)
        .where(col(ApiToken.last_used).is_(None) | (col(ApiToken.last_used) <= stale))
        .values(last_used=now)))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64url_decode(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
