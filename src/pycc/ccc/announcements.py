"""Announcements: short messages a supervisor or administrator puts on every agent's
desktop ("the CRM is down until noon") for a number of minutes.

They are stored (a page that opens later, or on another node, still shows them) and, when
made, published on the switch's bus as ``announcement`` so that the open desktops show them
at once. Expired ones are never listed; they are deleted when the next one is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlmodel import Session, col, delete, select

from pycc.ccc.desk import DeskError
from pycc.ccc.desk_store import tenant_id
from pycc.store.desk_models import Announcement
from pycc.store.errors import NotFound
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = ["MAX_MINUTES", "MAX_TEXT", "Notice", "announce", "current", "withdraw"]

MAX_TEXT: Final = 500
MAX_MINUTES: Final = 1440


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    text: str
    author: str
    created: float
    until: float


def _notice(row: Announcement) -> Notice:
    assert row.id is not None
    return Notice(row.id, row.text, row.author, row.created, row.until)


def check(text: object, minutes: object) -> tuple[str, int]:
    """The announcement's text and lifetime as given, or `DeskError` naming the field."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT or any(
            not c.isprintable() and c not in "\n\t" for c in text):
        raise DeskError("text", f"must be 1 to {MAX_TEXT} characters of text")
    if isinstance(minutes, bool) or not isinstance(minutes, int) \
            or not 1 <= minutes <= MAX_MINUTES:
        raise DeskError("minutes", f"must be a whole number of minutes, 1 to {MAX_MINUTES}")
    return text.strip(), minutes


def announce(store: Store, tenant: str, text: str, minutes: int, *, author: str,
             now: float) -> Notice:
    """Store an announcement of ``tenant`` shown for ``minutes`` from ``now``."""

    def work(session: Session) -> Notice:
        owner = tenant_id(session, tenant)
        session.exec(delete(Announcement).where(
            col(Announcement.tenant_id) == owner, col(Announcement.until) <= now))
        row = Announcement(tenant_id=owner, text=text, author=author, created=now,
                           until=now + 60 * minutes)
        session.add(row)
        session.flush()
        return _notice(row)

    return store.write(work)


def current(store: Store, tenant: str, now: float, limit: int = 50) -> list[Notice]:
    """The announcements of ``tenant`` still shown at ``now``, newest first."""

    def work(session: Session) -> list[Notice]:
        rows = session.exec(select(Announcement).join(
            Tenant, col(Tenant.id) == col(Announcement.tenant_id)).where(
            Tenant.name == tenant, col(Announcement.until) > now)
            .order_by(col(Announcement.id).desc()).limit(limit))
        return [_notice(row) for row in rows]

    return store.read(work)


def withdraw(store: Store, tenant: str, notice_id: int) -> None:
    """Take an announcement off the desktops; NotFound when there is none such."""

    def work(session: Session) -> None:
        row = session.exec(select(Announcement).where(
            Announcement.id == notice_id,
            Announcement.tenant_id == tenant_id(session, tenant))).first()
        if row is None:
            raise NotFound(f"no announcement {notice_id}")
        session.delete(row)

    store.write(work)
