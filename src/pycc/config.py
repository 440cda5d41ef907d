"""The switch's settings: the data directory's ``pycc.toml``, overridden by CLI options.

A data directory holds ``pycc.toml``, the SQLite database ``pycc.db`` (unless a database URL
is given) and the TLS certificate and key that ``pycc init`` creates.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CONFIG_FILE = "pycc.toml"
DEFAULT_TENANT = "default"
DEFAULT_REALM = "pycc"


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    data_dir: Path = Path("data")
    bind: str = "0.0.0.0"
    sip_port: int = 5060
    sips_port: int = 5061
    http_port: int = 8080
    rtp_ports: str = "20000-20999"
    #: Seconds without RTP from a party that should be sending before its call is hung up
    #: (0 disables the check).
    rtp_timeout: float = 60.0
    #: Record every answered call (stereo WAV or Ogg Opus under ``recordings_dir``).
    record_calls: bool = False
    recordings_dir: str = "recordings"
    recording_format: str = "wav"
    #: Numbers pycc answers itself, each with a built-in service: "echo",
    #: "conference:NAME", "tone:NAME" (ringback, busy, hold, ...), "play:FILE".
    applications: dict[str, str] = field(default_factory=dict)
    db_url: str | None = None
    tenant: str = DEFAULT_TENANT
    realm: str = DEFAULT_REALM
    #: Extra host names and addresses under which phones reach this switch.
    domains: tuple[str, ...] = ()
    secret: str = ""
    #: Digest algorithms challenged with, in this order (RFC 8760 §2.3). Only MD5 by default:
    #: deployed phones answer the first challenge whatever its algorithm (SIPp), or give up
    #: on a challenge list holding an algorithm they lack (baresip's libre). Set
    #: ``["SHA-256", "MD5"]`` where every phone knows RFC 8760.
    auth_algorithms: tuple[str, ...] = ("MD5",)
    nonce_lifetime: float = 300.0
    ring_timeout: float = 60.0
    #: Failed authentications from one address within ``ban_window`` that ban it.
    ban_failures: int = 10
    ban_window: float = 60.0
    ban_time: float = 600.0
    #: Requests per second allowed from one source address, and the burst above it.
    rate_limit: float = 500.0
    rate_burst: float = 1000.0
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: How long a failed INVITE's transaction absorbs retransmitted answers over UDP
    #: (RFC 3261 Timer D, at least 32 s on the open network).
    timer_d: float = 32.0
    min_expires: int = 60
    max_expires: int = 7200
    tls_cert: str = "tls/cert.pem"
    tls_key: str = "tls/key.pem"
    tcp_idle_timeout: float = 600.0
    node: str = field(default_factory=lambda: os.uname().nodename)

    @property
    def cert_path(self) -> Path:
        return self.data_dir / self.tls_cert

    @property
    def key_path(self) -> Path:
        return self.data_dir / self.tls_key

    @property
    def recordings_path(self) -> Path:
        return self.data_dir / self.recordings_dir

    def with_overrides(self, **changes: Any) -> SwitchConfig:
        """Apply CLI options; ``None`` means "not given"."""
        given = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **given)


_TUPLE_FIELDS = {"domains", "auth_algorithms"}
_KNOWN = {f.name for f in fields(SwitchConfig)}


def load_config(data_dir: Path) -> SwitchConfig:
    """Read ``DATA_DIR/pycc.toml``; raises ConfigError naming a missing file or a bad key."""
    path = data_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path} not found: run 'pycc init --data-dir {data_dir}' first")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in _KNOWN or name == "data_dir":
            raise ConfigError(f"{path}: unknown setting {key!r}")
        if name == "applications" and not (
                isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            raise ConfigError(f'{path}: applications: expected a table of "number" = "service"')
        values[name] = tuple(value) if name in _TUPLE_FIELDS else value
    try:
        return SwitchConfig(data_dir=data_dir, **values)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def write_initial_config(data_dir: Path, *, realm: str = DEFAULT_REALM) -> Path:
    """Write a fresh ``pycc.toml`` with a new secret for the stateless nonces."""
    path = data_dir / CONFIG_FILE
    text = (
        "# pycc settings; command-line options override them.\n"
        f'realm = "{realm}"\n'
        f'tenant = "{DEFAULT_TENANT}"\n'
        f'secret = "{secrets.token_hex(32)}"\n'
        'bind = "0.0.0.0"\n'
        "sip_port = 5060\n"
        "sips_port = 5061\n"
        "http_port = 8080\n"
        'rtp_ports = "20000-20999"\n'
        "ring_timeout = 60\n"
        'auth_algorithms = ["MD5"]  # add "SHA-256" first when every phone supports it\n'
        "rtp_timeout = 60  # seconds without RTP before a call is hung up\n"
        "record_calls = false\n"
        "\n"
        "# Numbers pycc answers itself: echo, conference:NAME, tone:NAME, play:FILE.\n"
        "[applications]\n"
        '"9196" = "echo"\n'
        '"8000" = "conference:main"\n'
    )
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def default_data_dir() -> Path:
    return Path(os.environ.get("PYCC_DATA_DIR", "data"))
