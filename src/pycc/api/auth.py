"""Who is calling: the bearer token of every request resolved to a `Principal`, and the role
table of :mod:`pycc.aaa.roles` asked before acting.

A request without a token, or with one that is unknown, expired or revoked, gets 401 with a
``WWW-Authenticate: Bearer`` challenge. A principal acting outside its role gets 403; a
resource of another tenant is answered 404, as if it did not exist, so tenants cannot probe
each other. Resolved tokens are remembered for a few seconds (a revoked token stops working
within `TOKEN_CACHE_SECONDS`) so that a busy client costs no database read per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import Depends, Request

from pycc.aaa.accounts import resolve_token
from pycc.aaa.roles import Action, Principal, allowed
from pycc.api.problems import ProblemError
from pycc.api.session import SAFE_METHODS, csrf_ok, session_token
from pycc.store.async_store import AsyncStore

__all__ = ["TOKEN_CACHE_SECONDS", "Caller", "TokenCache", "caller", "check", "resolve"]

TOKEN_CACHE_SECONDS: Final = 5.0
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="pycc"'}


@dataclass
class TokenCache:
    """Recently resolved tokens (plaintext -> principal, until when)."""

    ttl: float = TOKEN_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    entries: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    #: Lookups in flight, by token (see `resolve`).
    lookups: dict[str, asyncio.Future[Principal | None]] = field(default_factory=dict)
    #: One more at every `forget` and `clear`: a lookup that started before one is not kept.
    generation: int = 0

    def get(self, token: str) -> Principal | None:
        found = self.entries.get(token)
        if found is None:
            return None
        if found[1] < self.clock():
            del self.entries[token]
            return None
        return found[0]

    def forget(self, prefix: str) -> None:
        """Drop the token named by ``prefix`` (revoked, or its user changed)."""
        start = "pycc_" + prefix.removeprefix("pycc_")
        for token in [t for t in self.entries if t.startswith(start)]:
            del self.entries[token]
        self.generation += 1

    def clear(self) -> None:
        self.entries.clear()
        self.generation += 1

    def put(self, token: str, principal: Principal) -> None:
        if len(self.entries) > 10_000:  # bounded: old entries go first
            for key in list(self.entries)[:5_000]:
                del self.entries[key]
        self.entries[token] = (principal, self.clock() + self.ttl)


async def resolve(state: Any, token: str) -> Principal | None:
    """The principal of ``token`` through the app's cache (``state``: the app's state).

    One lookup at a time per token: when a cached entry runs out under load, the requests
    that find it gone wait for the one lookup in flight instead of each queueing its own on
    the store's thread."""
    cache: TokenCache = state.token_cache
    principal = cache.get(token)
    if principal is not None:
        return principal
    generation = cache.generation
    found = cache.lookups.get(token)
    if found is None:
        store: AsyncStore = state.context.store
        found = asyncio.ensure_future(store.run(resolve_token, store.store, token, time.time()))
        cache.lookups[token] = found
        found.add_done_callback(lambda _done: cache.lookups.pop(token, None))
    principal = await asyncio.shield(found)
    if principal is not None and cache.generation == generation:
        cache.put(token, principal)
    return principal


async def caller(request: Request) -> Principal:
    """The principal of the request's bearer token, or of the browser session's cookie (see
    `pycc.api.session`) (a FastAPI dependency)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        cookie = session_token(request)
        if cookie is not None:
            return await _session_caller(request, cookie)
        raise ProblemError(401, "this request needs an API token: Authorization: Bearer ...",
                           headers=_CHALLENGE)
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "use Authorization: Bearer TOKEN", headers=_CHALLENGE)
    principal = await resolve(request.app.state, token.strip())
    if principal is None:
        raise ProblemError(401, "the API token is unknown, expired or revoked",
                           headers=_CHALLENGE)
    return principal


async def _session_caller(request: Request, token: str) -> Principal:
    principal = await resolve(request.app.state, token)
    if principal is None:
        raise ProblemError(401, "the session has ended: log in again", headers=_CHALLENGE)
    if request.method not in SAFE_METHODS and not csrf_ok(request, token):
        raise ProblemError(403, "a request from a browser session needs its X-CSRF-Token "
                                "header (GET /ui/session gives it)")
    return principal


Caller = Annotated[Principal, Depends(caller)]


def check(principal: Principal, action: Action, *, tenant: str,
          agent: str | None = None) -> None:
    """Raise the right problem unless ``principal`` may do ``action`` on ``tenant``'s
    resource (of ``agent``)."""
    if not principal.is_system and tenant != principal.tenant:
        raise ProblemError(404, f"no tenant {tenant!r}")
    if not allowed(principal, action, tenant=tenant, agent=agent):
        raise ProblemError(403, f"a {principal.role} may not {action.value}"
                           + (f" for agent {agent!r}" if agent else ""))
