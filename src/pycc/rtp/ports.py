"""The media port range and the allocation of RTP/RTCP port pairs in it.

RFC 3550 §11: RTP takes an even port and RTCP the next odd one (RFC 3605's ``a=rtcp`` or
RFC 5761 multiplexing can change that, but pycc keeps the pair free either way, so a peer that
ignores those attributes still reaches RTCP). Ports are handed out round-robin: a port just
released is the last to be reused, so stray packets of an ended call do not land in a new one.
The allocator is pure: it never binds; the caller's ``is_free(port)`` tries to bind both ports
and says whether it could.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_PORT", "MIN_PORT", "PortAllocator", "PortRange", "PortsExhausted"]

#: Below 1024 are the privileged ports, not for media.
MIN_PORT = 1024
MAX_PORT = 65535


class PortsExhausted(RuntimeError):
    """Every RTP port of the range is in use or could not be bound."""


@dataclass(frozen=True, slots=True)
class PortRange:
    """Inclusive range of UDP ports for media, e.g. 20000-20999."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not MIN_PORT <= self.first <= MAX_PORT or not MIN_PORT <= self.last <= MAX_PORT:
            raise ValueError(
                f"port range {self.first}-{self.last} is outside {MIN_PORT}..{MAX_PORT}"
            )
        if self.first > self.last:
            raise ValueError(f"port range {self.first}-{self.last} is reversed")
        if self.first_rtp_port + 1 > self.last:
            raise ValueError(
                f"port range {self.first}-{self.last} holds no even RTP port with its RTCP "
                "port (odd, the next one) after it"
            )

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """Parse ``FIRST-LAST`` (as in ``--rtp-ports 20000-20999``)."""
        first_text, dash, last_text = text.strip().partition("-")
        if not dash:
            raise ValueError(f"port range {text!r} is not FIRST-LAST")
        try:
            first, last = int(first_text), int(last_text)
        except ValueError:
            raise ValueError(f"port range {text!r}: ports must be numbers") from None
        return cls(first, last)

    @property
    def first_rtp_port(self) -> int:
        return self.first + (self.first & 1)

    def rtp_ports(self) -> range:
        """Every even port whose odd neighbour is in the range too."""
        return range(self.first_rtp_port, self.last, 2)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


class PortAllocator:
    """Hands out even RTP ports of a range round-robin; RTCP is the port + 1."""

    __slots__ = ("_cursor", "_in_use", "_ports")

    def __init__(self, port_range: PortRange) -> None:
        self._ports = port_range.rtp_ports()
        self._cursor = 0
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        """How many pairs the range holds."""
        return len(self._ports)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self, is_free: Callable[[int], bool]) -> int:
        """The next RTP port not in use for which ``is_free(port)`` is true (the caller binds
        port and port + 1 there); raises `PortsExhausted` after trying each port once."""
        ports = self._ports
        count = len(ports)
        for _ in range(count):
            port = ports[self._cursor]
            self._cursor = (self._cursor + 1) % count
            if port in self._in_use:
                continue
            if is_free(port):
                self._in_use.add(port)
                return port
        raise PortsExhausted(
            f"no free RTP port in {ports.start}-{ports.stop}: "
            f"{len(self._in_use)} of {count} in use, the others could not be bound"
        )

    def release(self, port: int) -> bool:
        """Give a port back; False if it was not allocated (releasing twice is harmless)."""
        if port in self._in_use:
            self._in_use.remove(port)
            return True
        return False
