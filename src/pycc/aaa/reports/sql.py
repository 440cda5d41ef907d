"""The SQL the reports share: the tables, a read transaction, the tenant, the filters every
call report applies, local hour and day buckets, and rounding of what comes back.

Everything is SQLAlchemy Core that runs the same on SQLite and PostgreSQL; where the two
differ (rounding down to a whole number) the dialect picks. Reports count closed call records
only: an open one is a call still up, whose figures are not final.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, Integer, Table, case, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from pycc.aaa.reports.options import ReportError, ReportOptions
from pycc.aaa.reports.zones import DAY, HOUR, offsets
from pycc.store.errors import StoreError
from pycc.store.models import AgentEvent, CallRecord, IvrKeyCount, Tenant
from pycc.store.repo import Store

__all__ = [
    "CALLS",
    "EVENTS",
    "IVR_KEYS",
    "TENANTS",
    "Buckets",
    "average",
    "call_filter",
    "flag",
    "percent",
    "reading",
    "seconds",
    "table_of",
    "tenant_id",
]


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for queries of a few columns."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


CALLS: Final = table_of(CallRecord)
EVENTS: Final = table_of(AgentEvent)
IVR_KEYS: Final = table_of(IvrKeyCount)
TENANTS: Final = table_of(Tenant)

#: Added before truncating on SQLite, whose CAST rounds toward zero, so that a negative
#: local time still rounds down (any bucket number is far smaller).
_SHIFT: Final = 1 << 40


@contextmanager
def reading(store: Store) -> Iterator[Connection]:
    """One read transaction (a consistent view for the report's several queries); database
    errors become `StoreError`."""
    try:
        with store.engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc


def tenant_id(connection: Connection, tenant: str) -> int:
    """The id of tenant ``tenant``, or the error naming it."""
    found = connection.execute(
        select(TENANTS.c.id).where(TENANTS.c.name == tenant)).scalar_one_or_none()
    if found is None:
        raise ReportError("tenant", f"no tenant {tenant!r}")
    return int(found)


def call_filter(tenant: int, options: ReportOptions, *, agent: bool = False,
                queue: bool = False, campaign: bool = False) -> list[ColumnElement[bool]]:
    """The conditions on call records: the tenant's closed records started in the options'
    time range, and of its agent, queue or campaign where the report takes those."""
    c = CALLS.c
    where: list[ColumnElement[bool]] = [c.tenant_id == tenant, c.state == "closed"]
    if options.since is not None:
        where.append(c.start >= options.since)
    if options.until is not None:
        where.append(c.start < options.until)
    if agent and options.agent is not None:
        where.append(c.agent == options.agent)
    if queue and options.queue is not None:
        where.append(c.queue == options.queue)
    if campaign and options.campaign is not None:
        where.append(c.campaign == options.campaign)
    return where


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where ``condition`` holds, else 0: what ``sum`` counts."""
    return case((condition, 1), else_=0)


def floor_div(value: ColumnElement[Any], size: int, dialect: str) -> ColumnElement[int]:
    """``floor(value / size)`` as an integer, on either database."""
    if dialect == "postgresql":
        return cast(func.floor(value / float(size)), BigInteger)
    return cast(value / float(size) + _SHIFT, Integer) - _SHIFT


class Buckets:
    """Local hours or days of the options' time zone over a report's time range."""

    def __init__(self, connection: Connection, tenant: int, options: ReportOptions) -> None:
        self.zone = options.zone
        self.dialect = connection.dialect.name
        # The zone's changes are looked up over the calls there are, not over the whole
        # range asked for (which may span centuries). Two scalar subqueries, so that each
        # is read off the (tenant, start) index.
        c = CALLS.c
        first = select(func.min(c.start)).where(c.tenant_id == tenant).scalar_subquery()
        last = select(func.max(c.start)).where(c.tenant_id == tenant).scalar_subquery()
        row = connection.execute(select(first, last)).one()
        low = float(row[0]) if row[0] is not None else 0.0
        high = float(row[1]) if row[1] is not None else low
        if options.since is not None:
            low = max(low, options.since)
        if options.until is not None:
            high = min(high, options.until)
        self.offsets = offsets(self.zone, low, max(low, high))

    def offset(self, start: ColumnElement[float]) -> ColumnElement[int]:
        """The UTC offset in force at ``start``, as SQL."""
        if len(self.offsets) == 1:
            return cast(self.offsets[0][1], Integer)
        whens = [(start < changed, offset) for (_, offset), (changed, _) in
                 zip(self.offsets, self.offsets[1:], strict=False)]
        return case(*whens, else_=self.offsets[-1][1])

    def day(self, start: ColumnElement[float]) -> ColumnElement[int]:
        """The local day number (days since 1970-01-01) of ``start``."""
        return floor_div(start + self.offset(start), DAY, self.dialect)

    def hour(self, start: ColumnElement[float]) -> tuple[ColumnElement[int], ColumnElement[int]]:
        """The local hour number of ``start`` and the offset it is local to: together they
        name one hour, the repeated hour of an autumn night included."""
        offset = self.offset(start)
        return floor_div(start + offset, HOUR, self.dialect), offset


def seconds(value: Any) -> float:
    """A sum or average of seconds from the database, to the millisecond (0 for none)."""
    return round(float(value), 3) if value is not None else 0.0


def average(total: Any, count: Any) -> float | None:
    """``total / count`` to the millisecond, or None when there is nothing to average."""
    return round(float(total or 0) / int(count), 3) if count else None


def percent(part: Any, whole: Any) -> float | None:
    """``part`` as a percentage of ``whole``, to two places (None when ``whole`` is 0)."""
    return round(100.0 * float(part or 0) / float(whole), 2) if whole else None


def as_ints(row: Sequence[Any]) -> list[int]:
    """Counts from the database (PostgreSQL sums are decimals) as ints."""
    return [int(value or 0) for value in row]
