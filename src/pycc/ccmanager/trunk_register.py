"""The registration client of a SIP trunk: pycc binds its contact at the provider's registrar.

RFC 3261 §10.2 (REGISTER: one Call-ID for every registration of a trunk, CSeq one higher each
time; refreshing before the binding expires; the granted interval read from the 200's Contact
``expires`` parameter, else its Expires header, §10.2.4; 423 Interval Too Brief answered by
asking again with the Min-Expires, §10.2.8; removing the binding with ``Expires: 0``, §10.2.2)
and §22.2 with RFC 7616 / RFC 8760 (digest answers to 401 and 407, MD5 and SHA-256,
``qop=auth`` with nonce counts: a refresh reuses the last nonce with the next count, so a
provider that keeps its nonces answers it at once).

The decisions (what a response means, when to try again) are plain functions and classes;
`TrunkRegistration` is the thin asyncio loop around them. The password never reaches a log:
errors are the provider's status line, or "timeout".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pycc.endpoint import SipEndpoint
from pycc.sip.address import Address
from pycc.sip.auth import (
    AuthParseError,
    Challenge,
    UnsupportedChallengeError,
    build_authorization,
    choose_challenge,
    new_cnonce,
    parse_challenge,
)
from pycc.sip.errors import SipParseError
from pycc.sip.headers import Headers, NameAddr
from pycc.sip.ids import token_hex
from pycc.sip.message import Request, Response
from pycc.sip.uri import SipUri, Uri, parse_uri

if TYPE_CHECKING:
    from pycc.ccmanager.trunks import TrunkConfig

__all__ = [
    "MAX_AUTH_ROUNDS",
    "REFRESH_FRACTION",
    "Backoff",
    "DigestAnswer",
    "DigestClient",
    "RegisterOutcome",
    "RequestSender",
    "TrunkRegistration",
    "granted_expires",
    "judge_register_response",
    "refresh_delay",
]

log = logging.getLogger("pycc.trunks")

#: Sends an out-of-dialog request and returns its final response, None on timeout or
#: transport failure (`pycc.ccmanager.dispatcher.SipApplication.request`).
RequestSender = Callable[[Request, Address], Awaitable[Response | None]]

#: A binding is refreshed when this share of its granted lifetime has passed.
REFRESH_FRACTION = 0.8
#: Requests sent per exchange: the first, the answer to a challenge, one more when the
#: provider says the nonce went stale (RFC 7616 §3.3: the password was right).
MAX_AUTH_ROUNDS = 3
#: 423 answers followed within one attempt; a registrar that keeps raising is refused.
MAX_INTERVAL_ROUNDS = 3
#: Nonces whose counts are remembered per account; providers rarely keep more than one live.
_NONCE_MEMORY = 16


# --------------------------------------------------------------------------------------------
# Digest answers


@dataclass(frozen=True, slots=True)
class DigestAnswer:
    """Credentials for one request: the header to add and whether they reuse an old nonce."""

    header: str  # "Authorization" or "Proxy-Authorization"
    value: str
    reused: bool


def _challenges(response: Response) -> tuple[list[Challenge], str]:
    proxy = response.status == 407
    name = "proxy-authenticate" if proxy else "www-authenticate"
    parsed: list[Challenge] = []
    for value in response.headers.get_all(name):
        with contextlib.suppress(AuthParseError):
            parsed.append(parse_challenge(value))
    return parsed, "Proxy-Authorization" if proxy else "Authorization"


def is_stale(response: Response) -> bool:
    """Whether a 401/407 says only the nonce was old (RFC 7616 §3.3)."""
    return any(challenge.stale for challenge in _challenges(response)[0])


class DigestClient:
    """Answers digest challenges with one account, counting the uses of each nonce.

    ``realm`` None accepts any realm; otherwise challenges for other realms are left
    unanswered, so the password is never hashed for a realm it was not configured for.
    """

    def __init__(
        self,
        username: str,
        password: str,
        realm: str | None = None,
        *,
        cnonce: Callable[[], str] = new_cnonce,
    ) -> None:
        self.username = username
        self._password = password
        self.realm = realm
        self._cnonce = cnonce
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._last: tuple[Challenge, str] | None = None

    def __repr__(self) -> str:
        return f"<DigestClient {self.username} realm={self.realm!r}>"

    def _count(self, nonce: str) -> int:
        count = self._counts.pop(nonce, 0) + 1
        self._counts[nonce] = count
        while len(self._counts) > _NONCE_MEMORY:
            self._counts.popitem(last=False)
        return count

    def choose(self, values: Sequence[str]) -> Challenge | None:
        """The challenge among header ``values`` to answer: right realm, strongest algorithm."""
        parsed: list[Challenge] = []
        for value in values:
            with contextlib.suppress(AuthParseError):
                parsed.append(parse_challenge(value))
        return choose_challenge(c for c in parsed if self.realm is None or c.realm == self.realm)

    def _build(self, challenge: Challenge, method: str, uri: str) -> str | None:
        if challenge.nonce is None:
            return None
        try:
            return build_authorization(challenge, method, uri, self.username, self._password,
                                       self._count(challenge.nonce), self._cnonce())
        except (UnsupportedChallengeError, ValueError):
            return None

    def authorization(self, values: Sequence[str], method: str, uri: str) -> str | None:
        """The credentials answering one of the challenge header ``values``, None if none can
        be answered (other realm, unsupported scheme, algorithm or qop)."""
        challenge = self.choose(values)
        return None if challenge is None else self._build(challenge, method, uri)

    def answer(self, response: Response, method: str, uri: str) -> DigestAnswer | None:
        """Credentials for the request ``response`` (401 or 407) challenged."""
        parsed, header = _challenges(response)
        challenge = choose_challenge(
            c for c in parsed if self.realm is None or c.realm == self.realm
        )
        if challenge is None:
            return None
        value = self._build(challenge, method, uri)
        if value is None:
            return None
        self._last = (challenge, header)
        return DigestAnswer(header, value, reused=False)

    def again(self, method: str, uri: str) -> DigestAnswer | None:
        """Credentials from the last challenge answered, with the nonce's next count."""
        if self._last is None:
            return None
        challenge, header = self._last
        value = self._build(challenge, method, uri)
        return None if value is None else DigestAnswer(header, value, reused=True)

    def forget(self) -> None:
        """Drop the last challenge: the next request goes without credentials."""
        self._last = None

    def refused_realms(self, response: Response) -> list[str]:
        """Realms ``response`` challenged for that this account is not configured for."""
        if self.realm is None:
            return []
        return sorted({c.realm for c in _challenges(response)[0]
                       if c.realm is not None and c.realm != self.realm})


# --------------------------------------------------------------------------------------------
# Decisions


def _delta_seconds(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    return int(text)


def granted_expires(response: Response, contact: Uri, requested: int) -> int:
    """How long the registrar keeps our binding (RFC 3261 §10.2.4).

    The ``expires`` parameter of our Contact in the 200 wins; a lone Contact that is not ours
    (a registrar behind NAT rewrites it) is taken as ours; then the Expires header; then what
    was asked for.
    """
    try:
        contacts = response.contacts
    except SipParseError:
        contacts = []
    mine = [c for c in contacts if c.uri == contact]
    if not mine and len(contacts) == 1:
        mine = contacts
    for entry in mine:
        seconds = _delta_seconds(entry.params.get("expires"))
        if seconds is not None:
            return seconds
    seconds = _delta_seconds(response.headers.get("expires"))
    return requested if seconds is None else seconds


def refresh_delay(granted: float) -> float:
    """Seconds after a successful REGISTER at which the binding is refreshed."""
    return max(0.0, granted * REFRESH_FRACTION)


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What the final answer to a REGISTER means for the trunk."""

    granted: int | None = None  # seconds the binding lasts, on success
    error: str | None = None  # the failure, for status displays
    min_expires: int | None = None  # a 423's Min-Expires
    retry_after: int | None = None  # a 503's (or other failure's) Retry-After
    rejected: bool = False  # a final answer refused the binding (not silence)

    @property
    def ok(self) -> bool:
        return self.granted is not None


def judge_register_response(
    response: Response | None, requested: int, contact: Uri
) -> RegisterOutcome:
    """The meaning of ``response`` to a REGISTER asking ``requested`` seconds for ``contact``."""
    if response is None:
        return RegisterOutcome(error="timeout")
    status_line = f"{response.status} {response.reason}".strip()
    if 200 <= response.status < 300:
        if requested == 0:
            return RegisterOutcome(granted=0)
        granted = granted_expires(response, contact, requested)
        if granted <= 0:
            return RegisterOutcome(error=f"{status_line} without our binding", rejected=True)
        return RegisterOutcome(granted=granted)
    retry_after = _delta_seconds((response.headers.get("retry-after") or "").split(";")[0])
    if response.status == 423:
        return RegisterOutcome(error=status_line, rejected=True, retry_after=retry_after,
                               min_expires=_delta_seconds(response.headers.get("min-expires")))
    return RegisterOutcome(error=status_line, rejected=True, retry_after=retry_after)


class Backoff:
    """Delays between failed attempts: ``initial``, doubling up to ``maximum``."""

    def __init__(self, initial: float = 5.0, maximum: float = 300.0) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._current = initial

    def next(self) -> float:
        delay = self._current
        self._current = min(self._current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._current = self.initial


# --------------------------------------------------------------------------------------------
# The client


def registrar_uri(config: TrunkConfig) -> SipUri:
    """The Request-URI of the trunk's REGISTER and OPTIONS: ``sip:host[:port]``."""
    params: dict[str, str | None] = {}
    if config.transport != "udp":
        params["transport"] = config.transport
    return SipUri("sip", None, None, config.host, config.port, params)


def account_uri(config: TrunkConfig, user: str) -> SipUri:
    """``sip:user@domain`` with the trunk's from_domain, else its host."""
    if config.from_domain is not None:
        domain = parse_domain(config.from_domain)
        return SipUri("sip", user, None, domain[0], domain[1])
    return SipUri("sip", user, None, config.host)


def parse_domain(text: str) -> tuple[str, int | None]:
    """Host and port of a ``host[:port]`` text that `TrunkConfig` has already validated."""
    uri = parse_uri(f"sip:{text}")
    if not isinstance(uri, SipUri):
        raise ValueError(f"not a host: {text!r}")
    return uri.host, uri.port


class TrunkRegistration:
    """Keeps one trunk registered: register, refresh at 80 %, back off on failure.

    ``registered`` says whether the last REGISTER was accepted; `is_registered` also checks
    that the binding has not run out since (a refresh that got no answer leaves the old
    binding until it expires). ``last_error`` is the last failure ("403 Forbidden",
    "timeout"), cleared by a success.
    """

    def __init__(
        self,
        config: TrunkConfig,
        endpoint: SipEndpoint,
        request: RequestSender,
        *,
        clock: Callable[[], float],
        retry_initial: float = 5.0,
        retry_max: float = 300.0,
        digest: DigestClient | None = None,
    ) -> None:
        if not config.register or config.username is None or config.password is None:
            raise ValueError(f"trunk {config.name!r} has no registration account")
        self.config = config
        self._endpoint = endpoint
        self._request = request
        self._clock = clock
        #: The interval asked for; a 423 raises it to the registrar's minimum.
        self.expires = config.expires
        self.registered = False
        self.expires_at: float | None = None
        self.last_error: str | None = None
        #: Accepted REGISTERs (the first and every refresh).
        self.accepted = 0
        # Shared with the trunk's INVITE credentials when given: a provider that hands out
        # one nonce for both must see its counts rise, never repeat.
        self.digest = digest if digest is not None else DigestClient(
            config.auth_username or config.username, config.password, config.realm)
        self._backoff = Backoff(retry_initial, retry_max)
        self._call_id = f"{token_hex(12)}@pycc"
        self._from_tag = token_hex(6)
        self._cseq = 0

    def __repr__(self) -> str:
        return f"<TrunkRegistration {self.config.name} registered={self.registered}>"

    def is_registered(self, now: float) -> bool:
        return self.registered and (self.expires_at is None or now < self.expires_at)

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        """Register, then refresh or retry for as long as the task lives."""
        while True:
            try:
                delay = await self.register_once()
            except Exception:
                # A fault of pycc's own must not end the trunk's registration for good.
                log.exception("trunk %s: registration attempt failed", self.config.name)
                self.last_error = "internal error"
                delay = self._backoff.next()
            await asyncio.sleep(delay)

    async def register_once(self) -> float:
        """One attempt (following 423s and challenges); returns the seconds until the next."""
        outcome = RegisterOutcome(error="not sent")
        sent_at = self._clock()
        try:
            for _ in range(MAX_INTERVAL_ROUNDS):
                sent_at = self._clock()
                contact, response = await self._exchange(self.expires)
                outcome = judge_register_response(response, self.expires, contact)
                if response is not None and response.status in (401, 407):
                    refused = self.digest.refused_realms(response)
                    if refused:
                        outcome = replace(outcome, error=f"{outcome.error} (realm "
                                          f"{', '.join(map(repr, refused))} is not "
                                          f"{self.config.realm!r})")
                if outcome.min_expires is None or outcome.min_expires <= self.expires:
                    break
                log.info("trunk %s: registrar asks for at least %d s", self.config.name,
                         outcome.min_expires)
                self.expires = outcome.min_expires
        except (LookupError, ValueError, SipParseError, OSError) as exc:
            # No listener for the trunk's transport, an unusable address: keep trying, since
            # a listener may come.
            outcome = RegisterOutcome(error=f"REGISTER not sent: {exc}", rejected=True)
        return self._apply(outcome, sent_at)

    def _apply(self, outcome: RegisterOutcome, sent_at: float) -> float:
        name = self.config.name
        if outcome.granted is not None:
            if not self.registered or self.last_error is not None:
                log.info("trunk %s registered for %d s", name, outcome.granted)
            self.registered = True
            # From when the request left: the binding cannot outlive that.
            self.expires_at = sent_at + outcome.granted
            self.last_error = None
            self.accepted += 1
            self._backoff.reset()
            return refresh_delay(outcome.granted)
        if self.last_error != outcome.error:
            log.warning("trunk %s registration failed: %s", name, outcome.error)
        self.last_error = outcome.error
        if outcome.rejected:
            self.registered = False
            self.expires_at = None
            # The next attempt starts afresh rather than repeating refused credentials.
            self.digest.forget()
        delay = self._backoff.next()
        if outcome.retry_after is not None:
            delay = max(delay, min(float(outcome.retry_after), self._backoff.maximum))
        return delay

    async def unregister(self) -> bool:
        """Remove the binding (``Expires: 0``); True when the registrar confirmed it."""
        if not self.registered:
            return False
        try:
            _, response = await self._exchange(0)
        finally:
            self.registered = False
            self.expires_at = None
        if response is not None and 200 <= response.status < 300:
            log.info("trunk %s unregistered", self.config.name)
            return True
        self.last_error = "timeout" if response is None else \
            f"{response.status} {response.reason}".strip()
        log.warning("trunk %s unregistration failed: %s", self.config.name, self.last_error)
        return False

    # -- one exchange --------------------------------------------------------------------
    async def _exchange(self, expires: int) -> tuple[Uri, Response | None]:
        """Send REGISTER, answering challenges; returns our Contact URI and the final answer."""
        config = self.config
        address = config.address
        uri = registrar_uri(config)
        contact = self._endpoint.contact_for(address, config.username or "pycc")
        contact_uri = NameAddr.parse(contact, "Contact").uri
        credentials = self.digest.again("REGISTER", str(uri))
        response: Response | None = None
        for _ in range(MAX_AUTH_ROUNDS):
            request = self._build(uri, contact, expires, credentials)
            response = await self._request(request, address)
            if response is None or response.status not in (401, 407):
                return contact_uri, response
            if credentials is not None and not credentials.reused and not is_stale(response):
                # Fresh credentials refused: the password is wrong, do not insist.
                self.digest.forget()
                return contact_uri, response
            credentials = self.digest.answer(response, "REGISTER", str(uri))
            if credentials is None:
                return contact_uri, response
        return contact_uri, response

    def _build(self, uri: SipUri, contact: str, expires: int,
               credentials: DigestAnswer | None) -> Request:
        config = self.config
        self._cseq += 1
        aor = account_uri(config, config.username or "pycc")
        headers = Headers()
        headers.add("Via", self._endpoint.via_for(config.address))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{aor}>;tag={self._from_tag}")
        headers.add("To", f"<{aor}>")
        headers.add("Call-ID", self._call_id)
        headers.add("CSeq", f"{self._cseq} REGISTER")
        headers.add("Contact", contact)
        headers.add("Expires", str(expires))
        if credentials is not None:
            headers.add(credentials.header, credentials.value)
        headers.add("User-Agent", self._endpoint.user_agent)
        return Request(headers, b"", "REGISTER", uri)
