"""The console's skill-groups and knowledge-base tabs in headless Chromium against a real
``pycc serve``. An administrator sees each skill as a group of agents with their levels and
the queues that ask for it, makes a new group and changes a group's members (a level out of
range is named at its agent's row and nothing is written); the agents' entries in pycc's
configuration and the running ACD follow. The administrator then writes a knowledge-base
article (a missing title and a tag given twice are named at their fields), edits it, and an
agent finds and reads it on the desktop; a deleted article is gone for everyone. A
supervisor writes one from under the wallboard, and the agent reads that too."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from ccc.center import log_in, serving
from peers.browser import launch_browser, wait_until
from pycc.aaa.accounts import issue_token
from pycc.aaa.audit import Origin
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1002", skills: {sales: 3, support: 2}}
  - {id: cy, extension: "1003", skills: {support: 4}}
queues:
  - {name: sales, skill: sales}
  - {name: help, skills: [{after: 0, needs: {support: 3}}, {after: 30, needs: {support: 1}}]}
routes:
  - {match: "8100", to: {queue: sales}}
"""
USERS = (("boss", "admin", None), ("alice", "agent", "alice"), ("sup", "supervisor", None))


def test_skill_groups_and_knowledge_base_from_the_console(tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002", "1003"), users=USERS,
                 center=CENTER) as server:
        base = f"http://127.0.0.1:{server.http_port}"
        with Store(make_url(server.data_dir, None)) as store:
            token = issue_token(store, "default", "boss", now=time.time(),
                                origin=Origin("tests", "cli")).plaintext
        # cy is logged in to the ACD: the sales queue gains a logged-in agent when cy joins
        # the sales group.
        answer = httpx.post(f"{base}/v1/agents/cy/state", json={"action": "login"},
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code < 300, answer.text
        asyncio.run(asyncio.wait_for(administer(base), 150))


async def login(browser: Browser, base: str, user: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        locale="en-US")
    page = await context.new_page()
    await log_in(page, base, user)
    return page


async def api(page: Page, base: str, path: str) -> Any:
    """GET ``path`` with the page's session."""
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
        answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def skills_of(page: Page, base: str) -> dict[str, dict[str, int]]:
    agents = await api(page, base, "/v1/config/agents")
    return {a["id"]: a.get("skills", {}) for a in agents}


async def administer(base: str) -> None:
    async with launch_browser(fake_audio=None) as browser:
        admin = await login(browser, base, "boss")
        await admin.wait_for_selector("#console:not([hidden])", timeout=20_000)
        await skill_groups(admin, base)
        agent = await login(browser, base, "alice")
        await knowledge_base(admin, agent, base)
        await supervisor_writes(await login(browser, base, "sup"), agent, base)


async def group_row(page: Page, skill: str) -> tuple[str, str]:
    row = f"#console-skill-groups-list tr[data-name='{skill}']"
    await page.wait_for_selector(row, timeout=15_000)
    members = await page.text_content(f"{row} td[data-field='members']") or ""
    queues = await page.text_content(f"{row} td[data-field='queues']") or ""
    return members, queues


async def skill_groups(page: Page, base: str) -> None:
    queues = {q["queue"]: q for q in await api(page, base, "/v1/queues")}
    assert queues["sales"]["agents_logged_in"] == 0
    await page.click("#console-tab-skills")
    # Each skill is a group: its agents with their levels, and the queues asking for it
    # (a queue's skill, or the skills its steps need).
    assert await group_row(page, "sales") == ("alice (5), bob (3)", "sales")
    assert await group_row(page, "support") == ("bob (2), cy (4)", "help")

    # A new group: alice and cy get the skill "vip". A level out of range is named at the
    # agent's row, and nothing is written.
    await page.click("#console-skill-groups-new")
    await page.fill("#console-skill-group-skill", "vip")
    await page.check("input[data-member='alice']")
    await page.fill("input[data-level='alice']", "7")
    await page.check("input[data-member='cy']")
    await page.fill("input[data-level='cy']", "11")
    await page.click("#console-skill-group-save")
    await page.wait_for_selector("#console-skill-group-level-cy-error:not(:empty)",
                                 timeout=10_000)
    assert await page.text_content("#console-skill-group-level-alice-error") == ""
    assert "vip" not in (await skills_of(page, base))["alice"]
    await page.fill("input[data-level='cy']", "2")
    await page.click("#console-skill-group-save")
    await page.wait_for_selector("#console-skill-group-saved:not(:empty)", timeout=15_000)
    assert await group_row(page, "vip") == ("alice (7), cy (2)", "—")
    skills = await skills_of(page, base)
    assert skills == {"alice": {"sales": 5, "vip": 7}, "bob": {"sales": 3, "support": 2},
                      "cy": {"support": 4, "vip": 2}}

    # A group that exists already cannot be made again.
    await page.click("#console-skill-groups-new")
    await page.fill("#console-skill-group-skill", "sales")
    await page.check("input[data-member='cy']")
    await page.click("#console-skill-group-save")
    await page.wait_for_selector("#console-skill-group-skill-error:not(:empty)", timeout=10_000)

    # The sales group: bob leaves, cy joins at level 6, alice's level goes to 9.
    await page.click("#console-skill-groups-list tr[data-name='sales'] th")
    await wait_until(page, "document.querySelector('#console-skill-group-skill').value"
                     " === 'sales'")
    assert await page.is_checked("input[data-member='bob']")
    assert not await page.is_checked("input[data-member='cy']")
    await page.uncheck("input[data-member='bob']")
    await page.check("input[data-member='cy']")
    await page.fill("input[data-level='cy']", "6")
    await page.fill("input[data-level='alice']", "9")
    await page.click("#console-skill-group-save")
    await wait_until(page, "document.querySelector('#console-skill-group-saved').textContent"
                     ".includes('3')", timeout=15_000)
    assert await group_row(page, "sales") == ("alice (9), cy (6)", "sales")
    skills = await skills_of(page, base)
    assert skills == {"alice": {"sales": 9, "vip": 7}, "bob": {"support": 2},
                      "cy": {"support": 4, "vip": 2, "sales": 6}}
    # The running ACD takes the change: logged-in cy now counts for the sales queue.
    async with asyncio.timeout(15):
        while True:
            queues = {q["queue"]: q for q in await api(page, base, "/v1/queues")}
            if queues["sales"]["agents_logged_in"] == 1:
                break
            await asyncio.sleep(0.2)
    # The agents tab shows what the group wrote.
    await page.click("#console-tab-agents")
    row = "#console-agents-list tr[data-name='bob']"
    await page.wait_for_selector(row, timeout=10_000)
    await wait_until(page, f"!document.querySelector(\"{row}\").textContent.includes('sales')",
                     timeout=10_000)


async def knowledge_base(page: Page, agent: Page, base: str) -> None:
    await page.click("#console-tab-kb")
    await page.wait_for_selector("#console-kb-none:not([hidden])", timeout=10_000)
    await page.click("#console-kb-new")
    # No title, and a tag given twice: both named at their fields, nothing sent.
    await page.fill("#console-kb-tags", "billing, refunds, billing")
    await page.fill("#console-kb-body", "Refunds take five days.")
    await page.click("#console-kb-save")
    await page.wait_for_selector("#console-kb-title-error:not(:empty)", timeout=5_000)
    assert "billing" in (await page.text_content("#console-kb-tags-error") or "")
    assert (await api(page, base, "/v1/kb"))["items"] == []
    await page.fill("#console-kb-title", "Refund policy")
    await page.fill("#console-kb-tags", "billing, refunds")
    await page.click("#console-kb-save")
    await page.wait_for_selector("#console-kb-saved:not(:empty)", timeout=10_000)
    items = (await api(page, base, "/v1/kb"))["items"]
    assert [(a["title"], a["tags"], a["author"]) for a in items] == [
        ("Refund policy", ["billing", "refunds"], "boss")]
    article = items[0]["id"]
    # Edited: the same article, with the new text.
    await page.fill("#console-kb-body", "Refunds take five days.\nAsk for the order number.")
    await page.click("#console-kb-save")
    await wait_until(page, "document.querySelector('#console-kb-saved').textContent.length > 0",
                     timeout=10_000)
    stored = await api(page, base, f"/v1/kb/{article}")
    assert stored["body"] == "Refunds take five days.\nAsk for the order number."
    # A search in the console finds it by a tag.
    await page.fill("#console-kb-search", "refunds")
    await page.click("#console-kb-search-go")
    await page.wait_for_selector(f"#console-kb-list li[data-article='{article}']",
                                 timeout=10_000)

    # Every agent reads it on the desktop.
    await agent.wait_for_selector("#desktop:not([hidden])", timeout=20_000)
    await agent.click("#tab-kb")
    await agent.fill("#kb-search", "order number")
    await agent.click("#kb-search-go")
    await agent.click("#kb-results li[data-article] button")
    await agent.wait_for_selector("#kb-article:not([hidden])", timeout=10_000)
    assert "Refund policy" in (await agent.text_content("#kb-article") or "")

    # Deleted (asked twice): gone from the list and from the API.
    await page.click(f"#console-kb-list li[data-article='{article}']")
    await page.click("#console-kb-delete")
    await page.click("#console-kb-delete")
    await page.wait_for_selector(f"#console-kb-list li[data-article='{article}']",
                                 state="detached", timeout=10_000)
    assert (await api(page, base, "/v1/kb"))["items"] == []


async def supervisor_writes(page: Page, agent: Page, base: str) -> None:
    await page.wait_for_selector("#supervisor:not([hidden])", timeout=20_000)
    await page.wait_for_selector("#sup-kb:not([hidden]) #console-kb-form", timeout=10_000)
    await page.click("#console-kb-new")
    await page.fill("#console-kb-title", "Holiday hours")
    await page.fill("#console-kb-body", "Closed on the first of January.")
    await page.click("#console-kb-save")
    await page.wait_for_selector("#console-kb-saved:not(:empty)", timeout=10_000)
    items = (await api(page, base, "/v1/kb"))["items"]
    assert [(a["title"], a["author"]) for a in items] == [("Holiday hours", "sup")]
    await agent.fill("#kb-search", "january")
    await agent.click("#kb-search-go")
    await agent.click("#kb-results li[data-article] button")
    await agent.wait_for_selector("#kb-article:not([hidden])", timeout=10_000)
    assert "Holiday hours" in (await agent.text_content("#kb-article") or "")
