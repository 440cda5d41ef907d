"""The back-to-back user agent that connects calls between extensions.

A call has an A leg (the caller's INVITE, answered by pycc as a UAS) and, while it rings, one
B leg per registered contact of the callee (pycc as a UAC): all ring at once, the first 2xx
wins and the other branches get CANCEL (RFC 3261 §16.7's forking outcome, done by a B2BUA).
Provisional responses go back to the caller; the caller's CANCEL, either side's BYE and any
other in-dialog request (re-INVITE, UPDATE, INFO) are relayed to the other leg, and each
relayed transaction's answer comes back.

With a media server, pycc anchors every call's media: each offer (in the INVITE, in a 2xx for a
late offer, in a re-INVITE or UPDATE) is rewritten by the call's
:class:`~pycc.media.session.MediaSession` so that each party talks to pycc's own RTP ports, and
each answer likewise; the media server relays or transcodes between the two. A call whose RTP
stops for the media server's timeout is hung up with the cause "RTP timeout".

Failures answer the caller with 404 (unknown number), 480 (not registered), 486 (busy), 408
(no answer within the ring timeout) or 487 (cancelled). A call record is written at the end of
every attempt. Times in records are wall-clock; protocol timers use the endpoint's clock.

A blind transfer (:meth:`B2BUA.hand_over`) keeps one party of an answered call on the line and
hands its media to a service of pycc's (a channel running an application): the other leg of a
two-party call gets BYE, a service already running on the call lets go of it, and the call
goes on, with its one record, as a call pycc answered itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pycc.aaa.authenticator import Authenticator, Verdict
from pycc.aaa.cdr import CallRecorder, HoldClock, is_hold_offer, media_summary
from pycc.ccmanager.apps import Application
from pycc.ccmanager.outbound import Originator
from pycc.ccmanager.registrar import Location, Registrar
from pycc.endpoint import SipEndpoint
from pycc.media.channel import Channel, ChannelGone, Recording
from pycc.media.leg import MediaLeg
from pycc.media.server import MediaServer, PortsExhausted
from pycc.media.session import MediaSession, Party
from pycc.sdp.errors import SdpError
from pycc.sdp.session import SessionDescription
from pycc.sip.address import Address
from pycc.sip.dialog import Dialog
from pycc.sip.dtmf_info import DTMF_RELAY, format_dtmf_relay, parse_dtmf_info
from pycc.sip.errors import SipUsageError
from pycc.sip.headers import Headers, NameAddr
from pycc.sip.ids import token_hex
from pycc.sip.message import Request, Response, make_response, reason_for
from pycc.sip.overload import OverloadConfig, OverloadGuard, Refusal
from pycc.sip.transaction import ClientTransaction, ServerTransaction, Transaction
from pycc.sip.uri import SipUri, parse_uri

log = logging.getLogger("pycc.b2bua")

#: Seconds between two log lines about calls refused for load.
OVERLOAD_REPORT_INTERVAL = 10.0

#: How long a call's record waits for the service that ran on it to finish.
APP_RECORD_GRACE = 5.0
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY, MESSAGE"
SUPPORTED = "100rel, path"


class CallState(Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class LegState(Enum):
    TRYING = "trying"
    EARLY = "early"
    ANSWERED = "answered"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Outside:
    """A way out for a call: a Request-URI and where to send it (a trunk), the From to use,
    credentials for the provider's challenge, and what to do once the call is over."""

    uri: SipUri
    destination: Address
    from_header: str | None = None
    authorize: Callable[[str, str, str], str | None] | None = None
    release: Callable[[], None] | None = None
    #: The trunk's name and the number called after the dial plan's translation (before the
    #: trunk's own), for the call record.
    trunk: str = ""
    number: str = ""


@dataclass(frozen=True, slots=True)
class RouteTo:
    """Where the router sends a new call. ``kind``: ``extension`` (ring ``number``'s phones),
    ``application`` (pycc answers and runs ``application``), ``outside`` (out over the first
    of ``outside`` that answers, the next ones on failure), ``reject`` (``status`` and
    ``reason``). ``label`` names the route in the call record."""

    kind: str
    number: str = ""
    application: Application | None = None
    outside: tuple[Outside, ...] = ()
    status: int = 0
    reason: str = ""
    label: str = ""


@dataclass(eq=False, slots=True)
class Leg:
    """One B-leg branch towards a registered contact."""

    call: Call
    destination: Address
    invite: Request
    txn: ClientTransaction
    state: LegState = LegState.TRYING
    dialog: Dialog | None = None
    last_ack: Request | None = None
    #: The way out this leg took, when it goes to a trunk.
    outside: Outside | None = None
    authorized: bool = False


@dataclass(eq=False, slots=True)
class Relay:
    """An in-dialog transaction relayed from one leg to the other."""

    server_txn: ServerTransaction
    request: Request
    from_a: bool
    in_dialog: Dialog | None
    out_dialog: Dialog
    destination: Address
    #: The media party ("a" or "b") whose offer this request carried, rewritten by pycc.
    offer_from: str | None = None


@dataclass(eq=False)
class Call:
    call_id: str
    a_txn: ServerTransaction
    a_invite: Request
    a_source: Address
    caller: str
    callee: str
    to_tag: str
    start: float
    state: CallState = CallState.RINGING
    legs: list[Leg] = field(default_factory=list)
    winner: Leg | None = None
    a_dialog: Dialog | None = None
    a_final: Response | None = None  # our 2xx to the caller, retransmitted until ACKed
    a_acked: bool = False
    ring: float | None = None
    answer: float | None = None
    end: float | None = None
    best: Response | None = None
    hangup_by: str = "system"
    hangup_cause: str = ""
    sip_status: int = 0
    disposition: str = "failed"
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    #: a B-leg 2xx whose ACK waits for the caller's ACK (an offer in the 2xx: late offer)
    b_ack_waits_for_a: bool = False
    #: keys of this call's entries in the B2BUA's dialog table
    dialog_keys: list[tuple[str, str, str]] = field(default_factory=list)
    #: the call's anchored media, and pycc's offer to the callee's branches
    media: MediaSession | None = None
    b_offer: bytes | None = None
    #: what the call record says about the media (codecs, MOS), filled in at the end
    media_info: dict[str, object] = field(default_factory=dict)
    #: the service running a call pycc answered itself
    app_task: asyncio.Task[None] | None = None
    #: the recording of the call, when calls are recorded
    recording: Recording | None = None
    #: ways out still to try when the current one fails (trunk failover)
    fallbacks: list[Outside] = field(default_factory=list)
    #: ways out holding a call slot of their trunk, given back when the call ends
    claimed: list[Outside] = field(default_factory=list)
    #: called once when the call is over
    on_finish: list[Callable[[Call], None]] = field(default_factory=list)
    #: the trunk an inbound call came from (IP-authenticated)
    from_trunk: str | None = None
    #: how long the parties had the call on hold (their re-INVITEs and UPDATEs)
    hold: HoldClock = field(default_factory=HoldClock)
    #: the party ("a" or "b") a transfer released from a two-party call: the call goes on
    #: with the other one, talking to pycc
    released: str | None = None
    #: a transfer is taking the call from the service that ran on it
    transferring: bool = False

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()


class B2BUA:
    """Connects calls between the extensions of one tenant."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        registrar: Registrar,
        auth: Authenticator,
        recorder: CallRecorder,
        *,
        ring_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        extension_exists: Callable[[str], bool] | None = None,
        media: MediaServer | None = None,
        record_dir: Path | None = None,
        record_format: str = "wav",
        direct_media: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.media = media
        #: Calls between two phones (an extension or a trunk at each end) that are not
        #: recorded leave their media to the phones: the SDP passes through unchanged and
        #: pycc carries the signalling alone (Asterisk's ``directmedia``, FreeSWITCH's
        #: bypass media). Such a call cannot be transferred to a service, listened to or
        #: recorded, and no RTP timeout ends it.
        self.direct_media = direct_media
        #: Where every answered call is recorded (None: calls are not recorded).
        self.record_dir = record_dir
        self.record_format = record_format
        self.registrar = registrar
        self.auth = auth
        self.recorder = recorder
        self.ring_timeout = ring_timeout
        self.clock = clock
        self.extension_exists = extension_exists
        self.calls: dict[str, Call] = {}  # A-leg key (Call-ID, caller's tag) -> call
        self._by_a_txn: dict[ServerTransaction, Call] = {}
        self._by_b_txn: dict[ClientTransaction, Leg] = {}
        self._dialogs: dict[tuple[str, str, str], tuple[Call, Leg | None]] = {}
        self._relays: dict[ClientTransaction, Relay] = {}
        #: Called with (call, party "a"/"b", digit, form "rfc4733"/"info"/"inband") for every
        #: key a party presses: the hook of the call-control services.
        self.dtmf_listeners: list[Callable[[Call, str, str, str], None]] = []
        #: Numbers pycc answers itself, and the service each one runs.
        self.applications: dict[str, Application] = {}
        #: The calls pycc places itself (to agents, supervisors, customers).
        self.originator: Originator | None = None
        #: Decides where each new call goes (the dial plan); None: extensions and
        #: applications by number only.
        self.router: Callable[[Call], RouteTo | None] | None = None
        #: Names the trunk a source IP belongs to: its calls need no digest.
        self.trusted_source: Callable[[str], str | None] | None = None
        #: Refuses new calls past the configured limits or while the switch is behind.
        self.overload = OverloadGuard(OverloadConfig())
        self._overload_reported = -OVERLOAD_REPORT_INTERVAL

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _dialog_key(call_id: str, local_tag: str, remote_tag: str) -> tuple[str, str, str]:
        return (call_id, local_tag, remote_tag)

    def active_calls(self) -> int:
        return sum(1 for c in self.calls.values() if c.state is not CallState.ENDED)

    def _respond(self, call: Call, status: int, reason: str | None = None, *,
                 body: bytes = b"", content_type: str | None = None,
                 extra: list[tuple[str, str]] | None = None) -> Response:
        response = make_response(
            call.a_invite, status, reason, to_tag=call.to_tag, body=body,
            content_type=content_type if body else None, extra=extra,
        )
        if 100 < status < 300:
            response.headers.add("Contact", self.endpoint.contact_for(call.a_source))
        response.headers.add("Server", self.endpoint.user_agent)
        self.endpoint.send_response(call.a_txn, response)
        return response

    # -- new calls -------------------------------------------------------------------------
    def refuse(self, txn: ServerTransaction, invite: Request, refusal: Refusal) -> None:
        """Answer a new INVITE the overload guard refused: 503 with Retry-After, and no call
        record (no call was set up, and a write per refusal would add to the load)."""
        guard = self.overload
        self.endpoint.send_response(txn, make_response(
            invite, 503, refusal.value, extra=[guard.retry_after], to_tag=token_hex(6)))
        now = self.endpoint.now()
        if now >= self._overload_reported + OVERLOAD_REPORT_INTERVAL:
            # One line per interval: under overload a line per refusal would add to the load.
            self._overload_reported = now
            log.warning("new calls refused with 503 (%s); refused so far: %s", refusal.value,
                        ", ".join(f"{r.metric_label} {n}" for r, n in guard.refused.items()))

    def challenges(self, source: Address) -> bool:
        """Whether a first INVITE without credentials from ``source`` gets the challenge, as
        far as can be told before reading it: it is not from a trunk trusted by address, and
        the overload guard does not refuse new calls for the receive backlog. (What the
        INVITE itself holds is judged by whoever reads it.)"""
        if self.trusted_source is not None and self.trusted_source(source.host) is not None:
            return False
        guard = self.overload
        return not guard.config.max_backlog or not guard.refuses_backlog(
            self.endpoint.transports.receive_backlog(), self.endpoint.now())

    def _admitted(self, txn: ServerTransaction, invite: Request, now: float) -> bool:
        refusal = self.overload.admit_call(now, calls=len(self.calls))
        if refusal is not None:
            self.refuse(txn, invite, refusal)
        return refusal is None

    async def on_invite(self, txn: ServerTransaction, invite: Request, source: Address) -> None:
        now = self.clock()
        trunk = self.trusted_source(source.host) if self.trusted_source is not None else None
        if trunk is not None:
            if self._admitted(txn, invite, now):
                await self._inbound_from_trunk(txn, invite, source, trunk, now)
            return
        decision = await self.auth.check(invite, proxy=True, source_ip=source.host, now=now)
        if decision.verdict is Verdict.BANNED:
            self.endpoint.send_response(
                txn, make_response(invite, 403, "Forbidden", to_tag=token_hex(6)))
            return
        if decision.verdict is Verdict.CHALLENGE:
            # The To tag lets the caller's ACK match (RFC 3261 §8.2.6.2, §17.2.3).
            self.endpoint.send_response(txn, make_response(
                invite, 407, extra=decision.headers, to_tag=token_hex(6)))
            return
        if not self._admitted(txn, invite, now):
            return
        caller = decision.username or ""
        uri = invite.uri
        callee = (uri.user or "") if isinstance(uri, SipUri) else ""
        call = Call(
            call_id=invite.call_id, a_txn=txn, a_invite=invite, a_source=source,
            caller=caller, callee=callee, to_tag=token_hex(6), start=now,
        )
        await self._place(call)

    async def _inbound_from_trunk(self, txn: ServerTransaction, invite: Request,
                                  source: Address, trunk: str, now: float) -> None:
        """A call from an IP-authenticated trunk: the caller is whoever From names, and only
        the dial plan (its DIDs) decides where it may go."""
        uri = invite.uri
        callee = (uri.user or "") if isinstance(uri, SipUri) else ""
        from_uri = invite.from_.uri
        caller = (from_uri.user or "") if isinstance(from_uri, SipUri) else ""
        call = Call(call_id=invite.call_id, a_txn=txn, a_invite=invite, a_source=source,
                    caller=caller, callee=callee, to_tag=token_hex(6), start=now)
        call.from_trunk = trunk
        call.media_info["direction"] = "inbound"
        await self._place(call)

    async def _place(self, call: Call) -> None:
        invite = call.a_invite
        # The numbers as they arrived, before the router translates them.
        call.media_info["caller_dialed"] = call.caller
        call.media_info["callee_dialed"] = call.callee
        hops = invite.max_forwards
        if hops is not None and hops <= 0:
            self._fail(call, 483, "Too Many Hops", "failed")
            return
        if self.router is not None:
            route = self.router(call)
            if route is not None:
                call.media_info["route"] = route.label or route.kind
                if route.kind == "reject":
                    self._fail(call, route.status, route.reason, "rejected")
                    return
                if route.kind == "application" and route.application is not None:
                    self._start_application(call, route.application)
                    return
                if route.kind == "outside":
                    self._go_outside(call, list(route.outside))
                    return
                if route.kind == "extension":
                    call.callee = route.number
        if call.from_trunk is not None and self.router is not None and \
                "route" not in call.media_info:
            # A trunk's caller reaches only what the dial plan lets it.
            self._fail(call, 404, "Not Found", "not-found")
            return
        callee = call.callee
        application = self.applications.get(callee)
        if application is not None:
            self._start_application(call, application)
            return
        locations = self.registrar.lookup(callee) if callee else []
        if not locations:
            exists = callee and await self._exists(callee)
            if exists:
                self._fail(call, 480, "Temporarily Unavailable", "unavailable")
            else:
                self._fail(call, 404, "Not Found", "not-found")
            return
        if not self._anchor(call) or self._open_media(call, locations):
            self._ring(call, locations)

    def _ring(self, call: Call, locations: list[Location]) -> None:
        invite = call.a_invite
        txn = call.a_txn
        self.calls[f"{call.call_id}|{invite.from_.tag}"] = call
        self._by_a_txn[txn] = call
        self.recorder.opened(call)
        for location in locations:
            self._fork(call, location)
        self._ring_started(call)

    def _ring_started(self, call: Call) -> None:
        if not call.legs:
            self._fail(call, 480, "Temporarily Unavailable", "unavailable")
            return
        loop = asyncio.get_running_loop()
        call.timers.append(loop.call_later(self.ring_timeout, self._ring_timeout, call))

    def _go_outside(self, call: Call, ways: list[Outside]) -> None:
        """Send the call out over the first way (trunk); the others are its failover."""
        if not ways:
            self._fail(call, 503, "Service Unavailable", "failed")
            return
        first = ways[0]
        call.media_info["direction"] = "outbound"
        call.fallbacks = ways[1:]
        call.claimed = list(ways)
        call.on_finish.append(self._release_ways)
        if self._anchor(call) and not self._open_media_towards(call, first.destination):
            self._release_ways(call)
            return
        invite = call.a_invite
        self.calls[f"{call.call_id}|{invite.from_.tag}"] = call
        self._by_a_txn[call.a_txn] = call
        self.recorder.opened(call)
        self._fork_to(call, first)
        self._ring_started(call)

    def _fork_to(self, call: Call, way: Outside,
                 authorization: tuple[str, str] | None = None) -> None:
        """One B leg to a trunk."""
        self._send_leg(call, way.uri, way.destination, [], from_header=way.from_header,
                       authorization=authorization)
        call.legs[-1].outside = way
        if authorization is not None:
            call.legs[-1].authorized = True

    @staticmethod
    def _release_ways(call: Call) -> None:
        while call.claimed:
            way = call.claimed.pop()
            if way.release is not None:
                way.release()

    def _anchor(self, call: Call) -> bool:
        """Whether a call between two phones gets its media anchored on pycc (else its
        record says "direct", when pycc could have)."""
        if self.media is None:
            return False
        if self.direct_media and self.record_dir is None:
            call.media_info["media_path"] = "direct"
            return False
        return True

    def _open_media(self, call: Call, locations: list[Location]) -> bool:
        return self._open_media_towards(call, locations[0].destination)

    def _open_media_towards(self, call: Call, destination: Address | None) -> bool:
        """Anchor the call's media on pycc; False when the call was refused instead."""
        assert self.media is not None
        try:
            session = self.media.new_session(
                call.call_id, on_timeout=self._media_timeout,
                on_digit=lambda party, digit, form: self._media_digit(call, party, digit, form))
        except PortsExhausted:
            log.warning("call %s: no free RTP ports", call.call_id)
            self._fail(call, 503, "Service Unavailable", "failed")
            return False
        session.owner = call
        call.media = session
        session.set_address("a", self.endpoint.advertised_address(call.a_source).host)
        towards = destination or call.a_source
        session.set_address("b", self.endpoint.advertised_address(towards).host)
        if not _is_sdp(call.a_invite):
            return True
        try:
            offer = SessionDescription.parse(call.a_invite.body)
            call.b_offer = session.relay_offer(offer, "a").to_bytes()
        except SdpError as exc:
            log.info("call %s: unusable SDP offer: %s", call.call_id, exc)
            self._fail(call, 488, "Not Acceptable Here", "failed",
                       extra=[("Warning", f'399 pycc "{_warning_text(exc)}"')])
            return False
        except PortsExhausted:
            log.warning("call %s: no free RTP ports", call.call_id)
            self._fail(call, 503, "Service Unavailable", "failed")
            return False
        return True

    # -- calls pycc answers itself -----------------------------------------------------------
    def _start_application(self, call: Call, application: Application) -> None:
        media = self.media
        if media is None or media.engine is None:
            self._fail(call, 480, "Temporarily Unavailable", "unavailable")
            return
        if not _is_sdp(call.a_invite):
            # pycc would have to offer in its 2xx; the services need the caller's offer.
            self._fail(call, 488, "Not Acceptable Here", "failed",
                       extra=[("Warning", '399 pycc "an SDP offer is required"')])
            return
        try:
            session = media.new_session(
                call.call_id, on_timeout=self._media_timeout,
                on_digit=lambda party, digit, form: self._media_digit(call, party, digit, form))
        except PortsExhausted:
            self._fail(call, 503, "Service Unavailable", "failed")
            return
        session.owner = call
        call.media = session
        session.set_address("a", self.endpoint.advertised_address(call.a_source).host)
        try:
            answer = session.answer_locally(SessionDescription.parse(call.a_invite.body), "a")
        except (SdpError, PortsExhausted) as exc:
            log.info("call %s: cannot answer: %s", call.call_id, exc)
            self._fail(call, 488, "Not Acceptable Here", "failed",
                       extra=[("Warning", f'399 pycc "{_warning_text(exc)}"')])
            return
        if not session.active:
            self._fail(call, 488, "Not Acceptable Here", "failed",
                       extra=[("Warning", '399 pycc "no common audio codec"')])
            return
        self.calls[f"{call.call_id}|{call.a_invite.from_.tag}"] = call
        self._by_a_txn[call.a_txn] = call
        call.state = CallState.ANSWERED
        call.answer = self.clock()
        self.recorder.opened(call)
        self._confirm_a(call, answer.to_bytes(), "application/sdp")
        channel = self._service_channel(call, "a")
        call.app_task = asyncio.get_running_loop().create_task(
            self._run_application(call, channel, application))

    def _service_channel(self, call: Call, party: Party) -> Channel:
        """A channel of ``party`` for the service pycc runs on the call. Its hang-up ends the
        call only while it is that party's current channel: a transfer ends it and makes
        another, and the service it ran on must not end the call as it winds down."""
        media = self.media
        assert media is not None and media.engine is not None and call.media is not None
        engine, session = media.engine, call.media
        made: list[Channel] = []

        def hangup() -> None:
            if made and engine.find(session, party) is made[0] and not call.transferring:
                self._hangup(call, "system", "200 Application Hangup")

        number = call.caller if party == "a" else call.callee
        channel = engine.channel(session, party, name=f"{call.callee}:{call.call_id}",
                                 hangup=hangup)
        made.append(channel)
        channel.caller, channel.called = number, call.callee
        channel.details = call.media_info
        if not session.has_events(party):
            # A phone without telephone-events can only send keys as tones.
            channel.listen_for_tones(
                lambda _channel, digit: self._media_digit(call, party, digit, "inband"))
        return channel

    async def _run_application(self, call: Call, channel: Channel,
                               application: Application) -> None:
        try:
            await application(channel)
        except ChannelGone:
            pass
        except Exception:
            log.exception("call %s: the application for %s failed", call.call_id, call.callee)
        finally:
            # A transfer that replaced this service keeps the call up.
            if call.state is CallState.ANSWERED and not call.transferring and \
                    call.app_task is asyncio.current_task():
                self._hangup(call, "system", "200 Application Ended")

    # -- blind transfer ----------------------------------------------------------------------
    def find(self, call_id: str) -> Call | None:
        """The call (not ended) whose caller's Call-ID is ``call_id``."""
        return next((call for call in self.calls.values()
                     if call.call_id == call_id and call.state is not CallState.ENDED), None)

    @staticmethod
    def parties(call: Call) -> tuple[str, ...]:
        """The parties of ``call`` on the line through pycc: "a" (the caller) and, for a call
        connected to a callee's leg, "b"; less a party a transfer released."""
        if call.state is not CallState.ANSWERED:
            return ()
        present = ("a", "b") if call.winner is not None else ("a",)
        return tuple(party for party in present if party != call.released)

    async def hand_over(self, call: Call, keep: str, application: Application) -> Channel:
        """A blind transfer's B2BUA half: party ``keep`` of the answered ``call`` ("a" the
        caller, "b" the callee) stays on the line and runs ``application`` on a fresh channel,
        returned.

        Whatever held that party lets go first: the other leg of a two-party call is released
        with BYE (its media ports with it), and a service running on the call sees its
        channel end, as if the party had hung up, and winds down (it releases whoever it had
        connected and notes its last steps; its hang-ups are ignored) before ``application``
        starts. The call, its dialog with ``keep`` and its one record go on. Raises
        ValueError when the call is not answered, ``keep`` is not one of its `parties`, or
        another transfer of it is under way; ChannelGone when the call ended meanwhile."""
        if keep not in self.parties(call):
            raise ValueError(f"call {call.call_id}: no party {keep!r} on the line")
        if call.transferring:
            raise ValueError(f"call {call.call_id} is being transferred already")
        media = self.media
        if media is None or media.engine is None or call.media is None:
            raise ValueError(f"call {call.call_id} has no media anchored in pycc")
        engine, session = media.engine, call.media
        party: Party = "a" if keep == "a" else "b"
        call.transferring = True
        # A recording that follows the party (a recorded queue caller) goes on with it.
        following = None
        try:
            if call.winner is not None and call.released is None:
                self._release_party(call, "b" if party == "a" else "a")
            current = engine.find(session, party)
            if current is not None:
                following = engine.following(current)
                if following is not None:
                    following.hold()
                current.end()
            previous = call.app_task
            if previous is not None and not previous.done():
                done, _ = await asyncio.wait({previous}, timeout=APP_RECORD_GRACE)
                if not done:
                    log.warning("call %s: the service on it did not let go; stopped",
                                call.call_id)
                    previous.cancel()
            if call.state is not CallState.ANSWERED:
                raise ChannelGone(f"call {call.call_id} ended during its transfer")

            def report(_leg: MediaLeg, digit: str) -> None:
                session.report_digit(party, digit, "rfc4733")

            for leg in session.legs(party):
                # The bridge that carried the party's keys took their reporting with it.
                leg.on_digit = report
            channel = self._service_channel(call, party)
            if following is not None:
                following.move_to(channel)
                following = None
            call.app_task = asyncio.get_running_loop().create_task(
                self._run_application(call, channel, application))
            return channel
        finally:
            call.transferring = False
            if following is not None:
                # The hand-over failed: the recording ends here, complete.
                following.stop_soon()

    def _release_party(self, call: Call, drop: Party) -> None:
        """Take ``drop`` off an answered two-party call: BYE its leg, forget its dialog, stop
        the bridge and free its media ports; the other party's media then ends in pycc."""
        session = call.media
        if session is not None:
            # Its codec and quality stay in the record after its media is gone.
            call.media_info.update(media_summary(session))
        dialog: Dialog | None
        if drop == "b":
            winner = call.winner
            dialog = winner.dialog if winner is not None else None
            if winner is not None:
                with contextlib.suppress(SipUsageError):
                    self._bye_leg(winner)
        else:
            dialog = call.a_dialog
            if dialog is not None:
                with contextlib.suppress(SipUsageError):
                    self._send_in_dialog(dialog.create_request("BYE"), call.a_source)
        if dialog is not None:
            key = self._dialog_key(dialog.id.call_id, dialog.id.local_tag, dialog.id.remote_tag)
            self._dialogs.pop(key, None)
            if key in call.dialog_keys:
                call.dialog_keys.remove(key)
        call.released = drop
        media = self.media
        if session is None or media is None:
            return
        if media.engine is not None:
            gone = media.engine.find(session, drop)
            if gone is not None:
                gone.end()
        for bridge in session.bridges:
            bridge.close()
        session.bridges.clear()
        legs = session.legs(drop)
        for leg in legs:
            leg.close()
            media.allocator.release(leg.port)
        legs.clear()

    def hang_up(self, call: Call, cause: str = "200 Ended By Operator") -> None:
        """End the answered ``call``: BYE the parties on it, write its record."""
        self._hangup(call, "system", cause)

    async def extension_known(self, number: str) -> bool:
        """Whether ``number`` is an extension of the tenant."""
        return await self._exists(number)

    def channel(self, call: Call, party: str) -> Channel:
        """The call-control handle of one party ("a" caller, "b" callee) of an answered call."""
        media = self.media
        if media is None or media.engine is None or call.media is None:
            raise ChannelGone(f"call {call.call_id} has no media")
        return media.engine.channel(
            call.media, party, name=f"{call.call_id}/{party}",
            hangup=lambda: self._hangup(call, "system", "200 Application Hangup"))

    def _media_timeout(self, session: MediaSession) -> None:
        call = session.owner
        if isinstance(call, Call) and call.state is CallState.ANSWERED:
            log.info("call %s: no RTP for %.0f s, hanging up", call.call_id,
                     self.media.rtp_timeout if self.media else 0)
            self._hangup(call, "system", "RTP timeout")

    def _pass_key(self, call: Call, party: str, digit: str, duration_ms: int) -> None:
        """A key sent as INFO by a party of a call bridged to another call's party (a queue
        caller and an agent): that party hears it (`MediaEngine.pass_key`)."""
        media = self.media
        if media is not None and media.engine is not None and call.media is not None:
            channel = media.engine.find(call.media, party)
            if channel is not None:
                media.engine.pass_key(channel, digit, duration_ms)

    def _media_digit(self, call: Call, party: str, digit: str, form: str) -> None:
        """A key pressed by ``party``: tell the listeners, and pass it on to the other party
        as SIP INFO when that party negotiated no telephone-events (RFC 4733 events between
        two parties that both have them are relayed by the media bridge)."""
        for listener in tuple(self.dtmf_listeners):
            listener(call, party, digit, form)
        media = self.media
        if media is not None and media.engine is not None and call.media is not None:
            channel = media.engine.find(call.media, party)
            if channel is not None:
                channel.press(digit)
        if form != "rfc4733" or call.state is not CallState.ANSWERED or call.media is None \
                or call.released is not None:
            return
        other = "b" if party == "a" else "a"
        if call.media.has_events(other):
            return
        if other == "b":
            winner = call.winner
            if winner is None or winner.dialog is None:
                return
            dialog, destination = winner.dialog, winner.destination
        else:
            if call.a_dialog is None:
                return
            dialog, destination = call.a_dialog, call.a_source
        try:
            info = dialog.create_request("INFO", body=format_dtmf_relay(digit),
                                         content_type=DTMF_RELAY)
        except (SipUsageError, ValueError):
            return
        self._send_in_dialog(info, destination)

    def _media_answer(self, call: Call, body: bytes, answerer: str) -> bytes:
        """pycc's answer to the pending offer, after ``answerer`` answered pycc's own."""
        if call.media is None:
            return body
        try:
            return call.media.relay_answer(SessionDescription.parse(body), answerer).to_bytes()
        except SdpError as exc:
            log.info("call %s: unusable SDP answer: %s", call.call_id, exc)
            return b""

    def _media_offer(self, call: Call, body: bytes, offerer: str) -> bytes:
        """pycc's offer to the other party for ``offerer``'s offer; raises SdpError."""
        if call.media is None:
            return body
        return call.media.relay_offer(SessionDescription.parse(body), offerer).to_bytes()

    async def _exists(self, number: str) -> bool:
        if self.extension_exists is not None:
            return self.extension_exists(number)
        return await self.auth.known(number, self.clock())

    def _fork(self, call: Call, location: Location) -> None:
        destination = location.destination
        target = parse_uri(location.binding.contact)
        if not isinstance(target, SipUri):
            return
        target = target.with_(headers={})
        if destination is None:
            transport = target.transport or "udp"
            destination = Address(transport, target.host, target.port or 5060)
        self._send_leg(call, target, destination, list(location.binding.path))

    def _send_leg(self, call: Call, target: SipUri, destination: Address, path: list[str], *,
                  from_header: str | None = None,
                  authorization: tuple[str, str] | None = None) -> None:
        a = call.a_invite
        headers = Headers()
        headers.add("Via", self.endpoint.via_for(destination))
        for route in path:
            headers.add("Route", route)
        hops = a.max_forwards
        headers.add("Max-Forwards", str(69 if hops is None else max(0, hops - 1)))
        caller_from = a.from_
        if from_header is not None:
            headers.add("From", f"{from_header};tag={token_hex(6)}")
        else:
            headers.add("From", str(NameAddr(caller_from.uri, caller_from.display_name,
                                             {"tag": token_hex(6)})))
        if from_header is not None:
            headers.add("To", f"<{target.with_(params={})}>")
        else:
            headers.add("To", str(NameAddr(a.to.uri, a.to.display_name, {})))
        headers.add("Call-ID", token_hex(12) + "@pycc")
        headers.add("CSeq", "1 INVITE")
        contact = self.endpoint.contact_for(destination, call.caller or "pycc")
        headers.add("Contact", contact)
        headers.add("Allow", ALLOW)
        headers.add("Supported", SUPPORTED)
        headers.add("User-Agent", self.endpoint.user_agent)
        body = a.body
        content_type = a.headers.get("content-type")
        if call.media is not None:
            body = call.b_offer or b""
            content_type = "application/sdp" if body else None
        if body and content_type:
            headers.add("Content-Type", content_type)
        if authorization is not None:
            headers.add(authorization[0], authorization[1])
        invite = Request(headers, body, "INVITE", target)
        txn = self.endpoint.send_request(invite, destination)
        leg = Leg(call, destination, invite, txn)
        call.legs.append(leg)
        self._by_b_txn[txn] = leg

    # -- answers from the B legs -----------------------------------------------------------
    def on_b_response(self, txn: ClientTransaction, response: Response) -> bool:
        """Handle a response on a B-leg INVITE; False if ``txn`` is not one."""
        leg = self._by_b_txn.get(txn)
        if leg is None:
            relay = self._relays.get(txn)
            if relay is None:
                return self.originator is not None and self.originator.on_response(txn,
                                                                                   response)
            self._relay_answer(txn, relay, response)
            return True
        call = leg.call
        status = response.status
        if status == 100:
            return True
        if status < 200:
            self._b_provisional(call, leg, response)
        elif status < 300:
            self._b_answered(call, leg, response)
        else:
            self._b_failed(call, leg, response)
        return True

    def _b_provisional(self, call: Call, leg: Leg, response: Response) -> None:
        if response.to.tag and leg.dialog is None:
            leg.dialog = Dialog.from_uac_response(leg.invite, response)
        if leg.state is LegState.TRYING:
            leg.state = LegState.EARLY
        if "100rel" in response.option_tags("require") and leg.dialog is not None:
            prack = leg.dialog.create_prack(response)
            if prack is not None:
                self._send_in_dialog(prack, leg.destination)
        if call.state is not CallState.RINGING:
            return
        if call.ring is None and response.status in (180, 183):
            call.ring = self.clock()
        content_type = response.headers.get("content-type")
        body = response.body
        if call.media is not None and body:
            # Early media: the callee's answer, anchored. A late offer in a provisional
            # response is not relayed (its answer would need PRACK or UPDATE on both legs).
            body = self._media_answer(call, body, "b") if call.b_offer and _is_sdp(
                response) else b""
        self._respond(call, response.status, response.reason, body=body,
                      content_type=content_type)

    def _b_answered(self, call: Call, leg: Leg, response: Response) -> None:
        if leg.dialog is None or leg.dialog.id.remote_tag != response.to.tag:
            leg.dialog = Dialog.from_uac_response(leg.invite, response)
        else:
            leg.dialog.receive_response(response, self.endpoint.now())
        if call.winner is not None and call.winner is not leg:
            # Another branch answered first: take this one down (RFC 3261 §13.2.2.4).
            self._ack_leg(leg, b"")
            self._bye_leg(leg)
            return
        if call.winner is leg:
            # A 2xx retransmission: the ACK answers it again.
            if leg.last_ack is not None:
                self.endpoint.send_stateless(leg.last_ack, leg.destination)
            return
        if call.state is not CallState.RINGING:
            self._ack_leg(leg, b"")
            self._bye_leg(leg)
            return
        call.winner = leg
        leg.state = LegState.ANSWERED
        call.state = CallState.ANSWERED
        call.answer = self.clock()
        call.cancel_timers()
        self._cancel_ringing(call, keep=leg)
        assert leg.dialog is not None
        b_key = self._dialog_key(leg.dialog.id.call_id, leg.dialog.id.local_tag,
                                 leg.dialog.id.remote_tag)
        self._dialogs[b_key] = (call, leg)
        call.dialog_keys.append(b_key)
        if call.a_invite.body:
            self._ack_leg(leg, b"")
        else:
            call.b_ack_waits_for_a = True
        content_type = response.headers.get("content-type")
        body = response.body
        if call.media is not None and body and _is_sdp(response):
            if call.b_offer:
                body = self._media_answer(call, body, "b")
            else:
                try:  # a late offer: the callee offers in its 2xx, the caller answers in ACK
                    body = self._media_offer(call, body, "b")
                except SdpError as exc:
                    log.info("call %s: unusable SDP offer in 2xx: %s", call.call_id, exc)
                    body = b""
        self._confirm_a(call, body, content_type)
        if self.record_dir is not None:
            self._record(call)
        # After the recording started, so that the answered (open) record names it: a
        # crash from here on leaves a record that points at its recording.
        self.recorder.answered(call)

    def _record(self, call: Call) -> None:
        """Start recording an answered call: caller on the left, callee on the right."""
        try:
            channels = [self.channel(call, "a"), self.channel(call, "b")]
        except ChannelGone as exc:
            log.warning("call %s: not recorded: %s", call.call_id, exc)
            return
        recorded = self._start_recording(channels, call.call_id, call.answer or self.clock())
        if recorded is not None:
            call.recording, call.media_info["recording"] = recorded

    def record_bridge(self, first: Channel, second: Channel) -> None:
        """Record two parties of different calls that the call center connected (a queue
        caller and its agent, a dialed customer and an agent, a transferred caller and the
        one it was joined to): ``first`` on the left, ``second`` on the right.

        The recording follows its first party: when that party is connected on (a transfer,
        an attended transfer's meeting), the same file goes on with the new party on the
        right, so a customer's whole conversation is one file. Each party's call record
        names the file, unless one is named already. Parties recorded from their call's
        start (``record_calls`` on a call between extensions) are not recorded twice."""
        if self.record_dir is None:
            return
        media = self.media
        assert media is not None and media.engine is not None
        engine = media.engine
        for anchor, partner in ((first, second), (second, first)):
            recording = engine.following(anchor)
            if recording is None:
                continue
            try:
                recording.rebind(1, partner)
            except (ValueError, ChannelGone) as exc:
                log.warning("%s: %s not recorded: %s", anchor.name, partner.name, exc)
                return
            named = anchor.details.get("recording")
            if named is not None:
                partner.details.setdefault("recording", named)
            return
        if any(r.live and (first in r.channels or second in r.channels)
               for r in engine.recordings):
            return
        recorded = self._start_recording([first, second], first.name, self.clock(),
                                         follows=True)
        if recorded is not None:
            for channel in (first, second):
                channel.details.setdefault("recording", recorded[1])

    def _start_recording(self, channels: list[Channel], name: str,
                         started: float, *, follows: bool = False
                         ) -> tuple[Recording, str] | None:
        """A stereo recording of ``channels`` under the day's folder, and its path relative
        to the recordings folder; None (logged) when it cannot start. A name taken by an
        earlier recording gets a number (a party recorded again after its recording ended)."""
        assert self.record_dir is not None
        day = time.strftime("%Y-%m-%d", time.gmtime(started))
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120]
        path = self.record_dir / day / f"{stem}.{self.record_format}"
        number = 1
        while path.exists():
            number += 1
            path = self.record_dir / day / f"{stem}-{number}.{self.record_format}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            media = self.media
            assert media is not None and media.engine is not None
            recording = media.engine.record(
                channels, path, stereo=True, fmt="ogg" if self.record_format == "ogg" else "wav",
                follows=follows)
        except (ChannelGone, OSError, ValueError) as exc:
            log.warning("%s: not recorded: %s", name, exc)
            return None
        return recording, str(path.relative_to(self.record_dir))

    def _confirm_a(self, call: Call, body: bytes, content_type: str | None) -> None:
        """Answer the caller with 200 and set up its dialog (2xx resent until the ACK)."""
        final = self._respond(call, 200, "OK", body=body, content_type=content_type)
        call.a_final = final
        call.a_dialog = Dialog.from_uas_request(
            call.a_invite, call.to_tag, self.endpoint.contact_for(call.a_source)
        )
        a_id = call.a_dialog.id
        a_key = self._dialog_key(a_id.call_id, a_id.local_tag, a_id.remote_tag)
        self._dialogs[a_key] = (call, None)
        call.dialog_keys.append(a_key)
        if not call.a_source.reliable:
            self._retransmit_2xx(call, self.endpoint.transactions.timers.t1)

    def _retransmit_2xx(self, call: Call, interval: float, waited: float = 0.0) -> None:
        """RFC 3261 §13.3.1.4: the UAS core resends its 2xx until the ACK arrives."""
        timers = self.endpoint.transactions.timers
        if call.a_acked or call.state is not CallState.ANSWERED or call.a_final is None:
            return
        if waited >= 64 * timers.t1:
            log.info("call %s: no ACK for 2xx, hanging up", call.call_id)
            self._hangup(call, "system", "408 ACK Timeout")
            return
        loop = asyncio.get_running_loop()

        def again() -> None:
            if call.a_acked or call.a_final is None or call.state is not CallState.ANSWERED:
                return
            self.endpoint.transports.send(call.a_final.to_bytes(), call.a_source)
            self._retransmit_2xx(call, min(interval * 2, timers.t2), waited + interval)

        call.timers.append(loop.call_later(interval, again))

    def _b_failed(self, call: Call, leg: Leg, response: Response) -> None:
        if leg.state not in (LegState.CANCELLED,):
            leg.state = LegState.FAILED
        if call.best is None or _preference(response.status) < _preference(call.best.status):
            call.best = response
        if call.state is not CallState.RINGING:
            return
        if any(x.state in (LegState.TRYING, LegState.EARLY) for x in call.legs):
            return
        if self._retry_outside(call, leg, response):
            return
        best = call.best
        assert best is not None
        disposition = {486: "busy", 600: "busy", 480: "unavailable", 404: "not-found",
                       408: "no-answer", 487: "cancelled", 603: "rejected"}.get(
            best.status, "failed")
        self._fail(call, best.status, best.reason, disposition, hangup_by="callee")

    def _retry_outside(self, call: Call, leg: Leg, response: Response) -> bool:
        """A trunk leg failed: answer the provider's digest challenge once, else fail over to
        the next trunk when the failure is the trunk's (timeout, 5xx), not the callee's."""
        way = leg.outside
        if way is None:
            return False
        status = response.status
        if status in (401, 407) and not leg.authorized and way.authorize is not None:
            header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
            challenge = response.headers.get(header.lower())
            value = way.authorize(challenge, "INVITE", str(way.uri)) if challenge else None
            if value is not None:
                answer = "Authorization" if status == 401 else "Proxy-Authorization"
                call.best = None
                self._fork_to(call, way, (answer, value))
                return True
        if (status == 408 or status >= 500) and call.fallbacks:
            following = call.fallbacks.pop(0)
            if way in call.claimed:
                call.claimed.remove(way)
                if way.release is not None:
                    way.release()
            call.best = None
            self._fork_to(call, following)
            return True
        return False

    def on_b_timeout(self, txn: ClientTransaction) -> bool:
        leg = self._by_b_txn.get(txn)
        if leg is None:
            relay = self._relays.pop(txn, None)
            if relay is not None:
                self.endpoint.send_response(
                    relay.server_txn, make_response(relay.request, 408, "Request Timeout")
                )
                return True
            return self.originator is not None and self.originator.on_timeout(txn)
        fake = make_response(leg.invite, 408, "Request Timeout")
        self._b_failed(leg.call, leg, fake)
        return True

    def on_b_stray_2xx(self, response: Response, source: Address) -> bool:
        """A 2xx retransmission after its transaction ended: ACK it again."""
        key = self._dialog_key(response.call_id, response.from_.tag or "", response.to.tag or "")
        found = self._dialogs.get(key)
        if found is None or found[1] is None:
            return self.originator is not None and self.originator.on_stray_2xx(response)
        leg = found[1]
        if leg.last_ack is not None:
            self.endpoint.send_stateless(leg.last_ack, leg.destination)
        return True

    def pending_client_transactions(self) -> int:
        return len(self._by_b_txn) + len(self._relays) + (
            self.originator.pending() if self.originator is not None else 0)

    def txn_finished(self, txn: Transaction) -> None:
        if self.originator is not None:
            self.originator.txn_finished(txn)
        if isinstance(txn, ClientTransaction):
            self._by_b_txn.pop(txn, None)
            self._relays.pop(txn, None)
        elif isinstance(txn, ServerTransaction):
            self._by_a_txn.pop(txn, None)

    # -- caller side ----------------------------------------------------------------------
    def on_cancel(self, invite_txn: ServerTransaction) -> None:
        call = self._by_a_txn.get(invite_txn)
        if call is None or call.state is not CallState.RINGING:
            return
        self._cancel_ringing(call)
        self._fail(call, 487, "Request Terminated", "cancelled", hangup_by="caller")

    def _cancel_ringing(self, call: Call, keep: Leg | None = None) -> None:
        """CANCEL every branch still trying or ringing (but ``keep``)."""
        for leg in call.legs:
            if leg is not keep and leg.state in (LegState.TRYING, LegState.EARLY):
                leg.state = LegState.CANCELLED
                self.endpoint.cancel(leg.txn)

    def _ring_timeout(self, call: Call) -> None:
        if call.state is not CallState.RINGING:
            return
        self._cancel_ringing(call)
        self._fail(call, 408, "Request Timeout", "no-answer", hangup_by="system")

    def _fail(self, call: Call, status: int, reason: str, disposition: str, *,
              hangup_by: str = "system", extra: list[tuple[str, str]] | None = None) -> None:
        """End an unanswered call: answer the caller with ``status`` and write the record."""
        call.state = CallState.ENDED
        call.cancel_timers()
        self._respond(call, status, reason or reason_for(status), extra=extra)
        call.sip_status = status
        call.hangup_cause = f"{status} {reason}".strip()
        call.hangup_by = hangup_by
        call.disposition = disposition
        self._finish(call)

    def _finish(self, call: Call) -> None:
        call.end = self.clock()
        call.cancel_timers()
        if call.media is not None:
            call.media_info.update(media_summary(call.media))
            if self.media is not None:
                self.media.end_session(call.media)
        self.calls.pop(f"{call.call_id}|{call.a_invite.from_.tag}", None)
        for key in call.dialog_keys:
            self._dialogs.pop(key, None)
        for callback in call.on_finish:
            try:
                callback(call)
            except Exception:
                log.exception("call %s: a finish callback failed", call.call_id)
        call.on_finish.clear()
        record_after(call.app_task, lambda: self.recorder.record(call))

    # -- in-dialog requests ----------------------------------------------------------------
    def find_dialog(self, request: Request) -> tuple[Call, Leg | None] | None:
        key = self._dialog_key(request.call_id, request.to.tag or "", request.from_.tag or "")
        return self._dialogs.get(key)

    def on_ack(self, ack: Request) -> None:
        found = self.find_dialog(ack)
        if found is None:
            if self.originator is not None:
                self.originator.on_ack(ack)
            return
        call, leg = found
        dialog = call.a_dialog if leg is None else leg.dialog
        if dialog is not None:
            with contextlib.suppress(SipUsageError):
                dialog.receive_request(ack, self.endpoint.now())
        if leg is not None:
            return  # the callee ACKs a re-INVITE's 2xx that pycc relayed; nothing to do
        call.a_acked = True
        call.a_final = None
        winner = call.winner
        if call.b_ack_waits_for_a and winner is not None:
            call.b_ack_waits_for_a = False
            body = ack.body
            if call.media is not None and body and _is_sdp(ack):
                body = self._media_answer(call, body, "a")
            self._ack_leg(winner, body, ack.headers.get("content-type"))

    def on_in_dialog(self, txn: ServerTransaction, request: Request) -> bool:
        found = self.find_dialog(request)
        if found is None:
            return self.originator is not None and self.originator.on_request(txn, request)
        call, leg = found
        from_a = leg is None
        in_dialog = call.a_dialog if leg is None else leg.dialog
        if in_dialog is not None:
            check = in_dialog.receive_request(request, self.endpoint.now())
            if not check.accepted:
                self.endpoint.send_response(txn, check.response(request))
                return True
        if request.method == "BYE":
            self._answer_in(in_dialog, txn, make_response(request, 200))
            self._hangup(call, "caller" if from_a else "callee", "200 BYE", skip_a=from_a,
                         skip_b=not from_a)
            return True
        if request.method == "INVITE" and not request.body and call.media is not None:
            # No offer (a session refresh): pycc offers its side as it is in the 2xx and keeps
            # the session; relaying it would let the other party's offer, with its own
            # address, reach this one and take the media past pycc.
            party = "a" if from_a else "b"
            sent = call.media.parties[party].last_sent
            if sent is not None:
                response = make_response(request, 200, body=sent.to_bytes(),
                                         content_type="application/sdp")
                winner = call.winner
                destination = call.a_source if from_a or winner is None else winner.destination
                response.headers.add("Contact", self.endpoint.contact_for(destination))
                self._answer_in(in_dialog, txn, response)
                return True
        if call.app_task is not None and (call.winner is None or call.released is not None):
            self._app_in_dialog(call, "a" if from_a else "b", in_dialog, txn, request)
            return True
        if request.method == "INFO" and call.media is not None:
            info = parse_dtmf_info(request.headers.get("content-type"), request.body)
            other = "b" if from_a else "a"
            if info is not None:
                self._media_digit(call, "a" if from_a else "b", info.digit, "info")
                if call.media.has_events(other):
                    # The other party hears keys as RFC 4733 events: pycc answers the INFO.
                    self._answer_in(in_dialog, txn, make_response(request, 200))
                    call.media.send_digit(other, info.digit, info.duration_ms)
                    return True
        if from_a:
            winner = call.winner
            if winner is None or winner.dialog is None:
                self._answer_in(in_dialog, txn, make_response(request, 481))
                return True
            out_dialog, destination = winner.dialog, winner.destination
        else:
            if call.a_dialog is None:
                self._answer_in(in_dialog, txn, make_response(request, 481))
                return True
            out_dialog, destination = call.a_dialog, call.a_source
        content_type = request.headers.get("content-type")
        body = request.body
        offer_from: str | None = None
        if (call.media is not None and body and request.method in ("INVITE", "UPDATE")
                and _is_sdp(request)):
            offer_from = "a" if from_a else "b"
            call.hold.set(offer_from, is_hold_offer(body), self.clock())
            try:
                body = self._media_offer(call, body, offer_from)
            except SdpError as exc:
                self._answer_in(in_dialog, txn, make_response(
                    request, 488, "Not Acceptable Here",
                    extra=[("Warning", f'399 pycc "{_warning_text(exc)}"')]))
                return True
        try:
            out = out_dialog.create_request(request.method, body=body,
                                            content_type=content_type if body else None)
        except SipUsageError:
            # The other leg is busy with its own offer or INVITE: the sender retries later
            # (RFC 3261 §14.1).
            self._answer_in(in_dialog, txn, make_response(request, 491, "Request Pending"))
            return True
        out.headers.prepend("Via", self.endpoint.via_for(destination))
        client = self.endpoint.send_request(out, destination)
        self._relays[client] = Relay(txn, request, from_a, in_dialog, out_dialog, destination,
                                     offer_from)
        return True

    def _app_in_dialog(self, call: Call, party: Party, dialog: Dialog | None,
                       txn: ServerTransaction, request: Request) -> None:
        """A request from ``party`` of a call pycc answered itself (or took over with a
        transfer): pycc is the other end."""
        if request.method == "INFO":
            info = parse_dtmf_info(request.headers.get("content-type"), request.body)
            if info is not None:
                self._media_digit(call, party, info.digit, "info")
                self._pass_key(call, party, info.digit, info.duration_ms)
            self._answer_in(dialog, txn, make_response(request, 200))
            return
        winner = call.winner
        source = winner.destination if party == "b" and winner is not None else call.a_source
        if request.method in ("INVITE", "UPDATE") and call.media is not None and _is_sdp(
                request):
            try:
                answer = call.media.answer_locally(SessionDescription.parse(request.body),
                                                   party)
            except SdpError as exc:
                self._answer_in(dialog, txn, make_response(
                    request, 488, "Not Acceptable Here",
                    extra=[("Warning", f'399 pycc "{_warning_text(exc)}"')]))
                return
            response = make_response(request, 200, body=answer.to_bytes(),
                                     content_type="application/sdp")
            response.headers.add("Contact", self.endpoint.contact_for(source))
            self._answer_in(dialog, txn, response)
            return
        if request.method == "UPDATE":
            # An UPDATE without an offer only refreshes the session.
            self._answer_in(dialog, txn, make_response(request, 200))
            return
        self._answer_in(dialog, txn, make_response(request, 200))

    def _answer_in(self, dialog: Dialog | None, txn: ServerTransaction, answer: Response) -> None:
        if dialog is not None:
            with contextlib.suppress(SipUsageError):
                dialog.response_sent(answer, self.endpoint.now())
        answer.headers.add("Server", self.endpoint.user_agent)
        self.endpoint.send_response(txn, answer)

    def _relay_answer(self, txn: ClientTransaction, relay: Relay, response: Response) -> None:
        if response.status == 100:
            return
        with contextlib.suppress(SipUsageError):
            relay.out_dialog.receive_response(response, self.endpoint.now())
        content_type = response.headers.get("content-type")
        body = response.body
        call_found = self.find_dialog(relay.request) if relay.offer_from else None
        if (relay.offer_from is not None and call_found is not None and body
                and 200 <= response.status < 300 and _is_sdp(response)):
            answerer = "b" if relay.offer_from == "a" else "a"
            body = self._media_answer(call_found[0], body, answerer)
        answer = make_response(relay.request, response.status, response.reason,
                               body=body, content_type=content_type if body else None)
        is_invite_2xx = relay.request.method == "INVITE" and 200 <= response.status < 300
        if is_invite_2xx:
            answer.headers.add("Contact", self.endpoint.contact_for(relay.server_txn.source))
        self._answer_in(relay.in_dialog, relay.server_txn, answer)
        if is_invite_2xx:
            # pycc ACKs the re-INVITE's 2xx towards the answering side at once; the
            # originator's ACK ends at pycc.
            with contextlib.suppress(SipUsageError):
                ack = relay.out_dialog.create_ack(response.cseq.seq)
                ack.headers.prepend("Via", self.endpoint.via_for(relay.destination))
                self.endpoint.send_stateless(ack, relay.destination)
        if response.status >= 200:
            self._relays.pop(txn, None)

    # -- taking legs down ------------------------------------------------------------------
    def _ack_leg(self, leg: Leg, body: bytes, content_type: str | None = None,
                 cseq: int | None = None) -> None:
        if leg.dialog is None:
            return
        ack = leg.dialog.create_ack(cseq if cseq is not None else leg.invite.cseq.seq, body=body)
        if body and content_type:
            ack.headers.set("Content-Type", content_type)
        ack.headers.prepend("Via", self.endpoint.via_for(leg.destination))
        leg.last_ack = ack
        self.endpoint.send_stateless(ack, leg.destination)

    def _bye_leg(self, leg: Leg) -> None:
        if leg.dialog is None:
            return
        bye = leg.dialog.create_request("BYE")
        self._send_in_dialog(bye, leg.destination)

    def _send_in_dialog(self, request: Request, destination: Address) -> None:
        request.headers.prepend("Via", self.endpoint.via_for(destination))
        self.endpoint.send_request(request, destination)

    def _hangup(self, call: Call, by: str, cause: str, *, skip_a: bool = False,
                skip_b: bool = False) -> None:
        """End an answered call: BYE the legs that did not hang up, write the record."""
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        if not skip_b and call.winner is not None and call.released != "b":
            self._bye_leg(call.winner)
        if not skip_a and call.a_dialog is not None and call.released != "a":
            bye = call.a_dialog.create_request("BYE")
            self._send_in_dialog(bye, call.a_source)
        call.hangup_by = by
        call.hangup_cause = cause
        call.sip_status = 200
        call.disposition = "answered"
        self._finish(call)

    def end_call(self, call_id: str, cause: str = "200 Ended By Operator") -> bool:
        """End the call whose caller's Call-ID is ``call_id``: BYE both parties of an
        answered one, CANCEL a ringing one (the caller gets 487). False: no such call."""
        for call in list(self.calls.values()):
            if call.call_id != call_id:
                continue
            if call.state is CallState.ANSWERED:
                self._hangup(call, "system", cause)
                return True
            if call.state is CallState.RINGING:
                self._cancel_ringing(call)
                self._fail(call, 487, "Request Terminated", "cancelled")
                return True
        return False

    def shutdown(self) -> None:
        """Stop every call: BYE answered ones, CANCEL and 503 ringing ones."""
        if self.originator is not None:
            self.originator.shutdown()
        for call in list(self.calls.values()):
            if call.state is CallState.ANSWERED:
                self._hangup(call, "system", "503 Switch Stopping")
            elif call.state is CallState.RINGING:
                self._cancel_ringing(call)
                self._fail(call, 503, "Service Unavailable", "failed")


def record_after(service: asyncio.Future[Any] | None, record: Callable[[], None]) -> None:
    """Write a call's record (``record``) once ``service``, still running on the call, has
    noted its last steps (the queue it left, the agent) as it sees the call end: at once when
    there is none, else when it ends, after `APP_RECORD_GRACE` seconds at most."""
    if service is None or service.done():
        record()
        return
    written = False

    def write(*_args: object) -> None:
        nonlocal written
        if not written:
            written = True
            record()

    service.add_done_callback(write)
    asyncio.get_running_loop().call_later(APP_RECORD_GRACE, write)


def _preference(status: int) -> int:
    """Which final response wins when every branch failed (RFC 3261 §16.7 step 6)."""
    if 600 <= status < 700:
        return 0
    if status == 486:
        return 1
    if status in (401, 407, 415, 420, 484):
        return 2
    if status == 408 or status == 487:
        return 9
    return 5


def _is_sdp(message: Request | Response) -> bool:
    content_type = message.headers.get("content-type") or ""
    return bool(message.body) and content_type.split(";")[0].strip().lower() == "application/sdp"


def _warning_text(exc: Exception) -> str:
    return str(exc).replace('"', "'").replace("\\", "/")[:120]
