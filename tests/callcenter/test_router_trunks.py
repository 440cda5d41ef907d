"""The router with real peers: out over trunks (SIPp providers) with failover, in from an
IP-authenticated trunk to a DID, the tenant's call limit and the blacklist.

An embedded Switch is configured with a ``pycc apply`` file; phones are ``pycc.ua`` user agents
with RtpPhones. The providers are SIPp callees: "carrier" refuses every call with 503, so the
call fails over to "backup", which answers. The inbound provider is a user agent on
127.0.0.2, trusted by address without digest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from peers.net import free_port
from peers.rtp_phone import RtpPhone, band_share
from peers.sipp import SippProcess, scenario, start_sipp_uas
from pycc.config import SwitchConfig
from pycc.provision.command import apply_file
from pycc.store.db import make_url
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import CallFailed, UserAgent

pytestmark = pytest.mark.peer

PASSWORDS = {f"100{n}": f"secret-100{n}" for n in range(1, 5)}
RTP_PORT_COUNT = 40


def center_yaml(carrier: int, backup: int) -> str:
    return f"""
tenant: default
trunks:
  - {{name: carrier, host: "127.0.0.1:{carrier}", options_interval: 0, ips: []}}
  - {{name: backup, host: "127.0.0.1:{backup}", options_interval: 0, ips: [],
     translate_caller: {{prepend: "+4930"}}}}
  - {{name: provider, host: "127.0.0.2:5060", options_interval: 0, ips: ["127.0.0.2"]}}
dids:
  - {{number: "+15551230001", to: {{extension: "1002"}}}}
ivr:
  - name: out
    steps:
      - transfer: {{number: "95550000"}}
routes:
  - {{name: outside, match: "_9X.", to: {{trunk: [carrier, backup]}}, translate: {{strip: 1}}}}
  - {{match: "8100", to: {{ivr: out}}}}
blacklist:
  inbound: ["1004"]
limits: {{calls: 2}}
"""


@contextlib.asynccontextmanager
async def switch_with(tmp_path: Path, yaml_text: str) -> AsyncIterator[tuple[Switch, Store]]:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=RTP_PORT_COUNT)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="router-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + RTP_PORT_COUNT - 1}")
    path = tmp_path / "center.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    errors: list[str] = []
    assert apply_file(path, config, out=lambda _line: None, err=errors.append) == 0, errors
    try:
        async with Switch(config) as switch:
            yield switch, store
    finally:
        store.close()


async def record_of(store: Store, call_id: str) -> CallRecord:
    async with asyncio.timeout(8):
        while True:
            records = await asyncio.to_thread(store.list_call_records, "default")
            for record in records:
                if record.call_id == call_id:
                    return record
            await asyncio.sleep(0.05)


def providers(tmp_path: Path) -> tuple[SippProcess, SippProcess]:
    carrier = start_sipp_uas(scenario("uas_reject_503"), workdir=tmp_path / "carrier")
    backup = start_sipp_uas(scenario("uas_answer"), workdir=tmp_path / "backup")
    return carrier, backup


def run(coro: Callable[[], Awaitable[None]], limit: float = 40) -> None:
    async def main() -> None:
        async with asyncio.timeout(limit):
            await coro()

    asyncio.run(main())


def test_outbound_call_fails_over_to_the_next_trunk(tmp_path: Path) -> None:
    carrier, backup = providers(tmp_path)
    try:
        async def scenario_() -> None:
            yaml_text = center_yaml(carrier.local_port, backup.local_port)
            async with switch_with(tmp_path, yaml_text) as (switch, store), \
                    RtpPhone() as phone:
                ua = UserAgent("1001", PASSWORDS["1001"], server=switch.addresses["udp"],
                               rtp_port=phone.port)
                async with ua:
                    call = await ua.call("95551234", timeout=10)
                    await asyncio.sleep(0.5)
                    trunks = {t["name"]: t for t in switch.status().center["trunks"]}  # type: ignore[index]
                    # Only the trunk carrying the call holds a slot.
                    assert trunks["backup"]["calls"] == 1 and trunks["carrier"]["calls"] == 0
                    await call.hangup()
                    record = await record_of(store, call.call_id)
                    assert record.disposition == "answered" and record.route == "outside"
                    await asyncio.sleep(0.2)
                    trunks = {t["name"]: t for t in switch.status().center["trunks"]}  # type: ignore[index]
                    assert trunks["backup"]["calls"] == 0

        run(scenario_)
    finally:
        carrier_result = carrier.stop()
        backup_result = backup.stop()
    refused = carrier_result.messages()
    answered = backup_result.messages()
    # The digit that chose the route is stripped; the backup trunk's caller ID rule applies.
    assert "INVITE sip:5551234@127.0.0.1" in refused, refused[-2000:]
    assert "INVITE sip:5551234@127.0.0.1" in answered, answered[-2000:]
    assert "<sip:+49301001@127.0.0.1" in answered, answered[-3000:]


def test_ivr_transfer_to_an_outside_number_fails_over_too(tmp_path: Path) -> None:
    carrier, backup = providers(tmp_path)
    try:
        async def scenario_() -> None:
            yaml_text = center_yaml(carrier.local_port, backup.local_port)
            async with switch_with(tmp_path, yaml_text) as (switch, store), \
                    RtpPhone() as phone:
                ua = UserAgent("1001", PASSWORDS["1001"], server=switch.addresses["udp"],
                               rtp_port=phone.port)
                async with ua:
                    call = await ua.call("8100", timeout=10)
                    await asyncio.sleep(1.0)
                    trunks = {t["name"]: t for t in switch.status().center["trunks"]}  # type: ignore[index]
                    assert trunks["backup"]["calls"] == 1 and trunks["carrier"]["calls"] == 0
                    await call.hangup()
                    record = await record_of(store, call.call_id)
                    assert record.ivr_path is not None
                    assert "number:95550000" in record.ivr_path, record.ivr_path
                    await asyncio.sleep(0.3)
                    trunks = {t["name"]: t for t in switch.status().center["trunks"]}  # type: ignore[index]
                    assert trunks["backup"]["calls"] == 0

        run(scenario_)
    finally:
        refused = carrier.stop().messages()
        answered = backup.stop().messages()
    assert "INVITE sip:5550000@127.0.0.1" in refused, refused[-2000:]
    assert "INVITE sip:5550000@127.0.0.1" in answered, answered[-2000:]


def test_did_from_an_ip_authenticated_trunk_rings_its_extension(tmp_path: Path) -> None:
    async def scenario_() -> None:
        yaml_text = center_yaml(free_port("udp"), free_port("udp"))
        async with switch_with(tmp_path, yaml_text) as (switch, store), \
                RtpPhone() as callee_phone, RtpPhone(host="127.0.0.2") as provider_phone:
            callee = UserAgent("1002", PASSWORDS["1002"], server=switch.addresses["udp"],
                               rtp_port=callee_phone.port, auto_answer=True)
            provider = UserAgent("carrier-side", "unused", server=switch.addresses["udp"],
                                 local_host="127.0.0.2", rtp_port=provider_phone.port)
            async with callee, provider:
                await callee.register()
                callee_phone.tone(700)
                call = await provider.call("+15551230001", timeout=10)
                provider_phone.learn(call.remote_sdp)
                incoming = await callee.next_call(5)
                await asyncio.wait_for(incoming.answered.wait(), 5)
                callee_phone.learn(incoming.remote_sdp)
                heard = await provider_phone.hear(0.5, since=provider_phone.now() + 0.3)
                assert band_share(heard, 8000, 700) > 0.5
                assert provider.challenges[407] == 0  # trusted by address: no digest
                await call.hangup()
                record = await record_of(store, call.call_id)
                assert record.disposition == "answered" and record.callee == "1002"
                # The trunk reaches only its DIDs: an extension number is not one.
                with pytest.raises(CallFailed) as refused:
                    await provider.call("1002", timeout=10)
                assert refused.value.status == 404

    run(scenario_)


def test_tenant_call_limit_and_inbound_blacklist(tmp_path: Path) -> None:
    async def scenario_() -> None:
        yaml_text = center_yaml(free_port("udp"), free_port("udp"))
        async with switch_with(tmp_path, yaml_text) as (switch, _store), \
                RtpPhone() as p1, RtpPhone() as p2, RtpPhone() as p3, RtpPhone() as p4:
            users: dict[str, Any] = {}
            for user, phone in (("1001", p1), ("1002", p2), ("1003", p3), ("1004", p4)):
                users[user] = UserAgent(user, PASSWORDS[user], server=switch.addresses["udp"],
                                        rtp_port=phone.port, auto_answer=True)
            async with contextlib.AsyncExitStack() as stack:
                for ua in users.values():
                    await stack.enter_async_context(ua)
                    await ua.register()
                # A blacklisted caller is refused whatever it dials.
                with pytest.raises(CallFailed) as blocked:
                    await users["1004"].call("1001", timeout=10)
                assert blocked.value.status == 403
                first = await users["1001"].call("1002", timeout=10)
                second = await users["1003"].call("1004", timeout=10)
                # Two calls up: the tenant's limit of 2 refuses the third.
                with pytest.raises(CallFailed) as limited:
                    await users["1002"].call("1003", timeout=10)
                assert limited.value.status == 503
                await second.hangup()
                await first.hangup()

    run(scenario_)

