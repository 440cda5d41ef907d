"""Pacing: how many new calls a campaign places now, from its agents and live measurements.

A `Pacer` is asked ``decide(state, stats, now)`` at every state change of the campaign (a call
placed, answered, ended, an agent ready or in wrap-up ...) and, when it has a
``recheck_interval``, again after that long without one (time alone moves its prediction). It
answers a number of new calls to place at once, never negative. The same classes run in the live
dialer service and in :mod:`pycc.pds.simulate`.

Dial modes (keys of `PACERS`, accepted by `make_pacer`):

- ``preview``: never dials by itself; the agent sees the contact first and starts the call.
- ``progressive``: ``ratio`` lines per idle agent, minus the calls already ringing.
- ``ratio``, ``adapt_hard_limit``, ``adapt_tapered``, ``adapt_average``: VICIdial's dial methods
  as its manual and its adaptive-dialing description define them, as baselines. Lines dialed =
  dial level x counted agents (idle + talking, or idle only with ``available_only_tally``)
  minus the calls already up. RATIO keeps the level fixed. The ADAPT methods resample, every
  15 seconds, the 15-second average of agents waiting minus calls waiting (plus the
  ``dl_diff_target``) per logged-in agent, and scale the level by it (``intensity`` makes rises
  faster and falls slower when positive), between 1.0 and ``max_level``; the level is halved if
  over half of the last minute's calls dropped; and once more than ``min_calls_today`` calls were
  placed today and today's drops / answered exceed the limit, ADAPT_HARD_LIMIT sets the level to
  1.0, ADAPT_AVERAGE halves it, ADAPT_TAPERED scales it by the time left until the end of the
  shift over ``taper_hours`` (so it may run over the limit early in the shift and becomes as
  strict as the hard limit at its end). The level never goes below 1.0.
- ``predictive``: our model-based pacing (`PredictivePacer`, described there).
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pycc.pds.stats import DialerStats

__all__ = [
    "PACERS",
    "AdaptivePacer",
    "DialerState",
    "Pacer",
    "PacerParameterError",
    "PredictivePacer",
    "PreviewPacer",
    "ProgressivePacer",
    "RatioPacer",
    "make_pacer",
]

FloatArray = npt.NDArray[np.float64]


class PacerParameterError(ValueError):
    """A dial mode or one of its parameters is not acceptable; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.reason = message


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PacerParameterError(name, f"must be a number, not {value!r}")
    if not math.isfinite(value):
        raise PacerParameterError(name, f"must be finite, not {value!r}")
    return float(value)


def _in_range(name: str, value: object, low: float, high: float) -> float:
    number = _number(name, value)
    if not low <= number <= high:
        raise PacerParameterError(name, f"must be between {low:g} and {high:g}, not {number:g}")
    return number


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PacerParameterError(name, f"must be true or false, not {value!r}")
    return value


# -- the state a pacer sees ----------------------------------------------------------------------


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: must be a whole number >= 0, not {value!r}")
    return value


def _durations(name: str, values: object) -> None:
    if not isinstance(values, tuple):
        raise ValueError(f"{name}: must be a tuple of seconds, not {type(values).__name__}")
    # The state is built at every decision: check the whole tuple at C speed, and walk it
    # only to name the bad entry.
    try:
        if not values or (math.isfinite(math.fsum(values)) and min(values) >= 0):
            return
    except TypeError:
        pass
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name}[{i}]: must be a finite number of seconds >= 0, not {v!r}")


@dataclass(frozen=True, slots=True)
class DialerState:
    """What the campaign looks like at the instant of a decision.

    ``wrapup_remaining`` has one entry per agent in wrap-up (expected seconds left),
    ``talk_elapsed`` one per agent talking (seconds since connected), ``ring_elapsed`` one per
    call placed and not answered yet (seconds since dialed). ``calls_waiting`` counts answered
    calls waiting for an agent (inside the hold limit). Agents logged in but neither idle,
    talking nor in wrap-up are paused. ``shift_end`` is when today's calling ends (same clock as
    ``now``), ``contacts_available`` and ``max_lines`` cap what may be dialed, when known.
    """

    agents_logged_in: int
    agents_idle: int
    wrapup_remaining: tuple[float, ...] = ()
    talk_elapsed: tuple[float, ...] = ()
    ring_elapsed: tuple[float, ...] = ()
    calls_waiting: int = 0
    abandon_limit: float = 0.03
    shift_end: float | None = None
    contacts_available: int | None = None
    max_lines: int | None = None

    def __post_init__(self) -> None:
        _count("agents_logged_in", self.agents_logged_in)
        _count("agents_idle", self.agents_idle)
        _count("calls_waiting", self.calls_waiting)
        _durations("wrapup_remaining", self.wrapup_remaining)
        _durations("talk_elapsed", self.talk_elapsed)
        _durations("ring_elapsed", self.ring_elapsed)
        busy = self.agents_idle + len(self.wrapup_remaining) + len(self.talk_elapsed)
        if busy > self.agents_logged_in:
            raise ValueError(
                f"agents_logged_in: {self.agents_logged_in} is fewer than idle + wrap-up + "
                f"talking agents ({busy})")
        limit = self.abandon_limit
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not (
                math.isfinite(limit) and 0.0 <= limit < 1.0):
            raise ValueError(f"abandon_limit: must be a fraction in [0, 1), not {limit!r}")
        if self.shift_end is not None and (
                isinstance(self.shift_end, bool) or not isinstance(self.shift_end, int | float)
                or not math.isfinite(self.shift_end)):
            raise ValueError(f"shift_end: must be a finite time or None, not {self.shift_end!r}")
        if self.contacts_available is not None:
            _count("contacts_available", self.contacts_available)
        if self.max_lines is not None:
            _count("max_lines", self.max_lines)

    @property
    def agents_in_wrapup(self) -> int:
        return len(self.wrapup_remaining)

    @property
    def agents_on_call(self) -> int:
        return len(self.talk_elapsed)

    @property
    def calls_in_flight(self) -> int:
        """Calls dialing or ringing, not answered yet."""
        return len(self.ring_elapsed)

    @property
    def agents_paused(self) -> int:
        return (self.agents_logged_in - self.agents_idle - self.agents_in_wrapup
                - self.agents_on_call)


def _capped(state: DialerState, lines: int) -> int:
    """``lines`` within what the state allows: never negative, never beyond the contacts left
    or the lines the trunks allow."""
    if state.contacts_available is not None:
        lines = min(lines, state.contacts_available)
    if state.max_lines is not None:
        lines = min(lines, state.max_lines - state.calls_in_flight)
    return max(0, lines)


# -- the protocol and the simple modes ----------------------------------------------------------


@runtime_checkable
class Pacer(Protocol):
    """Decides how many new calls to place now; see the module docstring."""

    mode: str
    #: Seconds after which the decision should be asked again if nothing happened, or None.
    recheck_interval: float | None

    def decide(self, state: DialerState, stats: DialerStats, now: float) -> int: ...


class PreviewPacer:
    """Preview dialing: the agent reviews the contact (``preview_seconds``, used by the
    simulator) and starts the call; the dialer itself never places one."""

    mode: str = "preview"
    recheck_interval: float | None = None

    def __init__(self, preview_seconds: float = 5.0) -> None:
        self.preview_seconds = _in_range("preview_seconds", preview_seconds, 0.0, 3600.0)

    def decide(self, state: DialerState, stats: DialerStats, now: float) -> int:
        return 0


class ProgressivePacer:
    """``ratio`` lines per idle agent, minus the calls already dialing or ringing."""

    mode: str = "progressive"
    recheck_interval: float | None = None

    def __init__(self, ratio: float = 1.0) -> None:
        self.ratio = _in_range("ratio", ratio, 0.1, 20.0)

    def decide(self, state: DialerState, stats: DialerStats, now: float) -> int:
        if state.agents_logged_in == 0:
            return 0
        # The epsilon keeps 3 x 1.0 from flooring to 2 through float error.
        lines = math.floor(self.ratio * state.agents_idle + 1e-9) - state.calls_in_flight
        return _capped(state, lines)


def _vicidial_lines(level: float, state: DialerState, available_only: bool) -> int:
    """VICIdial's call count: level x counted agents, minus the calls already up (dialing,
    ringing, waiting and, when talking agents are counted, connected)."""
    if available_only:
        agents = state.agents_idle
        existing = state.calls_in_flight + state.calls_waiting
    else:
        agents = state.agents_idle + state.agents_on_call
        existing = state.calls_in_flight + state.calls_waiting + state.agents_on_call
    goal = math.floor(level * agents + 0.5)
    return _capped(state, goal - existing)


class RatioPacer:
    """VICIdial RATIO: a fixed dial level."""

    mode: str = "ratio"
    recheck_interval: float | None = None

    def __init__(self, level: float = 2.0, available_only_tally: bool = False) -> None:
        self.level = _in_range("level", level, 0.1, 20.0)
        self.available_only_tally = _flag("available_only_tally", available_only_tally)

    def decide(self, state: DialerState, stats: DialerStats, now: float) -> int:
        if state.agents_logged_in == 0:
            return 0
        return _vicidial_lines(self.level, state, self.available_only_tally)


class _TimeAverage:
    """Time-weighted mean of a piecewise-constant signal over the last ``window`` seconds."""

    __slots__ = ("_samples", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        if self._samples and self._samples[-1][0] >= now:
            self._samples.pop()
        self._samples.append((now, value))
        start = now - self.window
        # Keep the last sample at or before the window start: it holds the value from there.
        while len(self._samples) > 1 and self._samples[1][0] <= start:
            self._samples.popleft()

    def mean(self, now: float) -> float:
        if not self._samples:
            return 0.0
        start = now - self.window
        total = 0.0
        span = 0.0
        points = list(self._samples)
        for i, (t, value) in enumerate(points):
            begin = max(t, start)
            end = points[i + 1][0] if i + 1 < len(points) else now
            if end > begin:
                total += value * (end - begin)
                span += end - begin
        return total / span if span > 0 else points[-1][1]


_ADAPT_METHODS = ("adapt_hard_limit", "adapt_tapered", "adapt_average")


class AdaptivePacer:
    """VICIdial's ADAPT_HARD_LIMIT, ADAPT_TAPERED and ADAPT_AVERAGE (module docstring)."""

    recheck_interval: float | None = 1.0

    def __init__(
        self,
        method: str,
        *,
        initial_level: float = 1.0,
        max_level: float = 3.0,
        intensity: float = 0.0,
        dl_diff_target: float = 0.0,
        available_only_tally: bool = False,
        adjust_interval: float = 15.0,
        sample_window: float = 15.0,
        taper_hours: float = 10.0,
        min_calls_today: int = 50,
    ) -> None:
        if method not in _ADAPT_METHODS:
            raise PacerParameterError("method", f"must be one of {', '.join(_ADAPT_METHODS)}")
        self.mode = method
        self.max_level = _in_range("max_level", max_level, 1.0, 20.0)
        self.level = _in_range("initial_level", initial_level, 1.0, self.max_level)
        self.intensity = _in_range("intensity", intensity, -100.0, 100.0)
        self.dl_diff_target = _in_range("dl_diff_target", dl_diff_target, -1000.0, 1000.0)
        self.available_only_tally = _flag("available_only_tally", available_only_tally)
        self.adjust_interval = _in_range("adjust_interval", adjust_interval, 0.1, 3600.0)
        self.taper_hours = _in_range("taper_hours", taper_hours, 0.01, 48.0)
        self.min_calls_today = int(_in_range("min_calls_today", min_calls_today, 0, 1e9))
        window = _in_range("sample_window", sample_window, 0.1, 3600.0)
        self._differential = _TimeAverage(window)
        self._agents = _TimeAverage(window)
        self._next_adjust: float | None = None

    def decide(self, state: DialerState, stats: DialerStats, now: float) -> int:
        stats.tick(now)
        self._differential.add(now, state.agents_idle - state.calls_waiting)
        self._agents.add(now, state.agents_logged_in)
        if self._next_adjust is None:
            self._next_adjust = now + self.adjust_interval
        elif now >= self._next_adjust:
            self.adjust(state, stats, now)
            self._next_adjust = now + self.adjust_interval
        if state.agents_logged_in == 0:
            return 0
        return _vicidial_lines(self.level, state, self.available_only_tally)

    def adjust(self, state: DialerState, stats: DialerStats, now: float) -> float:
        """One of VICIdial's periodic level updates; returns the new level."""
        differential = self._differential.mean(now) + self.dl_diff_target
        agents = self._agents.mean(now)
        share = differential / agents if differential != 0 and agents != 0 else 0.0
        boost = self.intensity / 100.0
        # Positive intensity: rise faster, fall slower; negative: the reverse.
        share *= abs(boost - 1.0) if share < 0 else boost + 1.0
        level = min(self.level * (1.0 + share), self.max_level)
        level = max(level, 1.0)
        last_minute = stats.recent(60.0)
        if last_minute.dialed > 20 and last_minute.drop_rate_of_dialed > 0.5:
            level /= 2.0
        if (stats.dialed_today > self.min_calls_today
                and stats.abandon_rate_day > state.abandon_limit):
            if self.mode == "adapt_hard_limit":
                level = 1.0
            elif self.mode == "adapt_average":
                level /= 2.0
            else:
                left = None if state.shift_end is None else state.shift_end - now
                if left is None or left < 0:
                    level = 1.0
                else:
                    level *= min(1.0, left / 3600.0 / self.taper_hours)
        self.level = max(level, 1.0)
        return self.level


# -- the model-based pacer ----------------------------------------------------------------------

#: Seconds ahead at which answers and free agents are compared.
_HORIZON = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 45], dtype=np.float64)
#: Numbers of new calls are tried this many at a time (most decisions add a handful).
_CHUNK = 16

_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _normal_cdf(z: FloatArray) -> FloatArray:
    """Standard normal CDF (Abramowitz and Stegun 7.1.26, error < 1.5e-7), vectorised."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + _ERF_P * x)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    erf = 1.0 - poly * np.exp(-x * x)
    return np.asarray(0.5 * (1.0 + np.sign(z) * erf), dtype=np.float64)


class PredictivePacer:
    """Model-based predictive pacing.

    For each instant ``t`` of a horizon (1 s to 45 s ahead) it estimates, as means and variances
    of sums of independent chances:

    - the people who will have answered by ``t``: calls waiting now, plus each call in flight
      with its chance of being answered by ``t`` given that it has rung ``e`` seconds unanswered
      (Bayes on the answer rate, the answer-delay distribution and the distribution of attempts
      that reach nobody), plus ``answer_rate x P(answer delay <= t)`` for each new call; the
      answer rate's own uncertainty (it rests on a few hundred outcomes) adds a variance shared
      by all of them, which makes large bursts on thin evidence expensive;
    - the agents free by ``t`` plus the hold limit: idle ones, wrap-ups ending, and each talking
      agent with the chance that the call ends (talk-time distribution, conditioned on the
      elapsed talk) early enough for the mean wrap-up to end too.

    The risk of one more call is the chance that, if answered, it finds no agent: over its
    answer-time distribution, the chance that the people answered by then (counting the calls
    placed before it) are at least the agents free by then plus the hold limit (normal
    approximation). Calls are added while that risk stays under ``aggressiveness x abandon_limit
    x headroom``; the same price of an abandoned call at every decision maximises the answered
    calls for the abandonment spent. ``headroom`` is the share of the limit (less a ``safety``
    reserve) still unused by the measured abandon rate, the worse of the rolling window and the
    day, each smoothed with ``prior_weight`` answered calls at half the limit: the margin
    tightens as the measured rate approaches the limit, and once it is reached only calls with
    ``min_headroom`` of the usual risk go out.
    """

    mode: str = "predictive"
    recheck_interval: float | None

    def __init__(
        self,
        aggressiveness: float = 1.0,
        safety: float = 0.2,
        max_hold: float = 2.0,
        max_ratio: float = 10.0,
        prior_weight: float = 30.0,
        min_headroom: float = 0.02,
        recheck_interval: float = 1.0,
    ) -> None:
        self.aggressiveness = _in_range("aggressiveness", aggressiveness, 0.0, 100.0)
        self.safety = _in_range("safety", safety, 0.0, 0.9)
        self.max_hold = _in_range("max_hold", max_hold, 0.0, 60.0)
        self.max_ratio = _in_range("max_ratio", max_ratio, 1.0, 50.0)
        self.prior_weight = _in_range("prior_weight", prior_weight, 0.0, 1e6)
        self.min_headroom = _in_range("min_headroom", min_headroom, 0.0, 1.0)
        self.recheck_interval = _in_range("recheck_interval", recheck_interval, 0.05, 3600.0)
        self._ahead = _HORIZON + self.max_hold

    # The threshold ----------------------------------------------------------------------------

    def measured_abandon_rate(self, state: DialerState, stats: DialerStats) -> float:
        """The worse of the rolling-window and the day's abandon rates, each smoothed."""
        prior = state.abandon_limit / 2.0
        k = self.prior_weight
        window = (stats.abandoned_window + k * prior) / (stats.answered_window + k or 1.0)
        day = (stats.abandoned_today + k * prior) / (stats.answered_today + k or 1.0)
        return max(window, day)

    def threshold(self, state: DialerState, stats: DialerStats) -> float:
        """Largest expected abandonment per expected answer the next call may add."""
        target = state.abandon_limit * (1.0 - self.safety)
        if target <= 0:
            return 1e-6
        headroom = (target - self.measured_abandon_rate(state, stats)) / target
        headroom = min(1.0, max(self.min_headroom, headroom))
        return self.aggressiveness * state.abandon_limit * headroom

    # The decision -----------------------------------------------------------------------------

    def decide(self, state: DialerState, stats: DialerStats, now: float) -> int:
        stats.tick(now)
        staffed = state.agents_idle + state.agents_in_wrapup + state.agents_on_call
        if state.agents_logged_in == 0 or staffed == 0:
            return 0
        cap = _capped(state, math.floor(self.max_ratio * staffed) - state.calls_in_flight)
        if cap <= 0:
            return 0
        p = min(max(stats.answer_rate, 1e-3), 1.0)
        answers_mean, answers_var = self._answers(state, stats, p)
        agents_mean, agents_var = self._agents_free(state, stats)
        reached = stats.answer_delays.cdf(_HORIZON)
        per_call = p * reached
        per_call_var = per_call * (1.0 - per_call)
        # When a new call is answered, if at all: its weight on each step of the horizon.
        weights = reached.copy()
        weights[1:] -= reached[:-1]
        weights /= max(float(reached[-1]), 1e-9)
        base_mean = answers_mean - agents_mean
        base_var = answers_var + agents_var
        # Every call's chance rests on the same measured answer rate: its error moves all the
        # answers together, a variance growing with the square of the answers expected.
        rate_var = (1.0 - p) / (p * max(stats.answer_rate_weight, 1.0))
        ringing = answers_mean - state.calls_waiting
        price = self.threshold(state, stats)
        # The risk of each further call only grows with the calls placed before it, so the
        # first call too likely to find no agent ends the search.
        start = 0
        while start < cap:
            before = np.arange(start, min(start + _CHUNK, cap), dtype=np.float64)[:, None]
            expected = ringing[None, :] + before * per_call[None, :]
            var = base_var[None, :] + before * per_call_var[None, :] + expected**2 * rate_var
            # The next call finds no agent at t if the others answered by t are at least the
            # agents free by then (half a call of continuity correction).
            short = _normal_cdf(
                (base_mean[None, :] + before * per_call[None, :] + 0.5)
                / np.sqrt(np.maximum(var, 1e-9)))
            risk = short @ weights
            over = np.flatnonzero(risk > price)
            if over.size:
                return start + int(over[0])
            start += _CHUNK
        return cap

    def _answers(
        self, state: DialerState, stats: DialerStats, p: float
    ) -> tuple[FloatArray, FloatArray]:
        """Mean and variance of people answered by each horizon instant, from calls up now."""
        mean = np.full(_HORIZON.shape, float(state.calls_waiting))
        if not state.ring_elapsed:
            return mean, np.zeros(_HORIZON.shape)
        elapsed = np.array(state.ring_elapsed, dtype=np.float64)
        answer_left = stats.answer_delays.survival(elapsed)
        alive = p * answer_left + (1.0 - p) * stats.unanswered_durations.survival(elapsed)
        later = stats.answer_delays.survival(elapsed[:, None] + _HORIZON)
        # Survival only falls, so each chance is within [0, 1]; a call past every sample of
        # both distributions (alive == 0) is given none.
        chance = np.divide(p * (answer_left[:, None] - later), alive[:, None],
                           out=np.zeros_like(later), where=alive[:, None] > 0)
        total = chance.sum(axis=0)
        return mean + total, total - (chance * chance).sum(axis=0)

    def _agents_free(
        self, state: DialerState, stats: DialerStats
    ) -> tuple[FloatArray, FloatArray]:
        """Mean and variance of agents free by each horizon instant plus the hold limit."""
        ahead = self._ahead
        mean = np.full(ahead.shape, float(state.agents_idle))
        if state.wrapup_remaining:
            remaining = np.sort(np.array(state.wrapup_remaining, dtype=np.float64))
            mean += remaining.searchsorted(ahead, "right")
        if not state.talk_elapsed:
            return mean, np.zeros(ahead.shape)
        talk = stats.talk_times
        elapsed = np.array(state.talk_elapsed, dtype=np.float64)
        # The talk must end this soon for the wrap-up to end in time too.
        budget = np.maximum(ahead - stats.wrapup_time, 0.0)
        left_now = talk.survival(elapsed)[:, None]
        left_then = talk.survival(elapsed[:, None] + budget)
        # Past every measured talk time the sample says nothing: assume a memoryless tail.
        tail = np.broadcast_to(1.0 - np.exp(-budget / max(talk.mean, 1.0)), left_then.shape)
        chance = np.divide(left_now - left_then, left_now, out=tail.copy(), where=left_now > 0)
        total = chance.sum(axis=0)
        return mean + total, total - (chance * chance).sum(axis=0)


def dial_level(pacer: Pacer) -> float | None:
    """The lines per agent ``pacer`` dials at now, as VICIdial's real-time report shows its
    dial level: a ratio or adaptive pacer's level (the adaptive ones move it), a progressive
    pacer's ratio. None where the lines are worked out call by call (predictive) or the
    agent dials (preview)."""
    if isinstance(pacer, RatioPacer | AdaptivePacer):
        return pacer.level
    if isinstance(pacer, ProgressivePacer):
        return pacer.ratio
    return None


# -- the registry -------------------------------------------------------------------------------

PACERS: dict[str, Callable[..., Pacer]] = {
    "preview": PreviewPacer,
    "progressive": ProgressivePacer,
    "predictive": PredictivePacer,
    "ratio": RatioPacer,
    "adapt_hard_limit": partial(AdaptivePacer, "adapt_hard_limit"),
    "adapt_tapered": partial(AdaptivePacer, "adapt_tapered"),
    "adapt_average": partial(AdaptivePacer, "adapt_average"),
}


def mode_key(mode: str) -> str:
    """A dial mode's registry key: case and dashes do not matter (``ADAPT_HARD_LIMIT``)."""
    return mode.strip().lower().replace("-", "_")


def pacer_parameters(mode: str) -> tuple[str, ...]:
    """The parameter names a dial mode accepts."""
    factory = PACERS[mode_key(mode)]
    return tuple(
        name for name, param in inspect.signature(factory).parameters.items()
        if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
    )


def make_pacer(mode: str, **params: Any) -> Pacer:
    """The pacer for ``mode`` with ``params``; `PacerParameterError` names a bad mode or
    parameter."""
    if not isinstance(mode, str):
        raise PacerParameterError("mode", f"must be a dial mode name, not {mode!r}")
    key = mode_key(mode)
    if key not in PACERS:
        raise PacerParameterError(
            "mode", f"unknown dial mode {mode!r}; choose from {', '.join(PACERS)}")
    accepted = pacer_parameters(key)
    for name in params:
        if name not in accepted:
            known = ", ".join(accepted) or "none"
            raise PacerParameterError(
                name, f"not a parameter of the {key} mode (accepted: {known})")
    return PACERS[key](**params)
