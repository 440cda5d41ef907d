"""WAV helpers for media tests: make a test tone, and check which tone a recording holds.

The phones in the tests play a tone from a WAV file and record what they hear; a test then
asserts on the recorded frequency (not just that a file exists), so a call that carried
silence, noise or the wrong direction's audio fails.

Every analysis takes the WAV's own sample rate and mixes its channels to mono first: baresip
records G.711 at 8 kHz mono, G.722 at 16 kHz mono and Opus at 48 kHz stereo.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]

# Frames quieter than this fraction of the loudest one count as silence (call set-up, the
# jitter buffer filling, the end after the far side hung up).
_SILENCE_FRACTION = 0.1
_FRAME_SECONDS = 0.02


def write_tone_wav(
    path: Path,
    freq_hz: float,
    seconds: float,
    rate: int = 8000,
    channels: int = 1,
    *,
    amplitude: float = 0.5,
) -> Path:
    """Write a sine tone as 16-bit PCM WAV (8 kHz mono by default, what G.711 carries).

    Every channel carries the same tone: 48 kHz stereo is what baresip's Opus wants, 16 kHz
    mono what its G.722 wants.
    """
    if not 0 < freq_hz < rate / 2:
        raise ValueError(f"{freq_hz} Hz cannot be represented at {rate} Hz")
    count = round(seconds * rate)
    t = np.arange(count, dtype=np.float64) / rate
    tone = amplitude * np.sin(2 * np.pi * freq_hz * t)
    pcm = np.round(tone * 32767).astype("<i2")
    frames = np.repeat(pcm[:, None], channels, axis=1).reshape(-1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return path


def wav_format(path: Path) -> tuple[int, int, int]:
    """A WAV file's (sample rate, channels, bits per sample)."""
    with wave.open(str(path), "rb") as wav:
        return wav.getframerate(), wav.getnchannels(), 8 * wav.getsampwidth()


def write_silence_wav(path: Path, seconds: float, rate: int = 8000, channels: int = 1) -> Path:
    """Write ``seconds`` of digital silence as 16-bit PCM WAV."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * channels * round(seconds * rate))
    return path


def resample(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """Band-limited resampling by zero-padding or truncating the spectrum.

    Exact for the periodic test tones used here, and free of the images linear
    interpolation would add (a 1 kHz tone taken from 8 to 48 kHz must not grow a 7 kHz one).
    """
    if from_rate == to_rate or len(samples) == 0:
        return samples
    count = round(len(samples) * to_rate / from_rate)
    spectrum = np.fft.rfft(samples)
    bins = count // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), spectrum.dtype)])
    return (np.fft.irfft(spectrum, count) * (count / len(samples))).astype(np.float64)


def convert_wav(source: Path, target: Path, rate: int, channels: int) -> Path:
    """Copy a 16-bit WAV to ``target`` at ``rate`` Hz with ``channels`` identical channels.

    The source's channels are mixed to mono first; a stereo source therefore loses its stereo
    image, which the tones these tests use do not have.
    """
    samples, source_rate = read_wav(source)
    converted = resample(samples, source_rate, rate)
    pcm = np.round(np.clip(converted, -1.0, 32767 / 32768) * 32768).astype("<i2")
    frames = np.repeat(pcm[:, None], channels, axis=1).reshape(-1)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return target


def read_wav(path: Path) -> tuple[Samples, int]:
    """Samples of a 16-bit PCM WAV as floats in [-1, 1], channels averaged; and the rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is supported")
        rate = wav.getframerate()
        channels = wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels).mean(axis=1)
    return pcm, rate


def active_part(samples: Samples, rate: int) -> Samples:
    """The samples from the first to the last frame that is not silence."""
    frame = max(1, int(rate * _FRAME_SECONDS))
    usable = len(samples) - len(samples) % frame
    if usable == 0:
        return samples
    energy = np.sqrt(np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1))
    loudest = float(energy.max())
    if loudest == 0.0:
        return samples[:0]
    loud = np.flatnonzero(energy >= loudest * _SILENCE_FRACTION)
    return samples[int(loud[0]) * frame : (int(loud[-1]) + 1) * frame]


def active_seconds(path: Path) -> float:
    """How many seconds of the recording are not silence."""
    samples, rate = read_wav(path)
    return len(active_part(samples, rate)) / rate


def _spectrum(samples: Samples, rate: int) -> tuple[Samples, Samples]:
    windowed = (samples - samples.mean()) * np.hanning(len(samples))
    power = (np.abs(np.fft.rfft(windowed)) ** 2).astype(np.float64)
    freqs = np.fft.rfftfreq(len(samples), 1.0 / rate).astype(np.float64)
    return freqs, power


def dominant_frequency(path: Path) -> float:
    """The strongest frequency (Hz) in the non-silent part of a WAV file; 0.0 when silent."""
    samples, rate = read_wav(path)
    active = active_part(samples, rate)
    if len(active) < 16:
        return 0.0
    freqs, power = _spectrum(active, rate)
    peak = int(np.argmax(power[1:])) + 1
    # Parabolic interpolation on the log power around the peak: sub-bin accuracy.
    if 1 <= peak < len(power) - 1:
        a, b, c = np.log(power[peak - 1 : peak + 2] + 1e-30)
        denominator = a - 2 * b + c
        offset = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
        return float(freqs[peak] + offset * (freqs[1] - freqs[0]))
    return float(freqs[peak])


def tone_energy_ratio(path: Path, freq_hz: float, tolerance_hz: float = 20.0) -> float:
    """Share of the non-silent part's energy within ``freq_hz ± tolerance_hz`` (0..1)."""
    samples, rate = read_wav(path)
    active = active_part(samples, rate)
    if len(active) < 16:
        return 0.0
    freqs, power = _spectrum(active, rate)
    total = float(power.sum())
    if total == 0.0:
        return 0.0
    band = (freqs >= freq_hz - tolerance_hz) & (freqs <= freq_hz + tolerance_hz)
    return float(power[band].sum()) / total


def tone_present(
    path: Path,
    freq_hz: float,
    tolerance_hz: float = 20.0,
    *,
    min_seconds: float = 0.2,
    min_energy_ratio: float = 0.5,
) -> bool:
    """True when the recording holds mostly a ``freq_hz`` tone for at least ``min_seconds``.

    The tone must be the dominant frequency (within ``tolerance_hz``) and carry at least
    ``min_energy_ratio`` of the energy: G.711 and resampling add a little noise, but a wrong
    tone, noise or a mix of both directions fails.
    """
    if active_seconds(path) < min_seconds:
        return False
    if abs(dominant_frequency(path) - freq_hz) > tolerance_hz:
        return False
    return tone_energy_ratio(path, freq_hz, tolerance_hz) >= min_energy_ratio
