"""Users, their API tokens, and the audit log: a tenant's admin manages its own tenant's
users; the operator (tenant ``*``) every tenant's. Passwords and token secrets are never
shown, except a new token's once."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from pycc.aaa import accounts
from pycc.aaa.accounts import AccountError
from pycc.aaa.audit import Origin, query
from pycc.aaa.roles import Action, Role
from pycc.api.app import ApiContext, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.paging import Page, Paging, encode_cursor
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.store.errors import AlreadyExists, NotFound, StoreError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["users"])



class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=1, max_length=1024)
    agent: str | None = Field(default=None, min_length=1, max_length=128)


class UserChange(BaseModel):
    role: Role | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    agent: str | None = Field(default=None, min_length=1, max_length=128)
    enabled: bool | None = None


class UserOut(BaseModel):
    tenant: str
    name: str
    role: str
    agent: str | None
    enabled: bool
    created: float


class TokenIn(BaseModel):
    label: str = Field(default="", max_length=200)
    expires_days: float | None = Field(default=None, gt=0, le=3650)


class TokenOut(BaseModel):
    prefix: str
    tenant: str
    user: str
    label: str
    created: float
    expires: float | None
    last_used: float | None
    revoked: bool
    token: str | None = Field(default=None, description="shown once, when issued")


def _user_out(account: accounts.Account) -> UserOut:
    return UserOut(tenant=account.tenant, name=account.name, role=account.role.value,
                   agent=account.agent, enabled=account.enabled, created=account.created)


def _token_out(info: accounts.TokenInfo, plaintext: str | None = None) -> TokenOut:
    return TokenOut(**dataclasses.asdict(info), token=plaintext)


async def _account_call(ctx: ApiContext, function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await ctx.store.run(function, ctx.store.store, *args, **kwargs)
    except AccountError as exc:
        raise ProblemError.field(422, f"body.{exc.field}", str(exc).split(": ", 1)[-1]) \
            from None
    except AlreadyExists as exc:
        raise ProblemError(409, str(exc)) from None
    except NotFound as exc:
        raise ProblemError(404, str(exc)) from None
    except StoreError as exc:
        raise ProblemError(409, str(exc)) from None


TenantQuery = Annotated[str | None, Query(max_length=64,
                                          description="the operator's choice of tenant")]


@router.get("/users", response_model=list[UserOut])
async def list_users(principal: Caller, ctx: Context,
                     tenant: TenantQuery = None) -> list[UserOut]:
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_READ, tenant=owner)
    return [_user_out(a) for a in await _account_call(ctx, accounts.list_users, owner)]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserIn, principal: Caller, ctx: Context,
                      tenant: TenantQuery = None) -> UserOut:
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_WRITE, tenant=owner)
    return _user_out(await _account_call(
        ctx, accounts.create_user, owner, body.name, body.role, password=body.password,
        agent=body.agent, now=time.time(), origin=Origin(principal.label, "api")))


@router.patch("/users/{name}", response_model=UserOut)
async def change_user(name: str, body: UserChange, request: Request, principal: Caller,
                      ctx: Context,
                      tenant: TenantQuery = None) -> UserOut:
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_WRITE, tenant=owner)
    if owner == principal.tenant and name == principal.user and (
            body.enabled is False or (body.role is not None and body.role != principal.role)):
        # Nobody locks themself out: another admin has to do it.
        raise ProblemError.field(409, "body.enabled" if body.enabled is False else
                                 "body.role", "a user cannot disable or demote itself")
    extra: dict[str, Any] = {}
    if "agent" in body.model_fields_set:
        extra["agent"] = body.agent
    changed = await _account_call(
        ctx, accounts.update_user, owner, name, now=time.time(),
        origin=Origin(principal.label, "api"), role=body.role, password=body.password,
        enabled=body.enabled, **extra)
    request.app.state.token_cache.clear()  # a new role or a disabled user applies at once
    return _user_out(changed)


@router.delete("/users/{name}", status_code=204)
async def delete_user(name: str, request: Request, principal: Caller, ctx: Context,
                      tenant: TenantQuery = None) -> Response:
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_WRITE, tenant=owner)
    if owner == principal.tenant and name == principal.user:
        raise ProblemError.field(409, "path.name", "a user cannot delete itself")
    await _account_call(ctx, accounts.delete_user, owner, name, now=time.time(),
                        origin=Origin(principal.label, "api"))
    request.app.state.token_cache.clear()
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut], tags=["users"])
async def list_tokens(principal: Caller, ctx: Context, tenant: TenantQuery = None,
                      user: Annotated[str | None, Query(max_length=64)] = None,
                      ) -> list[TokenOut]:
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_READ, tenant=owner)
    infos = await _account_call(ctx, accounts.list_tokens, owner, user)
    return [_token_out(info) for info in infos]


@router.post("/users/{name}/tokens", response_model=TokenOut, status_code=201,
             tags=["users"])
async def issue(name: str, body: TokenIn, principal: Caller, ctx: Context,
                tenant: TenantQuery = None) -> TokenOut:
    """A new API token for user ``name``; its secret is in ``token``, this once."""
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_WRITE, tenant=owner)
    now = time.time()
    expires = None if body.expires_days is None else now + body.expires_days * 86400
    issued = await _account_call(ctx, accounts.issue_token, owner, name, now=now,
                                 origin=Origin(principal.label, "api"), label=body.label,
                                 expires=expires)
    return _token_out(issued.info, issued.plaintext)


@router.delete("/tokens/{prefix}", status_code=204, tags=["users"])
async def revoke(prefix: str, request: Request, principal: Caller, ctx: Context,
                 tenant: TenantQuery = None) -> Response:
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.USERS_WRITE, tenant=owner)
    try:
        await _account_call(ctx, accounts.revoke_token, prefix, now=time.time(),
                            origin=Origin(principal.label, "api"), tenant=owner)
    except ProblemError as exc:
        if exc.status == 422:
            raise ProblemError.field(422, "path.prefix", exc.errors[0].message) from None
        raise
    # Not even for the few seconds this node would remember it.
    request.app.state.token_cache.forget(prefix)
    return Response(status_code=204)


class AuditOut(BaseModel):
    id: int
    at: float
    tenant: str
    actor: str
    action: str
    target_kind: str
    target_id: str
    source: str
    detail: Any


@router.get("/audit", response_model=Page[AuditOut], tags=["users"])
async def audit_log(principal: Caller, ctx: Context, page: Paging,
                    tenant: TenantQuery = None,
                    since: Annotated[float | None, Query(ge=0)] = None,
                    actor: Annotated[str | None, Query(max_length=200)] = None,
                    ) -> Page[AuditOut]:
    """The audit log, oldest first."""
    owner = tenant_of(principal, ctx, tenant)
    check(principal, Action.AUDIT_READ, tenant=owner)
    found = await ctx.store.run(query, ctx.store.store, tenant=owner, actor=actor,
                                since=since, after=page.after or None, limit=page.limit)
    items = [AuditOut(id=e.id or 0, at=e.at, tenant=e.tenant, actor=e.actor, action=e.action,
                      target_kind=e.target_kind, target_id=e.target_id, source=e.source,
                      detail=json.loads(e.detail or "{}")) for e in found.entries]
    following = encode_cursor(found.next_after) if found.next_after is not None else None
    return Page[AuditOut](items=items, next=following)
