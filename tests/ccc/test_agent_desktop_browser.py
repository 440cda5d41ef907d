"""The agent desktop in headless Chromium against a real ``pycc serve``: the agent logs in
on the page, its browser becomes its phone (the fake microphone plays a tone), a baresip phone
calls the queue, the agent answers on the page, and each side hears the other's tone (the
page through WebAudio on the remote stream, baresip in its recording). The agent then sets a
disposition, and the call's record has it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import WebSocketRoute

from ccc.center import log_in, serving
from peers.audio import dominant_frequency, tone_present, write_silence_wav, write_tone_wav
from peers.baresip import start_baresip
from peers.browser import launch_browser, tone_wav, wait_for_frequency, wait_until
from pycc.ccc.desk import check_article, check_customer
from pycc.ccc.desk_store import create_article, create_customer
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

#: Where the test leaves screenshots of the page when asked (the README's come from here).
SCREENSHOTS = os.environ.get("PYCC_SCREENSHOTS")


def test_agent_answers_a_queue_call_in_the_browser_and_dispositions_it(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        with Store(make_url(server.data_dir, None)) as store:
            # The caller is a known customer, whose notes would be markup if they were not
            # written into the page as text.
            create_customer(store, "default", check_customer(
                name="Ann Lee", phones=["1002"], company="Acme", notes=MARKUP),
                now=time.time())
            create_article(store, "default", check_article(
                title="Refunds", body="Refunds take five days.\nAsk for the order number.",
                tags=["billing"]), author="boss", now=time.time())
        base = f"http://127.0.0.1:{server.http_port}"
        mic = tone_wav(tmp_path / "agent-600hz.wav", 600.0)
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        caller = start_baresip(
            tmp_path, sip_user="1002", password="secret-1002", registrar_port=server.sip_port,
            audio_source_wav=write_tone_wav(tmp_path / "caller-400hz.wav", 400, 30.0),
            record_wav=heard_by_caller, auto_answer=False)
        with caller:
            pycc_call = asyncio.run(asyncio.wait_for(
                agent_takes_the_call(base, mic, caller.dial), 120))
            caller.wait_event("CALL_CLOSED", timeout=15)
        assert tone_present(heard_by_caller, 600), dominant_frequency(heard_by_caller)
        records = httpx.get(f"{base}/v1/records", params={"limit": 50},
                            cookies=_COOKIES).json()["items"]
        tickets = httpx.get(f"{base}/v1/tickets", cookies=_COOKIES).json()["items"]
        assert [(t["subject"], t["call"], t["created_by"]) for t in tickets] == [
            ("Upgrade to the yearly plan", pycc_call, "alice")]
        assert tickets[0]["customer"] is not None
        record = next(r for r in records if r["call_id"] == pycc_call)
        assert (record["agent"], record["wrapup_code"], record["wrapup_notes"]) == (
            "alice", "sale", "wants the yearly plan")


_COOKIES: dict[str, str] = {}
#: Customer notes that are also markup: the page must show them, never run them.
MARKUP = '<img src=x onerror="window.pyccInjected=1"> VIP & "gold"'


async def agent_takes_the_call(base: str, mic: Path, dial: object) -> str:
    async with launch_browser(fake_audio=mic) as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 800},
                                            locale="en-US")
        page = await context.new_page()
        # The phone's WebSocket goes through the test, which can cut it like a network would.
        sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        network = {"up": True}

        async def through(route: WebSocketRoute) -> None:
            if not network["up"]:
                await route.close(code=1006, reason="network down")
                return
            sockets.append((route, route.connect_to_server()))

        await page.route_web_socket(re.compile(r".*/v1/phone$"), through)
        await log_in(page, base, "alice")
        await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=20_000)
        await page.click("#state-login")
        await page.wait_for_selector("#agent-status[data-status='available']", timeout=15_000)
        await _shot(page, "agent-desktop-available.png")
        assert callable(dial)
        dial("8100")
        await page.wait_for_selector("#incoming:not([hidden])", timeout=20_000)
        assert "sales" in (await page.text_content("#incoming-info") or "")
        # The customer pops up, by the caller's number, as text.
        await page.wait_for_selector("#customer-card:not([hidden])", timeout=15_000)
        assert await page.text_content("#customer-name") == "Ann Lee"
        assert MARKUP in (await page.text_content("#customer-details") or "")
        assert await page.locator("#customer-card img").count() == 0
        assert await page.evaluate("window.pyccInjected") is None
        await _shot(page, "agent-desktop-incoming.png")
        await page.click("#answer")
        await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        # The agent hears the caller's 400 Hz through WebRTC and the page's audio element.
        await wait_for_frequency(page, "#remote-audio", 400.0, tolerance=25.0, timeout=20.0)
        # Let the caller hear the agent's 600 Hz for a while, then the agent hangs up.
        await asyncio.sleep(2.5)
        await _shot(page, "agent-desktop-call.png")
        # A ticket made during the call names the call and the customer.
        await page.click("#tab-tickets")
        await page.fill("#ticket-subject", "Upgrade to the yearly plan")
        await page.fill("#ticket-body", "Call back with a quote.")
        await page.click("#ticket-save")
        await page.wait_for_selector("#tickets-list li[data-ticket]", timeout=10_000)
        await page.click("#hangup")
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        await page.select_option("#wrapup-code", "sale")
        await page.fill("#wrapup-notes", "wants the yearly plan")
        await page.click("#wrapup-submit")
        await page.wait_for_selector("#wrapup-done:not([hidden])", timeout=15_000)
        # The agent's own calls, newest first, with the disposition just given.
        await page.click("#tab-history")
        pycc_call = await page.evaluate("window.pycc.lastWrapup")
        row = f"#history tr[data-call='{pycc_call}']"
        await page.wait_for_selector(row, timeout=10_000)
        assert "Sale" in (await page.text_content(row) or "")
        # The profile says who is logged in, and on which extension.
        await page.click("#tab-profile")
        await page.wait_for_selector("#profile-extension:has-text('1001')", timeout=10_000)
        assert await page.text_content("#profile-agent") == "alice"
        # A new customer, made in the page, is found by a search.
        await page.click("#tab-customer")
        await page.fill("#customer-form-name", "Bo Chan")
        await page.fill("#customer-form-phones", "+1 (212) 555-0199")
        await page.click("#customer-save")
        await page.fill("#customer-search", "chan")
        await page.click("#customer-search-go")
        await page.wait_for_selector("#customer-results li:has-text('Bo Chan')", timeout=10_000)
        # The knowledge base, searched.
        await page.click("#tab-kb")
        await page.fill("#kb-search", "five days")
        await page.click("#kb-search-go")
        await page.click("#kb-results li[data-article] button")
        await page.wait_for_selector("#kb-article:not([hidden])", timeout=10_000)
        assert "order number" in (await page.text_content("#kb-article") or "")
        # The network goes: the page says so at once; pycc, seeing the page's phone gone,
        # makes the available agent not ready ("disconnected"), so that the ACD offers no
        # call that nobody would hear.
        assert sockets, "the page's phone socket was not seen"
        await page.wait_for_selector("#agent-status[data-status='available']", timeout=15_000)
        network["up"] = False
        await asyncio.to_thread(cut_connections, int(base.rsplit(":", 1)[1]))
        await page.wait_for_selector("#connection-lost:not([hidden])", timeout=5_000)
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
            async with asyncio.timeout(10):
                while (found := (await http.get("/v1/agents/alice")).json())["status"] \
                        != "not_ready":
                    await asyncio.sleep(0.1)
        assert found["reason"] == "disconnected"
        # The network comes back: the page reconnects by itself (a new socket and a new
        # WebRTC offer) with no reload, and shows the ACD's state until the agent is ready.
        seen = len(sockets)
        network["up"] = True
        await page.wait_for_selector("#connection-lost", state="hidden", timeout=20_000)
        await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=20_000)
        assert len(sockets) > seen
        await page.wait_for_selector("#agent-status[data-status='not_ready']", timeout=10_000)
        assert await page.text_content("#agent-reason") == "Page disconnected"
        await page.click("#state-ready")
        await page.wait_for_selector("#agent-status[data-status='available']", timeout=10_000)
        for cookie in await context.cookies():
            _COOKIES[cookie["name"]] = cookie["value"]
        pycc_call = await page.evaluate("window.pycc.lastWrapup")
        assert isinstance(pycc_call, str) and pycc_call, pycc_call
        await context.close()
        return pycc_call


def cut_connections(port: int) -> None:
    """Reset every TCP connection to ``port`` on 127.0.0.1 at both ends, as a network that
    goes away does (the kernel's socket destroy, ``ss -K``; the test runs as root)."""
    done = subprocess.run(["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{port}"],
                          capture_output=True, text=True, check=False)
    assert f":{port}" in done.stdout, (done.stdout, done.stderr)


async def _shot(page: object, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / name))  # type: ignore[attr-defined]


def test_a_supervisor_in_a_second_browser_whispers_to_the_agent(tmp_path: Path) -> None:
    """The caller says nothing (so what the agent hears is the supervisor's voice alone);
    the supervisor's browser phone whispers: the agent hears its 900 Hz, the caller never."""
    with serving(tmp_path, extensions=("1001", "1002", "1009"),
                 users=(("alice", "agent", "alice"), ("sup", "supervisor", None))) as server:
        base = f"http://127.0.0.1:{server.http_port}"
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        caller = start_baresip(
            tmp_path, sip_user="1002", password="secret-1002", registrar_port=server.sip_port,
            audio_source_wav=write_silence_wav(tmp_path / "caller-silent.wav", 30.0),
            record_wav=heard_by_caller, auto_answer=False)
        with caller:
            asyncio.run(asyncio.wait_for(
                supervisor_whispers(base, tmp_path, caller.dial), 150))
            caller.hangup()
            caller.wait_event("CALL_CLOSED", timeout=15)
        assert tone_present(heard_by_caller, 600), dominant_frequency(heard_by_caller)
        assert not tone_present(heard_by_caller, 900), "the caller heard the whisper"


async def supervisor_whispers(base: str, tmp_path: Path, dial: object) -> None:
    agent_mic = tone_wav(tmp_path / "agent-600hz.wav", 600.0)
    supervisor_mic = tone_wav(tmp_path / "supervisor-900hz.wav", 900.0)
    async with launch_browser(fake_audio=agent_mic) as agent_browser, \
            launch_browser(fake_audio=supervisor_mic) as supervisor_browser:
        agent = await (await agent_browser.new_context()).new_page()
        await log_in(agent, base, "alice")
        await agent.wait_for_selector("#phone-status[data-ready='yes']", timeout=20_000)
        await agent.click("#state-login")
        await agent.wait_for_selector("#agent-status[data-status='available']")

        context = await supervisor_browser.new_context(viewport={"width": 1280, "height": 800})
        supervisor = await context.new_page()
        await log_in(supervisor, base, "sup")
        await supervisor.wait_for_selector("#supervisor:not([hidden])", timeout=20_000)
        await supervisor.fill("#sup-extension", "1009")
        await supervisor.click("#sup-phone-connect")
        await supervisor.wait_for_selector("#sup-phone-status[data-ready='yes']",
                                           timeout=20_000)
        row = "#wallboard-agents tr[data-agent='alice']"
        await supervisor.wait_for_selector(f"{row} [data-status='available']")

        assert callable(dial)
        dial("8100")
        await agent.wait_for_selector("#incoming:not([hidden])", timeout=20_000)
        await agent.click("#answer")
        await agent.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        # The wallboard shows the call without being asked; the whisper button works.
        await supervisor.wait_for_selector(f"{row} [data-state='on_call']", timeout=15_000)
        await supervisor.wait_for_selector("#wallboard-queues tr[data-queue='sales']")
        await supervisor.click(f"{row} [data-action='whisper']")
        await supervisor.wait_for_selector(f"{row} [data-mode='whisper']", timeout=15_000)
        # The supervisor hears the agent; the agent hears the supervisor.
        await wait_for_frequency(supervisor, "#sup-remote-audio", 600.0, tolerance=25.0,
                                 timeout=20.0)
        await wait_for_frequency(agent, "#remote-audio", 900.0, tolerance=25.0, timeout=20.0)
        await asyncio.sleep(2.0)  # the caller's recording must cover the whisper
        await _shot(supervisor, "supervisor-wallboard.png")
        await supervisor.click(f"{row} [data-action='stop']")
        await supervisor.wait_for_selector(f"{row} [data-mode='whisper']", state="detached",
                                           timeout=15_000)
        # The supervisor forces the agent's state; the agent's own page follows.
        await supervisor.click(f"{row} [data-action='not_ready']")
        await agent.wait_for_selector("#agent-status[data-status='not_ready']", timeout=15_000)
        # Logging the agent out of the queues waits for the call to end: the page says so.
        await supervisor.click(f"{row} [data-action='logout']")
        await wait_until(
            supervisor,
            "document.getElementById('sup-agent-error').textContent.includes('end first')",
            timeout=15_000)
        await agent.click("#hangup")
        await supervisor.wait_for_selector(f"{row}[data-state='wrap_up'], {row}[data-state='idle']",
                                           timeout=15_000)
        await supervisor.click(f"{row} [data-action='logout']")
        await agent.wait_for_selector("#agent-status[data-status='offline']", timeout=15_000)
        await supervisor.wait_for_selector(f"{row}[data-status='offline']", timeout=15_000)


def test_the_agent_consults_and_completes_an_attended_transfer_in_the_page(
        tmp_path: Path) -> None:
    """The agent holds the caller, calls an expert from the page, and completes the
    transfer with the page's button: the caller and the expert hear each other."""
    with serving(tmp_path, extensions=("1001", "1002", "1003")) as server:
        base = f"http://127.0.0.1:{server.http_port}"
        heard_by_caller = tmp_path / "heard-by-caller.wav"
        heard_by_expert = tmp_path / "heard-by-expert.wav"
        caller = start_baresip(
            tmp_path, sip_user="1002", password="secret-1002", registrar_port=server.sip_port,
            audio_source_wav=write_tone_wav(tmp_path / "caller-400hz.wav", 400, 30.0),
            record_wav=heard_by_caller, auto_answer=False)
        expert = start_baresip(
            tmp_path, sip_user="1003", password="secret-1003", registrar_port=server.sip_port,
            audio_source_wav=write_tone_wav(tmp_path / "expert-800hz.wav", 800, 30.0),
            record_wav=heard_by_expert, auto_answer=True)
        with caller, expert:
            asyncio.run(asyncio.wait_for(
                consult_and_transfer(base, tmp_path, caller.dial), 120))
            time.sleep(3.0)  # the two talk; their recordings must cover it
            caller.hangup()
            expert.wait_event("CALL_CLOSED", timeout=15)
        assert tone_present(heard_by_caller, 800), dominant_frequency(heard_by_caller)
        assert tone_present(heard_by_expert, 400), dominant_frequency(heard_by_expert)


async def consult_and_transfer(base: str, tmp_path: Path, dial: object) -> None:
    mic = tone_wav(tmp_path / "agent-600hz.wav", 600.0)
    async with launch_browser(fake_audio=mic) as browser:
        page = await (await browser.new_context()).new_page()
        await log_in(page, base, "alice")
        await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=20_000)
        await page.click("#state-login")
        await page.wait_for_selector("#agent-status[data-status='available']")
        assert callable(dial)
        dial("8100")
        await page.wait_for_selector("#incoming:not([hidden])", timeout=20_000)
        await page.click("#answer")
        await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        await page.click("#hold")
        await page.wait_for_selector("#call-state[data-state='held']", timeout=15_000)
        await page.fill("#dial-number", "1003")
        await page.click("#dial")
        await page.wait_for_selector("#consult:not([hidden])", timeout=20_000)
        # The agent talks with the expert first.
        await wait_for_frequency(page, "#remote-audio", 800.0, tolerance=25.0, timeout=20.0)
        await page.click("#consult-transfer")
        await page.wait_for_selector("#call", state="hidden", timeout=15_000)
