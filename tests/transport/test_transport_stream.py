"""Tests for pycc.transport over TCP: framing, connection reuse, keep-alives, time limits,
framing errors, connection caps, slow readers and a clean close. Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import warnings
from collections.abc import Awaitable, Callable

import pytest

from peers.aio import Run, eventually
from pycc.sip.address import Address
from pycc.transport import TransportManager
from pycc.transport.stream import KEEPALIVE_IDLE, enable_keepalive

LOOPBACK = "127.0.0.1"
TIMEOUT = 5.0


def options(call_id: str, body: bytes = b"", content_length: str | None = None) -> bytes:
    length = str(len(body)) if content_length is None else content_length
    return (
        f"OPTIONS sip:pycc@{LOOPBACK} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {LOOPBACK}:5060;branch=z9hG4bK{call_id}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Content-Length: {length}\r\n"
        "\r\n"
    ).encode() + body


def reply_to(request: bytes) -> bytes:
    call_id = request.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0]
    return b"SIP/2.0 200 OK\r\nCall-ID: " + call_id + b"\r\nContent-Length: 0\r\n\r\n"


class Recorder:
    """A TransportUser that keeps what it was given; ``echo`` answers each request."""

    def __init__(self, echo: bool = False) -> None:
        self.manager: TransportManager | None = None
        self.echo = echo
        self.messages: list[tuple[bytes, Address]] = []
        self.broken: list[tuple[str, bytes, Address]] = []
        self.failed: list[Address] = []
        self.inside_send = False

    def message_received(self, data: bytes, source: Address) -> None:
        self.messages.append((data, source))
        if self.echo and self.manager is not None and not data.startswith(b"SIP/2.0"):
            self.manager.send(reply_to(data), source)

    def stream_broken(self, reason: str, head: bytes, source: Address) -> None:
        self.broken.append((reason, head, source))
        assert self.manager is not None
        self.manager.send(b"SIP/2.0 400 " + reason.encode() + b"\r\nContent-Length: 0\r\n\r\n",
                          source)

    def transport_failed(self, destination: Address) -> None:
        assert not self.inside_send, "transport_failed called from inside send()"
        self.failed.append(destination)


def manager_for(user: Recorder, **kwargs: float) -> TransportManager:
    manager = TransportManager(user, **kwargs)  # type: ignore[arg-type]
    user.manager = manager
    return manager


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True when the server closed (or reset) the connection within TIMEOUT."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while await reader.read(65536):
                pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        await writer.wait_closed()




async def with_server(
    user: Recorder,
    body: Callable[[TransportManager, Address], Awaitable[None]],
    **kwargs: float,
) -> None:
    manager = manager_for(user, **kwargs)
    try:
        address = await manager.listen_tcp(LOOPBACK, 0)
        await body(manager, address)
    finally:
        await manager.close()


def test_listen_reports_the_real_port(run: Run) -> None:
    async def body(manager: TransportManager, address: Address) -> None:
        assert address.transport == "tcp"
        assert address.host == LOOPBACK
        assert address.port != 0
        assert manager.local_address("tcp") == address
        with pytest.raises(LookupError):
            manager.local_address("udp")

    run(lambda: with_server(Recorder(), body))


def test_two_messages_in_one_write_are_two_messages(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        _reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        first, second = options("a", b"v=0\r\n"), options("b")
        writer.write(first + second)
        await eventually(lambda: len(user.messages) == 2)
        assert [data for data, _ in user.messages] == [first, second]
        sources = {source for _, source in user.messages}
        assert len(sources) == 1
        (source,) = sources
        assert source.transport == "tcp"
        assert source.host == LOOPBACK
        assert source.port == writer.get_extra_info("sockname")[1]
        assert source.connection is not None
        assert manager.connection_count() == 1
        await close_writer(writer)

    run(lambda: with_server(user, body))


def test_message_split_over_many_writes_is_one_message(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        _reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        message = options("split", b"0123456789" * 20)
        for i in range(0, len(message), 7):
            writer.write(message[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0.001)
        await eventually(lambda: len(user.messages) == 1)
        await asyncio.sleep(0.05)
        assert [data for data, _ in user.messages] == [message]
        await close_writer(writer)

    run(lambda: with_server(user, body))


def test_answer_goes_back_over_the_same_connection(run: Run) -> None:
    user = Recorder(echo=True)

    async def body(manager: TransportManager, address: Address) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        writer.write(options("same"))
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.readuntil(b"\r\n\r\n")
        assert answer == reply_to(options("same"))
        # Still the one inbound connection: nothing was opened towards the client's port.
        assert manager.connection_count() == 1
        await close_writer(writer)

    run(lambda: with_server(user, body))


def test_outgoing_connection_is_opened_then_reused(run: Run) -> None:
    server_user, client_user = Recorder(echo=True), Recorder()

    async def scenario() -> None:
        server = manager_for(server_user)
        client = manager_for(client_user)
        try:
            address = await server.listen_tcp(LOOPBACK, 0)
            assert client.connection_count() == 0
            # Sent before the connection exists: both wait in the queue, in order.
            client.send(options("one"), address)
            client.send(options("two"), address)
            await eventually(lambda: len(client_user.messages) == 2)
            client.send(options("three"), address)
            await eventually(lambda: len(client_user.messages) == 3)

            received = [data for data, _ in server_user.messages]
            assert received == [options("one"), options("two"), options("three")]
            assert len({source.connection for _, source in server_user.messages}) == 1
            assert client.connection_count() == 1
            assert server.connection_count() == 1
            # Answers come back on the client's outgoing connection, named by its id.
            answer_sources = {source for _, source in client_user.messages}
            assert len(answer_sources) == 1
            (answer_source,) = answer_sources
            assert (answer_source.host, answer_source.port) == (LOOPBACK, address.port)
            assert answer_source.connection is not None
            # Sending with that connection id uses it too.
            client.send(options("four"), answer_source)
            await eventually(lambda: len(server_user.messages) == 4)
            assert client.connection_count() == 1
            assert client_user.failed == []
        finally:
            await client.close()
            await server.close()

    run(scenario)


def test_unreachable_destination_is_reported_later(run: Run) -> None:
    user = Recorder()

    async def scenario() -> None:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
        manager = manager_for(user)
        try:
            destination = Address("tcp", LOOPBACK, port)
            user.inside_send = True
            manager.send(options("lost"), destination)
            user.inside_send = False
            await eventually(lambda: user.failed == [destination])
            assert manager.connection_count() == 0
        finally:
            await manager.close()

    run(scenario)


def test_crlf_ping_is_answered_with_pong(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        writer.write(b"\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):
            assert await reader.readexactly(2) == b"\r\n"
        # The ping is not a message, and the connection still frames what follows.
        writer.write(options("after-ping"))
        await eventually(lambda: len(user.messages) == 1)
        assert user.messages[0][0] == options("after-ping")
        await close_writer(writer)

    run(lambda: with_server(user, body))


def test_idle_connection_is_closed(run: Run) -> None:
    async def body(manager: TransportManager, address: Address) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        await eventually(lambda: manager.connection_count() == 1)
        assert await closed_by_peer(reader)
        await eventually(lambda: manager.connection_count() == 0)
        await close_writer(writer)

    run(lambda: with_server(Recorder(), body, idle_timeout=0.2, sweep_interval=0.05))


def test_keepalives_keep_a_connection_open(run: Run) -> None:
    async def body(manager: TransportManager, address: Address) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        for _ in range(8):  # 0.8 s, four times the idle timeout
            writer.write(b"\r\n\r\n")
            async with asyncio.timeout(TIMEOUT):
                assert await reader.readexactly(2) == b"\r\n"
            await asyncio.sleep(0.1)
        assert manager.connection_count() == 1
        await close_writer(writer)

    run(lambda: with_server(Recorder(), body, idle_timeout=0.2, sweep_interval=0.05))


def test_incomplete_message_is_closed_after_its_timeout(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        writer.write(options("liar", b"short body", content_length="9999"))
        started = asyncio.get_running_loop().time()
        assert await closed_by_peer(reader)
        # Not before the limit: the idle timeout is far away, so this was the incomplete one.
        assert asyncio.get_running_loop().time() - started >= 0.25
        assert user.messages == []
        await eventually(lambda: manager.connection_count() == 0)
        await close_writer(writer)

    run(lambda: with_server(user, body, idle_timeout=60.0, incomplete_timeout=0.3,
                            sweep_interval=0.05))


def test_lone_crlf_keepalive_is_not_an_incomplete_message(run: Run) -> None:
    async def body(manager: TransportManager, address: Address) -> None:
        _, writer = await asyncio.open_connection(LOOPBACK, address.port)
        writer.write(b"\r\n")
        await asyncio.sleep(0.5)
        assert manager.connection_count() == 1
        await close_writer(writer)

    run(lambda: with_server(Recorder(), body, idle_timeout=60.0, incomplete_timeout=0.1,
                            sweep_interval=0.05))


def test_framing_error_is_reported_answered_and_closed(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        writer.write(options("good") + options("bad", content_length="-1") + options("never"))
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.read(65536)
        assert answer.startswith(b"SIP/2.0 400 ")
        assert await closed_by_peer(reader)
        assert [data for data, _ in user.messages] == [options("good")]
        assert len(user.broken) == 1
        reason, head, source = user.broken[0]
        assert "Content-Length" in reason
        assert b"Call-ID: bad" in head
        assert source == user.messages[0][1]
        await eventually(lambda: manager.connection_count() == 0)
        await close_writer(writer)

    run(lambda: with_server(user, body))


def test_connections_beyond_the_cap_are_refused(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        clients = [await asyncio.open_connection(LOOPBACK, address.port) for _ in range(2)]
        await eventually(lambda: manager.connection_count() == 2)
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        assert await closed_by_peer(reader)
        assert manager.connection_count() == 2
        # The two admitted connections still work.
        for number, (_, client_writer) in enumerate(clients):
            client_writer.write(options(f"kept{number}"))
        await eventually(lambda: len(user.messages) == 2)
        for _, client_writer in clients:
            await close_writer(client_writer)
        await close_writer(writer)
        # Once they are gone, a new connection is admitted again.
        await eventually(lambda: manager.connection_count() == 0)
        _, late_writer = await asyncio.open_connection(LOOPBACK, address.port)
        late_writer.write(options("late"))
        await eventually(lambda: len(user.messages) == 3)
        await close_writer(late_writer)

    run(lambda: with_server(user, body, max_connections=2))


def test_peer_that_does_not_read_is_dropped(run: Run) -> None:
    user = Recorder()

    async def body(manager: TransportManager, address: Address) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (LOOPBACK, address.port))
            sock.sendall(options("hello"))
            await eventually(lambda: len(user.messages) == 1)
            source = user.messages[0][1]
            chunk = b"x" * 16384
            sent = 0
            while manager.connection_count() and sent < 64 * 1024 * 1024:
                manager.send(chunk, source)
                sent += len(chunk)
                await asyncio.sleep(0)
            assert manager.connection_count() == 0
            await eventually(lambda: user.failed != [])
            assert user.failed[0].connection == source.connection
        finally:
            sock.close()

    run(lambda: with_server(user, body, max_write_buffer=256 * 1024))


def test_close_leaves_no_tasks_and_no_open_transports(run: Run) -> None:
    async def scenario() -> None:
        server_user, client_user = Recorder(echo=True), Recorder()
        server = manager_for(server_user, sweep_interval=0.05)
        client = manager_for(client_user, sweep_interval=0.05)
        address = await server.listen_tcp(LOOPBACK, 0)
        await server.listen_udp(LOOPBACK, 0)
        await client.listen_udp(LOOPBACK, 0)
        client.send(options("x"), address)
        await eventually(lambda: len(client_user.messages) == 1)
        reader, writer = await asyncio.open_connection(LOOPBACK, address.port)
        await eventually(lambda: server.connection_count() == 2)
        client.send(options("y"), Address("tcp", LOOPBACK, address.port))

        await client.close()
        await server.close()
        assert server.connection_count() == 0
        assert client.connection_count() == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert await closed_by_peer(reader)
        await close_writer(writer)
        # A closed manager drops what it is given.
        client.send(options("z"), address)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(scenario)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_keepalive_probes_are_enabled() -> None:
    with socket.socket() as sock:
        enable_keepalive(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE
    enable_keepalive(None)
