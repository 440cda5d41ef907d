"""DTMF carried in SIP INFO requests (RFC 6086 packages used without a package name).

Two bodies are in common use: ``application/dtmf-relay`` with ``Signal=5`` and ``Duration=160``
lines (milliseconds), and ``application/dtmf`` holding the bare digit. Neither has an RFC of
its own; this is the form most PBXs and phones send. Pure code.
"""

from __future__ import annotations

__all__ = [
    "DTMF_CONTENT_TYPES",
    "DTMF_DIGITS",
    "DTMF_RELAY",
    "DtmfInfo",
    "format_dtmf_relay",
    "parse_dtmf_info",
]

DTMF_RELAY = "application/dtmf-relay"
DTMF_CONTENT_TYPES = frozenset({DTMF_RELAY, "application/dtmf"})
#: The keys a ``Signal=`` line may name (RFC 4733 §3.2 events 0-15, the usual spelling).
DTMF_DIGITS = frozenset("0123456789*#ABCD")
#: Duration assumed when the body gives none, or an unusable one (milliseconds).
DEFAULT_DURATION_MS = 160
_MAX_DURATION_MS = 10_000


class DtmfInfo(tuple[str, int]):
    """A digit and its duration in milliseconds."""

    __slots__ = ()

    def __new__(cls, digit: str, duration_ms: int) -> DtmfInfo:
        return super().__new__(cls, (digit, duration_ms))

    @property
    def digit(self) -> str:
        return self[0]

    @property
    def duration_ms(self) -> int:
        return self[1]


def parse_dtmf_info(content_type: str | None, body: bytes) -> DtmfInfo | None:
    """The key an INFO body reports, or None when it is not one (wrong type, no valid digit).

    ``content_type`` is compared without parameters and case-insensitively. ``Signal=10`` and
    ``11`` are the numeric spellings of ``*`` and ``#`` some phones use.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in DTMF_CONTENT_TYPES:
        return None
    text = body.decode("utf-8", "replace")
    if kind != DTMF_RELAY:
        digit = _digit(text.strip())
        return None if digit is None else DtmfInfo(digit, DEFAULT_DURATION_MS)
    signal: str | None = None
    duration = DEFAULT_DURATION_MS
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep:
            continue
        name, value = name.strip().lower(), value.strip()
        if name == "signal":
            signal = value
        elif name == "duration" and value.isdigit():
            duration = min(max(int(value), 1), _MAX_DURATION_MS)
    digit = _digit(signal or "")
    return None if digit is None else DtmfInfo(digit, duration)


def format_dtmf_relay(digit: str, duration_ms: int = DEFAULT_DURATION_MS) -> bytes:
    """The ``application/dtmf-relay`` body for ``digit``; raises ValueError for a non-digit."""
    key = _digit(digit)
    if key is None:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return f"Signal={key}\r\nDuration={int(duration_ms)}\r\n".encode("ascii")


def _digit(text: str) -> str | None:
    if text in ("10", "11"):
        return "*" if text == "10" else "#"
    key = text.upper()
    return key if len(key) == 1 and key in DTMF_DIGITS else None
