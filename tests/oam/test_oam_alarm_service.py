"""The alarm service on a real switch: a trunk whose provider stops answering OPTIONS, a
campaign whose abandonment nears its limit, a nearly full disk. Each change must come out as
a bus event, a log line, a webhook POST (to a real HTTP server on 127.0.0.1) and a metric."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webhook_receiver import receiver

from peers.net import free_port
from pycc.bus import Event
from pycc.config import OamConfig, SwitchConfig
from pycc.oam.metrics import render
from pycc.provision.command import apply_file
from pycc.sip.message import Request, make_response, parse_message
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch

CENTER = """
tenant: default
agents:
  - {{id: alice, extension: "1003", skills: {{sales: 5}}}}
queues:
  - {{name: sales, skill: sales}}
trunks:
  - {{name: carrier, host: "127.0.0.1:{port}", options_interval: 0.2, down_after: 1,
     ips: ["192.0.2.1"]}}
campaigns:
  - {{name: spring, mode: predictive, queue: sales, trunk: carrier, abandon_limit: 0.03}}
"""


class Provider(asyncio.DatagramProtocol):
    """A SIP provider that answers every request with 200 OK."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse_message(data, datagram=True)
        if isinstance(request, Request) and self.transport is not None:
            self.transport.sendto(make_response(request, 200, to_tag="prov").to_bytes(), addr)
            self.answered += 1


@contextlib.asynccontextmanager
async def running(tmp_path: Path, provider_port: int, **oam: Any) -> AsyncIterator[Switch]:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    store.close()
    first = free_port("udp", count=20)
    config = SwitchConfig(
        data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
        secret="alarm-tests-nonce-secret", node="alarm-node", rtp_ports=f"{first}-{first + 19}",
        t1=0.01,  # an unanswered OPTIONS gives up after 64*T1
        # Disk alarms off unless a test asks: the machine's own disk must not matter.
        oam=OamConfig(**{"alarm_interval": 0.1, "disk_free_percent": 0.0,
                         "disk_free_mb": 0.0, **oam}))
    (tmp_path / "center.yaml").write_text(CENTER.format(port=provider_port))
    errors: list[str] = []
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    async with Switch(config) as switch:
        yield switch


def alarms_of(events: list[Event], kind: str) -> list[tuple[str, str]]:
    return [(e.topic, str(e.data["subject"])) for e in events if e.data.get("kind") == kind]


def active_alarms(switch: Switch) -> dict[tuple[str, str, str], float]:
    text = render(switch.metrics.registry).decode()
    return {(s.labels["kind"], s.labels["subject"], s.labels["severity"]): s.value
            for family in text_string_to_metric_families(text)
            if family.name == "pycc_alarms_active" for s in family.samples}


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def test_a_trunk_going_down_and_up_raises_and_clears_one_alarm_everywhere(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port("udp")

    async def main() -> None:
        async with receiver() as rx, running(tmp_path, port, webhook_url=rx.url,
                                             webhook_retries=0) as switch:
            events: list[Event] = []
            switch.bus.subscribe("alarm.raised", events.append)
            switch.bus.subscribe("alarm.cleared", events.append)
            # Nothing answers at the provider's address: the trunk goes out of service.
            await eventually(lambda: alarms_of(events, "trunk_down") != [])
            raised = next(e for e in events if e.data["kind"] == "trunk_down")
            assert raised.topic == "alarm.raised"
            assert raised.data["severity"] == "major" and raised.data["tenant"] == "default"
            assert raised.data["node"] == "alarm-node"
            assert "no answer to OPTIONS" in str(raised.data["message"])
            assert active_alarms(switch) == {("trunk_down", "carrier", "major"): 1.0}
            health = await switch.health.report()
            assert health.status.value == "degraded"

            loop = asyncio.get_running_loop()
            provider = Provider()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: provider, local_addr=("127.0.0.1", port))
            try:
                await eventually(lambda: len(alarms_of(events, "trunk_down")) == 2)
                await asyncio.sleep(0.5)  # stays up: no further change
            finally:
                transport.close()
            assert alarms_of(events, "trunk_down") == [("alarm.raised", "carrier"),
                                                       ("alarm.cleared", "carrier")]
            assert provider.answered >= 1
            assert active_alarms(switch) == {}
            await rx.wait_for(2)
            assert [(b["event"], b["kind"], b["subject"]) for b in rx.bodies] == [  # type: ignore[index]
                ("alarm.raised", "trunk_down", "carrier"),
                ("alarm.cleared", "trunk_down", "carrier")]

    with caplog.at_level(logging.INFO, logger="pycc.alarms"):
        asyncio.run(asyncio.wait_for(main(), 30))
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "pycc.alarms"]
    assert (logging.WARNING, "alarm raised (major): trunk carrier is out of service: "
                             "no answer to OPTIONS") in lines
    assert (logging.INFO, "alarm cleared: trunk carrier is back in service") in lines


def test_abandonment_near_the_limit_raises_at_once_after_a_campaign_result(
        tmp_path: Path) -> None:
    async def main() -> None:
        # A long interval: only the campaign's result can make the rules run again soon.
        async with running(tmp_path, free_port("udp"), alarm_interval=600.0) as switch:
            dialer = switch.dialer
            assert dialer is not None
            await dialer.start("spring")
            events: list[Event] = []
            switch.bus.subscribe("alarm.raised", events.append)
            stats = dialer.campaigns["spring"].stats
            now = time.time()
            for _ in range(20):  # 20 customers answered, one found no agent: 5 % > 80 % of 3 %
                stats.record_dialed(now)
                stats.record_answered(now, 2.0)
            stats.record_abandoned(now)
            assert alarms_of(events, "abandon_near_limit") == []
            switch.bus.publish("campaign.result", campaign="spring", contact="c1",
                               phone="5550100", result="abandoned", agent=None)
            await eventually(lambda: alarms_of(events, "abandon_near_limit") != [], 2.0)
            alarm = events[-1].data
            assert (alarm["subject"], alarm["severity"]) == ("spring", "warning")
            assert alarm["value"] == pytest.approx(0.05)
            assert "limit 3.0%" in str(alarm["message"])
            metrics = render(switch.metrics.registry).decode()
            assert 'pycc_dialer_abandon_rate{campaign="spring",tenant="default",' \
                   'window="rolling"} 0.05' in metrics
            assert 'pycc_dialer_abandoned_total{campaign="spring",tenant="default"} 1.0' \
                in metrics
            assert 'pycc_dialer_answered_total{campaign="spring",tenant="default"} 20.0' \
                in metrics

            cleared: list[Event] = []
            switch.bus.subscribe("alarm.cleared", cleared.append)
            await dialer.stop("spring")  # a stopped campaign abandons no one
            await eventually(lambda: cleared != [], 2.0)
            assert cleared[0].data["kind"] == "abandon_near_limit"

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_nearly_full_disk_raises_an_alarm_naming_the_data_dir(tmp_path: Path) -> None:
    async def main() -> None:
        # No disk is 100 % free: the threshold makes the data directory "nearly full".
        async with running(tmp_path, free_port("udp"), disk_free_percent=100.0) as switch:
            events: list[Event] = []
            switch.bus.subscribe("alarm.raised", events.append)
            await eventually(lambda: alarms_of(events, "disk_nearly_full") != [])
            assert alarms_of(events, "disk_nearly_full") == [
                ("alarm.raised", str(switch.data_dir))]
            await asyncio.sleep(0.3)  # further rounds: still one alarm
            assert len(alarms_of(events, "disk_nearly_full")) == 1
            assert [a.kind.value for a in switch.alarms.active()].count("disk_nearly_full") == 1

    asyncio.run(asyncio.wait_for(main(), 30))


def test_calls_refused_for_load_raise_the_overload_alarm(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path, free_port("udp")) as switch:
            events: list[Event] = []
            switch.bus.subscribe("alarm.raised", events.append)
            await asyncio.sleep(0.3)  # rounds with no refusal: no alarm
            assert alarms_of(events, "overloaded") == []
            guard = switch.overload
            assert guard is not None
            # What the dispatcher asks of the guard for INVITEs read behind 1 GB of others,
            # refused as long as the load lasts (the first alarm round on a loaded machine
            # may come after the first refusal, and only counts from there).
            async with asyncio.timeout(10):
                while alarms_of(events, "overloaded") == []:
                    # Past the grace (the backlog "lasted" since the first look).
                    guard.admit_request(backlog=10**9, now=0.0)
                    assert guard.admit_request(backlog=10**9, now=60.0) is not None
                    await asyncio.sleep(0.05)
            assert alarms_of(events, "overloaded") == [("alarm.raised", "calls")]
            assert active_alarms(switch)[("overloaded", "calls", "major")] == 1.0

    asyncio.run(asyncio.wait_for(main(), 30))
