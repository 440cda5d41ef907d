"""The audio path of a browser phone: between the browser's WebRTC tracks and pycc's RTP.

A web phone's calls reach pycc as a SIP user agent (see `pycc.ccc.webphone`), so its media
is an RTP stream on 127.0.0.1 like a desk phone's. This module joins that stream to the
browser: `ToBrowser` is the track aiortc sends to the browser (48 kHz mono frames, paced by
the clock, silence when pycc sends nothing), `PhoneAudio` owns the RTP socket, decodes what
pycc sends into `ToBrowser` and encodes the browser's microphone into RTP (RFC 3550 §5.1:
one SSRC per phone, sequence numbers and timestamps that run on across calls and silence).

All sample work is numpy and the codec libraries, one call per 20 ms frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from pycc.codecs.registry import Codec, Decoder, Encoder, default_registry
from pycc.dsp.pcm import Pcm, silence
from pycc.dsp.resample import Resampler
from pycc.rtp.dtmf import DtmfPacket, DtmfSender
from pycc.rtp.errors import RtpError
from pycc.rtp.packet import RtpPacket, is_rtcp, parse_rtp
from pycc.sdp.session import SessionDescription

__all__ = ["BROWSER_RATE", "PhoneAudio", "RtpTarget", "ToBrowser", "choose_codec",
           "phone_sdp"]

log = logging.getLogger("pycc.ccc.media")

#: The rate of the frames exchanged with aiortc (its Opus runs at 48 kHz).
BROWSER_RATE = 48000
FRAME = BROWSER_RATE // 50  # 20 ms
#: Most audio kept for the browser: more means pycc sends faster than real time, and the
#: oldest goes so that the agent never hears the customer late.
MAX_BUFFERED = BROWSER_RATE * 3 // 10
#: What the phone offers pycc, best first: wideband first, G.711 for every other case.
OFFERED = (("opus", 48000, 2), ("G722", 8000, 1), ("PCMU", 8000, 1), ("PCMA", 8000, 1))
#: The payload type of each codec in the phone's offers (the static ones of RFC 3551).
PAYLOAD_TYPES = {"opus": 111, "G722": 9, "PCMU": 0, "PCMA": 8}
EVENT_PT = 101


@dataclass(frozen=True, slots=True)
class RtpTarget:
    """Where and how the phone sends: pycc's address and the payload types it took."""

    host: str
    port: int
    payload_type: int
    codec: Codec
    event_type: int | None
    sending: bool


def phone_sdp(host: str, port: int, *, session_id: int, version: int,
              codecs: tuple[tuple[str, int, int, int], ...] | None = None,
              direction: str = "sendrecv") -> bytes:
    """The phone's SDP: ``codecs`` as (name, clock rate, channels, payload type), by default
    all it offers, plus telephone-event (RFC 4733)."""
    if codecs is None:
        codecs = tuple(
            (name, rate, channels, PAYLOAD_TYPES[name])
            for name, rate, channels in OFFERED if _available(name, rate, channels))
    lines = [
        "v=0", f"o=pycc-webphone {session_id} {version} IN IP4 {host}", "s=pycc web phone",
        f"c=IN IP4 {host}", "t=0 0",
        "m=audio {} RTP/AVP {}".format(port, " ".join(str(c[3]) for c in codecs)
                                       + f" {EVENT_PT}"),
    ]
    for name, rate, channels, pt in codecs:
        lines.append(f"a=rtpmap:{pt} {name}/{rate}" + (f"/{channels}" if channels > 1 else ""))
        if name == "opus":
            lines.append(f"a=fmtp:{pt} minptime=10;useinbandfec=1")
    lines += [f"a=rtpmap:{EVENT_PT} telephone-event/8000", f"a=fmtp:{EVENT_PT} 0-16",
              "a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _available(name: str, rate: int, channels: int) -> bool:
    try:
        default_registry().find(name, rate, channels)
    except Exception:
        return False
    return True


def choose_codec(sdp: bytes) -> tuple[tuple[str, int, int, int], RtpTarget]:
    """From pycc's SDP (an offer or an answer): the codec to use, the first of pycc's list
    the phone can speak (pycc lists the caller's codec first, so it can relay), and where
    to send. Raises ValueError when nothing fits."""
    description = SessionDescription.parse(sdp)
    audio = next((m for m in description.media if m.media == "audio" and not m.rejected), None)
    if audio is None:
        raise ValueError("no audio stream in pycc's SDP")
    connection = description.media_connection(audio)
    if connection is None:
        raise ValueError("no connection address in pycc's SDP")
    registry = default_registry()
    wanted = {(n.casefold(), r, c) for n, r, c in OFFERED}
    event_type = None
    chosen: tuple[str, int, int, int] | None = None
    codec: Codec | None = None
    for rtpmap in audio.codecs():
        name = rtpmap.encoding.casefold()
        if name == "telephone-event" and rtpmap.clock_rate == 8000 and event_type is None:
            event_type = rtpmap.payload_type
        elif chosen is None and (name, rtpmap.clock_rate, rtpmap.channels) in wanted:
            try:
                codec = registry.find(rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels)
            except Exception:
                continue
            chosen = (rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels, rtpmap.payload_type)
    if chosen is None or codec is None:
        raise ValueError("pycc's SDP offers no codec the web phone speaks")
    direction = description.media_direction(audio).value
    target = RtpTarget(connection.address, audio.port, chosen[3], codec, event_type,
                       direction in ("sendrecv", "recvonly") and audio.port != 0)
    return chosen, target


class ToBrowser(MediaStreamTrack):
    """The audio aiortc sends to the browser: what pycc sent, or silence, every 20 ms."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = np.zeros(0, dtype=np.int16)
        self._start: float | None = None
        self._pts = 0
        self._time_base = fractions.Fraction(1, BROWSER_RATE)

    def feed(self, pcm: Pcm) -> None:
        """Queue 48 kHz mono audio for the browser; the oldest goes past `MAX_BUFFERED`."""
        pending = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        if pending.size > MAX_BUFFERED:
            pending = pending[-MAX_BUFFERED:]
        self._pending = pending

    def clear(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            delay = self._start + self._pts / BROWSER_RATE - now
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:
                # The loop stalled: start the clock again rather than send a burst.
                self._start = now - self._pts / BROWSER_RATE
        take = self._pending[:FRAME]
        self._pending = self._pending[FRAME:]
        if take.size < FRAME:
            take = np.concatenate((take, silence(FRAME - take.size)))
        frame = av.AudioFrame.from_ndarray(take.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = BROWSER_RATE
        frame.pts = self._pts
        frame.time_base = self._time_base
        self._pts += FRAME
        return frame


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_packet(data, addr)


class PhoneAudio:
    """The web phone's RTP socket and its two directions of audio."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.to_browser = ToBrowser()
        self.muted = False
        self.target: RtpTarget | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._ssrc = secrets.randbits(32)
        self._sequence = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._encoder: Encoder | None = None
        self._decoder: Decoder | None = None
        self._to_codec: Resampler | None = None
        self._from_codec: Resampler | None = None
        self._outgoing = np.zeros(0, dtype=np.int16)
        self._from_page: Resampler | None = None
        self._from_page_rate = 0
        self._reader: asyncio.Task[None] | None = None
        self._marker = True
        #: Counters, for tests and the log: packets received from pycc and sent to it.
        self.received = 0
        self.sent = 0
        self.dropped = 0
        self.foreign = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Rtp(self._packet), local_addr=(self.host, 0))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])

    def new_browser_track(self) -> ToBrowser:
        """A fresh track for a new peer connection (the browser reconnected); the old one
        ends."""
        self.to_browser.stop()
        self.to_browser = ToBrowser()
        return self.to_browser

    def use(self, target: RtpTarget | None) -> None:
        """Send to and decode from ``target`` (None: no call, the audio stops)."""
        if target is not None and self.target is not None and \
                target.codec.spec == self.target.codec.spec:
            self.target = target
            return
        self.target = target
        self.foreign = 0
        self._outgoing = np.zeros(0, dtype=np.int16)
        self.to_browser.clear()
        self._marker = True
        if target is None:
            self._encoder = self._decoder = None
            return
        spec = target.codec.spec
        self._encoder = target.codec.encoder()
        self._decoder = target.codec.decoder()
        self._to_codec = Resampler(BROWSER_RATE, spec.sample_rate)
        self._from_codec = Resampler(spec.sample_rate, BROWSER_RATE)

    def listen(self, track: MediaStreamTrack) -> None:
        """Read the browser's microphone track from now on."""
        if self._reader is not None:
            self._reader.cancel()
        self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self._from_browser(frame)

    def _from_browser(self, frame: av.AudioFrame) -> None:
        target, encoder, resampler = self.target, self._encoder, self._to_codec
        if target is None or encoder is None or resampler is None or not target.sending:
            return
        data = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
        else:
            mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.reshape(-1)
        pcm = np.asarray(mono, dtype=np.int16)
        if frame.sample_rate != BROWSER_RATE:
            # aiortc's Opus gives 48 kHz; another rate gets one converter, kept.
            if self._from_page is None or self._from_page_rate != frame.sample_rate:
                self._from_page = Resampler(frame.sample_rate, BROWSER_RATE)
                self._from_page_rate = frame.sample_rate
            pcm = self._from_page.process(pcm)
        if self.muted:
            pcm = np.zeros_like(pcm)
        self._outgoing = np.concatenate((self._outgoing, resampler.process(pcm)))
        step = encoder.samples_per_frame
        spec = target.codec.spec
        while self._outgoing.size >= step:
            chunk, self._outgoing = self._outgoing[:step], self._outgoing[step:]
            if spec.pcm_channels > 1:
                chunk = np.repeat(chunk, spec.pcm_channels)
            self._send(target, encoder.encode(chunk), spec.timestamp_step)

    def _send(self, target: RtpTarget, payload: bytes, step: int) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        packet = RtpPacket(payload_type=target.payload_type, sequence=self._sequence,
                           timestamp=self._timestamp, ssrc=self._ssrc, payload=payload,
                           marker=self._marker)
        self._marker = False
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + step) & 0xFFFFFFFF
        self._transport.sendto(packet.serialize(), (target.host, target.port))
        self.sent += 1

    def press(self, digit: str, duration_ms: int = 160) -> bool:
        """Send a key as RFC 4733 telephone-events (§2.5.1), at their times, on the phone's
        stream; False when it cannot (the caller sends SIP INFO instead): the call negotiated
        no events, or its audio clock is not the events' 8 kHz (§2.1: one clock per stream)."""
        target = self.target
        if target is None or target.event_type is None or self._transport is None \
                or target.codec.spec.clock_rate != 8000:
            return False
        loop = asyncio.get_running_loop()
        for packet in DtmfSender(8000).packets(digit, duration_ms, timestamp=self._timestamp):
            loop.call_later(packet.offset, self._send_event, target, packet)
        return True

    def _send_event(self, target: RtpTarget, event: DtmfPacket) -> None:
        if self._transport is None or self._transport.is_closing() or self.target is not target:
            return
        assert target.event_type is not None
        packet = RtpPacket(payload_type=target.event_type, sequence=self._sequence,
                           timestamp=event.timestamp, ssrc=self._ssrc, payload=event.payload,
                           marker=event.marker)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._transport.sendto(packet.serialize(), (target.host, target.port))

    def _packet(self, data: bytes, source: tuple[str, int]) -> None:
        target, decoder, resampler = self.target, self._decoder, self._from_codec
        if target is None or decoder is None or resampler is None or is_rtcp(data):
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.dropped += 1
            return
        if packet.payload_type != target.payload_type:
            # Telephone-events and comfort noise are nothing the browser plays; any other
            # payload type means the two sides disagree on the codec: say so once.
            if packet.payload_type != target.event_type and packet.payload_type != 13:
                self.foreign += 1
                if self.foreign == 1:
                    log.warning("web phone audio: pycc sends payload type %d, the phone took "
                                "%d (%s)", packet.payload_type, target.payload_type,
                                target.codec.spec.name)
            return
        try:
            pcm = decoder.decode(packet.payload)
        except Exception:
            self.dropped += 1
            return
        self.received += 1
        if pcm.ndim > 1 or target.codec.spec.pcm_channels > 1:
            pcm = pcm.reshape(-1, target.codec.spec.pcm_channels).mean(axis=1).astype(np.int16)
        self.to_browser.feed(resampler.process(pcm))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.to_browser.stop()
        if self._transport is not None:
            self._transport.close()
