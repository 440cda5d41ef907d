"""Call distribution strategies: which of the qualified idle agents gets the call.

Each strategy is a function from the candidates (agents that are available, idle and qualified
for the call) and a `ChoiceContext` to the agents to offer, best first; all but ring-all return
one agent. Strategies live in a registry (`register_strategy`), not an if/elif ladder, so a
deployment can add its own. Ties are broken by longest idle, then by the configured order, so
every choice is deterministic given the random generator passed in.

`choose` also applies ring-no-answer rotation: agents that already rang for this call are left
out while anyone else is left.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from pycc.ccs.agent import Agent
from pycc.ccs.skills import skill_score

__all__ = [
    "STRATEGIES",
    "ChoiceContext",
    "QueueStrategy",
    "Strategy",
    "choose",
    "register_strategy",
]


class QueueStrategy(enum.Enum):
    """The names used in the ``pycc apply`` file."""

    __hash__ = object.__hash__

    LONGEST_IDLE = "longest-idle"
    ROUND_ROBIN = "round-robin"
    FEWEST_CALLS = "fewest-calls"
    LEAST_TALK_TIME = "least-talk-time"
    RING_ALL = "ring-all"
    RANDOM = "random"
    LINEAR = "linear"
    SKILL_WEIGHTED = "skill-weighted"


_NEVER: Final = float("-inf")
_UNLISTED: Final = 1 << 62


@dataclass(frozen=True, slots=True)
class ChoiceContext:
    """What a strategy may look at besides the candidates.

    ``order`` ranks agents for linear and round-robin (agents it does not list come after, by
    id); ``last_offered`` is the queue's round-robin memory; ``needs`` the call's current skill
    requirement (skill-weighted); ``rng`` the seeded generator for random.
    """

    order: Mapping[str, int] = field(default_factory=dict)
    last_offered: str | None = None
    needs: Mapping[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))


Strategy: TypeAlias = Callable[[Sequence[Agent], ChoiceContext], list[Agent]]


def _rank(agent: Agent, ctx: ChoiceContext) -> tuple[int, str]:
    return ctx.order.get(agent.agent_id, _UNLISTED), agent.agent_id


def _idle_key(agent: Agent, ctx: ChoiceContext) -> tuple[float, int, str]:
    since = _NEVER if agent.idle_since is None else agent.idle_since
    return (since, *_rank(agent, ctx))


def longest_idle(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    return [min(candidates, key=lambda a: _idle_key(a, ctx))]


def round_robin(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    """The first agent after the last one offered, in the configured order, wrapping."""
    first = min(candidates, key=lambda a: _rank(a, ctx))
    if ctx.last_offered is None:
        return [first]
    last = (ctx.order.get(ctx.last_offered, _UNLISTED), ctx.last_offered)
    after = [a for a in candidates if _rank(a, ctx) > last]
    return [min(after, key=lambda a: _rank(a, ctx))] if after else [first]


def fewest_calls(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    return [min(candidates, key=lambda a: (a.calls_today, *_idle_key(a, ctx)))]


def least_talk_time(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    return [min(candidates, key=lambda a: (a.talk_time_today, *_idle_key(a, ctx)))]


def ring_all(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    return sorted(candidates, key=lambda a: _rank(a, ctx))


def random_choice(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    # Sorted first: set iteration order must not leak into a seeded choice.
    return [ctx.rng.choice(sorted(candidates, key=lambda a: a.agent_id))]


def linear(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    return [min(candidates, key=lambda a: _rank(a, ctx))]


def skill_weighted(candidates: Sequence[Agent], ctx: ChoiceContext) -> list[Agent]:
    """Highest level in the call's skills first; ties go to the longest idle."""
    def key(a: Agent) -> tuple[int, float, int, str]:
        return (-skill_score(a.skills, ctx.needs), *_idle_key(a, ctx))
    return [min(candidates, key=key)]


STRATEGIES: dict[QueueStrategy | str, Strategy] = {
    QueueStrategy.LONGEST_IDLE: longest_idle,
    QueueStrategy.ROUND_ROBIN: round_robin,
    QueueStrategy.FEWEST_CALLS: fewest_calls,
    QueueStrategy.LEAST_TALK_TIME: least_talk_time,
    QueueStrategy.RING_ALL: ring_all,
    QueueStrategy.RANDOM: random_choice,
    QueueStrategy.LINEAR: linear,
    QueueStrategy.SKILL_WEIGHTED: skill_weighted,
}


def register_strategy(name: str, strategy: Strategy) -> None:
    """Add a strategy under a name of its own (the built-in names are taken)."""
    if name in {s.value for s in QueueStrategy} or name in STRATEGIES:
        raise ValueError(f"strategy {name!r} already exists")
    STRATEGIES[name] = strategy


def choose(strategy: QueueStrategy | str, candidates: Sequence[Agent], ctx: ChoiceContext,
           tried: Collection[str] = ()) -> list[Agent]:
    """The agents to offer, best first; empty when there is nobody.

    Agents in ``tried`` already rang for this call without answering; they are skipped unless
    nobody else is left (then a new round starts).
    """
    if not candidates:
        return []
    if tried:
        fresh = [a for a in candidates if a.agent_id not in tried]
        if fresh:
            candidates = fresh
    if isinstance(strategy, str) and strategy not in STRATEGIES:
        strategy = QueueStrategy(strategy)
    return STRATEGIES[strategy](candidates, ctx)
