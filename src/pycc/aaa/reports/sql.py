"""The SQL the reports share: the tables, a read transaction, the tenant, the filters every
call report applies, local hour and day buckets, and rounding of what comes back.

Everything is SQLAlchemy Core that runs the same on SQLite and PostgreSQL; where the two
differ (rounding down to a whole number) the dialect picks. Reports count closed call records
only: an open one is a call still up, whose figures are not final.

Sums of seconds come back to the millisecond: the summary tables add the same values in
another order than a scan of the rows, so the last bits of a float sum may differ, and
`seconds`, `average` and `percent` first take a sum to its nearest millisecond (durations are
written to the millisecond), so that both ways give the same figures.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Table,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from pycc.aaa.reports.options import ReportError, ReportOptions
from pycc.aaa.reports.zones import DAY, HOUR, offsets
from pycc.store import report_models
from pycc.store.errors import StoreError
from pycc.store.models import AgentEvent, CallRecord, IvrKeyCount, Tenant
from pycc.store.repo import Store

__all__ = [
    "CALLS",
    "EVENTS",
    "IVR_KEYS",
    "TENANTS",
    "Buckets",
    "Scope",
    "average",
    "flag",
    "percent",
    "plain_rows",
    "reading",
    "seconds",
    "seconds_and_average",
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

#: PostgreSQL's memory for each sort or hash of a report.
_WORK_MEM: Final = "64MB"

log = logging.getLogger("pycc.reports")


@contextmanager
def reading(store: Store, *, summaries: bool = False) -> Iterator[Connection]:
    """One read transaction (a consistent view for the report's several queries); database
    errors become `StoreError`. ``summaries``: the report would read the summary tables, so
    they are activated first if this database has never had them (see `activate`)."""
    if summaries:
        activate(store)
    try:
        with store.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # One snapshot for every statement (PostgreSQL's default takes one each).
                connection.exec_driver_sql(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Grouping a million records by customer needs more than the default 4 MB
                # to sort or hash in memory; for this transaction only.
                connection.exec_driver_sql(f"SET LOCAL work_mem = '{_WORK_MEM}'")
            yield connection
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc


def activate(store: Store) -> bool:
    """Make sure the database keeps the summary tables (`pycc.store.report_models.activate`:
    the first time, this fills them from every record, in one write transaction); whether it
    does. A database that cannot (read-only, say) is read from its rows, with a warning."""
    try:
        with store.engine.connect() as connection:
            if not report_models.supported(connection):
                return False
            if report_models.active(connection):
                return True
        store.write(lambda session: report_models.activate(session.connection()))
    except (SQLAlchemyError, StoreError) as exc:
        log.warning("report summaries unavailable, reading the records instead: %s", exc)
        return False
    return True


def plain_rows(connection: Connection, statement: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``statement`` as the driver returns them (tuples), without SQLAlchemy's
    row objects: for a report of a hundred thousand rows that is a third of its time. Only for
    columns that need no conversion (integers, floats, text)."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def tenant_id(connection: Connection, tenant: str) -> int:
    """The id of tenant ``tenant``, or the error naming it."""
    found = connection.execute(
        select(TENANTS.c.id).where(TENANTS.c.name == tenant)).scalar_one_or_none()
    if found is None:
        raise ReportError("tenant", f"no tenant {tenant!r}")
    return int(found)


class Scope:
    """What one report works on: the tenant (by id), the options, the database's dialect,
    and the time span of the tenant's calls (read off the (tenant, start) index), from which
    it decides how the database should read the rows.

    A range covering much of the data (or no range at all) is read best by scanning the
    table in order; through an index, every row costs a seek (the rows lie in the table in
    the order they were written, by time, not by agent). SQLite's planner still picks an
    index whenever a condition names an indexed column, so for such *wide* ranges the
    indexed columns are written ``column + 0``, which no index serves. PostgreSQL weighs
    this itself, and is told only where it cannot: when a filter keeps far fewer rows than
    it guesses, and an index would save it sorting them (`scanned` with ``everywhere``).
    """

    #: A range over more than this share of the tenant's calls is read by a scan.
    WIDE_SHARE: Final = 0.25

    def __init__(self, connection: Connection, tenant: str, options: ReportOptions) -> None:
        self.connection = connection
        self.options = options
        self.tenant = tenant_id(connection, tenant)
        self.dialect = connection.dialect.name
        c = CALLS.c
        # Two scalar subqueries, so that each is one seek on the (tenant, start) index.
        first = select(func.min(c.start)).where(c.tenant_id == self.tenant).scalar_subquery()
        last = select(func.max(c.start)).where(c.tenant_id == self.tenant).scalar_subquery()
        row = connection.execute(select(first, last)).one()
        self.first = float(row[0]) if row[0] is not None else None
        self.last = float(row[1]) if row[1] is not None else None
        self.wide = self._wide()
        self._summaries: bool | None = None

    @property
    def summaries(self) -> bool:
        """Whether the report may read the summary tables: the options allow it and the
        database keeps them (as seen in this transaction)."""
        if self._summaries is None:
            self._summaries = self.options.summaries and report_models.active(
                self.connection)
        return self._summaries

    def _wide(self) -> bool:
        since, until = self.options.since, self.options.until
        if since is None and until is None:
            return True
        if self.first is None or self.last is None or self.last <= self.first:
            return False
        low = max(self.first, since) if since is not None else self.first
        high = min(self.last, until) if until is not None else self.last
        return (high - low) > self.WIDE_SHARE * (self.last - self.first)

    def scanned(self, column: ColumnElement[Any], *,
                everywhere: bool = False) -> ColumnElement[Any]:
        """``column`` as a condition should name it: out of an index's reach when the range
        is wide and the database is SQLite (or any, ``everywhere``)."""
        if self.wide and (everywhere or self.dialect == "sqlite"):
            return column + 0
        return column

    def calls(self, *, agent: bool = False, queue: bool = False, campaign: bool = False,
              ordered: bool = False) -> list[ColumnElement[bool]]:
        """The conditions on call records: the tenant's closed records started in the
        options' time range, and of its agent, queue or campaign where the report takes
        those. ``ordered``: the query reads the records in start order, off the index."""
        c = CALLS.c
        options = self.options
        scan = self.scanned if not ordered else (lambda column: column)
        start = scan(c.start)
        where: list[ColumnElement[bool]] = [scan(c.tenant_id) == self.tenant,
                                            c.state == "closed"]
        if options.since is not None:
            where.append(start >= options.since)
        if options.until is not None:
            where.append(start < options.until)
        if agent and options.agent is not None:
            where.append(c.agent == options.agent)
        if queue and options.queue is not None:
            where.append(c.queue == options.queue)
        if campaign and options.campaign is not None:
            where.append(c.campaign == options.campaign)
        return where

    def _span(self) -> tuple[float, float]:
        low = self.first if self.first is not None else 0.0
        high = self.last if self.last is not None else low
        if self.options.since is not None:
            low = max(low, self.options.since)
        if self.options.until is not None:
            high = min(high, self.options.until)
        return low, max(low, high)

    def buckets(self) -> Buckets:
        """Local hours and days of the options' time zone over the calls in range."""
        low, high = self._span()
        return Buckets(self.options, has_floor(self.connection), low, high)


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where ``condition`` holds, else 0: what ``sum`` counts."""
    return case((condition, 1), else_=0)


def floor_div(value: ColumnElement[Any], size: int, native: bool) -> ColumnElement[int]:
    """``floor(value / size)`` as an integer: with the database's ``floor`` where it has one
    (``native``), else from SQLite's CAST, which rounds toward zero."""
    quotient = value / float(size)
    if native:
        return cast(func.floor(quotient), BigInteger)
    whole = cast(quotient, Integer)
    return whole - case((whole > quotient, 1), else_=0)


#: Whether each SQLite engine has ``floor``: only builds with its math functions do.
_FLOOR: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def has_floor(connection: Connection) -> bool:
    """Whether the database has a ``floor`` function (PostgreSQL always does)."""
    if connection.dialect.name != "sqlite":
        return True
    engine = connection.engine
    found = _FLOOR.get(engine)
    if found is None:
        try:
            connection.exec_driver_sql("SELECT floor(1.5)").scalar()
        except SQLAlchemyError:
            found = False
        else:
            found = True
        _FLOOR[engine] = found
    return found


class Buckets:
    """Local hours or days of the options' time zone, from ``low`` to ``high``."""

    def __init__(self, options: ReportOptions, native_floor: bool, low: float,
                 high: float) -> None:
        self.zone = options.zone
        self.native_floor = native_floor
        # The zone's changes over the calls there are, not over the whole range asked for
        # (which may span centuries).
        self.offsets = offsets(self.zone, low, high)

    def offset(self, start: ColumnElement[float]) -> ColumnElement[int]:
        """The UTC offset in force at ``start``, as SQL."""
        if len(self.offsets) == 1:
            return cast(self.offsets[0][1], Integer)
        whens = [(start < changed, offset) for (_, offset), (changed, _) in
                 pairwise(self.offsets)]
        return case(*whens, else_=self.offsets[-1][1])

    def day(self, start: ColumnElement[float]) -> ColumnElement[int]:
        """The local day number (days since 1970-01-01) of ``start``."""
        return floor_div(start + self.offset(start), DAY, self.native_floor)

    def hour(self, start: ColumnElement[float]) -> ColumnElement[int]:
        """The UTC instant the local hour of ``start`` begins at (whole seconds): one
        number per local hour, the two hours of an autumn night named alike told apart."""
        offset = self.offset(start)
        return floor_div(start + offset, HOUR, self.native_floor) * HOUR - offset


def millis(value: Any) -> int:
    """A sum of seconds from the database as whole milliseconds (0 for none)."""
    return round(float(value) * 1000) if value is not None else 0


def seconds(value: Any) -> float:
    """A sum of seconds from the database, to the millisecond (0 for none)."""
    return millis(value) / 1000


def average(total: Any, count: Any) -> float | None:
    """``total / count`` to the millisecond (half a millisecond up), or None when there is
    nothing to average. ``total`` is taken to the millisecond first, and divided exactly."""
    if not count:
        return None
    whole = int(count)
    quotient, rest = divmod(millis(total), whole)
    return (quotient + (2 * rest >= whole)) / 1000


def seconds_and_average(total: Any, count: Any) -> tuple[float, float | None]:
    """`seconds` of ``total`` and its `average` over ``count``, in one go (for long
    reports)."""
    ms = 0 if total is None else round(total * 1000) if isinstance(total, float) else round(
        float(total) * 1000)
    if not count:
        return ms / 1000, None
    quotient, rest = divmod(ms, count)
    return ms / 1000, (quotient + (2 * rest >= count)) / 1000


def percent(part: Any, whole: Any) -> float | None:
    """``part`` as a percentage of ``whole``, to two places (None when ``whole`` is 0):
    counts, or sums of seconds (floats, taken to the millisecond first)."""
    if isinstance(part, float) or isinstance(whole, float):
        part, whole = millis(part), millis(whole)
    return round(100.0 * float(part or 0) / float(whole), 2) if whole else None


def as_ints(row: Sequence[Any]) -> list[int]:
    """Counts from the database (PostgreSQL sums are decimals) as ints."""
    return [int(value or 0) for value in row]
