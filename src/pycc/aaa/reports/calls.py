"""Call lists: the call log, the call records with every column, and customer call
statistics.

The log and the records come newest first (by start, then id), at most ``limit`` of them; the
tenant's (tenant, start) index serves the order, so the database reads only the rows it
returns. A customer is the other party of a call with the outside: the caller of a call in,
the callee of a call out (calls between extensions have none). Customer statistics group the
calls by that number: how many, in and out, answered, the talk time, the first and the last.

Over all of a tenant's calls (no range, or one that holds them all) and with no agent, queue
or campaign, they are read from the summary of every number's calls (`pycc.store.
report_models.Customer`), unless a deleted record left one stale; a narrower range groups the
records it holds, as the first and last call of a range cannot be taken from all-time
figures.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import case, func, select

from pycc.aaa.reports.options import ReportOptions
from pycc.aaa.reports.sql import CALLS, Scope, as_ints, flag, reading, seconds, table_of
from pycc.routing.rating import from_micros
from pycc.store.repo import Store
from pycc.store.report_models import Customer

__all__ = ["CALL_COLUMNS", "CUSTOMER_COLUMNS", "RECORD_COLUMNS", "calls", "customers",
           "money", "records"]

Row = dict[str, Any]

#: The call log's columns: who called whom, how it went, what it cost.
CALL_COLUMNS: Final = ("start", "call_id", "direction", "caller", "callee", "trunk", "queue",
                       "agent", "campaign", "disposition", "hangup_cause", "hangup_by",
                       "ring_seconds", "talk_seconds", "duration", "cost")
#: Every column of a call record, as the table has them (``cost`` in micro-units).
RECORD_COLUMNS: Final = tuple(column.name for column in CALLS.columns)
CUSTOMER_COLUMNS: Final = ("customer", "calls", "inbound", "outbound", "answered",
                           "talk_seconds", "first_call", "last_call")
_CUSTOMERS: Final = table_of(Customer)


def money(micros: Any) -> str | None:
    """A cost in micro-units as currency units with all six places (``"0.012500"``);
    None stays None (a call no rate matched)."""
    return None if micros is None else f"{from_micros(int(micros)):.6f}"


def calls(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """The call log: the newest calls first, ``options.rows`` of them."""
    c = CALLS.c
    columns = [c[name] for name in CALL_COLUMNS]
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        statement = (select(*columns)
                     .where(*scope.calls(agent=True, queue=True, campaign=True, ordered=True))
                     .order_by(c.start.desc(), c.id.desc()).limit(options.rows))
        found = connection.execute(statement).all()
    rows = [dict(zip(CALL_COLUMNS, row, strict=True)) for row in found]
    for row in rows:
        row["cost"] = money(row["cost"])
    return rows


def records(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Call records with all their columns, the newest first, ``options.rows`` of them."""
    c = CALLS.c
    with reading(store) as connection:
        scope = Scope(connection, tenant, options)
        statement = (select(*(c[name] for name in RECORD_COLUMNS))
                     .where(*scope.calls(agent=True, queue=True, campaign=True, ordered=True))
                     .order_by(c.start.desc(), c.id.desc()).limit(options.rows))
        found = connection.execute(statement).all()
    return [dict(zip(RECORD_COLUMNS, row, strict=True)) for row in found]


def _all_time(scope: Scope) -> bool:
    """Whether the options take every closed call of the tenant that the customers' summary
    holds: no agent, queue or campaign, and a range (if any) around all of its calls."""
    options = scope.options
    if not scope.summaries or scope.first is None or scope.last is None or any(
            value is not None for value in (options.agent, options.queue, options.campaign)):
        return False
    if not ((options.since is None or options.since <= scope.first) and (
            options.until is None or options.until > scope.last)):
        return False
    # A number whose first or last call was deleted is not known until a rebuild.
    t = _CUSTOMERS.c
    return scope.connection.execute(
        select(t.customer).where(t.tenant_id == scope.tenant, t.stale != 0).limit(1)
    ).first() is None


def customers(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per customer number: calls in and out, answered, talk time, first and last call;
    the customers with the most calls first, ``options.rows`` of them."""
    c = CALLS.c
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        if _all_time(scope):
            t = _CUSTOMERS.c
            statement = (select(t.customer, t.calls, t.inbound, t.outbound, t.answered, t.talk,
                                t.first_call, t.last_call)
                         .where(t.tenant_id == scope.tenant, t.calls > 0)
                         .order_by(t.calls.desc(), t.last_call.desc(), t.customer)
                         .limit(options.rows))
        else:
            customer = case((c.direction == "outbound", c.callee), else_=c.caller).label(
                "customer")
            count = func.count().label("calls")
            last = func.max(c.start).label("last_call")
            statement = (select(customer, count, func.sum(flag(c.direction == "inbound")),
                                func.sum(flag(c.direction == "outbound")),
                                func.sum(flag(c.disposition == "answered")),
                                func.sum(c.talk_seconds), func.min(c.start), last)
                         .where(*scope.calls(agent=True, queue=True, campaign=True),
                                c.direction != "internal")
                         .group_by(customer)
                         .order_by(count.desc(), last.desc(), customer).limit(options.rows))
        found = connection.execute(statement).all()
    rows: list[Row] = []
    for number, total, inbound, outbound, answered, talk, first, latest in found:
        total, inbound, outbound, answered = as_ints((total, inbound, outbound, answered))
        rows.append({"customer": number, "calls": total, "inbound": inbound,
                     "outbound": outbound, "answered": answered,
                     "talk_seconds": seconds(talk), "first_call": float(first),
                     "last_call": float(latest)})
    return rows
