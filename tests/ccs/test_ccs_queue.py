"""The Distributor on hand-built scenarios: offers, priorities, overflow, rotation, ring-all,
relaxation, callbacks, abandons, estimates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import pytest

from pycc.ccs import (
    AgentState,
    AgentStatus,
    AgentTransition,
    AnnouncePosition,
    CallBackThenOffer,
    CallLeftQueue,
    CallOutcome,
    CallQueue,
    Decision,
    Distributor,
    OfferCall,
    OverflowCall,
    OverflowKind,
    OverflowReason,
    OverflowTarget,
    QueueConfig,
    QueueError,
    Refused,
    RingAll,
    SkillError,
    SkillSchedule,
    WaitingCall,
    WithdrawOffer,
)

SUPPORT = OverflowTarget(OverflowKind.QUEUE, "support")


D = TypeVar("D")


def of(kind: type[D], decisions: Sequence[Decision]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


def acd(*configs: QueueConfig, agents: dict[str, dict[str, int]] | None = None,
        login: bool = True) -> Distributor:
    d = Distributor(configs)
    for i, (agent_id, skills) in enumerate((agents or {}).items()):
        d.add_agent(agent_id, skills)
        if login:
            assert not of(Refused, d.login(agent_id, f"10{i:02}", float(i)))
    return d


def sales(**kw: object) -> QueueConfig:
    return QueueConfig("sales", SkillSchedule.fixed({"sales": 1}), **kw)  # type: ignore[arg-type]


def test_a_call_goes_to_the_longest_idle_agent_and_the_agent_comes_back() -> None:
    d = acd(sales(wrap_up=10), agents={"ann": {"sales": 5}, "ben": {"sales": 5}})
    out = d.on_call_enqueued("c1", "sales", 100.0)
    assert of(OfferCall, out) == [OfferCall("c1", "ann", "sales", 15.0)]  # ann logged in first
    assert d.agents["ann"].state is AgentState.RESERVED
    out = d.answered("c1", "ann", 103.0)
    assert of(CallLeftQueue, out) == [CallLeftQueue("c1", "sales", CallOutcome.ANSWERED, 3.0,
                                                    "ann")]
    assert d.call("c1") is None
    # A second call waits for nobody: ben is free.
    assert of(OfferCall, d.on_call_enqueued("c2", "sales", 104.0))[0].agent_id == "ben"
    d.answered("c2", "ben", 105.0)
    out = d.on_call_enqueued("c3", "sales", 110.0)
    assert of(OfferCall, out) == [] and of(AnnouncePosition, out) == [
        AnnouncePosition("c3", "sales", 1, None)]
    out = d.call_ended("ann", 160.0)
    assert d.agents["ann"].state is AgentState.WRAP_UP and d.get_timer() == 170.0
    assert of(OfferCall, d.tick(169.9)) == []
    out = d.tick(170.0)
    assert of(OfferCall, out) == [OfferCall("c3", "ann", "sales", 15.0)]
    assert d.queues["sales"].stats.handle_time.value == 67.0  # 57 s talk + 10 s wrap-up


def test_callers_with_higher_priority_go_first_then_first_come() -> None:
    d = acd(sales(), agents={"ann": {"sales": 5}})
    d.set_not_ready("ann", "break", 1.0)
    positions: dict[str, int] = {}
    for call_id, prio, t in (("c1", 0, 10.0), ("c2", 5, 11.0), ("c3", 0, 12.0),
                             ("c4", 5, 13.0)):
        for ann in of(AnnouncePosition, d.on_call_enqueued(call_id, "sales", t, priority=prio)):
            assert isinstance(ann, AnnouncePosition)
            positions[ann.call_id] = ann.position
    assert positions == {"c2": 1, "c4": 2, "c1": 3, "c3": 4}
    assert [d.position(c) for c in ("c1", "c2", "c3", "c4")] == [3, 1, 4, 2]
    out = d.set_available("ann", 20.0)
    assert of(OfferCall, out)[0].call_id == "c2"
    assert of(AnnouncePosition, out) == []  # the ringing caller still holds its place
    out = d.answered("c2", "ann", 22.0)
    assert {a.call_id: a.position for a in of(AnnouncePosition, out)} == {
        "c4": 1, "c1": 2, "c3": 3}


def test_a_full_queue_refuses_with_a_reason() -> None:
    d = acd(sales(max_size=2, overflow=SUPPORT), agents={"ann": {"sales": 5}})
    d.set_not_ready("ann", "break", 1.0)
    d.on_call_enqueued("c1", "sales", 2.0)
    d.on_call_enqueued("c2", "sales", 3.0)
    out = d.on_call_enqueued("c3", "sales", 4.0)
    assert of(OverflowCall, out) == [OverflowCall("c3", "sales", SUPPORT,
                                                  OverflowReason.QUEUE_FULL)]
    assert of(CallLeftQueue, out) == [CallLeftQueue("c3", "sales", CallOutcome.OVERFLOWED, 0.0)]
    assert len(d.queues["sales"]) == 2 and d.call("c3") is None


def test_max_wait_sends_the_caller_to_the_overflow_target() -> None:
    voicemail = OverflowTarget(OverflowKind.VOICEMAIL, "sales-box")
    d = acd(sales(max_wait=300, overflow=voicemail), agents={"ann": {"sales": 5}})
    d.set_not_ready("ann", "break", 1.0)
    d.on_call_enqueued("c1", "sales", 100.0)
    assert d.get_timer() == 400.0
    assert d.tick(399.0) == []
    out = d.tick(400.0)
    assert of(OverflowCall, out) == [OverflowCall("c1", "sales", voicemail,
                                                  OverflowReason.MAX_WAIT)]
    assert of(CallLeftQueue, out)[0].waited == 300.0


def test_no_agent_logged_in_overflows_at_once_and_when_the_last_one_leaves() -> None:
    ivr = OverflowTarget(OverflowKind.IVR, "after-hours")
    d = acd(sales(overflow=ivr), agents={"ann": {"sales": 5}, "bob": {"support": 5}},
            login=False)
    d.login("bob", "1002", 0.0)  # logged in, but cannot serve sales
    out = d.on_call_enqueued("c1", "sales", 1.0)
    assert of(OverflowCall, out) == [OverflowCall("c1", "sales", ivr, OverflowReason.NO_AGENTS)]
    d.login("ann", "1001", 2.0)
    d.set_not_ready("ann", "lunch", 3.0)  # not ready still counts as logged in
    assert of(OverflowCall, d.on_call_enqueued("c2", "sales", 4.0)) == []
    out = d.logout("ann", 5.0)
    assert of(OverflowCall, out) == [OverflowCall("c2", "sales", ivr, OverflowReason.NO_AGENTS)]


def test_ring_no_answer_rings_the_next_agent_and_never_the_same_one_again() -> None:
    d = acd(sales(ring_timeout=15), agents={"ann": {"sales": 5}, "ben": {"sales": 5},
                                            "cat": {"sales": 5}})
    assert of(OfferCall, d.on_call_enqueued("c1", "sales", 10.0))[0].agent_id == "ann"
    out = d.tick(25.0)
    [record] = [r for r in of(AgentTransition, out) if r.agent == "ann"]
    assert record.to_status is AgentStatus.NOT_READY and record.reason == "no-answer"
    assert of(OfferCall, out) == [OfferCall("c1", "ben", "sales", 15.0)]
    d.set_available("ann", 26.0)  # ann is back, but already rang for c1
    out = d.tick(40.0)
    assert of(OfferCall, out) == [OfferCall("c1", "cat", "sales", 15.0)]
    d.set_available("ben", 41.0)
    out = d.answered("c1", "cat", 42.0)
    assert of(CallLeftQueue, out)[0].agent_id == "cat"
    assert d.call("c1") is None


def test_ring_all_rings_everyone_and_the_first_answer_wins() -> None:
    d = acd(sales(strategy="ring-all"), agents={"ann": {"sales": 5}, "ben": {"sales": 5},
                                                "cat": {"sales": 5}})
    out = d.on_call_enqueued("c1", "sales", 10.0)
    assert of(RingAll, out) == [RingAll("c1", ("ann", "ben", "cat"), "sales", 15.0)]
    d.on_call_enqueued("c2", "sales", 11.0)  # waits: everyone is ringing
    out = d.answered("c1", "ben", 12.0)
    assert of(WithdrawOffer, out) == [WithdrawOffer("c1", "ann", "answered-elsewhere"),
                                      WithdrawOffer("c1", "cat", "answered-elsewhere")]
    # The freed agents ring for the next caller; withdrawal did not make them not ready.
    assert of(RingAll, out) == [RingAll("c2", ("ann",), "sales", 15.0),
                                RingAll("c2", ("cat",), "sales", 15.0)]
    assert d.call("c2").offered == {"ann", "cat"}
    # Nobody answers: both are set not ready and the caller waits again.
    out = d.tick(30.0)
    assert {r.agent for r in of(AgentTransition, out)} == {"ann", "cat"}
    assert d.call("c2").offered == set() and d.position("c2") == 1


def test_requirements_relax_as_the_caller_waits() -> None:
    schedule = SkillSchedule([(0, {"sales": 5}), (30, {"sales": 3}), (60, {"sales": 1})])
    d = acd(QueueConfig("sales", schedule), agents={"junior": {"sales": 3}})
    out = d.on_call_enqueued("c1", "sales", 100.0)
    assert of(OfferCall, out) == []
    assert d.get_timer() == 130.0
    assert of(OfferCall, d.tick(129.0)) == []
    assert of(OfferCall, d.tick(130.0)) == [OfferCall("c1", "junior", "sales", 15.0)]


def test_a_free_agent_takes_the_most_urgent_call_across_its_queues() -> None:
    d = acd(QueueConfig("sales", SkillSchedule.fixed({"sales": 1})),
            QueueConfig("support", SkillSchedule.fixed({"support": 1})),
            agents={"ann": {"sales": 5, "support": 5}})
    d.set_not_ready("ann", "break", 1.0)
    d.on_call_enqueued("s1", "sales", 10.0)
    d.on_call_enqueued("t1", "support", 11.0)
    d.on_call_enqueued("t2", "support", 12.0, priority=3)
    assert of(OfferCall, d.set_available("ann", 20.0))[0].call_id == "t2"
    d.answered("t2", "ann", 21.0)
    d.call_ended("ann", 30.0)
    assert of(OfferCall, d.tick(35.0))[0].call_id == "s1"


def test_a_callback_keeps_its_place_and_is_called_back_first() -> None:
    d = acd(sales(), agents={"ann": {"sales": 5}})
    d.set_not_ready("ann", "break", 1.0)
    d.on_call_enqueued("cb1", "sales", 10.0, callback=True)
    out = d.on_call_enqueued("c2", "sales", 11.0)
    assert of(AnnouncePosition, out) == [AnnouncePosition("c2", "sales", 2, None)]
    out = d.set_available("ann", 20.0)
    assert of(CallBackThenOffer, out) == [CallBackThenOffer("cb1", "ann", "sales")]
    assert of(OfferCall, out) == []
    assert of(CallLeftQueue, d.answered("cb1", "ann", 40.0))[0].outcome is CallOutcome.ANSWERED


def test_a_caller_who_hangs_up_while_ringing_frees_the_agent() -> None:
    d = acd(sales(), agents={"ann": {"sales": 5}})
    d.on_call_enqueued("c1", "sales", 10.0)
    out = d.abandon("c1", 14.0)
    assert of(WithdrawOffer, out) == [WithdrawOffer("c1", "ann", "caller-abandoned")]
    assert of(CallLeftQueue, out) == [CallLeftQueue("c1", "sales", CallOutcome.ABANDONED, 4.0)]
    assert d.agents["ann"].is_free  # not blamed
    assert d.queues["sales"].stats.abandoned == 1
    assert of(Refused, d.abandon("c1", 15.0))


def test_phone_lost_while_ringing_rings_the_next_agent() -> None:
    d = acd(sales(), agents={"ann": {"sales": 5}, "ben": {"sales": 5}})
    d.on_call_enqueued("c1", "sales", 10.0)
    out = d.phone_lost("ann", 11.0)
    assert of(OfferCall, out) == [OfferCall("c1", "ben", "sales", 15.0)]
    assert d.agents["ann"].not_ready_reason == "phone-lost"


def test_refusals_are_returned_not_raised() -> None:
    d = acd(sales(), agents={"ann": {"sales": 5}, "ben": {"sales": 5}})
    assert of(Refused, d.on_call_enqueued("c1", "nowhere", 1.0))
    d.on_call_enqueued("c1", "sales", 1.0)
    assert of(Refused, d.on_call_enqueued("c1", "sales", 2.0))
    assert of(Refused, d.answered("c1", "ben", 2.0))  # rang ann, not ben
    assert of(Refused, d.login("ann", "1001", 3.0))
    assert of(Refused, d.logout("zed", 3.0))
    assert d.agents["ann"].state is AgentState.RESERVED


def test_estimated_wait_and_snapshot() -> None:
    d = acd(sales(wrap_up=0), agents={"ann": {"sales": 5}, "ben": {"sales": 5}},
            )
    d.on_call_enqueued("c1", "sales", 0.0)
    d.on_call_enqueued("c2", "sales", 0.0)
    d.answered("c1", "ann", 5.0)
    d.answered("c2", "ben", 30.0)
    d.call_ended("ann", 125.0)  # 120 s handled, wrap-up 0
    d.set_not_ready("ann", "break", 125.0)
    for i in range(3):
        d.on_call_enqueued(f"w{i}", "sales", 130.0 + i)
    assert d.estimated_wait("w2") == 3 * 120.0 / 2
    snap = d.snapshot("sales", 140.0)
    assert (snap.waiting, snap.longest_wait, snap.answered) == (3, 10.0, 2)
    assert snap.service_level == 0.5  # c1 within 20 s, c2 after 30 s
    assert (snap.agents_logged_in, snap.agents_free) == (2, 0)


def test_queue_config_is_validated() -> None:
    with pytest.raises(QueueError):
        QueueConfig("q", strategy="fastest")
    with pytest.raises(QueueError):
        QueueConfig("q", ring_timeout=0)
    with pytest.raises(QueueError):
        QueueConfig("q", max_size=0)
    assert QueueConfig("q", strategy="round-robin").strategy.value == "round-robin"


def test_call_queue_keeps_service_order() -> None:
    q = CallQueue(QueueConfig("q"))
    calls = [WaitingCall(f"c{i}", "q", prio, float(i), i)
             for i, prio in enumerate([0, 2, 0, 2, 1])]
    positions = [q.add(c) for c in calls]
    assert positions == [1, 1, 3, 2, 3]
    assert [c.call_id for c in q] == ["c1", "c3", "c4", "c0", "c2"]
    q.remove(calls[3])
    assert [c.call_id for c in q] == ["c1", "c4", "c0", "c2"] and q.position(calls[2]) == 4


def test_timers_at_awkward_instants_still_fire_their_step() -> None:
    # (0.1 + 20.0) - 0.1 == 19.999999999999996: the step must still count as reached, and the
    # timer must not re-arm itself at the same instant.
    schedule = SkillSchedule([(0, {"sales": 5}), (20, {"sales": 3})])
    d = acd(QueueConfig("sales", schedule, max_wait=0.2 + 60), agents={"junior": {"sales": 3}})
    d.set_not_ready("junior", "break", 0.0)
    d.on_call_enqueued("c1", "sales", 0.1)
    d.on_call_enqueued("c2", "sales", 0.1)
    d.set_available("junior", 0.1)
    assert d.get_timer() == 0.1 + 20.0
    out = d.tick(0.1 + 20.0)
    assert of(OfferCall, out) == [OfferCall("c1", "junior", "sales", 15.0)]
    deadline = d.get_timer()
    assert deadline is not None and deadline > 0.1 + 20.0
    d.answered("c1", "junior", 21.0)
    out = d.tick(0.1 + (0.2 + 60))
    assert [o.call_id for o in of(OverflowCall, out)] == ["c2"]


def test_callback_keeps_the_place_and_is_offered_as_a_callback() -> None:
    from pycc.ccs import CallBackThenOffer, Distributor, OfferCall, QueueConfig, Refused

    d = Distributor([QueueConfig("sales")])
    d.add_agent("alice", {"sales": 5})
    d.login("alice", "1001", 0.0)
    d.set_not_ready("alice", "break", 0.5)
    d.on_call_enqueued("first", "sales", 1.0)
    d.on_call_enqueued("second", "sales", 2.0)
    assert d.request_callback("first", 3.0) == []
    assert isinstance(d.request_callback("nobody", 3.0)[0], Refused)
    assert d.position("first") == 1
    decisions = d.set_available("alice", 4.0)
    offers = [x for x in decisions if isinstance(x, CallBackThenOffer | OfferCall)]
    assert offers == [CallBackThenOffer("first", "alice", "sales")]
    assert isinstance(d.request_callback("first", 5.0)[0], Refused)


def test_a_call_for_one_agent_waits_for_that_agent_and_others_pass_it_by() -> None:
    """A callback an agent scheduled for themself: other free agents never get it, later
    callers are served around it, and the named agent gets it once free."""
    d = acd(sales(wrap_up=0), agents={"ann": {"sales": 5}, "ben": {"sales": 5}})
    d.on_call_enqueued("busy", "sales", 10.0)  # ann (longest idle) takes a call
    d.answered("busy", "ann", 11.0)
    out = d.on_call_enqueued("mine", "sales", 20.0, callback=True, agent="ann", priority=9)
    assert of(CallBackThenOffer, out) == [] and d.agents["ben"].state is AgentState.IDLE
    # A later, lower-priority caller goes to ben around the call waiting for ann.
    assert of(OfferCall, d.on_call_enqueued("next", "sales", 21.0)) == [
        OfferCall("next", "ben", "sales", 15.0)]
    d.answered("next", "ben", 22.0)
    out = d.call_ended("ben", 30.0)
    assert of(CallBackThenOffer, out) == [] and d.call("mine") is not None
    out = d.call_ended("ann", 40.0)
    assert of(CallBackThenOffer, out) == [CallBackThenOffer("mine", "ann", "sales")]
    assert of(Refused, d.on_call_enqueued("x", "sales", 41.0, agent="zed")) == [
        Refused("x", "enqueue", "no agent 'zed'")]


def test_new_skill_levels_take_effect_at_once_and_a_free_agent_takes_a_call_it_now_serves(
        ) -> None:
    d = acd(sales(), QueueConfig("support", SkillSchedule.fixed({"support": 3})),
            agents={"ann": {"support": 5}, "ben": {"sales": 5}})
    d.set_not_ready("ben", "break", 1.0)
    d.on_call_enqueued("c1", "sales", 10.0)
    assert d.snapshot("sales", 10.0).agents_logged_in == 1
    # ann gets the sales skill: the waiting call is offered to her at once.
    out = d.set_skills("ann", {"support": 5, "sales": 2}, 20.0)
    assert of(OfferCall, out) == [OfferCall("c1", "ann", "sales", 15.0)]
    assert d.snapshot("sales", 20.0).agents_logged_in == 2
    # The same levels again change nothing.
    assert d.set_skills("ann", {"sales": 2, "support": 5}, 21.0) == []
    # ben loses sales: the queue counts only ann, and a new sales call waits for her.
    d.set_skills("ben", {"support": 4}, 22.0)
    assert d.snapshot("sales", 22.0).agents_logged_in == 1
    assert d.snapshot("support", 22.0).agents_logged_in == 2
    d.set_available("ben", 23.0)
    assert of(OfferCall, d.on_call_enqueued("c2", "sales", 24.0)) == []
    # An unknown agent is refused; a level out of range (which the configuration's checks
    # stop before) raises, and ann keeps her levels.
    assert of(Refused, d.set_skills("zed", {"sales": 1}, 25.0))
    with pytest.raises(SkillError):
        d.set_skills("ann", {"sales": 11}, 25.0)
    assert d.agents["ann"].skills == {"sales": 2, "support": 5}


def test_a_queue_given_new_skills_is_served_by_the_agents_who_now_qualify() -> None:
    d = acd(sales(), agents={"ann": {"sales": 2}, "ben": {"support": 5}})
    d.set_not_ready("ann", "break", 1.0)
    d.on_call_enqueued("c1", "sales", 10.0)
    d.set_available("ann", 11.0)
    d.answered("c1", "ann", 12.0)
    d.reconfigure_queue(QueueConfig("sales", SkillSchedule.fixed({"support": 1})))
    assert d.snapshot("sales", 13.0).agents_logged_in == 1
    assert of(OfferCall, d.on_call_enqueued("c2", "sales", 14.0)) == [
        OfferCall("c2", "ben", "sales", 15.0)]
    # ann's wrap-up ends: she no longer serves the queue, so the next call waits for ben.
    d.call_ended("ann", 20.0)
    d.tick(20.0)
    out = d.on_call_enqueued("c3", "sales", 21.0)
    assert of(OfferCall, out) == []
