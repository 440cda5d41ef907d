"""A campaign dialing for real: SIPp plays the customers behind a trunk, ``pycc.ua`` agents
answer and hang up, the switch's dialer paces, connects and records.

The customers' behaviour follows the last digit of their number (tests/scenarios/
uas_customers.xml): 0-1 busy, 2 never answers, 3-9 answer after a short ring. Every contact
must end in the result its digit implies, each answered customer must reach an agent exactly
once, and nothing may be dialed twice by mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from pathlib import Path

import pytest

from peers.audio import write_tone_wav
from peers.net import free_port
from peers.rtp_phone import RtpPhone, band_share
from peers.sipp import scenario, start_sipp_uas
from pycc.config import SwitchConfig
from pycc.ctl import request
from pycc.pds.command import import_command
from pycc.pds.store import DialerStore
from pycc.provision.command import apply_file
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import UserAgent

pytestmark = pytest.mark.peer

AGENTS = {"1001": "agent-a", "1002": "agent-b", "1003": "agent-c"}
PASSWORDS = {number: f"secret-{number}" for number in AGENTS}
#: Contacts: the last digit says what the customer does.
NUMBERS = [f"+1212555{n:04d}" for n in (1000, 1013, 1024, 1035, 1046, 1057, 1068, 1079,
                                        1083, 1093, 1101, 1102)]


def expected(number: str) -> str:
    digit = int(number[-1])
    return "busy" if digit < 2 else "no_answer" if digit == 2 else "connected"


def center_yaml(port: int) -> str:
    agents = "\n".join(f"  - {{id: {agent}, extension: \"{ext}\", skills: {{sales: 5}}}}"
                       for ext, agent in AGENTS.items())
    return f"""
tenant: default
agents:
{agents}
queues:
  - {{name: outbound, skill: sales, ring_timeout: 5, wrapup: 0.5}}
trunks:
  - {{name: customers, host: "127.0.0.1:{port}", options_interval: 0, ips: []}}
campaigns:
  - name: spring
    mode: progressive
    queue: outbound
    trunk: customers
    caller_ids: ["+15551230000", "+15551230001"]
    ring_time: 15
    retries: {{busy: {{max: 2, after: 1}}}}
"""


async def agent_loop(ua: UserAgent, talk: float, answered: Counter[str]) -> None:
    """Answer every call the ACD offers (auto-answer) and hang up after ``talk`` seconds."""
    while True:
        call = await ua.next_call(None)
        await call.answered.wait()
        assert call.invite is not None
        answered[call.invite.headers.get("x-pycc-phone") or "?"] += 1
        await asyncio.sleep(talk)
        with contextlib.suppress(Exception):
            await call.hangup()


def test_progressive_campaign_ends_every_contact_in_its_result(tmp_path: Path) -> None:
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "300"],
                               workdir=tmp_path / "customers")
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=60)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="campaign-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + 59}")
    (tmp_path / "center.yaml").write_text(center_yaml(customers.local_port), encoding="utf-8")
    errors: list[str] = []
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("id,phone,name,plan\n" + "".join(
        f"c{i},{number},Customer {i},gold\n" for i, number in enumerate(NUMBERS)) +
        "bad,12,Nobody,none\n", encoding="utf-8")
    printed: list[str] = []
    assert import_command("spring", contacts, config, out=printed.append,
                          err=printed.append) == 0, printed
    assert any(re.match(r"\d+: ", line) for line in printed), printed  # the bad row

    answered: Counter[str] = Counter()

    async def main() -> None:
        async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
            agents = []
            for number in AGENTS:
                phone = await stack.enter_async_context(RtpPhone())
                ua = UserAgent(number, PASSWORDS[number], server=switch.addresses["udp"],
                               rtp_port=phone.port, auto_answer=True)
                await stack.enter_async_context(ua)
                await ua.register()
                agents.append(asyncio.ensure_future(agent_loop(ua, 0.8, answered)))
            assert switch.center is not None and switch.dialer is not None
            for agent in AGENTS.values():
                assert switch.center.acd.login(agent) is None
            status = await asyncio.to_thread(request, data, "campaign", 10.0,
                                             action="start", campaign="spring")
            assert status["running"] is True
            dstore = DialerStore(store, "default")

            def done() -> bool:
                states = {c.phone: c.state for c in dstore.contacts("spring")}
                return len(states) == len(NUMBERS) and all(
                    s in ("done", "failed") for s in states.values())

            async with asyncio.timeout(60):
                while not await asyncio.to_thread(done):
                    await asyncio.sleep(0.3)
            status = await asyncio.to_thread(request, data, "campaign", 10.0,
                                             action="status", campaign="spring")
            assert status["abandoned"] == 0, status
            await asyncio.to_thread(request, data, "campaign", 10.0, action="stop",
                                    campaign="spring")
            for task in agents:
                task.cancel()

    try:
        asyncio.run(main())
    finally:
        result = customers.stop()
        store.close()
    dstore = DialerStore(Store(make_url(data, None)), "default")
    final = {c.phone: c.result for c in dstore.contacts("spring")}
    assert final == {number: expected(number) for number in NUMBERS}, final
    attempts = Counter(a.number for a in dstore.attempts("spring"))
    for number in NUMBERS:
        wanted = 2 if expected(number) == "busy" else 1  # busy: retried once (max 2)
        assert attempts[number] == wanted, (number, attempts[number])
    # Each answered customer reached an agent exactly once; the agent saw its fields.
    assert {n for n in NUMBERS if expected(n) == "connected"} == set(answered)
    assert all(count == 1 for count in answered.values()), answered
    log = (customers.workdir / "messages.log").read_text(encoding="utf-8", errors="replace")
    assert result.failed == 0, result.describe()
    invites = Counter(re.findall(r"INVITE sip:(\+\d+)@", log))
    assert invites == attempts, (invites, attempts)


def test_answered_customer_without_a_free_agent_is_abandoned_after_the_hold_limit(
        tmp_path: Path) -> None:
    """Dialing three lines for one agent (ratio 3): the customers who answer while the agent
    talks hear the abandon message after two seconds and count as abandoned."""
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "200"],
                               workdir=tmp_path / "customers")
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    store.add_extension("default", "1001", PASSWORDS["1001"])
    first = free_port("udp", count=40)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="campaign-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + 39}")
    yaml_text = center_yaml(customers.local_port).replace(
        "    mode: progressive\n", "    mode: ratio\n    dial_level: 3\n"
        "    abandon_message: tone:beep\n")
    (tmp_path / "center.yaml").write_text(yaml_text, encoding="utf-8")
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=lambda _l: None) == 0
    numbers = [f"+1212555{3000 + i * 10 + 5:04d}" for i in range(3)]
    (tmp_path / "c.csv").write_text("phone\n" + "\n".join(numbers) + "\n", encoding="utf-8")
    assert import_command("spring", tmp_path / "c.csv", config, out=lambda _l: None,
                          err=lambda _l: None) == 0
    answered: Counter[str] = Counter()
    results: list[str] = []

    async def main() -> None:
        async with Switch(config) as switch, RtpPhone() as phone:
            ua = UserAgent("1001", PASSWORDS["1001"], server=switch.addresses["udp"],
                           rtp_port=phone.port, auto_answer=True)
            async with ua:
                await ua.register()
                agent = asyncio.ensure_future(agent_loop(ua, 4.0, answered))
                switch.bus.subscribe("campaign.result",
                                     lambda e: results.append(e.data["result"]))
                assert switch.center is not None and switch.dialer is not None
                assert switch.center.acd.login("agent-a") is None
                await switch.dialer.start("spring")
                async with asyncio.timeout(20):
                    while len(results) < 3:
                        await asyncio.sleep(0.1)
                status = switch.dialer.status("spring")
                await switch.dialer.stop("spring")
                agent.cancel()
                assert status["abandoned"] == 2 and status["connected"] == 1, status

    try:
        asyncio.run(main())
    finally:
        customers.stop()
        store.close()
    assert sorted(results) == ["abandoned", "abandoned", "connected"]
    assert sum(answered.values()) == 1


def test_answering_machine_gets_the_message_and_a_human_gets_the_agent(
        tmp_path: Path) -> None:
    """With ``amd: true`` the dialer listens to the first seconds: a long greeting is a
    machine (the campaign's message is left after the beep, no agent is bothered), a short
    "hello" and silence is a human and goes to the agent."""
    machine, human = "+12125553005", "+12125553015"
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    passwords = {"1001": PASSWORDS["1001"], machine: "machine-pw-1", human: "human-pw-1"}
    for number, password in passwords.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=40)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="campaign-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + 39}")
    yaml_text = center_yaml(free_port("udp")).replace(
        "    trunk: customers\n", "    amd: true\n    machine: message\n"
        "    machine_message: message.wav\n")
    (data / "prompts").mkdir()
    write_tone_wav(data / "prompts" / "message.wav", 700.0, 1.5)
    (tmp_path / "center.yaml").write_text(yaml_text, encoding="utf-8")
    errors: list[str] = []
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    (tmp_path / "c.csv").write_text(f"phone\n{machine}\n{human}\n", encoding="utf-8")
    assert import_command("spring", tmp_path / "c.csv", config, out=lambda _l: None,
                          err=lambda _l: None) == 0
    answered: Counter[str] = Counter()
    results: dict[str, str] = {}
    heard_by_machine: list[object] = []

    async def customer(ua: UserAgent, phone: RtpPhone, greeting: float) -> None:
        call = await ua.next_call(20)
        await call.answered.wait()
        phone.learn(call.remote_sdp)
        phone.tone(440, 620)  # a voice, not a steady single tone (a beep)
        await asyncio.sleep(greeting)
        phone.silence()
        if greeting > 1:  # the machine's beep, then it records
            await asyncio.sleep(0.2)
            phone.tone(1000)
            await asyncio.sleep(0.3)
            phone.silence()
            mark = phone.now()
            heard_by_machine.append(await phone.hear(0.8, since=mark + 0.1, timeout=8))
        await call.ended.wait()

    async def main() -> None:
        async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
            uas = {}
            for number in passwords:
                phone = await stack.enter_async_context(RtpPhone())
                ua = UserAgent(number, passwords[number], server=switch.addresses["udp"],
                               rtp_port=phone.port, auto_answer=True)
                await stack.enter_async_context(ua)
                await ua.register()
                uas[number] = (ua, phone)
            agent = asyncio.ensure_future(agent_loop(uas["1001"][0], 1.0, answered))
            people = [asyncio.ensure_future(customer(*uas[machine], 3.0)),
                      asyncio.ensure_future(customer(*uas[human], 0.4))]
            switch.bus.subscribe("campaign.result",
                                 lambda e: results.__setitem__(e.data["phone"],
                                                               e.data["result"]))
            assert switch.center is not None and switch.dialer is not None
            assert switch.center.acd.login("agent-a") is None
            await switch.dialer.start("spring")
            async with asyncio.timeout(30):
                while len(results) < 2:
                    await asyncio.sleep(0.1)
            await switch.dialer.stop("spring")
            agent.cancel()
            await asyncio.wait(people, timeout=5)
            for task in people:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]

    try:
        asyncio.run(main())
    finally:
        store.close()
    assert results == {machine: "machine", human: "connected"}, results
    assert set(answered) == {human}
    # The campaign's message (a 700 Hz recording) reached the machine after its beep.
    assert heard_by_machine, "the machine heard nothing after its beep"
    pcm = heard_by_machine[0]
    assert band_share(pcm, 8000, 700) > 0.5  # type: ignore[arg-type]
