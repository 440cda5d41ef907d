"""An agent's wrap-up written on the call's record: the disposition code, notes, and when to
call the customer back.

Only a call the agent took part in may be disposed by that agent: the record names the
agent (a queue call it answered, a dialer's or click-to-call's call placed for it), or the
agent's extension is the record's caller or callee (a direct call). The record may still be
open: an agent may dispose a call before it ends, and the switch's later writes of the
record leave these columns alone (`pycc.aaa.cdr.AGENT_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from pycc.store.models import CallRecord, Tenant
from pycc.store.repo import Store

__all__ = ["Disposed", "NotYourCall", "Wrapup", "dispose_call"]


class NotYourCall(LookupError):
    """No record of the call, or not one of the agent's calls (the same answer for both, so
    an agent cannot probe for other agents' calls)."""


@dataclass(frozen=True, slots=True)
class Wrapup:
    call_id: str
    code: str
    notes: str
    callback_at: float | None


@dataclass(frozen=True, slots=True)
class Disposed:
    """The call disposed: a dialer's campaign and contact, if it was one of theirs."""

    campaign: str | None
    contact: str | None


def dispose_call(store: Store, tenant: str, wrapup: Wrapup, *, agent: str,
                 extension: str) -> Disposed | None:
    """Write ``wrapup`` on the record of its call, one of ``agent``'s; None when there is
    no record of it yet (the switch writes it within a second or two of the call starting).
    Raises `NotYourCall` for a record that is not the agent's."""

    def work(session: Session) -> Disposed | None:
        record = session.exec(
            select(CallRecord).join(Tenant, col(Tenant.id) == col(CallRecord.tenant_id))
            .where(Tenant.name == tenant, CallRecord.call_id == wrapup.call_id)).first()
        if record is None:
            return None
        if record.agent != agent and extension not in (record.caller, record.callee):
            raise NotYourCall(wrapup.call_id)
        record.wrapup_code = wrapup.code
        record.wrapup_notes = wrapup.notes or None
        record.callback_at = wrapup.callback_at
        session.add(record)
        return Disposed(record.campaign, record.contact)

    return store.write(work)
