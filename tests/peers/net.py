"""Loopback port helpers for the integration tests.

Every real peer the tests start (pycc itself, SIPp, baresip, Kamailio) listens on 127.0.0.1 at a
port chosen here, so several tests can run side by side without colliding, in one process or
in several (pytest-xdist workers draw from separate parts of the port pool).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from pathlib import Path
from typing import Literal

from .parallel import worker_slot

LOOPBACK = "127.0.0.1"

PortKind = Literal["udp", "tcp", "both"]

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
# When pytest-xdist runs the tests in several processes, each draws from its own stripes of the
# pool: two processes that both found a port free could otherwise hand it to two peers before
# either has bound it, and one could reuse a port the other's peer has only just left. Stripes
# are wide enough for the largest RTP port block a test asks for.
_STRIPE = 1000


def port_pool(worker: int = 0, workers: int = 1, ephemeral_low: int = 32768) -> list[int]:
    """The loopback ports ``free_port`` hands out in xdist worker ``worker`` of ``workers``:
    10000 up to the ephemeral range, less pycc's default RTP range, in stripes of 1000."""
    return [
        p for p in range(10000, min(ephemeral_low, 65536))
        if not 20000 <= p <= 20999 and (p // _STRIPE) % workers == worker
    ]


_POOL = port_pool(*worker_slot(), _EPHEMERAL_LOW)
# Ports are handed out in order round the pool from a random start, so a port comes back only
# after every other one has had its turn: a port in TIME_WAIT or still held by a slow-to-die
# child of an earlier test would make a later test flaky.
_cursor = random.randrange(len(_POOL)) if _POOL else 0
_lock = threading.Lock()


def free_port(kind: PortKind = "both", *, count: int = 1) -> int:
    """Return a port on 127.0.0.1 that is free for ``kind`` (UDP, TCP or both).

    With ``count > 1`` the ports ``port .. port + count - 1`` are all free (baresip, for
    instance, listens for TLS one port above its UDP/TCP port).
    """
    global _cursor
    if count < 1:
        raise ValueError(f"free_port: count must be at least 1, not {count}")
    if not _POOL:
        return _kernel_free_port(kind, count)
    with _lock:
        for _ in range(len(_POOL)):
            first, last = _cursor, _cursor + count - 1
            # A block is consecutive entries of the pool that are consecutive ports too.
            if last < len(_POOL) and _POOL[last] - _POOL[first] == count - 1:
                port = _POOL[first]
                if all(_can_bind(p, kind) for p in range(port, port + count)):
                    _cursor = (last + 1) % len(_POOL)
                    return port
            _cursor = (first + 1) % len(_POOL)
    raise RuntimeError(f"no free {kind} port block of {count} on {LOOPBACK}")


def port_was_taken(log: str) -> bool:
    """Whether a program's log says a port it was given was bound by someone else first (a
    port free_port found can go to another process before the program binds it)."""
    return "address already in use" in log.lower()


def _kernel_free_port(kind: PortKind, count: int) -> int:
    # Only when the ephemeral range leaves no pool below it (an unusual kernel setting).
    for _ in range(500):
        port = _kernel_port(kind)
        if port + count - 1 <= 65535 and all(
            _can_bind(p, kind) for p in range(port, port + count)
        ):
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
