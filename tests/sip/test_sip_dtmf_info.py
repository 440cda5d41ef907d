"""DTMF in SIP INFO bodies: application/dtmf-relay and application/dtmf."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.sip.dtmf_info import DTMF_DIGITS, format_dtmf_relay, parse_dtmf_info


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", ("5", 160)),
        ("Application/DTMF-Relay; charset=x", b"signal= #\nduration=250\n", ("#", 250)),
        ("application/dtmf-relay", b"Signal=10\r\nDuration=100\r\n", ("*", 100)),
        ("application/dtmf-relay", b"Signal=11\r\n", ("#", 160)),
        ("application/dtmf-relay", b"Signal=a\r\nDuration=abc\r\n", ("A", 160)),
        ("application/dtmf-relay", b"Signal=7\r\nDuration=999999\r\n", ("7", 10_000)),
        ("application/dtmf", b"9\r\n", ("9", 160)),
    ],
)
def test_bodies_phones_send(content_type: str, body: bytes, expected: tuple[str, int]) -> None:
    info = parse_dtmf_info(content_type, body)
    assert info is not None
    assert (info.digit, info.duration_ms) == expected


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/sdp", b"Signal=5\r\n"),
        (None, b"Signal=5\r\n"),
        ("application/dtmf-relay", b"Duration=160\r\n"),
        ("application/dtmf-relay", b"Signal=55\r\n"),
        ("application/dtmf-relay", b"Signal=x\r\n"),
        ("application/dtmf", b""),
    ],
)
def test_bodies_that_are_not_a_key(content_type: str | None, body: bytes) -> None:
    assert parse_dtmf_info(content_type, body) is None


@given(st.sampled_from(sorted(DTMF_DIGITS)), st.integers(1, 10_000))
def test_format_then_parse_round_trips(digit: str, duration: int) -> None:
    info = parse_dtmf_info("application/dtmf-relay", format_dtmf_relay(digit, duration))
    assert info == (digit, duration)


@given(st.binary(max_size=200))
def test_any_body_parses_or_is_none(body: bytes) -> None:
    info = parse_dtmf_info("application/dtmf-relay", body)
    assert info is None or (info.digit in DTMF_DIGITS and 1 <= info.duration_ms <= 10_000)


def test_format_refuses_a_non_digit() -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        format_dtmf_relay("x")
