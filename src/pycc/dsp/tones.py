"""Call-progress tones, conference cues and DTMF generation.

A :class:`ToneSpec` is a cadence of segments, each a sum of zero (a pause), one or two sine
frequencies, at one level in dBm0, played once or repeated. :class:`ToneGenerator` streams it at
any sample rate with continuous phase, so a repeated continuous tone has no seam.

The national plans follow ITU-T E.180 and its Supplement 2 ("Various tones used in national
networks") as commonly implemented, with cadences rounded to whole milliseconds; tones
specified there as amplitude-modulated (e.g. 400 Hz x 25 Hz) are rendered as a pair of
frequencies beating at a similar rate. DTMF frequencies and levels follow ITU-T Q.23/Q.24.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pycc.dsp.pcm import Pcm, dbm0_to_peak, saturate

__all__ = [
    "DTMF_FREQUENCIES",
    "TONE_PLANS",
    "ToneGenerator",
    "ToneSegment",
    "ToneSpec",
    "countries",
    "dtmf_sequence",
    "dtmf_tone",
    "tone",
]


@dataclass(frozen=True, slots=True)
class ToneSegment:
    """``duration_ms`` of the sum of ``frequencies`` (none: a pause)."""

    duration_ms: int
    frequencies: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.duration_ms <= 0:
            raise ValueError(f"tone segment duration must be positive, not {self.duration_ms}")
        if len(self.frequencies) > 2:
            raise ValueError("a tone segment sums at most two frequencies")


@dataclass(frozen=True, slots=True)
class ToneSpec:
    """A tone: segments played in order at ``level_dbm0`` per frequency, repeated or once."""

    segments: tuple[ToneSegment, ...]
    level_dbm0: float = -13.0
    repeat: bool = True

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a tone needs at least one segment")

    @classmethod
    def cadenced(
        cls,
        frequencies: Sequence[float],
        level_dbm0: float,
        cadence: Sequence[int] = (),
        *,
        repeat: bool = True,
    ) -> ToneSpec:
        """The usual call-progress form: ``cadence`` alternates on and off times in ms.

        An empty cadence is a continuous tone.
        """
        freqs = tuple(float(f) for f in frequencies)
        if not cadence:
            return cls((ToneSegment(1000, freqs),), level_dbm0, repeat=True)
        segments = tuple(
            ToneSegment(ms, freqs if i % 2 == 0 else ()) for i, ms in enumerate(cadence)
        )
        return cls(segments, level_dbm0, repeat=repeat)

    @property
    def duration_ms(self) -> int:
        """Length of one cycle of the cadence."""
        return sum(s.duration_ms for s in self.segments)


class ToneGenerator:
    """Streams a :class:`ToneSpec` as int16 PCM at ``sample_rate``.

    ``read(n)`` returns the next ``n`` samples; once a non-repeating tone has ended it returns
    silence and :attr:`finished` is true.
    """

    __slots__ = ("_amplitudes", "_bounds", "_frequencies", "_position", "_repeat",
                 "_total", "sample_rate", "spec")

    def __init__(self, spec: ToneSpec, sample_rate: int = 8000) -> None:
        self.spec = spec
        self.sample_rate = sample_rate
        lengths = [s.duration_ms * sample_rate // 1000 for s in spec.segments]
        self._bounds = np.cumsum(lengths, dtype=np.int64)
        self._total = int(self._bounds[-1])
        peak = dbm0_to_peak(spec.level_dbm0)
        # Pad every segment to two components; absent ones get amplitude 0.
        freqs = np.zeros((len(spec.segments), 2))
        amps = np.zeros((len(spec.segments), 2))
        for row, segment in enumerate(spec.segments):
            for col, f in enumerate(segment.frequencies):
                freqs[row, col] = f
                amps[row, col] = peak
        self._frequencies = freqs
        self._amplitudes = amps
        self._repeat = spec.repeat
        self._position = 0

    @property
    def finished(self) -> bool:
        return not self._repeat and self._position >= self._total

    def read(self, samples: int) -> Pcm:
        """The next ``samples`` samples of the tone."""
        t = np.arange(self._position, self._position + samples, dtype=np.int64)
        self._position += samples
        offset = t % self._total if self._repeat else t
        segment = np.searchsorted(self._bounds, offset, side="right")
        playing = segment < len(self._bounds)
        segment = np.minimum(segment, len(self._bounds) - 1)
        # Phase comes from the absolute sample index, so a frequency that carries on across
        # segments (or across the cadence repeat) stays continuous; wrapping at whole hours
        # keeps float precision and is seamless for frequencies in hundredths of a hertz.
        seconds = (t % (self.sample_rate * 3600)) / self.sample_rate
        angle = 2.0 * np.pi * self._frequencies[segment] * seconds[:, None]
        out = (self._amplitudes[segment] * np.sin(angle)).sum(axis=1)
        out[~playing] = 0.0
        return saturate(out)

    def reset(self) -> None:
        self._position = 0


def _tone(freqs: Iterable[float], level: float, cadence: Sequence[int] = ()) -> ToneSpec:
    return ToneSpec.cadenced(tuple(freqs), level, cadence)


def _plan(
    dial: ToneSpec, ringback: ToneSpec, busy: ToneSpec, congestion: ToneSpec,
    call_waiting: ToneSpec,
) -> dict[str, ToneSpec]:
    return {
        "dial": dial,
        "ringback": ringback,
        "busy": busy,
        "congestion": congestion,
        "call-waiting": call_waiting,
    }


#: Call-progress tones by ISO 3166 country code.
TONE_PLANS: dict[str, dict[str, ToneSpec]] = {
    "us": _plan(  # North America, ANSI T1.401 / Telcordia: "precise tone plan"
        _tone((350, 440), -13),
        _tone((440, 480), -19, (2000, 4000)),
        _tone((480, 620), -24, (500, 500)),
        _tone((480, 620), -24, (250, 250)),
        _tone((440,), -13, (300, 9700)),
    ),
    "uk": _plan(
        _tone((350, 440), -13),
        _tone((400, 450), -19, (400, 200, 400, 2000)),
        _tone((400,), -19, (375, 375)),
        _tone((400,), -19, (400, 350, 225, 525)),
        _tone((400,), -19, (100, 3000)),
    ),
    "de": _plan(
        _tone((425,), -13),
        _tone((425,), -13, (1000, 4000)),
        _tone((425,), -13, (480, 480)),
        _tone((425,), -13, (240, 240)),
        _tone((425,), -13, (200, 200, 200, 5000)),
    ),
    "fr": _plan(
        _tone((440,), -13),
        _tone((440,), -13, (1500, 3500)),
        _tone((440,), -13, (500, 500)),
        _tone((440,), -13, (250, 250)),
        _tone((440,), -13, (300, 10000)),
    ),
    "it": _plan(
        _tone((425,), -13, (200, 200, 600, 1000)),
        _tone((425,), -13, (1000, 4000)),
        _tone((425,), -13, (500, 500)),
        _tone((425,), -13, (200, 200)),
        _tone((425,), -13, (400, 100, 250, 100, 150, 14000)),
    ),
    "es": _plan(
        _tone((425,), -13),
        _tone((425,), -13, (1500, 3000)),
        _tone((425,), -13, (200, 200)),
        _tone((425,), -13, (200, 200, 200, 200, 200, 600)),
        _tone((425,), -13, (175, 175, 175, 3500)),
    ),
    "nl": _plan(
        _tone((425,), -13),
        _tone((425,), -13, (1000, 4000)),
        _tone((425,), -13, (500, 500)),
        _tone((425,), -13, (250, 250)),
        _tone((425,), -13, (500, 9500)),
    ),
    "ru": _plan(
        _tone((425,), -13),
        _tone((425,), -13, (800, 3200)),
        _tone((425,), -13, (350, 350)),
        _tone((425,), -13, (175, 175)),
        _tone((425,), -13, (200, 5000)),
    ),
    "cn": _plan(
        _tone((450,), -10),
        _tone((450,), -10, (1000, 4000)),
        _tone((450,), -10, (350, 350)),
        _tone((450,), -10, (700, 700)),
        _tone((450,), -10, (400, 4000)),
    ),
    "jp": _plan(
        _tone((400,), -13),
        _tone((392, 408), -16, (1000, 2000)),  # 400 Hz modulated by 16 Hz
        _tone((400,), -13, (500, 500)),
        _tone((400,), -13, (500, 500)),
        _tone((400,), -13, (100, 100, 100, 3000)),
    ),
    "in": _plan(
        _tone((375, 425), -16),  # 400 Hz modulated by 25 Hz
        _tone((400, 450), -16, (400, 200, 400, 2000)),
        _tone((400,), -13, (750, 750)),
        _tone((400,), -13, (250, 250)),
        _tone((400,), -13, (200, 100, 200, 7500)),
    ),
    "au": _plan(
        _tone((413, 438), -16),  # 425 Hz modulated by 25 Hz
        _tone((413, 438), -16, (400, 200, 400, 2000)),
        _tone((425,), -13, (375, 375)),
        _tone((425,), -13, (375, 375)),
        _tone((425,), -13, (200, 200, 200, 4400)),
    ),
    "br": _plan(
        _tone((425,), -13),
        _tone((425,), -13, (1000, 4000)),
        _tone((425,), -13, (250, 250)),
        _tone((425,), -13, (750, 250, 250, 250)),
        _tone((425,), -13, (50, 1000)),
    ),
}
TONE_PLANS["ca"] = TONE_PLANS["us"]
TONE_PLANS["gb"] = TONE_PLANS["uk"]

#: Tones that are the same everywhere: a music-on-hold substitute and conference cues.
NAMED_TONES: dict[str, ToneSpec] = {
    # A soft rising arpeggio (A4, C#5, E5) every 4 s: clearly "you are still connected".
    "hold": ToneSpec(
        (
            ToneSegment(250, (440.0,)),
            ToneSegment(50),
            ToneSegment(250, (554.37,)),
            ToneSegment(50),
            ToneSegment(400, (659.25,)),
            ToneSegment(3000),
        ),
        level_dbm0=-20.0,
    ),
    "beep": ToneSpec((ToneSegment(200, (1000.0,)),), level_dbm0=-13.0, repeat=False),
    "join": ToneSpec(
        (ToneSegment(120, (600.0,)), ToneSegment(120, (900.0,))), level_dbm0=-16.0,
        repeat=False,
    ),
    "leave": ToneSpec(
        (ToneSegment(120, (900.0,)), ToneSegment(120, (600.0,))), level_dbm0=-16.0,
        repeat=False,
    ),
}


def countries() -> list[str]:
    """Country codes with a tone plan."""
    return sorted(TONE_PLANS)


def tone(name: str, country: str = "us") -> ToneSpec:
    """The tone ``name`` (dial, ringback, busy, congestion, call-waiting, hold, beep, join,
    leave) of ``country``'s plan; :class:`KeyError` with the known names otherwise."""
    key = name.casefold()
    if key in NAMED_TONES:
        return NAMED_TONES[key]
    plan = TONE_PLANS.get(country.casefold())
    if plan is None:
        raise KeyError(f"no tone plan for country {country!r}; known: {', '.join(countries())}")
    if key not in plan:
        known = sorted([*plan, *NAMED_TONES])
        raise KeyError(f"unknown tone {name!r}; known: {', '.join(known)}")
    return plan[key]


#: Q.23 keypad: (low-group row, high-group column) frequencies in Hz.
DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (DTMF_ROWS[r], DTMF_COLUMNS[c])
    for r, keys in enumerate(DTMF_KEYS)
    for c, key in enumerate(keys)
}


def dtmf_tone(
    digit: str,
    ms: int = 100,
    *,
    sample_rate: int = 8000,
    level_dbm0: float = -7.0,
    twist_db: float = 2.0,
) -> Pcm:
    """``ms`` of the DTMF tone for ``digit`` (0-9, *, #, A-D).

    The low-group tone is at ``level_dbm0`` and the high-group one ``twist_db`` louder, the
    nominal Q.23 sending levels (-7 and -5 dBm0 per frequency), well inside every receiver's
    acceptance window.
    """
    try:
        low, high = DTMF_FREQUENCIES[digit.upper()]
    except KeyError:
        raise KeyError(f"not a DTMF digit: {digit!r} (0-9, *, #, A-D)") from None
    t = np.arange(ms * sample_rate // 1000) / sample_rate
    out = dbm0_to_peak(level_dbm0) * np.sin(2 * np.pi * low * t)
    out += dbm0_to_peak(level_dbm0 + twist_db) * np.sin(2 * np.pi * high * t)
    return saturate(out)


def dtmf_sequence(
    digits: str, on_ms: int = 100, off_ms: int = 60, *, sample_rate: int = 8000,
    level_dbm0: float = -7.0,
) -> Pcm:
    """A dialled string: each digit for ``on_ms`` followed by ``off_ms`` of silence."""
    gap = np.zeros(off_ms * sample_rate // 1000, dtype=np.int16)
    parts: list[Pcm] = []
    for digit in digits:
        parts += [dtmf_tone(digit, on_ms, sample_rate=sample_rate, level_dbm0=level_dbm0), gap]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
