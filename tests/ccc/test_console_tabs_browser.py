"""The administration console's configuration and operation tabs in headless Chromium against
a real ``pycc serve`` (recording every call): an administrator adds an extension that a phone
then registers with and calls, a queue the ACD runs, a route, a trunk whose outage the
monitoring tab shows as an alarm, numbers on the do-not-call list, a rate table, a disposition
code the agents' wrap-up offers, a user with an API token that then works, reads that call in
a report drawn as a chart, and plays its recording in the page. Wrong values are refused and
shown next to the field they name."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ccc.center import CENTER, log_in, recording_settings, serving
from peers.browser import launch_browser, wait_until
from peers.net import free_port
from peers.pycc_server import PyccServer
from peers.rtp_phone import RtpPhone
from pycc.sip.address import Address
from pycc.ua import UserAgent

pytestmark = pytest.mark.peer

#: How long the page or the switch may take to show a change on a busy two-core machine.
WAIT_MS = 20_000
WAIT_S = WAIT_MS / 1000
#: The new extension's password as the console sets it.
NEW_PASSWORD = "secret-1003-desk"
#: How long the recorded call talks before its caller hangs up.
TALK_SECONDS = 1.5
RTP_PORTS = 40
#: A directory to keep a screenshot of each tab in, for a person to look at.
SCREENSHOTS = os.environ.get("PYCC_SCREENSHOTS")


def test_an_administrator_uses_every_configuration_and_operation_tab(tmp_path: Path) -> None:
    recording_settings(tmp_path / "data", rtp_ports=RTP_PORTS)
    users = (("boss", "admin", None),)
    with serving(tmp_path, users=users, center=CENTER) as server:
        asyncio.run(asyncio.wait_for(administer(server), 85))


async def administer(server: PyccServer) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    async with launch_browser(fake_audio=None) as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await log_in(page, base, "boss")
        await page.wait_for_selector("#console:not([hidden])", timeout=WAIT_MS)
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=WAIT_S) as http:
            call_id = await extensions_tab(page, http, server)
            await trunks_tab(page, http)
            await queues_tab(page, http)
            await routes_tab(page, http)
            await dnc_tab(page, http)
            await rates_tab(page, http)
            await dispositions_tab(page, http)
            await users_tab(page, http)
            await reports_tab(page, http)
            await recordings_tab(page, http, call_id)
            await monitoring_tab(page, http)
            await shot(page, "tab-monitoring")


# -- helpers ---------------------------------------------------------------------------------

async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"),
                              full_page=True)


async def open_tab(page: Page, name: str) -> None:
    """Show tab ``name`` (a screenshot of the tab shown until then first, when asked)."""
    if SCREENSHOTS:
        shown = await page.get_attribute("#console [role=tab][aria-selected=true]", "data-tab")
        await shot(page, f"tab-{shown}")
    await page.click(f"#console-tab-{name}")
    await page.wait_for_selector(f"#console-{name}:not([hidden])", timeout=WAIT_MS)


async def field_error(page: Page, selector: str) -> str:
    """Wait until the line ``selector`` (an error next to a field, say) says something; its
    text. AssertionError with what the tab says instead when it does not."""
    try:
        await wait_until(
            page, "s => (document.querySelector(s)?.textContent ?? '').trim().length > 0",
            arg=selector, timeout=WAIT_MS)
        await shot(page, selector.lstrip("#"))
    except PlaywrightTimeout:
        said = await page.evaluate(
            "[...document.querySelectorAll('.console-panel:not([hidden]) [role=alert],"
            " .console-panel:not([hidden]) .field-error')]"
            ".map(e => `${e.id}: ${e.textContent}`).filter(t => !t.endsWith(': '))")
        raise AssertionError(f"{selector} stays empty; the tab says {said}") from None
    return (await page.text_content(selector) or "").strip()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds (the switch applies a change within a moment)."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not await check():
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT_S:g} s: {what}") from None


async def get_json(http: httpx.AsyncClient, path: str) -> Any:
    answer = await http.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.text)
    return answer.json()


# -- extensions: a phone registers with the new extension and is called (and recorded) -------

async def extensions_tab(page: Page, http: httpx.AsyncClient, server: PyccServer) -> str:
    p = page
    await open_tab(p, "extensions")
    await p.wait_for_selector("#console-extensions-list tr[data-name='1001']", timeout=WAIT_MS)
    await p.click("#console-extensions-new")
    await p.fill("#console-extensions-number", "1003")
    await p.fill("#console-extensions-name", "Front desk")
    # pycc wants six characters at least: refused, and said by the password field.
    await p.fill("#console-extensions-password", "abc")
    await p.click("#console-extensions-save")
    assert await field_error(p, "#console-extensions-password-error")
    await p.fill("#console-extensions-password", NEW_PASSWORD)
    await p.click("#console-extensions-save")
    row = "#console-extensions-list tr[data-name='1003']"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    assert await p.text_content(f"{row} td[data-field='name']") == "Front desk"
    listed = await get_json(http, "/v1/extensions")
    assert {"number": "1003", "name": "Front desk"} in listed, listed
    return await recorded_call(server)


async def recorded_call(server: PyccServer) -> str:
    """A phone registers as 1003 with the password set in the console, 1001 calls it, both
    send a tone, the caller hangs up: the switch records the call. Its Call-ID."""
    switch = Address("udp", "127.0.0.1", server.sip_port)
    async with contextlib.AsyncExitStack() as stack:
        callee_rtp = await stack.enter_async_context(RtpPhone())
        caller_rtp = await stack.enter_async_context(RtpPhone())
        callee = await stack.enter_async_context(UserAgent(
            "1003", NEW_PASSWORD, server=switch, rtp_port=callee_rtp.port, auto_answer=True))
        caller = await stack.enter_async_context(UserAgent(
            "1001", "secret-1001", server=switch, rtp_port=caller_rtp.port))
        registered = await callee.register(timeout=WAIT_S)
        assert registered.status == 200, registered
        call = await caller.call("1003", timeout=WAIT_S)
        caller_rtp.learn(call.remote_sdp)
        incoming = await callee.next_call(WAIT_S)
        await asyncio.wait_for(incoming.answered.wait(), WAIT_S)
        callee_rtp.learn(incoming.remote_sdp)
        caller_rtp.tone(600)
        callee_rtp.tone(900)
        await caller_rtp.hear(TALK_SECONDS)
        await call.hangup()
        await incoming.wait_ended(WAIT_S)
        return call.call_id


# -- trunks --------------------------------------------------------------------------------

async def trunks_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "trunks")
    await p.click("#console-trunks-new")
    await p.fill("#console-trunks-name", "carrier")
    # A host with a space in it is no host: refused by the switch, next to the field.
    await p.fill("#console-trunks-host", "bad host")
    await p.click("#console-trunks-save")
    assert await field_error(p, "#console-trunks-host-error")
    # Nothing listens at this port: the trunk's OPTIONS over TCP fail, and it goes down.
    closed = free_port("tcp")
    await p.fill("#console-trunks-host", f"127.0.0.1:{closed}")
    await p.select_option("#console-trunks-transport", "tcp")
    await p.fill("#console-trunks-options-interval", "1")
    await p.click("#console-trunks-save")
    row = "#console-trunks-list tr[data-name='carrier']"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    assert await p.text_content(f"{row} td[data-field='transport']") == "tcp"
    stored = await get_json(http, "/v1/config/trunks/carrier")
    assert stored == {"name": "carrier", "host": f"127.0.0.1:{closed}", "transport": "tcp",
                      "options_interval": 1}, stored


# -- queues: the ACD runs the new queue ------------------------------------------------------

async def queues_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "queues")
    await p.wait_for_selector("#console-queues-list tr[data-name='sales']", timeout=WAIT_MS)
    await p.click("#console-queues-new")
    await p.fill("#console-queues-name", "support")
    await p.fill("#console-queues-skill", "support")
    await p.select_option("#console-queues-strategy", "round-robin")
    # A negative ring time is refused by the switch, next to its field.
    await p.fill("#console-queues-ring-timeout", "-5")
    await p.click("#console-queues-save")
    assert await field_error(p, "#console-queues-ring-timeout-error")
    await p.fill("#console-queues-ring-timeout", "20")
    await p.click("#console-queues-save")
    row = "#console-queues-list tr[data-name='support']"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    assert await p.text_content(f"{row} td[data-field='strategy']") == "round-robin"

    async def running() -> bool:
        return any(q["queue"] == "support" for q in await get_json(http, "/v1/queues"))

    await eventually(running, "the ACD runs queue support")
    stored = await get_json(http, "/v1/config/queues/support")
    assert stored == {"name": "support", "skill": "support", "strategy": "round-robin",
                      "ring_timeout": 20}, stored


# -- routes --------------------------------------------------------------------------------

async def routes_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "routes")
    await p.wait_for_selector("#console-routes-list tr[data-name='8100']", timeout=WAIT_MS)
    await p.click("#console-routes-new")
    await p.fill("#console-routes-match", "8200")
    await p.fill("#console-routes-name", "support-line")
    # A route to a queue there is not is refused, next to where it goes.
    await p.fill("#console-routes-to", "queue:nosuch")
    await p.click("#console-routes-save")
    assert "nosuch" in await field_error(p, "#console-routes-to-error")
    await p.fill("#console-routes-to", "queue:support")
    await p.click("#console-routes-save")
    row = "#console-routes-list tr[data-name='support-line']"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    assert await p.text_content(f"{row} td[data-field='to']") == "queue:support"
    stored = await get_json(http, "/v1/config/routes/support-line")
    assert stored == {"name": "support-line", "match": "8200", "to": {"queue": "support"}}


# -- do-not-call -----------------------------------------------------------------------------

async def dnc_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "dnc")
    await p.fill("#dnc-numbers", "+12125550199\nnot-a-number")
    # A country is two letters.
    await p.fill("#dnc-country", "U1")
    await p.click("#dnc-add")
    assert await field_error(p, "#dnc-country-error")
    await p.fill("#dnc-country", "US")
    await p.click("#dnc-add")
    await p.wait_for_selector("#dnc-list tr[data-number='+12125550199']", timeout=WAIT_MS)
    # The line that is no number is listed as refused, with why.
    await p.wait_for_selector("#dnc-rejected:not([hidden]) tbody tr", timeout=WAIT_MS)
    refused = await p.text_content("#dnc-rejected tbody")
    assert "not-a-number" in (refused or ""), refused
    listed = await get_json(http, "/v1/do-not-call")
    assert [item["number"] for item in listed["items"]] == ["+12125550199"], listed


# -- rates (one JSON mapping) ----------------------------------------------------------------

RATES = ('{"tables": [{"name": "standard", "rates": [{"prefix": "1", "price": %s}]}],'
         ' "default": "standard"}')


async def rates_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "rates")
    await wait_until(
        p, "document.querySelector('#console-rates-entry').value.trim() === '{}'",
        timeout=WAIT_MS)
    await p.fill("#console-rates-entry", RATES % '"cheap"')
    await p.click("#console-rates-save")
    assert "price" in await field_error(p, "#console-rates-entry-error")
    await p.fill("#console-rates-entry", RATES % '"0.02"')
    await p.click("#console-rates-save")
    await field_error(p, "#console-rates-saved")
    stored = await get_json(http, "/v1/config/rates")
    assert stored["default"] == "standard", stored
    (table,) = stored["tables"]
    assert table["name"] == "standard" and len(table["rates"]) == 1, stored
    assert table["rates"][0]["prefix"] == "1", stored
    assert float(table["rates"][0]["price"]) == 0.02, stored


# -- dispositions: the agents' wrap-up offers the new code -----------------------------------

async def dispositions_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "dispositions")
    await p.click("#console-dispositions-new")
    # A code starts with a letter.
    await p.fill("#console-dispositions-code", "9lives")
    await p.fill("#console-dispositions-label", "Sale")
    await p.click("#console-dispositions-save")
    assert await field_error(p, "#console-dispositions-code-error")
    # The tenant lists none of its own: the console shows the defaults in force, and a
    # new code is added to them.
    await p.wait_for_selector("#console-dispositions-list tr[data-name='no_sale']",
                              timeout=WAIT_MS)
    await p.fill("#console-dispositions-code", "upsell")
    await p.fill("#console-dispositions-label", "Upsell")
    await p.check("#console-dispositions-callback")
    await p.click("#console-dispositions-save")
    await p.wait_for_selector("#console-dispositions-list tr[data-name='upsell']",
                              timeout=WAIT_MS)

    async def offered() -> bool:
        codes = await get_json(http, "/v1/dispositions")
        return {"code": "upsell", "label": "Upsell", "callback": True} in codes \
            and {"code": "no_sale", "label": "No sale", "callback": False} in codes

    await eventually(offered, "the switch offers disposition upsell and the defaults")


# -- users and API tokens --------------------------------------------------------------------

async def users_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "users")
    await p.wait_for_selector("#users-list tr[data-user='boss']", timeout=WAIT_MS)
    await p.fill("#user-name", "carol")
    await p.select_option("#user-role", "supervisor")
    # pycc wants passwords of eight characters or more.
    await p.fill("#user-password", "short")
    await p.click("#user-add")
    assert await field_error(p, "#user-password-error")
    await p.fill("#user-password", "carol-pass-2024")
    await p.click("#user-add")
    row = "#users-list tr[data-user='carol']"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    users = {u["name"]: u for u in await get_json(http, "/v1/users")}
    assert users["carol"]["role"] == "supervisor" and users["carol"]["enabled"], users

    await p.click(f"{row} button[data-action='tokens']")
    await p.wait_for_selector("#tokens-block:not([hidden])", timeout=WAIT_MS)
    await p.fill("#token-label", "wallboard screen")
    await p.fill("#token-expires-days", "-1")
    await p.click("#token-issue")
    assert await field_error(p, "#token-expires-days-error")
    await p.fill("#token-expires-days", "30")
    await p.click("#token-issue")
    token = await field_error(p, "#token-new-value")
    await p.wait_for_selector("#tokens-list tr[data-state='active']", timeout=WAIT_MS)
    # The token shown once works: pycc takes it as carol's.
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=WAIT_S) as bearer:
        me = await bearer.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["user"] == "carol" and me.json()["role"] == "supervisor", me.json()


# -- reports: the recorded call in the table and the chart -----------------------------------

async def reports_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "reports")
    await p.wait_for_selector("#report-name option[value='summary-daily']", state="attached",
                              timeout=WAIT_MS)
    await p.select_option("#report-name", "summary-daily")
    await p.select_option("#report-period", "last7")
    zone = await p.input_value("#report-tz")
    # A time zone that is not one is named by its field.
    await p.fill("#report-tz", "Mars/Olympus_Mons")
    await p.click("#report-run")
    assert await field_error(p, "#report-tz-error")
    await p.fill("#report-tz", zone)
    await p.click("#report-run")
    await p.wait_for_selector("#report-table td[data-field='calls']", timeout=WAIT_MS)
    shown = [int(cell) for cell in await p.locator(
        "#report-table td[data-field='calls']").all_text_contents()]
    assert sum(shown) >= 1, shown
    rows = await get_json(http, f"/v1/reports/summary-daily?tz={zone}")
    assert sum(shown) == sum(row["calls"] for row in rows), (shown, rows)
    # The chart is an image pycc drew from those rows, loaded by the page.
    await wait_until(
        p, "() => { const i = document.querySelector('#report-chart');"
        " return !i.hidden && i.complete && i.naturalWidth > 0; }", timeout=WAIT_MS)
    src = await p.get_attribute("#report-chart", "src")
    assert src is not None and "format=svg" in src, src
    chart = (await http.get(src)).text
    assert chart.lstrip().startswith("<svg") and f"{sum(shown)} calls" in chart, chart[:400]


# -- recordings: listed, and played in the page ----------------------------------------------

async def recordings_tab(page: Page, http: httpx.AsyncClient, call_id: str) -> None:
    p = page
    found: list[dict[str, Any]] = []

    async def catalogued() -> bool:
        listed = await get_json(http, "/v1/recordings")
        found[:] = [r for r in listed["items"] if r["call_id"] == call_id]
        return bool(found)

    # The catalogue takes a call's recording once its record is closed.
    await eventually(catalogued, f"the recording of {call_id} is catalogued")
    (recording,) = found
    await open_tab(p, "recordings")
    await p.fill("#recordings-call-id", call_id)
    await p.click("#recordings-search")
    row = "#recordings-list tbody tr[data-recording]"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    assert await p.locator(row).count() == 1
    assert call_id in (await p.text_content(row) or "")
    await p.click(f"{row} button[data-action='play']")
    await p.wait_for_selector("#recording-player:not([hidden])", timeout=WAIT_MS)
    await wait_until(
        p, "() => { const a = document.querySelector('#recording-player');"
        " return a.readyState >= 2 && a.duration > 0; }", timeout=WAIT_MS)
    # The page plays the whole call: at least the time both sides talked.
    duration = await p.evaluate("document.querySelector('#recording-player').duration")
    assert duration >= TALK_SECONDS - 0.2, duration
    assert abs(duration - recording["duration"]) < 0.3, (duration, recording)


# -- monitoring: health and the trunk's alarm ------------------------------------------------

async def monitoring_tab(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    await open_tab(p, "monitoring")
    await p.wait_for_selector("#health-checks tr[data-check='store'][data-status='ok']",
                              timeout=WAIT_MS)
    # Nobody answers the trunk added above: the switch raised its alarm, and the tab shows
    # it with the trunk's health.
    await p.wait_for_selector("#alarms tr[data-kind='trunk_down']", timeout=WAIT_MS)
    assert "carrier" in (await p.text_content("#alarms tr[data-kind='trunk_down']") or "")
    await p.wait_for_selector("#health-checks tr[data-check='trunks'][data-status='degraded']",
                              timeout=WAIT_MS)
    assert await p.get_attribute("#health-status", "data-status") in ("degraded", "failing")
    alarms = await get_json(http, "/v1/alarms")
    assert any(a["kind"] == "trunk_down" and a["subject"] == "carrier" for a in alarms), alarms
