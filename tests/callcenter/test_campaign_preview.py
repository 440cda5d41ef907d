"""Agent-first dialing for real: preview campaigns and callbacks an agent scheduled.

SIPp plays the customers behind a trunk (tests/scenarios/uas_customers.xml: numbers ending in
3 to 9 answer), ``pycc.ua`` agents see each contact on their phone before the customer is
dialed: declining passes the contact on without dialing it, answering dials the customer and
connects the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from peers.net import free_port
from peers.rtp_phone import RtpPhone
from peers.sipp import scenario, start_sipp_uas
from pycc.config import SwitchConfig
from pycc.pds.command import callback_command, import_command
from pycc.pds.store import DialerStore
from pycc.provision.command import apply_file
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, UserAgent

pytestmark = pytest.mark.peer

PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002"}


def center_yaml(port: int, mode: str) -> str:
    return f"""
tenant: default
agents:
  - {{id: agent-a, extension: "1001", skills: {{sales: 5}}}}
  - {{id: agent-b, extension: "1002", skills: {{sales: 5}}}}
queues:
  - {{name: outbound, skill: sales, ring_timeout: 8, wrapup: 0.3}}
trunks:
  - {{name: customers, host: "127.0.0.1:{port}", options_interval: 0, ips: []}}
campaigns:
  - name: spring
    mode: {mode}
    queue: outbound
    trunk: customers
    caller_ids: ["+15551230000"]
    ring_time: 15
"""


def prepare(tmp_path: Path, mode: str, rows: str) -> tuple[SwitchConfig, Store, object]:
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "200"],
                               workdir=tmp_path / "customers")
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=40)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="preview-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + 39}")
    (tmp_path / "center.yaml").write_text(center_yaml(customers.local_port, mode),
                                          encoding="utf-8")
    errors: list[str] = []
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    (tmp_path / "c.csv").write_text(rows, encoding="utf-8")
    printed: list[str] = []
    assert import_command("spring", tmp_path / "c.csv", config, out=printed.append,
                          err=printed.append) == 0, printed
    return config, store, customers


def customer_invites(customers: object) -> Counter[str]:
    log = (customers.workdir / "messages.log").read_text(  # type: ignore[attr-defined]
        encoding="utf-8", errors="replace")
    return Counter(re.findall(r"INVITE sip:(\+\d+)@", log))


def test_preview_agent_sees_the_contact_first_and_passes_or_dials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's phone shows the first contact (name on the display, fields as headers)
    and declines it: the customer is never dialed and the contact comes back later without
    the attempt counting. The next two previews are answered: each customer is dialed once,
    answers and talks with the agent."""
    monkeypatch.setattr("pycc.pds.service.PREVIEW_SKIP_DELAY", 1.0)
    first, second = "+12125551035", "+12125551046"
    config, store, customers = prepare(
        tmp_path, "preview",
        f"id,phone,name,plan\nc0,{first},Ann Lee,gold\nc1,{second},Bo Chan,silver\n")
    seen: list[tuple[str, str, str, str]] = []  # (action, phone header, display, plan)
    results: list[tuple[str, str]] = []

    async def agent(ua: UserAgent) -> None:
        while True:
            call: Call = await ua.next_call(None)
            invite = call.invite
            assert invite is not None
            phone = invite.headers.get("x-pycc-phone") or "?"
            display = invite.headers.get("from") or ""
            plan = invite.headers.get("x-pycc-plan") or ""
            if not seen:
                seen.append(("declined", phone, display, plan))
                await call.reject(603, "Decline")
                continue
            seen.append(("answered", phone, display, plan))
            await call.answer()
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await call.hangup()

    async def main() -> None:
        async with Switch(config) as switch, RtpPhone() as rtp:
            ua = UserAgent("1001", PASSWORDS["1001"], server=switch.addresses["udp"],
                           rtp_port=rtp.port, auto_answer=False)
            async with ua:
                await ua.register()
                task = asyncio.ensure_future(agent(ua))
                switch.bus.subscribe("campaign.result", lambda e: results.append(
                    (e.data["phone"], e.data["result"])))
                assert switch.center is not None and switch.dialer is not None
                assert switch.center.acd.login("agent-a") is None
                await switch.dialer.start("spring")
                async with asyncio.timeout(40):
                    while sum(1 for _, r in results if r == "connected") < 2:
                        await asyncio.sleep(0.1)
                await switch.dialer.stop("spring")
                task.cancel()

    try:
        asyncio.run(main())
    finally:
        customers.stop()  # type: ignore[attr-defined]
    assert results == [(first, "skipped"), (second, "connected"), (first, "connected")]
    assert [(action, phone) for action, phone, _, _ in seen] == [
        ("declined", first), ("answered", second), ("answered", first)]
    assert "Ann Lee" in seen[0][2] and seen[0][3] == "gold"
    assert "Bo Chan" in seen[1][2] and seen[1][3] == "silver"
    # Declining dialed nobody: each customer got exactly one INVITE.
    assert customer_invites(customers) == Counter({first: 1, second: 1})
    dstore = DialerStore(store, "default")
    contacts = {c.phone: c for c in dstore.contacts("spring")}
    assert {p: (c.state, c.result, c.attempts) for p, c in contacts.items()} == {
        first: ("done", "connected", 1), second: ("done", "connected", 1)}
    attempts = sorted((a.number, a.result or "") for a in dstore.attempts("spring"))
    assert attempts == sorted([(first, "skipped"), (first, "connected"),
                               (second, "connected")])
    connected = [a for a in dstore.attempts("spring") if a.result == "connected"]
    assert all(a.agent == "agent-a" for a in connected), connected
    store.close()


def test_callback_scheduled_for_an_agent_rings_that_agent_only(tmp_path: Path) -> None:
    """A progressive campaign: the contact an agent scheduled a callback for is offered to
    that agent first (the other, idle, agent's phone stays silent for it) and dialed when
    the agent answers; the other contact goes the usual way."""
    mine, other = "+12125551057", "+12125551068"
    config, store, customers = prepare(
        tmp_path, "progressive", f"id,phone\nmine,{mine}\nother,{other}\n")
    printed: list[str] = []
    assert callback_command("spring", "mine", "+0", config, agent="agent-b",
                            out=printed.append, err=printed.append) == 0, printed
    assert "agent-b" in printed[0]
    rung: dict[str, list[str]] = {"1001": [], "1002": []}
    results: list[tuple[str, str]] = []

    async def agent(ua: UserAgent, number: str) -> None:
        while True:
            call = await ua.next_call(None)
            invite = call.invite
            assert invite is not None
            rung[number].append(invite.headers.get("x-pycc-phone") or "?")
            await call.answer()
            await asyncio.sleep(0.8)
            with contextlib.suppress(Exception):
                await call.hangup()

    async def main() -> None:
        async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
            tasks = []
            for number in PASSWORDS:
                rtp = await stack.enter_async_context(RtpPhone())
                ua = UserAgent(number, PASSWORDS[number], server=switch.addresses["udp"],
                               rtp_port=rtp.port, auto_answer=False)
                await stack.enter_async_context(ua)
                await ua.register()
                tasks.append(asyncio.ensure_future(agent(ua, number)))
            switch.bus.subscribe("campaign.result", lambda e: results.append(
                (e.data["phone"], e.data["result"])))
            assert switch.center is not None and switch.dialer is not None
            for agent_id in ("agent-a", "agent-b"):
                assert switch.center.acd.login(agent_id) is None
            await switch.dialer.start("spring")
            async with asyncio.timeout(30):
                while len(results) < 2:
                    await asyncio.sleep(0.1)
            await switch.dialer.stop("spring")
            for task in tasks:
                task.cancel()

    try:
        asyncio.run(main())
    finally:
        customers.stop()  # type: ignore[attr-defined]
    assert sorted(results) == sorted([(mine, "connected"), (other, "connected")])
    assert mine in rung["1002"] and mine not in rung["1001"], rung
    assert customer_invites(customers) == Counter({mine: 1, other: 1})
    attempts = {a.number: a.agent for a in DialerStore(store, "default").attempts("spring")}
    assert attempts[mine] == "agent-b"
    store.close()


def test_callback_command_names_what_is_wrong(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = SwitchConfig(data_dir=data)
    yaml_text = center_yaml(free_port("udp"), "progressive")
    (tmp_path / "center.yaml").write_text(yaml_text, encoding="utf-8")
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=lambda _l: None) == 0
    (tmp_path / "c.csv").write_text("id,phone\nx1,+12125551057\n", encoding="utf-8")
    assert import_command("spring", tmp_path / "c.csv", config, out=lambda _l: None,
                          err=lambda _l: None) == 0
    cases = {
        ("nobody", "+60", None): (1, "no contact 'nobody'"),
        ("x1", "tomorrow", None): (2, "--at: 'tomorrow' is not a time"),
        ("x1", "2001-01-01T10:00", None): (2, "is in the past"),
        ("x1", "+1h", "zed"): (2, "--agent: no agent 'zed'"),
    }
    for (contact, when, agent), (code, message) in cases.items():
        errors: list[str] = []
        got = callback_command("spring", contact, when, config, agent=agent,
                               out=errors.append, err=errors.append)
        assert (got, any(message in line for line in errors)) == (code, True), errors
    errors = []
    assert callback_command("autumn", "x1", "+60", config, out=errors.append,
                            err=errors.append) == 1
    assert "autumn" in errors[0]
    # A good one: scheduled in the campaign's zone, an hour from now.
    before = time.time()
    assert callback_command("spring", "x1", "+1h", config, out=errors.append,
                            err=errors.append) == 0
    store = Store(make_url(data, None))
    contact = DialerStore(store, "default").contacts("spring")[0]
    assert contact.state == "scheduled"
    assert before + 3590 < contact.next_at < time.time() + 3610
    store.close()


@pytest.mark.parametrize(("text", "zone", "expected"), [
    ("+90", "UTC", 1_000_090.0), ("+2m", "UTC", 1_000_120.0), ("+1.5h", "UTC", 1_005_400.0),
    ("+1d", "UTC", 1_086_400.0),
    ("2026-12-02T10:00", "America/New_York", 1_796_223_600.0),  # 15:00 UTC, EST
    ("2026-07-02T10:00", "America/New_York", 1_783_000_800.0),  # 14:00 UTC, EDT
    ("2026-12-02T10:00+01:00", "America/New_York", 1_796_202_000.0),
])
def test_callback_times(text: str, zone: str, expected: float) -> None:
    from pycc.pds.command import parse_when

    assert parse_when(text, 1_000_000.0, zone) == expected


def test_callback_time_errors() -> None:
    from pycc.pds.command import parse_when

    for text in ("soon", "+", "+5y", "2026-13-01T00:00"):
        with pytest.raises(ValueError, match="is not a time"):
            parse_when(text, 0.0)
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_when("2026-12-02T10:00", 0.0, "Mars/Olympus")
