"""SIP trunks: the providers pycc sends outside calls to and receives DIDs from.

A trunk is configured by one entry of the ``trunks`` list of the ``pycc apply`` file
(`TrunkConfig.from_dict`, errors naming the field). At run time `TrunkManager` keeps each
`Trunk`:

- registered when it asks for it (`pycc.ccmanager.trunk_register`, RFC 3261 §10.2);
- watched with OPTIONS (RFC 3261 §11): any answer, even 404 or 405, shows the provider is
  there; ``down_after`` pings in a row without one take the trunk out of service, one answer
  puts it back. A trunk starts in service, and one without pings is always in service;
- counted: ``max_calls`` bounds the calls placed on it at once.

The router asks `TrunkManager.select` for the first usable trunk of a route's list (failover
in the order written) and `TrunkManager.match_source` whether an inbound call comes from an
address a trunk is trusted from without digest. A `Trunk` builds what an outbound INVITE to
it needs: the Request-URI and From (with the trunk's number rewriting, as a border controller
would do it) and credentials when the provider challenges the INVITE.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pycc.ccmanager.trunk_register import (
    DigestClient,
    RequestSender,
    TrunkRegistration,
    account_uri,
    registrar_uri,
)
from pycc.endpoint import SipEndpoint
from pycc.routing.patterns import RoutingError
from pycc.routing.translate import Translation
from pycc.sip.address import TRANSPORTS, Address
from pycc.sip.headers import Headers
from pycc.sip.ids import token_hex
from pycc.sip.message import Request
from pycc.sip.uri import SipUri, UriError, parse_uri

__all__ = [
    "DEFAULT_PORTS",
    "HealthState",
    "IpNetwork",
    "RequestSender",
    "Trunk",
    "TrunkConfig",
    "TrunkConfigError",
    "TrunkManager",
    "trunks_from_list",
]

log = logging.getLogger("pycc.trunks")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS: Final[Mapping[str, int]] = {"udp": 5060, "tcp": 5060, "tls": 5061}

FIELDS: Final = frozenset({
    "name", "host", "transport", "register", "username", "password", "auth_username",
    "realm", "expires", "from_user", "from_domain", "options_interval", "down_after",
    "max_calls", "ips", "translate_caller", "translate_called",
})

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAX_EXPIRES = 0xFFFFFFFF  # delta-seconds (RFC 3261 §20.19)
_MAX_INTERVAL = 86_400.0
#: Numbers left as they are.
NO_TRANSLATION: Final = Translation()


class TrunkConfigError(ValueError):
    """A trunk entry is wrong: ``where`` names the field (``trunks[2].host``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


# --------------------------------------------------------------------------------------------
# Reading an entry


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: object, where: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise TrunkConfigError(where, f"expected text, not {_show(value)}")
    if not empty_ok and not value.strip():
        raise TrunkConfigError(where, "must not be empty")
    bad = next((ch for ch in value if ord(ch) < 0x20 or ord(ch) == 0x7F
                or 0xD800 <= ord(ch) <= 0xDFFF), None)
    if bad is not None:
        raise TrunkConfigError(where, f"control character {bad!r} not allowed")
    return value


def _whole(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrunkConfigError(where, f"expected a whole number, not {_show(value)}")
    if not low <= value <= high:
        raise TrunkConfigError(where, f"must be between {low} and {high}, not {value}")
    return value


def _seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrunkConfigError(where, f"expected a number of seconds, not {_show(value)}")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= _MAX_INTERVAL:
        raise TrunkConfigError(where, f"must be between 0 and {_MAX_INTERVAL:g} seconds, "
                                      f"not {value}")
    return seconds


def _host_port(value: object, where: str) -> tuple[str, int | None]:
    text = _text(value, where).strip()
    if any(ch in text for ch in "@;?,<>\"/ \t") or text.lower().startswith(("sip:", "sips:")):
        raise TrunkConfigError(where, f"expected host or host:port, not {_show(text)}")
    try:
        uri = parse_uri(f"sip:{text}")
    except (UriError, ValueError) as exc:
        raise TrunkConfigError(where, f"{_show(text)} is not a host or host:port: {exc}") from None
    if not isinstance(uri, SipUri) or uri.user is not None or uri.params or uri.headers:
        raise TrunkConfigError(where, f"expected host or host:port, not {_show(text)}")
    if uri.port == 0:
        raise TrunkConfigError(where, "port must be between 1 and 65535")
    return uri.host, uri.port


def _network(value: object, where: str) -> IpNetwork:
    text = _text(value, where).strip()
    if text.startswith("[") and "]" in text:
        # An IPv6 address may be written as in a URI.
        text = text[1:text.index("]")] + text[text.index("]") + 1:]
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise TrunkConfigError(where, f"not an IP address or network: {exc}") from None


def _networks(value: object, where: str) -> tuple[IpNetwork, ...]:
    if isinstance(value, str):
        return (_network(value, where),)
    if not isinstance(value, Sequence):
        raise TrunkConfigError(where, f"expected a list of addresses or networks, not "
                                      f"{_show(value)}")
    return tuple(_network(item, f"{where}[{index}]") for index, item in enumerate(value))


def _translation(value: object, where: str) -> Translation:
    """A list of rewrite steps for one number (`Translation.from_dict`'s step forms)."""
    if isinstance(value, Mapping) and value and set(value) <= {"called", "calling"}:
        raise TrunkConfigError(where, "expected steps for this one number, such as "
                                      "{prepend: '+44'}; called/calling belong to a route")
    try:
        translation = Translation.from_dict(value, where)
    except RoutingError as exc:
        location = exc.field or where
        text = str(exc)
        prefix = f"{location}: "
        raise TrunkConfigError(
            location, text[len(prefix):] if text.startswith(prefix) else text
        ) from None
    except (ValueError, TypeError) as exc:
        raise TrunkConfigError(where, str(exc) or type(exc).__name__) from None
    if translation.needs_pattern:
        raise TrunkConfigError(where, "a replace step needs its own pattern here")
    return translation


def _rewrite(translation: Translation, number: str) -> str:
    return translation.apply(number, "")[0]


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """One trunk as configured. ``host`` is a name or an IP address (no brackets); ``port``
    None means the transport's default. ``ips`` are the sources trusted without digest."""

    name: str
    host: str
    port: int | None = None
    transport: str = "udp"
    register: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    auth_username: str | None = None
    realm: str | None = None
    expires: int = 3600
    from_user: str | None = None
    from_domain: str | None = None
    options_interval: float = 30.0
    down_after: int = 2
    max_calls: int | None = None
    ips: tuple[IpNetwork, ...] = ()
    translate_caller: Translation = NO_TRANSLATION
    translate_called: Translation = NO_TRANSLATION

    @property
    def address(self) -> Address:
        """Where requests to the trunk go."""
        return Address(self.transport, self.host, self.port or DEFAULT_PORTS[self.transport])

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @classmethod
    def from_dict(cls, entry: Mapping[str, object], where: str) -> TrunkConfig:
        """Read one ``trunks`` entry; raises `TrunkConfigError` naming the first bad field."""
        if not isinstance(entry, Mapping):
            raise TrunkConfigError(where, f"expected a mapping of trunk settings, not "
                                          f"{_show(entry)}")
        for key in entry:
            if not isinstance(key, str):
                raise TrunkConfigError(where, f"field names must be text, not {_show(key)}")
            if key not in FIELDS:
                raise TrunkConfigError(f"{where}.{key}",
                                       f"unknown field (known: {', '.join(sorted(FIELDS))})")

        def at(key: str) -> str:
            return f"{where}.{key}"

        def optional_text(key: str) -> str | None:
            value = entry.get(key)
            return None if value is None else _text(value, at(key))

        if entry.get("name") is None:
            raise TrunkConfigError(at("name"), "required")
        name = _text(entry["name"], at("name"))
        if not _NAME.fullmatch(name):
            raise TrunkConfigError(at("name"), f"{_show(name)}: use up to 64 letters, digits, "
                                               "'.', '-' or '_', starting with a letter or digit")
        if entry.get("host") is None:
            raise TrunkConfigError(at("host"), "required")
        host, port = _host_port(entry["host"], at("host"))

        transport = entry.get("transport", "udp")
        if not isinstance(transport, str) or transport.lower() not in TRANSPORTS:
            raise TrunkConfigError(at("transport"), f"expected one of {', '.join(TRANSPORTS)}, "
                                                    f"not {_show(transport)}")
        transport = transport.lower()

        register = entry.get("register", False)
        if not isinstance(register, bool):
            raise TrunkConfigError(at("register"), f"expected true or false, not "
                                                   f"{_show(register)}")
        username = optional_text("username")
        password = None if entry.get("password") is None else \
            _text(entry["password"], at("password"))
        auth_username = optional_text("auth_username") or username
        if register and username is None:
            raise TrunkConfigError(at("username"), "required when register is true")
        if register and password is None:
            raise TrunkConfigError(at("password"), "required when register is true")
        realm = optional_text("realm")
        expires = _whole(entry.get("expires", 3600), at("expires"), 1, _MAX_EXPIRES)
        from_user = optional_text("from_user")
        from_domain = None
        if entry.get("from_domain") is not None:
            domain_host, domain_port = _host_port(entry["from_domain"], at("from_domain"))
            bracketed = f"[{domain_host}]" if ":" in domain_host else domain_host
            from_domain = bracketed if domain_port is None else f"{bracketed}:{domain_port}"

        options_interval = _seconds(entry.get("options_interval", 30), at("options_interval"))
        down_after = _whole(entry.get("down_after", 2), at("down_after"), 1, 1000)
        max_calls = None if entry.get("max_calls") is None else \
            _whole(entry["max_calls"], at("max_calls"), 0, 1_000_000)
        if entry.get("ips") is None:
            ips: tuple[IpNetwork, ...] = ()
            with contextlib.suppress(ValueError):
                ips = (ipaddress.ip_network(host),)
        else:
            ips = _networks(entry["ips"], at("ips"))
        caller = Translation() if entry.get("translate_caller") is None else \
            _translation(entry["translate_caller"], at("translate_caller"))
        called = Translation() if entry.get("translate_called") is None else \
            _translation(entry["translate_called"], at("translate_called"))
        return cls(
            name=name, host=host, port=port, transport=transport, register=register,
            username=username, password=password, auth_username=auth_username, realm=realm,
            expires=expires, from_user=from_user, from_domain=from_domain,
            options_interval=options_interval, down_after=down_after, max_calls=max_calls,
            ips=ips, translate_caller=caller, translate_called=called,
        )


def trunks_from_list(value: object, where: str = "trunks") -> list[TrunkConfig]:
    """Read the whole ``trunks`` list; names must be unique."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TrunkConfigError(where, f"expected a list of trunks, not {_show(value)}")
    configs: list[TrunkConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(value):
        config = TrunkConfig.from_dict(entry, f"{where}[{index}]")
        if config.name in seen:
            raise TrunkConfigError(f"{where}[{index}].name",
                                   f"duplicate trunk name {config.name!r} "
                                   f"(also {where}[{seen[config.name]}])")
        seen[config.name] = index
        configs.append(config)
    return configs


def _registration_key(config: TrunkConfig) -> tuple[object, ...]:
    return (config.register, config.host, config.port, config.transport, config.username,
            config.password, config.auth_username, config.realm, config.expires,
            config.from_domain)


def _health_key(config: TrunkConfig) -> tuple[object, ...]:
    return (config.host, config.port, config.transport, config.options_interval,
            config.down_after, config.from_domain)


# --------------------------------------------------------------------------------------------
# Run time


@dataclass(slots=True)
class HealthState:
    """In service or not, from OPTIONS outcomes: ``down_after`` failures in a row take the
    trunk out, one answer puts it back. Starts in service."""

    down_after: int
    up: bool = True
    failures: int = 0

    def record(self, answered: bool) -> bool:
        """Book one ping; returns whether ``up`` changed."""
        before = self.up
        if answered:
            self.failures = 0
            self.up = True
        else:
            self.failures += 1
            if self.failures >= self.down_after:
                self.up = False
        return self.up != before


class Trunk:
    """One trunk at run time: its configuration, health, registration and call count."""

    def __init__(self, config: TrunkConfig, *, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._clock = clock
        self._config = config
        self.calls = 0
        self.health = HealthState(config.down_after)
        #: Why the last ping failed, while it is down.
        self.health_error: str | None = None
        #: The registration client, for trunks that register.
        self.registration: TrunkRegistration | None = None
        self._digest = self._digest_for(config)
        self._health_task: asyncio.Task[None] | None = None
        self._register_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (f"<Trunk {self.config.name} {'up' if self.up else 'down'} "
                f"calls={self.calls}/{self.config.max_calls}>")

    @staticmethod
    def _digest_for(config: TrunkConfig) -> DigestClient | None:
        user = config.auth_username or config.username
        if user is None or config.password is None:
            return None
        return DigestClient(user, config.password, config.realm)

    @property
    def config(self) -> TrunkConfig:
        return self._config

    def _reconfigure(self, config: TrunkConfig) -> None:
        old = self._config
        self._config = config
        if (old.auth_username, old.username, old.password, old.realm) != \
                (config.auth_username, config.username, config.password, config.realm):
            self._digest = self._digest_for(config)

    # -- state ---------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        """In service: always for a trunk without pings, else as OPTIONS last showed."""
        return self.config.options_interval == 0 or self.health.up

    @property
    def registered(self) -> bool | None:
        """None when the trunk does not register; else whether its binding is current."""
        if not self.config.register:
            return None
        registration = self.registration
        return registration is not None and registration.is_registered(self._clock())

    @property
    def last_error(self) -> str | None:
        registration_error = None if self.registration is None else \
            self.registration.last_error
        return registration_error or (None if self.up else self.health_error)

    @property
    def available(self) -> bool:
        """In service and below max_calls."""
        limit = self.config.max_calls
        return self.up and (limit is None or self.calls < limit)

    # -- calls ---------------------------------------------------------------------------
    def claim(self) -> bool:
        """Count one more call on the trunk; False (and nothing counted) at max_calls."""
        limit = self.config.max_calls
        if limit is not None and self.calls >= limit:
            return False
        self.calls += 1
        return True

    def release(self) -> None:
        """A call claimed on the trunk has ended."""
        if self.calls > 0:
            self.calls -= 1

    def called_number(self, number: str) -> str:
        """``number`` after the trunk's translate_called."""
        return _rewrite(self.config.translate_called, number)

    def caller_number(self, caller: str) -> str:
        """``caller`` after the trunk's translate_caller."""
        return _rewrite(self.config.translate_caller, caller)

    def request_uri(self, number: str) -> SipUri:
        """The Request-URI of an outbound INVITE for ``number`` (translate_called applied)."""
        user = self.called_number(number)
        if not user:
            raise ValueError(f"trunk {self.config.name}: no number left to call "
                             f"(from {number!r})")
        params: dict[str, str | None] = {}
        if self.config.transport != "udp":
            params["transport"] = self.config.transport
        return SipUri("sip", user, None, self.config.host, self.config.port, params)

    def from_header(self, caller: str) -> str:
        """The From value (without tag) of an outbound INVITE: from_user, else ``caller``
        after translate_caller (``anonymous`` when empty), at from_domain, else the host."""
        config = self.config
        user = config.from_user or (self.caller_number(caller) if caller else "") or "anonymous"
        return f"<{account_uri(config, user)}>"

    def authorization(self, challenge_header: str | Sequence[str], method: str, uri: str
                      ) -> str | None:
        """Credentials answering the provider's WWW-/Proxy-Authenticate value(s) for a
        request (``method``, digest ``uri``); None when the trunk has no password or the
        challenge cannot be answered (other realm, unsupported algorithm)."""
        if self._digest is None:
            return None
        values = [challenge_header] if isinstance(challenge_header, str) \
            else list(challenge_header)
        return self._digest.authorization(values, method, uri)

    def snapshot(self) -> dict[str, object]:
        return {
            "name": self.config.name,
            "up": self.up,
            "registered": self.registered,
            "calls": self.calls,
            "max_calls": self.config.max_calls,
            "last_error": self.last_error,
        }


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def options_request(config: TrunkConfig, endpoint: SipEndpoint) -> Request:
    """An OPTIONS ping to the trunk (RFC 3261 §11.1)."""
    uri = registrar_uri(config)
    headers = Headers()
    headers.add("Via", endpoint.via_for(config.address))
    headers.add("Max-Forwards", "70")
    sender = account_uri(config, config.from_user or config.username or "pycc") \
        if config.from_domain else SipUri("sip", "pycc", None, config.host)
    headers.add("From", f"<{sender}>;tag={token_hex(6)}")
    headers.add("To", f"<{uri}>")
    headers.add("Call-ID", f"{token_hex(12)}@pycc")
    headers.add("CSeq", "1 OPTIONS")
    headers.add("Accept", "application/sdp")
    headers.add("User-Agent", endpoint.user_agent)
    return Request(headers, b"", "OPTIONS", uri)


class TrunkManager:
    """All trunks of the switch: registration and health tasks, selection, inbound matching.

    ``request`` sends pycc's own out-of-dialog requests (REGISTER, OPTIONS) and returns the
    final response or None (`SipApplication.request`). ``clock`` dates bindings.
    ``retry_initial``/``retry_max`` bound the back-off of failed registrations;
    ``unregister_timeout`` bounds how long `stop` waits for each unregistration.
    """

    def __init__(
        self,
        endpoint: SipEndpoint,
        request: RequestSender,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_initial: float = 5.0,
        retry_max: float = 300.0,
        unregister_timeout: float = 5.0,
    ) -> None:
        self._endpoint = endpoint
        self._request = request
        self._clock = clock
        self._retry = (retry_initial, retry_max)
        self._unregister_timeout = unregister_timeout
        self._trunks: dict[str, Trunk] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._started = False

    def __repr__(self) -> str:
        return f"<TrunkManager {', '.join(self._trunks) or 'no trunks'}>"

    # -- configuration -------------------------------------------------------------------
    def configure(self, trunks: Sequence[TrunkConfig]) -> None:
        """Make the running trunks match ``trunks``: new ones start, changed ones take their
        new settings (re-registering when the account changed), missing ones unregister."""
        names = [config.name for config in trunks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise TrunkConfigError("trunks", f"duplicate trunk names: {', '.join(duplicates)}")
        wanted = {config.name: config for config in trunks}
        for name in [name for name in self._trunks if name not in wanted]:
            self._remove(self._trunks.pop(name))
        ordered: dict[str, Trunk] = {}
        for config in trunks:
            trunk = self._trunks.get(config.name)
            if trunk is None:
                trunk = Trunk(config, clock=self._clock)
                if config.register:
                    trunk.registration = self._registration(trunk)
                if self._started:
                    self._start_trunk(trunk)
            elif trunk.config != config:
                self._change(trunk, config)
            ordered[config.name] = trunk
        self._trunks = ordered

    def _registration(self, trunk: Trunk) -> TrunkRegistration:
        return TrunkRegistration(trunk.config, self._endpoint, self._request, clock=self._clock,
                                 retry_initial=self._retry[0], retry_max=self._retry[1],
                                 digest=trunk._digest)

    def _start_trunk(self, trunk: Trunk) -> None:
        if trunk.config.options_interval > 0:
            trunk._health_task = self._task(self._watch(trunk), f"health {trunk.config.name}")
        if trunk.registration is not None:
            trunk._register_task = self._task(trunk.registration.run(),
                                              f"register {trunk.config.name}")

    def _change(self, trunk: Trunk, config: TrunkConfig) -> None:
        old = trunk.config
        trunk._reconfigure(config)
        log.info("trunk %s reconfigured", config.name)
        if _health_key(old) != _health_key(config):
            if trunk._health_task is not None:
                trunk._health_task.cancel()
                trunk._health_task = None
            trunk.health = HealthState(config.down_after)
            trunk.health_error = None
            if self._started and config.options_interval > 0:
                trunk._health_task = self._task(self._watch(trunk), f"health {config.name}")
        if _registration_key(old) != _registration_key(config):
            previous, previous_task = trunk.registration, trunk._register_task
            trunk.registration = self._registration(trunk) if config.register else None
            trunk._register_task = None
            if self._started:
                trunk._register_task = self._task(
                    self._replace_registration(previous_task, previous, trunk.registration),
                    f"register {config.name}")
        elif trunk.registration is not None:
            trunk.registration.config = config

    def _remove(self, trunk: Trunk) -> None:
        log.info("trunk %s removed", trunk.config.name)
        if trunk._health_task is not None:
            trunk._health_task.cancel()
            trunk._health_task = None
        if self._started:
            task = self._task(
                self._replace_registration(trunk._register_task, trunk.registration, None),
                f"unregister {trunk.config.name}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        trunk._register_task = None

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start registering and pinging the configured trunks."""
        if self._started:
            return
        self._started = True
        for trunk in self._trunks.values():
            self._start_trunk(trunk)

    async def stop(self) -> None:
        """Stop pinging, remove every registered binding (``Expires: 0``), end the tasks."""
        self._started = False
        tasks: list[asyncio.Task[None]] = []
        for trunk in self._trunks.values():
            for task in (trunk._health_task, trunk._register_task):
                if task is not None:
                    task.cancel()
                    tasks.append(task)
            trunk._health_task = trunk._register_task = None
        await asyncio.gather(*tasks, return_exceptions=True)
        registered = [trunk.registration for trunk in self._trunks.values()
                      if trunk.registration is not None and trunk.registration.registered]
        await asyncio.gather(*(self._unregister(r) for r in registered),
                             return_exceptions=True)
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- queries -------------------------------------------------------------------------
    def get(self, name: str) -> Trunk | None:
        return self._trunks.get(name)

    def __iter__(self) -> Iterator[Trunk]:
        return iter(list(self._trunks.values()))

    def __len__(self) -> int:
        return len(self._trunks)

    def select(self, names: Sequence[str]) -> Trunk | None:
        """The first trunk of ``names`` that is in service and below max_calls (failover in
        the order given); unknown names are skipped. It is not claimed: call `Trunk.claim`."""
        for name in names:
            trunk = self._trunks.get(name)
            if trunk is not None and trunk.available:
                return trunk
        return None

    def match_source(self, ip: str) -> Trunk | None:
        """The trunk whose ``ips`` hold the source address ``ip`` (the most specific network
        when several do, the first configured on a tie); None for other addresses."""
        address = _ip(ip)
        if address is None:
            return None
        best: tuple[int, Trunk] | None = None
        for trunk in self._trunks.values():
            for network in trunk.config.ips:
                if network.version == address.version and address in network and \
                        (best is None or network.prefixlen > best[0]):
                    best = (network.prefixlen, trunk)
        return None if best is None else best[1]

    def snapshot(self) -> list[dict[str, object]]:
        """Each trunk's name, up, registered, calls, max_calls and last_error, for status."""
        return [trunk.snapshot() for trunk in self._trunks.values()]

    # -- tasks ---------------------------------------------------------------------------
    def _task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"trunk {name}")
        task.add_done_callback(self._finished)
        return task

    @staticmethod
    def _finished(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _watch(self, trunk: Trunk) -> None:
        """Ping the trunk every options_interval seconds (from one ping's start to the next,
        or at once when an unanswered ping took longer)."""
        loop = asyncio.get_running_loop()
        while True:
            config = trunk.config
            started = loop.time()
            error: str | None = None
            try:
                response = await self._request(options_request(config, self._endpoint),
                                               config.address)
                if response is None:
                    error = "no answer to OPTIONS"
            except (LookupError, ValueError, OSError) as exc:
                error = f"OPTIONS not sent: {exc}"
            except Exception:
                # A fault of pycc's own counts as a miss rather than ending the checks.
                log.exception("trunk %s: health check failed", config.name)
                error = "internal error"
            if trunk.health.record(error is None):
                if trunk.health.up:
                    log.info("trunk %s is up", config.name)
                else:
                    log.warning("trunk %s is down: %s", config.name, error)
            trunk.health_error = error
            await asyncio.sleep(max(0.0, config.options_interval - (loop.time() - started)))

    async def _replace_registration(
        self,
        previous_task: asyncio.Task[None] | None,
        previous: TrunkRegistration | None,
        following: TrunkRegistration | None,
    ) -> None:
        """End the old registration (its binding removed first, so that it cannot remove
        the new one when the Contact is the same), then run the new one."""
        if previous_task is not None:
            previous_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await previous_task
        if previous is not None and previous.registered:
            await self._unregister(previous)
        if following is not None:
            await following.run()

    async def _unregister(self, registration: TrunkRegistration) -> None:
        try:
            async with asyncio.timeout(self._unregister_timeout):
                await registration.unregister()
        except TimeoutError:
            registration.last_error = "timeout"
            log.warning("trunk %s: no answer to unregistration", registration.config.name)
        except (LookupError, ValueError, OSError) as exc:
            registration.last_error = f"REGISTER not sent: {exc}"
        except Exception:
            log.exception("trunk %s: unregistration failed", registration.config.name)
            registration.last_error = "internal error"
