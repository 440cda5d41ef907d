"""Asyncio transports for SIP: UDP, TCP and TLS, feeding the sans-I/O core.

RFC 3261 §18 (transport layer), §26.2.1 (TLS), RFC 5626 §4.4.1 (CRLF keep-alives). The
``TransportManager`` owns every listener and connection; the SIP layer implements
``TransportUser`` to receive messages, and calls ``TransportManager.send`` to send them.
"""

from __future__ import annotations

from pycc.transport.manager import TransportManager
from pycc.transport.stream import StreamConnection
from pycc.transport.tls import client_ssl_context, make_self_signed_certificate, server_ssl_context
from pycc.transport.udp import UdpListener
from pycc.transport.user import TransportUser

__all__ = [
    "StreamConnection",
    "TransportManager",
    "TransportUser",
    "UdpListener",
    "client_ssl_context",
    "make_self_signed_certificate",
    "server_ssl_context",
]
