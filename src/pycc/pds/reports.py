"""Dialer reports: the campaign summary and the call result summary, from stored attempts.

`campaign_summary` gives one row per campaign: calls ``dialed`` (attempts started since
``since``), those still ``in_progress``, ``answered`` (by a person or a machine),
``connected`` to an agent, ``abandoned`` (answered with no agent free), ``machine``, the
``abandon_rate`` and every result counted in ``by_result``, plus the campaign's ``contacts``
and how many of them are ``done``. The abandonment rate is abandoned calls over calls answered
by a person (connected plus abandoned): answering machines are left out, as the US FTC's
Telemarketing Sales Rule and Ofcom count it, and as the dialer's 3 % limit is meant.
`result_summary` gives one row per campaign and result with its count, its share of the
campaign's attempts and the mean call duration (start to end, seconds).

Both read the database with a few grouped queries and return plain dicts (JSON-ready), for
``pycc report campaign|results`` and for library users.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from pycc.store.dialer_models import DialerAttempt, DialerCampaign, DialerContact
from pycc.store.errors import StoreError
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = ["IN_PROGRESS", "abandon_rate", "campaign_summary", "result_summary", "summarise"]

#: The result name reports use for attempts not ended yet.
IN_PROGRESS: Final = "in_progress"
_ANSWERED: Final = ("connected", "abandoned", "machine")

Row = dict[str, Any]


def abandon_rate(connected: int, abandoned: int) -> float:
    """Abandoned calls over calls answered by a person (0 when none was)."""
    live = connected + abandoned
    return abandoned / live if live else 0.0


def summarise(name: str, by_result: Mapping[str, int], contacts: int = 0,
              done: int = 0) -> Row:
    """One campaign's summary row from its attempt counts by result."""
    counts = {result: count for result, count in sorted(by_result.items()) if count}
    connected = counts.get("connected", 0)
    abandoned = counts.get("abandoned", 0)
    return {
        "campaign": name,
        "dialed": sum(counts.values()),
        "in_progress": counts.get(IN_PROGRESS, 0),
        "answered": sum(counts.get(result, 0) for result in _ANSWERED),
        "connected": connected,
        "abandoned": abandoned,
        "machine": counts.get("machine", 0),
        "abandon_rate": abandon_rate(connected, abandoned),
        "contacts": contacts,
        "done": done,
        "by_result": counts,
    }


def campaign_summary(store: Store, campaign: str | None = None, since: float | None = None,
                     *, tenant: str = "default") -> list[Row]:
    """One summary row per campaign of ``tenant`` (or only ``campaign``), by name, over the
    attempts started at or after ``since`` (or all)."""
    with _reading(store) as session:
        names = _campaigns(session, tenant, campaign)
        counts = _attempt_counts(session, tenant, campaign, since)
        contacts: dict[str, tuple[int, int]] = {}
        statement = (select(DialerCampaign.name, DialerContact.state, func.count())
                     .join(DialerContact, col(DialerContact.campaign_id) == DialerCampaign.id)
                     .join(Tenant, col(Tenant.id) == DialerCampaign.tenant_id)
                     .where(Tenant.name == tenant)
                     .group_by(col(DialerCampaign.name), col(DialerContact.state)))
        if campaign is not None:
            statement = statement.where(DialerCampaign.name == campaign)
        for name, state, count in session.exec(statement):
            total, done = contacts.get(name, (0, 0))
            contacts[name] = (total + int(count), done + (int(count) if state == "done" else 0))
    rows: list[Row] = []
    for name in names:
        by_result = {result: count for (owner, result), count in counts.items()
                     if owner == name}
        total, done = contacts.get(name, (0, 0))
        rows.append(summarise(name, by_result, total, done))
    return rows


def result_summary(store: Store, campaign: str | None = None, since: float | None = None,
                   *, tenant: str = "default") -> list[Row]:
    """One row per campaign and result: ``attempts``, ``share`` of the campaign's attempts
    and ``mean_duration`` of the ended ones (None if none ended)."""
    with _reading(store) as session:
        # Five columns: more than sqlmodel's typed select takes, so SQLAlchemy's own.
        statement = (sa_select(col(DialerCampaign.name), col(DialerAttempt.result),
                               func.count(),
                               func.sum(col(DialerAttempt.ended) - col(DialerAttempt.started)),
                               func.count(col(DialerAttempt.ended)))
                     .join(DialerAttempt, col(DialerAttempt.campaign_id) == DialerCampaign.id)
                     .join(Tenant, col(Tenant.id) == DialerCampaign.tenant_id)
                     .where(col(Tenant.name) == tenant)
                     .group_by(col(DialerCampaign.name), col(DialerAttempt.result)))
        if campaign is not None:
            statement = statement.where(col(DialerCampaign.name) == campaign)
        if since is not None:
            statement = statement.where(col(DialerAttempt.started) >= since)
        found = [tuple(row) for row in session.execute(statement)]
    totals: dict[str, int] = {}
    for name, _result, count, _seconds, _ended in found:
        totals[name] = totals.get(name, 0) + int(count)
    rows: list[Row] = []
    for name, result, count, seconds, ended in found:
        rows.append({
            "campaign": name,
            "result": result or IN_PROGRESS,
            "attempts": int(count),
            "share": int(count) / totals[name],
            "mean_duration": float(seconds) / int(ended) if ended else None,
        })
    rows.sort(key=lambda row: (row["campaign"], -row["attempts"], row["result"]))
    return rows


@contextmanager
def _reading(store: Store) -> Iterator[Session]:
    try:
        with Session(store.engine) as session:
            yield session
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc


def _campaigns(session: Session, tenant: str, campaign: str | None) -> list[str]:
    statement = (select(DialerCampaign.name).join(Tenant).where(Tenant.name == tenant)
                 .order_by(col(DialerCampaign.name)))
    if campaign is not None:
        statement = statement.where(DialerCampaign.name == campaign)
    return list(session.exec(statement))


def _attempt_counts(session: Session, tenant: str, campaign: str | None,
                    since: float | None) -> dict[tuple[str, str], int]:
    statement = (select(DialerCampaign.name, DialerAttempt.result, func.count())
                 .join(DialerAttempt, col(DialerAttempt.campaign_id) == DialerCampaign.id)
                 .join(Tenant, col(Tenant.id) == DialerCampaign.tenant_id)
                 .where(Tenant.name == tenant)
                 .group_by(col(DialerCampaign.name), col(DialerAttempt.result)))
    if campaign is not None:
        statement = statement.where(DialerCampaign.name == campaign)
    if since is not None:
        statement = statement.where(DialerAttempt.started >= since)
    counts: dict[tuple[str, str], int] = {}
    for name, result, count in session.exec(statement):
        key = (name, result or IN_PROGRESS)
        counts[key] = counts.get(key, 0) + int(count)
    return counts
