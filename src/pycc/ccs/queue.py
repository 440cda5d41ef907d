"""Queues of waiting callers and the `Distributor` that matches them to agents.

A `CallQueue` holds its waiting callers in service order: higher priority first, then first
come. Its `QueueConfig` says who may serve it (a `SkillSchedule` that relaxes with waiting
time), how to choose among idle agents (`QueueStrategy`), ring timeout, wrap-up time, and the
overflow rules: a full queue refuses (``queue-full``), a caller waiting past ``max_wait`` leaves
(``max-wait``), and a queue nobody is logged in to serve sends callers away at once
(``no-agents``); each to the configured `OverflowTarget` (another queue, an IVR flow,
voicemail), which is data for the service to act on.

The `Distributor` owns every `Agent` state machine and every queue. It is event-driven: each
input (a call enqueued, an agent event, `tick` for timers, relaxation and timeouts) returns the
decisions to carry out, in order: `OfferCall`, `RingAll`, `CallBackThenOffer`, `WithdrawOffer`,
`OverflowCall`, `AnnouncePosition`, `CallLeftQueue` (each call leaves exactly once: answered,
abandoned or overflowed), the agents' `AgentTransition` records, and `Refused` for inputs that
do not apply. Nothing here does I/O or reads a clock: ``now`` is passed in.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from pycc.ccs.agent import Agent, AgentResult, AgentState, AgentStatus, AgentTransition, Refused
from pycc.ccs.estimates import QueueSnapshot, QueueStatistics, estimated_wait
from pycc.ccs.skills import SkillSchedule, qualifies, skill_levels
from pycc.ccs.strategies import STRATEGIES, ChoiceContext, QueueStrategy, choose

__all__ = [
    "AnnouncePosition",
    "CallBackThenOffer",
    "CallLeftQueue",
    "CallOutcome",
    "CallQueue",
    "Decision",
    "Distributor",
    "OfferCall",
    "OverflowCall",
    "OverflowKind",
    "OverflowReason",
    "OverflowTarget",
    "QueueConfig",
    "QueueError",
    "RingAll",
    "WaitingCall",
    "WithdrawOffer",
]


class QueueError(ValueError):
    """A queue definition that cannot be used."""


class OverflowKind(enum.Enum):
    QUEUE = "queue"
    IVR = "ivr"
    VOICEMAIL = "voicemail"


class OverflowReason(enum.Enum):
    QUEUE_FULL = "queue-full"
    MAX_WAIT = "max-wait"
    NO_AGENTS = "no-agents"


class CallOutcome(enum.Enum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"


@dataclass(frozen=True, slots=True)
class OverflowTarget:
    """Where callers go when the queue sends them away: ``{queue: support}`` in the config."""

    kind: OverflowKind
    name: str


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue's rules. ``agent_order`` ranks agents for linear and round-robin (default: the
    order agents were added); ``service_level_target`` is T in "answered within T seconds".
    """

    name: str
    skills: SkillSchedule = field(default_factory=lambda: SkillSchedule([]))
    strategy: QueueStrategy | str = QueueStrategy.LONGEST_IDLE
    ring_timeout: float = 15.0
    wrap_up: float = 5.0
    max_wait: float | None = None
    max_size: int | None = None
    overflow: OverflowTarget | None = None
    agent_order: tuple[str, ...] = ()
    service_level_target: float = 20.0

    def __post_init__(self) -> None:
        if not self.name:
            raise QueueError("a queue needs a name")
        if isinstance(self.strategy, str):
            try:
                object.__setattr__(self, "strategy", QueueStrategy(self.strategy))
            except ValueError:
                if self.strategy not in STRATEGIES:
                    raise QueueError(f"{self.name}: unknown strategy {self.strategy!r}") from None
        if not self.ring_timeout > 0:
            raise QueueError(f"{self.name}: ring_timeout must be > 0, not {self.ring_timeout}")
        if not self.wrap_up >= 0:
            raise QueueError(f"{self.name}: wrapup must be >= 0, not {self.wrap_up}")
        if self.max_wait is not None and not self.max_wait > 0:
            raise QueueError(f"{self.name}: max_wait must be > 0, not {self.max_wait}")
        if self.max_size is not None and self.max_size < 1:
            raise QueueError(f"{self.name}: max_size must be >= 1, not {self.max_size}")
        if len(set(self.agent_order)) != len(self.agent_order):
            raise QueueError(f"{self.name}: agent_order names an agent twice")


@dataclass(slots=True, eq=False)
class WaitingCall:
    """A caller in a queue. ``offered`` are the agents ringing now (several only for ring-all);
    ``tried`` those that rang without answering. A callback caller is not on the line: it keeps
    its place and is called back when its turn comes. A call for one ``agent`` (a callback
    an agent scheduled for themself) is offered to that agent only, when it is free.
    """

    call_id: str
    queue: str
    priority: int
    enqueued_at: float
    seq: int
    callback: bool = False
    agent: str | None = None
    tried: set[str] = field(default_factory=set)
    offered: set[str] = field(default_factory=set)
    announced: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return -self.priority, self.seq


class CallQueue:
    """The waiting callers of one queue in service order, with its statistics."""

    __slots__ = ("_keys", "calls", "config", "last_offered", "order", "stats")

    def __init__(self, config: QueueConfig, default_handle_time: float | None = None) -> None:
        self.config = config
        self.calls: list[WaitingCall] = []
        self._keys: list[tuple[int, int]] = []
        self.last_offered: str | None = None  # round-robin memory
        self.order: dict[str, int] = {a: i for i, a in enumerate(config.agent_order)}
        self.stats = QueueStatistics(config.service_level_target,
                                     default_handle_time=default_handle_time)

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[WaitingCall]:
        return iter(self.calls)

    def add(self, call: WaitingCall) -> int:
        """Insert in service order; returns the 1-based position."""
        i = bisect_right(self._keys, call.key)
        self._keys.insert(i, call.key)
        self.calls.insert(i, call)
        return i + 1

    def remove(self, call: WaitingCall) -> None:
        i = bisect_left(self._keys, call.key)
        if i < len(self.calls) and self.calls[i] is call:
            del self.calls[i]
            del self._keys[i]

    def position(self, call: WaitingCall) -> int:
        return bisect_left(self._keys, call.key) + 1


# -- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Ring ``agent_id`` with ``call_id`` for ``ring_timeout`` seconds."""

    call_id: str
    agent_id: str
    queue: str
    ring_timeout: float


@dataclass(frozen=True, slots=True)
class RingAll:
    """Ring all of ``agent_ids`` at once; the first to answer gets the call."""

    call_id: str
    agent_ids: tuple[str, ...]
    queue: str
    ring_timeout: float


@dataclass(frozen=True, slots=True)
class CallBackThenOffer:
    """The callback caller's turn: call them back, then connect ``agent_id`` (reserved)."""

    call_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class WithdrawOffer:
    """Stop ringing ``agent_id``: the caller left or another agent answered."""

    call_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OverflowCall:
    """Send the caller to ``target`` (None: no target configured, the service refuses it)."""

    call_id: str
    queue: str
    target: OverflowTarget | None
    reason: OverflowReason


@dataclass(frozen=True, slots=True)
class AnnouncePosition:
    """The caller's place changed; ``estimated_wait`` in seconds when it can be estimated."""

    call_id: str
    queue: str
    position: int
    estimated_wait: float | None


@dataclass(frozen=True, slots=True)
class CallLeftQueue:
    """The call's queue life is over: exactly one per call that entered (or tried to)."""

    call_id: str
    queue: str
    outcome: CallOutcome
    waited: float
    agent_id: str | None = None


Decision: TypeAlias = (
    OfferCall | RingAll | CallBackThenOffer | WithdrawOffer | OverflowCall | AnnouncePosition
    | CallLeftQueue | AgentTransition | Refused
)

_AGENT: Final = 0
_MAX_WAIT: Final = 1
_RELAX: Final = 2
_BLAMELESS: Final = frozenset({"withdrawn", "answered-elsewhere", "caller-abandoned"})

_AgentAction: TypeAlias = Callable[[Agent], AgentResult]


class Distributor:
    """Every queue and agent of one ACD, matching callers to agents at each state change.

    All agent events go through the distributor (`login`, `set_available`, `answered`,
    `call_ended`, ...) so it sees each agent become free and each call come back. `get_timer`
    and `tick` cover ring timeouts, wrap-up ends, relaxation steps and maximum waits.
    """

    def __init__(self, queues: Iterable[QueueConfig] = (), *, rng: random.Random | None = None,
                 default_handle_time: float | None = None) -> None:
        self.rng = rng if rng is not None else random.Random(0)
        self.default_handle_time = default_handle_time
        self.queues: dict[str, CallQueue] = {}
        self.agents: dict[str, Agent] = {}
        self._order: dict[str, int] = {}
        self._by_skill: dict[str, set[str]] = {}
        self._logged_in: set[str] = set()
        self._free: set[str] = set()
        self._calls: dict[str, WaitingCall] = {}
        # agent id -> (queue, answered at) of the queue call it is handling, for handle times
        self._handling: dict[str, tuple[str, float]] = {}
        self._queues_of: dict[str, tuple[CallQueue, ...]] = {}
        self._timers: list[tuple[float, int, int, str]] = []
        self._seq = itertools.count()
        self._dirty: set[str] = set()
        for config in queues:
            self.add_queue(config)

    # -- configuration -------------------------------------------------------------------------

    def add_queue(self, config: QueueConfig) -> CallQueue:
        if config.name in self.queues:
            raise QueueError(f"queue {config.name!r} exists")
        q = self.queues[config.name] = CallQueue(config, self.default_handle_time)
        self._queues_of.clear()
        return q

    def add_agent(self, agent_id: str, skills: Mapping[str, object] | None = None) -> Agent:
        if agent_id in self.agents:
            raise QueueError(f"agent {agent_id!r} exists")
        agent = self.agents[agent_id] = Agent(agent_id, skills)
        self._order[agent_id] = len(self._order)
        for name in agent.skills:
            self._by_skill.setdefault(name, set()).add(agent_id)
        self._queues_of.pop(agent_id, None)
        return agent

    def reconfigure_queue(self, config: QueueConfig) -> None:
        """Give an existing queue new settings (a configuration reload); its callers stay."""
        self.queues[config.name].config = config
        # Which agents serve it may have changed with its skills.
        self._queues_of.clear()
        self._dirty.add(config.name)

    def set_skills(self, agent_id: str, skills: Mapping[str, object],
                   now: float) -> list[Decision]:
        """Give an agent new skill levels (a configuration reload). A free agent is then
        offered the best waiting call its new skills serve."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return [Refused(agent_id, "set_skills", "unknown agent")]
        new = skill_levels(skills)
        if new == agent.skills:
            return []
        for name in agent.skills:
            holders = self._by_skill.get(name)
            if holders is not None:
                holders.discard(agent_id)
        agent.skills = new
        for name in new:
            self._by_skill.setdefault(name, set()).add(agent_id)
        self._queues_of.pop(agent_id, None)
        # The estimates of every queue count who serves it.
        self._dirty.update(self.queues)
        out: list[Decision] = []
        if agent.is_free:
            self._agent_free(agent, now, out)
        self._announce(now, out)
        return out

    def agent(self, agent_id: str) -> Agent | None:
        return self.agents.get(agent_id)

    def call(self, call_id: str) -> WaitingCall | None:
        return self._calls.get(call_id)

    # -- agent events --------------------------------------------------------------------------

    def login(self, agent_id: str, extension: str, now: float) -> list[Decision]:
        return self._agent_event(agent_id, "login", now, lambda a: a.login(extension, now))

    def logout(self, agent_id: str, now: float) -> list[Decision]:
        return self._agent_event(agent_id, "logout", now, lambda a: a.logout(now))

    def set_available(self, agent_id: str, now: float) -> list[Decision]:
        return self._agent_event(agent_id, "set_available", now, lambda a: a.set_available(now))

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> list[Decision]:
        return self._agent_event(agent_id, "set_not_ready", now,
                                 lambda a: a.set_not_ready(reason, now))

    def wrap_up_done(self, agent_id: str, now: float) -> list[Decision]:
        """The agent finished its wrap-up before the wrap-up time ran out."""
        return self._agent_event(agent_id, "wrap_up_done", now, lambda a: a.wrap_up_done(now))

    def phone_lost(self, agent_id: str, now: float) -> list[Decision]:
        return self._agent_event(agent_id, "phone_lost", now, lambda a: a.phone_lost(now))

    def force(self, agent_id: str, status: AgentStatus, now: float,
              reason: str = "supervisor") -> list[Decision]:
        return self._agent_event(agent_id, "force", now, lambda a: a.force(status, now, reason))

    def ring_no_answer(self, agent_id: str, now: float) -> list[Decision]:
        return self._agent_event(agent_id, "ring_no_answer", now, lambda a: a.ring_no_answer(now))

    def call_ended(self, agent_id: str, now: float) -> list[Decision]:
        """The agent's connected call ended; wrap-up follows for its queue's time."""
        handling = self._handling.get(agent_id)
        wrap_up = self.queues[handling[0]].config.wrap_up if handling else 0.0
        return self._agent_event(agent_id, "call_ended", now,
                                 lambda a: a.call_ended(now, wrap_up))

    def answered(self, call_id: str, agent_id: str, now: float) -> list[Decision]:
        """``agent_id`` answered ``call_id``; other ring-all offers are withdrawn."""
        agent = self.agents.get(agent_id)
        call = self._calls.get(call_id)
        if agent is None:
            return [Refused(agent_id, "answered", "unknown agent")]
        if call is None or agent_id not in call.offered or agent.call_id != call_id:
            return [Refused(agent_id, "answered", f"call {call_id!r} is not offered to it")]
        out: list[Decision] = []
        self._after_agent(agent, agent.answered(now), now, out)
        call.offered.discard(agent_id)
        q = self.queues[call.queue]
        self._leave(call, CallOutcome.ANSWERED, now, out, agent_id)
        self._handling[agent_id] = (q.config.name, now)
        self._withdraw_all(call, "answered-elsewhere", now, out)
        self._announce(now, out)
        return out

    def on_agent_free(self, agent_id: str, now: float) -> list[Decision]:
        """Give a free agent the best waiting call it can serve, if any."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return [Refused(agent_id, "on_agent_free", "unknown agent")]
        out: list[Decision] = []
        self._agent_free(agent, now, out)
        self._announce(now, out)
        return out

    # -- call events ---------------------------------------------------------------------------

    def on_call_enqueued(self, call_id: str, queue: str, now: float, *, priority: int = 0,
                         callback: bool = False, agent: str | None = None) -> list[Decision]:
        """A caller joins ``queue``: offered at once, queued, or sent to overflow. With
        ``agent`` it waits for that agent alone."""
        q = self.queues.get(queue)
        if q is None:
            return [Refused(call_id, "enqueue", f"no queue {queue!r}")]
        if call_id in self._calls:
            return [Refused(call_id, "enqueue", f"already in queue {self._calls[call_id].queue}")]
        out: list[Decision] = []
        cfg = q.config
        if agent is not None and agent not in self.agents:
            return [Refused(call_id, "enqueue", f"no agent {agent!r}")]
        call = WaitingCall(call_id, queue, priority, now, next(self._seq), callback, agent)
        if cfg.max_size is not None and len(q) >= cfg.max_size:
            self._overflow(call, OverflowReason.QUEUE_FULL, now, out, queued=False)
            return out
        if not self._anyone_logged_in(q):
            self._overflow(call, OverflowReason.NO_AGENTS, now, out, queued=False)
            return out
        q.add(call)
        self._calls[call_id] = call
        self._dirty.add(queue)
        if cfg.max_wait is not None:
            self._push(now + cfg.max_wait, _MAX_WAIT, call_id)
        self._push_relaxation(call, now)
        self._match_call(call, now, out)
        self._announce(now, out)
        return out

    def abandon(self, call_id: str, now: float) -> list[Decision]:
        """The caller hung up (or gave up a callback) before an agent answered."""
        call = self._calls.get(call_id)
        if call is None:
            return [Refused(call_id, "abandon", "not in a queue")]
        out: list[Decision] = []
        self._leave(call, CallOutcome.ABANDONED, now, out)
        self._withdraw_all(call, "caller-abandoned", now, out)
        self._announce(now, out)
        return out

    def request_callback(self, call_id: str, now: float) -> list[Decision]:
        """The caller asked to be called back: it leaves the line but keeps its place; when
        its turn comes the decision is `CallBackThenOffer`. Refused while an agent rings."""
        call = self._calls.get(call_id)
        if call is None:
            return [Refused(call_id, "callback", "not in a queue")]
        if call.offered:
            return [Refused(call_id, "callback", "an agent is ringing for this call")]
        call.callback = True
        self._dirty.add(call.queue)
        out: list[Decision] = []
        self._announce(now, out)
        return out

    # -- timers --------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The next instant `tick` has work to do, if any."""
        timers = self._timers
        # Cancelled timers stay in the heap (lazy deletion); drop the stale ones on top.
        while timers and not self._timer_live(timers[0]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def _timer_live(self, entry: tuple[float, int, int, str]) -> bool:
        deadline, _, kind, key = entry
        if kind == _AGENT:
            return self.agents[key].get_timer() == deadline
        call = self._calls.get(key)
        if call is None:
            return False
        if kind == _MAX_WAIT:
            max_wait = self.queues[call.queue].config.max_wait
            return max_wait is not None and call.enqueued_at + max_wait == deadline
        return call.enqueued_at < deadline

    def tick(self, now: float) -> list[Decision]:
        """Ring timeouts, wrap-up ends, skill relaxation and maximum waits due by ``now``."""
        out: list[Decision] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, kind, key = heapq.heappop(timers)
            if kind == _AGENT:
                agent = self.agents[key]
                for result in agent.handle_timer(now):
                    self._after_agent(agent, result, now, out)
                continue
            call = self._calls.get(key)
            if call is None:
                continue
            if kind == _MAX_WAIT:
                if not call.offered and self._waited_too_long(call, now):
                    self._overflow(call, OverflowReason.MAX_WAIT, now, out)
            else:
                self._push_relaxation(call, now)
                if not call.offered:
                    self._match_call(call, now, out)
        self._announce(now, out)
        return out

    # -- reports -------------------------------------------------------------------------------

    def position(self, call_id: str) -> int | None:
        call = self._calls.get(call_id)
        return None if call is None else self.queues[call.queue].position(call)

    def estimated_wait(self, call_id: str) -> float | None:
        call = self._calls.get(call_id)
        if call is None:
            return None
        q = self.queues[call.queue]
        return estimated_wait(q.position(call), q.stats.handle_time.value,
                              self._count_serving(q))

    def snapshot(self, queue: str, now: float) -> QueueSnapshot:
        q = self.queues[queue]
        free = sum(1 for _ in self._serving_agents(q.config.skills.final, self._free))
        return q.stats.snapshot(queue, now, (c.enqueued_at for c in q.calls),
                                self._count_serving(q), free)

    # -- internals: agents ---------------------------------------------------------------------

    def _agent_event(self, agent_id: str, event: str, now: float,
                     apply: _AgentAction) -> list[Decision]:
        agent = self.agents.get(agent_id)
        if agent is None:
            return [Refused(agent_id, event, "unknown agent")]
        out: list[Decision] = []
        self._after_agent(agent, apply(agent), now, out)
        self._announce(now, out)
        return out

    def _after_agent(self, agent: Agent, result: AgentResult, now: float,
                     out: list[Decision]) -> None:
        """React to one agent result: bookkeeping, the call it let go, and its being free."""
        if isinstance(result, Refused):
            out.append(result)
            return
        record = result.record
        out.append(record)
        agent_id = agent.agent_id
        if agent.logged_in:
            self._logged_in.add(agent_id)
        else:
            self._logged_in.discard(agent_id)
        if agent.is_free:
            self._free.add(agent_id)
        else:
            self._free.discard(agent_id)
        if record.from_state is not AgentState.IDLE and record.to_state is AgentState.IDLE:
            handling = self._handling.pop(agent_id, None)
            if handling is not None:
                queue, answered_at = handling
                self.queues[queue].stats.record_handled(now - answered_at)
        if result.released_call is not None:
            self._call_released(result.released_call, agent_id, record.reason, now, out)
        deadline = agent.get_timer()
        if deadline is not None and record.to_state is not record.from_state:
            if deadline <= now:
                for fired in agent.handle_timer(now):
                    self._after_agent(agent, fired, now, out)
                return
            self._push(deadline, _AGENT, agent_id)
        if agent.is_free:
            self._agent_free(agent, now, out)
        elif record.to_status is AgentStatus.OFFLINE:
            self._empty_queues(agent, now, out)

    def _agent_free(self, agent: Agent, now: float, out: list[Decision]) -> None:
        # Each round offers one call to someone, so the loop ends.
        for _ in range(len(self._calls) + 1):
            if not agent.is_free:
                return
            best: WaitingCall | None = None
            for q in self._queues_for(agent):
                schedule = q.config.skills
                # A ring-all call already ringing others rings the newly free agent too.
                joins = q.config.strategy is QueueStrategy.RING_ALL
                for call in q.calls:
                    if best is not None and call.key >= best.key:
                        break
                    if call.offered and (not joins or call.callback):
                        continue
                    if call.agent is not None and call.agent != agent.agent_id:
                        continue
                    if qualifies(agent.skills, schedule.needs_at(now - call.enqueued_at)):
                        best = call
                        break
            if best is None or not self._match_call(best, now, out):
                return

    def _queues_for(self, agent: Agent) -> tuple[CallQueue, ...]:
        """The queues this agent could ever serve (by their most relaxed requirement)."""
        found = self._queues_of.get(agent.agent_id)
        if found is None:
            found = tuple(q for q in self.queues.values()
                          if qualifies(agent.skills, q.config.skills.final))
            self._queues_of[agent.agent_id] = found
        return found

    def _serving_agents(self, needs: Mapping[str, int], pool: set[str]) -> Iterator[Agent]:
        """Agents of ``pool`` that meet ``needs``."""
        if needs:
            by_skill = self._by_skill
            rarest = min(needs, key=lambda n: len(by_skill.get(n, ())))
            ids: Iterable[str] = pool & by_skill.get(rarest, set())
        else:
            ids = pool
        agents = self.agents
        for agent_id in ids:
            agent = agents[agent_id]
            if qualifies(agent.skills, needs):
                yield agent

    def _anyone_logged_in(self, q: CallQueue) -> bool:
        return next(self._serving_agents(q.config.skills.final, self._logged_in), None) \
            is not None

    def _count_serving(self, q: CallQueue) -> int:
        return sum(1 for _ in self._serving_agents(q.config.skills.final, self._logged_in))

    def _empty_queues(self, agent: Agent, now: float, out: list[Decision]) -> None:
        """The no-agents rule after a logout: callers of a queue nobody serves any more leave."""
        for q in self._queues_for(agent):
            if q.calls and not self._anyone_logged_in(q):
                for call in [c for c in q.calls if not c.offered]:
                    self._overflow(call, OverflowReason.NO_AGENTS, now, out)

    # -- internals: calls ----------------------------------------------------------------------

    def _match_call(self, call: WaitingCall, now: float, out: list[Decision]) -> bool:
        """Offer ``call`` to the strategy's choice among free qualified agents."""
        q = self.queues[call.queue]
        cfg = q.config
        needs = cfg.skills.needs_at(now - call.enqueued_at)
        pool = self._free if call.agent is None else self._free & {call.agent}
        candidates = list(self._serving_agents(needs, pool))
        if not candidates:
            return False
        ctx = ChoiceContext(q.order or self._order, q.last_offered, cfg.skills.needs_at(0.0),
                            self.rng)
        chosen = choose(cfg.strategy, candidates, ctx, call.tried)
        if call.callback or cfg.strategy is not QueueStrategy.RING_ALL:
            chosen = chosen[:1]
        offered: list[str] = []
        for agent in chosen:
            result = agent.offer(call.call_id, now, cfg.ring_timeout)
            if isinstance(result, Refused):  # cannot happen for a free agent; never offer twice
                out.append(result)
                continue
            out.append(result.record)
            self._free.discard(agent.agent_id)
            call.offered.add(agent.agent_id)
            offered.append(agent.agent_id)
            if agent.ring_deadline is not None:
                self._push(agent.ring_deadline, _AGENT, agent.agent_id)
        if not offered:
            return False
        q.last_offered = offered[-1]
        if call.callback:
            out.append(CallBackThenOffer(call.call_id, offered[0], cfg.name))
        elif cfg.strategy is QueueStrategy.RING_ALL:
            out.append(RingAll(call.call_id, tuple(offered), cfg.name, cfg.ring_timeout))
        else:
            out.append(OfferCall(call.call_id, offered[0], cfg.name, cfg.ring_timeout))
        return True

    def _call_released(self, call_id: str, agent_id: str, reason: str, now: float,
                       out: list[Decision]) -> None:
        """An agent let go of a ringing call: it rings the next agent or waits again."""
        call = self._calls.get(call_id)
        if call is None or agent_id not in call.offered:
            return  # answered already, or the caller is gone
        call.offered.discard(agent_id)
        if reason not in _BLAMELESS:
            call.tried.add(agent_id)
        if call.offered:
            return  # ring-all: others still ring
        self._dirty.add(call.queue)
        if self._waited_too_long(call, now):
            self._overflow(call, OverflowReason.MAX_WAIT, now, out)
        elif not self._anyone_logged_in(self.queues[call.queue]):
            self._overflow(call, OverflowReason.NO_AGENTS, now, out)
        else:
            self._match_call(call, now, out)

    def _withdraw_all(self, call: WaitingCall, reason: str, now: float,
                      out: list[Decision]) -> None:
        ringing = sorted(call.offered)
        call.offered.clear()
        for agent_id in ringing:
            agent = self.agents[agent_id]
            out.append(WithdrawOffer(call.call_id, agent_id, reason))
            self._after_agent(agent, agent.withdraw(now, reason), now, out)

    def _waited_too_long(self, call: WaitingCall, now: float) -> bool:
        max_wait = self.queues[call.queue].config.max_wait
        # Compared as instants, the way the timer was set: durations lose bits to rounding.
        return max_wait is not None and now >= call.enqueued_at + max_wait

    def _overflow(self, call: WaitingCall, reason: OverflowReason, now: float,
                  out: list[Decision], *, queued: bool = True) -> None:
        cfg = self.queues[call.queue].config
        out.append(OverflowCall(call.call_id, cfg.name, cfg.overflow, reason))
        if queued:
            self._leave(call, CallOutcome.OVERFLOWED, now, out)
            self._withdraw_all(call, "withdrawn", now, out)
        else:
            self.queues[call.queue].stats.record_overflowed(0.0)
            out.append(CallLeftQueue(call.call_id, cfg.name, CallOutcome.OVERFLOWED, 0.0))

    def _leave(self, call: WaitingCall, outcome: CallOutcome, now: float, out: list[Decision],
               agent_id: str | None = None) -> None:
        q = self.queues[call.queue]
        q.remove(call)
        del self._calls[call.call_id]
        self._dirty.add(call.queue)
        waited = now - call.enqueued_at
        if outcome is CallOutcome.ANSWERED:
            q.stats.record_answered(waited)
        elif outcome is CallOutcome.ABANDONED:
            q.stats.record_abandoned(waited)
        else:
            q.stats.record_overflowed(waited)
        out.append(CallLeftQueue(call.call_id, call.queue, outcome, waited, agent_id))

    def _push_relaxation(self, call: WaitingCall, now: float) -> None:
        step = self.queues[call.queue].config.skills.next_change(now - call.enqueued_at)
        if step is not None:
            self._push(call.enqueued_at + step, _RELAX, call.call_id)

    def _push(self, deadline: float, kind: int, key: str) -> None:
        heapq.heappush(self._timers, (deadline, next(self._seq), kind, key))

    def _announce(self, now: float, out: list[Decision]) -> None:
        """Tell waiting callers of the queues that changed their new place."""
        if not self._dirty:
            return
        for name in sorted(self._dirty):
            q = self.queues[name]
            serving: int | None = None
            for i, call in enumerate(q.calls, 1):
                if call.announced == i or call.offered or call.callback:
                    continue
                call.announced = i
                if serving is None:
                    serving = self._count_serving(q)
                out.append(AnnouncePosition(call.call_id, name, i, estimated_wait(
                    i, q.stats.handle_time.value, serving)))
        self._dirty.clear()

