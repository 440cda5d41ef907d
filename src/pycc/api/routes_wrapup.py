"""Wrap-up from the agent's desktop: the tenant's disposition codes, and an agent's
disposition, notes and callback time written on a call's record (`pycc.aaa.wrapup`).
Sending the wrap-up ends the agent's wrap-up time, so the next call can come."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pycc.aaa.roles import Action
from pycc.aaa.wrapup import NotYourCall, Wrapup, dispose_call
from pycc.api.app import live_switch, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.ccc.dispositions import MAX_NOTES
from pycc.pds.store import DialerStore
from pycc.store.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["agents"])

#: How long a wrap-up waits for the record of a call up that has only just started.
RECORD_WAIT = 5.0


class DispositionOut(BaseModel):
    code: str
    label: str
    callback: bool


class WrapupIn(BaseModel):
    call: str = Field(min_length=1, max_length=200, description="the call's id (as listed)")
    code: str = Field(min_length=1, max_length=32)
    notes: str = Field(default="", max_length=MAX_NOTES)
    callback_at: float | None = Field(default=None, description="epoch seconds")


class WrapupOut(BaseModel):
    call: str
    code: str
    callback_at: float | None


@router.get("/dispositions", response_model=list[DispositionOut])
async def dispositions(principal: Caller, ctx: Context) -> list[DispositionOut]:
    """The codes agents choose from in wrap-up."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.QUEUES_READ if principal.agent is None else Action.AGENTS_READ,
          tenant=tenant, agent=principal.agent)
    center = live_switch(ctx, tenant).center
    assert center is not None
    return [DispositionOut(code=d.code, label=d.label, callback=d.callback)
            for d in center.config.dispositions]


@router.post("/agents/{agent}/wrapup", response_model=WrapupOut)
async def wrap_up(agent: str, body: WrapupIn, principal: Caller, ctx: Context) -> WrapupOut:
    """Dispose of one of ``agent``'s calls: the code (one of ``/v1/dispositions``), notes,
    and for a callback code the time to call back (required then, in the future)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.AGENT_STATE, tenant=tenant, agent=agent)
    center = live_switch(ctx, tenant).center
    assert center is not None
    config = center.acd.agent_configs.get(agent)
    if config is None:
        raise ProblemError(404, f"no agent {agent!r}")
    known = {d.code: d for d in center.config.dispositions}
    chosen = known.get(body.code)
    if chosen is None:
        raise ProblemError.field(422, "body.code", f"must be one of {', '.join(known)}")
    now = time.time()
    if chosen.callback and body.callback_at is None:
        raise ProblemError.field(422, "body.callback_at", f"{body.code} needs a time to call "
                                                          "back")
    if body.callback_at is not None and not now < body.callback_at < now + 366 * 86400:
        raise ProblemError.field(422, "body.callback_at", "must be within the coming year")
    if not body.notes.isprintable() and any(c not in "\r\n\t" and not c.isprintable()
                                            for c in body.notes):
        raise ProblemError.field(422, "body.notes", "must be text without control characters")
    wrapup = Wrapup(body.call, body.code, body.notes.strip(), body.callback_at)
    store = ctx.store
    deadline = time.monotonic() + RECORD_WAIT
    while True:
        try:
            done = await store.run(dispose_call, store.store, tenant, wrapup, agent=agent,
                                   extension=config.extension)
        except NotYourCall:
            raise ProblemError.field(404, "body.call", f"no call {body.call!r} of agent "
                                                       f"{agent!r}") from None
        if done is not None:
            break
        if time.monotonic() >= deadline or center.find_call(body.call) is None:
            # No record, and no such call up whose record is on its way.
            raise ProblemError.field(404, "body.call", f"no call {body.call!r} of agent "
                                                       f"{agent!r}")
        await asyncio.sleep(0.25)
    if done.campaign and done.contact and body.callback_at is not None:
        # A dialer's customer: the campaign calls back, ringing this agent first.
        dialer = DialerStore(store.store, tenant)
        try:
            contact_id = await store.run(dialer.find_contact, done.campaign, done.contact)
        except NotFound:
            raise ProblemError.field(404, "body.call", f"the contact of call {body.call!r} "
                                                       "is no longer in its campaign") from None
        await store.run(dialer.schedule_callback, contact_id, body.callback_at, agent, now=now)
        if ctx.switch is not None and ctx.switch.dialer is not None:
            ctx.switch.dialer.poke(done.campaign)
    center.acd.end_wrap_up(agent)
    center.bus.publish("agent.wrapup", agent=agent, call=body.call, code=body.code)
    return WrapupOut(call=body.call, code=body.code, callback_at=body.callback_at)
