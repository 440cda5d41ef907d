"""A call leg as a source and a sink of the media graph: its received audio and what it hears.

:class:`LegInput` turns what a party sends into 20 ms frames at the graph's rate. It listens on
the leg's tap (every accepted RTP packet, already SRTP-decrypted and checked), puts the packets
of the negotiated audio codec into a :class:`~pycc.rtp.jitter.JitterBuffer` and, on each
``read(now)``, takes what is due, decodes it (Opus FEC from the next packet, or the decoder's
concealment, for a lost one), resamples it, and hands out exactly one frame. Packets may carry
any duration (RFC 3551 §4.2: 10, 20, 30 ms... as the sender likes): the jitter buffer works in
the sender's packet time, learnt from consecutive packets (sequence number +1 with the same
timestamp step twice, RFC 3550 §5.1), and a small PCM FIFO cuts the decoded audio into frames.
Telephone-events (RFC 4733) and comfort noise (RFC 3389) carry no speech and are left to others.

:class:`LegOutput` is the other direction: frames at the graph's rate are resampled to the
codec's rate, encoded in the party's packet time (``a=ptime``, RFC 8866 §6.4) and sent as pycc's
own stream (RFC 3550 §5.1, as a mixer does, §7.3): its own random SSRC (set as the leg's
``own_ssrc``, so RTCP reports about it give the round-trip time), sequence numbers +1 per
packet, and timestamps that keep counting through silence (``write(None)`` sends nothing), with
the marker bit on the first packet of each talkspurt (RFC 3551 §4.1). A re-INVITE that changes
the codec is followed on the next packet or frame; when it changes the RTP clock rate the
output takes a new SSRC, as RFC 7160 §4.1 asks of a sender that switches clock rates.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from pycc.codecs.registry import Decoder, Encoder, Registry, default_registry
from pycc.dsp.pcm import Pcm
from pycc.dsp.resample import Resampler
from pycc.media.clock import AudioSink, AudioSource, frame_samples
from pycc.rtp.errors import RtpError
from pycc.rtp.jitter import JitterBuffer, Missing
from pycc.rtp.packet import RtpPacket, fixed_header, parse_rtp
from pycc.rtp.stream import OutgoingStream
from pycc.sdp.anchor import StreamSide
from pycc.sdp.attributes import RtpMap

__all__ = ["AudioLeg", "AudioSink", "AudioSource", "LegInput", "LegOutput"]

log = logging.getLogger("pycc.media")

_U32 = 0xFFFFFFFF
_U16 = 0xFFFF
#: The longest packet time accepted from a sender or an SDP (RFC 6716 allows 120 ms for Opus).
_MAX_PACKET_MS = 120
#: Packets remembered at the start of a stream, to refill the jitter buffer when the packet
#: time learnt from them differs from the one assumed.
_REMEMBERED = 8


class AudioLeg(Protocol):
    """What the graph uses of a :class:`~pycc.media.leg.MediaLeg` (tests pass fakes)."""

    side: StreamSide | None
    own_ssrc: int | None
    taps: list[Callable[..., None]]
    clock: Callable[[], float]

    def send_rtp(self, data: bytes) -> None: ...


def _mono(pcm: Pcm) -> Pcm:
    if pcm.ndim == 1:
        return pcm
    mixed: Pcm = (pcm.astype(np.int32).sum(axis=1) // pcm.shape[1]).astype(np.int16)
    return mixed


class _Fifo:
    """Decoded PCM waiting to be cut into frames."""

    __slots__ = ("buffer", "fill")

    def __init__(self, capacity: int) -> None:
        self.buffer = np.zeros(capacity, dtype=np.int16)
        self.fill = 0

    def push(self, pcm: Pcm) -> None:
        end = self.fill + len(pcm)
        if end > len(self.buffer):
            grown = np.zeros(max(end, 2 * len(self.buffer)), dtype=np.int16)
            grown[: self.fill] = self.buffer[: self.fill]
            self.buffer = grown
        self.buffer[self.fill:end] = pcm
        self.fill = end

    def pop(self, n: int) -> Pcm:
        buffer = self.buffer
        out = buffer[:n].copy()
        rest = self.fill - n
        if rest > 0:
            buffer[:rest] = buffer[n:self.fill]  # numpy copies overlapping slices safely
        self.fill = max(rest, 0)
        return out


class LegInput:
    """The audio a leg's party sends, as an :class:`AudioSource` of 20 ms frames at ``rate``.

    ``attach()`` starts listening on the leg, ``detach()`` stops. Counters: ``frames`` (handed
    out), ``concealed`` (lost packets concealed or rebuilt from FEC), ``underruns`` (a frame
    completed by concealment because the next packet was not due yet), ``decode_errors``,
    ``dropped`` (unparsable packets), ``ignored`` (packets of other payload types: events,
    comfort noise), ``reconfigured``.
    """

    def __init__(self, leg: AudioLeg, rate: int = 8000, *, registry: Registry | None = None,
                 min_delay: float = 0.02, max_delay: float = 0.2) -> None:
        if frame_samples(rate) <= 0:
            raise ValueError(f"bad graph rate {rate}")
        self.leg = leg
        self._rate = rate
        self.registry = registry or default_registry()
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._frame = frame_samples(rate)
        self._fifo = _Fifo(4 * self._frame)
        self._codec: RtpMap | None = None
        self._pt = -1
        self._decoder: Decoder | None = None
        self._jitter: JitterBuffer | None = None
        self._resampler: Resampler | None = None
        self._clock_rate = 8000
        self._sample_rate = 8000
        self._step = 160  # packet time in RTP clock units
        self._conceal_samples = 160  # the same in decoder samples
        self._pulled = 0  # frames taken from the current jitter buffer
        self._recent: deque[tuple[RtpPacket, float]] = deque(maxlen=_REMEMBERED)
        self._last: RtpPacket | None = None
        self._candidate = 0
        self._attached = False
        self.frames = 0
        self.concealed = 0
        self.underruns = 0
        self.decode_errors = 0
        self.dropped = 0
        self.ignored = 0
        self.reconfigured = 0

    @property
    def rate(self) -> int:
        return self._rate

    @property
    def packet_time(self) -> float:
        """The sender's packet time in seconds, as assumed or learnt."""
        return self._step / self._clock_rate

    @property
    def jitter(self) -> JitterBuffer | None:
        return self._jitter

    def attach(self) -> None:
        if not self._attached:
            # A relay worker forwarding the leg's packets would keep them from this listener:
            # the leg is taken back first.
            guard = getattr(self.leg, "guard", None)
            if guard is not None:
                guard()
            self.leg.taps.append(self.on_packet)
            self._attached = True

    def detach(self) -> None:
        if self._attached:
            self._attached = False
            # ValueError: the leg was closed and dropped its taps already.
            with contextlib.suppress(ValueError):
                self.leg.taps.remove(self.on_packet)

    # -- input ---------------------------------------------------------------------------------
    def on_packet(self, _leg: object, data: bytes) -> None:
        """The leg's tap: one accepted RTP packet."""
        side = self.leg.side
        codec = side.codec if side is not None else None
        if codec is None:
            return
        if codec is not self._codec and codec != self._codec:
            assert side is not None
            self._configure(codec, side.ptime)
        if len(data) < 2 or (data[1] & 0x7F) != self._pt:
            self.ignored += 1
            return
        jitter = self._jitter
        if jitter is None:
            return  # a codec pycc cannot decode: logged when configured
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.dropped += 1
            return
        arrival = self.leg.clock()
        if self._learn(packet, arrival):
            return
        jitter.put(packet, arrival)

    def _learn(self, packet: RtpPacket, arrival: float) -> bool:
        """Follow the sender's packet time; True when the packet went into a new buffer."""
        last = self._last
        self._last = packet
        if self._pulled == 0:
            self._recent.append((packet, arrival))
        if (last is None or packet.ssrc != last.ssrc
                or packet.sequence != (last.sequence + 1) & _U16):
            return False
        step = (packet.timestamp - last.timestamp) & _U32
        if step == self._step or not 0 < step <= self._clock_rate * _MAX_PACKET_MS // 1000:
            self._candidate = 0
            return False
        # One odd step is a silence the sender skipped without a gap in sequence numbers
        # (RFC 3551 §4.1); the same step twice in a row is the packet time.
        if step != self._candidate:
            self._candidate = step
            return False
        self._candidate = 0
        # Nothing played yet (the start of the stream): the new buffer gets what the old one
        # held. Later, what is buffered is given up: a sender rarely changes its packet time.
        fresh = self._pulled == 0
        replay = tuple(self._recent) if fresh else ((packet, arrival),)
        self._set_step(step)
        self._recent.extend(replay)
        if fresh:
            jitter = self._jitter
            assert jitter is not None
            for old, when in replay:
                jitter.put(old, when)
            return True
        return False

    def _set_step(self, step: int) -> None:
        self._step = step
        self._conceal_samples = max(1, step * self._sample_rate // self._clock_rate)
        self._jitter = JitterBuffer(self._clock_rate, step, self._min_delay, self._max_delay)
        self._pulled = 0
        self._fifo.fill = 0
        self._recent.clear()

    def _configure(self, codec: RtpMap, ptime: float | None) -> None:
        self._codec = codec
        self._pt = codec.payload_type
        self._last = None
        self._recent.clear()
        self._candidate = 0
        self.reconfigured += 1
        try:
            implementation = self.registry.find(
                codec.encoding, codec.clock_rate, codec.channels).at_rate(self._rate)
            decoder = implementation.decoder()
        except (LookupError, NotImplementedError) as exc:
            log.warning("leg input cannot decode %s/%s: %s", codec.encoding, codec.clock_rate,
                        exc)
            self._decoder = self._jitter = self._resampler = None
            return
        spec = implementation.spec
        self._decoder = decoder
        self._clock_rate = codec.clock_rate
        self._sample_rate = spec.sample_rate
        ms = ptime if ptime and 0 < ptime <= _MAX_PACKET_MS else spec.frame_ms
        self._set_step(max(1, round(codec.clock_rate * ms / 1000)))
        self._resampler = (Resampler(spec.sample_rate, self._rate)
                           if spec.sample_rate != self._rate else None)

    # -- output --------------------------------------------------------------------------------
    def read(self, now: float) -> Pcm | None:
        """The next 20 ms frame, or None when the party is silent (or nothing arrived yet)."""
        jitter = self._jitter
        if jitter is None:
            return None
        frame = self._frame
        fifo = self._fifo
        rate = self._rate
        while fifo.fill < frame:
            # The FIFO's end plays at now + fill/rate: fetch what is due by then.
            item = jitter.get(now + fifo.fill / rate)
            if item is None:
                break
            self._pulled += 1
            pcm = self._decode(item)
            if fifo.fill == 0 and len(pcm) == frame:
                self.frames += 1
                return pcm
            fifo.push(pcm)
        if fifo.fill == 0:
            return None
        if fifo.fill < frame:
            # The next packet is not due (late, or the talkspurt ended mid-frame): finish the
            # frame with concealment rather than a step to zero.
            self.underruns += 1
            short = frame - fifo.fill
            decoder = self._decoder
            assert decoder is not None
            pcm = self._convert(decoder.conceal(-(-short * self._sample_rate // rate)))
            fifo.push(pcm[:short])
            if fifo.fill < frame:
                fifo.push(np.zeros(frame - fifo.fill, dtype=np.int16))
        self.frames += 1
        return fifo.pop(frame)

    def _decode(self, item: RtpPacket | Missing) -> Pcm:
        decoder = self._decoder
        assert decoder is not None
        if isinstance(item, Missing):
            self.concealed += 1
            following = item.next
            if following is not None:
                pcm = decoder.decode_fec(following.payload, self._conceal_samples)
            else:
                pcm = decoder.conceal(self._conceal_samples)
        else:
            try:
                pcm = decoder.decode(item.payload)
            except ValueError:
                self.decode_errors += 1
                pcm = decoder.conceal(self._conceal_samples)
        return self._convert(pcm)

    def _convert(self, pcm: Pcm) -> Pcm:
        pcm = _mono(pcm)
        resampler = self._resampler
        return resampler.process(pcm) if resampler is not None else pcm


class LegOutput:
    """Frames at ``rate`` encoded and sent to a leg's party as pycc's own RTP stream.

    Counters: ``packets`` (sent), ``frames`` and ``silent_frames`` (written), ``unsent`` (frames
    written while the leg had no codec). ``close()`` stops sending.
    """

    def __init__(self, leg: AudioLeg, rate: int = 8000, *,
                 registry: Registry | None = None) -> None:
        if frame_samples(rate) <= 0:
            raise ValueError(f"bad graph rate {rate}")
        self.leg = leg
        self._rate = rate
        self.registry = registry or default_registry()
        self._frame = frame_samples(rate)
        self._codec: RtpMap | None = None
        self._encoder: Encoder | None = None
        self._resampler: Resampler | None = None
        self._stream: OutgoingStream | None = None
        self._pt = 0
        self._sample_rate = 8000
        self._packet_samples = 160
        self._packet_step = 160  # clock units per packet
        self._frame_step = 160  # clock units per graph frame
        # pycc's own timeline in RTP clock units and packets; the OutgoingStream maps it onto
        # the wire stream (random start, SSRC), keeping its spacing as it does for a relay.
        self._position = 0
        self._sequence = 0
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_position = 0
        self._pending_real = 0  # leading samples of _pending that are audio, not padding
        self._marker = True
        self._closed = False
        self.packets = 0
        self.frames = 0
        self.silent_frames = 0
        self.unsent = 0

    @property
    def rate(self) -> int:
        return self._rate

    @property
    def ssrc(self) -> int | None:
        return self._stream.ssrc if self._stream is not None else None

    @property
    def stream(self) -> OutgoingStream | None:
        return self._stream

    def close(self) -> None:
        self._closed = True
        if self._stream is not None and self.leg.own_ssrc == self._stream.ssrc:
            self.leg.own_ssrc = None

    def _configure(self, codec: RtpMap, ptime: float | None) -> None:
        self._codec = codec
        try:
            implementation = self.registry.find(
                codec.encoding, codec.clock_rate, codec.channels).at_rate(self._rate)
            frame_ms = int(ptime) if ptime and 0 < ptime <= _MAX_PACKET_MS else None
            try:
                encoder = implementation.encoder(frame_ms)
            except ValueError:
                encoder = implementation.encoder(None)  # a ptime the codec cannot do
        except (LookupError, NotImplementedError, ValueError) as exc:
            log.warning("leg output cannot encode %s/%s: %s", codec.encoding, codec.clock_rate,
                        exc)
            self._encoder = None
            return
        spec = implementation.spec
        clock = codec.clock_rate
        stream = self._stream
        if stream is None or stream.clock_rate != clock:
            ssrc = int.from_bytes(os.urandom(4), "big")
            self._stream = OutgoingStream(
                ssrc, clock, int.from_bytes(os.urandom(2), "big"),
                int.from_bytes(os.urandom(4), "big"), ptime=encoder.samples_per_frame
                / spec.sample_rate,
            )
            self.leg.own_ssrc = ssrc
            self._position = self._sequence = 0
            self._drop_pending()
        elif spec.sample_rate != self._sample_rate:
            self._drop_pending()  # audio at the old codec's rate
        self._resampler = (Resampler(self._rate, spec.sample_rate)
                           if spec.sample_rate != self._rate else None)
        self._encoder = encoder
        self._pt = codec.payload_type
        self._sample_rate = spec.sample_rate
        self._packet_samples = encoder.samples_per_frame
        self._packet_step = encoder.samples_per_frame * clock // spec.sample_rate
        self._frame_step = self._frame * clock // self._rate

    def _drop_pending(self) -> None:
        self._pending = self._pending[:0]
        self._pending_real = 0
        if not self._marker:
            self._marker = True
            if self._resampler is not None:
                # The next talkspurt must not start with the ring of this one's tail.
                self._resampler.reset()

    def write(self, frame: Pcm | None, now: float) -> None:
        """Send ``frame`` (or keep the timeline going through silence when None)."""
        if self._closed:
            return
        side = self.leg.side
        codec = side.codec if side is not None else None
        if codec is None:
            self.unsent += 1
            return
        if codec is not self._codec and codec != self._codec:
            assert side is not None
            self._configure(codec, side.ptime)
        stream = self._stream
        if self._encoder is None or stream is None:
            self.unsent += 1
            return
        position = self._position
        if frame is None:
            self.silent_frames += 1
            self._position = position + self._frame_step
            if self._pending_real:
                # Audio is waiting for its packet to fill up: complete it with silence.
                pad = np.zeros(self._frame_step * self._sample_rate // stream.clock_rate,
                               dtype=np.int16)
                self._send_packets(np.concatenate((self._pending, pad)), now)
                if self._pending_real or not self._pending.size:
                    return  # still filling, or the last packet ended exactly here
            # This frame's time passes unsent (with any padding left over): a gap.
            self._drop_pending()
            return
        self.frames += 1
        self._position = position + len(frame) * stream.clock_rate // self._rate
        resampler = self._resampler
        pcm = resampler.process(frame) if resampler is not None else frame
        if self._pending.size:
            pcm = np.concatenate((self._pending, pcm))
        else:
            self._pending_position = position
            if len(pcm) == self._packet_samples:
                # The common case (20 ms packets): one frame, one packet, nothing left over.
                self._send(pcm, stream, now)
                return
        self._pending_real = len(pcm)
        self._send_packets(pcm, now)

    def _send_packets(self, pending: Pcm, now: float) -> None:
        stream = self._stream
        assert stream is not None
        n = self._packet_samples
        offset = 0
        while len(pending) - offset >= n:
            self._send(pending[offset:offset + n], stream, now)
            offset += n
        self._pending_real = max(0, self._pending_real - offset)
        self._pending = pending[offset:]

    def _send(self, pcm: Pcm, stream: OutgoingStream, now: float) -> None:
        encoder = self._encoder
        assert encoder is not None
        payload = encoder.encode(pcm)
        header = stream.relay(self._sequence & _U16, self._pending_position & _U32,
                              self._marker, self, now)
        self._marker = False
        self._sequence += 1
        self._pending_position += self._packet_step
        self.leg.send_rtp(
            fixed_header(self._pt, header.marker, header.sequence, header.timestamp,
                         header.ssrc) + payload
        )
        self.packets += 1
