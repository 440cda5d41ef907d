"""Call summaries: calls by local hour and by local day, split by direction, and the wrap-up
(disposition) statistics.

A call is *answered* when its disposition is "answered" (by a person, a phone or pycc's IVR);
*abandoned* when it went into a queue and no agent answered it (the caller hung up waiting,
or the queue gave up on it). ``avg_talk`` is the mean talk time of the answered calls and
``asr_pct`` the answer-seizure ratio, answered over all calls. The counting is done by the
database, grouped by bucket and direction; directions become small numbers in the query,
which groups faster than text on SQLite.

The summaries read the quarter-hour table of calls by direction, and the wrap-up the daily
table of calls by disposition and cause (`pycc.aaa.reports.rollups`), unless limited to an
agent, queue or campaign, which those do not keep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func, literal, literal_column, select

from pycc.aaa.reports import rollups
from pycc.aaa.reports.options import ReportOptions
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
from pycc.aaa.reports.zones import day_label, hour_label
from pycc.store.models import DIRECTIONS
from pycc.store.repo import Store
from pycc.store.report_models import DAY as WRAPUP_GRAIN
from pycc.store.report_models import QUARTER, CallSlot, WrapupDay

__all__ = [
    "DAILY_COLUMNS",
    "HOURLY_COLUMNS",
    "WRAPUP_COLUMNS",
    "summary_daily",
    "summary_hourly",
    "wrapup",
]

Row = dict[str, Any]

_MEASURES: Final = ("calls", "answered", "abandoned", "avg_talk", "asr_pct")
HOURLY_COLUMNS: Final = ("hour", "direction", *_MEASURES)
DAILY_COLUMNS: Final = ("day", "direction", *_MEASURES)
WRAPUP_COLUMNS: Final = ("disposition", "hangup_cause", "calls", "share_pct", "avg_duration")
#: The name a direction outside `DIRECTIONS` is reported under.
OTHER: Final = "other"


#: The bucket and direction key, grouped by by name: the expression written out again would
#: have parameters of its own, which SQLite would take for another expression to compute.
_KEY: Final[ColumnElement[Any]] = literal_column("bucket_key")
#: Directions are numbered 0 to len(DIRECTIONS) (the last for any other).
_CODES: Final = len(DIRECTIONS) + 1


_SLOTS: Final = table_of(CallSlot)
_WRAPUPS: Final = table_of(WrapupDay)


def _direction_code(direction: ColumnElement[str] = CALLS.c.direction) -> ColumnElement[int]:
    return case({name: code for code, name in enumerate(DIRECTIONS)}, value=direction,
                else_=len(DIRECTIONS))


def _direction(code: int) -> str:
    return DIRECTIONS[code] if 0 <= code < len(DIRECTIONS) else OTHER


def _measures() -> list[ColumnElement[Any]]:
    c = CALLS.c
    return [func.count(), func.sum(flag(c.disposition == "answered")),
            func.sum(flag(c.queue.is_not(None) & c.agent_answer.is_(None))),
            func.sum(c.talk_seconds)]


def _figures(calls: Any, answered: Any, abandoned: Any, talk: Any) -> Row:
    calls, answered, abandoned = as_ints((calls, answered, abandoned))
    return {"calls": calls, "answered": answered, "abandoned": abandoned,
            "avg_talk": average(talk, answered), "asr_pct": percent(answered, calls)}


def _rows(found: Any, label: Any) -> list[Row]:
    # The bucket and the direction travel as one number: SQLite groups one integer key
    # much faster than two.
    return [{label[0]: label[1](int(key) // _CODES), "direction": _direction(int(key) % _CODES),
             **_figures(*figures)} for key, *figures in found]


def _grouped(scope: Scope, bucket: Callable[[ColumnElement[Any]], ColumnElement[int]],
             ranges: rollups.Cut | None) -> Any:
    """The measures per bucket and direction, from the records or (``ranges``) from the
    quarter-hour summary and the records at the range's edges."""
    c = CALLS.c
    if ranges is None:
        key = (bucket(c.start) * _CODES + _direction_code()).label("bucket_key")
        return scope.connection.execute(
            select(key, *_measures())
            .where(*scope.calls(agent=True, queue=True, campaign=True))
            .group_by(_KEY).order_by(_KEY)).all()
    t = _SLOTS.c
    summary = select((bucket(t.slot * QUARTER) * _CODES + _direction_code(t.direction))
                     .label("bucket_key"), t.calls, t.answered, t.abandoned, t.talk
                     ).where(rollups.tenant_slots(_SLOTS, scope, ranges))
    edges = [select(bucket(c.start) * _CODES + _direction_code(), literal(1),
                    flag(c.disposition == "answered"),
                    flag(c.queue.is_not(None) & c.agent_answer.is_(None)), c.talk_seconds)
             .where(*where) for where in rollups.record_edges(scope, ranges)]
    u = rollups.combined(summary, edges).c
    calls = func.sum(u.calls)
    return scope.connection.execute(
        select(u.bucket_key, calls, func.sum(u.answered), func.sum(u.abandoned),
               func.sum(u.talk)).group_by(u.bucket_key).having(calls > 0)
        .order_by(u.bucket_key)).all()


def _limited(options: ReportOptions) -> bool:
    return any(value is not None for value in (options.agent, options.queue, options.campaign))


def summary_daily(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per local day of ``options.tz`` and direction: calls, answered, abandoned, average
    talk, ASR; days in order."""
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        buckets = scope.buckets()
        ranges = rollups.plan(scope, QUARTER, limited=_limited(options), buckets=buckets)
        found = _grouped(scope, buckets.day, ranges)
    return _rows(found, ("day", day_label))


def summary_hourly(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per local hour of ``options.tz`` and direction: calls, answered, abandoned, average
    talk, ASR; hours in order (``hour`` is ISO 8601 with the hour's UTC offset)."""
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        buckets = scope.buckets()
        ranges = rollups.plan(scope, QUARTER, limited=_limited(options), buckets=buckets)
        found = _grouped(scope, buckets.hour, ranges)
    return _rows(found, ("hour", lambda begins: hour_label(begins, buckets.zone)))


def wrapup(store: Store, tenant: str, options: ReportOptions) -> list[Row]:
    """Per disposition and hang-up cause: calls, their share of all calls and the mean
    billed duration; the most frequent first."""
    c = CALLS.c
    with reading(store, summaries=options.summaries) as connection:
        scope = Scope(connection, tenant, options)
        ranges = rollups.plan(scope, WRAPUP_GRAIN, limited=_limited(options))
        if ranges is None:
            statement = (select(c.disposition, c.hangup_cause, func.count(),
                                func.sum(c.duration))
                         .where(*scope.calls(agent=True, queue=True, campaign=True))
                         .group_by(c.disposition, c.hangup_cause))
        else:
            t = _WRAPUPS.c
            summary = select(t.disposition, t.hangup_cause, t.calls, t.duration).where(
                rollups.tenant_slots(_WRAPUPS, scope, ranges))
            edges = [select(c.disposition, c.hangup_cause, literal(1), c.duration).where(*where)
                     for where in rollups.record_edges(scope, ranges)]
            u = rollups.combined(summary, edges).c
            statement = (select(u.disposition, u.hangup_cause, func.sum(u.calls),
                                func.sum(u.duration))
                         .group_by(u.disposition, u.hangup_cause)
                         .having(func.sum(u.calls) > 0))
        found = connection.execute(statement).all()
    total = sum(int(row[2]) for row in found)
    rows = [{"disposition": disposition, "hangup_cause": cause, "calls": int(calls),
             "share_pct": percent(int(calls), total), "avg_duration": average(duration, calls)}
            for disposition, cause, calls, duration in found]
    rows.sort(key=lambda row: (-row["calls"], row["disposition"], row["hangup_cause"]))
    return rows
