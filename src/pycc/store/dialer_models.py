"""The tables of the outbound dialer (``pycc.pds``): campaigns, contacts, attempts, do-not-call.

A `DialerCampaign` holds a campaign's validated settings as JSON and whether it runs; its
``caller_index`` turns the caller-ID pool round-robin across every node that dials it. A
`DialerContact` is one customer to call with its progress (``state``, one of
`pycc.pds.states.ContactState`, the ``attempts`` made, per-result counts in ``tries``, and
``next_at``, before which it is not dialed); ``external_id`` is unique per campaign, which is
what makes importing the same list twice add nothing. A `DialerAttempt` is one call placed to
a contact: it is written when the call is claimed and closed (``ended``) with its result, so
after a crash the attempts without an end are exactly the calls that were in flight;
``connected`` marks the moment an agent took it. `DialerDnc` is a tenant's do-not-call list
(E.164 numbers). Timestamps are float epoch seconds, like the rest of the store.
"""

from __future__ import annotations

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

__all__ = ["DialerAttempt", "DialerCampaign", "DialerContact", "DialerDnc"]


class DialerCampaign(SQLModel, table=True):
    """A campaign as the dialer runs it."""

    __tablename__ = "dialer_campaigns"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_dialer_campaigns_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    name: str
    config: str = Field(sa_column=Column(Text, nullable=False))
    #: "running" or "stopped".
    state: str = "stopped"
    caller_index: int = 0
    created: float
    updated: float


class DialerContact(SQLModel, table=True):
    """One customer of a campaign and how far calling them has got."""

    __tablename__ = "dialer_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "external_id", name="uq_dialer_contacts_external_id"),
        # The claim: callable contacts of a campaign whose time has come.
        Index("ix_dialer_contacts_claim", "campaign_id", "state", "next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="dialer_campaigns.id")
    external_id: str
    phone: str
    zone: str
    name: str | None = None
    priority: int = 0
    #: The custom columns of the imported row, as a JSON object.
    fields: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: str = "ready"
    attempts: int = 0
    #: Attempts per result so far, as a JSON object ({"busy": 2}).
    tries: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    next_at: float
    #: The last attempt's result once done ("connected", "busy", ... or "blocked").
    result: str | None = None
    #: A callback an agent asked for while the call was up; applied when it ends.
    callback_at: float | None = None
    callback_agent: str | None = None
    line: int = 0
    imported: float
    updated: float


class DialerAttempt(SQLModel, table=True):
    """One call placed to a contact."""

    __tablename__ = "dialer_attempts"
    __table_args__ = (
        Index("ix_dialer_attempts_campaign_started", "campaign_id", "started"),
        Index("ix_dialer_attempts_campaign_ended", "campaign_id", "ended"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="dialer_campaigns.id")
    contact_id: int = Field(foreign_key="dialer_contacts.id", index=True)
    number: str
    caller_id: str | None = None
    started: float
    answered: float | None = None
    connected: float | None = None
    ended: float | None = None
    result: str | None = None
    sip_status: int | None = None
    agent: str | None = None
    call_id: str | None = None
    #: The node that placed the call, so a restarting node closes only its own.
    node: str = ""
    note: str | None = None


class DialerDnc(SQLModel, table=True):
    """A number of a tenant's do-not-call list."""

    __tablename__ = "dialer_dnc"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_dialer_dnc_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    number: str
    added: float
