"""The supervisors' live wallboard: a WebSocket (``/v1/wallboard``) that pushes the whole
picture (queues, agents, campaigns, who monitors whom) whenever it changed.

One `WallboardFeed` per application serves every supervisor: it listens to the switch's bus,
builds the picture at most every `MIN_INTERVAL` seconds after something happened (a burst of
events makes one message) and at least every `MAX_INTERVAL` seconds (waits grow on their
own), and hands the same text to every socket. The campaigns' contact counts come from the
store, read at most every `STORE_INTERVAL` seconds. A client too slow to read loses the
older pictures, never slows the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from pycc.aaa.roles import Action, allowed
from pycc.api.app import ApiContext
from pycc.api.routes_campaigns import live_status, overview
from pycc.api.routes_events import drain, socket_principal
from pycc.bus import Event

__all__ = ["MAX_INTERVAL", "MIN_INTERVAL", "WallboardFeed", "router"]

log = logging.getLogger("pycc.api.wallboard")

router = APIRouter(tags=["events"])

MIN_INTERVAL = 0.25
MAX_INTERVAL = 5.0
STORE_INTERVAL = 2.0


class WallboardFeed:
    """Builds the wallboard's picture for the tenant the switch serves and sends it out."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.watchers: set[asyncio.Queue[str]] = set()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self._campaigns: tuple[float, Any] = (-1e9, ({}, {}))

    def watch(self) -> asyncio.Queue[str]:
        outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=2)
        self.watchers.add(outbox)
        self._dirty.set()
        if self._task is None or self._task.done():
            switch = self.ctx.switch
            assert switch is not None
            self._unsubscribe = switch.bus.subscribe("*", self._event)
            self._task = asyncio.get_running_loop().create_task(self._run())
        return outbox

    def leave(self, outbox: asyncio.Queue[str]) -> None:
        self.watchers.discard(outbox)
        if not self.watchers and self._task is not None:
            self._task.cancel()
            self._task = None
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    def _event(self, _event: Event) -> None:
        self._dirty.set()

    async def _run(self) -> None:
        while self.watchers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), MAX_INTERVAL)
            self._dirty.clear()
            try:
                text = json.dumps(await self.picture(), default=str)
            except Exception:
                log.exception("the wallboard's picture could not be made")
                text = ""
            for outbox in list(self.watchers):
                if text:
                    if outbox.full():
                        with contextlib.suppress(asyncio.QueueEmpty):
                            outbox.get_nowait()  # the older picture goes
                    outbox.put_nowait(text)
            await asyncio.sleep(MIN_INTERVAL)

    async def picture(self) -> dict[str, Any]:
        ctx = self.ctx
        switch = ctx.switch
        assert switch is not None and switch.center is not None
        center = switch.center
        snapshot = center.acd.snapshot()
        at, (applied, dialed) = self._campaigns
        if time.monotonic() - at >= STORE_INTERVAL:
            applied, dialed = await ctx.store.run(overview, ctx.store.store, ctx.tenant)
            self._campaigns = (time.monotonic(), (applied, dialed))
        campaigns = []
        for name in sorted(set(dialed) | set(applied)):
            config = applied.get(name) or dialed[name][0]
            counts = dialed[name][1] if name in dialed else {}
            campaigns.append(live_status(ctx, ctx.tenant, name, config, counts).model_dump())
        codes = center.config.features
        return {
            "op": "snapshot", "time": time.time(),
            "queues": snapshot["queues"], "agents": snapshot["agents"],
            "campaigns": campaigns,
            "feature_codes": {"listen": codes.listen, "whisper": codes.whisper,
                              "barge": codes.barge},
            "monitors": center.acd.monitors(),
        }


def _feed(websocket: WebSocket, ctx: ApiContext) -> WallboardFeed:
    state = websocket.app.state
    feed: WallboardFeed | None = getattr(state, "wallboard", None)
    if feed is None:
        feed = state.wallboard = WallboardFeed(ctx)
    return feed


@router.websocket("/v1/wallboard")
async def wallboard(websocket: WebSocket) -> None:
    ctx: ApiContext = websocket.app.state.context
    principal = await socket_principal(websocket)
    if principal is None:
        await websocket.close(code=4401, reason="log in first")
        return
    tenant = ctx.tenant if principal.is_system else principal.tenant
    if tenant != ctx.tenant or not allowed(principal, Action.QUEUES_READ, tenant=tenant):
        await websocket.close(code=4403, reason="the wallboard is for supervisors")
        return
    if ctx.switch is None or ctx.switch.center is None:
        await websocket.close(code=1013, reason="the switch is not running")
        return
    await websocket.accept()
    feed = _feed(websocket, ctx)
    outbox = feed.watch()
    receiver = asyncio.ensure_future(drain(websocket))
    try:
        while not receiver.done():
            getter = asyncio.ensure_future(outbox.get())
            await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            await websocket.send_text(getter.result())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        feed.leave(outbox)
        receiver.cancel()
