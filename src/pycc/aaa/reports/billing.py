"""Billing: what the calls out cost, per local day and trunk.

Costs are stored per call record as whole micro-units of the currency (`pycc.routing.rating`);
the database adds them as integers, exactly, and the total is shown in currency units with
its six places (``"12.345600"``). ``billed_seconds`` is the answered time of the calls
(``duration``), ``unrated`` counts the calls no rate matched (their cost is unknown and not
in the total).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import func, literal_column, select

from pycc.aaa.reports.calls import money
from pycc.aaa.reports.options import ReportOptions
from pycc.aaa.reports.sql import CALLS, Scope, as_ints, flag, reading, seconds
from pycc.aaa.reports.zones import day_label
from pycc.store.repo import Store

__all__ = ["BILLING_COLUMNS", "billing"]

BILLING_COLUMNS: Final = ("day", "tenant", "trunk", "calls", "answered", "billed_seconds",
                          "cost", "unrated")


def billing(store: Store, tenant: str, options: ReportOptions) -> list[dict[str, Any]]:
    """Per local day and trunk, the calls out, answered, billed seconds, cost and unrated
    calls; days in order, then trunks by name (calls out on no trunk under "")."""
    c = CALLS.c
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        day = scope.buckets().day(c.start).label("bucket_day")
        found = connection.execute(
            select(day, c.trunk, func.count(), func.sum(flag(c.answer.is_not(None))),
                   func.sum(c.duration), func.sum(c.cost), func.sum(flag(c.cost.is_(None))))
            .where(*scope.calls(campaign=True), c.direction == "outbound")
            # By the column's name: the expression written again would be computed again.
            .group_by(literal_column("bucket_day"), c.trunk)).all()
    rows = []
    for number, trunk, calls, answered, billed, cost, unrated in found:
        calls, answered, unrated = as_ints((calls, answered, unrated))
        rows.append({"day": day_label(int(number)), "tenant": tenant, "trunk": trunk or "",
                     "calls": calls, "answered": answered, "billed_seconds": seconds(billed),
                     "cost": money(cost or 0), "unrated": unrated})
    rows.sort(key=lambda row: (row["day"], row["trunk"]))
    return rows
