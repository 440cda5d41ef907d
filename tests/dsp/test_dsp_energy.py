"""Levels in dBov, the energy VAD's hangover, and silence ratios."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pycc.dsp.energy import VoiceActivity, rms_dbov, silence_ratio


def sine(amplitude: float, samples: int = 8000, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(samples) / 8000
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_dbov_reference_points() -> None:
    assert rms_dbov(np.full(160, 32767, dtype=np.int16)) == pytest.approx(0.0, abs=0.001)
    assert rms_dbov(sine(32767)) == pytest.approx(-3.01, abs=0.01)  # full-scale sine
    assert rms_dbov(sine(3276.7)) == pytest.approx(-23.01, abs=0.01)
    assert rms_dbov(np.zeros(160, dtype=np.int16)) == -math.inf
    assert rms_dbov(np.zeros(0, dtype=np.int16)) == -math.inf
    stereo = np.column_stack((sine(32767), sine(32767)))
    assert rms_dbov(stereo) == pytest.approx(-3.01, abs=0.01)


def frame(level_dbov: float) -> np.ndarray:
    return sine(32768 * math.sqrt(2) * 10 ** (level_dbov / 20), 160)


def test_voice_activity_with_hangover() -> None:
    vad = VoiceActivity(8000, threshold_dbov=-45, hangover_ms=200)
    assert vad.feed(frame(-60)) is False
    assert vad.feed(frame(-30)) is True
    # Quiet frames after speech stay "active" for 200 ms (10 frames of 20 ms)...
    quiet = [vad.feed(frame(-60)) for _ in range(12)]
    assert quiet == [True] * 9 + [False] * 3
    # ...and any loud frame restarts the hangover.
    assert vad.feed(frame(-40)) is True and vad.active
    vad.reset()
    assert vad.feed(frame(-50)) is False


def test_silence_ratio() -> None:
    talk = np.concatenate([frame(-20)] * 30 + [frame(-70)] * 70 + [np.zeros(50, np.int16)])
    assert silence_ratio(talk, 8000) == pytest.approx(0.7)
    assert silence_ratio(talk, 8000, threshold_dbov=-10) == 1.0
    assert silence_ratio(np.zeros(10, np.int16)) == 1.0
