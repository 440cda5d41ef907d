"""Campaigns: their live figures, start and stop, contact imports (CSV, as ``pycc campaign
import``), callbacks, and the do-not-call list."""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from pycc.aaa import audit
from pycc.aaa.audit import Origin
from pycc.aaa.roles import Action
from pycc.api.app import ApiContext, live_switch, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.paging import Page, Paging, encode_cursor
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.pds.campaign import CampaignConfig, CampaignError
from pycc.pds.command import (
    agent_ids,
    applied_campaign,
    applied_campaigns,
    import_contacts,
    parse_when,
)
from pycc.pds.contacts import ContactsError, parse_dnc
from pycc.pds.service import DialerError
from pycc.pds.store import DialerStore
from pycc.store.dialer_models import DialerCampaign, DialerContact, DialerDnc
from pycc.store.errors import NotFound
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["campaigns"])

#: The largest contact file one request may carry.
MAX_IMPORT_BYTES = 20 * 1024 * 1024



def _campaign(store: Store, tenant: str, name: str) -> CampaignConfig:
    config = applied_campaign(store, tenant, name)
    if config is None:
        try:
            return DialerStore(store, tenant).get_campaign(name)
        except NotFound:
            raise ProblemError(404, f"no campaign {name!r}") from None
    if config.is_template:
        raise ProblemError(404, f"{name!r} is a template, not a campaign")
    return config


class CampaignStatus(BaseModel):
    campaign: str
    running: bool
    mode: str | None = None
    #: Lines dialled per agent now (ratio, adaptive and progressive modes).
    dial_level: float | None = None
    in_flight: int | None = None
    dialed: int | None = None
    answered: int | None = None
    connected: int | None = None
    abandoned: int | None = None
    abandon_rate: float | None = None
    answer_to_agent_p95: float | None = None
    contacts: dict[str, int] = Field(default_factory=dict)


async def _status(ctx: ApiContext, tenant: str, name: str) -> CampaignStatus:
    store = ctx.store
    config = await store.run(_campaign, store.store, tenant, name)
    counts: dict[str, int] = {}
    with contextlib.suppress(NotFound):  # nothing imported yet
        counts = await store.run(DialerStore(store.store, tenant).campaign_status, name)
    return live_status(ctx, tenant, name, config, counts)


def live_status(ctx: ApiContext, tenant: str, name: str, config: CampaignConfig,
          counts: dict[str, int]) -> CampaignStatus:
    """A campaign's status: its stored figures and, while it runs here, the live ones."""
    live: dict[str, Any] = {"campaign": name, "running": False, "mode": config.mode}
    switch = ctx.switch
    if switch is not None and switch.dialer is not None and tenant == ctx.tenant:
        live.update(switch.dialer.status(name))
    return CampaignStatus(**live, contacts=counts)


@router.get("/campaigns", response_model=list[CampaignStatus])
async def list_campaigns(principal: Caller, ctx: Context) -> list[CampaignStatus]:
    """Every campaign of the tenant with its contacts by state and, while it runs, its live
    figures."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    store = ctx.store
    # One trip to the store for all of them: this is a wallboard's poll.
    applied, dialed = await store.run(overview, store.store, tenant)
    statuses = []
    for name in sorted(set(dialed) | set(applied)):
        config = applied.get(name) or dialed[name][0]
        counts = dialed[name][1] if name in dialed else {}
        statuses.append(live_status(ctx, tenant, name, config, counts))
    return statuses


def overview(store: Store, tenant: str) -> tuple[dict[str, CampaignConfig],
                                                   dict[str, tuple[CampaignConfig,
                                                                   dict[str, int]]]]:
    """The applied campaigns (templates left out) and the dialer's, with their contacts."""
    applied = {name: config for name, config in applied_campaigns(store, tenant).items()
               if not config.is_template}
    return applied, DialerStore(store, tenant).campaigns_overview()


@router.get("/campaigns/{name}", response_model=CampaignStatus)
async def get_campaign(name: str, principal: Caller, ctx: Context) -> CampaignStatus:
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    return await _status(ctx, tenant, name)


@router.post("/campaigns/{name}/start", response_model=CampaignStatus)
async def start(name: str, principal: Caller, ctx: Context) -> CampaignStatus:
    """Start (or resume) dialing; it dials at once."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CAMPAIGNS_RUN, tenant=tenant)
    switch = live_switch(ctx, tenant)
    assert switch.dialer is not None
    await switch.reload()
    try:
        await switch.dialer.start(name)
    except DialerError as exc:
        raise ProblemError(409 if "queue" in str(exc) else 404, str(exc)) from None
    return await _status(ctx, tenant, name)


@router.post("/campaigns/{name}/stop", response_model=CampaignStatus)
async def stop(name: str, principal: Caller, ctx: Context) -> CampaignStatus:
    """Stop dialing; calls already up finish."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CAMPAIGNS_RUN, tenant=tenant)
    switch = live_switch(ctx, tenant)
    assert switch.dialer is not None
    try:
        await switch.dialer.stop(name)
    except DialerError as exc:
        raise ProblemError(404, str(exc)) from None
    return await _status(ctx, tenant, name)


class RowProblem(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    campaign: str
    rows: int
    added: int
    already_there: int
    rejected: list[RowProblem]
    duplicates: list[RowProblem]
    do_not_call: list[RowProblem]


@router.post("/campaigns/{name}/contacts", response_model=ImportOut, status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}}}}})
async def import_csv(name: str, request: Request, principal: Caller,
                     ctx: Context) -> ImportOut:
    """Import contacts from a CSV body (``text/csv``, a ``phone`` column and optional
    ``id``, ``name``, ``zone``, ``priority`` and custom columns), like ``pycc campaign
    import``: bad rows are listed with their line numbers, good rows added all at once, ids
    imported before are skipped."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    body = await _body(request)
    store = ctx.store
    config = await store.run(_campaign, store.store, tenant, name)
    dialer = DialerStore(store.store, tenant)
    try:
        report, result = await store.run(import_contacts, dialer, config, body, time.time())
    except ContactsError as exc:
        raise ProblemError.field(422, "body", str(exc)) from None
    if ctx.switch is not None and ctx.switch.dialer is not None and tenant == ctx.tenant:
        ctx.switch.dialer.poke(name)  # a running campaign dials the new ones at once
    return ImportOut(
        campaign=name, rows=report.rows, added=result.added,
        already_there=result.skipped_existing,
        rejected=[RowProblem(line=line, reason=reason) for line, reason in report.rejected],
        duplicates=[RowProblem(line=line, reason=f"duplicate of line {first}")
                    for line, first in report.duplicates],
        do_not_call=[RowProblem(line=line, reason=f"{number} is on the do-not-call list")
                     for line, number in report.dnc])


async def _body(request: Request) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "text/plain", "application/csv"):
        raise ProblemError.field(415, "header.Content-Type", "send the contacts as text/csv")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise ProblemError.field(413, "body", f"larger than {MAX_IMPORT_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise ProblemError.field(413, "body", f"larger than {MAX_IMPORT_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class CallbackIn(BaseModel):
    contact: str = Field(min_length=1, max_length=128, description="the contact's id")
    at: str = Field(min_length=1, max_length=64,
                    description="ISO 8601 (the campaign's zone unless it has an offset), "
                                "or +SECONDS, +MINUTESm, +HOURSh, +DAYSd")
    agent: str | None = Field(default=None, min_length=1, max_length=128)


class CallbackOut(BaseModel):
    campaign: str
    contact: str
    at: float
    agent: str | None


@router.post("/campaigns/{name}/callbacks", response_model=CallbackOut, status_code=201)
async def schedule_callback(name: str, body: CallbackIn, principal: Caller,
                            ctx: Context) -> CallbackOut:
    """Schedule a callback of a contact, by one agent if given: its phone rings first when
    the callback is due. An agent may schedule callbacks for itself only."""
    tenant = tenant_of(principal, ctx)
    if principal.agent is not None:
        if body.agent not in (None, principal.agent):
            raise ProblemError.field(403, "body.agent", "an agent schedules its own callbacks")
        agent: str | None = principal.agent
        check(principal, Action.AGENT_STATE, tenant=tenant, agent=agent)
    else:
        agent = body.agent
        check(principal, Action.CAMPAIGNS_RUN, tenant=tenant)
    store = ctx.store
    config = await store.run(_campaign, store.store, tenant, name)
    now = time.time()
    try:
        at = parse_when(body.at, now, config.timezone)
    except ValueError as exc:
        raise ProblemError.field(422, "body.at", str(exc)) from None
    if at < now - 60.0:
        raise ProblemError.field(422, "body.at", "is in the past")
    if agent is not None and agent not in await store.run(agent_ids, store.store, tenant):
        raise ProblemError.field(422, "body.agent", f"no agent {agent!r}")
    dialer = DialerStore(store.store, tenant)
    try:
        contact_id = await store.run(dialer.find_contact, name, body.contact)
    except NotFound as exc:
        raise ProblemError.field(404, "body.contact", str(exc)) from None
    await store.run(dialer.schedule_callback, contact_id, at, agent, now=now)
    if ctx.switch is not None and ctx.switch.dialer is not None and tenant == ctx.tenant:
        ctx.switch.dialer.poke(name)
    return CallbackOut(campaign=name, contact=body.contact, at=at, agent=agent)


class ContactOut(BaseModel):
    id: str
    phone: str
    name: str | None
    zone: str
    priority: int
    state: str
    result: str | None
    attempts: int
    next_at: float | None
    callback_agent: str | None
    fields: dict[str, Any]


def _contacts(store: Store, tenant: str, name: str, after: int, limit: int,
              state: str | None) -> list[tuple[int, ContactOut]]:
    def work(session: Session) -> list[tuple[int, ContactOut]]:
        campaign = session.exec(select(DialerCampaign).join(
            Tenant, col(Tenant.id) == DialerCampaign.tenant_id).where(
            Tenant.name == tenant, DialerCampaign.name == name)).first()
        if campaign is None:
            raise ProblemError(404, f"no contacts imported into campaign {name!r}")
        statement = (select(DialerContact)
                     .where(DialerContact.campaign_id == campaign.id,
                            col(DialerContact.id) > after)
                     .order_by(col(DialerContact.id)).limit(limit))
        if state is not None:
            statement = statement.where(DialerContact.state == state)
        return [(row.id or 0, ContactOut(
            id=row.external_id, phone=row.phone, name=row.name, zone=row.zone,
            priority=row.priority, state=row.state, result=row.result,
            attempts=row.attempts, next_at=row.next_at, callback_agent=row.callback_agent,
            fields=json.loads(row.fields or "{}"))) for row in session.exec(statement)]

    return store.read(work)


@router.get("/campaigns/{name}/contacts", response_model=Page[ContactOut])
async def list_contacts(name: str, principal: Caller, ctx: Context,
                        page: Paging,
                        state: Annotated[str | None, Query(max_length=32)] = None,
                        ) -> Page[ContactOut]:
    """The campaign's contacts with where each stands (state, result, attempts)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    rows = await ctx.store.run(_contacts, ctx.store.store, tenant, name, page.after,
                               page.limit, state)
    following = encode_cursor(rows[-1][0]) if len(rows) == page.limit else None
    return Page[ContactOut](items=[row for _, row in rows], next=following)


class DncIn(BaseModel):
    numbers: list[str] = Field(min_length=1, max_length=100_000)
    country: str | None = Field(default=None, min_length=2, max_length=2)


class DncOut(BaseModel):
    added: int
    rejected: list[RowProblem]


class DncEntry(BaseModel):
    number: str
    added: float


def _dnc_page(store: Store, tenant: str, after: int, limit: int) -> list[tuple[int, DncEntry]]:
    def work(session: Session) -> list[tuple[int, DncEntry]]:
        statement = (select(DialerDnc).join(Tenant, col(Tenant.id) == DialerDnc.tenant_id)
                     .where(Tenant.name == tenant, col(DialerDnc.id) > after)
                     .order_by(col(DialerDnc.id)).limit(limit))
        return [(row.id or 0, DncEntry(number=row.number, added=row.added))
                for row in session.exec(statement)]

    return store.read(work)


def _dnc_remove(store: Store, tenant: str, number: str, now: float, origin: Origin) -> bool:
    def work(session: Session) -> bool:
        rows = list(session.exec(select(DialerDnc).join(
            Tenant, col(Tenant.id) == DialerDnc.tenant_id).where(
            Tenant.name == tenant, DialerDnc.number == number)))
        for row in rows:
            session.delete(row)
        if rows:
            audit.record(session, now=now, tenant=tenant, origin=origin, action="delete",
                         target_kind="do-not-call", target_id=number)
        return bool(rows)

    return store.write(work)


def _dnc_added(store: Store, tenant: str, numbers: list[str], added: int, now: float,
               origin: Origin) -> None:
    """The audit entry of an addition: who added how many numbers (the first few named)."""
    def work(session: Session) -> None:
        audit.record(session, now=now, tenant=tenant, origin=origin, action="create",
                     target_kind="do-not-call", target_id=numbers[0] if len(numbers) == 1
                     else f"{len(numbers)} numbers",
                     detail={"added": added, "numbers": numbers[:20]})

    store.write(work)


@router.get("/do-not-call", response_model=Page[DncEntry], tags=["campaigns"])
async def list_dnc(principal: Caller, ctx: Context,
                   page: Paging) -> Page[DncEntry]:
    """The tenant's do-not-call list."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    rows = await ctx.store.run(_dnc_page, ctx.store.store, tenant, page.after, page.limit)
    following = encode_cursor(rows[-1][0]) if len(rows) == page.limit else None
    return Page[DncEntry](items=[row for _, row in rows], next=following)


@router.delete("/do-not-call/{number}", status_code=204, tags=["campaigns"])
async def remove_dnc(number: str, principal: Caller, ctx: Context) -> Response:
    """Take ``number`` (E.164, ``+`` and digits) off the do-not-call list."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    if not re.fullmatch(r"\+[1-9][0-9]{1,14}", number):
        raise ProblemError.field(422, "path.number", "an E.164 number: + and up to 15 digits")
    if not await ctx.store.run(_dnc_remove, ctx.store.store, tenant, number, time.time(),
                               Origin(principal.label, "api")):
        raise ProblemError(404, f"{number} is not on the do-not-call list")
    return Response(status_code=204)


@router.post("/do-not-call", response_model=DncOut, status_code=201, tags=["campaigns"])
async def add_dnc(body: DncIn, principal: Caller, ctx: Context) -> DncOut:
    """Add numbers to the tenant's do-not-call list (checked at every dial)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    text = "phone\n" + "\n".join(n.replace("\n", " ") for n in body.numbers) + "\n"
    try:
        listed = parse_dnc(text.encode(), body.country)
    except (ContactsError, CampaignError) as exc:
        raise ProblemError.field(422, "body.numbers", str(exc)) from None
    store = ctx.store
    now = time.time()
    added = await store.run(DialerStore(store.store, tenant).add_dnc, tenant, listed.numbers,
                            now)
    if added:
        await store.run(_dnc_added, store.store, tenant, listed.numbers, added, now,
                        Origin(principal.label, "api"))
    # The header line the numbers were given under is line 1: a number's line is its
    # position in ``numbers``, from 1.
    return DncOut(added=added, rejected=[RowProblem(line=line - 1, reason=reason)
                                         for line, reason in listed.rejected])
