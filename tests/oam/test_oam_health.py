"""The health report: the verdicts of each check, and the probe on a real switch (a real
SQLite store, real listeners, the data directory's real disk)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from peers.net import free_port
from peers.rawsip import prepare_data_dir, switch_config
from pycc.config import CONFIG_FILE, ConfigError, OamConfig, load_config, write_initial_config
from pycc.oam.health import (
    MB,
    Check,
    DiskReading,
    DiskThresholds,
    HealthReport,
    Status,
    StoreReading,
    TrunkReading,
    disk_check,
    media_check,
    sip_check,
    store_check,
    trunks_check,
    worst,
)
from pycc.switch import Switch

# -- verdicts ----------------------------------------------------------------------------------


def test_the_report_is_as_bad_as_its_worst_check() -> None:
    assert worst([]) is Status.OK
    assert worst([Status.OK, Status.DEGRADED, Status.OK]) is Status.DEGRADED
    assert worst([Status.DEGRADED, Status.FAILING]) is Status.FAILING
    report = HealthReport.of([Check("a", Status.OK), Check("b", Status.DEGRADED, "slow",
                                                            {"ms": 3})], 12.0)
    assert report.status is Status.DEGRADED and report.http_status == 200
    assert report.to_dict() == {"status": "degraded", "at": 12.0, "checks": {
        "a": {"status": "ok", "detail": ""}, "b": {"status": "degraded", "detail": "slow",
                                                    "ms": 3}}}
    failing = HealthReport.of([Check("a", Status.FAILING)], 0.0)
    assert failing.http_status == 503 and failing.check("a") is not None


def test_store_verdicts() -> None:
    assert store_check(None).status is Status.FAILING
    down = store_check(StoreReading(False, 0.0, error="no answer within 2 s"))
    assert down.status is Status.FAILING and "no answer within 2 s" in down.detail
    up = store_check(StoreReading(True, 0.0, latency=0.0042))
    assert up.status is Status.OK and up.data == {"latency_ms": 4.2}


@pytest.mark.parametrize(
    ("free_mb", "status"),
    [(50_000.0, Status.OK), (9_000.0, Status.DEGRADED), (999.0, Status.FAILING)],
)
def test_disk_verdicts(free_mb: float, status: Status) -> None:
    # 100 GB disk, alarms under 10 % (10 GB) or 100 MB; failing under a tenth: 1 GB.
    reading = DiskReading("/data", 0.0, total=100_000 * MB, free=int(free_mb * MB))
    check = disk_check(reading, DiskThresholds(10.0, 100.0))
    assert check.status is status
    assert check.data["path"] == "/data" and "/data" in check.detail


def test_an_unreadable_disk_is_failing_and_names_the_path() -> None:
    check = disk_check(DiskReading("/gone", 0.0, error="No such file or directory"),
                       DiskThresholds())
    assert check.status is Status.FAILING and check.detail.startswith("/gone: No such file")


def test_sip_media_and_trunk_verdicts() -> None:
    both = {"udp": "udp:127.0.0.1:5060", "tcp": "tcp:127.0.0.1:5060"}
    assert sip_check(both, ["udp", "tcp"]).status is Status.OK
    half = sip_check(both, ["udp"])
    assert half.status is Status.DEGRADED and half.detail == "not listening: tcp"
    assert sip_check(both, []).status is Status.FAILING
    assert sip_check({}, []).status is Status.FAILING
    assert media_check(True, 3, 10, 100).status is Status.OK
    assert media_check(True, 45, 90, 100).status is Status.DEGRADED
    assert media_check(False, 0, 0, 100).status is Status.FAILING
    assert trunks_check([]).status is Status.OK
    out = trunks_check([TrunkReading("a", True), TrunkReading("b", False, "no answer")])
    assert out.status is Status.DEGRADED and out.detail == "out of service: b"
    assert out.data["down"] == {"b": "no answer"}


# -- the probe on a running switch -------------------------------------------------------------


@asynccontextmanager
async def running(tmp_path: Path, **settings: Any) -> AsyncIterator[Switch]:
    data = tmp_path / "data"
    prepare_data_dir(data, [("1001", "secret")])
    first = free_port("udp", count=20)
    config = switch_config(data, rtp_ports=f"{first}-{first + 19}", **settings)
    async with Switch(config) as switch:
        yield switch


def test_a_running_switch_is_healthy_and_a_stopped_one_is_failing(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path) as switch:
            report = await switch.health.report()
            assert report.status is Status.OK, report.to_dict()
            checks = report.to_dict()["checks"]
            assert isinstance(checks, dict)
            assert set(checks) == {"store", "sip", "media", "trunks", "disk"}
            assert checks["sip"]["listening"] == {
                t: str(a) for t, a in switch.addresses.items()}
            assert checks["disk"]["path"] == str(switch.data_dir)
            assert switch.media is not None
            assert checks["media"]["ports"] == switch.media.allocator.capacity > 0
        after = await switch.health.report()
        assert after.status is Status.FAILING
        failing = {c.name for c in after.checks if c.status is Status.FAILING}
        assert {"store", "sip", "media"} <= failing

    asyncio.run(main())


def test_a_busy_store_is_reported_without_blocking_the_loop_and_probed_once(
        tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path) as switch:
            probe, store = switch.health, switch.store
            assert store is not None
            probe.store_timeout = 0.2
            # The store's one worker thread is held up (a long report query, a stuck disk).
            blocked = asyncio.ensure_future(store.run(time.sleep, 0.8))
            started = time.monotonic()
            first = await probe.probe_store()
            assert time.monotonic() - started < 0.5
            assert not first.reachable and first.error == "no answer within 0.2 s"
            second = await probe.probe_store()  # not queued behind the first
            assert not second.reachable and "previous probe is unanswered" in (
                second.error or "")
            await blocked
            await asyncio.sleep(0.05)
            third = await probe.probe_store()
            assert third.reachable and third.latency is not None
            assert (await probe.report()).status is Status.OK

    asyncio.run(main())


def test_a_data_dir_that_vanished_fails_the_disk_check(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path) as switch:
            switch.health.sources = _Elsewhere(switch, tmp_path / "missing")
            report = await switch.health.report()
            disk = report.check("disk")
            assert disk is not None and disk.status is Status.FAILING
            assert str(tmp_path / "missing") in disk.detail
            assert report.status is Status.FAILING

    asyncio.run(main())


def test_disk_thresholds_from_the_config_apply(tmp_path: Path) -> None:
    async def main() -> None:
        # No disk has 100 % free: with that threshold the data directory is "nearly full".
        async with running(tmp_path, oam=OamConfig(disk_free_percent=100.0)) as switch:
            report = await switch.health.report()
            disk = report.check("disk")
            assert disk is not None and disk.status is Status.DEGRADED, disk
            assert report.status is Status.DEGRADED

    asyncio.run(main())


class _Elsewhere:
    """The switch's parts, with another data directory."""

    def __init__(self, switch: Switch, data_dir: Path) -> None:
        self._switch = switch
        self.data_dir = data_dir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._switch, name)


# -- the [oam] table ---------------------------------------------------------------------------


def test_the_oam_table_is_read_from_pycc_toml(tmp_path: Path) -> None:
    write_initial_config(tmp_path)
    assert load_config(tmp_path).oam == OamConfig()  # the commented example changes nothing
    path = tmp_path / CONFIG_FILE
    path.write_text(path.read_text() + '\n[oam]\nwebhook_url = "https://alerts.example/x"\n'
                    "disk-free-mb = 512\nwebhook_retries = 5\n")
    oam = load_config(tmp_path).oam
    assert (oam.webhook_url, oam.disk_free_mb, oam.webhook_retries, oam.disk_free_percent) == \
        ("https://alerts.example/x", 512.0, 5, 10.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[oam]\nwebhook = 1\n", "oam: unknown setting 'webhook'"),
        ('[oam]\nwebhook_url = "ftp://x"\n', "oam.webhook_url: expected an http://"),
        ('[oam]\nwebhook_url = "http://[::1"\n', "oam.webhook_url: expected an http://"),
        ("[oam]\ndisk_free_percent = 120\n", "oam.disk_free_percent: expected a number"),
        ('[oam]\nalarm_interval = "5"\n', "oam.alarm_interval: expected a number"),
        ("[oam]\nwebhook_retries = 2.5\n", "oam.webhook_retries: expected a whole number"),
        ("oam = 3\n", "oam: expected a table"),
    ],
)
def test_a_bad_oam_setting_is_named(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(table)
    with pytest.raises(ConfigError, match="pycc.toml: " + message.replace("[", r"\[")
                       .replace("(", r"\(")):
        load_config(tmp_path)


def test_health_checks_at_once_share_one_probe_and_good_readings_are_reused(
        tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path) as switch:
            probe = switch.health
            # Many requests at once (a load balancer and a wallboard) all see a healthy node:
            # those finding a probe in flight wait for its answer.
            reports = await asyncio.gather(*(probe.report() for _ in range(8)))
            assert [r.status for r in reports] == [Status.OK] * 8, [
                r.to_dict() for r in reports if r.status is not Status.OK]
            store, disk = probe.last_store, probe.last_disk
            assert store is not None and disk is not None
            # Within the reuse window the good readings are answered again, not re-probed.
            await probe.report()
            assert probe.last_store is store and probe.last_disk is disk
            probe.reuse = 0.0
            await probe.report()
            assert probe.last_store is not store and probe.last_disk is not disk

    asyncio.run(main())
