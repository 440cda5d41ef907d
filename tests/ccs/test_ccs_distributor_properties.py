"""Hypothesis properties of the Distributor under any sequence of events.

A call is never offered to two agents at once (except ring-all), an agent is never offered two
calls, the agents' records chain, and every enqueued call leaves exactly once: answered,
abandoned or overflowed.
"""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pycc.ccs import (
    AgentState,
    AgentStatus,
    AgentTransition,
    CallBackThenOffer,
    CallLeftQueue,
    Decision,
    Distributor,
    OfferCall,
    OverflowKind,
    OverflowTarget,
    QueueConfig,
    QueueStrategy,
    RingAll,
    SkillSchedule,
    WithdrawOffer,
)

AGENTS = {"a0": {"sales": 5}, "a1": {"sales": 2, "support": 4}, "a2": {"support": 8},
          "a3": {"sales": 9, "support": 1}}
QUEUES = ("sales", "support", "hunt")


def build(strategy: str) -> Distributor:
    return Distributor([
        QueueConfig("sales", SkillSchedule([(0, {"sales": 5}), (20, {"sales": 1})]),
                    strategy=strategy, ring_timeout=10, wrap_up=3, max_wait=120, max_size=4,
                    overflow=OverflowTarget(OverflowKind.QUEUE, "support")),
        QueueConfig("support", SkillSchedule.fixed({"support": 1}), strategy="longest-idle",
                    ring_timeout=8, wrap_up=0, max_wait=90),
        QueueConfig("hunt", SkillSchedule([]), strategy="ring-all", ring_timeout=5,
                    wrap_up=1, max_wait=60),
    ], rng=random.Random(1))


class DistributorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.d: Distributor | None = None
        self.now = 0.0
        self.seq = 0
        self.enqueued: set[str] = set()
        self.left: Counter[str] = Counter()
        self.ringing: dict[str, str] = {}  # agent -> call it rings for, from the decisions
        self.last: dict[str, AgentTransition] = {}

    @initialize(strategy=st.sampled_from(["longest-idle", "round-robin", "fewest-calls",
                                    "least-talk-time", "ring-all", "random", "linear",
                                    "skill-weighted"]),
                logged_in=st.sets(st.sampled_from(sorted(AGENTS)), min_size=1))
    def start(self, strategy: str, logged_in: set[str]) -> None:
        self.d = build(strategy)
        for agent_id, skills in AGENTS.items():
            self.d.add_agent(agent_id, skills)
        for agent_id in sorted(logged_in):
            self.feed(self.d.login(agent_id, "1" + agent_id, self.now))

    def feed(self, out: list[Decision]) -> None:
        for dec in out:
            if isinstance(dec, OfferCall | CallBackThenOffer):
                assert dec.agent_id not in self.ringing, "an agent offered two calls"
                self.ringing[dec.agent_id] = dec.call_id
            elif isinstance(dec, RingAll):
                assert self.d is not None
                assert self.d.queues[dec.queue].config.strategy is QueueStrategy.RING_ALL
                for agent_id in dec.agent_ids:
                    assert agent_id not in self.ringing, "an agent offered two calls"
                    self.ringing[agent_id] = dec.call_id
            elif isinstance(dec, AgentTransition):
                prev = self.last.get(dec.agent)
                if prev is not None:
                    assert (prev.to_status, prev.to_state) == (dec.from_status, dec.from_state)
                self.last[dec.agent] = dec
                if dec.from_state is AgentState.RESERVED and dec.to_state is not \
                        AgentState.RESERVED:
                    self.ringing.pop(dec.agent, None)
            elif isinstance(dec, WithdrawOffer):
                assert self.ringing.get(dec.agent_id) == dec.call_id
            elif isinstance(dec, CallLeftQueue):
                self.left[dec.call_id] += 1
                assert self.left[dec.call_id] == 1, "a call left its queue twice"

    def agent(self, index: int) -> str:
        return f"a{index % len(AGENTS)}"

    @rule(dt=st.sampled_from([0.0, 0.5, 3.0, 9.0, 25.0]))
    def time_passes(self, dt: float) -> None:
        if self.d is None:
            return
        self.now += dt
        self.feed(self.d.tick(self.now))

    @rule(queue=st.sampled_from(QUEUES), priority=st.integers(0, 3), callback=st.booleans())
    def enqueue(self, queue: str, priority: int, callback: bool) -> None:
        if self.d is None:
            return
        self.seq += 1
        call_id = f"c{self.seq}"
        self.enqueued.add(call_id)
        self.feed(self.d.on_call_enqueued(call_id, queue, self.now, priority=priority,
                                          callback=callback))

    @rule(i=st.integers(0, 50))
    def abandon(self, i: int) -> None:
        if self.d is None or not self.enqueued:
            return
        call_id = sorted(self.enqueued)[i % len(self.enqueued)]
        self.feed(self.d.abandon(call_id, self.now))

    @rule(i=st.integers(0, 3), wrong=st.booleans())
    def answer(self, i: int, wrong: bool) -> None:
        if self.d is None:
            return
        ringing = sorted(self.ringing)
        if wrong or not ringing:  # answering a call that was not offered is refused
            agent_id, call_id = self.agent(i), "c1"
        else:
            agent_id = ringing[i % len(ringing)]
            call_id = self.ringing[agent_id]
        self.feed(self.d.answered(call_id, agent_id, self.now))

    @rule(i=st.integers(0, 3), event=st.sampled_from(
        ["login", "logout", "available", "not_ready", "phone_lost", "call_ended",
         "force_offline", "ring_no_answer"]))
    def agent_event(self, i: int, event: str) -> None:
        d = self.d
        if d is None:
            return
        a, now = self.agent(i), self.now
        out = {
            "login": lambda: d.login(a, "1" + a, now),
            "logout": lambda: d.logout(a, now),
            "available": lambda: d.set_available(a, now),
            "not_ready": lambda: d.set_not_ready(a, "break", now),
            "phone_lost": lambda: d.phone_lost(a, now),
            "call_ended": lambda: d.call_ended(a, now),
            "force_offline": lambda: d.force(a, AgentStatus.OFFLINE, now),
            "ring_no_answer": lambda: d.ring_no_answer(a, now),
        }[event]()
        self.feed(out)

    @rule(i=st.integers(0, 3))
    def agent_works(self, i: int) -> None:
        """The agent does the natural next thing, so calls flow as well as go wrong."""
        d = self.d
        if d is None:
            return
        agent = d.agents[self.agent(i)]
        a, now = agent.agent_id, self.now
        if agent.status is AgentStatus.OFFLINE:
            self.feed(d.login(a, "1" + a, now))
        elif agent.state is AgentState.RESERVED and agent.call_id is not None:
            self.feed(d.answered(agent.call_id, a, now))
        elif agent.state is AgentState.ON_CALL:
            self.feed(d.call_ended(a, now))
        elif agent.status is AgentStatus.NOT_READY:
            self.feed(d.set_available(a, now))

    @invariant()
    def offers_are_exclusive(self) -> None:
        d = self.d
        if d is None:
            return
        holders: Counter[str] = Counter()
        for q in d.queues.values():
            for call in q.calls:
                assert d.call(call.call_id) is call
                if q.config.strategy is not QueueStrategy.RING_ALL or call.callback:
                    assert len(call.offered) <= 1, "a call offered to two agents"
                for agent_id in call.offered:
                    holders[agent_id] += 1
                    agent = d.agents[agent_id]
                    assert agent.state is AgentState.RESERVED
                    assert agent.call_id == call.call_id
        assert all(n == 1 for n in holders.values())
        for agent in d.agents.values():
            if agent.state is AgentState.RESERVED:
                assert agent.call_id is not None and holders[agent.agent_id] == 1
                assert self.ringing.get(agent.agent_id) == agent.call_id
        # No free agent is left idle while a call it qualifies for waits un-offered.
        for q in d.queues.values():
            for call in q.calls:
                if call.offered:
                    continue
                needs = q.config.skills.needs_at(self.now - call.enqueued_at)
                for agent in d.agents.values():
                    if agent.is_free:
                        assert any(agent.skills.get(n, 0) < lv for n, lv in needs.items()), (
                            f"{agent} idle while {call.call_id} waits")

    def teardown(self) -> None:
        d = self.d
        if d is None:
            return
        # Far enough in the future, every queued call has left one way or another.
        for _ in range(1000):
            deadline = d.get_timer()
            if deadline is None:
                break
            self.now = max(self.now, deadline)
            self.feed(d.tick(self.now))
        assert not any(len(q) for q in d.queues.values())
        assert set(self.left) == self.enqueued
        assert all(n == 1 for n in self.left.values())


DistributorMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40,
                                                deadline=None)
TestDistributorMachine = DistributorMachine.TestCase
