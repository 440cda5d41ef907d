"""What callers press at each IVR menu: a tally for the menu report.

Every menu attempt adds one count under (flow, step, key), where key is the key pressed or the
outcomes ``"timeout"`` (nothing pressed in time) and ``"invalid"`` (a key the menu does not
offer). The service drains the tally periodically and adds it to the stored totals, so the
counts between two drains live only in memory.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["INVALID", "TIMEOUT", "KeyTally"]

TIMEOUT = "timeout"
INVALID = "invalid"


class KeyTally:
    """Counts of (flow, step, key) since the last :meth:`drain`."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def add(self, flow: str, step: str, key: str) -> None:
        self._counts[(flow, step, key)] += 1

    def counts(self) -> dict[tuple[str, str, str], int]:
        """A copy of the counts so far."""
        return dict(self._counts)

    def drain(self) -> dict[tuple[str, str, str], int]:
        """The counts so far, and start again from nothing (for periodic persistence)."""
        counts = dict(self._counts)
        self._counts.clear()
        return counts

    def __len__(self) -> int:
        return len(self._counts)
