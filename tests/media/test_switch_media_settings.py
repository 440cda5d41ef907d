"""Media settings of ``pycc.toml`` reach the running switch's media server."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.net import free_port
from pycc.codecs import find
from pycc.codecs.opus import OpusCodec
from pycc.config import ConfigError, SwitchConfig
from pycc.store import Store, make_url
from pycc.switch import Switch
from pycc.transport.workers import HIGH_NICE, REALTIME_PRIORITY


def _config(tmp_path: Path, **settings: object) -> SwitchConfig:
    data = tmp_path / "data"
    data.mkdir()
    with Store(make_url(data, None)) as store:
        store.create_all()
        store.ensure_tenant("default", "pycc")
    first = free_port("udp", count=8)
    settings.setdefault("media_workers", 0)
    return SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                        secret="media-settings-nonce-secret",
                        rtp_ports=f"{first}-{first + 7}", **settings)  # type: ignore[arg-type]


@pytest.fixture
def opus() -> Iterator[OpusCodec]:
    """The process's Opus codec, its complexity put back afterwards (a setting is global)."""
    codec = find("opus", 48000, 2)
    assert isinstance(codec, OpusCodec)
    before = codec.complexity
    yield codec
    codec.complexity = before


def test_opus_complexity_applies_to_the_switchs_opus_encoders(tmp_path: Path,
                                                              opus: OpusCodec) -> None:
    async def main() -> None:
        async with Switch(_config(tmp_path, opus_complexity=2)):
            assert opus.complexity == 2
            # What a transcoder towards an Opus phone encodes with.
            assert opus.at_rate(8000).encoder(20).complexity == 2

    asyncio.run(main())


def test_an_opus_complexity_outside_0_to_10_stops_the_start(tmp_path: Path,
                                                            opus: OpusCodec) -> None:
    before = opus.complexity

    async def main() -> None:
        async with Switch(_config(tmp_path, opus_complexity=12)):
            pass

    with pytest.raises(ConfigError, match="opus_complexity: expected a whole number"):
        asyncio.run(main())
    assert opus.complexity == before


def _worker_pid(switch: Switch) -> int:
    assert switch.media is not None
    (offloader,) = switch.media.offloaders
    assert offloader.running and offloader._process is not None
    return offloader._process.pid


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs CAP_SYS_NICE")
def test_media_priority_schedules_the_relay_workers_and_nothing_else(tmp_path: Path) -> None:
    async def main() -> None:
        async with Switch(_config(tmp_path, media_workers=1,
                                  media_priority="realtime")) as switch:
            pid = _worker_pid(switch)
            assert os.sched_getscheduler(pid) == os.SCHED_RR
            assert os.sched_getparam(pid).sched_priority == REALTIME_PRIORITY
            # The switch itself (SIP, the API) stays an ordinary process.
            assert os.sched_getscheduler(0) == os.SCHED_OTHER
        high = tmp_path / "high"
        high.mkdir()
        async with Switch(_config(high, media_workers=1, media_priority="high")) as switch:
            pid = _worker_pid(switch)
            assert os.sched_getscheduler(pid) == os.SCHED_OTHER
            assert os.getpriority(os.PRIO_PROCESS, pid) == HIGH_NICE
        normal = tmp_path / "normal"
        normal.mkdir()
        async with Switch(_config(normal, media_workers=1)) as switch:
            pid = _worker_pid(switch)
            assert os.sched_getscheduler(pid) == os.SCHED_OTHER
            assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)

    asyncio.run(main())


def test_a_refused_media_priority_is_logged_and_the_workers_run_anyway(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A user without CAP_SYS_NICE: the kernel's refusal (EPERM) is stood in for here,
    as the tests run as root."""
    def refuse(pid: int, policy: int, param: os.sched_param) -> None:
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "sched_setscheduler", refuse)

    async def main() -> None:
        async with Switch(_config(tmp_path, media_workers=1,
                                  media_priority="realtime")) as switch:
            pid = _worker_pid(switch)
            assert os.sched_getscheduler(pid) == os.SCHED_OTHER

    with caplog.at_level(logging.WARNING, logger="pycc.media.offload"):
        asyncio.run(main())
    assert any("media_priority realtime: the system refused it (Operation not permitted)"
               in record.getMessage() for record in caplog.records), caplog.text


def test_an_unknown_media_priority_stops_the_start(tmp_path: Path) -> None:
    async def main() -> None:
        async with Switch(_config(tmp_path, media_priority="turbo")):
            pass

    with pytest.raises(ConfigError, match="media_priority: expected normal, high or "
                                          "realtime, not 'turbo'"):
        asyncio.run(main())
