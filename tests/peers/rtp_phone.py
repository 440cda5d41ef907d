"""An RTP test phone: the media half of a :class:`pycc.ua.UserAgent`, on a real UDP socket.

``UserAgent`` signals calls but moves no audio; give it ``rtp_port=phone.port`` and the SDP
it sends tells pycc to send its RTP to this phone. Once pycc's own SDP is known (the answer
to the caller, the offer to the callee), :meth:`RtpPhone.learn` says where to send. From then
on the phone sends one packet every 20 ms from an asyncio task, as a desk phone does: a
continuous tone, silence, RFC 4733 key presses (RFC 4733 §2.5.1: the event packets take the
place of the audio while a key is down) or keys as tones (ITU-T Q.23). Everything it receives
is kept: the raw packets, the audio decoded per SSRC in arrival order, and the keys received
as telephone-events (RFC 4733 §2.5.2).

The helpers at the bottom measure what was heard (numpy FFT): the dominant frequency, the
share of the energy near a frequency, the level. A test asserts on those, so a call that
carried silence, the wrong party or its own echo fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import socket
from collections import deque
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import numpy.typing as npt

from pycc.codecs.registry import Decoder, Encoder, Registry, default_registry
from pycc.dsp.pcm import Pcm
from pycc.dsp.tones import ToneGenerator, ToneSegment, ToneSpec, dtmf_tone
from pycc.rtp.dtmf import DigitStarted, DtmfPacket, DtmfReceiver, DtmfSender
from pycc.rtp.errors import RtpError
from pycc.rtp.packet import RtpPacket, is_rtcp, parse_rtp
from pycc.sdp.session import SessionDescription

__all__ = [
    "Heard",
    "RtpPhone",
    "band_share",
    "dominant_frequency",
    "level_dbfs",
]

LOOPBACK = "127.0.0.1"
#: How long the waits for audio, silence or keys give pycc by default. A passing test never
#: waits this long; on a busy machine (the suite runs in parallel) the media can start late.
WAIT_TIMEOUT = 15.0
#: When the sender falls this many packets behind (a busy loop), it skips ahead instead of
#: sending a burst, as a phone's sound card clock would.
_MAX_LATE = 5


@dataclass(frozen=True, slots=True)
class Heard:
    """One decoded packet: when it arrived (loop time), its SSRC and its audio."""

    at: float
    ssrc: int
    pcm: Pcm


class RtpPhone:
    """A UDP socket on ``host`` (an even port) that sends and receives one RTP audio stream.

    ``codec`` / ``clock_rate`` / ``channels`` name the codec in the registry (PCMU by
    default, what :func:`pycc.ua.minimal_sdp` offers). Use it as an async context manager:
    leaving stops the sender and closes the socket.
    """

    def __init__(self, *, codec: str = "PCMU", clock_rate: int = 8000, channels: int = 1,
                 host: str = LOOPBACK, ptime_ms: int = 20,
                 registry: Registry | None = None) -> None:
        self.host = host
        self.ptime = ptime_ms / 1000
        self.registry = registry or default_registry()
        found = self.registry.find(codec, clock_rate, channels)
        self.spec = found.spec
        self._codec = found
        self._encoder: Encoder = found.encoder(ptime_ms)
        #: Sample rate of the audio this phone sends and of what :meth:`heard` returns.
        self.rate = self.spec.sample_rate
        self._frame = self._encoder.samples_per_frame
        self._ts_step = self.spec.clock_rate * ptime_ms // 1000
        self._sock: socket.socket | None = None
        self.port = 0
        #: Where pycc wants this phone's RTP, and the payload types it named (from its SDP).
        self.remote: tuple[str, int] | None = None
        self.payload_type: int | None = self.spec.static_payload_type
        self.event_type: int | None = None
        # -- sending --
        self.ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._first = True
        self._tone: ToneGenerator | None = None
        self._inband: deque[Pcm] = deque()
        self._events: deque[DtmfPacket] = deque()
        self._drained: list[asyncio.Future[None]] = []
        self._dtmf_planner = DtmfSender(self.spec.clock_rate, ptime_ms)
        self._sender: asyncio.Task[None] | None = None
        self._stall = 0.0
        self.sent = 0
        # -- receiving --
        self._decoders: dict[int, Decoder] = {}
        self._dtmf = DtmfReceiver(8000)
        self._dtmf_ssrc: int | None = None
        #: Every RTP packet received, with its arrival time.
        self.packets: list[tuple[float, RtpPacket]] = []
        #: The decoded audio packets, in arrival order (all SSRCs).
        self.heard_packets: list[Heard] = []
        #: Keys received as RFC 4733 telephone-events, once per press.
        self.digits: list[str] = []
        self.malformed = 0
        self._arrived = asyncio.Event()

    def __repr__(self) -> str:
        return f"<RtpPhone {self.host}:{self.port} -> {self.remote}>"

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind an even port (RFC 3550 §11) and start listening and sending."""
        self._sock = _bind_even(self.host)
        self.port = self._sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        loop.add_reader(self._sock.fileno(), self._readable)
        self._sender = loop.create_task(self._send_forever())

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for waiter in self._drained:
            if not waiter.done():
                waiter.cancel()
        self._drained.clear()

    @property
    def closed(self) -> bool:
        return self._sock is None and self._sender is None

    async def __aenter__(self) -> RtpPhone:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # -- signalling -----------------------------------------------------------------------------
    def offer(self, *, telephone_events: bool = True, username: str = "rtp-phone") -> bytes:
        """An SDP offer (RFC 8866) of this phone's codec at its port, for
        ``UserAgent.call(..., sdp=...)`` when the codec is not the agent's PCMU."""
        pt = self.spec.static_payload_type
        if pt is None:
            pt = 96
        channels = f"/{self.spec.channels}" if self.spec.channels != 1 else ""
        formats = f"{pt} 101" if telephone_events else str(pt)
        lines = [
            "v=0",
            f"o={username} {secrets.randbelow(10**9)} 1 IN IP4 {self.host}",
            "s=-",
            f"c=IN IP4 {self.host}",
            "t=0 0",
            f"m=audio {self.port} RTP/AVP {formats}",
            f"a=rtpmap:{pt} {self.spec.name}/{self.spec.clock_rate}{channels}",
        ]
        if self.spec.fmtp:
            lines.append(f"a=fmtp:{pt} {self.spec.fmtp}")
        if telephone_events:
            lines += ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]
        lines += [f"a=ptime:{round(self.ptime * 1000)}", "a=sendrecv"]
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    def learn(self, sdp: bytes | None) -> None:
        """Take the destination and payload types from the SDP pycc sent this phone."""
        if not sdp:
            raise ValueError("no SDP to learn from")
        description = SessionDescription.parse(sdp)
        audio = next((m for m in description.media if m.media == "audio" and not m.rejected),
                     None)
        if audio is None:
            raise ValueError("pycc's SDP has no audio stream")
        connection = description.media_connection(audio)
        if connection is None:
            raise ValueError("pycc's SDP has no connection address")
        self.remote = (connection.address, audio.port)
        self.payload_type = None
        self.event_type = None
        for rtpmap in audio.codecs():
            name = rtpmap.encoding.casefold()
            if name == "telephone-event" and self.event_type is None:
                self.event_type = rtpmap.payload_type
            elif (self.payload_type is None and name == self.spec.name.casefold()
                  and rtpmap.clock_rate == self.spec.clock_rate):
                self.payload_type = rtpmap.payload_type
        if self.payload_type is None:
            raise ValueError(f"pycc's SDP does not offer {self.spec}")

    # -- what the phone says --------------------------------------------------------------------
    def tone(self, *frequencies: float, level_dbm0: float = -13.0) -> None:
        """Send a continuous tone of one or two frequencies, each at ``level_dbm0``."""
        spec = ToneSpec((ToneSegment(1000, tuple(float(f) for f in frequencies)),),
                        level_dbm0, repeat=True)
        self._tone = ToneGenerator(spec, self.rate)

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds``, then go on where the stream was, its timestamps not
        skipping the pause: a phone whose CPU or network froze, or a path that got slower."""
        self._stall = seconds

    def silence(self) -> None:
        """Send silent packets (the stream goes on, as a phone's does)."""
        self._tone = None

    async def press(self, digit: str, duration_ms: int = 100) -> None:
        """Press ``digit`` as RFC 4733 events; returns once the last packet has left."""
        if self.event_type is None:
            raise ValueError("pycc negotiated no telephone-event with this phone")
        self._events.extend(self._dtmf_planner.packets(digit, duration_ms, self._ts))
        await self._until_drained()

    async def press_inband(self, digit: str, duration_ms: int = 100, gap_ms: int = 80,
                           level_dbm0: float = -7.0) -> None:
        """Send ``digit`` as its DTMF tone pair, then ``gap_ms`` of silence; returns once
        sent."""
        pcm = np.concatenate([
            dtmf_tone(digit, duration_ms, sample_rate=self.rate, level_dbm0=level_dbm0),
            np.zeros(self.rate * gap_ms // 1000, dtype=np.int16),
        ])
        usable = len(pcm) + (-len(pcm)) % self._frame
        padded = np.zeros(usable, dtype=np.int16)
        padded[: len(pcm)] = pcm
        self._inband.extend(padded.reshape(-1, self._frame))
        await self._until_drained()

    async def _until_drained(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drained.append(waiter)
        await waiter

    async def _send_forever(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slot = 0
        while True:
            if self._stall > 0:
                pause, self._stall = self._stall, 0.0
                await asyncio.sleep(pause)
                start, slot = loop.time(), 0
            slot += 1
            due = start + slot * self.ptime
            late = loop.time() - due
            if late > _MAX_LATE * self.ptime:
                start, slot = loop.time(), 0
            else:
                await asyncio.sleep(max(0.0, due - loop.time()))
            self._send_slot()

    def _send_slot(self) -> None:
        """One packet time: an event packet while a key is down, else audio."""
        pcm = self._next_audio()
        if self._events:
            event = self._events.popleft()
            if self.event_type is not None:
                self._send(RtpPacket(self.event_type, self._next_seq(), event.timestamp,
                                     self.ssrc, event.payload, marker=event.marker))
        elif self.payload_type is not None:
            if self.spec.pcm_channels == 2:
                pcm = np.repeat(pcm[:, None], 2, axis=1)
            payload = self._encoder.encode(pcm)
            self._send(RtpPacket(self.payload_type, self._next_seq(), self._ts, self.ssrc,
                                 payload, marker=self._first))
            self._first = False
        self._ts = (self._ts + self._ts_step) & 0xFFFFFFFF
        if not self._events and not self._inband and self._drained:
            for waiter in self._drained:
                if not waiter.done():
                    waiter.set_result(None)
            self._drained.clear()

    def _next_audio(self) -> Pcm:
        if self._inband:
            return self._inband.popleft()
        if self._tone is not None:
            return self._tone.read(self._frame)
        return np.zeros(self._frame, dtype=np.int16)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send(self, packet: RtpPacket) -> None:
        if self._sock is None or self.remote is None:
            return
        with contextlib.suppress(OSError):  # nothing listens there (yet): UDP does not care
            self._sock.sendto(packet.serialize(), self.remote)
            self.sent += 1

    # -- what the phone hears -------------------------------------------------------------------
    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        now = asyncio.get_running_loop().time()
        while True:
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                return
            self._receive(data, now)
        self._arrived.set()

    def _receive(self, data: bytes, now: float) -> None:
        if is_rtcp(data):
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.malformed += 1
            return
        self.packets.append((now, packet))
        if packet.payload_type == self.event_type:
            if packet.ssrc != self._dtmf_ssrc:
                self._dtmf_ssrc = packet.ssrc
                self._dtmf.reset()
            try:
                events = self._dtmf.receive_packet(packet, now)
            except ValueError:
                self.malformed += 1
                return
            self.digits += [e.digit for e in events if isinstance(e, DigitStarted)]
            return
        if packet.payload_type != self.payload_type:
            return
        decoder = self._decoders.get(packet.ssrc)
        if decoder is None:
            decoder = self._decoders[packet.ssrc] = self._codec.decoder()
        try:
            pcm = decoder.decode(packet.payload)
        except ValueError:
            self.malformed += 1
            return
        if pcm.ndim == 2:
            pcm = pcm.mean(axis=1).astype(np.int16)
        self.heard_packets.append(Heard(now, packet.ssrc, pcm))

    def now(self) -> float:
        """The loop's clock, the time base of :meth:`heard` and ``packets``."""
        return asyncio.get_running_loop().time()

    def heard(self, since: float = -math.inf, until: float = math.inf,
              ssrc: int | None = None) -> Pcm:
        """The audio received between ``since`` and ``until`` (of one SSRC if given)."""
        parts = [h.pcm for h in self.heard_packets
                 if since <= h.at < until and (ssrc is None or h.ssrc == ssrc)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def ssrcs(self, since: float = -math.inf) -> set[int]:
        return {h.ssrc for h in self.heard_packets if h.at >= since}

    async def hear(self, seconds: float, *, since: float | None = None,
                   timeout: float = WAIT_TIMEOUT) -> Pcm:
        """Wait until ``seconds`` of audio arrived after ``since`` (default: now); return it.

        Raises TimeoutError when the audio does not come (pycc sends nothing)."""
        start = self.now() if since is None else since
        wanted = round(seconds * self.rate)
        async with asyncio.timeout(timeout):
            while True:
                pcm = self.heard(start)
                if len(pcm) >= wanted:
                    return pcm[:wanted]
                self._arrived.clear()
                await self._arrived.wait()

    async def quiet(self, seconds: float, *, timeout: float = WAIT_TIMEOUT) -> None:
        """Wait until no audio packet has arrived for ``seconds`` (pycc stopped sending)."""
        async with asyncio.timeout(timeout):
            while True:
                last = self.heard_packets[-1].at if self.heard_packets else -math.inf
                if self.now() - last >= seconds:
                    return
                await asyncio.sleep(seconds / 4)

    async def next_digits(self, count: int, *, timeout: float = WAIT_TIMEOUT) -> list[str]:
        """Wait until ``count`` keys arrived as telephone-events; all keys so far."""
        async with asyncio.timeout(timeout):
            while len(self.digits) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.digits)


def _bind_even(host: str, attempts: int = 200) -> socket.socket:
    for _ in range(attempts):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        if sock.getsockname()[1] % 2 == 0:
            sock.setblocking(False)
            return sock
        sock.close()
    raise RuntimeError(f"no even UDP port on {host}")


# -- measuring what was heard ---------------------------------------------------------------------

Floats = npt.NDArray[np.float64]


def _power_spectrum(pcm: Pcm, rate: int) -> tuple[Floats, Floats]:
    samples = pcm.astype(np.float64)
    windowed = (samples - samples.mean()) * np.hanning(len(samples))
    power = (np.abs(np.fft.rfft(windowed)) ** 2).astype(np.float64)
    freqs = np.fft.rfftfreq(len(samples), 1.0 / rate).astype(np.float64)
    return freqs, power


def dominant_frequency(pcm: Pcm, rate: int) -> float:
    """The strongest frequency in ``pcm`` (Hz, to the FFT bin); 0.0 for silence."""
    if len(pcm) < 16 or not np.any(pcm):
        return 0.0
    freqs, power = _power_spectrum(pcm, rate)
    return float(freqs[int(np.argmax(power[1:])) + 1])


def band_share(pcm: Pcm, rate: int, freq: float, tolerance: float = 15.0) -> float:
    """The share (0..1) of the energy of ``pcm`` within ``freq ± tolerance`` Hz."""
    if len(pcm) < 16:
        return 0.0
    freqs, power = _power_spectrum(pcm, rate)
    total = float(power.sum())
    if total <= 0.0:
        return 0.0
    band = (freqs >= freq - tolerance) & (freqs <= freq + tolerance)
    return float(power[band].sum()) / total


def level_dbfs(pcm: Pcm) -> float:
    """RMS level relative to a full-scale square wave (dBFS); -120 for digital silence."""
    if len(pcm) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    return 20 * math.log10(rms / 32768) if rms > 0 else -120.0
