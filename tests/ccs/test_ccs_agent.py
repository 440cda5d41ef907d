"""The agent state machine: its table, its timers, its counters, and a stateful property test."""

from __future__ import annotations

import copy

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pycc.ccs import (
    TRANSITIONS,
    Agent,
    AgentInput,
    AgentState,
    AgentStatus,
    AgentTransition,
    Changed,
    Refused,
)

S, T = AgentStatus, AgentState
CONSISTENT = {(S.OFFLINE, T.IDLE)} | {(s, t) for s in (S.AVAILABLE, S.NOT_READY) for t in T}


def ready(agent_id: str = "alice", now: float = 0.0) -> Agent:
    agent = Agent(agent_id, {"sales": 5})
    assert agent.login("1001", now).ok
    return agent


def changed(result: Changed | Refused) -> Changed:
    assert isinstance(result, Changed), result
    return result


def test_login_makes_the_agent_available_and_idle() -> None:
    agent = Agent("alice")
    result = changed(agent.login("1001", 10.0))
    assert result.record == AgentTransition("alice", S.OFFLINE, T.IDLE, S.AVAILABLE, T.IDLE,
                                            "login", 10.0, None)
    assert agent.extension == "1001" and agent.is_free and agent.idle_since == 10.0


def test_a_whole_call_answer_talk_wrap_up() -> None:
    agent = ready()
    offer = changed(agent.offer("c1", 100.0, ring_timeout=15))
    assert (offer.record.to_status, offer.record.to_state) == (S.AVAILABLE, T.RESERVED)
    assert agent.call_id == "c1" and agent.get_timer() == 115.0 and agent.last_offered_at == 100
    changed(agent.answered(104.0))
    assert agent.state is T.ON_CALL and agent.get_timer() is None
    ended = changed(agent.call_ended(164.0, wrap_up=5))
    assert ended.record.to_state is T.WRAP_UP and ended.released_call is None
    assert agent.get_timer() == 169.0
    assert agent.handle_timer(168.9) == []
    [done] = agent.handle_timer(169.0)
    assert isinstance(done, Changed) and done.record.reason == "wrap-up-done"
    assert agent.is_free and agent.call_id is None
    assert (agent.calls_today, agent.talk_time_today) == (1, 60.0)
    assert agent.last_call_end == 164.0 and agent.idle_since == 169.0


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("offline", "not logged in"),
        ("not_ready", "not available (not_ready)"),
        ("reserved", "busy (reserved)"),
        ("on_call", "busy (on_call)"),
        ("wrap_up", "busy (wrap_up)"),
    ],
)
def test_offering_an_agent_that_cannot_take_it_is_refused(setup: str, reason: str) -> None:
    agent = Agent("bob")
    if setup != "offline":
        agent.login("1002", 0)
    if setup == "not_ready":
        agent.set_not_ready("lunch", 1)
    if setup in ("reserved", "on_call", "wrap_up"):
        agent.offer("c1", 1, 10)
    if setup in ("on_call", "wrap_up"):
        agent.answered(2)
    if setup == "wrap_up":
        agent.call_ended(3, 30)
    before = (agent.status, agent.state, agent.call_id)
    result = agent.offer("c2", 4, 10)
    assert result == Refused("bob", "offer", reason)
    assert (agent.status, agent.state, agent.call_id) == before


def test_ring_timeout_makes_the_agent_not_ready_and_releases_the_call() -> None:
    agent = ready()
    agent.offer("c1", 0, ring_timeout=15)
    [result] = agent.handle_timer(15.0)
    assert isinstance(result, Changed)
    assert result.released_call == "c1" and result.record.reason == "no-answer"
    assert (agent.status, agent.state, agent.not_ready_reason) == (S.NOT_READY, T.IDLE,
                                                                   "no-answer")
    assert agent.get_timer() is None and agent.calls_today == 0


def test_status_change_during_a_call_takes_effect_after_it() -> None:
    agent = ready()
    agent.offer("c1", 0, 10)
    agent.answered(1)
    changed(agent.set_not_ready("break", 5))
    assert (agent.status, agent.state, agent.call_id) == (S.NOT_READY, T.ON_CALL, "c1")
    agent.call_ended(20, 0)
    agent.handle_timer(20)
    assert (agent.status, agent.state) == (S.NOT_READY, T.IDLE)
    assert agent.not_ready_reason == "break"  # the call's events did not overwrite it
    assert not agent.is_free


def test_logout_waits_for_the_call_but_not_for_wrap_up() -> None:
    agent = ready()
    agent.offer("c1", 0, 10)
    refused = agent.logout(1)
    assert isinstance(refused, Refused) and "ringing" in refused.reason
    agent.answered(2)
    assert "connected" in agent.logout(3).reason  # type: ignore[union-attr]
    agent.call_ended(4, 60)
    result = changed(agent.logout(5))
    assert (result.record.to_status, result.record.to_state) == (S.OFFLINE, T.IDLE)
    assert agent.get_timer() is None and agent.call_id is None


def test_phone_lost_on_a_call_counts_it_and_releases_it() -> None:
    agent = ready()
    agent.offer("c1", 0, 10)
    agent.answered(2)
    result = changed(agent.phone_lost(32))
    assert result.released_call == "c1"
    assert (agent.status, agent.state, agent.not_ready_reason) == (S.NOT_READY, T.IDLE,
                                                                   "phone-lost")
    assert (agent.calls_today, agent.talk_time_today) == (1, 30.0)


def test_supervisor_force() -> None:
    agent = Agent("carol")
    refused = agent.force(S.AVAILABLE, 0)
    assert isinstance(refused, Refused) and "log in" in refused.reason
    agent.login("1003", 0)
    agent.offer("c9", 1, 10)
    forced = changed(agent.force(S.OFFLINE, 2, "end of shift"))
    assert forced.released_call == "c9" and forced.record.reason == "end of shift"
    assert (agent.status, agent.state) == (S.OFFLINE, T.IDLE)
    changed(agent.force(S.AVAILABLE, 3))  # the extension is remembered
    assert agent.is_free and agent.extension == "1003"
    changed(agent.force(S.NOT_READY, 4, "coaching"))
    assert agent.not_ready_reason == "coaching"


def test_every_table_entry_leads_to_a_consistent_pair() -> None:
    for (status, state, event), (to_status, to_state, _) in TRANSITIONS.items():
        assert (status, state) in CONSISTENT, (status, state, event)
        target = (to_status or status, to_state or state)
        assert target in CONSISTENT, (status, state, event, target)


def test_pairs_missing_from_the_table_are_refused_with_a_reason() -> None:
    for status, state in CONSISTENT:
        for event in AgentInput:
            if (status, state, event) in TRANSITIONS:
                continue
            agent = ready()
            agent.status, agent.state = status, state
            agent.call_id = "c" if state is not T.IDLE else None
            method = {
                AgentInput.LOGIN: lambda a: a.login("1001", 1),
                AgentInput.LOGOUT: lambda a: a.logout(1),
                AgentInput.SET_AVAILABLE: lambda a: a.set_available(1),
                AgentInput.SET_NOT_READY: lambda a: a.set_not_ready("x", 1),
                AgentInput.OFFER: lambda a: a.offer("c2", 1, 5),
                AgentInput.ANSWERED: lambda a: a.answered(1),
                AgentInput.RING_NO_ANSWER: lambda a: a.ring_no_answer(1),
                AgentInput.WITHDRAW: lambda a: a.withdraw(1),
                AgentInput.CALL_ENDED: lambda a: a.call_ended(1, 5),
                AgentInput.WRAP_UP_DONE: lambda a: a.wrap_up_done(1),
                AgentInput.PHONE_LOST: lambda a: a.phone_lost(1),
                AgentInput.FORCE_OFFLINE: lambda a: a.force(S.OFFLINE, 1),
                AgentInput.FORCE_AVAILABLE: lambda a: a.force(S.AVAILABLE, 1),
                AgentInput.FORCE_NOT_READY: lambda a: a.force(S.NOT_READY, 1),
            }[event]
            result = method(agent)
            assert isinstance(result, Refused), (status, state, event)
            assert result.event == event.value and result.reason
            assert (agent.status, agent.state) == (status, state)


# -- stateful: any sequence of events and timer firings ------------------------------------------


class AgentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.agent = Agent("a1", {"sales": 3})
        self.now = 0.0
        self.calls = 0
        self.records: list[AgentTransition] = []

    def _take(self, result: Changed | Refused) -> None:
        if isinstance(result, Changed):
            rec = result.record
            if self.records:
                last = self.records[-1]
                assert (last.to_status, last.to_state) == (rec.from_status, rec.from_state)
            assert rec.at == self.now
            self.records.append(rec)
        else:
            assert result.reason

    @rule(dt=st.floats(0, 30))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        for result in self.agent.handle_timer(self.now):
            self._take(result)

    @rule()
    def login(self) -> None:
        self._take(self.agent.login("1001", self.now))

    @rule()
    def logout(self) -> None:
        self._take(self.agent.logout(self.now))

    @rule()
    def set_available(self) -> None:
        self._take(self.agent.set_available(self.now))

    @rule(reason=st.sampled_from(["lunch", "break", "training"]))
    def set_not_ready(self, reason: str) -> None:
        self._take(self.agent.set_not_ready(reason, self.now))

    @rule(ring=st.floats(1, 30))
    def offer(self, ring: float) -> None:
        self.calls += 1
        was_free = self.agent.is_free
        result = self.agent.offer(f"c{self.calls}", self.now, ring)
        assert result.ok == was_free
        self._take(result)

    @rule()
    def answered(self) -> None:
        self._take(self.agent.answered(self.now))

    @rule()
    def ring_no_answer(self) -> None:
        self._take(self.agent.ring_no_answer(self.now))

    @rule()
    def withdraw(self) -> None:
        self._take(self.agent.withdraw(self.now))

    @rule(wrap=st.sampled_from([0.0, 5.0, 30.0]))
    def call_ended(self, wrap: float) -> None:
        self._take(self.agent.call_ended(self.now, wrap))

    @rule()
    def wrap_up_done(self) -> None:
        self._take(self.agent.wrap_up_done(self.now))

    @rule()
    def phone_lost(self) -> None:
        busy = self.agent.state in (T.RESERVED, T.ON_CALL)
        call = self.agent.call_id
        result = self.agent.phone_lost(self.now)
        if busy:
            assert isinstance(result, Changed) and result.released_call == call
        self._take(result)

    @rule(status=st.sampled_from(list(AgentStatus)))
    def force(self, status: AgentStatus) -> None:
        self._take(self.agent.force(status, self.now))

    @invariant()
    def consistent(self) -> None:
        a = self.agent
        assert (a.status, a.state) in CONSISTENT
        if a.state in (T.RESERVED, T.ON_CALL):
            assert a.call_id is not None
        if a.state is T.IDLE:
            assert a.call_id is None and a.get_timer() is None
        if a.state is T.RESERVED:
            assert a.get_timer() == a.ring_deadline is not None
        if a.state is T.WRAP_UP:
            assert a.get_timer() == a.wrap_up_deadline is not None
        assert (a.status is S.NOT_READY) == (a.not_ready_reason is not None)
        assert a.calls_today >= 0 and a.talk_time_today >= 0

    @invariant()
    def never_stuck(self) -> None:
        """phone_lost plus the timers always lead to where login/available work."""
        a = copy.deepcopy(self.agent)
        a.phone_lost(self.now)
        later = self.now
        while (deadline := a.get_timer()) is not None:
            later = max(later, deadline)
            a.handle_timer(later)
        if a.status is S.OFFLINE:
            assert a.login("1001", later).ok
        else:
            assert a.state is T.IDLE
            if a.status is S.NOT_READY:
                assert a.set_available(later).ok
        assert a.is_free and a.offer("next", later, 10).ok

    @precondition(lambda self: self.agent.state is T.RESERVED)
    @rule()
    def ring_timer_releases(self) -> None:
        deadline = self.agent.get_timer()
        assert deadline is not None
        self.now = max(self.now, deadline)
        [result] = self.agent.handle_timer(self.now)
        assert isinstance(result, Changed) and result.released_call is not None
        self._take(result)


AgentMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                          deadline=None)
TestAgentMachine = AgentMachine.TestCase
