"""Every distribution strategy on hand-built agents, and ring-no-answer rotation."""

from __future__ import annotations

import random

import pytest

from pycc.ccs import Agent, ChoiceContext, QueueStrategy, choose, register_strategy
from pycc.ccs.strategies import STRATEGIES


def make(agent_id: str, *, idle_since: float, calls: int = 0, talk: float = 0.0,
         skills: dict[str, int] | None = None) -> Agent:
    agent = Agent(agent_id, skills or {"sales": 5})
    agent.login("x" + agent_id, 0.0)
    agent.idle_since = idle_since
    agent.calls_today = calls
    agent.talk_time_today = talk
    return agent


ANN = make("ann", idle_since=50, calls=3, talk=300, skills={"sales": 4})
BEN = make("ben", idle_since=10, calls=5, talk=100, skills={"sales": 9})
CAT = make("cat", idle_since=30, calls=1, talk=900, skills={"sales": 9})
DAN = make("dan", idle_since=10, calls=1, talk=100, skills={"sales": 2})
ALL = [ANN, BEN, CAT, DAN]
ORDER = {"cat": 0, "ann": 1, "dan": 2, "ben": 3}


def ids(agents: list[Agent]) -> list[str]:
    return [a.agent_id for a in agents]


def pick(strategy: QueueStrategy, **ctx: object) -> list[str]:
    context = ChoiceContext(**{"order": ORDER, **ctx})  # type: ignore[arg-type]
    return ids(choose(strategy, ALL, context))


def test_longest_idle_ties_go_to_the_configured_order() -> None:
    # ben and dan both idle since 10; dan comes first in the order.
    assert pick(QueueStrategy.LONGEST_IDLE) == ["dan"]
    assert ids(choose(QueueStrategy.LONGEST_IDLE, [ANN, CAT], ChoiceContext())) == ["cat"]


def test_fewest_calls_then_longest_idle() -> None:
    assert pick(QueueStrategy.FEWEST_CALLS) == ["dan"]  # cat and dan have 1; dan idle longer


def test_least_talk_time() -> None:
    assert pick(QueueStrategy.LEAST_TALK_TIME) == ["dan"]  # ben and dan at 100; dan first
    assert ids(choose(QueueStrategy.LEAST_TALK_TIME, [ANN, CAT], ChoiceContext())) == ["ann"]


def test_linear_follows_the_configured_order() -> None:
    assert pick(QueueStrategy.LINEAR) == ["cat"]
    assert ids(choose(QueueStrategy.LINEAR, [ANN, BEN], ChoiceContext(order=ORDER))) == ["ann"]


def test_ring_all_rings_everyone_in_order() -> None:
    assert pick(QueueStrategy.RING_ALL) == ["cat", "ann", "dan", "ben"]


def test_round_robin_continues_after_the_last_one_offered() -> None:
    seen = []
    last = None
    for _ in range(6):
        [choice] = pick(QueueStrategy.ROUND_ROBIN, last_offered=last)
        seen.append(choice)
        last = choice
    assert seen == ["cat", "ann", "dan", "ben", "cat", "ann"]
    # The memory survives the last agent being busy: after ann, dan is skipped if absent.
    ctx = ChoiceContext(order=ORDER, last_offered="ann")
    assert ids(choose(QueueStrategy.ROUND_ROBIN, [CAT, BEN], ctx)) == ["ben"]


def test_random_is_reproducible_with_a_seeded_generator() -> None:
    runs = [[pick(QueueStrategy.RANDOM, rng=rng)[0] for _ in range(20)]
            for rng in (random.Random(7), random.Random(7))]
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"ann", "ben", "cat", "dan"}  # everyone gets picked sometime


def test_skill_weighted_prefers_the_highest_level_then_longest_idle() -> None:
    # ben and cat both have sales 9; ben has been idle longer.
    assert pick(QueueStrategy.SKILL_WEIGHTED, needs={"sales": 3}) == ["ben"]
    assert ids(choose(QueueStrategy.SKILL_WEIGHTED, [ANN, DAN],
                      ChoiceContext(needs={"sales": 1}))) == ["ann"]


@pytest.mark.parametrize("strategy", list(QueueStrategy))
def test_ring_no_answer_rotation_skips_agents_that_rang(strategy: QueueStrategy) -> None:
    ctx = ChoiceContext(order=ORDER, needs={"sales": 1})
    tried: set[str] = set()
    for _ in range(len(ALL)):
        chosen = ids(choose(strategy, ALL, ctx, tried))
        assert chosen and not set(chosen) & tried
        if strategy is QueueStrategy.RING_ALL:
            assert sorted(chosen) == sorted(ids(ALL))
            break
        tried.add(chosen[0])
    # Everyone rang: a new round starts rather than nobody getting the call.
    assert choose(strategy, ALL, ctx, {a.agent_id for a in ALL})


def test_no_candidates_no_choice() -> None:
    assert choose(QueueStrategy.LONGEST_IDLE, [], ChoiceContext()) == []


def test_registered_strategies_are_used_by_name() -> None:
    register_strategy("last-alphabetical",
                      lambda agents, ctx: [max(agents, key=lambda a: a.agent_id)])
    try:
        assert ids(choose("last-alphabetical", ALL, ChoiceContext())) == ["dan"]
        assert ids(choose("linear", ALL, ChoiceContext(order=ORDER))) == ["cat"]
        with pytest.raises(ValueError):
            register_strategy("linear", lambda agents, ctx: [])
    finally:
        del STRATEGIES["last-alphabetical"]
