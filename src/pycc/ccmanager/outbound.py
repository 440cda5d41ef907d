"""Calls pycc places itself: to an agent's phone for a queued caller, to a supervisor, to a
customer over a trunk.

pycc is the UAC (RFC 3261 §13.2): it offers its own media (every codec it can decode, SDES
keys best-effort), forks to every registered contact of an extension (the first 2xx wins, the
other branches get CANCEL, a late 2xx is ACKed and taken down with BYE: §13.2.2.4), answers
reliable provisional responses with PRACK (RFC 3262), and once answered gives the service a
:class:`~pycc.media.channel.Channel` to play to, listen to, or bridge with another call's
channel. In-dialog requests from the far end are answered by pycc: BYE ends the call, INFO
carries keys, a re-INVITE or UPDATE with an offer is answered from pycc's own media, one
without an offer gets pycc's current description.

The :class:`Originator` owns these calls' transactions and dialogs; the B2BUA hands it every
event that is not one of its own calls'.

A transfer takes an answered call away from the service that placed it
(:meth:`Originator.hand_over`): the service sees the call's channel end, as if the far end had
hung up, and lets go; the call stays up on a fresh channel for the next service, and the
hang-ups the first service still asks for are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pycc.aaa.cdr import HoldClock, is_hold_offer, media_summary
from pycc.ccmanager.registrar import Location
from pycc.endpoint import SipEndpoint
from pycc.media.channel import Channel
from pycc.media.server import MediaServer
from pycc.media.session import MediaSession
from pycc.sdp.errors import SdpError
from pycc.sdp.session import SessionDescription
from pycc.sip.address import Address
from pycc.sip.dialog import Dialog
from pycc.sip.dtmf_info import parse_dtmf_info
from pycc.sip.errors import SipUsageError
from pycc.sip.headers import Headers
from pycc.sip.ids import token_hex
from pycc.sip.message import Request, Response, make_response
from pycc.sip.transaction import ClientTransaction, ServerTransaction, Transaction
from pycc.sip.uri import SipUri, parse_uri

__all__ = ["Branch", "Originator", "OutboundCall", "OutboundState"]

log = logging.getLogger("pycc.outbound")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK"


class OutboundState(Enum):
    TRYING = "trying"
    RINGING = "ringing"
    ANSWERED = "answered"
    FAILED = "failed"
    ENDED = "ended"


@dataclass(eq=False, slots=True)
class Branch:
    """One INVITE towards one contact (or one trunk)."""

    call: OutboundCall
    destination: Address
    invite: Request
    txn: ClientTransaction
    dialog: Dialog | None = None
    done: bool = False
    last_ack: Request | None = None


@dataclass(eq=False)
class OutboundCall:
    """One call pycc placed. ``result`` resolves once it is answered (True) or has failed
    (False); ``ended`` is set when it is over either way."""

    id: str
    target: str
    caller: str
    start: float
    media: MediaSession
    state: OutboundState = OutboundState.TRYING
    branches: list[Branch] = field(default_factory=list)
    winner: Branch | None = None
    channel: Channel | None = None
    status: int = 0
    reason: str = ""
    ring: float | None = None
    answer: float | None = None
    end: float | None = None
    hangup_by: str = ""
    hangup_cause: str = ""
    result: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop()
                                         .create_future())
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    #: Called once when the call is over (answered or not).
    on_end: list[Callable[[OutboundCall], None]] = field(default_factory=list)
    best: Response | None = None
    #: What the call record says about the call (the trunk, a campaign, the media); once
    #: answered, also the ``details`` of its channel, where the services note theirs.
    details: dict[str, object] = field(default_factory=dict)
    #: How long the far end had the call on hold.
    hold: HoldClock = field(default_factory=HoldClock)
    #: Taken from the service that placed it by a transfer: only a forced hang-up (the far
    #: end, the current channel's service, the operator) ends it now.
    handed_over: bool = False

    @property
    def answered(self) -> bool:
        return self.state is OutboundState.ANSWERED

    async def wait_answered(self, timeout: float | None = None) -> bool:
        """True once the far end answered; False when it failed or ``timeout`` passed."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.result), timeout)
        except TimeoutError:
            return False


class Originator:
    """Places calls and runs their signalling."""

    def __init__(self, endpoint: SipEndpoint, media: MediaServer, *,
                 clock: Callable[[], float] = time.time, domain: str = "pycc") -> None:
        self.endpoint = endpoint
        self.media = media
        self.clock = clock
        self.domain = domain
        self.calls: dict[str, OutboundCall] = {}
        self._by_txn: dict[ClientTransaction, Branch] = {}
        self._dialogs: dict[tuple[str, str, str], Branch] = {}

    # -- placing calls ---------------------------------------------------------------------
    def call(self, target: str, destinations: list[tuple[SipUri, Address | None, list[str]]],
             *, caller: str = "pycc", display_name: str | None = None,
             extra_headers: list[tuple[str, str]] | None = None) -> OutboundCall:
        """Call ``target`` at each of ``destinations`` at once: (Request-URI, where to send it
        or None for the URI's own host, Route set). Raises PortsExhausted when pycc has no
        RTP ports left."""
        session = self.media.new_session(f"out-{token_hex(6)}", on_timeout=self._media_timeout)
        call = OutboundCall(id=token_hex(12) + "@pycc", target=target, caller=caller,
                            start=self.clock(), media=session)
        session.owner = call
        session.on_digit = lambda party, digit, form: self._digit(call, digit)
        first = destinations[0][1] if destinations else None
        toward = first or Address("udp", "127.0.0.1", 5060)
        session.set_address("b", self.endpoint.advertised_address(toward).host)
        offer = session.offer_locally("b").to_bytes()
        self.calls[call.id] = call
        for uri, destination, route in destinations:
            if destination is None:
                destination = Address(uri.transport or "udp", uri.host, uri.port or 5060)
            self._branch(call, uri, destination, route, offer, display_name,
                         extra_headers or [])
        if not call.branches:
            self._failed(call, 480, "Temporarily Unavailable")
        return call

    def call_locations(self, number: str, locations: list[Location], **options: object) -> \
            OutboundCall:
        """Call extension ``number`` at its registered contacts."""
        destinations: list[tuple[SipUri, Address | None, list[str]]] = []
        for location in locations:
            uri = parse_uri(location.binding.contact)
            if isinstance(uri, SipUri):
                destinations.append((uri.with_(headers={}), location.destination,
                                     list(location.binding.path)))
        return self.call(number, destinations, **options)  # type: ignore[arg-type]

    def _branch(self, call: OutboundCall, uri: SipUri, destination: Address, route: list[str],
                offer: bytes, display_name: str | None,
                extra: list[tuple[str, str]]) -> None:
        headers = Headers()
        headers.add("Via", self.endpoint.via_for(destination))
        for value in route:
            headers.add("Route", value)
        headers.add("Max-Forwards", "70")
        name = f'"{display_name}" ' if display_name else ""
        headers.add("From", f"{name}<sip:{call.caller}@{self.domain}>;tag={token_hex(6)}")
        headers.add("To", f"<sip:{call.target}@{uri.host}>")
        headers.add("Call-ID", call.id if not call.branches else token_hex(12) + "@pycc")
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.endpoint.contact_for(destination, call.caller or "pycc"))
        headers.add("Allow", ALLOW)
        headers.add("Supported", "100rel")
        headers.add("User-Agent", self.endpoint.user_agent)
        for key, value in extra:
            headers.add(key, value)
        headers.add("Content-Type", "application/sdp")
        invite = Request(headers, offer, "INVITE", uri)
        txn = self.endpoint.send_request(invite, destination)
        branch = Branch(call, destination, invite, txn)
        call.branches.append(branch)
        self._by_txn[txn] = branch

    def cancel(self, call: OutboundCall, cause: str = "487 Request Terminated", *,
               force: bool = False) -> None:
        """Stop ringing (CANCEL every branch); hang up if it was answered already."""
        if call.state is OutboundState.ANSWERED:
            self.hangup(call, cause, force=force)
            return
        if call.state in (OutboundState.FAILED, OutboundState.ENDED):
            return
        for branch in call.branches:
            if not branch.done:
                branch.done = True
                self.endpoint.cancel(branch.txn)
        self._failed(call, 487, "Request Terminated", cause=cause, by="system")

    def hangup(self, call: OutboundCall, cause: str = "200 BYE", by: str = "system", *,
               force: bool = False) -> None:
        """BYE an answered call. A call handed over by a transfer ends only when ``force``d:
        the services that had it before still ask, and must not end it."""
        if call.state is not OutboundState.ANSWERED:
            if call.state in (OutboundState.TRYING, OutboundState.RINGING):
                self.cancel(call, cause)
            return
        if call.handed_over and not force:
            log.debug("outbound call %s: handed over, not hung up (%s)", call.id, cause)
            return
        winner = call.winner
        if winner is not None and winner.dialog is not None:
            with contextlib.suppress(SipUsageError):
                self._send_in_dialog(winner.dialog.create_request("BYE"), winner.destination)
        self._ended(call, by, cause)

    # -- responses -------------------------------------------------------------------------
    def on_response(self, txn: ClientTransaction, response: Response) -> bool:
        branch = self._by_txn.get(txn)
        if branch is None:
            return False
        call = branch.call
        status = response.status
        if status == 100:
            return True
        if status < 200:
            if response.to.tag and branch.dialog is None:
                branch.dialog = Dialog.from_uac_response(branch.invite, response)
            if "100rel" in response.option_tags("require") and branch.dialog is not None:
                prack = branch.dialog.create_prack(response)
                if prack is not None:
                    self._send_in_dialog(prack, branch.destination)
            if call.state is OutboundState.TRYING and status in (180, 183):
                call.state = OutboundState.RINGING
                call.ring = self.clock()
            return True
        if status < 300:
            self._answered(call, branch, response)
        else:
            branch.done = True
            if call.best is None or _rank(status) < _rank(call.best.status):
                call.best = response
            if call.state in (OutboundState.TRYING, OutboundState.RINGING) and \
                    all(b.done for b in call.branches):
                best = call.best
                self._failed(call, best.status, best.reason, by="callee")
        return True

    def _answered(self, call: OutboundCall, branch: Branch, response: Response) -> None:
        if branch.dialog is None or branch.dialog.id.remote_tag != response.to.tag:
            branch.dialog = Dialog.from_uac_response(branch.invite, response)
        else:
            branch.dialog.receive_response(response, self.endpoint.now())
        branch.done = True
        if branch.last_ack is not None:
            # A retransmitted 2xx (of the winner, or of a branch already taken down): the
            # ACK answers it again.
            self.endpoint.send_stateless(branch.last_ack, branch.destination)
            return
        self._ack(branch)
        if call.state not in (OutboundState.TRYING, OutboundState.RINGING):
            # Another branch won, or the call was cancelled meanwhile: take this one down.
            with contextlib.suppress(SipUsageError):
                self._send_in_dialog(branch.dialog.create_request("BYE"), branch.destination)
            return
        try:
            call.media.accept_local_answer(SessionDescription.parse(response.body), "b")
        except SdpError as exc:
            log.info("outbound call %s: unusable answer: %s", call.id, exc)
            call.winner = branch
            call.state = OutboundState.ANSWERED
            self.hangup(call, "488 Not Acceptable Here")
            return
        call.winner = branch
        call.state = OutboundState.ANSWERED
        call.answer = self.clock()
        dialog_id = branch.dialog.id
        self._dialogs[(dialog_id.call_id, dialog_id.local_tag, dialog_id.remote_tag)] = branch
        for other in call.branches:
            if other is not branch and not other.done:
                other.done = True
                self.endpoint.cancel(other.txn)
        self._new_channel(call)
        if not call.result.done():
            call.result.set_result(True)

    def _new_channel(self, call: OutboundCall) -> Channel:
        """A channel for the service on ``call``; its hang-up counts while it is the call's
        current channel (a transfer makes another)."""
        engine = self.media.engine
        assert engine is not None
        made: list[Channel] = []

        def hangup() -> None:
            if made and call.channel is made[0]:
                self.hangup(call, "200 Application Hangup", force=True)

        channel = engine.channel(call.media, "b", name=f"{call.target}:{call.id}",
                                 hangup=hangup)
        made.append(channel)
        call.channel = channel
        channel.details = call.details
        if not call.media.has_events("b"):
            channel.listen_for_tones(lambda _channel, digit: self._digit(call, digit))
        return channel

    def hand_over(self, call: OutboundCall) -> Channel:
        """Take the answered ``call`` from the service that drives it, for a transfer: its
        channel ends (the service lets go as if the far end had hung up; a channel it was
        bridged to is left alone), and a fresh channel, returned, is the call's from now on.
        Hang-ups asked without ``force`` are ignored from here on. Raises ValueError when the
        call is not answered."""
        if call.state is not OutboundState.ANSWERED:
            raise ValueError(f"outbound call {call.id} is not answered")
        call.handed_over = True
        old = call.channel
        # A recording that follows the party (a recorded customer) goes on with it.
        engine = self.media.engine
        following = engine.following(old) if old is not None and engine is not None else None
        if following is not None:
            following.hold()
        if old is not None:
            old.end()
        session = call.media
        for leg in session.legs("b"):
            # A bridge that carried the party's keys took their reporting with it.
            leg.on_digit = lambda _leg, digit: session.report_digit("b", digit, "rfc4733")
        channel = self._new_channel(call)
        if following is not None:
            following.move_to(channel)
        return channel

    def _ack(self, branch: Branch) -> None:
        assert branch.dialog is not None
        ack = branch.dialog.create_ack(branch.invite.cseq.seq)
        ack.headers.prepend("Via", self.endpoint.via_for(branch.destination))
        branch.last_ack = ack
        self.endpoint.send_stateless(ack, branch.destination)

    def on_stray_2xx(self, response: Response) -> bool:
        key = (response.call_id, response.from_.tag or "", response.to.tag or "")
        branch = self._dialogs.get(key)
        if branch is None or branch.last_ack is None:
            return False
        self.endpoint.send_stateless(branch.last_ack, branch.destination)
        return True

    def on_timeout(self, txn: ClientTransaction) -> bool:
        branch = self._by_txn.get(txn)
        if branch is None:
            return False
        if not branch.done:
            self.on_response(txn, make_response(branch.invite, 408, "Request Timeout"))
        return True

    def txn_finished(self, txn: Transaction) -> None:
        if isinstance(txn, ClientTransaction):
            self._by_txn.pop(txn, None)

    def pending(self) -> int:
        return len(self._by_txn)

    # -- requests from the far end ---------------------------------------------------------
    def on_request(self, txn: ServerTransaction, request: Request) -> bool:
        key = (request.call_id, request.to.tag or "", request.from_.tag or "")
        branch = self._dialogs.get(key)
        if branch is None:
            return False
        call, dialog = branch.call, branch.dialog
        assert dialog is not None
        check = dialog.receive_request(request, self.endpoint.now())
        if not check.accepted:
            self.endpoint.send_response(txn, check.response(request))
            return True
        method = request.method
        if method == "BYE":
            self._answer(dialog, txn, make_response(request, 200))
            self._ended(call, "callee", "200 BYE")
            return True
        if method == "INFO":
            info = parse_dtmf_info(request.headers.get("content-type"), request.body)
            if info is not None:
                self._digit(call, info.digit)
                if call.channel is not None:
                    call.channel.engine.pass_key(call.channel, info.digit, info.duration_ms)
            self._answer(dialog, txn, make_response(request, 200))
            return True
        if method in ("INVITE", "UPDATE"):
            content_type = (request.headers.get("content-type") or "").split(";")[0].strip()
            sdp: SessionDescription | None
            if request.body and content_type.lower() == "application/sdp":
                try:
                    offer = SessionDescription.parse(request.body)
                    call.hold.set("b", is_hold_offer(offer), self.clock())
                    sdp = call.media.answer_locally(offer, "b")
                except SdpError as exc:
                    self._answer(dialog, txn, make_response(request, 488, "Not Acceptable Here",
                                 extra=[("Warning", f'399 pycc "{str(exc)[:100]}"')]))
                    return True
            else:
                sent = call.media.parties["b"].last_sent
                sdp = sent if method == "INVITE" else None
            response = make_response(request, 200, body=sdp.to_bytes() if sdp else b"",
                                     content_type="application/sdp" if sdp else None)
            response.headers.add("Contact", self.endpoint.contact_for(branch.destination))
            self._answer(dialog, txn, response)
            return True
        self._answer(dialog, txn, make_response(request, 200))
        return True

    def on_ack(self, request: Request) -> bool:
        key = (request.call_id, request.to.tag or "", request.from_.tag or "")
        branch = self._dialogs.get(key)
        if branch is None or branch.dialog is None:
            return False
        with contextlib.suppress(SipUsageError):
            branch.dialog.receive_request(request, self.endpoint.now())
        return True

    def _answer(self, dialog: Dialog, txn: ServerTransaction, response: Response) -> None:
        with contextlib.suppress(SipUsageError):
            dialog.response_sent(response, self.endpoint.now())
        response.headers.add("Server", self.endpoint.user_agent)
        self.endpoint.send_response(txn, response)

    def _send_in_dialog(self, request: Request, destination: Address) -> None:
        request.headers.prepend("Via", self.endpoint.via_for(destination))
        self.endpoint.send_request(request, destination)

    def _digit(self, call: OutboundCall, digit: str) -> None:
        if call.channel is not None:
            call.channel.press(digit)

    def _media_timeout(self, session: MediaSession) -> None:
        call = session.owner
        if isinstance(call, OutboundCall) and call.state is OutboundState.ANSWERED:
            self.hangup(call, "RTP timeout", force=True)

    # -- the end ---------------------------------------------------------------------------
    def _failed(self, call: OutboundCall, status: int, reason: str, *, cause: str = "",
                by: str = "system") -> None:
        call.status = status
        call.reason = reason
        call.state = OutboundState.FAILED
        self._finish(call, by, cause or f"{status} {reason}".strip())

    def _ended(self, call: OutboundCall, by: str, cause: str) -> None:
        if call.state is OutboundState.ENDED:
            return
        call.status = call.status or 200
        call.state = OutboundState.ENDED
        self._finish(call, by, cause)

    def _finish(self, call: OutboundCall, by: str, cause: str) -> None:
        if call.end is not None:
            return
        call.end = self.clock()
        call.hangup_by = by
        call.hangup_cause = cause
        self.calls.pop(call.id, None)
        for key, branch in list(self._dialogs.items()):
            if branch.call is call:
                del self._dialogs[key]
        call.details.update(media_summary(call.media))
        self.media.end_session(call.media)
        if not call.result.done():
            call.result.set_result(False)
        call.ended.set()
        for callback in call.on_end:
            try:
                callback(call)
            except Exception:
                log.exception("outbound call %s: an end callback failed", call.id)

    def shutdown(self) -> None:
        for call in list(self.calls.values()):
            if call.state is OutboundState.ANSWERED:
                self.hangup(call, "503 Switch Stopping", force=True)
            else:
                self.cancel(call, "503 Switch Stopping")


def _rank(status: int) -> int:
    """Which failure wins when every branch failed (RFC 3261 §16.7 step 6)."""
    if 600 <= status < 700:
        return 0
    if status == 486:
        return 1
    if status in (408, 487):
        return 9
    return 5

