"""The tables behind ``pycc apply``: each configured object as canonical JSON, and a version.

A tenant's call center (DESIGN.md, "The ``pycc apply`` file") is stored one object per row:
``kind`` says which section it came from (agent, queue, ivr, route, trunk, did, blacklist,
limits, calendar, campaign), ``name`` keys it within the kind, ``position`` keeps the file's
order (routes of equal specificity are taken in the order written) and ``spec`` is the entry
as written, as canonical JSON (sorted keys, no spaces), so an unchanged entry compares equal
as text and re-applying a file changes nothing. Extensions keep their own table, with only
their digest HA1 values.

`ConfigVersion` counts a tenant's configuration changes: a running switch polls it (one
indexed row per tenant) and reloads only when it moved. A counter rather than the newest
``updated``: deleting the newest object must move it too.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

#: Values of :attr:`ConfigObject.kind`.
CONFIG_KINDS: Final = ("agent", "queue", "ivr", "route", "trunk", "did", "blacklist", "limits",
                       "calendar", "campaign", "disposition")


class ConfigObject(SQLModel, table=True):
    """One object of a tenant's applied configuration."""

    __tablename__ = "config_objects"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "name", name="uq_config_objects_tenant_kind_name"),
        Index("ix_config_objects_tenant_kind_position", "tenant_id", "kind", "position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    kind: str
    name: str
    position: int = 0
    # Text, not VARCHAR: an IVR flow can be long.
    spec: str = Field(sa_column=Column(Text, nullable=False))
    updated: float


class ConfigVersion(SQLModel, table=True):
    """How many times a tenant's configuration changed, and when it last did."""

    __tablename__ = "config_versions"

    tenant_id: int = Field(foreign_key="tenants.id", primary_key=True)
    version: int = 0
    updated: float = 0.0
