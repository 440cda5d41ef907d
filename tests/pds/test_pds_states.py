"""The contact state machine: each move of the table, the refusals, and retry rules under
random sequences of results."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.pds.states import (
    FINAL_RESULTS,
    TRANSITIONS,
    ContactEvent,
    ContactState,
    RetryRule,
    TransitionError,
    next_state,
    settle,
)

S = ContactState
E = ContactEvent

EXPECTED = {
    (S.READY, E.DIAL): S.DIALING, (S.RETRY, E.DIAL): S.DIALING,
    (S.SCHEDULED, E.DIAL): S.DIALING,
    (S.READY, E.BLOCK): S.DONE, (S.RETRY, E.BLOCK): S.DONE, (S.SCHEDULED, E.BLOCK): S.DONE,
    (S.READY, E.CALLBACK): S.SCHEDULED, (S.RETRY, E.CALLBACK): S.SCHEDULED,
    (S.SCHEDULED, E.CALLBACK): S.SCHEDULED, (S.DONE, E.CALLBACK): S.SCHEDULED,
    (S.DIALING, E.ANSWER): S.ANSWERED, (S.DIALING, E.SKIP): S.RETRY,
    (S.DIALING, E.BUSY): S.BUSY, (S.DIALING, E.NO_ANSWER): S.NO_ANSWER,
    (S.DIALING, E.REJECTED): S.REJECTED, (S.DIALING, E.INVALID): S.INVALID,
    (S.DIALING, E.FAILED): S.FAILED,
    (S.ANSWERED, E.CONNECT): S.CONNECTED, (S.ANSWERED, E.ABANDONED): S.ABANDONED,
    (S.ANSWERED, E.MACHINE): S.MACHINE, (S.ANSWERED, E.FAILED): S.FAILED,
    (S.CONNECTED, E.HANGUP): S.DONE,
    (S.BUSY, E.RETRY): S.RETRY, (S.BUSY, E.CLOSE): S.DONE,
    (S.NO_ANSWER, E.RETRY): S.RETRY, (S.NO_ANSWER, E.CLOSE): S.DONE,
    (S.REJECTED, E.RETRY): S.RETRY, (S.REJECTED, E.CLOSE): S.DONE,
    (S.FAILED, E.RETRY): S.RETRY, (S.FAILED, E.CLOSE): S.DONE,
    (S.ABANDONED, E.RETRY): S.RETRY, (S.ABANDONED, E.CLOSE): S.DONE,
    (S.MACHINE, E.RETRY): S.RETRY, (S.MACHINE, E.CLOSE): S.DONE,
    (S.INVALID, E.CLOSE): S.DONE,
}


def test_the_table_is_exactly_the_designed_machine() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("state", "event"), sorted(EXPECTED))
def test_every_move(state: ContactState, event: ContactEvent) -> None:
    assert next_state(state, event) is EXPECTED[state, event]
    assert next_state(state.value, event.value) is EXPECTED[state, event]


REFUSED = [(state, event) for state in S for event in E if (state, event) not in EXPECTED]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_every_other_pair_is_refused(state: ContactState, event: ContactEvent) -> None:
    with pytest.raises(TransitionError) as caught:
        next_state(state, event)
    assert caught.value.state is state and caught.value.event is event
    assert state.value in str(caught.value) and event.value in str(caught.value)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError):
        next_state("sleeping", E.DIAL)
    with pytest.raises(ValueError):
        next_state(S.READY, "teleport")
    with pytest.raises(ValueError, match="unknown result"):
        settle(S.DIALING, "answered", {}, {}, 0.0)


RULES = {"busy": RetryRule(3, 600.0), "no_answer": RetryRule(2, 3600.0)}


def test_settle_retries_until_the_rule_s_maximum() -> None:
    first = settle(S.DIALING, "busy", {}, RULES, 1000.0)
    assert (first.state, first.result, first.next_at) == (S.RETRY, "busy", 1600.0)
    assert first.counts == {"busy": 1} and first.path == (E.BUSY, E.RETRY)
    second = settle(S.DIALING, "busy", first.counts, RULES, 2000.0)
    assert second.state is S.RETRY and second.next_at == 2600.0
    third = settle(S.DIALING, "busy", second.counts, RULES, 3000.0)
    assert (third.state, third.next_at, third.counts) == (S.DONE, None, {"busy": 3})
    # Counts are per result: a no answer after two busies has its own allowance.
    other = settle(S.DIALING, "no_answer", second.counts, RULES, 3000.0)
    assert other.state is S.RETRY and other.counts == {"busy": 2, "no_answer": 1}


def test_results_without_a_rule_end_the_contact() -> None:
    for result in ("rejected", "failed", "invalid"):
        done = settle(S.DIALING, result, {}, RULES, 0.0)
        assert (done.state, done.result, done.next_at) == (S.DONE, result, None)


def test_an_invalid_number_is_never_retried_even_with_a_rule() -> None:
    done = settle(S.DIALING, "invalid", {}, {"invalid": RetryRule(5, 1.0)}, 0.0)
    assert done.state is S.DONE


def test_answered_results_pass_through_answered() -> None:
    connected = settle(S.DIALING, "connected", {}, RULES, 0.0)
    assert connected.path == (E.ANSWER, E.CONNECT, E.HANGUP) and connected.state is S.DONE
    abandoned = settle(S.ANSWERED, "abandoned", {}, {"abandoned": RetryRule(2, 60)}, 10.0)
    assert abandoned.path == (E.ABANDONED, E.RETRY) and abandoned.next_at == 70.0
    machine = settle(S.DIALING, "machine", {}, {}, 0.0)
    assert machine.path == (E.ANSWER, E.MACHINE, E.CLOSE)


def test_a_connected_contact_stays_connected_whatever_the_end() -> None:
    ended = settle(S.CONNECTED, "failed", {}, {"failed": RetryRule(9, 1.0)}, 5.0)
    assert (ended.state, ended.result, ended.path) == (S.DONE, "connected", (E.HANGUP,))


def test_impossible_results_for_the_state_are_refused() -> None:
    with pytest.raises(TransitionError):
        settle(S.ANSWERED, "busy", {}, RULES, 0.0)
    with pytest.raises(TransitionError):
        settle(S.READY, "busy", {}, RULES, 0.0)
    with pytest.raises(TransitionError):
        settle(S.DONE, "connected", {}, RULES, 0.0)


def test_a_callback_asked_for_during_the_call_schedules_the_contact() -> None:
    ended = settle(S.CONNECTED, "connected", {}, RULES, 100.0, callback_at=5000.0)
    assert (ended.state, ended.next_at) == (S.SCHEDULED, 5000.0)
    assert ended.path[-1] is E.CALLBACK
    # A contact to be retried anyway is not also scheduled.
    busy = settle(S.DIALING, "busy", {}, RULES, 100.0, callback_at=5000.0)
    assert busy.state is S.RETRY and busy.next_at == 700.0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FINAL_RESULTS), min_size=1, max_size=40),
       st.dictionaries(st.sampled_from(["busy", "no_answer", "failed", "machine", "abandoned",
                                        "rejected"]),
                       st.builds(RetryRule, st.integers(1, 4), st.floats(0, 1e5)),
                       max_size=6))
def test_random_results_end_in_one_result_within_the_maximums(
        results: list[str], rules: dict[str, RetryRule]) -> None:
    state, now, attempts = S.READY, 0.0, 0
    counts: dict[str, int] = {}
    final: list[str] = []
    for result in results:
        if state is S.DONE:
            break
        state = next_state(state, E.DIAL)
        attempts += 1
        settled = settle(state, result, counts, rules, now)
        state, counts = settled.state, dict(settled.counts)
        assert state in (S.RETRY, S.DONE)
        if state is S.RETRY:
            assert settled.next_at is not None and settled.next_at >= now
            now = settled.next_at
        else:
            final.append(settled.result)
    for result, count in counts.items():
        allowed = rules[result].max if result in rules and result != "invalid" else 1
        assert count <= allowed
    assert attempts == sum(counts.values())
    assert len(final) <= 1
    if state is S.DONE:
        # A finished contact takes no more results, only a callback.
        for event in E:
            if event is not E.CALLBACK:
                with pytest.raises(TransitionError):
                    next_state(state, event)
