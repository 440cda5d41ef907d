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

``agents`` and ``agent-hourly`` read the summaries of the agents' calls per hour (or quarter
hour, for a zone whose offset is not whole hours) and ``agents`` the daily summary of the
agent events (`pycc.aaa.reports.rollups`, `pycc.aaa.reports.agent_summaries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Table, func, literal, literal_column, or_, select

from pycc.aaa.reports import rollups
from pycc.aaa.reports.agent_summaries import summed_agent_times
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
    plain_rows,
    reading,
    seconds,
    seconds_and_average,
    table_of,
)
from pycc.aaa.reports.zones import hour_label
from pycc.store.repo import Store
from pycc.store.report_models import HOUR, QUARTER, AgentHour, AgentQuarter, slot_of

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
#: The summaries of the agents' calls, by slot length.
_CALL_SUMMARIES: Final = {HOUR: table_of(AgentHour), QUARTER: table_of(AgentQuarter)}


def _answered(scope: Scope) -> list[ColumnElement[bool]]:
    """The conditions on the records of calls an agent answered (of ``options.agent``)."""
    c = CALLS.c
    where: list[ColumnElement[bool]] = [c.agent.is_not(None), c.agent_answer.is_not(None)]
    if scope.options.agent is not None:
        where.append(c.agent == scope.options.agent)
    return where


def _summary_slots(table: Table, scope: Scope,
                   ranges: rollups.Cut) -> list[ColumnElement[bool]]:
    where = [rollups.tenant_slots(table, scope, ranges)]
    if scope.options.agent is not None:
        where.append(table.c.agent == scope.options.agent)
    return where


def agents(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per agent: calls answered, talk, hold, wrap-up, not-ready time (in all and by
    reason), time logged in and occupancy; agents by id."""
    c = CALLS.c
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        ranges = rollups.plan(scope, HOUR)
        if ranges is None:
            statement = (select(c.agent, func.count(), func.sum(c.talk_seconds),
                                func.sum(c.hold_seconds))
                         .where(*scope.calls(agent=True), c.agent.is_not(None),
                                c.agent_answer.is_not(None))
                         .group_by(c.agent))
        else:
            t = _CALL_SUMMARIES[HOUR]
            summary = select(t.c.agent, t.c.calls, t.c.talk, t.c.hold).where(
                *_summary_slots(t, scope, ranges))
            edges = [select(c.agent, literal(1), c.talk_seconds, c.hold_seconds).where(
                *where, *_answered(scope)) for where in rollups.record_edges(scope, ranges)]
            u = rollups.combined(summary, edges).c
            statement = (select(u.agent, func.sum(u.calls), func.sum(u.talk), func.sum(u.hold))
                         .group_by(u.agent).having(func.sum(u.calls) > 0))
        calls = {row[0]: row[1:] for row in connection.execute(statement)}
        # The time on calls is the calls' own (answer to end: talk and hold); the events
        # give the rest, and need not be grouped for it.
        count_times = summed_agent_times if scope.summaries else agent_times
        times = count_times(scope, options.agent,
                            event_range(options.since, options.until, options.now),
                            states=(WRAP_UP,))
    rows: list[Row] = []
    for name in sorted(set(calls) | set(times)):
        count, talk, hold = calls.get(name, (0, 0.0, 0.0))
        spent = times.get(name)
        logged_in = spent.logged_in if spent else 0.0
        wrap_up = spent.wrap_up if spent else 0.0
        # Occupancy from the figures as shown (to the millisecond).
        busy = seconds(talk) + seconds(hold) + seconds(wrap_up)
        reasons = {reason: seconds(value) for reason, value in
                   sorted((spent.not_ready if spent else {}).items())}
        rows.append({
            "agent": name, "calls": int(count), "talk_seconds": seconds(talk),
            "hold_seconds": seconds(hold), "avg_talk": average(talk, count),
            "wrapup_seconds": seconds(wrap_up),
            "not_ready_seconds": seconds(sum(reasons.values())),
            "not_ready_by_reason": reasons, "logged_in_seconds": seconds(logged_in),
            "occupancy_pct": percent(busy, seconds(logged_in)),
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
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        buckets = scope.buckets()
        hours = rollups.plan(scope, HOUR, buckets=buckets)
        found: Sequence[Any]
        if hours is not None:
            found = _by_hour_slots(scope, hours)
        else:
            # Quarter hours serve the zones whose offsets are not whole hours.
            quarters = rollups.plan(scope, QUARTER, buckets=buckets)
            # Grouped by the column's name: written out again, the expression would be
            # computed twice (and its order sorted for again) on SQLite.
            by_hour: ColumnElement[Any] = literal_column("bucket_hour")
            if quarters is None:
                statement = (select(buckets.hour(c.start).label("bucket_hour"), c.agent,
                                    func.count(), func.sum(c.talk_seconds))
                             .where(*scope.calls(agent=True), *_answered(scope))
                             .group_by(by_hour, c.agent).order_by(by_hour, c.agent))
            else:
                t = _CALL_SUMMARIES[QUARTER]
                summary = select(buckets.hour(t.c.slot * QUARTER).label("bucket_hour"),
                                 t.c.agent, t.c.calls, t.c.talk).where(
                    *_summary_slots(t, scope, quarters))
                edges = [select(buckets.hour(c.start), c.agent, literal(1), c.talk_seconds)
                         .where(*where, *_answered(scope))
                         for where in rollups.record_edges(scope, quarters)]
                u = rollups.combined(summary, edges).c
                statement = (select(u.bucket_hour, u.agent, func.sum(u.calls),
                                    func.sum(u.talk))
                             .group_by(u.bucket_hour, u.agent).having(func.sum(u.calls) > 0)
                             .order_by(u.bucket_hour, u.agent))
            found = connection.execute(statement).all()
    # A row per agent and hour: 160,000 of them for 100 agents over half a year, so the
    # loop stays lean (`seconds_and_average` is the arithmetic of `seconds` and `average`).
    rows: list[Row] = []
    append = rows.append
    labels: dict[int, str] = {}
    for begins, agent, count, talk in found:
        label = labels.get(begins)
        if label is None:
            label = labels[begins] = hour_label(int(begins), buckets.zone)
        total, mean = seconds_and_average(talk, count)
        append({"hour": label, "agent": agent, "calls": int(count), "talk_seconds": total,
                "avg_talk": mean})
    return rows


def _by_hour_slots(scope: Scope, ranges: rollups.Cut) -> list[Any]:
    """(hour, agent, calls, talk) from the hourly summary, in order. With a zone of whole
    hours each UTC hour is one local hour, beginning when it does: the summary's rows are the
    report's, in the order of its key, with no grouping or sorting to do; the records of the
    partial hours at the edges are grouped per agent (each edge lies in one hour)."""
    c, t = CALLS.c, _CALL_SUMMARIES[HOUR]
    edges: dict[int, list[Any]] = {}
    for (low, _), where in zip(ranges.edges, rollups.record_edges(scope, ranges),
                               strict=True):
        begins = slot_of(low, HOUR) * HOUR
        edges[begins] = [(begins, *row) for row in scope.connection.execute(
            select(c.agent, func.count(), func.sum(c.talk_seconds))
            .where(*where, *_answered(scope)).group_by(c.agent).order_by(c.agent))]
    summary = plain_rows(scope.connection, select(t.c.slot * HOUR, t.c.agent, t.c.calls, t.c.talk)
                         .where(*_summary_slots(t, scope, ranges), t.c.calls > 0)
                         .order_by(t.c.slot, t.c.agent))
    return [*(row for begins in sorted(edges) if ranges.first is not None
              and begins < ranges.first * HOUR for row in edges[begins]),
            *summary,
            *(row for begins in sorted(edges) if ranges.first is None
              or begins >= ranges.first * HOUR for row in edges[begins])]


def _event_times(scope: Scope) -> list[ColumnElement[bool]]:
    at = scope.scanned(EVENTS.c.at)
    where = []
    if scope.options.since is not None:
        where.append(at >= scope.options.since)
    if scope.options.until is not None:
        where.append(at < scope.options.until)
    return where
