"""Billing: what the calls out cost, per local day and trunk.

Costs are stored per call record as whole micro-units of the currency (`pycc.routing.rating`);
the database adds them as integers, exactly, and the total is shown in currency units with
its six places (``"12.345600"``). ``billed_seconds`` is the answered time of the calls
(``duration``), ``unrated`` counts the calls no rate matched (their cost is unknown and not
in the total). Unless limited to a campaign, the report reads the quarter-hour summary of the
calls out per trunk (`pycc.aaa.reports.rollups`).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import func, literal, literal_column, select

from pycc.aaa.reports import rollups
from pycc.aaa.reports.calls import money
from pycc.aaa.reports.options import ReportOptions
from pycc.aaa.reports.sql import CALLS, Scope, as_ints, flag, reading, seconds, table_of
from pycc.aaa.reports.zones import day_label
from pycc.store.repo import Store
from pycc.store.report_models import QUARTER, BillingSlot

__all__ = ["BILLING_COLUMNS", "billing"]

BILLING_COLUMNS: Final = ("day", "tenant", "trunk", "calls", "answered", "billed_seconds",
                          "cost", "unrated")
_SLOTS: Final = table_of(BillingSlot)


def billing(store: Store, tenant: str, options: ReportOptions) -> list[dict[str, Any]]:
    """Per local day and trunk, the calls out, answered, billed seconds, cost and unrated
    calls; days in order, then trunks by name (calls out on no trunk under "")."""
    c = CALLS.c
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        buckets = scope.buckets()
        ranges = rollups.plan(scope, QUARTER, limited=options.campaign is not None,
                              buckets=buckets)
        if ranges is None:
            day = buckets.day(c.start).label("bucket_day")
            statement = (
                select(day, c.trunk, func.count(), func.sum(flag(c.answer.is_not(None))),
                       func.sum(c.duration), func.sum(c.cost), func.sum(flag(c.cost.is_(None))),
                       flag(c.trunk.is_(None)))
                .where(*scope.calls(campaign=True), c.direction == "outbound")
                # By the column's name: the expression written again would be computed again.
                .group_by(literal_column("bucket_day"), c.trunk))
        else:
            t = _SLOTS.c
            summary = select(buckets.day(t.slot * QUARTER).label("bucket_day"), t.trunk,
                             t.untrunked, t.calls, t.answered, t.billed, t.cost, t.unrated
                             ).where(rollups.tenant_slots(_SLOTS, scope, ranges))
            edges = [select(buckets.day(c.start), func.coalesce(c.trunk, ""),
                            flag(c.trunk.is_(None)), literal(1), flag(c.answer.is_not(None)),
                            c.duration, c.cost, flag(c.cost.is_(None)))
                     .where(*where, c.direction == "outbound")
                     for where in rollups.record_edges(scope, ranges)]
            u = rollups.combined(summary, edges).c
            statement = (select(u.bucket_day, u.trunk, func.sum(u.calls), func.sum(u.answered),
                                func.sum(u.billed), func.sum(u.cost), func.sum(u.unrated),
                                u.untrunked)
                         .group_by(u.bucket_day, u.trunk, u.untrunked)
                         .having(func.sum(u.calls) > 0))
        found = connection.execute(statement).all()
    rows = []
    for number, trunk, calls, answered, billed, cost, unrated, untrunked in found:
        calls, answered, unrated = as_ints((calls, answered, unrated))
        rows.append((int(untrunked), {
            "day": day_label(int(number)), "tenant": tenant, "trunk": trunk or "",
            "calls": calls, "answered": answered, "billed_seconds": seconds(billed),
            "cost": money(cost or 0), "unrated": unrated}))
    # Calls on no trunk after those on a trunk named "", should there be both.
    rows.sort(key=lambda pair: (pair[1]["day"], pair[1]["trunk"], pair[0]))
    return [row for _, row in rows]
