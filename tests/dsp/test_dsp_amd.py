"""Answering-machine detection and beep detection on synthesized calls.

Speech is imitated with voiced syllables (a harmonic series with a gliding pitch under a
syllable envelope) over a faint line noise: what matters to an energy detector is where the
talk bursts and pauses fall, which is exactly what these signals control.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycc.dsp.amd as amd_module
from pycc.dsp.amd import AmdConfig, AmdDetector, AmdResult, Beep, BeepDetector
from pycc.dsp.pcm import saturate
from pycc.dsp.tones import dtmf_tone

RATE = 8000


def noise(ms: int, *, rate: int = RATE, level: float = 30.0, seed: int = 0) -> np.ndarray:
    """Line noise: Gaussian, mean absolute amplitude about 0.8 * ``level``."""
    rng = np.random.default_rng(seed)
    return saturate(rng.normal(0.0, level, rate * ms // 1000))


def syllable(ms: int, *, rate: int = RATE, pitch: float = 140.0, amplitude: float = 5000.0,
             seed: int = 0) -> np.ndarray:
    """A voiced burst: 12 harmonics of a gliding pitch under a rise-and-fall envelope."""
    n = rate * ms // 1000
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    contour = pitch * (1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(contour) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 13))
    envelope = np.sin(np.pi * np.arange(n) / n) ** 0.5
    return saturate(amplitude * envelope * voiced + rng.normal(0, 30, n))


def call(*parts: tuple[str, int], rate: int = RATE) -> np.ndarray:
    """Audio from ("talk"|"quiet", ms) parts, each with its own random detail."""
    pieces = [
        syllable(ms, rate=rate, seed=i) if kind == "talk" else noise(ms, rate=rate, seed=i)
        for i, (kind, ms) in enumerate(parts)
    ]
    return np.concatenate(pieces)


def detect(pcm: np.ndarray, config: AmdConfig | None = None, *, rate: int = RATE,
           chunk: int = 160) -> AmdResult | None:
    detector = AmdDetector(config, rate)
    for start in range(0, len(pcm), chunk):
        result = detector.feed(pcm[start:start + chunk])
        if result is not None:
            return result
    return detector.result


HELLO = call(("quiet", 400), ("talk", 500), ("quiet", 1500))
GREETING = call(*[part for i in range(8)
                  for part in (("talk", 250 + 40 * (i % 4)), ("quiet", 120 + 30 * (i % 3)))])


# --- AMD verdicts ----------------------------------------------------------------------------


def test_a_short_hello_then_silence_is_a_human() -> None:
    result = detect(HELLO)
    assert result is not None
    assert (result.verdict, result.cause, result.words) == ("human", "HUMAN", 1)
    # Decided once the 800 ms after-greeting silence has passed after the word, not sooner.
    assert 400 + 500 + 800 - 20 <= result.elapsed_ms <= 400 + 500 + 800 + 100
    assert result.measured == result.limit == 800
    assert result.amd_cause == "HUMAN-800-800"


def test_a_hello_said_in_two_syllables_with_a_tiny_gap_is_still_one_word() -> None:
    pcm = call(("quiet", 300), ("talk", 200), ("quiet", 30), ("talk", 250), ("quiet", 1200))
    result = detect(pcm)
    assert result is not None and (result.verdict, result.words) == ("human", 1)


def test_two_words_are_still_a_human_and_the_third_is_a_machine() -> None:
    two = call(("quiet", 300), ("talk", 300), ("quiet", 200), ("talk", 300), ("quiet", 1000))
    result = detect(two)
    assert result is not None and (result.verdict, result.words) == ("human", 2)
    three = call(("quiet", 300), ("talk", 300), ("quiet", 200), ("talk", 300), ("quiet", 200),
                 ("talk", 300), ("quiet", 1000))
    result = detect(three)
    assert result is not None
    assert (result.verdict, result.cause, result.words) == ("machine", "MAXWORDS", 3)
    assert result.amd_cause == "MAXWORDS-3-2"


def test_a_many_word_greeting_is_a_machine() -> None:
    result = detect(GREETING)
    assert result is not None and (result.verdict, result.cause) == ("machine", "MAXWORDS")
    # Allowing many words, the same greeting is too much talk to be someone saying hello.
    result = detect(GREETING, AmdConfig(maximum_number_of_words=20))
    assert result is not None and (result.verdict, result.cause) == ("machine", "LONGGREETING")
    assert result.voice_ms == result.measured == 1500 and result.words > 2


def test_one_long_burst_is_a_long_greeting_or_a_too_long_word() -> None:
    pcm = call(("quiet", 300), ("talk", 6000))
    result = detect(pcm)
    assert result is not None and (result.verdict, result.cause) == ("machine", "LONGGREETING")
    relaxed = AmdConfig(greeting=9000, total_analysis_time=9000)
    result = detect(pcm, relaxed)
    assert result is not None and (result.verdict, result.cause) == ("machine", "MAXWORDLENGTH")
    assert result.measured == 5000 and result.amd_cause == "MAXWORDLENGTH-5000"


def test_silence_longer_than_initial_silence_is_a_machine() -> None:
    result = detect(noise(4000))
    assert result is not None
    assert (result.verdict, result.cause) == ("machine", "INITIALSILENCE")
    assert result.elapsed_ms == 2500 and result.words == 0
    result = detect(noise(4000), AmdConfig(initial_silence=1200))
    assert result is not None and result.elapsed_ms == 1200


def test_no_decision_within_the_analysis_time_is_not_sure() -> None:
    config = AmdConfig(initial_silence=9000, total_analysis_time=3000)
    result = detect(noise(4000), config)
    assert result is not None
    assert (result.verdict, result.cause, result.elapsed_ms) == ("notsure", "TOOLONG", 3000)
    assert result.amd_cause == "TOOLONG-3000"


def test_silence_threshold_is_the_mean_absolute_amplitude() -> None:
    def square(level: int) -> np.ndarray:
        return np.tile(np.array([level, -level], dtype=np.int16), RATE * 3 // 2)

    quiet = detect(square(255))
    assert quiet is not None and quiet.cause == "INITIALSILENCE"
    loud = detect(square(256))
    assert loud is not None and loud.verdict == "machine" and loud.cause != "INITIALSILENCE"
    raised = detect(square(256), AmdConfig(silence_threshold=257))
    assert raised is not None and raised.cause == "INITIALSILENCE"


@pytest.mark.parametrize("pcm", [HELLO, GREETING, noise(3000)], ids=["hello", "greeting", "quiet"])
@pytest.mark.parametrize("chunk", [7, 80, 333, 1001, 100_000])
def test_chunk_size_does_not_change_the_result(pcm: np.ndarray, chunk: int) -> None:
    assert detect(pcm, chunk=chunk) == detect(pcm, chunk=160)


@pytest.mark.parametrize("frame_ms", [10, 20])
@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_sample_rate_and_frame_size_do_not_change_the_verdict(rate: int, frame_ms: int) -> None:
    config = AmdConfig(frame_ms=frame_ms)
    hello = call(("quiet", 400), ("talk", 500), ("quiet", 1500), rate=rate)
    result = detect(hello, config, rate=rate, chunk=rate // 50)
    assert result is not None and (result.verdict, result.cause) == ("human", "HUMAN")
    greeting = call(*[("talk", 300), ("quiet", 150)] * 6, rate=rate)
    result = detect(greeting, config, rate=rate, chunk=rate // 50)
    assert result is not None and (result.verdict, result.cause) == ("machine", "MAXWORDS")


def test_after_a_verdict_the_same_result_comes_back_and_audio_is_ignored() -> None:
    detector = AmdDetector()
    first = detector.feed(noise(3000))
    assert first is not None and first.cause == "INITIALSILENCE"
    assert detector.feed(syllable(2000)) is first
    assert detector.result is first and detector.elapsed_ms == 2500


def test_bad_input_is_a_clear_error() -> None:
    detector = AmdDetector()
    with pytest.raises(TypeError, match="int16"):
        detector.feed(np.zeros(160, dtype=np.float32))
    with pytest.raises(ValueError, match="mono"):
        detector.feed(np.zeros((160, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="rate"):
        AmdDetector(AmdConfig(), 4000)
    with pytest.raises(ValueError, match="whole number of samples"):
        AmdDetector(AmdConfig(), 11025)
    with pytest.raises(ValueError, match=r"amd\.greeting must be positive"):
        AmdConfig(greeting=0)
    with pytest.raises(TypeError, match=r"amd\.min_word_length must be an integer"):
        AmdConfig(min_word_length=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="silence_threshold must be at most 32767"):
        AmdConfig(silence_threshold=40000)
    with pytest.raises(ValueError, match="frame_ms must be 10 or 20"):
        AmdConfig(frame_ms=15)


def test_config_from_amd_conf_style_keys() -> None:
    config = AmdConfig.from_mapping({"initial_silence": 2000, "maximum_number_of_words": 4})
    assert config == AmdConfig(initial_silence=2000, maximum_number_of_words=4)
    with pytest.raises(ValueError, match=r"campaigns\[0\]\.amd\.greting: unknown AMD parameter"):
        AmdConfig.from_mapping({"greting": 1}, where="campaigns[0].amd")
    with pytest.raises(TypeError, match=r"x\.greeting must be an integer, not '1500'"):
        AmdConfig.from_mapping({"greeting": "1500"}, where="x")
    with pytest.raises(ValueError, match=r"x\.greeting must be positive"):
        AmdConfig.from_mapping({"greeting": -1}, where="x")


configs = st.builds(
    AmdConfig,
    initial_silence=st.integers(1, 3000),
    greeting=st.integers(1, 3000),
    after_greeting_silence=st.integers(1, 2000),
    total_analysis_time=st.integers(1, 6000),
    min_word_length=st.integers(1, 500),
    between_words_silence=st.integers(1, 300),
    maximum_number_of_words=st.integers(1, 6),
    silence_threshold=st.integers(1, 32767),
    maximum_word_length=st.integers(1, 6000),
    frame_ms=st.sampled_from([10, 20]),
)
def random_chunk(n: int, seed: int, scale: float) -> np.ndarray:
    return saturate(np.random.default_rng(seed).normal(0.0, scale, size=(n,)))


chunks = st.lists(
    st.builds(random_chunk, st.integers(0, 1200), st.integers(0, 2**32 - 1),
              st.sampled_from([0.0, 50.0, 3e3, 4e4])),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(config=configs, pieces=chunks)
def test_random_audio_never_raises_and_a_verdict_is_final(
    config: AmdConfig, pieces: list[np.ndarray]
) -> None:
    detector = AmdDetector(config)
    decided: AmdResult | None = None
    for piece in pieces:
        result = detector.feed(piece)
        if decided is not None:
            assert result is decided
        decided = result
    if decided is not None:
        assert decided.verdict in ("human", "machine", "notsure")
        assert decided.elapsed_ms < config.total_analysis_time + config.frame_ms
    else:
        assert detector.elapsed_ms < config.total_analysis_time


# --- beeps -----------------------------------------------------------------------------------


def sine(freq: float, ms: int, *, rate: int = RATE, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    return saturate(amplitude * np.sin(2 * np.pi * freq * t + 0.3))


def beeps(pcm: np.ndarray, chunk: int = 160, **options: Any) -> list[Beep]:
    detector = BeepDetector(**options)
    found: list[Beep] = []
    for start in range(0, len(pcm), chunk):
        found += detector.feed(pcm[start:start + chunk])
    return found


def with_noise(pcm: np.ndarray, level: float, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return saturate(pcm.astype(np.float64) + rng.normal(0.0, level, len(pcm)))


def test_a_1khz_200ms_beep_in_noise_is_found_where_it_ends() -> None:
    lead = np.concatenate((GREETING, noise(333)))
    pcm = with_noise(np.concatenate((lead, sine(1000, 200, amplitude=4000), noise(400))), 300)
    found = beeps(pcm)
    assert len(found) == 1
    beep = found[0]
    assert beep.frequency == pytest.approx(1000.0, abs=10.0)
    start_ms = len(lead) * 1000 // RATE
    # Frames are 20 ms: an edge frame that is mostly tone may count as tone.
    assert start_ms - 20 <= beep.start_ms <= start_ms + 20
    assert start_ms + 200 - 20 <= beep.end_ms <= start_ms + 200 + 20
    assert 160 <= beep.duration_ms <= 220


@pytest.mark.parametrize("freq", [450.0, 733.0, 1400.0, 1950.0])
def test_beeps_across_the_band_are_found_with_their_frequency(freq: float) -> None:
    found = beeps(np.concatenate((noise(100), sine(freq, 300), noise(100))))
    assert len(found) == 1 and found[0].frequency == pytest.approx(freq, abs=12.0)


def test_two_beeps_in_one_chunk_are_both_reported() -> None:
    pcm = np.concatenate((sine(800, 150), noise(200), sine(1200, 150), noise(100)))
    found = beeps(pcm, chunk=len(pcm))
    assert [round(b.frequency, -1) for b in found] == [800.0, 1200.0]


@pytest.mark.parametrize(
    ("name", "pcm"),
    [
        ("too short", np.concatenate((noise(100), sine(1000, 60), noise(200)))),
        ("too long", np.concatenate((sine(1000, 6000), noise(200)))),
        ("below the band", np.concatenate((sine(300, 300), noise(200)))),
        ("above the band", np.concatenate((sine(2600, 300), noise(200)))),
        ("too faint", np.concatenate((sine(1000, 300, amplitude=200), noise(200)))),
        ("two tones (DTMF)", np.concatenate((dtmf_tone("5", 300), noise(200)))),
        ("a greeting", np.concatenate((GREETING, HELLO))),
        ("high-pitched talk", call(*[("talk", 400), ("quiet", 100)] * 5)),
        ("loud noise", noise(3000, level=3000)),
    ],
)
def test_things_that_are_not_beeps(name: str, pcm: np.ndarray) -> None:
    if name == "high-pitched talk":
        pcm = np.concatenate([syllable(400, pitch=430.0, seed=i) for i in range(6)])
    assert beeps(pcm) == [], name


@pytest.mark.parametrize("chunk", [1, 37, 160, 999])
def test_beep_chunk_size_does_not_change_the_result(chunk: int) -> None:
    pcm = with_noise(np.concatenate((HELLO, sine(1000, 250), noise(300))), 200)
    assert beeps(pcm, chunk=chunk) == beeps(pcm, chunk=160)


@pytest.mark.parametrize("rate", [16000, 48000])
def test_beeps_at_wideband_rates(rate: int) -> None:
    pcm = np.concatenate((noise(200, rate=rate), sine(1000, 200, rate=rate),
                          noise(200, rate=rate)))
    found = beeps(pcm, chunk=rate // 50, rate=rate)
    assert len(found) == 1 and found[0].frequency == pytest.approx(1000.0, abs=10.0)


def test_beep_detector_reset_and_bad_input() -> None:
    detector = BeepDetector()
    assert detector.feed(sine(1000, 200)) == []  # the tone has not ended yet
    detector.reset()
    assert detector.feed(noise(100)) == []
    with pytest.raises(TypeError, match="int16"):
        detector.feed(np.zeros(10, dtype=np.int32))
    with pytest.raises(ValueError, match="mono"):
        detector.feed(np.zeros((10, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="beep band"):
        BeepDetector(low_hz=2500, high_hz=2000)
    with pytest.raises(ValueError, match="beep band"):
        BeepDetector(high_hz=4000)
    with pytest.raises(ValueError, match="min_ms <= max_ms"):
        BeepDetector(min_ms=200, max_ms=100)
    with pytest.raises(ValueError, match="purity"):
        BeepDetector(purity=0)


@settings(max_examples=40, deadline=None)
@given(pieces=chunks)
def test_random_audio_never_breaks_the_beep_detector(pieces: list[np.ndarray]) -> None:
    detector = BeepDetector()
    for piece in pieces:
        for beep in detector.feed(piece):
            assert 400.0 - 50.0 <= beep.frequency <= 2000.0 + 50.0
            assert 80 <= beep.duration_ms <= 5000


# --- cost: work per frame, not per sample -----------------------------------------------------


@contextmanager
def lines_run_in(path: str) -> Iterator[list[int]]:
    """Count the Python lines executed in the file ``path`` while the block runs."""
    count = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == path else None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        yield count
    finally:
        sys.settrace(previous)


def lines_to_analyse(make: Callable[[int], Callable[[np.ndarray], object]], rate: int) -> int:
    feed = make(rate)
    pcm = with_noise(np.zeros(rate * 2, dtype=np.int16), 2000)  # 2 s of steady loud noise
    assert amd_module.__file__ is not None
    with lines_run_in(amd_module.__file__) as count:
        for start in range(0, len(pcm), rate // 50):
            feed(pcm[start:start + rate // 50])
    return count[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda rate: AmdDetector(AmdConfig(greeting=9000, maximum_word_length=9000,
                                           total_analysis_time=9000), rate).feed,
        lambda rate: BeepDetector(rate).feed,
    ],
    ids=["amd", "beep"],
)
def test_the_python_work_is_per_frame_whatever_the_sample_rate(
    make: Callable[[int], Callable[[np.ndarray], object]],
) -> None:
    narrow = lines_to_analyse(make, 8000)
    wide = lines_to_analyse(make, 48000)
    # Six times the samples, the same frames: a per-sample loop would multiply the lines.
    assert wide == narrow
    frames = 2000 // 10
    assert narrow < 40 * frames
