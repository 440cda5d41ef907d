"""Signal level and a simple energy voice-activity detector.

Levels are in dBov (ITU-T G.100.1): relative to the digital overload point, so a full-scale
square wave is 0 dBov, a full-scale sine -3.01 dBov, and digital silence minus infinity.
:class:`VoiceActivity` declares speech while the frame level is above a threshold and for a
hangover afterwards, so the short pauses between words do not end a talk spurt (the same idea
as the hangover of G.729 Annex B's VAD, without its spectral features). Answering-machine
detection builds on these.
"""

from __future__ import annotations

import math

import numpy as np

from pycc.dsp.pcm import Pcm, require_pcm

__all__ = ["VoiceActivity", "rms_dbov", "silence_ratio"]

_FULL_SCALE = 32768.0


def rms_dbov(pcm: Pcm) -> float:
    """RMS level of ``pcm`` in dBov; ``-inf`` for digital silence or an empty frame."""
    require_pcm(pcm)
    if not pcm.size:
        return -math.inf
    flat = pcm.reshape(-1).astype(np.float64)
    mean_square = float(np.dot(flat, flat)) / flat.size
    if mean_square == 0.0:
        return -math.inf
    return 10.0 * math.log10(mean_square / (_FULL_SCALE * _FULL_SCALE))


def silence_ratio(
    pcm: Pcm, sample_rate: int = 8000, *, threshold_dbov: float = -45.0, frame_ms: int = 20
) -> float:
    """Fraction of the ``frame_ms`` frames of ``pcm`` whose level is below ``threshold_dbov``.

    A trailing partial frame is ignored; an input shorter than one frame counts as silent.
    """
    require_pcm(pcm)
    size = sample_rate * frame_ms // 1000
    frames = len(pcm) // size
    if frames == 0:
        return 1.0
    blocks = pcm[: frames * size].reshape(frames, -1).astype(np.float64)
    mean_square = (blocks * blocks).mean(axis=1)
    limit = (_FULL_SCALE**2) * 10.0 ** (threshold_dbov / 10.0)
    return float(np.count_nonzero(mean_square < limit)) / frames


class VoiceActivity:
    """Energy VAD with hangover: ``feed(frame)`` is true while someone is talking."""

    __slots__ = ("_quiet", "active", "hangover_samples", "sample_rate", "threshold_dbov")

    def __init__(
        self, sample_rate: int = 8000, threshold_dbov: float = -45.0, hangover_ms: int = 200
    ) -> None:
        self.sample_rate = sample_rate
        self.threshold_dbov = threshold_dbov
        self.hangover_samples = hangover_ms * sample_rate // 1000
        self._quiet = self.hangover_samples  # samples since the last loud frame
        self.active = False

    def feed(self, pcm: Pcm) -> bool:
        """Classify the next frame; true for speech or within the hangover after it."""
        if rms_dbov(pcm) > self.threshold_dbov:
            self._quiet = 0
            self.active = True
        else:
            self._quiet += len(pcm)
            self.active = self._quiet < self.hangover_samples
        return self.active

    def reset(self) -> None:
        self._quiet = self.hangover_samples
        self.active = False
