"""The agent desktop's records: customers (looked up by the caller's number when a call
comes), tickets with their comments, and the tenant's knowledge base (`pycc.ccc.desk_store`).

Every role works with its tenant's customers and tickets; agents read the knowledge base,
admins and supervisors also write it. Bad input is a 422 naming the field (rules in
`pycc.ccc.desk`); another tenant's record is a 404, like one that does not exist.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from pycc.aaa.roles import Action, Principal
from pycc.api.app import ApiContext, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.paging import Page, Paging, encode_cursor
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.ccc import desk, desk_store
from pycc.ccc.desk import DeskError
from pycc.ccc.desk_store import Found
from pycc.store.errors import NotFound, StoreError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["desk"])

_T = TypeVar("_T")
_Out = TypeVar("_Out", bound=BaseModel)

Status = Literal["open", "pending", "solved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
RecordId = Annotated[int, Path(ge=1, le=desk.MAX_ID)]


# -- bodies and answers ----------------------------------------------------------------------
# Lengths and counts are declared here for the OpenAPI document; `pycc.ccc.desk` checks
# them again with the rest (characters, e-mail shape, duplicates) for every caller.


class CustomerIn(BaseModel):
    name: str = Field(min_length=1, max_length=desk.MAX_NAME)
    phones: list[str] = Field(default_factory=list, max_length=desk.MAX_PHONES,
                              description="digits, spaces and + - ( ) ., 3 to 32 characters")
    email: str | None = Field(default=None, max_length=desk.MAX_EMAIL)
    company: str | None = Field(default=None, max_length=desk.MAX_COMPANY)
    notes: str = Field(default="", max_length=desk.MAX_NOTES)
    fields: dict[str, str] = Field(default_factory=dict, max_length=desk.MAX_FIELDS)


class CustomerChange(BaseModel):
    """Any of a customer's fields; those left out stay."""

    name: str | None = Field(default=None, min_length=1, max_length=desk.MAX_NAME)
    phones: list[str] | None = Field(default=None, max_length=desk.MAX_PHONES)
    email: str | None = Field(default=None, max_length=desk.MAX_EMAIL)
    company: str | None = Field(default=None, max_length=desk.MAX_COMPANY)
    notes: str | None = Field(default=None, max_length=desk.MAX_NOTES)
    fields: dict[str, str] | None = Field(default=None, max_length=desk.MAX_FIELDS)


class CustomerOut(BaseModel):
    id: int
    name: str
    phones: list[str]
    email: str | None
    company: str | None
    notes: str
    fields: dict[str, str]
    created: float
    updated: float


class TicketIn(BaseModel):
    subject: str = Field(min_length=1, max_length=desk.MAX_SUBJECT)
    body: str = Field(default="", max_length=desk.MAX_BODY)
    customer: int | None = Field(default=None, ge=1, le=desk.MAX_ID,
                                 description="a customer's id")
    call: str | None = Field(default=None, min_length=1, max_length=desk.MAX_CALL_ID,
                             description="the pycc call id it came from")
    assignee: str | None = Field(default=None, min_length=1, max_length=desk.MAX_USER_NAME,
                                 description="a user name of the tenant")
    priority: Priority = "normal"


class TicketChange(BaseModel):
    """Any of these; those left out stay, a null ``assignee`` leaves it to no one."""

    status: Status | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=desk.MAX_USER_NAME)
    priority: Priority | None = None
    subject: str | None = Field(default=None, min_length=1, max_length=desk.MAX_SUBJECT)


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=desk.MAX_COMMENT)


class CommentOut(BaseModel):
    id: int
    author: str
    body: str
    at: float


class TicketOut(BaseModel):
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


class TicketDetail(TicketOut):
    comments: list[CommentOut]


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=desk.MAX_TITLE)
    body: str = Field(default="", max_length=desk.MAX_KB_BODY)
    tags: list[str] = Field(default_factory=list, max_length=desk.MAX_TAGS)


class ArticleChange(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=desk.MAX_TITLE)
    body: str | None = Field(default=None, max_length=desk.MAX_KB_BODY)
    tags: list[str] | None = Field(default=None, max_length=desk.MAX_TAGS)


class ArticleOut(BaseModel):
    id: int
    title: str
    body: str
    tags: list[str]
    author: str
    created: float
    updated: float


# -- helpers ---------------------------------------------------------------------------------


async def call_store(ctx: ApiContext, where: str, function: Callable[..., _T], *args: Any,
                **kwargs: Any) -> _T:
    """``function`` on the store's thread, its failures as problems; ``where`` is what a
    `DeskError`'s field is in (``body``, ``query``)."""
    try:
        return await ctx.store.run(function, ctx.store.store, *args, **kwargs)
    except DeskError as exc:
        raise _invalid(where, exc) from None
    except NotFound as exc:
        raise ProblemError(404, str(exc)) from None
    except StoreError as exc:
        raise ProblemError(409, str(exc)) from None


def _invalid(where: str, exc: DeskError) -> ProblemError:
    return ProblemError.field(422, f"{where}.{exc.field}", exc.message)


def checked(where: str, check_: Callable[[], _T]) -> _T:
    try:
        return check_()
    except DeskError as exc:
        raise _invalid(where, exc) from None


def _page(found: Found[Any], out: type[_Out]) -> Page[_Out]:
    following = None if found.next_after is None else encode_cursor(found.next_after)
    return Page(items=[out(**dataclasses.asdict(item)) for item in found.items],
                next=following)


def _sent(body: BaseModel) -> dict[str, object]:
    """The fields a change named, with what it sent for them (null included)."""
    return {name: getattr(body, name) for name in body.model_fields_set}


def _tenant(principal: Principal, ctx: ApiContext, action: Action) -> str:
    tenant = tenant_of(principal, ctx)
    check(principal, action, tenant=tenant)
    return tenant


SearchQuery = Annotated[str | None, Query(max_length=desk.MAX_QUERY,
                                          description="a case-insensitive substring")]


def _search(q: str | None) -> str | None:
    return None if q is None else checked("query", lambda: desk.check_search(q))


# -- customers -------------------------------------------------------------------------------


@router.get("/customers", response_model=Page[CustomerOut])
async def list_customers(
        principal: Caller, ctx: Context, page: Paging, q: SearchQuery = None,
        phone: Annotated[str | None, Query(max_length=64,
                                           description="a number, matched in normal form "
                                                       "(digits after an optional +)")] = None,
) -> Page[CustomerOut]:
    """The tenant's customers, by id: those with the number ``phone`` (the caller's, when
    a call comes), and whose name, company, e-mail or a phone holds ``q``."""
    tenant = _tenant(principal, ctx, Action.CUSTOMERS)
    text = _search(q)
    number = None if phone is None else checked("query",
                                                 lambda: desk.check_phone_query(phone))
    found = await call_store(ctx, "query", desk_store.find_customers, tenant, text=text,
                        number=number, after=page.after, limit=page.limit)
    return _page(found, CustomerOut)


@router.post("/customers", response_model=CustomerOut, status_code=201)
async def create_customer(body: CustomerIn, principal: Caller,
                          ctx: Context) -> CustomerOut:
    tenant = _tenant(principal, ctx, Action.CUSTOMERS)
    data = checked("body", lambda: desk.check_customer(**body.model_dump()))
    made = await call_store(ctx, "body", desk_store.create_customer, tenant, data, now=time.time())
    return CustomerOut(**dataclasses.asdict(made))


@router.get("/customers/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: RecordId, principal: Caller,
                       ctx: Context) -> CustomerOut:
    tenant = _tenant(principal, ctx, Action.CUSTOMERS)
    found = await call_store(ctx, "path", desk_store.get_customer, tenant, customer_id)
    return CustomerOut(**dataclasses.asdict(found))


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
async def change_customer(customer_id: RecordId, body: CustomerChange, principal: Caller,
                          ctx: Context) -> CustomerOut:
    """Change the fields sent; null clears ``email`` and ``company``."""
    tenant = _tenant(principal, ctx, Action.CUSTOMERS)
    changed = await call_store(ctx, "body", desk_store.update_customer, tenant, customer_id,
                          _sent(body), now=time.time())
    return CustomerOut(**dataclasses.asdict(changed))


# -- tickets ---------------------------------------------------------------------------------


@router.get("/tickets", response_model=Page[TicketOut])
async def list_tickets(
        principal: Caller, ctx: Context, page: Paging,
        status: Status | None = None,
        assignee: Annotated[str | None, Query(min_length=1, max_length=desk.MAX_USER_NAME,
                                              description="a user name, or me")] = None,
        customer: Annotated[int | None, Query(ge=1, le=desk.MAX_ID)] = None,
        q: SearchQuery = None,
) -> Page[TicketOut]:
    """The tenant's tickets, newest first, narrowed by what is given (``q``: a substring
    of the subject or body)."""
    tenant = _tenant(principal, ctx, Action.TICKETS)
    text = _search(q)
    if assignee is not None:
        assignee = principal.user if assignee == "me" else checked(
            "query", lambda: desk.check_user_name(assignee, "assignee"))
    found = await call_store(ctx, "query", desk_store.find_tickets, tenant, status=status,
                        assignee=assignee, customer=customer, text=text,
                        before=page.after, limit=page.limit)
    return _page(found, TicketOut)


@router.post("/tickets", response_model=TicketOut, status_code=201)
async def create_ticket(body: TicketIn, principal: Caller, ctx: Context) -> TicketOut:
    """Open a ticket, written by the caller; its customer and assignee must be the
    tenant's."""
    tenant = _tenant(principal, ctx, Action.TICKETS)
    data = checked("body", lambda: desk.check_ticket(**body.model_dump()))
    made = await call_store(ctx, "body", desk_store.create_ticket, tenant, data,
                       created_by=principal.user, now=time.time())
    return TicketOut(**dataclasses.asdict(made))


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
async def get_ticket(ticket_id: RecordId, principal: Caller, ctx: Context) -> TicketDetail:
    """A ticket with its comments, oldest first."""
    tenant = _tenant(principal, ctx, Action.TICKETS)
    ticket, comments = await call_store(ctx, "path", desk_store.get_ticket, tenant, ticket_id)
    return TicketDetail(**dataclasses.asdict(ticket),
                        comments=[CommentOut(**dataclasses.asdict(c)) for c in comments])


@router.patch("/tickets/{ticket_id}", response_model=TicketOut)
async def change_ticket(ticket_id: RecordId, body: TicketChange, principal: Caller,
                        ctx: Context) -> TicketOut:
    """Change the fields sent."""
    tenant = _tenant(principal, ctx, Action.TICKETS)
    changed = await call_store(ctx, "body", desk_store.update_ticket, tenant, ticket_id,
                          _sent(body), now=time.time())
    return TicketOut(**dataclasses.asdict(changed))


@router.post("/tickets/{ticket_id}/comments", response_model=CommentOut, status_code=201)
async def comment(ticket_id: RecordId, body: CommentIn, principal: Caller,
                  ctx: Context) -> CommentOut:
    """Add a comment by the caller to a ticket."""
    tenant = _tenant(principal, ctx, Action.TICKETS)
    text = checked("body", lambda: desk.check_comment(body.body))
    made = await call_store(ctx, "body", desk_store.add_comment, tenant, ticket_id, text,
                       author=principal.user, now=time.time())
    return CommentOut(**dataclasses.asdict(made))


# -- knowledge base --------------------------------------------------------------------------


@router.get("/kb", response_model=Page[ArticleOut])
async def list_articles(principal: Caller, ctx: Context, page: Paging,
                        q: SearchQuery = None) -> Page[ArticleOut]:
    """The tenant's articles by id, those whose title, body or a tag holds ``q``."""
    tenant = _tenant(principal, ctx, Action.KB_READ)
    text = _search(q)
    found = await call_store(ctx, "query", desk_store.find_articles, tenant, text=text,
                        after=page.after, limit=page.limit)
    return _page(found, ArticleOut)


@router.post("/kb", response_model=ArticleOut, status_code=201)
async def create_article(body: ArticleIn, principal: Caller, ctx: Context) -> ArticleOut:
    tenant = _tenant(principal, ctx, Action.KB_WRITE)
    data = checked("body", lambda: desk.check_article(**body.model_dump()))
    made = await call_store(ctx, "body", desk_store.create_article, tenant, data,
                       author=principal.user, now=time.time())
    return ArticleOut(**dataclasses.asdict(made))


@router.get("/kb/{article_id}", response_model=ArticleOut)
async def get_article(article_id: RecordId, principal: Caller, ctx: Context) -> ArticleOut:
    tenant = _tenant(principal, ctx, Action.KB_READ)
    found = await call_store(ctx, "path", desk_store.get_article, tenant, article_id)
    return ArticleOut(**dataclasses.asdict(found))


@router.patch("/kb/{article_id}", response_model=ArticleOut)
async def change_article(article_id: RecordId, body: ArticleChange, principal: Caller,
                         ctx: Context) -> ArticleOut:
    tenant = _tenant(principal, ctx, Action.KB_WRITE)
    changed = await call_store(ctx, "body", desk_store.update_article, tenant, article_id,
                          _sent(body), now=time.time())
    return ArticleOut(**dataclasses.asdict(changed))


@router.delete("/kb/{article_id}", status_code=204)
async def delete_article(article_id: RecordId, principal: Caller, ctx: Context) -> Response:
    tenant = _tenant(principal, ctx, Action.KB_WRITE)
    await call_store(ctx, "path", desk_store.delete_article, tenant, article_id)
    return Response(status_code=204)
