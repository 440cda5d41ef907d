"""The tables of the pycc database.

Tenants own everything else: a tenant is one call center with its own SIP digest realm, its
extensions (phones and agents that register), their current registrations (bindings, RFC 3261
section 10) and the records of its calls (CDRs). Timestamps are float epoch seconds (UTC): they
compare and subtract the same way on SQLite and PostgreSQL and match the ``now`` the protocol
core passes around.

Only digest HA1 values are stored for an extension, never its password (RFC 7616 section 3.4.2:
HA1 = H(username ":" realm ":" password), kept for MD5 and SHA-256).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

#: Values of :attr:`CallRecord.disposition`: how the call ended, from the caller's point of view.
DISPOSITIONS: Final = (
    "answered",
    "no-answer",
    "busy",
    "cancelled",
    "failed",
    "not-found",
    "unavailable",
    "rejected",
)

#: Values of :attr:`CallRecord.hangup_by`: which side ended the call.
HANGUP_PARTIES: Final = ("caller", "callee", "system")


class Tenant(SQLModel, table=True):
    """One call center sharing the switch; ``realm`` is its SIP digest realm."""

    __tablename__ = "tenants"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    realm: str
    created: float = Field(default_factory=time.time)


class Extension(SQLModel, table=True):
    """A number a phone registers as and is called at, with its digest credentials."""

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_extensions_tenant_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    number: str
    display_name: str | None = None
    ha1_md5: str
    ha1_sha256: str
    enabled: bool = True
    created: float = Field(default_factory=time.time)


class Binding(SQLModel, table=True):
    """One contact registered for an address of record (RFC 3261 section 10.3).

    ``path`` holds the Path header values (RFC 3327) joined with ","; ``received`` is the
    "transport:ip:port" the REGISTER came from, so requests reach a phone behind NAT;
    ``instance_id`` and ``reg_id`` are the RFC 5626 outbound parameters.
    """

    __tablename__ = "bindings"
    __table_args__ = (
        # Also serves the lookup of all contacts of one AoR (its leading columns).
        UniqueConstraint("tenant_id", "aor", "contact", name="uq_bindings_tenant_aor_contact"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    aor: str
    extension_number: str = ""
    contact: str
    q: float = 1.0
    # Indexed for purge_expired, which scans by expiry across all AoRs.
    expires_at: float = Field(index=True)
    call_id: str
    cseq: int
    path: str = ""
    received: str | None = None
    user_agent: str | None = None
    instance_id: str | None = None
    reg_id: int | None = None
    updated: float = Field(default_factory=time.time)


class CallRecord(SQLModel, table=True):
    """The record of one call (CDR), written once the call has ended.

    ``disposition`` is one of :data:`DISPOSITIONS`, ``hangup_by`` one of
    :data:`HANGUP_PARTIES`; ``hangup_cause`` is the SIP cause as text ("200 BYE",
    "486 Busy Here", "487 Request Terminated"); ``duration`` is the talk time in seconds;
    ``node`` names the pycc node that handled the call.
    """

    __tablename__ = "call_records"
    __table_args__ = (
        # The unique key makes writing a record idempotent: a restart that replays it updates.
        UniqueConstraint("tenant_id", "call_id", name="uq_call_records_tenant_call_id"),
        Index("ix_call_records_tenant_start", "tenant_id", "start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    call_id: str
    caller: str
    callee: str
    caller_contact: str | None = None
    direction: str
    start: float = Field(index=True)
    ring: float | None = None
    answer: float | None = None
    end: float
    disposition: str
    hangup_cause: str
    hangup_by: str
    sip_status: int
    duration: float = 0.0
    node: str = ""
    #: Media as pycc anchored it: the codec each party used ("PCMU/8000"), whether packets
    #: were relayed or transcoded, and the E-model (ITU-T G.107) MOS estimate of each party's
    #: received audio, from pycc's RTP statistics.
    codec_caller: str | None = None
    codec_callee: str | None = None
    media_path: str | None = None
    mos_caller: float | None = None
    mos_callee: float | None = None
    packets_lost_caller: int | None = None
    packets_lost_callee: int | None = None
    #: The call's recording, relative to the recordings directory (None: not recorded).
    recording: str | None = None
    #: The call center's part: the route taken, the IVR steps walked ("main.1>main.menu=1"),
    #: the queue and how long the caller waited there, the agent who answered and when.
    route: str | None = None
    ivr_path: str | None = None
    queue: str | None = None
    queue_wait: float | None = None
    agent: str | None = None
    agent_answer: float | None = None


class AgentEvent(SQLModel, table=True):
    """One change of an agent's status or state (log-in, log-out, ready, not ready with its
    reason, ringing, on a call, wrap-up), kept for the agent reports."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_tenant_agent_at", "tenant_id", "agent", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    agent: str
    from_status: str
    from_state: str
    to_status: str
    to_state: str
    reason: str = ""
    call_id: str | None = None
    at: float
    node: str = ""


class IvrKeyCount(SQLModel, table=True):
    """How many times a key (or "timeout", "invalid") was the answer to one IVR step."""

    __tablename__ = "ivr_key_counts"
    __table_args__ = (UniqueConstraint("tenant_id", "flow", "step", "key",
                                       name="uq_ivr_key_counts"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    flow: str
    step: str
    key: str
    count: int = 0


class BindingLike(Protocol):
    """What :meth:`pycc.store.Store.save_bindings` reads from each contact to save.

    :class:`Binding`, :class:`BindingUpdate` and the registrar's own binding objects
    (:class:`pycc.sip.registrar.Binding`) all have these attributes. ``path`` is either the
    stored form (values joined with ",") or the list of Path header values.
    """

    @property
    def contact(self) -> str: ...
    @property
    def q(self) -> float: ...
    @property
    def expires_at(self) -> float: ...
    @property
    def call_id(self) -> str: ...
    @property
    def cseq(self) -> int: ...
    @property
    def path(self) -> str | Sequence[str]: ...
    @property
    def received(self) -> str | None: ...
    @property
    def user_agent(self) -> str | None: ...
    @property
    def instance_id(self) -> str | None: ...
    @property
    def reg_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class BindingUpdate:
    """A contact to add or refresh for an AoR, as one REGISTER carries it."""

    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float = 1.0
    path: str | Sequence[str] = ""
    received: str | None = None
    user_agent: str | None = None
    instance_id: str | None = None
    reg_id: int | None = None
