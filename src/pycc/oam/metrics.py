"""Prometheus metrics of one running switch.

Each switch has its own :class:`~prometheus_client.CollectorRegistry` (several switches may
run in one process); `render` gives the text exposition format for ``/metrics``. Most figures
are read from live state when Prometheus scrapes (nothing is done per packet or per message
for them): calls up, bindings, queues, agents, campaigns, trunks, media sessions. What must be
counted as it happens is counted cheaply:

- finished calls, by direction and disposition and per trunk, as each call's record is
  handed to the recorder (:class:`CountingCallRecorder`): the figures match the records;
- SIP requests by method and transactions by final status, from the transaction events the
  switch dispatches anyway (:meth:`SwitchMetrics.observe_sip`) and, for pycc's own answers,
  the transactions' last response at scrape time;
- RTP packets received, lost and dropped (by reason: a stranger's, malformed, a payload type
  not negotiated, SRTP authentication, a payload the codec refuses, one that could not be
  sent): the media legs' own counters, summed at scrape time, whether the switch or a relay
  worker carries the leg; a leg that ends leaves its final figures behind, so the totals
  never go back. Legs are also looked at once a second (`SwitchMetrics.start`), so that
  even a short call is counted;
- queue wait times, from the ``queue.left`` bus event, into a histogram.

The dialer's per-campaign counters are its day counters (`DialerStats`): they restart with the
campaign's day, and say so with their ``_created`` time. Calls per second, answer rates and
loss ratios are left to Prometheus (``rate()`` of the counters).

Every metric has a ``tenant`` label. `collect` reads asyncio-owned state: scrape on the
switch's event loop (an ``async def`` handler), not from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import pycc
from pycc.aaa.cdr import CallRecorder
from pycc.bus import Bus, Event
from pycc.ccmanager.b2bua import B2BUA, Call, CallState
from pycc.ccmanager.center import CallCenter
from pycc.ccmanager.outbound import Originator
from pycc.ccmanager.registrar import Registrar
from pycc.ccmanager.trunks import TrunkManager
from pycc.ccs.agent import AgentState, AgentStatus
from pycc.endpoint import SipEndpoint
from pycc.media.leg import MediaLeg
from pycc.media.server import MediaServer
from pycc.pds.service import DialerService
from pycc.pds.stats import DialerStats
from pycc.rtp.stats import ReceiverStats
from pycc.sip.message import KNOWN_METHODS
from pycc.sip.overload import OverloadGuard, Refusal
from pycc.sip.transaction import (
    AckReceived,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    Transaction,
    TransactionEvent,
    TransactionTerminated,
)
from pycc.store.async_store import AsyncStore

__all__ = [
    "CONTENT_TYPE",
    "CallTally",
    "CountingCallRecorder",
    "MetricSources",
    "RtpTally",
    "SipTally",
    "SwitchMetrics",
    "call_direction",
    "render",
]

log = logging.getLogger("pycc.metrics")

#: The Content-Type of `render`'s output.
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Queue wait buckets (seconds): service levels are usually stated at 10, 20 or 30 s.
WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, math.inf)
#: How often the media legs are looked at between scrapes.
SAMPLE_INTERVAL = 1.0


def render(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the Prometheus text exposition format (`CONTENT_TYPE`)."""
    return generate_latest(registry)


def _label(value: str, known: Iterable[str]) -> str:
    # Label values from the network are bounded to a known set: a peer inventing methods
    # must not create series without end.
    return value if value in known else "other"


# -- counted as it happens ---------------------------------------------------------------------


def call_direction(call: Call) -> str:
    """``inbound`` (from a trunk), ``outbound`` (to a trunk) or ``internal``: what the router
    noted, else what the call's legs show."""
    noted = call.media_info.get("direction")
    if isinstance(noted, str) and noted:
        return noted
    if call.from_trunk is not None:
        return "inbound"
    if any(leg.outside is not None for leg in call.legs):
        return "outbound"
    return "internal"


class CallTally:
    """Finished calls by (direction, disposition), and by (trunk, direction): the figures
    of their call records."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.trunk_calls: Counter[tuple[str, str]] = Counter()

    def count(self, direction: str, disposition: str, trunk: str | None = None) -> None:
        self.calls[(direction, disposition)] += 1
        if trunk:
            self.trunk_calls[(trunk, direction)] += 1


class SipTally:
    """SIP requests received by method, and transactions by role (``server``: answered by
    pycc, ``client``: sent by pycc), method and final status.

    A transaction counts once, as soon as its final response is known: a response received
    at once, one pycc sent at the next `settle` (scrape time; a server transaction stays
    alive for up to 32 s after its answer, too late to wait for its end). One that ends
    without a final response (a timeout, a transport failure) counts with status ``none``.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.transactions: Counter[tuple[str, str, str]] = Counter()
        # Server transactions not answered yet, and transactions counted but not ended.
        self._unanswered: set[ServerTransaction] = set()
        self._counted: set[Transaction] = set()

    def observe(self, event: TransactionEvent) -> None:
        if isinstance(event, RequestReceived):
            self.requests[_label(event.request.method, KNOWN_METHODS)] += 1
            self._unanswered.add(event.transaction)
        elif isinstance(event, AckReceived):
            self.requests["ACK"] += 1
        elif isinstance(event, ResponseReceived):
            # An INVITE's 2xx may come again (RFC 6026): the transaction counts once.
            if event.response.status >= 200 and event.transaction not in self._counted:
                self._count(event.transaction, str(event.response.status))
        elif isinstance(event, TransactionTerminated):
            txn = event.transaction
            if isinstance(txn, ServerTransaction):
                self._unanswered.discard(txn)
            if txn in self._counted:
                self._counted.discard(txn)
            else:
                self.transactions[(_role(txn), _label(txn.method, KNOWN_METHODS),
                                   _final_status(txn))] += 1

    def count_answered(self, method: str, status: int) -> None:
        """A new request answered outside the switch's transactions (by the register
        worker, `pycc.ccmanager.register_offload`): counted as received, and as a server
        transaction with the status of its answer."""
        label = _label(method, KNOWN_METHODS)
        self.requests[label] += 1
        self.transactions[("server", label, str(status))] += 1

    def settle(self) -> None:
        """Count the server transactions pycc has answered since the last call."""
        for txn, status in [(t, _final_status(t)) for t in self._unanswered]:
            if status != "none":
                self._unanswered.discard(txn)
                self._count(txn, status)

    def _count(self, txn: Transaction, status: str) -> None:
        self._counted.add(txn)
        self.transactions[(_role(txn), _label(txn.method, KNOWN_METHODS), status)] += 1


def _role(txn: Transaction) -> str:
    return "server" if isinstance(txn, ServerTransaction) else "client"


def _final_status(txn: Transaction) -> str:
    """The final response's status code, or ``none``."""
    response = txn.last_response if isinstance(txn, ServerTransaction | ClientTransaction) \
        else None
    return str(response.status) if response is not None and response.status >= 200 else "none"


class _Stream:
    """One leg's receive statistics as last seen; the most loss each stats object showed (a
    late packet lowers the cumulative loss, a counter must not go back)."""

    __slots__ = ("leg", "lost")

    def __init__(self, leg: MediaLeg) -> None:
        self.leg = leg
        self.lost: dict[int, tuple[ReceiverStats, int]] = {}

    def sample(self) -> None:
        stats = self.leg.stats
        if stats is not None:
            seen = self.lost.get(id(stats))
            lost = max(0, stats.cumulative_lost)
            if seen is None or lost > seen[1]:
                self.lost[id(stats)] = (stats, lost)

    @property
    def received(self) -> int:
        return self.leg.received

    @property
    def dropped(self) -> Counter[str]:
        """The leg's drops by reason; packets its socket could not send count as "send"."""
        dropped = Counter(self.leg.dropped)
        dropped["send"] += self.leg.sockets.send_errors
        return +dropped  # reasons with a count only

    @property
    def total_lost(self) -> int:
        return sum(lost for _stats, lost in self.lost.values())


class RtpTally:
    """RTP packets received, lost and dropped over every media leg the switch had."""

    def __init__(self) -> None:
        self._streams: dict[int, _Stream] = {}
        self._retired_received = 0
        self._retired_lost = 0
        self._retired_dropped: Counter[str] = Counter()

    def sample(self, media: MediaServer | None) -> None:
        """Look at the legs now: new ones are followed, ended ones leave their totals."""
        current: dict[int, MediaLeg] = {}
        if media is not None:
            for session in list(media.sessions):
                for party in ("a", "b"):
                    for leg in session.legs(party):
                        current[id(leg)] = leg
        for key in [k for k in self._streams if k not in current]:
            gone = self._streams.pop(key)
            gone.sample()  # the leg object keeps its final figures after it closed
            self._retired_received += gone.received
            self._retired_lost += gone.total_lost
            self._retired_dropped += gone.dropped
        for key, leg in current.items():
            stream = self._streams.get(key)
            if stream is None or stream.leg is not leg:
                stream = self._streams[key] = _Stream(leg)
            stream.sample()

    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def received(self) -> int:
        return self._retired_received + sum(s.received for s in self._streams.values())

    @property
    def lost(self) -> int:
        return self._retired_lost + sum(s.total_lost for s in self._streams.values())

    @property
    def dropped(self) -> Counter[str]:
        """Packets dropped on arrival or on the way out, by reason."""
        total = Counter(self._retired_dropped)
        for stream in self._streams.values():
            total += stream.dropped
        return total


# -- the sources and the collector -------------------------------------------------------------


class MetricSources(Protocol):
    """The parts of a switch the metrics read (a :class:`pycc.switch.Switch` is one); None
    until started."""

    @property
    def store(self) -> AsyncStore | None: ...
    @property
    def endpoint(self) -> SipEndpoint | None: ...
    @property
    def b2bua(self) -> B2BUA | None: ...
    @property
    def originator(self) -> Originator | None: ...
    @property
    def registrar(self) -> Registrar | None: ...
    @property
    def media(self) -> MediaServer | None: ...
    @property
    def center(self) -> CallCenter | None: ...
    @property
    def dialer(self) -> DialerService | None: ...
    @property
    def trunks(self) -> TrunkManager | None: ...
    @property
    def overload(self) -> OverloadGuard | None: ...


def _gauge(name: str, text: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=["tenant", *labels])


def _counter(name: str, text: str, labels: Sequence[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, labels=["tenant", *labels])


def _day_start(stats: DialerStats) -> float:
    """When the campaign's current day (the span its day counters cover) began."""
    now = stats.now
    if now is None:
        return stats.day_start
    days = math.floor((now - stats.day_start) / stats.day_length)
    return stats.day_start + days * stats.day_length


class _SwitchCollector(Collector):
    def __init__(self, metrics: SwitchMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # names are not known before the first scrape; no duplicates check needed

    def collect(self) -> Iterator[Metric]:
        sections: tuple[Callable[[], Iterable[Metric]], ...] = (
            self._info, self._calls, self._sip, self._media, self._center, self._dialer,
            self._trunks,
        )
        for section in sections:
            try:
                # Built whole before any is yielded: one failing section leaves no half family.
                yield from list(section())
            except Exception:
                log.exception("metrics: %s failed", section.__name__)

    @property
    def tenant(self) -> str:
        return self.metrics.tenant

    def _info(self) -> Iterator[Metric]:
        info = _gauge("pycc_info", "This pycc switch: version and node.", ["version", "node"])
        info.add_metric([self.tenant, pycc.__version__, self.metrics.node], 1.0)
        yield info

    def _calls(self) -> Iterator[Metric]:
        sources, tenant = self.metrics.sources, self.tenant
        active = _gauge("pycc_calls_active", "Calls through the B2BUA not yet ended.",
                        ["direction"])
        up: Counter[str] = Counter({"inbound": 0, "outbound": 0, "internal": 0})
        if sources.b2bua is not None:
            for call in list(sources.b2bua.calls.values()):
                if call.state is not CallState.ENDED:
                    up[call_direction(call)] += 1
        for direction, count in sorted(up.items()):
            active.add_metric([tenant, direction], count)
        yield active
        placed = _gauge("pycc_originated_calls_active",
                        "Calls pycc placed itself (agents' legs, dialer customers, callbacks).",
                        [])
        originator = sources.originator
        placed.add_metric([tenant], len(originator.calls) if originator is not None else 0)
        yield placed
        total = _counter("pycc_calls", "Finished calls (one per call record).",
                         ["direction", "disposition"])
        for (direction, disposition), count in sorted(self.metrics.calls.calls.items()):
            total.add_metric([tenant, direction, disposition], count)
        yield total
        bindings = _gauge("pycc_registrations_active", "Unexpired registrar bindings.", [])
        registrar = sources.registrar
        bindings.add_metric([tenant], registrar.binding_count() if registrar is not None else 0)
        yield bindings

    def _sip(self) -> Iterator[Metric]:
        tenant, sip = self.tenant, self.metrics.sip
        sip.settle()
        requests = _counter("pycc_sip_requests_received",
                            "New SIP requests received (retransmissions not counted; ACK: for "
                            "a 2xx).", ["method"])
        for method, count in sorted(sip.requests.items()):
            requests.add_metric([tenant, method], count)
        yield requests
        transactions = _counter("pycc_sip_transactions",
                                "SIP transactions by role (server: answered by pycc), method "
                                "and final status (none: no final response).",
                                ["role", "method", "status"])
        for (role, method, status), count in sorted(sip.transactions.items()):
            transactions.add_metric([tenant, role, method, status], count)
        yield transactions
        endpoint = self.metrics.sources.endpoint
        if endpoint is None:
            return
        stats = endpoint.stats
        received = _counter("pycc_sip_messages_received", "SIP messages read from the "
                            "transports, before any check.", [])
        received.add_metric([tenant], stats.received)
        yield received
        absorbed = _counter("pycc_sip_retransmissions_absorbed", "Requests received again "
                            "byte for byte while their transaction lived: answered with its "
                            "last response, not parsed again.", [])
        absorbed.add_metric([tenant], stats.retransmissions_absorbed)
        yield absorbed
        refused = _counter("pycc_sip_messages_refused", "SIP messages refused before "
                           "processing.", ["reason"])
        refused.add_metric([tenant, "malformed_answered"], stats.malformed_answered)
        refused.add_metric([tenant, "malformed_dropped"], stats.dropped)
        refused.add_metric([tenant, "rate_limited"], stats.rate_limited)
        guard = self.metrics.sources.overload
        if guard is not None:
            for refusal in Refusal:
                refused.add_metric([tenant, refusal.metric_label], guard.refused.get(refusal, 0))
        yield refused
        connections = _gauge("pycc_sip_connections", "Open TCP and TLS connections.", [])
        connections.add_metric([tenant], endpoint.transports.connection_count())
        yield connections

    def _media(self) -> Iterator[Metric]:
        tenant, media = self.tenant, self.metrics.sources.media
        rtp = self.metrics.rtp
        rtp.sample(media)
        received = _counter("pycc_rtp_packets_received", "RTP packets received on media "
                            "legs.", [])
        received.add_metric([tenant], rtp.received)
        yield received
        lost = _counter("pycc_rtp_packets_lost", "RTP packets lost on the way to pycc "
                        "(RFC 3550 cumulative loss of each stream).", [])
        lost.add_metric([tenant], rtp.lost)
        yield lost
        dropped = _counter("pycc_rtp_packets_dropped", "RTP and RTCP packets dropped on media "
                           "legs, by reason (source: not from the party; short, version, "
                           "padding, extension, csrc, field: malformed; payload-type: not "
                           "negotiated; srtp, srtcp: authentication or replay; codec: a "
                           "payload the decoder refuses; send: could not be sent on).",
                           ["reason"])
        for reason, count in sorted(rtp.dropped.items()):
            dropped.add_metric([tenant, reason], count)
        yield dropped
        sessions = _gauge("pycc_media_sessions_active", "Media sessions (calls' media).", [])
        sessions.add_metric([tenant], len(media.sessions) if media is not None else 0)
        yield sessions
        ports = _gauge("pycc_rtp_ports", "RTP ports of the configured range.", ["state"])
        in_use = media.allocator.in_use if media is not None else 0
        capacity = media.allocator.capacity if media is not None else 0
        ports.add_metric([tenant, "in_use"], in_use)
        ports.add_metric([tenant, "free"], capacity - in_use)
        yield ports
        relayed = _gauge("pycc_media_offloaded_bridges", "Relayed streams the relay worker "
                         "processes forward now (pycc.media.offload).", [])
        relayed.add_metric([tenant], media.offloaded if media is not None else 0)
        yield relayed

    def _center(self) -> Iterator[Metric]:
        tenant, center = self.tenant, self.metrics.sources.center
        if center is None:
            return
        acd = center.acd
        now = acd.clock()
        waiting = _gauge("pycc_queue_waiting", "Callers waiting in the queue.", ["queue"])
        longest = _gauge("pycc_queue_longest_wait_seconds",
                         "How long the longest-waiting caller has waited.", ["queue"])
        logged_in = _gauge("pycc_queue_agents_logged_in",
                           "Logged-in agents who may serve the queue.", ["queue"])
        free = _gauge("pycc_queue_agents_free", "Agents free to take a call of the queue.",
                      ["queue"])
        level = _gauge("pycc_queue_service_level_ratio",
                       "Share of the day's calls answered within the queue's target.",
                       ["queue"])
        for name in sorted(acd.distributor.queues):
            snap = acd.distributor.snapshot(name, now)
            waiting.add_metric([tenant, name], snap.waiting)
            longest.add_metric([tenant, name], snap.longest_wait)
            logged_in.add_metric([tenant, name], snap.agents_logged_in)
            free.add_metric([tenant, name], snap.agents_free)
            if snap.service_level is not None:
                level.add_metric([tenant, name], snap.service_level)
        yield from (waiting, longest, logged_in, free, level)
        agents = _gauge("pycc_agents", "Configured agents by status (their choice) and state "
                        "(what the ACD does with them).", ["status", "state"])
        counts: Counter[tuple[str, str]] = Counter(
            {(s.value, t.value): 0 for s in AgentStatus for t in AgentState})
        for agent_id in acd.agent_configs:
            agent = acd.distributor.agents.get(agent_id)
            if agent is not None:
                counts[(agent.status.value, agent.state.value)] += 1
        for (status, state), count in sorted(counts.items()):
            agents.add_metric([tenant, status, state], count)
        yield agents
        yield self.metrics.queue_wait_family()

    def _dialer(self) -> Iterator[Metric]:
        tenant, sources = self.tenant, self.metrics.sources
        dialer, center = sources.dialer, sources.center
        if dialer is None:
            return
        running = _gauge("pycc_dialer_running", "1 while the campaign dials.",
                         ["campaign", "mode"])
        in_flight = _gauge("pycc_dialer_lines_in_flight",
                           "Customer calls placed and not yet resolved.", ["campaign"])
        waiting = _gauge("pycc_dialer_customers_waiting",
                         "Answered customers waiting for an agent.", ["campaign"])
        per_agent = _gauge("pycc_dialer_lines_per_agent",
                           "Lines in flight per logged-in agent of the campaign's queue.",
                           ["campaign"])
        level = _gauge("pycc_dialer_dial_level",
                       "The pacer's dial level (lines per agent) for pacers that have one.",
                       ["campaign"])
        limit = _gauge("pycc_dialer_abandon_limit", "The campaign's abandon limit.",
                       ["campaign"])
        rate = _gauge("pycc_dialer_abandon_rate", "Abandoned / answered customers.",
                      ["campaign", "window"])
        totals = {
            name: _counter(f"pycc_dialer_{name}", f"Customers {name} in the campaign's day.",
                           ["campaign"])
            for name in ("dialed", "answered", "connected", "abandoned")
        }
        unanswered = _counter("pycc_dialer_unanswered", "Calls that reached no person in "
                              "the campaign's day, by reason.", ["campaign", "reason"])
        for name, live in sorted(dialer.campaigns.items()):
            config, stats = live.config, live.stats
            running.add_metric([tenant, name, config.mode], 1.0 if live.running else 0.0)
            lines = len(live.in_flight)
            in_flight.add_metric([tenant, name], lines)
            waiting.add_metric([tenant, name], live.waiting)
            if center is not None and config.queue:
                agents = sum(1 for a in center.acd.queue_agents(config.queue)
                             if a.status is not AgentStatus.OFFLINE)
                if agents:
                    per_agent.add_metric([tenant, name], lines / agents)
            pacer_level = getattr(live.pacer, "level", getattr(live.pacer, "ratio", None))
            if isinstance(pacer_level, int | float) and not isinstance(pacer_level, bool):
                level.add_metric([tenant, name], float(pacer_level))
            limit.add_metric([tenant, name], config.abandon_limit)
            rate.add_metric([tenant, name, "rolling"], stats.abandon_rate_window)
            rate.add_metric([tenant, name, "day"], stats.abandon_rate_day)
            created = _day_start(stats)
            for key, value in (("dialed", stats.dialed_today),
                               ("answered", stats.answered_today),
                               ("connected", stats.connected_today),
                               ("abandoned", stats.abandoned_today)):
                totals[key].add_metric([tenant, name], value, created=created)
            for reason, value in (("no_answer", stats.no_answer_today),
                                  ("busy", stats.busy_today), ("failed", stats.failed_today),
                                  ("machine", stats.machines_today)):
                unanswered.add_metric([tenant, name, reason], value, created=created)
        yield from (running, in_flight, waiting, per_agent, level, limit, rate,
                    *totals.values(), unanswered)

    def _trunks(self) -> Iterator[Metric]:
        tenant, trunks = self.tenant, self.metrics.sources.trunks
        up = _gauge("pycc_trunk_up", "1 while the trunk is in service (OPTIONS health).",
                    ["trunk"])
        registered = _gauge("pycc_trunk_registered",
                            "1 while a registering trunk's binding is current.", ["trunk"])
        calls = _gauge("pycc_trunk_calls_active", "Calls holding a slot of the trunk.",
                       ["trunk"])
        total = _counter("pycc_trunk_calls", "Finished calls over the trunk.",
                         ["trunk", "direction"])
        for trunk in trunks if trunks is not None else ():
            name = trunk.config.name
            up.add_metric([tenant, name], 1.0 if trunk.up else 0.0)
            if trunk.registered is not None:
                registered.add_metric([tenant, name], 1.0 if trunk.registered else 0.0)
            calls.add_metric([tenant, name], trunk.calls)
        for (name, direction), count in sorted(self.metrics.calls.trunk_calls.items()):
            total.add_metric([tenant, name, direction], count)
        yield from (up, registered, calls, total)


# -- the switch's metrics ----------------------------------------------------------------------


class SwitchMetrics:
    """The metrics of one switch: its registry, the tallies, and the queue wait histogram."""

    def __init__(self, sources: MetricSources, bus: Bus, *, tenant: str = "default",
                 node: str = "", sample_interval: float = SAMPLE_INTERVAL) -> None:
        self.sources = sources
        self.tenant = tenant
        self.node = node
        self.sample_interval = sample_interval
        self.registry = CollectorRegistry(auto_describe=False)
        self.calls = CallTally()
        self.sip = SipTally()
        self.rtp = RtpTally()
        # Outside the registry: it is emitted by the collector, next to the other queue
        # figures, so that the registry holds one collector per switch part.
        self._queue_wait = Histogram(
            "pycc_queue_wait_seconds", "Time callers waited in a queue, by how it ended.",
            ["tenant", "queue", "outcome"], buckets=WAIT_BUCKETS, registry=None)
        self.registry.register(_SwitchCollector(self))
        self._unsubscribe = bus.subscribe("queue.left", self._queue_left)
        self._sampler: asyncio.Task[None] | None = None

    def render(self) -> bytes:
        return render(self.registry)

    # -- what is counted as it happens -------------------------------------------------------
    def observe_sip(self, event: TransactionEvent) -> None:
        self.sip.observe(event)

    def _queue_left(self, event: Event) -> None:
        queue, waited = event.data.get("queue"), event.data.get("waited")
        outcome = event.data.get("outcome")
        if not isinstance(queue, str) or isinstance(waited, bool) or \
                not isinstance(waited, int | float) or not math.isfinite(waited) or waited < 0:
            log.debug("queue.left without a queue or a wait: %s", dict(event.data))
            return
        self._queue_wait.labels(self.tenant, queue, str(outcome or "unknown")).observe(waited)

    def queue_wait_family(self) -> Metric:
        return next(iter(self._queue_wait.collect()))

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Look at the media legs once a second (a call shorter than a scrape interval is
        counted too)."""
        if self._sampler is None:
            self._sampler = asyncio.get_running_loop().create_task(self._sample_forever(),
                                                                   name="metrics sampler")

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sample_interval)
            try:
                self.rtp.sample(self.sources.media)
                self.sip.settle()
            except Exception:
                log.exception("metrics: sampling the media legs failed")

    async def stop(self) -> None:
        self._unsubscribe()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        self.rtp.sample(self.sources.media)  # the last legs' totals stay readable


class CountingCallRecorder(CallRecorder):
    """The call recorder of a switch with metrics: each finished call is counted, then
    recorded as usual."""

    def __init__(self, metrics: SwitchMetrics, store: AsyncStore, *, tenant_id: int,
                 node: str = "") -> None:
        super().__init__(store, tenant_id=tenant_id, node=node)
        self.metrics = metrics

    def closed(self, row: Mapping[str, Any]) -> None:
        try:
            self.metrics.calls.count(str(row.get("direction") or "unknown"),
                                     str(row.get("disposition") or "unknown"),
                                     str(row["trunk"]) if row.get("trunk") else None)
        except Exception:  # counting must never cost a call record
            log.exception("metrics: counting a finished call failed")
