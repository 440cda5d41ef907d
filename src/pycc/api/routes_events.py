"""Live events over a WebSocket (``/v1/events``) for wallboards and agent screens: every bus
event of the switch (calls, agent states, queue joins and leaves, dialer pacing and results,
alarms) as one JSON text message ``{"topic", "time", "data"}``.

Browsers cannot set headers on a WebSocket, so the token may come as the ``token`` query
parameter as well as in ``Authorization``. ``topics`` (comma-separated, ``agent.*`` style
prefixes allowed) narrows the stream. An agent receives only the events about itself, and
the announcements to every agent. A
client that reads too slowly loses the oldest events, never slows the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from pycc.aaa.roles import Action, Principal, allowed
from pycc.api.app import ApiContext
from pycc.api.auth import resolve
from pycc.api.session import same_origin, session_token
from pycc.bus import Event

__all__ = ["drain", "router", "socket_principal"]

router = APIRouter(tags=["events"])

#: Events kept for one slow client before the oldest are dropped.
BACKLOG = 1000


def _wanted(topics: list[str], topic: str) -> bool:
    return not topics or any(topic == t or (t.endswith("*") and topic.startswith(t[:-1]))
                             for t in topics)


#: Topics every user of the tenant sees, agents included.
SHARED_TOPICS = frozenset({"announcement"})


def _visible(principal: Principal, event: Event) -> bool:
    if principal.agent is None or event.topic in SHARED_TOPICS:
        return True
    return event.data.get("agent") == principal.agent


async def socket_principal(websocket: WebSocket) -> Principal | None:
    """Who opens a WebSocket: its bearer token (header, or ``token`` in the query: browsers
    cannot set headers on a WebSocket), or the session cookie of a page of this origin."""
    token = websocket.query_params.get("token") or ""
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        token = value.strip()
    if not token:
        cookie = session_token(websocket)
        if cookie is None or not same_origin(websocket):
            return None
        token = cookie
    return await resolve(websocket.app.state, token)


@router.websocket("/v1/events")
async def events(websocket: WebSocket) -> None:
    ctx: ApiContext = websocket.app.state.context
    principal = await socket_principal(websocket)
    # Closed before accepting: the client sees the handshake refused (HTTP 403).
    if principal is None:
        await websocket.close(code=4401, reason="an API token is needed")
        return
    tenant = ctx.tenant if principal.is_system else principal.tenant
    action = Action.AGENTS_READ if principal.agent is not None else Action.QUEUES_READ
    if tenant != ctx.tenant or not allowed(principal, action, tenant=tenant,
                                           agent=principal.agent):
        await websocket.close(code=4403, reason="not allowed")
        return
    if ctx.switch is None:
        await websocket.close(code=1013, reason="the switch is not running")
        return
    topics = [t.strip() for t in websocket.query_params.get("topics", "").split(",")
              if t.strip()]
    queue: asyncio.Queue[Event] = asyncio.Queue(BACKLOG)

    def deliver(event: Event) -> None:
        if not _wanted(topics, event.topic) or not _visible(principal, event):
            return
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()  # the oldest goes
        queue.put_nowait(event)

    unsubscribe = ctx.switch.bus.subscribe("*", deliver)
    await websocket.accept()
    receiver = asyncio.ensure_future(drain(websocket))
    try:
        while not receiver.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            event = getter.result()
            await websocket.send_text(json.dumps(
                {"topic": event.topic, "time": event.at, "data": dict(event.data)},
                default=str))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        unsubscribe()
        receiver.cancel()


async def drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
