"""The agent desktop's call and state controls, clicked in headless Chromium against a real
``pycc serve``, with baresip phones as the other parties: the mute button silences the agent
for the caller and unmuting brings the agent back, the keypad's keys reach the caller once
each and in order, the page's WebRTC media run on Opus, a blind transfer to an extension
joins the caller and that extension and takes the agent out of the call, and the agent's
own state buttons (not ready with a reason, ready, log out) change what the ACD does and
says; a number typed in the dial box is called from the page.

Each party plays its own tone, so who hears whom is told by frequency in the phones'
recordings; what the switch thinks of the agent and the queue is read from the API.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from ccc.center import PASSWORD, serving
from ccc.test_agent_desktop_actions_browser import (
    agent_ready,
    answer_queue_call,
    base_of,
    hangup_quietly,
    open_page,
    phone,
)
from peers.audio import read_wav, tone_present, write_silence_wav, write_tone_wav
from peers.baresip import BaresipPhone
from peers.browser import launch_browser, tone_wav, wait_for_frequency

pytestmark = pytest.mark.peer

AGENT_HZ = 600.0
CALLER_HZ = 400.0
TARGET_HZ = 800.0
#: How far off a tone may be heard (Opus, G.711 and resampling on the way).
TOLERANCE = 25.0

#: The recordings are judged in windows this long (seconds).
WINDOW = 0.25
#: A tone is in a window when its peak stands this far (dB) above the window's spectral
#: floor and is at least this loud (dBFS). Chromium's noise suppression turns the browser's
#: steady tone down by some 20 dB, so the agent is heard near -30 dBFS; silence is far below.
PROMINENCE_DB = 20.0
LEVEL_DBFS = -55.0

#: The keys the agent presses, by the id of their button, and the digits they stand for.
KEYS = (("1", "1"), ("5", "5"), ("9", "9"), ("star", "*"), ("0", "0"), ("hash", "#"),
        ("7", "7"))

USERS = (("alice", "agent", "alice"), ("sup", "supervisor", None))


async def agent_page(browser: Browser, base: str) -> tuple[BrowserContext, Page]:
    """Alice's page, logged in, its phone ready; the agent not yet in its queues."""
    context, page = await open_page(browser, base, "alice")
    await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=30_000)
    return context, page


async def eventually(check: Callable[[], bool], what: Callable[[], str],
                     timeout: float = 20.0) -> None:
    """Wait until ``check()`` is true; AssertionError with ``what()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what()}"
        await asyncio.sleep(0.1)


# -- reading the phones' recordings ------------------------------------------------------------

def tone_windows(path: Path, frequency: float) -> list[bool]:
    """For each ``WINDOW`` of the recording ``path``: whether ``frequency`` is heard in it."""
    samples, rate = read_wav(path)
    size = round(rate * WINDOW)
    taper = np.hanning(size)
    bins = np.fft.rfftfreq(size, 1.0 / rate)
    band = np.abs(bins - frequency) <= TOLERANCE
    speech = (bins >= 100) & (bins <= 3500)
    heard = []
    for start in range(0, len(samples) - size + 1, size):
        power = np.abs(np.fft.rfft(samples[start:start + size] * taper)) ** 2
        peak = float(power[band].max())
        floor = float(np.median(power[speech])) + 1e-20
        # A Hann-windowed sine of amplitude A peaks at A * size / 4 in the spectrum.
        level = 20 * math.log10(4 * math.sqrt(peak) / size + 1e-12)
        prominence = 10 * math.log10(peak / floor + 1e-30)
        heard.append(prominence >= PROMINENCE_DB and level >= LEVEL_DBFS)
    return heard


def runs(flags: list[bool]) -> list[tuple[bool, int, int]]:
    """``flags`` as (value, first index, length) runs of equal values."""
    found: list[tuple[bool, int, int]] = []
    for index, flag in enumerate(flags):
        if found and found[-1][0] == flag:
            value, first, length = found[-1]
            found[-1] = (value, first, length + 1)
        else:
            found.append((flag, index, 1))
    return found


def longest_gap_between_tones(flags: list[bool], least_tone: float = 1.0) -> tuple[int, int]:
    """The longest stretch without the tone that has at least ``least_tone`` seconds of it
    right before and right after, as (first window, windows); (0, 0) when there is none."""
    stretches = runs(flags)
    longest = (0, 0)
    for before, gap, after in zip(stretches, stretches[1:], stretches[2:], strict=False):
        if before[0] and not gap[0] and after[0] and \
                min(before[2], after[2]) * WINDOW >= least_tone and gap[2] > longest[1]:
            longest = (gap[1], gap[2])
    return longest


def loudest(path: Path, first: int, count: int) -> float:
    """The loudest of ``count`` windows of the recording ``path`` from window ``first``, in
    dBFS (RMS)."""
    samples, rate = read_wav(path)
    size = round(rate * WINDOW)
    levels = [float(np.sqrt(np.mean(samples[start:start + size] ** 2)))
              for start in range(first * size, (first + count) * size, size)]
    return 20 * math.log10(max(levels, default=0.0) + 1e-12)


def describe(flags: list[bool]) -> str:
    """The runs of ``flags`` in seconds, for a failure's message."""
    return " ".join(f"{'tone' if value else 'none'}@{first * WINDOW:g}s:{length * WINDOW:g}s"
                    for value, first, length in runs(flags))


def seconds_of(flags: list[bool]) -> float:
    return sum(flags) * WINDOW


# -- 1. mute, the keypad and Opus on one call ----------------------------------------------------


def test_mute_and_the_keypad_reach_the_caller_and_the_page_talks_opus(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002")) as server:
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        caller = phone(tmp_path, "1002", server.sip_port,
                       write_tone_wav(tmp_path / "caller.wav", CALLER_HZ, 60.0),
                       heard_by_caller, auto_answer=False)
        with caller:
            try:
                muted_for = asyncio.run(asyncio.wait_for(
                    mute_and_keys(base_of(server.http_port), tmp_path, caller), 90))
                caller.wait_event("CALL_CLOSED", timeout=15)
            finally:
                hangup_quietly(caller)
            # Each key once, in order, and nothing more came in the seconds since.
            assert caller.received_digits() == "".join(digit for _, digit in KEYS)
    heard = tone_windows(heard_by_caller, AGENT_HZ)
    assert seconds_of(heard) >= 3.0, describe(heard)
    # Muted, the caller heard nothing of the agent, for about as long as it was muted;
    # before and after, the agent's tone.
    first, count = longest_gap_between_tones(heard)
    assert 2.5 <= count * WINDOW <= muted_for + 1.5, (muted_for, describe(heard))
    # And what it heard meanwhile was silence (the gap's first and last windows may hold a
    # bit of the tone stopping and starting).
    assert loudest(heard_by_caller, first + 1, count - 2) < -50.0, describe(heard)


async def mute_and_keys(base: str, tmp_path: Path, caller: BaresipPhone) -> float:
    """Answer the caller's call, check its media are Opus, press the keys, mute for a
    while and unmute; how long (seconds) the agent was muted."""
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        context, page = await agent_ready(browser, base)
        await answer_queue_call(page, caller)
        await wait_for_frequency(page, "#remote-audio", CALLER_HZ, tolerance=TOLERANCE,
                                 timeout=20.0)
        await media_run_on_opus(page)

        # The keypad: one click a key, each reaches the caller once.
        expected = "".join(digit for _, digit in KEYS)
        for name, _digit in KEYS:
            await page.click(f"#dtmf-{name}")
        await eventually(lambda: len(caller.received_digits()) >= len(expected),
                         lambda: f"the caller's keys, got {caller.received_digits()!r}")
        assert caller.received_digits() == expected
        assert await page.text_content("#phone-error") == ""

        await asyncio.sleep(2.0)  # the caller's recording holds the agent before the mute
        assert await page.get_attribute("#mute", "aria-pressed") == "false"
        await page.click("#mute")
        await page.wait_for_selector("#mute[aria-pressed='true']", timeout=5_000)
        muted = time.monotonic()
        await asyncio.sleep(4.0)  # the caller's recording holds the muted stretch
        await page.click("#mute")
        await page.wait_for_selector("#mute[aria-pressed='false']", timeout=5_000)
        muted_for = time.monotonic() - muted
        await asyncio.sleep(3.0)  # and the agent again after it
        assert await page.get_attribute("#call-state", "data-state") == "answered"
        await page.click("#hangup")
        await page.wait_for_selector("#call", state="hidden", timeout=15_000)
        await context.close()
        return muted_for


#: The audio RTP streams of the page's peer connection, with their codec's MIME type.
_RTP_STATS_JS = """
async () => {
  const pc = window.pycc?.phone?.pc;
  if (!pc) return null;
  const reports = [...(await pc.getStats()).values()];
  const codecs = new Map(reports.filter((r) => r.type === 'codec').map((r) => [r.id, r]));
  return reports
    .filter((r) => (r.type === 'inbound-rtp' || r.type === 'outbound-rtp') && r.kind === 'audio')
    .map((r) => ({
      type: r.type,
      mime: codecs.get(r.codecId)?.mimeType ?? null,
      packets: r.type === 'inbound-rtp' ? r.packetsReceived : r.packetsSent,
    }));
}
"""


async def media_run_on_opus(page: Page) -> None:
    """The page's peer connection sends and receives the call's audio as Opus."""
    streams: Any = None
    deadline = time.monotonic() + 15.0
    while True:
        streams = await page.evaluate(_RTP_STATS_JS)
        directions = {s["type"] for s in streams or [] if s["packets"]}
        if {"inbound-rtp", "outbound-rtp"} <= directions:
            break
        assert time.monotonic() < deadline, f"no audio flowing both ways: {streams}"
        await asyncio.sleep(0.2)
    assert streams, streams
    assert all(str(s["mime"]).lower() == "audio/opus" for s in streams), streams
    sdp = await page.evaluate("window.pycc.phone.pc.currentRemoteDescription.sdp")
    audio = next(line for line in sdp.splitlines() if line.startswith("m=audio"))
    first = audio.split()[3]
    assert f"a=rtpmap:{first} opus/48000/2" in sdp, sdp


# -- 2. blind transfer ---------------------------------------------------------------------------


def test_a_blind_transfer_joins_the_caller_and_the_extension_and_the_agent_leaves(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002", "1003")) as server:
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        heard_by_target = tmp_path / "heard-by-target.wav"
        caller = phone(tmp_path, "1002", server.sip_port,
                       write_tone_wav(tmp_path / "caller.wav", CALLER_HZ, 60.0),
                       heard_by_caller, auto_answer=False)
        target = phone(tmp_path, "1003", server.sip_port,
                       write_tone_wav(tmp_path / "target.wav", TARGET_HZ, 60.0),
                       heard_by_target, auto_answer=True)
        with caller, target:
            try:
                asyncio.run(asyncio.wait_for(
                    transfer_blind(base_of(server.http_port), tmp_path, caller, target), 90))
                caller.hangup()
                target.wait_event("CALL_CLOSED", timeout=15)
            finally:
                hangup_quietly(caller, target)
    # The caller heard the agent, then the transfer target and no longer the agent.
    by_caller_agent = tone_windows(heard_by_caller, AGENT_HZ)
    by_caller_target = tone_windows(heard_by_caller, TARGET_HZ)
    assert seconds_of(by_caller_agent) >= 1.0, describe(by_caller_agent)
    assert seconds_of(by_caller_target) >= 2.0, describe(by_caller_target)
    joined = by_caller_target.index(True)
    assert not any(by_caller_agent[joined + 4:]), describe(by_caller_agent)
    # The transfer target heard the caller, never the agent.
    assert tone_present(heard_by_target, CALLER_HZ)
    by_target_agent = tone_windows(heard_by_target, AGENT_HZ)
    assert not any(by_target_agent), describe(by_target_agent)


async def transfer_blind(base: str, tmp_path: Path, caller: BaresipPhone,
                         target: BaresipPhone) -> None:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        context, page = await agent_ready(browser, base)
        await answer_queue_call(page, caller)
        await wait_for_frequency(page, "#remote-audio", CALLER_HZ, tolerance=TOLERANCE,
                                 timeout=20.0)
        await asyncio.sleep(2.0)  # the caller's recording holds the agent first
        await page.fill("#transfer-target", "1003")
        await page.click("#transfer")
        # The agent's page leaves the call: the call panel goes, the wrap-up comes.
        await page.wait_for_selector("#call", state="hidden", timeout=20_000)
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        assert await page.text_content("#phone-error") == ""
        await page.wait_for_selector(
            "#agent-state[data-state='wrap_up'], #agent-state[data-state='idle']",
            timeout=15_000)
        # The target answers by itself; the caller is still on its call, now with it.
        await asyncio.to_thread(target.wait_event, "CALL_ESTABLISHED", timeout=20)
        assert not any(e.type == "CALL_CLOSED" for e in caller.events), caller.output()
        await asyncio.sleep(3.0)  # the two talk; their recordings must cover it
        assert await page.locator("#incoming:not([hidden])").count() == 0
        await context.close()


# -- 3. the agent's own state --------------------------------------------------------------------


def test_the_agent_state_buttons_rule_what_the_acd_offers(tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002"), users=USERS) as server:
        caller = phone(tmp_path, "1002", server.sip_port,
                       write_silence_wav(tmp_path / "caller.wav", 60.0),
                       tmp_path / "heard-by-caller.wav", auto_answer=False)
        with caller:
            try:
                asyncio.run(asyncio.wait_for(
                    states(base_of(server.http_port), tmp_path, caller), 90))
            finally:
                hangup_quietly(caller)


async def agent_of_api(api: httpx.AsyncClient) -> dict[str, Any]:
    answer = await api.get("/v1/agents/alice")
    assert answer.status_code == 200, answer.text
    agent: dict[str, Any] = answer.json()
    return agent


async def waiting_in_sales(supervisor: httpx.AsyncClient) -> int:
    answer = await supervisor.get("/v1/queues")
    assert answer.status_code == 200, answer.text
    return int(next(q["waiting"] for q in answer.json() if q["queue"] == "sales"))


async def states(base: str, tmp_path: Path, caller: BaresipPhone) -> None:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser, \
            httpx.AsyncClient(base_url=base) as supervisor:
        login = await supervisor.post("/ui/session", json={"user": "sup", "password": PASSWORD})
        assert login.status_code == 200, login.text
        context, page = await agent_ready(browser, base)
        jar = {c["name"]: c["value"] for c in await context.cookies()}
        async with httpx.AsyncClient(base_url=base, cookies=jar) as alice:
            assert (await agent_of_api(alice))["status"] == "available"

            # Not ready, for lunch: the page and the ACD say so.
            await page.select_option("#not-ready-reason", "lunch")
            await page.click("#state-not-ready")
            await page.wait_for_selector("#agent-status[data-status='not_ready']",
                                         timeout=15_000)
            await page.wait_for_selector("#agent-reason-row:not([hidden])", timeout=5_000)
            assert await page.text_content("#agent-reason") == "Lunch"
            assert await page.text_content("#agent-status") == "Not ready"
            agent = await agent_of_api(alice)
            assert (agent["status"], agent["reason"]) == ("not_ready", "lunch"), agent

            # A queue call waits: the page does not ring.
            await asyncio.to_thread(caller.dial, "8100")
            deadline = time.monotonic() + 20.0
            while await waiting_in_sales(supervisor) != 1:
                assert time.monotonic() < deadline, "the call never waited in the queue"
                await asyncio.sleep(0.2)
            for _ in range(6):  # three seconds of a waiting call that rings nobody
                assert await page.locator("#incoming:not([hidden])").count() == 0
                assert await waiting_in_sales(supervisor) == 1
                await asyncio.sleep(0.5)
            assert (await agent_of_api(alice))["status"] == "not_ready"

            # Ready: the waiting call rings the page at once.
            await page.click("#state-ready")
            await page.wait_for_selector("#incoming:not([hidden])", timeout=15_000)
            await page.wait_for_selector("#agent-reason-row", state="hidden", timeout=5_000)
            await page.click("#answer")
            await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
            assert await waiting_in_sales(supervisor) == 0
            await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", timeout=15)
            await page.click("#hangup")
            await page.wait_for_selector("#call", state="hidden", timeout=15_000)
            await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", timeout=15)

            # Logged out: the page and the ACD say so.
            await page.wait_for_selector("#state-logout:not([disabled])", timeout=15_000)
            await page.click("#state-logout")
            await page.wait_for_selector("#agent-status[data-status='offline']",
                                         timeout=15_000)
            assert await page.text_content("#agent-status") == "Logged out"
            assert (await agent_of_api(alice))["status"] == "offline"
            assert await page.is_enabled("#state-login")

            # Manual dialing: the agent types a number and calls it from the page.
            await page.fill("#dial-number", "1002")
            await page.click("#dial")
            await asyncio.to_thread(caller.wait_event, "CALL_INCOMING", timeout=15)
            await asyncio.to_thread(caller.accept)
            await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
            assert "1002" in (await page.text_content("#call-peer") or "")
            await page.click("#hangup")
            await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", timeout=15)
        await context.close()
