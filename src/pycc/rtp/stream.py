"""One outgoing RTP stream kept continuous while what feeds it changes.

A leg of a call hears, one after another, a relayed stream from the other leg, a prompt, a
transcoded stream, the other leg again after its SSRC changed. The phone must see one stream:
one SSRC, sequence numbers that go on by one, timestamps that go on with the media clock
(RFC 3550 §5.1), which pycc provides the way a mixer does (RFC 3550 §7.3: its own SSRC and
timing). `OutgoingStream` maps every source onto that stream: a relayed source keeps its own
spacing (offsets added to its sequence numbers and timestamps, so its losses still show as gaps
downstream), generated media advances by the samples in each packet, and at a switch the
timestamp jumps by the real time elapsed (never less than one packet) with the marker bit set
on the first packet of the new source, where the receiver resynchronises its playout
(RFC 3551 §4.1).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

__all__ = ["OutgoingHeader", "OutgoingStream"]

_U32 = 0xFFFFFFFF
_U16 = 0xFFFF


class OutgoingHeader(NamedTuple):
    """The header fields of one outgoing packet (use with `rewrite_header` or `RtpPacket`)."""

    sequence: int
    timestamp: int
    ssrc: int
    marker: bool


class OutgoingStream:
    """Sequence numbers and timestamps of one outgoing stream with a fixed SSRC.

    ``source_id`` names what feeds the stream (any hashable: a leg and its SSRC, a prompt
    player); a new value is a switch. A relay must pass the far end's SSRC in its source id, so
    that an SSRC change is a switch too, and must stop relaying a source once it switched away.
    """

    __slots__ = (
        "_clock_rate",
        "_initial_ts",
        "_next_ts",
        "_seq",
        "_seq_offset",
        "_source",
        "_ssrc",
        "_started",
        "_step",
        "_time",
        "_ts",
        "_ts_offset",
    )

    def __init__(
        self, ssrc: int, clock_rate: int, initial_seq: int, initial_ts: int,
        *, ptime: float = 0.02,
    ) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self._ssrc = ssrc & _U32
        self._clock_rate = clock_rate
        self._seq = (initial_seq - 1) & _U16  # the last one sent: the first is initial_seq
        self._initial_ts = initial_ts & _U32
        self._ts = self._initial_ts
        self._next_ts = self._initial_ts
        self._started = False
        # Samples one packet spans: the least a switch advances the timestamp by.
        self._step = max(1, round(ptime * clock_rate))
        self._time: float | None = None
        self._source: Hashable = None
        self._seq_offset = 0
        self._ts_offset = 0

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def clock_rate(self) -> int:
        return self._clock_rate

    @property
    def last_sequence(self) -> int:
        return self._seq

    @property
    def last_timestamp(self) -> int:
        return self._ts

    @property
    def source(self) -> Hashable:
        return self._source

    def _switch_timestamp(self, now: float | None) -> int:
        """Where a new source starts on the output clock."""
        if not self._started:
            return self._initial_ts
        if now is not None and self._time is not None:
            elapsed = round((now - self._time) * self._clock_rate)
            return (self._ts + max(self._step, elapsed)) & _U32
        return self._next_ts

    def relay(
        self, sequence: int, timestamp: int, marker: bool, source_id: Hashable, now: float
    ) -> OutgoingHeader:
        """The output header of a relayed packet (its input sequence number and timestamp)."""
        switched = source_id != self._source or not self._started
        if switched:
            start = self._switch_timestamp(now)
            self._ts_offset = (start - timestamp) & _U32
            self._seq_offset = (self._seq + 1 - sequence) & _U16
            self._source = source_id
            self._started = True
            self._ts = start  # so the step measured below is not the gap of the switch
        seq = (sequence + self._seq_offset) & _U16
        ts = (timestamp + self._ts_offset) & _U32
        if 0 < (seq - self._seq) & _U16 < 0x8000 or switched:
            # Newest so far (a reordered packet leaves the reference alone).
            step = (ts - self._ts) & _U32
            if 0 < step < self._clock_rate:
                self._step = step
            self._seq = seq
            self._ts = ts
            self._next_ts = (ts + self._step) & _U32
            self._time = now
        return OutgoingHeader(seq, ts, self._ssrc, marker or switched)

    def next_header(
        self, samples: int, source_id: Hashable, marker: bool | None = None,
        now: float | None = None,
    ) -> OutgoingHeader:
        """The header of a generated packet carrying ``samples`` samples (timestamp units).

        ``marker`` None sets it on the first packet after a switch. Within one source the
        timestamp advances by the samples alone; pass ``now`` so that a switch can measure the
        real gap (and `timestamp_for` can extrapolate).
        """
        switched = source_id != self._source or not self._started
        ts = self._switch_timestamp(now) if switched else self._next_ts
        self._source = source_id
        self._started = True
        self._seq = seq = (self._seq + 1) & _U16
        self._ts = ts
        if samples > 0:
            self._step = samples
        self._next_ts = (ts + samples) & _U32
        self._time = now
        return OutgoingHeader(seq, ts, self._ssrc, switched if marker is None else marker)

    def timestamp_for(self, now: float) -> int:
        """The output timestamp of the instant ``now``, from the last packet's time: for media
        that starts after a gap measured in wall time (a DTMF event, a prompt after silence)."""
        if not self._started:
            return self._initial_ts
        if self._time is None:
            return self._next_ts
        return (self._ts + round((now - self._time) * self._clock_rate)) & _U32
