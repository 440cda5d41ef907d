"""SDES keys for SRTP: the SDP ``a=crypto`` attribute (RFC 4568) as pycc offers and answers it.

``a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]
[<session-params>...]`` (RFC 4568 §4, grammar §9.1) carries the SRTP master key and salt of the
stream its author *sends*; each side of a call picks its own key (§5.1.2, §6.1).

- :func:`parse_crypto` reads one attribute value into a :class:`CryptoAttribute` and
  :meth:`CryptoAttribute.format` writes it back; bad input raises :class:`CryptoError`, and a
  suite pycc does not implement raises its subclass :class:`UnsupportedSuiteError`, so a caller
  skips that line and looks at the next (§5.1.2: the answerer takes the first acceptable one).
- :data:`SUITES` lists the suites pycc implements, in its order of preference for offers:
  ``AES_CM_128_HMAC_SHA1_80`` and ``AES_CM_128_HMAC_SHA1_32`` (§6.2: 16-byte key, 14-byte salt)
  and ``AEAD_AES_128_GCM`` (RFC 7714 §12 and §14.1: 16-byte key, 12-byte salt), each with the
  name of its pylibsrtp profile; the SRTP adapter (:mod:`pycc.media.srtp`) looks that name up,
  because this pure package must not import pylibsrtp.
- :func:`new_crypto` and :func:`offer_crypto` make fresh keys; :func:`select_crypto` is the
  answerer's choice (§5.1.2: the first offered line whose suite and session parameters we
  support; the answer repeats its tag and suite with our own new key).
- :func:`crypto_attributes` and :func:`with_crypto` read and write the lines of a
  :class:`~pycc.sdp.session.MediaDescription`.
- **Keys never reach a log**: :class:`CryptoAttribute`'s ``repr`` and ``str`` show neither key
  nor salt, error messages never quote key material, and :func:`redact_sdp` /
  :func:`redact_sdp_bytes` blank every ``inline:`` key (and ``k=`` / MIKEY key lines) of an SDP
  body or a whole SIP message before it is logged.

SDES goes with the ``RTP/SAVP`` and ``RTP/SAVPF`` profiles (:data:`SDES_PROFILES`). The keys
travel in the clear inside the SDP, so a secure deployment sends SDES only over TLS (``sips:``)
signalling (RFC 4568 §8.3); that is a policy of the switch, not of this module.

Not supported, and why: several keys in one line (they need MKI-based key switching, which
pylibsrtp does not expose); the ``KDR`` key derivation rate (libsrtp derives once);
``UNENCRYPTED_*``/``UNAUTHENTICATED_SRTP``, ``FEC_KEY`` and ``FEC_ORDER=SRTP_FEC``. A line asking
for one of them is skipped by :func:`select_crypto` (§6.3: an answerer must not accept
mandatory session parameters it does not understand). A single MKI is supported.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from pycc.sdp.attributes import is_digits
from pycc.sdp.errors import SdpError
from pycc.sdp.session import Attribute, MediaDescription

__all__ = [
    "SDES_PROFILES",
    "SUITES",
    "CryptoAttribute",
    "CryptoError",
    "CryptoSuite",
    "UnsupportedSuiteError",
    "crypto_attributes",
    "is_supported",
    "new_crypto",
    "offer_crypto",
    "parse_crypto",
    "redact_sdp",
    "redact_sdp_bytes",
    "select_crypto",
    "with_crypto",
]

#: The RTP profiles that carry SDES keys (RFC 4568 §3.1; SAVPF is RFC 5124).
SDES_PROFILES: Final = frozenset({"RTP/SAVP", "RTP/SAVPF"})

RandomBytes = Callable[[int], bytes]


class CryptoError(SdpError):
    """An ``a=crypto`` value that cannot be used; ``reason`` says why, never quoting the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="crypto")


class UnsupportedSuiteError(CryptoError):
    """A well-formed line with a crypto suite pycc does not implement: skip it."""


@dataclass(frozen=True, slots=True)
class CryptoSuite:
    """One SRTP crypto suite: key sizes, tag sizes, and how pylibsrtp names it.

    ``srtp_profile`` is the name of the ``pylibsrtp.Policy`` constant. Tag lengths are in bytes;
    for the AEAD suite the 16-byte GCM tag is part of the ciphertext (RFC 7714 §8.1).
    ``max_lifetime`` is the most packets one master key may protect (RFC 4568 §6.2.1,
    RFC 7714 §12: 2^48 SRTP packets).
    """

    name: str
    key_length: int
    salt_length: int
    srtp_profile: str
    rtp_tag_length: int
    rtcp_tag_length: int
    aead: bool = False
    max_lifetime: int = 2**48


#: The suites pycc implements, in its order of preference for offers: ``_80`` first, being
#: RFC 3711's default transform (§5) that every SDES endpoint has; ``_32`` saves 6 bytes a
#: packet but keeps the 80-bit tag on SRTCP (RFC 4568 §6.2.2).
SUITES: Final[Mapping[str, CryptoSuite]] = MappingProxyType(
    {
        suite.name: suite
        for suite in (
            CryptoSuite(
                "AES_CM_128_HMAC_SHA1_80",
                key_length=16,
                salt_length=14,
                srtp_profile="SRTP_PROFILE_AES128_CM_SHA1_80",
                rtp_tag_length=10,
                rtcp_tag_length=10,
            ),
            CryptoSuite(
                "AES_CM_128_HMAC_SHA1_32",
                key_length=16,
                salt_length=14,
                srtp_profile="SRTP_PROFILE_AES128_CM_SHA1_32",
                rtp_tag_length=4,
                rtcp_tag_length=10,
            ),
            CryptoSuite(
                "AEAD_AES_128_GCM",
                key_length=16,
                salt_length=12,
                srtp_profile="SRTP_PROFILE_AEAD_AES_128_GCM",
                rtp_tag_length=16,
                rtcp_tag_length=16,
                aead=True,
            ),
        )
    }
)

_MAX_TAG = 999_999_999  # §9.1: tag = 1*9DIGIT
_MAX_MKI_LENGTH = 128  # §9.1: mki-length = 1*3DIGIT, 1 to 128 bytes
_MKI_VALUE_LIMIT = 10**128  # §9.1: mki-value = 1*128DIGIT
_QUOTE_LIMIT = 40  # characters of a peer's token quoted in an error message


@dataclass(frozen=True, slots=True, repr=False)
class CryptoAttribute:
    """One ``a=crypto`` line with a single inline key (RFC 4568 §9.1).

    ``lifetime`` is the number of packets the key may protect (``None``: the suite's maximum);
    ``mki`` is ``(value, length in bytes)`` of the Master Key Identifier that follows each
    packet's payload, or ``None``. Construction checks every field against the suite, so an
    object that exists is usable by the SRTP adapter. ``repr`` and ``str`` hide key and salt.
    """

    tag: int
    suite: str
    key: bytes
    salt: bytes
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    session_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.tag <= _MAX_TAG:
            raise CryptoError(f"tag {self.tag} is outside 0-{_MAX_TAG}")
        suite = SUITES.get(self.suite)
        if suite is None:
            raise UnsupportedSuiteError(f"unsupported crypto suite {_quote(self.suite)}")
        if len(self.key) != suite.key_length or len(self.salt) != suite.salt_length:
            raise CryptoError(
                f"{self.suite} needs a {suite.key_length}-byte key and a {suite.salt_length}-byte"
                f" salt, got {len(self.key)} and {len(self.salt)} bytes"
            )
        if self.lifetime is not None and not 1 <= self.lifetime <= suite.max_lifetime:
            raise CryptoError(f"key lifetime must be 1 to 2^48 packets for {self.suite}")
        if self.mki is not None:
            value, length = self.mki
            if not 1 <= length <= _MAX_MKI_LENGTH:
                raise CryptoError(f"MKI length {length} is outside 1-{_MAX_MKI_LENGTH} bytes")
            if not 0 <= value < 1 << (8 * length):
                raise CryptoError(f"MKI value does not fit in its length of {length} bytes")
            if value >= _MKI_VALUE_LIMIT:
                raise CryptoError("MKI value has more than 128 digits")
        for param in self.session_params:
            # §9.1 session-param = 1*(VCHAR): visible ASCII, so a value cannot break the line.
            if not param or not all("!" <= c <= "~" for c in param):
                raise CryptoError("a session parameter is empty or not visible ASCII")

    @property
    def crypto_suite(self) -> CryptoSuite:
        """The :data:`SUITES` entry of this line's suite."""
        return SUITES[self.suite]

    @property
    def key_salt(self) -> bytes:
        """Master key followed by master salt: the key pylibsrtp's ``Policy`` takes."""
        return self.key + self.salt

    @property
    def mki_bytes(self) -> bytes:
        """The MKI as it appears in each packet (big-endian, RFC 3711 §3.1), or ``b""``."""
        if self.mki is None:
            return b""
        value, length = self.mki
        return value.to_bytes(length, "big")

    def format(self) -> str:
        """The attribute value (the text after ``a=crypto:``)."""
        key_info = base64.b64encode(self.key + self.salt).decode("ascii")
        if self.lifetime is not None:
            key_info += "|" + _format_lifetime(self.lifetime)
        if self.mki is not None:
            key_info += f"|{self.mki[0]}:{self.mki[1]}"
        return " ".join((str(self.tag), self.suite, "inline:" + key_info, *self.session_params))

    def to_attribute(self) -> Attribute:
        """This line as an SDP attribute for a media description's attribute list."""
        return Attribute("crypto", self.format())

    def __repr__(self) -> str:
        return (
            f"CryptoAttribute(tag={self.tag}, suite={self.suite!r}, key=<redacted>,"
            f" salt=<redacted>, lifetime={self.lifetime!r}, mki={self.mki!r},"
            f" session_params={self.session_params!r})"
        )

    __str__ = __repr__


def parse_crypto(value: str) -> CryptoAttribute:
    """Parse the value of an ``a=crypto`` attribute (the text after ``crypto:``).

    Raises :class:`UnsupportedSuiteError` for a suite not in :data:`SUITES`, and
    :class:`CryptoError` for anything else that is wrong: too few fields, a tag that is not
    1-9 digits, a key method other than ``inline``, several key parameters, key material that
    is not base64 or has the wrong length for the suite, a bad lifetime or MKI.
    """
    parts = value.split()
    if len(parts) < 3:
        raise CryptoError("expected '<tag> <crypto-suite> <key-params> [<session-params>]'")
    tag_text, suite_name, key_params = parts[:3]
    if not is_digits(tag_text) or len(tag_text) > 9:
        raise CryptoError(f"tag {_quote(tag_text)} is not 1 to 9 digits")
    suite = SUITES.get(suite_name)
    if suite is None:
        raise UnsupportedSuiteError(f"unsupported crypto suite {_quote(suite_name)}")
    if ";" in key_params:
        raise CryptoError("several key parameters in one line; only one key is supported")
    method, colon, key_info = key_params.partition(":")
    if not colon or method.lower() != "inline":
        # The method name is quoted only when it cannot be the start of a key.
        shown = _quote(method) if colon else "(none)"
        raise CryptoError(f"key method {shown} is not supported; only 'inline' is")
    fields = key_info.split("|")
    if len(fields) > 3:
        raise CryptoError("too many '|' fields in the key parameter")
    material = _decode_key(fields[0])
    expected = suite.key_length + suite.salt_length
    if len(material) != expected:
        raise CryptoError(
            f"{suite.name} needs {suite.key_length}+{suite.salt_length} bytes of key and salt,"
            f" got {len(material)}"
        )
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    extras = fields[1:]
    # §9.1 key-info = key-salt ["|" lifetime] ["|" mki]: only the MKI has a colon, which tells
    # "KEY|MKI" from "KEY|LIFETIME" when one of the two is left out.
    if extras and ":" not in extras[0]:
        lifetime = _parse_lifetime(extras.pop(0), suite)
    if extras:
        mki = _parse_mki(extras.pop(0))
    if extras:
        raise CryptoError("unexpected field after the MKI in the key parameter")
    return CryptoAttribute(
        tag=int(tag_text),
        suite=suite.name,
        key=material[: suite.key_length],
        salt=material[suite.key_length :],
        lifetime=lifetime,
        mki=mki,
        session_params=tuple(parts[3:]),
    )


def new_crypto(tag: int, suite: str, random_bytes: RandomBytes = os.urandom) -> CryptoAttribute:
    """A fresh key and salt for ``suite`` from ``random_bytes`` (a CSPRNG in production)."""
    spec = SUITES.get(suite)
    if spec is None:
        raise UnsupportedSuiteError(f"unsupported crypto suite {_quote(suite)}")
    material = random_bytes(spec.key_length + spec.salt_length)
    return CryptoAttribute(tag, suite, material[: spec.key_length], material[spec.key_length :])


def offer_crypto(
    suites: Iterable[str] = tuple(SUITES), random_bytes: RandomBytes = os.urandom
) -> list[CryptoAttribute]:
    """One line per suite, tags 1, 2, ... in the given order of preference (§5.1.1)."""
    return [new_crypto(tag, suite, random_bytes) for tag, suite in enumerate(suites, 1)]


def is_supported(attr: CryptoAttribute) -> bool:
    """True when pycc can honour every session parameter of ``attr`` (RFC 4568 §6.3).

    Accepted: ``WSH=`` (only a hint, §6.3.7), ``KDR=0`` (derive once, as libsrtp does),
    ``FEC_ORDER=FEC_SRTP`` (the default order, §6.3.6), and any parameter marked optional with
    a leading ``-`` (§9.1 ``srtp-session-extension``). Anything else changes how packets are
    processed in a way pycc does not implement.
    """
    for param in attr.session_params:
        name, _, value = param.partition("=")
        if param.startswith("-") or name == "WSH":
            continue
        if (name, value) in (("KDR", "0"), ("FEC_ORDER", "FEC_SRTP")):
            continue
        return False
    return True


def select_crypto(
    offered: Iterable[CryptoAttribute], supported: Sequence[str] = tuple(SUITES)
) -> CryptoAttribute | None:
    """The offered line an answerer accepts: the first, in the offer's order of preference,
    whose suite is in ``supported`` and whose session parameters pycc honours (§5.1.2).

    The answer is ``new_crypto(chosen.tag, chosen.suite)``: same tag and suite, our own key.
    ``None`` means no line is acceptable: the stream is refused (port 0, or 488 for the call).
    """
    allowed = frozenset(supported)
    for attr in offered:
        if attr.suite in allowed and is_supported(attr):
            return attr
    return None


def crypto_attributes(media: MediaDescription) -> list[CryptoAttribute]:
    """The usable ``a=crypto`` lines of a media description, in their order.

    Lines that do not parse (unknown suite, bad key ...) are skipped, as an answerer does
    (§5.1.2); so is a line repeating an earlier tag, since a tag must name one line (§9.1).
    """
    result: list[CryptoAttribute] = []
    tags: set[int] = set()
    for value in media.attribute_values("crypto"):
        try:
            attr = parse_crypto(value)
        except CryptoError:
            continue
        if attr.tag not in tags:
            tags.add(attr.tag)
            result.append(attr)
    return result


def with_crypto(media: MediaDescription, attrs: Iterable[CryptoAttribute]) -> MediaDescription:
    """A copy of ``media`` whose ``a=crypto`` lines are ``attrs``; ``media`` is not changed.

    The new lines take the place of the first old one (or go last); an empty ``attrs``
    removes them all, as a plain RTP answer needs.
    """
    lines = [attr.to_attribute() for attr in attrs]
    attributes: list[Attribute] = []
    placed = False
    for attribute in media.attributes:
        if attribute.name != "crypto":
            attributes.append(attribute)
        elif not placed:
            attributes += lines
            placed = True
    if not placed:
        attributes += lines
    return dataclasses.replace(
        media,
        formats=list(media.formats),
        bandwidths=list(media.bandwidths),
        attributes=attributes,
        unknown_lines=list(media.unknown_lines),
    )


# Key material ends at white space, at ';' (the next key parameter) or at '|' (lifetime, MKI);
# everything between "inline:" and there is blanked, whatever its alphabet, so a malformed key
# leaks no more than a good one. k= lines (RFC 8866 §5.12, obsolete but still seen) may carry
# a clear key, and a=key-mgmt (RFC 4567) a MIKEY message with one.
_INLINE_TEXT = re.compile(r"(inline:)[^\s;|]*", re.IGNORECASE)
_KEY_LINE_TEXT = re.compile(r"^(k=[^:\r\n]*:)[^\r\n]*", re.MULTILINE)
_KEY_MGMT_TEXT = re.compile(r"^(a=key-mgmt:[^ \r\n]*)[ ]+[^\r\n]*", re.MULTILINE)
_INLINE_BYTES = re.compile(rb"(inline:)[^\s;|]*", re.IGNORECASE)
_KEY_LINE_BYTES = re.compile(rb"^(k=[^:\r\n]*:)[^\r\n]*", re.MULTILINE)
_KEY_MGMT_BYTES = re.compile(rb"^(a=key-mgmt:[^ \r\n]*)[ ]+[^\r\n]*", re.MULTILINE)


def redact_sdp(text: str) -> str:
    """``text`` (an SDP body or a whole SIP message) with every key replaced by ``<redacted>``.

    ``inline:<key>`` becomes ``inline:<redacted>`` (lifetime and MKI are kept, they are not
    secret), ``k=method:<key>`` becomes ``k=method:<redacted>`` and ``a=key-mgmt:<protocol>
    <data>`` keeps only its protocol.
    """
    text = _INLINE_TEXT.sub(r"\1<redacted>", text)
    text = _KEY_LINE_TEXT.sub(r"\1<redacted>", text)
    return _KEY_MGMT_TEXT.sub(r"\1 <redacted>", text)


def redact_sdp_bytes(data: bytes) -> bytes:
    """:func:`redact_sdp` for a message still in bytes (any encoding, nothing is decoded)."""
    data = _INLINE_BYTES.sub(rb"\1<redacted>", data)
    data = _KEY_LINE_BYTES.sub(rb"\1<redacted>", data)
    return _KEY_MGMT_BYTES.sub(rb"\1 <redacted>", data)


def _decode_key(text: str) -> bytes:
    # §9.1 allows '=' in key-salt; peers differ on padding a 28-byte GCM key, so missing
    # padding is restored before a strict decode. The text is never quoted: it is the key.
    stripped = text.rstrip("=")
    if len(text) - len(stripped) > 2 or not stripped:
        raise CryptoError("key and salt are not valid base64")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("key and salt are not valid base64") from None


def _parse_lifetime(text: str, suite: CryptoSuite) -> int:
    # §9.1 lifetime = ["2^"] 1*(DIGIT). Digits are bounded before int() so "2^99999999" or a
    # thousand-digit number costs nothing.
    exponent = text.removeprefix("2^")
    if exponent != text:
        if not is_digits(exponent) or len(exponent) > 2 or int(exponent) > 48:
            raise CryptoError(f"key lifetime {_quote(text)} is not 2^0 to 2^48")
        lifetime = 1 << int(exponent)
    elif is_digits(text) and len(text) <= 15:
        lifetime = int(text)
    else:
        raise CryptoError(f"key lifetime {_quote(text)} is not a number up to 2^48")
    if not 1 <= lifetime <= suite.max_lifetime:
        raise CryptoError(f"key lifetime {_quote(text)} is outside 1 to 2^48 packets")
    return lifetime


def _parse_mki(text: str) -> tuple[int, int]:
    # §9.1 mki = mki-value ":" mki-length; mki-value = 1*128DIGIT, mki-length = 1*3DIGIT.
    value, _, length = text.partition(":")
    if not (is_digits(value) and len(value) <= 128 and is_digits(length) and len(length) <= 3):
        raise CryptoError(f"MKI {_quote(text)} is not '<value>:<length>'")
    return int(value), int(length)


def _format_lifetime(lifetime: int) -> str:
    # Powers of two in the 2^n form that RFC 4568's examples and most peers use.
    if lifetime & (lifetime - 1) == 0:
        return f"2^{lifetime.bit_length() - 1}"
    return str(lifetime)


def _quote(text: str) -> str:
    # Only used for fields that are never key material; bounded so junk cannot flood a log.
    return repr(text[:_QUOTE_LIMIT] + ("..." if len(text) > _QUOTE_LIMIT else ""))
