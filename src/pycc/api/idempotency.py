"""``Idempotency-Key`` on POST: the first request with a key is handled and its answer kept
(for `KEEP_SECONDS`); the same request sent again with the same key gets that answer again,
marked ``Idempotent-Replayed: true``, and has no second effect. The key is per user. Reusing
a key for another request is refused (422), as is a retry while the first one is still being
handled (409). An answer of 500 or more is not kept, so the client may retry.

The keys live in the database (`pycc.store.api_models.ApiIdempotency`), so a retry that
reaches another node of the cluster is answered the same.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Final

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pycc.aaa.roles import Principal
from pycc.api.auth import resolve
from pycc.api.problems import problem_response
from pycc.store.api_models import ApiIdempotency
from pycc.store.async_store import AsyncStore
from pycc.store.repo import Store

__all__ = ["HEADER", "KEEP_SECONDS", "IdempotencyMiddleware", "purge"]

HEADER: Final = "idempotency-key"
KEEP_SECONDS: Final = 86_400.0
MAX_KEY: Final = 200


def _claim(store: Store, principal: Principal, key: str, digest: str,
           now: float) -> ApiIdempotency | None:
    """Take ``key`` for a new request (None), or the row of the request that took it."""
    try:
        with Session(store.engine) as session, session.begin():
            session.add(ApiIdempotency(tenant=principal.tenant, user=principal.user, key=key,
                                       request_hash=digest, created=now))
        return None
    except IntegrityError:
        pass
    with Session(store.engine) as session:
        found = session.exec(select(ApiIdempotency).where(
            ApiIdempotency.tenant == principal.tenant, ApiIdempotency.user == principal.user,
            ApiIdempotency.key == key)).first()
    if found is None:  # expired between the two statements: take it now
        return _claim(store, principal, key, digest, now)
    return found


def _finish(store: Store, principal: Principal, key: str, status: int,
            response: str) -> None:
    with Session(store.engine) as session, session.begin():
        row = session.exec(select(ApiIdempotency).where(
            ApiIdempotency.tenant == principal.tenant, ApiIdempotency.user == principal.user,
            ApiIdempotency.key == key)).first()
        if row is None:
            return
        if status >= 500:
            session.delete(row)
        else:
            row.status = status
            row.response = response
            session.add(row)


def purge(store: Store, now: float) -> int:
    """Forget keys older than `KEEP_SECONDS`; how many went."""
    with Session(store.engine) as session, session.begin():
        result = session.execute(delete(ApiIdempotency).where(
            ApiIdempotency.created < now - KEEP_SECONDS))  # type: ignore[arg-type]
        return int(getattr(result, "rowcount", 0) or 0)


class IdempotencyMiddleware:
    """Replays POST answers by ``Idempotency-Key`` (see the module).

    A plain ASGI middleware: every other request passes straight through, with none of the
    task group and memory streams Starlette's ``BaseHTTPMiddleware`` puts around each one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        key = request.headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY or not key.isprintable():
            response = problem_response(request, 422, detail=f"header.Idempotency-Key: 1 to "
                                        f"{MAX_KEY} printable characters", errors=None)
            await response(scope, receive, send)
            return
        principal = await self._principal(request)
        if principal is None:
            await self.app(scope, receive, send)  # the route answers 401
            return
        body = await request.body()
        digest = hashlib.sha256(b"\0".join(
            [request.method.encode(), request.url.path.encode(), body])).hexdigest()
        store: AsyncStore = request.app.state.context.store
        found = await store.run(_claim, store.store, principal, key, digest, time.time())
        if found is not None:
            await self._replay(request, found, digest)(scope, receive, send)
            return
        status, content, media_type = await self._handle(scope, body, receive, send)
        kept_text = json.dumps({"body": content.decode("utf-8", "replace"),
                                "type": media_type})
        await store.run(_finish, store.store, principal, key, status, kept_text)

    @staticmethod
    def _replay(request: Request, found: ApiIdempotency, digest: str) -> Response:
        """The answer to a request whose key was taken before."""
        if found.request_hash != digest:
            return problem_response(
                request, 422, detail="header.Idempotency-Key: already used for another "
                "request")
        if found.status == 0:
            return problem_response(
                request, 409, detail="a request with this Idempotency-Key is still being "
                "handled")
        kept = json.loads(found.response)
        return Response(kept["body"].encode(), status_code=found.status,
                        media_type=kept.get("type"), headers={"Idempotent-Replayed": "true"})

    async def _handle(self, scope: Scope, body: bytes, receive: Receive,
                      send: Send) -> tuple[int, bytes, str]:
        """Run the route on ``body`` (already read), passing its answer on to the client and
        keeping a copy: (status, body, content type)."""
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                # The body was read already: what comes now is the client going away.
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        status, media_type, chunks = 500, "", []

        async def keep(message: Message) -> None:
            nonlocal status, media_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        media_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        await self.app(scope, replay_body, keep)
        return status, b"".join(chunks), media_type

    @staticmethod
    async def _principal(request: Request) -> Principal | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return await resolve(request.app.state, token.strip())
