"""Answering-machine detection and the machine's beep, from the first seconds of an answered call.

:class:`AmdDetector` follows the silence and speech-burst analysis of Asterisk's ``AMD()``
application, with its parameter names (``amd.conf``) and defaults, all in milliseconds except
the two counts:

======================== ======= ============================================================
parameter                default meaning
======================== ======= ============================================================
initial_silence          2500    silence before any word longer than this: MACHINE
greeting                 1500    talk (all words) longer than this: MACHINE (LONGGREETING)
after_greeting_silence   800     silence this long after the greeting started: HUMAN
total_analysis_time      5000    no decision by then: NOTSURE (TOOLONG)
min_word_length          100     voice at least this long is a word
between_words_silence    50      silence at least this long ends a word
maximum_number_of_words  2       more words than this: MACHINE (MAXWORDS)
silence_threshold        256     mean absolute sample (0..32767) below this is silence
maximum_word_length      5000    one word longer than this: MACHINE (MAXWORDLENGTH)
======================== ======= ============================================================

The idea: a person answers with one short word ("Hello?") and waits; a machine plays a long
greeting of many words, or nothing at all. Every ``frame_ms`` frame is classified voice or
silence by its mean absolute amplitude, the measure Asterisk's silence detector uses, so a
threshold tuned for Asterisk means the same here. :class:`pycc.dsp.energy.VoiceActivity` is not
used: its RMS threshold is a different scale and its hangover would bridge the 50 ms pauses
that separate the words this detector counts.

Two deliberate differences from Asterisk, both so that the verdict does not depend on how the
audio happens to start: the analysis starts "between words", so a first word is counted even
when the audio begins mid-word (Asterisk starts "in a word" and misses it), and the word limit
is a maximum, MACHINE when it is *exceeded* as ``amd.conf`` documents. With the documented
default of 2, the third word is a machine, which is what Asterisk's compiled-in default (3,
reached) does too.

:class:`BeepDetector` finds the tone after which a message may be left: one steady sine in
400-2000 Hz for at least 100 ms. Each frame's spectrum (Hann window, one FFT for all frames of
a chunk, the matrix form of the Goertzel bins of :mod:`pycc.dsp.goertzel`) must hold most of
its energy around one peak, at a frequency that stays put from frame to frame; speech spreads
its energy over harmonics and glides, noise spreads it everywhere.

Pure code: numpy over whole frames, no per-sample Python, no clock. Positions are stream time
(samples fed so far), never wall time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from pycc.dsp.pcm import Pcm, require_pcm

__all__ = ["AmdConfig", "AmdDetector", "AmdResult", "Beep", "BeepDetector", "Verdict"]

Verdict = Literal["human", "machine", "notsure"]

_FRAME_CHOICES = (10, 20)
_MIN_RATE = 8000
_MAX_RATE = 48000


def _check_rate(rate: int, frame_ms: int, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise TypeError(f"{what}: rate must be an int, not {type(rate).__name__}")
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise ValueError(f"{what}: rate must be {_MIN_RATE}-{_MAX_RATE} Hz, not {rate}")
    if rate * frame_ms % 1000:
        raise ValueError(f"{what}: {frame_ms} ms is not a whole number of samples at {rate} Hz")
    return rate * frame_ms // 1000


def _mono(pcm: npt.NDArray[np.generic], what: str) -> Pcm:
    samples = require_pcm(pcm)
    if samples.ndim != 1:
        raise ValueError(f"{what} needs mono PCM (1-D), not shape {samples.shape}")
    return samples


@dataclass(frozen=True, slots=True)
class AmdConfig:
    """Asterisk ``amd.conf`` parameters (milliseconds, except the counts) and the frame size."""

    initial_silence: int = 2500
    greeting: int = 1500
    after_greeting_silence: int = 800
    total_analysis_time: int = 5000
    min_word_length: int = 100
    between_words_silence: int = 50
    maximum_number_of_words: int = 2
    silence_threshold: int = 256
    maximum_word_length: int = 5000
    frame_ms: int = 10

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"amd.{field.name} must be an integer, not {value!r}")
            if value <= 0:
                raise ValueError(f"amd.{field.name} must be positive, not {value}")
        if self.silence_threshold > 32767:
            raise ValueError(
                f"amd.silence_threshold must be at most 32767, not {self.silence_threshold}"
            )
        if self.frame_ms not in _FRAME_CHOICES:
            raise ValueError(f"amd.frame_ms must be 10 or 20, not {self.frame_ms}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], *, where: str = "amd") -> AmdConfig:
        """A config from ``amd.conf``-style keys (e.g. a campaign's ``amd:`` section).

        Unknown keys and non-integer values are errors naming ``where`` and the key.
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"{where} must be a mapping, not {type(values).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        arguments: dict[str, int] = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"{where}.{key}: unknown AMD parameter "
                                 f"(known: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{where}.{key} must be an integer, not {value!r}")
            arguments[key] = value
        try:
            return cls(**arguments)
        except (TypeError, ValueError) as error:
            raise type(error)(str(error).replace("amd.", f"{where}.", 1)) from None


@dataclass(frozen=True, slots=True)
class AmdResult:
    """The decision, why (Asterisk's ``AMDCAUSE`` names) and what had been measured by then.

    ``measured`` and ``limit`` are the quantity and the parameter that decided: for
    INITIALSILENCE and HUMAN the silence (ms) and its limit, LONGGREETING the total talk,
    MAXWORDLENGTH the word's length, MAXWORDS the word count, TOOLONG the time analysed.
    """

    verdict: Verdict
    cause: str
    measured: int
    limit: int
    elapsed_ms: int
    words: int
    voice_ms: int

    @property
    def amd_cause(self) -> str:
        """The cause as Asterisk writes ``AMDCAUSE``, e.g. ``HUMAN-800-800``."""
        if self.cause in ("TOOLONG", "MAXWORDLENGTH"):
            return f"{self.cause}-{self.measured}"
        return f"{self.cause}-{self.measured}-{self.limit}"


class AmdDetector:
    """Streaming answering-machine detector: ``feed(pcm)`` until it returns a result.

    Feed the far end's audio from the moment of answer, in chunks of any size. ``None`` means
    undecided; once decided, every later ``feed`` returns the same result and ignores audio.
    """

    __slots__ = ("_consecutive_voice", "_elapsed", "_frame", "_in_greeting", "_in_initial",
                 "_in_word", "_pending", "_result", "_silence", "_voice", "_words", "config",
                 "rate")

    def __init__(self, config: AmdConfig | None = None, rate: int = 8000) -> None:
        self.config = config if config is not None else AmdConfig()
        self.rate = rate
        self._frame = _check_rate(rate, self.config.frame_ms, "AMD")
        self._pending: Pcm = np.zeros(0, dtype=np.int16)
        self._elapsed = 0
        self._silence = 0
        self._voice = 0
        self._consecutive_voice = 0
        self._words = 0
        self._in_word = False
        self._in_initial = True
        self._in_greeting = False
        self._result: AmdResult | None = None

    @property
    def result(self) -> AmdResult | None:
        return self._result

    @property
    def elapsed_ms(self) -> int:
        """Audio analysed so far (whole frames), in milliseconds."""
        return self._elapsed

    def feed(self, pcm: Pcm) -> AmdResult | None:
        """Analyse the next chunk of mono int16 audio; the verdict once there is one."""
        samples = _mono(pcm, "AMD")
        if self._result is not None:
            return self._result
        if self._pending.size:
            samples = np.concatenate((self._pending, samples))
        count = len(samples) // self._frame
        used = count * self._frame
        self._pending = samples[used:].copy()
        if not count:
            return None
        frames = samples[:used].reshape(count, self._frame).astype(np.int32)
        # Mean absolute amplitude, as Asterisk's silence detector measures a frame.
        silent = np.abs(frames).mean(axis=1) < self.config.silence_threshold
        for quiet in silent.tolist():
            self._result = self._step(quiet)
            if self._result is not None:
                self._pending = np.zeros(0, dtype=np.int16)
                break
        return self._result

    def _decide(self, verdict: Verdict, cause: str, measured: int, limit: int) -> AmdResult:
        return AmdResult(verdict, cause, measured, limit, self._elapsed, self._words,
                         self._voice)

    def _step(self, quiet: bool) -> AmdResult | None:
        """One frame of Asterisk's state machine (``isAnsweringMachine``)."""
        c = self.config
        step = c.frame_ms
        self._elapsed += step
        if self._elapsed >= c.total_analysis_time:
            return self._decide("notsure", "TOOLONG", self._elapsed, c.total_analysis_time)
        if quiet:
            self._silence += step
            if self._silence >= c.between_words_silence:
                self._in_word = False
                self._consecutive_voice = 0
            if self._in_initial and self._silence >= c.initial_silence:
                return self._decide("machine", "INITIALSILENCE", self._silence,
                                    c.initial_silence)
            if self._in_greeting and self._silence >= c.after_greeting_silence:
                return self._decide("human", "HUMAN", self._silence, c.after_greeting_silence)
            return None
        self._silence = 0
        self._consecutive_voice += step
        self._voice += step
        if self._consecutive_voice >= c.min_word_length and not self._in_word:
            self._words += 1
            self._in_word = True
        if self._consecutive_voice >= c.maximum_word_length:
            return self._decide("machine", "MAXWORDLENGTH", self._consecutive_voice,
                                c.maximum_word_length)
        if self._words > c.maximum_number_of_words:
            return self._decide("machine", "MAXWORDS", self._words, c.maximum_number_of_words)
        if self._in_greeting and self._voice >= c.greeting:
            return self._decide("machine", "LONGGREETING", self._voice, c.greeting)
        if self._consecutive_voice >= c.min_word_length:
            self._in_initial = False
            self._in_greeting = True
        return None


@dataclass(frozen=True, slots=True)
class Beep:
    """A steady tone at ``frequency`` Hz from ``start_ms`` to ``end_ms`` of the stream."""

    frequency: float
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


class BeepDetector:
    """Finds answering-machine beeps: ``feed(pcm)`` returns the beeps that ended in it.

    A beep is reported when it ends, the moment a message may start. A tone counts when its
    frames, run together, last at least ``min_ms`` less one frame (the frames at its edges
    are only partly tone and may fail the purity test) and at most ``max_ms`` (a longer
    tone is some other signal, such as a fax or a test tone).
    """

    __slots__ = ("_bins", "_frame", "_index", "_inner", "_pending", "_power_floor", "_run_first",
                 "_run_frames", "_run_sum", "_window", "frame_ms", "high_hz", "low_hz",
                 "max_ms", "min_ms", "purity", "rate", "threshold_dbov", "tolerance_hz")

    def __init__(
        self,
        rate: int = 8000,
        *,
        low_hz: float = 400.0,
        high_hz: float = 2000.0,
        min_ms: int = 100,
        max_ms: int = 5000,
        threshold_dbov: float = -40.0,
        purity: float = 0.8,
        tolerance_hz: float = 25.0,
        frame_ms: int = 20,
    ) -> None:
        if frame_ms not in _FRAME_CHOICES:
            raise ValueError(f"beep frame_ms must be 10 or 20, not {frame_ms}")
        self._frame = _check_rate(rate, frame_ms, "beep detector")
        if not 0.0 < low_hz < high_hz < rate / 2:
            raise ValueError(f"beep band must satisfy 0 < low_hz < high_hz < {rate / 2:g} Hz, "
                             f"not {low_hz:g}-{high_hz:g}")
        if not 0 < min_ms <= max_ms:
            raise ValueError(f"beep durations must satisfy 0 < min_ms <= max_ms, "
                             f"not {min_ms}, {max_ms}")
        if not 0.0 < purity <= 1.0:
            raise ValueError(f"beep purity must be in (0, 1], not {purity}")
        if not tolerance_hz > 0.0:
            raise ValueError(f"beep tolerance_hz must be positive, not {tolerance_hz}")
        if not math.isfinite(threshold_dbov):
            raise ValueError(f"beep threshold_dbov must be finite, not {threshold_dbov}")
        self.rate = rate
        self.frame_ms = frame_ms
        self.low_hz = low_hz
        self.high_hz = high_hz
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.threshold_dbov = threshold_dbov
        self.purity = purity
        self.tolerance_hz = tolerance_hz
        self._window: npt.NDArray[np.float64] = np.hanning(self._frame)
        freqs = np.fft.rfftfreq(self._frame, 1.0 / rate)
        # DC and Nyquist are never a tone's peak, so the peak always has two neighbours
        # for interpolation.
        inner = np.ones(len(freqs), dtype=bool)
        inner[0] = inner[-1] = False
        self._inner: npt.NDArray[np.bool_] = inner
        self._bins: npt.NDArray[np.bool_] = inner & (freqs >= low_hz) & (freqs <= high_hz)
        self._power_floor = (32768.0**2) * 10.0 ** (threshold_dbov / 10.0)
        self._pending: Pcm = np.zeros(0, dtype=np.int16)
        self._index = 0
        self._run_frames = 0
        self._run_first = 0
        self._run_sum = 0.0

    def reset(self) -> None:
        """Forget partial frames and any tone in progress; stream time restarts at zero."""
        self._pending = np.zeros(0, dtype=np.int16)
        self._index = 0
        self._run_frames = 0
        self._run_sum = 0.0

    def feed(self, pcm: Pcm) -> list[Beep]:
        """Analyse the next chunk of mono int16 audio; the beeps that ended in it."""
        samples = _mono(pcm, "beep detection")
        if self._pending.size:
            samples = np.concatenate((self._pending, samples))
        count = len(samples) // self._frame
        used = count * self._frame
        self._pending = samples[used:].copy()
        if not count:
            return []
        tones = self._classify(samples[:used].reshape(count, self._frame))
        found: list[Beep] = []
        for frequency in tones.tolist():
            beep = self._step(frequency)
            if beep is not None:
                found.append(beep)
        return found

    def _classify(self, blocks: Pcm) -> npt.NDArray[np.float64]:
        """Per frame, the frequency of its single steady tone, or NaN when it has none."""
        frames = blocks.astype(np.float64)
        mean_square = (frames * frames).mean(axis=1)
        power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        # The strongest component anywhere must be in the band: a tone just outside it
        # leaks into the band's edge bins and would otherwise pass for an in-band one.
        peak = np.where(self._inner, power, 0.0).argmax(axis=1)
        rows = np.arange(len(frames))
        # The Hann main lobe spans two bins either side of a sine's frequency.
        lobe = np.zeros_like(power)
        for offset in (-2, -1, 0, 1, 2):
            cols = np.clip(peak + offset, 0, power.shape[1] - 1)
            lobe[rows, cols] = power[rows, cols]
        total = power.sum(axis=1)
        ok = (mean_square >= self._power_floor) & self._bins[peak]
        ok &= lobe.sum(axis=1) >= self.purity * np.maximum(total, 1e-12)
        # Quadratic interpolation of the log spectrum around the peak: a fraction of a bin.
        tiny = 1e-12
        left = np.log(power[rows, np.maximum(peak - 1, 0)] + tiny)
        centre = np.log(power[rows, peak] + tiny)
        right = np.log(power[rows, np.minimum(peak + 1, power.shape[1] - 1)] + tiny)
        curvature = left - 2.0 * centre + right
        safe = np.where(curvature < 0.0, curvature, -1.0)
        shift = np.clip(0.5 * (left - right) / safe, -0.5, 0.5)
        frequency = (peak + shift) * (self.rate / self._frame)
        return np.where(ok, frequency, np.nan)

    def _step(self, frequency: float) -> Beep | None:
        """Extend or close the current tone run with the next frame's frequency (NaN: none)."""
        index = self._index
        self._index += 1
        tone = not math.isnan(frequency)
        if tone and self._run_frames:
            mean = self._run_sum / self._run_frames
            if abs(frequency - mean) <= self.tolerance_hz:
                self._run_frames += 1
                self._run_sum += frequency
                return None
        beep = self._close(index)
        if tone:
            self._run_frames, self._run_first, self._run_sum = 1, index, frequency
        return beep

    def _close(self, end_index: int) -> Beep | None:
        """End the current run at frame ``end_index``; a beep if it lasted like one."""
        frames, self._run_frames = self._run_frames, 0
        if not frames:
            return None
        duration = frames * self.frame_ms
        if duration < self.min_ms - self.frame_ms or duration > self.max_ms:
            return None
        return Beep(self._run_sum / frames, self._run_first * self.frame_ms,
                    end_index * self.frame_ms)
