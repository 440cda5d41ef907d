"""The tables of pycc's administration: users of the admin API and CLI, their API tokens,
and the audit log of every administrative change.

Users and audit entries name their tenant by ``Tenant.name`` rather than by a foreign key:
the operator's own users belong to the pseudo-tenant ``*``, which has no row, and a unique
key over a nullable column would not keep two of them from sharing a name (NULLs differ).
The audit log has no foreign keys at all, so it outlives the users and objects it
mentions.

No password and no token is stored: a user has an scrypt hash (:mod:`pycc.aaa.passwords`),
a token the SHA-256 of its random secret and a short random prefix that names it in lists.
Timestamps are float epoch seconds (UTC), as in :mod:`pycc.store.models`.
"""

from __future__ import annotations

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

__all__ = ["ApiToken", "AuditEntry", "User"]


class User(SQLModel, table=True):
    """Someone who administers, supervises or works in a tenant's call center."""

    __tablename__ = "admin_users"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_admin_users_tenant_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    name: str
    #: One of :class:`pycc.aaa.roles.Role`'s values.
    role: str
    password_hash: str
    #: The agent id (``agents:`` of ``pycc apply``) of a user with the role agent.
    agent: str | None = None
    enabled: bool = True
    created: float


class ApiToken(SQLModel, table=True):
    """A bearer token of a user for the HTTP API."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="admin_users.id", index=True)
    label: str = ""
    #: Random, shown in the token itself and in lists; names the token for revoking.
    prefix: str = Field(unique=True, index=True)
    #: Hex SHA-256 of the token's 32-byte secret.
    token_hash: str
    created: float
    expires: float | None = None
    last_used: float | None = None
    revoked: bool = False


class AuditEntry(SQLModel, table=True):
    """One administrative change: who (``actor``) did what (``action``) to which object
    (``target_kind``, ``target_id``) of which tenant, when (``at``), through what
    (``source``: api, cli, apply); ``detail`` is a JSON object (never a secret)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_id", "tenant", "id"),
        Index("ix_audit_log_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: float
    tenant: str
    actor: str
    action: str
    target_kind: str
    target_id: str
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    source: str
