"""The UDP listener: every datagram is one SIP message (RFC 3261 §18.1.2, §18.2.1).

A datagram holding nothing but line ends is a keep-alive (RFC 5626 §3.5.1 allows CRLF on
datagram flows; RFC 3261 §7.5 says to ignore stray CRLFs) and is dropped here. This is the
hottest path of the signalling plane: no task, no copy, one ``Address`` per datagram.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from pycc.sip.address import Address
from pycc.transport.user import TransportUser

logger = logging.getLogger("pycc.transport")

_LINE_END_BYTES = (0x0D, 0x0A)


class UdpListener(asyncio.DatagramProtocol):
    """Hands each datagram received on one bound socket to the user."""

    def __init__(self, user: TransportUser) -> None:
        self._user = user
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: CPython 3.11's selector datagram transport does not derive
        # from asyncio.DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # Only datagrams that start with a line end can be keep-alives; looking at the first
        # byte keeps the strip (a copy) off the path of real messages.
        if not data or (data[0] in _LINE_END_BYTES and not data.strip(b"\r\n")):
            return
        source = Address("udp", str(addr[0]), int(addr[1]))
        try:
            self._user.message_received(data, source)
        except Exception:
            # An exception escaping here would make asyncio close the listening socket.
            logger.exception("message_received failed for a datagram from %s", source)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable) of earlier sends: they name no message, and SIP over
        # UDP relies on retransmission timers instead (RFC 3261 §17.1.1.2).
        logger.debug("UDP error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
