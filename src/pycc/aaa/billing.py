"""Per-tenant credit: what the tenant's calls have cost, against the limit its file sets.

`CreditTracker` keeps the running total in memory, so the check made for every call out
(`exhausted`) costs nothing: it is loaded from the call records when the switch starts (and
again from time to time, when other nodes share the database), then every closed record the
switch writes adds its cost. Costs are integers of micro-units (`pycc.routing.rating`); only
records of calls started at or after the period start (``since``) count.

Pure: no clock, no database. `pycc.aaa.cdr.CallRecorder` feeds it; the router
(`pycc.ccmanager.center`) asks it before a call goes out over a trunk.
"""

from __future__ import annotations

from decimal import Decimal

from pycc.routing.rating import from_micros, to_micros

__all__ = ["CreditTracker"]


class CreditTracker:
    """The billed total of one tenant and its credit limit (None: no limit)."""

    def __init__(self) -> None:
        self.limit: Decimal | None = None
        self.since: float | None = None
        #: The billed total, in micro-units.
        self.total = 0
        #: True until the total was loaded for the current ``since``.
        self.stale = False
        self._limit_micros: int | None = None

    def configure(self, limit: Decimal | None, since: float | None = None) -> bool:
        """Set the limit and the period start; True when the total must be (re)loaded."""
        if limit is not None and (not limit.is_finite() or limit < 0):
            raise ValueError(f"credit limit {limit}: must be a finite amount >= 0")
        changed = since != self.since or (limit is not None and self.limit is None)
        self.limit = limit
        self._limit_micros = None if limit is None else to_micros(limit)
        self.since = since
        if changed and limit is not None:
            self.stale = True
        if limit is None:
            self.stale = False
        return self.stale

    def load(self, total: int) -> None:
        """The billed total read from the call records (micro-units)."""
        self.total = max(0, total)
        self.stale = False

    def add(self, start: float, cost: int | None) -> None:
        """A call record was written: count its cost if it falls in the period."""
        if cost and cost > 0 and (self.since is None or start >= self.since):
            self.total += cost

    @property
    def exhausted(self) -> bool:
        """Whether the billed total has reached the limit: no new calls out."""
        return self._limit_micros is not None and self.total >= self._limit_micros

    @property
    def remaining(self) -> Decimal | None:
        """What is left of the limit (never below 0), or None without a limit."""
        if self._limit_micros is None:
            return None
        return from_micros(max(0, self._limit_micros - self.total))

    def snapshot(self) -> dict[str, object]:
        """The state for ``pycc status`` and the API (amounts as decimal text)."""
        return {
            "limit": None if self.limit is None else str(self.limit),
            "since": self.since,
            "billed": str(from_micros(self.total)),
            "remaining": None if self.remaining is None else str(self.remaining),
            "exhausted": self.exhausted,
        }
