"""Queue estimates and statistics: expected wait, service level, abandon rate, snapshots.

The handle time of a queue (talk plus wrap-up) is an exponentially weighted moving average of
measured calls, so the estimate follows the shift's pace without a window of samples. The wait
estimate is the classic one for announcements: a caller at position ``p`` with ``n`` agents
serving waits about ``p * handle_time / n``. Service level is the share of calls that left the
queue (answered, abandoned or overflowed) that were answered within the target time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "HandleTimeAverage",
    "QueueSnapshot",
    "QueueStatistics",
    "estimated_wait",
]


class HandleTimeAverage:
    """Exponentially weighted average of handle times; ``weight`` is the newest sample's share."""

    __slots__ = ("samples", "value", "weight")

    def __init__(self, weight: float = 0.2, initial: float | None = None) -> None:
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"weight must be in (0, 1], not {weight}")
        self.weight = weight
        self.value = initial
        self.samples = 0

    def update(self, seconds: float) -> float:
        seconds = max(0.0, seconds)
        # The first measurement replaces a configured guess outright.
        if self.value is None or self.samples == 0:
            self.value = seconds
        else:
            self.value += self.weight * (seconds - self.value)
        self.samples += 1
        return self.value


def estimated_wait(position: int, handle_time: float | None, agents: int) -> float | None:
    """Seconds until a caller at ``position`` (1 = next) is served; None if unknowable."""
    if handle_time is None or agents <= 0 or position <= 0:
        return None
    return position * handle_time / agents


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """A queue's figures at one instant, for ``pycc status`` and reports."""

    queue: str
    at: float
    waiting: int
    longest_wait: float
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None
    abandon_rate: float | None
    handle_time: float | None
    agents_logged_in: int
    agents_free: int


class QueueStatistics:
    """Counters of one queue since the last `reset` (the service resets them daily)."""

    __slots__ = ("abandoned", "answered", "answered_in_target", "handle_time",
                 "overflowed", "service_level_target")

    def __init__(self, service_level_target: float = 20.0, handle_time_weight: float = 0.2,
                 default_handle_time: float | None = None) -> None:
        self.service_level_target = service_level_target
        self.handle_time = HandleTimeAverage(handle_time_weight, default_handle_time)
        self.answered = 0
        self.answered_in_target = 0
        self.abandoned = 0
        self.overflowed = 0

    def reset(self) -> None:
        self.answered = self.answered_in_target = self.abandoned = self.overflowed = 0

    def record_answered(self, waited: float) -> None:
        self.answered += 1
        if waited <= self.service_level_target:
            self.answered_in_target += 1

    def record_abandoned(self, waited: float) -> None:
        self.abandoned += 1

    def record_overflowed(self, waited: float) -> None:
        self.overflowed += 1

    def record_handled(self, seconds: float) -> None:
        self.handle_time.update(seconds)

    @property
    def total(self) -> int:
        return self.answered + self.abandoned + self.overflowed

    @property
    def service_level(self) -> float | None:
        total = self.total
        return self.answered_in_target / total if total else None

    @property
    def abandon_rate(self) -> float | None:
        total = self.total
        return self.abandoned / total if total else None

    def snapshot(self, queue: str, now: float, waiting_since: Iterable[float],
                 agents_logged_in: int, agents_free: int) -> QueueSnapshot:
        waits = [now - t for t in waiting_since]
        return QueueSnapshot(
            queue=queue, at=now, waiting=len(waits), longest_wait=max(waits, default=0.0),
            answered=self.answered, abandoned=self.abandoned, overflowed=self.overflowed,
            service_level=self.service_level, abandon_rate=self.abandon_rate,
            handle_time=self.handle_time.value, agents_logged_in=agents_logged_in,
            agents_free=agents_free,
        )
