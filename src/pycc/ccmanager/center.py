"""The inbound call center of one tenant: the router that decides where each new call goes,
and the services an answered caller moves through (IVR flows, queues, conferences, transfers
to extensions and outside numbers, voicemail).

The B2BUA asks :meth:`CallCenter.route` about every new call. Feature codes come first
(agent log-in and out, ready, not ready, supervisors' listen, whisper and barge), then the
tenant's call limit, then the dial plan (:mod:`pycc.routing`): an extension rings its phones, a
trunk sends the call out (failing over to the next trunk), a queue, an IVR flow or a conference
is answered by pycc and run by :meth:`CallCenter.run_target`, which follows the caller from
one service to the next (an IVR transfers to a queue, a queue overflows to another queue or a
flow) and notes each step in the call record.

Calls out over a trunk are refused (402 Payment Required, "Credit Limit Reached"; no call for
the dialer) once the tenant's billed total reached its credit limit. The customer calls pycc
places itself (`CallCenter.dial_out`, a transfer out to a number) get call records of their
own; the calls to agents' phones for a queued caller are part of that caller's call and do
not (the caller's record names the agent and counts the agent's hold).

A live call is transferred blind with :meth:`CallCenter.transfer` (what an operator's
``channel redirect`` does): the party that stays is taken from whatever held it (a bridge with
an agent or a phone, an IVR, a queue) and runs the target through `run_target`, the other
party is released as after a hang-up (an agent goes to wrap-up), and the call keeps its one
record, whose IVR path gains ``transfer`` and the steps that followed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Final, cast

from pycc.aaa.billing import CreditTracker
from pycc.bus import Bus
from pycc.ccc.dispositions import DEFAULT_DISPOSITIONS, Disposition
from pycc.ccmanager.apps import Application
from pycc.ccmanager.b2bua import (
    APP_RECORD_GRACE,
    B2BUA,
    Call,
    CallState,
    Outside,
    RouteTo,
    record_after,
)
from pycc.ccmanager.outbound import Originator, OutboundCall, OutboundState
from pycc.ccmanager.registrar import Registrar
from pycc.ccmanager.trunks import TrunkConfig, TrunkManager
from pycc.ccs.agent import AgentTransition
from pycc.ccs.queue import OverflowKind, OverflowTarget, QueueConfig
from pycc.ccs.service import AcdService, AgentConfig, QueueMedia
from pycc.media.channel import Channel, ChannelGone, MediaEngine, MonitorMode
from pycc.media.session import MediaSession
from pycc.provision.schema import CallCenterSpec
from pycc.routing import Conference, DialPlan, Extension, Ivr, Queue, Reject, Trunk
from pycc.routing.rating import RatePlan
from pycc.routing.timecond import instant_from_epoch
from pycc.sia.call import IvrCall
from pycc.sia.flow import Flow, Target, TargetKind
from pycc.sia.keys import KeyTally
from pycc.sia.runner import CoroutineFlow, run_coroutine, run_flow
from pycc.sia.tts import Tts
from pycc.store.async_store import AsyncStore

__all__ = ["TRANSFER_KINDS", "CallCenter", "CallSide", "CenterConfig", "Conversation",
           "FeatureCodes", "TransferRefused", "Transferred", "center_config",
           "transfer_target_error"]

log = logging.getLogger("pycc.center")

#: How many services one caller may pass through (IVR -> queue -> overflow ...): a guard
#: against configurations that send a caller round in circles.
MAX_HOPS = 20
#: Where a live call can be transferred to.
TRANSFER_KINDS: Final = ("extension", "queue", "ivr", "number", "conference", "agent")
_NUMBER: Final = re.compile(r"\+?[0-9*#]{1,64}")
_EXTENSION: Final = re.compile(r"[0-9A-Za-z*#+._-]{1,32}")
_CONFERENCE: Final = re.compile(r"[0-9A-Za-z._-]{1,64}")


@dataclass(frozen=True, slots=True)
class FeatureCodes:
    """Numbers a phone dials to act on the call center (Asterisk-style star codes)."""

    login: str = "*21"
    logout: str = "*22"
    ready: str = "*23"
    not_ready: str = "*24"
    listen: str = "*33"
    whisper: str = "*34"
    barge: str = "*35"


@dataclass(frozen=True)
class CenterConfig:
    """What the tenant's ``pycc apply`` file says, in the form the services take."""

    dial_plan: DialPlan | None = None
    flows: Mapping[str, Flow] = field(default_factory=dict)
    agents: Sequence[AgentConfig] = ()
    queues: Sequence[tuple[QueueConfig, QueueMedia]] = ()
    trunks: Sequence[TrunkConfig] = ()
    max_calls: int | None = None
    time_zone: str | tzinfo = "UTC"
    features: FeatureCodes = FeatureCodes()
    #: The ``campaigns:`` entries as written (the dialer validates each when it starts it).
    campaigns: Sequence[Mapping[str, object]] = ()
    #: Which rate table prices the calls out (None: calls are not rated).
    rates: RatePlan | None = None
    #: The tenant's credit limit (None: none) and the start of the period it counts from.
    credit_limit: Decimal | None = None
    credit_since: float | None = None
    #: The codes agents may end a call with in wrap-up.
    dispositions: tuple[Disposition, ...] = DEFAULT_DISPOSITIONS


def transfer_target_error(kind: str, name: str, config: CenterConfig) -> tuple[str, str] | None:
    """Why a call cannot be transferred to the ``kind`` target ``name`` under ``config``: the
    field at fault ("kind" or "name") and what is wrong; None when it can. Whether an
    extension exists is not known here (the tenant's extensions are in the store)."""
    if kind not in TRANSFER_KINDS:
        return "kind", f"must be one of {', '.join(TRANSFER_KINDS)}, not {kind!r}"
    if kind == "queue":
        if name not in {queue.name for queue, _media in config.queues}:
            return "name", f"no queue {name!r}"
    elif kind == "ivr":
        if name not in config.flows:
            return "name", f"no IVR flow {name!r}"
    elif kind == "agent":
        if name not in {agent.id for agent in config.agents}:
            return "name", f"no agent {name!r}"
    elif kind == "number":
        if _NUMBER.fullmatch(name) is None:
            return "name", f"{name!r} is not a number (digits, * and #, an optional +)"
    elif kind == "extension":
        if _EXTENSION.fullmatch(name) is None:
            return "name", f"{name!r} is not an extension number"
    elif _CONFERENCE.fullmatch(name) is None:
        return "name", f"{name!r} is not a conference name (letters, digits, . _ -)"
    return None


class TransferRefused(Exception):
    """A transfer that cannot be done: ``field`` names the request's part at fault
    ("party", "target.kind", "target.name"), None when the call's state is (not answered,
    ended meanwhile, another transfer under way)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CallSide:
    """One party of a live conversation: party "a" (the caller) or "b" (the callee's leg) of
    a B2BUA call, or the far end of a call pycc placed (its only party, "b")."""

    call: Call | OutboundCall
    party: str = "b"

    @property
    def id(self) -> str:
        """The id the API lists the party's call by."""
        return self.call.call_id if isinstance(self.call, Call) else self.call.id

    @property
    def number(self) -> str:
        """Who the party is: its extension or phone number."""
        if isinstance(self.call, Call):
            return self.call.caller if self.party == "a" else self.call.callee
        return self.call.target


@dataclass(frozen=True, slots=True)
class Conversation:
    """The parties of a live call as the API names them: its ``caller`` and its ``callee``
    (None when nobody is connected there: a caller in an IVR or waiting in a queue), and
    which of the two is the ``outside`` party a transfer keeps unless told otherwise."""

    caller: CallSide | None
    callee: CallSide | None
    outside: str

    def side(self, party: str) -> CallSide | None:
        if party == "caller":
            return self.caller
        return self.callee if party == "callee" else None


@dataclass(frozen=True, slots=True)
class Transferred:
    """A transfer done: ``kept`` (now running the target) and ``released`` (hung up, or
    None when nobody else was on the call)."""

    call_id: str
    party: str
    kept: CallSide
    released: CallSide | None
    kind: str
    name: str


#: Seconds the first party of an attended transfer waits for the second to be handed over.
MEET_TIMEOUT = 10.0


class CallCenter:
    """Router and inbound services of one tenant, over the B2BUA and the media engine."""

    def __init__(self, b2bua: B2BUA, originator: Originator, registrar: Registrar,
                 engine: MediaEngine, *, data_dir: Path, bus: Bus | None = None,
                 store: AsyncStore | None = None, tenant_id: int | None = None,
                 trunks: TrunkManager | None = None, node: str = "") -> None:
        self.b2bua = b2bua
        self.originator = originator
        self.registrar = registrar
        self.engine = engine
        self.data_dir = data_dir
        self.bus = bus or Bus()
        self.store = store
        self.tenant_id = tenant_id
        self.trunks = trunks
        self.node = node
        self.config = CenterConfig()
        self.tally = KeyTally()
        self.tts = Tts(data_dir / "tts")
        self._pending_events: list[AgentTransition] = []
        # Each agent's last answered phone call, whose hold counts in the caller's record.
        self._agent_legs: dict[str, OutboundCall] = {}
        # The customer calls placed and not yet ended, by number: the dialer's contact
        # reaches them through the ACD's offer to the agent.
        self._placed: dict[str, OutboundCall] = {}
        # The services transfers run on calls pycc placed, by call id, and the calls whose
        # transfer is under way.
        self._services: dict[str, asyncio.Task[None]] = {}
        self._transferring: set[str] = set()
        self.acd = AcdService(engine, self._ring_agent, bus=self.bus,
                              dial_customer=self._dial_customer, prompt=self.resolve_prompt,
                              record_event=self._pending_events.append,
                              hang_up_agent=lambda out, cause: originator.hangup(out, cause))

    # -- configuration ---------------------------------------------------------------------
    def configure(self, config: CenterConfig) -> None:
        self.config = config
        self.acd.configure(config.agents, config.queues)
        if self.trunks is not None:
            self.trunks.configure(config.trunks)
        self.b2bua.recorder.configure(
            config.rates, {queue.name: queue.wrap_up for queue, _media in config.queues},
            config.credit_limit, config.credit_since)

    @property
    def credit(self) -> CreditTracker:
        """The tenant's billed total against its credit limit."""
        return self.b2bua.recorder.credit

    # -- routing ---------------------------------------------------------------------------
    def route(self, call: Call) -> RouteTo | None:
        """The B2BUA's router hook: where ``call`` goes (None: ring the extension it dialled).

        A call an agent's phone makes, or one that rings an agent's extension directly (not
        through a queue), names that agent in its record, so that it is among the agent's
        own calls; a queue or a campaign names theirs later, which takes precedence."""
        dialing = call.caller
        route = self._route(call)
        if call.from_trunk is None and not (route is not None
                                            and route.label.startswith("feature:")):
            self._name_agent(call, dialing)  # not for log-in codes and the like
        if route is None or route.kind == "extension":
            self._name_agent(call, route.number if route is not None else call.callee)
        return route

    def _name_agent(self, call: Call, extension: str) -> None:
        agent_id = self.acd.agent_for_extension(extension) if extension else None
        if agent_id is not None:
            call.media_info.setdefault("agent", agent_id)

    def _route(self, call: Call) -> RouteTo | None:
        called, caller = call.callee, call.caller
        if call.from_trunk is None:
            feature = self._feature(called, caller)
            if feature is not None:
                return feature
        limit = self.config.max_calls
        if limit is not None and self.b2bua.active_calls() >= limit:
            return RouteTo("reject", status=503, reason="Tenant Call Limit", label="limit")
        plan = self.config.dial_plan
        if plan is None:
            return None
        decision = plan.route(called, caller, instant_from_epoch(time.time()),
                              tenant_time_zone=self.config.time_zone)
        if decision is None:
            return None
        action = decision.action
        label = decision.rule
        call.caller = decision.calling if call.from_trunk is None else call.caller
        if isinstance(action, Reject):
            return RouteTo("reject", status=action.status, reason=action.reason, label=label)
        if isinstance(action, Extension):
            return RouteTo("extension", number=action.number, label=label)
        if isinstance(action, Trunk):
            call.callee = decision.called
            if self.credit.exhausted:
                return RouteTo("reject", status=402, reason="Credit Limit Reached",
                               label=label)
            ways = self._ways_out(action.names, decision.called, decision.calling)
            if not ways:
                return RouteTo("reject", status=503, reason="No Trunk Available", label=label)
            return RouteTo("outside", outside=tuple(ways), label=label)
        target: Target
        if isinstance(action, Queue):
            target = Target("queue", action.name)
        elif isinstance(action, Ivr):
            target = Target("ivr", action.flow)
        elif isinstance(action, Conference):
            target = Target("conference", action.name)
        else:  # pragma: no cover - every action kind is handled above
            return None
        return RouteTo("application", application=self._application(target), label=label)

    def _ways_out(self, names: Sequence[str], called: str, calling: str) -> list[Outside]:
        """The trunks ``names`` that are up and have room, in failover order; each claims a
        call slot that the call gives back when it ends."""
        if self.trunks is None:
            return []
        if self.credit.exhausted:
            log.info("call to %s not placed: the credit limit is reached", called)
            return []
        ways: list[Outside] = []
        for name in names:
            trunk = self.trunks.get(name)
            if trunk is None or not trunk.up or not trunk.claim():
                continue
            try:
                # The trunk's own translations (caller ID, number format) apply here.
                uri = trunk.request_uri(called)
            except ValueError as exc:
                log.info("trunk %s: %s", name, exc)
                trunk.release()
                continue
            ways.append(Outside(uri=uri, destination=trunk.config.address,
                                from_header=trunk.from_header(calling),
                                authorize=trunk.authorization, release=trunk.release,
                                trunk=name, number=called))
        return ways

    def flow_application(self, flow: CoroutineFlow) -> Application:
        """A developer's IVR coroutine (``async def flow(call: IvrCall) -> Target | None``)
        as a number's application: a Target it returns (a queue, another flow, an extension)
        is followed like a declarative flow's transfer."""
        async def run(channel: Channel) -> None:
            outcome = await run_coroutine(flow, self._ivr_call(channel))
            name = getattr(flow, "__name__", "flow")
            channel.details["ivr_path"] = name
            if outcome.target is not None and not outcome.hung_up:
                await self.run_target(channel, outcome.target)
                path = channel.details.get("ivr_path")
                channel.details["ivr_path"] = f"{name}>{path}" if path != name else name

        return run

    def _application(self, target: Target) -> Application:
        async def run(channel: Channel) -> None:
            await self.run_target(channel, target)

        return run

    # -- the services a caller moves through ----------------------------------------------
    async def run_target(self, channel: Channel, target: Target | None) -> None:
        """Take the answered caller on ``channel`` through ``target`` and wherever it leads."""
        path: list[str] = []
        hops = 0
        try:
            while target is not None:
                if hops == MAX_HOPS:
                    log.warning("call on %s: more than %d services, hanging up",
                                channel.name, MAX_HOPS)
                    channel.hangup()
                    break
                hops += 1
                target = await self._run_one(channel, target, path)
        except ChannelGone:
            pass
        except Exception:
            log.exception("call on %s: %s failed", channel.name, target)
            channel.hangup()
        finally:
            if path:
                channel.details["ivr_path"] = ">".join(path)[:500]

    async def _run_one(self, channel: Channel, target: Target, path: list[str]) -> \
            Target | None:
        kind, name = target.kind, target.name
        if kind == "ivr":
            flow = self.config.flows.get(name)
            if flow is None:
                log.warning("no IVR flow %r", name)
                return None
            call = self._ivr_call(channel)
            outcome = await run_flow(flow, call, flows=self.config.flows,
                                     tally=self.tally)
            path.extend(outcome.path)
            return None if outcome.hung_up else outcome.target
        if kind == "queue":
            details = channel.details
            details["queue"] = name
            entered = time.time()
            details.setdefault("queue_enter", round(entered, 3))
            info = self.call_info(channel)
            if path:  # the IVR steps so far, for the agent's screen
                info["ivr_path"] = ">".join(path)[-200:]
            result = await self.acd.enqueue(channel, name, caller=channel.caller, info=info)
            details["queue_wait"] = round(result.waited, 3)
            details["queue_exit"] = round(entered + result.waited, 3)
            if result.agent is not None:
                details["agent"] = result.agent
                details["agent_answer"] = result.agent_answer
                details["hold_seconds"] = self._agent_hold(result.agent)
            path.append(f"queue:{name}={result.outcome}")
            if result.outcome == "overflow" and result.target is not None:
                return _from_overflow(result.target)
            if result.outcome == "overflow":
                await channel.play("tone:congestion", duration=3.0)
            return None
        if kind == "conference":
            path.append(f"conference:{name}")
            room = self.engine.conference(name)
            await room.join(channel)
            try:
                await channel.ended.wait()
            finally:
                await room.leave(channel)
            return None
        if kind == "extension":
            path.append(f"extension:{name}")
            await self._connect(channel, self._call_extension(name, channel.caller))
            return None
        if kind == "number":
            path.append(f"number:{name}")
            await self._connect_number(channel, name)
            return None
        if kind == "voicemail":
            path.append(f"voicemail:{name}")
            call = self._ivr_call(channel)
            recorded = await call.record(f"voicemail-{name}", max_seconds=120)
            self.bus.publish("voicemail.left", box=name, caller=channel.caller,
                             file=str(recorded))
            return None
        log.warning("unknown target kind %r", kind)
        return None

    def _ivr_call(self, channel: Channel) -> IvrCall:
        return IvrCall(channel, caller=channel.caller, called=channel.called,
                       files_dir=self.data_dir / "files",
                       prompts_dir=self.data_dir / "prompts", tts=self.tts)

    async def _connect(self, channel: Channel, out: OutboundCall | None) -> None:
        """Ring ``out`` while the caller hears ringback; bridge them when it answers."""
        if out is None:
            await channel.play("tone:congestion", duration=3.0)
            return
        try:
            answered = await self._ring_with_tone(channel, out)
            if not answered or out.channel is None:
                await channel.play("tone:busy", duration=3.0)
                return
            self.engine.release_mix(channel)
            self.engine.bridge(channel, out.channel)
            await _first_of(channel, out)
        finally:
            self.originator.hangup(out, "200 BYE")

    async def _connect_number(self, channel: Channel, number: str) -> None:
        """Transfer the caller to ``number``: an extension of this switch, else out over the
        trunks the dial plan names for it, the next trunk when one fails (no answer within
        the transaction, or a 5xx), as a B2BUA call would."""
        if self.registrar.lookup(number):
            await self._connect(channel, self._call_extension(number, channel.caller))
            return
        ways = self._trunk_ways(number, channel.caller)
        if not ways:
            await channel.play("tone:congestion", duration=3.0)
            return
        try:
            while ways:
                way = ways.pop(0)
                out = self.originator.call(number, [(way.uri, way.destination, [])],
                                           caller=channel.caller or "pycc")
                self._track(out, way.trunk, "transfer", callee=way.number)
                answered = await self._ring_with_tone(channel, out)
                if answered and out.channel is not None:
                    try:
                        self.engine.bridge(channel, out.channel)
                        await _first_of(channel, out)
                    finally:
                        self.originator.hangup(out, "200 BYE")
                        if way.release is not None:
                            way.release()
                    return
                if way.release is not None:
                    way.release()
                if not (out.status == 408 or out.status >= 500) or channel.ended.is_set():
                    break
            await channel.play("tone:busy", duration=3.0)
        finally:
            for way in ways:
                if way.release is not None:
                    way.release()

    def _trunk_ways(self, number: str, caller: str) -> list[Outside]:
        plan = self.config.dial_plan
        if plan is None:
            return []
        decision = plan.route(number, caller, instant_from_epoch(time.time()),
                              tenant_time_zone=self.config.time_zone)
        if decision is None or not isinstance(decision.action, Trunk):
            return []
        return self._ways_out(decision.action.names, decision.called, decision.calling)

    async def _ring_with_tone(self, channel: Channel, out: OutboundCall) -> bool:
        tone = asyncio.ensure_future(channel.play("tone:ringback"))
        try:
            return await out.wait_answered(60.0)
        finally:
            tone.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChannelGone):
                await tone
            if not out.answered:
                self.originator.cancel(out)

    # -- placing calls ---------------------------------------------------------------------
    def _ring_agent(self, agent_id: str, extension: str, caller: str,
                    info: Mapping[str, str]) -> OutboundCall | None:
        headers = [(f"X-Pycc-{_header_name(key)}", _header_value(value))
                   for key, value in info.items() if _header_name(key)]
        # A preview shows the customer on the phone's screen, a queue call the queue.
        display = info.get("display") or f"queue:{info.get('queue', agent_id)}"
        out = self._call_extension(extension, caller or "pycc", display=display,
                                   headers=headers)
        if out is None:
            return None
        customer = self._placed.get(caller)
        if customer is not None and customer.answered and info.get("campaign"):
            # A customer pycc called, offered to the agent (the dialer hands the ACD its
            # campaign and contact): the customer's record names them.
            details = customer.details
            for key in ("queue", "campaign", "contact"):
                if info.get(key) and not details.get(key):
                    details[key] = info[key]

        def answered(future: asyncio.Future[bool]) -> None:
            if not future.cancelled() and future.result():
                self._agent_legs[agent_id] = out

        out.result.add_done_callback(answered)
        return out

    def _agent_hold(self, agent_id: str) -> float:
        """How long ``agent_id``'s phone held its last answered call."""
        leg = self._agent_legs.get(agent_id)
        if leg is None:
            return 0.0
        end = leg.end if leg.end is not None else time.time()
        return round(leg.hold.seconds(end), 3)

    def _track(self, out: OutboundCall, trunk: str | None, route: str, *,
               campaign: str | None = None, contact: str | None = None,
               callee: str | None = None) -> None:
        """Give a call pycc placed to a customer its call record: open now, answered, closed
        when it ends. ``callee`` is the number after the dial plan's translation."""
        recorder = self.b2bua.recorder
        out.details.update(direction="outbound" if trunk else "internal", trunk=trunk,
                           route=route, campaign=campaign, contact=contact,
                           callee_dialed=out.target, callee=callee or out.target)
        self._placed[out.target] = out
        recorder.opened(out)

        def answered(future: asyncio.Future[bool]) -> None:
            if not future.cancelled() and future.result():
                recorder.answered(out)

        out.result.add_done_callback(answered)
        out.on_end.append(self._placed_ended)

    def _placed_ended(self, out: OutboundCall) -> None:
        if self._placed.get(out.target) is out:
            del self._placed[out.target]
        details = out.details
        agent = details.get("agent")
        if isinstance(agent, str):
            details["hold_seconds"] = self._agent_hold(agent)
        if details.get("queue") is None and details.get("queue_wait") is not None:
            details["queue"] = self._campaign_queue(details.get("campaign"))
        # The service a transfer runs on the call notes its last steps as it sees it end.
        record_after(self._services.get(out.id), lambda: self.b2bua.recorder.record(out))

    def _campaign_queue(self, campaign: object) -> str | None:
        for raw in self.config.campaigns:
            if raw.get("name") == campaign and isinstance(raw.get("queue"), str):
                return str(raw["queue"])
        return None

    def _call_extension(self, number: str, caller: str, display: str | None = None,
                        headers: list[tuple[str, str]] | None = None) -> OutboundCall | None:
        locations = self.registrar.lookup(number)
        if not locations:
            return None
        try:
            return self.originator.call_locations(number, locations, caller=caller or "pycc",
                                                  display_name=display, extra_headers=headers)
        except Exception as exc:
            log.warning("cannot call %s: %s", number, exc)
            return None

    def _dial_customer(self, number: str) -> OutboundCall | None:
        """Call ``number`` back (a queue's callback): an extension of this switch, else out
        over the dial plan's trunks for that number."""
        return self.dial_out(number, "pycc", (), route="callback")

    def dial_out(self, number: str, caller_id: str, trunks: Sequence[str], *,
                 campaign: str | None = None, contact: str | None = None,
                 route: str = "dial_out") -> OutboundCall | None:
        """A call pycc places to a customer: a local extension's phones, else out over the
        first of ``trunks`` that is up and has room, or with no ``trunks`` the trunks the dial
        plan names for the number (None: no way to place it, or the tenant's credit limit is
        reached). The call gets a record of its own, naming ``campaign`` and ``contact`` (a
        dialer's) and ``route`` (what placed it)."""
        if self.registrar.lookup(number):
            local = self._call_extension(number, caller_id)
            if local is not None:
                self._track(local, None, route, campaign=campaign, contact=contact)
            return local
        ways = (self._ways_out(trunks, number, caller_id) if trunks
                else self._trunk_ways(number, caller_id))
        if not ways:
            return None
        first = ways[0]
        for other in ways[1:]:
            if other.release is not None:
                other.release()
        try:
            out = self.originator.call(number, [(first.uri, first.destination, [])],
                                       caller=caller_id)
        except Exception:
            if first.release is not None:
                first.release()
            raise
        if first.release is not None:
            release = first.release
            out.on_end.append(lambda _call: release())
        self._track(out, first.trunk, route, campaign=campaign, contact=contact,
                    callee=first.number)
        return out

    def click_to_call(self, extension: str, number: str,
                      caller_id: str = "") -> OutboundCall | None:
        """Ring ``extension``'s phones about ``number``; once one answers, dial ``number``
        (as ``caller_id``, by default the extension) and connect the two when it answers.
        Either side hanging up ends the other. None: the extension has no phone registered.
        """
        first = self._call_extension(extension, number, display=f"call {number}")
        if first is None:
            return None

        def drop(call: OutboundCall, cause: str) -> None:
            if call.state in (OutboundState.TRYING, OutboundState.RINGING):
                self.originator.cancel(call, cause)
            elif call.state is OutboundState.ANSWERED:
                self.originator.hangup(call, cause)

        def extension_answered(future: asyncio.Future[bool]) -> None:
            if future.cancelled() or not future.result():
                return
            second = self.dial_out(number, caller_id or extension, ())
            if second is None:
                drop(first, "480 Cannot Reach Number")
                return

            def number_answered(result: asyncio.Future[bool]) -> None:
                if result.cancelled() or not result.result() or first.channel is None or \
                        second.channel is None:
                    drop(first, f"{second.status or 480} Not Answered")
                    return
                # The customer first, as for queue calls: a recording of the conversation
                # has them on the left and follows them through a transfer.
                self.engine.bridge(second.channel, first.channel)

            second.result.add_done_callback(number_answered)
            second.on_end.append(lambda _call: drop(first, "200 BYE"))
            first.on_end.append(lambda _call: drop(second, "200 BYE"))

        first.result.add_done_callback(extension_answered)
        return first

    async def resolve_prompt(self, prompt: str) -> str | Path:
        """What ``Channel.play`` takes for a prompt of the configuration (``tts:`` rendered,
        relative files under the data dir's prompts)."""
        if prompt.startswith("tts:"):
            return await self.tts.render(prompt[4:])
        path = Path(prompt)
        if not prompt.startswith("tone:") and not path.is_absolute():
            return self.data_dir / "prompts" / path
        return prompt

    # -- transfer --------------------------------------------------------------------------
    def call_id_of(self, channel: Channel) -> str | None:
        """The id the API lists for the call ``channel`` belongs to."""
        session = channel.session
        call = self.b2bua.find(session.name)
        if call is not None:
            return call.call_id
        return next((out.id for out in self.originator.calls.values() if out.media is session),
                    None)

    def call_info(self, channel: Channel) -> dict[str, str]:
        """What an agent's phone is told of the call on ``channel`` (``X-Pycc-*`` headers):
        the call's id, so that the agent's desktop can name the call it wraps up, and the
        IVR steps the caller took."""
        info: dict[str, str] = {}
        call_id = self.call_id_of(channel)
        if call_id is not None:
            info["call"] = call_id
        path = channel.details.get("ivr_path")
        if isinstance(path, str) and path:
            info["ivr_path"] = path
        return info

    def leg_call_id(self, sip_call_id: str) -> str | None:
        """The id the API lists for the call a phone talks on, given the SIP Call-ID of the
        phone's leg (pycc's INVITE to the phone, or the phone's own INVITE); None while that
        is not known yet (pycc called the phone for a customer not connected yet)."""
        for call in self.b2bua.calls.values():
            if call.call_id == sip_call_id or any(
                    leg.invite.call_id == sip_call_id for leg in call.legs):
                return call.call_id
        for out in self.originator.calls.values():
            if any(branch.invite.call_id == sip_call_id for branch in out.branches):
                # pycc called the phone for another call (a queue's caller, a preview's
                # customer): that call, once connected, is the one the phone talks on.
                if out.answered:
                    talk = self.conversation(out)
                    for side in (talk.caller, talk.callee):
                        if side is not None and side.call is not out:
                            return side.id
                return None
        return None

    def find_call(self, call_id: str) -> Call | OutboundCall | None:
        """The live call the API lists as ``call_id``: routed through pycc, or placed."""
        call = self.b2bua.find(call_id)
        if call is not None:
            return call
        out = self.originator.calls.get(call_id)
        if out is None or out.state in (OutboundState.ENDED, OutboundState.FAILED):
            return None
        return out

    def conversation(self, call: Call | OutboundCall) -> Conversation:
        """Who is on ``call``. For a call routed through pycc the caller is its A leg and the
        callee its B leg, or whoever a service connected the caller to (an agent, a phone);
        for a call pycc placed the callee is the phone it called and the caller whoever that
        phone talks to. The outside party is the one who called in, the number called out
        over a trunk, or a customer pycc dialed."""
        if isinstance(call, Call):
            if call.winner is not None and call.released is None:
                out_over_trunk = call.winner.outside is not None and call.from_trunk is None
                return Conversation(CallSide(call, "a"), CallSide(call, "b"),
                                    "callee" if out_over_trunk else "caller")
            kept = "b" if call.released == "a" else "a"
            own = CallSide(call, kept)
            peer = self._peer(call.media, kept) if call.media is not None else None
            if kept == "a":
                return Conversation(own, peer, "caller")
            return Conversation(peer, own, "callee")
        own = CallSide(call)
        peer = self._peer(call.media, "b")
        outside = "callee"
        if peer is not None and (isinstance(peer.call, Call) or (
                _is_customer(peer.call) and not _is_customer(call))):
            outside = "caller"
        return Conversation(peer, own, outside)

    def _peer(self, session: MediaSession, party: str) -> CallSide | None:
        """The party of another call that ``party`` of ``session`` is bridged to."""
        channel = self.engine.find(session, "a" if party == "a" else "b")
        other = self.engine.linked(channel) if channel is not None else None
        if other is None:
            return None
        owner = other.session.owner
        if isinstance(owner, Call) and owner.state is CallState.ANSWERED:
            return CallSide(owner, other.party)
        if isinstance(owner, OutboundCall) and owner.answered:
            return CallSide(owner)
        return None

    def agents_on(self, conversation: Conversation) -> set[str]:
        """The agents whose phones are parties of ``conversation``."""
        found: set[str] = set()
        for side in (conversation.caller, conversation.callee):
            if side is not None:
                found |= self._agents_at(side.number)
        return found

    def _agents_at(self, number: str) -> set[str]:
        if not number:
            return set()
        found = {agent.id for agent in self.acd.agent_configs.values()
                 if agent.extension == number}
        found |= {agent_id for agent_id, agent in self.acd.distributor.agents.items()
                  if agent.extension == number}
        return found

    async def transfer(self, call_id: str, kind: str, name: str, party: str | None = None, *,
                       by: str = "") -> Transferred:
        """Blind-transfer the live call ``call_id`` to the ``kind`` target ``name``: ``party``
        ("caller" or "callee"; None: the outside party) stays on the line and is taken
        through the target, the other party is hung up. Returns once the target runs.
        Raises LookupError for an unknown call, TransferRefused for the rest."""
        found = self.find_call(call_id)
        if found is None:
            raise LookupError(f"no call {call_id!r}")
        problem = transfer_target_error(kind, name, self.config)
        if problem is not None:
            raise TransferRefused(f"target.{problem[0]}", problem[1])
        if kind == "extension" and not await self.b2bua.extension_known(name):
            raise TransferRefused("target.name", f"no extension {name!r}")
        chosen, keep, other = self._parties(call_id, found, party)
        await self._hand_over(call_id, keep, other, self._transfer_application(kind, name))
        self._published_transfer(call_id, chosen, keep, other, kind, name, by)
        return Transferred(call_id, chosen, keep, other, kind, name)

    async def join(self, first_id: str, second_id: str, *, first_party: str | None = None,
                   second_party: str | None = None, by: str = "") -> tuple[Transferred,
                                                                           Transferred]:
        """Attended transfer: the kept party of ``first_id`` (``first_party``, by default its
        outside party: the customer an agent put on hold) and the kept party of
        ``second_id`` (by default its outside party: whom the agent consulted) are
        connected to each other; the other party of each call (the agent) is hung up.
        Both calls are checked before either is touched. Raises like `transfer`."""
        if first_id == second_id:
            raise TransferRefused("call", "a call cannot be joined with itself")
        checked = []
        for call_id, party in ((first_id, first_party), (second_id, second_party)):
            found = self.find_call(call_id)
            if found is None:
                raise LookupError(f"no call {call_id!r}")
            checked.append((call_id, *self._parties(call_id, found, party)))
        meet_first, meet_second = self._meeting()
        done = []
        for (call_id, chosen, keep, other), application, peer in zip(
                checked, (meet_first, meet_second), (second_id, first_id), strict=True):
            await self._hand_over(call_id, keep, other, application)
            self._published_transfer(call_id, chosen, keep, other, "call", peer, by)
            done.append(Transferred(call_id, chosen, keep, other, "call", peer))
        return done[0], done[1]

    async def add_to_conversation(self, call_id: str, agent_id: str, *,
                                  party: str | None = None, by: str = "") -> Transferred:
        """A three-way call: the kept party of ``call_id`` (whom the agent consulted; by
        default its outside party) joins the conversation of ``agent_id`` with its queue's
        caller, all three hearing each other; the other party of ``call_id`` (the agent's
        consulting leg) is hung up. Raises like `transfer`."""
        found = self.find_call(call_id)
        if found is None:
            raise LookupError(f"no call {call_id!r}")
        if not self.acd.in_conversation(agent_id):
            raise TransferRefused(None, f"agent {agent_id!r} is not talking with a caller of "
                                        "a queue or campaign")
        chosen, keep, other = self._parties(call_id, found, party)

        async def join(channel: Channel) -> None:
            monitor = self.acd.monitor(channel, agent_id, "barge")
            if monitor is None:
                await channel.play("tone:congestion", duration=1.5)
                return
            waits = {asyncio.ensure_future(c.ended.wait())
                     for c in (channel, monitor.agent, monitor.customer)}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
                self.acd.stop_monitor(channel)

        await self._hand_over(call_id, keep, other, join)
        self._published_transfer(call_id, chosen, keep, other, "agent", agent_id, by)
        return Transferred(call_id, chosen, keep, other, "agent", agent_id)

    def _parties(self, call_id: str, found: Call | OutboundCall,
                 party: str | None) -> tuple[str, CallSide, CallSide | None]:
        """(the party named, its side kept, the other side) of an answered call that no
        transfer is taking; TransferRefused otherwise."""
        answered = found.state is CallState.ANSWERED if isinstance(found, Call) \
            else found.answered
        if not answered:
            raise TransferRefused(None, f"call {call_id!r} is not answered yet")
        talk = self.conversation(found)
        chosen = party or talk.outside
        keep = talk.side(chosen)
        if keep is None:
            raise TransferRefused("party", f"call {call_id!r} has no {chosen} on the line")
        if keep.id in self._transferring:
            raise TransferRefused(None, f"call {call_id!r} is being transferred already")
        other = talk.callee if chosen == "caller" else talk.caller
        return chosen, keep, other

    async def _hand_over(self, call_id: str, keep: CallSide, other: CallSide | None,
                         application: Application) -> None:
        """Take ``keep`` from what it is connected to, give it to ``application``, and hang
        ``other`` up."""
        self._transferring.add(keep.id)
        try:
            if isinstance(keep.call, Call):
                # The service on the call lets go and releases whoever it connected; what it
                # did not release (a bridge it no longer follows) is released here.
                await self.b2bua.hand_over(keep.call, keep.party, application)
                if other is not None and other.call is not keep.call:
                    self._release(other)
            else:
                channel = self.originator.hand_over(keep.call)
                if other is not None:
                    self._release(other)
                await self._serve_placed(keep.call, channel, application)
        except ChannelGone:
            raise TransferRefused(None, f"call {call_id!r} ended during its transfer") from None
        except ValueError as exc:
            raise TransferRefused(None, str(exc)) from None
        finally:
            self._transferring.discard(keep.id)

    def _published_transfer(self, call_id: str, chosen: str, keep: CallSide,
                            other: CallSide | None, kind: str, name: str, by: str) -> None:
        agents = sorted((self._agents_at(other.number) if other is not None else set())
                        | self._agents_at(keep.number))
        self.bus.publish("call.transferred", call=call_id, party=chosen, kept=keep.id,
                         released=other.id if other is not None else None, target=kind,
                         name=name, agent=agents[0] if agents else None, by=by)
        log.info("call %s: %s transferred to %s %s by %s", call_id, chosen, kind, name,
                 by or "pycc")

    def _meeting(self) -> tuple[Application, Application]:
        """Two services that connect the parties given to them (an attended transfer): the
        first waits for the second (`MEET_TIMEOUT` seconds at most), the second bridges
        them; the two stay connected until either hangs up, and then both calls end."""
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[Channel] = loop.create_future()
        over = asyncio.Event()

        async def first(channel: Channel) -> None:
            arrived.set_result(channel)
            ended = asyncio.ensure_future(channel.ended.wait())
            finished = asyncio.ensure_future(over.wait())
            try:
                await asyncio.wait({ended, finished}, timeout=None,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
                finished.cancel()

        async def second(channel: Channel) -> None:
            try:
                partner = await asyncio.wait_for(asyncio.shield(arrived), MEET_TIMEOUT)
            except TimeoutError:
                over.set()
                await channel.play("tone:congestion", duration=1.5)
                return
            try:
                self.engine.bridge(partner, channel)
            except (ValueError, ChannelGone) as exc:
                log.warning("attended transfer: cannot connect the parties: %s", exc)
                over.set()
                return
            waits = {asyncio.ensure_future(partner.ended.wait()),
                     asyncio.ensure_future(channel.ended.wait())}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
                self.engine.unbridge(channel)
                over.set()

        return first, second

    def _release(self, side: CallSide) -> None:
        """Hang up the party a transfer does not keep (its services follow as after any
        hang-up: an agent goes to wrap-up)."""
        if isinstance(side.call, Call):
            if side.call.state is CallState.ANSWERED:
                self.b2bua.hang_up(side.call, "200 Transferred")
        else:
            self.originator.hangup(side.call, "200 Transferred", force=True)

    async def _serve_placed(self, out: OutboundCall, channel: Channel,
                            application: Application) -> None:
        """Run ``application`` on a call pycc placed, once the service an earlier transfer
        ran on it has let go; the call ends with it."""
        previous = self._services.get(out.id)
        if previous is not None and not previous.done():
            done, _ = await asyncio.wait({previous}, timeout=APP_RECORD_GRACE)
            if not done:
                previous.cancel()
        if not out.answered:
            raise ChannelGone(out.id)
        channel.caller, channel.called = out.target, out.caller
        self._services[out.id] = asyncio.get_running_loop().create_task(
            self._run_placed(out, channel, application))

    async def _run_placed(self, out: OutboundCall, channel: Channel,
                          application: Application) -> None:
        try:
            await application(channel)
        except ChannelGone:
            pass
        except Exception:
            log.exception("call %s: the transfer's service failed", out.id)
        finally:
            if self._services.get(out.id) is asyncio.current_task():
                del self._services[out.id]
            # A later transfer gave the call another channel: the call is that one's now.
            if out.channel is channel:
                self.originator.hangup(out, "200 Application Ended", force=True)

    def _transfer_application(self, kind: str, name: str) -> Application:
        """The service a transferred party runs: the target and wherever it leads, noted
        after the steps the call took before (``...>transfer>queue:sales=answered``)."""
        def noted(before: object, steps: object) -> str:
            return ">".join(str(part) for part in (before, "transfer", steps) if part)[-500:]

        async def run(channel: Channel) -> None:
            details = channel.details
            before = details.get("ivr_path")
            # Noted at once: a record written while the target runs shows the transfer.
            start = details["ivr_path"] = noted(before, f"{kind}:{name}")
            try:
                if kind == "agent":
                    await self._to_agent(channel, name)
                else:
                    await self.run_target(channel, Target(cast(TargetKind, kind), name))
            finally:
                steps = details.get("ivr_path")
                details["ivr_path"] = noted(before, f"{kind}:{name}" if steps in (None, start)
                                            else steps)

        return run

    async def _to_agent(self, channel: Channel, agent_id: str) -> None:
        """Ring the agent's phone (where it is logged in, else its own extension) and
        connect the caller to it; the record names the agent once it answers."""
        config = self.acd.agent_configs.get(agent_id)
        agent = self.acd.distributor.agents.get(agent_id)
        extension = (agent.extension if agent is not None else None) or (
            config.extension if config is not None else None)
        out = self._call_extension(extension, channel.caller) if extension else None
        if out is not None:
            def answered(future: asyncio.Future[bool]) -> None:
                if not future.cancelled() and future.result():
                    channel.details.update(agent=agent_id, agent_answer=time.time())

            out.result.add_done_callback(answered)
        await self._connect(channel, out)

    # -- feature codes ---------------------------------------------------------------------
    def _feature(self, called: str, caller: str) -> RouteTo | None:
        codes = self.config.features
        agent_id = self.acd.agent_for_extension(caller)
        simple = {codes.login: "login", codes.logout: "logout", codes.ready: "ready",
                  codes.not_ready: "not_ready"}
        action = simple.get(called)
        if action is not None:
            return RouteTo("application", application=self._agent_feature(action, agent_id,
                                                                          caller),
                           label=f"feature:{action}")
        for code, mode in ((codes.listen, "listen"), (codes.whisper, "whisper"),
                           (codes.barge, "barge")):
            if called.startswith(code) and len(called) > len(code):
                target = called[len(code):]
                return RouteTo("application",
                               application=self._supervise(target, mode),  # type: ignore[arg-type]
                               label=f"feature:{mode}")
        return None

    def _agent_feature(self, action: str, agent_id: str | None, extension: str) -> Application:
        async def run(channel: Channel) -> None:
            if agent_id is None:
                await channel.play("tone:congestion", duration=1.5)
                return
            if action == "login":
                error = self.acd.login(agent_id, extension)
            elif action == "logout":
                error = self.acd.logout(agent_id)
            elif action == "ready":
                error = self.acd.ready(agent_id)
            else:
                error = self.acd.not_ready(agent_id, "break")
            # A short confirmation: one beep when done, the congestion tone when refused.
            await channel.play("tone:beep" if error is None else "tone:congestion",
                               duration=0.5 if error is None else 1.5)

        return run

    def _supervise(self, target: str, mode: MonitorMode) -> Application:
        """A supervisor dialled a monitor code and an agent id or extension: listen (1),
        whisper (2) or barge (3) on that agent's call, switching with the keys."""
        async def run(channel: Channel) -> None:
            agent_id = target if target in self.acd.agent_configs else \
                self.acd.agent_for_extension(target)
            monitor = self.acd.monitor(channel, agent_id, mode) if agent_id else None
            if monitor is None:
                await channel.play("tone:congestion", duration=1.5)
                return
            modes: dict[str, MonitorMode] = {"1": "listen", "2": "whisper", "3": "barge"}
            self.bus.publish("supervisor.monitor", agent=agent_id, supervisor=channel.caller,
                             mode=mode)
            try:
                while not channel.ended.is_set():
                    digit = await channel.collect(1, timeout=3600.0)
                    if digit in modes:
                        monitor.set_mode(modes[digit])
                        self.bus.publish("supervisor.monitor", agent=agent_id,
                                         supervisor=channel.caller, mode=modes[digit])
            finally:
                self.acd.stop_monitor(channel)
                self.bus.publish("supervisor.monitor", agent=agent_id,
                                 supervisor=channel.caller, mode="stopped")

        return run

    # -- persistence and state -------------------------------------------------------------
    async def flush(self) -> None:
        """Write the agent events and IVR key counts gathered since the last flush."""
        if self.store is None or self.tenant_id is None:
            self._pending_events.clear()
            self.tally.drain()
            return
        events, self._pending_events[:] = list(self._pending_events), []
        if events:
            await self.store.add_agent_events([{
                "tenant_id": self.tenant_id, "agent": e.agent,
                "from_status": e.from_status.value, "from_state": e.from_state.value,
                "to_status": e.to_status.value, "to_state": e.to_state.value,
                "reason": e.reason, "call_id": e.call_id, "at": e.at, "node": self.node,
            } for e in events])
        counts = self.tally.drain()
        if counts:
            await self.store.add_ivr_keys(self.tenant_id, counts)

    def status(self) -> dict[str, object]:
        state = self.acd.snapshot()
        if self.trunks is not None:
            state["trunks"] = self.trunks.snapshot()
        if self.credit.limit is not None:
            state["credit"] = self.credit.snapshot()
        return state

    def close(self) -> None:
        self.acd.close()


def center_config(spec: CallCenterSpec) -> CenterConfig:
    """The services' configuration from a validated ``pycc apply`` spec."""
    queues: list[tuple[QueueConfig, QueueMedia]] = []
    for queue in spec.queues:
        no_agents = None
        if queue.no_agents is not None and queue.no_agents.kind in _OVERFLOW_KINDS:
            no_agents = OverflowTarget(OverflowKind(queue.no_agents.kind), queue.no_agents.name)
        announce = queue.announce
        callback = queue.callback
        media = QueueMedia(
            music=queue.music,
            announce_every=announce.every if announce is not None else None,
            announce_position=announce.position if announce is not None else True,
            announce_wait=announce.wait if announce is not None else True,
            callback_key=callback.key if callback is not None else None,
            no_agents=no_agents,
            **({"callback_prompt": callback.prompt}
               if callback is not None and callback.prompt else {}),
        )
        queues.append((queue.config, media))
    agents = [AgentConfig(agent.id, agent.extension, dict(agent.skills), agent.name or "")
              for agent in spec.agents]
    return CenterConfig(
        dial_plan=spec.dial_plan,
        flows={name: ivr.flow for name, ivr in spec.ivr.items()},
        agents=agents,
        queues=queues,
        trunks=[trunk.config for trunk in spec.trunks],
        max_calls=spec.limits.calls if spec.limits is not None else None,
        campaigns=tuple(spec.campaigns),
        rates=spec.rates.plan if spec.rates is not None else None,
        credit_limit=spec.limits.credit if spec.limits is not None else None,
        credit_since=spec.limits.credit_since if spec.limits is not None else None,
        dispositions=spec.dispositions if spec.dispositions is not None
        else DEFAULT_DISPOSITIONS,
    )


_OVERFLOW_KINDS = frozenset(kind.value for kind in OverflowKind)


def _header_name(key: str) -> str:
    """``first_name`` -> ``First-Name``: a header token (RFC 3261 §25.1), or "" if none."""
    parts = ["".join(ch for ch in part if ch.isalnum()) for part in
             key.replace("_", "-").split("-")]
    return "-".join(part.capitalize() for part in parts if part)[:40]


def _header_value(value: str) -> str:
    """A header value with no line breaks or control characters, kept short."""
    return "".join(ch if ch.isprintable() else " " for ch in str(value))[:200]


def _is_customer(out: OutboundCall) -> bool:
    """Whether pycc placed ``out`` to a customer (it has a record of its own), not to an
    agent's or an extension's phone for another call."""
    return out.details.get("route") is not None


def _from_overflow(target: OverflowTarget) -> Target:
    return Target(target.kind.value, target.name)


async def _first_of(channel: Channel, out: OutboundCall) -> None:
    waits = {asyncio.ensure_future(channel.ended.wait()), asyncio.ensure_future(out.ended.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
