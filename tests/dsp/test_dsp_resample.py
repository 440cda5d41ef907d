"""Streaming resampler: frequency and level kept, chunked output equal to one-shot output."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.dsp.resample import Resampler, resample


def sine(freq: float, rate: int, seconds: float, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_frequency(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum)) * rate / len(pcm)


def rms_db(pcm: np.ndarray) -> float:
    return 10 * np.log10(np.mean(pcm.astype(float) ** 2))


def chunked(resampler: Resampler, pcm: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([resampler.process(pcm[i:i + size]) for i in range(0, len(pcm), size)])


def test_1khz_tone_8k_to_48k_and_back_keeps_frequency_and_level() -> None:
    tone = sine(1000, 8000, 1.0)
    up, down = Resampler(8000, 48000), Resampler(48000, 8000)
    wide = chunked(up, tone, 160)
    assert len(wide) == 48000
    assert abs(peak_frequency(wide[4800:], 48000) - 1000) <= 2
    back = np.concatenate([down.process(wide[i:i + 960]) for i in range(0, len(wide), 960)])
    assert len(back) == 8000
    assert abs(peak_frequency(back[800:], 8000) - 1000) <= 2
    assert abs(rms_db(back[800:]) - rms_db(tone)) < 0.1
    # Apart from the filters' delay (a phase shift) the tone is untouched: what is left after
    # fitting a 1 kHz sine of any phase is 70 dB down (int16 rounding is about -90).
    t = np.arange(800, 8000) / 8000
    basis = np.column_stack((np.sin(2 * np.pi * 1000 * t), np.cos(2 * np.pi * 1000 * t)))
    steady = back[800:].astype(float)
    fit, *_ = np.linalg.lstsq(basis, steady, rcond=None)
    residual = steady - basis @ fit
    assert 10 * np.log10(np.sum(residual**2) / np.sum(steady**2)) < -70


@pytest.mark.parametrize(
    ("source", "target"),
    [(8000, 16000), (16000, 8000), (16000, 48000), (48000, 16000), (48000, 8000),
     (8000, 44100), (44100, 16000)],
)
def test_rate_pairs(source: int, target: int) -> None:
    tone = sine(1000, source, 0.5)
    out = chunked(Resampler(source, target), tone, source // 50)
    assert abs(len(out) - target // 2) <= 1
    steady = out[len(out) // 5:]
    assert abs(peak_frequency(steady, target) - 1000) <= 3
    assert abs(rms_db(steady) - rms_db(tone)) < 0.2


def test_above_the_new_nyquist_is_filtered_out() -> None:
    # 3.8 kHz at 16 kHz would alias to 4.2 kHz... and 5 kHz to 3 kHz at 8 kHz: it must vanish.
    out = resample(sine(5000, 16000, 0.5), 16000, 8000)
    assert rms_db(out[800:]) < rms_db(sine(5000, 16000, 0.5)) - 60


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([(8000, 48000), (48000, 8000), (16000, 8000), (8000, 11025), (44100, 8000)]),
    st.lists(st.integers(0, 700), min_size=1, max_size=12),
)
def test_chunked_output_equals_one_shot(rates: tuple[int, int], cuts: list[int]) -> None:
    source, target = rates
    signal = np.random.default_rng(len(cuts)).integers(-20000, 20000, sum(cuts)).astype(
        np.int16)
    one_shot = resample(signal, source, target)
    streaming = Resampler(source, target)
    pieces, start = [], 0
    for size in cuts:
        pieces.append(streaming.process(signal[start:start + size]))
        start += size
    joined = np.concatenate(pieces)
    assert len(joined) == len(one_shot)
    assert np.abs(joined.astype(int) - one_shot).max(initial=0) <= 1


def test_same_rate_passes_through_and_bad_rates_are_refused() -> None:
    pcm = np.arange(10, dtype=np.int16)
    assert Resampler(8000, 8000).passthrough
    np.testing.assert_array_equal(Resampler(8000, 8000).process(pcm), pcm)
    with pytest.raises(ValueError):
        Resampler(0, 8000)
    with pytest.raises(TypeError):
        Resampler(8000, 16000).process(pcm.astype(np.float32))  # type: ignore[arg-type]


def test_reset_starts_a_fresh_stream() -> None:
    resampler = Resampler(8000, 16000)
    tone = sine(440, 8000, 0.05)
    first = resampler.process(tone)
    resampler.process(tone)
    resampler.reset()
    np.testing.assert_array_equal(resampler.process(tone), first)


def test_full_scale_saturates_instead_of_wrapping() -> None:
    square = np.tile(np.array([32767] * 20 + [-32768] * 20, dtype=np.int16), 50)
    out = resample(square, 8000, 48000)
    assert out.max() == 32767 and out.min() == -32768  # Gibbs overshoot clipped
    assert np.all(np.abs(np.diff(out.astype(int))) < 40000)  # no wrap-around jumps
