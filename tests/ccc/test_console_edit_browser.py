"""Editing in the administration console, in headless Chromium against a real ``pycc serve``:
an administrator changes an IVR flow in its editor (a new menu key to another queue, a new
prompt and timeout) and the flow graph draws what pycc then stores, while a negative timeout
or a key leading to a queue that does not exist is refused next to the flow's editor and on
the step it concerns; creates a campaign, changes its mode and imports its contacts, the one
bad row named in the import's report, the page and the API agreeing throughout. And values
that are markup, put by the API into every free-text field pycc keeps (announcements,
disposition labels, extension and agent names, queue music, IVR prompts, token labels,
not-ready reasons, contacts, customers, tickets and their comments, knowledge-base
articles) or sent back in its refusals (do-not-call lines, contact rows), show as text in
the console and on the agent's desktop: no element is made of them."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ccc.center import PASSWORD, log_in, serving
from peers.browser import launch_browser, wait_until
from peers.pycc_server import PyccServer

pytestmark = pytest.mark.peer

#: How long the page or the switch may take to show a change on a busy two-core machine.
WAIT_MS = 30_000
WAIT_S = WAIT_MS / 1000
#: The whole of one test in the browser (pytest's own limit is 120 s with the server start).
TEST_S = 100
#: A directory to keep screenshots in, for a person to look at.
SCREENSHOTS = os.environ.get("PYCC_SCREENSHOTS")

#: Agent alice on 1001; queues sales and support; a trunk for the campaigns; flow main.
CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
  - {name: support, skill: sales}
trunks:
  - {name: carrier, host: "127.0.0.1:5099"}
ivr:
  - name: main
    steps:
      - answer
      - menu:
          prompt: tone:dial
          timeout: 10
          retries: 1
          options:
            "1": {queue: sales}
routes:
  - {match: "8000", to: {ivr: main}}
campaigns:
  - {name: spring, mode: progressive, queue: sales}
"""
USERS = (("boss", "admin", None), ("alice", "agent", "alice"))

#: Markup that runs script when a page parses it as HTML.
MARKUP = '<img src=x onerror="window.pyccInjected=1">'
#: The same, short enough for the fields of 40 characters (knowledge-base tags).
SHORT_MARKUP = "<img src=x onerror=pyccInjected=1>"


# -- helpers ---------------------------------------------------------------------------------

async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


async def open_page(browser: Browser, base: str, user: str, shown: str) -> Page:
    """A page of its own with ``user`` logged in, once ``shown`` (a selector) is visible."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, base, user)
    await page.wait_for_selector(shown, timeout=WAIT_MS)
    return page


async def open_tab(page: Page, name: str) -> None:
    await page.click(f"#console-tab-{name}")
    await page.wait_for_selector(f"#console-{name}:not([hidden])", timeout=WAIT_MS)


async def text_of(page: Page, selector: str) -> str:
    """The text of ``selector`` once it is there; AssertionError naming it when it is not."""
    try:
        await page.wait_for_selector(selector, state="attached", timeout=WAIT_MS)
    except PlaywrightTimeout:
        raise AssertionError(f"the page shows no {selector}") from None
    return await page.text_content(selector) or ""


async def shows(page: Page, selector: str, text: str) -> None:
    """Wait until ``selector``'s text is ``text``; AssertionError with what it is instead."""
    try:
        await wait_until(page, "([s, v]) => document.querySelector(s)?.textContent === v",
                         arg=[selector, text], timeout=WAIT_MS)
    except PlaywrightTimeout:
        now = await page.evaluate("s => document.querySelector(s)?.textContent ?? null",
                                  selector)
        raise AssertionError(f"{selector} shows {now!r}, not {text!r}; the page says "
                             f"{await alerts(page)}") from None


async def alerts(page: Page) -> list[str]:
    """The page's error lines in view that say something."""
    found: list[str] = await page.evaluate(
        "[...document.querySelectorAll('[role=alert], .field-error, .error')]"
        ".filter(e => !e.closest('[hidden]'))"
        ".map(e => `${e.id}: ${e.textContent.trim()}`).filter(t => !t.endsWith(': '))")
    return found


async def said(page: Page, selector: str) -> str:
    """Wait until the line ``selector`` (an error by a field, say) says something; its text."""
    try:
        await wait_until(
            page, "s => (document.querySelector(s)?.textContent ?? '').trim().length > 0",
            arg=selector, timeout=WAIT_MS)
    except PlaywrightTimeout:
        raise AssertionError(f"{selector} stays empty; the page says {await alerts(page)}") \
            from None
    return (await page.text_content(selector) or "").strip()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds."""
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


@contextlib.asynccontextmanager
async def admin_client(base: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API client acting as the administrator boss, with a token of its own."""
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as http:
        login = await http.post("/v1/login", json={"user": "boss", "password": PASSWORD})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield http


def run(server: PyccServer, scenario: Callable[[str, Browser], Awaitable[None]]) -> None:
    base = f"http://127.0.0.1:{server.http_port}"

    async def main() -> None:
        async with launch_browser(fake_audio=None) as browser:
            await scenario(base, browser)

    asyncio.run(asyncio.wait_for(main(), TEST_S))


# -- an IVR flow and a campaign, edited in the console ---------------------------------------

def test_an_administrator_edits_an_ivr_flow_and_a_campaign(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone,name\n+12125550101,Ann\nnot-a-number,Bob\n+12125550104,Cy\n",
                        encoding="utf-8")

    async def scenario(base: str, browser: Browser) -> None:
        page = await open_page(browser, base, "boss", "#console:not([hidden])")
        async with admin_client(base) as http:
            await edit_ivr(page, http)
            await edit_campaign(page, http, contacts)

    with serving(tmp_path, users=USERS, center=CENTER) as server:
        run(server, scenario)


async def editor_entry(page: Page, section: str) -> Any:
    return json.loads(await page.input_value(f"#console-{section}-entry"))


async def put_in_editor(page: Page, section: str, entry: Any) -> None:
    await page.fill(f"#console-{section}-entry", json.dumps(entry, indent=2))
    await page.click(f"#console-{section}-save")


async def edit_ivr(page: Page, http: httpx.AsyncClient) -> None:
    p = page
    stored = await get_json(http, "/v1/config/ivr/main")
    await open_tab(p, "ivr")
    await p.click("#console-ivr-list tr[data-name='main'] [data-action='edit']")
    await p.wait_for_selector("#ivr-graph[data-flow='main'] g.node[data-step='2']",
                              timeout=WAIT_MS)
    # The editor holds the flow as pycc stores it; the graph has no key 2 yet.
    assert await editor_entry(p, "ivr") == stored
    assert await p.locator("#ivr-graph g.edge[data-label='2']").count() == 0

    # A negative timeout: refused by the editor, and the menu step is marked in the graph.
    wrong = copy.deepcopy(stored)
    wrong["steps"][1]["menu"]["timeout"] = -3
    await put_in_editor(p, "ivr", wrong)
    message = await said(p, "#console-ivr-entry-error")
    assert "steps[1].menu.timeout" in message and "-3" in message, message
    assert await p.get_attribute("#console-ivr-entry", "aria-invalid") == "true"
    await p.wait_for_selector("#ivr-graph g.node.invalid[data-step='2']", timeout=WAIT_MS)
    assert "not -3" in await text_of(p, "#ivr-graph g.node.invalid[data-step='2'] > title")
    await shot(p, "ivr-bad-timeout")

    # Key 2 to a queue there is not: refused, naming the key's queue.
    wrong = copy.deepcopy(stored)
    wrong["steps"][1]["menu"]["options"]["2"] = {"queue": "nosuch"}
    await put_in_editor(p, "ivr", wrong)
    await wait_until(
        p, "document.querySelector('#console-ivr-entry-error').textContent.includes('nosuch')",
        timeout=WAIT_MS)
    message = await said(p, "#console-ivr-entry-error")
    assert "options.2.queue" in message, message
    await p.wait_for_selector("#ivr-graph g.node.invalid[data-step='2']", timeout=WAIT_MS)
    # Neither reached the configuration.
    assert await get_json(http, "/v1/config/ivr/main") == stored

    # Key 2 to support, a spoken prompt and a longer timeout: saved.
    changed = copy.deepcopy(stored)
    menu = changed["steps"][1]["menu"]
    menu["options"]["2"] = {"queue": "support"}
    menu["prompt"] = "tts:Sales press 1, support press 2"
    menu["timeout"] = 15
    await put_in_editor(p, "ivr", changed)
    assert "main" in await said(p, "#console-ivr-saved")
    assert await p.text_content("#console-ivr-entry-error") == ""
    assert await get_json(http, "/v1/config/ivr/main") == changed

    # A fresh page draws the stored flow: the menu's new prompt, and key 2 to support.
    await p.reload()
    await p.wait_for_selector("#console:not([hidden])", timeout=WAIT_MS)
    await open_tab(p, "ivr")
    await p.click("#console-ivr-list tr[data-name='main'] [data-action='edit']")
    edge = ("#ivr-graph[data-flow='main'] g.edge[data-from='2'][data-to='queue:support']"
            "[data-label='2']")
    await p.wait_for_selector(edge, state="attached", timeout=WAIT_MS)
    assert await editor_entry(p, "ivr") == changed
    targets = await p.locator("#ivr-graph g.target").evaluate_all(
        "gs => gs.map(g => g.dataset.target).sort()")
    assert targets == ["queue:sales", "queue:support"], targets
    assert await p.locator("#ivr-graph g.node").count() == 2
    prompt = await text_of(p, "#ivr-graph g.node[data-step='2'] > title")
    assert "tts:Sales press 1, support press 2" in prompt, prompt
    assert await p.locator("#ivr-graph g.node.invalid").count() == 0
    await shot(p, "ivr-saved")


async def edit_campaign(page: Page, http: httpx.AsyncClient, contacts: Path) -> None:
    p = page
    await open_tab(p, "campaigns")
    await p.wait_for_selector("#console-campaigns-list tr[data-name='spring']", timeout=WAIT_MS)
    await p.click("#console-campaigns-new")
    created = {"name": "autumn", "mode": "telepathic", "queue": "sales", "trunk": "carrier",
               "caller_ids": ["+12125550100"], "timezone": "America/New_York"}
    # A mode pycc has no dialer for is refused by the editor, naming the field.
    await put_in_editor(p, "campaigns", created)
    assert "mode" in await said(p, "#console-campaigns-entry-error")
    assert (await http.get("/v1/config/campaigns/autumn")).status_code == 404

    created["mode"] = "preview"
    await put_in_editor(p, "campaigns", created)
    row = "#console-campaigns-list tr[data-name='autumn']"
    await p.wait_for_selector(row, timeout=WAIT_MS)
    shown = {field: await p.text_content(f"{row} td[data-field='{field}']")
             for field in ("mode", "queue", "trunk")}
    assert shown == {"mode": "preview", "queue": "sales", "trunk": "carrier"}, shown
    assert await get_json(http, "/v1/config/campaigns/autumn") == created

    # Its mode changed from its row's editor: the table, the configuration and the running
    # dialer all have it.
    await p.click(f"{row} [data-action='edit']")
    await wait_until(
        p, "document.querySelector('#console-campaigns-form').dataset.entry === 'autumn'",
        timeout=WAIT_MS)
    edited = await editor_entry(p, "campaigns")
    assert edited == created, edited
    edited["mode"] = "progressive"
    edited["caller_ids"] = ["+12125550100", "+12125550102"]
    await put_in_editor(p, "campaigns", edited)
    await shows(p, f"{row} td[data-field='mode']", "progressive")
    assert await get_json(http, "/v1/config/campaigns/autumn") == edited
    live = "#campaigns-live tr[data-campaign='autumn']"
    await wait_until(
        p, "s => document.querySelector(s)?.dataset.value === 'progressive'",
        arg=f"{live} td[data-field='mode']", timeout=WAIT_MS)
    assert (await get_json(http, "/v1/campaigns/autumn"))["mode"] == "progressive"

    # Its contacts: three rows, the second no phone number.
    await p.wait_for_selector("#campaign-import-campaign option[value='autumn']",
                              state="attached", timeout=WAIT_MS)
    await p.select_option("#campaign-import-campaign", "autumn")
    await p.set_input_files("#campaign-import-file", str(contacts))
    await p.click("#campaign-import")
    result = "#campaign-import-result:not([hidden])"
    await p.wait_for_selector(result, timeout=WAIT_MS)
    assert await p.get_attribute(result, "data-added") == "2"
    assert await p.get_attribute(result, "data-refused") == "1"
    refused = p.locator("#campaign-import-errors:not([hidden]) tbody tr")
    assert await refused.count() == 1
    # The report names the row by its line in the file (the header is line 1).
    assert await refused.get_attribute("data-line") == "3"
    assert await refused.get_attribute("data-kind") == "rejected"
    reason = await refused.locator("td[data-field='reason']").text_content() or ""
    assert "not-a-number" in reason, reason
    await shot(p, "campaign-import")

    # The contacts the page lists are the ones pycc has.
    stored = (await get_json(http, "/v1/campaigns/autumn/contacts"))["items"]
    assert sorted(c["phone"] for c in stored) == ["+12125550101", "+12125550104"], stored
    await p.click(f"{live} button[data-action='contacts']")
    listed = "#campaign-contacts-block:not([hidden]) #campaign-contacts tbody tr[data-contact]"
    await p.wait_for_selector(listed, timeout=WAIT_MS)
    rows = await p.locator(listed).evaluate_all(
        "rows => rows.map(r => [r.dataset.contact, r.cells[1].textContent,"
        " r.cells[2].textContent]).sort()")
    assert rows == sorted([c["id"], c["phone"], c["name"]] for c in stored), rows
    assert {row[2] for row in rows} == {"Ann", "Cy"}, rows


# -- markup shown as text --------------------------------------------------------------------

NO_MARKUP = """([scope, markup]) => {
  const root = document.querySelector(scope);
  return {
    images: root ? root.querySelectorAll('img').length : -1,
    handlers: document.querySelectorAll('[onerror]').length,
    injected: window.pyccInjected === undefined ? null : String(window.pyccInjected),
    // The markup as text somewhere in the scope: the page did show it.
    shown: root !== null && root.textContent.includes(markup),
  };
}"""


async def no_markup(page: Page, scope: str, markup: str = MARKUP) -> None:
    """``scope`` shows ``markup`` as text and holds no element made of it. The elements are
    what counts: pycc's Content-Security-Policy would also stop an injected handler from
    running, so ``window.pyccInjected`` staying unset alone would prove little."""
    found = await page.evaluate(NO_MARKUP, [scope, markup])
    assert found == {"images": 0, "handlers": 0, "injected": None, "shown": True}, \
        (scope, found)


def test_markup_in_every_free_text_field_shows_as_text(tmp_path: Path) -> None:
    bad_row = tmp_path / "bad-row.csv"
    bad_row.write_text('phone,name\n"' + MARKUP.replace('"', '""') + '",Dee\n',
                       encoding="utf-8")

    async def scenario(base: str, browser: Browser) -> None:
        # The payload is live markup: parsed as HTML it is an image with a handler.
        probe = await browser.new_page()
        parsed = await probe.evaluate(
            "m => { const t = document.createElement('template'); t.innerHTML = m;"
            " return t.content.querySelectorAll('img[onerror]').length; }", MARKUP)
        assert parsed == 1, parsed
        await probe.close()
        async with admin_client(base) as http:
            ids = await enter_markup(http)
            admin = await open_page(browser, base, "boss", "#console:not([hidden])")
            agent = await open_page(browser, base, "alice", "#desktop:not([hidden])")
            await console_shows_text(admin, ids, bad_row)
            await desktop_shows_text(agent)

    with serving(tmp_path, users=USERS, center=CENTER) as server:
        run(server, scenario)


async def enter_markup(http: httpx.AsyncClient) -> dict[str, str]:
    """Markup in every free-text field pycc keeps; the ids pycc gave what it made."""
    async def sent(method: str, path: str, body: Any = None, **extra: Any) -> Any:
        answer = await http.request(method, path, json=body, **extra)
        assert answer.status_code in (200, 201), (method, path, answer.status_code, answer.text)
        return answer.json()

    await sent("POST", "/v1/announcements", {"text": MARKUP, "minutes": 30})
    await sent("PUT", "/v1/config/dispositions/odd", {"code": "odd", "label": MARKUP})
    await sent("PUT", "/v1/extensions/1002", {"name": MARKUP})
    await sent("PUT", "/v1/config/agents/bob", {"extension": "1002", "name": MARKUP})
    await sent("PUT", "/v1/config/queues/odd", {"skill": "sales", "music": f"tts:{MARKUP}"})
    await sent("PUT", "/v1/config/ivr/odd",
               {"steps": ["answer", {"play": f"tts:{MARKUP}"}, "hangup"]})
    token = await sent("POST", "/v1/users/alice/tokens", {"label": MARKUP})
    csv = 'phone,name\n+12125550101,"' + MARKUP.replace('"', '""') + '"\n'
    await sent("POST", "/v1/campaigns/spring/contacts", content=csv.encode(),
               headers={"Content-Type": "text/csv"})
    await sent("POST", "/v1/customers", {"name": MARKUP, "company": MARKUP, "notes": MARKUP,
                                         "phones": ["+12125550111"], "fields": {"note": MARKUP}})
    ticket = await sent("POST", "/v1/tickets",
                        {"subject": MARKUP, "body": MARKUP, "assignee": "alice"})
    await sent("POST", f"/v1/tickets/{ticket['id']}/comments", {"body": MARKUP})
    await sent("POST", "/v1/kb", {"title": MARKUP, "body": MARKUP, "tags": [SHORT_MARKUP]})
    await sent("POST", "/v1/agents/alice/state", {"action": "login"})
    await sent("POST", "/v1/agents/alice/state", {"action": "not_ready", "reason": MARKUP})
    return {"token": token["prefix"], "ticket": str(ticket["id"])}


async def console_shows_text(page: Page, ids: dict[str, str], bad_row: Path) -> None:
    p = page
    # The wallboard (the console's first tab): alice's not-ready reason.
    await shows(p, "#wallboard-agents tr[data-agent='alice'] td[data-field='reason']", MARKUP)
    await no_markup(p, "#console-wallboard")

    await open_tab(p, "announcements")
    await shows(p, "#announcements li .announcement-text", MARKUP)
    await no_markup(p, "#console-announcements")

    for tab, name, field, text in (
            ("extensions", "1002", "name", MARKUP),
            ("agents", "bob", "name", MARKUP),
            ("queues", "odd", "music", f"tts:{MARKUP}"),
            ("dispositions", "odd", "label", MARKUP)):
        await open_tab(p, tab)
        await shows(p, f"#console-{tab}-list tr[data-name='{name}'] td[data-field='{field}']",
                    text)
        await no_markup(p, f"#console-{tab}")

    # The flow's graph: the prompt in the step's box and its tooltip.
    await open_tab(p, "ivr")
    await p.click("#console-ivr-list tr[data-name='odd'] [data-action='edit']")
    step = "#ivr-graph[data-flow='odd'] g.node[data-step='2']"
    await p.wait_for_selector(step, state="attached", timeout=WAIT_MS)
    assert MARKUP in await text_of(p, f"{step} > title")
    assert (await text_of(p, f"{step} .node-text")).startswith("tts:<img src=x")
    assert await p.locator("#ivr-graph foreignObject").count() == 0
    await no_markup(p, "#console-ivr")

    # alice's token, and the audit log (which names what was written).
    await open_tab(p, "users")
    await p.click("#users-list tr[data-user='alice'] button[data-action='tokens']")
    await shows(p, f"#tokens-list tr[data-prefix='{ids['token']}'] td", MARKUP)
    # The audit log shows each change's details as JSON (its quotes escaped).
    await wait_until(p, "m => document.querySelector('#audit-list').textContent.includes(m)",
                     arg="<img src=x onerror=", timeout=WAIT_MS)
    await no_markup(p, "#console-users")

    # A contact's name, and a refused row of an import.
    await open_tab(p, "campaigns")
    await p.click("#campaigns-live tr[data-campaign='spring'] button[data-action='contacts']")
    await shows(p, "#campaign-contacts tr[data-contact='+12125550101'] td:nth-of-type(2)",
                MARKUP)
    await p.wait_for_selector("#campaign-import-campaign option[value='spring']",
                              state="attached", timeout=WAIT_MS)
    await p.select_option("#campaign-import-campaign", "spring")
    await p.set_input_files("#campaign-import-file", str(bad_row))
    await p.click("#campaign-import")
    await p.wait_for_selector("#campaign-import-errors:not([hidden]) tbody tr", timeout=WAIT_MS)
    assert MARKUP in await text_of(p, "#campaign-import-errors td[data-field='reason']")
    await no_markup(p, "#console-campaigns")

    # A do-not-call line that is no number comes back in the refusal.
    await open_tab(p, "dnc")
    await p.fill("#dnc-numbers", f"+12125550199\n{MARKUP}")
    await p.click("#dnc-add")
    await p.wait_for_selector("#dnc-rejected:not([hidden]) tbody tr", timeout=WAIT_MS)
    assert MARKUP in await text_of(p, "#dnc-rejected tbody")
    await no_markup(p, "#console-dnc")
    await shot(p, "markup-console")


async def desktop_shows_text(page: Page) -> None:
    p = page
    await shows(p, "#announcements-bar li span:not(.meta)", MARKUP)
    await shows(p, "#agent-reason", MARKUP)
    await shows(p, "#wrapup-code option[value='odd']", MARKUP)
    await no_markup(p, "#desktop")

    await p.click("#tab-tickets")
    item = "#tickets-list li[data-ticket] button"
    await wait_until(p, "([s, m]) => document.querySelector(s)?.textContent.endsWith(m)",
                     arg=[item, MARKUP], timeout=WAIT_MS)
    await p.click(item)
    await wait_until(
        p, "m => document.querySelector('#ticket-view-title').textContent.endsWith(` · ${m}`)",
        arg=MARKUP, timeout=WAIT_MS)
    await shows(p, "#ticket-view-body", MARKUP)
    await shows(p, "#ticket-comments li p.pre", MARKUP)
    await no_markup(p, "#panel-tickets")

    await p.click("#tab-kb")
    await shows(p, "#kb-results li[data-article] button", MARKUP)
    await shows(p, "#kb-results li[data-article] .tags-inline", SHORT_MARKUP)
    await p.click("#kb-results li[data-article] button")
    await shows(p, "#kb-article-title", MARKUP)
    await shows(p, "#kb-article-body", MARKUP)
    await shows(p, "#kb-article-tags .tag", SHORT_MARKUP)
    await no_markup(p, "#panel-kb")

    await p.click("#tab-customer")
    await p.fill("#customer-search", "onerror")
    await p.click("#customer-search-go")
    await shows(p, "#customer-results li[data-customer] button", MARKUP)
    await p.click("#customer-results li[data-customer] button")
    await shows(p, "#customer-name", MARKUP)
    for field in ("company", "notes", "fields.note"):
        await shows(p, f"#customer-details [data-field='{field}'] dd", MARKUP)
    await no_markup(p, "#panel-customer")
    await no_markup(p, "#desktop")
    await shot(p, "markup-desktop")
