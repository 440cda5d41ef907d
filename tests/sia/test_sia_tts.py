"""Text to speech through the real espeak-ng: rendering, the cache, and its absence."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from pycc.sia.tts import Tts, TtsError, TtsUnavailable


def wav(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as file:
        rate, channels = file.getframerate(), file.getnchannels()
        samples = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    return rate, channels, samples


@pytest.mark.parametrize("rate", [8000, 16000])
def test_render_writes_speech_at_the_rate_and_caches_it(tmp_path: Path, rate: int) -> None:
    tts = Tts(tmp_path / "cache", rate=rate)

    async def main() -> tuple[Path, Path, Path]:
        first = await tts.render("Press one for sales")
        again = await tts.render("Press one for sales")
        other = await tts.render("Press two for support")
        return first, again, other

    first, again, other = asyncio.run(main())
    assert first == again == tts.path_for("Press one for sales")
    assert other != first
    got_rate, channels, samples = wav(first)
    assert (got_rate, channels) == (rate, 1)
    assert 0.5 * rate < len(samples) < 4 * rate  # about a second of speech
    assert np.abs(samples).max() > 3000  # speech, not silence
    # Only finished files are in the cache; nothing is left aside.
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [first.name, other.name])


def test_the_cache_is_used_without_running_espeak_again(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tts = Tts(tmp_path, voice="en-us")
    first = asyncio.run(tts.render("Hello"))
    stamp = first.stat().st_mtime_ns
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    assert asyncio.run(tts.render("Hello")) == first  # from the cache: espeak-ng not needed
    assert first.stat().st_mtime_ns == stamp
    with pytest.raises(TtsUnavailable, match="espeak-ng is not installed"):
        asyncio.run(tts.render("Something new"))


def test_voice_and_rate_are_part_of_the_cache_key(tmp_path: Path) -> None:
    paths = {Tts(tmp_path, voice=v, rate=r).path_for("hi") for v in ("en", "de")
             for r in (8000, 16000)}
    assert len(paths) == 4


def test_concurrent_renders_of_one_text_share_the_work(tmp_path: Path) -> None:
    tts = Tts(tmp_path)

    async def main() -> list[Path]:
        return list(await asyncio.gather(*(tts.render("Please hold") for _ in range(4))))

    paths = asyncio.run(main())
    assert len(set(paths)) == 1 and paths[0].exists()
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="8000 or 16000"):
        Tts(tmp_path, rate=44100)
    with pytest.raises(ValueError, match="not an espeak-ng voice"):
        Tts(tmp_path, voice="en; rm -rf /")
    tts = Tts(tmp_path)
    with pytest.raises(TtsError, match="empty"):
        asyncio.run(tts.render("   "))
    with pytest.raises(TtsError, match="longer than"):
        asyncio.run(tts.render("x" * 5000))
    with pytest.raises(TtsError, match="failed"):
        asyncio.run(Tts(tmp_path, voice="xx-nonexistent").render("hello"))
