"""SIP, SIPS and tel URIs: parsing, serialization and comparison.

Every Request-URI and every name-addr in To, From, Contact, Route and Record-Route goes
through this module, so it is written for speed as well as for strictness: the common shape
is matched by one regular expression that cannot backtrack far, everything else by a
hand-written parser whose character checks run in C (``frozenset.issuperset``). Anything the
grammar rejects raises :class:`UriError`, which the message layer turns into a 400.

Implements:

- RFC 3261 §19.1.1-§19.1.3 and §25.1: SIP and SIPS URI syntax (userinfo, hostport,
  uri-parameters, headers) with %-escaping; §19.1.4: URI comparison (``SipUri.__eq__``).
- RFC 5118 §4.2-§4.4, §4.9, §4.10: IPv6 references must be bracketed, a port inside the
  brackets is part of the address, IPv4-mapped addresses, the RFC 3261 ABNF bug
  (``[2001:db8:::192.0.2.1]`` tolerated, kept as ``2001:db8::192.0.2.1``); addresses are
  validated by :class:`ipaddress.IPv6Address`. RFC 5954 §4: IPv6 hosts compare as addresses.
- RFC 4475 §3.1.1.2 (unusual characters, '?' included, in user and password), §3.1.1.3,
  §3.1.1.4 and §3.1.1.9 (escaped user parts: ``sips%3Auser%40example.com``, ``%00`` kept
  as NUL, ``;`` inside the user).
- RFC 3966 §3 and §4: tel URI syntax and comparison (``TelUri``).
- Any other scheme (RFC 3261 absoluteURI) is kept opaque as :class:`AbsoluteUri`.

Escaped octets are decoded as UTF-8; octets that are not valid UTF-8 become lone
surrogates (``surrogateescape``) so that serializing gives back the same octets.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from dataclasses import dataclass, field

__all__ = [
    "AbsoluteUri",
    "SipUri",
    "TelUri",
    "Uri",
    "UriError",
    "escape_user",
    "parse_sip_uri",
    "parse_tel_uri",
    "parse_uri",
    "unescape",
]


class UriError(ValueError):
    """A URI that does not follow its grammar; the message names the problem."""


# --- character classes (RFC 3261 §25.1, RFC 3966 §3) -------------------------------------

_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGIT = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_ALNUM = _ALPHA | _DIGIT
_UNRESERVED = _ALNUM | frozenset("-_.!~*'()")
# '?' is user-unreserved in the grammar, but we escape it when serializing: a plain '?' in
# the user makes "sip:a?b=c@h" read like headers to lenient parsers (ours included).
_USER_PLAIN = _UNRESERVED | frozenset("&=+$,;/")
_USER_CHARS = _USER_PLAIN | frozenset("?%")
_PASSWORD_PLAIN = _UNRESERVED | frozenset("&=+$,")
_PASSWORD_CHARS = _PASSWORD_PLAIN | {"%"}
_PARAM_PLAIN = _UNRESERVED | frozenset("[]/:&+$")
_PARAM_CHARS = _PARAM_PLAIN | {"%"}
_HEADER_PLAIN = _UNRESERVED | frozenset("[]/?:+$")
_HEADER_NAME_CHARS = _HEADER_PLAIN | {"%"}
# Header values may not hold a plain '@', but Refer-To URIs carrying Replaces with an
# unescaped Call-ID ("...?Replaces=123@host") are common enough to accept.
_HEADER_VALUE_CHARS = _HEADER_NAME_CHARS | {"@"}
_HOST_CHARS = _ALNUM | frozenset("-.")
_SCHEME_CHARS = _ALNUM | frozenset("+-.")
# RFC 2396 uric plus '#', '[' and ']' seen in http URLs carried in Call-Info and Alert-Info.
_OPAQUE_CHARS = _UNRESERVED | frozenset(";/?:@&=+$,%#[]")

_VISUAL_SEPARATORS = "-.()"
_GLOBAL_NUMBER_CHARS = _DIGIT | frozenset(_VISUAL_SEPARATORS)
_LOCAL_NUMBER_CHARS = _HEX | frozenset("*#") | frozenset(_VISUAL_SEPARATORS)
_TEL_PNAME_CHARS = _ALNUM | {"-"}
_TEL_NUMBER_CHARS = _LOCAL_NUMBER_CHARS | frozenset("+%")
_TEL_NUMBER_PLAIN = (_LOCAL_NUMBER_CHARS - {"#"}) | {"+"}  # '#' starts a fragment: %23
_TEL_LOCAL_DIGITS = _HEX | frozenset("*#")

# RFC 3261 §19.1.4: these parameters make two URIs differ when only one of them has it.
_SIGNIFICANT_PARAMS = ("transport", "user", "ttl", "method", "maddr")


# --- escaping ----------------------------------------------------------------------------


def unescape(s: str) -> str:
    """Decode %XX escapes (RFC 3261 §19.1.2); raise :class:`UriError` on a bad escape."""
    if "%" not in s:
        return s
    pieces = s.split("%")
    out = bytearray(pieces[0].encode("utf-8", "surrogateescape"))
    for piece in pieces[1:]:
        if len(piece) < 2 or piece[0] not in _HEX or piece[1] not in _HEX:
            raise UriError(f"bad %-escape in {s!r}")
        out.append(int(piece[:2], 16))
        out += piece[2:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def _escape(s: str, plain: frozenset[str]) -> str:
    if plain.issuperset(s):
        return s
    out: list[str] = []
    for ch in s:
        if ch in plain:
            out.append(ch)
            continue
        try:
            octets = ch.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise UriError(f"cannot encode character {ch!r} in a URI") from None
        out.extend(f"%{b:02X}" for b in octets)
    return "".join(out)


def escape_user(user: str) -> str:
    """Escape a user part: only unreserved and user-unreserved characters stay plain."""
    return _escape(user, _USER_PLAIN)


def _checked(text: str, allowed: frozenset[str], what: str) -> str:
    """Validate ``text`` against a character class and return it unescaped."""
    if not allowed.issuperset(text):
        bad = next(ch for ch in text if ch not in allowed)
        raise UriError(f"invalid character {bad!r} in {what} {text!r}")
    return unescape(text)


# --- hosts (RFC 3261 §25.1 hostport, RFC 5118) -------------------------------------------


def _check_ipv4(host: str) -> bool:
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not 1 <= len(part) <= 3 or not _DIGIT.issuperset(part) or int(part) > 255:
            return False
    return True


# Hosts repeat (our own domain, a few trunks), so validations are remembered; a failed one
# raises and is not cached.
@functools.lru_cache(maxsize=4096)
def _check_hostname(host: str) -> None:
    """Validate a lowercase hostname or IPv4 address; raise UriError otherwise."""
    if not host:
        raise UriError("empty host")
    if not _HOST_CHARS.issuperset(host):
        bad = next(ch for ch in host if ch not in _HOST_CHARS)
        raise UriError(f"invalid character {bad!r} in host {host!r}")
    labels = host[:-1].split(".") if host[-1] == "." else host.split(".")
    for label in labels:
        if not label or label[0] == "-" or label[-1] == "-":
            raise UriError(f"invalid host {host!r}")
    # toplabel starts with ALPHA; a host ending in a digit can only be an IPv4 address.
    if labels[-1][0] in _DIGIT and not _check_ipv4(host):
        raise UriError(f"invalid host or IPv4 address {host!r}")


@functools.lru_cache(maxsize=1024)
def _check_ipv6(address: str) -> str:
    """Validate the text between brackets; return it lowercased."""
    # A zone index ("%eth0") is accepted by ipaddress but is not part of an IPv6reference.
    if "%" in address:
        raise UriError(f"zone index not allowed in IPv6 reference [{address}]")
    checked = address
    head, triple, tail = address.partition(":::")
    if triple and "." in tail and ":" not in tail:
        # RFC 3261's ABNF let "::" be followed by ":" IPv4address; RFC 5118 §4.10 asks us to
        # tolerate that spelling, RFC 5954 §3 fixes the grammar. Keep the corrected form.
        checked = f"{head}::{tail}"
    try:
        ipaddress.IPv6Address(checked)
    except ValueError:
        raise UriError(f"invalid IPv6 reference [{address}]") from None
    return checked.lower()


def _parse_port(text: str) -> int:
    if not text or len(text) > 5 or not _DIGIT.issuperset(text):
        raise UriError(f"invalid port {text!r}")
    port = int(text)
    if port > 65535:
        raise UriError(f"port {port} out of range")
    return port


def _parse_hostport(text: str) -> tuple[str, int | None]:
    if text[:1] == "[":
        end = text.find("]")
        if end < 0:
            raise UriError(f"unterminated IPv6 reference {text!r}")
        host = _check_ipv6(text[1:end])
        tail = text[end + 1 :]
        if not tail:
            return host, None
        if tail[0] != ":":
            raise UriError(f"unexpected {tail!r} after IPv6 reference")
        return host, _parse_port(tail[1:])
    host, colon, port_text = text.partition(":")
    if colon and ":" in port_text:
        raise UriError(f"IPv6 address {text!r} must be enclosed in brackets (RFC 5118 §4.2)")
    host = host.lower()
    _check_hostname(host)
    return host, (_parse_port(port_text) if colon else None)


def _host_key(host: str) -> str:
    """Host as compared: lowercase, IPv6 in one canonical spelling (RFC 5954 §4)."""
    return _canonical_ipv6(host) if ":" in host else host.lower()


@functools.lru_cache(maxsize=1024)
def _canonical_ipv6(host: str) -> str:
    try:
        return ipaddress.IPv6Address(host).compressed
    except ValueError:
        return host.lower()  # set by hand to something that is not an address


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- SIP and SIPS URIs (RFC 3261 §19.1) --------------------------------------------------


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET = _Unset.UNSET


def _ci_equal(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or a.lower() == b.lower()


@dataclass(slots=True, eq=False)
class SipUri:
    """A sip: or sips: URI with every component unescaped.

    Equality is RFC 3261 §19.1.4 URI comparison, which is not transitive (a parameter present
    in only one URI is ignored unless it is transport, user, ttl, method or maddr), and the
    hash covers only the parts that must always match. The object is mutable; do not change
    one that is a key in a dict or a member of a set.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value is not None else None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def host_port(self) -> str:
        host = _bracketed(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def with_(
        self,
        *,
        scheme: str | _Unset = _UNSET,
        user: str | _Unset | None = _UNSET,
        password: str | _Unset | None = _UNSET,
        host: str | _Unset = _UNSET,
        port: int | _Unset | None = _UNSET,
        params: dict[str, str | None] | _Unset = _UNSET,
        headers: dict[str, str] | _Unset = _UNSET,
    ) -> SipUri:
        """Return a copy with the given fields replaced; the dicts are never shared."""
        return SipUri(
            scheme=self.scheme if isinstance(scheme, _Unset) else scheme,
            user=self.user if isinstance(user, _Unset) else user,
            password=self.password if isinstance(password, _Unset) else password,
            host=self.host if isinstance(host, _Unset) else host,
            port=self.port if isinstance(port, _Unset) else port,
            params=dict(self.params if isinstance(params, _Unset) else params),
            headers=dict(self.headers if isinstance(headers, _Unset) else headers),
        )

    def aor(self) -> str:
        """Address-of-record key for registrar lookups: ``scheme:user@host``.

        The user is unescaped and the host canonical, so every spelling of one URI gives the
        same key; port, parameters and headers are dropped (RFC 3261 §10.3 step 5).
        """
        host = _bracketed(_host_key(self.host))
        scheme = self.scheme.lower()
        return f"{scheme}:{host}" if self.user is None else f"{scheme}:{self.user}@{host}"

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _USER_PLAIN))
            if self.password is not None:
                parts += (":", _escape(self.password, _PASSWORD_PLAIN))
            parts.append("@")
        parts.append(_bracketed(self.host))
        if self.port is not None:
            parts += (":", str(self.port))
        for name, value in self.params.items():
            parts += (";", _escape(name, _PARAM_PLAIN))
            if value is not None:
                parts += ("=", _escape(value, _PARAM_PLAIN))
        sep = "?"
        for name, value in self.headers.items():
            parts += (sep, _escape(name, _HEADER_PLAIN), "=", _escape(value, _HEADER_PLAIN))
            sep = "&"
        return "".join(parts)

    def _header_key(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SipUri):
            return NotImplemented
        if (
            self.scheme.lower() != other.scheme.lower()
            or self.user != other.user
            or self.password != other.password
            or self.port != other.port
            or _host_key(self.host) != _host_key(other.host)
        ):
            return False
        mine, theirs = self.params, other.params
        if mine or theirs:
            for name in _SIGNIFICANT_PARAMS:
                if (name in mine) != (name in theirs):
                    return False
            for name, value in mine.items():
                if name in theirs and not _ci_equal(value, theirs[name]):
                    return False
        if self.headers or other.headers:
            return self._header_key() == other._header_key()
        return True

    def __hash__(self) -> int:
        headers = frozenset(self._header_key().items()) if self.headers else frozenset()
        return hash(
            (
                self.scheme.lower(),
                self.user,
                self.password,
                _host_key(self.host),
                self.port,
                headers,
            )
        )


def _parse_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        raw_name, eq, raw_value = item.partition("=")
        if not raw_name:
            raise UriError(f"empty uri-parameter name in {text!r}")
        name = _checked(raw_name, _PARAM_CHARS, "uri-parameter").lower()
        value = _checked(raw_value, _PARAM_CHARS, "uri-parameter value") if eq else None
        # Some phones repeat a parameter (baresip dials "...;transport=udp;transport=udp");
        # a repetition is harmless, a contradiction is not.
        if name in params and (params[name] or "").lower() != (value or "").lower():
            raise UriError(f"conflicting values of uri-parameter {name!r}")
        params[name] = value
    return params


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in text.split("&"):
        raw_name, eq, raw_value = item.partition("=")
        if not raw_name or not eq:
            raise UriError(f"URI header {item!r} is not name=value")
        name = _checked(raw_name, _HEADER_NAME_CHARS, "URI header name")
        value = _checked(raw_value, _HEADER_VALUE_CHARS, "URI header value")
        # A repeated header is the same as one header with a comma-separated list
        # (RFC 3261 §7.3.1); the dict keeps one entry per name.
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def _parse_after_userinfo(scheme: str, user: str | None, password: str | None, text: str) -> SipUri:
    """Parse ``hostport uri-parameters [headers]``."""
    headers: dict[str, str] = {}
    q = text.find("?")
    if q >= 0:
        headers = _parse_headers(text[q + 1 :])
        text = text[:q]
    params: dict[str, str | None] = {}
    semi = text.find(";")
    if semi >= 0:
        params = _parse_params(text[semi + 1 :])
        text = text[:semi]
    if not text:
        raise UriError("empty host")
    host, port = _parse_hostport(text)
    return SipUri(scheme, user, password, host, port, params, headers)


def _parse_userinfo(scheme: str, userinfo: str, rest: str) -> SipUri:
    raw_user, colon, raw_password = userinfo.partition(":")
    if not raw_user:
        raise UriError("empty user part before '@'")
    user = _checked(raw_user, _USER_CHARS, "user")
    password = _checked(raw_password, _PASSWORD_CHARS, "password") if colon else None
    return _parse_after_userinfo(scheme, user, password, rest)


def _parse_sip_general(scheme: str, rest: str) -> SipUri:
    """Parse everything after ``sip:``; handles every case and names the first error."""
    at = rest.find("@")
    if at < 0:
        return _parse_after_userinfo(scheme, None, None, rest)
    q = rest.find("?")
    if q < 0 or at < q:
        return _parse_userinfo(scheme, rest[:at], rest[at + 1 :])
    # A '?' before the first '@': either a user-less URI whose header carries a plain '@'
    # (common), or a user that contains '?' (legal: RFC 4475 §3.1.1.2). Prefer the first
    # reading, fall back to the second when the first does not parse.
    try:
        return _parse_after_userinfo(scheme, None, None, rest)
    except UriError:
        return _parse_userinfo(scheme, rest[:at], rest[at + 1 :])


# The common shape -- no escapes, no '?' in the user -- matched in one pass. Every class
# excludes the delimiter that ends its component, so the match never backtracks more than
# once over the text. Whatever this accepts, the general parser reads the same way (a
# Hypothesis test checks it); whatever it rejects goes to the general parser.
_FAST_SIP = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;/]+)(?::([A-Za-z0-9\-_.!~*'()&=+$,]*))?@)?"
    r"([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]*)?)*)"
    r"(?:\?(.*))?",
    re.DOTALL,
)


def _parse_sip_fast(scheme: str, rest: str) -> SipUri | None:
    match = _FAST_SIP.fullmatch(rest)
    if match is None:
        return None
    user, password, host, port_text, param_text, header_text = match.groups()
    try:
        if host[0] == "[":
            host = _check_ipv6(host[1:-1])
        else:
            host = host.lower()
            _check_hostname(host)
        headers = _parse_headers(header_text) if header_text is not None else {}
    except UriError:
        return None
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            return None
    params: dict[str, str | None] = {}
    if param_text:
        for item in param_text[1:].split(";"):
            name, eq, value = item.partition("=")
            params[name.lower()] = value if eq else None
        if len(params) != param_text.count(";"):
            return None  # a duplicate: let the general parser report it
    return SipUri(scheme, user, password, host, port, params, headers)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    if "%" not in rest:
        uri = _parse_sip_fast(scheme, rest)
        if uri is not None:
            return uri
    return _parse_sip_general(scheme, rest)


# --- tel URIs (RFC 3966) -----------------------------------------------------------------


def _strip_separators(number: str) -> str:
    for sep in _VISUAL_SEPARATORS:
        number = number.replace(sep, "")
    return number


@dataclass(slots=True, eq=False)
class TelUri:
    """A tel: URI (RFC 3966); the number is kept as written, visual separators included."""

    number: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def global_number(self) -> bool:
        return self.number.startswith("+")

    def digits(self) -> str:
        """The number without visual separators (``+12015550123``)."""
        return _strip_separators(self.number)

    def _key(self) -> tuple[str, frozenset[tuple[str, str | None]]]:
        # RFC 3966 §4: separators are not significant, hex digits, parameter names and values
        # are case-insensitive, parameter order does not matter; phone-context and ext
        # values are numbers (separators ignored) or domain names.
        params: set[tuple[str, str | None]] = set()
        for name, value in self.params.items():
            lname = name.lower()
            if value is not None:
                value = value.lower()
                if lname == "ext" or (lname == "phone-context" and value.startswith("+")):
                    value = _strip_separators(value)
            params.add((lname, value))
        return self.digits().lower(), frozenset(params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TelUri):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        parts = ["tel:", _escape(self.number, _TEL_NUMBER_PLAIN)]
        for name, value in self.params.items():
            parts += (";", _escape(name, _TEL_PNAME_CHARS))
            if value is not None:
                parts += ("=", _escape(value, _PARAM_PLAIN))
        return "".join(parts)


def _parse_tel(rest: str) -> TelUri:
    raw_number, semi, raw_params = rest.partition(";")
    number = _checked(raw_number, _TEL_NUMBER_CHARS, "telephone number")
    if number.startswith("+"):
        if not _GLOBAL_NUMBER_CHARS.issuperset(number[1:]) or _DIGIT.isdisjoint(number):
            raise UriError(f"invalid global number {number!r}")
    elif not _LOCAL_NUMBER_CHARS.issuperset(number) or _TEL_LOCAL_DIGITS.isdisjoint(number):
        raise UriError(f"invalid local number {number!r}")
    params: dict[str, str | None] = {}
    if semi:
        for item in raw_params.split(";"):
            name, eq, raw_value = item.partition("=")
            if not name or not _TEL_PNAME_CHARS.issuperset(name):
                raise UriError(f"invalid tel parameter name {name!r}")
            name = name.lower()
            if name in params:
                raise UriError(f"duplicate tel parameter {name!r}")
            if eq and not raw_value:
                raise UriError(f"empty value for tel parameter {name!r}")
            params[name] = _checked(raw_value, _PARAM_CHARS, "tel parameter") if eq else None
    # RFC 3966 §5.1.5 requires phone-context on local numbers; phones often omit it, and a
    # switch that rejected those calls would be less useful, so local numbers stand alone.
    return TelUri(number, params)


# --- other schemes -----------------------------------------------------------------------


@dataclass(slots=True)
class AbsoluteUri:
    """A URI of any other scheme (http, mailto, urn, ...), kept as scheme and opaque text."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


def _check_opaque(text: str) -> None:
    if not text:
        raise UriError("empty URI after scheme")
    if not _OPAQUE_CHARS.issuperset(text):
        bad = next(ch for ch in text if ch not in _OPAQUE_CHARS)
        raise UriError(f"invalid character {bad!r} in URI")
    if "%" in text:
        unescape(text)  # only to reject a malformed escape


# --- entry points ------------------------------------------------------------------------

Uri = SipUri | TelUri | AbsoluteUri


def _split_scheme(text: str) -> tuple[str, str]:
    colon = text.find(":")
    if colon <= 0:
        raise UriError(f"no scheme in URI {text[:80]!r}")
    scheme = text[:colon].lower()
    if scheme[0] not in _ALPHA or not _SCHEME_CHARS.issuperset(scheme):
        raise UriError(f"invalid URI scheme {text[:colon]!r}")
    return scheme, text[colon + 1 :]


def parse_uri(text: str) -> Uri:
    """Parse any URI that may appear in a SIP message; dispatch on the scheme."""
    if text.startswith("sip:"):
        return _parse_sip("sip", text[4:])
    if text.startswith("sips:"):
        return _parse_sip("sips", text[5:])
    scheme, rest = _split_scheme(text)
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        return _parse_tel(rest)
    _check_opaque(rest)
    return AbsoluteUri(scheme, rest)


def parse_sip_uri(text: str) -> SipUri:
    """Parse a sip: or sips: URI; any other scheme is an error."""
    if text.startswith("sip:"):
        return _parse_sip("sip", text[4:])
    if text.startswith("sips:"):
        return _parse_sip("sips", text[5:])
    scheme, rest = _split_scheme(text)
    if scheme != "sip" and scheme != "sips":
        raise UriError(f"expected a sip or sips URI, got scheme {scheme!r}")
    return _parse_sip(scheme, rest)


def parse_tel_uri(text: str) -> TelUri:
    """Parse a tel: URI; any other scheme is an error."""
    scheme, rest = _split_scheme(text)
    if scheme != "tel":
        raise UriError(f"expected a tel URI, got scheme {scheme!r}")
    return _parse_tel(rest)
