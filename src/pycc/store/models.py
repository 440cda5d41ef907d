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

from sqlalchemy import BigInteger, Index, UniqueConstraint, text
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
    # A record still open (the call is up), and one a crash left open, closed at restart.
    "in-progress",
    "interrupted",
)

#: Values of :attr:`CallRecord.direction`.
DIRECTIONS: Final = ("inbound", "outbound", "internal")

#: Values of :attr:`CallRecord.state`: "open" while the call is up (written when it starts, so
#: a crash cannot lose it), "closed" once its end is written.
RECORD_STATES: Final = ("open", "closed")

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
    """The record of one call (CDR): written open when the call starts, closed when it ends.

    ``disposition`` is one of :data:`DISPOSITIONS`, ``hangup_by`` one of
    :data:`HANGUP_PARTIES`, ``direction`` one of :data:`DIRECTIONS` and ``state`` one of
    :data:`RECORD_STATES`; ``hangup_cause`` is the SIP cause as text ("200 BYE",
    "486 Busy Here", "487 Request Terminated"); ``node`` names the pycc node that handled the
    call. An open record has the disposition "in-progress" and, as ``end``, the last time its
    node was known to be running; a node that starts again after a crash closes its open
    records as "interrupted" (`pycc.aaa.cdr.CallRecorder.recover`).

    Durations are seconds: ``duration`` from the answer to the end (what is billed),
    ``ring_seconds`` from ringing (or the start) to the answer or the end of an unanswered
    call, ``talk_seconds`` with the agent (or, without one, the answering party) less
    ``hold_seconds`` on hold, ``wrapup_seconds`` the wrap-up the agent's queue gives after the
    call (its configured time; the agent events show when the agent really became ready).
    """

    __tablename__ = "call_records"
    __table_args__ = (
        # The unique key makes writing a record idempotent: a restart that replays it updates.
        UniqueConstraint("tenant_id", "call_id", name="uq_call_records_tenant_call_id"),
        Index("ix_call_records_tenant_start", "tenant_id", "start"),
        # The API's pages of records, in id order from a cursor.
        Index("ix_call_records_tenant_id", "tenant_id", "id"),
        # Only the few open records: what a restarting node closes, what the heartbeat moves.
        Index("ix_call_records_open", "node", "tenant_id",
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    call_id: str
    #: The numbers after translation (the dial plan's, for a call out: the number rated).
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
    state: str = "closed"
    #: The numbers as the call arrived, before any translation.
    caller_dialed: str | None = None
    callee_dialed: str | None = None
    #: The trunk the call came in on or went out over.
    trunk: str | None = None
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
    #: the queue, when the caller joined and left it and how long it waited, the agent who
    #: answered and when, and for a dialer's call its campaign and contact.
    route: str | None = None
    ivr_path: str | None = None
    queue: str | None = None
    queue_wait: float | None = None
    queue_enter: float | None = None
    queue_exit: float | None = None
    agent: str | None = None
    agent_answer: float | None = None
    campaign: str | None = None
    contact: str | None = None
    ring_seconds: float | None = None
    talk_seconds: float | None = None
    hold_seconds: float | None = None
    wrapup_seconds: float | None = None
    #: What the agent said the call came to in wrap-up (a disposition code, see
    #: `pycc.ccc.dispositions`), the agent's notes, and when to call the customer back.
    #: The agent's desktop sets them, after or during the call; the switch never writes them.
    wrapup_code: str | None = None
    wrapup_notes: str | None = None
    callback_at: float | None = None
    #: What the call costs in micro-units of the currency (1 = 0.000001; see
    #: `pycc.routing.rating`): 0 for calls that cost nothing (inbound, internal, unanswered),
    #: None for a call out that no rate matched. ``rate_table`` and ``rate_prefix`` name the
    #: rate that priced it.
    cost: int | None = Field(default=None, sa_type=BigInteger)
    rate_table: str | None = None
    rate_prefix: str | None = None


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
