"""Conference mixing, recorder mixes and gain.

A conference sends every participant the sum of everyone else ("N-1" or mix-minus), so no one
hears their own echo: with the frames stacked as a ``(k, n)`` array that is the total minus
each row, one int32 sum and one subtraction for the whole room, then saturation to int16.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pycc.dsp.pcm import Pcm, require_pcm, saturate

__all__ = ["apply_gain", "interleave", "mix", "mix_minus", "mute", "stack"]


def stack(frames: Sequence[Pcm] | Pcm) -> npt.NDArray[np.int16]:
    """The participants' frames as one ``(k, n)`` int16 array (all frames the same length)."""
    if isinstance(frames, np.ndarray):
        array = require_pcm(frames)
    else:
        lengths = {len(f) for f in frames}
        if len(lengths) > 1:
            raise ValueError(f"frames to mix differ in length: {sorted(lengths)}")
        array = np.stack([require_pcm(f) for f in frames]) if frames else np.zeros(
            (0, 0), dtype=np.int16
        )
    if array.ndim != 2:
        raise ValueError(f"expected k frames of n samples, got shape {array.shape}")
    return array


def mix_minus(
    frames: Sequence[Pcm] | Pcm, *, muted: Sequence[bool] | None = None
) -> npt.NDArray[np.int16]:
    """Row ``i`` of the result is what participant ``i`` hears: the sum of all other frames.

    A ``muted`` participant contributes nothing but still hears the others.
    """
    array = stack(frames)
    wide = array.astype(np.int32)
    if muted is not None:
        if len(muted) != len(array):
            raise ValueError(f"{len(muted)} mute flags for {len(array)} participants")
        wide[np.asarray(muted, dtype=bool)] = 0
    total = wide.sum(axis=0, dtype=np.int32)
    return saturate(total[None, :] - wide)


def mix(frames: Sequence[Pcm] | Pcm) -> Pcm:
    """All frames summed with saturation: a recorder's mono mix of a call or conference."""
    array = stack(frames)
    if not len(array):
        return np.zeros(0, dtype=np.int16)
    return saturate(array.sum(axis=0, dtype=np.int32))


def interleave(left: Pcm, right: Pcm) -> Pcm:
    """A stereo ``(n, 2)`` frame from two mono legs (caller left, callee right)."""
    if len(left) != len(right):
        raise ValueError(f"stereo legs differ in length: {len(left)} and {len(right)}")
    return np.column_stack((require_pcm(left), require_pcm(right)))


def apply_gain(pcm: Pcm, gain_db: float) -> Pcm:
    """``pcm`` amplified by ``gain_db`` (negative attenuates), saturating."""
    require_pcm(pcm)
    if gain_db == 0.0:
        return pcm.copy()
    return saturate(pcm * (10.0 ** (gain_db / 20.0)))


def mute(pcm: Pcm) -> Pcm:
    """Silence of the same shape."""
    return np.zeros_like(require_pcm(pcm))
