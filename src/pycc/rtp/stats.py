"""Reception and sending statistics of one RTP stream, as RTCP reports them.

Implements RFC 3550 appendix A.1 (sequence-number validation: probation of a new source,
MAX_DROPOUT / MAX_MISORDER, sequence wrap counted in ``cycles``, restart after two sequential
packets far away), A.3 (expected, cumulative and interval loss, fraction lost), A.8
(interarrival jitter, J += (|D| - J) / 16) and §6.4.1 (LSR / DLSR, round-trip time
A - LSR - DLSR). `SenderStats` keeps the packet and octet counts of §6.4.1's sender info and
builds the `SenderReport`. Times are passed in (``now``/``arrival`` in seconds on any one clock);
nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pycc.rtp.rtcp import ReportBlock, SenderReport, ntp_from_unix

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "ReceiverStats",
    "SenderStats",
    "round_trip",
]

RTP_SEQ_MOD = 1 << 16
#: Appendix A.1's defaults: a jump ahead of up to MAX_DROPOUT packets is loss, a step back of
#: up to MAX_MISORDER is reordering; anything else is a restart or a stray packet.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2

_U32 = 0xFFFFFFFF
_HALF_U32 = 1 << 31


class ReceiverStats:
    """Everything a receiver report block says about one source (RFC 3550 A.1, A.3, A.8).

    Call `update` for every packet of the source; a new SSRC means a new source: call `reset`
    (or pass ``ssrc`` to `update`, which does it). `report_block` produces the block and starts
    a new reporting interval.
    """

    __slots__ = (
        "_bad_seq",
        "_base_seq",
        "_clock_rate",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_last_time",
        "_lsr",
        "_lsr_arrival",
        "_max_seq",
        "_min_sequential",
        "_probation",
        "_received",
        "_received_prior",
        "_ssrc",
        "_transit",
        "_valid",
    )

    def __init__(self, clock_rate: int, *, min_sequential: int = MIN_SEQUENTIAL) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        if min_sequential < 1:
            raise ValueError(f"min_sequential must be at least 1, got {min_sequential}")
        self._clock_rate = clock_rate
        self._min_sequential = min_sequential
        self._ssrc: int | None = None
        self._lsr = 0
        self._lsr_arrival = 0.0
        self._last_time: float | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the source: the next packet starts probation again (a new SSRC)."""
        self._max_seq: int | None = None
        self._valid = False
        self._probation = self._min_sequential
        self._base_seq = 0
        self._bad_seq = RTP_SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._transit: float | None = None
        self._jitter = 0.0
        self._lsr = 0
        self._lsr_arrival = 0.0

    # -- input ---------------------------------------------------------------------------------

    def update(self, seq: int, rtp_ts: int, arrival: float, ssrc: int | None = None) -> bool:
        """Account one received packet; False when A.1 does not count it (the source is still
        on probation, or the sequence number jumped too far to be this stream)."""
        if ssrc is not None and ssrc != self._ssrc:
            if self._ssrc is not None:
                self.reset()
            self._ssrc = ssrc
        self._last_time = arrival
        max_seq = self._max_seq
        if max_seq is None:
            # A.1: the first packet starts probation as if its predecessor had been seen.
            max_seq = self._max_seq = (seq - 1) & 0xFFFF
            self._probation = self._min_sequential
        if self._probation:
            accepted = self._probation_step(seq, max_seq)
            self._update_jitter(rtp_ts, arrival)
            return accepted
        # A.1's update_seq for a validated source, inline: this runs for every packet.
        udelta = (seq - max_seq) & 0xFFFF
        if udelta < MAX_DROPOUT:
            if seq < max_seq:
                self._cycles += RTP_SEQ_MOD  # wrapped around
            self._max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
            # Two sequential packets after a big jump: the sender restarted without telling.
            self._init_seq(seq)
            self._transit = None
        # else: a duplicate or a reordered packet; counted, as A.1 does.
        self._received += 1
        self._update_jitter(rtp_ts, arrival)
        return True

    def _init_seq(self, seq: int) -> None:
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = RTP_SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._valid = True

    def _probation_step(self, seq: int, max_seq: int) -> bool:
        """A.1 for a source not yet validated: MIN_SEQUENTIAL packets in a row validate it."""
        if seq == (max_seq + 1) & 0xFFFF:
            self._probation -= 1
            self._max_seq = seq
            if self._probation == 0:
                self._init_seq(seq)
                self._received += 1
                return True
        else:
            self._probation = self._min_sequential - 1
            self._max_seq = seq
        return False

    def _update_jitter(self, rtp_ts: int, arrival: float) -> None:
        transit = arrival * self._clock_rate - rtp_ts
        previous = self._transit
        self._transit = transit
        if previous is None:
            return
        d = transit - previous
        # The RTP timestamp wraps at 2**32: fold the difference back into one turn.
        if not -_HALF_U32 <= d < _HALF_U32:
            d = (d + _HALF_U32) % (1 << 32) - _HALF_U32
        self._jitter += (abs(d) - self._jitter) / 16

    def sender_report_received(self, ntp_middle32: int, now: float) -> None:
        """Remember the source's last SR (its NTP timestamp's middle 32 bits and when it came)
        for the LSR and DLSR fields of the next report block."""
        self._lsr = ntp_middle32 & _U32
        self._lsr_arrival = now
        self._last_time = now

    # -- moving a source between processes ------------------------------------------------------

    def state(self) -> dict[str, int | float | None]:
        """Everything this object knows, by field name without the underscore, for another
        implementation of the same appendix (the relay worker's C loop) to go on from."""
        return {name[1:]: getattr(self, name) for name in self.__slots__}

    def restore(self, state: Mapping[str, int | float | None]) -> None:
        """Take over the fields `state` names (as it returns them); others stay as they are."""
        for name in self.__slots__:
            if name[1:] in state:
                setattr(self, name, state[name[1:]])

    # -- what a report says ----------------------------------------------------------------------

    @property
    def clock_rate(self) -> int:
        return self._clock_rate

    @property
    def valid(self) -> bool:
        """The source has passed probation (A.1)."""
        return self._valid

    @property
    def received(self) -> int:
        return self._received

    @property
    def highest_sequence(self) -> int:
        """The extended highest sequence number received: cycles * 65536 + max_seq."""
        if not self._valid or self._max_seq is None:
            return 0
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        if not self._valid:
            return 0
        return self.highest_sequence - self._base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received, clamped to the 24-bit signed field (A.3)."""
        return max(-(1 << 23), min((1 << 23) - 1, self.expected - self._received))

    @property
    def fraction_lost(self) -> int:
        """Loss since the last `report_block`, as the 8-bit fixed-point fraction (A.3)."""
        return self._interval()[2]

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units, as reported (A.8)."""
        return int(self._jitter)

    @property
    def jitter_ms(self) -> float:
        return self._jitter * 1000.0 / self._clock_rate

    def _interval(self) -> tuple[int, int, int]:
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return expected, self._received, fraction

    def report_block(self, ssrc: int, now: float | None = None) -> ReportBlock:
        """The report block about source ``ssrc``; starts a new interval for `fraction_lost`.

        DLSR is measured up to ``now``; without it, up to the latest time this object was given
        (the last packet's arrival or SR), which is close while the stream is flowing.
        """
        expected, received, fraction = self._interval()
        self._expected_prior = expected
        self._received_prior = received
        dlsr = 0
        if self._lsr:
            at = now if now is not None else self._last_time
            if at is not None:
                dlsr = max(0, min(_U32, round((at - self._lsr_arrival) * 65536)))
        return ReportBlock(
            ssrc=ssrc & _U32,
            fraction_lost=fraction,
            cumulative_lost=self.cumulative_lost,
            highest_sequence=self.highest_sequence & _U32,
            jitter=min(_U32, self.jitter),
            lsr=self._lsr,
            dlsr=dlsr,
        )


def round_trip(block: ReportBlock, now_ntp_middle32: int) -> float | None:
    """Round-trip time in seconds from a report block about our stream (RFC 3550 §6.4.1):
    A - LSR - DLSR, with A the middle 32 bits of our NTP time when the block arrived.

    None when the peer has not received an SR yet (LSR = 0). A small negative result, from
    rounding in the 16.16 fields, is reported as 0.
    """
    if block.lsr == 0:
        return None
    delay = (now_ntp_middle32 - block.lsr - block.dlsr) & _U32
    if delay >= _HALF_U32:
        delay -= 1 << 32
    return max(0.0, delay / 65536)


class SenderStats:
    """What the sender info of an SR carries about our outgoing stream (RFC 3550 §6.4.1)."""

    __slots__ = ("_clock_rate", "_last_time", "_last_ts", "_octets", "_packets")

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self._clock_rate = clock_rate
        self._packets = 0
        self._octets = 0
        self._last_ts: int | None = None
        self._last_time = 0.0

    def sent(self, payload_octets: int, rtp_timestamp: int, now: float) -> None:
        """Account one packet sent; ``payload_octets`` excludes header and padding (§6.4.1)."""
        self._packets += 1
        self._octets += payload_octets
        self._last_ts = rtp_timestamp
        self._last_time = now

    @property
    def packets(self) -> int:
        return self._packets

    @property
    def octets(self) -> int:
        return self._octets

    @property
    def last_rtp_timestamp(self) -> int | None:
        return self._last_ts

    def rtp_timestamp_at(self, now: float) -> int:
        """The RTP timestamp of the instant ``now``, extrapolated from the last packet sent: the
        SR's RTP and NTP timestamps must name the same instant, not the last packet's."""
        if self._last_ts is None:
            return 0
        return (self._last_ts + round((now - self._last_time) * self._clock_rate)) & _U32

    def sender_report(
        self,
        ssrc: int,
        now: float,
        *,
        wallclock: float | None = None,
        reports: Sequence[ReportBlock] = (),
    ) -> SenderReport:
        """The SR for this instant. The NTP timestamp is ``wallclock`` (Unix seconds) if given,
        else ``now``: round-trip times only need the same clock for SR and RR, but a peer that
        synchronises streams or shows times needs the wall clock."""
        ntp = ntp_from_unix(wallclock if wallclock is not None else now)
        return SenderReport(
            ssrc=ssrc,
            ntp_timestamp=ntp,
            rtp_timestamp=self.rtp_timestamp_at(now),
            packet_count=self._packets & _U32,
            octet_count=self._octets & _U32,
            reports=reports,
        )

