"""A browser as an agent's phone: WebRTC towards the browser, SIP towards the switch.

The browser sends its WebRTC offer once it connects (ICE, DTLS-SRTP and Opus are aiortc's);
the media stay up for as long as the agent's page does, and calls come and go over them, as
with a headset plugged into a desk phone. Calls are SIP: a `pycc.ua.UserAgent` on 127.0.0.1
registers as the agent's extension (RFC 3261 §10, answering the switch's digest challenges
with the extension's stored HA1, so no password is needed), so the ACD offers queue calls to
the browser like to any phone, and what the agent does (answer, hang up, hold as an RFC 3264
§8.4 ``sendonly`` re-INVITE, keys as RFC 6086 INFO, dial) is what a phone would send.

`WebPhone` is driven by the page's messages (`pycc.api.routes_phone`) and tells the page
what happens through ``notify`` (plain dicts, sent as JSON). One call has the audio at a
time; another call to the extension meanwhile is refused busy (486).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from pycc.ccc.ice import offer_addresses
from pycc.ccc.phone_media import PhoneAudio, RtpTarget, choose_codec, phone_sdp
from pycc.sip.address import Address
from pycc.sip.dtmf_info import DTMF_DIGITS
from pycc.ua import Call, CallFailed, CallState, UaError, UserAgent

__all__ = ["PhoneError", "WebPhone"]

log = logging.getLogger("pycc.ccc.webphone")

#: How long the phone's registration lasts; it is refreshed at half of it.
REGISTRATION = 300
#: How often a call's SDP is looked at again (the switch may re-INVITE it).
SDP_POLL = 0.25

Notify = Callable[[dict[str, Any]], None]
#: (SIP Call-ID of the phone's leg) -> the call's id in the API, if the switch knows it.
CallLookup = Callable[[str], str | None]


class PhoneError(Exception):
    """What the page asked for cannot be done; the message says why."""


@dataclass(eq=False)
class _PhoneCall:
    id: str
    sip: Call
    direction: str
    peer: str
    info: dict[str, object] = field(default_factory=dict)
    codec: tuple[str, int, int, int] | None = None
    target: RtpTarget | None = None
    held: bool = False
    version: int = 1
    watcher: asyncio.Task[None] | None = None
    seen_sdp: bytes | None = None
    answered: bool = False
    #: The switch's id of the call the agent talks on: told by the switch in the INVITE
    #: (a queue's caller), else looked up until the switch knows it (the customer a
    #: preview dials is only known once connected), and kept after: the switch forgets a
    #: call as soon as it ends.
    pycc_call: str | None = None


class WebPhone:
    """One browser's phone for the extension ``extension`` of the switch at ``server``."""

    def __init__(self, *, extension: str, stored_ha1: Mapping[str, str], server: Address,
                 domain: str, notify: Notify, lookup: CallLookup | None = None,
                 host: str = "127.0.0.1", ice_addresses: tuple[str, ...] = ()) -> None:
        offer_addresses(ice_addresses)
        self.extension = extension
        self.notify = notify
        self.lookup = lookup
        self.audio = PhoneAudio(host)
        self.ua = UserAgent(extension, "", server=server, local_host=host, realm_domain=domain,
                            stored_ha1=stored_ha1, user_agent="pycc-webphone")
        self.pc: RTCPeerConnection | None = None
        self.calls: dict[str, _PhoneCall] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session_id = secrets.randbelow(2**31)
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the RTP socket, register the extension and start taking calls."""
        await self.audio.start()
        self.ua.rtp_port = self.audio.port
        await self.ua.start()
        try:
            await self.ua.register(REGISTRATION)
        except (UaError, TimeoutError) as exc:
            await self.close()
            raise PhoneError(f"the phone could not register extension {self.extension}: "
                             f"{exc}") from None
        self._spawn(self._take_calls())
        self._spawn(self._refresh())
        self.notify({"op": "ready", "extension": self.extension})

    async def close(self) -> None:
        """Hang up, unregister, and end the browser's media."""
        if self._closed:
            return
        self._closed = True
        for call in list(self.calls.values()):
            with contextlib.suppress(UaError, TimeoutError):
                await call.sip.hangup(timeout=2.0)
        if self.ua.registered:
            with contextlib.suppress(UaError, TimeoutError):
                await self.ua.unregister(timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.pc is not None:
            await self.pc.close()
        await self.audio.close()
        await self.ua.close(graceful=False)

    async def connect(self, offer: str) -> str:
        """Take the browser's WebRTC offer; returns the answer (ICE candidates included)."""
        if self.pc is not None:
            await self.pc.close()
        pc = RTCPeerConnection()
        self.pc = pc
        pc.addTrack(self.audio.new_browser_track())

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                self.audio.listen(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc is self.pc and pc.connectionState == "failed":
                self.notify({"op": "error", "message": "the browser's media connection failed"})

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, KeyError, AttributeError) as exc:
            raise PhoneError(f"the browser's offer cannot be used: {exc}") from None
        return str(pc.localDescription.sdp)

    # -- what the agent does ---------------------------------------------------------------
    async def answer(self, call_id: str) -> None:
        call = self._call(call_id)
        if call.direction != "incoming" or call.sip.state is not CallState.RINGING:
            raise PhoneError(f"call {call_id} is not ringing")
        busy = self._talking(call)
        if busy is not None:
            raise PhoneError(f"hang up call {busy.id} first")
        assert call.codec is not None and call.target is not None
        await call.sip.answer(self._sdp(call))
        call.answered = True
        self.audio.use(call.target)
        self._tell(call)

    async def hangup(self, call_id: str) -> None:
        call = self._call(call_id)
        await call.sip.hangup()

    async def dial(self, number: str) -> str:
        number = number.strip()
        if not number or not all(ch.isalnum() or ch in "+*#._-" for ch in number) \
                or len(number) > 64:
            raise PhoneError("dial a number: digits, letters, + * # . _ - (at most 64)")
        busy = self._talking(None)
        if busy is not None:
            raise PhoneError(f"hang up call {busy.id} first")
        sdp = phone_sdp(self.audio.host, self.audio.port, session_id=self._session_id,
                        version=1)
        sip = await self.ua.dial(number, sdp=sdp)
        call = _PhoneCall(f"c{next(self._ids)}", sip, "outgoing", number)
        self.calls[call.id] = call
        call.watcher = self._spawn(self._watch(call))
        self._tell(call)
        return call.id

    async def dtmf(self, call_id: str, digits: str) -> None:
        call = self._call(call_id)
        if not digits or len(digits) > 32 or any(d not in DTMF_DIGITS for d in digits.upper()):
            raise PhoneError("keys are 0-9 * # A-D, 1 to 32 of them")
        if call.sip.state is not CallState.ANSWERED:
            raise PhoneError(f"call {call_id} is not answered")
        for digit in digits.upper():
            if self.audio.target is call.target and self.audio.press(digit):
                # One key after the other, as fingers on a keypad: 160 ms down, 80 ms up.
                await asyncio.sleep(0.24)
                continue
            try:
                await call.sip.send_info_dtmf(digit)
            except (UaError, TimeoutError) as exc:
                raise PhoneError(f"the key {digit} was not sent: {exc}") from None

    async def hold(self, call_id: str, on: bool) -> None:
        call = self._call(call_id)
        if call.sip.state is not CallState.ANSWERED or call.codec is None:
            raise PhoneError(f"call {call_id} is not answered")
        if call.held == on:
            return
        if not on:
            busy = self._talking(call)
            if busy is not None:
                raise PhoneError(f"hang up or hold call {busy.id} first")
        call.version += 1
        sdp = phone_sdp(self.audio.host, self.audio.port, session_id=self._session_id,
                        version=call.version, codecs=(call.codec,),
                        direction="sendonly" if on else "sendrecv")
        try:
            response = await call.sip.reinvite(sdp)
        except (UaError, TimeoutError) as exc:
            raise PhoneError(f"the switch did not take the {'hold' if on else 'resume'}: "
                             f"{exc}") from None
        if not 200 <= response.status < 300:
            raise PhoneError(f"the switch refused: {response.status} {response.reason}")
        call.held = on
        if not on and call.target is not None:
            self.audio.use(call.target)
        self._tell(call)

    def mute(self, on: bool) -> None:
        self.audio.muted = on

    def tell(self, call_id: str) -> None:
        """Send the page the state of a call again (a page that reconnected)."""
        self._tell(self._call(call_id))

    def api_call_id(self, call_id: str) -> str | None:
        """The API's id for the call (for transfers and wrap-up), if the switch knows it."""
        call = self._call(call_id)
        self._look_up(call)
        return call.pycc_call

    def _look_up(self, call: _PhoneCall) -> None:
        if call.pycc_call is None and self.lookup is not None \
                and call.sip.state is not CallState.ENDED:
            call.pycc_call = self.lookup(call.sip.call_id)

    # -- calls -----------------------------------------------------------------------------
    def _call(self, call_id: str) -> _PhoneCall:
        call = self.calls.get(call_id)
        if call is None:
            raise PhoneError(f"no call {call_id!r}")
        return call

    def _talking(self, other: _PhoneCall | None) -> _PhoneCall | None:
        """The call the agent talks on now (answered, not on hold), other than ``other``: a
        held call does not stop the agent from consulting someone on a second one."""
        return next((c for c in self.calls.values() if c is not other and c.answered
                     and not c.held and c.sip.state is not CallState.ENDED), None)

    def keeps(self, call_id: str) -> str:
        """Which party of the switch's call stays when the agent transfers ``call_id``: the
        one the agent called ("callee"), or for a call to the agent, whoever called in
        ("outside", the switch's default)."""
        return "callee" if self._call(call_id).direction == "outgoing" else "outside"

    def _sdp(self, call: _PhoneCall) -> bytes:
        assert call.codec is not None
        return phone_sdp(self.audio.host, self.audio.port, session_id=self._session_id,
                         version=call.version, codecs=(call.codec,))

    async def _take_calls(self) -> None:
        while True:
            sip = await self.ua.next_call(timeout=None)
            info = _pycc_headers(sip)
            call = _PhoneCall(f"c{next(self._ids)}", sip, "incoming", sip.remote_party, info)
            told = info.get("call")
            if isinstance(told, str) and told:
                call.pycc_call = told
            if self._talking(None) is not None or any(
                    c.sip.state is CallState.RINGING and c.direction == "incoming"
                    for c in self.calls.values()):
                await sip.reject(486, "Busy Here")
                continue
            try:
                call.codec, call.target = choose_codec(sip.remote_sdp or b"")
            except ValueError as exc:
                log.info("web phone %s: refusing call %s: %s", self.extension, sip.call_id, exc)
                await sip.reject(488, "Not Acceptable Here")
                continue
            call.seen_sdp = sip.remote_sdp
            self.calls[call.id] = call
            call.watcher = self._spawn(self._watch(call))
            self._tell(call)

    async def _watch(self, call: _PhoneCall) -> None:
        """Follow a call until it ends: its answer, the switch's re-INVITEs, its end."""
        sip = call.sip
        try:
            while sip.state is not CallState.ENDED:
                if sip.remote_sdp is not None and sip.remote_sdp is not call.seen_sdp:
                    call.seen_sdp = sip.remote_sdp
                    self._new_sdp(call, sip.remote_sdp)
                if call.direction == "outgoing" and not call.answered and sip.answered.is_set():
                    call.answered = True
                    if call.target is not None:
                        self.audio.use(call.target)
                    self._tell(call)
                if call.answered:
                    self._look_up(call)  # a scan of the switch's calls until found
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sip.ended.wait(), SDP_POLL)
        finally:
            if self.audio.target is call.target and call.answered:
                self.audio.use(None)
            self.calls.pop(call.id, None)
            if not self._closed:
                self._tell(call, ended=True)

    def _new_sdp(self, call: _PhoneCall, sdp: bytes) -> None:
        try:
            codec, target = choose_codec(sdp)
        except ValueError as exc:
            log.info("web phone %s: call %s: %s", self.extension, call.id, exc)
            return
        if call.direction == "outgoing" and call.codec is None:
            call.codec = codec
        call.target = target
        if call.answered or (call.direction == "outgoing" and not call.answered):
            # Early media (a 183 with SDP) plays the switch's ringback to the agent.
            self.audio.use(target)

    def _tell(self, call: _PhoneCall, *, ended: bool = False) -> None:
        sip = call.sip
        if ended or sip.state is CallState.ENDED:
            state = "ended"
        elif call.answered:
            state = "held" if call.held else "answered"
        else:
            state = "ringing"
        if not ended:
            self._look_up(call)
        message: dict[str, Any] = {
            "op": "call", "call": call.id, "direction": call.direction, "state": state,
            "peer": call.peer, "info": {k: v for k, v in call.info.items() if k != "call"},
            "pycc_call": call.pycc_call, "was_answered": call.answered,
        }
        if call.codec is not None:
            # What the call's audio runs on between the phone and pycc (as "opus/48000").
            message["codec"] = f"{call.codec[0]}/{call.codec[1]}"
        if state == "ended":
            message["reason"] = f"{sip.status or ''} {sip.reason}".strip()
        self.notify(message)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REGISTRATION / 2)
            try:
                await self.ua.register(REGISTRATION)
            except (UaError, TimeoutError) as exc:
                log.warning("web phone %s: registration refresh failed: %s", self.extension, exc)
                self.notify({"op": "error", "message": "the phone lost its registration"})

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, CallFailed):
                log.error("web phone %s: %r", self.extension, exc)


def _pycc_headers(call: Call) -> dict[str, object]:
    """What the switch told the phone about the call in ``X-Pycc-*`` headers (the ACD's
    queue, the call's id, a dialer's contact fields), by lower-case key."""
    invite = call.invite
    found: dict[str, object] = {}
    if invite is None:
        return found
    for name, value in invite.headers:
        if name.lower().startswith("x-pycc-") and len(found) < 50:
            key = name[7:].lower().replace("-", "_")
            found[key] = value[:200]
    return found
