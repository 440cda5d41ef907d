"""Streaming sample-rate conversion between the telephony rates (8, 16, 48 kHz and others).

A rational polyphase FIR resampler: the rate ratio is reduced to ``up/down``, a Kaiser-windowed
sinc low-pass is designed once at ``up`` times the input rate, and each output sample is the dot
product of one polyphase branch with the most recent input samples. The last input samples are
kept between calls, so a stream cut into 20 ms chunks gives the same output as one long call
(no clicks at packet boundaries). All arithmetic is vectorised over the chunk.

The filter delays the signal by about ``half_taps`` input samples (1.5 ms at 8 kHz with the
defaults); a media bridge that converts both ways pays that twice, well below a jitter buffer.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from pycc.dsp.pcm import Pcm, require_pcm, saturate

__all__ = ["Resampler", "design_lowpass", "resample"]


def design_lowpass(up: int, down: int, zero_crossings: int = 12, beta: float = 8.0) -> (
    npt.NDArray[np.float64]
):
    """Low-pass prototype for an ``up/down`` resampler, at ``up`` times the input rate.

    The cutoff sits at 0.92 of the lower of the two Nyquist frequencies, so the transition band
    ends near Nyquist; Kaiser beta 8 gives about 80 dB of stop-band rejection. The gain is
    ``up`` so that zero-stuffing does not lower the level. The length is a multiple of ``up``.
    """
    factor = max(up, down)
    cutoff = 0.92 * 0.5 / factor  # cycles per sample at the up-sampled rate
    half = zero_crossings * factor
    taps = 2 * half + 1
    taps += -taps % up
    n = np.arange(taps, dtype=np.float64) - (taps - 1) / 2.0
    prototype = 2.0 * cutoff * np.sinc(2.0 * cutoff * n) * np.kaiser(taps, beta)
    scaled: npt.NDArray[np.float64] = prototype * (up / prototype.sum())
    return scaled


class Resampler:
    """Convert one mono int16 stream from ``from_rate`` to ``to_rate``, chunk by chunk.

    ``process(pcm)`` returns every output sample whose inputs have arrived; for integer ratios
    (8k->48k, 48k->16k...) a 20 ms chunk always yields exactly 20 ms.
    """

    __slots__ = ("_branches", "_down", "_history", "_inputs", "_outputs", "_taps", "_up",
                 "from_rate", "to_rate")

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, not {from_rate} -> {to_rate}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        common = gcd(from_rate, to_rate)
        self._up = to_rate // common
        self._down = from_rate // common
        prototype = design_lowpass(self._up, self._down)
        # Branch p holds prototype[p], prototype[p + up], ... applied to x[i], x[i-1], ...;
        # reversing it lets each output use a plain forward window of past samples.
        self._branches = prototype.reshape(-1, self._up).T[:, ::-1].copy()
        self._taps = self._branches.shape[1]
        self._history = np.zeros(self._taps - 1, dtype=np.float64)
        self._inputs = 0  # input samples consumed so far
        self._outputs = 0  # output samples produced so far

    @property
    def passthrough(self) -> bool:
        return self._up == self._down

    def process(self, pcm: Pcm) -> Pcm:
        """Resample the next chunk of the stream."""
        require_pcm(pcm)
        if self._up == self._down:
            return pcm.copy()
        chunk = pcm.astype(np.float64)
        buffer = np.concatenate((self._history, chunk))
        last_input = self._inputs + len(chunk) - 1
        # Output n needs input floor(n * down / up); emit every n whose input has arrived.
        end = (last_input * self._up + self._up - 1) // self._down + 1 if len(chunk) else 0
        start = self._outputs
        if end > start:
            windows = as_strided(
                buffer, shape=(len(buffer) - self._taps + 1, self._taps),
                strides=(buffer.strides[0], buffer.strides[0]), writeable=False,
            )
            out = self._convolve(windows, start, end)
            self._outputs = end
        else:
            out = np.zeros(0, dtype=np.float64)
        self._inputs += len(chunk)
        self._history = buffer[len(buffer) - (self._taps - 1):]
        self._rebase()
        return saturate(out)

    def _convolve(
        self, windows: npt.NDArray[np.float64], start: int, end: int
    ) -> npt.NDArray[np.float64]:
        """Outputs ``start..end-1``; row ``r`` of ``windows`` ends at input ``inputs + r``."""
        up, down = self._up, self._down
        out: npt.NDArray[np.float64]
        first_newest = start * down // up - self._inputs
        if down == 1:
            # Every new input yields ``up`` outputs, one per branch: one matrix product.
            count = (end - start) // up
            out = (windows[first_newest:first_newest + count] @ self._branches.T).reshape(-1)
            return out
        if up == 1:
            # Pure decimation: a single branch on every ``down``-th window.
            rows = windows[first_newest::down][: end - start]
            out = rows @ self._branches[0]
            return out
        n = np.arange(start, end, dtype=np.int64)
        upsampled = n * down
        rows = windows[upsampled // up - self._inputs]
        out = np.einsum("ij,ij->i", rows, self._branches[upsampled % up])
        return out

    def _rebase(self) -> None:
        # Keep the counters small: shifting both by a whole number of ratio periods changes no
        # phase or index difference.
        periods = self._inputs // self._down
        if periods:
            self._inputs -= periods * self._down
            self._outputs -= periods * self._up

    def reset(self) -> None:
        """Forget the stream (a new talk spurt, a new call)."""
        self._history[:] = 0.0
        self._inputs = 0
        self._outputs = 0


def resample(pcm: Pcm, from_rate: int, to_rate: int) -> Pcm:
    """One-shot conversion of a whole signal (a prompt file, a test tone)."""
    return Resampler(from_rate, to_rate).process(pcm)
