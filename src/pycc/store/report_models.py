"""Summary tables of the operator reports, kept equal to the call records and agent events by
the database itself.

A report over a million call records cannot scan them in under a second or two; call-center
software keeps summary tables instead (VICIdial's per-interval stats), and so does pycc. Each
table holds, for one report family, the sums of the *closed* call records (an open record is
a call still up, which no report counts) grouped by only what that report groups by, within
UTC *slots*: 15 minutes for the reports by local hour and day (every real time zone's offset
is a whole number of quarter hours, so a local hour or day is a union of slots), an hour for
the agents' hourly workload (most zones: a quarter-hour table serves the others), a day for
the reports of a plain time range; the customers' table has one row per number over all time.
Measures are counts and sums (and the customers' first and last call), so slots add up; a
report reads the slots inside its range and the raw rows of the partial slots at its edges
(`pycc.aaa.reports.rollups`).

`report_agent_times` holds what the agents report needs of the agent events: for every event,
what it adds to the time sums of `pycc.aaa.reports.intervals` (+at where an interval of a state
or status ends, -at where one begins), per agent, UTC day and kind of time, relative to the
day's start (so the sums keep their milliseconds): ``seconds`` the sum, ``net`` the count of
ends less begins (what a range's reference time is multiplied by), ``starts`` the intervals
begun. A state interval ends at the event that leaves the state; a status period (set by a
change of status, or by a new not-ready reason) ends at the agent's next status-setting event,
so inserting an event between two others moves the end of the period before it: the triggers
look up the neighbours (an index seek each) and move it.

Maintenance: database triggers, in the same transaction as the write that changes the rows,
whatever writes them (the CDR writer's upserts, recovery, tests, imports): an insert adds the
row's share, a delete takes it off, an update does both, so a record rewritten (open, answered,
closed, replayed after a restart) is counted exactly once. The customers' first and last call
cannot be taken off a minimum: when the call that was one of them goes (a delete, a start
rewritten; never a replay, which keeps its start), the number's row is marked ``stale``
instead of searching the records for the next one (which a purge of old records would do for
every record), and the customers report reads the records until `rebuild` refreshes the
summaries.

The triggers are *activated* (`activate`) the first time a report reads the tables, or by
`rebuild`: created, and the tables filled from the records in the same transaction. A database
that never ran a report has none, which leaves its tables as free to change as before (SQLite
refuses to drop a column a trigger names). The trigger names carry `VERSION`: a pycc whose
summaries differ replaces older triggers and rebuilds the tables. `rebuild` recomputes a
tenant's tables (or all) from the rows, for an operator's check or after a bulk load that
bypassed SQL triggers (none does: COPY and executemany fire them too).

The call and event tables are declared to depend on these tables, so that an ordered
``DELETE`` of every table (children first) empties the records, whose triggers empty the
summaries, before the summaries themselves.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import BigInteger, Table, text
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from pycc.store.models import AgentEvent, CallRecord

__all__ = [
    "AGENT_GRAIN",
    "CALL_ROLLUPS",
    "DAY",
    "HOUR",
    "QUARTER",
    "SUMMARY_TABLES",
    "VERSION",
    "AgentHour",
    "AgentQuarter",
    "AgentTime",
    "BillingSlot",
    "CallRollup",
    "CallSlot",
    "Customer",
    "Measure",
    "QueueDay",
    "WrapupDay",
    "activate",
    "active",
    "rebuild",
    "slot_of",
    "supported",
]

log = logging.getLogger("pycc.store.reports")

#: Slot lengths in seconds.
QUARTER: Final = 900
HOUR: Final = 3600
DAY: Final = 86400
#: The slot of `AgentTime`.
AGENT_GRAIN: Final = DAY
#: Version of the triggers' arithmetic: a new one rebuilds the tables on activation.
VERSION: Final = 1
_PREFIX: Final = "report_rollups_"
#: The agent states and statuses the agent reports count (`pycc.ccs.agent`).
_STATES: Final = ("on_call", "wrap_up")
_OFFLINE: Final = "offline"
_NOT_READY: Final = "not_ready"


def slot_of(at: float, grain: int) -> int:
    """The slot of ``grain`` seconds that holds epoch ``at``: exactly ``floor(at / grain)``
    (a float division alone may round up across the boundary)."""
    k = math.floor(at / grain)
    if k * grain > at:
        k -= 1
    elif (k + 1) * grain <= at:
        k += 1
    return int(k)


# -- the tables ------------------------------------------------------------------------------

#: SQLite keeps each summary in the order of its key (no rowid): a report reads its slots as
#: one run of pages.
_CLUSTERED: Final = {"sqlite_with_rowid": False}



class CallSlot(SQLModel, table=True):
    """Closed calls per quarter hour and direction: the hourly and daily summaries."""

    __tablename__ = "report_call_slots"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    direction: str = Field(primary_key=True)
    calls: int = 0
    answered: int = 0
    abandoned: int = 0
    talk: float = 0.0


class BillingSlot(SQLModel, table=True):
    """Closed calls out per quarter hour and trunk (``trunk`` "" and ``untrunked`` 1 for a
    call on no trunk, kept apart from a trunk named "")."""

    __tablename__ = "report_billing_slots"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    trunk: str = Field(primary_key=True)
    untrunked: int = Field(primary_key=True)
    calls: int = 0
    answered: int = 0
    billed: float = 0.0
    cost: int = Field(default=0, sa_type=BigInteger)
    unrated: int = 0


class WrapupDay(SQLModel, table=True):
    """Closed calls per UTC day, disposition and hang-up cause."""

    __tablename__ = "report_wrapup_days"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    disposition: str = Field(primary_key=True)
    hangup_cause: str = Field(primary_key=True)
    calls: int = 0
    duration: float = 0.0


class QueueDay(SQLModel, table=True):
    """Closed queue calls per UTC day and queue; the answered ones whose wait is known also
    by their wait rounded up to whole seconds (``timed`` 1, ``wait``), which tells how many
    were answered within any whole-second target."""

    __tablename__ = "report_queue_days"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    queue: str = Field(primary_key=True)
    timed: int = Field(primary_key=True)
    wait: int = Field(primary_key=True, sa_type=BigInteger)
    offered: int = 0
    answered: int = 0
    waited: float = 0.0
    abandon_waited: float = 0.0


class Customer(SQLModel, table=True):
    """Closed calls with the outside per customer number, over all time."""

    __tablename__ = "report_customers"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    customer: str = Field(primary_key=True)
    calls: int = 0
    inbound: int = 0
    outbound: int = 0
    answered: int = 0
    talk: float = 0.0
    first_call: float = 0.0
    last_call: float = 0.0
    #: 1 once the first or last call was taken off: they may be wrong until a rebuild.
    stale: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class AgentHour(SQLModel, table=True):
    """Calls an agent answered per UTC hour (closed records)."""

    __tablename__ = "report_agent_hours"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    agent: str = Field(primary_key=True)
    calls: int = 0
    talk: float = 0.0
    hold: float = 0.0


class AgentQuarter(SQLModel, table=True):
    """`AgentHour` per quarter hour, for the zones whose offset is not whole hours."""

    __tablename__ = "report_agent_quarters"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    agent: str = Field(primary_key=True)
    calls: int = 0
    talk: float = 0.0
    hold: float = 0.0


class AgentTime(SQLModel, table=True):
    """The agent events' shares of the time sums, per agent, UTC day and kind: ``kind``
    "state" (``name`` on_call or wrap_up) or "status" (``name`` the status, ``reason`` the
    not-ready reason, else ""). See the module's docstring."""

    __tablename__ = "report_agent_times"
    __table_args__ = _CLUSTERED

    tenant_id: int = Field(primary_key=True)
    agent: str = Field(primary_key=True)
    slot: int = Field(primary_key=True, sa_type=BigInteger)
    kind: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    reason: str = Field(primary_key=True)
    seconds: float = 0.0
    net: int = 0
    starts: int = 0


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


_CALLS: Final = _table(CallRecord)
_EVENTS: Final = _table(AgentEvent)


# -- SQL of one row --------------------------------------------------------------------------


class _Row:
    """SQL naming the columns of one call record or event (``NEW``, ``OLD`` or a table
    alias), in one dialect."""

    def __init__(self, alias: str, dialect: str) -> None:
        self.alias = alias
        self.dialect = dialect

    def __call__(self, column: str) -> str:
        return f"{self.alias}.{column}"

    @staticmethod
    def flag(condition: str) -> str:
        return f"(CASE WHEN {condition} THEN 1 ELSE 0 END)"

    def slot(self, column: str, grain: int) -> str:
        """The slot of the column's time, exactly (see `slot_of`)."""
        value = self(column)
        if self.dialect == "postgresql":
            k = f"CAST(floor({value} / {grain}.0) AS BIGINT)"
        else:
            # CAST rounds toward zero; the corrections make it the floor, exactly.
            k = f"CAST({value} / {grain}.0 AS INTEGER)"
        return (f"({k} - {self.flag(f'{k} * {grain} > {value}')}"
                f" + {self.flag(f'({k} + 1) * {grain} <= {value}')})")

    def ceil(self, column: str) -> str:
        value = self(column)
        if self.dialect == "postgresql":
            return f"CAST(ceil({value}) AS BIGINT)"
        whole = f"CAST({value} AS INTEGER)"
        return f"({whole} + {self.flag(f'{whole} < {value}')})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.dialect == "postgresql" else f"min({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.dialect == "postgresql" else f"max({a}, {b})"


#: SQL over one row.
Expression = Callable[[_Row], str]


@dataclass(frozen=True, slots=True)
class Measure:
    """A column of a summary: what one record adds to it, and how records combine ("sum",
    "min", "max")."""

    column: str
    value: Expression
    combine: str = "sum"


@dataclass(frozen=True, slots=True)
class CallRollup:
    """A summary of the closed call records meeting ``where``: grouped by tenant and ``keys``
    (the first named "slot" where the table has slots of ``grain`` seconds), with
    ``measures`` (the first counts the records)."""

    model: type[SQLModel]
    grain: int | None
    keys: tuple[tuple[str, Expression], ...]
    measures: tuple[Measure, ...]
    where: Expression

    @property
    def name(self) -> str:
        return str(self.model.__tablename__)

    @property
    def count(self) -> str:
        return self.measures[0].column

    def columns(self) -> list[str]:
        return ["tenant_id", *(name for name, _ in self.keys),
                *(measure.column for measure in self.measures)]

    def key_columns(self) -> list[str]:
        return ["tenant_id", *(name for name, _ in self.keys)]


def _one(_r: _Row) -> str:
    return "1"


def _zero(r: _Row, column: str) -> str:
    return f"COALESCE({r(column)}, 0)"


def _answered_in_queue(r: _Row) -> str:
    return f"{r('agent_answer')} IS NOT NULL"


def _timed(r: _Row) -> str:
    return f"{r('agent_answer')} IS NOT NULL AND {r('queue_wait')} IS NOT NULL"


def _customer(r: _Row) -> str:
    return f"(CASE WHEN {r('direction')} = 'outbound' THEN {r('callee')} ELSE {r('caller')} END)"


def _agent_rollup(model: type[SQLModel], grain: int) -> CallRollup:
    return CallRollup(
        model, grain,
        keys=(("slot", lambda r: r.slot("start", grain)), ("agent", lambda r: r("agent"))),
        measures=(Measure("calls", _one), Measure("talk", lambda r: _zero(r, "talk_seconds")),
                  Measure("hold", lambda r: _zero(r, "hold_seconds"))),
        where=lambda r: f"{r('agent')} IS NOT NULL AND {r('agent_answer')} IS NOT NULL")


#: Every summary of the call records (the measures as `pycc.aaa.reports` counts them).
CALL_ROLLUPS: Final = (
    CallRollup(
        CallSlot, QUARTER,
        keys=(("slot", lambda r: r.slot("start", QUARTER)),
              ("direction", lambda r: r("direction"))),
        measures=(Measure("calls", _one),
                  Measure("answered", lambda r: r.flag(f"{r('disposition')} = 'answered'")),
                  Measure("abandoned", lambda r: r.flag(
                      f"{r('queue')} IS NOT NULL AND {r('agent_answer')} IS NULL")),
                  Measure("talk", lambda r: _zero(r, "talk_seconds"))),
        where=lambda r: "1 = 1"),
    CallRollup(
        BillingSlot, QUARTER,
        keys=(("slot", lambda r: r.slot("start", QUARTER)),
              ("trunk", lambda r: f"COALESCE({r('trunk')}, '')"),
              ("untrunked", lambda r: r.flag(f"{r('trunk')} IS NULL"))),
        measures=(Measure("calls", _one),
                  Measure("answered", lambda r: r.flag(f"{r('answer')} IS NOT NULL")),
                  Measure("billed", lambda r: _zero(r, "duration")),
                  Measure("cost", lambda r: _zero(r, "cost")),
                  Measure("unrated", lambda r: r.flag(f"{r('cost')} IS NULL"))),
        where=lambda r: f"{r('direction')} = 'outbound'"),
    CallRollup(
        WrapupDay, DAY,
        keys=(("slot", lambda r: r.slot("start", DAY)),
              ("disposition", lambda r: r("disposition")),
              ("hangup_cause", lambda r: r("hangup_cause"))),
        measures=(Measure("calls", _one), Measure("duration", lambda r: _zero(r, "duration"))),
        where=lambda r: "1 = 1"),
    CallRollup(
        QueueDay, DAY,
        keys=(("slot", lambda r: r.slot("start", DAY)),
              ("queue", lambda r: r("queue")),
              ("timed", lambda r: r.flag(_timed(r))),
              ("wait", lambda r: f"(CASE WHEN {_timed(r)} THEN {r.ceil('queue_wait')} "
                                 f"ELSE 0 END)")),
        measures=(Measure("offered", _one),
                  Measure("answered", lambda r: r.flag(_answered_in_queue(r))),
                  Measure("waited", lambda r: f"(CASE WHEN {_answered_in_queue(r)} THEN "
                                              f"{_zero(r, 'queue_wait')} ELSE 0 END)"),
                  Measure("abandon_waited", lambda r: f"(CASE WHEN {_answered_in_queue(r)} "
                                                      f"THEN 0 ELSE {_zero(r, 'queue_wait')} "
                                                      f"END)")),
        where=lambda r: f"{r('queue')} IS NOT NULL"),
    CallRollup(
        Customer, None,
        keys=(("customer", _customer),),
        measures=(Measure("calls", _one),
                  Measure("inbound", lambda r: r.flag(f"{r('direction')} = 'inbound'")),
                  Measure("outbound", lambda r: r.flag(f"{r('direction')} = 'outbound'")),
                  Measure("answered", lambda r: r.flag(f"{r('disposition')} = 'answered'")),
                  Measure("talk", lambda r: _zero(r, "talk_seconds")),
                  Measure("first_call", lambda r: r("start"), "min"),
                  Measure("last_call", lambda r: r("start"), "max")),
        where=lambda r: f"{r('direction')} <> 'internal'"),
    _agent_rollup(AgentHour, HOUR),
    _agent_rollup(AgentQuarter, QUARTER),
)

#: The call record columns the summaries read: an update of none of them changes nothing.
_CALL_COLUMNS: Final = ("tenant_id", "state", "start", "direction", "caller", "callee",
                        "disposition", "hangup_cause", "answer", "duration", "trunk", "cost",
                        "queue", "queue_wait", "agent", "agent_answer", "talk_seconds",
                        "hold_seconds")
_EVENT_COLUMNS: Final = ("tenant_id", "agent", "at", "from_status", "from_state", "to_status",
                         "to_state", "reason")
#: Every summary table.
SUMMARY_TABLES: Final[tuple[type[SQLModel], ...]] = (
    *(rollup.model for rollup in CALL_ROLLUPS), AgentTime)

for _rollup in CALL_ROLLUPS:
    _CALLS.add_is_dependent_on(_table(_rollup.model))
_EVENTS.add_is_dependent_on(_table(AgentTime))


# -- what one call record changes ------------------------------------------------------------


def _closed(r: _Row, rollup: CallRollup) -> str:
    return f"{r('state')} = 'closed' AND {rollup.where(r)}"


def _call_upsert(rollup: CallRollup, r: _Row, sign: int) -> str:
    """Add (``sign`` 1) or take off (-1) record ``r``'s share."""
    values = [r("tenant_id"), *(key(r) for _, key in rollup.keys)]
    updates = []
    for measure in rollup.measures:
        value = measure.value(r)
        current = f"{rollup.name}.{measure.column}"
        if measure.combine == "sum":
            values.append(value if sign > 0 else f"-({value})")
            updates.append(f"{measure.column} = {current} + excluded.{measure.column}")
        else:
            values.append(value)
            if sign > 0:
                pick = r.least if measure.combine == "min" else r.greatest
                updates.append(f"{measure.column} = "
                               f"{pick(current, f'excluded.{measure.column}')}")
    return (f"INSERT INTO {rollup.name} ({', '.join(rollup.columns())}) "
            f"SELECT {', '.join(values)} WHERE {_closed(r, rollup)} "
            f"ON CONFLICT ({', '.join(rollup.key_columns())}) DO UPDATE SET "
            f"{', '.join(updates)}")


def _same_key(rollup: CallRollup, r: _Row) -> str:
    """The condition on a summary's rows: the group of record ``r``."""
    return " AND ".join([f"tenant_id = {r('tenant_id')}",
                         *(f"{name} = {key(r)}" for name, key in rollup.keys)])


def _call_removal(rollup: CallRollup, old: _Row, new: _Row | None) -> list[str]:
    """Take record ``old`` off, drop the group it leaves empty, and mark the group stale if
    the record was its first or last call (unless ``new``, the same record rewritten, keeps
    them)."""
    statements = [
        _call_upsert(rollup, old, -1),
        f"DELETE FROM {rollup.name} WHERE {_same_key(rollup, old)} AND {rollup.count} = 0 "
        f"AND {_closed(old, rollup)}",
    ]
    extremes = [measure for measure in rollup.measures if measure.combine != "sum"]
    if extremes:
        touched = " OR ".join(f"{m.column} = {m.value(old)}" for m in extremes)
        condition = f"{_same_key(rollup, old)} AND ({touched}) AND {_closed(old, rollup)}"
        if new is not None:
            kept = " AND ".join([
                _closed(new, rollup),
                *(f"{key(new)} = {key(old)}" for _, key in rollup.keys),
                *(f"{m.value(new)} = {m.value(old)}" for m in extremes)])
            condition += f" AND NOT ({kept})"
        statements.append(f"UPDATE {rollup.name} SET stale = 1 WHERE {condition}")
    return statements


#: The statements of one trigger, in blocks: the row (OLD or NEW) a block takes off or adds.
Blocks = list[tuple[str, list[str]]]


def _call_statements(dialect: str, operation: str) -> Blocks:
    new, old = _Row("NEW", dialect), _Row("OLD", dialect)
    blocks: Blocks = []
    if operation in ("DELETE", "UPDATE"):
        blocks.append(("OLD", [statement for rollup in CALL_ROLLUPS for statement in
                               _call_removal(rollup, old,
                                             new if operation == "UPDATE" else None)]))
    if operation in ("INSERT", "UPDATE"):
        blocks.append(("NEW", [_call_upsert(rollup, new, 1) for rollup in CALL_ROLLUPS]))
    return blocks


# -- what one agent event changes ------------------------------------------------------------


def _sets_status(x: str) -> str:
    """Whether event ``x`` set its agent's status (`pycc.aaa.reports.intervals`)."""
    return f"({x}.from_status <> {x}.to_status OR {x}.from_state = {x}.to_state)"


def _reason(x: str) -> str:
    return f"(CASE WHEN {x}.to_status = '{_NOT_READY}' THEN {x}.reason ELSE '' END)"


def _neighbour(e: str, later: bool) -> str:
    """The id of the status-setting event before (or after) event ``e`` of its agent, in
    (at, id) order, ``e`` itself left out (an update's row is there already)."""
    if later:
        order, beyond = "q.at, q.id", f"q.at >= {e}.at AND (q.at > {e}.at OR q.id > {e}.id)"
    else:
        order, beyond = ("q.at DESC, q.id DESC",
                         f"q.at <= {e}.at AND (q.at < {e}.at OR q.id < {e}.id)")
    return (f"(SELECT q.id FROM agent_events q WHERE q.tenant_id = {e}.tenant_id AND "
            f"q.agent = {e}.agent AND {beyond} AND q.id <> {e}.id AND {_sets_status('q')} "
            f"ORDER BY {order} LIMIT 1)")


def _time_upsert(dialect: str, e: str, alias: str, kind: str, name: str, reason: str,
                 sign: int, starts: int, source: str, where: Sequence[str]) -> str:
    """Add ``sign`` * (``alias.at`` - its day's start) to the ``kind``/``name``/``reason``
    sums of event ``e``'s agent (and ``starts`` intervals begun), for each row of ``source``
    (a FROM clause, or none) meeting ``where``."""
    slot = _Row(alias, dialect).slot("at", AGENT_GRAIN)
    relative = f"({alias}.at - {slot} * {AGENT_GRAIN})"
    table = AgentTime.__tablename__
    return (f"INSERT INTO {table} (tenant_id, agent, slot, kind, name, reason, seconds, net, "
            f"starts) SELECT {e}.tenant_id, {e}.agent, {slot}, '{kind}', {name}, {reason}, "
            f"{'' if sign > 0 else '-'}{relative}, {sign}, {starts}{source} "
            f"WHERE {' AND '.join(where)} "
            f"ON CONFLICT (tenant_id, agent, slot, kind, name, reason) DO UPDATE SET "
            f"seconds = {table}.seconds + excluded.seconds, net = {table}.net + excluded.net, "
            f"starts = {table}.starts + excluded.starts")


def _event_statements(dialect: str, e: str, sign: int) -> list[str]:
    """Add (``sign`` 1) or take off (-1) event ``e``'s shares: the state it leaves and
    enters, the status period it begins, the one before it that it ends, and the move of
    the next status-setting event's end from that period to its own."""
    states = ", ".join(f"'{state}'" for state in _STATES)
    changes = f"{e}.from_state <> {e}.to_state"
    sets = _sets_status(e)
    before = f"p.id = {_neighbour(e, False)}"
    after = f"x.id = {_neighbour(e, True)}"
    counted = f"{e}.to_status <> '{_OFFLINE}'"
    before_counted = f"p.to_status <> '{_OFFLINE}'"

    def share(alias: str, kind: str, name: str, reason: str, direction: int, starts: int,
              source: str, *where: str) -> str:
        return _time_upsert(dialect, e, alias, kind, name, reason, direction * sign,
                            starts * sign, source, where)

    return [
        # The state it leaves ends there, the one it enters begins.
        share(e, "state", f"{e}.from_state", "''", 1, 0, "", changes,
              f"{e}.from_state IN ({states})"),
        share(e, "state", f"{e}.to_state", "''", -1, 1, "", changes,
              f"{e}.to_state IN ({states})"),
        # The status period it sets begins there, and ends the one set before it.
        share(e, "status", f"{e}.to_status", _reason(e), -1, 1, "", sets, counted),
        share(e, "status", "p.to_status", _reason("p"), 1, 0, " FROM agent_events p", sets,
              before, before_counted),
        # The next status-setting event now ends this period, not the one before.
        share("x", "status", "p.to_status", _reason("p"), -1, 0,
              " FROM agent_events p, agent_events x", sets, before, after, before_counted),
        share("x", "status", f"{e}.to_status", _reason(e), 1, 0, " FROM agent_events x", sets,
              after, counted),
    ]


def _event_operation(dialect: str, operation: str) -> Blocks:
    blocks: Blocks = []
    if operation in ("DELETE", "UPDATE"):
        blocks.append(("OLD", _event_statements(dialect, "OLD", -1)))
    if operation in ("INSERT", "UPDATE"):
        blocks.append(("NEW", _event_statements(dialect, "NEW", 1)))
    return blocks


# -- the triggers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """A table whose rows the summaries follow."""

    table: str
    short: str
    columns: Sequence[str]
    statements: Callable[[str, str], Blocks]
    #: The condition on OLD / NEW under which a row counts (None: always).
    counted: Callable[[str], str] | None
    #: When PostgreSQL runs the trigger. AFTER row triggers run once the whole statement is
    #: done, each seeing every row it changed: right for rows counted on their own, but an
    #: event's neighbours must be the ones before it in the statement, as SQLite's triggers
    #: (and PostgreSQL's BEFORE ones) see them. A call record's must be AFTER: an upsert
    #: fires BEFORE INSERT for a row that then updates.
    timing: str


_SOURCES: Final = (
    _Source("call_records", "calls", _CALL_COLUMNS, _call_statements,
            lambda row: f"{row}.state = 'closed'", "AFTER"),
    _Source("agent_events", "events", _EVENT_COLUMNS, _event_operation, None, "BEFORE"),
)
_OPERATIONS: Final = ("INSERT", "DELETE", "UPDATE")


def _trigger_name(source: _Source, operation: str) -> str:
    return f"{_PREFIX}v{VERSION}_{source.short}_{operation.lower()}"


def _function_name(source: _Source) -> str:
    return f"{_PREFIX}v{VERSION}_{source.short}"


def _matters(source: _Source, operation: str, dialect: str) -> str:
    """The condition under which a row's change can change the summaries ("" for always):
    it counts (before or after), and an update changed a column they read (a replayed
    record, a heartbeat moving an open record's end, a recording named, do not)."""
    rows = {"INSERT": ("NEW",), "DELETE": ("OLD",), "UPDATE": ("OLD", "NEW")}[operation]
    conditions = []
    if source.counted is not None:
        conditions.append(" OR ".join(source.counted(row) for row in rows))
    if operation == "UPDATE":
        if dialect == "postgresql":
            conditions.append(f"({', '.join(f'OLD.{c}' for c in source.columns)}) IS DISTINCT "
                              f"FROM ({', '.join(f'NEW.{c}' for c in source.columns)})")
        else:
            conditions.append(" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in source.columns))
    return " AND ".join(f"({condition})" for condition in conditions)


def _trigger_ddl(dialect: str) -> list[str]:
    """The statements that create every trigger (and PostgreSQL's functions).

    PostgreSQL's triggers name no column (no WHEN, no UPDATE OF): it would refuse to drop a
    column a trigger names, which the body of a function does not hold back."""
    ddl: list[str] = []
    for source in _SOURCES:
        if dialect == "postgresql":
            branches: list[str] = []
            for operation in _OPERATIONS:
                body = ""
                for row, statements in source.statements(dialect, operation):
                    # Only the rows that count run their statements (each would find
                    # nothing to do otherwise, at the cost of running).
                    counted = source.counted(row) if source.counted else "TRUE"
                    body += (f"      IF {counted} THEN\n"
                             + "".join(f"        {statement};\n" for statement in statements)
                             + "      END IF;\n")
                matters = _matters(source, operation, dialect) or "TRUE"
                branches.append(f"  {'IF' if not branches else 'ELSIF'} TG_OP = '{operation}' "
                                f"THEN\n    IF {matters} THEN\n{body}    END IF;\n")
            # A BEFORE trigger returns the row to write (OLD: go on deleting it).
            done = ("  RETURN NULL;\n" if source.timing == "AFTER" else
                    "  IF TG_OP = 'DELETE' THEN\n    RETURN OLD;\n  END IF;\n  RETURN NEW;\n")
            ddl.append(f"CREATE OR REPLACE FUNCTION {_function_name(source)}() RETURNS trigger "
                       f"LANGUAGE plpgsql AS $body$\nBEGIN\n{''.join(branches)}  END IF;\n"
                       f"{done}END\n$body$")
        for operation in _OPERATIONS:
            if dialect == "postgresql":
                ddl.append(f"CREATE TRIGGER {_trigger_name(source, operation)} {source.timing} "
                           f"{operation} ON {source.table} FOR EACH ROW "
                           f"EXECUTE FUNCTION {_function_name(source)}()")
                continue
            event = operation
            if operation == "UPDATE":
                event = f"UPDATE OF {', '.join(source.columns)}"
            when = _matters(source, operation, dialect)
            body = "".join(f"  {statement};\n" for _, statements in
                           source.statements(dialect, operation) for statement in statements)
            ddl.append(f"CREATE TRIGGER {_trigger_name(source, operation)} AFTER {event} "
                       f"ON {source.table} FOR EACH ROW{f' WHEN {when}' if when else ''}"
                       f"\nBEGIN\n{body}END")
    return ddl


def _expected() -> set[str]:
    return {_trigger_name(source, operation) for source in _SOURCES
            for operation in _OPERATIONS}


def _present(connection: Connection) -> set[str]:
    pattern = {"pattern": f"{_PREFIX}%"}
    if connection.dialect.name == "postgresql":
        query = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND "
                 "tgname LIKE :pattern")
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE :pattern"
    return {str(name) for name in connection.execute(text(query), pattern).scalars()}


def supported(connection: Connection) -> bool:
    """Whether the database can keep the summaries (SQLite or PostgreSQL)."""
    return connection.dialect.name in ("sqlite", "postgresql")


def active(connection: Connection) -> bool:
    """Whether this database keeps the summaries (this version's triggers are there)."""
    return supported(connection) and _expected() <= _present(connection)


#: A PostgreSQL advisory lock key: nodes activating at once take turns.
_LOCK: Final = 0x7079_6363_7270_7431


def activate(connection: Connection) -> bool:
    """Create the triggers (replacing another version's) and fill the tables from the rows,
    in ``connection``'s write transaction; False when they were there already."""
    if not supported(connection):
        raise ValueError(f"summary tables need SQLite or PostgreSQL, not "
                         f"{connection.dialect.name}")
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    present = _present(connection)
    if _expected() <= present:
        return False
    log.info("creating the report summary triggers (version %d) and filling the summaries",
             VERSION)
    tables = {f"{source.short}": source.table for source in _SOURCES}
    for name in sorted(present):
        if dialect == "postgresql":
            table = next(table for short, table in tables.items() if f"_{short}_" in name)
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    if dialect == "postgresql":
        functions = connection.execute(text(
            "SELECT proname FROM pg_proc WHERE proname LIKE :pattern"),
            {"pattern": f"{_PREFIX}%"}).scalars().all()
        for function in functions:
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}()")
    for statement in _trigger_ddl(dialect):
        connection.exec_driver_sql(statement)
    rebuild(connection)
    return True


# -- rebuilding from the rows ----------------------------------------------------------------


def _rebuild_calls(connection: Connection, rollup: CallRollup, tenant: int | None) -> None:
    r = _Row("r", connection.dialect.name)
    values = [r("tenant_id"), *(key(r) for _, key in rollup.keys),
              *(f"{measure.combine}({measure.value(r)})" for measure in rollup.measures)]
    groups = ", ".join(str(n + 1) for n in range(1 + len(rollup.keys)))
    only = "" if tenant is None else " AND r.tenant_id = :tenant"
    connection.execute(text(
        f"INSERT INTO {rollup.name} ({', '.join(rollup.columns())}) "
        f"SELECT {', '.join(values)} FROM call_records r WHERE {_closed(r, rollup)}{only} "
        f"GROUP BY {groups}"), {} if tenant is None else {"tenant": tenant})


def _rebuild_times(connection: Connection, tenant: int | None) -> None:
    dialect = connection.dialect.name
    only = "" if tenant is None else " AND e.tenant_id = :tenant"
    states = ", ".join(f"'{state}'" for state in _STATES)
    c = _Row("c", dialect)
    slot = c.slot("at", AGENT_GRAIN)
    # Each event's shares, as in the triggers; a status period's end from the status-setting
    # event before, paired by a window function over just those events.
    statement = f"""
        WITH periods AS (
            SELECT e.tenant_id, e.agent, e.at, e.to_status, {_reason('e')} AS why,
                   LAG(e.to_status) OVER w AS before_status, LAG({_reason('e')}) OVER w
                   AS before_why
            FROM agent_events e WHERE {_sets_status('e')}{only}
            WINDOW w AS (PARTITION BY e.tenant_id, e.agent ORDER BY e.at, e.id)),
        shares AS (
            SELECT e.tenant_id, e.agent, e.at, 'state' AS kind, e.from_state AS name,
                   '' AS reason, 1 AS sign, 0 AS starts
            FROM agent_events e WHERE e.from_state <> e.to_state
                AND e.from_state IN ({states}){only}
            UNION ALL
            SELECT e.tenant_id, e.agent, e.at, 'state', e.to_state, '', -1, 1
            FROM agent_events e WHERE e.from_state <> e.to_state
                AND e.to_state IN ({states}){only}
            UNION ALL
            SELECT tenant_id, agent, at, 'status', to_status, why, -1, 1
            FROM periods WHERE to_status <> '{_OFFLINE}'
            UNION ALL
            SELECT tenant_id, agent, at, 'status', before_status, before_why, 1, 0
            FROM periods WHERE before_status IS NOT NULL
                AND before_status <> '{_OFFLINE}'),
        slotted AS (
            SELECT c.tenant_id, c.agent, {slot} AS slot, c.kind, c.name, c.reason, c.sign,
                   c.starts, c.at FROM shares c)
        INSERT INTO {AgentTime.__tablename__} (tenant_id, agent, slot, kind, name, reason,
                                               seconds, net, starts)
        SELECT tenant_id, agent, slot, kind, name, reason,
               SUM(sign * (at - slot * {AGENT_GRAIN})), SUM(sign), SUM(starts)
        FROM slotted GROUP BY tenant_id, agent, slot, kind, name, reason"""
    connection.execute(text(statement), {} if tenant is None else {"tenant": tenant})


def rebuild(connection: Connection, tenant: int | None = None) -> None:
    """Recompute the summaries of tenant ``tenant`` (by id; None: every tenant) from the
    call records and agent events, in ``connection``'s transaction."""
    where = "" if tenant is None else " WHERE tenant_id = :tenant"
    parameters = {} if tenant is None else {"tenant": tenant}
    for model in SUMMARY_TABLES:
        connection.execute(text(f"DELETE FROM {model.__tablename__}{where}"), parameters)
    for rollup in CALL_ROLLUPS:
        _rebuild_calls(connection, rollup, tenant)
    _rebuild_times(connection, tenant)
