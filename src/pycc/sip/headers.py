"""SIP header fields: the ordered header container and the typed values the core reads.

Implements RFC 3261 §7.3 (header field format, compact forms §7.3.3, several values in one
field and one field over several lines), §20 (the header fields pycc interprets: Via, From,
To, Contact, CSeq, Route, Record-Route) and §25.1 (quoted strings with escapes, parameters),
with RFC 5118 IPv6 references in Via sent-by and parameters.

Unknown header fields are kept verbatim and in order, so a message relayed by pycc carries
them unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pycc.sip.errors import SipParseError
from pycc.sip.uri import SipUri, Uri, UriError, parse_uri

T = TypeVar("T")

#: RFC 3261 §7.3.3 and later RFCs' compact forms.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_CANONICAL_NAMES = [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity",
    "Identity-Info", "In-Reply-To", "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version",
    "Organization", "Path", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
    "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To", "Referred-By",
    "Reject-Contact", "Reply-To", "Request-Disposition", "Require", "Retry-After", "Route",
    "RSeq", "Server", "Session-Expires", "Subject", "Supported", "Timestamp", "To",
    "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
]
#: Lower-case key to the spelling pycc writes on the wire.
CANONICAL: dict[str, str] = {name.lower(): name for name in _CANONICAL_NAMES}

#: Header fields whose value is a comma-separated list (RFC 3261 §7.3.1). Authorization and
#: the challenges are not: their commas separate parameters of one value.
LIST_HEADERS = frozenset({
    "via", "contact", "route", "record-route", "path", "allow", "supported", "require",
    "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
    "allow-events", "content-encoding", "content-language", "in-reply-to", "warning",
    "call-info", "alert-info", "error-info", "reply-to",
})

#: Header fields that may appear once only; a second value is a 400 (RFC 4475 §3.3.8).
SINGLE_HEADERS = frozenset({
    "call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type",
    "expires", "min-expires", "rseq", "rack", "session-expires", "min-se",
})

TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_KEYS: dict[str, str] = {}
_MISSING = object()


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded."""
    try:
        return _KEYS[name]
    except KeyError:
        key = name.lower()
        key = COMPACT_FORMS.get(key, key)
        if len(_KEYS) < 4096:  # names seen on the wire are few; never let them grow memory
            _KEYS[name] = key
        return key


def is_token(text: str) -> bool:
    return _TOKEN.match(text) is not None


_NAMES: set[str] = set()
#: A header name as spelled on the wire -> (lookup key, the spelling pycc writes).
_SPELLINGS: dict[str, tuple[str, str]] = {}
#: The same for names read off the wire that passed `is_header_name` (spelled as they came,
#: spaces before the colon included): only these take `Headers.read_plain`'s fast way.
_PLAIN_NAMES: dict[str, tuple[str, str]] = {}


def _spelling(name: str) -> tuple[str, str]:
    key = header_key(name)
    spelled = (key, CANONICAL.get(key, name))
    if len(_SPELLINGS) < 4096:  # names seen on the wire are few; never let them grow memory
        _SPELLINGS[name] = spelled
    return spelled


def is_header_name(name: str) -> bool:
    """``is_token`` for a header name, remembered: the names seen on the wire are few."""
    if name in _NAMES:
        return True
    if _TOKEN.match(name) is None:
        return False
    if len(_NAMES) < 4096:  # never let strange names grow memory
        _NAMES.add(name)
    return True


class Headers:
    """Ordered, case-insensitive header fields of one message.

    Each line keeps its own value; `values` splits list headers on top-level commas so that
    several values in one line and one value per line look the same to the caller. Typed
    values are cached per key and the cache is dropped on any change.
    """

    __slots__ = ("_cache", "_idx", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        entries = []
        for name, value in items:
            key, spelled = _SPELLINGS.get(name) or _spelling(name)
            entries.append((key, spelled, value))
        self._items: list[tuple[str, str, str]] = entries
        self._cache: dict[str, object] = {}
        # key -> every line's value, built on the first lookup after a change.
        self._idx: dict[str, list[str]] | None = None

    @classmethod
    def read_plain(cls, lines: Iterable[str]) -> Headers | None:
        """The headers of ``lines``, each one plain ``name: value`` field (no folding, no
        line end), read and indexed in one pass; None as soon as a line is anything else,
        for the parser's careful reader to judge. Nearly every message goes this way."""
        entries: list[tuple[str, str, str]] = []
        index: dict[str, list[str]] = {}
        known = _PLAIN_NAMES
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                return None
            spelled = known.get(name)
            if spelled is None:
                # Spaces before the colon are allowed (RFC 3261 §7.3.1 HCOLON).
                bare = name.rstrip(" \t")
                if not is_header_name(bare):
                    return None
                spelled = _SPELLINGS.get(bare) or _spelling(bare)
                if len(known) < 4096:  # never let strange names grow memory
                    known[name] = spelled
            key = spelled[0]
            value = value.strip()
            entries.append((key, spelled[1], value))
            found = index.get(key)
            if found is None:
                index[key] = [value]
            else:
                found.append(value)
        headers = cls()  # (not cls.__new__: the compiled build, pycc.accel, needs __init__)
        headers._items = entries
        headers._idx = index
        return headers

    def line_keys(self) -> list[str]:
        """The lookup key of every line, in order."""
        return [k for k, _n, _v in self._items]

    # -- reading ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _key, name, value in self._items:
            yield name, value

    def __len__(self) -> int:
        return len(self._items)

    def _index(self) -> dict[str, list[str]]:
        # Built once per version of the headers: lookups are then one dict access each.
        index = self._idx
        if index is None:
            index = {}
            for k, _n, v in self._items:
                if k in index:
                    index[k].append(v)
                else:
                    index[k] = [v]
            self._idx = index
        return index

    def entries(self) -> list[tuple[str, str, str]]:
        """Every line as (lookup key, name as written, value): a view to read, not to
        change (the serializer's hot path)."""
        return self._items

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return header_key(name) in self._index()

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first line's value of ``name``."""
        index = self._idx if self._idx is not None else self._index()
        found = index.get(_KEYS.get(name) or header_key(name))
        return found[0] if found else default

    def get_all(self, name: str) -> list[str]:
        """Every line's value of ``name``, in order."""
        index = self._idx if self._idx is not None else self._index()
        return list(index.get(_KEYS.get(name) or header_key(name), ()))

    def lines_of(self, key: str) -> Sequence[str]:
        """Every line's value under the lookup ``key`` (see `header_key`), in order: a view
        to read, not to change (no copy, for the parser's per-message checks)."""
        index = self._idx if self._idx is not None else self._index()
        return index.get(key, ())

    def repeated_keys(self) -> list[str]:
        """The lookup keys that more than one line has."""
        return [key for key, lines in self._index().items() if len(lines) > 1]

    def values(self, name: str) -> list[str]:
        """Every value of a list header, lines split on top-level commas."""
        index = self._idx if self._idx is not None else self._index()
        lines = index.get(_KEYS.get(name) or header_key(name), ())
        if len(lines) == 1 and "," not in lines[0]:
            return [lines[0].strip()]
        out: list[str] = []
        for line in lines:
            out.extend(split_list(line))
        return out

    def count(self, name: str) -> int:
        return len(self._index().get(header_key(name), ()))

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """Return the typed value ``key``, computing it once per version of the headers."""
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:  # a first look is the common case: no exception on the way
            value = compute()
            self._cache[key] = value
        return value  # type: ignore[return-value]

    # -- changing --------------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a line."""
        key = header_key(name)
        self._items.append((key, CANONICAL.get(key, name), value))
        self._cache.clear()
        self._idx = None

    def prepend(self, name: str, value: str) -> None:
        """Insert a line before the first line of the same name (or at the top)."""
        key = header_key(name)
        entry = (key, CANONICAL.get(key, name), value)
        for i, (k, _n, _v) in enumerate(self._items):
            if k == key:
                self._items.insert(i, entry)
                break
        else:
            self._items.insert(0, entry)
        self._cache.clear()
        self._idx = None

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` with one line, where the first one stood."""
        key = header_key(name)
        entry = (key, CANONICAL.get(key, name), value)
        kept: list[tuple[str, str, str]] = []
        placed = False
        for item in self._items:
            if item[0] == key:
                if not placed:
                    kept.append(entry)
                    placed = True
            else:
                kept.append(item)
        if not placed:
            kept.append(entry)
        self._items = kept
        self._cache.clear()
        self._idx = None

    def remove(self, name: str) -> int:
        """Remove every line of ``name``; return how many were removed."""
        key = header_key(name)
        before = len(self._items)
        self._items = [item for item in self._items if item[0] != key]
        self._cache.clear()
        self._idx = None
        return before - len(self._items)

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first value of list header ``name`` (the top Via) with ``value``.

        Only the typed value of ``name`` leaves the cache: the others stay parsed, since
        nothing they were read from changed. Raises KeyError when there is no such line.
        """
        key = header_key(name)
        for i, (k, n, v) in enumerate(self._items):
            if k == key:
                parts = split_list(v)
                line = ", ".join([value, *parts[1:]]) if len(parts) > 1 else value
                self._items[i] = (k, n, line)
                self._cache.pop(key, None)
                if self._idx is not None:
                    self._idx[key][0] = line
                return
        raise KeyError(name)

    def pop_first(self, name: str) -> str | None:
        """Remove and return the first value of a list header (e.g. the top Route)."""
        key = header_key(name)
        for i, (k, n, v) in enumerate(self._items):
            if k == key:
                parts = split_list(v)
                if len(parts) > 1:
                    self._items[i] = (k, n, ", ".join(parts[1:]))
                else:
                    del self._items[i]
                self._cache.clear()
                self._idx = None
                return parts[0] if parts else None
        return None

    def copy(self) -> Headers:
        new = Headers()
        new._items = list(self._items)
        return new

    def raw(self) -> list[tuple[str, str]]:
        return [(n, v) for _k, n, v in self._items]


# -- lexical helpers -------------------------------------------------------------------------


def split_list(value: str) -> list[str]:
    """Split a list header value on commas outside quotes and angle brackets.

    Empty elements are kept as ``""`` so that validation can reject them (RFC 4475 §3.1.2.1).
    """
    if "," not in value:
        return [value.strip()]
    parts: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == "," and not in_angle:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return parts


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[start] == '"'``; return (unescaped, next index)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise SipParseError("Unterminated quoted string")


def quote(text: str) -> str:
    """Quote ``text`` as a quoted-string, escaping backslash and double quote."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` generic parameters (RFC 3261 §25.1 generic-param).

    Names are lower-cased; quoted values keep their quotes so re-serialising is exact.
    """
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"Malformed {what} parameters")
    if '"' not in text:
        return _parse_plain_params(text, what)
    i = 1
    n = len(text)
    while i <= n:
        # one parameter: up to the next ';' outside quotes
        j = i
        in_quote = False
        while j < n:
            c = text[j]
            if in_quote:
                if c == "\\":
                    j += 1
                elif c == '"':
                    in_quote = False
            elif c == '"':
                in_quote = True
            elif c == ";":
                break
            j += 1
        if in_quote:
            raise SipParseError(f"Unterminated quoted string in {what} parameter")
        item = text[i:j].strip()
        if not item:
            raise SipParseError(f"Empty {what} parameter")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"Invalid {what} parameter name {name!r}")
        if eq:
            value = value.strip()
            if not value:
                raise SipParseError(f"Empty value of {what} parameter {name}")
            if not (value.startswith('"') or value.startswith("[") or _is_param_value(value)):
                raise SipParseError(f"Invalid value of {what} parameter {name}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
        i = j + 1
        if j >= n:
            break
    return params


def _parse_plain_params(text: str, what: str) -> dict[str, str | None]:
    """`parse_params` for the common case without quoted strings."""
    params: dict[str, str | None] = {}
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name:
            raise SipParseError(f"Empty {what} parameter")
        if _TOKEN.match(name) is None:
            raise SipParseError(f"Invalid {what} parameter name {name!r}")
        if eq:
            value = value.strip()
            if not value:
                raise SipParseError(f"Empty value of {what} parameter {name}")
            if not (value.startswith("[") or _is_param_value(value)):
                raise SipParseError(f"Invalid value of {what} parameter {name}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


_BAD_VALUE = re.compile(r'[ \t,;"<>]')


def _is_param_value(value: str) -> bool:
    # Beyond token, RFC 3261 gen-value allows host; UTF-8 text is tolerated (RFC 4475 §3.1.1.2)
    # so only separators that would break the framing of the header are refused.
    return _BAD_VALUE.search(value) is None


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def unquote_param(value: str | None) -> str | None:
    if value is not None and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return read_quoted(value, 0)[0]
    return value


# -- typed header values ---------------------------------------------------------------------


@dataclass(slots=True)
class Via:
    """One Via header value (RFC 3261 §20.42, §18.2.1; RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def wants_rport(self) -> bool:
        return "rport" in self.params

    @property
    def sent_by(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    @classmethod
    def parse(cls, value: str) -> Via:
        fast = _VIA_FAST.match(value)
        if fast is not None:
            # The common spelling: no LWS inside sent-protocol, a plain sent-by, no quotes.
            transport, host, port_text, params_text = fast.groups()
            port = int(port_text) if port_text else None
            if port is not None and port > 65535:
                raise SipParseError("Port out of range in Via sent-by")
            params = _parse_plain_params(params_text, "Via") if params_text else {}
            if params.get("branch") == "z9hG4bK":
                raise SipParseError("Via branch has no transaction identifier")
            return cls(transport.upper(), host.strip("[]").lower(), port, params)
        value = value.strip()
        if not value:
            raise SipParseError("Empty Via value")
        # sent-protocol may have LWS around its slashes (RFC 3261 §25.1 SLASH)
        parts = value.split("/", 2)
        if len(parts) != 3:
            raise SipParseError("Malformed Via sent-protocol")
        name, version = parts[0].strip(), parts[1].strip()
        rest = parts[2].lstrip()
        k = 0
        while k < len(rest) and rest[k] not in " \t":
            k += 1
        transport = rest[:k]
        rest = rest[k:].strip()
        if not is_token(name) or not is_token(version) or not is_token(transport):
            raise SipParseError("Malformed Via sent-protocol")
        semi = rest.find(";")
        sent_by = (rest if semi < 0 else rest[:semi]).strip()
        params_text = "" if semi < 0 else rest[semi:]
        host, port = parse_host_port(sent_by, "Via sent-by")
        params = parse_params(params_text, "Via")
        branch = params.get("branch")
        if branch is not None and branch == "z9hG4bK":
            raise SipParseError("Via branch has no transaction identifier")
        return cls(transport.upper(), host, port, params, f"{name}/{version}")


def parse_host_port(text: str, what: str) -> tuple[str, int | None]:
    """Parse ``host[:port]`` where host may be an IPv6 reference in brackets (RFC 5118)."""
    if not text:
        raise SipParseError(f"Missing host in {what}")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"Unterminated IPv6 reference in {what}")
        host = text[1:end]
        rest = text[end + 1 :]
        if not host or any(c not in "0123456789abcdefABCDEF:." for c in host):
            raise SipParseError(f"Invalid IPv6 reference in {what}")
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not host or any(c in " \t<>\"" for c in host) or ":" in port_text:
            raise SipParseError(f"Invalid host in {what}")
    if not rest:
        return host.lower(), None
    if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
        raise SipParseError(f"Invalid port in {what}")
    port = int(rest[1:])
    if port > 65535:
        raise SipParseError(f"Port out of range in {what}")
    return host.lower(), port


#: From, To and Contact values repeat across the messages of a dialog: parse each once.
_NAME_ADDR_CACHE: dict[str, NameAddr] = {}
_NAME_ADDR_CACHE_SIZE = 8192

_VIA_FAST = re.compile(
    r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?"
    r"((?:;[^;\s\"]+)*)\Z"
)


@dataclass(slots=True)
class NameAddr:
    """A From, To, Contact, Route, Record-Route or Path value (RFC 3261 §20.10, §25.1).

    ``params`` are header parameters (tag, expires, q, ...), never URI parameters: in the
    addr-spec form the first ``;`` starts them (RFC 4475 §3.3.12).
    """

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return NameAddr(self.uri, self.display_name, params)

    @property
    def sip_uri(self) -> SipUri:
        if not isinstance(self.uri, SipUri):
            raise SipParseError(f"Not a SIP URI: {self.uri}")
        return self.uri

    def __str__(self) -> str:
        shown = f"{quote(self.display_name)} " if self.display_name else ""
        return f"{shown}<{self.uri}>{format_params(self.params)}"

    @classmethod
    def parse(cls, value: str, what: str = "header") -> NameAddr:
        """Parse a value; results are shared through a bounded cache, so treat them as
        immutable (`with_tag` and the constructor make new ones)."""
        cached = _NAME_ADDR_CACHE.get(value)
        if cached is not None:
            return cached
        parsed = cls._parse(value, what)
        if len(_NAME_ADDR_CACHE) >= _NAME_ADDR_CACHE_SIZE:
            _NAME_ADDR_CACHE.clear()  # cheap and bounded; the working set refills at once
        _NAME_ADDR_CACHE[value] = parsed
        return parsed

    @classmethod
    def _parse(cls, value: str, what: str) -> NameAddr:
        text = value.strip()
        if not text:
            raise SipParseError(f"Empty {what} value")
        display: str | None = None
        if text.startswith('"'):
            try:
                display, i = read_quoted(text, 0)
            except SipParseError:
                raise SipParseError(f"Unterminated quoted display name in {what}") from None
            rest = text[i:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError(f"Missing <URI> after display name in {what}")
            return cls._bracketed(display, rest, what)
        lt = text.find("<")
        if lt >= 0:
            shown = text[:lt].strip()
            if shown:
                words = shown.split()
                if not all(is_token(w) for w in words):
                    raise SipParseError(f"Invalid characters in unquoted display name of {what}")
                display = " ".join(words)
            return cls._bracketed(display, text[lt:], what)
        # addr-spec form: the URI can hold neither ';' params nor '?' headers nor spaces
        semi = text.find(";")
        uri_text = text if semi < 0 else text[:semi]
        uri_text = uri_text.strip()
        if "?" in uri_text or "," in uri_text:
            raise SipParseError(f"URI with headers must be enclosed in <> in {what}")
        if any(c in uri_text for c in " \t"):
            raise SipParseError(f"Whitespace inside the URI of {what}")
        params = parse_params("" if semi < 0 else text[semi:], what)
        return cls(_parse_uri(uri_text, what), None, params)

    @classmethod
    def _bracketed(cls, display: str | None, rest: str, what: str) -> NameAddr:
        gt = rest.find(">")
        if gt < 0:
            raise SipParseError(f"Missing > in {what}")
        uri_text = rest[1:gt]
        if any(c in uri_text for c in " \t"):
            raise SipParseError(f"Whitespace inside the URI of {what}")
        params = parse_params(rest[gt + 1 :], what)
        return cls(_parse_uri(uri_text, what), display, params)


def _parse_uri(text: str, what: str) -> Uri:
    try:
        return parse_uri(text)
    except UriError as exc:
        raise SipParseError(f"Invalid URI in {what}: {exc}") from None


@dataclass(frozen=True, slots=True)
class CSeq:
    """The CSeq header (RFC 3261 §20.16): a 32-bit sequence number and the method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"

    @classmethod
    def parse(cls, value: str) -> CSeq:
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
            raise SipParseError("Malformed CSeq")
        if len(parts[0]) > 10 or int(parts[0]) > 0xFFFFFFFF:
            raise SipParseError("CSeq number out of range")
        return cls(int(parts[0]), parts[1])


def parse_uint(value: str, what: str, limit: int = 0xFFFFFFFF) -> int:
    """A decimal header value such as Expires or Max-Forwards, checked against ``limit``."""
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise SipParseError(f"Malformed {what}")
    if len(text) > 12 or int(text) > limit:
        raise SipParseError(f"{what} out of range")
    return int(text)
