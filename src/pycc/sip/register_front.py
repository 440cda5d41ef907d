"""The REGISTER front: parse, check and authenticate REGISTERs away from the bindings.

A registrar's work per registration is mostly reading two messages and checking a digest
(RFC 3261 §10.3 steps 1-4, RFC 7616); only steps 5-8 need the address-of-record's bindings.
`RegisterFront` does the first part for a switch's register worker process
(`pycc.ccmanager.register_worker`), so that it runs on another core than the switch: for each
REGISTER datagram it either answers at once (a challenge, a 403, a malformed Contact's 400),
or hands back what `pycc.sip.registrar.process_register` needs (`RegisterRequest`) with the
head of the answer, for the switch to decide against its bindings, store and send. A REGISTER
it does not handle as the switch's own path would (anything in a dialog, a Require, a
request it cannot parse) goes back whole, to be handled there.

The first INVITE of a call from a phone brings no credentials either: the front answers it
with the challenge (407) the switch's B2BUA would send, so that of a call's three first
messages (INVITE, 407, ACK) the switch reads none. The switch hands over only INVITEs it
would challenge: none from a trunk it trusts by address, none while it refuses calls for
overload.

Answers are stateless (RFC 3261 §8.2.7): a retransmitted REGISTER without credentials gets a
fresh challenge; the switch keeps the final answers to authenticated ones for their
retransmissions. Nonces come from the switch's secret, so a nonce this front issued is
good in the switch and the other way round.

Results are plain tuples, so that they cross a process boundary with `marshal`:

- ``("send", ident, answer, port, failure, head, ack)``: send ``answer`` to the request's
  source address at ``port``; ``failure`` is the reason of a failed authentication, or "",
  and ``head`` then the answer's copied header lines, for a 403 if that failure bans the
  source; ``ack`` is the branch of a challenged INVITE, whose ACK the switch may drop, or "".
- ``("bind", ident, number, request, head, port)``: extension ``number`` authenticated; apply
  ``RegisterRequest.from_tuple(request)`` and answer with `compose_answer` (``head``).
- ``("back", ident)``: handle this request as any other.
- ``("need", username)``: the HA1 hashes of ``username`` are wanted (`credentials`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from pycc.sip.address import Address
from pycc.sip.auth import (
    AuthOutcome,
    Credentials,
    DigestVerifier,
    NonceIssuer,
    digest_credentials,
)
from pycc.sip.errors import SipParseError
from pycc.sip.message import DEFAULT_LIMITS, REASONS, Limits, Request, make_response, parse_message
from pycc.sip.registrar import register_request
from pycc.sip.transaction import MAGIC_COOKIE, response_destination, stamp_top_via
from pycc.sip.uri import SipUri

__all__ = ["RegisterFront", "Result", "compose_answer"]

#: See the module docstring.
Result = tuple[object, ...]

#: The requests the front answers; any other goes back.
_FRONT_METHODS = frozenset({"REGISTER", "INVITE"})
#: REGISTERs waiting for credentials at most, in all and for one extension.
_MAX_PARKED = 2_000
_MAX_PARKED_PER_USER = 50


def compose_answer(head: str, status: int, reason: str | None,
                   extra: Iterable[tuple[str, str]], server: str | None) -> bytes:
    """A bodiless answer: the status line, the copied header lines ``head``, ``extra``, then
    Server and Content-Length (the order `make_response` and the switch's answers use)."""
    parts = [f"SIP/2.0 {status} {reason if reason is not None else REASONS.get(status, '')}",
             head]
    parts.extend(f"{name}: {value}" for name, value in extra)
    if server:
        parts.append(f"Server: {server}")
    parts.append("Content-Length: 0")
    return ("\r\n".join(parts) + "\r\n\r\n").encode("utf-8", "surrogateescape")


@dataclass(slots=True)
class _Parked:
    ident: int
    request: Request
    number: str
    port: int
    creds: Credentials


@dataclass(slots=True)
class _Known:
    ha1: dict[str, str] | None
    until: float


@dataclass(slots=True)
class RegisterFront:
    """Answers REGISTERs of one tenant's realm (see the module docstring)."""

    realm: str
    secret: bytes
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    nonce_lifetime: float = 300.0
    server: str | None = None
    limits: Limits = DEFAULT_LIMITS
    verifier: DigestVerifier = field(init=False)
    _known: dict[str, _Known] = field(init=False, default_factory=dict)
    _parked: dict[str, list[_Parked]] = field(init=False, default_factory=dict)
    _parked_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.verifier = DigestVerifier(NonceIssuer(self.secret, lifetime=self.nonce_lifetime))

    # -- inputs -----------------------------------------------------------------------------
    def handle(self, ident: int, data: bytes, transport: str, host: str, port: int,
               banned: bool, now: float) -> list[Result]:
        """One REGISTER as received from ``transport:host:port``; ``banned``: the source is
        refused for repeated authentication failures."""
        source = Address(transport, host, port)
        try:
            request = parse_message(data, datagram=not source.reliable, limits=self.limits)
            if not isinstance(request, Request) or request.method not in _FRONT_METHODS \
                    or not isinstance(request.uri, SipUri):
                return [("back", ident)]
            headers = request.headers
            if headers.lines_of("require") or headers.lines_of("proxy-require") \
                    or request.to.tag is not None:
                return [("back", ident)]
            if request.method == "INVITE":
                return [self._invite(ident, request, source, banned, now)]
            to_uri = request.to.uri
            if not isinstance(to_uri, SipUri):
                return [("back", ident)]
            number = to_uri.user or ""
            reply_port = response_destination(stamp_top_via(request, source), source).port
        except SipParseError:
            return [("back", ident)]
        if banned:
            return [self._answer(ident, request, reply_port, 403, "Forbidden")]
        creds = digest_credentials(headers.get_all("authorization"), self.realm)
        if creds is None:
            return [self._challenge(ident, request, reply_port, now)]
        assert creds.username is not None
        known = self._known.get(creds.username)
        if creds.nonce is None or self.verifier.issuer.issued_at(creds.nonce, self.realm) is None:
            # Not a nonce of ours: refused without asking the switch for anyone's credentials
            # (made-up credentials must not make it read the database or fill the parking).
            return [self._judge(ident, request, number, reply_port, creds, None, now)]
        if known is None or known.until <= now:
            return self._park(creds.username, _Parked(ident, request, number, reply_port, creds))
        return [self._judge(ident, request, number, reply_port, creds, known.ha1, now)]

    def credentials(self, username: str, ha1: dict[str, str] | None, until: float,
                    now: float) -> list[Result]:
        """The switch's answer to ``("need", username)``, or its credentials at start;
        judges the REGISTERs that waited for them."""
        if len(self._known) >= 100_000:
            self._known.clear()
        self._known[username] = _Known(ha1, until)
        waiting = self._parked.pop(username, [])
        self._parked_count -= len(waiting)
        return [self._judge(p.ident, p.request, p.number, p.port, p.creds, ha1, now)
                for p in waiting]

    def _invite(self, ident: int, request: Request, source: Address, banned: bool,
                now: float) -> Result:
        """The first INVITE of a call, which brings no credentials: challenged (407) as the
        switch challenges it (RFC 3261 §22.3), 403 from a banned source. Anything else an
        INVITE may need judged goes back: credentials, more than one Via (a loop to look
        for, RFC 3261 §16.3), a body other than SDP, an Accept."""
        headers = request.headers
        if (headers.lines_of("proxy-authorization") or headers.lines_of("accept")
                or len(request.vias) != 1
                or (request.body and request.content_type not in (None, "application/sdp"))):
            return ("back", ident)
        via = stamp_top_via(request, source)
        if not (via.branch or "").startswith(MAGIC_COOKIE):
            # An RFC 2543 client's ACK is matched by its headers (§17.2.3), not its branch:
            # the switch's transaction layer does that.
            return ("back", ident)
        port = response_destination(via, source).port
        # The switch drops the ACK of this answer (RFC 3261 §17.1.1.3: same branch).
        ack = via.branch or ""
        if banned:
            return self._answer(ident, request, port, 403, "Forbidden", server=False, ack=ack)
        values = self.verifier.challenge(self.realm, now, algorithms=self.algorithms)
        return self._answer(ident, request, port, 407, None,
                            [("Proxy-Authenticate", v) for v in values], server=False, ack=ack)

    # -- decisions --------------------------------------------------------------------------
    def _park(self, username: str, parked: _Parked) -> list[Result]:
        waiting = self._parked.get(username, [])
        if self._parked_count >= _MAX_PARKED or len(waiting) >= _MAX_PARKED_PER_USER:
            # The switch is not answering; let its own path (and its back-pressure) decide.
            return [("back", parked.ident)]
        waiting = self._parked.setdefault(username, waiting)
        waiting.append(parked)
        self._parked_count += 1
        return [("need", username)] if len(waiting) == 1 else []

    def _judge(self, ident: int, request: Request, number: str, port: int, creds: Credentials,
               ha1: dict[str, str] | None, now: float) -> Result:
        result = self.verifier.verify(
            creds, "REGISTER", lambda _user, algorithm: None if ha1 is None else ha1.get(algorithm),
            now, None, realm=self.realm)
        if result.outcome is AuthOutcome.STALE:
            return self._challenge(ident, request, port, now, stale=True)
        if result.outcome is not AuthOutcome.OK:
            return self._challenge(ident, request, port, now, failure=result.reason or "failed")
        if number != creds.username:
            # RFC 3261 §10.3 step 4: a user may only change its own bindings.
            return self._answer(ident, request, port, 403, "Not allowed to register this address")
        try:
            view = register_request(request)
        except SipParseError as exc:
            return self._answer(ident, request, port, exc.status or 400, exc.reason)
        return ("bind", ident, number, view.as_tuple(), self._head(request), port)

    # -- answers ----------------------------------------------------------------------------
    def _challenge(self, ident: int, request: Request, port: int, now: float, *,
                   stale: bool = False, failure: str = "") -> Result:
        values = self.verifier.challenge(self.realm, now, stale=stale, algorithms=self.algorithms)
        return self._answer(ident, request, port, 401, None,
                            [("WWW-Authenticate", v) for v in values], failure)

    def _answer(self, ident: int, request: Request, port: int, status: int, reason: str | None,
                extra: list[tuple[str, str]] | None = None, failure: str = "", *,
                server: bool = True, ack: str = "") -> Result:
        head = self._head(request)
        # The switch names itself in its registrar's answers, not in the B2BUA's.
        answer = compose_answer(head, status, reason, extra or (),
                                self.server if server else None)
        # After a failure the switch may find the source banned: it answers 403 instead.
        return ("send", ident, answer, port, failure, head if failure else "", ack)

    @staticmethod
    def _head(request: Request) -> str:
        # RFC 3261 §8.2.6.2: the To of an answer (other than 100) carries a tag.
        copied = make_response(request, 200, to_tag=secrets.token_hex(6))
        return "\r\n".join(f"{name}: {value}" for _key, name, value in copied.headers.entries())
