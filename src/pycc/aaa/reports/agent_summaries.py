"""Agent times from the summary of the agent events (`pycc.store.report_models.AgentTime`):
the figures of `pycc.aaa.reports.intervals.agent_times`, without reading every event.

Both compute, for each kind of time (a state, or a status and not-ready reason), the sum over
the events in the range of +at where an interval of that kind ends and -at where one begins,
then close the intervals the range cuts: + the range's end for the kind the agent is in there,
- its start for the kind it was in at the start. `agent_times` sums the states' events and
pairs the status-setting events in SQL; here the whole UTC days of the range come summed from
the summary, and the events of the partial days at its edges are walked here (at most a day
of them at each end, read per agent through the (tenant, agent, at) index), each status period
ending at the status-setting event after it, the first one of an edge ending the period set
before the edge began. Times are taken relative to the same reference as `agent_times`, so
that both keep the same milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, func, select

from pycc.aaa.reports import rollups
from pycc.aaa.reports.intervals import (
    FIELDS,
    NOT_READY,
    OFFLINE,
    ON_CALL,
    WRAP_UP,
    AgentTimes,
    Edge,
    Range,
    agent_names,
    boundaries,
    check_states,
    plans,
    seek,
    status_change,
)
from pycc.aaa.reports.sql import EVENTS, Scope, table_of
from pycc.store.report_models import AGENT_GRAIN, AgentTime

__all__ = ["summed_agent_times"]

_TIMES: Final = table_of(AgentTime)
#: A kind of time: ("state", state, "") or ("status", status, not-ready reason or "").
Kind = tuple[str, str, str]


@dataclass(slots=True)
class _Share:
    """What a kind's events add up to: the times (relative to the reference), ends less
    begins, and the intervals begun."""

    seconds: float = 0.0
    net: int = 0
    starts: int = 0

    def add(self, seconds: float, net: int, starts: int) -> None:
        self.seconds += seconds
        self.net += net
        self.starts += starts


def _status_kind(status: str, reason: str) -> Kind | None:
    """The kind of a status period, None for offline (never counted)."""
    if status == OFFLINE:
        return None
    return ("status", status, reason if status == NOT_READY else "")


def _kind_of(edge: Edge | None) -> Kind | None:
    return None if edge is None else _status_kind(edge.to_pair[0], edge.reason)


Shares = dict[str, dict[Kind, _Share]]


def _summed(scope: Scope, agent: str | None, ranges: rollups.Cut, reference: float,
            shares: Shares) -> None:
    """Add the whole days' shares from the summary."""
    t = _TIMES.c
    where = [rollups.tenant_slots(_TIMES, scope, ranges)]
    if agent is not None:
        where.append(t.agent == agent)
    # Each day's sums are relative to the day's start: moved to the reference here.
    moved = t.seconds + t.net * (t.slot * AGENT_GRAIN - reference)
    statement = (select(t.agent, t.kind, t.name, t.reason, func.sum(moved), func.sum(t.net),
                        func.sum(t.starts))
                 .where(*where).group_by(t.agent, t.kind, t.name, t.reason))
    for name, kind, state, reason, seconds, net, starts in scope.connection.execute(statement):
        shares.setdefault(name, {}).setdefault((kind, state, reason), _Share()).add(
            float(seconds or 0), int(net or 0), int(starts or 0))


def _walked(scope: Scope, agent: str | None, low: float, high: float, reference: float,
            shares: Shares) -> None:
    """Add the shares of the events in [low, high), walked in order per agent."""
    names = agent_names(scope.tenant, agent)
    e = EVENTS.alias("edge")
    rows = scope.connection.execute(
        select(e.c.agent, e.c.at, e.c.from_status, e.c.from_state, e.c.to_status,
               e.c.to_state, e.c.reason)
        .select_from(names.join(e, and_(e.c.tenant_id == scope.tenant,
                                        e.c.agent == names.c.agent)))
        .where(names.c.agent.is_not(None), e.c.at >= low, e.c.at < high)
        .order_by(e.c.agent, e.c.at, e.c.id)).all()
    if not rows:
        return
    # The status each agent was in when the edge began: its period ends at the first
    # status-setting event of the edge.
    before = seek(scope.tenant, names.c.agent, [lambda x: x.c.at < low, status_change], True)
    c = EVENTS.c
    setting = select(names.c.agent, before.label("id")).where(
        names.c.agent.is_not(None)).subquery("setting")
    current: dict[str, Kind | None] = {
        name: _status_kind(status, reason) for name, status, reason in scope.connection.execute(
            select(setting.c.agent, c.to_status, c.reason).join_from(
                setting, EVENTS, c.id == setting.c.id))}
    for name, at, from_status, from_state, to_status, to_state, reason in rows:
        mine = shares.setdefault(name, {})
        relative = float(at) - reference
        if from_state != to_state:
            if from_state in FIELDS:
                mine.setdefault(("state", from_state, ""), _Share()).add(relative, 1, 0)
            if to_state in FIELDS:
                mine.setdefault(("state", to_state, ""), _Share()).add(-relative, -1, 1)
        if from_status != to_status or from_state == to_state:
            ended = current.get(name)
            if ended is not None:
                mine.setdefault(ended, _Share()).add(relative, 1, 0)
            begun = current[name] = _status_kind(to_status, reason)
            if begun is not None:
                mine.setdefault(begun, _Share()).add(-relative, -1, 1)


def summed_agent_times(scope: Scope, agent: str | None, span: Range,
                       states: Sequence[str] = (ON_CALL, WRAP_UP)) -> dict[str, AgentTimes]:
    """`pycc.aaa.reports.intervals.agent_times`, from the summary where ``span`` holds whole
    days (its database must keep the summaries)."""
    check_states(states)
    edges = boundaries(scope.connection, scope.tenant, agent, span, closing=True)
    found = plans(edges, span)
    if not found:
        return {}
    reference = min(plan[0] for plan in found.values())
    shares: Shares = {}
    ranges = rollups.cut(span.start, span.end, AGENT_GRAIN)
    walks: Sequence[tuple[float, float]]
    if ranges is None:
        # Not a whole day: only the events (``cut`` gives None only with both ends).
        assert span.start is not None and span.end is not None
        walks = ((span.start, span.end),)
    else:
        _summed(scope, agent, ranges, reference, shares)
        walks = ranges.edges
    for low, high in walks:
        _walked(scope, agent, low, high, reference, shares)
    times: dict[str, AgentTimes] = {}
    for name, (start, start_pair, end, end_pair) in found.items():
        mine = shares.get(name, {})
        spent = times[name] = AgentTimes()
        for state in states:
            share = mine.get(("state", state, ""))
            value = (share.seconds if share else 0.0) + (end - reference) * (
                end_pair[1] == state) - (start - reference) * (start_pair[1] == state)
            setattr(spent, FIELDS[state], value)
        _add_statuses(spent, mine, edges[name], span, end, reference)
    return times


def _add_statuses(spent: AgentTimes, mine: dict[Kind, _Share], edge: dict[str, Edge],
                  span: Range, end: float, reference: float) -> None:
    """Time logged in and not ready by reason: the status periods' sums, closed at the
    range's ends (the period the agent was in at its start is carried into it)."""
    carried = _kind_of(edge.get("status")) if span.start is not None else None
    closing = _kind_of(edge.get("closing"))
    # The kinds of the periods set in the range, and of the one carried in (with no time,
    # a period still names its reason, as in `agent_times`).
    kinds = {kind for kind, share in mine.items() if kind[0] == "status" and share.starts}
    if carried is not None:
        kinds.add(carried)
    for kind in sorted(kinds):
        share = mine.get(kind)
        value = share.seconds if share else 0.0
        if kind == closing:
            value += end - reference
        if kind == carried:
            assert span.start is not None
            value -= span.start - reference
        seconds = max(0.0, value)
        spent.logged_in += seconds
        if kind[1] == NOT_READY:
            spent.not_ready[kind[2]] = spent.not_ready.get(kind[2], 0.0) + seconds
