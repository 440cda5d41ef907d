"""A raw-socket SIP client for tests that must see exactly what pycc puts on the wire.

SIPp and baresip hide the bytes; these helpers do not. They send hand-made or RFC 4475/5118
torture messages from sockets bound on 127.0.0.1, read the answers with a parser of their own
(independent of :mod:`pycc.sip`, so a parser bug cannot hide itself), and answer digest
challenges with :func:`pycc.sip.auth.build_authorization`.

:class:`ThreadedSwitch` runs an in-process :class:`pycc.switch.Switch` on its own event loop in
a background thread, so blocking sockets in the test can talk to it while the test still reaches
the switch's objects (registrar, store, transports).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pycc.config import SwitchConfig
from pycc.sip.auth import build_authorization, new_cnonce, parse_challenge
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch

from .net import LOOPBACK

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sip-torture"

_T = TypeVar("_T")


def load_vector(name: str) -> bytes:
    """The bytes of one torture vector, e.g. ``"wsinv.dat"`` or ``"rfc5118/wire/ipv6-good.dat"``."""
    return (VECTORS / name).read_bytes()


# -- reading and rewriting raw messages --------------------------------------------------------

# The first Via header field (long or compact name) with its folded continuation lines.
_TOP_VIA = re.compile(rb"(?im)^(?:via|v)[ \t]*:(?P<value>[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")
# sent-protocol (LWS allowed around the slashes, RFC 3261 §25.1) then sent-by.
_SENT_BY = re.compile(
    rb"(?P<proto>SIP\s*/\s*[0-9]+\.[0-9]+\s*/\s*[^\s;,]+\s+)"
    rb"(?P<host>\[[^\]]*\]|[^\s;,:]+)(?P<port>\s*:\s*[0-9]+)?"
)
_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(?P<value>[^\r\n]*?)[ \t]*\r?$")


def rewrite_top_via(raw: bytes, host: str, port: int) -> bytes:
    """``raw`` with the sent-by of its top Via replaced by ``host:port``; nothing else changes.

    The torture vectors name hosts such as 192.0.2.15 in their Via. pycc answers a UDP request
    without ``rport`` to the source IP at the Via's port (RFC 3261 §18.2.2), so for tests about
    what the application answers, the sent-by is pointed at the test's own socket.
    """
    via = _TOP_VIA.search(raw)
    if via is None:
        raise ValueError("message has no Via header")
    start, end = via.span("value")
    value, count = _SENT_BY.subn(
        lambda m: m.group("proto") + f"{host}:{port}".encode(), raw[start:end], count=1
    )
    if count != 1:
        raise ValueError("top Via has no readable sent-by")
    return raw[:start] + value + raw[end:]


def call_id_of(raw: bytes) -> str | None:
    match = _CALL_ID.search(raw.split(b"\r\n\r\n", 1)[0])
    return None if match is None else match.group("value").decode("utf-8", "surrogateescape")


#: RFC 3261 §7.3.3 compact header names (and those of the event and refer extensions).
_COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
            "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
            "v": "via", "o": "event", "r": "refer-to", "u": "allow-events"}


@dataclass
class SipMessage:
    """A received message read by the test's own minimal parser (CRLF, folding, compact names)."""

    start_line: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "surrogateescape").split("\r\n")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"malformed header line {line!r}")
            key = name.strip().lower()
            headers.append((_COMPACT.get(key, key), value.strip()))
        return cls(lines[0], headers, body, data)

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        if not self.is_response:
            raise ValueError(f"not a response: {self.start_line!r}")
        return int(self.start_line.split(" ", 2)[1])

    @property
    def reason(self) -> str:
        parts = self.start_line.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    @property
    def request_uri(self) -> str:
        return self.start_line.split(" ")[1]

    def all(self, name: str) -> list[str]:
        """Every value of header ``name``: each line, and comma-separated values split."""
        key = name.lower()
        values: list[str] = []
        for header, value in self.headers:
            if header == key:
                values.extend(split_commas(value))
        return values

    def lines(self, name: str) -> list[str]:
        """The header lines named ``name`` as they are (no splitting at commas)."""
        key = name.lower()
        return [value for header, value in self.headers if header == key]

    def get(self, name: str) -> str | None:
        found = self.lines(name)
        return found[0] if found else None

    def header_names(self) -> list[str]:
        return [name for name, _ in self.headers]

    @property
    def call_id(self) -> str | None:
        return self.get("call-id")

    @property
    def cseq_method(self) -> str:
        return (self.get("cseq") or " ").split()[-1]

    @property
    def to_tag(self) -> str | None:
        match = re.search(r";\s*tag\s*=\s*([^;\s,]+)", self.get("to") or "")
        return None if match is None else match.group(1)


def split_commas(value: str) -> list[str]:
    """Split a header value at the commas outside quotes and ``<>``."""
    parts: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    current: list[str] = []
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


# -- sockets -----------------------------------------------------------------------------------


class UdpPeer:
    """A UDP socket on 127.0.0.1 that sends datagrams and collects the messages that arrive."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, port))
        self.port: int = self.sock.getsockname()[1]
        #: Everything received and not yet taken by a ``wait_*`` call, with its source.
        self.inbox: list[tuple[SipMessage, tuple[str, int]]] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> UdpPeer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def send(self, data: bytes, destination: tuple[str, int]) -> None:
        self.sock.sendto(data, destination)

    def _receive(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, source = self.sock.recvfrom(65535)
        except TimeoutError:
            return False
        if data.strip(b"\r\n"):  # a CRLF keep-alive answer is no message
            self.inbox.append((SipMessage.parse(data), source))
        return True

    def wait_for(self, match: Callable[[SipMessage], bool], timeout: float = 5.0) -> SipMessage:
        """The first message (already received or arriving within ``timeout``) ``match`` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (message, _) in enumerate(self.inbox):
                if match(message):
                    del self.inbox[i]
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [m.start_line for m, _ in self.inbox]
                raise TimeoutError(f"no matching message within {timeout}s; received {seen}")
            self._receive(left)

    def collect(self, duration: float) -> list[SipMessage]:
        """Everything that arrives within ``duration`` seconds (and the inbox), emptied."""
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)
        found = [message for message, _ in self.inbox]
        self.inbox.clear()
        return found

    def response_to(self, call_id: str, cseq_method: str | None = None, *,
                    final: bool = True, timeout: float = 5.0) -> SipMessage:
        """The next response with this Call-ID (and CSeq method); a final one unless told."""

        def match(m: SipMessage) -> bool:
            return (m.is_response and m.call_id == call_id
                    and (cseq_method is None or m.cseq_method == cseq_method)
                    and (not final or m.status >= 200))

        return self.wait_for(match, timeout)

    def request(self, method: str, timeout: float = 5.0) -> SipMessage:
        return self.wait_for(lambda m: not m.is_response and m.method == method, timeout)


class TcpPeer:
    """One TCP connection to pycc; ``read_message`` frames by Content-Length."""

    def __init__(self, port: int, host: str = LOOPBACK) -> None:
        self.sock = socket.create_connection((host, port), timeout=5.0)
        self.port: int = self.sock.getsockname()[1]
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> TcpPeer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_message(self, timeout: float = 5.0) -> SipMessage | None:
        """The next message, or None when the connection is closed first."""
        deadline = time.monotonic() + timeout
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = SipMessage.parse(self._buffer[: head_end + 4])
                length = int(head.get("content-length") or "0")
                end = head_end + 4 + length
                if len(self._buffer) >= end:
                    data, self._buffer = self._buffer[:end], self._buffer[end:]
                    return SipMessage.parse(data)
            chunk = self._recv(deadline)
            if not chunk:
                return None

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """True when pycc closes the connection within ``timeout`` (data before it is kept)."""
        deadline = time.monotonic() + timeout
        try:
            while self._recv(deadline):
                pass
        except TimeoutError:
            return False
        return True

    def _recv(self, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing received in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65535)
        except ConnectionResetError:
            return b""
        self._buffer += chunk
        return chunk


# -- building requests -------------------------------------------------------------------------


def new_tag() -> str:
    return secrets.token_hex(4)


def new_branch() -> str:
    return "z9hG4bK-test-" + secrets.token_hex(6)


@dataclass
class RawRequest:
    """A request the test builds line by line; ``bytes()`` gives it with Content-Length."""

    method: str
    uri: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str, value: str) -> RawRequest:
        self.headers.append((name, value))
        return self

    def without(self, name: str) -> RawRequest:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        return self

    def get(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def __bytes__(self) -> bytes:
        lines = [f"{self.method} {self.uri} SIP/2.0"]
        lines += [f"{n}: {v}" for n, v in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class SipAgent:
    """A phone made of one UDP socket: builds requests and does the digest dance."""

    user: str
    password: str
    server: tuple[str, int]
    peer: UdpPeer = field(default_factory=UdpPeer)
    domain: str = "pycc"
    cseq: int = 0

    @property
    def contact_uri(self) -> str:
        return f"sip:{self.user}@{LOOPBACK}:{self.peer.port}"

    def new_request(self, method: str, uri: str, *, to: str | None = None,
                    from_user: str | None = None, call_id: str | None = None) -> RawRequest:
        self.cseq += 1
        user = from_user or self.user
        target = to or uri
        return RawRequest(method, uri, [
            ("Via", f"SIP/2.0/UDP {LOOPBACK}:{self.peer.port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{user}@{self.domain}>;tag={new_tag()}"),
            ("To", f"<{target}>"),
            ("Call-ID", call_id or f"{secrets.token_hex(8)}@test"),
            ("CSeq", f"{self.cseq} {method}"),
        ])

    def register_request(self, contacts: list[str] | None = None, *, expires: int | None = None,
                         aor_user: str | None = None, call_id: str | None = None) -> RawRequest:
        aor = f"sip:{aor_user or self.user}@{self.domain}"
        request = self.new_request("REGISTER", f"sip:{self.domain}", to=aor, call_id=call_id)
        for contact in contacts if contacts is not None else [f"<{self.contact_uri}>"]:
            request.header("Contact", contact)
        if expires is not None:
            request.header("Expires", str(expires))
        return request

    def send(self, request: RawRequest) -> None:
        self.peer.send(bytes(request), self.server)

    def transact(self, request: RawRequest, *, timeout: float = 5.0) -> SipMessage:
        """Send ``request``; return its final response (no authentication)."""
        self.send(request)
        call_id = request.get("Call-ID")
        assert call_id is not None
        return self.peer.response_to(call_id, request.method, timeout=timeout)

    def authorize(self, request: RawRequest, challenge_response: SipMessage,
                  password: str | None = None, username: str | None = None) -> RawRequest:
        """The same request again, with a new CSeq and branch and the answer to the challenge."""
        proxy = challenge_response.status == 407
        challenge_header = "proxy-authenticate" if proxy else "www-authenticate"
        values = challenge_response.lines(challenge_header)
        if not values:
            raise AssertionError(f"{challenge_response.start_line} carries no challenge")
        challenge = parse_challenge(values[0])
        credentials = build_authorization(
            challenge, request.method, request.uri, username or self.user,
            self.password if password is None else password, 1, new_cnonce(),
        )
        self.cseq += 1
        again = RawRequest(request.method, request.uri, [], request.body)
        for name, value in request.headers:
            lower = name.lower()
            if lower in ("authorization", "proxy-authorization"):
                continue
            if lower == "via":
                value = re.sub(r"branch=[^;]+", f"branch={new_branch()}", value)
            elif lower == "cseq":
                value = f"{self.cseq} {request.method}"
            again.header(name, value)
        again.header("Proxy-Authorization" if proxy else "Authorization", credentials)
        return again

    def transact_auth(self, request: RawRequest, *, password: str | None = None,
                      username: str | None = None, timeout: float = 5.0) -> SipMessage:
        """Send ``request``, answer a 401/407 once, and return the final answer."""
        first = self.transact(request, timeout=timeout)
        if first.status not in (401, 407):
            return first
        if request.method == "INVITE":
            self.ack_failure(request, first)
        again = self.authorize(request, first, password, username)
        return self.transact(again, timeout=timeout)

    def register(self, contacts: list[str] | None = None, *, expires: int | None = None,
                 extra: list[tuple[str, str]] | None = None, aor_user: str | None = None,
                 password: str | None = None) -> SipMessage:
        request = self.register_request(contacts, expires=expires, aor_user=aor_user)
        for name, value in extra or []:
            request.header(name, value)
        return self.transact_auth(request, password=password)

    def ack_failure(self, invite: RawRequest, response: SipMessage) -> None:
        """ACK a non-2xx final answer to ``invite`` (RFC 3261 §17.1.1.3: same branch)."""
        self.peer.send(ack_for_failure(invite.uri, response), self.server)


def ack_for_failure(request_uri: str, response: SipMessage) -> bytes:
    """The ACK for a non-2xx final response: the request's top Via, From, Call-ID, and the
    response's To (with its tag), CSeq number with method ACK (RFC 3261 §17.1.1.3)."""
    vias = response.lines("via")
    seq = (response.get("cseq") or "0").split()[0]
    lines = [f"ACK {request_uri} SIP/2.0", f"Via: {vias[0]}", "Max-Forwards: 70",
             f"From: {response.get('from')}", f"To: {response.get('to')}",
             f"Call-ID: {response.call_id}", f"CSeq: {seq} ACK", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def contact_values(response: SipMessage) -> list[str]:
    return response.all("contact")


def contact_param(contact: str, name: str) -> str | None:
    """A header parameter of a Contact value (after the ``>``)."""
    _, _, params = contact.rpartition(">")
    for part in params.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == name:
            return value.strip()
    return None


def contact_uri(contact: str) -> str:
    start = contact.find("<")
    end = contact.rfind(">")
    return contact[start + 1: end] if start >= 0 else contact.split(";", 1)[0].strip()


# -- an in-process switch on its own thread ----------------------------------------------------


def prepare_data_dir(data_dir: Path, users: list[tuple[str, str]], realm: str = "pycc") -> None:
    """A data directory with the default tenant and ``users`` (the ``pycc init`` essentials)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(make_url(data_dir, None))
    try:
        store.create_all()
        store.ensure_tenant("default", realm)
        for user, password in users:
            if store.get_extension("default", user) is None:
                store.add_extension("default", user, password)
    finally:
        store.close()


class ThreadedSwitch:
    """A :class:`Switch` on a private event loop in a daemon thread.

    ``call(coro_factory)`` runs a coroutine on the switch's loop and waits for its result;
    ``run(fn)`` runs a plain function there (the switch's objects belong to that loop).
    """

    def __init__(self, config: SwitchConfig) -> None:
        self.config = config
        self.switch = Switch(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="pycc-switch")
        self._running = False

    def start(self) -> ThreadedSwitch:
        self._thread.start()
        self._running = True
        try:
            self.call(self.switch.start)
        except BaseException:
            self.close()
            raise
        return self

    @property
    def udp(self) -> tuple[str, int]:
        address = self.switch.addresses["udp"]
        return (address.host, address.port)

    @property
    def tcp_port(self) -> int:
        return self.switch.addresses["tcp"].port

    def call(self, factory: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 30.0) -> _T:
        future: Future[_T] = asyncio.run_coroutine_threadsafe(factory(), self.loop)
        return future.result(timeout)

    def run(self, fn: Callable[[], _T], timeout: float = 10.0) -> _T:
        async def wrapper() -> _T:
            return fn()

        return self.call(wrapper, timeout)

    def stop(self) -> None:
        if self._running:
            self.call(self.switch.stop)
        self.close()

    def close(self) -> None:
        if self._running:
            self._running = False
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def __enter__(self) -> ThreadedSwitch:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def switch_config(data_dir: Path, **settings: Any) -> SwitchConfig:
    """Settings for a test switch: 127.0.0.1, free ports, no TLS, short timers."""
    base: dict[str, Any] = {
        "data_dir": data_dir, "bind": LOOPBACK, "sip_port": 0, "sips_port": -1,
        "secret": "pycc-test-secret", "ring_timeout": 10.0, "node": "test",
    }
    base.update(settings)
    return SwitchConfig(**base)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0,
               interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def iter_vectors() -> Iterator[str]:
    """Every vector file name relative to :data:`VECTORS` (the RFC 5118 ones in wire form)."""
    for path in sorted(VECTORS.glob("*.dat")):
        yield path.name
    for path in sorted((VECTORS / "rfc5118" / "wire").glob("*.dat")):
        yield f"rfc5118/wire/{path.name}"


def respond_to(request: SipMessage, status: int, reason: str, *, to_tag: str | None = None,
               extra: list[tuple[str, str]] | None = None) -> bytes:
    """A response to a request pycc sent: its Vias, From, To (tagged), Call-ID and CSeq."""
    to = request.get("to") or ""
    if to_tag is not None and request.to_tag is None:
        to = f"{to};tag={to_tag}"
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in request.lines("via")]
    lines += [f"From: {request.get('from')}", f"To: {to}", f"Call-ID: {request.call_id}",
              f"CSeq: {request.get('cseq')}"]
    lines += [f"{name}: {value}" for name, value in extra or []]
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


SDP_OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def invite_request(caller: SipAgent, callee: str) -> RawRequest:
    """An INVITE from ``caller`` to extension ``callee`` with a small SDP offer."""
    request = caller.new_request("INVITE", f"sip:{callee}@{caller.domain}")
    request.header("Contact", f"<{caller.contact_uri}>")
    request.header("Content-Type", "application/sdp")
    request.body = SDP_OFFER
    return request
