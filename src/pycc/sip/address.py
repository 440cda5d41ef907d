"""Where a SIP message came from or goes to: transport, host, port and, for streams, the
connection it travels on (RFC 3261 §18: responses go back over the request's connection)."""

from __future__ import annotations

from dataclasses import dataclass

#: Transports pycc speaks, lower case as in a ``transport=`` URI parameter.
TRANSPORTS = ("udp", "tcp", "tls")
RELIABLE = frozenset({"tcp", "tls"})


@dataclass(frozen=True, slots=True)
class Address:
    """A transport address; ``connection`` names a live stream connection when there is one."""

    transport: str
    host: str
    port: int
    connection: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def without_connection(self) -> Address:
        return Address(self.transport, self.host, self.port)

    def __str__(self) -> str:
        return f"{self.transport}:{self.host_port}"
