"""pycc.media.recorder: call recordings that stay readable when the process dies.

- stereo WAV keeps each party on its channel sample for sample (1 kHz left, 400 Hz right); a
  mono recording is the saturating sum of its sinks; a sink with nothing to give is silence and
  the channels stay aligned; a stalled clock is bridged with silence;
- Ogg/Opus (resampled to 48 kHz) decodes with PyAV to the right length with each tone on its
  channel;
- pause/resume leaves the paused time out; a Hypothesis run of random tick/pause/resume
  sequences checks the file against a model, sample for sample;
- sha256 of the finished file; errors (missing directory, disk full via /dev/full, an existing
  file) are reported once through ``on_error`` and ``error``, never raised into the clock;
- SIGKILL: a real subprocess records, is killed mid-write, and the WAV reads with ``wave`` and
  PyAV (every sample up to the last flush is there and right), the Ogg decodes with PyAV to
  within one flush interval of the kill.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import signal
import subprocess
import sys
import textwrap
import wave
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Literal, TypeVar

import av
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.dsp.pcm import Pcm
from pycc.media.recorder import Recorder, RecorderState

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs writer jobs at once on the calling thread: deterministic and fast for models."""

    def submit(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def tone(freq: float, rate: int, start: int, count: int, amplitude: float = 8000.0) -> Pcm:
    """Samples ``start .. start+count`` of a continuous sine."""
    t = np.arange(start, start + count) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def read_wav(path: Path) -> tuple[wave._wave_params, npt.NDArray[np.int16]]:
    with wave.open(str(path), "rb") as reader:
        params = reader.getparams()
        data = np.frombuffer(reader.readframes(params.nframes), dtype="<i2").astype(np.int16)
    return params, data.reshape(-1, params.nchannels)


def decode_av(path: Path) -> tuple[int, npt.NDArray[np.float64]]:
    """Sample rate and (samples, channels) float audio of ``path`` decoded by PyAV."""
    chunks: list[npt.NDArray[np.float64]] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        for frame in container.decode(stream):
            array = frame.to_ndarray().astype(np.float64)
            if frame.format.is_planar:
                array = array.T
            else:
                array = array.reshape(-1, len(frame.layout.channels))
            chunks.append(array)
    return rate, np.concatenate(chunks) if chunks else np.zeros((0, 1))


def peak(pcm: npt.NDArray[np.generic], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


def band_energy(pcm: npt.NDArray[np.generic], rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm)))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    return float(spectrum[np.abs(freqs - freq) < 20].sum())


def record_tones(
    recorder: Recorder, seconds: float, *, start_frame: int = 0, left: float = 1000.0,
    right: float | None = 400.0,
) -> int:
    """Feed ``seconds`` of tones, one frame per sink then one tick; returns the next frame."""
    rate = recorder.rate
    n = rate // 50
    frames = round(seconds * 50)
    for i in range(start_frame, start_frame + frames):
        recorder.channel(0).write(tone(left, rate, i * n, n), i * 0.02)
        if right is not None:
            recorder.channel(1).write(tone(right, rate, i * n, n), i * 0.02)
        recorder.tick(i * 0.02)
    return start_frame + frames


# -- WAV content -----------------------------------------------------------------------------


def test_stereo_wav_keeps_each_party_on_its_channel(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"

    async def scenario() -> Recorder:
        recorder = Recorder(path, 16000, channels=2)
        record_tones(recorder, 2.0)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    assert recorder.state is RecorderState.STOPPED and recorder.error is None
    params, data = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == (
        2, 2, 16000, 32000)
    np.testing.assert_array_equal(data[:, 0], tone(1000, 16000, 0, 32000))
    np.testing.assert_array_equal(data[:, 1], tone(400, 16000, 0, 32000))
    assert recorder.duration == pytest.approx(2.0)
    assert recorder.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    rate, decoded = decode_av(path)
    assert rate == 16000 and decoded.shape == (32000, 2)


def test_mono_recording_mixes_both_parties_with_saturation(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    n = 160

    async def scenario() -> None:
        recorder = Recorder(path, 8000)
        for i in range(100):
            recorder.channel(0).write(tone(1000, 8000, i * n, n, 20000), i * 0.02)
            recorder.channel(1).write(tone(400, 8000, i * n, n, 20000), i * 0.02)
            recorder.tick(i * 0.02)
        await recorder.stop()

    asyncio.run(scenario())

    params, data = read_wav(path)
    assert params.nchannels == 1 and params.nframes == 16000
    total = tone(1000, 8000, 0, 16000, 20000).astype(np.int32) + tone(400, 8000, 0, 16000, 20000)
    np.testing.assert_array_equal(data[:, 0], np.clip(total, -32768, 32767))
    assert data.max() == 32767  # clipped, not wrapped round
    assert band_energy(data[:, 0], 8000, 1000) > 1e3 * band_energy(data[:, 0], 8000, 2500)
    assert band_energy(data[:, 0], 8000, 400) > 1e3 * band_energy(data[:, 0], 8000, 2500)


def test_missing_frames_are_silence_and_channels_stay_aligned(tmp_path: Path) -> None:
    path = tmp_path / "gaps.wav"

    async def scenario() -> Recorder:
        recorder = Recorder(path, 8000, channels=2)
        for i in range(50):
            # Party A speaks every frame; party B only on even frames, None on odd ones.
            recorder.channel(0).write(np.full(160, i + 1, dtype=np.int16), i * 0.02)
            if i % 2 == 0:
                recorder.channel(1).write(np.full(160, -(i + 1), dtype=np.int16), i * 0.02)
            elif i % 4 == 1:
                recorder.channel(1).write(None, i * 0.02)
            recorder.tick(i * 0.02)
        await recorder.stop()
        return recorder

    asyncio.run(scenario())

    _, data = read_wav(path)
    frames = data.reshape(50, 160, 2)
    assert np.all(frames[:, :, 0] == np.arange(1, 51)[:, None])
    expected_right = np.where(np.arange(50) % 2 == 0, -np.arange(1, 51), 0)
    assert np.all(frames[:, :, 1] == expected_right[:, None])


def test_bad_frames_are_counted_and_recorded_as_silence(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"

    async def scenario() -> Recorder:
        recorder = Recorder(path, 8000)
        sink = recorder.channel(0)
        sink.write(np.ones(160, dtype=np.float64), 0.0)
        recorder.tick(0.0)
        sink.write(np.ones(80, dtype=np.int16), 0.02)
        recorder.tick(0.02)
        sink.write(np.ones(160, dtype=np.int16), 0.04)
        recorder.tick(0.04)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    assert recorder.channel(0).dropped == 2
    _, data = read_wav(path)
    np.testing.assert_array_equal(data[:, 0], np.r_[np.zeros(320), np.ones(160)])


def test_a_stalled_clock_is_bridged_with_silence(tmp_path: Path) -> None:
    path = tmp_path / "stall.wav"

    async def scenario() -> Recorder:
        recorder = Recorder(path, 8000)
        for now in (0.0, 0.02, 0.10, 30.0):  # 3 frames missed; then a jump too big to fill
            recorder.channel(0).write(np.full(160, 5, dtype=np.int16), now)
            recorder.tick(now)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    assert recorder.frames_written == 7
    _, data = read_wav(path)
    levels = data[:, 0].reshape(7, 160)[:, 0]
    assert list(levels) == [5, 5, 0, 0, 0, 5, 5]


def test_pause_leaves_the_paused_time_out(tmp_path: Path) -> None:
    path = tmp_path / "paused.wav"

    async def scenario() -> Recorder:
        recorder = Recorder(path, 16000, channels=2)
        frame = record_tones(recorder, 1.0)
        recorder.pause()
        frame = record_tones(recorder, 1.5, start_frame=frame, left=3000, right=3000)
        recorder.resume()
        record_tones(recorder, 1.0, start_frame=frame)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    params, data = read_wav(path)
    assert params.nframes == 2 * 16000
    assert recorder.duration == pytest.approx(2.0)
    np.testing.assert_array_equal(data[:16000, 0], tone(1000, 16000, 0, 16000))
    # After the pause the recording goes on with what was said after it, not during it.
    np.testing.assert_array_equal(data[16000:, 0], tone(1000, 16000, 125 * 320, 16000))
    assert band_energy(data[:, 0], 16000, 3000) < 1e-6 * band_energy(data[:, 0], 16000, 1000)


Op = Literal["tick", "silent", "pause", "resume"]


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.sampled_from(["tick", "silent", "pause", "resume"]), max_size=60),
       flush_interval=st.sampled_from([0.02, 0.1, 1.0]))
def test_recording_matches_a_model_of_ticks_and_pauses(
    tmp_path_factory: pytest.TempPathFactory, ops: list[Op], flush_interval: float
) -> None:
    path = tmp_path_factory.mktemp("model") / "model.wav"
    expected: list[int] = []

    async def scenario() -> Recorder:
        recorder = Recorder(path, 8000, flush_interval=flush_interval, executor=InlineExecutor())
        paused = False
        ticks = 0
        for i, op in enumerate(ops):
            if op == "pause":
                recorder.pause()
                paused = True
            elif op == "resume":
                recorder.resume()
                paused = False
            else:
                # The clock moves on one frame per tick (pause/resume take no time here).
                now = ticks * 0.02
                ticks += 1
                level = i + 1 if op == "tick" else 0
                recorder.channel(0).write(
                    np.full(160, level, dtype=np.int16) if level else None, now)
                recorder.tick(now)
                if not paused:
                    expected.append(level)
            assert recorder.state is (RecorderState.PAUSED if paused else
                                      RecorderState.RECORDING)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    assert recorder.state is RecorderState.STOPPED
    params, data = read_wav(path)
    assert params.nframes == 160 * len(expected) == 160 * recorder.frames_written
    np.testing.assert_array_equal(data[:, 0], np.repeat(np.array(expected, dtype=np.int16), 160))


def test_state_changes_after_stop_are_ignored(tmp_path: Path) -> None:
    async def scenario() -> Recorder:
        recorder = Recorder(tmp_path / "s.wav", 8000)
        record_tones(recorder, 0.1, right=None)
        await recorder.stop()
        recorder.pause()
        recorder.resume()
        record_tones(recorder, 0.1, right=None)
        await recorder.stop()  # a second stop is harmless
        return recorder

    recorder = asyncio.run(scenario())

    assert recorder.state is RecorderState.STOPPED
    assert read_wav(tmp_path / "s.wav")[0].nframes == 800


# -- Ogg/Opus --------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 48000])
def test_stereo_ogg_opus_has_each_tone_on_its_channel(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "call.ogg"

    async def scenario() -> Recorder:
        recorder = Recorder(path, rate, channels=2, format="ogg")
        record_tones(recorder, 2.0)
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    assert recorder.error is None
    assert recorder.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    decoded_rate, audio = decode_av(path)
    assert decoded_rate == 48000 and audio.shape[1] == 2
    assert abs(len(audio) - 2 * 48000) <= 0.03 * 48000
    body = audio[4800:-4800]
    assert peak(body[:, 0], 48000) == pytest.approx(1000, abs=3)
    assert peak(body[:, 1], 48000) == pytest.approx(400, abs=3)
    # Each party is on its own side: the other's tone is at least 30 dB down.
    assert band_energy(body[:, 0], 48000, 400) < 1e-3 * band_energy(body[:, 0], 48000, 1000)
    assert band_energy(body[:, 1], 48000, 1000) < 1e-3 * band_energy(body[:, 1], 48000, 400)


def test_mono_ogg_at_8k(tmp_path: Path) -> None:
    path = tmp_path / "mono.ogg"

    async def scenario() -> None:
        recorder = Recorder(path, 8000, format="ogg")
        record_tones(recorder, 1.0, left=700, right=None)
        await recorder.stop()

    asyncio.run(scenario())

    _, audio = decode_av(path)
    assert audio.shape[1] == 1
    assert abs(len(audio) - 48000) <= 0.03 * 48000
    assert peak(audio[4800:-4800, 0], 48000) == pytest.approx(700, abs=3)


# -- errors ----------------------------------------------------------------------------------


def run_failing(path: Path, *, overwrite: bool = False,
                fmt: Literal["wav", "ogg"] = "wav") -> tuple[Recorder, list[BaseException]]:
    errors: list[BaseException] = []

    async def scenario() -> Recorder:
        recorder = Recorder(path, 8000, format=fmt, overwrite=overwrite,
                            on_error=lambda _rec, exc: errors.append(exc))
        frame = record_tones(recorder, 0.5, right=None)
        await recorder.flush()
        record_tones(recorder, 0.5, start_frame=frame, right=None)  # ticks after the failure
        await recorder.stop()
        return recorder

    return asyncio.run(scenario()), errors


@pytest.mark.parametrize("fmt", ["wav", "ogg"])
def test_missing_directory_is_reported_once(tmp_path: Path, fmt: Literal["wav", "ogg"]) -> None:
    recorder, errors = run_failing(tmp_path / "nowhere" / f"x.{fmt}", fmt=fmt)

    assert len(errors) == 1 and isinstance(errors[0], FileNotFoundError)
    assert recorder.error is errors[0]
    assert recorder.state is RecorderState.FAILED
    assert recorder.sha256 is None


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_reported_once() -> None:
    recorder, errors = run_failing(Path("/dev/full"), overwrite=True)

    assert len(errors) == 1 and isinstance(errors[0], OSError)
    assert errors[0].errno == errno.ENOSPC
    assert recorder.state is RecorderState.FAILED


def test_an_existing_recording_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "old.wav"
    path.write_bytes(b"precious")

    recorder, errors = run_failing(path)

    assert len(errors) == 1 and isinstance(errors[0], FileExistsError)
    assert recorder.state is RecorderState.FAILED
    assert path.read_bytes() == b"precious"


def test_a_bug_in_a_tick_fails_the_recorder_not_the_clock(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def broken() -> Pcm:
        raise RuntimeError("boom")

    async def scenario() -> Recorder:
        recorder = Recorder(tmp_path / "bug.wav", 8000,
                            on_error=lambda _rec, exc: errors.append(exc))
        record_tones(recorder, 0.1, right=None)
        recorder._next_block = broken  # type: ignore[method-assign]
        record_tones(recorder, 0.1, right=None)  # must not raise
        await recorder.stop()
        return recorder

    recorder = asyncio.run(scenario())

    assert [str(e) for e in errors] == ["boom"]
    assert recorder.state is RecorderState.FAILED


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channels"):
        Recorder(tmp_path / "a.wav", 8000, channels=3)
    with pytest.raises(ValueError, match="format"):
        Recorder(tmp_path / "a.mp3", 8000, format="mp3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Hz"):
        Recorder(tmp_path / "a.wav", 44123)
    recorder = Recorder(tmp_path / "b.wav", 8000, channels=2)
    with pytest.raises(ValueError, match="channel 2"):
        recorder.channel(2)
    asyncio.run(recorder.stop())


# -- SIGKILL ---------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import asyncio, sys
    import numpy as np
    from pycc.media.recorder import Recorder

    path, fmt, rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
    n = rate // 50

    def tone(freq, start):
        t = np.arange(start, start + n) / rate
        return np.rint(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)

    async def main():
        recorder = Recorder(path, rate, channels=2, format=fmt, flush_interval=0.2)
        frame = 0

        def step():
            nonlocal frame
            recorder.channel(0).write(tone(1000, frame * n), frame * 0.02)
            recorder.channel(1).write(tone(400, frame * n), frame * 0.02)
            recorder.tick(frame * 0.02)
            frame += 1

        for _ in range(150):
            step()
        await recorder.flush()
        print("ready", flush=True)
        while True:  # keep recording, as fast as the writer allows, until killed
            step()
            await asyncio.sleep(0)

    asyncio.run(main())
""")


def record_and_kill(tmp_path: Path, fmt: str, rate: int) -> Path:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    path = tmp_path / f"killed.{fmt}"
    child = subprocess.Popen([sys.executable, str(script), str(path), fmt, str(rate)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "ready", child.stderr.read() if child.stderr else ""
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return path


def test_wav_survives_sigkill(tmp_path: Path) -> None:
    rate = 16000
    path = record_and_kill(tmp_path, "wav", rate)

    params, data = read_wav(path)

    # Everything up to the flush before "ready" is there, and every sample is right.
    assert params.nchannels == 2 and params.framerate == rate
    assert params.nframes >= 3 * rate
    assert path.stat().st_size >= 44 + 4 * params.nframes
    np.testing.assert_array_equal(data[:, 0], tone(1000, rate, 0, params.nframes))
    np.testing.assert_array_equal(data[:, 1], tone(400, rate, 0, params.nframes))
    decoded_rate, audio = decode_av(path)
    assert decoded_rate == rate and audio.shape == (params.nframes, 2)


def test_ogg_survives_sigkill(tmp_path: Path) -> None:
    path = record_and_kill(tmp_path, "ogg", 8000)

    rate, audio = decode_av(path)

    # 3 s were recorded before "ready"; at most one page interval (0.2 s) may be missing.
    assert rate == 48000 and audio.shape[1] == 2
    assert len(audio) >= (3.0 - 0.2 - 0.05) * rate
    body = audio[4800:len(audio) - 4800]
    assert peak(body[:, 0], rate) == pytest.approx(1000, abs=3)
    assert peak(body[:, 1], rate) == pytest.approx(400, abs=3)
