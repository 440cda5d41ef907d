"""Text to speech for ``tts:`` prompts, through the espeak-ng program.

espeak-ng runs as an asyncio subprocess (the event loop never waits on it) and writes a WAV
at its own rate (22050 Hz), which is resampled once to the rate the calls mix at, so playing a
cached prompt costs no resampling. Files are cached under ``cache_dir`` by a hash of the text,
the voice and the rate: a prompt is synthesised once, then played from the cache. A file
appears in the cache only when complete (written aside, then renamed), so a crash never leaves
half a prompt behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import re
import shutil
import wave
from pathlib import Path

import numpy as np

from pycc.dsp.resample import resample

__all__ = ["Tts", "TtsError", "TtsUnavailable"]

#: espeak-ng voices: a language (``en``, ``en-us``), optionally a variant (``en+f3``).
_VOICE = re.compile(r"[A-Za-z0-9_-]{1,32}(?:\+[A-Za-z0-9_-]{1,32})?")
MAX_TEXT = 4000
_temp_names = itertools.count(1)


class TtsError(Exception):
    """A text could not be rendered to speech."""


class TtsUnavailable(TtsError):
    """espeak-ng is not installed."""


class Tts:
    """Renders text to WAV files at ``rate`` (8000 or 16000 Hz) with an espeak-ng voice."""

    def __init__(self, cache_dir: Path, voice: str = "en", rate: int = 8000, *,
                 timeout: float = 30.0, program: str = "espeak-ng") -> None:
        if rate not in (8000, 16000):
            raise ValueError(f"tts rate must be 8000 or 16000, not {rate}")
        if _VOICE.fullmatch(voice) is None:
            raise ValueError(f"not an espeak-ng voice name: {voice!r}")
        self.cache_dir = Path(cache_dir)
        self.voice = voice
        self.rate = rate
        self.timeout = timeout
        self.program = program
        self._pending: dict[Path, asyncio.Future[Path]] = {}

    def path_for(self, text: str) -> Path:
        """Where the speech of ``text`` is cached."""
        key = hashlib.sha256(f"{self.voice}\x00{self.rate}\x00{text}".encode()).hexdigest()
        return self.cache_dir / f"{key[:40]}.wav"

    async def render(self, text: str) -> Path:
        """The WAV file of ``text`` spoken (from the cache when it was rendered before)."""
        if not text.strip():
            raise TtsError("nothing to say: the text is empty")
        if len(text) > MAX_TEXT:
            raise TtsError(f"text longer than {MAX_TEXT} characters")
        path = self.path_for(text)
        if path.exists():
            return path
        # Calls asking for the same new prompt at once share one synthesis.
        pending = self._pending.get(path)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._pending[path] = future
        try:
            await self._synthesise(text, path)
        except BaseException as exc:
            # A render cancelled with its caller's call must not cancel the others waiting.
            shared = exc if isinstance(exc, Exception) else TtsError(
                f"rendering {text[:40]!r} was interrupted")
            future.set_exception(shared)
            # Nobody else may be waiting; retrieving the exception keeps the loop quiet.
            future.exception()
            raise
        else:
            future.set_result(path)
            return path
        finally:
            del self._pending[path]

    async def _synthesise(self, text: str, path: Path) -> None:
        program = shutil.which(self.program)
        if program is None:
            raise TtsUnavailable(
                f"{self.program} is not installed: tts: prompts need it "
                "(Debian/Ubuntu: apt install espeak-ng)")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        raw = path.with_name(f".{path.stem}.{os.getpid()}.{next(_temp_names)}.raw.wav")
        ready = raw.with_name(raw.name.replace(".raw.", ".tmp."))
        try:
            process = await asyncio.create_subprocess_exec(
                program, "-v", self.voice, "-w", str(raw), "--stdin",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            try:
                # The text goes on stdin, so nothing in it can be taken for an option.
                async with asyncio.timeout(self.timeout):
                    _, errors = await process.communicate(text.encode())
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                raise
            if process.returncode != 0:
                detail = errors.decode(errors="replace").strip() or "no message"
                raise TtsError(f"{self.program} failed (exit {process.returncode}): {detail}")
            await asyncio.to_thread(_convert, raw, ready, self.rate)
            os.replace(ready, path)
        except TimeoutError:
            raise TtsError(f"{self.program} took more than {self.timeout:g} s") from None
        finally:
            for leftover in (raw, ready):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


def _convert(source: Path, target: Path, rate: int) -> None:
    """Rewrite espeak-ng's 16-bit mono WAV at ``rate``."""
    try:
        with wave.open(str(source), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise TtsError("espeak-ng wrote an unexpected WAV format")
            source_rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)
    except (wave.Error, EOFError, OSError) as exc:
        raise TtsError(f"espeak-ng wrote no usable WAV: {exc}") from None
    if source_rate != rate:
        pcm = resample(pcm, source_rate, rate)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
