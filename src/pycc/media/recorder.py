"""Call recorders: audio sinks of the media graph that survive a crash of the process.

A :class:`Recorder` takes one 20 ms frame per channel per frame-clock tick from its channel
sinks (:meth:`Recorder.channel`) and appends it to a file: a stereo recording keeps party A on
the left and party B on the right; a mono one mixes every sink into one channel. A sink with
nothing to give records silence, so the channels never drift apart.

Two formats:

- **WAV** (16-bit PCM): the RIFF header is written first, with sizes that cover the data on
  disk; the sizes are rewritten every ``flush_interval`` and at the end. Data goes straight to
  the kernel, so after a SIGKILL the file is a valid WAV of everything up to the last flush.
- **Ogg/Opus** (RFC 7845, RFC 6716) through PyAV at 48 kHz: Ogg pages are cut at most every
  ``flush_interval`` and handed to the kernel as soon as they are cut, so a killed recording
  still decodes up to about one interval before the kill.

All file work (opening, encoding, writing, the final fsync and the sha256 of the finished file)
runs on a shared pool of writer threads, each recorder's jobs in order, so the event loop never
waits on the disk. A write error (disk full, directory missing) fails the recorder once, through
``on_error`` and :attr:`Recorder.error`; nothing raises into the frame clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import os
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Literal, Protocol

import av
import numpy as np

from pycc.dsp.mixer import interleave, mix
from pycc.dsp.pcm import Pcm
from pycc.dsp.resample import Resampler
from pycc.media.clock import FRAME_MS

__all__ = [
    "Recorder",
    "RecorderChannel",
    "RecorderError",
    "RecorderState",
]

log = logging.getLogger("pycc.media")

_FRAME_SECONDS = FRAME_MS / 1000

#: Frames a sink holds before the oldest is dropped: absorbs packets bunching up between ticks.
MAX_QUEUED_FRAMES = 5
#: Frames gathered on the loop before they go to the writer thread in one job.
BATCH_FRAMES = 10
#: A clock that jumped ahead by up to this many frames is bridged with silence (the call went
#: on while the loop was stalled); a longer jump is not a gap in the call but in the clock.
MAX_GAP_FRAMES = 50
#: Opus bit rate per channel: wideband speech at near-transparent quality.
OPUS_BITRATE_PER_CHANNEL = 32000
#: The largest data chunk a RIFF file can describe (32-bit sizes).
WAV_MAX_DATA = 0xFFFFFFFF - 36

RecorderFormat = Literal["wav", "ogg"]
ErrorHandler = Callable[["Recorder", BaseException], None]


class RecorderError(OSError):
    """A recording failed: the file, and what went wrong."""


class RecorderState(enum.Enum):
    RECORDING = "recording"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


#: (state, input) -> next state. Inputs not listed for a state are ignored.
TRANSITIONS: dict[tuple[RecorderState, str], RecorderState] = {
    (RecorderState.RECORDING, "pause"): RecorderState.PAUSED,
    (RecorderState.PAUSED, "resume"): RecorderState.RECORDING,
    (RecorderState.RECORDING, "stop"): RecorderState.STOPPING,
    (RecorderState.PAUSED, "stop"): RecorderState.STOPPING,
    (RecorderState.STOPPING, "finalised"): RecorderState.STOPPED,
    (RecorderState.RECORDING, "fail"): RecorderState.FAILED,
    (RecorderState.PAUSED, "fail"): RecorderState.FAILED,
    (RecorderState.STOPPING, "fail"): RecorderState.FAILED,
}


# -- file writers (run on a writer thread only) ----------------------------------------------


class _FileWriter(Protocol):
    def write(self, blocks: Sequence[Pcm]) -> None: ...

    def checkpoint(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def _wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """The canonical 44-byte RIFF/WAVE header of 16-bit PCM (WAVE format tag 1)."""
    block_align = 2 * channels
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE",
        b"fmt ", 16, 1, channels, rate, rate * block_align, block_align, 16,
        b"data", data_bytes,
    )


class _WavWriter:
    """16-bit PCM WAV whose header sizes never claim more than the kernel has."""

    def __init__(self, path: Path, rate: int, channels: int, overwrite: bool) -> None:
        self.rate = rate
        self.channels = channels
        # Unbuffered: every write is in the kernel when it returns, so only the header's
        # sizes lag behind the data, never the other way round.
        self._file = open(path, "wb" if overwrite else "xb", buffering=0)  # noqa: SIM115
        self._data = 0
        self._described = 0
        try:
            self._file.write(_wav_header(rate, channels, 0))
        except BaseException:
            self._file.close()
            raise

    def write(self, blocks: Sequence[Pcm]) -> None:
        data = b"".join(block.astype("<i2", copy=False).tobytes() for block in blocks)
        if self._data + len(data) > WAV_MAX_DATA:
            raise RecorderError("WAV size limit (4 GiB) reached")
        self._file.write(data)
        self._data += len(data)

    def checkpoint(self) -> None:
        if self._described == self._data:
            return
        fd = self._file.fileno()
        # The data chunk size is what readers trust; write it before the RIFF size.
        os.pwrite(fd, struct.pack("<I", self._data), 40)
        os.pwrite(fd, struct.pack("<I", 36 + self._data), 4)
        self._described = self._data

    def close(self) -> None:
        try:
            self.checkpoint()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def abort(self) -> None:
        self._file.close()


class _OggOpusWriter:
    """Opus in Ogg at 48 kHz through PyAV, pages cut and written out at least every interval."""

    def __init__(
        self, path: Path, rate: int, channels: int, overwrite: bool, flush_interval: float
    ) -> None:
        # PyAV truncates what it opens; creating the file first keeps an existing one safe.
        open(path, "wb" if overwrite else "xb").close()
        self.channels = channels
        self._resamplers = [Resampler(rate, 48000) for _ in range(channels)] if rate != 48000 \
            else []
        self._layout = "mono" if channels == 1 else "stereo"
        self._container = av.open(
            str(path), "w", format="ogg",
            # page_duration bounds how much audio the muxer holds in an unfinished page;
            # flush_packets hands every finished page to the kernel at once.
            options={"page_duration": str(max(20_000, int(flush_interval * 1_000_000)))},
            container_options={"flush_packets": "1"},
        )
        try:
            self._stream = self._container.add_stream("libopus", rate=48000)
            self._stream.layout = self._layout
            self._stream.bit_rate = OPUS_BITRATE_PER_CHANNEL * channels
        except BaseException:
            self._container.close()
            raise
        self._pts = 0

    def write(self, blocks: Sequence[Pcm]) -> None:
        if not blocks:
            return
        pcm = np.concatenate(blocks)
        if self._resamplers:
            if self.channels == 1:
                pcm = self._resamplers[0].process(pcm)
            else:
                pcm = interleave(self._resamplers[0].process(np.ascontiguousarray(pcm[:, 0])),
                                 self._resamplers[1].process(np.ascontiguousarray(pcm[:, 1])))
        if not len(pcm):
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm).reshape(1, -1), format="s16", layout=self._layout)
        frame.sample_rate = 48000
        frame.pts = self._pts
        self._pts += len(pcm)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def checkpoint(self) -> None:
        # Pages go out by themselves (page_duration, flush_packets); nothing to rewrite.
        return

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def abort(self) -> None:
        self._container.close()


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# -- the writer threads ----------------------------------------------------------------------

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _default_executor() -> Executor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pycc-recorder")
        return _executor


Job = Callable[[], None]


class _SerialJobs:
    """One recorder's file jobs, run in order on a shared pool: one thread at a time per file.

    After a job fails only ``always`` jobs run (closing the file, telling the loop).
    """

    def __init__(self, executor: Executor, on_failure: Callable[[BaseException], None]) -> None:
        self._executor = executor
        self._on_failure = on_failure
        self._jobs: deque[tuple[Job, bool]] = deque()
        self._lock = threading.Lock()
        self._running = False
        self.failed = False

    def submit(self, job: Job, *, always: bool = False) -> None:
        with self._lock:
            self._jobs.append((job, always))
            if self._running:
                return
            self._running = True
        self._executor.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._running = False
                    return
                job, always = self._jobs.popleft()
            if self.failed and not always:
                continue
            try:
                job()
            except BaseException as exc:
                if not self.failed:
                    self.failed = True
                    self._on_failure(exc)


# -- the recorder ----------------------------------------------------------------------------


class RecorderChannel:
    """One input of a recorder: an ``AudioSink`` taking 20 ms int16 mono frames at ``rate``."""

    __slots__ = ("_frames", "_recorder", "dropped", "index", "rate", "samples")

    def __init__(self, recorder: Recorder, index: int) -> None:
        self._recorder = recorder
        self.index = index
        self.rate = recorder.rate
        self.samples = recorder.frame
        self._frames: deque[Pcm | None] = deque(maxlen=MAX_QUEUED_FRAMES)
        #: Frames refused for their shape or type (recorded as silence instead).
        self.dropped = 0

    def write(self, frame: Pcm | None, now: float) -> None:
        if frame is not None and not (
            isinstance(frame, np.ndarray) and frame.dtype == np.int16
            and frame.shape == (self.samples,)
        ):
            self.dropped += 1
            frame = None
        self._frames.append(frame)

    def take(self) -> Pcm | None:
        return self._frames.popleft() if self._frames else None

    def clear(self) -> None:
        self._frames.clear()


class Recorder:
    """Records ``channels`` (1 or 2) of 20 ms frames at ``rate`` to ``path`` as WAV or Ogg/Opus.

    Subscribe it to the frame clock (``tick(now)``) and feed its :meth:`channel` sinks; call
    :meth:`pause`, :meth:`resume`, and ``await`` :meth:`stop` to finish the file. After stop,
    :attr:`sha256` is the finished file's digest. An existing file is refused (a recording is
    never silently replaced) unless ``overwrite``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int,
        *,
        channels: int = 1,
        format: RecorderFormat = "wav",
        flush_interval: float = 1.0,
        overwrite: bool = False,
        on_error: ErrorHandler | None = None,
        executor: Executor | None = None,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"a recording has 1 or 2 channels, not {channels}")
        if format not in ("wav", "ogg"):
            raise ValueError(f"recording format is 'wav' or 'ogg', not {format!r}")
        if rate <= 0 or rate * FRAME_MS % 1000:
            raise ValueError(f"a {FRAME_MS} ms frame needs a whole number of samples at {rate} Hz")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be positive, not {flush_interval}")
        self.path = Path(path)
        self.rate = rate
        self.channels = channels
        self.format: RecorderFormat = format
        self.flush_interval = float(flush_interval)
        self.frame = rate * FRAME_MS // 1000
        self.on_error = on_error
        self._overwrite = overwrite
        self.state = RecorderState.RECORDING
        #: The failure that stopped the recorder, once reported.
        self.error: BaseException | None = None
        #: Hex sha256 of the finished file, set by :meth:`stop`.
        self.sha256: str | None = None
        #: Frames per channel written to the file (paused time is not).
        self.frames_written = 0
        self._sinks: dict[int, RecorderChannel] = {}
        self._pending: list[Pcm] = []
        self._next_checkpoint: float | None = None
        self._last_tick: float | None = None
        self._failure: BaseException | None = None
        self._done: asyncio.Future[None] | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._writer: _FileWriter | None = None
        self._jobs = _SerialJobs(executor if executor is not None else _default_executor(),
                                 self._failed_in_thread)
        self._jobs.submit(self._open)

    # -- graph side --------------------------------------------------------------------------
    def channel(self, index: int) -> RecorderChannel:
        """The sink of input ``index``: 0 and 1 of a stereo file; any number, mixed, in mono."""
        if index < 0 or (self.channels == 2 and index > 1):
            raise ValueError(f"no channel {index} in a {self.channels}-channel recording")
        sink = self._sinks.get(index)
        if sink is None:
            sink = self._sinks[index] = RecorderChannel(self, index)
        return sink

    @property
    def duration(self) -> float:
        """Seconds of audio recorded so far."""
        return self.frames_written * _FRAME_SECONDS

    def tick(self, now: float) -> None:
        """Frame-clock tick: one frame per channel goes to the file. Never raises."""
        try:
            self._tick(now)
        except Exception as exc:
            self._fail(exc)

    def _tick(self, now: float) -> None:
        if self._failure is not None and self.error is None:
            self._report_failure()
        state = self.state
        if state is not RecorderState.RECORDING:
            if state is RecorderState.PAUSED:
                # Paused audio is dropped as it arrives, not written late on resume.
                for sink in self._sinks.values():
                    sink.clear()
            return
        last = self._last_tick
        if last is not None:
            missed = round((now - last) / _FRAME_SECONDS) - 1
            if 0 < missed <= MAX_GAP_FRAMES:
                silent = np.zeros((self.frame, self.channels) if self.channels == 2 else
                                  self.frame, dtype=np.int16)
                self._pending.extend([silent] * missed)
                self.frames_written += missed
        self._last_tick = now
        self._pending.append(self._next_block())
        self.frames_written += 1
        if self._next_checkpoint is None:
            self._next_checkpoint = now + self.flush_interval
        if now >= self._next_checkpoint:
            self._next_checkpoint = now + self.flush_interval
            self._submit_pending(checkpoint=True)
        elif len(self._pending) >= BATCH_FRAMES:
            self._submit_pending(checkpoint=False)

    def _next_block(self) -> Pcm:
        if self.channels == 2:
            left = self._take(0)
            right = self._take(1)
            return interleave(left if left is not None else self._silence(),
                              right if right is not None else self._silence())
        frames = [frame for sink in self._sinks.values()
                  if (frame := sink.take()) is not None]
        if not frames:
            return self._silence()
        if len(frames) == 1:
            # The writer thread reads it later: a producer reusing its buffer must not matter.
            return frames[0].copy()
        return mix(frames)

    def _take(self, index: int) -> Pcm | None:
        sink = self._sinks.get(index)
        return sink.take() if sink is not None else None

    def _silence(self) -> Pcm:
        return np.zeros(self.frame, dtype=np.int16)

    # -- control -------------------------------------------------------------------------------
    def _apply(self, event: str) -> bool:
        next_state = TRANSITIONS.get((self.state, event))
        if next_state is None:
            return False
        self.state = next_state
        return True

    def pause(self) -> None:
        """Stop writing until :meth:`resume`; the paused time is left out of the file."""
        if self._apply("pause"):
            for sink in self._sinks.values():
                sink.clear()

    def resume(self) -> None:
        if self._apply("resume"):
            # The pause is not a gap to fill with silence.
            self._last_tick = None

    async def flush(self) -> None:
        """Put everything recorded so far in the file (header sizes included) and wait."""
        if self.state in (RecorderState.RECORDING, RecorderState.PAUSED):
            self._submit_pending(checkpoint=True)
        await self._barrier()
        if self._failure is not None and self.error is None:
            self._report_failure()

    async def stop(self) -> None:
        """Finish the file (final sizes, fsync, close), then compute :attr:`sha256`.

        Safe to call more than once and after a failure; it does not raise for a write error
        (that is in :attr:`error`).
        """
        if self._done is None:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            self._done = done
            if self._apply("stop"):
                self._submit_pending(checkpoint=False)
                self._jobs.submit(self._finalise)
            self._jobs.submit(self._close_quietly, always=True)
            self._jobs.submit(lambda: _call_soon(loop, _resolve, done), always=True)
            for sink in self._sinks.values():
                sink.clear()
        await asyncio.shield(self._done)
        if self._failure is not None and self.error is None:
            self._report_failure()
        self._apply("finalised")

    async def _barrier(self) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._jobs.submit(lambda: _call_soon(loop, _resolve, done), always=True)
        await done

    def _submit_pending(self, *, checkpoint: bool) -> None:
        blocks = self._pending
        if not blocks and not checkpoint:
            return
        self._pending = []

        def job() -> None:
            writer = self._writer
            assert writer is not None
            if blocks:
                writer.write(blocks)
            if checkpoint:
                writer.checkpoint()

        self._jobs.submit(job)

    # -- writer-thread jobs ----------------------------------------------------------------------
    def _open(self) -> None:
        if self.format == "wav":
            self._writer = _WavWriter(self.path, self.rate, self.channels, self._overwrite)
        else:
            self._writer = _OggOpusWriter(self.path, self.rate, self.channels, self._overwrite,
                                          self.flush_interval)

    def _finalise(self) -> None:
        writer = self._writer
        assert writer is not None
        self._writer = None
        writer.close()
        self.sha256 = _sha256(self.path)

    def _close_quietly(self) -> None:
        # After a failure the file is closed without finishing it (the failure is reported).
        writer = self._writer
        self._writer = None
        if writer is not None:
            try:
                writer.abort()
            except Exception:
                log.debug("closing failed recording %s", self.path, exc_info=True)

    # -- failures ------------------------------------------------------------------------------
    def _failed_in_thread(self, exc: BaseException) -> None:
        self._failure = exc
        loop = self._loop
        if loop is not None:
            _call_soon(loop, self._report_failure)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._report_failure()

    def _report_failure(self) -> None:
        exc = self._failure
        if exc is None or self.error is not None:
            return
        self.error = exc
        self._apply("fail")
        self._pending = []
        self._jobs.submit(self._close_quietly, always=True)
        log.error("recording %s failed: %s", self.path, exc)
        handler = self.on_error
        if handler is not None:
            try:
                handler(self, exc)
            except Exception:
                log.exception("on_error handler of recorder %s failed", self.path)

    def __repr__(self) -> str:
        return (f"<Recorder {self.path} {self.format} {self.channels}ch {self.rate} Hz "
                f"{self.state.value} {self.duration:.2f} s>")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
    # A closed loop (the process is shutting down) has nobody waiting any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)
