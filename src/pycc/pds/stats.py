"""Live measurements of a dialing campaign, fed with every call outcome.

`DialerStats` turns the outcomes the dialer sees (a call placed, answered by a person after some
ring time, not answered, busy, failed, reached a machine, abandoned, connected to an agent,
handled: talk plus wrap-up) into the figures pacing needs:

- the answer rate (person answered / resolved dial attempts), as a running average that turns
  into an exponentially weighted one after ``ewma_calls`` outcomes, and over the rolling window;
- the distributions of the answer delay (ring time before a person answers), of how long an
  attempt that reached no person lasted, and of talk time, kept as recent samples
  (`EmpiricalDistribution`), plus the mean wrap-up and handle time (talk + wrap-up);
- abandonment = abandoned / answered, over a rolling time window (default 30 minutes) and over
  the day (the counters reset when ``now`` enters a new day).

Before data exists every figure has a prior (constructor arguments), so a new campaign paces
sensibly from its first call. Estimates are fed in the order calls started, not the order they
ended: the first outcomes of a campaign are the quick ones (busy tones, short talks), and taking
them first would make answers look rarer and talks shorter than they are, and the dialer
over-dial. An outcome waits (`_StartOrder`) until every call started before it has ended, or
until ``max_pending`` seconds have passed; the start is recovered from ``now - ring_time`` and
``now - talk - wrapup``. Counts (the day's, the window's) are updated at once.

Nothing here reads a clock: every record carries ``now`` (seconds, any epoch, non-decreasing; a
step back is taken as no time passing); :meth:`DialerStats.tick` moves the window without an
outcome.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "DialerStats",
    "EmpiricalDistribution",
    "RecentCounts",
    "lognormal_quantiles",
]

FloatArray = npt.NDArray[np.float64]

_STANDARD_NORMAL = NormalDist()


def lognormal_quantiles(mean: float, sigma: float, points: int = 40) -> list[float]:
    """``points`` evenly spaced quantiles of a lognormal with this mean and log-sigma.

    Used as pseudo-samples: a prior that looks like a measured sample to the code reading it.
    """
    if not (math.isfinite(mean) and mean > 0):
        raise ValueError(f"mean: must be a positive number of seconds, not {mean!r}")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma: must be >= 0, not {sigma!r}")
    if points < 1:
        raise ValueError(f"points: must be >= 1, not {points!r}")
    mu = math.log(mean) - sigma * sigma / 2.0
    return [
        math.exp(mu + sigma * _STANDARD_NORMAL.inv_cdf((i + 0.5) / points))
        for i in range(points)
    ]


def _check_time(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number of seconds, not {value!r}")
    return float(value)


def _check_duration(name: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


class EmpiricalDistribution:
    """The most recent ``capacity`` samples of a duration, with a prior for a cold start.

    Until ``min_samples`` real samples exist the prior pseudo-samples are pooled with them, so the
    estimate moves from the prior to the measurement gradually and never rests on two calls.
    """

    __slots__ = ("_cache", "_min_samples", "_prior", "_samples", "_sum")

    def __init__(
        self, prior: Sequence[float], capacity: int = 500, min_samples: int = 20
    ) -> None:
        if not prior:
            raise ValueError("prior: needs at least one value")
        if capacity < 1:
            raise ValueError(f"capacity: must be >= 1, not {capacity!r}")
        if min_samples < 0:
            raise ValueError(f"min_samples: must be >= 0, not {min_samples!r}")
        self._prior = [_check_duration("prior", v) for v in prior]
        self._samples: deque[float] = deque(maxlen=capacity)
        self._min_samples = min_samples
        self._sum = 0.0
        self._cache: FloatArray | None = None

    def add(self, value: float) -> None:
        value = _check_duration("sample", value)
        if self._samples.maxlen is not None and len(self._samples) == self._samples.maxlen:
            self._sum -= self._samples[0]
        self._samples.append(value)
        self._sum += value
        self._cache = None

    @property
    def count(self) -> int:
        """Real samples held (the prior not counted)."""
        return len(self._samples)

    def values(self) -> FloatArray:
        """The sample the estimates use, sorted ascending (prior pooled in while sparse)."""
        if self._cache is None:
            pool = list(self._samples)
            if len(pool) < self._min_samples:
                pool.extend(self._prior)
            self._cache = np.sort(np.asarray(pool, dtype=np.float64))
        return self._cache

    @property
    def mean(self) -> float:
        if len(self._samples) >= self._min_samples and self._samples:
            return self._sum / len(self._samples)
        return float(self.values().mean())

    def survival(self, x: npt.ArrayLike) -> FloatArray:
        """P(duration > x), elementwise."""
        values = self.values()
        points = x if isinstance(x, np.ndarray) else np.asarray(x, dtype=np.float64)
        above = values.size - values.searchsorted(points, "right")
        return np.asarray(above / values.size, dtype=np.float64)

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        """P(duration <= x), elementwise."""
        return np.asarray(1.0 - self.survival(x), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class RecentCounts:
    """Outcomes of the last ``seconds`` (at most the stats window)."""

    seconds: float
    dialed: int
    answered: int
    abandoned: int

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0

    @property
    def drop_rate_of_dialed(self) -> float:
        """Abandoned / dialed: the per-call drop share VICIdial checks over its last minute."""
        return self.abandoned / self.dialed if self.dialed else 0.0


@dataclass(slots=True)
class _DayCounters:
    dialed: int = 0
    answered: int = 0
    abandoned: int = 0
    connected: int = 0
    machines: int = 0
    no_answer: int = 0
    busy: int = 0
    failed: int = 0


@dataclass(slots=True)
class _Started:
    at: float
    open: int = 1
    outcomes: list[tuple[float, ...]] = field(default_factory=list)


class _StartOrder:
    """Releases outcomes in the order their calls started (see the module docstring).

    Starts within the same millisecond share an entry; an outcome is matched to its start within
    a millisecond. An outcome with no pending start (never recorded, or released as too old) is
    released at once.
    """

    __slots__ = ("_by_key", "_queue", "_release", "max_pending")

    def __init__(self, max_pending: float, release: Callable[[tuple[float, ...]], None]) -> None:
        self.max_pending = max_pending
        self._release = release
        self._queue: deque[_Started] = deque()
        self._by_key: dict[int, _Started] = {}

    def start(self, at: float) -> None:
        key = round(at * 1000.0)
        entry = self._by_key.get(key)
        if entry is not None and entry.open > 0:
            entry.open += 1
            return
        entry = _Started(at)
        self._queue.append(entry)
        self._by_key[key] = entry

    def finish(self, now: float, started: float | None, outcome: tuple[float, ...]) -> None:
        entry = None
        if started is not None:
            key = round(started * 1000.0)
            for k in (key, key - 1, key + 1):
                candidate = self._by_key.get(k)
                if candidate is not None and candidate.open > 0:
                    entry = candidate
                    break
        if entry is None:
            self._release(outcome)
        else:
            entry.open -= 1
            entry.outcomes.append(outcome)
        self.flush(now)

    def flush(self, now: float) -> None:
        queue = self._queue
        while queue and (queue[0].open == 0 or queue[0].at < now - self.max_pending):
            entry = queue.popleft()
            key = round(entry.at * 1000.0)
            if self._by_key.get(key) is entry:
                del self._by_key[key]
            for outcome in entry.outcomes:
                self._release(outcome)

    @property
    def pending(self) -> int:
        return sum(entry.open for entry in self._queue)


class _RunningRate:
    """A mean of 0/1 outcomes: a plain running mean with prior pseudo-counts at first, then an
    exponentially weighted one over about ``horizon`` outcomes, so it tracks a changing list."""

    __slots__ = ("horizon", "n", "prior_weight", "value")

    def __init__(self, prior: float, prior_weight: float, horizon: int) -> None:
        self.value = prior
        self.prior_weight = prior_weight
        self.horizon = horizon
        self.n = 0

    def add(self, x: float) -> None:
        self.n += 1
        self.value += (x - self.value) / min(self.n + self.prior_weight, self.horizon)


class DialerStats:
    """Measurements of one campaign; see the module docstring for the figures and the priors."""

    def __init__(
        self,
        *,
        window: float = 1800.0,
        day_start: float = 0.0,
        day_length: float = 86400.0,
        ewma_calls: int = 200,
        prior_answer_rate: float = 0.25,
        prior_machine_rate: float = 0.0,
        prior_answer_delay: float = 8.0,
        prior_unanswered: float = 22.0,
        prior_talk: float = 120.0,
        prior_wrapup: float = 10.0,
        samples: int = 500,
        max_pending: float = 900.0,
    ) -> None:
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window: must be a positive number of seconds, not {window!r}")
        if not (math.isfinite(day_length) and day_length > 0):
            raise ValueError(f"day_length: must be positive, not {day_length!r}")
        _check_time("day_start", day_start)
        if ewma_calls < 1:
            raise ValueError(f"ewma_calls: must be >= 1, not {ewma_calls!r}")
        for name, rate in (("prior_answer_rate", prior_answer_rate),
                           ("prior_machine_rate", prior_machine_rate)):
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ValueError(f"{name}: must be between 0 and 1, not {rate!r}")
        if prior_answer_rate + prior_machine_rate > 1.0:
            raise ValueError("prior_answer_rate + prior_machine_rate: must not exceed 1")
        for name, seconds in (("prior_answer_delay", prior_answer_delay),
                              ("prior_unanswered", prior_unanswered),
                              ("prior_talk", prior_talk)):
            if not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{name}: must be a positive number of seconds, not {seconds!r}")
        _check_duration("prior_wrapup", prior_wrapup)
        if not (math.isfinite(max_pending) and max_pending > 0):
            raise ValueError(
                f"max_pending: must be a positive number of seconds, not {max_pending!r}")

        self.window = float(window)
        self.day_start = float(day_start)
        self.day_length = float(day_length)
        self._now: float | None = None
        self._day_index: int | None = None
        self._day = _DayCounters()
        # 10 pseudo-outcomes of prior: enough to damp the first few calls, few enough to yield.
        self._answer = _RunningRate(prior_answer_rate, 10.0, ewma_calls)
        self._machine = _RunningRate(prior_machine_rate, 10.0, ewma_calls)
        self._wrapup_mean = _RunningRate(prior_wrapup, 3.0, ewma_calls)
        self._wait_sum = 0.0
        self.answer_delays = EmpiricalDistribution(
            lognormal_quantiles(prior_answer_delay, 0.4), capacity=samples)
        self.unanswered_durations = EmpiricalDistribution(
            lognormal_quantiles(prior_unanswered, 0.3), capacity=samples)
        self.talk_times = EmpiricalDistribution(
            lognormal_quantiles(prior_talk, 0.8), capacity=samples)
        # Timestamps inside the rolling window (and at least the last minute).
        self._keep = max(self.window, 60.0)
        self._dialed_at: deque[float] = deque()
        self._answered_at: deque[float] = deque()
        self._abandoned_at: deque[float] = deque()
        self._resolved_at: deque[tuple[float, bool]] = deque()
        self._resolved_hits = 0
        self._attempts = _StartOrder(max_pending, self._learn_attempt)
        self._handled = _StartOrder(max_pending, self._learn_handled)

    # -- the clock -------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Move the measurement clock to ``now``: the window slides and a new day resets the
        day's counters. Every ``record_*`` ticks; a pacer ticks before reading the figures."""
        now = _check_time("now", now)
        if self._now is not None and now < self._now:
            # A clock that steps back must not un-expire samples: keep the latest instant.
            now = self._now
        self._now = now
        day = math.floor((now - self.day_start) / self.day_length)
        if self._day_index is None:
            self._day_index = day
        elif day != self._day_index:
            self._day_index = day
            self._day = _DayCounters()
        horizon = now - self._keep
        for stamps in (self._dialed_at, self._answered_at, self._abandoned_at):
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
        window_start = now - self.window
        while self._resolved_at and self._resolved_at[0][0] <= window_start:
            _, hit = self._resolved_at.popleft()
            self._resolved_hits -= hit
        self._flush()

    def _flush(self) -> None:
        now = self._clock()
        self._attempts.flush(now)
        self._handled.flush(now)

    def start_day(self, now: float) -> None:
        """Reset the day's counters now (an operator's "new day"), keeping the window."""
        self.tick(now)
        self._day = _DayCounters()

    @property
    def now(self) -> float | None:
        """The latest instant recorded or ticked, None before any."""
        return self._now

    # -- outcomes --------------------------------------------------------------------------------

    def record_dialed(self, now: float) -> None:
        """A call was placed now (its outcome's ``ring_time`` must count from this instant)."""
        self.tick(now)
        self._day.dialed += 1
        self._dialed_at.append(self._clock())
        # Starts and ends are matched on the caller's own times, not the clamped clock.
        self._attempts.start(float(now))

    def record_answered(self, now: float, ring_time: float) -> None:
        """A person answered after ``ring_time`` seconds (from dialing to answer)."""
        ring_time = _check_duration("ring_time", ring_time)
        self.tick(now)
        self._day.answered += 1
        self._answered_at.append(self._clock())
        self._resolve(answered=True)
        self._attempts.finish(self._clock(), now - ring_time, (1.0, ring_time))

    def record_no_answer(self, now: float, ring_time: float) -> None:
        """Nobody answered; the attempt rang for ``ring_time`` seconds."""
        self._unanswered(now, "ring_time", ring_time)
        self._day.no_answer += 1

    def record_busy(self, now: float, ring_time: float = 0.0) -> None:
        """Busy (or rejected) after ``ring_time`` seconds."""
        self._unanswered(now, "ring_time", ring_time)
        self._day.busy += 1

    def record_failed(self, now: float, ring_time: float = 0.0) -> None:
        """Invalid number or network failure after ``ring_time`` seconds."""
        self._unanswered(now, "ring_time", ring_time)
        self._day.failed += 1

    def record_machine(self, now: float, ring_time: float | None = None) -> None:
        """An answering machine took the call; ``ring_time`` is how long the attempt lasted
        until it was recognised (answer delay plus detection), when known."""
        if ring_time is None:
            self.tick(now)
            self._resolve(answered=False)
            self._attempts.finish(self._clock(), None, (2.0,))
        else:
            self._unanswered(now, "ring_time", ring_time, machine=True)
        self._day.machines += 1

    def record_abandoned(self, now: float) -> None:
        """An answered person found no agent in time (the call counts as abandoned)."""
        self.tick(now)
        self._day.abandoned += 1
        self._abandoned_at.append(self._clock())

    def record_connected(self, now: float, wait: float = 0.0) -> None:
        """An answered person reached an agent after ``wait`` seconds (answer to agent); the
        talk starts now."""
        wait = _check_duration("wait", wait)
        self.tick(now)
        self._day.connected += 1
        self._wait_sum += wait
        self._handled.start(float(now))

    def record_handled(self, now: float, talk: float, wrapup: float) -> None:
        """An agent finished a call: ``talk`` seconds connected, then ``wrapup`` seconds,
        ending now."""
        talk = _check_duration("talk", talk)
        wrapup = _check_duration("wrapup", wrapup)
        self.tick(now)
        self._handled.finish(self._clock(), now - talk - wrapup, (talk, wrapup))

    def _unanswered(
        self, now: float, name: str, duration: float, *, machine: bool = False
    ) -> None:
        duration = _check_duration(name, duration)
        self.tick(now)
        self._resolve(answered=False)
        kind = 2.0 if machine else 0.0
        self._attempts.finish(self._clock(), now - duration, (kind, duration))

    def _resolve(self, *, answered: bool) -> None:
        self._resolved_at.append((self._clock(), answered))
        self._resolved_hits += answered

    def _learn_attempt(self, outcome: tuple[float, ...]) -> None:
        """One attempt's outcome, in start order: (1, ring) answered, (0, seconds) reached
        nobody, (2, seconds) or (2,) a machine."""
        kind = outcome[0]
        # Both shares are over every resolved attempt, so they add up with the rest.
        self._answer.add(1.0 if kind == 1.0 else 0.0)
        self._machine.add(1.0 if kind == 2.0 else 0.0)
        if len(outcome) > 1:
            if kind == 1.0:
                self.answer_delays.add(outcome[1])
            else:
                self.unanswered_durations.add(outcome[1])

    def _learn_handled(self, outcome: tuple[float, ...]) -> None:
        talk, wrapup = outcome
        self.talk_times.add(talk)
        self._wrapup_mean.add(wrapup)

    def _clock(self) -> float:
        assert self._now is not None  # every caller ticks first
        return self._now

    # -- figures ---------------------------------------------------------------------------------

    @property
    def answer_rate(self) -> float:
        """Share of resolved attempts a person answered (running, then weighted, average)."""
        return self._answer.value

    @property
    def answer_rate_weight(self) -> float:
        """How many outcomes the answer rate rests on (prior pseudo-outcomes included, at most
        ``ewma_calls``): its variance is about ``rate * (1 - rate) / weight``."""
        return min(self._answer.n + self._answer.prior_weight, float(self._answer.horizon))

    @property
    def answer_rate_window(self) -> float:
        """Share of attempts resolved inside the rolling window that a person answered; the
        weighted average while the window holds no outcome."""
        if not self._resolved_at:
            return self.answer_rate
        return self._resolved_hits / len(self._resolved_at)

    @property
    def machine_rate(self) -> float:
        """Share of resolved attempts that reached an answering machine."""
        return self._machine.value

    @property
    def answer_delay(self) -> float:
        """Mean ring time before a person answers (seconds)."""
        return self.answer_delays.mean

    @property
    def talk_time(self) -> float:
        return self.talk_times.mean

    @property
    def wrapup_time(self) -> float:
        return self._wrapup_mean.value

    @property
    def handle_time(self) -> float:
        """Talk plus wrap-up (seconds): what one connected call costs an agent."""
        return self.talk_time + self.wrapup_time

    @property
    def mean_answer_to_agent(self) -> float:
        """Mean wait from a person's answer to an agent, over today's connected calls."""
        return self._wait_sum / self._day.connected if self._day.connected else 0.0

    @property
    def answered_window(self) -> int:
        """People who answered inside the rolling window."""
        return self._count_in_window(self._answered_at)

    @property
    def abandoned_window(self) -> int:
        """Abandoned calls inside the rolling window."""
        return self._count_in_window(self._abandoned_at)

    @property
    def abandon_rate_window(self) -> float:
        """Abandoned / answered over the rolling window (0.0 while nothing was answered)."""
        answered = self.answered_window
        return self.abandoned_window / answered if answered else 0.0

    @property
    def abandon_rate_day(self) -> float:
        """Abandoned / answered since the day started (0.0 while nothing was answered)."""
        return self._day.abandoned / self._day.answered if self._day.answered else 0.0

    @property
    def dialed_today(self) -> int:
        return self._day.dialed

    @property
    def answered_today(self) -> int:
        return self._day.answered

    @property
    def abandoned_today(self) -> int:
        return self._day.abandoned

    @property
    def connected_today(self) -> int:
        return self._day.connected

    @property
    def machines_today(self) -> int:
        return self._day.machines

    @property
    def no_answer_today(self) -> int:
        return self._day.no_answer

    @property
    def busy_today(self) -> int:
        return self._day.busy

    @property
    def failed_today(self) -> int:
        return self._day.failed

    def recent(self, seconds: float) -> RecentCounts:
        """Counts over the last ``seconds`` (capped at the window, and at least a minute kept)."""
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"seconds: must be positive, not {seconds!r}")
        seconds = min(seconds, self._keep)
        if self._now is None:
            return RecentCounts(seconds, 0, 0, 0)
        start = self._now - seconds
        return RecentCounts(
            seconds,
            sum(1 for t in self._dialed_at if t > start),
            sum(1 for t in self._answered_at if t > start),
            sum(1 for t in self._abandoned_at if t > start),
        )

    def _in_window(self, stamps: deque[float]) -> list[float]:
        if self._now is None:
            return []
        start = self._now - self.window
        return [t for t in stamps if t > start]

    def _count_in_window(self, stamps: deque[float]) -> int:
        # The deques keep max(window, 60 s): with a window of a minute or more, all of it.
        if self.window >= self._keep:
            return len(stamps)
        return len(self._in_window(stamps))
