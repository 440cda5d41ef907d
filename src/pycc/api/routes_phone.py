"""The browser softphone's signalling: a WebSocket (``/v1/phone``) per agent page.

The page sends its WebRTC offer and the agent's actions as JSON text messages
(``{"op": "offer" | "answer_call" | "hangup" | "dial" | "dtmf" | "hold" | "mute" |
"transfer", ...}``); pycc answers ``{"op": "answer"}``, says ``{"op": "ready"}`` once the
phone is registered, ``{"op": "call", ...}`` at every change of a call and
``{"op": "error", "message"}`` for what it could not do. `pycc.ccc.webphone` does the work.

A lost connection keeps the phone (and a call on it) for `GRACE` seconds, so that a page
that reconnects finds its call again; the agent, if it was available, is made not ready
("disconnected") at once, so the ACD offers it no call that nobody would hear. After the
grace the phone hangs up and unregisters. One phone per agent: a second page takes it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from pycc.aaa.roles import Action, Principal, allowed
from pycc.api.app import ApiContext
from pycc.api.routes_events import socket_principal
from pycc.ccc.webphone import PhoneError, WebPhone
from pycc.ccmanager.center import TRANSFER_KINDS, CallCenter, TransferRefused
from pycc.ccs.agent import AgentStatus
from pycc.sip.address import Address

__all__ = ["GRACE", "close_all", "router"]

log = logging.getLogger("pycc.api.phone")

router = APIRouter(tags=["phone"])

#: Seconds a phone outlives its page's connection, waiting for the page to come back.
GRACE = 15.0
#: Messages kept for a page that is away.
BACKLOG = 200
#: The largest message a page may send (an SDP offer is a few kB).
MAX_MESSAGE = 64 * 1024


@dataclass(eq=False)
class _Line:
    """An agent's web phone and the page it talks to now (None: waiting for one)."""

    phone: WebPhone
    agent: str
    socket: WebSocket | None = None
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    expiry: asyncio.TimerHandle | None = None
    closing: bool = False

    def notify(self, message: dict[str, Any]) -> None:
        # Kept while no page is connected: a page that comes back in time learns of the
        # calls that ended meanwhile (their wrap-up); the oldest go past BACKLOG.
        if self.outbox.qsize() >= BACKLOG:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.outbox.get_nowait()
        self.outbox.put_nowait(message)


def _lines(websocket: WebSocket) -> dict[str, _Line]:
    state = websocket.app.state
    if not hasattr(state, "web_phones"):
        state.web_phones = {}
    lines: dict[str, _Line] = state.web_phones
    return lines


async def close_all(app: Any) -> None:
    """Hang up and unregister every web phone (the API is stopping): no binding is left
    pointing at a phone that is gone."""
    lines: dict[str, _Line] = getattr(app.state, "web_phones", {})
    for line in list(lines.values()):
        line.closing = True
        if line.expiry is not None:
            line.expiry.cancel()
    closing = [line.phone.close() for line in lines.values()]
    lines.clear()
    if closing:
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 10.0)


def _sip_server(ctx: ApiContext) -> Address:
    assert ctx.switch is not None
    address = ctx.switch.addresses.get("udp")
    if address is None:
        raise PhoneError("the switch has no SIP over UDP to register the phone with")
    host = address.host if address.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return Address("udp", host, address.port)


@router.websocket("/v1/phone")
async def phone_socket(websocket: WebSocket) -> None:
    ctx: ApiContext = websocket.app.state.context
    principal = await socket_principal(websocket)
    if principal is None:
        await websocket.close(code=4401, reason="log in first")
        return
    tenant = ctx.tenant if principal.is_system else principal.tenant
    asked = websocket.query_params.get("extension")
    if tenant != ctx.tenant or (principal.agent is None and not (
            asked and allowed(principal, Action.CALLS_MONITOR, tenant=tenant))):
        await websocket.close(code=4403, reason="the phone is for agents, and supervisors "
                                                "naming their extension, of this tenant")
        return
    switch = ctx.switch
    if switch is None or switch.center is None:
        await websocket.close(code=1013, reason="the switch is not running")
        return
    await websocket.accept()
    lines = _lines(websocket)
    # An agent's phone is its agent's; a supervisor's is the extension it named.
    key = principal.agent if principal.agent is not None else f"ext:{asked}"
    line = lines.get(key)
    try:
        if line is None or line.closing:
            extension = _extension_of(principal, asked, switch.center)
            line = await _open_line(websocket, ctx, key, extension, switch.center)
            lines[key] = line
        else:
            await _take_over(line, websocket)
    except PhoneError as exc:
        await websocket.send_json({"op": "error", "message": str(exc)})
        await websocket.close(code=1011, reason="no phone")
        return
    line.socket = websocket
    sender = asyncio.get_running_loop().create_task(_send(line, websocket))
    try:
        await _serve(line, websocket, switch.center, principal)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        if line.socket is websocket:
            _detach(line, lines, switch.center)


def _extension_of(principal: Principal, asked: str | None, center: CallCenter) -> str:
    if principal.agent is None:
        assert asked is not None
        # A supervisor's phone is its own: never an agent's, whose calls it would take.
        if any(agent.extension == asked for agent in center.acd.agent_configs.values()):
            raise PhoneError(f"extension {asked} is an agent's")
        return asked
    config = center.acd.agent_configs.get(principal.agent)
    if config is None:
        raise PhoneError(f"agent {principal.agent!r} is not configured in the call center")
    return config.extension


async def _open_line(websocket: WebSocket, ctx: ApiContext, key: str, number: str,
                     center: CallCenter) -> _Line:
    extension = await ctx.store.get_extension(ctx.tenant, number)
    if extension is None or not extension.enabled:
        raise PhoneError(f"extension {number} does not exist")
    tenant = await ctx.store.get_tenant(ctx.tenant)
    if tenant is None:
        raise PhoneError(f"no tenant {ctx.tenant!r}")
    holder: list[_Line] = []
    phone = WebPhone(
        extension=number,
        stored_ha1={"MD5": extension.ha1_md5, "SHA-256": extension.ha1_sha256},
        server=_sip_server(ctx), domain=tenant.realm,
        notify=lambda message: holder[0].notify(message) if holder else None,
        lookup=center.leg_call_id, ice_addresses=ctx.switch.config.webrtc_addresses
        if ctx.switch is not None else ())
    line = _Line(phone, key, websocket)
    holder.append(line)
    await phone.start()
    return line


async def _take_over(line: _Line, websocket: WebSocket) -> None:
    """A page (again) for a phone that is up: cancel its end, drop the older page."""
    if line.expiry is not None:
        line.expiry.cancel()
        line.expiry = None
    old = line.socket
    line.socket = websocket
    if old is not None and old is not websocket:
        with contextlib.suppress(Exception):
            await old.close(code=4409, reason="the phone was taken over by another page")
    line.notify({"op": "ready", "extension": line.phone.extension})
    for call_id in list(line.phone.calls):
        line.phone.tell(call_id)


def _detach(line: _Line, lines: dict[str, _Line], center: CallCenter) -> None:
    """The page went away: the agent is no longer reachable for new calls; the phone waits
    `GRACE` seconds for the page to come back."""
    line.socket = None
    agent = center.acd.distributor.agents.get(line.agent)
    if agent is not None and agent.status is AgentStatus.AVAILABLE:
        refused = center.acd.not_ready(line.agent, "disconnected")
        if refused:
            log.info("agent %s: not made not-ready after losing its page: %s", line.agent,
                     refused)

    def expire() -> None:
        if line.socket is None and lines.get(line.agent) is line:
            line.closing = True
            lines.pop(line.agent, None)
            asyncio.get_running_loop().create_task(line.phone.close())

    line.expiry = asyncio.get_running_loop().call_later(GRACE, expire)


async def _send(line: _Line, websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while line.socket is websocket:
            message = await line.outbox.get()
            if line.socket is not websocket:
                # Taken over meanwhile: the message is the new page's.
                line.outbox.put_nowait(message)
                return
            await websocket.send_text(json.dumps(message))


async def _serve(line: _Line, websocket: WebSocket, center: CallCenter,
                 principal: Principal) -> None:
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return
        if len(text) > MAX_MESSAGE:
            line.notify({"op": "error", "message": f"a message may have at most {MAX_MESSAGE} "
                                                   "characters"})
            continue
        try:
            message = json.loads(text)
        except ValueError:
            line.notify({"op": "error", "message": "messages are JSON objects"})
            continue
        if not isinstance(message, dict):
            line.notify({"op": "error", "message": "messages are JSON objects"})
            continue
        try:
            await _act(line, message, center, principal)
        except PhoneError as exc:
            _refuse(line, message, str(exc))
        except Exception:
            # A bug must not cost the agent its phone: say so, keep the page connected.
            log.exception("web phone %s: %r failed", line.agent, message.get("op"))
            _refuse(line, message, "pycc could not do that (its log says why)")


def _refuse(line: _Line, message: dict[str, Any], why: str) -> None:
    reply: dict[str, Any] = {"op": "error", "message": why}
    if isinstance(message.get("call"), str):
        reply["call"] = message["call"]
    line.notify(reply)


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        raise PhoneError(f"{message.get('op')}: {key} must be a non-empty string")
    return value


def _flag(message: dict[str, Any], key: str) -> bool:
    value = message.get(key)
    if not isinstance(value, bool):
        raise PhoneError(f"{message.get('op')}: {key} must be true or false")
    return value


async def _act(line: _Line, message: dict[str, Any], center: CallCenter,
               principal: Principal) -> None:
    phone = line.phone
    op = message.get("op")
    if op == "offer":
        sdp = await phone.connect(_text(message, "sdp"))
        line.notify({"op": "answer", "sdp": sdp})
    elif op == "answer_call":
        await phone.answer(_text(message, "call"))
    elif op == "hangup":
        await phone.hangup(_text(message, "call"))
    elif op == "dial":
        await phone.dial(_text(message, "number"))
    elif op == "dtmf":
        await phone.dtmf(_text(message, "call"), _text(message, "digits"))
    elif op == "hold":
        await phone.hold(_text(message, "call"), _flag(message, "on"))
    elif op == "mute":
        phone.mute(_flag(message, "on"))
    elif op == "conference":
        await _conference(phone, _text(message, "call"), _text(message, "with"), center,
                          principal)
    elif op == "transfer" and "to_call" in message:
        await _attended(phone, _text(message, "call"), _text(message, "to_call"), center,
                        principal)
    elif op == "transfer":
        await _transfer(phone, _text(message, "call"), _text(message, "target"), center,
                        principal)
    else:
        raise PhoneError(f"unknown op {op!r}: offer, answer_call, hangup, dial, dtmf, hold, "
                         "mute, transfer or conference")


async def _transfer(phone: WebPhone, call_id: str, target: str, center: CallCenter,
                    principal: Principal) -> None:
    """Blind transfer: the party the agent talks to goes to ``target`` ("queue:sales",
    "agent:a2", "ivr:main", or a number or extension); the agent's phone is hung up."""
    pycc_call = phone.api_call_id(call_id)
    if pycc_call is None:
        raise PhoneError(f"call {call_id} is not known to the switch (not answered yet?)")
    kind, sep, name = target.partition(":")
    if not sep:
        name = target.strip()
        kind = "extension" if await center.b2bua.extension_known(name) else "number"
    elif kind not in TRANSFER_KINDS:
        raise PhoneError(f"transfer: target kind must be one of {', '.join(TRANSFER_KINDS)}")
    try:
        await center.transfer(pycc_call, kind, name, None, by=principal.label)
    except LookupError:
        raise PhoneError(f"call {call_id} has ended") from None
    except TransferRefused as exc:
        raise PhoneError(f"transfer: {exc}") from None


async def _attended(phone: WebPhone, held: str, consulted: str, center: CallCenter,
                    principal: Principal) -> None:
    """Attended transfer: the party of ``held`` (the customer on hold) and the party of
    ``consulted`` (whom the agent called meanwhile) talk to each other; the agent's two
    calls end."""
    first, second = phone.api_call_id(held), phone.api_call_id(consulted)
    if first is None or second is None:
        raise PhoneError("transfer: both calls must be answered")
    parties = [None if p == "outside" else p for p in (phone.keeps(held), phone.keeps(consulted))]
    try:
        await center.join(first, second, first_party=parties[0], second_party=parties[1],
                          by=principal.label)
    except LookupError:
        raise PhoneError("transfer: one of the calls has ended") from None
    except TransferRefused as exc:
        raise PhoneError(f"transfer: {exc}") from None


async def _conference(phone: WebPhone, held: str, consulted: str, center: CallCenter,
                      principal: Principal) -> None:
    """Three-way call: whom the agent consulted (``consulted``) joins the agent's held call
    with its caller, and that call is resumed."""
    if principal.agent is None:
        raise PhoneError("conference: three-way calls are an agent's")
    pycc_call = phone.api_call_id(consulted)
    if pycc_call is None:
        raise PhoneError("conference: the second call must be answered")
    try:
        await center.add_to_conversation(pycc_call, principal.agent,
                                         party=None if phone.keeps(consulted) == "outside"
                                         else "callee", by=principal.label)
    except LookupError:
        raise PhoneError("conference: the second call has ended") from None
    except TransferRefused as exc:
        raise PhoneError(f"conference: {exc}") from None
    # The consulting leg ends now; then the agent talks on the first call again.
    for _ in range(40):
        if consulted not in phone.calls:
            break
        await asyncio.sleep(0.05)
    await phone.hold(held, False)
