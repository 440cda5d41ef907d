"""The switch's settings: the data directory's ``pycc.toml``, overridden by CLI options.

A data directory holds ``pycc.toml``, the SQLite database ``pycc.db`` (unless a database URL
is given) and the TLS certificate and key that ``pycc init`` creates.
"""

from __future__ import annotations

import math
import os
import secrets
import tomllib
import urllib.parse
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CONFIG_FILE = "pycc.toml"
DEFAULT_TENANT = "default"
DEFAULT_REALM = "pycc"
#: The most relay worker processes `SwitchConfig.media_workers` may ask for.
MAX_MEDIA_WORKERS = 64


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


_OAM_NUMBERS: dict[str, tuple[float, float]] = {
    "webhook_timeout": (0.1, 300.0), "disk_free_percent": (0.0, 100.0),
    "disk_free_mb": (0.0, 1e9), "abandon_warning": (0.01, 1.0),
    "alarm_interval": (0.1, 3600.0), "store_timeout": (0.1, 300.0),
}


@dataclass(frozen=True, slots=True)
class OamConfig:
    """The ``[oam]`` table of ``pycc.toml``: health probes and alarms (`pycc.oam`)."""

    #: Every raised and cleared alarm is POSTed here as JSON (http or https); None: no webhook.
    webhook_url: str | None = None
    webhook_timeout: float = 5.0
    #: Further attempts after a failed POST, each after twice the previous pause.
    webhook_retries: int = 3
    #: "Disk nearly full": less free space in the data directory than this percentage of
    #: the disk, or than this many megabytes.
    disk_free_percent: float = 10.0
    disk_free_mb: float = 1024.0
    #: "Abandonment near the limit": a campaign's rolling abandon rate at this share of its
    #: ``abandon_limit``.
    abandon_warning: float = 0.8
    #: Seconds between two rounds of health probes and alarm rules.
    alarm_interval: float = 5.0
    #: Seconds the database has to answer a health probe.
    store_timeout: float = 2.0

    @classmethod
    def from_table(cls, table: object, where: str = "oam") -> OamConfig:
        """Read the ``[oam]`` table; raises ConfigError naming the bad key."""
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table of settings")
        values: dict[str, Any] = {}
        for key, value in table.items():
            name = str(key).replace("-", "_")
            if name == "webhook_url":
                values[name] = _webhook_url(value, f"{where}.{key}")
            elif name == "webhook_retries":
                if isinstance(value, bool) or not isinstance(value, int) or \
                        not 0 <= value <= 20:
                    raise ConfigError(f"{where}.{key}: expected a whole number from 0 to 20")
                values[name] = value
            elif name in _OAM_NUMBERS:
                low, high = _OAM_NUMBERS[name]
                if isinstance(value, bool) or not isinstance(value, int | float) or \
                        not math.isfinite(value) or not low <= value <= high:
                    raise ConfigError(f"{where}.{key}: expected a number from {low:g} to "
                                      f"{high:g}, not {value!r}")
                values[name] = float(value)
            else:
                raise ConfigError(f"{where}: unknown setting {key!r}")
        return cls(**values)


_FILES_NUMBERS: dict[str, tuple[float, float]] = {
    "recordings_keep_days": (0.0, 36500.0), "index_interval": (0.1, 3600.0),
    "retention_interval": (1.0, 86400.0), "prompt_max_mb": (0.001, 1024.0),
}


@dataclass(frozen=True, slots=True)
class FilesConfig:
    """The ``[files]`` table of ``pycc.toml``: recordings and prompts (`pycc.files`)."""

    #: Days a recording is kept before retention deletes it; 0 keeps recordings forever.
    recordings_keep_days: float = 0.0
    #: Per tenant (``[files.tenants.NAME]``), a ``recordings_keep_days`` of its own.
    tenants: dict[str, float] = field(default_factory=dict)
    #: Seconds between two rounds that catalogue the recordings of calls that ended.
    index_interval: float = 5.0
    #: Seconds between two retention rounds.
    retention_interval: float = 3600.0
    #: The largest prompt an upload may carry, in megabytes.
    prompt_max_mb: float = 20.0

    def keep_days(self, tenant: str) -> float:
        """Days ``tenant``'s recordings are kept (0: forever)."""
        return self.tenants.get(tenant, self.recordings_keep_days)

    @classmethod
    def from_table(cls, table: object, where: str = "files") -> FilesConfig:
        """Read the ``[files]`` table; raises ConfigError naming the bad key."""
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table of settings")
        values: dict[str, Any] = {}
        for key, value in table.items():
            name = str(key).replace("-", "_")
            if name == "tenants":
                values[name] = _tenant_keep_days(value, f"{where}.{key}")
            elif name in _FILES_NUMBERS:
                values[name] = _number(value, f"{where}.{key}", *_FILES_NUMBERS[name])
            else:
                raise ConfigError(f"{where}: unknown setting {key!r}")
        return cls(**values)


def _number(value: object, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{where}: expected a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _tenant_keep_days(table: object, where: str) -> dict[str, float]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of tenants")
    days: dict[str, float] = {}
    for tenant, settings in table.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}.{tenant}: expected a table of settings")
        for key, value in settings.items():
            if str(key).replace("-", "_") != "recordings_keep_days":
                raise ConfigError(f"{where}.{tenant}: unknown setting {key!r}")
            days[str(tenant)] = _number(value, f"{where}.{tenant}.{key}",
                                        *_FILES_NUMBERS["recordings_keep_days"])
    return days


def _webhook_url(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # an unclosed IPv6 bracket, for one
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or \
            any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in str(value)):
        raise ConfigError(f"{where}: expected an http:// or https:// URL, not {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    data_dir: Path = Path("data")
    bind: str = "0.0.0.0"
    sip_port: int = 5060
    sips_port: int = 5061
    #: The admin API's port; 0 picks a free one, -1 serves no API (the default for a
    #: switch a program makes; ``pycc init`` writes 8080 for ``pycc serve``).
    http_port: int = -1
    rtp_ports: str = "20000-20999"
    #: Seconds without RTP from a party that should be sending before its call is hung up
    #: (0 disables the check).
    rtp_timeout: float = 60.0
    #: Relay worker processes that carry calls' RTP off the event loop, relayed as it came
    #: or transcoded (`pycc.media.offload`), each its share of the calls: 0 for none, -1 for
    #: one on a machine with two or more cores.
    media_workers: int = field(
        default=-1, metadata={"expected": f"a whole number from -1 to {MAX_MEDIA_WORKERS}"})
    #: How the relay workers are scheduled: "normal"; "high" (nice -10); "realtime" (the
    #: round-robin real-time class, as FreeSWITCH's -rp): a worker then runs the moment a
    #: packet arrives, ahead of ordinary processes. Both need CAP_SYS_NICE (root has it).
    media_priority: str = field(
        default="normal", metadata={"expected": "normal, high or realtime"})
    #: A register worker process that reads and authenticates REGISTERs, and challenges the
    #: first INVITE of a call, on another core (`pycc.ccmanager.register_offload`): 0 for
    #: none, 1 for one, -1 for one on a machine with two or more cores.
    register_workers: int = field(
        default=-1, metadata={"expected": "a whole number from -1 to 1"})
    #: Calls between two phones that are not recorded keep their media between the phones
    #: (the SDP passes through unchanged; pycc carries only the signalling). Such calls
    #: cannot be transferred to a service or listened to, and ``rtp_timeout`` does not end
    #: them. Off by default: phones behind NAT often cannot reach each other directly.
    direct_media: bool = False
    #: The Opus encoder's complexity (0 to 10) where pycc transcodes to Opus: lower values
    #: take less CPU per call (complexity 1 about half of 5's encode time) for a little
    #: quality; unset keeps the codec's default, 5.
    opus_complexity: int | None = field(
        default=None, metadata={"expected": "a whole number from 0 to 10"})
    #: The addresses browsers' WebRTC media may reach pycc at (ICE host candidates); empty:
    #: every non-loopback interface, or 127.0.0.1 on a machine with no other.
    webrtc_addresses: tuple[str, ...] = ()
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
    #: Overload control (`pycc.sip.overload`): calls held at once and new calls per second
    #: (0: no limit), and the bytes of requests waiting unread in the SIP UDP sockets above
    #: which new calls get 503 with ``overload_retry_after`` (0: never), once it has stayed
    #: over for ``overload_grace`` seconds.
    max_calls: int = 0
    max_call_rate: float = 0.0
    overload_backlog: int = 1024 * 1024
    overload_retry_after: int = 1
    overload_grace: float = 0.5
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
    #: Health probes, alarm thresholds and the alarm webhook (the ``[oam]`` table).
    oam: OamConfig = field(default_factory=OamConfig)
    #: Recordings' retention and the catalog's rounds, prompt uploads (the ``[files]`` table).
    files: FilesConfig = field(default_factory=FilesConfig)

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


_TUPLE_FIELDS = {"domains", "auth_algorithms", "webrtc_addresses"}
_KNOWN = {f.name for f in fields(SwitchConfig)}


#: What each plain setting's TOML value must be (a typo such as ``record_calls = "no"``
#: would otherwise be taken as true).
_EXPECTED: dict[str, tuple[tuple[type, ...], str]] = {
    "bool": ((bool,), "true or false"),
    "int": ((int,), "a whole number"),
    "float": ((int, float), "a number"),
    "str": ((str,), "a string"),
    "int | None": ((int,), "a whole number"),
    "str | None": ((str,), "a string"),
    "tuple[str, ...]": ((list,), "a list of strings"),
}


def _check_type(name: str, value: object, where: str) -> None:
    setting = _FIELDS[name]
    expected = _EXPECTED.get(str(setting.type))
    if expected is None:
        return
    types, words = expected
    # A setting with a range names it in its field's metadata.
    words = setting.metadata.get("expected", words)
    wrong = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
    if not wrong and isinstance(value, list):
        wrong = not all(isinstance(item, str) for item in value)
    if wrong:
        raise ConfigError(f"{where}: expected {words}, not {value!r}")


_FIELDS = {f.name: f for f in fields(SwitchConfig)}


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
        if name == "oam":
            values[name] = OamConfig.from_table(value, f"{path}: oam")
            continue
        if name == "files":
            values[name] = FilesConfig.from_table(value, f"{path}: files")
            continue
        if name == "applications" and not (
                isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            raise ConfigError(f'{path}: applications: expected a table of "number" = "service"')
        _check_type(name, value, f"{path}: {key}")
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
        "# Calls between two phones keep their media between the phones (not recorded, no\n"
        "# transfer to a service, no RTP timeout): true only where every phone can reach the\n"
        "# others.\n"
        "direct_media = false\n"
        "# Overload control: calls at once and new calls per second (0: no limit); new calls\n"
        "# get 503 while this many bytes of requests wait unread (0: never refused for it),\n"
        "# once they have for overload_grace seconds.\n"
        "max_calls = 0\n"
        "max_call_rate = 0\n"
        "overload_backlog = 1048576\n"
        "overload_grace = 0.5\n"
        "\n"
        "# Numbers pycc answers itself: echo, conference:NAME, tone:NAME, play:FILE.\n"
        "[applications]\n"
        '"9196" = "echo"\n'
        '"8000" = "conference:main"\n'
        "\n"
        "# Alarms (trunk down, abandonment near the limit, disk nearly full, database down).\n"
        "# [oam]\n"
        '# webhook_url = "https://alerts.example.net/pycc"\n'
        "# disk_free_percent = 10\n"
        "# disk_free_mb = 1024\n"
        "\n"
        "# Recordings are kept this many days (0: forever); per tenant in [files.tenants.NAME].\n"
        "# [files]\n"
        "# recordings_keep_days = 90\n"
    )
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def default_data_dir() -> Path:
    return Path(os.environ.get("PYCC_DATA_DIR", "data"))
