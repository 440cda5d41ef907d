"""Alarms: conditions an operator must act on, raised once and cleared once.

The rules are pure (time is passed in) and turn readings into :class:`Observation` s:

- ``trunk_down``: a trunk is out of service (its OPTIONS health, already debounced by the
  trunk's ``down_after``);
- ``abandon_near_limit``: a running campaign's abandon rate over the dialer's rolling window
  reaches ``abandon_warning`` (80 %) of the campaign's ``abandon_limit``, once at least
  ``MIN_ANSWERED`` customers answered in the window (two abandoned calls out of three are noise);
- ``disk_nearly_full``: free space in the data directory under ``disk_free_percent`` % or
  ``disk_free_mb`` MB;
- ``store_unreachable``: the database did not answer the health probe;
- ``overloaded``: new calls were refused with 503 for load (`pycc.sip.overload`) since the
  round before; it clears after ``OVERLOAD_CLEAR_AFTER`` seconds without such a refusal.

Each observation says whether the raise condition holds (``bad``), the clear condition holds
(``good``) or neither: between the two thresholds an alarm keeps its state, so a value that
wavers around one threshold does not flap. :class:`Hysteresis` adds time: a condition must
hold ``raise_after`` (or ``clear_after``) seconds before the state changes. :class:`AlarmBook`
keeps the state of every alarm and returns the changes of each round.

:class:`AlarmService` is the asyncio adapter: every ``alarm_interval`` seconds (and soon after
a campaign result) it probes the store and the disk, applies the rules and announces each
change as a bus event (``alarm.raised`` / ``alarm.cleared``), a log line (WARNING when raised,
INFO when cleared) and, when ``[oam] webhook_url`` is set, a JSON POST by :class:`Webhook`,
which retries with backoff from its own task and never holds the event loop up.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from pycc.bus import Bus, Event
from pycc.ccmanager.trunks import TrunkManager
from pycc.config import OamConfig
from pycc.oam.health import (
    DiskReading,
    DiskThresholds,
    HealthProbe,
    StoreReading,
    TrunkReading,
    trunk_readings,
)
from pycc.pds.service import DialerService
from pycc.sip.overload import OverloadGuard

__all__ = [
    "Alarm",
    "AlarmBook",
    "AlarmChange",
    "AlarmKind",
    "AlarmService",
    "AlarmSources",
    "CampaignReading",
    "Hysteresis",
    "Observation",
    "Severity",
    "Webhook",
    "abandon_rule",
    "campaign_readings",
    "disk_rule",
    "overload_rule",
    "store_rule",
    "trunk_rule",
]

log = logging.getLogger("pycc.alarms")

#: Answered calls a campaign's window must hold before its abandon rate can raise an alarm.
MIN_ANSWERED = 10
#: The clear thresholds sit this far from the raise thresholds: an abandon rate clears at
#: 3/4 of the warning share, free disk space at 5/4 of the thresholds.
ABANDON_CLEAR_SHARE = 0.75
DISK_CLEAR_FACTOR = 1.25
#: Seconds without a call refused for load before the overload alarm clears.
OVERLOAD_CLEAR_AFTER = 60.0


class Severity(enum.StrEnum):
    """ITU-T X.733 perceived severities."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class AlarmKind(enum.StrEnum):
    TRUNK_DOWN = "trunk_down"
    ABANDON_NEAR_LIMIT = "abandon_near_limit"
    DISK_NEARLY_FULL = "disk_nearly_full"
    STORE_UNREACHABLE = "store_unreachable"
    OVERLOADED = "overloaded"


SEVERITY: Mapping[AlarmKind, Severity] = {
    AlarmKind.TRUNK_DOWN: Severity.MAJOR,
    AlarmKind.ABANDON_NEAR_LIMIT: Severity.WARNING,
    AlarmKind.DISK_NEARLY_FULL: Severity.MAJOR,
    AlarmKind.STORE_UNREACHABLE: Severity.CRITICAL,
    AlarmKind.OVERLOADED: Severity.MAJOR,
}

#: (raise_after, clear_after) seconds per kind. One failed store probe may be a slow moment:
#: it takes a second one (a probe interval later) to raise.
#: Overload clears after a quiet minute: refusals come and go with every burst of calls.
DELAYS: Mapping[AlarmKind, tuple[float, float]] = {
    AlarmKind.STORE_UNREACHABLE: (4.0, 0.0),
    AlarmKind.OVERLOADED: (0.0, OVERLOAD_CLEAR_AFTER),
}


# -- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's verdict on one subject: ``bad`` (raise), ``good`` (clear), or neither (keep
    the current state). Never both."""

    kind: AlarmKind
    subject: str
    bad: bool
    good: bool
    message: str
    value: float | None = None

    def __post_init__(self) -> None:
        if self.bad and self.good:
            raise ValueError(f"{self.kind} {self.subject}: bad and good at once")


@dataclass(frozen=True, slots=True)
class CampaignReading:
    name: str
    running: bool
    abandon_limit: float
    #: Abandoned / answered over the dialer's rolling window, and how many answered in it.
    abandon_rate: float
    answered: int


def trunk_rule(trunk: TrunkReading) -> Observation:
    if trunk.up:
        return Observation(AlarmKind.TRUNK_DOWN, trunk.name, False, True,
                           f"trunk {trunk.name} is back in service")
    reason = f": {trunk.error}" if trunk.error else ""
    return Observation(AlarmKind.TRUNK_DOWN, trunk.name, True, False,
                       f"trunk {trunk.name} is out of service{reason}")


def abandon_rule(campaign: CampaignReading, warning: float = 0.8, *,
                 clear: float | None = None, min_answered: int = MIN_ANSWERED) -> Observation:
    """``warning`` and ``clear`` are shares of the campaign's abandon limit."""
    clear_at = warning * ABANDON_CLEAR_SHARE if clear is None else clear
    limit, rate = campaign.abandon_limit, campaign.abandon_rate
    # A limit of 0 allows no abandonment at all.
    share = rate / limit if limit > 0 else (math.inf if rate > 0 else 0.0)
    bad = campaign.running and campaign.answered >= min_answered and share >= warning
    good = not bad and (not campaign.running or share < clear_at)
    message = (f"campaign {campaign.name}: abandon rate {rate:.1%} over the rolling window, "
               f"limit {limit:.1%} ({campaign.answered} answered)")
    return Observation(AlarmKind.ABANDON_NEAR_LIMIT, campaign.name, bad, good, message,
                       round(rate, 6))


def disk_rule(reading: DiskReading, thresholds: DiskThresholds) -> Observation:
    """Unreadable free space keeps the alarm as it is (the health check reports it)."""
    if reading.error is not None:
        return Observation(AlarmKind.DISK_NEARLY_FULL, reading.path, False, False,
                           f"{reading.path}: {reading.error}")
    bad = thresholds.short(reading)
    good = not thresholds.scaled(DISK_CLEAR_FACTOR).short(reading)
    message = (f"{reading.free_mb:.0f} MB ({reading.free_percent:.1f} %) free in "
               f"{reading.path} (alarm under {thresholds.free_mb:g} MB or "
               f"{thresholds.free_percent:g} %)")
    return Observation(AlarmKind.DISK_NEARLY_FULL, reading.path, bad, good, message,
                       round(reading.free_percent, 3))


def overload_rule(refused: int, before: int | None) -> Observation:
    """``refused``: new calls refused for load so far (`pycc.sip.overload`); ``before``: the
    same count at the previous round (None: no round yet, which decides nothing)."""
    if before is None:
        return Observation(AlarmKind.OVERLOADED, "calls", False, False,
                           f"{refused} new calls refused for load so far", refused)
    new = refused - before
    if new > 0:
        return Observation(AlarmKind.OVERLOADED, "calls", True, False,
                           f"overloaded: {new} new calls refused with 503 since the last "
                           f"check ({refused} in all)", refused)
    return Observation(AlarmKind.OVERLOADED, "calls", False, True,
                       "no new call refused for load", refused)


def store_rule(reading: StoreReading) -> Observation:
    if reading.reachable:
        return Observation(AlarmKind.STORE_UNREACHABLE, "store", False, True,
                           "the database answers again")
    return Observation(AlarmKind.STORE_UNREACHABLE, "store", True, False,
                       f"the database does not answer: {reading.error or 'no answer'}")


# -- state -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Hysteresis:
    """One alarm's state: it turns active once ``bad`` has held ``raise_after`` seconds and
    inactive once ``good`` has held ``clear_after`` seconds; anything else resets the wait."""

    raise_after: float = 0.0
    clear_after: float = 0.0
    active: bool = False
    since: float | None = None

    def update(self, bad: bool, good: bool, now: float) -> bool:
        """Feed one observation at ``now``; True when ``active`` changed."""
        toward = good if self.active else bad
        if not toward:
            self.since = None
            return False
        if self.since is None or now < self.since:  # a clock stepping back restarts the wait
            self.since = now
        if now - self.since >= (self.clear_after if self.active else self.raise_after):
            self.active = not self.active
            self.since = None
            return True
        return False


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: AlarmKind
    subject: str
    severity: Severity
    message: str
    raised_at: float
    value: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    alarm: Alarm
    raised: bool
    at: float

    @property
    def topic(self) -> str:
        return "alarm.raised" if self.raised else "alarm.cleared"

    def to_dict(self) -> dict[str, object]:
        alarm = self.alarm
        return {"kind": alarm.kind.value, "subject": alarm.subject,
                "severity": alarm.severity.value, "message": alarm.message,
                "value": alarm.value, "raised_at": alarm.raised_at, "at": self.at}


class AlarmBook:
    """Every alarm's state; `evaluate` takes one round of observations."""

    def __init__(self, delays: Mapping[AlarmKind, tuple[float, float]] = DELAYS) -> None:
        self.delays = dict(delays)
        self._states: dict[tuple[AlarmKind, str], Hysteresis] = {}
        self._active: dict[tuple[AlarmKind, str], Alarm] = {}

    def evaluate(self, observations: Iterable[Observation], now: float, *,
                 complete: Collection[AlarmKind] = ()) -> list[AlarmChange]:
        """The alarms raised and cleared by this round. For the kinds in ``complete`` the
        round names every subject there is: an alarm whose subject is gone (a trunk removed
        from the configuration, a campaign no longer loaded) clears."""
        changes: list[AlarmChange] = []
        seen: set[tuple[AlarmKind, str]] = set()
        for seen_one in observations:
            key = (seen_one.kind, seen_one.subject)
            seen.add(key)
            state = self._states.get(key)
            if state is None:
                raise_after, clear_after = self.delays.get(seen_one.kind, (0.0, 0.0))
                state = self._states[key] = Hysteresis(raise_after, clear_after)
            if not state.update(seen_one.bad, seen_one.good, now):
                continue
            if state.active:
                alarm = Alarm(seen_one.kind, seen_one.subject, SEVERITY[seen_one.kind],
                              seen_one.message, now, seen_one.value)
                self._active[key] = alarm
                changes.append(AlarmChange(alarm, True, now))
            else:
                raised = self._active.pop(key)
                changes.append(AlarmChange(
                    replace(raised, message=seen_one.message, value=seen_one.value),
                    False, now))
        for key in [k for k in self._states if k[0] in complete and k not in seen]:
            del self._states[key]
            gone = self._active.pop(key, None)
            if gone is not None:
                changes.append(AlarmChange(
                    replace(gone, message=f"{gone.subject}: no longer monitored"), False, now))
        return changes

    def active(self) -> list[Alarm]:
        return sorted(self._active.values(), key=lambda a: (a.raised_at, a.kind, a.subject))


# -- the webhook -------------------------------------------------------------------------------

#: Statuses worth another try: the receiver was busy or timed out.
_RETRY_STATUSES = frozenset({408, 425, 429})


class Webhook:
    """POSTs payloads as JSON to ``url``, one after the other from a background task, so
    that the event loop never waits on the receiver. A failed POST (network error, timeout,
    5xx, 408, 429) is tried again ``retries`` times, ``backoff`` seconds later and twice as
    long each time; then it is logged and dropped, never raised. At most ``max_queue``
    payloads wait; beyond that the oldest goes."""

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3,
                 backoff: float = 1.0, max_queue: int = 1000,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._queue: deque[Mapping[str, object]] = deque(maxlen=max_queue)
        self._client = client
        self._own_client = client is None
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def send(self, payload: Mapping[str, object]) -> None:
        if len(self._queue) == self._queue.maxlen:
            log.warning("alarm webhook: %d payloads waiting, the oldest is dropped",
                        len(self._queue))
        self._queue.append(payload)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver_all(),
                                                                name="alarm webhook")

    async def _deliver_all(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        while self._queue:
            payload = self._queue[0]
            if await self._post(self._client, payload):
                self.delivered += 1
            else:
                self.failed += 1
            if self._queue and self._queue[0] is payload:
                self._queue.popleft()

    async def _post(self, client: httpx.AsyncClient, payload: Mapping[str, object]) -> bool:
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = await client.post(self.url, json=payload, timeout=self.timeout)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if response.is_success:
                return True
            error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in _RETRY_STATUSES:
                break  # the receiver refuses this payload: another try cannot help
        log.warning("alarm webhook %s: %s not delivered (%s)", self.url,
                    payload.get("event", "payload"), error)
        return False

    async def close(self, grace: float = 2.0) -> None:
        """Give the waiting payloads ``grace`` seconds, then stop."""
        task = self._task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=grace)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if self._queue:
                    log.warning("alarm webhook: %d payloads not sent at shutdown",
                                len(self._queue))
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None


# -- the service -------------------------------------------------------------------------------


class AlarmSources(Protocol):
    """The parts of a switch the rules read (a :class:`pycc.switch.Switch` is one)."""

    @property
    def trunks(self) -> TrunkManager | None: ...
    @property
    def dialer(self) -> DialerService | None: ...
    @property
    def overload(self) -> OverloadGuard | None: ...


def campaign_readings(dialer: DialerService | None) -> list[CampaignReading]:
    if dialer is None:
        return []
    return [CampaignReading(name, live.running, live.config.abandon_limit,
                            live.stats.abandon_rate_window, live.stats.answered_window)
            for name, live in dialer.campaigns.items()]


class _AlarmCollector(Collector):
    def __init__(self, service: AlarmService) -> None:
        self.service = service

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("pycc_alarms_active", "Alarms raised and not cleared.",
                                   labels=["tenant", "kind", "subject", "severity"])
        for alarm in self.service.active():
            family.add_metric([self.service.tenant, alarm.kind.value, alarm.subject,
                               alarm.severity.value], 1.0)
        yield family


class AlarmService:
    """Evaluates the alarm rules every ``config.alarm_interval`` seconds and soon after every
    campaign result, and announces the changes (see the module docstring)."""

    #: Bus topics after which the rules run again without waiting for the next round.
    TOPICS = ("campaign.result", "campaign.started", "campaign.stopped")

    def __init__(self, bus: Bus, sources: AlarmSources, probe: HealthProbe, *,
                 config: OamConfig | None = None, tenant: str = "default", node: str = "",
                 webhook: Webhook | None = None, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.sources = sources
        self.probe = probe
        self.config = config = config or OamConfig()
        self.tenant = tenant
        self.node = node
        self.clock = clock
        self.thresholds = DiskThresholds.from_config(config)
        if webhook is None and config.webhook_url:
            webhook = Webhook(config.webhook_url, timeout=config.webhook_timeout,
                              retries=config.webhook_retries)
        self.webhook = webhook
        self.book = AlarmBook()
        #: Calls refused for load at the previous round (the overload rule's baseline).
        self._refused_before: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._soon: asyncio.Handle | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        if registry is not None:
            registry.register(_AlarmCollector(self))

    # -- life cycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._unsubscribe = [self.bus.subscribe(topic, self._event) for topic in self.TOPICS]
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alarms")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.webhook is not None:
            await self.webhook.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a fault in one round must not end the monitoring
                log.exception("evaluating the alarms failed")
            await asyncio.sleep(self.config.alarm_interval)

    def _event(self, _event: Event) -> None:
        # Deferred: the rules run after the publisher's turn, not inside its publish call.
        if self._soon is None:
            self._soon = asyncio.get_running_loop().call_soon(self._evaluate_soon)

    def _evaluate_soon(self) -> None:
        self._soon = None
        try:
            self.evaluate()
        except Exception:
            log.exception("evaluating the alarms failed")

    # -- rounds ------------------------------------------------------------------------------
    async def run_once(self) -> list[AlarmChange]:
        """Probe the store and the disk, then apply every rule."""
        await asyncio.gather(self.probe.probe_store(), self.probe.probe_disk())
        return self.evaluate()

    def observations(self) -> list[Observation]:
        """One round's observations, from live state and the probe's latest readings."""
        found = [trunk_rule(t) for t in trunk_readings(self.sources.trunks)]
        found += [abandon_rule(c, self.config.abandon_warning)
                  for c in campaign_readings(self.sources.dialer)]
        if self.probe.last_disk is not None:
            found.append(disk_rule(self.probe.last_disk, self.thresholds))
        if self.probe.last_store is not None:
            found.append(store_rule(self.probe.last_store))
        guard = self.sources.overload
        if guard is not None:
            refused = sum(guard.refused.values())
            found.append(overload_rule(refused, self._refused_before))
            self._refused_before = refused
        return found

    def evaluate(self) -> list[AlarmChange]:
        """Apply the rules to the current readings (no new probe) and announce the changes."""
        changes = self.book.evaluate(
            self.observations(), self.clock(),
            complete=(AlarmKind.TRUNK_DOWN, AlarmKind.ABANDON_NEAR_LIMIT))
        for change in changes:
            self._announce(change)
        return changes

    def active(self) -> list[Alarm]:
        return self.book.active()

    def _announce(self, change: AlarmChange) -> None:
        alarm = change.alarm
        data = {**change.to_dict(), "tenant": self.tenant, "node": self.node}
        if change.raised:
            log.warning("alarm raised (%s): %s", alarm.severity.value, alarm.message)
        else:
            log.info("alarm cleared: %s", alarm.message)
        self.bus.publish(change.topic, **data)
        if self.webhook is not None:
            self.webhook.send({"event": change.topic, **data})
