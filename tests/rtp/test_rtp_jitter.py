"""The adaptive jitter buffer: ordering, loss, duplicates, lateness, adaptation, resync."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import JitterBuffer, Missing, RtpPacket

FRAME = 160  # 20 ms at 8 kHz
T = 0.02


def pkt(i: int, *, ssrc: int = 1, marker: bool = False, base: int = 0) -> RtpPacket:
    return RtpPacket(0, (i + base) & 0xFFFF, (base * FRAME + i * FRAME) & 0xFFFFFFFF, ssrc,
                     bytes((i & 0xFF,)), marker=marker)


def drain(jb: JitterBuffer, until: float, step: float = T, start: float = 0.0
          ) -> list[RtpPacket | Missing]:
    out: list[RtpPacket | Missing] = []
    t = start
    while t <= until + 1e-9:
        got = jb.get(t)
        if got is not None:
            out.append(got)
        t += step
    return out


def frames(out: list[RtpPacket | Missing]) -> list[int]:
    """Frame numbers (timestamp / 160), negative for Missing."""
    return [o.timestamp // FRAME if isinstance(o, RtpPacket) else -(o.timestamp // FRAME)
            for o in out]


def test_first_frame_waits_for_the_initial_delay() -> None:
    jb = JitterBuffer(8000, FRAME, initial_delay=0.06)
    assert jb.get(0.0) is None and jb.get_timer() is None
    assert jb.put(pkt(0), 1.0)
    assert jb.get_timer() == pytest.approx(1.06)
    assert jb.get(1.059) is None
    assert jb.get(1.06) == pkt(0)
    assert jb.get(1.06) is None  # one frame per frame time
    assert jb.delay == pytest.approx(0.06)


def test_steady_stream_comes_out_in_order_without_gaps() -> None:
    jb = JitterBuffer(8000, FRAME)
    out: list[RtpPacket | Missing] = []
    for i in range(100):
        jb.put(pkt(i), i * T)
        got = jb.get(i * T + 0.001)
        if got is not None:
            out.append(got)
    assert frames(out) == list(range(len(out)))
    assert len(out) >= 96
    assert jb.late == jb.duplicates == jb.concealed == 0


def test_reordering_within_the_delay_is_invisible() -> None:
    jb = JitterBuffer(8000, FRAME, initial_delay=0.06)
    order = [0, 2, 1, 3, 5, 4, 6, 7]
    for n, i in enumerate(order):
        jb.put(pkt(i), n * T)
    out = frames(drain(jb, 0.3))
    assert out[:8] == list(range(8))
    assert all(f < 0 for f in out[8:])  # after the last packet: concealment, then silence


def test_lost_frame_comes_out_as_missing_with_the_next_packet() -> None:
    jb = JitterBuffer(8000, FRAME)
    for i in (0, 1, 2, 4, 5, 8):
        jb.put(pkt(i), i * T)
    out = drain(jb, 8 * T + 0.1)
    assert frames(out)[:9] == [0, 1, 2, -3, 4, 5, -6, -7, 8]
    missing3 = out[3]
    assert isinstance(missing3, Missing) and missing3.next == pkt(4)  # for Opus FEC
    missing6, missing7 = out[6], out[7]
    assert isinstance(missing6, Missing) and missing6.next is None  # 7 is lost too
    assert isinstance(missing7, Missing) and missing7.next == pkt(8)
    assert jb.concealed >= 3


def test_duplicates_are_dropped_and_counted() -> None:
    jb = JitterBuffer(8000, FRAME)
    assert jb.put(pkt(0), 0.0)
    assert not jb.put(pkt(0), 0.001)
    assert jb.duplicates == 1 and len(jb) == 1


def test_late_packet_is_dropped_and_the_delay_grows_at_once() -> None:
    jb = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.2, initial_delay=0.04)
    for i in range(20):
        jb.put(pkt(i), i * T)
    out = drain(jb, 19 * T + 0.04 + 1e-9)  # frame 19 is due at 0.42
    assert frames(out) == list(range(20))
    before = jb.delay
    # Frame 20 is due at 0.44; it is concealed, then its packet arrives 100 ms late.
    jb.put(pkt(21), 21 * T)
    assert isinstance(jb.get(0.44), Missing)
    assert not jb.put(pkt(20), 20 * T + 0.1)
    assert jb.late == 1
    assert jb.delay >= 0.1 > before
    assert jb.delay <= 0.2 + 1e-9


def play(jb: JitterBuffer, arrivals: list[tuple[float, int]], until: float
         ) -> list[tuple[float, RtpPacket | Missing]]:
    """A consumer ticking every frame: the packets that arrived by each tick go in, then one
    frame comes out (or none); what came out, with its tick."""
    pending = sorted(arrivals)
    out: list[tuple[float, RtpPacket | Missing]] = []
    n = 0
    tick = 0
    while tick * T <= until + 1e-9:
        now = tick * T
        while n < len(pending) and pending[n][0] <= now:
            jb.put(pkt(pending[n][1]), pending[n][0])
            n += 1
        got = jb.get(now)
        if got is not None:
            out.append((now, got))
        tick += 1
    return out


def test_a_lasting_delay_step_beyond_the_maximum_starts_a_new_timeline() -> None:
    # From frame 50 on, every packet arrives 300 ms later than before: the sender stalled
    # and went on without skipping timestamps (or the path got slower). That is beyond
    # max_delay: without a new timeline every later packet would be due before it arrives.
    jb = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.2)
    out = play(jb, [(i * T + (0.3 if i >= 50 else 0.0), i) for i in range(300)], 6.0)
    after = [(at, o) for at, o in out if at >= 1.0 + 0.3 + 0.5]
    assert after and all(isinstance(o, RtpPacket) for _at, o in after)
    numbers = frames([o for _at, o in after])
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert jb.resyncs == 1

    # A short freeze whose packets then come in a burst is ordinary jitter: the late ones
    # are dropped, the stream goes on, and the timeline is kept.
    burst = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.2)
    arrivals = [(max(i * T, 1.3) if 50 <= i < 65 else i * T, i) for i in range(300)]
    out = play(burst, arrivals, 6.0)
    assert all(isinstance(o, RtpPacket) for at, o in out if at >= 2.0)
    assert burst.resyncs == 0


@given(st.integers(min_value=5, max_value=200), st.floats(min_value=0.0, max_value=0.9),
       st.sampled_from([0.06, 0.1, 0.2]))
def test_no_delay_step_silences_the_stream_for_good(step_at: int, step: float,
                                                    max_delay: float) -> None:
    jb = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=max_delay)
    arrivals = [(i * T + (step if i >= step_at else 0.0), i) for i in range(step_at + 150)]
    out = play(jb, arrivals, (step_at + 150) * T + step)
    settled = step_at * T + step + 1.0
    tail = [o for at, o in out if settled <= at]
    assert tail and all(isinstance(o, RtpPacket) for o in tail[:-3])


def test_delay_follows_jitter_within_its_bounds() -> None:
    rng = random.Random(7)
    jb = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.2)
    arrivals = sorted((i * T + rng.uniform(0.0, 0.08), i) for i in range(500))
    for at, i in arrivals:
        jb.put(pkt(i), at)
    assert 0.06 <= jb.target_delay <= 0.08 + 1e-9
    assert jb.delay == pytest.approx(jb.target_delay, abs=T)

    # No jitter, talkspurts of 40 packets then 200 ms of silence: the delay shrinks to the
    # minimum, fully, at a talkspurt start.
    calm = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.2, initial_delay=0.1)
    for i in range(500):
        if i % 50 < 40:
            calm.put(pkt(i, marker=i % 50 == 0), i * T)
        calm.get(i * T)
    assert calm.target_delay == pytest.approx(0.02)
    assert calm.delay == pytest.approx(0.02, abs=1e-6)

    # Without talkspurts it shrinks by small steps, to within half a frame of the target.
    steady = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.2, initial_delay=0.1)
    for i in range(500):
        steady.put(pkt(i), i * T)
        steady.get(i * T)
    assert 0.02 < steady.delay <= 0.02 + T / 2 + 1e-9

    wild = JitterBuffer(8000, FRAME, min_delay=0.02, max_delay=0.1)
    for i in range(300):
        wild.put(pkt(i), i * T + (0.5 if i % 7 == 0 else 0.0))
    assert wild.target_delay <= 0.1 and wild.delay <= 0.1 + 1e-9


def test_talkspurt_start_skips_the_silence() -> None:
    jb = JitterBuffer(8000, FRAME, conceal_frames=3)
    for i in range(10):
        jb.put(pkt(i), i * T)
    # Silence (DTX) for 1 s: no packets, the timestamp goes on with time.
    out = drain(jb, 1.2)
    assert frames(out)[:10] == list(range(10))
    assert sum(isinstance(o, Missing) for o in out) == 3  # then None: the stream is silent
    assert jb.get_timer() is None
    jb.put(pkt(60, marker=True), 60 * T)
    jb.put(pkt(61), 61 * T)
    out = drain(jb, 1.4, start=1.2)
    assert frames(out)[:2] == [60, 61]
    assert jb.concealed == 3 + len(out) - 2  # only the frames after 61
    assert jb.resyncs == 0


def test_ssrc_change_resyncs() -> None:
    jb = JitterBuffer(8000, FRAME)
    for i in range(5):
        jb.put(pkt(i), i * T)
    jb.put(pkt(0, ssrc=2, base=5000), 0.1)
    jb.put(pkt(1, ssrc=2, base=5000), 0.12)
    assert jb.resyncs == 1 and jb.skipped == 5
    out = drain(jb, 0.5, start=0.1)
    assert frames(out)[:2] == [5000, 5001]


def test_timestamp_jump_resyncs() -> None:
    jb = JitterBuffer(8000, FRAME)
    for i in range(5):
        jb.put(pkt(i), i * T)
    drain(jb, 0.2)
    # The sender restarted its timestamps (same SSRC): 10 s ahead of where they should be.
    jb.put(pkt(505), 5 * T)
    jb.put(pkt(506), 6 * T)
    assert jb.resyncs == 1
    assert frames(drain(jb, 0.5, start=0.1)) == [505, 506, -507, -508, -509, -510, -511]


def test_timestamp_wrap() -> None:
    jb = JitterBuffer(8000, FRAME)
    base = (2**32 // FRAME) - 3
    for i in range(8):
        jb.put(pkt(i, base=base), i * T)
    out = drain(jb, 0.3)
    stamps = [o.timestamp for o in out if isinstance(o, RtpPacket)]
    assert stamps == [((base + i) * FRAME) & 0xFFFFFFFF for i in range(8)]


def test_consumer_that_fell_behind_skips_ahead() -> None:
    jb = JitterBuffer(8000, FRAME, initial_delay=0.04)
    for i in range(50):
        jb.put(pkt(i), i * T)
    got = jb.get(0.5)  # first call only at 0.5 s: frames 0..21 are all overdue
    assert isinstance(got, RtpPacket) and got.timestamp // FRAME >= 20
    assert jb.skipped >= 20


def test_overflow() -> None:
    jb = JitterBuffer(8000, FRAME, max_delay=0.06)
    results = [jb.put(pkt(i), 0.0 + i * 1e-4) for i in range(100)]
    assert not all(results) and jb.overflow == results.count(False)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(8000, 0)
    with pytest.raises(ValueError):
        JitterBuffer(8000, 160, min_delay=0.3, max_delay=0.2)


@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.floats(0.0, 0.15), st.booleans()), max_size=80
    ),
    st.sampled_from([0.005, 0.02]),
)
def test_output_is_ordered_and_never_repeats(
    sends: list[tuple[int, float, bool]], step: float
) -> None:
    jb = JitterBuffer(8000, FRAME)
    arrivals = sorted((i * T + jitter, i, marker) for i, jitter, marker in sends)
    out: list[RtpPacket | Missing] = []
    t = 0.0
    k = 0
    while t < 2.0:
        while k < len(arrivals) and arrivals[k][0] <= t:
            at, i, marker = arrivals[k]
            jb.put(pkt(i, marker=marker), at)
            k += 1
        got = jb.get(t)
        if got is not None:
            out.append(got)
        t += step
    stamps = [o.timestamp for o in out]
    assert stamps == sorted(set(stamps))
    released = [o.timestamp for o in out if isinstance(o, RtpPacket)]
    assert len(released) + len(jb) + jb.late + jb.duplicates + jb.skipped + jb.overflow == len(
        arrivals
    )
