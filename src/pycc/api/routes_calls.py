"""Call control: the calls up now, click-to-call (ring an extension or an agent's phone,
then dial the number), hanging a call up, and blind transfer of an answered call to an
extension, a queue, an IVR flow, a number, a conference or an agent."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, model_validator

from pycc.aaa.roles import Action
from pycc.api.app import live_switch, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.ccmanager.center import TransferRefused

__all__ = ["router"]

router = APIRouter(prefix="/v1/calls", tags=["calls"])



class CallOut(BaseModel):
    id: str
    kind: str = Field(description="routed (a call that came in) or placed (pycc called)")
    caller: str
    callee: str
    state: str
    start: float
    answer: float | None
    queue: str | None = None
    agent: str | None = None


@router.get("", response_model=list[CallOut])
async def list_calls(principal: Caller, ctx: Context) -> list[CallOut]:
    """The calls up now: those routed through pycc and those pycc placed."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CALLS_READ, tenant=tenant)
    switch = live_switch(ctx, tenant)
    calls: list[CallOut] = []
    if switch.b2bua is not None:
        for call in switch.b2bua.calls.values():
            if call.state.value == "ended":
                continue
            info = call.media_info
            calls.append(CallOut(
                id=call.call_id, kind="routed", caller=call.caller, callee=call.callee,
                state=call.state.value, start=call.start, answer=call.answer,
                queue=_text(info.get("queue")), agent=_text(info.get("agent"))))
    if switch.originator is not None:
        for placed in switch.originator.calls.values():
            if placed.state.value in ("ended", "failed"):
                continue
            calls.append(CallOut(id=placed.id, kind="placed", caller=placed.caller,
                                 callee=placed.target, state=placed.state.value,
                                 start=placed.start, answer=placed.answer))
    return sorted(calls, key=lambda c: c.start)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class Originate(BaseModel):
    number: str = Field(min_length=1, max_length=64, pattern=r"^\+?[0-9*#]+$",
                        description="what to dial once the phone answers")
    extension: str | None = Field(default=None, min_length=1, max_length=32)
    agent: str | None = Field(default=None, min_length=1, max_length=128,
                              description="ring this agent's extension instead")
    caller_id: str | None = Field(default=None, min_length=1, max_length=64,
                                  pattern=r"^\+?[0-9]+$")

    @model_validator(mode="after")
    def one_phone(self) -> Originate:
        if (self.extension is None) == (self.agent is None):
            raise ValueError("give either extension or agent")
        return self


@router.post("", response_model=CallOut, status_code=201)
async def originate(body: Originate, principal: Caller, ctx: Context) -> CallOut:
    """Click-to-call: the extension's (or agent's) phone rings first; when it answers,
    pycc dials ``number`` and connects them."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CALLS_CONTROL, tenant=tenant)
    center = live_switch(ctx, tenant).center
    assert center is not None
    extension = body.extension
    if body.agent is not None:
        config = center.acd.agent_configs.get(body.agent)
        if config is None:
            raise ProblemError.field(422, "body.agent", f"no agent {body.agent!r}")
        extension = config.extension
    assert extension is not None
    placed = center.click_to_call(extension, body.number, body.caller_id or "")
    if placed is None:
        raise ProblemError.field(409, "body.extension" if body.agent is None else "body.agent",
                                 f"extension {extension} has no phone registered")
    return CallOut(id=placed.id, kind="placed", caller=placed.caller, callee=placed.target,
                   state=placed.state.value, start=placed.start, answer=placed.answer)


@router.delete("/{call_id}", status_code=204)
async def hang_up(call_id: str, principal: Caller, ctx: Context) -> Response:
    """Hang up a call (BYE to both sides, or CANCEL while it rings)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CALLS_CONTROL, tenant=tenant)
    switch = live_switch(ctx, tenant)
    if switch.b2bua is not None and switch.b2bua.end_call(call_id):
        return Response(status_code=204)
    originator = switch.originator
    placed = originator.calls.get(call_id) if originator is not None else None
    if placed is None or originator is None:
        raise ProblemError(404, f"no call {call_id!r}")
    if placed.state.value == "answered":
        originator.hangup(placed, "200 Ended By Operator", force=True)
    else:
        originator.cancel(placed, "487 Ended By Operator")
    return Response(status_code=204)


class TransferTarget(BaseModel):
    kind: Literal["extension", "queue", "ivr", "number", "conference", "agent"]
    name: str = Field(min_length=1, max_length=128)


class Transfer(BaseModel):
    target: TransferTarget
    party: Literal["caller", "callee"] | None = Field(
        default=None, description="who stays on the line and goes to the target, as the "
                                  "call's listing names them (default: the outside party: "
                                  "who called in, a number called over a trunk, a customer "
                                  "pycc dialed)")


class TransferOut(BaseModel):
    id: str
    party: str = Field(description="the party that went to the target")
    kept: str = Field(description="the id of the call that stays up, running the target")
    released: str | None = Field(description="the id of the call of the party hung up")
    target: TransferTarget


@router.post("/{call_id}/transfer", response_model=TransferOut, status_code=202)
async def transfer(call_id: str, body: Transfer, principal: Caller,
                   ctx: Context) -> TransferOut:
    """Blind transfer: the party that stays (``party``) is taken from whatever it is
    connected to (an agent, a phone, an IVR, a queue) and goes to ``target``; the other party
    is hung up (an agent goes to wrap-up). Answered once the party has gone to the target
    (whether the target answers is not awaited). An agent may transfer only a call it is
    on."""
    tenant = tenant_of(principal, ctx)
    center = live_switch(ctx, tenant).center
    assert center is not None
    found = center.find_call(call_id)
    if found is None:
        check(principal, Action.CALLS_TRANSFER, tenant=tenant, agent=principal.agent)
        raise ProblemError(404, f"no call {call_id!r}")
    on_call = center.agents_on(center.conversation(found))
    check(principal, Action.CALLS_TRANSFER, tenant=tenant,
          agent=principal.agent if principal.agent in on_call else None)
    target = body.target
    try:
        done = await center.transfer(call_id, target.kind, target.name, body.party,
                                     by=principal.label)
    except LookupError:
        raise ProblemError(404, f"no call {call_id!r}") from None
    except TransferRefused as exc:
        if exc.field is None:
            raise ProblemError(409, exc.message) from None
        raise ProblemError.field(422, f"body.{exc.field}", exc.message) from None
    return TransferOut(id=call_id, party=done.party, kept=done.kept.id,
                       released=done.released.id if done.released is not None else None,
                       target=target)
