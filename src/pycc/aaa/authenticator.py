"""Digest authentication of phones against the extensions in the store.

Joins the pure pieces of :mod:`pycc.sip.auth` (stateless nonces, verification) and
:mod:`pycc.sip.guard` (the brute-force ban) to the database. All credentials are loaded at start
and cached (a minute for a known extension, two seconds for an unknown name), so a burst of
REGISTERs does not become a burst of queries; an extension added with ``pycc user add`` while
the switch runs works within seconds, a changed password within a minute.

Answers never tell an unknown extension from a wrong password: both get a fresh challenge,
so tools such as sipvicious' svwar cannot enumerate extensions (RFC 3261 §26.3.2.4's concern).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from pycc.sip.auth import (
    AuthOutcome,
    Credentials,
    DigestVerifier,
    NonceIssuer,
    digest_credentials,
)
from pycc.sip.guard import AuthFailureBan
from pycc.sip.message import Request
from pycc.store.async_store import AsyncStore

log = logging.getLogger("pycc.auth")


class Verdict(Enum):
    OK = "ok"
    CHALLENGE = "challenge"
    BANNED = "banned"


@dataclass(slots=True)
class AuthDecision:
    verdict: Verdict
    username: str | None = None
    #: The challenge header lines for a 401/407 answer.
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Cached:
    ha1: dict[str, str] | None
    at: float


class Authenticator:
    """Checks Authorization / Proxy-Authorization of requests for one tenant."""

    def __init__(
        self,
        store: AsyncStore,
        *,
        tenant: str,
        realm: str,
        secret: bytes,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        nonce_lifetime: float = 300.0,
        ban: AuthFailureBan | None = None,
        cache_ttl: float = 60.0,
        negative_ttl: float = 2.0,
    ) -> None:
        self.store = store
        self.tenant = tenant
        self.realm = realm
        self.algorithms = algorithms
        self.secret = secret
        self.nonce_lifetime = nonce_lifetime
        self.verifier = DigestVerifier(NonceIssuer(secret, lifetime=nonce_lifetime))
        self.ban = ban if ban is not None else AuthFailureBan()
        self.cache_ttl = cache_ttl
        self.negative_ttl = negative_ttl
        self._cache: dict[str, _Cached] = {}
        self.failures = 0

    async def preload(self, now: float) -> int:
        """Cache every extension of the tenant in one query (at start-up)."""
        extensions = await self.store.list_extensions(self.tenant)
        for ext in extensions:
            if ext.enabled:
                self._cache[ext.number] = _Cached(
                    {"MD5": ext.ha1_md5, "SHA-256": ext.ha1_sha256}, now)
        return len(extensions)

    async def _ha1(self, username: str, now: float) -> dict[str, str] | None:
        return (await self.ha1_until(username, now))[0]

    async def ha1_until(self, username: str, now: float) -> tuple[dict[str, str] | None, float]:
        """The HA1 hashes of ``username`` (None: no such enabled extension) and until when
        they may be used without asking again, as this cache holds them."""
        cached = self._cache.get(username)
        if cached is not None:
            # Unknown names are asked again soon, so a new extension works within seconds.
            ttl = self.cache_ttl if cached.ha1 is not None else self.negative_ttl
            if now - cached.at < ttl:
                return cached.ha1, cached.at + ttl
        ext = await self.store.get_extension(self.tenant, username)
        ha1 = (
            {"MD5": ext.ha1_md5, "SHA-256": ext.ha1_sha256}
            if ext is not None and ext.enabled
            else None
        )
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[username] = _Cached(ha1, now)
        return ha1, now + (self.cache_ttl if ha1 is not None else self.negative_ttl)

    def cached_credentials(self, now: float) -> list[tuple[str, dict[str, str], float]]:
        """Every known extension's HA1 hashes in the cache, with until when they hold."""
        return [(name, c.ha1, c.at + self.cache_ttl) for name, c in self._cache.items()
                if c.ha1 is not None and now - c.at < self.cache_ttl]

    async def known(self, username: str, now: float) -> bool:
        """Is ``username`` an enabled extension of the tenant (through the same cache)?"""
        return await self._ha1(username, now) is not None

    def forget(self, username: str) -> None:
        self._cache.pop(username, None)

    def is_banned(self, source_ip: str, now: float) -> bool:
        return self.ban.is_banned(source_ip, now)

    async def check(
        self, request: Request, *, proxy: bool, source_ip: str, now: float
    ) -> AuthDecision:
        """Judge ``request``; ``proxy`` selects 407/Proxy-Authorization over 401."""
        if self.ban.is_banned(source_ip, now):
            return AuthDecision(Verdict.BANNED)
        creds = self._credentials(request, "proxy-authorization" if proxy else "authorization")
        if creds is None:
            return self._challenge(proxy, now, source_ip)
        assert creds.username is not None
        ha1 = await self._ha1(creds.username, now)
        result = self.verifier.verify(
            creds,
            request.method,
            lambda _user, algorithm: None if ha1 is None else ha1.get(algorithm),
            now,
            None,
            realm=self.realm,
        )
        if result.outcome is AuthOutcome.OK:
            self.ban.record_success(source_ip, now)
            return AuthDecision(Verdict.OK, creds.username)
        if result.outcome is AuthOutcome.STALE:
            return self._challenge(proxy, now, source_ip, stale=True)
        if self.note_failure(source_ip, now, result.reason):
            return AuthDecision(Verdict.BANNED)
        return self._challenge(proxy, now, source_ip)

    def note_failure(self, source_ip: str, now: float, reason: str) -> bool:
        """Count a failed authentication from ``source_ip``; True when it is now banned."""
        self.failures += 1
        log.info("authentication failed from %s: %s", source_ip, reason)
        if self.ban.record_failure(source_ip, now):
            log.warning("banning %s after repeated authentication failures", source_ip)
            return True
        return False

    def challenge(self, *, proxy: bool, now: float, source_ip: str) -> AuthDecision:
        """A fresh challenge, for a request that brought no credentials at all."""
        return self._challenge(proxy, now, source_ip)

    def _credentials(self, request: Request, header: str) -> Credentials | None:
        return digest_credentials(request.headers.get_all(header), self.realm)

    def _challenge(
        self, proxy: bool, now: float, source_ip: str, *, stale: bool = False
    ) -> AuthDecision:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        values = self.verifier.challenge(self.realm, now, stale=stale, algorithms=self.algorithms)
        return AuthDecision(Verdict.CHALLENGE, headers=[(name, v) for v in values])
