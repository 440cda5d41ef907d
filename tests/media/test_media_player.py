"""pycc.media.player: prompt files, tones and playlists as 20 ms graph frames.

- prompts made here with PyAV (WAV, MP3, Ogg/Opus, FLAC; mono and stereo, several rates) play
  back at 8, 16 and 48 kHz as whole 20 ms frames with the right frequency (FFT), level and
  length, then finish; looping has no seam (checked sample by sample and with Hypothesis);
- the prompt cache decodes a file once per (path, mtime, rate), concurrent opens share one
  decode, a rewritten file is decoded again;
- a missing, garbage, empty or over-long file is one clear :class:`PromptError` naming it;
- tones: the US busy cadence (480+620 Hz, 0.5 s on, 0.5 s off) by energy per 100 ms, durations,
  finite cues, DTMF digits by their two frequencies;
- playlists chain players without a gap; ``stop`` ends everything, ``on_finished`` fires once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.dsp.pcm import Pcm
from pycc.dsp.tones import ToneSegment, ToneSpec
from pycc.media.player import (
    DecodedPrompt,
    FilePlayer,
    Playlist,
    PromptCache,
    PromptError,
    TonePlayer,
    decode_prompt,
)

RATES = (8000, 16000, 48000)
TONE_HZ = 440.0
AMPLITUDE = 8000.0


def sine(freq: float, rate: int, seconds: float, amplitude: float = AMPLITUDE) -> Pcm:
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def write_audio(path: Path, container_format: str, codec: str, rate: int, channels: int,
                pcm: Pcm) -> Path:
    """Encode mono ``pcm`` (copied to every channel) into ``path`` with PyAV."""
    layout = "mono" if channels == 1 else "stereo"
    samples = np.repeat(pcm[:, None], channels, axis=1)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


#: (file suffix, container, codec, file rate, channels)
FORMATS = {
    "wav": ("wav", "wav", "pcm_s16le", 16000, 1),
    "mp3": ("mp3", "mp3", "mp3", 44100, 2),
    "ogg": ("ogg", "ogg", "libopus", 48000, 1),
    "flac": ("flac", "flac", "flac", 22050, 2),
}


def make_prompt(directory: Path, kind: str, seconds: float = 1.0, freq: float = TONE_HZ,
                name: str = "prompt") -> Path:
    suffix, container, codec, rate, channels = FORMATS[kind]
    return write_audio(directory / f"{name}.{suffix}", container, codec, rate, channels,
                       sine(freq, rate, seconds))


def drain(player: FilePlayer | TonePlayer | Playlist, limit: int = 100_000) -> list[Pcm]:
    frames: list[Pcm] = []
    for n in range(limit):
        frame = player.read(n * 0.02)
        if frame is None:
            break
        frames.append(frame)
    return frames


def read_frames(player: FilePlayer | TonePlayer, count: int) -> list[Pcm]:
    """``count`` frames that must all be there."""
    frames = [player.read(n * 0.02) for n in range(count)]
    assert all(f is not None for f in frames)
    return [f for f in frames if f is not None]


def peak_frequencies(pcm: npt.NDArray[np.generic], rate: int, count: int = 1) -> list[float]:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    found: list[float] = []
    for _ in range(count):
        i = int(np.argmax(spectrum))
        found.append(float(freqs[i]))
        # Blank the peak's main lobe so the next strongest component can be found.
        width = max(3, int(30 * len(pcm) / rate))
        spectrum[max(0, i - width):i + width + 1] = 0
    return sorted(found)


def rms(pcm: npt.NDArray[np.generic]) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


# -- prompt files ----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_prompt_plays_at_the_consumers_rate(tmp_path: Path, kind: str, rate: int) -> None:
    path = make_prompt(tmp_path, kind)

    player = asyncio.run(FilePlayer.open(path, rate, cache=PromptCache()))
    frames = drain(player)

    assert player.finished
    assert player.read(100.0) is None
    assert all(f.dtype == np.int16 and f.shape == (rate // 50,) for f in frames)
    pcm = np.concatenate(frames)
    # One second of audio, rounded up to whole frames; lossy codecs may add a few ms.
    assert abs(len(pcm) - rate) <= 0.05 * rate
    assert player.position == pytest.approx(player.prompt.duration)
    body = pcm[rate // 10: rate * 9 // 10]
    assert peak_frequencies(body, rate) == [pytest.approx(TONE_HZ, abs=2.0)]
    # Down-mixing identical channels to mono keeps the level (no +6 dB, no -3 dB).
    assert rms(body) == pytest.approx(AMPLITUDE / np.sqrt(2), rel=0.15)


def test_wav_prompt_is_sample_exact_at_its_own_rate(tmp_path: Path) -> None:
    source = sine(1000.0, 8000, 0.5)
    path = write_audio(tmp_path / "exact.wav", "wav", "pcm_s16le", 8000, 1, source)

    prompt = decode_prompt(path, 8000)

    np.testing.assert_array_equal(prompt.pcm, source)
    assert not prompt.pcm.flags.writeable  # shared through the cache: nobody may change it
    frames = drain(FilePlayer(path, 8000, prompt=prompt))
    padded = np.zeros(-(-len(source) // 160) * 160, dtype=np.int16)
    padded[:len(source)] = source
    np.testing.assert_array_equal(np.concatenate(frames), padded)


def test_looping_prompt_restarts_without_a_seam() -> None:
    ramp = np.arange(250, dtype=np.int16)  # not a whole number of 160-sample frames
    player = FilePlayer("ramp", 8000, loop=True, prompt=DecodedPrompt("ramp", 8000, ramp))

    pcm = np.concatenate(read_frames(player, 40))

    np.testing.assert_array_equal(pcm, np.resize(ramp, len(pcm)))
    assert not player.finished
    assert player.position == pytest.approx((40 * 160 % 250) / 8000)


@settings(max_examples=150, deadline=None)
@given(length=st.integers(1, 2000), frame_count=st.integers(1, 40), loop=st.booleans())
def test_frames_are_the_prompt_in_order(length: int, frame_count: int, loop: bool) -> None:
    pcm = (np.arange(length) % 30000 + 1).astype(np.int16)
    player = FilePlayer("p", 8000, loop=loop, prompt=DecodedPrompt("p", 8000, pcm))

    frames = [player.read(0.0) for _ in range(frame_count)]

    played = [f for f in frames if f is not None]
    assert all(f.shape == (160,) for f in played)
    out = np.concatenate(played) if played else np.zeros(0, dtype=np.int16)
    if loop:
        assert len(played) == frame_count
        np.testing.assert_array_equal(out, np.resize(pcm, len(out)))
    else:
        whole = -(-length // 160)
        assert len(played) == min(frame_count, whole)
        expected = np.zeros(whole * 160, dtype=np.int16)
        expected[:length] = pcm
        np.testing.assert_array_equal(out, expected[:len(out)])
        assert player.finished == (frame_count >= whole)
        # A None only ever comes after the end.
        assert all(f is None for f in frames[len(played):])


def test_stop_finishes_and_notifies_once() -> None:
    player = FilePlayer("p", 16000, prompt=DecodedPrompt("p", 16000, sine(500, 16000, 1.0)))
    calls: list[str] = []
    player.on_finished = lambda: calls.append("done")

    assert player.read(0.0) is not None
    player.stop()
    player.stop()

    assert player.finished
    assert player.read(0.02) is None
    assert calls == ["done"]


def test_frames_are_copies_not_views_of_the_shared_prompt() -> None:
    pcm = sine(500, 8000, 0.1)
    pcm.flags.writeable = False
    player = FilePlayer("p", 8000, prompt=DecodedPrompt("p", 8000, pcm))
    frame = player.read(0.0)
    assert frame is not None
    frame[:] = 0  # a consumer mixing in place must not damage other callers' prompt
    assert np.any(pcm[:160] != 0)


# -- the cache -------------------------------------------------------------------------------


def test_cache_decodes_a_prompt_once_per_rate(tmp_path: Path) -> None:
    path = make_prompt(tmp_path, "wav")
    cache = PromptCache()

    async def scenario() -> tuple[FilePlayer, ...]:
        first = await FilePlayer.open(path, 8000, cache=cache)
        second = await FilePlayer.open(str(path), 8000, cache=cache)
        wide = await FilePlayer.open(path, 16000, cache=cache)
        return first, second, wide

    first, second, wide = asyncio.run(scenario())

    assert first.prompt is second.prompt
    assert wide.prompt is not first.prompt and wide.prompt.rate == 16000
    assert (cache.hits, cache.decodes, len(cache)) == (1, 2, 2)
    # Players share the decoded audio but not their position.
    first.read(0.0)
    assert second.position == 0.0 and first.position == pytest.approx(0.02)


def test_concurrent_opens_share_one_decode(tmp_path: Path) -> None:
    path = make_prompt(tmp_path, "mp3")
    cache = PromptCache()

    async def scenario() -> list[FilePlayer]:
        return await asyncio.gather(*(FilePlayer.open(path, 8000, cache=cache)
                                      for _ in range(8)))

    players = asyncio.run(scenario())

    assert cache.decodes == 1
    assert all(p.prompt is players[0].prompt for p in players)


def test_rewritten_prompt_is_decoded_again(tmp_path: Path) -> None:
    cache = PromptCache()
    path = make_prompt(tmp_path, "wav", freq=440.0)
    before = FilePlayer(path, 8000, cache=cache)
    make_prompt(tmp_path, "wav", freq=1000.0)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    after = FilePlayer(path, 8000, cache=cache)

    assert cache.decodes == 2
    assert peak_frequencies(before.prompt.pcm, 8000) == [pytest.approx(440, abs=2)]
    assert peak_frequencies(after.prompt.pcm, 8000) == [pytest.approx(1000, abs=2)]


def test_cache_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = PromptCache(max_entries=2)
    paths = [make_prompt(tmp_path, "wav", seconds=0.1, name=f"p{i}") for i in range(3)]
    cache.load(paths[0], 8000)
    cache.load(paths[1], 8000)
    cache.load(paths[0], 8000)  # p0 is now the most recent
    cache.load(paths[2], 8000)  # evicts p1

    cache.load(paths[0], 8000)
    cache.load(paths[1], 8000)

    assert cache.decodes == 4
    assert len(cache) == 2


# -- bad files -------------------------------------------------------------------------------


def open_error(path: Path, max_seconds: float = 3600.0) -> PromptError:
    with pytest.raises(PromptError) as info:
        asyncio.run(FilePlayer.open(path, 8000, cache=PromptCache(), max_seconds=max_seconds))
    return info.value


def test_missing_prompt_is_a_clear_error(tmp_path: Path) -> None:
    error = open_error(tmp_path / "nope.wav")

    assert isinstance(error, ValueError)
    assert "nope.wav" in str(error) and "no such file" in str(error)


def test_garbage_prompt_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(7).bytes(4096))

    error = open_error(path)

    assert error.source == str(path)
    assert "garbage.wav" in str(error)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVE", b"hello, world\n" * 50])
def test_empty_or_truncated_prompt_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)

    assert "broken.wav" in str(open_error(path))


def test_directory_is_not_a_prompt(tmp_path: Path) -> None:
    assert "not a regular file" in str(open_error(tmp_path))


def test_prompt_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = make_prompt(tmp_path, "wav", seconds=3.0)

    # Refused from the container's stated length, before decoding...
    error = open_error(path, max_seconds=1.0)
    assert "limit" in str(error) and "prompt.wav" in str(error)
    # ...and, within the margin for inexact container lengths, while decoding.
    with pytest.raises(PromptError, match="limit"):
        decode_prompt(path, 8000, max_seconds=2.5)
    assert decode_prompt(path, 8000, max_seconds=3.0).duration == pytest.approx(3.0)


def test_cached_prompt_still_honours_a_stricter_limit(tmp_path: Path) -> None:
    cache = PromptCache()
    path = make_prompt(tmp_path, "wav", seconds=2.0)
    FilePlayer(path, 8000, cache=cache)

    with pytest.raises(PromptError, match="limit"):
        FilePlayer(path, 8000, cache=cache, max_seconds=1.0)


# -- tones -----------------------------------------------------------------------------------


def energy_per_100ms(pcm: Pcm, rate: int) -> list[float]:
    windows = pcm[: len(pcm) // (rate // 10) * (rate // 10)].reshape(-1, rate // 10)
    return [rms(w) for w in windows]


@pytest.mark.parametrize("rate", RATES)
def test_us_busy_cadence(rate: int) -> None:
    player = TonePlayer("busy", rate, country="us")

    pcm = np.concatenate(read_frames(player, 100))

    energy = energy_per_100ms(pcm, rate)
    on = [e for i, e in enumerate(energy) if (i // 5) % 2 == 0]
    off = [e for i, e in enumerate(energy) if (i // 5) % 2 == 1]
    assert len(on) == len(off) == 10
    assert min(on) > 1000  # -24 dBm0 per frequency: about 1450 rms for the pair
    assert max(off) == 0.0
    assert peak_frequencies(pcm[: rate // 2], rate, count=2) == [
        pytest.approx(480, abs=3), pytest.approx(620, abs=3)]
    assert not player.finished  # busy repeats until stopped


def test_tone_duration_ends_the_player() -> None:
    player = TonePlayer("ringback", 16000, duration=1.01)

    frames = drain(player)

    # 1.01 s rounds up to 51 frames; the part of the last one past 1.01 s is silent.
    assert len(frames) == 51
    assert player.finished and player.position == pytest.approx(1.02)
    assert np.all(frames[-1][160:] == 0) and np.any(frames[-1][:160] != 0)


def test_finite_cue_finishes_by_itself() -> None:
    player = TonePlayer("beep", 48000)

    frames = drain(player)

    assert len(frames) == 10  # 200 ms of 1 kHz
    assert peak_frequencies(np.concatenate(frames), 48000) == [pytest.approx(1000, abs=3)]


def test_tone_spec_is_played_as_given() -> None:
    spec = ToneSpec((ToneSegment(100, (1500.0,)), ToneSegment(60)), repeat=False)

    frames = drain(TonePlayer(spec, 8000))

    assert len(frames) == 8
    pcm = np.concatenate(frames)
    assert rms(pcm[800:]) == 0.0
    assert peak_frequencies(pcm[:800], 8000) == [pytest.approx(1500, abs=10)]


@pytest.mark.parametrize(("name", "low", "high"), [("5", 770, 1336), ("dtmf:d", 941, 1633),
                                                   ("#", 941, 1477)])
def test_dtmf_digit(name: str, low: float, high: float) -> None:
    player = TonePlayer(name, 8000)

    frames = drain(player)

    assert len(frames) == 8  # 100 ms on, 60 ms off
    pcm = np.concatenate(frames)
    assert peak_frequencies(pcm[:800], 8000, count=2) == [
        pytest.approx(low, abs=10), pytest.approx(high, abs=10)]
    assert rms(pcm[800:]) == 0.0


@pytest.mark.parametrize("name", ["nosuchtone", "dtmf:", "dtmf:12x"])
def test_unknown_tone_is_a_clear_error(name: str) -> None:
    with pytest.raises(PromptError, match=name.split(":")[0]):
        TonePlayer(name, 8000)


def test_unknown_country_is_a_clear_error() -> None:
    with pytest.raises(PromptError, match="atlantis"):
        TonePlayer("busy", 8000, country="atlantis")


# -- playlists -------------------------------------------------------------------------------


class Gappy:
    """A source that is silent (None) on odd frames without being finished, for 6 frames."""

    rate = 8000

    def __init__(self) -> None:
        self.reads = 0
        self.finished = False
        self.position = 0.0

    def read(self, now: float) -> Pcm | None:
        self.reads += 1
        if self.reads >= 6:
            self.finished = True
        return None if self.reads % 2 else np.full(160, 7, dtype=np.int16)

    def stop(self) -> None:
        self.finished = True


def test_playlist_plays_prompt_then_tone_without_a_gap() -> None:
    prompt = FilePlayer("p", 8000, prompt=DecodedPrompt("p", 8000, sine(500, 8000, 0.3)))
    beep = TonePlayer("beep", 8000)
    playlist = Playlist([prompt, beep])
    finished: list[bool] = []
    playlist.on_finished = lambda: finished.append(True)

    frames = drain(playlist)

    assert len(frames) == 15 + 10
    pcm = np.concatenate(frames)
    assert peak_frequencies(pcm[:2400], 8000) == [pytest.approx(500, abs=5)]
    assert peak_frequencies(pcm[2400:], 8000) == [pytest.approx(1000, abs=5)]
    assert playlist.finished and prompt.finished and beep.finished
    assert playlist.position == pytest.approx(0.5)
    assert finished == [True]


def test_playlist_passes_silence_of_an_unfinished_source() -> None:
    gappy = Gappy()
    playlist = Playlist([gappy, TonePlayer("beep", 8000)])

    frames: Sequence[Pcm | None] = [playlist.read(0.0) for _ in range(8)]

    assert [f is None for f in frames[:6]] == [True, False] * 3
    assert frames[6] is not None and frames[6][0] == 0 and np.any(frames[6] != 7)
    assert not playlist.finished


def test_playlist_stop_stops_every_source() -> None:
    tones = [TonePlayer("ringback", 8000), TonePlayer("busy", 8000)]
    playlist = Playlist(tones)
    playlist.read(0.0)

    playlist.stop()

    assert playlist.finished and all(t.finished for t in tones)
    assert playlist.read(0.02) is None


def test_playlist_needs_one_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        Playlist([TonePlayer("beep", 8000), TonePlayer("beep", 16000)])
    with pytest.raises(ValueError):
        Playlist([])
