"""Prompt and tone players: audio sources of the media graph that a call hears.

:class:`FilePlayer` plays a prompt file in any format PyAV decodes (WAV, MP3, Ogg/Opus, FLAC,
...), mixed down to mono and resampled to the consumer's rate. A prompt is decoded once, whole,
in a worker thread (:meth:`FilePlayer.open`), and kept in a small LRU cache keyed by the file's
path, modification time and the target rate, so an IVR greeting played to hundreds of callers
costs one decode. :class:`TonePlayer` plays call-progress tones, conference cues and DTMF from
:mod:`pycc.dsp.tones`; :class:`Playlist` chains players ("prompt, then tone").

Every player is an ``AudioSource`` of the graph: ``read(now)`` returns the next 20 ms frame of
int16 mono at ``rate`` (the last one padded with silence). ``finished`` turns true as the last
frame is handed out, or on ``stop()``, and ``on_finished`` is called once then; after that
``read`` returns None. ``position`` is how far into its audio the player is, in
seconds. No RFC applies; tones follow ITU-T E.180 / Q.23 through :mod:`pycc.dsp.tones`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from pycc.dsp.pcm import Pcm, require_pcm
from pycc.dsp.tones import DTMF_FREQUENCIES, ToneGenerator, ToneSpec, dtmf_sequence, tone
from pycc.media.clock import FRAME_MS

__all__ = [
    "MAX_PROMPT_SECONDS",
    "DecodedPrompt",
    "FilePlayer",
    "Player",
    "Playlist",
    "PromptCache",
    "PromptError",
    "TonePlayer",
    "decode_prompt",
    "default_prompt_cache",
]

log = logging.getLogger("pycc.media")

#: Longest prompt a player accepts unless told otherwise: an hour of audio.
MAX_PROMPT_SECONDS = 3600.0

FinishedHandler = Callable[[], None]


class PromptError(ValueError):
    """A prompt or tone that cannot be played: which one, and why."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = os.fspath(source)
        self.reason = reason
        super().__init__(f"cannot play {self.source}: {reason}")


class Player(Protocol):
    """What :class:`Playlist` (and an IVR waiting for a prompt to end) needs of a player."""

    @property
    def rate(self) -> int: ...

    @property
    def finished(self) -> bool: ...

    @property
    def position(self) -> float: ...

    def read(self, now: float) -> Pcm | None: ...

    def stop(self) -> None: ...


def frame_samples(rate: int) -> int:
    """Samples in one graph frame at ``rate``."""
    if rate <= 0 or rate * FRAME_MS % 1000:
        raise ValueError(f"a {FRAME_MS} ms frame needs a whole number of samples, not at {rate} Hz")
    return rate * FRAME_MS // 1000


class _PlayerBase:
    """The finished/stop/callback bookkeeping the players share."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.frame = frame_samples(rate)
        self.finished = False
        #: Called once, on the thread that reads, when the player finishes or is stopped.
        self.on_finished: FinishedHandler | None = None

    def stop(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        handler = self.on_finished
        if handler is not None:
            try:
                handler()
            except Exception:
                # A broken listener must not take the frame clock down with it.
                log.exception("on_finished handler of %r failed", self)


# -- decoding --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodedPrompt:
    """A whole prompt in memory: mono int16 at ``rate``, read-only (shared through the cache)."""

    source: str
    rate: int
    pcm: Pcm

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.rate


def decode_prompt(
    path: str | os.PathLike[str], rate: int, *, max_seconds: float = MAX_PROMPT_SECONDS
) -> DecodedPrompt:
    """Decode ``path`` whole into mono int16 at ``rate``. Blocking: run it in a worker thread.

    :class:`PromptError` for a missing, unreadable, undecodable or over-long file.
    """
    name = os.fspath(path)
    frame_samples(rate)
    limit = int(max_seconds * rate)
    try:
        container = av.open(name, "r")
    except FileNotFoundError:
        raise PromptError(name, "no such file") from None
    except PermissionError:
        raise PromptError(name, "permission denied") from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise PromptError(name, f"not a media file PyAV can read ({_reason(exc)})") from None
    try:
        if not container.streams.audio:
            raise PromptError(name, "no audio stream")
        stream = container.streams.audio[0]
        # The container's own idea of its length refuses most over-long files before any work.
        if container.duration is not None and container.duration / 1_000_000 > max_seconds + 1:
            raise PromptError(name, f"longer than the {max_seconds:g} s limit for prompts")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks: list[Pcm] = []
        total = 0
        for decoded in container.decode(stream):
            for out in resampler.resample(decoded):
                chunk = require_pcm(out.to_ndarray().reshape(-1))
                chunks.append(chunk)
                total += len(chunk)
            if total > limit:
                raise PromptError(name, f"longer than the {max_seconds:g} s limit for prompts")
        for out in resampler.resample(None):
            chunks.append(require_pcm(out.to_ndarray().reshape(-1)))
    except PromptError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise PromptError(name, f"cannot decode ({_reason(exc)})") from None
    finally:
        container.close()
    pcm = np.concatenate(chunks).astype(np.int16, copy=False) if chunks else np.zeros(
        0, dtype=np.int16)
    if len(pcm) > limit:
        raise PromptError(name, f"longer than the {max_seconds:g} s limit for prompts")
    if not len(pcm):
        raise PromptError(name, "no audio in the file")
    pcm.flags.writeable = False
    return DecodedPrompt(name, rate, pcm)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text)


CacheKey = tuple[str, int, int, int]


class PromptCache:
    """Decoded prompts by (absolute path, mtime, size, rate), least recently used evicted.

    ``max_entries`` bounds the count and ``max_bytes`` the memory; a prompt bigger than
    ``max_bytes`` alone is decoded for its player and not kept. Concurrent opens of one prompt
    share a single decode. Safe to use from several threads; decoding runs off the loop.
    """

    def __init__(self, max_entries: int = 64, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        #: Files actually decoded (a miss shared by concurrent opens decodes once).
        self.decodes = 0
        self._entries: OrderedDict[CacheKey, DecodedPrompt] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[CacheKey, asyncio.Future[DecodedPrompt]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(path: str | os.PathLike[str], rate: int) -> CacheKey:
        """The cache key of ``path`` as it is on disk now; :class:`PromptError` if missing."""
        name = os.fspath(path)
        try:
            absolute = os.path.abspath(name)
            info = os.stat(absolute)
        except FileNotFoundError:
            raise PromptError(name, "no such file") from None
        except OSError as exc:
            raise PromptError(name, _reason(exc)) from None
        if not os.path.isfile(absolute):
            raise PromptError(name, "not a regular file")
        return (absolute, info.st_mtime_ns, info.st_size, rate)

    def get(self, key: CacheKey) -> DecodedPrompt | None:
        with self._lock:
            prompt = self._entries.get(key)
            if prompt is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return prompt

    def put(self, key: CacheKey, prompt: DecodedPrompt) -> None:
        size = prompt.pcm.nbytes
        if size > self.max_bytes or self.max_entries <= 0:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.pcm.nbytes
            self._entries[key] = prompt
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.pcm.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def load(
        self, path: str | os.PathLike[str], rate: int, *, max_seconds: float = MAX_PROMPT_SECONDS
    ) -> DecodedPrompt:
        """The prompt, from the cache or decoded here (blocking)."""
        key = self.key(path, rate)
        prompt = self.get(key)
        if prompt is None:
            prompt = self._decode(path, key, max_seconds)
        _check_length(prompt, max_seconds)
        return prompt

    async def load_async(
        self, path: str | os.PathLike[str], rate: int, *, max_seconds: float = MAX_PROMPT_SECONDS
    ) -> DecodedPrompt:
        """The prompt, from the cache or decoded in a worker thread; the loop never decodes."""
        key = self.key(path, rate)
        prompt = self.get(key)
        if prompt is not None:
            _check_length(prompt, max_seconds)
            return prompt
        loop = asyncio.get_running_loop()
        pending = self._pending.get(key)
        if pending is None or pending.get_loop() is not loop:
            pending = loop.run_in_executor(None, self._decode, path, key, max_seconds)
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        prompt = await asyncio.shield(pending)
        _check_length(prompt, max_seconds)
        return prompt

    def _decode(
        self, path: str | os.PathLike[str], key: CacheKey, max_seconds: float
    ) -> DecodedPrompt:
        with self._lock:
            self.decodes += 1
        prompt = decode_prompt(path, key[3], max_seconds=max_seconds)
        self.put(key, prompt)
        return prompt

    def _forget(self, key: CacheKey, done: asyncio.Future[DecodedPrompt]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter already got it


def _check_length(prompt: DecodedPrompt, max_seconds: float) -> None:
    # A prompt cached for a laxer caller is still refused by a stricter one.
    if prompt.duration > max_seconds:
        raise PromptError(prompt.source, f"longer than the {max_seconds:g} s limit for prompts")


_default_cache = PromptCache()


def default_prompt_cache() -> PromptCache:
    """The process-wide prompt cache :meth:`FilePlayer.open` uses unless given one."""
    return _default_cache


# -- players ---------------------------------------------------------------------------------


class _BufferPlayer(_PlayerBase):
    """Plays a PCM buffer frame by frame, once or looping; the last frame is zero-padded."""

    def __init__(self, pcm: Pcm, rate: int, *, loop: bool = False) -> None:
        super().__init__(rate)
        self._pcm = pcm
        self.loop = loop
        self._offset = 0

    @property
    def duration(self) -> float:
        return len(self._pcm) / self.rate

    @property
    def position(self) -> float:
        return self._offset / self.rate

    def read(self, now: float) -> Pcm | None:
        if self.finished:
            return None
        pcm = self._pcm
        start = self._offset
        end = start + self.frame
        if end <= len(pcm):
            # A copy: the buffer is shared with the cache and other callers' players.
            out = pcm[start:end].copy()
            self._offset = end
            if end == len(pcm):
                self._wrap_or_finish()
            return out
        out = np.zeros(self.frame, dtype=np.int16)
        filled = len(pcm) - start
        out[:filled] = pcm[start:]
        if self.loop and len(pcm):
            # Carry on from the top without a gap: a looped prompt or music has no seam.
            while filled < self.frame:
                take = min(self.frame - filled, len(pcm))
                out[filled:filled + take] = pcm[:take]
                filled += take
                self._offset = take
            if self._offset == len(pcm):
                self._offset = 0
        else:
            self._offset = len(pcm)
            self._finish()
        return out

    def _wrap_or_finish(self) -> None:
        if self.loop:
            self._offset = 0
        else:
            self._finish()

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` into the audio (clamped); a finished player stays finished."""
        self._offset = min(max(0, int(seconds * self.rate)), len(self._pcm))


class FilePlayer(_BufferPlayer):
    """Plays one prompt file at ``rate``, once or looping.

    Build it with ``await FilePlayer.open(path, rate)``: decoding happens in a worker thread
    and through the prompt cache. Calling the constructor with a path decodes on the calling
    thread (fine in scripts and tests, not on the event loop); ``prompt`` skips decoding.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int,
        *,
        loop: bool = False,
        max_seconds: float = MAX_PROMPT_SECONDS,
        cache: PromptCache | None = None,
        prompt: DecodedPrompt | None = None,
    ) -> None:
        if prompt is None:
            source = _default_cache if cache is None else cache
            prompt = source.load(path, rate, max_seconds=max_seconds)
        elif prompt.rate != rate:
            raise ValueError(f"prompt decoded at {prompt.rate} Hz, player wants {rate} Hz")
        super().__init__(prompt.pcm, rate, loop=loop)
        self.path = Path(path)
        self.prompt = prompt

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        rate: int,
        loop: bool = False,
        *,
        max_seconds: float = MAX_PROMPT_SECONDS,
        cache: PromptCache | None = None,
    ) -> FilePlayer:
        """A player for ``path``, decoded off the event loop (or taken from the cache)."""
        frame_samples(rate)
        source = _default_cache if cache is None else cache
        prompt = await source.load_async(path, rate, max_seconds=max_seconds)
        return cls(path, rate, loop=loop, prompt=prompt)

    def __repr__(self) -> str:
        return f"<FilePlayer {self.path} {self.rate} Hz at {self.position:.2f} s>"


_DTMF_PREFIX = "dtmf:"
_DTMF_KEYS = frozenset(DTMF_FREQUENCIES)
_BARE_DTMF_KEYS = frozenset("0123456789*#")


class TonePlayer(_PlayerBase):
    """Plays a tone at ``rate``: a name from :func:`pycc.dsp.tones.tone` (ringback, busy,
    congestion, dial, call-waiting, hold, beep, join, leave) in ``country``'s plan, a
    :class:`ToneSpec`, or DTMF digits (``"5"``, ``"dtmf:123#"``; 100 ms on, 60 ms off each).

    It finishes after ``duration`` seconds when given (rounded up to whole frames), or when a
    tone that does not repeat has ended; a repeating tone otherwise plays until :meth:`stop`.
    """

    def __init__(
        self,
        name_or_spec: str | ToneSpec,
        rate: int,
        *,
        country: str = "us",
        duration: float | None = None,
    ) -> None:
        super().__init__(rate)
        if duration is not None and duration < 0:
            raise ValueError(f"tone duration must not be negative, not {duration}")
        self.name = name_or_spec if isinstance(name_or_spec, str) else "tone"
        self._generator: ToneGenerator | None = None
        self._buffer: _BufferPlayer | None = None
        if isinstance(name_or_spec, ToneSpec):
            self._generator = ToneGenerator(name_or_spec, rate)
        else:
            digits = _dtmf_digits(name_or_spec)
            if digits is None:
                try:
                    spec = tone(name_or_spec, country)
                except KeyError as exc:
                    raise PromptError(f"tone:{name_or_spec}", str(exc.args[0])) from None
                self._generator = ToneGenerator(spec, rate)
            else:
                pcm = dtmf_sequence(digits, sample_rate=rate)
                self._buffer = _BufferPlayer(pcm, rate)
        self._limit = None if duration is None else round(duration * rate)
        self._played = 0

    @property
    def position(self) -> float:
        return self._played / self.rate

    def read(self, now: float) -> Pcm | None:
        if self.finished:
            return None
        limit = self._limit
        if limit is not None and self._played >= limit:
            self._finish()
            return None
        if self._buffer is not None:
            out = self._buffer.read(now)
            if out is None:
                self._finish()
                return None
        else:
            generator = self._generator
            assert generator is not None
            if generator.finished:
                self._finish()
                return None
            out = generator.read(self.frame)
        self._played += self.frame
        if limit is not None and self._played > limit:
            # The part of the last frame past ``duration`` is silent, not cut mid-cycle.
            out[self.frame - (self._played - limit):] = 0
        ended = (self._buffer is not None and self._buffer.finished) or (
            self._generator is not None and self._generator.finished)
        if ended or (limit is not None and self._played >= limit):
            self._finish()
        return out

    def __repr__(self) -> str:
        return f"<TonePlayer {self.name} {self.rate} Hz at {self.position:.2f} s>"


def _dtmf_digits(name: str) -> str | None:
    """The digits to dial for ``name``, or None when it names a tone instead.

    Bare names are digits only when made of 0-9, * and #, so tone names never collide with
    the A-D keys; those need the ``dtmf:`` prefix.
    """
    if name[:len(_DTMF_PREFIX)].casefold() == _DTMF_PREFIX:
        digits = name[len(_DTMF_PREFIX):].upper()
        if not digits or not set(digits) <= _DTMF_KEYS:
            raise PromptError(f"tone:{name}", "DTMF digits are one or more of 0-9, *, #, A-D")
        return digits
    if name and set(name) <= _BARE_DTMF_KEYS:
        return name
    return None


class Playlist(_PlayerBase):
    """Plays players one after the other, with no gap between them; all share one rate.

    A source that gives None without having finished (a room that is silent this frame) is
    silence, not the end. ``position`` is the time played since the playlist started.
    """

    def __init__(self, sources: Iterable[Player]) -> None:
        items = list(sources)
        if not items:
            raise ValueError("a playlist needs at least one source")
        rates = {source.rate for source in items}
        if len(rates) > 1:
            raise ValueError(f"playlist sources differ in rate: {sorted(rates)}")
        super().__init__(items[0].rate)
        self.sources = items
        self.index = 0
        self._frames = 0

    @property
    def current(self) -> Player | None:
        return self.sources[self.index] if self.index < len(self.sources) else None

    @property
    def position(self) -> float:
        return self._frames * FRAME_MS / 1000

    def read(self, now: float) -> Pcm | None:
        if self.finished:
            return None
        while self.index < len(self.sources):
            source = self.sources[self.index]
            frame = None if source.finished else source.read(now)
            if frame is not None:
                self._frames += 1
                return frame
            if not source.finished:
                self._frames += 1
                return None
            self.index += 1
        self._finish()
        return None

    def stop(self) -> None:
        for source in self.sources[self.index:]:
            source.stop()
        self.index = len(self.sources)
        self._finish()
