"""The transport manager: every SIP listener and connection of one pycc process.

Implements the transport layer of RFC 3261 §18: listening on UDP, TCP and TLS (§18.2.1), sending
a request or response over UDP from the listening socket, or over a stream connection, reusing
the connection a request came on or any live one to the same peer and opening a new one only
when there is none (§18.1.1, §18.2.2). It answers RFC 5626 §4.4.1 CRLF keep-alives, and protects
the process from peers that hold connections open: idle connections, connections holding an
incomplete message (RFC 4475 §3.1.2.2 lying Content-Length, half-open peers), peers that do not
read, and more inbound connections than ``max_connections``.

No protocol decisions are made here: what to answer, and to where, is the SIP core's business.
``send`` never blocks and never awaits; a connection that must be opened first is opened by a
background task that holds the data in a bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import itertools
import logging
import os
import socket
import ssl
import struct
import sys
from collections import deque
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field

from pycc.sip.address import Address
from pycc.sip.message import DEFAULT_LIMITS, Limits
from pycc.transport.stream import PeerKey, StreamConnection
from pycc.transport.tls import client_ssl_context
from pycc.transport.udp import UdpListener
from pycc.transport.user import TransportUser

logger = logging.getLogger("pycc.transport")

STREAM_TRANSPORTS = ("tcp", "tls")
# Socket buffers asked for on UDP listeners (the kernel caps them at rmem_max / wmem_max).
# A 512 kB receive buffer (about 800 requests, some T1 of work) kept overloaded REGISTER
# traffic from queueing for seconds, but made call storms fail more: a dropped 200 OK, ACK or
# BYE costs its call a retransmission interval, calls last longer and hold their ports. The
# large buffer stays; retransmissions that do queue are absorbed cheaply
# (`TransactionLayer.absorb_retransmission`).
UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
UDP_SEND_BUFFER_BYTES = 4 * 1024 * 1024
# getsockopt(SO_MEMINFO) (Linux 3.19 and later; Python names no constant for it): the first of
# its counters is the memory the receive queue holds, datagrams and the kernel's buffer heads.
_SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55) if sys.platform == "linux" else None
_MEMINFO_SIZE = 9 * 4
#: How many messages may wait for one connection being opened.
MAX_QUEUED_MESSAGES = 64
# How long close() lets connections flush before dropping them.
CLOSE_GRACE = 1.0
# How long a connection may stay closing (a peer not reading holds a flush forever).
CLOSING_LIMIT = 5.0


@dataclass(slots=True)
class _Listener:
    address: Address
    family: int
    udp: UdpListener | None = None
    server: asyncio.Server | None = None
    #: A duplicate of the UDP socket's descriptor, to read its receive queue's size (the
    #: event loop owns the original and may close it; a duplicate can never name another
    #: socket later).
    probe: socket.socket | None = None


@dataclass(slots=True)
class _PendingConnection:
    """A connection being opened and the messages waiting for it."""

    queue: deque[tuple[bytes, Address]] = field(default_factory=deque)
    size: int = 0


def _backlog_probe(sock: socket.socket) -> socket.socket | None:
    """A duplicate of ``sock`` that answers SO_MEMINFO, or None where the system has none."""
    if _SO_MEMINFO is None:
        return None
    try:
        probe = socket.socket(fileno=os.dup(sock.fileno()))
    except OSError:
        return None
    try:
        probe.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, _MEMINFO_SIZE)
    except OSError:
        probe.close()
        return None
    return probe


@functools.lru_cache(maxsize=4096)
def _literal_family(host: str) -> int | None:
    """AF_INET or AF_INET6 for an IP literal, None for a name to resolve (cached: the same
    few peers are sent to again and again)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family
    return None


class TransportManager:
    """Listens, sends and keeps the table of stream connections; see the module docstring."""

    def __init__(
        self,
        user: TransportUser,
        *,
        limits: Limits = DEFAULT_LIMITS,
        idle_timeout: float = 600.0,
        incomplete_timeout: float = 32.0,
        max_connections: int = 10_000,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        sweep_interval: float = 2.0,
        connect_timeout: float = 10.0,
        max_write_buffer: int = 1 << 20,
    ) -> None:
        """``idle_timeout``: close stream connections with no traffic for this long (RFC 5626
        keep-alives keep them open). ``incomplete_timeout``: close a connection holding an
        incomplete message this long. ``ssl_client``: None means a context that verifies the
        peer against the system store. ``max_write_buffer``: bytes a peer may leave unread
        before it is dropped. ``sweep_interval``: how often those limits are checked."""
        self._user = user
        self._limits = limits
        self._idle_timeout = idle_timeout
        self._incomplete_timeout = incomplete_timeout
        self._max_connections = max_connections
        self._ssl_server = ssl_server
        self._ssl_client = ssl_client
        self._sweep_interval = sweep_interval
        self._connect_timeout = connect_timeout
        self._max_write_buffer = max_write_buffer

        self._listeners: list[_Listener] = []
        self._udp_by_family: dict[int, asyncio.DatagramTransport] = {}
        self._ids = itertools.count(1)
        self._connections: dict[int, StreamConnection] = {}
        self._by_peer: dict[PeerKey, list[StreamConnection]] = {}
        self._connecting: dict[PeerKey, _PendingConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweep_task: asyncio.Task[None] | None = None
        self._closed = False

    # -- listening -----------------------------------------------------------------------------
    async def listen_udp(self, host: str, port: int) -> Address:
        """Bind a UDP socket; port 0 picks a free one. Returns the bound address."""
        family, sockaddr = await self._resolve_local(host, port, socket.SOCK_DGRAM)
        return await self._start_udp(family, self._bind_udp(family, sockaddr))

    async def listen_udp_and_tcp(self, host: str, port: int) -> tuple[Address, Address]:
        """Listen for UDP and TCP on the same port, as RFC 3261 §18 expects.

        With port 0 the kernel picks a free UDP port, which may already be taken for TCP; then
        another UDP port is tried, so the pair is always on one number."""
        family, sockaddr = await self._resolve_local(host, port, socket.SOCK_DGRAM)
        attempts = 32 if port == 0 else 1
        for attempt in range(attempts):
            sock = self._bind_udp(family, sockaddr)
            number = int(sock.getsockname()[1])
            try:
                tcp = await self._listen_stream("tcp", host, number, None)
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            return await self._start_udp(family, sock), tcp
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _bind_udp(family: int, sockaddr: tuple[str, int]) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                # One listener per family: IPv4 peers must not appear as ::ffff: addresses.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setblocking(False)
            # A burst (many phones re-registering at once, a call storm) must wait in the
            # kernel while the loop catches up, not be dropped.
            for option, size in ((socket.SO_RCVBUF, UDP_RECEIVE_BUFFER_BYTES),
                                 (socket.SO_SNDBUF, UDP_SEND_BUFFER_BYTES)):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, size)
            sock.bind(sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _start_udp(self, family: int, sock: socket.socket) -> Address:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: UdpListener(self._user), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        bound = transport.get_extra_info("sockname")
        address = Address("udp", str(bound[0]), int(bound[1]))
        self._listeners.append(_Listener(address, family, udp=protocol,
                                         probe=_backlog_probe(sock)))
        self._udp_by_family.setdefault(family, transport)
        return address

    def receive_backlog(self) -> int:
        """Bytes of datagrams waiting unread in the UDP listeners' receive queues.

        How far the process is behind its UDP traffic, as the kernel counts it (about 2 kB per
        waiting request with the kernel's overhead); 0 where the system does not tell.
        """
        total = 0
        for listener in self._listeners:
            if listener.probe is not None:
                try:
                    info = listener.probe.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO or 0,
                                                     _MEMINFO_SIZE)
                except OSError:
                    continue
                total += struct.unpack_from("I", info)[0]
        return total

    async def listen_tcp(self, host: str, port: int) -> Address:
        """Listen for TCP connections; port 0 picks a free one. Returns the bound address."""
        return await self._listen_stream("tcp", host, port, None)

    async def listen_tls(self, host: str, port: int) -> Address:
        """Listen for TLS connections with the ``ssl_server`` context given at construction."""
        if self._ssl_server is None:
            raise ValueError("listen_tls needs the ssl_server context")
        return await self._listen_stream("tls", host, port, self._ssl_server)

    async def _listen_stream(
        self, name: str, host: str, port: int, context: ssl.SSLContext | None
    ) -> Address:
        loop = asyncio.get_running_loop()
        family, sockaddr = await self._resolve_local(host, port, socket.SOCK_STREAM)
        server = await loop.create_server(
            lambda: self._new_connection(name, None),
            sockaddr[0],
            sockaddr[1],
            family=family,
            ssl=context,
            # A TLS handshake that does not finish is a half-open peer too.
            ssl_handshake_timeout=self._incomplete_timeout if context is not None else None,
            reuse_address=True,
            backlog=511,
        )
        bound = server.sockets[0].getsockname()
        address = Address(name, str(bound[0]), int(bound[1]))
        self._listeners.append(_Listener(address, family, server=server))
        self._ensure_sweep()
        return address

    @staticmethod
    async def _resolve_local(host: str, port: int, kind: int) -> tuple[int, tuple[str, int]]:
        family = _literal_family(host)
        if family is not None:
            return family, (host, port)
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=kind, flags=socket.AI_PASSIVE
        )
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                return int(family), (str(sockaddr[0]), int(sockaddr[1]))
        raise OSError(f"cannot resolve {host!r} to an IP address")

    def local_address(self, transport: str, for_host: str | None = None) -> Address:
        """The address listening on ``transport``, for Via and Contact.

        With ``for_host`` (an IP literal), a listener of that host's address family is
        preferred. Raises LookupError when nothing listens on ``transport``.
        """
        family = None if for_host is None else _literal_family(for_host)
        candidates = [lst for lst in self._listeners if lst.address.transport == transport]
        if not candidates:
            raise LookupError(f"no {transport} listener")
        for listener in candidates:
            if family is None or listener.family == family:
                return listener.address
        return candidates[0].address

    def connection_count(self) -> int:
        """Stream connections that hold a socket, in either direction."""
        return len(self._connections)

    # -- sending -------------------------------------------------------------------------------
    def send(self, data: bytes, destination: Address) -> None:
        """Send one message (or keep-alive) to ``destination``; never blocks.

        Failures are reported later through ``user.transport_failed``.
        """
        if self._closed:
            logger.debug("send to %s after close: dropped", destination)
            return
        if destination.transport == "udp":
            self._send_udp(data, destination)
        elif destination.transport in STREAM_TRANSPORTS:
            self._send_stream(data, destination)
        else:
            raise ValueError(f"unsupported transport {destination.transport!r}")

    def _send_udp(self, data: bytes, destination: Address) -> None:
        family = _literal_family(destination.host)
        if family is None:
            self._spawn(self._resolve_and_send_udp(data, destination))
            return
        transport = self._udp_by_family.get(family)
        if transport is None:
            self._fail_soon([destination])
            return
        # Socket errors here are reported to UdpListener.error_received, not raised.
        transport.sendto(data, (destination.host, destination.port))

    async def _resolve_and_send_udp(self, data: bytes, destination: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                destination.host, destination.port, type=socket.SOCK_DGRAM
            )
        except OSError as exc:
            logger.info("cannot resolve %s: %s", destination, exc)
            infos = []
        for family, _, _, _, sockaddr in infos:
            transport = self._udp_by_family.get(int(family))
            if transport is not None:
                transport.sendto(data, sockaddr)
                return
        self._fail(destination)

    def _send_stream(self, data: bytes, destination: Address) -> None:
        connection: StreamConnection | None = None
        if destination.connection is not None:
            connection = self._connections.get(destination.connection)
            if connection is not None and connection.is_closing():
                connection = None
        key: PeerKey = (destination.transport, destination.host, destination.port)
        if connection is None:
            connection = self._live_connection(key)
        if connection is not None:
            if not connection.write(data):
                self._fail_soon([destination])
            return
        pending = self._connecting.get(key)
        if pending is None:
            pending = _PendingConnection()
            self._connecting[key] = pending
            self._spawn(self._connect(key, pending))
        if len(pending.queue) >= MAX_QUEUED_MESSAGES or (
            pending.size + len(data) > self._max_write_buffer
        ):
            logger.warning("queue for %s full: message dropped", destination)
            self._fail_soon([destination])
            return
        pending.queue.append((data, destination))
        pending.size += len(data)

    def _live_connection(self, key: PeerKey) -> StreamConnection | None:
        for connection in reversed(self._by_peer.get(key, ())):
            if not connection.is_closing():
                return connection
        return None

    async def _connect(self, key: PeerKey, pending: _PendingConnection) -> None:
        name, host, port = key
        context: ssl.SSLContext | None = None
        if name == "tls":
            if self._ssl_client is None:
                # Loading the system trust store reads files: not on the event loop.
                self._ssl_client = await asyncio.to_thread(client_ssl_context, True)
            context = self._ssl_client
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(
                    lambda: self._new_connection(name, key),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except Exception as exc:  # OSError, ssl.SSLError, TimeoutError: all mean unreachable
            logger.info("cannot connect to %s:%s:%s: %s", name, host, port, exc)
            if self._connecting.get(key) is pending:
                del self._connecting[key]
            self._fail(*(destination for _, destination in pending.queue))
            pending.queue.clear()

    def _new_connection(self, name: str, outbound_key: PeerKey | None) -> StreamConnection:
        return StreamConnection(
            self._user,
            name,
            next(self._ids),
            limits=self._limits,
            max_write_buffer=self._max_write_buffer,
            on_open=self._connection_opened,
            on_close=self._connection_closed,
            outbound_key=outbound_key,
        )

    def _connection_opened(self, connection: StreamConnection) -> bool:
        if self._closed:
            return False
        if connection.outbound_key is None and len(self._connections) >= self._max_connections:
            logger.warning("refusing %s: %d connections open", connection.address,
                           len(self._connections))
            return False
        self._connections[connection.id] = connection
        address = connection.address
        keys: list[PeerKey] = [(address.transport, address.host, address.port)]
        if connection.outbound_key is not None and connection.outbound_key not in keys:
            keys.append(connection.outbound_key)
        connection.keys = tuple(keys)
        for key in keys:
            self._by_peer.setdefault(key, []).append(connection)
        if connection.outbound_key is not None:
            pending = self._connecting.pop(connection.outbound_key, None)
            if pending is not None:
                # Written here, before any later send can find the connection, to keep order.
                for data, _ in pending.queue:
                    connection.write(data)
                pending.queue.clear()
        self._ensure_sweep()
        return True

    def _connection_closed(self, connection: StreamConnection) -> None:
        if self._connections.get(connection.id) is not connection:
            return  # refused: never entered in the table
        del self._connections[connection.id]
        for key in connection.keys:
            peers = self._by_peer.get(key)
            if peers is None:
                continue
            with contextlib.suppress(ValueError):
                peers.remove(connection)
            if not peers:
                del self._by_peer[key]

    # -- failures ------------------------------------------------------------------------------
    def _fail_soon(self, destinations: Iterable[Address]) -> None:
        # Never call back into the user from inside its own send().
        asyncio.get_running_loop().call_soon(self._fail, *destinations)

    def _fail(self, *destinations: Address) -> None:
        callback = getattr(self._user, "transport_failed", None)
        if callback is None or self._closed:
            return
        for destination in dict.fromkeys(destinations):
            try:
                callback(destination)
            except Exception:
                logger.exception("transport_failed failed for %s", destination)

    # -- housekeeping --------------------------------------------------------------------------
    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ensure_sweep(self) -> None:
        if self._sweep_task is None and not self._closed:
            self._sweep_task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._sweep_interval)
            self.sweep(loop.time())

    def sweep(self, now: float) -> int:
        """Close the connections that broke a time limit; returns how many. Run periodically."""
        closed = 0
        for connection in list(self._connections.values()):
            if connection.closing_since is not None:
                if now - connection.closing_since > CLOSING_LIMIT:
                    connection.abort()
                continue
            if now - connection.last_activity > self._idle_timeout:
                logger.info("closing idle connection %s", connection.address)
            elif (
                connection.incomplete_since is not None
                and now - connection.incomplete_since > self._incomplete_timeout
            ):
                logger.info("closing %s: incomplete message held too long", connection.address)
            else:
                continue
            connection.close()
            closed += 1
        return closed

    async def close(self) -> None:
        """Close every listener and connection and stop every task this manager started."""
        self._closed = True
        tasks = list(self._tasks)
        if self._sweep_task is not None:
            tasks.append(self._sweep_task)
            self._sweep_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._connecting.clear()

        waits: list[asyncio.Future[None]] = []
        for listener in self._listeners:
            if listener.server is not None:
                listener.server.close()
            if listener.udp is not None and listener.udp.transport is not None:
                listener.udp.transport.close()
                waits.append(listener.udp.closed)
            if listener.probe is not None:
                listener.probe.close()
                listener.probe = None
        connections = list(self._connections.values())
        for connection in connections:
            connection.close()
            waits.append(connection.closed)
        if waits:
            _, late = await asyncio.wait(waits, timeout=CLOSE_GRACE)
            if late:
                for connection in connections:
                    if not connection.closed.done():
                        connection.abort()
                await asyncio.wait(late, timeout=CLOSE_GRACE)
        for listener in self._listeners:
            if listener.server is not None:
                await listener.server.wait_closed()
        self._listeners.clear()
        self._udp_by_family.clear()
