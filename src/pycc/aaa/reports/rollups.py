"""Reading the summary tables (`pycc.store.report_models`) in place of the call records.

A report's time range is cut at the table's slot boundaries (`cut`): the whole slots inside
it are read from the summary, the partial slots at its edges from the records (a few minutes
to a day of them, found through the (tenant, start) index), both in one statement (UNION
ALL, then grouped) so that they come from one snapshot. A report by local hour or day reads a
table of quarter-hour (or hour) slots only where every UTC offset of its zone over the span of
the calls, and every instant the offset changes, falls on the slots' boundaries (`aligned`);
real zones do, but not, say, a zone's local mean time of the early 20th century: then the
report reads the records.

A report reads the records (its reference SQL) when it is limited by something its summary
does not keep (a summary of calls by direction has no agent, queue or campaign), when its
range is shorter than one slot, when ``options.summaries`` is off, or on a database that does
not keep the summaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, union_all
from sqlalchemy.sql import Subquery

from pycc.aaa.reports.sql import CALLS, Buckets, Scope
from pycc.store.report_models import slot_of

__all__ = ["Cut", "aligned", "combined", "cut", "plan", "record_edges", "tenant_slots"]


@dataclass(frozen=True, slots=True)
class Cut:
    """A time range cut at the boundaries of slots of ``grain`` seconds: the whole slots
    ``first`` (inclusive) to ``stop`` (exclusive; None: unbounded on that side) and the rest
    at the edges, as [start, end) ranges of time."""

    grain: int
    first: int | None
    stop: int | None
    edges: tuple[tuple[float, float], ...]

    def slots(self, table: Table) -> list[ColumnElement[bool]]:
        """The conditions on a summary's ``slot`` for the whole slots."""
        where: list[ColumnElement[bool]] = []
        if self.first is not None:
            where.append(table.c.slot >= self.first)
        if self.stop is not None:
            where.append(table.c.slot < self.stop)
        return where


def cut(since: float | None, until: float | None, grain: int) -> Cut | None:
    """[since, until) cut into slots of ``grain`` seconds; None when no whole slot fits."""
    first = stop = None
    edges: list[tuple[float, float]] = []
    if since is not None:
        first = slot_of(since, grain)
        if first * grain < since:
            first += 1
            edges.append((since, float(first * grain)))
    if until is not None:
        stop = slot_of(until, grain)
        if stop * grain < until:
            edges.append((float(stop * grain), until))
    if first is not None and stop is not None and first >= stop:
        return None
    return Cut(grain, first, stop, tuple(edges))


def aligned(buckets: Buckets, grain: int) -> bool:
    """Whether every offset of the buckets' zone, and every change of it, falls on the
    boundaries of slots of ``grain`` seconds (so each slot lies in one local hour or day)."""
    return all(offset % grain == 0 for _, offset in buckets.offsets) and all(
        changed % grain == 0 for changed, _ in buckets.offsets[1:])


def plan(scope: Scope, grain: int, *, limited: bool = False,
         buckets: Buckets | None = None) -> Cut | None:
    """How a report of ``scope`` reads a summary of ``grain``-second slots, or None to read
    the records: ``limited`` when the options limit it to what the summary does not keep,
    ``buckets`` for a report by local hour or day."""
    if limited or not scope.summaries:
        return None
    if buckets is not None and not aligned(buckets, grain):
        return None
    return cut(scope.options.since, scope.options.until, grain)


def record_edges(scope: Scope, ranges: Cut) -> list[list[ColumnElement[bool]]]:
    """For each edge of ``ranges``, the conditions on the tenant's closed call records
    started in it (narrow: read through the (tenant, start) index)."""
    c = CALLS.c
    return [[c.tenant_id == scope.tenant, c.state == "closed", c.start >= low, c.start < high]
            for low, high in ranges.edges]


def combined(summary: Select[Any], records: Sequence[Select[Any]]) -> Subquery:
    """The rows of the summary's slots and of the records at the edges, as one subquery
    whose columns are named as ``summary``'s."""
    if not records:
        return summary.subquery("rolled")
    return union_all(summary, *records).subquery("rolled")


def tenant_slots(table: Table, scope: Scope, ranges: Cut) -> ColumnElement[bool]:
    """The tenant's whole slots of ``ranges`` in a summary ``table``."""
    return and_(table.c.tenant_id == scope.tenant, *ranges.slots(table))
