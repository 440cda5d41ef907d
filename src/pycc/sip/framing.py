"""Cutting a byte stream (TCP, TLS) into SIP messages by Content-Length.

Implements RFC 3261 §18.3 for stream transports and the keep-alive of RFC 5626 §4.4.1: a
double CRLF ("ping") between messages is answered with a single CRLF ("pong"). The buffer is
bounded; a message whose framing cannot be recovered (a missing, malformed or conflicting
Content-Length, RFC 4475 §3.1.2.3 and §3.3.9) ends the connection after an error answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycc.sip.message import DEFAULT_LIMITS, Limits


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete message's bytes."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A CRLFCRLF keep-alive from the peer: answer with CRLF."""


@dataclass(frozen=True, slots=True)
class FramingError:
    """The stream cannot be framed any more: ``data`` holds the head for an error answer."""

    reason: str
    data: bytes


StreamEvent = Frame | Ping | FramingError


class StreamFramer:
    """Feed bytes in, take complete messages out."""

    __slots__ = ("_broken", "_buf", "limits")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._buf = bytearray()
        self._broken = False
        self.limits = limits

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete message (a half-open peer leaves them here)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self._broken:
            return []
        self._buf += data
        events: list[StreamEvent] = []
        while True:
            # Keep-alives and stray line ends between messages.
            if self._buf.startswith(b"\r\n\r\n"):
                del self._buf[:4]
                events.append(Ping())
                continue
            if self._buf.startswith(b"\r\n"):
                if len(self._buf) < 4 and b"\r\n\r\n".startswith(self._buf):
                    return events  # maybe the start of a ping
                del self._buf[:2]
                continue
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self.limits.max_message:
                    self._broken = True
                    events.append(FramingError("Message Too Large", bytes(self._buf[:4096])))
                return events
            head = bytes(self._buf[:end])
            length, problem = _content_length(head)
            if problem is not None:
                self._broken = True
                events.append(FramingError(problem, head))
                return events
            total = end + 4 + length
            if total > self.limits.max_message:
                self._broken = True
                events.append(FramingError("Message Too Large", head))
                return events
            if len(self._buf) < total:
                return events
            events.append(Frame(bytes(self._buf[:total])))
            del self._buf[:total]


def _content_length(head: bytes) -> tuple[int, str | None]:
    values: set[bytes] = set()
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip().lower()
        if key in (b"content-length", b"l"):
            values.add(value.strip())
    if not values:
        return 0, "Missing Content-Length on a stream transport"
    if len(values) > 1:
        return 0, "Conflicting Content-Length headers"
    text = values.pop()
    if not text.isdigit() or len(text) > 9:
        return 0, "Malformed Content-Length"
    return int(text), None
