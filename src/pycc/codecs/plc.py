"""Packet loss concealment by pitch repetition, after ITU-T G.711 Appendix I.

For codecs without their own concealment (G.711, G.722, L16) a lost packet is replaced by
repeating the last pitch period of the decoded signal:

- the pitch is estimated once per loss, on the last 20 ms of history, as the lag of highest
  normalised cross-correlation between 5 and 15 ms (G.711 App. I §I.2.2, without its 2:1
  decimation: one vectorised correlation over all lags costs less than the decimation);
- the period's end is cross-faded over a quarter period with the samples that precede it, so
  the repetition wraps without a click (App. I's overlap-add);
- the first 10 ms are played at full level, then the level falls by 20% per 10 ms, reaching
  silence after 60 ms, so a long outage fades instead of buzzing (App. I §I.2.4);
- the first good frame after a loss is cross-faded with the continuation of the synthetic
  signal over a quarter period plus 1 ms per 10 ms lost (App. I §I.2.6).

Unlike App. I the output is not delayed by 3.75 ms: pycc does not add latency to every call
for the sake of the first lost frame, so the first junction is only as smooth as the pitch
estimate is good.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from pycc.dsp.pcm import Pcm, saturate

__all__ = ["PitchRepetition"]

_HISTORY_MS = 48.75
_CORRELATION_MS = 20
_MIN_PITCH_MS = 5
_MAX_PITCH_MS = 15
_FULL_LEVEL_MS = 10
_FADE_MS = 50  # from full level to silence


class PitchRepetition:
    """Concealment state of one stream of mono or multi-channel PCM at ``sample_rate``.

    ``observe(pcm)`` must see every decoded frame (it may smooth the first one after a loss
    and returns what to play); ``conceal(n)`` synthesises ``n`` samples for a lost one.
    """

    __slots__ = ("_end", "_erased", "_period", "_phase", "_ring", "channels", "sample_rate")

    def __init__(self, sample_rate: int, channels: int = 1) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        size = round(_HISTORY_MS * sample_rate / 1000)
        # A ring buffer: every good frame is written into it (two slice copies at most), and
        # it is put in order only when a loss needs it.
        self._ring = np.zeros((size, channels), dtype=np.int16)
        self._end = 0  # where the next sample goes; also the oldest sample
        self._period: npt.NDArray[np.float64] | None = None
        self._phase = 0  # next sample of the period to play
        self._erased = 0  # samples concealed since the last good frame

    def _ms(self, ms: float) -> int:
        return round(ms * self.sample_rate / 1000)

    def _push(self, frame: npt.NDArray[np.int16]) -> None:
        """Append ``frame`` (shape ``(n, channels)``) to the history."""
        size, n = len(self._ring), len(frame)
        if n >= size:
            self._ring[:] = frame[n - size:]
            self._end = 0
            return
        first = min(n, size - self._end)
        self._ring[self._end:self._end + first] = frame[:first]
        self._ring[: n - first] = frame[first:]
        self._end = (self._end + n) % size

    def _history(self) -> npt.NDArray[np.float64]:
        """The history in time order, oldest first."""
        return np.roll(self._ring, -self._end, axis=0).astype(np.float64)

    def _shape(self, frame: npt.NDArray[np.float64]) -> Pcm:
        out = saturate(frame)
        return out.reshape(-1) if self.channels == 1 else out

    def pitch(self) -> int:
        """The pitch period in samples that best explains the recent history."""
        return self._pitch_of(self._history().mean(axis=1))

    def _pitch_of(self, mono: npt.NDArray[np.float64]) -> int:
        lo, hi, width = self._ms(_MIN_PITCH_MS), self._ms(_MAX_PITCH_MS), self._ms(
            _CORRELATION_MS
        )
        target = mono[-width:]
        # Candidate k starts at len - width - k; one window row per lag.
        windows = sliding_window_view(mono[: len(mono) - lo], width)
        lags = np.arange(lo, hi + 1)
        candidates = windows[len(mono) - width - lags]
        correlation = candidates @ target
        energy = np.einsum("ij,ij->i", candidates, candidates)
        score = np.where(correlation > 0, correlation / np.sqrt(energy + 1e-9), 0.0)
        return int(lags[int(np.argmax(score))]) if score.any() else hi

    def _start(self) -> None:
        h = self._history()
        period = self._pitch_of(h.mean(axis=1))
        cycle = h[-period:].copy()
        overlap = period // 4
        if overlap:
            # The samples before h[-period] lead smoothly into it; blending the cycle's tail
            # into them makes cycle[-1] -> cycle[0] as smooth as h[-period-1] -> h[-period].
            ramp = np.linspace(0.0, 1.0, overlap + 2)[1:-1, None]
            before = h[-period - overlap:-period]
            cycle[-overlap:] = cycle[-overlap:] * (1.0 - ramp) + before * ramp
        self._period = cycle
        self._phase = 0

    def _synthesise(self, n: int, advance: bool) -> npt.NDArray[np.float64]:
        assert self._period is not None
        period = len(self._period)
        index = (self._phase + np.arange(n)) % period
        elapsed = self._erased + np.arange(n)
        full, fade = self._ms(_FULL_LEVEL_MS), self._ms(_FADE_MS)
        gain = np.clip(1.0 - (elapsed - full) / fade, 0.0, 1.0)
        out = self._period[index] * gain[:, None]
        if advance:
            self._phase = (self._phase + n) % period
            self._erased += n
        return out

    def conceal(self, samples: int) -> Pcm:
        """``samples`` of synthetic signal continuing the history."""
        if self._erased == 0 or self._period is None:
            self._start()
        out = self._shape(self._synthesise(samples, advance=True))
        self._push(out.reshape(samples, self.channels))
        return out

    def observe(self, pcm: Pcm) -> Pcm:
        """Record a decoded frame; the frame to play (smoothed if it ends a loss)."""
        frame = pcm.reshape(len(pcm), self.channels)
        if self._erased and self._period is not None and len(frame):
            merge = min(
                len(frame),
                len(self._period) // 4 + self._ms(1) * (self._erased // self._ms(10)),
            )
            tail = self._synthesise(merge, advance=False)
            ramp = np.linspace(0.0, 1.0, merge + 2)[1:-1, None]
            frame = frame.copy()
            frame[:merge] = saturate(tail * (1.0 - ramp) + frame[:merge] * ramp)
            pcm = frame.reshape(pcm.shape)
        self._erased = 0
        self._push(frame)
        return pcm
