"""In-band DTMF detection (ITU-T Q.24 receiver) with Goertzel-style single-bin DFTs.

The signal is cut into blocks of about 12.75 ms (102 samples at 8 kHz; the same duration at
16 and 48 kHz). For every block the energy at the eight Q.23 frequencies and at the second
harmonics of the four low-group ones is measured with one matrix product over all blocks at
once, which is what the Goertzel recursion computes, without a per-sample loop. A block holds
a digit when:

- both the strongest low-group and high-group tones are above ``threshold_dbm0``;
- the twist is acceptable: the high group at most ``normal_twist_db`` above the low group, the
  low group at most ``reverse_twist_db`` above the high group;
- each of the two is ``relative_peak_db`` above the other frequencies of its group;
- the two tones carry most of the block's energy (speech and noise spread theirs);
- the low-group tone's second harmonic is weak (voice and music have strong harmonics, a
  DTMF generator has none). A harmonic bin closer than ~1.25 bins to the detected high-group
  tone is not judged: that tone's own leakage swamps it.

A digit is reported once when it has been present for ``min_blocks`` consecutive blocks
(25 ms with the defaults, Q.24 requires acceptance of 40 ms tones) and may be reported again
only after ``gap_blocks`` blocks without it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pycc.dsp.pcm import Pcm, dbm0_to_peak, require_pcm
from pycc.dsp.tones import DTMF_COLUMNS, DTMF_KEYS, DTMF_ROWS

__all__ = ["DtmfDetector"]

_BLOCK_SECONDS = 102 / 8000
_FUNDAMENTALS = np.array(DTMF_ROWS + DTMF_COLUMNS)
_HARMONICS = 2.0 * np.array(DTMF_ROWS)


class DtmfDetector:
    """Streaming DTMF receiver: ``feed(pcm)`` returns the digits that started in it."""

    __slots__ = ("_basis", "_block", "_candidate", "_gap", "_pending", "_reported", "_run",
                 "_skip_harmonic", "energy_ratio", "gap_blocks", "harmonic_db", "min_blocks",
                 "normal_twist_db", "relative_peak_db", "reverse_twist_db", "sample_rate",
                 "threshold_dbm0")

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        threshold_dbm0: float = -32.0,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        relative_peak_db: float = 6.0,
        energy_ratio: float = 0.6,
        harmonic_db: float = 10.0,
        min_blocks: int = 2,
        gap_blocks: int = 2,
    ) -> None:
        if sample_rate < 8000:
            raise ValueError(f"DTMF detection needs at least 8000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self.threshold_dbm0 = threshold_dbm0
        self.normal_twist_db = normal_twist_db
        self.reverse_twist_db = reverse_twist_db
        self.relative_peak_db = relative_peak_db
        self.energy_ratio = energy_ratio
        self.harmonic_db = harmonic_db
        self.min_blocks = min_blocks
        self.gap_blocks = gap_blocks
        self._block = round(_BLOCK_SECONDS * sample_rate)
        n = np.arange(self._block)
        freqs = np.concatenate((_FUNDAMENTALS, _HARMONICS))
        # Row k of the basis correlates a block with a complex exponential at freqs[k]: the
        # single DFT bin that the Goertzel recursion evaluates.
        self._basis: npt.NDArray[np.complex128] = np.exp(
            -2j * np.pi * np.outer(freqs, n) / sample_rate
        ).T
        bin_width = sample_rate / self._block
        self._skip_harmonic = (
            np.abs(_HARMONICS[:, None] - np.array(DTMF_COLUMNS)[None, :]) < 1.25 * bin_width
        )
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate: str | None = None
        self._run = 0
        self._gap = 0
        self._reported: str | None = None

    @property
    def block_samples(self) -> int:
        return self._block

    def reset(self) -> None:
        """Forget any partial block and digit in progress."""
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate = None
        self._run = 0
        self._gap = 0
        self._reported = None

    def feed(self, pcm: Pcm) -> list[str]:
        """Process the next chunk of the stream; the digits detected, in order."""
        require_pcm(pcm)
        samples = np.concatenate((self._pending, pcm.astype(np.float64)))
        blocks = len(samples) // self._block
        used = blocks * self._block
        self._pending = samples[used:]
        if not blocks:
            return []
        digits = self._classify(samples[:used].reshape(blocks, self._block))
        found: list[str] = []
        for digit in digits:
            reported = self._step(digit)
            if reported is not None:
                found.append(reported)
        return found

    def _classify(self, blocks: npt.NDArray[np.float64]) -> list[str | None]:
        """The digit each block holds, or None, by the checks of the module docstring."""
        n = self._block
        amplitude = np.abs(blocks @ self._basis) * (2.0 / n)
        power = amplitude**2
        low, high, harm = power[:, :4], power[:, 4:8], power[:, 8:]
        row = low.argmax(axis=1)
        col = high.argmax(axis=1)
        index = np.arange(len(blocks))
        row_power = low[index, row]
        col_power = high[index, col]
        tiny = 1e-12
        floor = (dbm0_to_peak(self.threshold_dbm0)) ** 2
        ok = (row_power >= floor) & (col_power >= floor)
        # Most audio is no key: stop at the first check every block fails (a detector runs
        # on every decoded frame of a call, so the common case must be cheap). A sine of
        # amplitude A has mean power A^2 / 2 over the block.
        tone_energy = (row_power + col_power) * (n / 2.0)
        ok &= tone_energy >= self.energy_ratio * (blocks**2).sum(axis=1)
        if not ok.any():
            return [None] * len(blocks)
        twist = 10 * np.log10((col_power + tiny) / (row_power + tiny))
        ok &= (twist <= self.normal_twist_db) & (twist >= -self.reverse_twist_db)
        peak = 10 ** (self.relative_peak_db / 10)
        low_others = np.where(np.eye(4, dtype=bool)[row], 0.0, low).max(axis=1)
        high_others = np.where(np.eye(4, dtype=bool)[col], 0.0, high).max(axis=1)
        ok &= (row_power >= peak * low_others) & (col_power >= peak * high_others)
        harmonic = harm[index, row]
        judged = ~self._skip_harmonic[row, col]
        ok &= ~judged | (harmonic * 10 ** (self.harmonic_db / 10) <= row_power)
        return [DTMF_KEYS[r][c] if good else None
                for r, c, good in zip(row.tolist(), col.tolist(), ok.tolist(), strict=True)]

    def _step(self, digit: str | None) -> str | None:
        """Advance the per-block debounce; the digit to report now, if any."""
        if digit is not None and digit == self._candidate:
            self._run += 1
        else:
            self._candidate, self._run = digit, 1
        if digit is not None and digit == self._reported:
            self._gap = 0
        else:
            self._gap += 1
            if self._gap >= self.gap_blocks:
                self._reported = None
        if digit is not None and self._run >= self.min_blocks and digit != self._reported:
            self._reported = digit
            self._gap = 0
            return digit
        return None
