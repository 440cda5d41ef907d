"""An adaptive jitter buffer for the RTP streams pycc decodes (not for relayed ones).

Packets are put in as they arrive; `JitterBuffer.get` hands out one frame per call, in timestamp
order, once the frame is due. A frame's due time is its place on the sender's clock, mapped to
ours through the fastest transit seen recently, plus a playout delay:

    due(ts) = ref_time + (ts - ref_ts) / clock_rate + offset,   offset = min transit + delay

The delay follows the measured jitter (RFC 3550 §6.4.1's transit time, here the spread between
the fastest and the 98th-percentile transit of the last packets), clamped to
[min_delay, max_delay]; the bound is hard: when a packet beats the fastest transit so far, a
schedule holding more than max_delay is pulled in at once. The delay grows at once when a packet
arrives too late to be played (a glitch has happened already) or when the jitter estimate jumps;
it shrinks fully only at the start of a talkspurt (RTP marker bit, RFC 3551 §4.1), where moving
the schedule cuts no speech, and otherwise by small steps.

A lost frame comes out as `Missing`, with the packet after it when that one is buffered, so the
decoder can conceal it or recover it from Opus in-band FEC (RFC 6716 §2.1.7). A change of SSRC
or a jump of the timestamp against arrival time (a restarted sender, a resumed hold)
resynchronises the buffer to the new timeline. So does a transit that rose for good by more
than max_delay (a slower path, or a sender that stalled and went on without skipping
timestamps): about max_delay's worth of packets in a row that were due before they arrived.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

from pycc.rtp.packet import RtpPacket

__all__ = ["JitterBuffer", "Missing"]

_U32 = 0xFFFFFFFF
_HALF = 1 << 31
#: Recompute the delay target every this many packets (sorting the window is the costly part).
_ADAPT_EVERY = 16
#: The quantile of transit that must arrive in time.
_QUANTILE = 0.98


@dataclass(frozen=True, slots=True)
class Missing:
    """The frame at RTP ``timestamp`` is due and was not received. ``next`` is the packet that
    follows it, when buffered: Opus FEC in it can rebuild the missing frame."""

    timestamp: int
    next: RtpPacket | None


class JitterBuffer:
    """Reorders and delays one received stream so the decoder gets one frame per frame time.

    ``frame_samples`` is the frame (packet) duration in timestamp units, e.g. 160 for 20 ms
    at 8 kHz. Counters: ``late`` (arrived after their frame was played or concealed),
    ``duplicates``, ``concealed`` (`Missing` handed out), ``skipped`` (dropped to catch up with
    a consumer that fell behind, or on a resync), ``overflow`` (buffer full), ``resyncs``.
    """

    __slots__ = (
        "_capacity",
        "_catch_up",
        "_clock_rate",
        "_conceal_frames",
        "_count",
        "_frame",
        "_frame_time",
        "_heap",
        "_last_ext",
        "_max_delay",
        "_min_delay",
        "_min_transit",
        "_next",
        "_offset",
        "_overdue",
        "_overdue_limit",
        "_packets",
        "_ref_time",
        "_ref_ts",
        "_resync_after",
        "_silent",
        "_ssrc",
        "_target",
        "_transits",
        "concealed",
        "duplicates",
        "late",
        "overflow",
        "resyncs",
        "skipped",
    )

    def __init__(
        self,
        clock_rate: int,
        frame_samples: int,
        min_delay: float = 0.02,
        max_delay: float = 0.2,
        *,
        initial_delay: float = 0.06,
        window: int = 128,
        conceal_frames: int = 5,
    ) -> None:
        if clock_rate <= 0 or frame_samples <= 0:
            raise ValueError("clock rate and frame size must be positive")
        if not 0 <= min_delay <= max_delay:
            raise ValueError(f"need 0 <= min_delay <= max_delay, got {min_delay}, {max_delay}")
        self._clock_rate = clock_rate
        self._frame = frame_samples
        self._frame_time = frame_samples / clock_rate
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._target = min(max(initial_delay, min_delay), max_delay)
        # A consumer more than two frames behind the schedule skips ahead rather than drift.
        self._catch_up = 2 * self._frame_time
        # A transit this far from the usual one is a new timeline, not network jitter.
        self._resync_after = max(1.0, 4 * max_delay)
        # Packets in a row too late for even max_delay that mean the path got slower for good
        # (about max_delay of them: a burst after a short freeze does not last that long).
        self._overdue_limit = max(3, math.ceil(max_delay / self._frame_time - 1e-9))
        self._overdue = 0
        self._conceal_frames = conceal_frames
        self._capacity = max(16, 4 * int(max_delay / self._frame_time + 1))
        self._transits: deque[float] = deque(maxlen=max(8, window))
        self._heap: list[int] = []
        self._packets: dict[int, RtpPacket] = {}
        self._ssrc: int | None = None
        self._next: int | None = None
        self._last_ext: int | None = None
        self._ref_ts = 0
        self._ref_time = 0.0
        self._min_transit = 0.0
        self._offset = self._target
        self._count = 0
        self._silent = 0
        self.late = 0
        self.duplicates = 0
        self.concealed = 0
        self.skipped = 0
        self.overflow = 0
        self.resyncs = 0

    # -- statistics ------------------------------------------------------------------------------

    @property
    def delay(self) -> float:
        """The playout delay now applied, in seconds, over the fastest recent transit."""
        return self._offset - self._min_transit

    @property
    def target_delay(self) -> float:
        """The delay the measured jitter asks for."""
        return self._target

    def __len__(self) -> int:
        return len(self._packets)

    # -- input -----------------------------------------------------------------------------------

    def put(self, packet: RtpPacket, arrival: float) -> bool:
        """Buffer a received packet; False when it is dropped (late, duplicate, overflow)."""
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._resync()
            self._ssrc = packet.ssrc
        ext = self._extend(packet.timestamp)
        if self._next is None:
            self._anchor(ext, arrival)
        transit = arrival - self._ref_time - (ext - self._ref_ts) / self._clock_rate
        if abs(transit - self._min_transit) > self._resync_after:
            ext = self._new_timeline(packet.timestamp, arrival)
            transit = 0.0
        elif transit > self._min_transit + self._max_delay:
            # Due before it arrived, even at the longest delay. When that lasts, the fastest
            # transit seen is no longer reachable (the path got slower, or the sender stalled
            # and went on without skipping timestamps): every later packet would be dropped
            # as late or overtaken, for the rest of the call. The stream goes on from here on
            # a new timeline instead.
            self._overdue += 1
            if self._overdue >= self._overdue_limit:
                ext = self._new_timeline(packet.timestamp, arrival)
                transit = 0.0
        else:
            self._overdue = 0
        self._transits.append(transit)
        if transit < self._min_transit:
            # Faster than any packet so far (the first ones were held up): the schedule may
            # now hold more than max_delay; pull it in to the bound at once.
            self._min_transit = transit
            self._offset = min(self._offset, transit + self._max_delay)
        self._count += 1
        assert self._next is not None
        if ext < self._next:
            self.late += 1
            # This packet would have been in time with offset >= its transit: grow now, a
            # quarter frame beyond it, and never past the maximum delay.
            limit = self._min_transit + self._max_delay
            self._offset = max(self._offset, min(transit + self._frame_time / 4, limit))
            return False
        if ext in self._packets:
            self.duplicates += 1
            return False
        if len(self._packets) >= self._capacity:
            self.overflow += 1
            return False
        talkspurt = packet.marker and not self._packets
        self._packets[ext] = packet
        heapq.heappush(self._heap, ext)
        if talkspurt:
            # Nothing is buffered before this packet: move the schedule freely, and skip the
            # silence instead of concealing it frame by frame.
            self._adapt(shrink_fully=True)
            if ext > self._next:
                self._next = ext
            self._silent = 0
        elif self._count % _ADAPT_EVERY == 0:
            self._adapt(shrink_fully=False)
        return True

    def _extend(self, ts: int) -> int:
        """The timestamp on an unwrapped (64-bit) line, relative to the newest one seen."""
        last = self._last_ext
        if last is None:
            self._last_ext = ts
            return ts
        diff = (ts - last) & _U32
        if diff >= _HALF:
            diff -= 1 << 32
        ext = last + diff
        if ext > last:
            self._last_ext = ext
        return ext

    def _anchor(self, ext: int, arrival: float) -> None:
        delay = self._offset - self._min_transit
        self._ref_ts = ext
        self._ref_time = arrival
        self._min_transit = 0.0
        self._offset = delay
        self._next = ext
        self._silent = 0

    def _new_timeline(self, timestamp: int, arrival: float) -> int:
        """Drop what is buffered and go on from this packet; its extended timestamp."""
        self._resync()
        ext = self._extend(timestamp)
        self._anchor(ext, arrival)
        return ext

    def _resync(self) -> None:
        self.resyncs += 1
        self._overdue = 0
        self.skipped += len(self._packets)
        self._packets.clear()
        self._heap.clear()
        self._transits.clear()
        self._last_ext = None
        self._next = None

    def _adapt(self, *, shrink_fully: bool) -> None:
        if len(self._transits) < _ADAPT_EVERY:
            return  # too few samples to say anything about jitter: keep the initial delay
        transits = sorted(self._transits)
        lowest = transits[0]
        spread = transits[int(_QUANTILE * (len(transits) - 1))] - lowest
        self._min_transit = lowest
        self._target = min(max(spread, self._min_delay), self._max_delay)
        desired = lowest + self._target
        if desired > self._offset + self._frame_time / 4 or shrink_fully:
            self._offset = desired
        elif desired < self._offset - self._frame_time / 2:
            # Mid-talkspurt, shrink by an eighth of a frame at a time: the catch-up in `get`
            # then drops at most one frame now and then.
            self._offset -= min(self._offset - desired, self._frame_time / 8)

    # -- output ----------------------------------------------------------------------------------

    def _due(self, ext: int) -> float:
        return self._ref_time + (ext - self._ref_ts) / self._clock_rate + self._offset

    def get_timer(self) -> float | None:
        """When the next frame is due, or None while nothing is expected (before the first
        packet, or during a silence)."""
        if self._next is None or (not self._packets and self._silent >= self._conceal_frames):
            return None
        return self._due(self._next)

    def get(self, now: float) -> RtpPacket | Missing | None:
        """The next frame if it is due at ``now``: the packet, or `Missing` when it was lost;
        None when nothing is due (or the stream is silent)."""
        nxt = self._next
        if nxt is None:
            return None
        due = self._due(nxt)
        if now < due:
            return None
        if now - due > self._catch_up:
            # Fell behind: keep only the frame due last, drop what is too old to play.
            nxt += int((now - due) / self._frame_time) * self._frame
        heap = self._heap
        packets = self._packets
        while heap and heap[0] < nxt:
            # Behind the schedule: frames skipped by a catch-up, or a packet misaligned with
            # the frame grid overtaken by its neighbour.
            del packets[heapq.heappop(heap)]
            self.skipped += 1
        frame = self._frame
        if heap and heap[0] < nxt + frame:
            ext = heapq.heappop(heap)
            self._next = ext + frame
            self._silent = 0
            return packets.pop(ext)
        if heap:
            following = packets[heap[0]] if heap[0] < nxt + 2 * frame else None
            self._silent = 0
        elif self._silent < self._conceal_frames:
            following = None
            self._silent += 1
        else:
            self._next = nxt  # the stream is silent: wait for it without concealing
            return None
        self._next = nxt + frame
        self.concealed += 1
        return Missing(nxt & _U32, following)
