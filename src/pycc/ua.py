"""A small SIP user agent: register, call, answer, hang up, re-INVITE and send DTMF.

The test suite, the examples and the simulated agents and customers of the dialer's demo use
`UserAgent` to act like a desk phone set up with pycc as registrar and outbound proxy: every
request it sends goes to that one server address, over the server's transport. It is built on
the same core as the switch: `SipEndpoint` runs the transactions, `Dialog` keeps the dialog
state, `pycc.sip.auth` answers digest challenges. No media flows yet; the SDP it offers and
answers is a minimal PCMU description of a port nothing listens on.

Implements, for a user agent:

- RFC 3261 §10.2 (REGISTER, and removing the binding with ``Expires: 0``), §22.2 and §22.3
  (answering 401 and 407 with Authorization / Proxy-Authorization, through RFC 7616 / RFC 8760
  digest in `pycc.sip.auth`; the request is sent again once, twice for ``stale=true``);
- §13.2 (UAC INVITE: early dialogs from 1xx, the ACK for a 2xx built by the dialog and sent
  again for each retransmitted 2xx, §13.2.2.4; a 2xx arriving after our CANCEL is ACKed and
  then ended with BYE, §9.1); §9.1 and §9.2 (sending CANCEL, and answering one with 200 and
  the INVITE with 487);
- §13.3 (UAS INVITE: 180, then 2xx resent until the ACK comes, §13.3.1.4, and BYE after
  64*T1 without one); §14 (re-INVITE in both directions, answered with 200 and our SDP);
  §15 (BYE both ways); §11.2 (OPTIONS answered 200 with Allow and Accept);
- RFC 6086 INFO carrying ``application/dtmf-relay`` (the de facto ``Signal=``/``Duration=``
  body most PBXs use), sent and received.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

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
from pycc.sip.dialog import AckTimedOut, Dialog, DialogId, DialogState
from pycc.sip.dtmf_info import DTMF_DIGITS, DTMF_RELAY, format_dtmf_relay, parse_dtmf_info
from pycc.sip.errors import SipError
from pycc.sip.headers import Headers, NameAddr
from pycc.sip.message import Request, Response, make_response, reason_for
from pycc.sip.transaction import (
    AckReceived,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    TimerConfig,
    TransactionEvent,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from pycc.sip.uri import SipUri, Uri, UriError, parse_uri
from pycc.transport.tls import (
    client_ssl_context,
    make_self_signed_certificate,
    server_ssl_context,
)

__all__ = [
    "ALLOW",
    "DTMF_DIGITS",
    "Call",
    "CallFailed",
    "CallState",
    "UaError",
    "UserAgent",
    "minimal_sdp",
]

log = logging.getLogger("pycc.ua")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
SDP = "application/sdp"
#: How often one request is sent again after a challenge: once, and once more when the
#: second answer says the nonce went stale (RFC 7616 §3.3: the password was right).
MAX_AUTH_ROUNDS = 3


class UaError(Exception):
    """A request of the user agent failed; ``status`` is the final SIP status, if any."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        reason: str = "",
        response: Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.response = response


class CallFailed(UaError):
    """An outgoing call ended without being answered: ``status`` is the final response."""

    def __init__(self, status: int, reason: str, response: Response | None = None) -> None:
        super().__init__(f"call failed: {status} {reason}".rstrip(), status, reason, response)


class CallState(enum.Enum):
    #: Our INVITE is out and nothing but 100 came back.
    CALLING = "calling"
    #: A provisional response came (outgoing), or we sent 180 (incoming).
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


def minimal_sdp(
    host: str, rtp_port: int, *, username: str = "pycc", session_id: int = 1, version: int = 1,
    telephone_events: bool = True,
) -> bytes:
    """A one-stream audio description: PCMU and, unless told otherwise, RFC 4733
    telephone-events (RFC 8866 syntax)."""
    ip = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o={username} {session_id} {version} IN {ip} {host}",
        "s=pycc",
        f"c=IN {ip} {host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP 0" + (" 101" if telephone_events else ""),
        "a=rtpmap:0 PCMU/8000",
    ]
    if telephone_events:
        lines += ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]
    lines += [
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _has_sdp(message: Request | Response) -> bool:
    return bool(message.body) and message.content_type == SDP


class _Pending:
    """A client transaction the user agent waits on."""

    __slots__ = ("final", "on_response")

    def __init__(self, on_response: Callable[[Response], None] | None) -> None:
        self.final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.on_response = on_response


class Call:
    """One call of a `UserAgent`, outgoing or incoming.

    ``state`` follows `CallState`; ``ringing``, ``answered`` and ``ended`` are events for it.
    ``status`` is the final status of the INVITE (200 once answered), ``ended_by`` says who
    ended the call: ``"local"`` or ``"remote"``. ``remote_sdp`` is the last session
    description the peer sent (early media in a 183 included), ``local_sdp`` ours.
    """

    def __init__(
        self,
        ua: UserAgent,
        *,
        direction: str,
        call_id: str,
        local_sdp: bytes | None,
        remote_party: str,
    ) -> None:
        self.ua = ua
        self.direction = direction
        self.call_id = call_id
        self.remote_party = remote_party
        self.state = CallState.CALLING
        self.local_sdp = local_sdp
        self.remote_sdp: bytes | None = None
        self.status: int | None = None
        self.reason = ""
        self.ended_by: str | None = None
        self.ringing = asyncio.Event()
        self.answered = asyncio.Event()
        self.ended = asyncio.Event()
        self.dtmf_received: asyncio.Queue[str] = asyncio.Queue()
        #: In-dialog requests received, by method (re-INVITE counts as "INVITE").
        self.requests_received: Counter[str] = Counter()
        self.dialog: Dialog | None = None
        self._invite: Request | None = None
        self._invite_txn: ClientTransaction | None = None
        self._server_txn: ServerTransaction | None = None
        #: Where 2xx retransmissions of an incoming call go: the INVITE's response address.
        self._reply_to: Address | None = None
        #: ACKs sent, by (remote tag, CSeq): sent again for each retransmitted 2xx.
        self._acks: dict[tuple[str, int], Request] = {}
        self._auth_rounds = 0
        self._cancel_wanted = False
        self._sdp_version = 1
        self._session_id = secrets.randbelow(2**31)
        if local_sdp is None:
            self.local_sdp = self._make_sdp()

    @property
    def invite(self) -> Request | None:
        """The INVITE that made the call (ours, or the one we received)."""
        return self._invite

    def __repr__(self) -> str:
        return (f"<Call {self.direction} {self.remote_party} {self.state.value}"
                f" {self.call_id}>")

    # -- waiting -------------------------------------------------------------------------
    async def wait_answered(self, timeout: float | None = None) -> Call:
        """Wait until the call is answered; raises `CallFailed` if it ends first."""
        async with asyncio.timeout(timeout):
            answered = asyncio.ensure_future(self.answered.wait())
            ended = asyncio.ensure_future(self.ended.wait())
            try:
                await asyncio.wait({answered, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                answered.cancel()
                ended.cancel()
        if not self.answered.is_set():
            raise CallFailed(self.status or 0, self.reason)
        return self

    async def wait_ended(self, timeout: float | None = None) -> str:
        """Wait until the call is over; returns who ended it, ``"local"`` or ``"remote"``."""
        async with asyncio.timeout(timeout):
            await self.ended.wait()
        return self.ended_by or "local"

    async def next_dtmf(self, timeout: float | None = None) -> str:
        """The next digit the peer sent with INFO."""
        async with asyncio.timeout(timeout):
            return await self.dtmf_received.get()

    # -- user actions --------------------------------------------------------------------
    async def answer(self, sdp: bytes | None = None) -> None:
        """Answer an incoming call with 200 and ``sdp`` (ours by default)."""
        self.ua._answer(self, sdp)

    async def reject(self, status: int = 486, reason: str | None = None) -> None:
        """Refuse an incoming call that is not answered yet with ``status`` (300-699)."""
        if not 300 <= status <= 699:
            raise ValueError("a rejection needs a final status of 300-699")
        self.ua._reject(self, status, reason)

    async def hangup(self, timeout: float = 5.0) -> None:
        """End the call: BYE once answered, CANCEL an outgoing call that still rings, 603 to
        an incoming call not answered yet. Waits (up to ``timeout``) for the call to end."""
        if self.state is CallState.ENDED:
            return
        if self.state is CallState.ANSWERED:
            waiter = self.ua._send_bye(self)
            if waiter is not None:
                with contextlib.suppress(TimeoutError, UaError):
                    await asyncio.wait_for(asyncio.shield(waiter), timeout)
            return
        if self.direction == "incoming":
            self.ua._reject(self, 603, None)
            return
        self.ua._cancel(self)
        try:
            await self.wait_ended(timeout)
        except TimeoutError:
            # No final response to the INVITE or CANCEL: the call is gone for us anyway.
            self.ua._end(self, "local", 408, "Request Timeout")

    async def reinvite(self, sdp: bytes | None = None, timeout: float = 10.0) -> Response:
        """Send a re-INVITE offering ``sdp`` (ours with a new version by default)."""
        dialog = self._confirmed_dialog("re-INVITE")
        if not dialog.can_reinvite():
            raise UaError("a re-INVITE needs a confirmed dialog with no offer pending")
        if sdp is None:
            self._sdp_version += 1
            sdp = self._make_sdp()
        # local_sdp changes on the 2xx only: a refused re-INVITE leaves the session (§14.1).
        request = dialog.create_request("INVITE", body=sdp, content_type=SDP)
        waiter = self.ua._send_in_dialog(
            request, lambda r: self.ua._reinvite_response(self, request, r)
        )
        return await asyncio.wait_for(waiter, timeout)

    async def update(self, sdp: bytes | None = None, timeout: float = 10.0) -> Response:
        """Send an UPDATE (RFC 3311) offering ``sdp``; returns the final response."""
        dialog = self._confirmed_dialog("UPDATE")
        if sdp is None:
            self._sdp_version += 1
            sdp = self._make_sdp()
        request = dialog.create_request("UPDATE", body=sdp, content_type=SDP)
        now = self.ua.endpoint.now

        def book(response: Response) -> None:
            # The dialog books the answer (or the failure): the next offer may go either way.
            dialog.receive_response(response, now())

        waiter = self.ua._send_in_dialog(request, book)
        response = await asyncio.wait_for(waiter, timeout)
        if 200 <= response.status < 300 and _has_sdp(response):
            self.local_sdp, self.remote_sdp = sdp, response.body
        return response

    async def send_info_dtmf(self, digit: str, duration: int = 160,
                             timeout: float = 10.0) -> Response:
        """Send one DTMF digit as INFO ``application/dtmf-relay``; returns the final response."""
        body = format_dtmf_relay(digit, duration)
        dialog = self._confirmed_dialog("INFO")
        request = dialog.create_request("INFO", body=body, content_type=DTMF_RELAY)
        return await asyncio.wait_for(self.ua._send_in_dialog(request), timeout)

    # -- helpers -------------------------------------------------------------------------
    def _confirmed_dialog(self, what: str) -> Dialog:
        if self.state is not CallState.ANSWERED or self.dialog is None:
            raise UaError(f"cannot send {what}: the call is {self.state.value}")
        return self.dialog

    def _make_sdp(self) -> bytes:
        return minimal_sdp(self.ua.local_host, self.ua.rtp_port, username=self.ua.username,
                           session_id=self._session_id, version=self._sdp_version,
                           telephone_events=self.ua.telephone_events)


class UserAgent:
    """A SIP phone registered to one server (the switch), which it uses as outbound proxy.

    ``server`` is the switch's address including the transport; the agent listens on the
    same transport at ``local_host`` with a free port. ``realm_domain`` is the host part of
    its address of record (From, To, Request-URIs of numbers); by default the server's host.
    Incoming calls ring (180) and wait in `incoming` for `Call.answer` or `Call.reject`;
    with ``auto_answer`` they are answered ``answer_delay`` seconds later.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        server: Address,
        local_host: str = "127.0.0.1",
        realm_domain: str | None = None,
        auto_answer: bool = False,
        answer_delay: float = 0.0,
        display_name: str | None = None,
        rtp_port: int | None = None,
        timers: TimerConfig | None = None,
        user_agent: str = "pycc-ua",
        telephone_events: bool = True,
        stored_ha1: Mapping[str, str] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        #: HA1 values ("MD5", "SHA-256") to answer challenges with instead of the password.
        self.stored_ha1 = stored_ha1
        self.server = server.without_connection()
        self.local_host = local_host
        self.domain = realm_domain or server.host
        self.auto_answer = auto_answer
        self.answer_delay = answer_delay
        self.display_name = display_name
        # No media yet: the port only has to be plausible (even, non-zero) in the SDP.
        self.rtp_port = rtp_port or 20000 + 2 * secrets.randbelow(5000)
        #: Whether this agent's SDP offers RFC 4733 events (else keys reach it as SIP INFO).
        self.telephone_events = telephone_events
        self.timers = timers or TimerConfig()
        self.aor = SipUri("sip", username, None, self.domain)
        #: Challenges answered, by status (401 for REGISTER, 407 for INVITE from pycc).
        self.challenges: Counter[int] = Counter()
        #: Live calls (and ended ones for 64*T1, to answer late retransmissions), by Call-ID.
        self.calls: dict[str, Call] = {}
        self.registered = False
        self.contact = ""
        self.local_address: Address | None = None
        self._incoming: asyncio.Queue[Call] = asyncio.Queue()
        self._pending: dict[ClientTransaction, _Pending] = {}
        self._dialogs: dict[DialogId, Call] = {}
        self._by_server_txn: dict[ServerTransaction, Call] = {}
        self._reg_call_id = f"{secrets.token_hex(10)}@{local_host}"
        self._reg_cseq = 0
        self._dialog_timer: asyncio.TimerHandle | None = None
        self._dialog_timer_at: float | None = None
        self._handles: set[asyncio.TimerHandle] = set()
        self._closed = False
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        ssl_server = None
        if self.server.transport == "tls":
            # A listener is needed for Via and Contact even though the switch answers and
            # calls back over our own connection: a throw-away self-signed certificate does.
            self._tls_dir = tempfile.TemporaryDirectory(prefix="pycc-ua-")
            cert, key = Path(self._tls_dir.name, "cert.pem"), Path(self._tls_dir.name, "key.pem")
            make_self_signed_certificate(cert, key, hosts=[local_host])
            ssl_server = server_ssl_context(cert, key)
        self.endpoint = SipEndpoint(
            self,
            timers=self.timers,
            ssl_server=ssl_server,
            ssl_client=client_ssl_context(verify=False),
            user_agent=user_agent,
        )

    def __repr__(self) -> str:
        return f"<UserAgent {self.username} via {self.server}>"

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on the server's transport at ``local_host`` with a free port."""
        self.local_address = await self.endpoint.listen(self.server.transport,
                                                        self.local_host, 0)
        self.contact = self.endpoint.contact_for(self.server, self.username)

    async def close(self, *, graceful: bool = True) -> None:
        """End live calls without waiting for answers, then close the transports. With
        ``graceful=False`` the phone just goes away, as one that loses power or network does:
        no BYE, no CANCEL."""
        if self._closed:
            return
        for call in list(self.calls.values()) if graceful else []:
            with contextlib.suppress(SipError, UaError):
                if call.state is CallState.ANSWERED:
                    self._send_bye(call)
                elif call.state is not CallState.ENDED and call.direction == "incoming":
                    self._reject(call, 480, None)
                elif call.state is not CallState.ENDED:
                    self._cancel(call)
        self._closed = True
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        if self._dialog_timer is not None:
            self._dialog_timer.cancel()
            self._dialog_timer = None
        for pending in self._pending.values():
            if not pending.final.done():
                pending.final.set_exception(UaError("the user agent was closed"))
                pending.final.exception()  # retrieved: nobody may be waiting any more
        self._pending.clear()
        await self.endpoint.close()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    async def __aenter__(self) -> UserAgent:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- registration --------------------------------------------------------------------
    async def register(self, expires: int = 300, timeout: float = 10.0) -> Response:
        """Bind our contact for ``expires`` seconds; raises `UaError` unless the answer is 2xx."""
        response = await asyncio.wait_for(self._register(expires), timeout)
        self.registered = expires > 0
        return response

    async def unregister(self, timeout: float = 10.0) -> Response:
        """Remove our binding (``Expires: 0``)."""
        return await self.register(0, timeout)

    async def _register(self, expires: int) -> Response:
        def build(auth: list[tuple[str, str]]) -> Request:
            # §10.2: one Call-ID for every REGISTER of this agent, CSeq one higher each time.
            self._reg_cseq += 1
            return self._new_request(
                "REGISTER", SipUri("sip", None, None, self.domain),
                to=NameAddr(self.aor, self.display_name), call_id=self._reg_call_id,
                cseq=self._reg_cseq, extra=[("Contact", self.contact),
                                            ("Expires", str(expires)), *auth],
            )

        response = await self._request_with_auth(build)
        if not 200 <= response.status < 300:
            raise UaError(f"REGISTER failed: {response.status} {response.reason}",
                          response.status, response.reason, response)
        return response

    async def options(self, uri: str | None = None, timeout: float = 10.0) -> Response:
        """Send OPTIONS to ``uri`` (the server by default) and return the final response."""
        target = parse_uri(uri) if uri else SipUri("sip", None, None, self.server.host,
                                                   self.server.port)
        call_id = f"{secrets.token_hex(10)}@{self.local_host}"
        seqs = itertools.count(1)

        def build(auth: list[tuple[str, str]]) -> Request:
            return self._new_request("OPTIONS", target, to=NameAddr(target), call_id=call_id,
                                     cseq=next(seqs), extra=auth)

        return await asyncio.wait_for(self._request_with_auth(build), timeout)

    async def _request_with_auth(
        self, build: Callable[[list[tuple[str, str]]], Request]
    ) -> Response:
        """Send ``build([])``; on 401/407 send ``build(credentials)`` again (§22.2, §22.3)."""
        request = build([])
        for _round in range(MAX_AUTH_ROUNDS):
            response = await self._send(request)
            if response.status not in (401, 407):
                return response
            if _round > 0 and not self._stale(response):
                return response  # the password was refused: do not insist
            credentials = self._credentials(request, response)
            if credentials is None:
                return response
            request = build([credentials])
        return response

    # -- calls ---------------------------------------------------------------------------
    async def call(self, target: str, *, sdp: bytes | None = None,
                   timeout: float = 30.0) -> Call:
        """Call ``target`` (a number or a SIP URI) and return the answered call.

        ``sdp`` is the offer (our minimal PCMU offer by default; ``b""`` sends none, and the
        answer then goes in the ACK). Raises `CallFailed` with the final status; after
        ``timeout`` seconds the INVITE is cancelled and `CallFailed` (408) raised.
        """
        call = await self.dial(target, sdp=sdp)
        try:
            return await call.wait_answered(timeout)
        except TimeoutError:
            # CANCEL (or BYE, if the 2xx crosses the CANCEL); the 487 that follows is ours.
            await call.hangup(timeout=5.0)
            raise CallFailed(408, f"No answer within {timeout:g} s") from None

    async def dial(self, target: str, *, sdp: bytes | None = None,
                   extra_headers: Iterable[tuple[str, str]] = ()) -> Call:
        """Send the INVITE and return the call at once, ringing or not (see `call`)."""
        if self.local_address is None:
            raise UaError("start() the user agent first")
        uri = self._target_uri(target)
        call_id = f"{secrets.token_hex(12)}@{self.local_host}"
        call = Call(self, direction="outgoing", call_id=call_id, local_sdp=sdp,
                    remote_party=target)
        from_tag = secrets.token_hex(6)
        extra = [("Allow", ALLOW), *extra_headers]
        if call.local_sdp:
            extra.append(("Content-Type", SDP))
        seqs = itertools.count(1)

        def build(auth: list[tuple[str, str]]) -> Request:
            # §22.2: a retry keeps Call-ID and From tag and takes the next CSeq.
            return self._new_request("INVITE", uri, to=NameAddr(uri), call_id=call_id,
                                     cseq=next(seqs), from_tag=from_tag, extra=[*extra, *auth],
                                     body=call.local_sdp or b"")

        self.calls[call_id] = call
        self._send_invite(call, build([]), build)
        return call

    def _target_uri(self, target: str) -> Uri:
        if ":" in target:  # a URI; a bare number gets our domain
            try:
                return parse_uri(target)
            except UriError as exc:
                raise UaError(f"not a URI: {target!r}: {exc}") from None
        return SipUri("sip", target, None, self.domain)

    def _send_invite(self, call: Call, invite: Request,
                     build: Callable[[list[tuple[str, str]]], Request]) -> None:
        def on_response(response: Response) -> None:
            self._invite_response(call, invite, response, build)

        call._invite = invite
        call._invite_txn = self._start(invite, on_response)[0]

    def _invite_response(self, call: Call, invite: Request, response: Response,
                         build: Callable[[list[tuple[str, str]]], Request]) -> None:
        status = response.status
        if status == 100 or (call._invite is not invite and status >= 300):
            return
        if status < 200:
            self._provisional(call, invite, response)
        elif status < 300:
            self._invite_2xx(call, invite, response)
        elif status in (401, 407) and call._auth_rounds < MAX_AUTH_ROUNDS - 1 \
                and not call._cancel_wanted and (call._auth_rounds == 0 or self._stale(response)):
            credentials = self._credentials(invite, response)
            if credentials is None:
                self._invite_failed(call, response)
                return
            call._auth_rounds += 1
            self._send_invite(call, build([credentials]), build)
        else:
            self._invite_failed(call, response)

    def _provisional(self, call: Call, invite: Request, response: Response) -> None:
        tag = response.to.tag
        now = self.endpoint.now()
        if tag:
            if call.dialog is None:
                call.dialog = Dialog.from_uac_response(invite, response, t1=self.timers.t1)
                self._dialogs[call.dialog.id] = call
            elif call.dialog.id.remote_tag == tag:
                call.dialog.receive_response(response, now)
        if _has_sdp(response):
            call.remote_sdp = response.body  # early media (183)
        if call.state is CallState.CALLING:
            call.state = CallState.RINGING
        call.ringing.set()

    def _invite_2xx(self, call: Call, invite: Request, response: Response) -> None:
        tag = response.to.tag
        if not tag:
            log.info("%s: 2xx without To tag ignored", call.call_id)
            return
        now = self.endpoint.now()
        seq = response.cseq.seq
        dialog = call.dialog
        fresh = True
        if dialog is not None and dialog.id.remote_tag == tag:
            fresh = dialog.receive_response(response, now)
        else:
            other = dialog
            dialog = Dialog.from_uac_response(invite, response, t1=self.timers.t1)
            if call.state is CallState.ANSWERED:
                # A second fork answered: acknowledge it and take it down (§13.2.2.4).
                self._send_ack(call, dialog, invite, response, None)
                self._send_request(dialog.create_request("BYE"))
                return
            if other is not None:
                self._dialogs.pop(other.id, None)
            call.dialog = dialog
            self._dialogs[dialog.id] = call
        if not fresh:
            self._resend_ack(call, tag, seq)
            return
        answer = None
        if not invite.body and _has_sdp(response):
            # Late offer: the 2xx carries the offer and the ACK our answer (§13.2.1).
            answer = call.local_sdp = call._make_sdp()
        self._send_ack(call, dialog, invite, response, answer)
        if _has_sdp(response):
            call.remote_sdp = response.body
        if call._cancel_wanted or call.state is CallState.ENDED:
            # Our CANCEL lost the race with the 2xx (§9.1): the call exists, end it.
            self._mark_answered(call, response)
            self._send_bye(call)
            return
        self._mark_answered(call, response)

    def _mark_answered(self, call: Call, response: Response) -> None:
        call.state = CallState.ANSWERED
        call.status = response.status
        call.reason = response.reason
        call.ringing.set()
        call.answered.set()

    def _send_ack(self, call: Call, dialog: Dialog, invite: Request, response: Response,
                  body: bytes | None) -> None:
        auth = [(name, value) for name, value in invite.headers
                if name.lower() in ("proxy-authorization", "authorization")]
        ack = dialog.create_ack(response.cseq.seq, body=body or b"", extra_headers=auth)
        ack.headers.prepend("Via", self.endpoint.via_for(self.server))
        call._acks[(dialog.id.remote_tag, response.cseq.seq)] = ack
        self.endpoint.send_stateless(ack, self.server)

    def _invite_failed(self, call: Call, response: Response) -> None:
        if call.state is CallState.ENDED:
            return
        dialog = call.dialog
        if dialog is not None and dialog.id.remote_tag == (response.to.tag or ""):
            dialog.receive_response(response, self.endpoint.now())
        by = "local" if call._cancel_wanted else "remote"
        self._end(call, by, response.status, response.reason)

    def _cancel(self, call: Call) -> None:
        call._cancel_wanted = True
        if call._invite_txn is not None:
            self.endpoint.cancel(call._invite_txn)

    # -- incoming calls ------------------------------------------------------------------
    def incoming(self) -> asyncio.Queue[Call]:
        """The queue of incoming calls, in arrival order (they ring until answered)."""
        return self._incoming

    async def next_call(self, timeout: float | None = 10.0) -> Call:
        """The next incoming call; raises TimeoutError when none comes within ``timeout``."""
        async with asyncio.timeout(timeout):
            return await self._incoming.get()

    def _incoming_invite(self, txn: ServerTransaction, request: Request) -> None:
        local_tag = secrets.token_hex(6)
        try:
            dialog = Dialog.from_uas_request(request, local_tag, self.contact, early=True,
                                             t1=self.timers.t1)
        except SipError as exc:
            self._answer_request(txn, request, 400, str(exc))
            return
        caller = request.from_.uri
        party = (caller.user or str(caller)) if isinstance(caller, SipUri) else str(caller)
        call = Call(self, direction="incoming", call_id=request.call_id, local_sdp=None,
                    remote_party=party)
        call.dialog = dialog
        call._invite = request
        call._server_txn = txn
        call._reply_to = txn.destination
        if _has_sdp(request):
            call.remote_sdp = request.body
        self.calls[call.call_id] = call
        self._dialogs[dialog.id] = call
        self._by_server_txn[txn] = call
        ringing = dialog.create_response(request, 180, self.endpoint.now())
        self.endpoint.send_response(txn, ringing)
        call.state = CallState.RINGING
        call.ringing.set()
        self._incoming.put_nowait(call)
        if self.auto_answer:
            self._later(self.answer_delay, lambda: self._auto_answer(call))

    def _auto_answer(self, call: Call) -> None:
        if call.state is CallState.RINGING:
            self._answer(call, None)

    def _answer(self, call: Call, sdp: bytes | None) -> None:
        if call.direction != "incoming" or call.state is not CallState.RINGING:
            raise UaError(f"cannot answer: the call is {call.direction} and {call.state.value}")
        dialog, invite, txn = call.dialog, call._invite, call._server_txn
        assert dialog is not None and invite is not None and txn is not None
        if sdp is not None:
            call.local_sdp = sdp
        body = call.local_sdp or b""
        ok = dialog.create_response(invite, 200, self.endpoint.now(), body=body,
                                    content_type=SDP if body else None)
        self.endpoint.send_response(txn, ok)
        self._mark_answered(call, ok)
        self._schedule_dialog_timer()

    def _reject(self, call: Call, status: int, reason: str | None) -> None:
        if call.direction != "incoming" or call.state is not CallState.RINGING:
            raise UaError(f"cannot reject: the call is {call.direction} and {call.state.value}")
        dialog, invite, txn = call.dialog, call._invite, call._server_txn
        assert dialog is not None and invite is not None and txn is not None
        response = dialog.create_response(invite, status, self.endpoint.now(), reason)
        self.endpoint.send_response(txn, response)
        self._end(call, "local", status, response.reason)

    # -- in-dialog requests ------------------------------------------------------------------
    def _send_in_dialog(
        self, request: Request, on_response: Callable[[Response], None] | None = None
    ) -> asyncio.Future[Response]:
        return self._start(request, on_response)[1]

    def _send_request(self, request: Request) -> asyncio.Future[Response]:
        return self._start(request, None)[1]

    def _send_bye(self, call: Call) -> asyncio.Future[Response] | None:
        dialog = call.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            self._end(call, "local", call.status, call.reason)
            return None
        bye = dialog.create_request("BYE")
        self._end(call, "local", call.status, call.reason)
        return self._send_request(bye)

    def _reinvite_response(self, call: Call, request: Request, response: Response) -> None:
        dialog = call.dialog
        if dialog is None or response.status == 100:
            return
        fresh = dialog.receive_response(response, self.endpoint.now())
        if 200 <= response.status < 300:
            if not fresh:
                self._resend_ack(call, response.to.tag or "", response.cseq.seq)
                return
            answer = None
            if request.body:
                call.local_sdp = request.body
            elif _has_sdp(response):
                call._sdp_version += 1
                answer = call.local_sdp = call._make_sdp()
            self._send_ack(call, dialog, request, response, answer)
            if _has_sdp(response):
                call.remote_sdp = response.body
        elif dialog.state is DialogState.TERMINATED and call.state is not CallState.ENDED:
            # 481 or 408 (§12.2.1.2): the peer lost the dialog.
            self._end(call, "remote", call.status, call.reason)

    def _in_dialog(self, txn: ServerTransaction, request: Request) -> None:
        call = self._dialogs.get(DialogId.of_received_request(request))
        if call is None or call.dialog is None:
            self._answer_request(txn, request, 481)
            return
        dialog = call.dialog
        now = self.endpoint.now()
        check = dialog.receive_request(request, now)
        if not check.accepted:
            self.endpoint.send_response(txn, check.response(request))
            return
        method = request.method
        call.requests_received[method] += 1
        if method == "BYE":
            self._answer_request(txn, request, 200)
            self._end(call, "remote", call.status, call.reason)
        elif method in ("INVITE", "UPDATE"):
            body = b""
            if _has_sdp(request):
                call.remote_sdp = request.body
            # Answer an offer, or make one for an offerless re-INVITE (answered in the ACK).
            # Our side does not change, so neither does its description nor its o= version
            # (RFC 3264 §8); a description given to answer() is kept.
            if _has_sdp(request) or method == "INVITE":
                body = call.local_sdp or call._make_sdp()
            response = dialog.create_response(request, 200, now, body=body,
                                              content_type=SDP if body else None)
            self.endpoint.send_response(txn, response)
            if method == "INVITE":
                call._reply_to = txn.destination
                self._schedule_dialog_timer()
        elif method == "INFO":
            info = parse_dtmf_info(request.content_type, request.body)
            if info is not None:
                call.dtmf_received.put_nowait(info.digit)
            self.endpoint.send_response(txn, dialog.create_response(request, 200, now))
        elif method in ("OPTIONS", "PRACK"):
            self._answer_request(txn, request, 200, extra=self._capabilities())
        else:
            self._answer_request(txn, request, 405, extra=[("Allow", ALLOW)])

    def _on_ack(self, ack: Request) -> None:
        call = self._dialogs.get(DialogId.of_received_request(ack))
        if call is None or call.dialog is None:
            return
        call.dialog.receive_request(ack, self.endpoint.now())
        if _has_sdp(ack):
            call.remote_sdp = ack.body
        self._schedule_dialog_timer()

    def _on_cancel(self, txn: ServerTransaction, cancel: Request) -> None:
        invite_txn = self.endpoint.transactions.find_invite_server_transaction(cancel)
        call = self._by_server_txn.get(invite_txn) if invite_txn is not None else None
        if call is None:
            self._answer_request(txn, cancel, 481)
            return
        tag = call.dialog.id.local_tag if call.dialog is not None else None
        self.endpoint.send_response(txn, make_response(cancel, 200, to_tag=tag))
        if call.state is CallState.RINGING and call.dialog is not None \
                and call._invite is not None and invite_txn is not None:
            terminated = call.dialog.create_response(call._invite, 487, self.endpoint.now())
            self.endpoint.send_response(invite_txn, terminated)
            self._end(call, "remote", 487, terminated.reason)

    # -- requests outside dialogs --------------------------------------------------------
    def _on_request(self, txn: ServerTransaction, request: Request) -> None:
        if self._closed:
            return
        method = request.method
        if method == "CANCEL":
            self._on_cancel(txn, request)
            return
        # §8.2.2.3: the agent implements no extension a peer could require.
        unknown = sorted(request.option_tags("require"))
        if unknown:
            self._answer_request(txn, request, 420, extra=[("Unsupported", ", ".join(unknown))])
            return
        if request.to.tag is not None:
            self._in_dialog(txn, request)
        elif method == "INVITE":
            self._incoming_invite(txn, request)
        elif method == "OPTIONS":
            self._answer_request(txn, request, 200, extra=self._capabilities())
        elif method == "BYE":
            self._answer_request(txn, request, 481)
        else:
            self._answer_request(txn, request, 405, extra=[("Allow", ALLOW)])

    def _capabilities(self) -> list[tuple[str, str]]:
        return [("Allow", ALLOW), ("Accept", f"{SDP}, {DTMF_RELAY}"),
                ("Accept-Language", "en")]

    def _answer_request(self, txn: ServerTransaction, request: Request, status: int,
                        reason: str | None = None,
                        extra: list[tuple[str, str]] | None = None) -> None:
        tag = None if request.to.tag else secrets.token_hex(6)
        response = make_response(request, status, reason, to_tag=tag, extra=extra)
        response.headers.add("Server", self.endpoint.user_agent)
        self.endpoint.send_response(txn, response)

    # -- sending -------------------------------------------------------------------------
    def _new_request(
        self,
        method: str,
        uri: Uri,
        *,
        to: NameAddr,
        call_id: str,
        cseq: int,
        from_tag: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Request:
        headers = Headers()
        headers.add("Via", self.endpoint.via_for(self.server))
        headers.add("Max-Forwards", "70")
        sender = NameAddr(self.aor, self.display_name, {"tag": from_tag or secrets.token_hex(6)})
        headers.add("From", str(sender))
        headers.add("To", str(to))
        headers.add("Call-ID", call_id)
        headers.add("CSeq", f"{cseq} {method}")
        if method == "INVITE":
            headers.add("Contact", self.contact)
        for name, value in extra:
            headers.add(name, value)
        headers.add("User-Agent", self.endpoint.user_agent)
        return Request(headers, body, method, uri)

    def _start(
        self, request: Request, on_response: Callable[[Response], None] | None
    ) -> tuple[ClientTransaction, asyncio.Future[Response]]:
        if self._closed:
            raise UaError("the user agent is closed")
        if not request.headers.get("via"):
            request.headers.prepend("Via", self.endpoint.via_for(self.server))
        pending = _Pending(on_response)
        txn = self.endpoint.send_request(request, self.server)
        self._pending[txn] = pending
        return txn, pending.final

    async def _send(self, request: Request) -> Response:
        return await self._start(request, None)[1]

    def _credentials(self, request: Request, response: Response) -> tuple[str, str] | None:
        proxy = response.status == 407
        values = response.headers.get_all("proxy-authenticate" if proxy else "www-authenticate")
        challenges: list[Challenge] = []
        for value in values:
            with contextlib.suppress(AuthParseError):
                challenges.append(parse_challenge(value))
        challenge = choose_challenge(challenges)
        if challenge is None:
            return None
        self.challenges[response.status] += 1
        try:
            # Each challenge brings a fresh nonce, so this is its first use: nc=1.
            value = build_authorization(challenge, request.method, str(request.uri),
                                        self.username, self.password, 1, new_cnonce(),
                                        stored=self.stored_ha1)
        except UnsupportedChallengeError:
            return None
        return ("Proxy-Authorization" if proxy else "Authorization", value)

    @staticmethod
    def _stale(response: Response) -> bool:
        values = response.headers.get_all("proxy-authenticate") + \
            response.headers.get_all("www-authenticate")
        for value in values:
            with contextlib.suppress(AuthParseError):
                if parse_challenge(value).stale:
                    return True
        return False

    # -- EndpointHandler -----------------------------------------------------------------
    def handle_event(self, event: TransactionEvent) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event.transaction, event.request)
        elif isinstance(event, AckReceived):
            self._on_ack(event.request)
        elif isinstance(event, ResponseReceived):
            self._response(event.transaction, event.response)
        elif isinstance(event, StrayResponse):
            self._stray(event.response)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            txn = event.transaction
            if isinstance(txn, ClientTransaction):
                status = 408 if isinstance(event, TransactionTimedOut) else 503
                self._response(txn, make_response(txn.request, status))
            elif isinstance(txn, ServerTransaction) and isinstance(event, TransportFailed):
                call = self._by_server_txn.get(txn)
                if call is not None and call.state is not CallState.ENDED:
                    self._end(call, "remote", 503, "Service Unavailable")
        elif isinstance(event, TransactionTerminated):
            txn = event.transaction
            if isinstance(txn, ClientTransaction):
                self._pending.pop(txn, None)
            elif isinstance(txn, ServerTransaction):
                self._by_server_txn.pop(txn, None)

    def _response(self, txn: ClientTransaction, response: Response) -> None:
        pending = self._pending.get(txn)
        if pending is None:
            return
        if pending.on_response is not None:
            try:
                pending.on_response(response)
            except SipError:
                log.exception("%s: cannot handle %r", response.call_id, response)
        if response.status >= 200 and not pending.final.done():
            pending.final.set_result(response)

    def _stray(self, response: Response) -> None:
        """A 2xx to an INVITE after its transaction ended (after Timer M): ACK it again."""
        if not 200 <= response.status < 300 or response.cseq.method != "INVITE":
            return
        call = self._dialogs.get(DialogId.of_received_response(response))
        if call is not None:
            self._resend_ack(call, response.to.tag or "", response.cseq.seq)

    def _resend_ack(self, call: Call, remote_tag: str, seq: int) -> None:
        ack = call._acks.get((remote_tag, seq))
        if ack is not None:
            self.endpoint.send_stateless(ack, self.server)

    # -- dialog timers: 2xx retransmissions of the UAS core ------------------------------
    def _schedule_dialog_timer(self) -> None:
        if self._closed:
            return
        times = [t for c in self.calls.values() if c.dialog is not None
                 and (t := c.dialog.get_timer()) is not None]
        when = min(times, default=None)
        if when == self._dialog_timer_at:
            return
        if self._dialog_timer is not None:
            self._dialog_timer.cancel()
            self._dialog_timer = None
        self._dialog_timer_at = when
        if when is not None:
            self._dialog_timer = asyncio.get_running_loop().call_at(when, self._on_dialog_timer)

    def _on_dialog_timer(self) -> None:
        # The loop may wake a clock tick early; the deadline it was set for has come.
        now = max(self.endpoint.now(), self._dialog_timer_at or 0.0)
        self._dialog_timer = None
        self._dialog_timer_at = None
        for call in list(self.calls.values()):
            dialog = call.dialog
            if dialog is None:
                continue
            for response in dialog.handle_timer(now):
                if call._reply_to is not None:
                    self.endpoint.send_stateless(response, call._reply_to)
            while (event := dialog.next_event()) is not None:
                if isinstance(event, AckTimedOut) and call.state is CallState.ANSWERED:
                    log.info("%s: no ACK for our 2xx, hanging up", call.call_id)
                    with contextlib.suppress(SipError):
                        self._send_bye(call)
        self._schedule_dialog_timer()

    # -- bookkeeping ---------------------------------------------------------------------
    def _end(self, call: Call, by: str, status: int | None, reason: str) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.ended_by = by
        if call.status is None or not call.answered.is_set():
            call.status = status
            call.reason = reason or (reason_for(status) if status else "")
        call.ended.set()
        # Kept for 64*T1 to re-ACK late 2xx retransmissions and answer retransmitted BYEs.
        self._later(64 * self.timers.t1, lambda: self._forget(call))
        self._schedule_dialog_timer()

    def _forget(self, call: Call) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
        for key in [k for k, c in self._dialogs.items() if c is call]:
            del self._dialogs[key]

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if self._closed:
            return
        handle: asyncio.TimerHandle

        def run() -> None:
            self._handles.discard(handle)
            try:
                action()
            except (SipError, UaError):
                log.exception("%s: deferred action failed", self)

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._handles.add(handle)
