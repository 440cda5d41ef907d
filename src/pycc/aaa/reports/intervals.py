"""Time agents spent in each status and state, from their events, computed by the database.

Each `AgentEvent` moves one agent from ``(from_status, from_state)`` to ``(to_status,
to_state)``: the agent stays in the new pair until its next event. Pairing every event with
the next (a window function) is what a report of a million calls cannot afford on SQLite, so
the time on calls and in wrap-up within a range [a, b) is summed without pairing, because
each event also says what it ended::

    time(S) = sum over events e in [a, b) of  e.at * ([from(e) = S] - [to(e) = S])
              + b * [in S at b] - a * [in S at a]

Every interval of state S that ends in the range adds its end, every one that starts in it
takes off its start, and the two boundary terms close the intervals cut by the range. The
state at each boundary comes from the agent's last event before it (one index seek per agent
on (tenant, agent, at)); an agent with no event before ``a`` is counted from its first event
on, and without a ``b`` (no ``until``, no ``now``) an agent's last interval is not counted
beyond its last event. Times are taken relative to a reference near the range, so the sums
keep their milliseconds.

Statuses change a few times a day (log-in, not ready, ready, log-out), so their periods are
paired with a window function over just those events: a period lasts from the event that set
the status to the next such event, and the one an agent was in when the range began is
carried in. A not-ready period takes the reason of the event that set it (a change of status,
or a new reason given while not ready, which changes no state); the call events inside it (a
call taken before the status was set, its wrap-up) do not change it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from pycc.aaa.reports.sql import EVENTS, Scope

__all__ = ["FIELDS", "AgentTimes", "Edge", "Plan", "Range", "agent_names", "agent_times",
           "boundaries", "check_states", "event_range", "later_event", "plans", "seek",
           "status_change"]

#: The agent statuses and states of `pycc.ccs.agent`, as the events store them.
OFFLINE: Final = "offline"
NOT_READY: Final = "not_ready"
ON_CALL: Final = "on_call"
WRAP_UP: Final = "wrap_up"
#: The `AgentTimes` field of each state counted.
FIELDS: Final = {ON_CALL: "on_call", WRAP_UP: "wrap_up"}


@dataclass(frozen=True, slots=True)
class Range:
    """The time range of an agent report: ``start`` inclusive, ``end`` exclusive (None: not
    bounded on that side)."""

    start: float | None
    end: float | None


def event_range(since: float | None, until: float | None, now: float | None) -> Range:
    """The range to count agent time in: ``until``, but never past ``now``."""
    ends = [value for value in (until, now) if value is not None]
    end = min(ends) if ends else None
    if since is not None and end is not None and end < since:
        end = since
    return Range(since, end)


@dataclass
class AgentTimes:
    """Seconds one agent spent logged in, on calls, in wrap-up and not ready (by reason)."""

    logged_in: float = 0.0
    on_call: float = 0.0
    wrap_up: float = 0.0
    not_ready: dict[str, float] = field(default_factory=dict)


def status_change(events: Any = EVENTS) -> ColumnElement[bool]:
    """Whether an event set the agent's status: it changed it, or gave a new not-ready reason
    (which changes no state). Call events change the state and keep the status."""
    c = events.c
    return or_(c.from_status != c.to_status, c.from_state == c.to_state)


#: A condition on an alias of the events table.
Condition = Callable[[Any], ColumnElement[bool]]


def later_event(outer: Any, condition: Condition | None = None,
                column: str = "at") -> Select[Any]:
    """A ``column`` of ``outer``'s agent's next event (meeting ``condition``), as a
    correlated query: what one seek on the (tenant, agent, at) index finds. A value rather
    than a row to join: PostgreSQL would hash the whole table for such a join."""
    x = EVENTS.alias("nxt")
    # ``at >= `` alone bounds the index range; the tie on ``at`` is then broken by id.
    # Ordered by ``at`` only, as the index is: the database stops at the first row it
    # finds instead of sorting the agent's later events (events tied with it have its time).
    where = [x.c.tenant_id == outer.c.tenant_id, x.c.agent == outer.c.agent,
             x.c.at >= outer.c.at, or_(x.c.at > outer.c.at, x.c.id > outer.c.id)]
    if condition is not None:
        where.append(condition(x))
    return select(x.c[column]).where(*where).order_by(x.c.at).limit(1)



def seek(tenant: int, agent: Any, where: Sequence[Condition], newest: bool) -> Any:
    """The id of ``agent``'s newest (or oldest) event meeting ``where``, as a scalar
    subquery: one seek on the (tenant, agent, at) index."""
    x = EVENTS.alias("seek")
    order = (x.c.at.desc(), x.c.id.desc()) if newest else (x.c.at, x.c.id)
    return (select(x.c.id).where(x.c.tenant_id == tenant, x.c.agent == agent,
                                 *(clause(x) for clause in where))
            .order_by(*order).limit(1).scalar_subquery())


def agent_names(tenant: int, agent: str | None) -> Any:
    """The agents with events, one index seek each (a loose index scan), or just ``agent``."""
    c = EVENTS.c
    if agent is not None:
        return select(literal(agent).label("agent")).cte("names")
    names = select(func.min(c.agent).label("agent")).where(c.tenant_id == tenant).cte(
        "names", recursive=True)
    following = select(func.min(c.agent)).where(c.tenant_id == tenant,
                                                 c.agent > names.c.agent).scalar_subquery()
    return names.union_all(select(following).where(names.c.agent.is_not(None)))


@dataclass(frozen=True, slots=True)
class Edge:
    """One event at a boundary of the range: the pairs (status, state) it left and
    entered, and its reason."""

    id: int
    agent: str
    at: float
    from_pair: tuple[str, str]
    to_pair: tuple[str, str]
    reason: str


def boundaries(connection: Connection, tenant: int, agent: str | None, span: Range, *,
               closing: bool = False) -> dict[str, dict[str, Edge]]:
    """Per agent: its last event before the start (``before``), its first in the range
    (``first``), its last before the end (``last``), its last status-setting event before
    the start (``status``) and, if asked, before the end (``closing``)."""
    names = agent_names(tenant, agent)
    start, end = span.start, span.end
    seeks: dict[str, Any] = {}
    if start is not None:
        seeks["before"] = seek(tenant, names.c.agent, [lambda x: x.c.at < start], True)
        seeks["status"] = seek(tenant, names.c.agent,
                               [lambda x: x.c.at < start, status_change], True)
    in_range: list[Condition] = [] if start is None else [lambda x: x.c.at >= start]
    before_end: list[Condition] = [] if end is None else [lambda x: x.c.at < end]
    seeks["first"] = seek(tenant, names.c.agent, [*in_range, *before_end], False)
    seeks["last"] = seek(tenant, names.c.agent, before_end, True)
    if closing:
        seeks["closing"] = seek(tenant, names.c.agent, [*before_end, status_change], True)
    statement = select(names.c.agent, *(value.label(key) for key, value in seeks.items())
                       ).where(names.c.agent.is_not(None))
    found = connection.execute(statement).mappings().all()
    ids = {int(row[key]) for row in found for key in seeks if row[key] is not None}
    c = EVENTS.c
    events: dict[int, Edge] = {}
    if ids:
        fetched = connection.execute(select(
            c.id, c.agent, c.at, c.from_status, c.from_state, c.to_status, c.to_state, c.reason,
        ).where(c.id.in_(sorted(ids)))).all()
        for row in fetched:
            events[int(row[0])] = Edge(int(row[0]), row[1], float(row[2]),
                                       (row[3], row[4]), (row[5], row[6]), row[7])
    return {str(row["agent"]): {key: events[int(row[key])] for key in seeks
                                if row[key] is not None} for row in found}


#: Where an agent's counting starts and ends, and in what (status, state) pair.
Plan = tuple[float, tuple[str, str], float, tuple[str, str]]


def plans(edges: dict[str, dict[str, Edge]], span: Range) -> dict[str, Plan]:
    """Per agent with time to count in ``span``: where its counting starts (the range's
    start, or its first event when it has none before) and ends (the range's end, or its
    last event when the range has none), and the pairs it is in there."""
    found: dict[str, Plan] = {}
    for name, edge in edges.items():
        before, first, last = edge.get("before"), edge.get("first"), edge.get("last")
        if before is not None and span.start is not None:
            start, start_pair = span.start, before.to_pair
        elif first is not None:
            start, start_pair = first.at, first.from_pair
        else:
            continue
        if last is None:
            continue
        end = span.end if span.end is not None else last.at
        if end <= start:
            continue
        found[name] = (start, start_pair, end, last.to_pair)
    return found


def check_states(states: Sequence[str]) -> None:
    """Refuse a state whose time is not counted."""
    unknown = set(states) - set(FIELDS)
    if unknown:
        raise ValueError(f"states: only {', '.join(FIELDS)} are counted, not {unknown}")


def agent_times(scope: Scope, agent: str | None, span: Range,
                states: Sequence[str] = (ON_CALL, WRAP_UP)) -> dict[str, AgentTimes]:
    """Per agent (or only ``agent``), the seconds logged in, not ready by reason and in each
    of ``states`` (on a call, in wrap-up) within ``span``."""
    check_states(states)
    connection, tenant = scope.connection, scope.tenant
    edges = boundaries(connection, tenant, agent, span)
    found = plans(edges, span)
    if not found:
        return {}
    times = {name: AgentTimes() for name in found}
    if states:
        _states(scope, agent, span, states, found, times)
    _statuses(scope, agent, span, edges, found, times)
    return times


def _states(scope: Scope, agent: str | None, span: Range, states: Sequence[str],
            plans: dict[str, Plan], times: dict[str, AgentTimes]) -> None:
    """Seconds in each of ``states``: the sums above, in one pass over the events, of which
    only those entering or leaving one of the states are grouped."""
    reference = min(plan[0] for plan in plans.values())
    c = EVENTS.c
    # Over a wide range, a scan: the events lie in the table in time order, so reading them
    # in (agent, at) order off the index is a seek for every one, unless an index holds the
    # states too (then its order groups them by agent, with no seek and no sort).
    tenant = c.tenant_id if _indexed(_STATE_COLUMNS) else scope.scanned(c.tenant_id)
    where = [tenant == scope.tenant, c.from_state != c.to_state,
             or_(c.from_state.in_(states), c.to_state.in_(states))]
    if agent is not None:
        where.append(c.agent == agent)
    if span.start is not None:
        where.append(scope.scanned(c.at) >= span.start)
    if span.end is not None:
        where.append(scope.scanned(c.at) < span.end)
    shifted = c.at - reference
    # +at where an interval of the state ends, -at where one starts.
    sums = [func.sum(case((c.from_state == state, shifted), (c.to_state == state, -shifted),
                          else_=0.0)) for state in states]
    statement = select(c.agent, *sums).where(*where).group_by(c.agent)
    totals = {name: [float(value or 0) for value in values]
              for name, *values in scope.connection.execute(statement)}
    for name, (start, start_pair, end, end_pair) in plans.items():
        found = totals.get(name, [0.0] * len(states))
        for n, state in enumerate(states):
            value = found[n] + (end - reference) * (end_pair[1] == state) \
                - (start - reference) * (start_pair[1] == state)
            setattr(times[name], FIELDS[state], value)


#: The columns the state sums read.
_STATE_COLUMNS: Final = frozenset({"tenant_id", "agent", "at", "from_state", "to_state"})


def _indexed(needed: frozenset[str]) -> bool:
    """Whether the events table declares an index led by (tenant, agent) that holds every
    column in ``needed``: reading it in order then costs no seek into the table."""
    return any([column.name for column in index.columns][:2] == ["tenant_id", "agent"]
               and needed <= {column.name for column in index.columns}
               for index in EVENTS.indexes)


def _statuses(scope: Scope, agent: str | None, span: Range, edges: dict[str, dict[str, Edge]],
              plans: dict[str, Plan], times: dict[str, AgentTimes]) -> None:
    """Seconds logged in and not ready by reason: each status period from the event that set
    it to the next such event (a few events a day, paired by a window function), cut to the
    range."""
    c = EVENTS.c
    # Few events set a status, which PostgreSQL cannot tell from the condition: left to
    # itself it reads them all through the index, for their order (a seek each).
    where: list[ColumnElement[bool]] = [
        scope.scanned(c.tenant_id, everywhere=True) == scope.tenant, status_change()]
    if agent is not None:
        where.append(c.agent == agent)
    if span.end is not None:
        where.append(scope.scanned(c.at) < span.end)
    if span.start is not None:
        # The periods set in the range, and the one each agent was in when it began.
        carried = sorted(edge["status"].id for edge in edges.values() if "status" in edge)
        began_in_range = scope.scanned(c.at) >= span.start
        where.append(or_(began_in_range, c.id.in_(carried)) if carried else began_in_range)
    ended = func.lead(c.at).over(partition_by=c.agent, order_by=(c.at, c.id))
    periods = (select(c.agent, c.to_status, c.reason, c.at.label("began"), ended.label("ended"))
               .where(*where).subquery("periods"))
    p = periods.c
    lower: ColumnElement[Any] = p.began
    if span.start is not None:
        lower = case((p.began < span.start, span.start), else_=p.began)
    # A period still open ends with the range; without an end to the range, with the
    # agent's last event (as the other times do), which is added below.
    upper: ColumnElement[Any] = case((p.ended.is_(None), lower), else_=p.ended)
    if span.end is not None:
        upper = case((or_(p.ended.is_(None), p.ended > span.end), span.end), else_=p.ended)
    statement = (select(p.agent, p.to_status, p.reason, func.sum(upper - lower),
                        func.max(case((p.ended.is_(None), lower), else_=None)))
                 .group_by(p.agent, p.to_status, p.reason))
    for name, status, reason, total, open_since in scope.connection.execute(statement):
        if name not in plans or status == OFFLINE:
            continue
        seconds = float(total or 0)
        if span.end is None and open_since is not None:
            seconds += max(0.0, plans[name][2] - float(open_since))
        seconds = max(0.0, seconds)
        found = times[name]
        found.logged_in += seconds
        if status == NOT_READY:
            # The reason of the event that set the status (see the module's docstring).
            found.not_ready[reason] = found.not_ready.get(reason, 0.0) + seconds
