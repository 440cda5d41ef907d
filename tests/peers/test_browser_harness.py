"""Self-tests of the headless Chromium harness, independent of pycc.

They prove what the browser tests rely on: the fake microphone plays the WAV it is given, the
WebAudio measurement reports the frequency and level of a stream, two peer connections carry
audio over 127.0.0.1 with only loopback up, and no Chromium process outlives a test.
Run them in the loopback-only namespace like the other peer tests.
"""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playwright.async_api import Browser, BrowserContext, Page

from . import browser as harness
from .aio import runner
from .audio import dominant_frequency, wav_format
from .browser import (
    FFT_SIZE,
    browser_pid,
    browser_processes,
    chromium_args,
    kill_browser_processes,
    launch_browser,
    page_audio_frequency,
    process_running,
    require_chromium,
    spectrum_peak,
    tone_wav,
    wait_for_frequency,
)

pytestmark = pytest.mark.peer

run = runner(None)

# getUserMedia needs a secure context, which about:blank is not and http://127.0.0.1 is. The
# page is served by routing its requests inside the browser, so nothing listens on a port.
ORIGIN = "http://127.0.0.1"
PAGE = "<!doctype html><title>pycc browser harness</title><audio id=sound autoplay></audio>"
# The capture processing a page gets by default (noise suppression, gain control) pulls a
# steady tone down by some 20 dB: these tests measure exactly what the WAV holds.
RAW_AUDIO = "{audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}}"
LEVEL = 0.3
LEVEL_DBFS = 20 * math.log10(LEVEL / math.sqrt(2))

# Candidates go in the SDP (no trickle): the offer and answer are exchanged once each.
ICE_GATHERED = """
  await new Promise((resolve, reject) => {
    if (pc.iceGatheringState === 'complete') resolve();
    pc.addEventListener('icegatheringstatechange',
                        () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(() => reject(new Error(
      `ICE gathering still ${pc.iceGatheringState}: ${pc.localDescription.sdp}`)), 5000);
  });
"""
# The callee page answers and plays on its own, as pycc's softphone page does: the test never
# evaluates anything in it before the call, so it has had no user activation, and its
# <audio autoplay> plays only thanks to the autoplay flag. Offer and answer go through a
# BroadcastChannel (both pages are in one browser context), driven from the caller's evaluate.
CALLEE_PAGE = f"""{PAGE}<script>
const signalling = new BroadcastChannel('call');
signalling.onmessage = async ({{data: offer}}) => {{
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.ontrack = event => {{ document.querySelector('#sound').srcObject = event.streams[0]; }};
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  {ICE_GATHERED}
  signalling.postMessage(pc.localDescription.toJSON());
}};
</script>"""
CALL = f"""async () => {{
  const stream = await navigator.mediaDevices.getUserMedia({RAW_AUDIO});
  const pc = new RTCPeerConnection();
  window.pc = pc;
  stream.getTracks().forEach(track => pc.addTrack(track, stream));
  await pc.setLocalDescription(await pc.createOffer());
  {ICE_GATHERED}
  const signalling = new BroadcastChannel('call');
  const answer = new Promise((resolve, reject) => {{
    signalling.onmessage = message => resolve(message.data);
    setTimeout(() => reject(new Error('no answer from the callee page')), 5000);
  }});
  signalling.postMessage(pc.localDescription.toJSON());
  await pc.setRemoteDescription(await answer);
}}"""
SELECTED_PAIR = """async () => {
  const stats = await window.pc.getStats();
  for (const report of stats.values()) {
    if (report.type === 'transport' && report.selectedCandidatePairId) {
      const pair = stats.get(report.selectedCandidatePairId);
      return [stats.get(pair.localCandidateId).address, stats.get(pair.remoteCandidateId).address];
    }
  }
  return null;
}"""


async def open_page(where: Browser | BrowserContext, html: str = PAGE) -> Page:
    """A new page at ORIGIN showing ``html``."""
    page = await where.new_page()
    await page.route(f"{ORIGIN}/**", lambda route: route.fulfill(body=html,
                                                                  content_type="text/html"))
    await page.goto(f"{ORIGIN}/")
    return page


# -- without a browser -------------------------------------------------------------------------


def blackman_power(samples: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
    """The power spectrum an AnalyserNode computes: Blackman window, bins 0 .. N/2 - 1."""
    spectrum = np.fft.rfft(samples * np.blackman(len(samples)))[: len(samples) // 2]
    return np.abs(spectrum) ** 2


@settings(max_examples=50, deadline=None)
@given(freq=st.floats(min_value=50, max_value=8000), phase=st.floats(0, 2 * math.pi),
       rate=st.sampled_from([44100, 48000]))
def test_spectrum_peak_finds_a_tone_between_bins(freq: float, phase: float, rate: int) -> None:
    t = np.arange(FFT_SIZE) / rate
    power = blackman_power(0.3 * np.sin(2 * math.pi * freq * t + phase))
    # Within a quarter of a bin (about 1.4 Hz), not just to the nearest bin.
    assert spectrum_peak(power, rate) == pytest.approx(freq, abs=rate / FFT_SIZE / 4)


def test_spectrum_peak_prefers_the_louder_tone_and_ignores_dc() -> None:
    t = np.arange(FFT_SIZE) / 48000
    mix = 0.5 + 0.1 * np.sin(2 * math.pi * 300 * t) + 0.3 * np.sin(2 * math.pi * 1200 * t)
    assert spectrum_peak(blackman_power(mix), 48000) == pytest.approx(1200, abs=2)
    assert spectrum_peak(np.zeros(FFT_SIZE // 2), 48000) == 0.0


def test_spectrum_peak_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="spectrum"):
        spectrum_peak([1.0, 2.0], 48000)
    with pytest.raises(ValueError, match="sample_rate"):
        spectrum_peak(np.ones(16), 0)


def test_tone_wav_writes_the_tone(tmp_path: Path) -> None:
    wav = tone_wav(tmp_path / "tone.wav", 750, seconds=0.5)
    assert wav_format(wav) == (48000, 2, 16)
    assert dominant_frequency(wav) == pytest.approx(750, abs=2)
    with pytest.raises(ValueError, match="level"):
        tone_wav(tmp_path / "loud.wav", 750, level=1.5)
    with pytest.raises(ValueError, match="seconds"):
        tone_wav(tmp_path / "empty.wav", 750, seconds=0)


def test_chromium_args(tmp_path: Path) -> None:
    wav = tone_wav(tmp_path / "mic.wav", 440, seconds=0.1)
    with_file = chromium_args(wav)
    assert f"--use-file-for-fake-audio-capture={wav.resolve()}" in with_file
    assert "--allow-loopback-in-peer-connection" in with_file
    without = chromium_args(None)
    assert not any(arg.startswith("--use-file-for-fake-audio-capture") for arg in without)
    assert "--use-fake-device-for-media-stream" in without


def test_missing_chromium_is_an_error_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "chromium_path", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        require_chromium()


def test_installed_chromium_is_found() -> None:
    path = require_chromium()
    assert Path(path).is_file()


# -- with Chromium -----------------------------------------------------------------------------


@pytest.mark.parametrize("freq", [440, 1000])
def test_fake_microphone_plays_the_wav(tmp_path: Path, freq: int) -> None:
    wav = tone_wav(tmp_path / "mic.wav", freq, level=LEVEL)
    other = 1000 if freq == 440 else 440

    async def scenario() -> None:
        async with launch_browser(fake_audio=wav) as browser:
            page = await open_page(browser)
            assert await page.evaluate("window.isSecureContext")
            await page.evaluate(f"""async () => {{
                document.querySelector('#sound').srcObject =
                    await navigator.mediaDevices.getUserMedia({RAW_AUDIO}); }}""")
            heard = await wait_for_frequency(page, "#sound", freq, tolerance=5, timeout=10)
            assert heard == pytest.approx(freq, abs=5)
            _, level = await page_audio_frequency(page, "#sound", 0.5)
            assert level == pytest.approx(LEVEL_DBFS, abs=2)
            with pytest.raises(AssertionError, match="heard: ") as failure:
                await wait_for_frequency(page, "#sound", other, timeout=1)
            reported = [float(hz) for hz in re.findall(r"([\d.]+) Hz at", str(failure.value))]
            assert reported and all(abs(hz - freq) <= 5 for hz in reported), failure.value

    run(scenario)


def test_measuring_a_missing_stream_is_a_clear_error() -> None:
    async def scenario() -> None:
        async with launch_browser(fake_audio=None) as browser:
            page = await open_page(browser)
            with pytest.raises(ValueError, match="no MediaStream"):
                await page_audio_frequency(page, "#sound", 0.2)
            with pytest.raises(ValueError, match="no element"):
                await page_audio_frequency(page, "#nothing", 0.2)
            with pytest.raises(AssertionError, match=r"#sound: no 440 Hz.*no MediaStream"):
                await wait_for_frequency(page, "#sound", 440, timeout=0.5)

    run(scenario)


def test_webrtc_between_two_pages_on_loopback(tmp_path: Path) -> None:
    wav = tone_wav(tmp_path / "mic.wav", 600, level=LEVEL)

    async def scenario() -> None:
        async with launch_browser(fake_audio=wav) as browser:
            context = await browser.new_context()
            callee = await open_page(context, CALLEE_PAGE)
            caller = await open_page(context)
            await caller.evaluate(CALL)
            assert await wait_for_frequency(callee, "#sound", 600) == pytest.approx(600, abs=20)
            assert await caller.evaluate(SELECTED_PAIR) == ["127.0.0.1", "127.0.0.1"]
            # The page's own <audio autoplay> started without a click.
            assert not await callee.evaluate("document.querySelector('#sound').paused")

    run(scenario)


@pytest.mark.parametrize("ending", ["exit", "error", "cancel"])
def test_no_chromium_outlives_the_context(tmp_path: Path, ending: str) -> None:
    pids: list[int] = []

    async def use_browser(started: asyncio.Event) -> None:
        async with launch_browser(fake_audio=None) as browser:
            await open_page(browser)
            pids.extend(pid for group in (await browser_processes(browser)).values()
                        for pid in group)
            assert all(process_running(pid) for pid in pids)
            started.set()
            if ending == "error":
                raise KeyError("the test failed")
            if ending == "cancel":
                await asyncio.sleep(60)

    async def scenario() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(use_browser(started))
        await started.wait()
        if ending == "cancel":
            task.cancel()
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        expected = {"exit": type(None), "error": KeyError, "cancel": asyncio.CancelledError}
        assert isinstance(outcome, expected[ending]), outcome

    run(scenario)
    assert len(pids) >= 3  # browser, renderer and at least one helper process
    assert [pid for pid in pids if process_running(pid)] == []


def test_processes_left_behind_are_killed() -> None:
    async def scenario() -> None:
        async with launch_browser(fake_audio=None) as browser:
            await open_page(browser)
            leader = await browser_pid(browser)
            killed = kill_browser_processes(leader)
            assert leader in killed and len(killed) >= 3
            assert not any(process_running(pid) for pid in killed)
            assert kill_browser_processes(leader) == []
        # Leaving the context after the browser died must not fail or hang.

    run(scenario)

