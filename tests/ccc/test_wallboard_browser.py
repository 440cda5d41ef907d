"""The supervisor's wallboard in headless Chromium against a real ``pycc serve``: what it
shows is pushed over its WebSocket and agrees with pycc's own API.

- Queues: with the queue's only agent not ready, two baresip callers wait; the queue's row
  shows them and a longest wait that grows while the page makes no HTTP request for it.
  The agent (a page in a second browser context) becomes ready and answers one, the other
  caller hangs up; the row's waiting, answered, abandoned and service-level figures become
  what ``GET /v1/queues`` says, and the service level is the one the queue's rule gives.
- Agents: the supervisor sets the agent not ready and then logs it out with the agent row's
  buttons; ``GET /v1/agents/alice`` says so, and the agent's own page shows it at once.
- Campaigns: a progressive campaign dials SIPp customers behind a trunk for one agent (a
  baresip phone answering by itself); the campaign's row shows its mode, lines in flight
  and abandonment as ``GET /v1/campaigns/NAME`` reports them, and follows its stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, WebSocket

from ccc.center import campaign_center, log_in, serving
from ccc.test_agent_desktop_actions_browser import (
    agent_ready,
    base_of,
    cookies,
    hangup_quietly,
    phone,
)
from peers.audio import write_silence_wav
from peers.baresip import BaresipPhone
from peers.browser import launch_browser, tone_wav
from peers.pycc_server import PyccServer
from peers.sipp import scenario, start_sipp_uas
from pycc.aaa.accounts import issue_token
from pycc.aaa.audit import Origin
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

T = TypeVar("T")

AGENT_HZ = 600.0
#: The sales queue's service-level target (seconds): "answered within T".
SERVICE_LEVEL_TARGET = 120.0
CENTER = f"""
tenant: default
agents:
  - {{id: alice, extension: "1001", skills: {{sales: 5}}}}
queues:
  - {{name: sales, skill: sales, service_level: {SERVICE_LEVEL_TARGET:g}}}
routes:
  - {{match: "8100", to: {{queue: sales}}}}
"""
USERS = (("alice", "agent", "alice"), ("sup", "supervisor", None))
QUEUE_ROW = "#wallboard-queues tr[data-queue='sales']"
AGENT_ROW = "#wallboard-agents tr[data-agent='alice']"
CAMPAIGN_ROW = "#wallboard-campaigns tr[data-campaign='spring']"
#: The queue and campaign figures the wallboard shows (its columns).
QUEUE_FIELDS = ("waiting", "longest_wait", "answered", "abandoned", "overflowed",
                "service_level", "agents_logged_in", "agents_free")
CAMPAIGN_FIELDS = ("running", "mode", "dial_level", "in_flight", "dialed", "answered",
                   "connected", "abandoned", "abandon_rate")
#: What the page may never fetch by itself: the wallboard's figures come pushed.
WALLBOARD_PATHS = ("/v1/queues", "/v1/agents", "/v1/campaigns", "/v1/wallboard")

#: A table row's cells as {field: {"value": data-value, "text": what it shows}}, or null.
ROW_JS = """([table, key, name]) => {
  const row = [...document.querySelectorAll(`#${table} tbody tr`)]
    .find((r) => r.dataset[key] === name);
  if (!row) return null;
  const cells = {};
  for (const cell of row.querySelectorAll("td[data-field]")) {
    cells[cell.dataset.field] = {value: cell.dataset.value ?? "", text: cell.textContent};
  }
  return cells;
}"""


async def until(probe: Callable[[], Awaitable[T | None]], what: str,
                timeout: float = 20.0) -> T:
    """Ask ``probe`` every 0.2 s until it answers something (not None): that answer.
    AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.2)


def number(value: str) -> float | None:
    """A cell's ``data-value`` as a number (None when empty)."""
    return None if value == "" else float(value)


def same(shown: str, reported: object) -> bool:
    """Whether a cell's ``data-value`` is the API's value (numbers by value)."""
    if reported is None:
        return shown == ""
    if isinstance(reported, bool):
        return shown == ("true" if reported else "false")
    if isinstance(reported, int | float):
        value = number(shown)
        return value is not None and math.isclose(value, float(reported), abs_tol=1e-9)
    return shown == str(reported)


def percent_text(ratio: float) -> str:
    """A ratio as the page writes it in English (a percentage, at most one decimal)."""
    return f"{round(ratio * 100, 1):g}%"


def wait_text(seconds: float) -> str:
    whole = max(0, math.floor(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class Wallboard:
    """A supervisor's page, and what it asked over HTTP and heard on the wallboard socket."""

    page: Page
    context: BrowserContext
    requests: list[str] = field(default_factory=list)
    pushes: list[float] = field(default_factory=list)

    async def row(self, table: str, key: str, name: str) -> dict[str, dict[str, str]] | None:
        cells: dict[str, dict[str, str]] | None = await self.page.evaluate(
            ROW_JS, [table, key, name])
        return cells

    async def queue(self) -> dict[str, dict[str, str]] | None:
        return await self.row("wallboard-queues", "queue", "sales")

    async def campaign(self) -> dict[str, dict[str, str]] | None:
        return await self.row("wallboard-campaigns", "campaign", "spring")

    def fetched_since(self, mark: int) -> list[str]:
        """The wallboard figures the page fetched over HTTP after ``mark`` requests."""
        return [url for url in self.requests[mark:]
                if any(path in url for path in WALLBOARD_PATHS)]


async def open_wallboard(browser: Browser, base: str) -> Wallboard:
    """The supervisor's page, logged in, its wallboard showing pycc's first snapshot."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        locale="en-US")
    page = await context.new_page()
    board = Wallboard(page, context)

    def requested(request: Request) -> None:
        if request.resource_type != "websocket":
            board.requests.append(f"{request.method} {request.url}")

    def socket(ws: WebSocket) -> None:
        if "/v1/wallboard" in ws.url:
            ws.on("framereceived", lambda _payload: board.pushes.append(time.monotonic()))

    page.on("request", requested)
    page.on("websocket", socket)
    await log_in(page, base, "sup")
    await page.wait_for_selector("#supervisor:not([hidden])", timeout=20_000)
    await page.wait_for_selector("#wallboard-time:not([data-time=''])", timeout=20_000)
    # Gone after a reload: the page's figures must change without one.
    await page.evaluate("() => { window.sameDocument = true; }")
    return board


async def still_the_same_document(page: Page) -> bool:
    return bool(await page.evaluate("() => window.sameDocument === true"))


# -- 1. waiting callers, service level, and forcing the agent's state ---------------------------


def test_waiting_callers_and_service_level_are_pushed_and_the_supervisor_forces_the_agent(
        tmp_path: Path) -> None:
    with serving(tmp_path, extensions=("1001", "1002", "1003"), users=USERS,
                 center=CENTER) as server:
        silence = write_silence_wav(tmp_path / "caller-silent.wav", 60.0)
        first = phone(tmp_path, "1002", server.sip_port, silence,
                      tmp_path / "heard-by-1002.wav", auto_answer=False)
        second = phone(tmp_path, "1003", server.sip_port, silence,
                       tmp_path / "heard-by-1003.wav", auto_answer=False)
        with first, second:
            try:
                asyncio.run(asyncio.wait_for(
                    queue_and_agent(base_of(server.http_port), tmp_path, first, second), 100))
            finally:
                hangup_quietly(first, second)


async def queue_and_agent(base: str, tmp_path: Path, first: BaresipPhone,
                          second: BaresipPhone) -> None:
    async with launch_browser(fake_audio=tone_wav(tmp_path / "agent.wav", AGENT_HZ)) as browser:
        _, agent = await agent_ready(browser, base)
        await agent.select_option("#not-ready-reason", "lunch")
        await agent.click("#state-not-ready")
        await agent.wait_for_selector("#agent-status[data-status='not_ready']", timeout=15_000)
        board = await open_wallboard(browser, base)
        async with httpx.AsyncClient(base_url=base, cookies=await cookies(board.context),
                                     timeout=10.0) as api:
            dialed = await callers_wait(board, api, first, second)
            await one_answered_one_abandoned(board, api, agent, dialed, second)
            await supervisor_forces_the_agent(board, api, agent, first)


async def api_queue(api: httpx.AsyncClient) -> dict[str, Any]:
    answer = await api.get("/v1/queues")
    assert answer.status_code == 200, answer.text
    return next(q for q in answer.json() if q["queue"] == "sales")


async def callers_wait(board: Wallboard, api: httpx.AsyncClient, first: BaresipPhone,
                       second: BaresipPhone) -> float:
    """Two callers wait: the row shows them and a growing wait, pushed, never fetched.
    When (monotonic) the first caller dialed."""

    async def waiting(count: int) -> dict[str, dict[str, str]] | None:
        row = await board.queue()
        return row if row is not None and row["waiting"]["value"] == str(count) else None

    idle = await until(lambda: waiting(0), "the sales row with nobody waiting")
    # The agent is logged in and not ready: in the queue, free for none of its calls.
    assert (idle["agents_logged_in"]["value"], idle["agents_free"]["value"]) == ("1", "0"), idle
    # No call has left the queue yet: there is no service level to show.
    assert (idle["service_level"]["value"], idle["service_level"]["text"]) == ("", "—"), idle
    mark, pushes = len(board.requests), len(board.pushes)

    dialed = time.monotonic()
    await asyncio.to_thread(first.dial, "8100")
    await until(lambda: waiting(1), "the first caller waiting on the wallboard")
    await asyncio.to_thread(second.dial, "8100")
    row = await until(lambda: waiting(2), "two callers waiting on the wallboard")
    assert row["waiting"]["text"] == "2"
    assert (await api_queue(api))["waiting"] == 2
    longest = number(row["longest_wait"]["value"])
    assert longest is not None

    async def grown() -> dict[str, dict[str, str]] | None:
        now = await board.queue()
        if now is None or now["waiting"]["value"] != "2":
            return None
        value = number(now["longest_wait"]["value"])
        return now if value is not None and value >= longest + 2.0 else None

    later = await until(grown, f"the longest wait growing past {longest + 2:g} s")
    value = number(later["longest_wait"]["value"])
    assert value is not None and later["longest_wait"]["text"] == wait_text(value), later
    # It came over the socket: pushes arrived, and the page asked nothing over HTTP.
    assert len(board.pushes) >= pushes + 2, board.pushes
    assert board.fetched_since(mark) == [], board.fetched_since(mark)
    assert await still_the_same_document(board.page)
    return dialed


async def one_answered_one_abandoned(board: Wallboard, api: httpx.AsyncClient, agent: Page,
                                     dialed: float, second: BaresipPhone) -> None:
    """The agent takes the first caller (who dialed at ``dialed``), the second hangs up:
    the row's figures become pycc's, and the service level the queue's rule gives."""
    mark = len(board.requests)
    await agent.click("#state-ready")
    await agent.wait_for_selector("#incoming:not([hidden])", timeout=30_000)
    await agent.click("#answer")
    await agent.wait_for_selector("#call-state[data-state='answered']", timeout=15_000)
    assert await agent.text_content("#call-peer") == "1002"  # the first to call, first served
    await asyncio.to_thread(second.hangup)

    async def settled() -> tuple[dict[str, dict[str, str]], dict[str, Any]] | None:
        reported = await api_queue(api)
        row = await board.queue()
        if row is None or (reported["answered"], reported["abandoned"]) != (1, 1):
            return None
        if all(same(row[f]["value"], reported[f]) for f in QUEUE_FIELDS):
            return row, reported
        return None

    row, reported = await until(settled, "the sales row showing pycc's figures")
    # The answered caller waited less than the time since it dialed: within the target.
    assert time.monotonic() - dialed < SERVICE_LEVEL_TARGET
    # Service level: calls answered within the target (here every answered one) over every
    # call that left the queue (answered, abandoned or overflowed).
    left = reported["answered"] + reported["abandoned"] + reported["overflowed"]
    expected = reported["answered"] / left
    assert reported["waiting"] == 0 and reported["service_level"] == pytest.approx(expected)
    assert row["service_level"]["text"] == percent_text(expected), row
    assert (row["waiting"]["text"], row["answered"]["text"], row["abandoned"]["text"]) == (
        "0", "1", "1"), row
    assert row["longest_wait"]["text"] == "0:00", row
    assert board.fetched_since(mark) == [], board.fetched_since(mark)
    assert await still_the_same_document(board.page)


async def api_agent(api: httpx.AsyncClient) -> dict[str, Any]:
    answer = await api.get("/v1/agents/alice")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def supervisor_forces_the_agent(board: Wallboard, api: httpx.AsyncClient, agent: Page,
                                      first: BaresipPhone) -> None:
    """Not ready, then logged out, from the agent's row: the ACD and the agent's page agree."""
    await asyncio.to_thread(first.hangup)
    page = board.page
    await page.wait_for_selector(f"{AGENT_ROW}:not([data-state='on_call'])", timeout=15_000)
    assert (await api_agent(api))["status"] == "available"
    await agent.evaluate("() => { window.sameDocument = true; }")

    await page.click(f"{AGENT_ROW} button[data-action='not_ready']")

    async def status(wanted: str) -> dict[str, Any] | None:
        found = await api_agent(api)
        return found if found["status"] == wanted else None

    forced = await until(lambda: status("not_ready"), "the ACD saying alice is not ready")
    assert forced["reason"] == "supervisor", forced
    # The agent's own page shows it at once, without a reload.
    await agent.wait_for_selector("#agent-status[data-status='not_ready']", timeout=10_000)
    assert await agent.text_content("#agent-reason") == "Set by supervisor"
    await page.wait_for_selector(f"{AGENT_ROW}[data-status='not_ready']", timeout=10_000)
    assert await page.get_attribute(f"{AGENT_ROW} [data-field='reason']",
                                    "data-value") == "supervisor"

    await page.click(f"{AGENT_ROW} button[data-action='logout']")
    await until(lambda: status("offline"), "the ACD saying alice is logged out")
    await agent.wait_for_selector("#agent-status[data-status='offline']", timeout=10_000)
    await page.wait_for_selector(f"{AGENT_ROW}[data-status='offline']", timeout=10_000)
    assert await still_the_same_document(agent)
    assert await page.text_content("#sup-agent-error") == ""

    async def nobody_in_queue() -> dict[str, dict[str, str]] | None:
        row = await board.queue()
        return row if row is not None and row["agents_logged_in"]["value"] == "0" else None

    await until(nobody_in_queue, "the sales row with no agent logged in")
    assert (await api_queue(api))["agents_logged_in"] == 0


# -- 2. a running campaign ---------------------------------------------------------------------

#: Two customers who answer (numbers ending in 3 to 9, tests/scenarios/uas_customers.xml).
CUSTOMERS = ("+12125551035", "+12125551046")


def test_the_campaign_row_shows_pacing_and_abandonment_as_pycc_reports_them(
        tmp_path: Path) -> None:
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "500"],
                               workdir=tmp_path / "customers")
    users = (("sup", "supervisor", None), ("boss", "admin", None))
    try:
        with serving(tmp_path, extensions=("1001",), users=users,
                     center=campaign_center(customers.local_port, mode="progressive",
                                            ring_timeout=10, wrapup=1, dial_level=2)) as server:
            with Store(make_url(server.data_dir, None)) as store:
                token = issue_token(store, "default", "boss", now=time.time(),
                                    origin=Origin("tests", "cli")).plaintext
            agent = phone(tmp_path, "1001", server.sip_port,
                          write_silence_wav(tmp_path / "agent-silent.wav", 60.0),
                          tmp_path / "heard-by-agent.wav", auto_answer=True)
            with agent:
                try:
                    asyncio.run(asyncio.wait_for(campaign(server, token, agent), 100))
                finally:
                    hangup_quietly(agent)
    finally:
        customers.stop()


async def campaign(server: PyccServer, token: str, agent: BaresipPhone) -> None:
    base = base_of(server.http_port)
    async with httpx.AsyncClient(base_url=base, timeout=10.0,
                                 headers={"Authorization": f"Bearer {token}"}) as api, \
            launch_browser(fake_audio=None) as browser:
        csv = "id,phone\n" + "".join(f"c{i},{n}\n" for i, n in enumerate(CUSTOMERS))
        imported = await api.post("/v1/campaigns/spring/contacts", content=csv,
                                  headers={"Content-Type": "text/csv"})
        assert imported.status_code == 201, imported.text
        for _ in range(50):  # the switch loads the applied file on its next round
            login = await api.post("/v1/agents/alice/state", json={"action": "login"})
            if login.status_code != 404:
                break
            await asyncio.sleep(0.2)
        assert login.status_code == 200, login.text

        board = await open_wallboard(browser, base)
        mark = len(board.requests)

        async def agrees(ready: Callable[[Mapping[str, Any]], bool],
                         ) -> tuple[dict[str, dict[str, str]], dict[str, Any]] | None:
            """The row and the API's status once the status is ``ready`` and they agree."""
            answer = await api.get("/v1/campaigns/spring")
            assert answer.status_code == 200, answer.text
            reported: dict[str, Any] = answer.json()
            row = await board.campaign()
            if row is None or not ready(reported):
                return None
            if not all(same(row[f]["value"], reported[f]) for f in CAMPAIGN_FIELDS):
                return None
            if json.loads(row["contacts"]["value"] or "{}") != reported["contacts"]:
                return None
            return row, reported

        row, _ = await until(lambda: agrees(lambda s: s["running"] is False),
                             "the stopped campaign's row")
        assert row["running"]["text"] == "Stopped", row

        started = await api.post("/v1/campaigns/spring/start")
        assert started.status_code == 200, started.text
        # Two lines for the one idle agent: both customers answer, one reaches alice, the
        # other finds nobody free and is abandoned; alice's call is still up (a line in
        # flight, connected as the talk starts).
        row, status = await until(lambda: agrees(
            lambda s: s["running"] is True and s["dialed"] == 2 and s["answered"] == 2
            and s["abandoned"] == 1 and s["in_flight"] == 1 and s["connected"] == 1),
            "the running campaign's row", timeout=40)
        assert status["mode"] == "progressive" and row["mode"]["text"] == "Progressive", row
        # Its pacing: the configured two lines per idle agent.
        assert status["dial_level"] == 2 and row["dial_level"]["text"] == "2", row
        assert status["abandon_rate"] == pytest.approx(status["abandoned"] / status["answered"])
        assert row["abandon_rate"]["text"] == percent_text(status["abandon_rate"]), row
        assert (row["running"]["text"], row["in_flight"]["text"]) == ("Running", "1"), row
        assert (await board.page.get_attribute(CAMPAIGN_ROW, "data-running")) == "yes"

        stopped = await api.post("/v1/campaigns/spring/stop")
        assert stopped.status_code == 200, stopped.text
        row, _ = await until(lambda: agrees(lambda s: s["running"] is False),
                             "the row following the stop")
        assert row["running"]["text"] == "Stopped", row
        assert (await board.page.get_attribute(CAMPAIGN_ROW, "data-running")) == "no"
        # The call still up ends: no line in flight any more.
        await asyncio.to_thread(agent.hangup)
        row, _ = await until(lambda: agrees(lambda s: s["in_flight"] == 0
                                            and s["connected"] == 1),
                             "the row with no line in flight")
        assert (row["in_flight"]["text"], row["connected"]["text"]) == ("0", "1"), row
        assert board.fetched_since(mark) == [], board.fetched_since(mark)
        assert await still_the_same_document(board.page)
        with contextlib.suppress(Exception):
            await board.context.close()
