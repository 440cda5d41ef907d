"""Health, metrics, logging in, and who the caller is."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from pycc.aaa.accounts import authenticate, issue_token
from pycc.aaa.audit import Origin
from pycc.api.app import ApiContext
from pycc.api.auth import Caller
from pycc.api.login_guard import check_login_allowed, login_failed, login_succeeded
from pycc.api.problems import ProblemError
from pycc.oam.metrics import CONTENT_TYPE

__all__ = ["context", "router"]

router = APIRouter()

#: How long a token from ``POST /v1/login`` lives.
LOGIN_TOKEN_DAYS = 0.5


async def context(request: Request) -> ApiContext:
    # A coroutine: FastAPI runs a plain function dependency in a worker thread, a hop that
    # costs more than the lookup.
    found: ApiContext = request.app.state.context
    return found


Context = Annotated[ApiContext, Depends(context)]


@router.get("/health", tags=["monitoring"])
async def health(ctx: Context) -> JSONResponse:
    """ok, degraded or failing, with each check; 503 when failing (for load balancers)."""
    if ctx.switch is None:
        return JSONResponse({"status": "failing", "checks": [
            {"name": "switch", "status": "failing", "detail": "not running"}]}, 503)
    report = await ctx.switch.health.report()
    return JSONResponse(report.to_dict(), status_code=report.http_status)


@router.get("/metrics", tags=["monitoring"], response_class=Response)
async def metrics(ctx: Context) -> Response:
    """Prometheus metrics in the text exposition format."""
    if ctx.switch is None:
        raise ProblemError(503, "the switch is not running")
    return Response(ctx.switch.metrics.render(), media_type=CONTENT_TYPE)


class Login(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(default=None, max_length=64)


class Token(BaseModel):
    token: str
    expires: float | None
    tenant: str
    user: str
    role: str


@router.post("/v1/login", tags=["identity"], response_model=Token)
async def login(body: Login, request: Request, ctx: Context) -> Token:
    """A user's password for an API token (half a day); prefer long-lived tokens from
    ``pycc admin token create`` for programs."""
    store = ctx.store
    check_login_allowed(request)
    principal = await store.run(authenticate, store.store, body.user, body.password,
                                tenant=body.tenant)
    if principal is None:
        login_failed(request, body.user)
        raise ProblemError(401, "wrong user name or password",
                           headers={"WWW-Authenticate": 'Bearer realm="pycc"'})
    login_succeeded(request)
    now = time.time()
    issued = await store.run(issue_token, store.store, principal.tenant, principal.user,
                             now=now, origin=Origin(principal.label, "api"), label="login",
                             expires=now + LOGIN_TOKEN_DAYS * 86400)
    return Token(token=issued.plaintext, expires=issued.info.expires, tenant=principal.tenant,
                 user=principal.user, role=principal.role.value)


class Me(BaseModel):
    user: str
    tenant: str
    role: str
    agent: str | None


@router.get("/v1/me", tags=["identity"], response_model=Me)
async def me(principal: Caller) -> Me:
    """Who the token acts as."""
    return Me(user=principal.user, tenant=principal.tenant, role=principal.role.value,
              agent=principal.agent)
