"""The admin API application: `create_app` wires the routes, the problem documents, the
idempotency keys and the caller's identity over an `ApiContext` (the store, the tenant this
node serves live, and the running switch, if any).

Routes are versioned under ``/v1``; ``/health`` and ``/metrics`` are at the root for load
balancers and Prometheus. The OpenAPI document is at ``/openapi.json`` (and browsable at
``/docs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI

from pycc import __version__
from pycc.aaa.roles import Principal
from pycc.api import problems
from pycc.api.auth import TokenCache
from pycc.api.idempotency import IdempotencyMiddleware
from pycc.api.problems import ProblemError
from pycc.store.async_store import AsyncStore

if TYPE_CHECKING:
    from pycc.switch import Switch

__all__ = ["ApiContext", "create_app", "live_switch", "tenant_of"]


@dataclass
class ApiContext:
    """What the routes work on. ``switch`` is None for an API without a running switch (its
    live routes answer 503)."""

    store: AsyncStore
    tenant: str = "default"
    switch: Switch | None = None


def tenant_of(principal: Principal, context: ApiContext, asked: str | None = None) -> str:
    """The tenant a request acts on: its principal's, or for the operator (tenant ``*``)
    the one it ``asked`` for, else the one this node serves."""
    if principal.is_system:
        return asked or context.tenant
    if asked is not None and asked != principal.tenant:
        raise ProblemError(404, f"no tenant {asked!r}")
    return principal.tenant


def live_switch(context: ApiContext, tenant: str) -> Switch:
    """The running switch serving ``tenant``, or the problem saying why there is none."""
    switch = context.switch
    if switch is None or switch.center is None:
        raise ProblemError(503, "the switch is not running")
    if tenant != context.tenant:
        raise ProblemError(404, f"tenant {tenant!r} is not served by this node")
    return switch


def create_app(context: ApiContext) -> FastAPI:
    """The API application over ``context``."""
    from pycc.api import (
        routes_agents,
        routes_announcements,
        routes_calls,
        routes_campaigns,
        routes_config,
        routes_desk,
        routes_events,
        routes_files,
        routes_phone,
        routes_records,
        routes_system,
        routes_ui,
        routes_users,
        routes_wallboard,
        routes_wrapup,
    )

    app = FastAPI(title="pycc admin API", version=__version__,
                  description="Configuration, call control, campaigns, call records, "
                              "reports and live events of a pycc call center.")
    app.state.context = context
    app.state.token_cache = TokenCache()
    problems.install(app)
    app.add_middleware(IdempotencyMiddleware)
    for module in (routes_system, routes_agents, routes_calls, routes_campaigns, routes_config,
                   routes_records, routes_files, routes_users, routes_events, routes_phone,
                   routes_wrapup, routes_wallboard, routes_desk, routes_announcements,
                   routes_ui):
        app.include_router(module.router)
    app.mount("/ui", routes_ui.UiFiles(directory=routes_ui.WEB_DIR, html=True,
                                       check_dir=False), name="ui")
    return app
