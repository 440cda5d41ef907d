"""One TCP or TLS connection carrying SIP messages (RFC 3261 §18.3, RFC 5626 §4.4.1).

Received bytes go through the sans-I/O ``StreamFramer``; each complete message goes to the user
with an ``Address`` naming this connection, a CRLFCRLF ping is answered with a CRLF pong, and a
framing error is reported once before the connection is closed. The connection keeps the clocks
the manager's sweep reads (last activity, since when an incomplete message has been held) and
drops a peer that lets too much unread data pile up in its write buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import cast

from pycc.sip.address import Address
from pycc.sip.framing import Frame, FramingError, Ping, StreamFramer
from pycc.sip.message import Limits
from pycc.transport.user import TransportUser

logger = logging.getLogger("pycc.transport")

#: (transport, host, port): the key under which connections to one peer are found for reuse.
PeerKey = tuple[str, str, int]

# Linux starts TCP keep-alive probes after two hours by default; a dead phone should be found in
# about two minutes instead.
KEEPALIVE_IDLE = 60
KEEPALIVE_INTERVAL = 15
KEEPALIVE_COUNT = 4

PONG = b"\r\n"
# The framer holds a lone CRLF (a pong, or a keep-alive from a phone that sends only CRLF) until
# it knows whether a ping follows. Phones send those every 30 s or more; three bytes or fewer
# are not a message in progress, and the idle timeout still bounds how long they are held.
_SMALLEST_INCOMPLETE = 4


def enable_keepalive(sock: socket.socket | None) -> None:
    """Turn on TCP keep-alive probes, where the platform lets us tune them."""
    if sock is None:
        return
    # uvloop hands out a pseudo-socket, and not every platform has the TCP_KEEP* options.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
            ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
            ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


class StreamConnection(asyncio.Protocol):
    """A stream connection and its framer.

    ``on_open`` is called once the connection is up (after the TLS handshake); when it returns
    False the connection is refused and dropped at once. ``on_close`` is called when it is gone.
    """

    def __init__(
        self,
        user: TransportUser,
        transport_name: str,
        connection_id: int,
        *,
        limits: Limits,
        max_write_buffer: int,
        on_open: Callable[[StreamConnection], bool],
        on_close: Callable[[StreamConnection], None],
        outbound_key: PeerKey | None = None,
    ) -> None:
        self._user = user
        self._loop = asyncio.get_running_loop()
        self._framer = StreamFramer(limits)
        self._max_write_buffer = max_write_buffer
        self._on_open = on_open
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self.transport_name = transport_name
        self.id = connection_id
        self.outbound_key = outbound_key
        self.address = Address(transport_name, "", 0, connection_id)
        #: Keys this connection is filed under in the manager's table (set by the manager).
        self.keys: tuple[PeerKey, ...] = ()
        self.last_activity = self._loop.time()
        #: When the framer began holding the bytes of a message not yet complete, or None.
        self.incomplete_since: float | None = None
        #: When ``close`` was asked for; a peer that never reads could hold it open forever.
        self.closing_since: float | None = None
        self.closed: asyncio.Future[None] = self._loop.create_future()

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.address = Address(self.transport_name, str(peer[0]), int(peer[1]), self.id)
        enable_keepalive(transport.get_extra_info("socket"))
        self.last_activity = self._loop.time()
        if not self._on_open(self):
            self.abort()

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        self.last_activity = now
        completed = False
        for event in self._framer.feed(data):
            if isinstance(event, Frame):
                completed = True
                try:
                    self._user.message_received(event.data, self.address)
                except Exception:
                    logger.exception("message_received failed for a message from %s", self.address)
            elif isinstance(event, Ping):
                self.write(PONG)
            elif isinstance(event, FramingError):
                self._framing_failed(event)
                return
        if self._framer.pending < _SMALLEST_INCOMPLETE:
            self.incomplete_since = None
        elif completed or self.incomplete_since is None:
            # The clock measures how long the message now being received has been incomplete;
            # a peer that keeps completing messages is making progress.
            self.incomplete_since = now

    def eof_received(self) -> bool | None:
        # A peer that half-closes sends no more requests; answers still queued are flushed by
        # the close that returning None asks for.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            logger.debug("connection %s lost: %s", self.address, exc)
        self._on_close(self)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- used by the manager -------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def write(self, data: bytes) -> bool:
        """Queue ``data``; False when the peer has left too much unread and was dropped."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        self.last_activity = self._loop.time()
        if transport.get_write_buffer_size() > self._max_write_buffer:
            logger.warning("dropping %s: the peer is not reading", self.address)
            self.abort()
            return False
        return True

    def close(self) -> None:
        """Close after the write buffer has been flushed."""
        if self.closing_since is None:
            self.closing_since = self._loop.time()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close now, dropping whatever has not been sent."""
        if self.closing_since is None:
            self.closing_since = self._loop.time()
        if self._transport is not None:
            self._transport.abort()

    def _framing_failed(self, error: FramingError) -> None:
        logger.info("closing %s: %s", self.address, error.reason)
        self.incomplete_since = None
        try:
            self._user.stream_broken(error.reason, error.data, self.address)
        except Exception:
            logger.exception("stream_broken failed for %s", self.address)
        self.close()
