"""In-band DTMF detection: every digit, sequences, levels, twist, noise and talk-off."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.dsp.goertzel import DtmfDetector
from pycc.dsp.pcm import dbm0_to_peak, saturate
from pycc.dsp.tones import DTMF_FREQUENCIES, dtmf_sequence, dtmf_tone

DIGITS = "0123456789*#ABCD"


def silence(ms: int, rate: int = 8000) -> np.ndarray:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def detect(pcm: np.ndarray, rate: int = 8000, chunk: int = 160) -> list[str]:
    detector = DtmfDetector(rate)
    found: list[str] = []
    for i in range(0, len(pcm), chunk):
        found += detector.feed(pcm[i:i + chunk])
    return found


@pytest.mark.parametrize("digit", list(DIGITS))
def test_every_digit_is_detected_once(digit: str) -> None:
    pcm = np.concatenate((silence(30), dtmf_tone(digit, 100), silence(100)))
    assert detect(pcm) == [digit]


def test_a_sequence_with_50ms_gaps_is_detected_exactly_once_each() -> None:
    pcm = np.concatenate((silence(20), dtmf_sequence("123#", on_ms=100, off_ms=50)))
    assert detect(pcm) == list("123#")


def test_a_long_keypress_is_one_digit_and_a_repeat_needs_a_gap() -> None:
    pcm = np.concatenate((dtmf_tone("5", 2000), silence(50), dtmf_tone("5", 60)))
    assert detect(pcm) == ["5", "5"]
    # A different digit right after another (no gap) still counts.
    assert detect(np.concatenate((dtmf_tone("1", 80), dtmf_tone("2", 80)))) == ["1", "2"]


def test_fast_dialling_40ms_tones_40ms_gaps() -> None:
    assert detect(dtmf_sequence(DIGITS, on_ms=40, off_ms=40)) == list(DIGITS)


def test_a_10ms_blip_is_not_a_digit() -> None:
    assert detect(np.concatenate((silence(20), dtmf_tone("8", 10), silence(50)))) == []


@pytest.mark.parametrize("level", [-25.0, -30.0])
def test_weak_digits_are_detected(level: float) -> None:
    pcm = dtmf_sequence("159D", level_dbm0=level)
    assert detect(pcm) == list("159D")


def test_digits_below_the_threshold_are_ignored() -> None:
    assert detect(dtmf_sequence("159", level_dbm0=-40.0)) == []


def test_white_noise_at_15db_snr_does_not_hurt() -> None:
    pcm = dtmf_sequence(DIGITS, on_ms=70, off_ms=50).astype(float)
    tone_power = 2 * dbm0_to_peak(-7.0) ** 2 / 2  # both tones, roughly
    noise = np.random.default_rng(15).normal(0, np.sqrt(tone_power / 10 ** 1.5), len(pcm))
    assert detect(saturate(pcm + noise)) == list(DIGITS)


def twisted(digit: str, low_dbm0: float, high_dbm0: float, ms: int = 100) -> np.ndarray:
    low, high = DTMF_FREQUENCIES[digit]
    t = np.arange(8 * ms) / 8000
    return saturate(dbm0_to_peak(low_dbm0) * np.sin(2 * np.pi * low * t)
                    + dbm0_to_peak(high_dbm0) * np.sin(2 * np.pi * high * t))


def test_twist_limits() -> None:
    # Normal twist (high group louder) up to 8 dB, reverse twist (low group louder) up to 4 dB.
    assert detect(twisted("6", -16, -9)) == ["6"]
    assert detect(twisted("6", -16, -6)) == []
    assert detect(twisted("6", -13, -16)) == ["6"]
    assert detect(twisted("6", -10, -16)) == []


def test_one_frequency_alone_is_not_a_digit() -> None:
    t = np.arange(8000) / 8000
    for freq in (1000.0, 697.0, 1336.0):
        assert detect(saturate(dbm0_to_peak(-10) * np.sin(2 * np.pi * freq * t))) == []


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Voiced segments with a gliding pitch and random formant weights, between noise bursts:
    rich in harmonics, the classic talk-off material."""
    rng = np.random.default_rng(seed)
    rate = 8000
    parts: list[np.ndarray] = []
    while sum(len(p) for p in parts) < seconds * rate:
        n = int(rng.integers(800, 2400))
        t = np.arange(n) / rate
        f0 = rng.uniform(90, 280) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        weights = rng.uniform(0.05, 1.0, 18) / np.arange(1, 19) ** 0.5
        voiced = sum(w * np.sin((k + 1) * phase) for k, w in enumerate(weights))
        parts.append(voiced / np.abs(voiced).max() * rng.uniform(2000, 12000))
        parts.append(rng.normal(0, rng.uniform(50, 1500), int(rng.integers(300, 1200))))
    return saturate(np.concatenate(parts))


@pytest.mark.parametrize("seed", range(6))
def test_speech_like_signals_produce_no_digits(seed: int) -> None:
    assert detect(speech_like(5.0, seed)) == []


def test_music_chords_with_dtmf_like_pairs_are_rejected_by_the_harmonic_guard() -> None:
    # 770 Hz and 1336 Hz with strong harmonics (a rich instrument): a "5" by its two
    # fundamentals, but the 1540 Hz second harmonic of the low tone gives it away.
    t = np.arange(8000) / 8000
    pcm = sum(a * (np.sin(2 * np.pi * 770 * k * t) + np.sin(2 * np.pi * 1336 * k * t))
              for k, a in ((1, 6000.0), (2, 4000.0), (3, 2000.0)))
    pure = sum(6000.0 * np.sin(2 * np.pi * f * t) for f in (770, 1336))
    assert detect(saturate(pure)) == ["5"]
    assert detect(saturate(pcm)) == []


@pytest.mark.parametrize("rate", [16000, 48000])
def test_wideband_rates(rate: int) -> None:
    detector = DtmfDetector(rate)
    assert detector.block_samples == round(102 * rate / 8000)
    pcm = dtmf_sequence(DIGITS, on_ms=60, off_ms=50, sample_rate=rate)
    assert detect(pcm, rate, chunk=rate // 50) == list(DIGITS)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_digits(chunks: list[int]) -> None:
    pcm = dtmf_sequence("73*", on_ms=80, off_ms=60)
    detector = DtmfDetector()
    found: list[str] = []
    position = 0
    while position < len(pcm):
        for size in chunks:
            found += detector.feed(pcm[position:position + size])
            position += size
    assert found == list("73*")


def test_reset_and_bad_rates() -> None:
    detector = DtmfDetector()
    detector.feed(dtmf_tone("1", 20))
    detector.reset()
    assert detector.feed(dtmf_tone("1", 10)) == []
    with pytest.raises(ValueError):
        DtmfDetector(4000)
