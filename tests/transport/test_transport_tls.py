"""Tests for pycc.transport.tls and SIP over TLS: the self-signed certificate, the contexts, and
a message round trip through a TLS listener. Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from peers.aio import Run, eventually
from pycc.sip.address import Address
from pycc.transport import (
    TransportManager,
    client_ssl_context,
    make_self_signed_certificate,
    server_ssl_context,
)

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "pycc.crt", directory / "pycc.key"
    make_self_signed_certificate(cert, key)
    return cert, key


def options(call_id: str) -> bytes:
    return (
        "OPTIONS sips:pycc@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK{call_id}\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


class Recorder:
    def __init__(self, echo: bool = False) -> None:
        self.manager: TransportManager | None = None
        self.echo = echo
        self.messages: list[tuple[bytes, Address]] = []
        self.failed: list[Address] = []

    def message_received(self, data: bytes, source: Address) -> None:
        self.messages.append((data, source))
        if self.echo and self.manager is not None and not data.startswith(b"SIP/2.0"):
            self.manager.send(b"SIP/2.0 200 OK\r\n" + data.split(b"\r\n", 1)[1], source)

    def stream_broken(self, reason: str, head: bytes, source: Address) -> None:
        raise AssertionError(f"unexpected framing error: {reason}")

    def transport_failed(self, destination: Address) -> None:
        self.failed.append(destination)




def test_self_signed_certificate_names_the_hosts(certificate: tuple[Path, Path]) -> None:
    cert_path, key_path = certificate
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    common_name = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert common_name[0].value == "pycc"
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=3640) < lifetime <= datetime.timedelta(days=3651)


def test_certificate_with_custom_names_replaces_a_loose_key(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    key_path.write_bytes(b"old")
    key_path.chmod(0o644)
    make_self_signed_certificate(cert_path, key_path, "switch.pycc.test", ["switch.pycc.test"])
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["switch.pycc.test"]
    # No temporary key file left behind.
    assert set(tmp_path.iterdir()) == {cert_path, key_path}


def test_client_contexts() -> None:
    lax = client_ssl_context()
    assert lax.verify_mode == ssl.CERT_NONE
    assert not lax.check_hostname
    strict = client_ssl_context(verify=True)
    assert strict.verify_mode == ssl.CERT_REQUIRED
    assert strict.check_hostname
    assert strict.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_listen_tls_needs_a_server_context(run: Run) -> None:
    async def scenario() -> None:
        manager = TransportManager(Recorder())
        try:
            with pytest.raises(ValueError):
                await manager.listen_tls("127.0.0.1", 0)
        finally:
            await manager.close()

    run(scenario)


def test_tls_round_trip_between_managers(run: Run, certificate: tuple[Path, Path]) -> None:
    server_user, client_user = Recorder(echo=True), Recorder()

    async def scenario() -> None:
        server = TransportManager(server_user, ssl_server=server_ssl_context(*certificate))
        client = TransportManager(client_user, ssl_client=client_ssl_context(verify=False))
        server_user.manager = server
        try:
            address = await server.listen_tls("127.0.0.1", 0)
            assert address.transport == "tls"
            assert server.local_address("tls") == address
            client.send(options("one"), address)
            client.send(options("two"), address)
            await eventually(lambda: len(client_user.messages) == 2)
            assert [data for data, _ in server_user.messages] == [options("one"), options("two")]
            source = server_user.messages[0][1]
            assert source.transport == "tls"
            assert source.connection is not None
            assert client.connection_count() == 1
            assert client_user.failed == []
        finally:
            await client.close()
            await server.close()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario)


def test_certificate_verifies_for_the_loopback_address(
    run: Run, certificate: tuple[Path, Path]
) -> None:
    user = Recorder(echo=True)
    cert_path, _ = certificate

    async def scenario() -> None:
        server = TransportManager(user, ssl_server=server_ssl_context(*certificate))
        user.manager = server
        try:
            address = await server.listen_tls("127.0.0.1", 0)
            context = client_ssl_context(verify=True, cafile=cert_path)
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", address.port, ssl=context, server_hostname="127.0.0.1"
            )
            writer.write(b"\r\n\r\n" + options("verified"))
            async with asyncio.timeout(TIMEOUT):
                assert await reader.readexactly(2) == b"\r\n"
                answer = await reader.readuntil(b"\r\n\r\n")
            assert answer.startswith(b"SIP/2.0 200 OK\r\n")
            writer.close()
            await writer.wait_closed()
        finally:
            await server.close()

    run(scenario)


def test_unverifiable_server_is_reported(run: Run, certificate: tuple[Path, Path]) -> None:
    server_user, client_user = Recorder(), Recorder()

    async def scenario() -> None:
        server = TransportManager(server_user, ssl_server=server_ssl_context(*certificate))
        # Verifying against the system store: a self-signed certificate is not trusted.
        client = TransportManager(client_user, ssl_client=client_ssl_context(verify=True))
        try:
            address = await server.listen_tls("127.0.0.1", 0)
            client.send(options("distrust"), address)
            await eventually(lambda: client_user.failed == [address])
            assert server_user.messages == []
            assert client.connection_count() == 0
        finally:
            await client.close()
            await server.close()

    run(scenario)
