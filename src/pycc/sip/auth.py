"""HTTP Digest authentication for SIP, both sides, on header field values.

pycc's registrar and B2BUA challenge requests with 401/407 and check the credentials a phone
sends back; `pycc.ua` answers challenges. This module holds the digest arithmetic and the
header grammar for both, independent of the message model: it reads and writes the *values*
of WWW-Authenticate / Proxy-Authenticate and Authorization / Proxy-Authorization.

Implements:

- RFC 3261 §22.4 and §25.1 (``challenge`` / ``credentials`` / ``digest-response`` grammar,
  quoted strings with quoted-pairs, LWS folding, other schemes kept for the caller to skip);
- RFC 7616 §3.3-§3.4 (challenge and response parameters, ``stale``, ``opaque``, -sess HA1,
  ``username*`` in the RFC 8187 extended notation), §3.9.1 is the test vector;
- RFC 8760 §2.1-§2.4 (SHA-256 in SIP; the UAS sends one challenge per algorithm, most
  preferred first, §2.3; the UAC picks one, §2.4);
- RFC 2069 responses without ``qop`` only when the verifier is configured to allow them.

``qop=auth`` is supported, ``auth-int`` is not (pycc never offers it).

The server side never stores passwords: `ha1` is computed once (per hash family, MD5 and
SHA-256) and stored. Nonces are stateless (`NonceIssuer`): each carries its issue time and an
HMAC over it, so any pycc node sharing the secret can check any nonce without a lookup.
Replays inside a nonce's lifetime are caught by `NonceCountTracker`, bounded in memory.

Pure: no I/O, no clock (``now`` is passed in), randomness injectable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote_to_bytes

from pycc.sip.errors import SipParseError
from pycc.sip.ids import token_bytes

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AuthOutcome",
    "AuthParseError",
    "AuthResult",
    "Challenge",
    "Credentials",
    "DigestVerifier",
    "Ha1Lookup",
    "NonceCountTracker",
    "NonceIssuer",
    "NonceStatus",
    "UnsupportedChallengeError",
    "build_authorization",
    "choose_challenge",
    "digest_response",
    "ha1",
    "new_cnonce",
    "parse_challenge",
    "parse_credentials",
    "quote_string",
]


class AuthParseError(SipParseError, ValueError):
    """An authentication header value is malformed; the message names the problem.

    It is a `SipParseError` with status 400 (RFC 3261 §21.4.1), so a server that lets it
    propagate answers Bad Request, and a `ValueError` for callers that only know the standard
    library.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 400)


class UnsupportedChallengeError(ValueError):
    """The client cannot answer this challenge (other scheme, algorithm or qop)."""


# --------------------------------------------------------------------------------------------
# Algorithms (RFC 7616 §3.2, RFC 8760 §2.2)

#: Canonical names, strongest first. A "-sess" variant uses the same stored HA1 as its base.
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")

# upper-cased name -> (canonical name, hashlib name, session variant)
_ALGORITHMS: dict[str, tuple[str, str, bool]] = {
    "SHA-256": ("SHA-256", "sha256", False),
    "SHA-256-SESS": ("SHA-256-sess", "sha256", True),
    "MD5": ("MD5", "md5", False),
    "MD5-SESS": ("MD5-sess", "md5", True),
}


def _algorithm(name: str | None) -> tuple[str, str, bool] | None:
    # RFC 7616 §3.3: an absent algorithm parameter means MD5; names compare case-insensitively.
    return _ALGORITHMS.get("MD5" if name is None else name.upper())


def _base_algorithm(canonical: str) -> str:
    return canonical.removesuffix("-sess")


def _utf8(text: str) -> bytes:
    # "surrogatepass" so that no input string can make hashing raise.
    return text.encode("utf-8", "surrogatepass")


def _hex(hash_name: str, text: str) -> str:
    return hashlib.new(hash_name, _utf8(text)).hexdigest()


def ha1(username: str, realm: str, password: str, algorithm: str = "SHA-256") -> str:
    """HA1 = H(username ":" realm ":" password), hex (RFC 7616 §3.4.2).

    This is what the server stores instead of the password, one value per hash family. For a
    "-sess" algorithm this returns the stored (base) value; the per-nonce session key is derived
    from it during verification. Raises `ValueError` for an unsupported algorithm.
    """
    spec = _algorithm(algorithm)
    if spec is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _hex(spec[1], f"{username}:{realm}:{password}")


def digest_response(
    stored_ha1: str,
    *,
    algorithm: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str | None = None,
    cnonce: str | None = None,
    qop: str | None = None,
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2069 form when ``qop`` is None).

    ``nc`` is the 8-hex-digit string exactly as sent, since it is hashed as text.
    Raises `ValueError` for an unsupported algorithm or a -sess algorithm without ``cnonce``.
    """
    spec = _algorithm(algorithm)
    if spec is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    _, hash_name, sess = spec
    key = stored_ha1.lower()
    if sess:
        if cnonce is None:
            raise ValueError("a -sess algorithm needs a cnonce")
        key = _hex(hash_name, f"{key}:{nonce}:{cnonce}")
    ha2 = _hex(hash_name, f"{method}:{uri}")
    if qop is None:
        return _hex(hash_name, f"{key}:{nonce}:{ha2}")
    return _hex(hash_name, f"{key}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# --------------------------------------------------------------------------------------------
# Header grammar (RFC 3261 §25.1, §22.4, §7.3.1)

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
# RFC 7235 §2.1 token68, for schemes such as Basic that carry one blob instead of parameters.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_FOLD = re.compile(r"\r?\n[ \t]")
_NC = re.compile(r"[0-9A-Fa-f]{8}")
_HEXSTR = re.compile(r"[0-9A-Fa-f]+")
# What phones send (every parameter a token or a quoted-string without quoted-pairs, commas
# between them), read in one pass of the regex engine; anything else takes the careful,
# character by character parser that names the problem.
_PARAM_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_PLAIN_QUOTED = r'"[^"\\\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]*"'
_PARAM = rf"({_PARAM_TOKEN})[ \t]*=[ \t]*({_PLAIN_QUOTED}|{_PARAM_TOKEN})"
_SIMPLE_PARAM = re.compile(_PARAM)
_SIMPLE_PARAMS = re.compile(rf"{_PARAM}(?:[ \t]*,[ \t]*{_PARAM})*")
# RFC 8187 §3.2.1 ext-value; only UTF-8 is accepted (ISO-8859-1 usernames are not worth it).
_EXT_VALUE = re.compile(
    r"(?i:utf-8)'[A-Za-z0-9\-]*'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+\-.^_`|~])*)"
)


def _bad_qdtext(ch: str) -> bool:
    code = ord(ch)
    return (code < 0x20 and ch != "\t") or code == 0x7F or 0xD800 <= code <= 0xDFFF


# Text that goes between the quotes as it is (every challenge's realm, nonce and opaque).
_PLAIN_QDTEXT = re.compile(r'[^"\\\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]*')


def quote_string(text: str) -> str:
    """Render ``text`` as a SIP quoted-string (RFC 3261 §25.1).

    Quotes, backslashes and control characters become quoted-pairs; CR and LF cannot be
    carried at all and raise `ValueError`, as do lone surrogates.
    """
    if _PLAIN_QDTEXT.fullmatch(text):
        return f'"{text}"'
    out = ['"']
    for ch in text:
        if ch in "\r\n" or 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"cannot quote {ch!r}")
        if ch in '"\\' or _bad_qdtext(ch):
            out.append("\\")
        out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _AuthValue:
    scheme: str
    params: dict[str, str]
    token68: str | None


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _read_token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] in _TOKEN_CHARS:
        i += 1
    return text[start:i], i


def _read_quoted(text: str, i: int, name: str) -> tuple[str, int]:
    # text[i] is the opening quote.
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            escaped = text[i + 1]
            # quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): no CR, LF or non-ASCII.
            if escaped in "\r\n" or ord(escaped) > 0x7F:
                raise AuthParseError(f"invalid quoted-pair in parameter {name!r}")
            out.append(escaped)
            i += 2
            continue
        if _bad_qdtext(ch):
            raise AuthParseError(f"invalid character {ch!r} in parameter {name!r}")
        out.append(ch)
        i += 1
    raise AuthParseError(f"unterminated quoted string in parameter {name!r}")


def _parse_auth_value(value: str, what: str) -> _AuthValue:
    # Folded lines (CRLF followed by whitespace) are one space (RFC 3261 §7.3.1); a CR or LF
    # left after that cannot belong to a header value.
    text = _FOLD.sub(" ", value) if "\n" in value else value
    if "\r" in text or "\n" in text:
        raise AuthParseError(f"{what}: bare CR or LF in header value")
    i = _skip_ws(text, 0)
    if i == len(text):
        raise AuthParseError(f"{what}: empty header value")
    scheme, j = _read_token(text, i)
    if not scheme:
        raise AuthParseError(f"{what}: expected an auth scheme at offset {i}")
    i = _skip_ws(text, j)
    if i == len(text):
        return _AuthValue(scheme, {}, None)
    if i == j:
        raise AuthParseError(f"{what}: expected whitespace after scheme {scheme!r}")
    rest = text[i:].rstrip(" \t")
    if _TOKEN68.fullmatch(rest):
        return _AuthValue(scheme, {}, rest)
    simple = _simple_params(rest, what)
    return _AuthValue(scheme, simple if simple is not None else _params(text, i, what), None)


def _simple_params(rest: str, what: str) -> dict[str, str] | None:
    """The parameters of ``rest`` when it is the plain list phones send, else None."""
    if not _SIMPLE_PARAMS.fullmatch(rest):
        return None
    # The list matched as a whole, so reading it pair by pair from the left takes the same
    # elements: each quoted-string is consumed whole, and a separator starts no pair.
    found = _SIMPLE_PARAM.findall(rest)
    params = {name.lower(): raw[1:-1] if raw[0] == '"' else raw for name, raw in found}
    if len(params) != len(found):
        seen: set[str] = set()
        for name, _raw in found:
            if name.lower() in seen:
                raise AuthParseError(f"{what}: duplicate parameter {name!r}")
            seen.add(name.lower())
    return params


def _params(text: str, i: int, what: str) -> dict[str, str]:
    """The auth-params from offset ``i`` on, read character by character."""
    params: dict[str, str] = {}
    while True:
        i = _skip_ws(text, i)
        if i == len(text):
            break
        if text[i] == ",":
            # Empty list elements are tolerated (RFC 9110 §5.6.1).
            i += 1
            continue
        name, i = _read_token(text, i)
        if not name:
            raise AuthParseError(f"{what}: expected a parameter name at offset {i}")
        i = _skip_ws(text, i)
        if i == len(text) or text[i] != "=":
            raise AuthParseError(f"{what}: parameter {name!r} has no '='")
        i = _skip_ws(text, i + 1)
        if i < len(text) and text[i] == '"':
            param_value, i = _read_quoted(text, i, name)
        else:
            param_value, i = _read_token(text, i)
            if not param_value:
                raise AuthParseError(f"{what}: parameter {name!r} has no value")
        key = name.lower()
        if key in params:
            # RFC 7616 §3.4: each parameter at most once; a second one is an ambiguity an
            # attacker could play on, so refuse rather than pick one.
            raise AuthParseError(f"{what}: duplicate parameter {name!r}")
        params[key] = param_value
        i = _skip_ws(text, i)
        if i == len(text):
            break
        if text[i] != ",":
            raise AuthParseError(f"{what}: expected ',' after parameter {name!r} at offset {i}")
        i += 1
    return params


def _decode_ext_value(raw: str) -> str:
    match = _EXT_VALUE.fullmatch(raw)
    if match is None:
        raise AuthParseError("username*: not an RFC 8187 UTF-8 ext-value")
    try:
        return unquote_to_bytes(match.group(1)).decode("utf-8")
    except UnicodeDecodeError:
        raise AuthParseError("username*: not valid UTF-8") from None


def _flag(raw: str | None) -> bool:
    return raw is not None and raw.lower() == "true"


@dataclass(frozen=True, slots=True)
class Credentials:
    """An Authorization / Proxy-Authorization value.

    For a scheme other than Digest only ``scheme``, ``params`` and ``token68`` are set, so the
    caller can skip it (RFC 3261 §22.4: other schemes are not for pycc to judge). Parameter
    names in ``params`` are lower-cased and values unquoted; the named fields repeat the
    Digest ones. ``response`` is lower-cased hex; ``nc`` is kept as sent (it is hashed as text).
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    token68: str | None = None
    username: str | None = None
    realm: str | None = None
    nonce: str | None = None
    uri: str | None = None
    response: str | None = None
    algorithm: str | None = None
    cnonce: str | None = None
    qop: str | None = None
    nc: str | None = None
    opaque: str | None = None
    userhash: bool = False

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def nonce_count(self) -> int | None:
        return None if self.nc is None else int(self.nc, 16)


def parse_credentials(value: str) -> Credentials:
    """Parse an Authorization or Proxy-Authorization header value.

    Raises `AuthParseError` naming the problem when the value is malformed, or when a Digest
    value lacks a required parameter (RFC 7616 §3.4: username, realm, nonce, uri, response;
    cnonce and nc whenever qop is present).
    """
    parsed = _parse_auth_value(value, "credentials")
    if parsed.scheme.lower() != "digest":
        return Credentials(parsed.scheme, parsed.params, parsed.token68)
    if parsed.token68 is not None:
        raise AuthParseError("credentials: Digest takes parameters, not a token68")
    p = parsed.params

    username = p.get("username")
    if "username*" in p:
        # RFC 7616 §3.4.4: username* is for names that cannot be a quoted-string; both at once
        # is an error.
        if username is not None:
            raise AuthParseError("credentials: both username and username* present")
        username = _decode_ext_value(p["username*"])
    if username is None:
        raise AuthParseError("credentials: missing parameter 'username'")
    for required in ("realm", "nonce", "uri", "response"):
        if required not in p:
            raise AuthParseError(f"credentials: missing parameter {required!r}")

    response = p["response"]
    if not _HEXSTR.fullmatch(response):
        raise AuthParseError("credentials: 'response' is not hexadecimal")
    nc = p.get("nc")
    if nc is not None and not _NC.fullmatch(nc):
        raise AuthParseError("credentials: 'nc' is not 8 hexadecimal digits")
    qop = p.get("qop")
    if qop is not None:
        for needed in ("cnonce", "nc"):
            if needed not in p:
                raise AuthParseError(f"credentials: qop present without {needed!r}")
    return Credentials(
        scheme=parsed.scheme,
        params=p,
        username=username,
        realm=p["realm"],
        nonce=p["nonce"],
        uri=p["uri"],
        response=response.lower(),
        algorithm=p.get("algorithm"),
        cnonce=p.get("cnonce"),
        qop=None if qop is None else qop.lower(),
        nc=nc,
        opaque=p.get("opaque"),
        userhash=_flag(p.get("userhash")),
    )


def digest_credentials(values: Iterable[str], realm: str) -> Credentials | None:
    """The first Digest credentials for ``realm`` with a username among header ``values``
    (Authorization or Proxy-Authorization); values that do not parse are passed over."""
    for value in values:
        try:
            creds = parse_credentials(value)
        except AuthParseError:
            continue
        # RFC 3261 §22.4: credentials for other realms or schemes are not ours to judge.
        if creds.is_digest and creds.realm == realm and creds.username:
            return creds
    return None


@dataclass(frozen=True, slots=True)
class Challenge:
    """A WWW-Authenticate / Proxy-Authenticate value.

    ``qop_options`` are the lower-cased entries of the quoted ``qop`` list (empty when the
    server sent none, i.e. an RFC 2069 challenge).
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    token68: str | None = None
    realm: str | None = None
    nonce: str | None = None
    opaque: str | None = None
    algorithm: str | None = None
    qop_options: tuple[str, ...] = ()
    stale: bool = False
    domain: str | None = None
    userhash: bool = False

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


def parse_challenge(value: str) -> Challenge:
    """Parse a WWW-Authenticate or Proxy-Authenticate header value.

    SIP carries one challenge per header value (RFC 3261 §7.3.1 forbids combining these
    fields), so the value is one challenge. A Digest challenge must have realm and nonce.
    """
    parsed = _parse_auth_value(value, "challenge")
    if parsed.scheme.lower() != "digest":
        return Challenge(parsed.scheme, parsed.params, parsed.token68)
    if parsed.token68 is not None:
        raise AuthParseError("challenge: Digest takes parameters, not a token68")
    p = parsed.params
    for required in ("realm", "nonce"):
        if required not in p:
            raise AuthParseError(f"challenge: missing parameter {required!r}")
    qop = p.get("qop")
    options = () if qop is None else tuple(o.strip().lower() for o in qop.split(",") if o.strip())
    return Challenge(
        scheme=parsed.scheme,
        params=p,
        realm=p["realm"],
        nonce=p["nonce"],
        opaque=p.get("opaque"),
        algorithm=p.get("algorithm"),
        qop_options=options,
        stale=_flag(p.get("stale")),
        domain=p.get("domain"),
        userhash=_flag(p.get("userhash")),
    )


# --------------------------------------------------------------------------------------------
# Client side (pycc.ua)


def _token_or_quoted(value: str) -> str:
    return value if value and all(ch in _TOKEN_CHARS for ch in value) else quote_string(value)


def new_cnonce(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh client nonce: 16 random bytes, base64url."""
    return base64.urlsafe_b64encode(random_bytes(16)).rstrip(b"=").decode("ascii")


def _challenge_rank(challenge: Challenge) -> int | None:
    if not challenge.is_digest or challenge.userhash:
        return None
    spec = _algorithm(challenge.algorithm)
    if spec is None:
        return None
    if challenge.qop_options and "auth" not in challenge.qop_options:
        return None
    return SUPPORTED_ALGORITHMS.index(spec[0])


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge a client should answer: the strongest algorithm it supports.

    RFC 8760 §2.4 says a UAC SHOULD use the topmost challenge it supports "unless a local
    policy dictates otherwise". pycc's local policy is strongest-first: challenges are not
    integrity-protected, and §3 of the same RFC warns that an on-path attacker could reorder
    them to put MD5 on top (a downgrade).
    """
    best: tuple[int, Challenge] | None = None
    for challenge in challenges:
        rank = _challenge_rank(challenge)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, challenge)
    return None if best is None else best[1]


def build_authorization(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int,
    cnonce: str,
    *,
    stored: Mapping[str, str] | None = None,
) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge``.

    ``stored`` answers with HA1 values instead of the password (keyed by "MD5" and
    "SHA-256", as the switch keeps them): pycc's own user agents speak for an extension
    whose password it never knew.

    Uses ``qop=auth`` when offered, the RFC 2069 form when the challenge has no qop. ``nc``
    counts requests made with this nonce, starting at 1. ``algorithm`` and ``opaque`` are
    echoed exactly as the challenge gave them, and left out when it did not (RFC 7616 §3.4;
    some servers refuse an ``algorithm=MD5`` they never sent). Raises `UnsupportedChallengeError`
    when the challenge is not one pycc can answer, `ValueError` for bad arguments.
    """
    if not challenge.is_digest:
        raise UnsupportedChallengeError(f"scheme {challenge.scheme!r} is not Digest")
    if challenge.realm is None or challenge.nonce is None:
        raise UnsupportedChallengeError("challenge without realm or nonce")
    if challenge.userhash:
        raise UnsupportedChallengeError("userhash is not supported")
    spec = _algorithm(challenge.algorithm)
    if spec is None:
        raise UnsupportedChallengeError(f"unsupported algorithm {challenge.algorithm!r}")
    algorithm = spec[0]
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError("nc must be in 1..0xFFFFFFFF")

    qop: str | None
    if "auth" in challenge.qop_options:
        qop = "auth"
    elif not challenge.qop_options:
        qop = None
    else:
        raise UnsupportedChallengeError(f"no supported qop in {challenge.qop_options!r}")
    if qop is None and spec[2]:
        raise UnsupportedChallengeError("a -sess algorithm needs qop")

    nc_text = f"{nc:08x}"
    if stored is None:
        secret = ha1(username, challenge.realm, password, algorithm)
    elif _base_algorithm(algorithm) in stored:
        secret = stored[_base_algorithm(algorithm)]
    else:
        raise UnsupportedChallengeError(f"no stored HA1 for {algorithm}")
    response = digest_response(
        secret,
        algorithm=algorithm,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        nc=nc_text if qop else None,
        cnonce=cnonce if qop else None,
        qop=qop,
    )
    parts = [
        f"username={quote_string(username)}",
        f"realm={quote_string(challenge.realm)}",
        f"nonce={quote_string(challenge.nonce)}",
        f"uri={quote_string(uri)}",
        f"response={quote_string(response)}",
    ]
    if challenge.algorithm is not None:
        parts.append(f"algorithm={_token_or_quoted(challenge.algorithm)}")
    if qop is not None:
        # RFC 7616 §3.4: qop and nc are tokens, never quoted.
        parts += [f"cnonce={quote_string(cnonce)}", f"qop={qop}", f"nc={nc_text}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={quote_string(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Server side: nonces


class NonceStatus(Enum):
    VALID = "valid"
    STALE = "stale"  # made by us, for this realm, but expired
    INVALID = "invalid"  # not made by us (forged, garbled, other realm or client)


_NONCE_DOMAIN = b"pycc nonce v1\x00"
_OPAQUE_DOMAIN = b"pycc opaque v1\x00"
_NONCE_BYTES = 8 + 8 + 16  # issue time (ms), random, truncated HMAC-SHA256
_B64URL = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_LENGTH = struct.Struct(">I")


def _framed(*fields: bytes) -> bytes:
    # Length-prefix every field so ("ab", "c") and ("a", "bc") never MAC the same.
    return b"".join([_LENGTH.pack(len(f)) + f for f in fields])


class NonceIssuer:
    """Stateless nonces: base64url(issue time || random || HMAC(secret, ...)[:16]).

    The MAC covers the issue time, the random part, the realm and optionally the client
    address, so a nonce is only good for the realm (tenant) it was issued for. Checking needs
    no server state: every pycc node configured with the same secret accepts the others'
    nonces. With several nodes, pass wall-clock time as ``now``, since issue times are compared
    across processes; ``max_clock_skew`` tolerates nonces a little in the future.
    """

    def __init__(
        self,
        secret: bytes,
        lifetime: float = 300.0,
        *,
        max_clock_skew: float = 5.0,
        random_bytes: Callable[[int], bytes] = token_bytes,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if lifetime <= 0 or max_clock_skew < 0:
            raise ValueError("lifetime must be positive and max_clock_skew not negative")
        self._secret = secret
        self.lifetime = lifetime
        self.max_clock_skew = max_clock_skew
        self._random_bytes = random_bytes
        self._opaques: dict[str, str] = {}

    def _mac(self, stamp_and_random: bytes, realm: str, client_ip: str) -> bytes:
        message = _NONCE_DOMAIN + _framed(stamp_and_random, _utf8(realm), _utf8(client_ip))
        return hmac.digest(self._secret, message, "sha256")[:16]

    def issue(self, now: float, realm: str, client_ip: str = "") -> str:
        """A new nonce for ``realm`` (and ``client_ip`` when binding nonces to addresses)."""
        random_part = self._random_bytes(8)
        if len(random_part) != 8:
            raise ValueError("random_bytes(8) must return 8 bytes")
        body = struct.pack(">q", round(now * 1000)) + random_part
        return _b64url(body + self._mac(body, realm, client_ip))

    def issued_at(self, nonce: str, realm: str, client_ip: str = "") -> float | None:
        """When an authentic nonce was issued; None when it is not one of ours."""
        if not _B64URL.fullmatch(nonce):
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (binascii.Error, ValueError):
            return None
        # The last base64 character carries 2 spare bits; without this check four spellings of
        # one nonce would decode alike and a replay could dodge the nonce-count table.
        if len(raw) != _NONCE_BYTES or _b64url(raw) != nonce:
            return None
        body, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._mac(body, realm, client_ip)):
            return None
        (stamp_ms,) = struct.unpack(">q", body[:8])
        return float(stamp_ms) / 1000.0

    def check(self, nonce: str, now: float, realm: str, client_ip: str = "") -> NonceStatus:
        issued = self.issued_at(nonce, realm, client_ip)
        if issued is None:
            return NonceStatus.INVALID
        return self.freshness(issued, now)

    def freshness(self, issued_at: float, now: float) -> NonceStatus:
        """VALID or STALE for an authentic nonce issued at ``issued_at``."""
        age = now - issued_at
        if age > self.lifetime or age < -self.max_clock_skew:
            return NonceStatus.STALE
        return NonceStatus.VALID

    def opaque(self, realm: str) -> str:
        """A fixed opaque value per realm; clients echo it, a mismatch exposes a mix-up."""
        found = self._opaques.get(realm)
        if found is None:
            mac = hmac.digest(self._secret, _OPAQUE_DOMAIN + _utf8(realm), "sha256")
            found = _b64url(mac[:12])
            if len(self._opaques) < 1024:  # realms are tenants: few
                self._opaques[realm] = found
        return found


class NonceCountTracker:
    """Replay protection: the highest nonce count accepted per nonce (RFC 7616 §3.4 ``nc``).

    Entries are kept in first-seen order and dropped ``lifetime`` after first use, by which
    time the nonce itself is stale. Memory is bounded by ``max_entries``: when full, the oldest
    entry is evicted and ``forgotten_before`` records its first-seen time, so the verifier can
    refuse (as stale) an unknown nonce that may be one whose count was forgotten. Oldest-first
    rather than least-recently-used, because the oldest entry is the next to expire anyway.

    Only requests with a correct digest reach the tracker, so unauthenticated traffic cannot
    fill it.
    """

    def __init__(self, max_entries: int = 100_000, lifetime: float = 305.0) -> None:
        if max_entries < 1 or lifetime <= 0:
            raise ValueError("max_entries must be >= 1 and lifetime positive")
        self.max_entries = max_entries
        self.lifetime = lifetime
        # nonce -> [highest nc, first seen]
        self._entries: OrderedDict[str, list[float]] = OrderedDict()
        self.forgotten_before = float("-inf")

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, nonce: object) -> bool:
        return nonce in self._entries

    def _purge(self, now: float) -> None:
        while self._entries:
            first_seen = next(iter(self._entries.values()))[1]
            if first_seen + self.lifetime >= now:
                break
            self._entries.popitem(last=False)

    def accept(self, nonce: str, nc: int, now: float) -> bool:
        """Record ``nc`` for ``nonce``; False if it is not above the highest seen (a replay)."""
        self._purge(now)
        entry = self._entries.get(nonce)
        if entry is not None:
            if nc <= entry[0]:
                return False
            entry[0] = nc
            return True
        while len(self._entries) >= self.max_entries:
            _, (_, first_seen) = self._entries.popitem(last=False)
            self.forgotten_before = max(self.forgotten_before, first_seen)
        self._entries[nonce] = [nc, now]
        return True


# --------------------------------------------------------------------------------------------
# Server side: verification


class AuthOutcome(Enum):
    OK = "ok"
    STALE = "stale"  # right password, old nonce: challenge again with stale=true
    FAILED = "failed"  # challenge again (or 403); never tell the client why


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The verdict on one set of credentials.

    ``reason`` is for logs only: sending it to the client would tell an attacker whether a
    username exists.
    """

    outcome: AuthOutcome
    reason: str
    username: str | None = None
    algorithm: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is AuthOutcome.OK


#: ``(username, algorithm) -> stored HA1 hex or None``; algorithm is "MD5" or "SHA-256"
#: (the -sess variants use their base family's HA1).
Ha1Lookup = Callable[[str, str], str | None]


def _exact_uri_match(digest_uri: str, request_uri: str) -> bool:
    return digest_uri == request_uri


class DigestVerifier:
    """Challenges requests and verifies Digest credentials (the registrar / proxy side).

    ``algorithms`` are the ones accepted in credentials (default: all supported).
    ``allow_legacy`` accepts RFC 2069 responses without qop, which have no nonce count and so
    no replay protection within the nonce lifetime. ``uri_matches(digest_uri, request_uri)``
    decides whether the credentials were made for this request; the default compares strings
    exactly, a switch may plug in the RFC 3261 §19.1.4 URI comparison.
    """

    def __init__(
        self,
        issuer: NonceIssuer,
        *,
        algorithms: Iterable[str] = SUPPORTED_ALGORITHMS,
        allow_legacy: bool = False,
        nonce_counts: NonceCountTracker | None = None,
        uri_matches: Callable[[str, str], bool] = _exact_uri_match,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.issuer = issuer
        accepted: set[str] = set()
        for name in algorithms:
            spec = _algorithm(name)
            if spec is None:
                raise ValueError(f"unsupported digest algorithm {name!r}")
            accepted.add(spec[0])
        self._accepted = frozenset(accepted)
        self.allow_legacy = allow_legacy
        # A count must be remembered for as long as its nonce can still be valid.
        needed = issuer.lifetime + issuer.max_clock_skew
        if nonce_counts is None:
            nonce_counts = NonceCountTracker(lifetime=needed)
        elif nonce_counts.lifetime < needed:
            raise ValueError("nonce_counts.lifetime is shorter than a nonce's validity")
        self.nonce_counts = nonce_counts
        self._uri_matches = uri_matches
        self._dummy_key = random_bytes(32)

    def challenge(
        self,
        realm: str,
        now: float,
        stale: bool = False,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        client_ip: str = "",
    ) -> list[str]:
        """WWW-Authenticate / Proxy-Authenticate values, one per algorithm, in the given order.

        RFC 8760 §2.3: the server lists its most preferred algorithm first, hence SHA-256
        before MD5 by default (MD5 remains for the many phones that know nothing else). One
        nonce serves all of them; it is bound to the realm, not to the algorithm.
        """
        nonce = self.issuer.issue(now, realm, client_ip)
        opaque = self.issuer.opaque(realm)
        values = []
        for name in algorithms:
            spec = _algorithm(name)
            if spec is None:
                raise ValueError(f"unsupported digest algorithm {name!r}")
            value = (
                f"Digest realm={quote_string(realm)}, nonce={quote_string(nonce)}, "
                f'opaque={quote_string(opaque)}, algorithm={spec[0]}, qop="auth"'
            )
            if stale:
                value += ", stale=true"
            values.append(value)
        return values

    def _fail(self, reason: str, creds: Credentials) -> AuthResult:
        return AuthResult(AuthOutcome.FAILED, reason, creds.username, creds.algorithm)

    def verify(
        self,
        creds: Credentials,
        method: str,
        ha1_lookup: Ha1Lookup,
        now: float,
        request_uri: str | None = None,
        *,
        realm: str,
        client_ip: str = "",
    ) -> AuthResult:
        """Judge ``creds`` for a request with ``method`` sent to ``request_uri`` in ``realm``.

        ``request_uri`` None skips the URI check. STALE is only returned when the digest is
        right (RFC 7616 §3.3: stale means the client knows the password), so a client may
        retry without asking its user. An unknown user and a wrong password give the same
        outcome after the same amount of hashing.
        """
        if not creds.is_digest:
            return self._fail(f"scheme {creds.scheme!r} is not Digest", creds)
        # parse_credentials guarantees these for Digest; a hand-built Credentials may not.
        if (
            creds.username is None
            or creds.realm is None
            or creds.nonce is None
            or creds.uri is None
            or creds.response is None
        ):
            return self._fail("incomplete Digest credentials", creds)
        if creds.realm != realm:
            return self._fail("realm mismatch", creds)
        spec = _algorithm(creds.algorithm)
        if spec is None or spec[0] not in self._accepted:
            return self._fail(f"unsupported algorithm {creds.algorithm!r}", creds)
        algorithm, hash_name, sess = spec
        if creds.userhash:
            return self._fail("userhash is not supported", creds)
        if creds.qop is None:
            if not self.allow_legacy:
                return self._fail("no qop (RFC 2069 digest) not allowed", creds)
            if sess:
                return self._fail("a -sess algorithm needs qop", creds)
        elif creds.qop != "auth":
            return self._fail(f"unsupported qop {creds.qop!r}", creds)
        elif creds.nc is None or creds.cnonce is None or not _NC.fullmatch(creds.nc):
            return self._fail("qop without a valid nc or without cnonce", creds)
        if request_uri is not None and not self._uri_matches(creds.uri, request_uri):
            return self._fail("digest uri does not match the request uri", creds)
        opaque = self.issuer.opaque(realm)
        if creds.opaque is not None and not hmac.compare_digest(_utf8(creds.opaque), _utf8(opaque)):
            return self._fail("opaque mismatch", creds)
        issued = self.issuer.issued_at(creds.nonce, realm, client_ip)
        if issued is None:
            return self._fail("nonce not issued by pycc for this realm", creds)

        base = _base_algorithm(algorithm)
        stored = ha1_lookup(creds.username, base)
        known = stored is not None
        if stored is None:
            # Same amount of hashing as for a real user, so response time does not reveal
            # which usernames exist.
            stored = hmac.new(
                self._dummy_key, _utf8(f"{base}:{creds.username}"), hash_name
            ).hexdigest()
        expected = digest_response(
            stored,
            algorithm=algorithm,
            method=method,
            uri=creds.uri,
            nonce=creds.nonce,
            nc=creds.nc,
            cnonce=creds.cnonce,
            qop=creds.qop,
        )
        matches = hmac.compare_digest(_utf8(expected), _utf8(creds.response))
        if not (known and matches):
            return self._fail("unknown user" if not known else "wrong password", creds)

        if self.issuer.freshness(issued, now) is NonceStatus.STALE:
            return AuthResult(AuthOutcome.STALE, "nonce expired", creds.username, algorithm)
        # Without qop there is no count to check (RFC 2069); allow_legacy accepted that.
        count = creds.nonce_count if creds.qop is not None else None
        if count is not None:
            if (
                creds.nonce not in self.nonce_counts
                and issued - self.issuer.max_clock_skew <= self.nonce_counts.forgotten_before
            ):
                # This nonce may have been used and its count evicted; a fresh nonce is cheap.
                return AuthResult(
                    AuthOutcome.STALE, "nonce count forgotten", creds.username, algorithm
                )
            if not self.nonce_counts.accept(creds.nonce, count, now):
                return self._fail("replayed nonce count", creds)
        return AuthResult(AuthOutcome.OK, "ok", creds.username, algorithm)
