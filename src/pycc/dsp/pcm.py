"""PCM audio as pycc passes it between codecs, DSP blocks and media adapters.

Audio is a numpy ``int16`` array: 1-D for mono, shape ``(n, 2)`` for stereo, at whatever
sample rate the producer states. Levels follow ITU-T G.711/G.168 conventions: a full-scale
sine is +3.14 dBm0 (the A-law overload point, G.711 §3), and dBov is relative to the digital
overload point (ITU-T G.100.1), so a full-scale sine is -3.01 dBov.
"""

from __future__ import annotations

from typing import TypeAlias, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "FULL_SCALE_DBM0",
    "INT16_MAX",
    "INT16_MIN",
    "Pcm",
    "dbm0_to_peak",
    "require_pcm",
    "saturate",
    "silence",
]

#: One block of 16-bit linear PCM.
Pcm: TypeAlias = npt.NDArray[np.int16]

INT16_MIN = -32768
INT16_MAX = 32767

#: Level of a full-scale sine (peak 32768) in dBm0: the A-law overload point, G.711 §3.
FULL_SCALE_DBM0 = 3.14


def dbm0_to_peak(level_dbm0: float) -> float:
    """Peak amplitude (16-bit scale) of a sine at ``level_dbm0``: 0 dBm0 peaks near 22 790."""
    return 32768.0 * float(10.0 ** ((level_dbm0 - FULL_SCALE_DBM0) / 20.0))


def saturate(samples: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> Pcm:
    """Round and clip any numeric array into int16, the way a DSP saturates instead of wrapping."""
    out: Pcm
    if samples.dtype == np.int16:
        out = samples.astype(np.int16, copy=False)
    else:
        if np.issubdtype(samples.dtype, np.floating):
            samples = np.rint(samples)
        out = np.clip(samples, INT16_MIN, INT16_MAX).astype(np.int16)
    return out


def require_pcm(pcm: npt.NDArray[np.generic]) -> Pcm:
    """``pcm`` itself when it is int16, else :class:`TypeError`.

    A silent ``astype`` would wrap float or int32 audio around instead of saturating it, so
    the caller must choose (see :func:`saturate`).
    """
    if pcm.dtype != np.int16:
        raise TypeError(f"PCM must be an int16 array, not {pcm.dtype}")
    return cast(Pcm, pcm)


def silence(samples: int, channels: int = 1) -> Pcm:
    """``samples`` zero samples (per channel)."""
    shape: tuple[int, ...] = (samples,) if channels == 1 else (samples, channels)
    return np.zeros(shape, dtype=np.int16)
