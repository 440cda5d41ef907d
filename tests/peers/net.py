"""Loopback port helpers for the integration tests.

Every real peer the tests start (pycc itself, SIPp, baresip, Kamailio) listens on 127.0.0.1 at a
port chosen here, so several tests can run side by side without colliding.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from pathlib import Path
from typing import Literal

LOOPBACK = "127.0.0.1"

PortKind = Literal["udp", "tcp", "both"]

# Ports handed out by this process are not handed out again, even after the peer that used them
# has exited: a port in TIME_WAIT or still held by a slow-to-die child would make a later test
# flaky.
_issued: set[int] = set()


def _can_bind(port: int, kind: PortKind) -> bool:
    kinds: list[int] = []
    if kind in ("udp", "both"):
        kinds.append(socket.SOCK_DGRAM)
    if kind in ("tcp", "both"):
        kinds.append(socket.SOCK_STREAM)
    with contextlib.ExitStack() as stack:
        for sock_type in kinds:
            sock = stack.enter_context(socket.socket(socket.AF_INET, sock_type))
            if sock_type == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# Ports are drawn below the kernel's ephemeral range: a port the kernel hands to some outgoing
# connection or port-0 socket between our check and the peer's bind would make a test flaky.
# 20000-20999 is left alone because it is pycc's default RTP range.
_EPHEMERAL_LOW, _ = _ephemeral_range()
_POOL = [p for p in range(10000, min(_EPHEMERAL_LOW, 65536)) if not 20000 <= p <= 20999]
_random = random.Random()


def free_port(kind: PortKind = "both", *, count: int = 1) -> int:
    """Return a port on 127.0.0.1 that is free for ``kind`` (UDP, TCP or both).

    With ``count > 1`` the ports ``port .. port + count - 1`` are all free (baresip, for
    instance, listens for TLS one port above its UDP/TCP port).
    """
    for _ in range(500):
        port = _random.choice(_POOL) if _POOL else _kernel_port(kind)
        block = range(port, port + count)
        if block[-1] > 65535 or any(p in _issued for p in block):
            continue
        if all(_can_bind(p, kind) for p in block):
            _issued.update(block)
            return port
    raise RuntimeError(f"no free {kind} port block of {count} on {LOOPBACK}")


def _kernel_port(kind: PortKind) -> int:
    probe_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, probe_type) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0, *, host: str = LOOPBACK) -> None:
    """Wait until something accepts TCP connections on ``host:port``; raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            last_error = exc
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s ({last_error})")


def udp_bound(port: int, *, host: str = LOOPBACK) -> bool:
    """Return True when some process has bound UDP ``host:port`` (a bind attempt fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def tcp_listening(port: int, *, host: str = LOOPBACK) -> bool:
    """Return True when some process listens on TCP ``host:port``.

    A bind to a port that has a listener fails even with SO_REUSEADDR, so this sends nothing
    (a probing connection would look like a client to the peer).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_udp_port(port: int, timeout: float = 10.0, *, host: str = LOOPBACK) -> None:
    """Wait until some process has bound UDP ``host:port``; raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if udp_bound(port, host=host):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing bound to udp {host}:{port} after {timeout}s")
