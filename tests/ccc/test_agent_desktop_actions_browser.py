"""The agent desktop's other actions in headless Chromium against a real ``pycc serve``, with
baresip phones as the customers: an agent edits a customer record (a value pycc refuses is
named at its field), calls a customer from the record, plays a recorded call from "My
calls" (which another agent may not fetch), a supervisor listens and then barges in from
the wallboard, and the agent makes a three-way call with the consult's conference button.

Each browser's microphone plays its own tone and each phone its own, so who hears whom is
told by frequency: in the page through WebAudio on the remote stream, on a phone in its
recording. The recorded call is a real queue call with ``record_calls`` on: the switch
records it, names the file in the call's record and catalogues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ccc.center import PASSWORD, log_in, recording_settings, serving
from peers.audio import (
    dominant_frequency,
    read_wav,
    tone_present,
    write_silence_wav,
    write_tone_wav,
)
from peers.baresip import BaresipPhone, start_baresip
from peers.browser import (
    launch_browser,
    page_audio_frequency,
    page_audio_spectrum,
    tone_wav,
    wait_for_frequency,
    wait_until,
)
from pycc.ccc.desk import check_customer
from pycc.ccc.desk_store import create_customer
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

AGENT_HZ = 600.0
CALLER_HZ = 400.0
CUSTOMER_HZ = 800.0
SUPERVISOR_HZ = 900.0
#: How far off a tone may be heard (Opus, G.711 and resampling on the way).
TOLERANCE = 25.0

#: Alice takes the sales queue's calls; Bob is another agent of the tenant, in no queue.
CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1005", skills: {support: 5}}
queues:
  - {name: sales, skill: sales}
routes:
  - {match: "8100", to: {queue: sales}}
"""
USERS = (("alice", "agent", "alice"), ("bob", "agent", "bob"),
         ("sup", "supervisor", None))
EXTENSIONS = ("1001", "1002", "1003", "1005", "1009")


def base_of(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def phone(tmp_path: Path, number: str, port: int, source: Path, heard: Path, *,
          auto_answer: bool) -> BaresipPhone:
    """A baresip phone registered as extension ``number``, saying ``source``."""
    return start_baresip(tmp_path, sip_user=number, password=f"secret-{number}",
                         registrar_port=port, audio_source_wav=source, record_wav=heard,
                         auto_answer=auto_answer)


async def open_page(browser: Browser, base: str, user: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        locale="en-US")
    page = await context.new_page()
    await log_in(page, base, user)
    return context, page


async def agent_ready(browser: Browser, base: str, user: str = "alice",
                      ) -> tuple[BrowserContext, Page]:
    """An agent's page, its phone ready and the agent available in its queues."""
    context, page = await open_page(browser, base, user)
    await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=30_000)
    await page.click("#state-login")
    await page.wait_for_selector("#agent-status[data-status='available']", timeout=15_000)
    return context, page


async def answer_queue_call(page: Page, caller: BaresipPhone) -> None:
    """The caller dials the sales queue; the agent answers on the page."""
    await asyncio.to_thread(caller.dial, "8100")
    await page.wait_for_selector("#incoming:not([hidden])", timeout=30_000)
    await page.click("#answer")
    await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)


async def cookies(context: BrowserContext) -> dict[str, str]:
    return {c["name"]: c["value"] for c in await context.cookies()}


def hangup_quietly(*phones: BaresipPhone) -> None:
    """End whatever call each phone still has (the test is done with them)."""
    for each in phones:
        with contextlib.suppress(Exception):
            each.hangup()


# -- hearing several tones at once -----------------------------------------------------------

def band_shares(power: Sequence[float] | npt.NDArray[np.float64], sample_rate: float,
                frequencies: Sequence[float]) -> list[float]:
    """The share of the spectrum's power (above 50 Hz) within ``TOLERANCE`` of each
    frequency; zeros for silence."""
    spectrum = np.asarray(power, dtype=np.float64)
    bins = np.arange(len(spectrum)) * sample_rate / (2 * len(spectrum))
    audible = bins >= 50.0
    total = float(spectrum[audible].sum())
    if not total > 0 or not math.isfinite(total):
        return [0.0 for _ in frequencies]
    return [float(spectrum[np.abs(bins - f) <= TOLERANCE].sum()) / total for f in frequencies]


async def wait_for_tones(page: Page, selector: str, frequencies: Sequence[float], *,
                         least: float = 0.1, timeout: float = 20.0) -> list[float]:
    """Listen to the ``<audio>`` at ``selector`` until each of ``frequencies`` carries at
    least ``least`` of what it plays at once; the shares. AssertionError after ``timeout``."""
    heard: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            power, sample_rate = await page_audio_spectrum(page, selector, 1.0)
        except ValueError as exc:  # no stream yet: the call is still connecting
            heard.append(str(exc))
        else:
            shares = band_shares(power, sample_rate, frequencies)
            if all(share >= least for share in shares):
                return shares
            heard.append(", ".join(f"{f:g} Hz {s:.2f}" for f, s in zip(frequencies, shares,
                                                                          strict=True)))
        if time.monotonic() >= deadline:
            raise AssertionError(f"{selector}: not all of {list(frequencies)} at {least:.0%} "
                                 f"within {timeout:g} s; heard: {'; '.join(heard[-5:])}")
        await asyncio.sleep(0.1)


#: How far above the spectrum's floor a tone must stand in a phone's recording to count as
#: heard. Chromium's noise suppression turns a browser's steady test tone down by some
#: 20 dB after a second or two, so a browser's tone is heard much quieter than a phone's:
#: its share of the energy says little, its peak over the floor (60 dB and more when
#: present, under 30 when not) says it.
PROMINENCE_DB = 40.0


def heard_together(path: Path, frequencies: Sequence[float]) -> float:
    """How far (dB) above the floor the weakest of ``frequencies`` stands in the one-second
    window of the recording ``path`` where all of them are strongest: a sound heard at once
    from every party whose tone it is."""
    samples, rate = read_wav(path)
    return stands_out(samples, rate, frequencies)


def stands_out(samples: npt.NDArray[np.float64], rate: int,
               frequencies: Sequence[float]) -> float:
    """`heard_together` of ``samples`` at ``rate``."""
    best = -math.inf
    for start in range(0, len(samples) - rate + 1, rate // 2):
        window = samples[start:start + rate]
        power = np.abs(np.fft.rfft(window * np.hanning(len(window)))) ** 2
        bins = np.fft.rfftfreq(len(window), 1.0 / rate)
        floor = float(np.median(power[(bins >= 100) & (bins <= 3500)])) + 1e-20
        peaks = [float(power[np.abs(bins - f) <= TOLERANCE].max()) for f in frequencies]
        best = max(best, min(10 * math.log10(peak / floor + 1e-30) for peak in peaks))
    return best


async def never_hears(page: Page, selector: str, frequency: float, seconds: int) -> None:
    """Listen for ``seconds`` one-second windows: ``frequency`` is never the tone heard."""
    for _ in range(seconds):
        found, level = await page_audio_frequency(page, selector, 1.0)
        assert not (abs(found - frequency) <= TOLERANCE and level >= -60.0), (
            f"{selector} heard {found:.1f} Hz at {level:.1f} dBFS")


# -- 1. editing a customer -------------------------------------------------------------------


def test_agent_edits_a_customer_and_a_refused_value_is_named_at_its_field(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001",)) as server:
        with Store(make_url(server.data_dir, None)) as store:
            ann = create_customer(store, "default", check_customer(
                name="Ann Lee", phones=["+1 212 555 0100"], email="ann@example.com",
                company="Acme"), now=time.time())
        base = base_of(server.http_port)
        jar = asyncio.run(asyncio.wait_for(edit_customer(base, tmp_path), 60))
        stored = httpx.get(f"{base}/v1/customers/{ann.id}", cookies=jar).json()
        # The change the page saved, and none of the values pycc refused.
        assert (stored["name"], stored["company"], stored["email"], stored["phones"]) == (
            "Ann Lee", "Globex Ltd", "ann@example.com", ["+1 212 555 0100", "+1 212 555 0199"])
        assert stored["notes"] == "Prefers mornings."


async def edit_customer(base: str, tmp_path: Path) -> dict[str, str]:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        context, page = await open_page(browser, base, "alice")
        await page.wait_for_selector("#desk:not([hidden])", timeout=20_000)
        await page.fill("#customer-search", "ann")
        await page.click("#customer-search-go")
        await page.click("#customer-results li:has-text('Ann Lee') button")
        await page.wait_for_selector("#customer-card:not([hidden])", timeout=10_000)
        await page.click("#customer-edit")
        assert await page.input_value("#customer-form-email") == "ann@example.com"
        await page.fill("#customer-form-company", "Globex Ltd")
        await page.fill("#customer-form-phones", "+1 212 555 0100, +1 212 555 0199")
        await page.fill("#customer-form-notes", "Prefers mornings.")
        await page.click("#customer-save")
        await page.wait_for_selector("#customer-saved:not(:empty)", timeout=10_000)
        # The card shows what pycc saved.
        await page.wait_for_selector(
            "#customer-details [data-field='company'] dd:has-text('Globex Ltd')", timeout=10_000)

        # An address the page lets through but pycc refuses: pycc's message is at the field.
        await page.click("#customer-edit")
        await page.fill("#customer-form-email", "ann@localhost")
        await page.click("#customer-save")
        await page.wait_for_selector("#customer-form-email-error:not(:empty)", timeout=10_000)
        assert await page.get_attribute("#customer-form-email", "aria-invalid") == "true"
        assert "e-mail" in (await page.text_content("#customer-form-email-error") or "")
        for other in ("name", "phones", "company", "notes"):
            assert await page.text_content(f"#customer-form-{other}-error") == "", other
        assert await page.text_content("#customer-saved") == ""

        # The same number twice, in two spellings: pycc names the phones field.
        await page.fill("#customer-form-email", "ann@example.com")
        await page.fill("#customer-form-phones", "+1 212 555 0100, +1 (212) 555-0100")
        await page.click("#customer-save")
        await page.wait_for_selector("#customer-form-phones-error:not(:empty)", timeout=10_000)
        assert "same number" in (await page.text_content("#customer-form-phones-error") or "")
        assert await page.text_content("#customer-form-email-error") == ""

        # A value the page itself refuses never leaves it.
        await page.fill("#customer-form-phones", "call me")
        await page.click("#customer-save")
        await page.wait_for_selector("#customer-form-phones-error:has-text('call me')",
                                     timeout=5_000)
        jar = await cookies(context)
        await context.close()
        return jar


# -- 2. click-to-call ------------------------------------------------------------------------


def test_agent_calls_a_customer_from_the_record_and_both_hear_each_other(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1003")) as server:
        with Store(make_url(server.data_dir, None)) as store:
            create_customer(store, "default", check_customer(
                name="Cy Wong", phones=["(10) 03"], company="Initech"), now=time.time())
        heard_by_customer = tmp_path / "heard-by-customer.wav"
        customer = phone(tmp_path, "1003", server.sip_port,
                         write_tone_wav(tmp_path / "customer.wav", CUSTOMER_HZ, 30.0),
                         heard_by_customer, auto_answer=False)
        with customer:
            asyncio.run(asyncio.wait_for(
                call_from_record(base_of(server.http_port), tmp_path, customer), 60))
            customer.wait_event("CALL_CLOSED", timeout=15)
        assert tone_present(heard_by_customer, AGENT_HZ), dominant_frequency(heard_by_customer)


async def call_from_record(base: str, tmp_path: Path, customer: BaresipPhone) -> None:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        context, page = await open_page(browser, base, "alice")
        await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=30_000)
        await page.fill("#customer-search", "initech")
        await page.click("#customer-search-go")
        await page.click("#customer-results li:has-text('Cy Wong') button")
        await page.click("#customer-details button[data-dial='(10) 03']")
        # The customer's phone rings (the number as stored, dialed as its digits).
        await asyncio.to_thread(customer.wait_event, "CALL_INCOMING", timeout=20)
        await page.wait_for_selector("#call-state[data-state='ringing']", timeout=10_000)
        assert await page.text_content("#call-peer") == "1003"
        await asyncio.to_thread(customer.accept)
        await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        # The placed call's customer is looked up by number.
        await page.wait_for_selector("#customer-card:not([hidden])", timeout=10_000)
        assert await page.text_content("#customer-name") == "Cy Wong"
        await wait_for_frequency(page, "#remote-audio", CUSTOMER_HZ, tolerance=TOLERANCE,
                                 timeout=20.0)
        await asyncio.sleep(2.5)  # the customer's recording must hold the agent
        await page.click("#hangup")
        await page.wait_for_selector("#call", state="hidden", timeout=15_000)
        await context.close()


# -- 3. a recorded call in "My calls" --------------------------------------------------------


async def play_from_my_calls(page: Page, call_id: str) -> str:
    """Open "My calls", wait for ``call_id``'s recording, play it: the player must carry
    the call. The recording's id."""
    await page.click("#tab-history")
    play = f"#history tr[data-call='{call_id}'] button[data-recording]"
    # pycc catalogues a recording once its call record is closed: ask again until then.
    deadline = time.monotonic() + 30.0
    while await page.locator(play).count() == 0:
        assert time.monotonic() < deadline, "the call's recording never showed"
        await page.click("#history-refresh")
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_selector(play, timeout=2_000)
    recording = await page.get_attribute(play, "data-recording")
    assert recording
    await page.click(play)
    await page.wait_for_selector("#history-player:not([hidden])", timeout=5_000)
    await wait_until(
        page, "() => { const p = document.getElementById('history-player');"
        " return p.readyState >= 2 && p.duration > 2 && !p.paused; }", timeout=15_000)
    assert await page.get_attribute(f"#history tr[data-call='{call_id}']",
                                    "data-playing") == "yes"
    # What the player plays, tapped; looped so that a slow machine still hears it.
    await page.evaluate(
        "() => { const p = document.getElementById('history-player'); p.loop = true;"
        " const tap = document.createElement('audio'); tap.id = 'history-tap';"
        " tap.srcObject = p.captureStream(); document.body.append(tap); }")
    # The caller's tone, as loud as sent; the agent's, 20 dB down (Chromium's noise
    # suppression), is looked for in the file itself (`parties_on_their_channels`).
    await wait_for_tones(page, "#history-tap", [CALLER_HZ], timeout=20.0)
    return recording


def only_its_agent_fetches(base: str, recording: str, call_id: str,
                           alice: dict[str, str]) -> bytes:
    """Alice, whose call it was, fetches the recording (its bytes are returned); Bob,
    another agent, may neither fetch nor list it."""
    mine = httpx.get(f"{base}/v1/recordings/{recording}/content", cookies=alice)
    assert mine.status_code == 200 and mine.content[:4] == b"RIFF", mine
    with httpx.Client(base_url=base) as bob:
        login = bob.post("/ui/session", json={"user": "bob", "password": PASSWORD})
        assert login.status_code == 200, login.text
        refused = bob.get(f"/v1/recordings/{recording}/content")
        assert refused.status_code in (403, 404), refused
        assert bob.get(f"/v1/recordings/{recording}").status_code in (403, 404)
        listed = bob.get("/v1/recordings").json()["items"]
        assert all(r["call_id"] != call_id for r in listed), listed
    return mine.content


def parties_on_their_channels(wav: bytes) -> None:
    """A call recording as pycc writes it: the caller on the left, the agent on the right."""
    with wave.open(io.BytesIO(wav), "rb") as recording:
        assert recording.getnchannels() == 2 and recording.getsampwidth() == 2
        rate = recording.getframerate()
        frames = recording.readframes(recording.getnframes())
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, 2).astype(np.float64) / 32768.0
    left, right = pcm[:, 0], pcm[:, 1]
    assert stands_out(left, rate, [CALLER_HZ]) >= PROMINENCE_DB
    assert stands_out(right, rate, [AGENT_HZ]) >= PROMINENCE_DB
    assert stands_out(left, rate, [AGENT_HZ]) < PROMINENCE_DB  # each on its own channel


def test_a_recorded_queue_call_plays_from_my_calls_and_another_agent_may_not(
        tmp_path: Path) -> None:
    recording_settings(tmp_path / "data")
    with serving(tmp_path, extensions=EXTENSIONS, users=USERS, center=CENTER) as server:
        base = base_of(server.http_port)
        caller = phone(tmp_path, "1002", server.sip_port,
                       write_tone_wav(tmp_path / "caller.wav", CALLER_HZ, 30.0),
                       tmp_path / "heard-by-caller.wav", auto_answer=False)
        with caller:
            recording, call_id, jar = asyncio.run(asyncio.wait_for(
                record_and_play(base, tmp_path, caller), 90))
        parties_on_their_channels(only_its_agent_fetches(base, recording, call_id, jar))


async def record_and_play(base: str, tmp_path: Path,
                          caller: BaresipPhone) -> tuple[str, str, dict[str, str]]:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        context, page = await agent_ready(browser, base)
        await answer_queue_call(page, caller)
        await wait_for_frequency(page, "#remote-audio", CALLER_HZ, tolerance=TOLERANCE,
                                 timeout=20.0)
        await asyncio.sleep(3.0)  # a few seconds of both tones in the recording
        await page.click("#hangup")
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        await page.select_option("#wrapup-code", "sale")
        await page.click("#wrapup-submit")
        await page.wait_for_selector("#wrapup-done:not([hidden])", timeout=15_000)
        call_id = await page.evaluate("window.pycc.lastWrapup")
        assert isinstance(call_id, str) and call_id, call_id
        jar = await cookies(context)
        # The switch names the recording in the call's record as the call ends.
        record: dict[str, Any] | None = None
        async with httpx.AsyncClient(base_url=base, cookies=jar) as api:
            for _ in range(100):
                items = (await api.get("/v1/records", params={"order": "newest"})).json()
                record = next((r for r in items["items"] if r["call_id"] == call_id), None)
                if record is not None and record["state"] == "closed":
                    break
                await asyncio.sleep(0.1)
        assert record is not None and record["recording"], record
        recording = await play_from_my_calls(page, call_id)
        await context.close()
        return recording, call_id, jar


# -- 4. listen and barge from the wallboard ----------------------------------------------------


def test_a_supervisor_listens_then_barges_in_from_the_wallboard(tmp_path: Path) -> None:
    """The caller is silent: what the agent hears is the supervisor alone. Listening, the
    supervisor hears the agent and the agent hears nothing; barging in, the agent and the
    caller hear the supervisor too."""
    with serving(tmp_path, extensions=EXTENSIONS, users=USERS, center=CENTER) as server:
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        caller = phone(tmp_path, "1002", server.sip_port,
                       write_silence_wav(tmp_path / "caller-silent.wav", 30.0),
                       heard_by_caller, auto_answer=False)
        with caller:
            asyncio.run(asyncio.wait_for(
                listen_then_barge(base_of(server.http_port), tmp_path, caller), 90))
            caller.hangup()
            caller.wait_event("CALL_CLOSED", timeout=15)
        # Once the supervisor barged in, the caller hears it and the agent at once.
        together = heard_together(heard_by_caller, [AGENT_HZ, SUPERVISOR_HZ])
        assert together >= PROMINENCE_DB, together


async def listen_then_barge(base: str, tmp_path: Path, caller: BaresipPhone) -> None:
    agent_mic = tone_wav(tmp_path / "agent.wav", AGENT_HZ)
    supervisor_mic = tone_wav(tmp_path / "supervisor.wav", SUPERVISOR_HZ)
    async with launch_browser(fake_audio=agent_mic) as agent_browser, \
            launch_browser(fake_audio=supervisor_mic) as supervisor_browser:
        _, agent = await agent_ready(agent_browser, base)
        _, supervisor = await open_page(supervisor_browser, base, "sup")
        await supervisor.wait_for_selector("#supervisor:not([hidden])", timeout=20_000)
        await supervisor.fill("#sup-extension", "1009")
        await supervisor.click("#sup-phone-connect")
        await supervisor.wait_for_selector("#sup-phone-status[data-ready='yes']",
                                           timeout=30_000)
        row = "#wallboard-agents tr[data-agent='alice']"
        await answer_queue_call(agent, caller)
        await supervisor.wait_for_selector(f"{row} [data-state='on_call']", timeout=15_000)

        await supervisor.click(f"{row} [data-action='listen']")
        await supervisor.wait_for_selector(f"{row} [data-mode='listen']", timeout=15_000)
        assert await supervisor.get_attribute("#sup-monitor", "data-mode") == "listen"
        await wait_for_frequency(supervisor, "#sup-remote-audio", AGENT_HZ,
                                 tolerance=TOLERANCE, timeout=20.0)
        # Listening only: nothing of the supervisor reaches the agent.
        await never_hears(agent, "#remote-audio", SUPERVISOR_HZ, 3)

        await supervisor.click(f"{row} [data-action='barge']")
        await supervisor.wait_for_selector(f"{row} [data-mode='barge']", timeout=15_000)
        await wait_for_frequency(agent, "#remote-audio", SUPERVISOR_HZ, tolerance=TOLERANCE,
                                 timeout=20.0)
        await wait_for_frequency(supervisor, "#sup-remote-audio", AGENT_HZ,
                                 tolerance=TOLERANCE, timeout=20.0)
        await asyncio.sleep(3.0)  # the caller's recording must cover the barge-in
        await supervisor.click(f"{row} [data-action='stop']")
        await supervisor.wait_for_selector(f"{row} [data-mode='barge']", state="detached",
                                           timeout=15_000)


# -- 5. three-way call -----------------------------------------------------------------------


def test_the_agent_holds_the_caller_consults_and_makes_a_three_way_call(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002", "1003")) as server:
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        heard_by_expert = tmp_path / "heard-by-expert.wav"
        caller = phone(tmp_path, "1002", server.sip_port,
                       write_tone_wav(tmp_path / "caller.wav", CALLER_HZ, 40.0),
                       heard_by_caller, auto_answer=False)
        expert = phone(tmp_path, "1003", server.sip_port,
                       write_tone_wav(tmp_path / "expert.wav", CUSTOMER_HZ, 40.0),
                       heard_by_expert, auto_answer=True)
        with caller, expert:
            try:
                asyncio.run(asyncio.wait_for(
                    three_way(base_of(server.http_port), tmp_path, caller), 90))
            finally:
                hangup_quietly(caller, expert)
        # Each phone hears the agent and the other phone at once: only the conference
        # does that.
        by_caller = heard_together(heard_by_caller, [AGENT_HZ, CUSTOMER_HZ])
        assert by_caller >= PROMINENCE_DB, by_caller
        by_expert = heard_together(heard_by_expert, [AGENT_HZ, CALLER_HZ])
        assert by_expert >= PROMINENCE_DB, by_expert


async def three_way(base: str, tmp_path: Path, caller: BaresipPhone) -> None:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        _, page = await agent_ready(browser, base)
        await answer_queue_call(page, caller)
        await page.click("#hold")
        await page.wait_for_selector("#call-state[data-state='held']", timeout=15_000)
        await page.fill("#dial-number", "1003")
        await page.click("#dial")
        await page.wait_for_selector("#consult:not([hidden])", timeout=20_000)
        await wait_for_frequency(page, "#remote-audio", CUSTOMER_HZ, tolerance=TOLERANCE,
                                 timeout=20.0)
        await page.click("#consult-conference")
        await page.wait_for_selector("#consult", state="hidden", timeout=15_000)
        await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        # The agent hears both the caller and the expert at once.
        await wait_for_tones(page, "#remote-audio", [CALLER_HZ, CUSTOMER_HZ], timeout=20.0)
        await asyncio.sleep(3.0)  # the phones' recordings must cover the conference
        await page.click("#hangup")
