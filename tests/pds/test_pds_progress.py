"""SIP responses to outbound call results: every status class, the ring-time rule, retries."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.pds.progress import NO_RESPONSE, CallResult, result_for_status, retryable

R = CallResult


def result(status: int, ring: float = 3.0, **options: object) -> CallResult:
    return result_for_status(status, ring_seconds=ring, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, R.ANSWERED), (202, R.ANSWERED), (299, R.ANSWERED),
        (486, R.BUSY), (600, R.BUSY),
        (404, R.INVALID_NUMBER), (410, R.INVALID_NUMBER), (484, R.INVALID_NUMBER),
        (485, R.INVALID_NUMBER), (604, R.INVALID_NUMBER),
        (403, R.REJECTED), (603, R.REJECTED), (607, R.REJECTED), (608, R.REJECTED),
        (699, R.REJECTED),
        (500, R.NETWORK_FAILURE), (502, R.NETWORK_FAILURE), (503, R.NETWORK_FAILURE),
        (504, R.NETWORK_FAILURE), (599, R.NETWORK_FAILURE),
        (482, R.NETWORK_FAILURE), (483, R.NETWORK_FAILURE),
        (401, R.FAILED), (407, R.FAILED), (400, R.FAILED), (415, R.FAILED),
        (488, R.FAILED), (606, R.FAILED),
        (300, R.FAILED), (302, R.FAILED),
    ],
)
def test_final_responses_map_by_their_meaning(status: int, expected: CallResult) -> None:
    # The ring time changes none of these (it only matters to an unanswered call).
    for ring in (0.0, 3.0, 30.0):
        for early in (False, True):
            assert result(status, ring, early_media=early) is expected


@pytest.mark.parametrize("status", [487, 480, 408, 180, 183, 100])
def test_min_ring_boundary_for_no_answer(status: int) -> None:
    assert result(status, 15.0) is R.NO_ANSWER
    assert result(status, 15.0, early_media=True) is R.NO_ANSWER
    assert result(status, 20.0, min_ring=20.0) is R.NO_ANSWER
    # Just short of the minimum ring time it is not a "no answer" of the customer's
    # (except a 480 after real alerting: see the next test).
    just_short = math.nextafter(15.0, 0.0)
    assert result(status, just_short, early_media=True) is not R.NO_ANSWER
    assert result(status, 19.9, min_ring=20.0, early_media=True) is not R.NO_ANSWER


def test_our_cancel_before_the_minimum_ring_is_cancelled() -> None:
    assert result(487, 14.9) is R.CANCELLED
    assert result(487, 0.0) is R.CANCELLED
    # Ended with only a provisional response seen (the CANCEL's 487 never came): the same.
    assert result(180, 4.0) is R.CANCELLED
    assert result(183, 16.0) is R.NO_ANSWER


def test_408_and_480_before_the_minimum_ring_depend_on_the_reason() -> None:
    # 408 (Q.850 18, no user responding): the network gave up, the customer is not at fault.
    assert result(408, 0.0) is R.NETWORK_FAILURE
    assert result(408, 8.0) is R.NETWORK_FAILURE
    # 480 after a real 180 (Q.850 19, user alerted, no answer): the customer did not answer.
    assert result(480, 8.0) is R.NO_ANSWER
    # 480 without alerting (Q.850 20, subscriber absent) or after early media only.
    assert result(480, 0.0) is R.NETWORK_FAILURE
    assert result(480, 8.0, early_media=True) is R.NETWORK_FAILURE


def test_no_response_at_all_is_a_network_failure() -> None:
    assert result(NO_RESPONSE, 0.0) is R.NETWORK_FAILURE
    assert result(0, 0.0, min_ring=0.0) is R.NETWORK_FAILURE


def test_a_zero_min_ring_makes_every_unanswered_end_a_no_answer() -> None:
    assert result(487, 0.0, min_ring=0.0) is R.NO_ANSWER
    assert result(408, 0.0, min_ring=0.0) is R.NO_ANSWER


@given(
    status=st.one_of(st.just(0), st.integers(100, 699)),
    ring=st.floats(0.0, 1e6, allow_nan=False),
    min_ring=st.floats(0.0, 1e6, allow_nan=False),
    early=st.booleans(),
)
def test_every_valid_input_has_a_result(
    status: int, ring: float, min_ring: float, early: bool
) -> None:
    found = result_for_status(status, ring_seconds=ring, min_ring=min_ring, early_media=early)
    assert isinstance(found, CallResult)
    assert found not in (R.MACHINE, R.ABANDONED, R.CONNECTED)  # set after answer, not by SIP
    if found is R.NO_ANSWER and status != 480:
        assert ring >= min_ring
    assert (found is R.ANSWERED) == (200 <= status <= 299)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"status": 99, "ring_seconds": 0.0}, ValueError, "status must be a SIP status"),
        ({"status": 700, "ring_seconds": 0.0}, ValueError, "status must be a SIP status"),
        ({"status": -1, "ring_seconds": 0.0}, ValueError, "status must be a SIP status"),
        ({"status": "486", "ring_seconds": 0.0}, TypeError, "status must be a SIP status"),
        ({"status": True, "ring_seconds": 0.0}, TypeError, "status must be a SIP status"),
        ({"status": 486, "ring_seconds": -1.0}, ValueError, "ring_seconds"),
        ({"status": 486, "ring_seconds": math.nan}, ValueError, "ring_seconds"),
        ({"status": 486, "ring_seconds": "3"}, TypeError, "ring_seconds"),
        ({"status": 486, "ring_seconds": 1.0, "min_ring": math.inf}, ValueError, "min_ring"),
    ],
)
def test_bad_arguments_name_the_field(
    arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        result_for_status(**arguments)  # type: ignore[arg-type]


def test_retryable_hints() -> None:
    again = {R.BUSY, R.NO_ANSWER, R.NETWORK_FAILURE, R.FAILED, R.MACHINE, R.ABANDONED,
             R.CANCELLED}
    for value in CallResult:
        assert retryable(value) is (value in again), value
    assert not retryable(R.ANSWERED) and not retryable(R.CONNECTED)
    assert not retryable(R.INVALID_NUMBER) and not retryable(R.REJECTED)
    with pytest.raises(TypeError, match="CallResult"):
        retryable("busy")  # type: ignore[arg-type]


def test_result_values_are_the_stored_names() -> None:
    assert [value.value for value in CallResult] == [
        "answered", "busy", "no_answer", "rejected", "invalid_number", "network_failure",
        "failed", "machine", "abandoned", "connected", "cancelled",
    ]
    assert CallResult("no_answer") is R.NO_ANSWER and str(R.BUSY) == "busy"
