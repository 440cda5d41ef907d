"""The agent desktop's incoming-call pop-up in headless Chromium against a real ``pycc serve``.

1. A baresip caller goes through the IVR (8000: answer, a menu, "1" for the sales queue) and
   waits in the queue while the agent is not ready; when the agent becomes ready the page
   rings, and the pop-up shows the queue, the IVR steps the caller took and how long the
   caller waited, as the switch sent them in its offer (read off the page's phone socket)
   and as long as the test made the caller wait. The page runs in Simplified Chinese (the
   browser's language is zh-CN): its controls carry the zh-CN texts of the catalogue in
   ``i18n.js``, no visible text is a catalogue key, and choosing English in the page's
   language menu turns them into the English texts.
2. A preview campaign, with SIPp customers behind a trunk: the page rings with the contact
   (its imported fields shown in the customer tab) before anyone dials the customer,
   answering dials the customer, and after the agent hangs up the wrap-up's callback code
   with a time typed in the page (in the browser's own time zone) schedules the contact to
   be called back then by that agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocket

from ccc.center import CENTER, campaign_center, log_in, serving
from ccc.test_web_i18n import catalogues
from peers.audio import write_tone_wav
from peers.baresip import BaresipPhone, start_baresip
from peers.browser import launch_browser, tone_wav
from peers.pycc_server import PyccServer
from peers.sipp import scenario, start_sipp_uas
from pycc.aaa.accounts import issue_token
from pycc.aaa.audit import Origin
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

AGENT_HZ = 600.0
CALLER_HZ = 400.0
#: How long the caller waits in the queue, at least, before the agent becomes ready.
QUEUE_WAIT = 3.0
#: The IVR steps of CENTER's "main" flow for a caller who presses 1: its first step
#: (answer), then its second (the menu) with the choice made.
IVR_STEPS = "main.1>main.2=1"
USERS = (("alice", "agent", "alice"), ("boss", "admin", None))


def base_of(server: PyccServer) -> str:
    return f"http://127.0.0.1:{server.http_port}"


def admin_token(server: PyccServer) -> dict[str, str]:
    """The API's headers for the tenant's admin, "boss"."""
    with Store(make_url(server.data_dir, None)) as store:
        token = issue_token(store, "default", "boss", now=time.time(),
                            origin=Origin("tests", "cli")).plaintext
    return {"Authorization": f"Bearer {token}"}


def clock(seconds: int) -> str:
    """A wait as the desktop writes it: minutes and seconds."""
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


# -- the page ---------------------------------------------------------------------------------


class PhoneSocket:
    """Every message pycc sends the page's phone (``/v1/phone``), as the page receives it."""

    def __init__(self, page: Page) -> None:
        self.messages: list[dict[str, Any]] = []
        page.on("websocket", self._opened)

    def _opened(self, socket: WebSocket) -> None:
        if socket.url.endswith("/v1/phone"):
            socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        with contextlib.suppress(ValueError):
            message = json.loads(payload)
            if isinstance(message, dict):
                self.messages.append(message)

    async def ringing(self) -> dict[str, Any]:
        """The offer: the first incoming call the page was told of, as it rang."""
        for _ in range(50):
            found = [m for m in self.messages if m.get("op") == "call"
                     and m.get("direction") == "incoming" and m.get("state") == "ringing"]
            if found:
                return found[0]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no ringing call among {self.messages}")


async def open_desktop(browser: Browser, base: str, *, locale: str,
                       timezone: str | None = None) -> tuple[BrowserContext, Page, PhoneSocket]:
    """Alice's page in a browser set to ``locale`` (and ``timezone``), logged in, its phone
    ready."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        locale=locale, timezone_id=timezone)
    page = await context.new_page()
    socket = PhoneSocket(page)
    await log_in(page, base, "alice")
    await page.wait_for_selector("#phone-status[data-ready='yes']", timeout=30_000)
    return context, page, socket


async def log_in_to_queues(page: Page) -> None:
    """The agent logs in to its queues from the page (available). The switch takes up the
    applied call-center file on its next round: until then the agent is unknown, the page
    says so, and the agent tries again."""
    available = "#agent-status[data-status='available']"
    for _ in range(20):
        await page.click("#state-login")
        await page.wait_for_selector(f"{available}, #agent-error:not(:empty)", timeout=15_000)
        if await page.locator(available).count():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(await page.text_content("#agent-error"))


async def rows(page: Page, selector: str) -> list[tuple[str, str]]:
    """The (term, description) pairs of a ``<dl>`` the page fills."""
    found: list[list[str]] = await page.eval_on_selector_all(
        f"{selector} > div:has(dd)",
        "divs => divs.map(d => [d.querySelector('dt').textContent,"
        " d.querySelector('dd').textContent])")
    return [(term, value) for term, value in found]


#: Finds, among what the page shows (each text node and label attribute of a visible element,
#: the options of a visible menu), a text that is a catalogue key (the catalogue has no text
#: for it) or an English text where the page speaks another language.
_LEFTOVERS = """
([keys, english]) => {
  const keySet = new Set(keys);
  const englishSet = new Set(english);
  const keyLike = /^[a-z][A-Za-z]*(\\.[A-Za-z_][A-Za-z0-9_]*)+$/;
  const found = [];
  let seen = 0;
  const look = (where, raw) => {
    const text = (raw ?? "").trim();
    if (!text) return;
    seen += 1;
    if (keySet.has(text) || keyLike.test(text)) found.push(`${where}: key ${text}`);
    else if (englishSet.has(text)) found.push(`${where}: English ${text}`);
  };
  const named = (el) => el.id ? `#${el.id}` : el.tagName.toLowerCase();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent === null || parent.closest("select")) continue;
    if (parent.checkVisibility({visibilityProperty: true})) look(named(parent), node.data);
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    for (const attribute of ["placeholder", "aria-label", "title"]) {
      const value = el.getAttribute(attribute);
      if (value !== null) look(`${named(el)}[${attribute}]`, value);
    }
    if (el.tagName === "SELECT") {
      for (const option of el.options) look(`${named(el)} option`, option.textContent);
    }
  }
  return {found, seen};
}
"""


async def leftovers(page: Page, language: str) -> list[str]:
    """What the page shows that is not in ``language``: catalogue keys, and (for a language
    other than English) English texts of the catalogue that have a translation. The check
    itself is shown to find a key planted in the page first."""
    found = catalogues()
    english = [] if language == "en" else [
        text for key, text in found["en"].items() if found[language][key] != text]
    args = [sorted(found["en"]), english]
    planted = await page.evaluate(
        "() => { const p = document.createElement('p'); p.id = 'planted-key';"
        " p.textContent = 'desk.tab.kb'; document.getElementById('desktop').append(p); }")
    assert planted is None
    try:
        probe = await page.evaluate(_LEFTOVERS, args)
        assert "#planted-key: key desk.tab.kb" in probe["found"], probe
    finally:
        await page.evaluate("() => document.getElementById('planted-key').remove()")
    result = await page.evaluate(_LEFTOVERS, args)
    assert result["seen"] >= 30, result  # it did look at the desktop's texts
    return list(result["found"])


#: Controls and what they say, by catalogue key.
CONTROLS = {
    "#state-login": "agent.login", "#state-ready": "agent.ready",
    "#state-not-ready": "agent.notReady", "#answer": "incoming.answer",
    "#reject": "incoming.reject", "#hangup": "call.hangup", "#hold": "call.hold",
    "#incoming-title": "incoming.title", "#wrapup-submit": "wrapup.submit",
    "#tab-customer": "desk.tab.customer", "#tab-tickets": "desk.tab.tickets",
    "#tab-kb": "desk.tab.kb", "#tab-history": "desk.tab.history",
    "#tab-profile": "desk.tab.profile", "#dial": "dial.dial",
}


async def check_language(page: Page, language: str) -> None:
    """The page speaks ``language``: its controls say their catalogue texts, and nothing it
    shows is a key or (for Chinese) English."""
    words = catalogues()[language]
    assert await page.evaluate("document.documentElement.lang") == language
    said = {selector: await page.text_content(selector) for selector in CONTROLS}
    assert said == {selector: words[key] for selector, key in CONTROLS.items()}
    assert await page.get_attribute("#dial-number", "placeholder") == words["dial.placeholder"]
    assert await leftovers(page, language) == []


# -- 1. the IVR path and the queue wait, in Chinese then English ------------------------------


def test_the_pop_up_shows_the_ivr_path_and_the_wait_in_chinese_then_english(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002"), users=USERS, center=CENTER) as server:
        caller = start_baresip(
            tmp_path, sip_user="1002", password="secret-1002", registrar_port=server.sip_port,
            audio_source_wav=write_tone_wav(tmp_path / "caller.wav", CALLER_HZ, 40.0),
            record_wav=tmp_path / "heard-by-caller.wav", auto_answer=False)
        with caller:
            try:
                asyncio.run(asyncio.wait_for(
                    ivr_pop_up(base_of(server), admin_token(server), tmp_path, caller), 90))
            finally:
                with contextlib.suppress(Exception):
                    caller.hangup()


async def ivr_pop_up(base: str, boss: dict[str, str], tmp_path: Path,
                     caller: BaresipPhone) -> None:
    zh, en = catalogues()["zh-CN"], catalogues()["en"]
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser, \
            httpx.AsyncClient(base_url=base, headers=boss) as api:
        # A browser in Chinese opens the desktop in Chinese.
        context, page, socket = await open_desktop(browser, base, locale="zh-CN")
        await log_in_to_queues(page)
        await page.click("#state-not-ready")
        await page.wait_for_selector("#agent-status[data-status='not_ready']", timeout=15_000)
        assert await page.text_content("#agent-status") == zh["status.not_ready"]
        await check_language(page, "zh-CN")

        # The caller goes through the IVR into the queue, where nobody is ready.
        await asyncio.to_thread(caller.dial, "8000")
        await asyncio.to_thread(caller.wait_event, "CALL_ESTABLISHED", timeout=15)
        await asyncio.sleep(1.0)  # the menu's prompt starts
        pressed = time.monotonic()
        await asyncio.to_thread(caller.send_digits, "1")
        joined = await in_queue(api, caller)
        # The caller waits; then the agent is ready and the page rings.
        await asyncio.sleep(max(0.0, joined + QUEUE_WAIT - time.monotonic()))
        await page.click("#state-ready")
        await page.wait_for_selector("#incoming:not([hidden])", timeout=30_000)
        rang = time.monotonic()

        # What the switch offered: the queue, the IVR steps, the wait in whole seconds.
        info = (await socket.ringing())["info"]
        assert (info.get("queue"), info.get("ivr_path")) == ("sales", IVR_STEPS), info
        waited = int(info["queue_wait"])
        assert QUEUE_WAIT <= waited <= rang - pressed + 1.0, (waited, rang - pressed)
        # The pop-up shows just that, labelled in Chinese.
        assert await rows(page, "#incoming-info") == [
            (zh["info.queue"], "sales"), (zh["info.queue_wait"], clock(waited)),
            (zh["info.ivr_path"], IVR_STEPS)]
        assert await page.text_content("#incoming-title") == zh["incoming.title"]
        assert await leftovers(page, "zh-CN") == []

        await page.click("#answer")
        await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        assert await page.text_content("#call-state") == zh["callstate.answered"]
        assert (zh["info.ivr_path"], IVR_STEPS) in await rows(page, "#call-info")
        await check_language(page, "zh-CN")

        # English, chosen in the page: the same controls and details in English.
        await page.select_option("#lang", "en")
        await check_language(page, "en")
        assert await page.text_content("#call-state") == en["callstate.answered"]
        details = await rows(page, "#call-info")
        assert [(en["info.queue"], "sales"), (en["info.queue_wait"], clock(waited)),
                (en["info.ivr_path"], IVR_STEPS)] == [
            row for row in details if row[0] in (en["info.queue"], en["info.queue_wait"],
                                                 en["info.ivr_path"])], details
        assert await page.text_content("#agent-status") == en["status.available"]

        await page.click("#hangup")
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        assert await page.text_content("#wrapup-title") == en["wrapup.title"]
        await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", timeout=15)
        await context.close()


async def in_queue(api: httpx.AsyncClient, caller: BaresipPhone) -> float:
    """When the caller was seen waiting in the sales queue (the menu's key pressed again
    should the first press have come before the menu listened)."""
    deadline = time.monotonic() + 20.0
    again = time.monotonic() + 6.0
    queues: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        queues = (await api.get("/v1/queues")).json()
        if any(q["queue"] == "sales" and q["waiting"] == 1 for q in queues):
            return time.monotonic()
        if time.monotonic() > again:
            again = deadline
            await asyncio.to_thread(caller.send_digits, "1")
        await asyncio.sleep(0.1)
    raise AssertionError(f"the caller never waited in the queue: {queues}")


# -- 2. a preview campaign's contact and the callback time ------------------------------------

CUSTOMER = "+12125551037"  # the SIPp customers answer numbers ending in 3 to 9
#: The browser's time zone: not the machine's, and half an hour off a whole-hour zone.
TIMEZONE = "Asia/Kolkata"


@contextlib.contextmanager
def sipp_customers(tmp_path: Path) -> Iterator[int]:
    """SIPp customers behind a trunk, answering after 200 ms; their port."""
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "200"],
                               workdir=tmp_path / "customers")
    try:
        yield customers.local_port
    finally:
        customers.stop()


def test_a_preview_pops_the_contact_up_and_the_page_schedules_the_callback(
        tmp_path: Path) -> None:
    with sipp_customers(tmp_path) as port, \
            serving(tmp_path, extensions=("1001",), users=USERS,
                    center=campaign_center(port, mode="preview", ring_timeout=20,
                                           wrapup=30)) as server:
        asyncio.run(asyncio.wait_for(
            preview(base_of(server), admin_token(server), tmp_path), 90))


async def customer_calls(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = (await api.get("/v1/calls")).json()
    return [c for c in calls if c["callee"].endswith(CUSTOMER[1:])]


async def preview(base: str, boss: dict[str, str], tmp_path: Path) -> None:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser, \
            httpx.AsyncClient(base_url=base, headers=boss) as api:
        imported = await api.post(
            "/v1/campaigns/spring/contacts",
            content=f"id,phone,name,plan,account\nc7,{CUSTOMER},Ann Lee,gold,ACC-0042\n",
            headers={"Content-Type": "text/csv"})
        assert imported.status_code == 201, imported.text
        context, page, socket = await open_desktop(browser, base, locale="en-US",
                                                   timezone=TIMEZONE)
        await log_in_to_queues(page)
        started = await api.post("/v1/campaigns/spring/start")
        assert started.status_code == 200, started.text

        # The page rings with the contact; nobody has dialed the customer yet.
        await page.wait_for_selector("#incoming:not([hidden])", timeout=30_000)
        assert await customer_calls(api) == []
        info = (await socket.ringing())["info"]
        assert (info.get("campaign"), info.get("contact"), info.get("phone"), info.get("name"),
                info.get("plan"), info.get("account"), info.get("mode")) == (
            "spring", "c7", CUSTOMER, "Ann Lee", "gold", "ACC-0042", "preview"), info
        await page.wait_for_selector("#call-contact:not([hidden])", timeout=10_000)
        shown = dict(await page.eval_on_selector_all(
            "#call-contact-fields > div[data-field]",
            "divs => divs.map(d => [d.dataset.field, d.querySelector('dd').textContent])"))
        # Every field of the contact, none of the call's way in.
        assert shown == {key: value for key, value in info.items()
                         if key not in ("queue", "queue_wait", "ivr_path") and value}, shown
        assert await page.text_content("#call-contact-title") == catalogues()["en"][
            "customer.contact"]
        assert (catalogues()["en"]["info.campaign"], "spring") in await rows(
            page, "#incoming-info")

        # Answering dials the customer, who answers.
        await page.click("#answer")
        await page.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
        async with asyncio.timeout(20):
            while not any(c["answer"] for c in await customer_calls(api)):
                await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # the page's call is named by the switch while it lasts
        await page.click("#hangup")

        # Wrap-up: call back at a time typed in the browser's zone, by this agent.
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        assert await page.is_hidden("#wrapup-callback-row")
        await page.select_option("#wrapup-code", "callback")
        await page.wait_for_selector("#wrapup-callback-row:not([hidden])", timeout=5_000)
        local = (datetime.now(ZoneInfo(TIMEZONE)) + timedelta(hours=26)).replace(
            second=0, microsecond=0)
        await page.fill("#wrapup-callback", local.strftime("%Y-%m-%dT%H:%M"))
        await page.fill("#wrapup-notes", "after her meeting")
        await page.click("#wrapup-submit")
        await page.wait_for_selector("#wrapup-done:not([hidden])", timeout=15_000)
        pycc_call = await page.evaluate("window.pycc.lastWrapup")
        assert isinstance(pycc_call, str) and pycc_call, pycc_call

        contact = (await api.get("/v1/campaigns/spring/contacts")).json()["items"][0]
        assert (contact["id"], contact["callback_agent"], contact["next_at"]) == (
            "c7", "alice", local.timestamp()), contact
        records = (await api.get("/v1/records", params={"order": "newest"})).json()["items"]
        record = next(r for r in records if r["call_id"] == pycc_call)
        assert (record["campaign"], record["contact"], record["agent"], record["wrapup_code"],
                record["wrapup_notes"]) == ("spring", "c7", "alice", "callback",
                                            "after her meeting"), record
        await api.post("/v1/campaigns/spring/stop")
        await context.close()

