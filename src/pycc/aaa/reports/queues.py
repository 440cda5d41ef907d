"""Queue service level: per queue, the calls offered, answered and abandoned, the service
level, the average speed of answer and the abandonment rate.

A call was *offered* to the queue it waited in (its record names the queue); *answered* when
an agent answered it, *abandoned* when none did. The service level is the share of offered
calls an agent answered within the queue's target: the ``service_level`` the queue was
configured with by ``pycc apply``, else 20 seconds, or the request's ``threshold`` for every
queue. The average speed of answer is the mean wait of the answered calls, the abandonment
rate the share of offered calls abandoned, and ``avg_abandon_wait`` how long those callers
waited before giving up.

The report reads the daily summary of queue calls (`pycc.aaa.reports.rollups`), which keeps
the answered calls by their wait rounded up to whole seconds: exact for targets of whole
seconds (a wait within an integer target rounds up within it). A target with a fraction of a
second, or a limit to a campaign, reads the records.
"""

from __future__ import annotations

import json
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.engine import Connection

from pycc.aaa.reports import rollups
from pycc.aaa.reports.options import DEFAULT_THRESHOLD, ReportOptions
from pycc.aaa.reports.sql import (
    CALLS,
    Scope,
    as_ints,
    average,
    flag,
    percent,
    reading,
    table_of,
)
from pycc.store.config_models import ConfigObject
from pycc.store.repo import Store
from pycc.store.report_models import DAY, QueueDay

__all__ = ["SERVICE_LEVEL_COLUMNS", "queue_targets", "service_level"]

Row = dict[str, Any]

SERVICE_LEVEL_COLUMNS: Final = ("queue", "target_seconds", "offered", "answered", "abandoned",
                                "answered_in_target", "service_level_pct", "asa",
                                "abandon_pct", "avg_abandon_wait")
_CONFIG: Final = table_of(ConfigObject)
_DAYS: Final = table_of(QueueDay)


def queue_targets(connection: Connection, tenant: int) -> dict[str, float]:
    """The service-level target of each configured queue of the tenant, in seconds."""
    c = _CONFIG.c
    targets: dict[str, float] = {}
    for name, spec in connection.execute(select(c.name, c.spec).where(
            c.tenant_id == tenant, c.kind == "queue")):
        try:
            value = json.loads(spec).get("service_level", DEFAULT_THRESHOLD)
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            targets[str(name)] = float(value)
    return targets


def _target(queue: ColumnElement[Any], targets: dict[str, float],
            fallback: float) -> ColumnElement[Any]:
    if not targets:
        return literal(fallback)
    return case(*((queue == name, value) for name, value in sorted(targets.items())),
                else_=fallback)


def service_level(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """One row per queue with calls in the range, by queue name."""
    c = CALLS.c
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        targets = ({} if options.threshold is not None
                   else queue_targets(connection, scope.tenant))
        fallback = options.threshold if options.threshold is not None else DEFAULT_THRESHOLD
        whole = all(float(value).is_integer() for value in (fallback, *targets.values()))
        ranges = rollups.plan(scope, DAY, limited=options.campaign is not None or not whole)
        answered = c.agent_answer.is_not(None)
        records = [c.queue, literal(1), flag(answered),
                   flag(answered & (c.queue_wait <= _target(c.queue, targets, fallback))),
                   case((answered, c.queue_wait), else_=None),
                   case((answered, None), else_=c.queue_wait)]
        if ranges is None:
            statement = (select(records[0], func.count(), *(func.sum(r) for r in records[2:]))
                         .where(*scope.calls(queue=True, campaign=True), c.queue.is_not(None))
                         .group_by(c.queue).order_by(c.queue))
        else:
            t = _DAYS.c
            within = case(((t.timed == 1) & (t.wait <= _target(t.queue, targets, fallback)),
                           t.answered), else_=0)
            where: list[ColumnElement[bool]] = [rollups.tenant_slots(_DAYS, scope, ranges)]
            only: list[ColumnElement[bool]] = [c.queue.is_not(None)]
            if options.queue is not None:
                where.append(t.queue == options.queue)
                only.append(c.queue == options.queue)
            summary = select(t.queue, t.offered, t.answered, within.label("in_target"),
                             t.waited, t.abandon_waited).where(*where)
            edges = [select(*records).where(*edge, *only)
                     for edge in rollups.record_edges(scope, ranges)]
            u = rollups.combined(summary, edges).c
            statement = (select(u.queue, func.sum(u.offered), func.sum(u.answered),
                                func.sum(u.in_target), func.sum(u.waited),
                                func.sum(u.abandon_waited))
                         .group_by(u.queue).having(func.sum(u.offered) > 0).order_by(u.queue))
        found = connection.execute(statement).all()
    rows: list[Row] = []
    for queue, offered, took, in_target, waited, abandon_waited in found:
        offered, took, in_target = as_ints((offered, took, in_target))
        abandoned = offered - took
        rows.append({
            "queue": queue, "target_seconds": targets.get(queue, fallback),
            "offered": offered, "answered": took, "abandoned": abandoned,
            "answered_in_target": in_target, "service_level_pct": percent(in_target, offered),
            "asa": average(waited, took), "abandon_pct": percent(abandoned, offered),
            "avg_abandon_wait": average(abandon_waited, abandoned),
        })
    return rows
