"""Tests for pycc.sip.session_timer: RFC 4028 headers, negotiation on both sides, deadlines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.sip.errors import SipParseError
from pycc.sip.headers import Headers
from pycc.sip.message import Request, Response, make_response, parse_message
from pycc.sip.session_timer import (
    MIN_SE_FLOOR,
    MinSE,
    SessionExpires,
    SessionTimer,
    SessionTimerDecision,
    negotiate_uac,
    negotiate_uas,
    uac_request_headers,
)
from pycc.sip.uri import parse_uri


def invite(*extra: tuple[str, str]) -> Request:
    headers = Headers([
        ("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-st"),
        ("To", "<sip:bob@example.com>"),
        ("From", "<sip:alice@example.com>;tag=a1"),
        ("Call-ID", "st@10.0.0.1"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:alice@10.0.0.1>"),
        *extra,
    ])
    request = parse_message(Request(headers, b"", "INVITE", parse_uri("sip:bob@example.com"))
                            .to_bytes())
    assert isinstance(request, Request)
    return request


# -- header fields ---------------------------------------------------------------------------


def test_session_expires_parse_and_format() -> None:
    value = SessionExpires.parse("1800;refresher=uac")
    assert value == SessionExpires(1800, "uac")
    assert str(value) == "1800;refresher=uac"
    assert SessionExpires.parse(" 90 ") == SessionExpires(90)
    assert str(SessionExpires(90)) == "90"
    kept = SessionExpires.parse("600;REFRESHER=UAS;x-foo=bar")
    assert kept.refresher == "uas" and kept.params == (("x-foo", "bar"),)
    assert str(kept) == "600;refresher=uas;x-foo=bar"


@pytest.mark.parametrize(
    "text", ["", "abc", "0", "-5", "1800;refresher=both", "1800;refresher", "1800;", "18 00"]
)
def test_session_expires_rejects_malformed(text: str) -> None:
    with pytest.raises(SipParseError):
        SessionExpires.parse(text)


def test_min_se_parse_and_format() -> None:
    assert MinSE.parse("120") == MinSE(120)
    assert str(MinSE.parse("120;lr")) == "120;lr"
    with pytest.raises(SipParseError):
        MinSE.parse("soon")


def test_compact_form_x_is_read() -> None:
    request = invite(("x", "1200;refresher=uas"), ("k", "timer"))
    assert SessionExpires.of(request) == SessionExpires(1200, "uas")
    assert MinSE.of(request) is None


@given(st.integers(min_value=1, max_value=2**32 - 1), st.sampled_from([None, "uac", "uas"]))
def test_session_expires_round_trip(interval: int, refresher: str | None) -> None:
    value = SessionExpires(interval, refresher)  # type: ignore[arg-type]
    assert SessionExpires.parse(str(value)) == value


# -- UAS negotiation -------------------------------------------------------------------------


def test_too_small_interval_is_422_with_min_se() -> None:
    decision = negotiate_uas(invite(("Supported", "timer"), ("Session-Expires", "60")))
    assert decision == SessionTimerDecision(422, min_se=90)
    assert not decision.accepted
    assert decision.response_headers() == [("Min-SE", "90")]
    ours = negotiate_uas(invite(("Supported", "timer"), ("Session-Expires", "100")), min_se=120)
    assert (ours.status, ours.min_se) == (422, 120)
    # A Min-SE that a proxy raised binds the UAS too (RFC 4028 §5).
    raised = negotiate_uas(invite(("Supported", "timer"), ("Session-Expires", "200"),
                                  ("Min-SE", "300")))
    assert (raised.status, raised.min_se) == (422, 300)


def test_interval_at_the_minimum_is_accepted() -> None:
    decision = negotiate_uas(invite(("Supported", "timer"), ("Session-Expires", "90")))
    assert (decision.status, decision.interval) == (200, 90)


def test_requested_refresher_is_kept_and_timer_required() -> None:
    for asked in ("uac", "uas"):
        decision = negotiate_uas(invite(("Supported", "timer, 100rel"),
                                        ("Session-Expires", f"1800;refresher={asked}")))
        assert decision == SessionTimerDecision(200, 1800, asked, require_timer=True)  # type: ignore[arg-type]
        assert decision.response_headers() == [
            ("Session-Expires", f"1800;refresher={asked}"),
            ("Require", "timer"),
        ]


def test_uas_chooses_the_refresher_when_the_uac_leaves_it_open() -> None:
    request = invite(("Supported", "timer"), ("Session-Expires", "1200"))
    assert negotiate_uas(request).refresher == "uas"
    assert negotiate_uas(request, preferred_refresher="uac").refresher == "uac"


def test_no_session_expires_gets_the_default_or_the_min_se() -> None:
    decision = negotiate_uas(invite(("Supported", "timer")))
    assert (decision.interval, decision.refresher, decision.require_timer) == (1800, "uas", True)
    assert negotiate_uas(invite(("Supported", "timer")), default_interval=600).interval == 600
    bigger = negotiate_uas(invite(("Supported", "timer"), ("Min-SE", "2400")))
    assert bigger.interval == 2400


def test_uac_without_timer_support_is_never_rejected_and_never_refreshes() -> None:
    # A proxy inserted a small Session-Expires; the UAC cannot retry, so the UAS raises it.
    decision = negotiate_uas(invite(("Session-Expires", "60")), min_se=120)
    assert decision == SessionTimerDecision(200, 120, "uas", require_timer=False)
    assert decision.response_headers() == [("Session-Expires", "120;refresher=uas")]
    # A refresher the UAC cannot honour is overridden.
    proxy_asked = negotiate_uas(invite(("Session-Expires", "1800;refresher=uac")))
    assert (proxy_asked.refresher, proxy_asked.require_timer) == ("uas", False)
    plain = negotiate_uas(invite())
    assert (plain.interval, plain.refresher, plain.require_timer) == (1800, "uas", False)


def test_without_local_support_no_timer_or_420() -> None:
    decision = negotiate_uas(invite(("Supported", "timer"), ("Session-Expires", "60")),
                             supported=False)
    assert decision.accepted and not decision.active
    assert decision.response_headers() == []
    required = negotiate_uas(invite(("Require", "timer"), ("Session-Expires", "1800")),
                             supported=False)
    assert required.status == 420
    assert required.response_headers() == [("Unsupported", "timer")]


def test_malformed_session_expires_raises_parse_error_for_400() -> None:
    with pytest.raises(SipParseError) as caught:
        negotiate_uas(invite(("Supported", "timer"), ("Session-Expires", "1800;refresher=me")))
    assert caught.value.status == 400


@given(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=MIN_SE_FLOOR, max_value=5_000),
    st.booleans(),
)
def test_uas_never_grants_below_any_minimum(
    requested: int, min_se: int, uac_supports: bool
) -> None:
    extra = [("Session-Expires", str(requested))]
    if uac_supports:
        extra.append(("Supported", "timer"))
    decision = negotiate_uas(invite(*extra), min_se=min_se)
    if decision.status == 422:
        assert uac_supports and requested < min_se and decision.min_se == min_se
    else:
        assert decision.interval is not None
        assert decision.interval >= min_se
        assert decision.interval == max(requested, min_se)  # never raised above the request
        assert decision.require_timer == uac_supports


# -- UAC side --------------------------------------------------------------------------------


def test_uac_request_headers() -> None:
    assert uac_request_headers() == [("Supported", "timer"), ("Session-Expires", "1800")]
    assert uac_request_headers(300, min_se=300, refresher="uac") == [
        ("Supported", "timer"),
        ("Session-Expires", "300;refresher=uac"),
        ("Min-SE", "300"),
    ]


def test_uac_retries_after_422_and_gets_its_timer() -> None:
    first = invite(*uac_request_headers(60))
    rejected = negotiate_uas(first, min_se=300)
    answer = make_response(first, 422, extra=rejected.response_headers())
    retry_with = negotiate_uac(answer)
    assert (retry_with.status, retry_with.min_se) == (422, 300)
    assert retry_with.min_se is not None
    second = invite(*uac_request_headers(retry_with.min_se, min_se=retry_with.min_se))
    granted = negotiate_uas(second, min_se=300)
    ok = make_response(second, 200, to_tag="b1", extra=granted.response_headers())
    parsed = parse_message(ok.to_bytes())
    assert isinstance(parsed, Response)
    seen = negotiate_uac(parsed)
    assert seen == SessionTimerDecision(200, 300, "uas", require_timer=True)
    assert seen.active


def test_uac_reads_2xx() -> None:
    request = invite()
    without = make_response(request, 200, to_tag="b1")
    assert not negotiate_uac(without).active
    no_refresher = make_response(request, 200, to_tag="b1", extra=[("Session-Expires", "900")])
    assert negotiate_uac(no_refresher).refresher == "uac"
    failed = make_response(request, 486, to_tag="b1", extra=[("Session-Expires", "900")])
    assert negotiate_uac(failed) == SessionTimerDecision(486)
    bare_422 = make_response(request, 422)
    assert negotiate_uac(bare_422).min_se == MIN_SE_FLOOR


# -- deadlines -------------------------------------------------------------------------------


def test_refresher_refreshes_at_half_and_expires_at_the_interval() -> None:
    timer = SessionTimer(1800, is_refresher=True, now=100.0)
    assert timer.next_deadline() == 1000.0
    assert timer.due(999.9) is None
    assert timer.due(1000.0) == "refresh"
    assert timer.due(1000.5) is None  # reported once
    assert timer.next_deadline() == 1900.0
    timer.refreshed(1010.0)
    assert timer.next_deadline() == 1910.0
    assert timer.due(1910.0) == "refresh"
    assert timer.due(2810.0) == "expire"  # the refresh never succeeded
    assert timer.due(2811.0) is None
    assert timer.next_deadline() is None


def test_other_side_expires_early_enough_to_send_bye() -> None:
    long = SessionTimer(1800, is_refresher=False, now=0.0)
    assert long.next_deadline() == 1800 - 32
    assert long.due(1767.9) is None
    assert long.due(1768.0) == "expire"
    short = SessionTimer(90, is_refresher=False, now=0.0)
    assert short.next_deadline() == 60.0  # 90 - 90/3
    assert short.due(45.0) is None  # never told to refresh


def test_refresh_may_change_interval_and_refresher() -> None:
    timer = SessionTimer(1800, is_refresher=False, now=0.0)
    timer.refreshed(500.0, interval=600, is_refresher=True)
    assert timer.next_deadline() == 800.0
    assert timer.due(800.0) == "refresh"
    with pytest.raises(ValueError):
        timer.refreshed(900.0, interval=0)
    with pytest.raises(ValueError):
        SessionTimer(0, True, 0.0)


def test_timer_from_decision_takes_each_sides_role() -> None:
    decision = SessionTimerDecision(200, 1200, "uac", require_timer=True)
    uac = SessionTimer.from_decision(decision, is_uac=True, now=0.0)
    uas = SessionTimer.from_decision(decision, is_uac=False, now=0.0)
    assert uac is not None and uas is not None
    assert uac.is_refresher and not uas.is_refresher
    assert SessionTimer.from_decision(SessionTimerDecision(200), is_uac=True, now=0.0) is None
    assert SessionTimer.from_decision(SessionTimerDecision(422, min_se=90), is_uac=True,
                                      now=0.0) is None


@given(st.integers(min_value=1, max_value=86_400), st.floats(min_value=0, max_value=1e9))
def test_refresh_always_comes_before_the_other_side_gives_up(interval: int, start: float) -> None:
    refresher = SessionTimer(interval, is_refresher=True, now=start)
    watcher = SessionTimer(interval, is_refresher=False, now=start)
    assert refresher.refresh_at < watcher.expires_at <= start + interval
    assert watcher.expires_at >= start + interval - 32


@given(st.lists(st.floats(min_value=0, max_value=10_000), max_size=30))
def test_each_deadline_is_reported_once(times: list[float]) -> None:
    timer = SessionTimer(1800, is_refresher=True, now=0.0)
    reports = [timer.due(t) for t in sorted(times)]
    assert reports.count("refresh") <= 1
    assert reports.count("expire") <= 1
    if "expire" in reports:
        assert timer.next_deadline() is None
