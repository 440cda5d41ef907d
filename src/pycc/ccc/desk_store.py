"""The agent desktop's records in the store: customers, tickets with comments, and the
knowledge base, each of one tenant (named by ``Tenant.name``).

Every function is one transaction through `Store.read` or `Store.write` and returns plain
views (`Customer`, `Ticket`, `Comment`, `Article`). New records come checked
(`pycc.ccc.desk`); changes come as the fields sent and are checked merged with the stored
record, in the transaction that writes them. A record of another tenant is as absent as one
that never was: `NotFound`. A ticket's customer or assignee that does not exist in the
tenant is a `DeskError` naming the field.

Lists come a page at a time, by id (tickets newest first): `Found` holds the page and the
id the next one starts after. Every query is bounded by the tenant and the page's limit in
SQL: a number is looked up by index, a text is a substring scan of the tenant's rows along
its id index that stops once the page is full.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, delete, select

from pycc.ccc import desk
from pycc.ccc.desk import ArticleData, CustomerData, DeskError, TicketData
from pycc.store.admin_models import User
from pycc.store.desk_models import (
    DeskArticle,
    DeskComment,
    DeskCustomer,
    DeskCustomerPhone,
    DeskTicket,
)
from pycc.store.errors import NotFound
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = [
    "CUSTOMER_FIELDS",
    "TICKET_CHANGES",
    "Article",
    "Comment",
    "Customer",
    "Found",
    "Ticket",
    "add_comment",
    "create_article",
    "create_customer",
    "create_ticket",
    "delete_article",
    "find_articles",
    "find_customers",
    "find_tickets",
    "get_article",
    "get_customer",
    "get_ticket",
    "tenant_id",
    "update_article",
    "update_customer",
    "update_ticket",
]

#: What a customer's change may name.
CUSTOMER_FIELDS = frozenset({"name", "phones", "email", "company", "notes", "fields"})
#: What a ticket's change may name.
TICKET_CHANGES = frozenset({"status", "assignee", "priority", "subject"})
_ARTICLE_FIELDS = frozenset({"title", "body", "tags"})

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    name: str
    phones: list[str]
    email: str | None
    company: str | None
    notes: str
    fields: dict[str, str]
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    author: str
    body: str
    at: float


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    subject: str
    body: str
    status: str
    priority: str
    customer: int | None
    call: str | None
    assignee: str | None
    created_by: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    title: str
    body: str
    tags: list[str]
    author: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Found(Generic[_V]):
    """A page of records; ``next_after`` is the cursor id of the next page, None at the
    end."""

    items: list[_V] = field(default_factory=list)
    next_after: int | None = None


# -- customers -------------------------------------------------------------------------------


def create_customer(store: Store, tenant: str, data: CustomerData, *, now: float) -> Customer:
    """Store a new customer of ``tenant``."""

    def work(session: Session) -> Customer:
        row = DeskCustomer(tenant_id=tenant_id(session, tenant), name=data.name,
                           created=now, updated=now)
        _fill_customer(row, data)
        session.add(row)
        session.flush()
        _save_numbers(session, row, data.numbers)
        return _customer(row)

    return store.write(work)


def get_customer(store: Store, tenant: str, customer_id: int) -> Customer:
    """Customer ``customer_id`` of ``tenant``."""
    return store.read(lambda session: _customer(_require_customer(session, tenant,
                                                                  customer_id)))


def update_customer(store: Store, tenant: str, customer_id: int,
                    changes: Mapping[str, object], *, now: float) -> Customer:
    """Change the fields named in ``changes`` (of `CUSTOMER_FIELDS`, as sent) of customer
    ``customer_id``; the rest stays."""
    _only(changes, CUSTOMER_FIELDS)

    def work(session: Session) -> Customer:
        row = _require_customer(session, tenant, customer_id)
        current: dict[str, object] = {
            "name": row.name, "phones": json.loads(row.phones), "email": row.email,
            "company": row.company, "notes": row.notes, "fields": json.loads(row.fields)}
        data = desk.check_customer(**(current | dict(changes)))
        _fill_customer(row, data)
        row.updated = now
        session.add(row)
        if "phones" in changes:
            session.exec(delete(DeskCustomerPhone).where(
                col(DeskCustomerPhone.customer_id) == row.id))
            _save_numbers(session, row, data.numbers)
        return _customer(row)

    return store.write(work)


def find_customers(store: Store, tenant: str, *, text: str | None = None,
                   number: str | None = None, after: int = 0,
                   limit: int = 100) -> Found[Customer]:
    """``tenant``'s customers by id after ``after``: those with a phone whose normal form
    is ``number``, and whose name, company, e-mail or a phone holds ``text`` (checked by
    `pycc.ccc.desk.check_search`), when given."""

    def work(session: Session) -> Found[Customer]:
        owner = tenant_id(session, tenant)
        statement = select(DeskCustomer).where(DeskCustomer.tenant_id == owner)
        if number is None:
            statement = statement.where(col(DeskCustomer.id) > after).order_by(
                col(DeskCustomer.id))
        else:
            # Driven by the number's index, in its order: the planner then never walks
            # the tenant's customers to find the few with the number.
            phone_customer = col(DeskCustomerPhone.customer_id)
            statement = statement.join(
                DeskCustomerPhone, phone_customer == DeskCustomer.id
            ).where(DeskCustomerPhone.tenant_id == owner,
                    DeskCustomerPhone.number == number,
                    phone_customer > after).order_by(phone_customer)
        if text is not None:
            statement = statement.where(_holds(DeskCustomer.search, text))
        rows = session.exec(statement.limit(limit + 1))
        return _page(list(rows), limit, _customer)

    return store.read(work)


def _fill_customer(row: DeskCustomer, data: CustomerData) -> None:
    row.name = data.name
    row.phones = json.dumps(list(data.phones))
    row.email = data.email
    row.company = data.company
    row.notes = data.notes
    row.fields = json.dumps(dict(data.fields))
    row.search = desk.search_text(data.name, data.company or "", data.email or "",
                                  *data.phones, *data.numbers)


def _save_numbers(session: Session, row: DeskCustomer, numbers: Sequence[str]) -> None:
    assert row.id is not None
    for number in numbers:
        session.add(DeskCustomerPhone(tenant_id=row.tenant_id, customer_id=row.id,
                                      number=number))


def _require_customer(session: Session, tenant: str, customer_id: int) -> DeskCustomer:
    row = session.exec(select(DeskCustomer).where(
        DeskCustomer.tenant_id == tenant_id(session, tenant),
        DeskCustomer.id == customer_id)).first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return row


def _customer(row: DeskCustomer) -> Customer:
    assert row.id is not None
    return Customer(id=row.id, name=row.name, phones=json.loads(row.phones), email=row.email,
                    company=row.company, notes=row.notes, fields=json.loads(row.fields),
                    created=row.created, updated=row.updated)


# -- tickets ---------------------------------------------------------------------------------


def create_ticket(store: Store, tenant: str, data: TicketData, *, created_by: str,
                  now: float) -> Ticket:
    """Open a new ticket of ``tenant``, written by user ``created_by``."""

    def work(session: Session) -> Ticket:
        owner = tenant_id(session, tenant)
        if data.customer is not None:
            _check_customer_ref(session, owner, data.customer)
        if data.assignee is not None:
            _check_assignee(session, tenant, data.assignee)
        row = DeskTicket(tenant_id=owner, subject=data.subject, body=data.body,
                         priority=data.priority, customer_id=data.customer,
                         call_id=data.call, assignee=data.assignee, created_by=created_by,
                         search=desk.search_text(data.subject, data.body), created=now,
                         updated=now)
        session.add(row)
        session.flush()
        return _ticket(row)

    return store.write(work)


def get_ticket(store: Store, tenant: str, ticket_id: int) -> tuple[Ticket, list[Comment]]:
    """Ticket ``ticket_id`` of ``tenant`` and its comments, oldest first."""

    def work(session: Session) -> tuple[Ticket, list[Comment]]:
        row = _require_ticket(session, tenant, ticket_id)
        comments = session.exec(select(DeskComment)
                                .where(DeskComment.ticket_id == ticket_id)
                                .order_by(col(DeskComment.id)))
        return _ticket(row), [_comment(c) for c in comments]

    return store.read(work)


def update_ticket(store: Store, tenant: str, ticket_id: int, changes: Mapping[str, object],
                  *, now: float) -> Ticket:
    """Change the fields named in ``changes`` (of `TICKET_CHANGES`, as sent) of ticket
    ``ticket_id``; None as ``assignee`` leaves it to no one."""
    _only(changes, TICKET_CHANGES)
    subject = desk.check_subject(changes["subject"]) if "subject" in changes else None
    status = desk.check_status(changes["status"]) if "status" in changes else None
    priority = desk.check_priority(changes["priority"]) if "priority" in changes else None
    assignee = changes.get("assignee")
    if assignee is not None:
        assignee = desk.check_user_name(assignee, "assignee")

    def work(session: Session) -> Ticket:
        row = _require_ticket(session, tenant, ticket_id)
        if subject is not None:
            row.subject = subject
            row.search = desk.search_text(subject, row.body)
        row.status = status or row.status
        row.priority = priority or row.priority
        if "assignee" in changes:
            if isinstance(assignee, str):
                _check_assignee(session, tenant, assignee)
            row.assignee = assignee if isinstance(assignee, str) else None
        row.updated = now
        session.add(row)
        return _ticket(row)

    return store.write(work)


def add_comment(store: Store, tenant: str, ticket_id: int, body: str, *, author: str,
                now: float) -> Comment:
    """Add a comment (checked by `pycc.ccc.desk.check_comment`) by user ``author`` to
    ticket ``ticket_id``."""

    def work(session: Session) -> Comment:
        ticket = _require_ticket(session, tenant, ticket_id)
        assert ticket.id is not None
        row = DeskComment(tenant_id=ticket.tenant_id, ticket_id=ticket.id, author=author,
                          body=body, at=now)
        ticket.updated = now
        session.add(row)
        session.add(ticket)
        session.flush()
        return _comment(row)

    return store.write(work)


def find_tickets(store: Store, tenant: str, *, status: str | None = None,
                 assignee: str | None = None, customer: int | None = None,
                 text: str | None = None, before: int = 0,
                 limit: int = 100) -> Found[Ticket]:
    """``tenant``'s tickets newest first, older than ticket ``before`` (0: from the
    newest), narrowed by whatever else is given (``text``: a substring of subject or body,
    checked by `pycc.ccc.desk.check_search`)."""

    def work(session: Session) -> Found[Ticket]:
        statement = select(DeskTicket).where(
            DeskTicket.tenant_id == tenant_id(session, tenant))
        if before:
            statement = statement.where(col(DeskTicket.id) < before)
        if status is not None:
            statement = statement.where(DeskTicket.status == status)
        if assignee is not None:
            statement = statement.where(DeskTicket.assignee == assignee)
        if customer is not None:
            statement = statement.where(DeskTicket.customer_id == customer)
        if text is not None:
            statement = statement.where(_holds(DeskTicket.search, text))
        rows = session.exec(statement.order_by(col(DeskTicket.id).desc()).limit(limit + 1))
        return _page(list(rows), limit, _ticket)

    return store.read(work)


def _check_customer_ref(session: Session, tenant_id: int, customer_id: int) -> None:
    found = session.exec(select(DeskCustomer.id).where(
        DeskCustomer.tenant_id == tenant_id, DeskCustomer.id == customer_id)).first()
    if found is None:
        raise DeskError("customer", f"no customer {customer_id}")


def _check_assignee(session: Session, tenant: str, name: str) -> None:
    found = session.exec(select(User.id).where(User.tenant == tenant,
                                               User.name == name)).first()
    if found is None:
        raise DeskError("assignee", f"no user {name!r} in this tenant")


def _require_ticket(session: Session, tenant: str, ticket_id: int) -> DeskTicket:
    row = session.exec(select(DeskTicket).where(
        DeskTicket.tenant_id == tenant_id(session, tenant),
        DeskTicket.id == ticket_id)).first()
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    return row


def _ticket(row: DeskTicket) -> Ticket:
    assert row.id is not None
    return Ticket(id=row.id, subject=row.subject, body=row.body, status=row.status,
                  priority=row.priority, customer=row.customer_id, call=row.call_id,
                  assignee=row.assignee, created_by=row.created_by, created=row.created,
                  updated=row.updated)


def _comment(row: DeskComment) -> Comment:
    assert row.id is not None
    return Comment(id=row.id, author=row.author, body=row.body, at=row.at)


# -- knowledge base --------------------------------------------------------------------------


def create_article(store: Store, tenant: str, data: ArticleData, *, author: str,
                   now: float) -> Article:
    """Store a new knowledge-base article of ``tenant`` written by user ``author``."""

    def work(session: Session) -> Article:
        row = DeskArticle(tenant_id=tenant_id(session, tenant), title=data.title,
                          author=author, created=now, updated=now)
        _fill_article(row, data)
        session.add(row)
        session.flush()
        return _article(row)

    return store.write(work)


def get_article(store: Store, tenant: str, article_id: int) -> Article:
    return store.read(lambda session: _article(_require_article(session, tenant,
                                                                article_id)))


def update_article(store: Store, tenant: str, article_id: int,
                   changes: Mapping[str, object], *, now: float) -> Article:
    """Change the ``title``, ``body`` or ``tags`` named in ``changes`` (as sent) of article
    ``article_id``; the rest stays."""
    _only(changes, _ARTICLE_FIELDS)

    def work(session: Session) -> Article:
        row = _require_article(session, tenant, article_id)
        current: dict[str, object] = {"title": row.title, "body": row.body,
                                      "tags": json.loads(row.tags)}
        _fill_article(row, desk.check_article(**(current | dict(changes))))
        row.updated = now
        session.add(row)
        return _article(row)

    return store.write(work)


def delete_article(store: Store, tenant: str, article_id: int) -> None:
    def work(session: Session) -> None:
        session.delete(_require_article(session, tenant, article_id))

    store.write(work)


def find_articles(store: Store, tenant: str, *, text: str | None = None, after: int = 0,
                  limit: int = 100) -> Found[Article]:
    """``tenant``'s articles by id after ``after``, those whose title, body or a tag holds
    ``text`` (checked by `pycc.ccc.desk.check_search`) if given."""

    def work(session: Session) -> Found[Article]:
        statement = select(DeskArticle).where(
            DeskArticle.tenant_id == tenant_id(session, tenant),
            col(DeskArticle.id) > after)
        if text is not None:
            statement = statement.where(_holds(DeskArticle.search, text))
        rows = session.exec(statement.order_by(col(DeskArticle.id)).limit(limit + 1))
        return _page(list(rows), limit, _article)

    return store.read(work)


def _fill_article(row: DeskArticle, data: ArticleData) -> None:
    row.title = data.title
    row.body = data.body
    row.tags = json.dumps(list(data.tags))
    row.search = desk.search_text(data.title, data.body, *data.tags)


def _require_article(session: Session, tenant: str, article_id: int) -> DeskArticle:
    row = session.exec(select(DeskArticle).where(
        DeskArticle.tenant_id == tenant_id(session, tenant),
        DeskArticle.id == article_id)).first()
    if row is None:
        raise NotFound(f"no article {article_id}")
    return row


def _article(row: DeskArticle) -> Article:
    assert row.id is not None
    return Article(id=row.id, title=row.title, body=row.body, tags=json.loads(row.tags),
                   author=row.author, created=row.created, updated=row.updated)


# -- helpers ---------------------------------------------------------------------------------


def tenant_id(session: Session, tenant: str) -> int:
    """The id of ``tenant``; NotFound when there is none such."""
    found = session.exec(select(Tenant.id).where(Tenant.name == tenant)).first()
    if found is None:
        raise NotFound(f"tenant {tenant!r} does not exist")
    return found


def _holds(column: Any, text: str) -> ColumnElement[bool]:
    # autoescape: a % or _ the user typed is a character, not a wildcard.
    result: ColumnElement[bool] = col(column).contains(text, autoescape=True)
    return result


def _only(changes: Mapping[str, object], allowed: frozenset[str]) -> None:
    for name in changes:
        if name not in allowed:
            raise DeskError(name, "cannot be changed")


_Row = TypeVar("_Row")


def _page(rows: list[_Row], limit: int, view: Callable[[_Row], _V]) -> Found[_V]:
    # One row more than the page was read: whether there is a next page, without a count.
    items = [view(row) for row in rows[:limit]]
    following = getattr(rows[limit - 1], "id", None) if len(rows) > limit else None
    return Found(items, following)
