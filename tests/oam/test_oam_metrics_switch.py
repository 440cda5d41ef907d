"""``/metrics`` of a real switch: phones register and call over 127.0.0.1 with real RTP, a
caller waits in a queue and gives up, an agent logs in; what `render` says is parsed back
with Prometheus's own parser and checked against what happened."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from peers.net import free_port
from peers.rtp_phone import RtpPhone
from pycc.config import SwitchConfig
from pycc.oam.metrics import CONTENT_TYPE, render
from pycc.provision.command import apply_file
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import UserAgent

PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002", "1003": "secret-1003"}
RTP_PORTS = 40

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1003", skills: {sales: 5}}
  - {id: bob, extension: "1009", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales, music: tone:hold, max_wait: 60}
routes:
  - {match: "7000", to: {queue: sales}}
trunks:
  # Not pinged (always up), and trusting no source: the phones on 127.0.0.1 are not it.
  - {name: carrier, host: "127.0.0.1:9", options_interval: 0, ips: ["192.0.2.1"]}
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(switch: Switch) -> Samples:
    """Every sample of the switch's /metrics, by (sample name, labels)."""
    text = render(switch.metrics.registry).decode("utf-8")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset({"tenant": "default", **labels}.items())))


@dataclass
class Phone:
    ua: UserAgent
    rtp: RtpPhone


@contextlib.asynccontextmanager
async def center(tmp_path: Path, register_workers: int = -1,
                 ) -> AsyncIterator[tuple[Switch, contextlib.AsyncExitStack]]:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    store.close()
    first = free_port("udp", count=RTP_PORTS)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="metrics-test-secret", node="metrics-node",
                          rtp_ports=f"{first}-{first + RTP_PORTS - 1}",
                          register_workers=register_workers)
    (tmp_path / "center.yaml").write_text(CENTER, encoding="utf-8")
    errors: list[str] = []
    assert apply_file(tmp_path / "center.yaml", config, out=lambda _l: None,
                      err=errors.append) == 0, errors
    async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
        yield switch, stack


async def phone(switch: Switch, stack: contextlib.AsyncExitStack, user: str) -> Phone:
    rtp = await stack.enter_async_context(RtpPhone())
    ua = UserAgent(user, PASSWORDS[user], server=switch.addresses["udp"], rtp_port=rtp.port)
    await stack.enter_async_context(ua)
    await ua.register()
    return Phone(ua, rtp)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


# The same figures whether the switch reads REGISTERs and first INVITEs itself or its
# register worker answers them.
@pytest.mark.parametrize("register_workers", [0, 1], ids=["in-switch", "worker"])
def test_a_call_and_registrations_in_the_metrics(tmp_path: Path, register_workers: int) -> None:
    async def main() -> None:
        async with center(tmp_path, register_workers) as (switch, stack):
            assert (switch.register_offload is not None) == bool(register_workers)
            assert CONTENT_TYPE.startswith("text/plain")
            before = scrape(switch)
            assert value(before, "pycc_registrations_active") == 0
            assert value(before, "pycc_info", version="0.1.0", node="metrics-node") == 1
            assert value(before, "pycc_trunk_up", trunk="carrier") == 1
            alice, bob = await phone(switch, stack, "1001"), await phone(switch, stack, "1002")
            registered = scrape(switch)
            assert value(registered, "pycc_registrations_active") == 2
            # Each REGISTER is challenged once, then sent again with credentials.
            assert value(registered, "pycc_sip_requests_received_total", method="REGISTER") == 4
            # A phone retransmits a REGISTER whose answer takes over T1 (a loaded machine):
            # the copy is read, then absorbed by its transaction, and counted as both.
            received = value(registered, "pycc_sip_messages_received_total")
            absorbed = value(registered, "pycc_sip_retransmissions_absorbed_total")
            assert received is not None and absorbed is not None
            assert received - absorbed == 4

            call = await alice.ua.dial("1002")
            incoming = await bob.ua.next_call(5)
            await incoming.answer()
            await call.wait_answered(5)
            alice.rtp.learn(call.remote_sdp)
            bob.rtp.learn(incoming.remote_sdp)
            await eventually(lambda: alice.rtp.sent > 20 and bob.rtp.sent > 20)
            up = scrape(switch)
            assert value(up, "pycc_calls_active", direction="internal") == 1
            assert value(up, "pycc_calls_active", direction="inbound") == 0
            assert value(up, "pycc_media_sessions_active") == 1
            in_use = value(up, "pycc_rtp_ports", state="in_use")
            assert in_use is not None and in_use >= 2
            assert (value(up, "pycc_rtp_packets_received_total") or 0) > 0
            assert value(up, "pycc_rtp_packets_dropped_total", reason="source") is None

            # Three packets from a stranger to the port alice sends to: dropped, by reason.
            assert alice.rtp.remote is not None
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                stranger.bind(("127.0.0.1", 0))
                for seq in range(3):
                    stranger.sendto(bytes([0x80, 0]) + seq.to_bytes(2, "big") + bytes(168),
                                    alice.rtp.remote)
            await eventually(lambda: value(scrape(switch), "pycc_rtp_packets_dropped_total",
                                           reason="source") == 3)

            # Five packets of alice's never arrive: a gap in her sequence numbers.
            alice.rtp._seq = (alice.rtp._seq + 5) & 0xFFFF
            await asyncio.sleep(0.2)
            await alice.rtp.close()
            await bob.rtp.close()
            await asyncio.sleep(0.1)  # the last packets land
            sent = alice.rtp.sent + bob.rtp.sent
            await call.hangup()
            await eventually(lambda: switch.status().calls == 0)
            after = scrape(switch)
            assert value(after, "pycc_calls_active", direction="internal") == 0
            assert value(after, "pycc_calls_total", direction="internal",
                         disposition="answered") == 1
            assert value(after, "pycc_rtp_packets_lost_total") == 5
            received = value(after, "pycc_rtp_packets_received_total")
            assert received is not None and sent - 4 <= received <= sent, (received, sent)
            assert value(after, "pycc_sip_requests_received_total", method="INVITE") == 2
            assert value(after, "pycc_sip_requests_received_total", method="BYE") == 1
            assert value(after, "pycc_sip_requests_received_total", method="ACK") == 1
            # Transactions count as soon as their final answer is known, whichever side
            # gave it: alice's INVITE (challenged, then answered), pycc's INVITE to bob,
            # alice's BYE and pycc's BYE to bob.
            for role, method, status in [("server", "REGISTER", "401"),
                                         ("server", "INVITE", "407"),
                                         ("server", "INVITE", "200"),
                                         ("client", "INVITE", "200"),
                                         ("server", "BYE", "200"), ("client", "BYE", "200")]:
                expected = 2 if method == "REGISTER" else 1
                assert value(after, "pycc_sip_transactions_total", role=role, method=method,
                             status=status) == expected, (role, method, status)

    asyncio.run(asyncio.wait_for(main(), 40))


def test_a_short_call_is_counted_even_between_two_scrapes(tmp_path: Path) -> None:
    async def main() -> None:
        async with center(tmp_path) as (switch, stack):
            alice, bob = await phone(switch, stack, "1001"), await phone(switch, stack, "1002")
            call = await alice.ua.dial("1002")
            incoming = await bob.ua.next_call(5)
            await incoming.answer()
            await call.wait_answered(5)
            alice.rtp.learn(call.remote_sdp)
            bob.rtp.learn(incoming.remote_sdp)
            await asyncio.sleep(1.5)  # the media legs are looked at once a second
            await call.hangup()
            await eventually(lambda: switch.status().calls == 0)
            await asyncio.sleep(1.2)  # the ended legs are retired by the sampler
            samples = scrape(switch)
            received = value(samples, "pycc_rtp_packets_received_total")
            assert received is not None and received > 50, received

    asyncio.run(asyncio.wait_for(main(), 40))


def test_queue_waits_and_agents_in_the_metrics(tmp_path: Path) -> None:
    async def main() -> None:
        async with center(tmp_path) as (switch, stack):
            assert switch.center is not None
            acd = switch.center.acd
            caller = await phone(switch, stack, "1001")
            idle = scrape(switch)
            assert value(idle, "pycc_queue_waiting", queue="sales") == 0
            assert value(idle, "pycc_agents", status="offline", state="idle") == 2
            assert value(idle, "pycc_agents", status="available", state="idle") == 0
            # alice is logged in but on a break: callers wait for her.
            assert acd.login("alice") is None and acd.not_ready("alice", "break") is None
            on_break = scrape(switch)
            assert value(on_break, "pycc_agents", status="not_ready", state="idle") == 1
            assert value(on_break, "pycc_agents", status="offline", state="idle") == 1
            assert value(on_break, "pycc_queue_agents_logged_in", queue="sales") == 1
            assert value(on_break, "pycc_queue_agents_free", queue="sales") == 0

            call = await caller.ua.call("7000", timeout=5)
            await eventually(lambda: value(scrape(switch), "pycc_queue_waiting",
                                           queue="sales") == 1)
            await asyncio.sleep(0.5)
            waiting = scrape(switch)
            longest = value(waiting, "pycc_queue_longest_wait_seconds", queue="sales")
            assert longest is not None and 0.4 <= longest < 5
            await call.hangup()
            await eventually(lambda: value(scrape(switch), "pycc_queue_wait_seconds_count",
                                           queue="sales", outcome="abandoned") == 1)
            gave_up = scrape(switch)
            waited = value(gave_up, "pycc_queue_wait_seconds_sum", queue="sales",
                           outcome="abandoned")
            assert waited is not None and 0.4 <= waited < 5
            assert value(gave_up, "pycc_queue_wait_seconds_bucket", queue="sales",
                         outcome="abandoned", le="0.0") is None
            assert value(gave_up, "pycc_queue_wait_seconds_bucket", queue="sales",
                         outcome="abandoned", le="60.0") == 1
            assert value(gave_up, "pycc_queue_waiting", queue="sales") == 0

            assert acd.ready("alice") is None
            ready = scrape(switch)
            assert value(ready, "pycc_agents", status="available", state="idle") == 1
            assert value(ready, "pycc_agents", status="not_ready", state="idle") == 0
            assert value(ready, "pycc_queue_agents_free", queue="sales") == 1

    asyncio.run(asyncio.wait_for(main(), 40))
