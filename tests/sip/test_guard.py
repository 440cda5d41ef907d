"""Tests for pycc.sip.guard: failure bans and per-source rate limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.sip.guard import AuthFailureBan, RateLimiter, source_key

# ------------------------------------------------------------------------------------------
# source_key


def test_source_key_groups_ipv6_by_prefix_and_unmaps_ipv4() -> None:
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("[2001:db8:1:2:bbbb::9]")
    assert source_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("2001:db8::1", 128) != source_key("2001:db8::2", 128)
    assert source_key("not-an-address") == "not-an-address"


# ------------------------------------------------------------------------------------------
# AuthFailureBan


def test_ban_after_max_failures_within_window() -> None:
    ban = AuthFailureBan(max_failures=3, window=60, ban_time=600)
    assert not ban.record_failure("192.0.2.1", 0.0)
    assert not ban.record_failure("192.0.2.1", 10.0)
    assert not ban.is_banned("192.0.2.1", 10.0)
    assert ban.record_failure("192.0.2.1", 20.0)  # this one starts the ban
    assert ban.is_banned("192.0.2.1", 20.0)
    assert ban.is_banned("192.0.2.1", 619.9)
    assert not ban.is_banned("192.0.2.1", 620.0)
    assert not ban.is_banned("192.0.2.2", 20.0)


def test_failures_spread_beyond_window_do_not_ban() -> None:
    ban = AuthFailureBan(max_failures=3, window=60, ban_time=600)
    for t in (0.0, 40.0, 80.0, 120.0, 160.0):
        assert not ban.record_failure("192.0.2.1", t)
    assert not ban.is_banned("192.0.2.1", 160.0)
    # Exactly `window` apart is outside the window.
    ban2 = AuthFailureBan(max_failures=2, window=60, ban_time=600)
    ban2.record_failure("192.0.2.1", 0.0)
    assert not ban2.record_failure("192.0.2.1", 60.0)
    assert ban2.record_failure("192.0.2.1", 119.0)


def test_success_clears_failures_but_not_a_ban() -> None:
    ban = AuthFailureBan(max_failures=2, window=60, ban_time=600)
    ban.record_failure("192.0.2.1", 0.0)
    ban.record_success("192.0.2.1", 1.0)
    assert not ban.record_failure("192.0.2.1", 2.0)
    assert ban.record_failure("192.0.2.1", 3.0)
    ban.record_success("192.0.2.1", 4.0)
    assert ban.is_banned("192.0.2.1", 4.0)


def test_failures_while_banned_do_not_extend_the_ban() -> None:
    ban = AuthFailureBan(max_failures=1, window=60, ban_time=100)
    assert ban.record_failure("192.0.2.1", 0.0)
    for t in range(1, 100):
        assert not ban.record_failure("192.0.2.1", float(t))
    assert not ban.is_banned("192.0.2.1", 100.0)


def test_ipv6_neighbours_share_a_ban_unless_prefix_is_128() -> None:
    grouped = AuthFailureBan(max_failures=2)
    grouped.record_failure("2001:db8::1", 0.0)
    grouped.record_failure("2001:db8::2", 1.0)
    assert grouped.is_banned("2001:db8::ffff", 1.0)
    assert not grouped.is_banned("2001:db8:0:1::1", 1.0)
    exact = AuthFailureBan(max_failures=2, ipv6_prefix=128)
    exact.record_failure("2001:db8::1", 0.0)
    exact.record_failure("2001:db8::2", 1.0)
    assert not exact.is_banned("2001:db8::1", 1.0)


def test_memory_bounded_under_address_flood() -> None:
    ban = AuthFailureBan(max_failures=3, window=60, ban_time=600, max_tracked=100)
    for i in range(10_000):
        ban.record_failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", i * 0.001)
        assert len(ban) <= 100
    # A source hammering on its own still gets banned amid the flood.
    for t in (11.0, 11.1, 11.2):
        ban.record_failure("192.0.2.66", t)
    assert ban.is_banned("192.0.2.66", 11.2)


def test_expired_entries_are_dropped() -> None:
    ban = AuthFailureBan(max_failures=2, window=10, ban_time=20, max_tracked=10)
    ban.record_failure("192.0.2.1", 0.0)
    ban.record_failure("192.0.2.2", 0.0)
    ban.record_failure("192.0.2.2", 1.0)
    assert len(ban) == 2
    ban.record_success("192.0.2.3", 100.0)  # any call past expiry lets entries go
    assert len(ban) == 0


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        AuthFailureBan(max_failures=0)
    with pytest.raises(ValueError):
        AuthFailureBan(max_tracked=0)
    with pytest.raises(ValueError):
        AuthFailureBan(ipv6_prefix=129)


class ReferenceBan:
    """The rule stated plainly, with unbounded memory."""

    def __init__(self, max_failures: int, window: float, ban_time: float) -> None:
        self.max_failures, self.window, self.ban_time = max_failures, window, ban_time
        self.failures: dict[str, list[float]] = {}
        self.bans: dict[str, float] = {}

    def banned(self, ip: str, now: float) -> bool:
        return self.bans.get(ip, float("-inf")) > now

    def failure(self, ip: str, now: float) -> bool:
        if self.banned(ip, now):
            return False
        recent = [t for t in self.failures.get(ip, []) if t > now - self.window] + [now]
        if len(recent) >= self.max_failures:
            self.failures.pop(ip, None)
            self.bans[ip] = now + self.ban_time
            return True
        self.failures[ip] = recent
        return False

    def success(self, ip: str) -> None:
        self.failures.pop(ip, None)


IPS = [f"192.0.2.{i}" for i in range(1, 9)]
BAN_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["fail", "success", "check"]),
        st.sampled_from(IPS),
        st.floats(0, 40, allow_nan=False),
    ),
    max_size=80,
)


@settings(max_examples=300)
@given(max_failures=st.integers(1, 4), events=BAN_EVENTS)
def test_ban_matches_reference_when_memory_suffices(
    max_failures: int, events: list[tuple[str, str, float]]
) -> None:
    ban = AuthFailureBan(max_failures=max_failures, window=30, ban_time=100, max_tracked=64)
    model = ReferenceBan(max_failures, 30, 100)
    now = 0.0
    for kind, ip, step in events:
        now += step
        if kind == "fail":
            assert ban.record_failure(ip, now) == model.failure(ip, now)
        elif kind == "success":
            ban.record_success(ip, now)
            model.success(ip)
        for other in IPS:
            assert ban.is_banned(other, now) == model.banned(other, now)


@settings(max_examples=300)
@given(max_tracked=st.integers(1, 5), events=BAN_EVENTS)
def test_ban_memory_is_bounded_and_innocents_are_never_banned(
    max_tracked: int, events: list[tuple[str, str, float]]
) -> None:
    ban = AuthFailureBan(max_failures=2, window=30, ban_time=100, max_tracked=max_tracked)
    failed: set[str] = set()
    now = 0.0
    for kind, ip, step in events:
        now += step
        if kind == "fail":
            ban.record_failure(ip, now)
            failed.add(ip)
        elif kind == "success":
            ban.record_success(ip, now)
        else:
            ban.is_banned(ip, now)
        assert len(ban) <= max_tracked
        for other in IPS:
            if other not in failed:
                assert not ban.is_banned(other, now)


# ------------------------------------------------------------------------------------------
# RateLimiter


def test_burst_then_steady_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=5.0)
    assert [limiter.allow("192.0.2.1", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert not limiter.allow("192.0.2.1", 0.4)  # 0.8 tokens
    assert limiter.allow("192.0.2.1", 0.5)  # 1.0 token
    assert not limiter.allow("192.0.2.1", 0.5)
    # A long pause refills to the burst, not beyond.
    assert [limiter.allow("192.0.2.1", 1000.0) for _ in range(6)] == [True] * 5 + [False]


def test_cost_and_clock_stepping_back() -> None:
    limiter = RateLimiter(rate=1.0, burst=3.0)
    assert limiter.allow("a", 10.0, cost=3.0)
    assert not limiter.allow("a", 5.0)  # the clock went back: no tokens appear
    assert not limiter.allow("a", 10.5)
    assert limiter.allow("a", 11.0)
    assert not limiter.allow("b", 0.0, cost=4.0)  # more than a burst never passes


def test_flooding_source_does_not_touch_another() -> None:
    limiter = RateLimiter(rate=1.0, burst=2.0)
    for i in range(1000):
        limiter.allow("198.51.100.9", i * 0.001)
    assert limiter.allow("192.0.2.1", 1.0) and limiter.allow("192.0.2.1", 1.0)
    assert not limiter.allow("198.51.100.9", 1.0)


def test_idle_buckets_are_collected_and_memory_bounded() -> None:
    limiter = RateLimiter(rate=10.0, burst=5.0, max_sources=50)
    for i in range(5000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}", 0.0)
        assert len(limiter) <= 50
    # Once all have refilled, ordinary traffic drains the idle buckets.
    for _ in range(30):
        limiter.allow("192.0.2.1", 10.0)
    assert len(limiter) == 1


def test_rate_limiter_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0.0, burst=1.0)
    with pytest.raises(ValueError):
        RateLimiter(rate=1.0, burst=0.5)
    with pytest.raises(ValueError):
        RateLimiter(1.0, 1.0, max_sources=0)


REQUESTS = st.lists(st.tuples(st.sampled_from(IPS), st.floats(0, 2, allow_nan=False)), max_size=120)


@settings(max_examples=300)
@given(events=REQUESTS, victim=st.sampled_from(IPS))
def test_each_source_sees_exactly_its_own_bucket(
    events: list[tuple[str, float]], victim: str
) -> None:
    shared = RateLimiter(rate=1.5, burst=3.0, max_sources=len(IPS))
    alone = RateLimiter(rate=1.5, burst=3.0, max_sources=len(IPS))
    now = 0.0
    for ip, step in events:
        now += step
        verdict = shared.allow(ip, now)
        if ip == victim:
            assert verdict == alone.allow(ip, now)


@settings(max_examples=300)
@given(events=REQUESTS, max_sources=st.integers(1, 4))
def test_rate_limiter_memory_is_bounded(events: list[tuple[str, float]], max_sources: int) -> None:
    limiter = RateLimiter(rate=1.5, burst=3.0, max_sources=max_sources)
    now = 0.0
    for ip, step in events:
        now += step
        limiter.allow(ip, now)
        assert len(limiter) <= max_sources


@settings(max_examples=300)
@given(events=REQUESTS)
def test_rate_limiter_budget_holds_without_eviction(events: list[tuple[str, float]]) -> None:
    limiter = RateLimiter(rate=1.5, burst=3.0, max_sources=len(IPS))
    now = 0.0
    allowed: dict[str, int] = {}
    for ip, step in events:
        now += step
        if limiter.allow(ip, now):
            allowed[ip] = allowed.get(ip, 0) + 1
    for count in allowed.values():
        # The token bucket law: at most burst + rate * elapsed requests pass.
        assert count <= 3.0 + 1.5 * now + 1e-9
