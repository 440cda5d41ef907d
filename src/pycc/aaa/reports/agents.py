"""Agent reports: statistics per agent, log-in sessions, the work log of state intervals,
and the hourly workload.

``agents`` takes the calls, talk and hold times from the call records the agent answered
(started in the range), and from the agent events (`pycc.aaa.reports.intervals`) the time
logged in, in wrap-up (as it really lasted, which may be shorter than the queue's configured
wrap-up) and not ready by reason. Occupancy is the time on calls (talk and hold) and in
wrap-up over the time logged in.

``agent-sessions`` pairs each log-in with the log-out that ended it (None while still logged
in, or when the node stopped before the agent logged out and the next event is a new log-in);
``agent-work`` lists each status/state interval from its event to the agent's next one. Both
are newest first, ``limit`` rows, of the sessions and intervals begun in the range.
``agent-hourly`` counts each agent's answered calls and talk per local hour of the call's
start.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, func, literal_column, or_, select

from pycc.aaa.reports.intervals import (
    OFFLINE,
    WRAP_UP,
    agent_times,
    event_range,
    later_event,
)
from pycc.aaa.reports.options import ReportOptions
from pycc.aaa.reports.sql import (
    CALLS,
    EVENTS,
    Scope,
    average,
    percent,
    reading,
    seconds,
)
from pycc.aaa.reports.zones import hour_label
from pycc.store.repo import Store

__all__ = ["AGENT_COLUMNS", "HOURLY_COLUMNS", "SESSION_COLUMNS", "WORK_COLUMNS",
           "agent_hourly", "agent_sessions", "agent_work", "agents"]

Row = dict[str, Any]

AGENT_COLUMNS: Final = ("agent", "calls", "talk_seconds", "hold_seconds", "avg_talk",
                        "wrapup_seconds", "not_ready_seconds", "not_ready_by_reason",
                        "logged_in_seconds", "occupancy_pct")
SESSION_COLUMNS: Final = ("agent", "login", "logout", "seconds")
WORK_COLUMNS: Final = ("agent", "start", "end", "seconds", "status", "state", "reason",
                       "call_id")
HOURLY_COLUMNS: Final = ("hour", "agent", "calls", "talk_seconds", "avg_talk")


def agents(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per agent: calls answered, talk, hold, wrap-up, not-ready time (in all and by
    reason), time logged in and occupancy; agents by id."""
    c = CALLS.c
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        statement = (select(c.agent, func.count(), func.sum(c.talk_seconds),
                            func.sum(c.hold_seconds))
                     .where(*scope.calls(agent=True), c.agent.is_not(None),
                            c.agent_answer.is_not(None))
                     .group_by(c.agent))
        calls = {row[0]: row[1:] for row in connection.execute(statement)}
        # The time on calls is the calls' own (answer to end: talk and hold); the events
        # give the rest, and need not be grouped for it.
        times = agent_times(scope, options.agent,
                            event_range(options.since, options.until, options.now),
                            states=(WRAP_UP,))
    rows: list[Row] = []
    for name in sorted(set(calls) | set(times)):
        count, talk, hold = calls.get(name, (0, 0.0, 0.0))
        spent = times.get(name)
        logged_in = spent.logged_in if spent else 0.0
        busy = float(talk or 0) + float(hold or 0) + (spent.wrap_up if spent else 0.0)
        reasons = {reason: round(value, 3) for reason, value in
                   sorted((spent.not_ready if spent else {}).items())}
        rows.append({
            "agent": name, "calls": int(count), "talk_seconds": seconds(talk),
            "hold_seconds": seconds(hold), "avg_talk": average(talk, count),
            "wrapup_seconds": seconds(spent.wrap_up if spent else 0.0),
            "not_ready_seconds": round(sum(reasons.values()), 3),
            "not_ready_by_reason": reasons, "logged_in_seconds": seconds(logged_in),
            "occupancy_pct": percent(busy, logged_in) if logged_in > 0.0005 else None,
        })
    return rows


def agent_sessions(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Log-in sessions, the newest first: when each began, when it ended and how long."""
    c = EVENTS.c
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        where = [scope.scanned(c.tenant_id, everywhere=True) == scope.tenant,
                 c.from_status == OFFLINE, c.to_status != OFFLINE, *_event_times(scope)]
        if options.agent is not None:
            where.append(c.agent == options.agent)
        logins = (select(c.id, c.tenant_id, c.agent, c.at).where(*where)
                  .order_by(c.at.desc(), c.id.desc()).limit(options.rows).subquery("logins"))
        # The session ends at the agent's next log-out, unless a new log-in comes first.

        def boundary(x: Any) -> Any:
            return or_(x.c.to_status == OFFLINE, x.c.from_status == OFFLINE)

        statement = (select(logins.c.agent, logins.c.at,
                            later_event(logins, boundary).scalar_subquery(),
                            later_event(logins, boundary, "to_status").scalar_subquery())
                     .order_by(logins.c.at.desc(), logins.c.id.desc()))
        found = connection.execute(statement).all()
    rows: list[Row] = []
    for agent, login, at, status in found:
        logout = float(at) if at is not None and status == OFFLINE else None
        rows.append({"agent": agent, "login": float(login), "logout": logout,
                     "seconds": None if logout is None else round(logout - float(login), 3)})
    return rows


def agent_work(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """The agents' status and state intervals, the newest first: each from its event to the
    agent's next one (None while it lasts)."""
    c = EVENTS.c
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        # The newest events are picked off the (tenant, agent, at) index alone (it holds
        # every column the choice needs), then only those are read, with their next event:
        # ``limit`` rows are looked up, not every event of the range.
        where = [c.tenant_id == scope.tenant, *_event_times(scope)]
        if options.agent is not None:
            where.append(c.agent == options.agent)
        picked = (select(c.id).where(*where).order_by(c.at.desc(), c.id.desc())
                  .limit(options.rows).subquery("picked"))
        e = EVENTS.alias("newest")
        statement = (select(e.c.agent, e.c.at, later_event(e).scalar_subquery(), e.c.to_status,
                            e.c.to_state, e.c.reason, e.c.call_id)
                     .join_from(e, picked, e.c.id == picked.c.id)
                     .order_by(e.c.at.desc(), e.c.id.desc()))
        found = connection.execute(statement).all()
    rows: list[Row] = []
    for agent, start, end, status, state, reason, call_id in found:
        rows.append({"agent": agent, "start": float(start),
                     "end": None if end is None else float(end),
                     "seconds": None if end is None else round(float(end) - float(start), 3),
                     "status": status, "state": state, "reason": reason, "call_id": call_id})
    return rows


def agent_hourly(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per local hour and agent: calls answered, talk and mean talk; hours in order."""
    c = CALLS.c
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        buckets = scope.buckets()
        # Grouped by the column's name: written out again, the expression would be computed
        # twice (and its order sorted for again) on SQLite.
        hour = buckets.hour(c.start).label("bucket_hour")
        by_hour: ColumnElement[Any] = literal_column("bucket_hour")
        found = connection.execute(
            select(hour, c.agent, func.count(), func.sum(c.talk_seconds))
            .where(*scope.calls(agent=True), c.agent.is_not(None), c.agent_answer.is_not(None))
            .group_by(by_hour, c.agent).order_by(by_hour, c.agent)).all()
    rows: list[Row] = []
    labels: dict[int, str] = {}
    for begins, agent, count, talk in found:
        label = labels.get(begins)
        if label is None:
            label = labels[begins] = hour_label(int(begins), buckets.zone)
        rows.append({"hour": label, "agent": agent, "calls": int(count),
                     "talk_seconds": seconds(talk), "avg_talk": average(talk, count)})
    return rows


def _event_times(scope: Scope) -> list[ColumnElement[bool]]:
    at = scope.scanned(EVENTS.c.at)
    where = []
    if scope.options.since is not None:
        where.append(at >= scope.options.since)
    if scope.options.until is not None:
        where.append(at < scope.options.until)
    return where
