"""IVR key statistics: how often each key (or "timeout", "invalid") answered each step of
each flow, and its share of the step's answers.

The counts are running totals kept by the IVR (`pycc.store.models.IvrKeyCount`), without
times, so this report takes no time range.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select

from pycc.aaa.reports.options import ReportOptions
from pycc.aaa.reports.sql import IVR_KEYS, percent, reading, tenant_id
from pycc.store.repo import Store

__all__ = ["IVR_COLUMNS", "ivr_keys"]

IVR_COLUMNS: Final = ("flow", "step", "key", "count", "share_pct")


def ivr_keys(store: Store, tenant: str, options: ReportOptions) -> list[dict[str, Any]]:
    """Per flow, step and key: the count and its share of the step; keys most used first."""
    c = IVR_KEYS.c
    with reading(store) as connection:
        owner = tenant_id(connection, tenant)
        found = connection.execute(select(c.flow, c.step, c.key, c.count)
                                   .where(c.tenant_id == owner)).all()
    totals: dict[tuple[str, str], int] = {}
    for flow, step, _key, count in found:
        totals[flow, step] = totals.get((flow, step), 0) + int(count)
    rows = [{"flow": flow, "step": step, "key": key, "count": int(count),
             "share_pct": percent(count, totals[flow, step])}
            for flow, step, key, count in found]
    rows.sort(key=lambda row: (row["flow"], row["step"], -row["count"], row["key"]))
    return rows
