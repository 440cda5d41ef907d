"""What the transports hand their messages to: the interface the SIP layer implements.

The transports deliver whole messages (a UDP datagram, or a message cut from a stream by
Content-Length, RFC 3261 §18.3) with the address they came from, and say when a stream can no
longer be framed or a destination cannot be reached (RFC 3261 §18.4: transport errors are
reported to the transaction layer, which turns them into a 503 or a failed transaction).
"""

from __future__ import annotations

from typing import Protocol

from pycc.sip.address import Address


class TransportUser(Protocol):
    """The receiver of everything the transports produce; called on the event loop."""

    def message_received(self, data: bytes, source: Address) -> None:
        """One complete message: a UDP datagram or a framed stream message.

        For a stream, ``source.connection`` names the connection; sending the answer to
        ``source`` puts it on the same connection (RFC 3261 §18.2.2).
        """

    def stream_broken(self, reason: str, head: bytes, source: Address) -> None:
        """A stream can no longer be framed (RFC 4475 §3.1.2.3): ``head`` is the offending
        message's header part, ``reason`` says why. The user may send an error answer to
        ``source``; the connection is closed, after flushing, when this returns."""

    def transport_failed(self, destination: Address) -> None:
        """Data sent to ``destination`` could not be delivered: no connection could be made,
        the send queue was full, or the peer stopped reading. Called later, never from inside
        ``send``. Optional: a user without this method is not told."""
