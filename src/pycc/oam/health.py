"""The health of a running switch, for the ``/health`` endpoint and the alarms.

A :class:`HealthReport` is ``ok``, ``degraded`` or ``failing``: the worst of its checks.

- ``store``: the database answers ``SELECT 1`` within ``store_timeout``. The probe goes
  through the store's own worker thread, so a store whose queue is stuck shows too, and the
  event loop never waits on it; while a probe is unanswered no second one is queued behind it.
- ``sip``: every transport the switch opened (UDP, TCP, TLS) still listens.
- ``media``: the media server runs; degraded when nine RTP ports in ten are taken.
- ``trunks``: degraded while a trunk is out of service (a provider's outage must not take a
  node out of a load balancer: internal calls and queues still work).
- ``disk``: free space in the data directory (recordings, the SQLite database); degraded under
  the alarm thresholds (``[oam] disk_free_percent`` / ``disk_free_mb``), failing under a tenth
  of them. Read on the probe's own thread: a hung network file system must not block the loop.

The verdicts are pure functions of readings (`store_check`, `disk_check`, ...);
:class:`HealthProbe` takes the readings from the switch's parts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from pycc.ccmanager.trunks import TrunkManager
from pycc.config import OamConfig
from pycc.endpoint import SipEndpoint
from pycc.media.server import MediaServer
from pycc.sip.address import Address
from pycc.store.async_store import AsyncStore
from pycc.store.repo import Store

__all__ = [
    "Check",
    "DiskReading",
    "DiskThresholds",
    "HealthProbe",
    "HealthReport",
    "HealthSources",
    "Status",
    "StoreReading",
    "TrunkReading",
    "disk_check",
    "media_check",
    "sip_check",
    "store_check",
    "trunk_readings",
    "trunks_check",
    "worst",
]

MB = 1024 * 1024
#: Share of the RTP ports in use above which the media check is degraded.
PORTS_BUSY = 0.9
#: Under this fraction of the alarm thresholds the disk check is failing.
DISK_FAILING_SHARE = 0.1


class Status(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILING = "failing"


_RANK = {Status.OK: 0, Status.DEGRADED: 1, Status.FAILING: 2}


def worst(statuses: Iterable[Status]) -> Status:
    """The most serious of ``statuses`` (ok when there are none)."""
    return max(statuses, key=_RANK.__getitem__, default=Status.OK)


@dataclass(frozen=True, slots=True)
class Check:
    """One part's verdict: ``detail`` says why in words, ``data`` gives the figures."""

    name: str
    status: Status
    detail: str = ""
    data: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "detail": self.detail, **self.data}


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: Status
    checks: tuple[Check, ...]
    at: float

    @classmethod
    def of(cls, checks: Sequence[Check], at: float) -> HealthReport:
        return cls(worst(c.status for c in checks), tuple(checks), at)

    @property
    def http_status(self) -> int:
        """What a health endpoint answers: 503 while failing (a load balancer takes the node
        out), 200 otherwise."""
        return 503 if self.status is Status.FAILING else 200

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status.value, "at": self.at,
                "checks": {c.name: c.to_dict() for c in self.checks}}


# -- readings and verdicts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreReading:
    reachable: bool
    at: float
    latency: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DiskReading:
    path: str
    at: float
    total: int = 0
    free: int = 0
    error: str | None = None

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total > 0 else 0.0

    @property
    def free_mb(self) -> float:
        return self.free / MB


@dataclass(frozen=True, slots=True)
class DiskThresholds:
    """Free space under ``free_percent`` % of the disk or under ``free_mb`` MB is too little."""

    free_percent: float = 10.0
    free_mb: float = 1024.0

    @classmethod
    def from_config(cls, config: OamConfig) -> DiskThresholds:
        return cls(config.disk_free_percent, config.disk_free_mb)

    def scaled(self, factor: float) -> DiskThresholds:
        return DiskThresholds(self.free_percent * factor, self.free_mb * factor)

    def short(self, reading: DiskReading) -> bool:
        """Whether ``reading`` has less free space than these thresholds allow."""
        return reading.free_percent < self.free_percent or reading.free_mb < self.free_mb


@dataclass(frozen=True, slots=True)
class TrunkReading:
    name: str
    up: bool
    error: str | None = None


def trunk_readings(trunks: TrunkManager | None) -> list[TrunkReading]:
    if trunks is None:
        return []
    return [TrunkReading(t.config.name, t.up, t.health_error) for t in trunks]


def store_check(reading: StoreReading | None) -> Check:
    if reading is None:
        return Check("store", Status.FAILING, "not probed yet")
    if not reading.reachable:
        return Check("store", Status.FAILING, f"unreachable: {reading.error or 'no answer'}")
    latency = round((reading.latency or 0.0) * 1000.0, 1)
    return Check("store", Status.OK, "answers", {"latency_ms": latency})


def disk_check(reading: DiskReading | None, thresholds: DiskThresholds) -> Check:
    if reading is None:
        return Check("disk", Status.FAILING, "not probed yet")
    if reading.error is not None:
        return Check("disk", Status.FAILING, f"{reading.path}: {reading.error}",
                     {"path": reading.path})
    data: dict[str, object] = {"path": reading.path,
                               "free_mb": round(reading.free_mb, 1),
                               "free_percent": round(reading.free_percent, 2)}
    summary = f"{reading.free_mb:.0f} MB ({reading.free_percent:.1f} %) free in {reading.path}"
    if thresholds.scaled(DISK_FAILING_SHARE).short(reading):
        return Check("disk", Status.FAILING, f"almost no space left: {summary}", data)
    if thresholds.short(reading):
        return Check("disk", Status.DEGRADED, f"nearly full: {summary}", data)
    return Check("disk", Status.OK, summary, data)


def sip_check(expected: Mapping[str, str], listening: Iterable[str]) -> Check:
    """``expected``: transport -> the address it was opened on; ``listening``: the transports
    that still listen."""
    if not expected:
        return Check("sip", Status.FAILING, "no SIP transport is open")
    up = set(listening)
    missing = sorted(t for t in expected if t not in up)
    data: dict[str, object] = {"listening": {t: a for t, a in expected.items() if t in up}}
    if not missing:
        return Check("sip", Status.OK, ", ".join(sorted(expected)) + " listening", data)
    status = Status.FAILING if len(missing) == len(expected) else Status.DEGRADED
    return Check("sip", status, "not listening: " + ", ".join(missing), data)


def media_check(running: bool, sessions: int, ports_in_use: int, capacity: int) -> Check:
    data: dict[str, object] = {"sessions": sessions, "ports_in_use": ports_in_use,
                               "ports": capacity}
    if not running:
        return Check("media", Status.FAILING, "the media server is not running", data)
    if capacity > 0 and ports_in_use >= PORTS_BUSY * capacity:
        return Check("media", Status.DEGRADED,
                     f"{ports_in_use} of {capacity} RTP ports in use", data)
    return Check("media", Status.OK, f"{sessions} media sessions", data)


def trunks_check(readings: Sequence[TrunkReading]) -> Check:
    down = [r for r in readings if not r.up]
    data: dict[str, object] = {"trunks": len(readings),
                               "down": {r.name: r.error or "" for r in down}}
    if not down:
        return Check("trunks", Status.OK, f"{len(readings)} in service", data)
    names = ", ".join(r.name for r in down)
    return Check("trunks", Status.DEGRADED, f"out of service: {names}", data)


# -- the probe ---------------------------------------------------------------------------------


class HealthSources(Protocol):
    """The parts of a switch the probe looks at (a :class:`pycc.switch.Switch` is one)."""

    @property
    def store(self) -> AsyncStore | None: ...
    @property
    def endpoint(self) -> SipEndpoint | None: ...
    @property
    def addresses(self) -> Mapping[str, Address]: ...
    @property
    def media(self) -> MediaServer | None: ...
    @property
    def trunks(self) -> TrunkManager | None: ...
    @property
    def data_dir(self) -> Path: ...


def _ping(store: Store) -> float:
    started = time.perf_counter()
    with store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return time.perf_counter() - started


def _disk_usage(path: Path) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.total, usage.free


def _one_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0][:200]}" if text_ else type(exc).__name__


def _consume(future: asyncio.Future[Any]) -> None:
    # A probe given up on may still fail later: its error was reported as a timeout already.
    if not future.cancelled():
        future.exception()


class HealthProbe:
    """Takes the readings of a switch's health and keeps the latest (`last_store`,
    `last_disk`) for the alarm rules."""

    def __init__(self, sources: HealthSources, *,
                 thresholds: DiskThresholds | None = None, store_timeout: float = 2.0,
                 reuse: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        self.sources = sources
        #: A good reading at most this old is answered again instead of probing anew, so
        #: that load balancers polling hard cannot make health checks the node's load (a
        #: bad one is probed again at once: it may have been the last).
        self.reuse = reuse
        self.thresholds = thresholds or DiskThresholds()
        self.store_timeout = store_timeout
        self.clock = clock
        self.last_store: StoreReading | None = None
        self.last_disk: DiskReading | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="pycc-health")
        self._store_probe: tuple[float, asyncio.Future[float]] | None = None
        self._disk_probe: tuple[float, asyncio.Future[tuple[int, int]]] | None = None

    def forget(self) -> None:
        """Probe afresh next time (the switch stopped or started: the last readings are
        about what it was)."""
        self.last_store = self.last_disk = None

    async def probe_store(self) -> StoreReading:
        store, now = self.sources.store, self.clock()
        last = self.last_store
        if last is not None and last.reachable and store is not None \
                and 0.0 <= now - last.at < self.reuse:
            return last
        if store is None:
            reading = StoreReading(False, now, error="the switch is not started")
        elif self._store_probe is not None and not self._store_probe[1].done():
            started, future = self._store_probe
            if now - started >= self.store_timeout:
                reading = StoreReading(
                    False, now, error=f"the previous probe is unanswered after "
                                      f"{now - started:.0f} s")
            else:
                # Another request's probe is on its way: its answer is this one's too (two
                # health checks at once must not make a busy store look down).
                reading = await self._wait_store(future, started)
        else:
            future = asyncio.ensure_future(store.run(_ping, store.store))
            future.add_done_callback(_consume)
            self._store_probe = (now, future)
            reading = await self._wait_store(future, now)
        self.last_store = reading
        return reading

    async def _wait_store(self, future: asyncio.Future[float], now: float) -> StoreReading:
        try:
            async with asyncio.timeout(self.store_timeout):
                # Shielded: the probe stays in flight (and is not queued again) until it ends.
                latency = await asyncio.shield(future)
        except TimeoutError:
            return StoreReading(False, now, error=f"no answer within {self.store_timeout:g} s")
        except Exception as exc:
            return StoreReading(False, now, error=_one_line(exc))
        return StoreReading(True, now, latency=latency)

    async def probe_disk(self) -> DiskReading:
        path, now = self.sources.data_dir, self.clock()
        shown = str(path)
        last = self.last_disk
        if last is not None and last.error is None and last.path == shown \
                and 0.0 <= now - last.at < self.reuse:
            return last
        if self._disk_probe is not None and not self._disk_probe[1].done():
            started, pending = self._disk_probe
            waited = now - started
            if waited >= self.store_timeout:
                reading = DiskReading(shown, now, error=f"no answer from the file system "
                                                        f"after {waited:.0f} s")
            else:
                # Another request's probe is on its way: its answer is this one's too.
                reading = await self._wait_disk(pending, shown, started)
        else:
            try:
                future = asyncio.get_running_loop().run_in_executor(
                    self._executor, _disk_usage, path)
            except RuntimeError as exc:  # the probe is closed
                reading = DiskReading(shown, now, error=_one_line(exc))
            else:
                future.add_done_callback(_consume)
                self._disk_probe = (now, future)
                reading = await self._wait_disk(future, shown, now)
        self.last_disk = reading
        return reading

    async def _wait_disk(self, future: asyncio.Future[tuple[int, int]], shown: str,
                         now: float) -> DiskReading:
        try:
            async with asyncio.timeout(self.store_timeout):
                total, free = await asyncio.shield(future)
        except TimeoutError:
            return DiskReading(shown, now, error="no answer from the file system")
        except OSError as exc:
            return DiskReading(shown, now, error=exc.strerror or _one_line(exc))
        return DiskReading(shown, now, total=total, free=free)

    def sip_check(self) -> Check:
        endpoint = self.sources.endpoint
        expected = {t: str(a) for t, a in self.sources.addresses.items()}
        listening: list[str] = []
        if endpoint is not None:
            for transport in expected:
                try:
                    endpoint.transports.local_address(transport)
                except LookupError:
                    continue
                listening.append(transport)
        return sip_check(expected, listening)

    def media_check(self) -> Check:
        media = self.sources.media
        if media is None:
            return media_check(False, 0, 0, 0)
        return media_check(media.running, len(media.sessions), media.allocator.in_use,
                           media.allocator.capacity)

    async def report(self) -> HealthReport:
        """Probe the store and the disk (at once) and judge every part."""
        store, disk = await asyncio.gather(self.probe_store(), self.probe_disk())
        checks = [
            store_check(store),
            self.sip_check(),
            self.media_check(),
            trunks_check(trunk_readings(self.sources.trunks)),
            disk_check(disk, self.thresholds),
        ]
        return HealthReport.of(checks, self.clock())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
