"""Announcements on the agents' desktops (`pycc.ccc.announcements`), and the alarms raised
now (`pycc.oam.alarms`) for the console's monitoring page."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from pycc.aaa.roles import Action
from pycc.api.app import tenant_of
from pycc.api.auth import Caller, check
from pycc.api.problems import ProblemError
from pycc.api.routes_desk import call_store, checked
from pycc.api.routes_system import Context
from pycc.ccc import announcements

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["desktop"])


class AnnouncementIn(BaseModel):
    text: Any = None
    minutes: Any = 60


class AnnouncementOut(BaseModel):
    id: int
    text: str
    author: str
    created: float
    until: float


@router.get("/announcements", response_model=list[AnnouncementOut])
async def list_announcements(principal: Caller, ctx: Context) -> list[AnnouncementOut]:
    """The announcements shown on the agents' desktops now, newest first."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.KB_READ, tenant=tenant)
    found = await call_store(ctx, "query", announcements.current, tenant, time.time())
    return [_out(notice) for notice in found]


@router.post("/announcements", response_model=AnnouncementOut, status_code=201)
async def make_announcement(body: AnnouncementIn, principal: Caller,
                            ctx: Context) -> AnnouncementOut:
    """Show ``text`` on every agent's desktop for ``minutes`` (1 to 1440)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.ANNOUNCE, tenant=tenant)
    text, minutes = checked("body", lambda: announcements.check(body.text, body.minutes))
    notice = await call_store(ctx, "body", announcements.announce, tenant, text, minutes,
                         author=principal.user, now=time.time())
    if ctx.switch is not None and tenant == ctx.tenant:
        ctx.switch.bus.publish("announcement", id=notice.id, text=notice.text,
                               author=notice.author, until=notice.until)
    return _out(notice)


def _out(notice: announcements.Notice) -> AnnouncementOut:
    return AnnouncementOut(id=notice.id, text=notice.text, author=notice.author,
                           created=notice.created, until=notice.until)


@router.delete("/announcements/{notice_id}", status_code=204)
async def withdraw_announcement(notice_id: int = Path(ge=1), *, principal: Caller,
                                ctx: Context) -> Response:
    tenant = tenant_of(principal, ctx)
    check(principal, Action.ANNOUNCE, tenant=tenant)
    await call_store(ctx, "path", announcements.withdraw, tenant, notice_id)
    if ctx.switch is not None and tenant == ctx.tenant:
        ctx.switch.bus.publish("announcement", id=notice_id, withdrawn=True)
    return Response(status_code=204)


class AlarmOut(BaseModel):
    kind: str
    subject: str
    severity: str
    message: str
    raised_at: float
    value: float | None


@router.get("/alarms", response_model=list[AlarmOut], tags=["monitoring"])
async def list_alarms(principal: Caller, ctx: Context) -> list[AlarmOut]:
    """The alarms raised now (trunks down, RTP loss, long queue waits, ...)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.QUEUES_READ, tenant=tenant)
    if ctx.switch is None:
        raise ProblemError(503, "the switch is not running")
    return [AlarmOut(kind=a.kind.value, subject=a.subject, severity=a.severity.value,
                     message=a.message, raised_at=a.raised_at, value=a.value)
            for a in ctx.switch.alarms.active()]
