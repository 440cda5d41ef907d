"""The SIP endpoint: the asyncio edge that joins transports to the sans-I/O transaction layer.

Like aioquic's protocol adapter it makes no protocol decision: bytes in are parsed and fed to
the `TransactionLayer` with the loop's clock, what the layer wants sent is sent, one loop timer
follows ``get_timer()``, and transaction events go to the application (`EndpointHandler`).

It also applies the guards that protect the switch before any work is done on a message:
per-source rate limiting (a flood from one address does not starve the others) and stateless
error answers to malformed requests (RFC 4475), with drops counted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pycc.sip.address import Address
from pycc.sip.errors import SipParseError
from pycc.sip.guard import RateLimiter
from pycc.sip.headers import Via
from pycc.sip.ids import token_hex
from pycc.sip.message import (
    DEFAULT_LIMITS,
    Limits,
    Request,
    Response,
    error_response_for,
    parse_message,
)
from pycc.sip.transaction import (
    ClientTransaction,
    InviteClientTransaction,
    ServerTransaction,
    TimerConfig,
    TransactionEvent,
    TransactionLayer,
)
from pycc.transport import TransportManager

log = logging.getLogger("pycc.endpoint")

BRANCH_PREFIX = "z9hG4bK-pycc-"


_WILDCARDS = frozenset({"0.0.0.0", "::"})


@functools.lru_cache(maxsize=1024)
def _source_address_toward(host: str) -> str:
    """The local address the system would send from to ``host``.

    Connecting a UDP socket only asks the routing table; no packet leaves.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"


class EndpointHandler(Protocol):
    def handle_event(self, event: TransactionEvent) -> None: ...


@dataclass(slots=True)
class EndpointStats:
    received: int = 0
    malformed_answered: int = 0
    dropped: int = 0
    rate_limited: int = 0
    #: Requests that were a live server transaction's request again, byte for byte.
    retransmissions_absorbed: int = 0


class SipEndpoint:
    """Owns the transports and the transaction layer of one switch or user agent."""

    def __init__(
        self,
        handler: EndpointHandler,
        *,
        timers: TimerConfig | None = None,
        limits: Limits = DEFAULT_LIMITS,
        rate_limiter: RateLimiter | None = None,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        idle_timeout: float = 600.0,
        user_agent: str = "pycc",
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.transactions = TransactionLayer(timers or TimerConfig())
        self.transports = TransportManager(
            self,
            limits=limits,
            idle_timeout=idle_timeout,
            ssl_server=ssl_server,
            ssl_client=ssl_client,
        )
        self.rate_limiter = rate_limiter
        self.stats = EndpointStats()
        self.user_agent = user_agent
        #: Sees each datagram or stream message past the rate limit before it is parsed, and
        #: takes it by returning True (`pycc.ccmanager.register_offload`).
        self.request_hook: Callable[[bytes, Address, float], bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flushing = False
        self._listening: list[Address] = []

    # -- life cycle ------------------------------------------------------------------------
    async def listen(self, transport: str, host: str, port: int) -> Address:
        self._loop = asyncio.get_running_loop()
        if transport == "udp":
            address = await self.transports.listen_udp(host, port)
        elif transport == "tcp":
            address = await self.transports.listen_tcp(host, port)
        elif transport == "tls":
            address = await self.transports.listen_tls(host, port)
        else:
            raise ValueError(f"unknown transport {transport!r}")
        self._listening.append(address)
        return address

    async def listen_udp_and_tcp(self, host: str, port: int) -> tuple[Address, Address]:
        """UDP and TCP listeners on one port (port 0: a free one for both)."""
        self._loop = asyncio.get_running_loop()
        udp, tcp = await self.transports.listen_udp_and_tcp(host, port)
        self._listening += [udp, tcp]
        return udp, tcp

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.transports.close()

    def now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def local_address(self, transport: str) -> Address:
        return self.transports.local_address(transport)

    def listening_addresses(self) -> list[Address]:
        """The addresses this endpoint listens on."""
        return list(self._listening)

    # -- building blocks for the application -----------------------------------------------
    def new_branch(self) -> str:
        return BRANCH_PREFIX + token_hex(8)

    def advertised_address(self, toward: Address) -> Address:
        """The address a peer at ``toward`` reaches this endpoint on, for Via and Contact.

        A listener on a wildcard address (``0.0.0.0``, ``::``) cannot be named in a message:
        the interface address the system routes ``toward`` through is named instead.
        """
        local = self.transports.local_address(toward.transport, toward.host)
        if local.host in _WILDCARDS:
            return Address(local.transport, _source_address_toward(toward.host), local.port)
        return local

    def via_for(self, destination: Address, branch: str | None = None) -> str:
        local = self.advertised_address(destination)
        value = Via(destination.transport.upper(), local.host, local.port,
                    {"branch": branch or self.new_branch(), "rport": None})
        return str(value)

    def contact_for(self, toward: Address, user: str = "pycc") -> str:
        """A Contact for ``toward`` to send its next requests to (RFC 3261 §8.1.1.8)."""
        local = self.advertised_address(toward)
        suffix = "" if toward.transport == "udp" else f";transport={toward.transport}"
        return f"<sip:{user}@{local.host_port}{suffix}>"

    def send_request(self, request: Request, destination: Address) -> ClientTransaction:
        txn = self.transactions.send_request(request, destination, self.now())
        self._flush()
        return txn

    def send_response(self, txn: ServerTransaction, response: Response) -> None:
        self.transactions.send_response(txn, response, self.now())
        self._flush()

    def send_stateless(self, message: Request | Response, destination: Address) -> None:
        self.transactions.send_stateless(message, destination)
        self._flush()

    def cancel(self, txn: ClientTransaction) -> None:
        """CANCEL an INVITE client transaction (§9.1); other transactions cannot be."""
        if isinstance(txn, InviteClientTransaction):
            self.transactions.cancel(txn, self.now())
            self._flush()

    # -- TransportUser ---------------------------------------------------------------------
    def message_received(self, data: bytes, source: Address) -> None:
        now = self.now()
        self.stats.received += 1
        if self.rate_limiter is not None and not self.rate_limiter.allow(source.host, now):
            self.stats.rate_limited += 1
            return
        if self.transactions.absorb_retransmission(data, now):
            self.stats.retransmissions_absorbed += 1
            self._flush()
            return
        if self.request_hook is not None and self.request_hook(data, source, now):
            return
        self._process(data, source, now)

    def process_message(self, data: bytes, source: Address) -> None:
        """Parse and handle ``data`` from ``source`` as received, past the rate limit and
        the request hook (for what a `request_hook` took and gives back)."""
        self._process(data, source, self.now())

    def _process(self, data: bytes, source: Address, now: float) -> None:
        try:
            message = parse_message(data, datagram=not source.reliable, limits=self.limits)
        except SipParseError as exc:
            self._answer_malformed(exc, source)
            return
        try:
            if isinstance(message, Request):
                # Only datagrams are retransmitted (§17.1.2.2): streams keep no copy.
                raw = None if source.reliable else data
                self.transactions.receive_request(message, source, now, raw)
            else:
                self.transactions.receive_response(message, source, now)
        except SipParseError as exc:
            self._answer_malformed(exc, source)
            return
        self._flush()

    def stream_broken(self, reason: str, head: bytes, source: Address) -> None:
        """A stream lost its framing: answer from the head's header lines, then it closes."""
        lines = head.decode("utf-8", "surrogateescape").split("\r\n")[1:]
        raw = [(n.strip(), v.strip()) for n, c, v in (ln.partition(":") for ln in lines) if c]
        status = 513 if "Too Large" in reason else 400
        exc = SipParseError(
            reason, status, raw_headers=raw, is_request=not head.startswith(b"SIP/")
        )
        self._answer_malformed(exc, source)

    def transport_failed(self, destination: Address) -> None:
        self.transactions.transport_error(destination, self.now())
        self._flush()

    def _answer_malformed(self, exc: SipParseError, source: Address) -> None:
        answer = error_response_for(exc)
        if answer is None:
            self.stats.dropped += 1
            log.debug("dropped malformed message from %s: %s", source, exc.reason)
            return
        self.stats.malformed_answered += 1
        answer.headers.add("Server", self.user_agent)
        self.transports.send(answer.to_bytes(), source)

    # -- driving the core ------------------------------------------------------------------
    def _flush(self) -> None:
        if self._flushing:
            return  # the outer loop drains what this call queued
        self._flushing = True
        try:
            layer = self.transactions
            while True:
                for data, destination in layer.messages_to_send():
                    self.transports.send(data, destination)
                event = layer.next_event()
                if event is None:
                    break
                try:
                    self.handler.handle_event(event)
                except Exception:
                    log.exception("error handling %r", event)
        finally:
            self._flushing = False
        self._schedule()

    def _schedule(self) -> None:
        when = self.transactions.get_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            loop = self._loop or asyncio.get_running_loop()
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.transactions.handle_timer(self.now())
        self._flush()
