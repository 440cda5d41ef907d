"""The tables of the agent desktop (``pycc.ccc.desk_store``): customers and their phone
numbers, tickets with their comments, knowledge-base articles and announcements to agents,
each of one tenant.

A `DeskCustomer` keeps its phones as written (a JSON list) and one `DeskCustomerPhone` row per
phone in normal form (`pycc.ccc.desk.normalise_phone`), indexed by tenant and number: the
lookup of who is calling is one index probe. Substring searches run over a ``search``
column, the searchable texts case-folded by pycc (SQL ``lower()`` folds ASCII only on SQLite
and differently per database), scanned per tenant along the ``(tenant_id, id)`` index with
the page's limit in the query.

Users are named by their user name (``admin_users.name`` of the tenant), not by a key, like
the audit log: a ticket keeps who wrote it after the user is gone. Timestamps are float
epoch seconds, like the rest of the store; JSON is kept as text.
"""

from __future__ import annotations

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

__all__ = ["Announcement", "DeskArticle", "DeskComment", "DeskCustomer", "DeskCustomerPhone",
           "DeskTicket"]


class DeskCustomer(SQLModel, table=True):
    """Someone a tenant's agents talk to."""

    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_tenant_id", "tenant_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    name: str
    #: The phones as written, a JSON list of strings.
    phones: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    email: str | None = None
    company: str | None = None
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    #: The tenant's own fields, a JSON object of strings.
    fields: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    #: Name, company, e-mail and phones (as written and normalised), case-folded.
    search: str = Field(default="", sa_column=Column(Text, nullable=False))
    created: float
    updated: float


class DeskCustomerPhone(SQLModel, table=True):
    """One phone number of a customer, normalised, for the lookup by number."""

    __tablename__ = "customer_phones"
    __table_args__ = (
        UniqueConstraint("customer_id", "number", name="uq_customer_phones_number"),
        Index("ix_customer_phones_lookup", "tenant_id", "number", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    customer_id: int = Field(foreign_key="customers.id", index=True)
    number: str


class DeskTicket(SQLModel, table=True):
    """A piece of work for a customer or a call: its state, priority and who has it."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_tenant_id", "tenant_id", "id"),
        Index("ix_tickets_tenant_status", "tenant_id", "status", "id"),
        Index("ix_tickets_tenant_assignee", "tenant_id", "assignee", "id"),
        Index("ix_tickets_tenant_customer", "tenant_id", "customer_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    subject: str
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    #: One of `pycc.ccc.desk.STATUSES`.
    status: str = "open"
    #: One of `pycc.ccc.desk.PRIORITIES`.
    priority: str = "normal"
    customer_id: int | None = Field(default=None, foreign_key="customers.id")
    #: The pycc call id of the call it came from.
    call_id: str | None = None
    #: A user name of the tenant.
    assignee: str | None = None
    created_by: str
    #: Subject and body, case-folded.
    search: str = Field(default="", sa_column=Column(Text, nullable=False))
    created: float
    updated: float


class DeskComment(SQLModel, table=True):
    """A note on a ticket."""

    __tablename__ = "ticket_comments"
    __table_args__ = (Index("ix_ticket_comments_ticket_id", "ticket_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    ticket_id: int = Field(foreign_key="tickets.id")
    author: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    at: float


class DeskArticle(SQLModel, table=True):
    """A knowledge-base article, shared by a tenant's agents."""

    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_tenant_id", "tenant_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    title: str
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    #: A JSON list of strings.
    tags: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    author: str
    #: Title, body and tags, case-folded.
    search: str = Field(default="", sa_column=Column(Text, nullable=False))
    created: float
    updated: float


class Announcement(SQLModel, table=True):
    """A message a supervisor or administrator shows on every agent's desktop until
    ``until`` (epoch seconds)."""

    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_tenant_until", "tenant_id", "until"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    author: str
    created: float
    until: float
