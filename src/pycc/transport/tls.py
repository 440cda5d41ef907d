"""TLS material for SIP over TLS (RFC 3261 §26.2.1, RFC 5630): a self-signed certificate for a
fresh installation, and the server and client ``ssl`` contexts the transports use.

``pycc init`` writes the certificate so that ``pycc serve`` can listen for ``sips:`` at once;
operators replace it with one from their own CA. Both functions that touch files block: call
them before the event loop starts, or from a worker thread.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
VALIDITY = datetime.timedelta(days=3650)
# Peers whose clock runs a little behind must still accept a certificate made a minute ago.
BACKDATE = datetime.timedelta(days=1)


def _subject_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_self_signed_certificate(
    cert_path: Path,
    key_path: Path,
    common_name: str = "pycc",
    hosts: Sequence[str] = DEFAULT_HOSTS,
) -> None:
    """Write a self-signed EC P-256 certificate (PEM) and its private key (PEM, mode 0600).

    The subjectAltName lists every entry of ``hosts``: IP literals as iPAddress, the rest as
    dNSName, so that a client checking the host name (RFC 5922 §7) accepts it.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_subject_alt_names(hosts)), critical=False
        )
    certificate = builder.sign(key, hashes.SHA256())

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, key_pem)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, data: bytes) -> None:
    # Written to a new 0600 file and renamed over the target, so the key is never readable by
    # others, not even for a moment, and an older key file with looser bits is replaced whole.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A context for listening on TLS; TLS 1.2 is the oldest version offered (RFC 8996)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


def client_ssl_context(verify: bool = False, cafile: Path | None = None) -> ssl.SSLContext:
    """A context for connecting out over TLS.

    With ``verify`` the peer's chain is checked against ``cafile`` (or the system store) and its
    name against the host connected to; without it any certificate is accepted, which is what
    SIP phones and trunks with self-signed certificates need.
    """
    if verify:
        context = ssl.create_default_context(cafile=None if cafile is None else str(cafile))
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
