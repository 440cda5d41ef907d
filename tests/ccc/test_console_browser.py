"""The administration console in headless Chromium against a real ``pycc serve``: an
administrator adds an agent through its form (a wrong value is named by its field, the
running switch takes the good one), sees an IVR flow drawn as a graph, imports a campaign's
contacts and reads the rows refused, and puts an announcement on an agent's desktop, which
shows it at once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page

from ccc.center import CENTER, log_in, serving
from peers.browser import launch_browser, wait_until

pytestmark = pytest.mark.peer

SCREENSHOTS = os.environ.get("PYCC_SCREENSHOTS")

CAMPAIGN = """
campaigns:
  - {name: spring, mode: progressive, queue: sales}
"""
CONTACTS = "phone,name\n+12125550101,Ann\nnot-a-number,Bob\n+12125550104,Cy\n"


def test_an_administrator_runs_the_call_center_from_the_console(tmp_path: Path) -> None:
    users = (("boss", "admin", None), ("alice", "agent", "alice"))
    with serving(tmp_path, users=users, center=CENTER + CAMPAIGN) as server:
        contacts = tmp_path / "contacts.csv"
        contacts.write_text(CONTACTS, encoding="utf-8")
        asyncio.run(asyncio.wait_for(
            administer(f"http://127.0.0.1:{server.http_port}", contacts), 150))


async def login(browser: Browser, base: str, user: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await log_in(page, base, user)
    return page


async def administer(base: str, contacts: Path) -> None:
    async with launch_browser(fake_audio=None) as browser:
        admin = await login(browser, base, "boss")
        await admin.wait_for_selector("#console:not([hidden])", timeout=20_000)
        await agents_tab(admin, base)
        await ivr_tab(admin)
        await campaigns_tab(admin, contacts)
        await announce(admin, await login(browser, base, "alice"))
        # The same console in Simplified Chinese.
        await admin.select_option("#lang", "zh-CN")
        await wait_until(admin, "document.documentElement.lang === 'zh-CN'")
        assert await admin.text_content("#console-tab-agents") == "坐席"


async def agents_tab(page: Page, base: str) -> None:
    p = page
    await p.click("#console-tab-agents")
    await p.wait_for_selector("#console-agents-list tr[data-name='alice']", timeout=15_000)
    await p.click("#console-agents-new")
    await p.fill("#console-agents-id", "bob")
    await p.fill("#console-agents-extension", "1002")
    # A skill level that is not a number is refused by the switch, next to its field.
    await p.fill("#console-agents-skills", "sales:lots")
    await p.click("#console-agents-save")
    await wait_until(
        p, "document.querySelector('#console-agents-skills-error').textContent.length > 0"
        " || document.querySelector('#console-agents-form-error').textContent.length > 0",
        timeout=15_000)
    await p.fill("#console-agents-skills", "sales:4")
    await p.click("#console-agents-save")
    await p.wait_for_selector("#console-agents-list tr[data-name='bob']", timeout=15_000)
    # The running switch has the new agent (it lists it live within a housekeeping round).
    cookies = {c["name"]: c["value"]
               for c in await p.context.cookies()}
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
        async with asyncio.timeout(15):
            while True:
                agents = (await http.get("/v1/agents")).json()
                if any(a["agent"] == "bob" for a in agents):
                    break
                await asyncio.sleep(0.5)
        stored = (await http.get("/v1/config/agents/bob")).json()
        assert stored["extension"] == "1002" and stored["skills"] == {"sales": 4}


async def ivr_tab(page: Page) -> None:
    p = page
    await p.click("#console-tab-ivr")
    await p.wait_for_selector("#console-ivr-list tr[data-name='main']", timeout=15_000)
    await p.click("#console-ivr-list tr[data-name='main'] [data-action='edit']")
    await p.wait_for_selector("#ivr-graph g.node", timeout=15_000)
    # A box for each step (answering, the menu) and one for where key 1 leads.
    assert await p.locator("#ivr-graph g.node").count() == 2
    target = await p.text_content("#ivr-graph g.target")
    assert "sales" in (target or ""), target
    assert await p.locator("#ivr-graph .edges g").count() >= 2
    await _shot(p, "console-ivr.png")


async def campaigns_tab(page: Page, contacts: Path) -> None:
    p = page
    await p.click("#console-tab-campaigns")
    await p.wait_for_selector("#campaign-import-campaign option[value='spring']",
                              state="attached", timeout=15_000)
    await p.select_option("#campaign-import-campaign", "spring")
    await p.set_input_files("#campaign-import-file", str(contacts))
    await p.click("#campaign-import")
    await p.wait_for_selector("#campaign-import-result[data-added='2']",
                              state="attached", timeout=15_000)
    refused = await p.text_content("#campaign-import-errors")
    assert "not-a-number" in (refused or ""), refused
    await _shot(p, "console-campaigns.png")


async def announce(admin: Page, agent: Page) -> None:
    a = admin
    await agent.wait_for_selector("#desktop:not([hidden])", timeout=20_000)
    await a.click("#console-tab-announcements")
    await a.fill("#announcement-text", "The CRM is down until noon")
    await a.fill("#announcement-minutes", "30")
    await a.click("#announcement-send")
    await a.wait_for_selector("#announcements li", timeout=15_000)
    # The agent's desktop shows it without being reloaded.
    await agent.wait_for_selector(
        "#announcements-bar li:has-text('The CRM is down until noon')", timeout=15_000)


async def _shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / name))
