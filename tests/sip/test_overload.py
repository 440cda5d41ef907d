"""Tests for pycc.sip.overload: which new calls the overload guard admits, with time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.sip.overload import OverloadConfig, OverloadGuard, Refusal


def guard(**settings: float) -> OverloadGuard:
    return OverloadGuard(OverloadConfig(**settings))  # type: ignore[arg-type]


def test_no_limits_admit_everything() -> None:
    g = guard()
    for now in range(100):
        assert g.admit_request(backlog=10**9, now=float(now)) is None
        assert g.admit_call(float(now) / 1000, calls=10**6) is None
    assert g.refused == {}


def test_backlog_refuses_new_invites_and_counts_them() -> None:
    g = guard(max_backlog=1000)
    assert g.admit_request(backlog=0, now=0.0) is None
    assert g.admit_request(backlog=1000, now=0.0) is None  # at the limit: still admitted
    assert g.admit_request(backlog=1001, now=0.0) is Refusal.BACKLOG
    assert g.admit_request(backlog=5000, now=0.0) is Refusal.BACKLOG
    assert g.refused == {Refusal.BACKLOG: 2}


def test_an_answer_to_a_challenge_is_refused_only_at_twice_the_backlog() -> None:
    g = guard(max_backlog=1000)
    assert g.admit_request(backlog=1500, now=0.0, answers_challenge=True) is None
    assert g.admit_request(backlog=2000, now=0.0, answers_challenge=True) is None
    assert g.admit_request(backlog=2001, now=0.0, answers_challenge=True) is Refusal.BACKLOG
    assert g.admit_request(backlog=1500, now=0.0) is Refusal.BACKLOG


def test_a_backlog_is_refused_only_once_it_has_lasted_the_grace() -> None:
    g = guard(max_backlog=1000, backlog_grace=0.25)
    assert g.admit_request(backlog=5000, now=10.0) is None  # the first look over the limit
    assert g.admit_request(backlog=5000, now=10.2) is None
    assert not g.refuses_backlog(5000, 10.24)
    assert g.refuses_backlog(5000, 10.25)
    assert g.admit_request(backlog=5000, now=10.3) is Refusal.BACKLOG
    # Worked off: the next backlog starts its own grace.
    assert g.admit_request(backlog=900, now=10.4) is None
    assert g.admit_request(backlog=5000, now=10.5) is None
    assert g.admit_request(backlog=5000, now=10.8) is Refusal.BACKLOG
    # A clock that steps back starts the grace again rather than refusing at once.
    assert g.admit_request(backlog=900, now=11.0) is None
    assert g.admit_request(backlog=5000, now=12.0) is None
    assert g.admit_request(backlog=5000, now=11.0) is None
    assert g.admit_request(backlog=5000, now=11.25) is Refusal.BACKLOG
    # Past the grace, a challenge's answer still has twice the limit.
    assert g.admit_request(backlog=1500, now=11.3, answers_challenge=True) is None
    assert g.refused == {Refusal.BACKLOG: 3}


def test_max_calls() -> None:
    g = guard(max_calls=3)
    assert [g.admit_call(0.0, calls=n) for n in range(5)] == \
        [None, None, None, Refusal.MAX_CALLS, Refusal.MAX_CALLS]
    assert g.refused == {Refusal.MAX_CALLS: 2}


def test_call_rate_allows_a_one_second_burst_then_the_rate() -> None:
    g = guard(max_call_rate=5)
    admitted = [g.admit_call(10.0, calls=0) is None for _ in range(8)]
    assert admitted == [True] * 5 + [False] * 3
    # Times exact in binary: 1/8 s gives back 0.625 of a token, 1/4 s 1.25.
    assert g.admit_call(10.125, calls=0) is Refusal.MAX_CALL_RATE
    assert g.admit_call(10.25, calls=0) is None
    assert g.admit_call(10.25, calls=0) is Refusal.MAX_CALL_RATE
    assert g.admit_call(10.5, calls=0) is None
    assert g.refused == {Refusal.MAX_CALL_RATE: 5}


def test_a_fractional_rate_still_admits_one_call() -> None:
    g = guard(max_call_rate=0.5)
    assert g.admit_call(0.0, calls=0) is None
    assert g.admit_call(1.0, calls=0) is Refusal.MAX_CALL_RATE
    assert g.admit_call(2.0, calls=0) is None


def test_a_refused_call_takes_no_token() -> None:
    g = guard(max_calls=1, max_call_rate=1)
    assert g.admit_call(0.0, calls=1) is Refusal.MAX_CALLS
    assert g.admit_call(0.0, calls=0) is None  # the token is still there


def test_a_clock_stepping_back_does_not_drain_or_fill_the_bucket() -> None:
    g = guard(max_call_rate=2)
    assert g.admit_call(100.0, calls=0) is None
    assert g.admit_call(100.0, calls=0) is None
    assert g.admit_call(50.0, calls=0) is Refusal.MAX_CALL_RATE
    assert g.admit_call(100.5, calls=0) is None


@given(st.lists(st.floats(min_value=0.0, max_value=0.5, allow_nan=False), max_size=200),
       st.floats(min_value=0.5, max_value=50.0))
def test_admitted_calls_never_exceed_burst_plus_rate(gaps: list[float], rate: float) -> None:
    g = guard(max_call_rate=rate)
    now = 1000.0
    times = []
    for gap in gaps:
        now += gap
        if g.admit_call(now, calls=0) is None:
            times.append(now)
    burst = max(1.0, rate)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            # Calls admitted within any span: at most the burst plus what the span refills.
            assert j - i + 1 <= burst + (times[j] - start) * rate + 1e-6


def test_retry_after_and_reason_phrases() -> None:
    g = guard(retry_after=7)
    assert g.retry_after == ("Retry-After", "7")
    assert Refusal.BACKLOG.value == "Server Overloaded"
    assert Refusal.MAX_CALLS.metric_label == "overload_max_calls"


@pytest.mark.parametrize("settings", [
    {"max_calls": -1}, {"max_call_rate": -0.5}, {"max_backlog": -1}, {"retry_after": -1},
    {"backlog_grace": -0.1}, {"backlog_grace": float("inf")},
])
def test_negative_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"overload limits|retry_after"):
        OverloadConfig(**settings)  # type: ignore[arg-type]

