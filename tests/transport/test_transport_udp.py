"""Tests for pycc.transport over UDP: round trips through the listening sockets, CRLF
keep-alives, IPv4 and IPv6 listeners side by side, and failures. Real sockets on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from peers.aio import Run, eventually
from pycc.sip.address import Address
from pycc.transport import TransportManager

TIMEOUT = 5.0


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def options(call_id: str) -> bytes:
    return (
        "OPTIONS sip:pycc@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{call_id}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


class Recorder:
    """A TransportUser that keeps what it was given; ``echo`` answers each request."""

    def __init__(self, echo: bool = False) -> None:
        self.manager: TransportManager | None = None
        self.echo = echo
        self.messages: list[tuple[bytes, Address]] = []
        self.failed: list[Address] = []
        self.inside_send = False

    def message_received(self, data: bytes, source: Address) -> None:
        self.messages.append((data, source))
        if self.echo and self.manager is not None and not data.startswith(b"SIP/2.0"):
            self.manager.send(b"SIP/2.0 200 OK\r\n" + data.split(b"\r\n", 1)[1], source)

    def stream_broken(self, reason: str, head: bytes, source: Address) -> None:
        raise AssertionError("no streams here")

    def transport_failed(self, destination: Address) -> None:
        assert not self.inside_send, "transport_failed called from inside send()"
        self.failed.append(destination)


class MinimalUser:
    """A user without the optional transport_failed method."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def message_received(self, data: bytes, source: Address) -> None:
        self.messages.append(data)

    def stream_broken(self, reason: str, head: bytes, source: Address) -> None:
        raise AssertionError("no streams here")


def test_udp_round_trip_uses_the_listening_sockets(run: Run) -> None:
    server_user, client_user = Recorder(echo=True), Recorder()

    async def scenario() -> None:
        server = TransportManager(server_user)
        client = TransportManager(client_user)
        server_user.manager = server
        try:
            server_address = await server.listen_udp("127.0.0.1", 0)
            client_address = await client.listen_udp("127.0.0.1", 0)
            assert server_address.transport == "udp"
            assert server_address.port != 0
            assert server.local_address("udp") == server_address

            client.send(options("one"), server_address)
            await eventually(lambda: len(client_user.messages) == 1)
            data, source = server_user.messages[0]
            assert data == options("one")
            # Sent from the client's listening socket, so answers reach its Via port.
            assert source == Address("udp", "127.0.0.1", client_address.port)
            answer, answer_source = client_user.messages[0]
            assert answer.startswith(b"SIP/2.0 200 OK\r\n")
            assert answer_source == server_address
            assert client.connection_count() == 0
        finally:
            await client.close()
            await server.close()

    run(scenario)


def test_udp_and_tcp_pair_skips_a_port_taken_for_tcp(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Port 0 for the UDP+TCP pair: when the kernel's free UDP port is busy for TCP, another
    port is tried, and both listeners end up on one number."""
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = int(taken.getsockname()[1])
    real_bind = TransportManager._bind_udp
    tried: list[int] = []

    def bind_busy_first(family: int, sockaddr: tuple[str, int]) -> socket.socket:
        # The first UDP port offered is the one already listening for TCP.
        sock = real_bind(family, (sockaddr[0], busy if not tried else sockaddr[1]))
        tried.append(int(sock.getsockname()[1]))
        return sock

    monkeypatch.setattr(TransportManager, "_bind_udp", staticmethod(bind_busy_first))

    async def scenario() -> None:
        manager = TransportManager(Recorder())
        try:
            udp, tcp = await manager.listen_udp_and_tcp("127.0.0.1", 0)
            assert tried[0] == busy
            assert len(tried) == 2
            assert udp.port == tcp.port != busy
            assert (udp.transport, tcp.transport) == ("udp", "tcp")
        finally:
            await manager.close()

    try:
        run(scenario)
    finally:
        taken.close()


def test_udp_and_tcp_pair_on_a_fixed_busy_port_fails(run: Run) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])

        async def scenario() -> None:
            manager = TransportManager(Recorder())
            try:
                with pytest.raises(OSError):
                    await manager.listen_udp_and_tcp("127.0.0.1", busy)
                # The UDP socket bound before the TCP failure was released.
                with pytest.raises(LookupError):
                    manager.local_address("udp")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
                    again.bind(("127.0.0.1", busy))
            finally:
                await manager.close()

        run(scenario)


def test_crlf_datagrams_are_keepalives_not_messages(run: Run) -> None:
    user = Recorder()

    async def scenario() -> None:
        manager = TransportManager(user)
        try:
            address = await manager.listen_udp("127.0.0.1", 0)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                for keepalive in (b"\r\n\r\n", b"\r\n", b"\r\n\r\n\r\n", b""):
                    peer.sendto(keepalive, ("127.0.0.1", address.port))
                peer.sendto(options("real"), ("127.0.0.1", address.port))
                await eventually(lambda: len(user.messages) == 1)
                await asyncio.sleep(0.05)
            assert [data for data, _ in user.messages] == [options("real")]
        finally:
            await manager.close()

    run(scenario)


def test_user_exception_does_not_close_the_listener(run: Run) -> None:
    class Faulty(Recorder):
        def message_received(self, data: bytes, source: Address) -> None:
            super().message_received(data, source)
            if data == options("boom"):
                raise RuntimeError("user bug")

    user = Faulty()

    async def scenario() -> None:
        manager = TransportManager(user)
        try:
            address = await manager.listen_udp("127.0.0.1", 0)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
                peer.sendto(options("boom"), ("127.0.0.1", address.port))
                await eventually(lambda: len(user.messages) == 1)
                peer.sendto(options("after"), ("127.0.0.1", address.port))
                await eventually(lambda: len(user.messages) == 2)
        finally:
            await manager.close()

    run(scenario)


def test_no_listener_of_the_family_is_reported_later(run: Run) -> None:
    user = Recorder()

    async def scenario() -> None:
        manager = TransportManager(user)
        try:
            await manager.listen_udp("127.0.0.1", 0)
            destination = Address("udp", "::1", 5060)
            user.inside_send = True
            manager.send(options("v6"), destination)
            user.inside_send = False
            assert user.failed == []
            await eventually(lambda: user.failed == [destination])
        finally:
            await manager.close()

    run(scenario)


def test_user_without_transport_failed_is_not_told(run: Run) -> None:
    async def scenario() -> None:
        manager = TransportManager(MinimalUser())  # type: ignore[arg-type]
        try:
            manager.send(options("nowhere"), Address("udp", "127.0.0.1", 5060))
            await asyncio.sleep(0.05)
        finally:
            await manager.close()

    run(scenario)


def test_host_names_are_resolved_without_blocking(run: Run) -> None:
    server_user, client_user = Recorder(), Recorder()

    async def scenario() -> None:
        server = TransportManager(server_user)
        client = TransportManager(client_user)
        try:
            address = await server.listen_udp("127.0.0.1", 0)
            await client.listen_udp("127.0.0.1", 0)
            client.send(options("named"), Address("udp", "localhost", address.port))
            await eventually(lambda: len(server_user.messages) == 1)
        finally:
            await client.close()
            await server.close()

    run(scenario)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv4_and_ipv6_listeners_side_by_side(run: Run) -> None:
    server_user, client_user = Recorder(echo=True), Recorder()

    async def scenario() -> None:
        server = TransportManager(server_user)
        client = TransportManager(client_user)
        server_user.manager = server
        try:
            v4 = await server.listen_udp("127.0.0.1", 0)
            v6 = await server.listen_udp("::1", 0)
            assert v6.host == "::1"
            assert server.local_address("udp", for_host="::1") == v6
            assert server.local_address("udp", for_host="127.0.0.1") == v4
            await client.listen_udp("127.0.0.1", 0)
            client_v6 = await client.listen_udp("::1", 0)

            client.send(options("six"), v6)
            client.send(options("four"), v4)
            await eventually(lambda: len(client_user.messages) == 2)
            sources = {data: source for data, source in server_user.messages}
            assert sources[options("six")] == Address("udp", "::1", client_v6.port)
            assert sources[options("four")].host == "127.0.0.1"
        finally:
            await client.close()
            await server.close()

    run(scenario)


def test_receive_backlog_counts_datagrams_waiting_unread(run: Run) -> None:
    """What the kernel holds for the listener before the loop reads it: the overload guard's
    load signal. Sent while the loop is busy, read once it runs again."""
    user = Recorder()

    async def scenario() -> None:
        manager = TransportManager(user)
        try:
            address = await manager.listen_udp("127.0.0.1", 0)
            assert manager.receive_backlog() == 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for n in range(10):
                    sender.sendto(options(f"queued{n}"), (address.host, address.port))
            # Nothing has run since the sends: all ten wait in the socket's queue.
            waiting = manager.receive_backlog()
            assert waiting >= 10 * len(options("queued0"))
            await eventually(lambda: len(user.messages) == 10)
            assert manager.receive_backlog() == 0
        finally:
            await manager.close()
        assert manager.receive_backlog() == 0  # closed: nothing to read, no error

    run(scenario)
