"""The UDP sockets of one RTP stream on pycc: an even RTP port and RTCP on the next one.

RFC 3550 §11 puts RTP on an even port and RTCP one above. Both sockets are read from the
event loop's reader callback, one datagram of at most 4 KiB per wake-up: stock asyncio's
datagram protocol would allocate a 256 KiB buffer for every read, which costs more than the
relay of the packet itself. Sending is a non-blocking ``sendto``; a full socket buffer drops
the packet (counted), as a router would, rather than queueing audio that would arrive too late
anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

__all__ = ["MAX_DATAGRAM", "RtpSocketPair"]

#: Larger than any RTP packet on an Ethernet path (1500-byte MTU) with room for jumbo video
#: fragments; a bigger datagram is truncated and then fails the RTP checks.
MAX_DATAGRAM = 4096

Receiver = Callable[[bytes, tuple[str, int], bool], None]


class RtpSocketPair:
    """RTP and RTCP sockets bound to ``host:port`` and ``host:port + 1``.

    ``receive(data, source, on_rtcp_port)`` is called for every datagram. Raises
    :class:`OSError` when either port cannot be bound (the caller tries another pair).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        receive: Receiver,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.port = port
        self._loop = loop
        self._receive = receive
        self.send_errors = 0
        self._rtp = socket.socket(family, socket.SOCK_DGRAM)
        self._rtcp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            for sock, number in ((self._rtp, port), (self._rtcp, port + 1)):
                sock.setblocking(False)
                sock.bind((host, number))
        except BaseException:
            self._rtp.close()
            self._rtcp.close()
            raise
        loop.add_reader(self._rtp.fileno(), self._drain, self._rtp, False)
        loop.add_reader(self._rtcp.fileno(), self._drain, self._rtcp, True)
        self._closed = False

    def _drain(self, sock: socket.socket, on_rtcp_port: bool) -> None:
        # One datagram per wake-up: a stream brings one packet per packet time, and trying a
        # second read would almost always end in EAGAIN, whose exception costs more than the
        # relay itself. The loop's readiness is level-triggered, so a backlog is still read.
        try:
            data, source = sock.recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # An ICMP port-unreachable from an earlier send surfaces here on Linux; it says
            # nothing about this socket, which stays usable.
            return
        if len(source) > 2:  # IPv6: (host, port, flowinfo, scope)
            source = (source[0], source[1])
        self._receive(data, source, on_rtcp_port)

    def rtp_fileno(self) -> int:
        """The RTP socket's descriptor (handed to a relay worker, `pycc.media.offload`)."""
        return self._rtp.fileno()

    def pause_rtp(self) -> None:
        """Stop reading the RTP socket: another process reads it meanwhile."""
        if not self._closed:
            self._loop.remove_reader(self._rtp.fileno())

    def resume_rtp(self) -> None:
        """Read the RTP socket again. The port is this socket's alone again: a relay worker
        shares it (SO_REUSEPORT) with a socket connected to the party while it carries the
        stream, and one that died could not say it stopped."""
        if not self._closed:
            with contextlib.suppress(OSError):
                self._rtp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
            self._loop.add_reader(self._rtp.fileno(), self._drain, self._rtp, False)

    def send_rtp(self, data: bytes, destination: tuple[str, int]) -> None:
        self._send(self._rtp, data, destination)

    def send_rtcp(self, data: bytes, destination: tuple[str, int], *, mux: bool) -> None:
        """RTCP leaves from the RTP port when multiplexed (RFC 5761 §4), else from port + 1."""
        self._send(self._rtp if mux else self._rtcp, data, destination)

    def _send(self, sock: socket.socket, data: bytes, destination: tuple[str, int]) -> None:
        try:
            sock.sendto(data, destination)
        except OSError:
            self.send_errors += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in (self._rtp, self._rtcp):
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock.fileno())
            sock.close()
