"""Tickets on the agent desktop in headless Chromium against a real ``pycc serve``: an agent
creates a ticket, sets its status, comments on it (an empty comment is named at its field)
and assigns it to another agent (a user who does not exist is named at the field); the
other agent finds it among their own tickets, comments and solves it, and the first agent
sees the change. What the page shows is checked against what the API stores."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from ccc.center import log_in, serving
from peers.browser import launch_browser, wait_until

pytestmark = pytest.mark.peer

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
  - {id: bob, extension: "1002", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
routes:
  - {match: "8100", to: {queue: sales}}
"""
USERS = (("alice", "agent", "alice"), ("bob", "agent", "bob"))


def test_agents_create_comment_assign_and_solve_a_ticket_in_the_page(tmp_path: Path) -> None:
    with serving(tmp_path, users=USERS, center=CENTER) as server:
        asyncio.run(asyncio.wait_for(work(f"http://127.0.0.1:{server.http_port}"), 150))


async def desktop(browser: Browser, base: str, user: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        locale="en-US")
    page = await context.new_page()
    await log_in(page, base, user)
    await page.wait_for_selector("#desktop:not([hidden])", timeout=20_000)
    await page.click("#tab-tickets")
    return page


async def stored(page: Page, base: str, ticket: str) -> Any:
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
        answer = await client.get(f"/v1/tickets/{ticket}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def fact(page: Page, name: str) -> str:
    return (await page.text_content(f"#ticket-view-facts [data-field='{name}'] dd") or "").strip()


async def work(base: str) -> None:
    async with launch_browser(fake_audio=None) as browser:
        alice = await desktop(browser, base, "alice")
        await alice.fill("#ticket-subject", "Invoice sent twice")
        await alice.fill("#ticket-body", "The customer was billed twice in May.")
        await alice.select_option("#ticket-priority", "high")
        await alice.click("#ticket-save")
        item = "#tickets-list li[data-ticket]"
        await alice.wait_for_selector(item, timeout=10_000)
        ticket = await alice.get_attribute(item, "data-ticket")
        assert ticket
        await alice.click(f"{item} button")
        await alice.wait_for_selector(f"#ticket-view[data-ticket='{ticket}']:not([hidden])",
                                      timeout=10_000)
        assert await fact(alice, "created_by") == "alice"
        # The form's "assign to me" is on by default.
        assert await fact(alice, "assignee") == "alice"

        # Status: pending, as pycc stores it.
        await alice.select_option("#ticket-status", "pending")
        await wait_until(alice, "!document.querySelector('#ticket-status').disabled",
                         timeout=10_000)
        assert (await stored(alice, base, ticket))["status"] == "pending"

        # An empty comment is named at its field; a real one is kept with its author.
        await alice.click("#ticket-comment-add")
        await alice.wait_for_selector("#ticket-comment-error:not(:empty)", timeout=5_000)
        await alice.fill("#ticket-comment", "Asked billing for a refund.")
        await alice.click("#ticket-comment-add")
        await alice.wait_for_selector("#ticket-comments li[data-comment]", timeout=10_000)
        assert "alice" in (await alice.text_content("#ticket-comments li[data-comment]") or "")

        # Assigned to a user who does not exist: refused, named at the field.
        await alice.fill("#ticket-assign-to", "nobody")
        await alice.click("#ticket-assign")
        await alice.wait_for_selector("#ticket-assign-to-error:not(:empty)", timeout=10_000)
        assert "nobody" in (await alice.text_content("#ticket-assign-to-error") or "")
        assert (await stored(alice, base, ticket))["assignee"] == "alice"
        # To bob.
        await alice.fill("#ticket-assign-to", "bob")
        await alice.click("#ticket-assign")
        await wait_until(alice, "document.querySelector(\"#ticket-view-facts"
                         " [data-field='assignee']\").textContent.includes('bob')",
                         timeout=10_000)
        assert await alice.text_content("#ticket-assign-to-error") == ""
        assert (await stored(alice, base, ticket))["assignee"] == "bob"

        # bob finds it among his own tickets, comments and solves it.
        bob = await desktop(browser, base, "bob")
        await bob.select_option("#tickets-filter", "mine")
        mine = f"#tickets-list li[data-ticket='{ticket}']"
        await bob.wait_for_selector(mine, timeout=10_000)
        await bob.click(f"{mine} button")
        await bob.wait_for_selector(f"#ticket-view[data-ticket='{ticket}']:not([hidden])",
                                    timeout=10_000)
        assert "Asked billing" in (await bob.text_content("#ticket-comments") or "")
        await bob.fill("#ticket-comment", "Refund made.")
        await bob.click("#ticket-comment-add")
        await bob.wait_for_selector("#ticket-comments li[data-comment]:nth-child(2)",
                                    timeout=10_000)
        await bob.select_option("#ticket-status", "solved")
        await wait_until(bob, "!document.querySelector('#ticket-status').disabled",
                         timeout=10_000)
        # Solved, it goes back to no one.
        await bob.click("#ticket-unassign")
        await wait_until(bob, "document.querySelector(\"#ticket-view-facts"
                         " [data-field='assignee'] dd\").textContent === '—'", timeout=10_000)
        answer = await stored(bob, base, ticket)
        assert (answer["status"], answer["assignee"]) == ("solved", None)
        assert [(c["author"], c["body"]) for c in answer["comments"]] == [
            ("alice", "Asked billing for a refund."), ("bob", "Refund made.")]

        # alice opens it again and sees what bob did.
        await alice.click("#ticket-view-close")
        await alice.select_option("#tickets-filter", "all")
        await alice.click("#tickets-refresh")
        await alice.click(f"#tickets-list li[data-ticket='{ticket}'] button")
        await wait_until(alice, "document.querySelectorAll('#ticket-comments li').length === 2",
                         timeout=10_000)
        assert await alice.input_value("#ticket-status") == "solved"
