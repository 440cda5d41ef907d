"""Headless Chromium for pycc's browser tests: launch it, feed it a test tone as its microphone,
and measure what a page hears.

The browser tests drive pages served by pycc (the agent's WebRTC softphone) in Debian's
``chromium`` through Playwright for Python, using the system browser (``executable_path``), not
one downloaded by ``playwright install``. They run in a loopback-only network namespace, so the
launch flags below are the ones WebRTC needs with 127.0.0.1 as the only address.

Audio is checked the way the SIP peer tests check recordings: by frequency, not by the mere
presence of a stream. Chromium's fake microphone plays a WAV tone (``tone_wav``), and
``page_audio_frequency`` taps the MediaStream of an ``<audio>`` element with WebAudio to find
the dominant frequency and level of what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from .audio import write_tone_wav

#: Debian's package; /usr/bin/chromium is a shell launcher that execs this binary.
CHROMIUM_PACKAGE = "chromium"
_DEBIAN_BINARY = Path("/usr/lib/chromium/chromium")

# The AnalyserNode's FFT size: 8192 points is a 5.4 Hz (44.1 kHz) or 5.9 Hz (48 kHz) bin, fine
# enough to tell test tones apart, and a 170 ms window, short enough to poll.
FFT_SIZE = 8192
# The spectrum below this is DC and window leakage around it, never a tone a test plays.
MIN_FREQUENCY = 20.0

_LAUNCH_TIMEOUT_MS = 60_000.0
_CLOSE_TIMEOUT = 10.0
_KILL_WAIT = 5.0
# page.evaluate has no timeout of its own: a measurement that has not come back this long after
# its listening time is over is a wedged page.
_MEASURE_SLACK = 10.0


def chromium_path() -> str | None:
    """The Chromium binary to launch, or None when Chromium is not installed.

    Debian's real binary comes first: its /usr/bin/chromium launcher sources /etc/chromium.d,
    which adds flags of its own (extensions, GPU rasterisation, a /dev/shm size test), and the
    tests want Chromium to run with exactly the flags chosen here.
    """
    if _DEBIAN_BINARY.is_file() and os.access(_DEBIAN_BINARY, os.X_OK):
        return str(_DEBIAN_BINARY)
    return shutil.which("chromium")


def require_chromium() -> str:
    """The Chromium binary to launch; RuntimeError naming the package when there is none.

    The browser tests fail rather than skip without Chromium: CI installs it, and a skipped
    test would hide that the browser path went untested.
    """
    path = chromium_path()
    if path is None:
        raise RuntimeError(
            f"Chromium not found (looked for {_DEBIAN_BINARY} and 'chromium' on PATH): install "
            f"the Debian package '{CHROMIUM_PACKAGE}' (apt-get install {CHROMIUM_PACKAGE}, "
            "or scripts/setup.sh --test)"
        )
    return path


def tone_wav(
    path: Path,
    frequency: float,
    seconds: float = 30,
    rate: int = 48000,
    channels: int = 2,
    level: float = 0.3,
) -> Path:
    """Write a sine of ``frequency`` Hz at peak ``level`` (of full scale) as 16-bit PCM WAV.

    This is the file Chromium's fake microphone plays (it loops it), 48 kHz stereo by default
    like a real capture device. Returns ``path``.
    """
    if not 0 < level <= 1:
        raise ValueError(f"tone_wav: level must be in (0, 1], not {level}")
    if not seconds > 0:
        raise ValueError(f"tone_wav: seconds must be positive, not {seconds}")
    if channels < 1:
        raise ValueError(f"tone_wav: channels must be at least 1, not {channels}")
    return write_tone_wav(path, frequency, seconds, rate, channels, amplitude=level)


def chromium_args(fake_audio: Path | None) -> list[str]:
    """The Chromium flags ``launch_browser`` adds to Playwright's own defaults.

    Each is here because a test fails without it in the loopback-only namespace. Playwright
    already passes --no-sandbox (see ``chromium_sandbox`` below) and --disable-dev-shm-usage.
    Left out, because WebRTC on 127.0.0.1 works without them: --disable-gpu (headless Chromium
    renders with SwiftShader anyway) and --disable-features=WebRtcHideLocalIpsWithMdns (Chromium
    does not hide loopback candidates behind mDNS names; the flag would also replace the
    --disable-features list Playwright passes).
    """
    args = [
        # Grants getUserMedia without a permission prompt (else: NotAllowedError).
        "--use-fake-ui-for-media-stream",
        # A fake capture device: the test machine has no microphone (else: NotFoundError).
        "--use-fake-device-for-media-stream",
        # Lets a page's own <audio autoplay> and AudioContext start without a click: without
        # it a remote stream attached by the page's script stays paused, as in a real browser
        # no one has touched.
        "--autoplay-policy=no-user-gesture-required",
        # Gathers ICE candidates on 127.0.0.1, which Chromium skips by default; with only `lo`
        # up there is no other address and ICE gathering never completes.
        "--allow-loopback-in-peer-connection",
    ]
    if fake_audio is not None:
        # The fake device plays this WAV instead of its beep, so a test knows what was sent.
        args.append(f"--use-file-for-fake-audio-capture={fake_audio.resolve()}")
    return args


@asynccontextmanager
async def launch_browser(*, fake_audio: Path | None) -> AsyncIterator[Browser]:
    """Run headless Chromium for the body of the ``async with``, its microphone playing
    ``fake_audio`` (a WAV, see ``tone_wav``) or the fake device's beep when None.

    The browser is closed on every way out (normal exit, exception, cancellation), and any of
    its processes still running afterwards are killed.
    """
    executable = require_chromium()
    if fake_audio is not None and not fake_audio.is_file():
        raise FileNotFoundError(f"launch_browser: fake_audio {fake_audio} does not exist")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # The tests run as root, where Chromium's sandbox refuses to start.
            chromium_sandbox=False,
            args=chromium_args(fake_audio),
            timeout=_LAUNCH_TIMEOUT_MS,
        )
        leader: int | None = None
        try:
            leader = await browser_pid(browser)
            yield browser
        finally:
            try:
                with contextlib.suppress(PlaywrightError, TimeoutError):
                    await asyncio.wait_for(browser.close(), _CLOSE_TIMEOUT)
            finally:
                # Runs even when the close was cancelled or timed out.
                if leader is not None:
                    kill_browser_processes(leader)


async def browser_pid(browser: Browser) -> int:
    """The process id of ``browser``'s main process, as Chromium reports it over CDP."""
    return (await browser_processes(browser))["browser"][0]


async def browser_processes(browser: Browser) -> dict[str, list[int]]:
    """``browser``'s processes by type ("browser", "renderer", "GPU", ...), from CDP."""
    session = await browser.new_browser_cdp_session()
    try:
        info = await session.send("SystemInfo.getProcessInfo")
    finally:
        await session.detach()
    processes: dict[str, list[int]] = {}
    for entry in info["processInfo"]:
        processes.setdefault(str(entry["type"]), []).append(int(entry["id"]))
    if "browser" not in processes:
        raise RuntimeError(f"Chromium reported no browser process: {info!r}")
    return processes


def process_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an exited child not yet reaped)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def kill_browser_processes(leader: int) -> list[int]:
    """SIGKILL every live process of the browser whose main process is ``leader``, and wait
    until they are gone. Returns the pids it had to kill (empty after a clean close).

    Playwright starts Chromium as the leader of a new process group, and the zygotes,
    renderers, GPU and utility processes stay in that group.
    """
    members = [pid for pid in _group_members(leader) if process_running(pid)]
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT
    while any(process_running(pid) for pid in members) and time.monotonic() < deadline:
        time.sleep(0.02)
    return members


def _group_members(group: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == group:
                members.append(int(entry.name))
    return members


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of ``pid`` from /proc, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may contain spaces and parentheses: the fields follow the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


# Runs in the page. Input problems come back as {error}, so that Python can raise a clear
# ValueError (and wait_for_frequency can retry until the call has connected).
_MEASURE_JS = """
async ([selector, seconds, fftSize]) => {
  const element = document.querySelector(selector);
  if (element === null) return {error: 'no element matches the selector'};
  const stream = element.srcObject;
  if (!(stream instanceof MediaStream)) return {error: 'the element has no MediaStream srcObject'};
  if (stream.getAudioTracks().length === 0) return {error: 'its MediaStream has no audio track'};
  const context = new AudioContext();
  try {
    const stuck = new Promise((_, reject) => setTimeout(
      () => reject(new Error(`AudioContext stays ${context.state}`)), 5000));
    await Promise.race([context.resume(), stuck]);
    const analyser = context.createAnalyser();
    analyser.fftSize = fftSize;
    analyser.smoothingTimeConstant = 0;
    context.createMediaStreamSource(stream).connect(analyser);
    const decibels = new Float32Array(analyser.frequencyBinCount);
    const samples = new Float32Array(analyser.fftSize);
    const power = new Float64Array(analyser.frequencyBinCount);
    const windowMs = 1000 * fftSize / context.sampleRate;
    let squares = 0, count = 0;
    const end = performance.now() + 1000 * seconds;
    do {
      // One whole window of fresh samples per snapshot (the first one too: before it the
      // analyser holds zeros from before the source was connected).
      await new Promise(resolve => setTimeout(resolve, windowMs));
      analyser.getFloatFrequencyData(decibels);
      for (let i = 0; i < decibels.length; i++) power[i] += Math.pow(10, decibels[i] / 10);
      analyser.getFloatTimeDomainData(samples);
      for (const sample of samples) squares += sample * sample;
      count += samples.length;
    } while (performance.now() < end);
    return {power: Array.from(power), sampleRate: context.sampleRate, meanSquare: squares / count};
  } finally {
    await context.close();
  }
}
"""


async def page_audio_frequency(
    page: Page, element_selector: str, seconds: float = 1.0
) -> tuple[float, float]:
    """Listen to the MediaStream in the ``<audio>`` matching ``element_selector`` for
    ``seconds`` and return (dominant frequency in Hz, RMS level in dBFS).

    The stream may be remote (WebRTC) or local (getUserMedia). The level is relative to a
    full-scale square wave: a full-scale sine is -3 dBFS, digital silence is -inf (and its
    frequency 0). ValueError when there is no such element, stream or audio track.
    """
    result = await _measure(page, element_selector, seconds)
    power = np.asarray(result["power"], dtype=np.float64)
    mean_square = float(result["meanSquare"])
    level = 10 * math.log10(mean_square) if mean_square > 0 else -math.inf
    return spectrum_peak(power, float(result["sampleRate"])), level


async def page_audio_spectrum(
    page: Page, element_selector: str, seconds: float = 1.0
) -> tuple[npt.NDArray[np.float64], float]:
    """The power spectrum (bins 0 .. N/2 - 1 of an `FFT_SIZE`-point FFT, summed over
    ``seconds``) of the MediaStream in the ``<audio>`` matching ``element_selector``, and
    its sample rate: for telling several tones heard at once apart. ValueError as
    `page_audio_frequency`."""
    result = await _measure(page, element_selector, seconds)
    return np.asarray(result["power"], dtype=np.float64), float(result["sampleRate"])


async def _measure(page: Page, element_selector: str, seconds: float) -> dict[str, Any]:
    if not seconds > 0:
        raise ValueError(f"page audio: seconds must be positive, not {seconds}")
    result: dict[str, Any] = await asyncio.wait_for(
        page.evaluate(_MEASURE_JS, [element_selector, seconds, FFT_SIZE]),
        seconds + _MEASURE_SLACK,
    )
    if "error" in result:
        raise ValueError(f"page audio ({element_selector!r}): {result['error']}")
    return result


def spectrum_peak(power: Sequence[float] | npt.NDArray[np.float64],
                       sample_rate: float) -> float:
    """The frequency of the strongest peak of a power spectrum (bins 0 .. N/2 - 1 of an
    N-point FFT, as an AnalyserNode gives them), refined between bins by a parabola through
    the log power of the peak and its neighbours. 0.0 when the spectrum holds no energy.
    """
    spectrum = np.asarray(power, dtype=np.float64)
    if spectrum.ndim != 1 or len(spectrum) < 4:
        raise ValueError(f"spectrum_peak: need a 1-D spectrum of 4+ bins, not {spectrum.shape}")
    if not sample_rate > 0:
        raise ValueError(f"spectrum_peak: sample_rate must be positive, not {sample_rate}")
    bin_hz = sample_rate / (2 * len(spectrum))
    first = max(1, math.ceil(MIN_FREQUENCY / bin_hz))
    audible = spectrum[first:]
    if len(audible) == 0 or not np.any(audible > 0):
        return 0.0
    peak = first + int(np.argmax(audible))
    offset = 0.0
    if first < peak < len(spectrum) - 1 and np.all(spectrum[peak - 1 : peak + 2] > 0):
        left, centre, right = np.log(spectrum[peak - 1 : peak + 2])
        curvature = left - 2 * centre + right
        if curvature < 0:
            offset = 0.5 * (left - right) / curvature
    return float((peak + offset) * bin_hz)


async def wait_for_frequency(
    page: Page,
    selector: str,
    freq: float,
    *,
    tolerance: float = 20.0,
    timeout: float = 15.0,
    min_level: float = -60.0,
) -> float:
    """Listen to the ``<audio>`` at ``selector`` until its dominant frequency is within
    ``tolerance`` Hz of ``freq`` at ``min_level`` dBFS or louder, and return that frequency.

    Until then a missing element or stream counts as not heard yet (the call may still be
    connecting). AssertionError after ``timeout`` seconds, with what was heard.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    heard: list[str] = []
    while True:
        listen = min(1.0, max(deadline - loop.time(), 0.2))
        try:
            found, level = await page_audio_frequency(page, selector, listen)
        except ValueError as exc:
            heard.append(str(exc))
            await asyncio.sleep(0.1)
        else:
            if abs(found - freq) <= tolerance and level >= min_level:
                return found
            heard.append(f"{found:.1f} Hz at {level:.1f} dBFS")
        if loop.time() >= deadline:
            raise AssertionError(
                f"{selector}: no {freq:g} Hz (±{tolerance:g}, >= {min_level:g} dBFS) within "
                f"{timeout:g} s; heard: {'; '.join(heard[-5:])}"
            )


async def wait_until(page: Page, expression: str, *, arg: Any = None,
                     timeout: float = 15_000) -> None:
    """Wait until ``expression`` (JavaScript, or a function of ``arg``) is true in ``page``;
    ``timeout`` in milliseconds, then Playwright's TimeoutError.

    What ``Page.wait_for_function`` does, polled with ``page.evaluate`` instead: that goes
    through the DevTools protocol, which the page's Content-Security-Policy does not govern,
    while wait_for_function's own polling evaluates the expression inside the page, which
    pycc's policy (no 'unsafe-eval') refuses as soon as a first check comes out false.
    """
    deadline = time.monotonic() + timeout / 1000
    while not await page.evaluate(expression, arg):
        if time.monotonic() >= deadline:
            raise PlaywrightTimeoutError(
                f"not true within {timeout / 1000:g} s: {expression}")
        await asyncio.sleep(0.1)
