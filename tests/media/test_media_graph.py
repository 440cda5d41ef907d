"""The media graph's core: FrameClock, LegInput and LegOutput.

- FrameClock on a scripted loop: ticks at ``origin + n * 20 ms`` exactly whatever the lateness
  of each callback, subscribers in subscription order, the timer only while someone listens, a
  loop more than three frames late skips ahead (``late_ticks``), a raising subscriber is
  unsubscribed and the others go on; on real loops (asyncio, uvloop) 0.5 s gives 25 ticks
  without drift.
- LegInput (fake legs, time passed in): exactly 20 ms frames for 10, 20 and 30 ms packets,
  bit-exact against G.711's own decode when nothing is lost, with the packet time learnt when
  the SDP gave none; lost packets concealed (G.711 pitch repetition, Opus FEC) without a gap
  in the frames; events and comfort noise ignored; a codec change and a sender's change of
  packet time mid-stream followed; any packet times, losses and late arrivals give only whole
  frames (Hypothesis).
- LegOutput: one SSRC of its own (the leg's ``own_ssrc``), sequence +1 per packet, timestamps
  that count through silence with the marker on each talkspurt's first packet, the party's
  packet time, continuity across a codec change of the same clock rate and a new SSRC across a
  change of clock rate (RFC 7160 §4.1); invariants over random writes (Hypothesis).
- Real UDP: a phone's tone crosses a MediaLeg, a LegInput, a Room driven by the FrameClock, a
  LegOutput and another MediaLeg to a second phone.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peers.aio import eventually, runner
from peers.net import free_port
from pycc.codecs.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from pycc.codecs.registry import default_registry
from pycc.media.audio import LegInput, LegOutput
from pycc.media.clock import FRAME_MS, FrameClock, frame_samples
from pycc.media.leg import MediaLeg
from pycc.media.room import Room
from pycc.media.rtp_socket import RtpSocketPair
from pycc.rtp.packet import RtpPacket, parse_rtp
from pycc.sdp.anchor import StreamSide
from pycc.sdp.attributes import RtpMap

PCMU = RtpMap(0, "PCMU", 8000)
PCMA = RtpMap(8, "PCMA", 8000)
G722 = RtpMap(9, "G722", 8000)
OPUS = RtpMap(111, "opus", 48000, 2)
EVENT = RtpMap(101, "telephone-event", 8000)
HOST = "127.0.0.1"


def side(codec: RtpMap | None, ptime: float | None = None,
         address: tuple[str, int] | None = None) -> StreamSide:
    rtcp = (address[0], address[1] + 1) if address else None
    return StreamSide(codec, EVENT, address, rtcp, False, True, True, "RTP/AVP", ptime, None,
                      None)


def sine(freq: float, seconds: float, rate: int = 8000, peak: float = 8000.0) -> (
    npt.NDArray[np.int16]
):
    t = np.arange(round(seconds * rate)) / rate
    return np.rint(peak * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(pcm: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum)) * rate / len(pcm)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeLeg:
    """The attributes LegInput and LegOutput use of a MediaLeg."""

    side: StreamSide | None
    clock: Clock = field(default_factory=Clock)
    own_ssrc: int | None = None
    taps: list[Callable[[object, bytes], None]] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)

    def send_rtp(self, data: bytes) -> None:
        self.sent.append(data)

    def deliver(self, data: bytes, now: float) -> None:
        self.clock.now = now
        for tap in tuple(self.taps):
            tap(self, data)


# -- FrameClock ------------------------------------------------------------------------------


class ScriptedLoop:
    """``time()`` and ``call_at`` under the test's control."""

    class Handle:
        def __init__(self, loop: ScriptedLoop, when: float, callback: Callable[[], object]):
            self.loop, self.when, self.callback = loop, when, callback
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[ScriptedLoop.Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> ScriptedLoop.Handle:
        handle = ScriptedLoop.Handle(self, when, callback)
        self.timers.append(handle)
        return handle

    def pending(self) -> list[ScriptedLoop.Handle]:
        return [h for h in self.timers if not h.cancelled]

    def fire_next(self, lateness: float = 0.0) -> float:
        """Run the earliest timer, ``lateness`` seconds after it was due."""
        handle = min(self.pending(), key=lambda h: h.when)
        self.timers.remove(handle)
        self.now = max(self.now, handle.when + lateness)
        handle.callback()
        return handle.when


class Recorder:
    def __init__(self, name: str = "", log: list[tuple[str, float]] | None = None) -> None:
        self.name = name
        self.times: list[float] = []
        self.log = log

    def tick(self, now: float) -> None:
        self.times.append(now)
        if self.log is not None:
            self.log.append((self.name, now))


def test_clock_ticks_on_an_absolute_schedule_in_subscription_order() -> None:
    loop = ScriptedLoop()
    clock = FrameClock(loop)
    log: list[tuple[str, float]] = []
    first, second = Recorder("a", log), Recorder("b", log)
    clock.subscribe(first)
    clock.subscribe(second)
    clock.subscribe(first)  # twice is once
    lateness = [0.0, 0.013, 0.004, 0.019, 0.0, 0.002] * 5
    for late in lateness:
        loop.fire_next(late)
    # Late callbacks do not push the schedule back: tick n is at origin + n * 20 ms.
    assert first.times == pytest.approx([100.0 + 0.02 * n for n in range(1, 31)], abs=1e-9)
    assert [name for name, _ in log] == ["a", "b"] * 30
    assert clock.ticks == 30 and clock.late_ticks == 0
    assert len(loop.pending()) == 1


def test_clock_runs_only_while_subscribed() -> None:
    loop = ScriptedLoop()
    clock = FrameClock(loop)
    subscriber = Recorder()
    assert not loop.pending()
    clock.subscribe(subscriber)
    loop.fire_next()
    clock.unsubscribe(subscriber)
    assert not loop.pending() and not clock.running
    loop.now = 200.0
    clock.subscribe(subscriber)
    loop.fire_next()
    assert subscriber.times[-1] == pytest.approx(200.02)


def test_clock_skips_ahead_when_the_loop_falls_far_behind() -> None:
    loop = ScriptedLoop()
    clock = FrameClock(loop)
    subscriber = Recorder()
    clock.subscribe(subscriber)
    loop.fire_next()
    loop.fire_next(0.059)  # under three frames late: ticks as scheduled
    assert clock.late_ticks == 0
    loop.fire_next(0.205)  # tick 3 runs 205 ms late: ten frames are gone
    assert clock.late_ticks == 1 and clock.skipped == 10
    loop.fire_next()
    assert subscriber.times == pytest.approx([100.02, 100.04, 100.26, 100.28], abs=1e-9)


def test_a_raising_subscriber_is_unsubscribed_and_the_clock_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    loop = ScriptedLoop()
    clock = FrameClock(loop)

    class Broken:
        calls = 0

        def tick(self, now: float) -> None:
            self.calls += 1
            raise RuntimeError("boom")

    broken, after = Broken(), Recorder()
    clock.subscribe(broken)
    clock.subscribe(after)
    for _ in range(3):
        loop.fire_next()
    assert broken.calls == 1 and len(after.times) == 3
    assert clock.errors == 1 and clock.subscribers == (after,)
    assert "unsubscribed" in caplog.text


def test_a_subscriber_removed_during_a_tick_is_not_ticked() -> None:
    loop = ScriptedLoop()
    clock = FrameClock(loop)
    later = Recorder()

    class Remover:
        def tick(self, now: float) -> None:
            clock.unsubscribe(later)
            clock.unsubscribe(self)

    clock.subscribe(Remover())
    clock.subscribe(later)
    loop.fire_next()
    assert later.times == [] and not loop.pending()


@pytest.mark.parametrize("flavour", ["asyncio", "uvloop"])
def test_clock_cadence_on_a_real_loop(flavour: str) -> None:
    factory = None
    if flavour == "uvloop":
        factory = pytest.importorskip("uvloop").new_event_loop
    seen: list[tuple[float, float]] = []
    skipped: list[int] = []
    frames_due: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        clock = FrameClock(loop)

        class Probe:
            def tick(self, now: float) -> None:
                seen.append((now, loop.time()))

        probe = Probe()
        start = loop.time()
        clock.subscribe(probe)
        await asyncio.sleep(0.5 + 0.01)
        clock.unsubscribe(probe)
        skipped.append(clock.skipped)
        frames_due.append((loop.time() - start) / 0.02)
        # uvloop's loop.time() counts whole milliseconds: the deadline and the start may
        # each be rounded by one.
        assert seen[0][0] == pytest.approx(start + 0.02, abs=2.5e-3)

    runner(factory)(scenario)
    # A loop stalled by a loaded machine (more than three frames late) skips the frames it
    # missed rather than firing them in a burst: counted, and the grid is kept.
    # The sleep itself may wake late on such a machine: every frame due by then is counted.
    assert 24 <= len(seen) + skipped[0] <= max(26, frames_due[0] + 1)
    nominal = [n for n, _ in seen]
    steps = np.diff(nominal) / 0.02
    assert steps == pytest.approx(np.round(steps), abs=1e-6)
    assert round(float(np.sum(steps))) == len(seen) - 1 + skipped[0]
    if not skipped[0]:
        assert np.diff(nominal) == pytest.approx(0.02, abs=1e-9)
    lateness = [real - n for n, real in seen]
    # Never early; late by the loop's wake-up only, not by an accumulating amount.
    assert min(lateness) > -0.002
    assert sorted(lateness)[len(lateness) // 2] < 0.01
    assert sorted(lateness[-10:])[5] < 0.01


# -- LegInput --------------------------------------------------------------------------------


def packetise(pcm: npt.NDArray[np.int16], packet_ms: int, codec: RtpMap = PCMU,
              encode: Callable[[npt.NDArray[np.int16]], bytes] = ulaw_encode,
              ssrc: int = 0x1234, seq0: int = 65530, ts0: int = 4_000_000_000,
              ) -> list[tuple[float, bytes]]:
    """(send time, packet) for a signal cut into packet_ms packets (seq and ts wrap)."""
    n = 8 * packet_ms
    packets = []
    for k in range(len(pcm) // n):
        payload = encode(pcm[k * n:(k + 1) * n])
        packet = RtpPacket(codec.payload_type, (seq0 + k) & 0xFFFF, (ts0 + k * n) & 0xFFFFFFFF,
                           ssrc, payload, marker=k == 0)
        packets.append((k * packet_ms / 1000, packet.serialize()))
    return packets


def drive(leg: FakeLeg, source: LegInput, packets: Iterable[tuple[float, bytes]],
          seconds: float, start: float = 0.0) -> list[npt.NDArray[np.int16] | None]:
    """Deliver packets at their times and read a frame every 20 ms, in time order."""
    queue = sorted(packets, key=lambda p: p[0])
    frames: list[npt.NDArray[np.int16] | None] = []
    index = 0
    for tick in range(round(seconds * 1000 / FRAME_MS)):
        now = start + tick * FRAME_MS / 1000
        while index < len(queue) and queue[index][0] <= now:
            leg.deliver(queue[index][1], queue[index][0])
            index += 1
        frames.append(source.read(now))
    return frames


def talking(frames: list[npt.NDArray[np.int16] | None]) -> npt.NDArray[np.int16]:
    """The frames from the first one with audio on, which must all be whole frames."""
    first = next(i for i, f in enumerate(frames) if f is not None)
    body = frames[first:]
    assert all(f is not None for f in body)
    return np.concatenate([f for f in body if f is not None])


@pytest.mark.parametrize("packet_ms", [10, 20, 30])
@pytest.mark.parametrize("signalled", [True, False])
def test_leg_input_gives_exact_frames_for_any_packet_time(packet_ms: int,
                                                          signalled: bool) -> None:
    signal = sine(440, 1.2)
    reference = ulaw_decode(ulaw_encode(signal))
    leg = FakeLeg(side(PCMU, float(packet_ms) if signalled else None))
    source = LegInput(leg, 8000)
    source.attach()
    # Read for 1 s of a 1.2 s stream: the stream is still going when reading stops.
    frames = drive(leg, source, packetise(signal, packet_ms), 1.0)
    assert all(f is None or (f.shape == (160,) and f.dtype == np.int16) for f in frames)
    out = talking(frames)
    # Nothing lost: G.711's own decode, bit for bit, from the first sample on.
    assert np.array_equal(out, reference[: len(out)])
    assert len(out) >= 0.85 * 8000
    assert source.packet_time == pytest.approx(packet_ms / 1000)
    assert source.concealed == 0 and source.underruns == 0
    assert source.frames == sum(f is not None for f in frames)


def test_leg_input_follows_a_sender_that_changes_its_packet_time() -> None:
    t = np.arange(12800) / 8000
    signal = np.rint(8000 * np.sin(2 * np.pi * (200 * t + 300 * t**2))).astype(np.int16)  # chirp
    reference = ulaw_decode(ulaw_encode(signal))
    twenty = packetise(signal[:4800], 20)  # 0.6 s in 20 ms packets, then 30 ms packets
    thirty = [(0.6 + t, data) for t, data in packetise(signal[4800:], 30, seq0=(65530 + 30),
                                                         ts0=4_000_000_000 + 4800)]
    leg = FakeLeg(side(PCMU, 20.0))
    source = LegInput(leg, 8000)
    source.attach()
    frames = drive(leg, source, twenty + thirty, 1.5)
    assert source.packet_time == pytest.approx(0.03)
    assert all(f is None or f.shape == (160,) for f in frames)
    # A few frames around the change may be lost; after it the stream is exact again, at its
    # place in the signal.
    tail = talking(frames[-20:])
    starts = np.flatnonzero(
        [np.array_equal(reference[i:i + 160], tail[:160]) for i in range(0, 12800 - 160, 80)])
    assert len(starts) == 1
    start = int(starts[0]) * 80
    assert np.array_equal(tail, reference[start:start + len(tail)])
    assert 1.0 < start / 8000 < 1.2  # read from 1.1 s on, less the playout delay


def test_leg_input_resamples_to_the_graph_rate() -> None:
    leg = FakeLeg(side(PCMU, 20.0))
    source = LegInput(leg, 16000)
    source.attach()
    frames = drive(leg, source, packetise(sine(700, 1.0), 20), 1.0)
    out = talking(frames[:-5])
    assert all(f is None or f.shape == (320,) for f in frames)
    assert peak_hz(out, 16000) == pytest.approx(700, abs=20)


def test_leg_input_conceals_lost_packets_without_a_gap() -> None:
    signal = sine(300, 1.0)
    reference = ulaw_decode(ulaw_encode(signal))
    packets = packetise(signal, 20)
    lost = {20, 21}
    leg = FakeLeg(side(PCMU, 20.0))
    source = LegInput(leg, 8000)
    source.attach()
    frames = drive(leg, source, [p for k, p in enumerate(packets) if k not in lost], 1.0)
    out = talking(frames[:-10])
    assert source.concealed == 2
    concealed = out[20 * 160:22 * 160].astype(np.float64)
    # Pitch repetition fills the gap with the tone, not silence.
    assert np.sqrt(np.mean(concealed**2)) > 1000
    assert np.array_equal(out[:20 * 160], reference[:20 * 160])
    # After the cross-fade into the first good frame, the stream is exact again.
    assert np.array_equal(out[23 * 160:], reference[23 * 160: len(out)])


def test_leg_input_uses_opus_fec_for_a_lost_packet() -> None:
    try:
        codec = default_registry().find("opus", 48000, 2)
    except LookupError:
        pytest.skip("libopus not installed")
    encoder = codec.encoder(20)
    signal = sine(600, 1.0, 48000)
    packets = []
    for k in range(50):
        payload = encoder.encode(signal[k * 960:(k + 1) * 960])
        if k != 25:
            packets.append((k * 0.02, RtpPacket(111, k, k * 960, 7, payload).serialize()))
    leg = FakeLeg(side(OPUS, 20.0))
    source = LegInput(leg, 8000)
    source.attach()
    frames = drive(leg, source, packets, 1.0)
    out = talking(frames[:-5])
    assert source.concealed == 1
    assert peak_hz(out, 8000) == pytest.approx(600, abs=20)
    assert all(f is None or f.shape == (160,) for f in frames)


def test_leg_input_ignores_events_and_comfort_noise() -> None:
    leg = FakeLeg(side(PCMU, 20.0))
    source = LegInput(leg, 8000)
    source.attach()
    leg.deliver(RtpPacket(101, 1, 0, 5, bytes(4), marker=True).serialize(), 0.0)
    leg.deliver(RtpPacket(13, 2, 160, 5, bytes([40])).serialize(), 0.02)
    assert source.ignored == 2
    assert [source.read(t / 50) for t in range(10)] == [None] * 10


def test_leg_input_follows_a_codec_change() -> None:
    signal = sine(500, 2.0)
    leg = FakeLeg(side(PCMU, 20.0))
    source = LegInput(leg, 8000)
    source.attach()
    first = drive(leg, source, packetise(signal[:8000], 20), 1.0)
    leg.side = side(PCMA, 20.0)
    second = drive(leg, source, packetise(signal[8000:], 20, PCMA, alaw_encode, ssrc=99,
                                          seq0=10, ts0=0), 1.2)
    # The second half's time line starts at 1 s.
    assert source.reconfigured == 2
    out = talking(second[:-10])
    reference = alaw_decode(alaw_encode(signal[8000:]))
    assert np.array_equal(out, reference[: len(out)])
    assert talking(first[:-10]).size >= 5000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packet_ms=st.sampled_from([10, 20, 30, 40, 60]),
    loss=st.sets(st.integers(0, 40), max_size=12),
    delays=st.lists(st.floats(0, 0.12), min_size=41, max_size=41),
    rate=st.sampled_from([8000, 16000, 48000]),
    signalled=st.booleans(),
)
def test_leg_input_only_ever_gives_whole_frames(packet_ms: int, loss: set[int],
                                                delays: list[float], rate: int,
                                                signalled: bool) -> None:
    signal = sine(440, packet_ms * 41 / 1000)
    packets = [(t + delays[k], data) for k, (t, data) in enumerate(packetise(signal, packet_ms))
               if k not in loss]
    leg = FakeLeg(side(PCMU, float(packet_ms) if signalled else None))
    source = LegInput(leg, rate)
    source.attach()
    frames = drive(leg, source, packets, packet_ms * 41 / 1000 + 0.5)
    n = frame_samples(rate)
    assert all(f is None or (f.shape == (n,) and f.dtype == np.int16) for f in frames)
    assert source.frames == sum(f is not None for f in frames)


def test_leg_input_detach() -> None:
    leg = FakeLeg(side(PCMU))
    source = LegInput(leg)
    source.attach()
    source.attach()
    assert leg.taps == [source.on_packet]
    source.detach()
    source.detach()
    assert leg.taps == []


# -- LegOutput -------------------------------------------------------------------------------


def sent(leg: FakeLeg) -> list[RtpPacket]:
    return [parse_rtp(data) for data in leg.sent]


def write_all(sink: LegOutput, frames: Iterable[npt.NDArray[np.int16] | None],
              start: int = 0) -> int:
    tick = start
    for frame in frames:
        sink.write(frame, tick * 0.02)
        tick += 1
    return tick


def frames_of(pcm: npt.NDArray[np.int16], n: int = 160) -> list[npt.NDArray[np.int16]]:
    return [pcm[i:i + n] for i in range(0, len(pcm) - n + 1, n)]


def test_leg_output_keeps_its_stream_continuous_through_silence() -> None:
    leg = FakeLeg(side(PCMU, 20.0))
    sink = LegOutput(leg, 8000)
    tone = frames_of(sine(1000, 0.2))
    write_all(sink, [*tone[:5], None, None, None, *tone[5:10]])
    packets = sent(leg)
    assert len(packets) == 10 and sink.packets == 10
    assert {p.ssrc for p in packets} == {sink.ssrc} and leg.own_ssrc == sink.ssrc
    seqs = [p.sequence for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    ts0 = packets[0].timestamp
    steps = [(p.timestamp - ts0) & 0xFFFFFFFF for p in packets]
    assert steps == [0, 160, 320, 480, 640, 1280, 1440, 1600, 1760, 1920]
    assert [p.marker for p in packets] == [True] + [False] * 4 + [True] + [False] * 4
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    decoded = np.concatenate([ulaw_decode(p.payload) for p in packets])
    assert np.array_equal(decoded, ulaw_decode(ulaw_encode(np.concatenate(tone[:10]))))


@pytest.mark.parametrize("ptime", [10, 30, 40, 60])
def test_leg_output_packetises_in_the_party_ptime(ptime: int) -> None:
    leg = FakeLeg(side(PCMU, float(ptime)))
    sink = LegOutput(leg, 8000)
    signal = sine(800, 0.6)
    write_all(sink, frames_of(signal))
    packets = sent(leg)
    step = 8 * ptime
    assert len(packets) == 600 // ptime
    assert all(len(p.payload) == step for p in packets)
    ts0 = packets[0].timestamp
    assert [(p.timestamp - ts0) & 0xFFFFFFFF for p in packets] == [
        k * step for k in range(len(packets))]
    decoded = np.concatenate([ulaw_decode(p.payload) for p in packets])
    assert np.array_equal(decoded, ulaw_decode(ulaw_encode(signal))[: len(decoded)])


def test_leg_output_finishes_a_part_packet_with_silence() -> None:
    leg = FakeLeg(side(PCMU, 30.0))
    sink = LegOutput(leg, 8000)
    tone = frames_of(sine(800, 0.2))
    write_all(sink, [tone[0], None, None, None, tone[1], tone[2]])
    packets = sent(leg)
    # 20 ms of tone + 10 ms of silence; silence; then a new talkspurt at 80 ms.
    assert len(packets) == 2
    first = ulaw_decode(packets[0].payload)
    assert np.array_equal(first[:160], ulaw_decode(ulaw_encode(tone[0])))
    assert not np.any(first[160:] > 8)
    assert (packets[1].timestamp - packets[0].timestamp) & 0xFFFFFFFF == 640
    assert [p.marker for p in packets] == [True, True]


def test_leg_output_follows_a_codec_change_on_one_stream() -> None:
    leg = FakeLeg(side(PCMU, 20.0))
    sink = LegOutput(leg, 8000)
    tone = frames_of(sine(1000, 0.4))
    tick = write_all(sink, tone[:5])
    ssrc = sink.ssrc
    leg.side = side(PCMA, 20.0)
    tick = write_all(sink, tone[5:10], tick)
    leg.side = side(G722, 20.0)
    write_all(sink, tone[10:15], tick)
    packets = sent(leg)
    assert [p.payload_type for p in packets] == [0] * 5 + [8] * 5 + [9] * 5
    # Same clock rate: the same stream goes on (RFC 3550 §5.1 lets the payload type change).
    assert {p.ssrc for p in packets} == {ssrc} and leg.own_ssrc == ssrc
    seqs = [p.sequence for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    ts = [p.timestamp for p in packets]
    assert all((b - a) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(ts))
    assert np.array_equal(alaw_decode(packets[7].payload), alaw_decode(alaw_encode(tone[7])))
    assert all(len(p.payload) == 160 for p in packets[10:])  # G.722: 320 samples, 160 bytes
    decoder = default_registry().find("G722", 8000).decoder()
    wideband = np.concatenate([decoder.decode(p.payload) for p in packets[10:]])
    assert peak_hz(wideband[640:], 16000) == pytest.approx(1000, abs=30)


def test_leg_output_takes_a_new_ssrc_for_a_new_clock_rate() -> None:
    try:
        default_registry().find("opus", 48000, 2)
    except LookupError:
        pytest.skip("libopus not installed")
    leg = FakeLeg(side(PCMU, 20.0))
    sink = LegOutput(leg, 8000)
    tone = frames_of(sine(1000, 0.4))
    tick = write_all(sink, tone[:5])
    first_ssrc = sink.ssrc
    leg.side = side(OPUS, 20.0)
    write_all(sink, tone[5:10], tick)
    packets = sent(leg)
    assert sink.ssrc != first_ssrc and leg.own_ssrc == sink.ssrc
    opus = packets[5:]
    assert {p.ssrc for p in opus} == {sink.ssrc} and opus[0].marker
    ts = [p.timestamp for p in opus]
    assert all((b - a) & 0xFFFFFFFF == 960 for a, b in itertools.pairwise(ts))


def test_leg_output_resamples_from_the_graph_rate() -> None:
    leg = FakeLeg(side(PCMU, 20.0))
    sink = LegOutput(leg, 48000)
    write_all(sink, frames_of(sine(900, 0.5, 48000), 960))
    packets = sent(leg)
    assert len(packets) == 25 and all(len(p.payload) == 160 for p in packets)
    decoded = np.concatenate([ulaw_decode(p.payload) for p in packets])
    assert peak_hz(decoded, 8000) == pytest.approx(900, abs=20)


def test_leg_output_close_and_no_codec() -> None:
    leg = FakeLeg(None)
    sink = LegOutput(leg, 8000)
    sink.write(sine(400, 0.02), 0.0)
    assert sink.unsent == 1 and leg.sent == []
    leg.side = side(PCMU, 20.0)
    sink.write(sine(400, 0.02), 0.02)
    assert len(leg.sent) == 1 and leg.own_ssrc == sink.ssrc
    sink.close()
    sink.write(sine(400, 0.02), 0.04)
    assert len(leg.sent) == 1 and leg.own_ssrc is None


@settings(max_examples=80, deadline=None)
@given(
    ptime=st.sampled_from([10, 20, 30, 40, 60]),
    pattern=st.lists(st.booleans(), min_size=1, max_size=60),
)
def test_leg_output_stream_invariants(ptime: int, pattern: list[bool]) -> None:
    """Whatever the talk/silence pattern: one SSRC, sequence +1, packets that never overlap
    and start on the frame timeline, the marker exactly where a gap precedes a packet, and
    every frame of audio sent."""
    leg = FakeLeg(side(PCMA, float(ptime)))
    sink = LegOutput(leg, 8000)
    tone = sine(700, 0.02)
    write_all(sink, [tone if talk else None for talk in pattern])
    packets = sent(leg)
    step = 8 * ptime
    if not packets:
        assert sum(pattern) * 160 < step
        return
    assert {p.ssrc for p in packets} == {sink.ssrc}
    seqs = [p.sequence for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    offsets = [(p.timestamp - packets[0].timestamp) & 0xFFFFFFFF for p in packets]
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert all(g >= step for g in gaps)
    assert packets[0].marker
    assert [p.marker for p in packets[1:]] == [g > step for g in gaps]
    # A talkspurt starts where its first frame was written.
    assert all(o % 160 == 0 for o, p in zip(offsets, packets, strict=True) if p.marker)
    # Every talking frame is in some packet, at its own place on the timeline.
    first_talk = pattern.index(True)
    covered = np.zeros(len(pattern) * 160 + step, dtype=bool)
    for offset in offsets:
        covered[offset:offset + step] = True
    for index, talk in enumerate(pattern):
        position = (index - first_talk) * 160
        if talk and position + 160 <= offsets[-1] + step:
            assert covered[position:position + 160].all()


# -- real UDP --------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["asyncio", "uvloop"])
def test_a_tone_crosses_real_legs_through_a_room(flavour: str) -> None:
    factory = None
    if flavour == "uvloop":
        factory = pytest.importorskip("uvloop").new_event_loop

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        phones = []
        for _ in range(2):
            phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            phone.bind((HOST, 0))
            phone.setblocking(False)
            phones.append(phone)
        legs: list[MediaLeg] = []
        for phone in phones:
            port = free_port("udp", count=2)
            holder: list[MediaLeg] = []
            pair = RtpSocketPair(loop, HOST, port,
                                 lambda d, s, r, h=holder: h[0].receive(d, s, r))
            leg = MediaLeg(pair, loop.time, name=f"leg{len(legs)}")
            holder.append(leg)
            leg.configure(side(PCMU, 20.0, phone.getsockname()), None)
            legs.append(leg)
        clock = FrameClock(loop)
        room = Room(8000)
        inputs = [LegInput(leg, 8000) for leg in legs]
        outputs = [LegOutput(leg, 8000) for leg in legs]
        for number, (source, sink) in enumerate(zip(inputs, outputs, strict=True)):
            source.attach()
            room.add(number, source, sink)
        clock.subscribe(room)
        tone = sine(1000, 0.8)
        start = loop.time()
        received: list[RtpPacket] = []
        for k in range(40):  # phone 0 talks for 0.8 s, one packet per 20 ms
            packet = RtpPacket(0, k, k * 160, 0xABCD, ulaw_encode(tone[k * 160:(k + 1) * 160]),
                               marker=k == 0)
            loop.call_at(start + k * 0.02, phones[0].sendto, packet.serialize(),
                         (HOST, legs[0].port))

        def drain() -> bool:
            while True:
                try:
                    data = phones[1].recv(2048)
                except BlockingIOError:
                    return len(received) >= 35
                received.append(parse_rtp(data))

        await eventually(drain, timeout=5)
        clock.close()
        for leg in legs:
            leg.close()
        for phone in phones:
            phone.close()
        assert legs[1].own_ssrc is None or legs[1].own_ssrc == outputs[1].ssrc
        assert {p.ssrc for p in received} == {outputs[1].ssrc}
        seqs = [p.sequence for p in received]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        heard = np.concatenate([ulaw_decode(p.payload) for p in received[2:]])
        assert peak_hz(heard, 8000) == pytest.approx(1000, abs=20)
        level = np.sqrt(np.mean(heard.astype(np.float64) ** 2))
        assert level == pytest.approx(8000 / math.sqrt(2), rel=0.15)
        # Phone 0 hears nobody: its own voice is never sent back.
        assert outputs[0].packets == 0
        assert inputs[0].frames >= 35

    runner(factory)(scenario)
