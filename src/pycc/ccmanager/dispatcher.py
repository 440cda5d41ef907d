"""The switch's SIP application: every transaction event goes to the service that owns it.

This is the UAS core of RFC 3261 §8.2: method inspection (405/501 with Allow), Request-URI
scheme (416), extensions in Require and Proxy-Require (420 with Unsupported), content type
(415 with Accept) and Accept (406) checks, OPTIONS answered (§11.2), CANCEL matched to its
INVITE (§9.2), REGISTER to the registrar, and dialog-creating and in-dialog requests to the
B2BUA. Out-of-dialog requests that match nothing get 481. Before any of that work, new calls
pass the overload guard (`pycc.sip.overload`): past a limit they get 503 with Retry-After,
while requests inside dialogs go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from pycc.ccmanager.b2bua import ALLOW, B2BUA, SUPPORTED
from pycc.ccmanager.registrar import Registrar
from pycc.endpoint import BRANCH_PREFIX, SipEndpoint
from pycc.sip.address import Address
from pycc.sip.errors import SipParseError
from pycc.sip.ids import token_hex
from pycc.sip.message import KNOWN_METHODS, Request, Response, make_response
from pycc.sip.transaction import (
    AckReceived,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    TransactionEvent,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from pycc.sip.uri import SipUri, TelUri

log = logging.getLogger("pycc.dispatch")

#: Option tags pycc understands in Require (RFC 3261 §8.2.2.3).
UNDERSTOOD = frozenset({"100rel", "path", "outbound", "gruu", "timer", "replaces"})
#: Methods pycc knows but does not serve outside a dialog.
NOT_SERVED = frozenset({"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "INFO", "UPDATE",
                        "PRACK"})
#: The Allow of a 405: the methods valid outside a dialog (RFC 3261 §21.4.6 lists "valid
#: methods for the indicated address"), so never the refused method itself.
ALLOW_OUT_OF_DIALOG = ", ".join(
    m for m in (part.strip() for part in ALLOW.split(",")) if m not in NOT_SERVED
)


def new_to_tag() -> str:
    return token_hex(6)


class SipApplication:
    """Routes transaction events to the registrar and the B2BUA."""

    def __init__(self, endpoint: SipEndpoint, registrar: Registrar, b2bua: B2BUA) -> None:
        self.endpoint = endpoint
        self.registrar = registrar
        self.b2bua = b2bua
        self._tasks: set[asyncio.Task[None]] = set()
        #: Requests pycc sends on its own behalf (REGISTER to a trunk, OPTIONS pings), each
        #: waiting for its final response.
        self._waiting: dict[ClientTransaction, asyncio.Future[Response | None]] = {}

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("request handling failed", exc_info=task.exception())

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def request(self, request: Request, destination: Address) -> Response | None:
        """Send an out-of-dialog ``request`` of pycc's own (not INVITE) and return its final
        response, or None when the transaction timed out or the transport failed."""
        if request.method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"request() sends no {request.method}")
        future: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()
        txn = self.endpoint.send_request(request, destination)
        self._waiting[txn] = future
        try:
            return await future
        finally:
            self._waiting.pop(txn, None)

    def _own_request_event(self, event: TransactionEvent) -> bool:
        if isinstance(event, AckReceived | StrayResponse):
            return False
        txn = event.transaction
        future = self._waiting.get(txn) if isinstance(txn, ClientTransaction) else None
        if future is None:
            return False
        if future.done():
            return True
        if isinstance(event, ResponseReceived):
            if event.response.status >= 200:
                future.set_result(event.response)
        elif isinstance(event, TransactionTimedOut | TransportFailed | TransactionTerminated):
            future.set_result(None)
        return True

    # -- EndpointHandler -------------------------------------------------------------------
    def handle_event(self, event: TransactionEvent) -> None:
        if self._waiting and self._own_request_event(event):
            return
        if isinstance(event, RequestReceived):
            self._request(event.transaction, event.request)
        elif isinstance(event, AckReceived):
            self.b2bua.on_ack(event.request)
        elif isinstance(event, ResponseReceived):
            self.b2bua.on_b_response(event.transaction, event.response)
        elif isinstance(event, StrayResponse):
            if 200 <= event.response.status < 300:
                self.b2bua.on_b_stray_2xx(event.response, event.source)
        elif isinstance(event, TransactionTimedOut | TransportFailed):
            if isinstance(event.transaction, ClientTransaction):
                self.b2bua.on_b_timeout(event.transaction)
        elif isinstance(event, TransactionTerminated):
            self.b2bua.txn_finished(event.transaction)

    def _answer(self, txn: ServerTransaction, request: Request, status: int,
                reason: str | None = None, extra: list[tuple[str, str]] | None = None) -> None:
        # RFC 3261 §8.2.6.2: a UAS adds a To tag to every non-100 answer to a request that had
        # none (make_response applies it only then).
        response = make_response(request, status, reason, to_tag=new_to_tag(), extra=extra)
        response.headers.add("Server", self.endpoint.user_agent)
        self.endpoint.send_response(txn, response)

    def _request(self, txn: ServerTransaction, request: Request) -> None:
        method = request.method
        source = txn.source
        if method not in KNOWN_METHODS:
            self._answer(txn, request, 501, "Not Implemented", [("Allow", ALLOW)])
            return
        if not isinstance(request.uri, SipUri | TelUri):
            self._answer(txn, request, 416, "Unsupported URI Scheme")
            return
        headers = request.headers
        if headers.lines_of("require") or headers.lines_of("proxy-require"):
            unknown = sorted(
                (request.option_tags("require") | request.option_tags("proxy-require"))
                - UNDERSTOOD
            )
            if unknown and method not in ("CANCEL", "ACK"):
                self._answer(txn, request, 420, "Bad Extension",
                             [("Unsupported", ", ".join(unknown))])
                return
        try:
            to_tag = request.to.tag
        except SipParseError as exc:
            self._answer(txn, request, exc.status or 400, exc.reason)
            return
        if method == "CANCEL":
            invite_txn = self.endpoint.transactions.find_invite_server_transaction(request)
            if invite_txn is None:
                self._answer(txn, request, 481)
                return
            self._answer(txn, request, 200)
            self.b2bua.on_cancel(invite_txn)
            return
        if to_tag is not None:
            if not self.b2bua.on_in_dialog(txn, request):
                self._answer(txn, request, 481)
            return
        if method == "OPTIONS":
            self._answer(txn, request, 200, extra=[
                ("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", SUPPORTED),
            ])
        elif method == "REGISTER":
            answer = self.registrar.answer_now(request, source)
            if answer is None:
                self.spawn(self._register(txn, request, source))
            else:
                self._send_register_answer(txn, request, answer)
        elif method == "INVITE":
            if self._overloaded(txn, request):
                return
            if self._looped(request):
                self._answer(txn, request, 482, "Loop Detected")
            elif self._check_invite_body(txn, request):
                self.spawn(self.b2bua.on_invite(txn, request, source))
        elif method in NOT_SERVED:
            self._answer(txn, request, 405, "Method Not Allowed",
                         [("Allow", ALLOW_OUT_OF_DIALOG)])
        else:  # BYE and the like outside any dialog
            self._answer(txn, request, 481)

    def _overloaded(self, txn: ServerTransaction, request: Request) -> bool:
        """Refuse a new INVITE with 503 while too much waits unread (`OverloadGuard`)."""
        guard = self.b2bua.overload
        if not guard.config.max_backlog:
            return False
        backlog = self.endpoint.transports.receive_backlog()
        headers = request.headers
        answers_challenge = bool(headers.lines_of("authorization")
                                 or headers.lines_of("proxy-authorization"))
        refusal = guard.admit_request(backlog=backlog, now=self.endpoint.now(),
                                      answers_challenge=answers_challenge)
        if refusal is None:
            return False
        self.b2bua.refuse(txn, request, refusal)
        return True

    def _looped(self, request: Request) -> bool:
        """Did this INVITE already pass through pycc (RFC 3261 §16.3 step 4)?

        Every B leg pycc sends carries a Via with pycc's branch prefix and address; meeting
        one again below the top means the request came back round a loop of forwardings.
        """
        listeners = self.endpoint.listening_addresses()

        def mine(host: str, port: int) -> bool:
            # A wildcard listener is advertised under the address each peer reaches it on.
            return any(a.port == port and a.host in (host, "0.0.0.0", "::") for a in listeners)

        return any(
            (via.branch or "").startswith(BRANCH_PREFIX) and mine(via.host, via.port or 5060)
            for via in request.vias[1:]
        )

    def _check_invite_body(self, txn: ServerTransaction, request: Request) -> bool:
        content_type = request.content_type
        if request.body and content_type not in (None, "application/sdp"):
            self._answer(txn, request, 415, "Unsupported Media Type",
                         [("Accept", "application/sdp")])
            return False
        accepts = [a.split(";", 1)[0].strip().lower() for a in request.headers.values("accept")]
        if accepts and not any(a in ("application/sdp", "application/*", "*/*") for a in accepts):
            self._answer(txn, request, 406, "Not Acceptable",
                         [("Warning", '399 pycc "Only application/sdp bodies are supported"')])
            return False
        return True

    async def _register(self, txn: ServerTransaction, request: Request, source: Address) -> None:
        try:
            response = await self.registrar.handle(request, source)
        except SipParseError as exc:
            response = make_response(request, exc.status or 400, exc.reason)
        self._send_register_answer(txn, request, response)

    def _send_register_answer(self, txn: ServerTransaction, request: Request,
                              response: Response) -> None:
        if response.status > 100 and request.to.tag is None:
            # The To as received plus the tag (see make_response).
            response.headers.set("To", f"{request.headers.get('to')};tag={new_to_tag()}")
        response.headers.add("Server", self.endpoint.user_agent)
        self.endpoint.send_response(txn, response)
