"""SIP messages: the request and response model, the parser and the serializer.

Implements RFC 3261 §7 (message format, start lines, header folding, Content-Length framing
§18.3 for datagrams), §8.2.6 (building a response), §21 (reason phrases) and the validation
RFC 4475 asks of a robust element: each malformed request is answered with the status the RFC
names (400, 505, 501, 513), a malformed response is dropped. Limits on message size, header
count and line length protect the server; each answers with 513 and a reason naming the limit.

The body is bytes and is never decoded; header text is decoded as UTF-8 with surrogate escapes,
so any octets survive a parse/serialize round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycc.sip.errors import SipParseError
from pycc.sip.headers import (
    CANONICAL,
    SINGLE_HEADERS,
    CSeq,
    Headers,
    NameAddr,
    Via,
    is_header_name,
    is_token,
    parse_uint,
)
from pycc.sip.ids import token_hex
from pycc.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, UriError, parse_uri

SIP_VERSION = "SIP/2.0"

#: Methods pycc knows (RFC 3261, 3262, 3311, 3515, 3903, 6086, 6665, 3428).
KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO",
    "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH",
})

REASONS: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    429: "Provide Referrer Identity", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the parser accepts; each breach is answered with 513."""

    max_message: int = 65_535
    max_headers: int = 256
    max_line: int = 16_384
    max_body: int = 60_000


DEFAULT_LIMITS = Limits()


@dataclass(slots=True, eq=False)
class Message:
    """What requests and responses share: headers, body and the typed header views."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # -- typed views, cached on the header container ----------------------------------------
    @property
    def vias(self) -> list[Via]:
        return self.headers.cached("via", lambda: [Via.parse(v) for v in self._list("via")])

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Via header")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        return self.headers.cached("from", lambda: NameAddr.parse(self._single("from"), "From"))

    @property
    def to(self) -> NameAddr:
        return self.headers.cached("to", lambda: NameAddr.parse(self._single("to"), "To"))

    @property
    def call_id(self) -> str:
        return self._single("call-id").strip()

    @property
    def cseq(self) -> CSeq:
        return self.headers.cached("cseq", lambda: CSeq.parse(self._single("cseq")))

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("max-forwards")
        return None if value is None else parse_uint(value, "Max-Forwards", 255)

    @property
    def expires(self) -> int | None:
        value = self.headers.get("expires")
        return None if value is None else parse_uint(value, "Expires")

    @property
    def contact_is_star(self) -> bool:
        values = self.headers.values("contact")
        return len(values) == 1 and values[0] == "*"

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; empty for ``Contact: *`` (check `contact_is_star`)."""

        def compute() -> list[NameAddr]:
            if self.contact_is_star:
                return []
            return [NameAddr.parse(v, "Contact") for v in self._list("contact")]

        return self.headers.cached("contact", compute)

    @property
    def routes(self) -> list[NameAddr]:
        return self.headers.cached(
            "route", lambda: [NameAddr.parse(v, "Route") for v in self._list("route")]
        )

    @property
    def record_routes(self) -> list[NameAddr]:
        return self.headers.cached(
            "record-route",
            lambda: [NameAddr.parse(v, "Record-Route") for v in self._list("record-route")],
        )

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def option_tags(self, name: str) -> set[str]:
        """Option tags of Supported, Require, Proxy-Require or Unsupported, lower-cased."""
        return {v.strip().lower() for v in self.headers.values(name) if v.strip()}

    def _single(self, key: str) -> str:
        values = self.headers.lines_of(key)
        if not values:
            raise SipParseError(f"Missing {key_title(key)} header")
        if len(values) > 1:
            raise SipParseError(f"Multiple {key_title(key)} headers")
        return values[0]

    def _list(self, key: str) -> list[str]:
        values = self.headers.values(key)
        if any(not v for v in values):
            raise SipParseError(f"Empty value in {key_title(key)} header")
        return values

    # -- serialization ----------------------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialize with a Content-Length that matches the body."""
        lines = [self.start_line()]
        wrote_length = False
        for key, name, value in self.headers.entries():
            if key == "content-length":
                if wrote_length:
                    continue
                value = str(len(self.body))
                wrote_length = True
            lines.append(f"{name}: {value}")
        if not wrote_length:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


@dataclass(slots=True, eq=False)
class Request(Message):
    method: str = "OPTIONS"
    uri: Uri = field(default_factory=lambda: parse_uri("sip:invalid"))

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


@dataclass(slots=True, eq=False)
class Response(Message):
    status: int = 200
    reason: str = "OK"

    def start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def key_title(key: str) -> str:
    return CANONICAL.get(key, key)


# -- parsing ---------------------------------------------------------------------------------


def parse_message(
    data: bytes,
    *,
    datagram: bool = True,
    limits: Limits = DEFAULT_LIMITS,
    validate: bool = True,
) -> Request | Response:
    """Parse one SIP message.

    ``datagram`` selects RFC 3261 §18.3 framing for UDP: a missing Content-Length means the
    rest of the datagram, a shorter one means trailing octets are ignored, a longer one is an
    error. Stream transports hand over exactly one message cut by :mod:`pycc.sip.framing`.
    Raises `SipParseError` carrying the status to answer, or ``None`` to drop.
    """
    if len(data) > limits.max_message:
        raise SipParseError("Message Too Large", 513, is_request=not data.startswith(b"SIP/"))
    # RFC 3261 §7.5: ignore CRLFs before the start line.
    start = 0
    while data.startswith(b"\r\n", start) or data.startswith(b"\n", start):
        start += 2 if data[start] == 13 else 1
    end = data.find(b"\r\n\r\n", start)
    sep = 4
    if end < 0:
        end = data.find(b"\n\n", start)
        sep = 2
    if end < 0:
        end = len(data)
        sep = 0
    head = data[start:end].decode("utf-8", "surrogateescape")
    raw_body = data[end + sep :]
    # CRLF is the rule; bare LF line ends are tolerated (each line is stripped of a CR).
    lines = head.split("\r\n") if head.count("\n") == head.count("\r\n") else head.split("\n")
    if not lines or not lines[0].strip():
        raise SipParseError("Empty message", None)

    first = lines[0].rstrip("\r")
    is_request = not first.startswith("SIP/")
    headers = _plain_headers(head, lines, limits)
    if headers is None:
        headers = Headers(_header_lines(lines, first, is_request, limits))
    try:
        body = _frame_body(headers, raw_body, datagram, limits)
        msg = _parse_start_line(first, headers, body)
        if validate:
            validate_message(msg)
    except SipParseError as exc:
        exc.raw_headers = list(headers)
        exc.is_request = is_request
        if not is_request:
            exc.status = None  # a malformed response is dropped (RFC 4475 §3.1.2.5, §3.1.2.19)
        raise
    return msg


def _plain_headers(head: str, lines: list[str], limits: Limits) -> Headers | None:
    """The header fields of ``head`` (``lines`` is it split at its line ends) when each line
    is a plain ``name: value``, or None when anything needs `_header_lines`' careful
    reading: folded lines, a stray CR, a name that is no token, a limit reached."""
    count = len(lines) - 1
    carriage_returns = head.count("\r")
    if (
        count < 1
        or count > limits.max_headers
        or len(head) > limits.max_line
        or "\n " in head
        or "\n\t" in head
        # Each line ends in CRLF, or none has a CR: anything else is the careful reader's.
        or (carriage_returns and (carriage_returns != count or head.count("\r\n") != count))
    ):
        return None
    return Headers.read_plain(lines[1:])


def _header_lines(
    lines: list[str], first: str, is_request: bool, limits: Limits
) -> list[tuple[str, str]]:
    """Unfold continuation lines (RFC 3261 §7.3.1) and read the header fields, naming the
    first problem found."""
    raw_headers: list[tuple[str, str]] = []
    problem: SipParseError | None = None
    max_line = limits.max_line
    for line in lines[1:]:
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) > max_line:
            problem = problem or SipParseError("Header Line Too Long", 513)
            continue
        if line[:1] in (" ", "\t"):
            if raw_headers:
                name, value = raw_headers[-1]
                raw_headers[-1] = (name, f"{value} {line.strip()}".strip())
            else:
                problem = problem or SipParseError("Continuation line before any header")
            continue
        if not line:
            continue
        name, colon, value = line.partition(":")
        if name.endswith((" ", "\t")):
            name = name.rstrip(" \t")
        if not colon or not is_header_name(name):
            problem = problem or SipParseError("Malformed header line")
            continue
        raw_headers.append((name, value.strip()))
        if len(raw_headers) > limits.max_headers:
            raise SipParseError(
                "Too Many Header Fields", 513, raw_headers=raw_headers, is_request=is_request
            )
    if len(first) > limits.max_line:
        what = "Request-Line" if is_request else "Status-Line"
        problem = SipParseError(f"{what} Too Long", 513)
    if problem is not None:
        problem.raw_headers = raw_headers
        problem.is_request = is_request
        if not is_request:
            problem.status = None
        raise problem
    return raw_headers


def _frame_body(headers: Headers, raw_body: bytes, datagram: bool, limits: Limits) -> bytes:
    values = headers.get_all("content-length")
    if not values:
        if not datagram and raw_body:
            raise SipParseError("Missing Content-Length on a stream transport")
        length = len(raw_body)  # RFC 3261 §18.3: datagram body runs to its end
    else:
        distinct = {v.strip() for v in values}
        if len(distinct) > 1:
            raise SipParseError("Conflicting Content-Length headers")
        text = distinct.pop()
        if not text.isdigit() or not text.isascii() or len(text) > 9:
            raise SipParseError("Malformed Content-Length")
        length = int(text)
    if length > limits.max_body:
        raise SipParseError("Message Body Too Large", 513)
    if length > len(raw_body):
        raise SipParseError("Content-Length larger than message")
    return raw_body[:length]


def _parse_start_line(line: str, headers: Headers, body: bytes) -> Request | Response:
    if line.startswith("SIP/"):
        # Status-Line: SIP-Version SP Status-Code SP Reason-Phrase (reason may be empty)
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != SIP_VERSION:
            raise SipParseError("Malformed Status-Line", None)
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not "100" <= code <= "699":
            raise SipParseError("Invalid status code", None)
        return Response(headers, body, int(code), parts[2] if len(parts) > 2 else "")
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError("Malformed Request-Line")
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError("Invalid method in Request-Line")
    if version.upper() != SIP_VERSION:
        if version.upper().startswith("SIP/"):
            raise SipParseError("Version Not Supported", 505)
        raise SipParseError("Malformed Request-Line")
    if uri_text.startswith("<"):
        raise SipParseError("Request-URI must not be enclosed in <>")
    try:
        uri = parse_uri(uri_text)
    except UriError as exc:
        raise SipParseError(f"Invalid Request-URI: {exc}") from None
    if isinstance(uri, SipUri) and uri.headers:
        # RFC 4475 §3.1.2.11: escaped headers in a Request-URI are never applied.
        raise SipParseError("Headers not allowed in Request-URI")
    return Request(headers, body, method, uri)


def validate_message(msg: Request | Response) -> None:
    """Check the mandatory header fields (RFC 3261 §8.1.1, §8.2) and their scalar ranges."""
    headers = msg.headers
    if any(key in SINGLE_HEADERS and key != "content-length"
           for key in headers.repeated_keys()):
        # Name the header whose second line comes first.
        seen: set[str] = set()
        for key in headers.line_keys():
            if key in SINGLE_HEADERS and key != "content-length":
                if key in seen:
                    raise SipParseError(f"Multiple {key_title(key)} headers")
                seen.add(key)
    if not msg.vias:
        raise SipParseError("Missing Via header")
    call_id = msg.call_id
    if not call_id or " " in call_id or "\t" in call_id:
        raise SipParseError("Malformed Call-ID")
    msg.from_  # noqa: B018
    msg.to  # noqa: B018
    cseq = msg.cseq
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            if msg.method not in KNOWN_METHODS:
                raise SipParseError("Not Implemented", 501)
            raise SipParseError("CSeq method does not match the Request-Line")
        msg.max_forwards  # noqa: B018
        msg.expires  # noqa: B018
        if msg.method in ("REGISTER", "INVITE", "SUBSCRIBE", "REFER", "UPDATE"):
            for contact in msg.contacts if headers.lines_of("contact") else ():
                if "expires" in contact.params:
                    parse_uint(contact.params["expires"] or "", "Contact expires")
        if headers.lines_of("route"):
            msg.routes  # noqa: B018


# -- building responses ----------------------------------------------------------------------


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6: Via, From, To, Call-ID, CSeq copied."""
    copied = request.headers
    lines = [("Via", value) for value in copied.lines_of("via")]
    for key, name in _COPIED:
        line = copied.get(key)
        if line is not None:
            if key == "to" and to_tag and status > 100 and request.to.tag is None:
                # The To as received plus the tag: a parameter after the URI (in <> or not)
                # is a header parameter (RFC 3261 §20), so appending is exact.
                line = f"{line};tag={to_tag}"
            lines.append((name, line))
    if status == 100:
        stamp = copied.get("timestamp")
        if stamp is not None:
            lines.append(("Timestamp", stamp))
    if extra:
        lines.extend(extra)
    if content_type is not None:
        lines.append(("Content-Type", content_type))
    phrase = reason if reason is not None else REASONS.get(status, "")
    return Response(Headers(lines), body, status, phrase)


_COPIED = (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))


def error_response_for(exc: SipParseError) -> Response | None:
    """The stateless answer to a malformed request, or None when it must be dropped.

    Only the raw header lines are trusted: the Via must be readable to know where to answer.
    """
    if exc.status is None or not exc.is_request or not exc.raw_headers:
        return None
    raw = Headers(exc.raw_headers)
    if (raw.get("cseq") or "").split()[-1:] == ["ACK"]:
        return None  # an ACK is never answered (RFC 3261 §17.2.3)
    via_lines = raw.get_all("via")
    if not via_lines:
        return None
    try:
        # Only the sent-protocol and sent-by must be readable: the answer goes back to the
        # source address, and a malformed Via parameter (RFC 4475 §3.1.2.1 badinv01, §3.2.1
        # badbranch) is itself a problem to answer with 400, not a reason to stay silent.
        Via.parse(raw.values("via")[0].split(";", 1)[0])
    except SipParseError:
        return None
    headers = Headers()
    for value in via_lines:
        headers.add("Via", value)
    for key in ("from", "to", "call-id", "cseq"):
        line = raw.get(key)
        if line is not None:
            if key == "to":
                line = _with_to_tag(line)
            headers.add(key_title(key), line)
    return Response(headers, b"", exc.status, exc.reason)


def _with_to_tag(line: str) -> str:
    """The To of a stateless answer gets a tag when it is readable (RFC 3261 §8.2.6.2)."""
    try:
        to = NameAddr.parse(line, "To")
    except SipParseError:
        return line
    return line if to.tag is not None else str(to.with_tag(token_hex(6)))


def reason_for(status: int) -> str:
    return REASONS.get(status, "")


__all__ = [
    "DEFAULT_LIMITS",
    "KNOWN_METHODS",
    "REASONS",
    "SIP_VERSION",
    "AbsoluteUri",
    "CSeq",
    "Headers",
    "Limits",
    "Message",
    "NameAddr",
    "Request",
    "Response",
    "SipParseError",
    "SipUri",
    "TelUri",
    "Via",
    "error_response_for",
    "make_response",
    "parse_message",
    "reason_for",
    "validate_message",
]
