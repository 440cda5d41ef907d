"""The credit limit with a real trunk: once the tenant's calls out have cost its limit, the
next call out is refused with 402 "Credit Limit Reached" and the dialer's ``dial_out`` places
nothing, while calls inside the switch go on; a restarted switch still knows the total.

An embedded Switch is configured with a ``pycc apply`` file; the phone is a ``pycc.ua`` user
agent with an RtpPhone, the provider a SIPp callee.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from peers.net import free_port
from peers.rtp_phone import RtpPhone
from peers.sipp import scenario, start_sipp_uas
from pycc.config import SwitchConfig
from pycc.provision.command import apply_file
from pycc.store import CallRecord, Store, make_url
from pycc.switch import Switch
from pycc.ua import CallFailed, UserAgent

pytestmark = pytest.mark.peer

PASSWORD = "secret-1001x"
RTP_PORT_COUNT = 20


def center_yaml(trunk_port: int) -> str:
    return f"""
tenant: default
extensions:
  - {{number: "1001", password: {PASSWORD}}}
trunks:
  - {{name: carrier, host: "127.0.0.1:{trunk_port}", options_interval: 0, ips: []}}
routes:
  - {{match: "_0X.", to: {{trunk: carrier}}, translate: {{strip: 1}}}}
rates:
  tables:
    - name: standard
      rates:
        - {{prefix: "555", price: 0.60, increment: 1/1, connection: 0.05}}
  default: standard
limits: {{credit: 0.05}}
"""


@contextlib.asynccontextmanager
async def running(config: SwitchConfig) -> AsyncIterator[Switch]:
    async with Switch(config) as switch:
        yield switch


async def record_of(store: Store, call_id: str) -> CallRecord:
    async with asyncio.timeout(8):
        while True:
            for record in await asyncio.to_thread(store.list_call_records, "default"):
                if record.call_id == call_id:
                    return record
            await asyncio.sleep(0.05)


def test_calls_out_stop_at_the_credit_limit(tmp_path: Path) -> None:
    provider = start_sipp_uas(scenario("uas_answer"), calls=1, workdir=tmp_path / "provider")
    data = tmp_path / "data"
    data.mkdir()
    first = free_port("udp", count=RTP_PORT_COUNT)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="credit-tests-nonce-secret",
                          rtp_ports=f"{first}-{first + RTP_PORT_COUNT - 1}")
    path = tmp_path / "center.yaml"
    path.write_text(center_yaml(provider.local_port), encoding="utf-8")
    errors: list[str] = []
    assert apply_file(path, config, out=lambda _line: None, err=errors.append) == 0, errors
    store = Store(make_url(data, None))

    async def scenario_() -> None:
        async with running(config) as switch, RtpPhone() as phone:
            center = switch.center
            assert center is not None and not center.credit.exhausted
            ua = UserAgent("1001", PASSWORD, server=switch.addresses["udp"],
                           rtp_port=phone.port)
            async with ua:
                await ua.register()
                call = await ua.call("05550100", timeout=10)
                await asyncio.sleep(1.2)
                await call.hangup()
                paid = await record_of(store, call.call_id)
                assert (paid.direction, paid.trunk, paid.callee) == ("outbound", "carrier",
                                                                     "5550100")
                # The connection fee and two started seconds at least: over the limit.
                assert paid.cost is not None and paid.cost >= 50_000 + 2 * 10_000
                async with asyncio.timeout(5):
                    while not center.credit.exhausted:
                        await asyncio.sleep(0.05)
                with pytest.raises(CallFailed) as refused:
                    await ua.call("05550101", timeout=10)
                assert (refused.value.status, refused.value.reason) == \
                    (402, "Credit Limit Reached")
                assert switch.status().center["credit"]["exhausted"] is True  # type: ignore[index]
                # The dialer's calls out get no way out either...
                assert center.dial_out("05550102", "+15551230000", ()) is None
                assert center.dial_out("5550102", "+15551230000", ("carrier",)) is None
                # ... while a call to a phone of the switch still rings.
                local = center.dial_out("1001", "+15551230000", ())
                assert local is not None
                incoming = await ua.next_call(5)
                switch.originator.cancel(local)  # type: ignore[union-attr]
                await incoming.wait_ended(5)
                internal = await record_of(store, local.id)
                assert (internal.direction, internal.cost, internal.disposition) == \
                    ("internal", 0, "cancelled")
        # A restarted switch loads the billed total before it takes a call.
        async with running(config) as again:
            assert again.center is not None and again.center.credit.exhausted
            assert again.center.credit.remaining == Decimal(0)

    try:
        asyncio.run(asyncio.wait_for(scenario_(), 40))
    finally:
        provider.stop()
    records = store.list_call_records("default")
    store.close()
    rejected = [r for r in records if r.sip_status == 402]
    assert [(r.disposition, r.callee, r.cost) for r in rejected] == \
        [("rejected", "5550101", 0)]
    assert sum(r.cost or 0 for r in records) == records[0].cost
