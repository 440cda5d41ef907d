"""Asyncio transports for SIP: UDP, TCP and TLS, feeding the sans-I/O core.

RFC 3261 §18 (transport layer), §26.2.1 (TLS), RFC 5626 §4.4.1 (CRLF keep-alives). The
``TransportManager`` owns every listener and connection; the SIP layer implements
``TransportUser`` to receive messages, and calls ``TransportManager.send`` to send them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pycc.transport.manager import TransportManager
    from pycc.transport.stream import StreamConnection
    from pycc.transport.tls import (
        client_ssl_context,
        make_self_signed_certificate,
        server_ssl_context,
    )
    from pycc.transport.udp import UdpListener
    from pycc.transport.user import TransportUser

#: Where each name lives: imported on first use, so that a worker process importing
#: `pycc.transport.workers` does not load the SIP transports (PEP 562).
_HOMES = {
    "StreamConnection": "stream",
    "TransportManager": "manager",
    "TransportUser": "user",
    "UdpListener": "udp",
    "client_ssl_context": "tls",
    "make_self_signed_certificate": "tls",
    "server_ssl_context": "tls",
}

__all__ = [
    "StreamConnection",
    "TransportManager",
    "TransportUser",
    "UdpListener",
    "client_ssl_context",
    "make_self_signed_certificate",
    "server_ssl_context",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"pycc.transport.{home}"), name)
