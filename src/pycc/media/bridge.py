"""A bridge joins two legs of one stream so each party hears the other.

Each direction is one of two paths, chosen from the offer/answer outcome
(:class:`pycc.sdp.anchor.StreamPlan`):

- a **relay** when both parties use the same codec: packets go on untouched (SSRC, sequence
  numbers, timestamps, marker and payload as sent), only the payload type number is rewritten
  when the two legs numbered the codec differently, and SRTP is re-applied per leg;
- a **transcoder** otherwise: decode, resample, re-encode in the far party's frame size, with a
  continuous outgoing stream of pycc's own (RFC 3550 §5.1: own SSRC, sequence numbers +1 per
  packet, timestamps that follow the sender's timing through silence and across SSRC changes,
  marker on a talkspurt's first packet). Lost packets are concealed by the decoder (G.711
  concealment, Opus PLC or FEC from the next packet).

RFC 4733 telephone-events are passed on in the far leg's numbering and clock; every key goes to
``on_digit`` too (with its form), so the signalling layer can send SIP INFO to a party without
telephone-events. Where pycc decodes the audio of a party without telephone-events, keys sent as
tones are detected (Goertzel) and reported as "inband". Unknown payload types are dropped and
counted by the leg.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import weakref
from collections.abc import Callable
from typing import Any, Final, Protocol

import numpy as np

from pycc.codecs.registry import Decoder, Encoder, Registry, default_registry
from pycc.dsp.goertzel import DtmfDetector
from pycc.dsp.resample import Resampler
from pycc.media.leg import MediaLeg
from pycc.rtp.errors import RtpError
from pycc.rtp.packet import RtpPacket, fixed_header, header_fields, parse_rtp
from pycc.sdp.anchor import StreamSide
from pycc.sdp.offer_answer import codec_matches

__all__ = ["LIVE", "Bridge", "RtpSink", "TranscodePlan", "transcoder_from_plan"]

log = logging.getLogger("pycc.media")

#: Lost packets concealed at most in one gap; a longer gap is a new talkspurt.
_MAX_CONCEAL = 5
#: The longest packet pycc makes when a party's a=ptime asks for more.
_MAX_PACKET_MS = 120


class RtpSink(Protocol):
    """Where a direction's packets go: the far leg (or, in a relay worker, its socket)."""

    def send_rtp(self, data: bytes) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class TranscodePlan:
    """What a relay worker needs to carry on one transcoding direction of a bridge: both
    parties' settled streams, the outgoing SSRC and the running stream's state (sequence
    number, timestamps, what waits to be encoded), so the far party sees one stream go on."""

    src: StreamSide
    dst: StreamSide
    ssrc: int
    state: dict[str, Any]


class _Path:
    """One direction of a bridge."""

    #: Payloads the direction's decoder refused (a relay decodes nothing).
    refused = 0

    def forward(self, data: bytes) -> None:
        raise NotImplementedError


class _Relay(_Path):
    __slots__ = ("_map", "_out")

    def __init__(self, src: StreamSide, dst: StreamSide, out: RtpSink) -> None:
        self._out = out
        mapping: dict[int, int] = {13: 13}
        if src.codec is not None and dst.codec is not None:
            mapping[src.codec.payload_type] = dst.codec.payload_type
            if src.local_codec_pt is not None:
                mapping[src.local_codec_pt] = dst.codec.payload_type
        if src.event is not None and dst.event is not None:
            mapping[src.event.payload_type] = dst.event.payload_type
            if src.local_event_pt is not None:
                mapping[src.local_event_pt] = dst.event.payload_type
        # Precomputed second header byte per input byte: the marker bit is kept, the payload
        # type renumbered; None drops the packet (no such format on the far leg).
        self._map: list[int | None] = [None] * 256
        for src_pt, dst_pt in mapping.items():
            self._map[src_pt] = dst_pt
            self._map[src_pt | 0x80] = dst_pt | 0x80

    @property
    def table(self) -> list[int | None]:
        return self._map

    def forward(self, data: bytes) -> None:
        second = self._map[data[1]]
        if second is None:
            return
        if second != data[1]:
            buf = bytearray(data)
            buf[1] = second
            data = bytes(buf)
        self._out.send_rtp(data)


class _Transcoder(_Path):
    def __init__(self, src: StreamSide, dst: StreamSide, out: RtpSink, registry: Registry,
                 ssrc: int, on_inband: Callable[[str], None] | None = None) -> None:
        assert src.codec is not None and dst.codec is not None
        self._out = out
        self._sides = (src, dst)
        src_codec = registry.find(src.codec.encoding, src.codec.clock_rate, src.codec.channels)
        dst_codec = registry.find(dst.codec.encoding, dst.codec.clock_rate, dst.codec.channels)
        # Work at the lower PCM rate, and let a codec that can (Opus) convert itself there.
        rate = min(src_codec.spec.sample_rate, dst_codec.spec.sample_rate)
        src_codec, dst_codec = src_codec.at_rate(rate), dst_codec.at_rate(rate)
        self._decoder: Decoder = src_codec.decoder()
        frame_ms = int(dst.ptime) if dst.ptime and 0 < dst.ptime <= _MAX_PACKET_MS else None
        try:
            self._encoder: Encoder = dst_codec.encoder(frame_ms)
        except ValueError:
            # a=ptime only recommends a packet length (RFC 4566 §6): one the codec cannot
            # make (30 ms of Opus, 25 ms of G.729) gives way to the codec's own.
            self._encoder = dst_codec.encoder(None)
        resampler = Resampler(src_codec.spec.sample_rate, dst_codec.spec.sample_rate)
        self._resampler = None if resampler.passthrough else resampler
        self._src_pts = frozenset(
            t for t in (src.codec.payload_type, src.local_codec_pt) if t is not None)
        self._dst_pt = dst.codec.payload_type
        self._src_events = frozenset(
            t for t in (src.event.payload_type if src.event is not None else None,
                        src.local_event_pt) if t is not None)
        self._dst_event = dst.event.payload_type if dst.event is not None else None
        self._src_clock = src.codec.clock_rate
        self._dst_clock = dst.codec.clock_rate
        # Events may run at their own clock (telephone-event/8000 beside Opus at 48000).
        self._src_event_clock = src.event.clock_rate if src.event is not None else 8000
        self._dst_event_clock = dst.event.clock_rate if dst.event is not None else 8000
        self._event_ts: dict[int, int] = {}
        self._src_frame = src_codec.spec.samples_per_frame
        self._src_step = src_codec.spec.timestamp_step
        self._frame = self._encoder.samples_per_frame
        self._step = self._frame * dst_codec.spec.clock_rate // dst_codec.spec.sample_rate
        self._pending = np.zeros(0, dtype=np.int16)
        self._ssrc = ssrc
        self._seq = int.from_bytes(os.urandom(2), "big")
        self._ts = int.from_bytes(os.urandom(4), "big")
        self._in_ssrc: int | None = None
        self._in_seq: int | None = None
        self._in_base = 0
        self._out_base = self._ts
        self._marker = True
        #: The far party's last reported loss (percent), None before its first report.
        self._expected_loss: int | None = None
        self.concealed = 0
        #: Payloads the decoder refused (each packet is lost).
        self.refused = 0
        # A party without telephone-events can only send keys as tones: listen for them in
        # the audio pycc decodes anyway (Goertzel, pycc.dsp.goertzel).
        self._detector = (DtmfDetector(src_codec.spec.sample_rate)
                          if src.event is None and on_inband is not None else None)
        self._on_inband = on_inband

    def expect_loss(self, percent: int) -> None:
        """The far party's reported loss of this stream: the encoder may size its FEC on it."""
        self._expected_loss = percent
        self._encoder.expect_loss(percent)

    @property
    def coders(self) -> tuple[Decoder, Encoder, bool]:
        """The decoder, the encoder, and whether the audio is resampled between them."""
        return self._decoder, self._encoder, self._resampler is not None

    @property
    def listens_for_tones(self) -> bool:
        """Whether keys sent as tones are looked for in the decoded audio."""
        return self._detector is not None

    def plan(self) -> TranscodePlan:
        """This direction as a relay worker carries it on (`transcoder_from_plan`)."""
        state = {"seq": self._seq, "ts": self._ts, "in_ssrc": self._in_ssrc,
                 "in_seq": self._in_seq, "in_base": self._in_base, "out_base": self._out_base,
                 "marker": self._marker, "pending": self._pending.copy(),
                 "event_ts": dict(self._event_ts), "expected_loss": self._expected_loss}
        return TranscodePlan(self._sides[0], self._sides[1], self._ssrc, state)

    def _restore(self, state: dict[str, Any]) -> None:
        self._seq, self._ts = int(state["seq"]), int(state["ts"])
        self._in_ssrc, self._in_seq = state["in_ssrc"], state["in_seq"]
        self._in_base, self._out_base = int(state["in_base"]), int(state["out_base"])
        self._marker = bool(state["marker"])
        self._pending = np.asarray(state["pending"], dtype=np.int16)
        self._event_ts = dict(state["event_ts"])
        if state.get("expected_loss") is not None:
            self.expect_loss(int(state["expected_loss"]))

    def _out_timestamp(self, in_ts: int) -> int:
        elapsed = (in_ts - self._in_base) & 0xFFFFFFFF
        if elapsed >= 1 << 31:
            elapsed = 0  # an older timestamp (reordering): keep the running clock
        return (self._out_base + elapsed * self._dst_clock // self._src_clock) & 0xFFFFFFFF

    def forward(self, data: bytes) -> None:
        if len(data) > 12 and data[0] == 0x80:
            # The usual packet (no padding, extension or CSRC): its fields straight off the
            # fixed header, without building a parsed packet.
            payload_type, _marker, sequence, timestamp, ssrc = header_fields(data)
            payload = data[12:]
        else:
            try:
                packet = parse_rtp(data)
            except RtpError:
                return
            payload_type, sequence, timestamp, ssrc, payload = (
                packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc,
                packet.payload)
        if ssrc != self._in_ssrc:
            # A new source (or the first): pycc's stream goes on, re-anchored on it.
            self._in_ssrc = ssrc
            self._in_base = timestamp
            self._out_base = self._ts
            self._in_seq = None
            self._marker = True
        if payload_type in self._src_events:
            with contextlib.suppress(RtpError):
                self._forward_event(parse_rtp(data))
            return
        if payload_type not in self._src_pts:
            return  # comfort noise and the like: the far codec has its own silence
        pcm_parts: list[np.ndarray] = []
        concealed = 0
        last = self._in_seq
        if last is not None:
            gap = (sequence - last - 1) & 0xFFFF
            if gap >= 0x8000:
                return  # late duplicate or reordered packet: already concealed
            if 0 < gap <= _MAX_CONCEAL:
                self.concealed += gap
                concealed = gap
                for index in range(gap):
                    if index == gap - 1:
                        pcm_parts.append(self._decoder.decode_fec(payload, self._src_frame))
                    else:
                        pcm_parts.append(self._decoder.conceal(self._src_frame))
            elif gap > _MAX_CONCEAL:
                self._marker = True
        self._in_seq = sequence
        try:
            pcm_parts.append(self._decoder.decode(payload))
        except ValueError:
            self.refused += 1
            return
        if not self._pending.size:
            # Nothing buffered: this packet's audio starts at its own time on pycc's clock,
            # so silence suppression at the sender keeps its length on the far side.
            # Concealed frames come first: they stand where the lost packets were.
            self._ts = self._out_timestamp(timestamp - concealed * self._src_step)
        pcm = np.concatenate(pcm_parts) if len(pcm_parts) > 1 else pcm_parts[0]
        if self._detector is not None and self._on_inband is not None:
            for digit in self._detector.feed(pcm):
                self._on_inband(digit)
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        pending = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        frame = self._frame
        offset = 0
        while len(pending) - offset >= frame:
            payload = self._encoder.encode(pending[offset:offset + frame])
            offset += frame
            self._send(self._dst_pt, payload, self._ts)
            self._ts = (self._ts + self._step) & 0xFFFFFFFF
        self._pending = pending[offset:]

    def _forward_event(self, packet: RtpPacket) -> None:
        if self._dst_event is None:
            return
        payload = bytearray(packet.payload)
        if len(payload) < 4:
            return
        duration = (int.from_bytes(payload[2:4], "big") * self._dst_event_clock
                    // self._src_event_clock)
        payload[2:4] = min(duration, 0xFFFF).to_bytes(2, "big")
        # Every packet of one key press shares its timestamp: the output position (in the
        # far event clock) when its first packet arrived.
        out_ts = self._event_ts.get(packet.timestamp)
        if out_ts is None:
            out_ts = self._ts * self._dst_event_clock // self._dst_clock & 0xFFFFFFFF
            if len(self._event_ts) > 8:
                self._event_ts.clear()
            self._event_ts[packet.timestamp] = out_ts
        self._send(self._dst_event, bytes(payload), out_ts, marker=packet.marker)

    def _send(self, pt: int, payload: bytes, ts: int, *, marker: bool | None = None) -> None:
        mark = self._marker if marker is None else marker
        self._marker = False
        header = fixed_header(pt, mark, self._seq, ts, self._ssrc)
        self._seq = (self._seq + 1) & 0xFFFF
        self._out.send_rtp(header + payload)


def _through(path: _Path, leg: MediaLeg, data: bytes) -> None:
    """``data`` from ``leg`` on along ``path``; a payload its codec refuses is counted."""
    refused = path.refused
    path.forward(data)
    if path.refused != refused:
        leg.dropped["codec"] += 1


def transcoder_from_plan(plan: TranscodePlan, out: RtpSink, registry: Registry) -> _Path:
    """A transcoding direction rebuilt from its `TranscodePlan` (in a relay worker): fresh
    codec states, the stream's numbering and timing carried on. Raises LookupError when a
    codec is not available here."""
    path = _Transcoder(plan.src, plan.dst, out, registry, plan.ssrc)
    path._restore(plan.state)
    return path


class Bridge:
    """Connects legs ``x`` and ``y`` of one stream in both directions."""

    __weakref__: object

    def __init__(self, x: MediaLeg, y: MediaLeg, *, registry: Registry | None = None,
                 on_digit: Callable[[MediaLeg, str, str], None] | None = None) -> None:
        self.x = x
        self.y = y
        self.registry = registry or default_registry()
        self.on_digit = on_digit
        self._to_y: _Path | None = None
        self._to_x: _Path | None = None
        self.transcoding = False
        self.suspended = False
        #: Set while a relay worker forwards this bridge's packets (`pycc.media.offload`):
        #: called to take them back before the bridge changes.
        self.reclaim: Callable[[], None] | None = None
        #: Set with ``reclaim``: passes a party's loss report on to the worker's encoder
        #: (leg, percent).
        self.forward_loss: Callable[[MediaLeg, int], None] | None = None
        x.on_digit = self._digit
        y.on_digit = self._digit
        x.on_loss_report = y.on_loss_report = self._loss_report
        self._connect()
        self.update()
        LIVE.add(self)

    def _connect(self) -> None:
        self.x.on_rtp = self._from_x
        self.y.on_rtp = self._from_y
        self.x.on_rtcp = self._rtcp_from_x
        self.y.on_rtcp = self._rtcp_from_y

    def suspend(self) -> None:
        """Stop carrying media between the legs (a mixing room feeds them meanwhile); keys
        are still reported."""
        self._take_back()
        self.suspended = True
        for leg in (self.x, self.y):
            leg.on_rtp = None
            leg.on_rtcp = None

    def resume(self) -> None:
        """Carry media between the legs again, on fresh paths (new outgoing streams)."""
        if not self.suspended:
            return
        self.suspended = False
        self._connect()
        self.update()

    def update(self) -> None:
        """Choose each direction's path again after an offer/answer changed a leg."""
        self._take_back()
        if self.suspended:
            return
        xs, ys = self.x.side, self.y.side
        self._to_y = self._to_x = None
        self.transcoding = False
        if xs is None or ys is None or xs.codec is None or ys.codec is None:
            return
        if codec_matches(xs.codec, ys.codec):
            self._to_y = _Relay(xs, ys, self.y)
            self._to_x = _Relay(ys, xs, self.x)
            self.x.own_ssrc = self.y.own_ssrc = None
            return
        try:
            ssrc_y, ssrc_x = (int.from_bytes(os.urandom(4), "big") for _ in range(2))
            self._to_y = _Transcoder(xs, ys, self.y, self.registry, ssrc_y,
                                     lambda digit: self._inband(self.x, digit))
            self._to_x = _Transcoder(ys, xs, self.x, self.registry, ssrc_x,
                                     lambda digit: self._inband(self.y, digit))
            self.x.own_ssrc, self.y.own_ssrc = ssrc_x, ssrc_y
            self.transcoding = True
        except LookupError as exc:
            log.warning("cannot transcode %s to %s: %s", xs.codec, ys.codec, exc)
            self._to_y = self._to_x = None

    def _from_x(self, leg: MediaLeg, data: bytes) -> None:
        path = self._to_y
        if path is not None:
            _through(path, leg, data)

    def _from_y(self, leg: MediaLeg, data: bytes) -> None:
        path = self._to_x
        if path is not None:
            _through(path, leg, data)

    def _rtcp_from_x(self, _leg: MediaLeg, data: bytes) -> None:
        # Relayed streams keep their SSRCs end to end, so their reports and feedback (PLI, FIR
        # and NACK for video) mean the same to the other party; pass them on. A transcoded
        # stream is pycc's own, and pycc reports on it itself.
        if isinstance(self._to_y, _Relay):
            self.y.send_rtcp(data)

    def _rtcp_from_y(self, _leg: MediaLeg, data: bytes) -> None:
        if isinstance(self._to_x, _Relay):
            self.x.send_rtcp(data)

    def _loss_report(self, leg: MediaLeg, fraction: float) -> None:
        # A transcoded stream is pycc's own: its encoder towards the party hears what the
        # party lost (Opus sizes its FEC on it). A relayed stream's report went on as it was.
        path = self._to_x if leg is self.x else self._to_y
        if isinstance(path, _Transcoder):
            percent = math.ceil(fraction * 100)
            path.expect_loss(percent)
            if self.forward_loss is not None:
                self.forward_loss(leg, percent)

    def _digit(self, leg: MediaLeg, digit: str) -> None:
        if self.on_digit is not None:
            self.on_digit(leg, digit, "rfc4733")

    def _inband(self, leg: MediaLeg, digit: str) -> None:
        if self.on_digit is not None:
            self.on_digit(leg, digit, "inband")

    def _take_back(self) -> None:
        reclaim = self.reclaim
        if reclaim is not None:
            reclaim()

    def relay_tables(self) -> tuple[list[int | None], list[int | None]] | None:
        """The payload type rewriting of both directions (x to y, y to x) while both are
        plain relays, else None."""
        to_y, to_x = self._to_y, self._to_x
        if self.suspended or not isinstance(to_y, _Relay) or not isinstance(to_x, _Relay):
            return None
        return list(to_y.table), list(to_x.table)

    @property
    def transcodes_alone(self) -> bool:
        """Whether both directions transcode and neither listens for keys sent as tones:
        such a bridge a relay worker can carry on (`transcode_plans`)."""
        to_y, to_x = self._to_y, self._to_x
        return (not self.suspended and isinstance(to_y, _Transcoder)
                and isinstance(to_x, _Transcoder)
                and not to_y.listens_for_tones and not to_x.listens_for_tones)

    def renew(self) -> None:
        """Transcode on fresh outgoing streams (new SSRCs): after a relay worker gave the
        bridge back, whose streams went on meanwhile where these paths cannot know. The
        parties' last loss reports still hold for the new encoders."""
        if not self.transcoding:
            return
        losses = [path._expected_loss if isinstance(path, _Transcoder) else None
                  for path in (self._to_y, self._to_x)]
        self.update()
        for path, loss in zip((self._to_y, self._to_x), losses, strict=True):
            if isinstance(path, _Transcoder) and loss is not None:
                path.expect_loss(loss)

    def transcode_plans(self) -> tuple[TranscodePlan, TranscodePlan] | None:
        """Both directions (x to y, y to x) as a relay worker would carry them on, while
        both transcode and neither listens for keys sent as tones (which the switch reports);
        else None."""
        to_y, to_x = self._to_y, self._to_x
        if not self.transcodes_alone or not isinstance(to_y, _Transcoder) \
                or not isinstance(to_x, _Transcoder):
            return None
        return to_y.plan(), to_x.plan()

    def close(self) -> None:
        self._take_back()
        self._to_x = self._to_y = None
        for leg in (self.x, self.y):
            leg.on_rtp = None
            leg.on_rtcp = None
            leg.on_digit = None
            leg.on_loss_report = None


#: The bridges alive in this process (the relay offload's scan looks for its own in them).
LIVE: Final[weakref.WeakSet[Bridge]] = weakref.WeakSet()
