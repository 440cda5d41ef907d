"""DTMF over RTP as named telephone events: payload, digit mapping, receiver and sender.

Implements RFC 4733 §2.3 (the 4-byte event payload: event, E bit, volume, duration), §3.2 table 3
(events 0-15 are the DTMF keys 0-9 * # A-D, 16 is flash, here written "!"), §2.5.1 (the sender:
marker on the first packet of an event, one RTP timestamp for the whole event, the duration
growing with each update, the final duration sent three times, long events cut into segments of
at most 0xFFFF samples) and §2.5.2 (the receiver: an event is known by its timestamp, so
retransmitted, reordered and duplicated packets report each key press once; a lost start is
recovered from any later packet, a lost end from the next event or a timeout). Table 5 of §5
is the test vector.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TypeAlias

from pycc.rtp.errors import DtmfError
from pycc.rtp.packet import BytesLike, RtpPacket

__all__ = [
    "DIGIT_TO_EVENT",
    "EVENT_TO_DIGIT",
    "DigitEnded",
    "DigitStarted",
    "DtmfError",
    "DtmfEvent",
    "DtmfPacket",
    "DtmfReceiver",
    "DtmfSender",
    "TelephoneEvent",
    "digit_to_event",
    "event_to_digit",
    "parse_event",
]

_EVENT = struct.Struct("!BBH")
_U32 = 0xFFFFFFFF
_MAX_DURATION = 0xFFFF

EVENT_TO_DIGIT: dict[int, str] = {**{n: str(n) for n in range(10)},
                                   10: "*", 11: "#", 12: "A", 13: "B", 14: "C", 15: "D", 16: "!"}
DIGIT_TO_EVENT: dict[str, int] = {digit: event for event, digit in EVENT_TO_DIGIT.items()}


def digit_to_event(digit: str) -> int:
    """The event code of a key ("0"-"9", "*", "#", "A"-"D", "!" for flash; a-d accepted)."""
    try:
        return DIGIT_TO_EVENT[digit.upper()]
    except KeyError:
        raise ValueError(f"{digit!r} is not a DTMF key") from None


def event_to_digit(event: int) -> str | None:
    """The key of an event code, None for events that are not DTMF keys (tones, signals)."""
    return EVENT_TO_DIGIT.get(event)


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The RFC 4733 §2.3 payload. ``volume`` is the power in -dBm0 (0..63); ``duration`` is in
    timestamp units since the event's RTP timestamp."""

    event: int
    end: bool
    volume: int
    duration: int

    def serialize(self) -> bytes:
        if not 0 <= self.volume <= 63:
            raise DtmfError("field", f"volume {self.volume} is not 0..63")
        try:
            return _EVENT.pack(self.event, 0x80 * self.end | self.volume, self.duration)
        except struct.error as exc:
            raise DtmfError("field", str(exc)) from None


def parse_event(payload: BytesLike) -> TelephoneEvent:
    """Parse a telephone-event payload (its first event when several are packed, §2.5.1.5)."""
    if len(payload) < 4:
        raise DtmfError("short", f"{len(payload)} bytes, an event is 4")
    event, flags, duration = _EVENT.unpack_from(payload)
    # The R bit (0x40) is reserved: senders set it to zero, receivers ignore it.
    return TelephoneEvent(event, flags >= 0x80, flags & 0x3F, duration)


# -- receiver ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigitStarted:
    """A key went down (first packet of the event seen) at ``now``."""

    digit: str
    now: float


@dataclass(frozen=True, slots=True)
class DigitEnded:
    """A key went up after ``duration_samples`` timestamp units (the last duration received)."""

    digit: str
    duration_samples: int


DtmfEvent: TypeAlias = DigitStarted | DigitEnded


class DtmfReceiver:
    """Turns telephone-event packets into `DigitStarted` / `DigitEnded`, each once per press.

    Inputs: `receive` (or `receive_packet`) per packet, `handle_timer` when `get_timer` is due.
    An event is identified by its RTP timestamp: a packet with the current event's timestamp
    updates it, one with a newer timestamp starts the next event (ending the current one if its
    end packets were lost), one with an older timestamp is a late straggler and is dropped. An
    event with no packet for ``end_timeout`` seconds ends by timeout (all end packets lost).
    """

    __slots__ = (
        "_base",
        "_clock_rate",
        "_deadline",
        "_digit",
        "_duration",
        "_end_timeout",
        "_event",
        "_last_seq",
        "_open",
        "_straggler",
        "_ts",
        "ignored",
    )

    def __init__(self, clock_rate: int = 8000, *, end_timeout: float = 0.3) -> None:
        self._clock_rate = clock_rate
        self._end_timeout = end_timeout
        # How far back a timestamp may be and still be a late packet of an earlier event (or
        # segment) rather than a sender that restarted its timeline.
        self._straggler = max(2 * clock_rate, 2 * _MAX_DURATION)
        #: Packets that changed nothing: duplicates, stragglers, retransmitted ends, non-keys.
        self.ignored = 0
        self.reset()

    def reset(self) -> None:
        """Forget the current event (a new SSRC: its timestamps have nothing to do with ours)."""
        self._ts: int | None = None
        self._event = -1
        self._digit = ""
        self._open = False
        self._duration = 0
        self._base = 0  # duration of the earlier segments of a long event (§2.5.1.3)
        self._deadline: float | None = None
        self._last_seq: int | None = None

    def receive_packet(self, packet: RtpPacket, now: float) -> list[DtmfEvent]:
        """`receive` for a parsed RTP packet; raises `DtmfError` for a bad payload."""
        return self.receive(
            packet.timestamp, packet.sequence, packet.marker, parse_event(packet.payload), now
        )

    def receive(
        self, timestamp: int, sequence: int, marker: bool, event: TelephoneEvent, now: float
    ) -> list[DtmfEvent]:
        """Account one telephone-event packet; returns the digit events it causes (often none).
        Events that are not DTMF keys and repeats of the previous sequence number are ignored."""
        digit = EVENT_TO_DIGIT.get(event.event)
        if digit is None or sequence == self._last_seq:
            self.ignored += 1
            return []
        self._last_seq = sequence
        out: list[DtmfEvent] = []
        if self._ts is not None:
            delta = (timestamp - self._ts) & _U32
            if delta >= 1 << 31:
                delta -= 1 << 32
            if -self._straggler <= delta < 0:
                self.ignored += 1
                return []
            if delta == 0:
                if self._open and event.event == self._event:
                    self._update(event, now, out)
                else:
                    self.ignored += 1  # a retransmitted end, or a bogus event code
                return out
            if (
                self._open
                and event.event == self._event
                and not marker
                and self._duration == _MAX_DURATION
                and delta == _MAX_DURATION
            ):
                # The next segment of a long event: the same key press goes on (§2.5.1.3).
                self._base += _MAX_DURATION
                self._ts = timestamp
                self._duration = 0
                self._update(event, now, out)
                return out
            if self._open:
                out.append(self._close())
        self._ts = timestamp
        self._event = event.event
        self._digit = digit
        self._open = True
        self._base = 0
        self._duration = 0
        out.append(DigitStarted(digit, now))
        self._update(event, now, out)
        return out

    def _update(self, event: TelephoneEvent, now: float, out: list[DtmfEvent]) -> None:
        # Reordered updates may carry a shorter duration: keep the longest.
        if event.duration > self._duration:
            self._duration = event.duration
        if event.end:
            out.append(self._close())
        else:
            self._deadline = now + self._end_timeout

    def _close(self) -> DigitEnded:
        self._open = False
        self._deadline = None
        return DigitEnded(self._digit, self._base + self._duration)

    def get_timer(self) -> float | None:
        """When `handle_timer` must be called next, or None."""
        return self._deadline

    def handle_timer(self, now: float) -> list[DtmfEvent]:
        if self._open and self._deadline is not None and now >= self._deadline:
            return [self._close()]
        return []


# -- sender ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """One packet to send: RTP marker and timestamp, the event, and when to send it (seconds
    after the key went down). Sequence numbers are the outgoing stream's."""

    marker: bool
    timestamp: int
    event: TelephoneEvent
    offset: float

    @property
    def payload(self) -> bytes:
        return self.event.serialize()


class DtmfSender:
    """Plans the telephone-event packets of key presses (RFC 4733 §2.5.1).

    An update goes out every ``ptime_ms``, its duration the time since the key went down; the
    first has the marker bit. The final duration is sent three times (§2.5.1.4), the E bit set
    on each copy sent after the key is known to be up: when the key goes up exactly on an update,
    that update is the first copy and carries E=0, as RFC 4733 table 5 shows.
    """

    __slots__ = ("_clock_rate", "_next_ts", "_ptime", "_volume")

    def __init__(
        self, clock_rate: int = 8000, ptime_ms: int = 20, *, volume: int = 10,
        initial_timestamp: int = 0,
    ) -> None:
        if clock_rate <= 0 or ptime_ms <= 0:
            raise ValueError("clock rate and ptime must be positive")
        if not 0 <= volume <= 63:
            raise ValueError(f"volume {volume} is not 0..63")
        self._clock_rate = clock_rate
        self._ptime = clock_rate * ptime_ms // 1000
        if self._ptime <= 0:
            raise ValueError("ptime is shorter than one sample")
        self._volume = volume
        self._next_ts = initial_timestamp & _U32

    @property
    def next_timestamp(self) -> int:
        """The timestamp the next digit gets when none is given: after the last packet sent."""
        return self._next_ts

    def packets(
        self, digit: str, duration_ms: float, timestamp: int | None = None
    ) -> list[DtmfPacket]:
        """The packets of one key press lasting ``duration_ms``, starting at RTP ``timestamp``
        (by default `next_timestamp`; the media layer passes the stream's clock)."""
        code = digit_to_event(digit)
        total = round(duration_ms * self._clock_rate / 1000)
        if total <= 0:
            raise ValueError(f"duration {duration_ms} ms is shorter than one sample")
        start = (self._next_ts if timestamp is None else timestamp) & _U32
        step = self._ptime
        rate = self._clock_rate
        packets: list[DtmfPacket] = []
        segment_ts = start
        segment_start = 0  # samples since key down at which the current segment began
        k = 1
        while True:
            elapsed = k * step
            if elapsed - segment_start > _MAX_DURATION and total - segment_start > _MAX_DURATION:
                # §2.5.1.3: the segment is full; it ends (three copies, E bit clear as the event
                # goes on) and the next one starts at its end, without the marker bit.
                for _ in range(3):
                    event = TelephoneEvent(code, False, self._volume, _MAX_DURATION)
                    packets.append(DtmfPacket(False, segment_ts, event, elapsed / rate))
                    k += 1
                    elapsed = k * step
                segment_start += _MAX_DURATION
                segment_ts = (start + segment_start) & _U32
            if elapsed >= total:
                break
            event = TelephoneEvent(code, False, self._volume, elapsed - segment_start)
            packets.append(DtmfPacket(not packets, segment_ts, event, elapsed / rate))
            k += 1
        final = TelephoneEvent(code, True, self._volume, total - segment_start)
        # The key went up exactly on this update: it leaves as an ordinary update first.
        copies = 3
        if elapsed == total:
            packets.append(DtmfPacket(not packets, segment_ts,
                                      TelephoneEvent(code, False, self._volume, final.duration),
                                      elapsed / rate))
            copies = 2
            k += 1
        for _ in range(copies):
            packets.append(DtmfPacket(not packets, segment_ts, final, k * step / rate))
            k += 1
        self._next_ts = (start + k * step) & _U32
        return packets
