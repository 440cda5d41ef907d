"""Agents and queues, live: who is logged in and doing what, and agent state changes
(login, logout, ready, not ready). An agent sees and changes only itself."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pycc.aaa.roles import Action
from pycc.api.app import live_switch, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["agents"])


class AgentOut(BaseModel):
    agent: str
    extension: str
    status: str
    state: str
    reason: str
    call: str
    calls_today: int


class QueueOut(BaseModel):
    queue: str
    waiting: int
    longest_wait: float
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None
    agents_logged_in: int
    agents_free: int


def _agents(ctx: Context, tenant: str) -> list[dict[str, object]]:
    center = live_switch(ctx, tenant).center
    assert center is not None
    agents = center.acd.snapshot()["agents"]
    assert isinstance(agents, list)
    return agents


@router.get("/agents", response_model=list[AgentOut])
async def list_agents(principal: Caller, ctx: Context) -> list[dict[str, object]]:
    """Every agent of the caller's tenant with its live state (an agent: itself only)."""
    tenant = tenant_of(principal, ctx)
    if principal.agent is not None:
        check(principal, Action.AGENTS_READ, tenant=tenant, agent=principal.agent)
        return [a for a in _agents(ctx, tenant) if a["agent"] == principal.agent]
    check(principal, Action.AGENTS_READ, tenant=tenant)
    return _agents(ctx, tenant)


@router.get("/agents/{agent}", response_model=AgentOut)
async def get_agent(agent: str, principal: Caller, ctx: Context) -> dict[str, object]:
    tenant = tenant_of(principal, ctx)
    check(principal, Action.AGENTS_READ, tenant=tenant, agent=agent)
    for found in _agents(ctx, tenant):
        if found["agent"] == agent:
            return found
    raise ProblemError(404, f"no agent {agent!r}")


class StateChange(BaseModel):
    action: Literal["login", "logout", "ready", "not_ready"]
    reason: str = Field(default="break", min_length=1, max_length=64)
    extension: str | None = Field(default=None, min_length=1, max_length=32)


@router.post("/agents/{agent}/state", response_model=AgentOut)
async def change_state(agent: str, body: StateChange, principal: Caller,
                       ctx: Context) -> dict[str, object]:
    """Log ``agent`` in (on its extension, or ``extension``) or out, make it ready or not
    ready (with ``reason``)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.AGENT_STATE, tenant=tenant, agent=agent)
    center = live_switch(ctx, tenant).center
    assert center is not None
    acd = center.acd
    if agent not in acd.agent_configs:
        raise ProblemError(404, f"no agent {agent!r}")
    if body.action == "login":
        refused = acd.login(agent, body.extension)
    elif body.action == "logout":
        refused = acd.logout(agent)
    elif body.action == "ready":
        refused = acd.ready(agent)
    else:
        refused = acd.not_ready(agent, body.reason)
    if refused:
        raise ProblemError.field(409, "body.action", refused)
    return await get_agent(agent, principal, ctx)


@router.get("/queues", response_model=list[QueueOut], tags=["queues"])
async def list_queues(principal: Caller, ctx: Context) -> list[dict[str, object]]:
    """Every queue with its live figures."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.QUEUES_READ, tenant=tenant)
    center = live_switch(ctx, tenant).center
    assert center is not None
    queues = center.acd.snapshot()["queues"]
    assert isinstance(queues, list)
    return queues


