"""Password hashing for the users of the admin API and CLI: scrypt (RFC 7914).

A hash is stored as one self-describing string in the PHC string format,
``$scrypt$ln=15,r=8,p=1$SALT$HASH`` (salt and hash in unpadded standard base64), so the cost
parameters can be raised later: `needs_rehash` tells a login to store a fresh hash made with
the current ones. Passwords are normalised to Unicode NFC first (as RFC 8265's
OpaqueString profile does), so the same password typed on two keyboards verifies.

The default cost, N = 2^15 with r = 8 (32 MiB and about 0.15 s a hash on one core), fits an
interactive login; API requests carry tokens, which are checked with one SHA-256 instead.
Stored parameters are bounded before use (at most 256 MiB, twice OWASP's recommended
N = 2^17, r = 8), so a damaged or hostile hash string cannot make pycc allocate gigabytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_PARAMS",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordHashError",
    "ScryptParams",
    "check_password",
    "dummy_hash",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

#: Shortest password a user may set.
MIN_PASSWORD_LENGTH: Final = 8
#: Longest password accepted, in characters: enough for any passphrase, short enough that
#: nobody can make pycc hash megabytes.
MAX_PASSWORD_LENGTH: Final = 1024

_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
#: Bounds a stored hash must respect to be verified at all.
_MAX_LOG2_N: Final = 20
_MAX_R: Final = 32
_MAX_P: Final = 16
_MAX_MEMORY: Final = 1 << 28
_ALGORITHM: Final = "scrypt"
_ENCODED = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,3}),p=(?P<p>\d{1,3})"
    r"\$(?P<salt>[A-Za-z0-9+/]{11,88})\$(?P<hash>[A-Za-z0-9+/]{22,88})"
)


class PasswordHashError(ValueError):
    """A stored password hash is not one pycc can read (damaged, or from another system)."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """The scrypt cost: N = 2 ** ``log2_n``, block size ``r``, parallelism ``p``."""

    log2_n: int = 15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.log2_n <= _MAX_LOG2_N:
            raise ValueError(f"ln: must be between 1 and {_MAX_LOG2_N}, not {self.log2_n}")
        if not 1 <= self.r <= _MAX_R:
            raise ValueError(f"r: must be between 1 and {_MAX_R}, not {self.r}")
        if not 1 <= self.p <= _MAX_P:
            raise ValueError(f"p: must be between 1 and {_MAX_P}, not {self.p}")
        if self.memory > _MAX_MEMORY:
            raise ValueError(f"ln={self.log2_n}, r={self.r}: needs {self.memory} bytes, "
                             f"more than the {_MAX_MEMORY} allowed")

    @property
    def memory(self) -> int:
        """Bytes scrypt's large vector takes (128 * r * N)."""
        return 128 * self.r * (1 << self.log2_n)


#: The cost of every new hash.
DEFAULT_PARAMS: Final = ScryptParams()


def check_password(password: str) -> None:
    """Raise ValueError (naming ``password``, never quoting it) unless ``password`` may be
    set: at least `MIN_PASSWORD_LENGTH` and at most `MAX_PASSWORD_LENGTH` characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password: must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password: must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """The encoded scrypt hash of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, params, _HASH_BYTES)
    return (f"${_ALGORITHM}$ln={params.log2_n},r={params.r},p={params.p}"
            f"${_b64encode(salt)}${_b64encode(digest)}")


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the hash ``encoded`` (compared in constant time).

    Raises `PasswordHashError` if ``encoded`` cannot be read. A password longer than
    `MAX_PASSWORD_LENGTH` never matches, and costs as much time as one that is checked.
    """
    params, salt, expected = _decode(encoded)
    if len(password) > MAX_PASSWORD_LENGTH:
        _scrypt("", salt, params, len(expected))
        return False
    return hmac.compare_digest(_scrypt(password, salt, params, len(expected)), expected)


def needs_rehash(encoded: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """Whether ``encoded`` was made with other parameters (or salt or hash sizes) than new
    hashes get, so a successful login should store a fresh one."""
    stored, salt, digest = _decode(encoded)
    return stored != params or len(salt) != _SALT_BYTES or len(digest) != _HASH_BYTES


@functools.lru_cache(maxsize=4)
def dummy_hash(params: ScryptParams = DEFAULT_PARAMS) -> str:
    """A hash of a random password, to verify against when there is no user: an unknown
    name then takes as long to refuse as a wrong password."""
    return hash_password(secrets.token_urlsafe(16), params)


def _scrypt(password: str, salt: bytes, params: ScryptParams, length: int) -> bytes:
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    return hashlib.scrypt(secret, salt=salt, n=1 << params.log2_n, r=params.r, p=params.p,
                          maxmem=params.memory + (1 << 20), dklen=length)


def _decode(encoded: str) -> tuple[ScryptParams, bytes, bytes]:
    match = _ENCODED.fullmatch(encoded)
    if match is None:
        parts = encoded.split("$", 2)
        algorithm = parts[1] if len(parts) == 3 and not parts[0] else ""
        if algorithm and algorithm != _ALGORITHM:
            raise PasswordHashError(f"password hash: unknown algorithm {algorithm[:20]!r}")
        raise PasswordHashError("password hash: not of the form $scrypt$ln=N,r=R,p=P$SALT$HASH")
    try:
        params = ScryptParams(int(match["ln"]), int(match["r"]), int(match["p"]))
    except ValueError as exc:
        raise PasswordHashError(f"password hash: {exc}") from None
    salt = _b64decode(match["salt"], "salt")
    digest = _b64decode(match["hash"], "hash")
    if len(salt) < 8:
        raise PasswordHashError("password hash: the salt is shorter than 8 bytes")
    if len(digest) < 16:
        raise PasswordHashError("password hash: the hash is shorter than 16 bytes")
    return params, salt, digest


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str, part: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PasswordHashError(f"password hash: the {part} is not base64") from None
