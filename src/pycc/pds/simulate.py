"""Discrete-event simulation of a dialing campaign on a simulated clock.

``simulate(config)`` runs one shift of ``agents`` agents who stay logged in for ``hours``, a
campaign dialing customers through the same `Pacer` classes the live dialer uses (chosen with
``mode`` and ``pacer_params`` through `make_pacer`), fed with the same `DialerStats`. Every state
change (a call placed, answered, ended, an agent free) is an event on a heap; the pacer is asked
after each one, and again after its ``recheck_interval`` when nothing happens.

The customers (each dialed call reaches a new contact):

- a person answers with probability ``answer_rate`` after a ring time drawn from a lognormal
  (``answer_delay_mean``, ``answer_delay_sigma``) kept below the no-answer timeout;
- an answering machine answers with probability ``machine_rate``; it is recognised
  ``amd_delay`` seconds after answering and hung up, never connected;
- busy (``busy_rate``) and failed (``failed_rate``) attempts end after a few seconds;
- the rest ring until ``no_answer_timeout`` (at least 15 s) and count as no answer.

An answered person is connected at once to the longest-idle agent; if none is idle, the person
waits up to ``max_hold`` seconds (2 s: the issue's answer-to-agent limit) for an agent to come
free, then hears the apology message and counts as abandoned. Talk times are lognormal
(``talk_mean``, ``talk_sigma``), then ``wrapup`` seconds of wrap-up. In preview mode each agent
reviews a contact for the pacer's ``preview_seconds``, then dials it and waits for the outcome.

Dialing stops at the end of the shift; calls already up run to their end so every attempt has an
outcome: ``dialed = answered + machines + busy + failed + no_answer`` and
``answered = connected + abandoned`` (answered counts people only; machines are apart).
``occupancy`` is talk plus wrap-up time inside the shift over the agents' logged-in time.

Each contact's behaviour (outcome, ring time, talk time) is drawn from a stream indexed by the
contact's position in the dialing order, so with the same seed every mode meets the same
customers in the same order (common random numbers: differences are the pacers', not luck's).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

from pycc.pds.pacing import (
    DialerState,
    Pacer,
    PacerParameterError,
    PreviewPacer,
    make_pacer,
    mode_key,
    pacer_parameters,
)
from pycc.pds.stats import DialerStats

__all__ = [
    "SimulationConfig",
    "SimulationConfigError",
    "SimulationResult",
    "simulate",
]

#: The issue's floor for a no-answer: the customer's phone rang at least this long.
MIN_NO_ANSWER_SECONDS = 15.0
#: The rolling window the worst abandon rate is reported over (seconds).
ROLLING_WINDOW = 1800.0

_NORMAL = NormalDist()


class SimulationConfigError(ValueError):
    """A simulation parameter is not acceptable; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated shift; every duration is in seconds, every rate a fraction."""

    mode: str = "predictive"
    agents: int = 50
    hours: float = 8.0
    answer_rate: float = 0.25
    machine_rate: float = 0.0
    busy_rate: float = 0.05
    failed_rate: float = 0.0
    answer_delay_mean: float = 8.0
    answer_delay_sigma: float = 0.5
    no_answer_timeout: float = 25.0
    busy_delay: float = 4.0
    failed_delay: float = 2.0
    amd_delay: float = 3.0
    talk_mean: float = 120.0
    talk_sigma: float = 0.8
    wrapup: float = 10.0
    max_hold: float = 2.0
    abandon_limit: float = 0.03
    contacts: int | None = None
    seed: int | None = None
    pacer_params: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise `SimulationConfigError` naming the first unacceptable field."""
        _check_int("agents", self.agents, 1, 100_000)
        _check_float("hours", self.hours, 1e-3, 24.0 * 31)
        for name in ("answer_rate", "machine_rate", "busy_rate", "failed_rate"):
            _check_float(name, getattr(self, name), 0.0, 1.0)
        if self.answer_rate + self.machine_rate + self.busy_rate + self.failed_rate > 1.0 + 1e-12:
            raise SimulationConfigError(
                "answer_rate", "answer, machine, busy and failed rates add up to more than 1")
        _check_float("answer_delay_mean", self.answer_delay_mean, 0.1, 600.0)
        _check_float("answer_delay_sigma", self.answer_delay_sigma, 0.0, 3.0)
        _check_float("no_answer_timeout", self.no_answer_timeout, MIN_NO_ANSWER_SECONDS, 600.0)
        if self.answer_delay_mean >= self.no_answer_timeout:
            raise SimulationConfigError(
                "answer_delay_mean", "must be shorter than the no-answer timeout")
        _check_float("busy_delay", self.busy_delay, 0.0, 600.0)
        _check_float("failed_delay", self.failed_delay, 0.0, 600.0)
        _check_float("amd_delay", self.amd_delay, 0.0, 60.0)
        _check_float("talk_mean", self.talk_mean, 0.1, 86400.0)
        _check_float("talk_sigma", self.talk_sigma, 0.0, 3.0)
        _check_float("wrapup", self.wrapup, 0.0, 86400.0)
        _check_float("max_hold", self.max_hold, 0.0, 600.0)
        _check_float("abandon_limit", self.abandon_limit, 0.0, 0.999)
        if self.contacts is not None:
            _check_int("contacts", self.contacts, 0, 10**9)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, 2**63)
        if not isinstance(self.mode, str):
            raise SimulationConfigError("mode", f"must be a dial mode name, not {self.mode!r}")
        self.make_pacer()

    def make_pacer(self) -> Pacer:
        """The configured pacer; the predictive one learns the simulated hold limit."""
        params = dict(self.pacer_params)
        try:
            if (mode_key(self.mode) == "predictive" and "max_hold" not in params
                    and "max_hold" in pacer_parameters("predictive")):
                params["max_hold"] = self.max_hold
            return make_pacer(self.mode, **params)
        except PacerParameterError as exc:
            name = "mode" if exc.parameter == "mode" else f"pacer_params.{exc.parameter}"
            raise SimulationConfigError(name, exc.reason) from None


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SimulationConfigError(name, f"must be a number, not {value!r}")
    if not low <= value <= high:
        raise SimulationConfigError(name, f"must be between {low:g} and {high:g}, not {value:g}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimulationConfigError(name, f"must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise SimulationConfigError(name, f"must be between {low} and {high}, not {value}")


@dataclass(frozen=True)
class SimulationResult:
    """What one simulated shift produced."""

    mode: str
    seed: int
    agents: int
    hours: float
    dialed: int
    answered: int
    connected: int
    abandoned: int
    machines: int
    no_answer: int
    busy: int
    failed: int
    abandon_rate: float
    occupancy: float
    connects_per_agent_hour: float
    mean_answer_to_agent: float
    p95_answer_to_agent: float
    worst_window_abandon_rate: float | None
    decisions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Event kinds, in the order simultaneous events are handled.
_WRAP_END, _TALK_END, _HOLD_END, _ANSWER, _MACHINE, _BUSY, _FAILED, _NO_ANSWER = range(8)
_PREVIEW_DIAL, _RECHECK = 8, 9


@dataclass(slots=True)
class _Call:
    contact: int
    dialed_at: float
    owner: int | None  # the agent who started it (preview), else None
    talk: float
    answered_at: float = 0.0


class _Shift:
    """The running simulation; `simulate` builds one and reads its counters."""

    def __init__(self, config: SimulationConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.pacer = config.make_pacer()
        self.preview = isinstance(self.pacer, PreviewPacer)
        self.stats = DialerStats(
            prior_answer_rate=min(0.25, 1.0 - config.machine_rate),
            prior_machine_rate=config.machine_rate,
        )
        self.end = config.hours * 3600.0
        self.now = 0.0
        self.events: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.calls: dict[int, _Call] = {}
        self.in_flight: dict[int, float] = {}
        self.waiting: dict[int, float] = {}
        self.agent_until = [0.0] * config.agents  # talk start, or wrap-up end
        self.agent_talk = [0.0] * config.agents
        self.idle: deque[int] = deque(range(config.agents))
        self.talking: set[int] = set()
        self.in_wrapup: set[int] = set()
        self.next_contact = 0
        self.next_call = 0
        self.recheck_at: float | None = None
        self.last_decision = -math.inf
        self.busy_seconds = 0.0
        self.waits: list[float] = []
        self.answer_log: list[tuple[float, bool]] = []  # (answered at, abandoned)
        self.decisions = 0
        self.counts = dict.fromkeys(
            ("dialed", "answered", "connected", "abandoned", "machines", "no_answer", "busy",
             "failed"), 0)
        a = config.answer_delay_sigma
        self._delay_mu = math.log(config.answer_delay_mean) - a * a / 2.0
        # The ring time of an answer is kept a little under the no-answer timeout.
        self._delay_cap = _NORMAL.cdf(
            (math.log(config.no_answer_timeout - 0.5) - self._delay_mu) / a) if a > 0 else 1.0
        t = config.talk_sigma
        self._talk_mu = math.log(config.talk_mean) - t * t / 2.0

    # -- the heap ---------------------------------------------------------------------------------

    def at(self, when: float, kind: int, subject: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, kind, self.seq, subject))

    def run(self) -> None:
        if self.preview:
            for agent in list(self.idle):
                self.start_preview(agent)
            self.idle.clear()
        self.decide()
        while self.events:
            when, kind, _, subject = heapq.heappop(self.events)
            self.now = when
            self.handle(kind, subject)
            if kind == _RECHECK and self.last_decision + self._recheck_interval() > when + 1e-9:
                # Something already made the pacer decide since this timer was set.
                self.schedule_recheck(self.last_decision + self._recheck_interval())
                continue
            self.decide()

    def _recheck_interval(self) -> float:
        return self.pacer.recheck_interval or math.inf

    def schedule_recheck(self, when: float) -> None:
        if when >= self.end or math.isinf(when):
            return
        if self.recheck_at is None or when < self.recheck_at:
            self.recheck_at = when
            self.at(when, _RECHECK, 0)

    # -- customers --------------------------------------------------------------------------------

    def _uniforms(self, contact: int) -> tuple[float, float, float, float]:
        # One small generator per contact: the same contact behaves alike in every mode.
        rng = random.Random(self.seed * 1_000_003 + contact)
        return rng.random(), rng.random(), rng.random(), rng.random()

    def place_call(self, owner: int | None = None) -> bool:
        cfg = self.config
        if cfg.contacts is not None and self.next_contact >= cfg.contacts:
            return False
        contact = self.next_contact
        self.next_contact += 1
        outcome, delay_u, talk_u, jitter_u = self._uniforms(contact)
        if cfg.answer_delay_sigma > 0:
            z = _NORMAL.inv_cdf(min(max(delay_u * self._delay_cap, 1e-12), 1 - 1e-12))
            ring = math.exp(self._delay_mu + cfg.answer_delay_sigma * z)
        else:
            ring = cfg.answer_delay_mean
        talk = cfg.talk_mean
        if cfg.talk_sigma > 0:
            talk = math.exp(self._talk_mu + cfg.talk_sigma * _NORMAL.inv_cdf(
                min(max(talk_u, 1e-12), 1 - 1e-12)))
        call_id = self.next_call
        self.next_call += 1
        self.calls[call_id] = _Call(contact, self.now, owner, talk)
        self.in_flight[call_id] = self.now
        self.counts["dialed"] += 1
        self.stats.record_dialed(self.now)
        jitter = 0.5 + jitter_u
        if outcome < cfg.answer_rate:
            self.at(self.now + ring, _ANSWER, call_id)
        elif outcome < cfg.answer_rate + cfg.machine_rate:
            self.at(self.now + ring + cfg.amd_delay, _MACHINE, call_id)
        elif outcome < cfg.answer_rate + cfg.machine_rate + cfg.busy_rate:
            self.at(self.now + cfg.busy_delay * jitter, _BUSY, call_id)
        elif outcome < cfg.answer_rate + cfg.machine_rate + cfg.busy_rate + cfg.failed_rate:
            self.at(self.now + cfg.failed_delay * jitter, _FAILED, call_id)
        else:
            self.at(self.now + cfg.no_answer_timeout, _NO_ANSWER, call_id)
        return True

    # -- events -----------------------------------------------------------------------------------

    def handle(self, kind: int, subject: int) -> None:
        if kind == _RECHECK:
            self.recheck_at = None
        elif kind == _ANSWER:
            self.answered(subject)
        elif kind in (_MACHINE, _BUSY, _FAILED, _NO_ANSWER):
            self.unanswered(kind, subject)
        elif kind == _HOLD_END:
            self.hold_ended(subject)
        elif kind == _TALK_END:
            self.talk_ended(subject)
        elif kind == _WRAP_END:
            self.wrapup_ended(subject)
        elif kind == _PREVIEW_DIAL:
            self.preview_dial(subject)

    def answered(self, call_id: int) -> None:
        call = self.calls[call_id]
        del self.in_flight[call_id]
        call.answered_at = self.now
        self.counts["answered"] += 1
        self.stats.record_answered(self.now, self.now - call.dialed_at)
        if call.owner is not None:
            self.connect(call.owner, call_id)
        elif self.idle:
            self.connect(self.idle.popleft(), call_id)
        else:
            self.waiting[call_id] = self.now
            self.at(self.now + self.config.max_hold, _HOLD_END, call_id)

    def unanswered(self, kind: int, call_id: int) -> None:
        call = self.calls.pop(call_id)
        del self.in_flight[call_id]
        ring = self.now - call.dialed_at
        if kind == _MACHINE:
            self.counts["machines"] += 1
            self.stats.record_machine(self.now, ring)
        elif kind == _BUSY:
            self.counts["busy"] += 1
            self.stats.record_busy(self.now, ring)
        elif kind == _FAILED:
            self.counts["failed"] += 1
            self.stats.record_failed(self.now, ring)
        else:
            self.counts["no_answer"] += 1
            self.stats.record_no_answer(self.now, ring)
        if call.owner is not None:
            self.start_preview(call.owner)

    def hold_ended(self, call_id: int) -> None:
        answered_at = self.waiting.pop(call_id, None)
        if answered_at is None:
            return  # an agent took it in time
        del self.calls[call_id]
        self.counts["abandoned"] += 1
        self.answer_log.append((answered_at, True))
        self.stats.record_abandoned(self.now)

    def connect(self, agent: int, call_id: int) -> None:
        call = self.calls.pop(call_id)
        wait = self.now - call.answered_at
        self.counts["connected"] += 1
        self.waits.append(wait)
        self.answer_log.append((call.answered_at, False))
        self.stats.record_connected(self.now, wait)
        self.agent_until[agent] = self.now
        self.agent_talk[agent] = call.talk
        self.talking.add(agent)
        busy_end = self.now + call.talk + self.config.wrapup
        self.busy_seconds += max(0.0, min(busy_end, self.end) - min(self.now, self.end))
        self.at(self.now + call.talk, _TALK_END, agent)

    def talk_ended(self, agent: int) -> None:
        self.talking.discard(agent)
        self.in_wrapup.add(agent)
        self.agent_until[agent] = self.now + self.config.wrapup
        self.at(self.now + self.config.wrapup, _WRAP_END, agent)

    def wrapup_ended(self, agent: int) -> None:
        self.in_wrapup.discard(agent)
        self.stats.record_handled(self.now, self.agent_talk[agent], self.config.wrapup)
        if self.preview:
            self.start_preview(agent)
            return
        if self.waiting:
            call_id = next(iter(self.waiting))  # the longest waiting
            del self.waiting[call_id]
            self.connect(agent, call_id)
            return
        self.idle.append(agent)

    def start_preview(self, agent: int) -> None:
        assert isinstance(self.pacer, PreviewPacer)
        self.at(self.now + self.pacer.preview_seconds, _PREVIEW_DIAL, agent)

    def preview_dial(self, agent: int) -> None:
        if self.now >= self.end or not self.place_call(owner=agent):
            self.idle.append(agent)

    # -- the pacer --------------------------------------------------------------------------------

    def state(self) -> DialerState:
        now = self.now
        contacts = self.config.contacts
        return DialerState(
            agents_logged_in=self.config.agents,
            agents_idle=len(self.idle),
            wrapup_remaining=tuple(max(0.0, self.agent_until[a] - now) for a in self.in_wrapup),
            talk_elapsed=tuple(now - self.agent_until[a] for a in self.talking),
            ring_elapsed=tuple(now - t for t in self.in_flight.values()),
            calls_waiting=len(self.waiting),
            abandon_limit=self.config.abandon_limit,
            shift_end=self.end,
            contacts_available=None if contacts is None else contacts - self.next_contact,
        )

    def decide(self) -> None:
        if self.now >= self.end:
            return
        self.decisions += 1
        self.last_decision = self.now
        lines = self.pacer.decide(self.state(), self.stats, self.now)
        if lines < 0:
            raise RuntimeError(f"{self.pacer.mode} pacer asked for {lines} calls")
        for _ in range(lines):
            if not self.place_call():
                break
        if self.pacer.recheck_interval is not None:
            self.schedule_recheck(self.now + self.pacer.recheck_interval)


def _worst_window_rate(log: list[tuple[float, bool]], window: float, end: float) -> float | None:
    """Highest abandoned / answered over any full ``window`` inside the shift (windows with
    fewer than 30 answered calls are too noisy to count); None if the shift is shorter."""
    if end < window:
        return None
    log = sorted(log)
    times = [t for t, _ in log]
    worst: float | None = None
    start = 0
    abandoned = 0
    for i, (t, dropped) in enumerate(log):
        abandoned += dropped
        while times[start] <= t - window:
            abandoned -= log[start][1]
            start += 1
        answered = i + 1 - start
        if t >= window and answered >= 30:
            rate = abandoned / answered
            worst = rate if worst is None else max(worst, rate)
    return worst


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def simulate(config: SimulationConfig) -> SimulationResult:
    """Run one shift; `SimulationConfigError` names a bad parameter."""
    config.validate()
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**31)
    shift = _Shift(config, seed)
    shift.run()
    counts = shift.counts
    answered = counts["answered"]
    logged_in = config.agents * shift.end
    return SimulationResult(
        mode=mode_key(config.mode),
        seed=seed,
        agents=config.agents,
        hours=config.hours,
        dialed=counts["dialed"],
        answered=answered,
        connected=counts["connected"],
        abandoned=counts["abandoned"],
        machines=counts["machines"],
        no_answer=counts["no_answer"],
        busy=counts["busy"],
        failed=counts["failed"],
        abandon_rate=counts["abandoned"] / answered if answered else 0.0,
        occupancy=shift.busy_seconds / logged_in,
        connects_per_agent_hour=counts["connected"] / (config.agents * config.hours),
        mean_answer_to_agent=sum(shift.waits) / len(shift.waits) if shift.waits else 0.0,
        p95_answer_to_agent=_percentile(shift.waits, 0.95),
        worst_window_abandon_rate=_worst_window_rate(shift.answer_log, ROLLING_WINDOW, shift.end),
        decisions=shift.decisions,
    )
