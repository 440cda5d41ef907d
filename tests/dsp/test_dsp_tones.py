"""Tone generation: levels in dBm0, cadences, national plans, named tones and DTMF."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.dsp.pcm import dbm0_to_peak
from pycc.dsp.tones import (
    DTMF_FREQUENCIES,
    TONE_PLANS,
    ToneGenerator,
    ToneSegment,
    ToneSpec,
    countries,
    dtmf_sequence,
    dtmf_tone,
    tone,
)


def spectrum_peaks(pcm: np.ndarray, rate: int, count: int) -> list[float]:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float) * np.hanning(len(pcm))))
    peaks: list[float] = []
    for _ in range(count):
        k = int(np.argmax(spectrum))
        peaks.append(k * rate / len(pcm))
        spectrum[max(0, k - 8):k + 9] = 0
    return sorted(peaks)


def on_off(pcm: np.ndarray, rate: int, ms: int = 5) -> list[bool]:
    size = rate * ms // 1000
    blocks = pcm[: len(pcm) // size * size].reshape(-1, size)
    return [bool(b) for b in np.abs(blocks).max(axis=1) > 0]


def runs(flags: list[bool], ms: int = 5) -> list[tuple[bool, int]]:
    out: list[tuple[bool, int]] = []
    for flag in flags:
        if out and out[-1][0] == flag:
            out[-1] = (flag, out[-1][1] + ms)
        else:
            out.append((flag, ms))
    return out


def test_zero_dbm0_is_the_digital_milliwatt_level() -> None:
    # G.711: the µ-law digital milliwatt peaks near 22 700 in 16-bit units (0 dBm0), and a
    # full-scale sine is +3.14 dBm0 (A-law).
    assert 22500 < dbm0_to_peak(0.0) < 22900
    assert dbm0_to_peak(3.14) == pytest.approx(32768)
    assert dbm0_to_peak(-20.0) == pytest.approx(dbm0_to_peak(0.0) / 10)


def test_us_dial_tone_is_350_plus_440_at_minus_13_dbm0() -> None:
    pcm = ToneGenerator(tone("dial", "us"), 8000).read(8000)
    assert spectrum_peaks(pcm, 8000, 2) == pytest.approx([350, 440], abs=2)
    # Two components at -13 dBm0 each: each has power peak**2 / 2 and the powers add, so
    # the RMS of the sum equals one component's peak.
    assert np.sqrt(np.mean(pcm.astype(float) ** 2)) == pytest.approx(dbm0_to_peak(-13.0),
                                                                     rel=0.01)


def test_us_busy_cadence_is_half_a_second_on_and_off() -> None:
    pcm = ToneGenerator(tone("busy", "us"), 8000).read(8000 * 3)
    assert runs(on_off(pcm, 8000)) == [(True, 500), (False, 500)] * 3


def test_uk_ringback_double_ring() -> None:
    pcm = ToneGenerator(tone("ringback", "uk"), 8000).read(8000 * 6)
    assert runs(on_off(pcm, 8000))[:4] == [(True, 400), (False, 200), (True, 400), (False, 2000)]
    assert spectrum_peaks(pcm[:3200], 8000, 2) == pytest.approx([400, 450], abs=6)


def test_streaming_in_chunks_equals_one_read_and_phase_is_continuous() -> None:
    spec = tone("dial", "de")
    whole = ToneGenerator(spec, 16000).read(16000 * 3)
    generator = ToneGenerator(spec, 16000)
    parts = np.concatenate([generator.read(320) for _ in range(150)])
    np.testing.assert_array_equal(parts, whole)
    # A continuous 425 Hz tone repeats its 1 s segment without a seam: no sample-to-sample
    # jump larger than the sine's own maximum slope.
    slope = 2 * np.pi * 425 / 16000 * dbm0_to_peak(-13)
    assert np.abs(np.diff(whole.astype(float))).max() <= slope + 2


@pytest.mark.parametrize("country", ["us", "uk", "de", "fr", "cn", "jp", "in", "au"])
@pytest.mark.parametrize("name", ["dial", "ringback", "busy", "congestion", "call-waiting"])
def test_every_plan_has_the_call_progress_tones(country: str, name: str) -> None:
    spec = tone(name, country)
    pcm = ToneGenerator(spec, 8000).read(4000)
    assert pcm.dtype == np.int16 and np.abs(pcm).max() > 1000
    assert all(300 <= f <= 700 for s in spec.segments for f in s.frequencies)


def test_named_tones_are_the_same_everywhere() -> None:
    assert tone("hold") is tone("hold", "jp")
    beep = ToneGenerator(tone("beep"), 8000)
    pcm = beep.read(8000)
    assert runs(on_off(pcm, 8000)) == [(True, 200), (False, 800)]
    assert beep.finished
    join = ToneGenerator(tone("join"), 8000).read(1920)
    leave = ToneGenerator(tone("leave"), 8000).read(1920)
    assert spectrum_peaks(join[:960], 8000, 1) == pytest.approx([600], abs=10)
    assert spectrum_peaks(leave[:960], 8000, 1) == pytest.approx([900], abs=10)
    hold = ToneGenerator(tone("hold"), 8000)
    first, second = hold.read(8000 * 4), hold.read(8000 * 4)
    np.testing.assert_array_equal(first[:2000], second[:2000])  # the 4 s phrase repeats


def test_unknown_names_and_countries_say_what_exists() -> None:
    with pytest.raises(KeyError, match=r"known: .*busy"):
        tone("howler")
    with pytest.raises(KeyError, match="no tone plan for country 'xx'"):
        tone("dial", "xx")
    assert {"us", "uk", "de", "fr", "cn", "jp", "in", "au"} <= set(countries())
    assert TONE_PLANS["gb"] is TONE_PLANS["uk"]


def test_tone_spec_validation() -> None:
    with pytest.raises(ValueError):
        ToneSegment(0, (440.0,))
    with pytest.raises(ValueError):
        ToneSegment(10, (1.0, 2.0, 3.0))
    with pytest.raises(ValueError):
        ToneSpec(())


@pytest.mark.parametrize("digit", sorted(DTMF_FREQUENCIES))
def test_dtmf_tone_has_the_q23_pair(digit: str) -> None:
    pcm = dtmf_tone(digit, 200)
    assert len(pcm) == 1600
    assert spectrum_peaks(pcm, 8000, 2) == pytest.approx(list(DTMF_FREQUENCIES[digit]), abs=6)


def test_dtmf_levels_and_sequence() -> None:
    pcm = dtmf_tone("5", 1000, level_dbm0=-10.0, twist_db=0.0)
    assert np.sqrt(np.mean(pcm.astype(float) ** 2)) == pytest.approx(dbm0_to_peak(-10), rel=0.01)
    with pytest.raises(KeyError, match="not a DTMF digit"):
        dtmf_tone("E")
    assert dtmf_tone("a", 10).tolist() == dtmf_tone("A", 10).tolist()
    sequence = dtmf_sequence("12", on_ms=100, off_ms=50)
    assert len(sequence) == 2 * 1200
    assert runs(on_off(sequence, 8000)) == [(True, 100), (False, 50)] * 2
    assert len(dtmf_sequence("")) == 0


@given(st.integers(1, 4000), st.integers(1, 9))
def test_reads_return_exactly_what_is_asked(size: int, reads: int) -> None:
    generator = ToneGenerator(tone("congestion", "uk"), 8000)
    assert all(len(generator.read(size)) == size for _ in range(reads))
