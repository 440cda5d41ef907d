"""The mixing Room: who hears whom, and the sums they hear.

- Three phones (fake legs carrying PCMU through LegInput and LegOutput) each send a tone; each
  hears the other two tones and not its own (FFT of what its LegOutput sent).
- Constant-valued frames make every mix exact: a member hearing a set of others gets exactly
  the sum of their values, which identifies the set. With that: the supervisor's listen,
  whisper and barge matrix, mute and deaf, listen-only sources and sink-only recorders,
  int16 saturation, and for any random room (members, hears sets, mutes, deafs, silent
  sources) the mix equals a plain per-member sum (Hypothesis).
- Misbehaving sources and sinks are detached and counted; the Room runs on a FrameClock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.codecs.g711 import ulaw_decode, ulaw_encode
from pycc.media.audio import LegInput, LegOutput
from pycc.media.clock import FrameClock
from pycc.media.room import Room
from pycc.rtp.packet import RtpPacket, parse_rtp
from pycc.sdp.anchor import StreamSide
from pycc.sdp.attributes import RtpMap

PCMU = RtpMap(0, "PCMU", 8000)


def sine(freq: float, seconds: float, rate: int = 8000, peak: float = 8000.0) -> (
    npt.NDArray[np.int16]
):
    t = np.arange(round(seconds * rate)) / rate
    return np.rint(peak * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@dataclass
class FakeLeg:
    """The attributes LegInput and LegOutput use of a MediaLeg."""

    side: StreamSide | None
    now: float = 0.0
    own_ssrc: int | None = None
    taps: list[Callable[[object, bytes], None]] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def send_rtp(self, data: bytes) -> None:
        self.sent.append(data)

    def deliver(self, data: bytes, now: float) -> None:
        self.now = now
        for tap in tuple(self.taps):
            tap(self, data)


class ScriptedLoop:
    """``time()`` and ``call_at`` for a FrameClock, fired by the test."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], object]]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> ScriptedLoop:
        self.timers.append((when, callback))
        return self

    def cancel(self) -> None:
        self.timers.clear()

    def fire_next(self) -> None:
        when, callback = self.timers.pop(0)
        self.now = when
        callback()


class Constant:
    """A source saying ``value`` in every sample (None: silent)."""

    def __init__(self, value: int | None, rate: int = 8000) -> None:
        self.value = value
        self.rate = rate
        self.reads = 0

    def read(self, now: float) -> npt.NDArray[np.int16] | None:
        self.reads += 1
        if self.value is None:
            return None
        return np.full(self.rate // 50, self.value, dtype=np.int16)


class Capture:
    """A sink remembering the last frame as one number (None for silence)."""

    def __init__(self, rate: int = 8000) -> None:
        self.rate = rate
        self.frames: list[npt.NDArray[np.int16] | None] = []

    def write(self, frame: npt.NDArray[np.int16] | None, now: float) -> None:
        self.frames.append(frame)

    @property
    def last(self) -> int | None:
        frame = self.frames[-1]
        if frame is None:
            return None
        assert frame.dtype == np.int16 and frame.shape == (self.rate // 50,)
        assert len(set(frame.tolist())) == 1
        return int(frame[0])


S, A, C = "supervisor", "agent", "customer"
VALUES = {S: 10000, A: 100, C: 1000}


def supervised() -> tuple[Room, dict[str, Capture]]:
    room = Room()
    sinks = {name: Capture() for name in VALUES}
    for name, value in VALUES.items():
        room.add(name, Constant(value), sinks[name])
    return room, sinks


def heard(room: Room, sinks: dict[str, Capture]) -> dict[str, int | None]:
    room.tick(0.0)
    return {name: sink.last for name, sink in sinks.items()}


def test_listen_whisper_barge() -> None:
    room, sinks = supervised()
    # Listen: the supervisor hears both, nobody hears the supervisor.
    room.set_hears(A, {C})
    room.set_hears(C, {A})
    assert heard(room, sinks) == {S: 1100, A: 1000, C: 100}
    # Whisper: the agent also hears the supervisor; the customer does not.
    room.set_hears(A, {C, S})
    assert heard(room, sinks) == {S: 1100, A: 11000, C: 100}
    # Barge: everyone hears everyone else.
    for name in VALUES:
        room.set_hears(name, None)
    assert heard(room, sinks) == {S: 1100, A: 11000, C: 10100}


def test_no_one_hears_themselves_even_when_asked() -> None:
    room, sinks = supervised()
    room.set_hears(A, {A, C})
    assert heard(room, sinks)[A] == 1000
    room.set_hears(A, {A})
    assert heard(room, sinks)[A] is None


def test_mute_and_deaf() -> None:
    room, sinks = supervised()
    room.mute(C)
    assert heard(room, sinks) == {S: 100, A: 10000, C: 10100}
    room.mute(C, False)
    room.deaf(A)
    assert heard(room, sinks) == {S: 1100, A: None, C: 10100}
    room.deaf(A, False)
    assert heard(room, sinks) == {S: 1100, A: 11000, C: 10100}
    # A muted source is still read: a player keeps its place while muted.
    source = room.member(C).source
    assert isinstance(source, Constant) and source.reads == 3


def test_listen_only_sources_and_sink_only_recorders() -> None:
    room = Room()
    phone_a, phone_b, recorder = Capture(), Capture(), Capture()
    room.add("a", Constant(100), phone_a)
    room.add("b", Constant(1000), phone_b)
    room.add("music", Constant(7))  # a player: a source without a sink
    room.add("recorder", sink=recorder)
    room.add("monitor", sink=Capture(), hears={"a"})
    room.tick(0.0)
    assert (phone_a.last, phone_b.last, recorder.last) == (1007, 107, 1107)
    assert room.member("monitor").sink is not None
    monitor = room.member("monitor").sink
    assert isinstance(monitor, Capture) and monitor.last == 100
    assert room.talking == 3


def test_silence_in_silence_out() -> None:
    room = Room()
    a, b = Capture(), Capture()
    room.add("a", Constant(None), a)
    room.add("b", Constant(5), b)
    room.tick(0.0)
    assert a.last == 5 and b.last is None  # b's only company is silent
    room.remove("b")
    room.tick(0.02)
    assert a.last is None
    assert room.remove("nobody") is None


def test_sums_saturate() -> None:
    room = Room()
    out = Capture()
    room.add("x", Constant(30000))
    room.add("y", Constant(30000))
    room.add("z", Constant(-30000), out)
    room.add("w", sink=(low := Capture()), hears={"z", "q"})
    room.add("q", Constant(-30000))
    room.tick(0.0)
    assert out.last == 30000  # 30000 + 30000 - 30000
    assert low.last == -32768
    room.remove("q")
    room.add("q", Constant(30000))
    room.add("r", sink=(high := Capture()), hears={"x", "y", "q"})
    room.tick(0.02)
    assert high.last == 32767


def test_rates_must_match() -> None:
    room = Room(16000)
    with pytest.raises(ValueError, match="8000 Hz"):
        room.add("a", Constant(1, 8000))
    with pytest.raises(ValueError, match="8000 Hz"):
        room.add("a", sink=Capture(8000))
    room.add("a", Constant(1, 16000), Capture(16000))
    with pytest.raises(ValueError, match="already"):
        room.add("a")


def test_broken_members_are_detached_and_the_room_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    class Exploding:
        rate = 8000

        def read(self, now: float) -> npt.NDArray[np.int16] | None:
            raise RuntimeError("decoder on fire")

        def write(self, frame: npt.NDArray[np.int16] | None, now: float) -> None:
            raise RuntimeError("socket on fire")

    class Wrong:
        rate = 8000

        def read(self, now: float) -> npt.NDArray[np.int16] | None:
            return np.zeros(100, dtype=np.int16)

    room = Room()
    good = Capture()
    room.add("bad", Exploding(), Exploding())
    room.add("wrong", Wrong())
    room.add("good", Constant(3), good)
    room.add("other", Constant(4))
    for tick in range(3):
        room.tick(tick * 0.02)
    assert good.last == 4
    assert room.source_errors == 1 and room.sink_errors == 1 and room.bad_frames == 3
    assert room.member("bad").source is None and room.member("bad").sink is None
    assert "detached" in caplog.text


def test_room_on_the_frame_clock() -> None:
    loop = ScriptedLoop()
    clock = FrameClock(loop)
    room = Room()
    out = Capture()
    room.add("a", Constant(9))
    room.add("b", sink=out)
    clock.subscribe(room)
    for _ in range(5):
        loop.fire_next()
    assert room.ticks == 5 and len(out.frames) == 5 and out.last == 9


@settings(max_examples=150, deadline=None)
@given(
    members=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-20000, 20000)),  # source value; None: silent
            st.booleans(),  # has a source
            st.booleans(),  # has a sink
            st.one_of(st.none(), st.sets(st.integers(0, 7))),  # hears
            st.booleans(),  # muted
            st.booleans(),  # deaf
        ),
        min_size=1, max_size=8,
    )
)
def test_mix_equals_a_plain_sum(members: list[tuple[int | None, bool, bool,
                                                    set[int] | None, bool, bool]]) -> None:
    room = Room()
    sinks: dict[Hashable, Capture] = {}
    for index, (value, has_source, has_sink, hears, muted, deaf) in enumerate(members):
        sink = Capture() if has_sink else None
        room.add(index, Constant(value) if has_source else None, sink, hears)
        room.mute(index, muted)
        room.deaf(index, deaf)
        if sink is not None:
            sinks[index] = sink
    room.tick(0.0)
    talking = {i: v for i, (v, has_source, _, _, muted, _) in enumerate(members)
               if has_source and v is not None and not muted}
    for index, sink in sinks.items():
        assert isinstance(index, int)
        _, _, _, hears, _, deaf = members[index]
        chosen = set(talking) - {index} if hears is None else (set(hears) & set(talking)) - {
            index}
        if deaf or not chosen:
            assert sink.last is None
        else:
            assert sink.last == max(-32768, min(32767, sum(talking[i] for i in chosen)))


# -- a conference of phones --------------------------------------------------------------------


def test_three_phones_each_hear_the_other_two() -> None:
    tones = {"p1": 400.0, "p2": 1000.0, "p3": 2200.0}
    seconds = 1.0
    legs: dict[str, FakeLeg] = {}
    room = Room(8000)
    for name in tones:
        leg = FakeLeg(StreamSide(PCMU, None, ("192.0.2.1", 4000), None, False, True, True,
                                 "RTP/AVP", 20.0, None, None))
        source = LegInput(leg, 8000)
        source.attach()
        room.add(name, source, LegOutput(leg, 8000))
        legs[name] = leg
    signals = {name: sine(freq, seconds, peak=6000) for name, freq in tones.items()}
    for tick in range(round(seconds * 50)):
        now = tick * 0.02
        for name, leg in legs.items():
            payload = ulaw_encode(signals[name][tick * 160:(tick + 1) * 160])
            leg.deliver(RtpPacket(0, tick, tick * 160, hash(name) & 0xFFFF, payload,
                                  marker=tick == 0).serialize(), now)
        room.tick(now)
    for name, leg in legs.items():
        packets = [parse_rtp(data) for data in leg.sent]
        assert len(packets) >= 40
        pcm = np.concatenate([ulaw_decode(p.payload) for p in packets]).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
        freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)

        def level(freq: float, spectrum: npt.NDArray[np.float64] = spectrum,
                  freqs: npt.NDArray[np.float64] = freqs) -> float:
            band = (freqs > freq - 30) & (freqs < freq + 30)
            return float(spectrum[band].max())

        others = [freq for other, freq in tones.items() if other != name]
        own = tones[name]
        # Both other tones are there, at about the same level; the own one is not.
        assert min(level(f) for f in others) > 0.5 * max(level(f) for f in others)
        assert level(own) < 0.01 * min(level(f) for f in others)


def test_a_private_voice_is_heard_only_by_its_audience() -> None:
    """A prompt for one member of a conference (``heard_by``) reaches that member only, on
    top of what it hears anyway; a deaf member hears not even its prompt."""
    room = Room()
    sinks = {name: Capture() for name in ("a", "b", "c")}
    for name, value in (("a", 100), ("b", 20), ("c", 3)):
        room.add(name, Constant(value), sinks[name])
    room.add("prompt", Constant(1000), heard_by=["a"])
    room.tick(0.0)
    assert {name: sink.last for name, sink in sinks.items()} == {
        "a": 1000 + 20 + 3, "b": 100 + 3, "c": 100 + 20}
    room.deaf("a")
    room.tick(0.02)
    assert sinks["a"].last is None
