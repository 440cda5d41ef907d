"""The pages at ``/ui/`` (the agent desktop; `pycc.ccc.web`) and their login session.

``POST /ui/session`` logs a user in with a password and sets the session cookie;
``GET /ui/session`` says who the cookie belongs to and gives the page its anti-forgery
value; ``DELETE /ui/session`` revokes the session's token and clears the cookie. The files
are served with a content security policy that allows scripts from this origin only, so
text that slipped into the page unescaped still could not run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pycc.aaa.accounts import authenticate, issue_token, revoke_token
from pycc.aaa.audit import Origin
from pycc.api.auth import Caller
from pycc.api.login_guard import check_login_allowed, login_failed, login_succeeded
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context, Login
from pycc.api.session import COOKIE, csrf_for, session_token

__all__ = ["WEB_DIR", "UiFiles", "router"]

router = APIRouter(tags=["pages"])

WEB_DIR = Path(__file__).resolve().parent.parent / "ccc" / "web"
#: How long a page's session lasts without logging in again (a working day and a half).
SESSION_SECONDS = 12 * 3600

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class UiFiles(StaticFiles):
    """The page files, each with the security headers."""

    async def get_response(self, path: str, scope: Scope) -> Any:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


class SessionOut(BaseModel):
    user: str
    tenant: str
    role: str
    agent: str | None
    csrf: str = Field(description="send it as X-CSRF-Token with every request that changes "
                                  "anything")


@router.get("/ui", include_in_schema=False)
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/session", response_model=SessionOut)
async def who(request: Request, principal: Caller) -> SessionOut:
    """The logged-in user of the browser's session."""
    token = session_token(request)
    if token is None:
        raise ProblemError(401, "no browser session: log in")
    return SessionOut(user=principal.user, tenant=principal.tenant, role=principal.role.value,
                      agent=principal.agent, csrf=csrf_for(token))


@router.post("/ui/session", response_model=SessionOut)
async def log_in(body: Login, request: Request, response: Response,
                 ctx: Context) -> SessionOut:
    """Log in: the session cookie is set (HttpOnly, SameSite=Strict)."""
    store = ctx.store
    check_login_allowed(request)
    principal = await store.run(authenticate, store.store, body.user, body.password,
                                tenant=body.tenant)
    if principal is None:
        login_failed(request, body.user)
        raise ProblemError(401, "wrong user name or password")
    login_succeeded(request)
    now = time.time()
    issued = await store.run(issue_token, store.store, principal.tenant, principal.user,
                             now=now, origin=Origin(principal.label, "api"), label="browser",
                             expires=now + SESSION_SECONDS)
    response.set_cookie(COOKIE, issued.plaintext, max_age=SESSION_SECONDS, path="/",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return SessionOut(user=principal.user, tenant=principal.tenant, role=principal.role.value,
                      agent=principal.agent, csrf=csrf_for(issued.plaintext))


@router.delete("/ui/session", status_code=204)
async def log_out(request: Request, principal: Caller, ctx: Context) -> Response:
    """Log out: the session's token is revoked and the cookie cleared."""
    token = session_token(request)
    if token is None:
        raise ProblemError(401, "no browser session: log in")
    prefix = token.split("_")[1] if token.count("_") >= 2 else ""
    store = ctx.store
    if prefix:
        await store.run(revoke_token, store.store, prefix, now=time.time(),
                        origin=Origin(principal.label, "api"), tenant=principal.tenant)
    request.app.state.token_cache.clear()
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
