"""Abuse protection at pycc's SIP edge: bans after repeated authentication failures, and
per-source request rate limits.

A public SIP port is scanned and brute-forced within minutes of going online (REGISTER floods
guessing extension passwords, OPTIONS scans). The switch asks these objects before doing work
for a request: an over-rate source's messages are dropped without an answer (it costs nothing
and learns nothing), and a banned source's REGISTER and INVITE get a cheap 403 without any
credential check, so a guessed password is never tried. No RFC defines this; RFC 3261
§26.3.2.4 (denial of service) and RFC 5390 list the threats it answers.

Pure: no I/O and no clock; ``now`` (seconds, any monotonic origin) is passed in. Memory is
bounded by ``max_tracked`` / ``max_sources`` whatever the traffic, since an attacker controls
how many source addresses we see.

Sources are IP address strings. IPv6 addresses are grouped by prefix (default /64): one host
usually owns a whole /64 and could otherwise walk through 2**64 addresses to dodge a ban.
Strings that are not IP addresses are used as they are.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from functools import lru_cache

__all__ = ["AuthFailureBan", "RateLimiter", "source_key"]


@lru_cache(maxsize=4096)
def source_key(address: str, ipv6_prefix: int = 64) -> str:
    """The key a source is counted under: the IPv4 address, or the IPv6 /``ipv6_prefix``.

    IPv4-mapped IPv6 addresses count as their IPv4 address, so a dual-stack socket does not
    give one host two identities.
    """
    text = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ipv6_prefix < 128:
            return str(ipaddress.IPv6Network((ip.packed, ipv6_prefix), strict=False))
    return str(ip)


def _check_prefix(ipv6_prefix: int) -> None:
    if not 0 <= ipv6_prefix <= 128:
        raise ValueError("ipv6_prefix must be in 0..128")


class AuthFailureBan:
    """Ban a source for ``ban_time`` once it fails ``max_failures`` times within ``window``.

    The caller records each failed authentication (a wrong digest, not a first unauthenticated
    request answered by a challenge) and each success, and drops requests from banned sources.
    A success clears the source's failures; it does not lift a ban, since the success may be
    the guess that worked.

    At most ``max_tracked`` sources are held (failure counters and bans together). When full,
    expired entries go first, then the least recently failing counter, then the ban that ends
    soonest: under a flood from more addresses than that, some attackers go uncounted rather
    than memory growing without limit.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 60.0,
        ban_time: float = 600.0,
        max_tracked: int = 100_000,
        *,
        ipv6_prefix: int = 64,
    ) -> None:
        if max_failures < 1 or window <= 0 or ban_time <= 0 or max_tracked < 1:
            raise ValueError("max_failures, window, ban_time and max_tracked must be positive")
        _check_prefix(ipv6_prefix)
        self.max_failures = max_failures
        self.window = window
        self.ban_time = ban_time
        self.max_tracked = max_tracked
        self.ipv6_prefix = ipv6_prefix
        # key -> recent failure times; least recently failing first.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        # key -> ban end; ban_time is constant, so insertion order is expiry order.
        self._bans: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """How many sources are tracked (failure counters plus bans)."""
        return len(self._failures) + len(self._bans)

    def _key(self, source_ip: str) -> str:
        return source_key(source_ip, self.ipv6_prefix)

    def _purge(self, now: float) -> None:
        while self._bans and next(iter(self._bans.values())) <= now:
            self._bans.popitem(last=False)
        while self._failures and next(iter(self._failures.values()))[-1] <= now - self.window:
            self._failures.popitem(last=False)

    def _make_room(self, now: float) -> None:
        self._purge(now)
        while len(self) >= self.max_tracked:
            if self._failures:
                self._failures.popitem(last=False)
            else:
                self._bans.popitem(last=False)

    def record_failure(self, source_ip: str, now: float) -> bool:
        """Count a failed authentication; True when this failure starts a ban."""
        key = self._key(source_ip)
        if self.is_banned(source_ip, now):
            # Already banned: extending the ban on every dropped retry would let a spoofed
            # flood keep a real phone's address locked out for ever.
            return False
        times = self._failures.get(key)
        if times is None:
            self._make_room(now)
            times = deque(maxlen=self.max_failures)
            self._failures[key] = times
        else:
            self._failures.move_to_end(key)
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.max_failures:
            return False
        del self._failures[key]
        self._bans[key] = now + self.ban_time
        return True

    def record_success(self, source_ip: str, now: float) -> None:
        """A source authenticated: forget its failures (a ban stays)."""
        self._failures.pop(self._key(source_ip), None)
        self._purge(now)

    def is_banned(self, source_ip: str, now: float) -> bool:
        return self.banned_until(source_ip, now) is not None

    def banned_until(self, source_ip: str, now: float) -> float | None:
        """When the source's ban ends, or None when it is not banned."""
        key = self._key(source_ip)
        until = self._bans.get(key)
        if until is None:
            return None
        if until <= now:
            del self._bans[key]
            return None
        return until


class RateLimiter:
    """A token bucket per source: ``rate`` requests per second, bursts of up to ``burst``.

    Every source has its own bucket, so a flooding source only empties its own. At most
    ``max_sources`` buckets are held: an idle bucket that has refilled completely carries no
    information and is dropped first; when every bucket is busy the least recently used one
    is dropped, which at worst gives that source a fresh full bucket (never fewer tokens).
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        max_sources: int = 100_000,
        *,
        ipv6_prefix: int = 64,
    ) -> None:
        if rate <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("rate must be positive, burst >= 1 and max_sources >= 1")
        _check_prefix(ipv6_prefix)
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self.ipv6_prefix = ipv6_prefix
        # key -> [tokens, last update]; least recently used first.
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, bucket: list[float], now: float) -> float:
        # max(): a clock that steps backwards must not drain a bucket.
        return min(self.burst, bucket[0] + max(0.0, now - bucket[1]) * self.rate)

    def _drop_idle(self, now: float, limit: int) -> None:
        for _ in range(limit):
            if not self._buckets:
                return
            front = next(iter(self._buckets.values()))
            if self._tokens(front, now) < self.burst:
                return
            self._buckets.popitem(last=False)

    def allow(self, source: str, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from the source's bucket; False (drop) when it has too few."""
        key = source_key(source, self.ipv6_prefix)
        # A little idle-bucket collection on every call keeps memory near the active set.
        self._drop_idle(now, 2)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_sources:
                self._drop_idle(now, len(self._buckets))
                while len(self._buckets) >= self.max_sources:
                    self._buckets.popitem(last=False)
            tokens = self.burst
            bucket = [tokens, now]
            self._buckets[key] = bucket
        else:
            tokens = self._tokens(bucket, now)
            self._buckets.move_to_end(key)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        bucket[0] = tokens
        bucket[1] = max(bucket[1], now)
        return allowed
