"""The running ACD: the pure :class:`~pycc.ccs.queue.Distributor` wired to real calls.

A caller's service (a route or an IVR transfer) calls :meth:`AcdService.enqueue` with the
caller's channel. The caller hears the queue's music, with its position and estimated wait
announced at the queue's interval, and may press the callback key to hang up and keep its
place. Each decision of the distributor is carried out here: an offer rings the agent's phone
(a call pycc places), the first agent to answer is bridged to the caller, a ring timeout or a
refusal puts the agent in not-ready and the next agent rings, an overflow hands the caller back
with where to go next. When either side hangs up, the other is hung up, the agent goes to
wrap-up and then becomes available again.

Every agent status/state change is published on the bus (topic ``agent.state``) and handed to
``record_event`` for the reports; queue joins and leaves are published as ``queue.joined`` and
``queue.left``. The distributor's timers run on one event-loop timer.

:meth:`AcdService.preview` is the agent-first call of preview dialing and of callbacks an agent
scheduled: the agent's phone rings showing the customer (``info`` as ``X-Pycc-*`` headers and
its display name), answering starts the call to the customer, and declining (486, 600 or 603)
passes on the contact with the agent staying available.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pycc.bus import Bus
from pycc.ccmanager.outbound import OutboundCall, OutboundState
from pycc.ccs.agent import AgentState, AgentStatus, AgentTransition, Refused
from pycc.ccs.queue import (
    AnnouncePosition,
    CallBackThenOffer,
    CallLeftQueue,
    Decision,
    Distributor,
    OfferCall,
    OverflowCall,
    OverflowReason,
    OverflowTarget,
    QueueConfig,
    RingAll,
    WithdrawOffer,
)
from pycc.ccs.skills import qualifies
from pycc.media.channel import Channel, ChannelGone, MediaEngine, Monitor, MonitorMode

__all__ = ["AcdService", "AgentConfig", "AgentView", "PreviewResult", "QueueMedia",
           "QueueResult"]

log = logging.getLogger("pycc.acd")

#: Causes that mean the agent's phone went away rather than the agent hanging up.
PHONE_LOST_CAUSES = ("RTP timeout", "408 ACK Timeout", "408 Request Timeout")
#: What an agent's phone answers to pass on a preview: Busy Here, Busy Everywhere, Decline.
DECLINE_STATUSES = frozenset({486, 600, 603})


@dataclass(frozen=True, slots=True)
class AgentConfig:
    id: str
    extension: str
    skills: Mapping[str, int] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True, slots=True)
class QueueMedia:
    """What a queue's callers hear and may do while they wait."""

    music: str = "tone:hold"
    announce_every: float | None = None
    announce_position: bool = True
    announce_wait: bool = True
    callback_key: str | None = None
    callback_prompt: str = "tts:We will call you back. Goodbye."
    no_agents: OverflowTarget | None = None


@dataclass(frozen=True, slots=True)
class QueueResult:
    """How a caller's time in a queue ended: ``answered`` (and the conversation is over),
    ``overflow`` (go to ``target``; None: nowhere, hang up), ``abandoned`` (the caller hung
    up), ``callback`` (the caller left to be called back), ``refused`` (no such queue)."""

    outcome: str
    waited: float = 0.0
    agent: str | None = None
    agent_answer: float | None = None
    target: OverflowTarget | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """How an agent-first call was decided: ``dialed`` (the agent accepted and ``customer`` is
    the call placed to the customer; pycc connects the two when it answers), ``unplaced`` (the
    agent accepted but the number could not be dialed), ``declined`` (the agent passed on it),
    ``no_agent`` (nobody took it in time) or ``refused`` (no such queue or agent)."""

    outcome: str
    agent: str | None = None
    customer: OutboundCall | None = None


@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent as a pacing decision sees it: ``wrap_up_left`` seconds of wrap-up to go,
    ``talking`` seconds into its current call (None when not in that state)."""

    agent: str
    status: AgentStatus
    state: AgentState
    free: bool
    wrap_up_left: float | None
    talking: float | None


@dataclass(eq=False)
class _Waiting:
    call_id: str
    queue: str
    caller: str
    channel: Channel | None
    enqueued_at: float
    done: asyncio.Future[QueueResult]
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    ringing: dict[str, OutboundCall] = field(default_factory=dict)
    connected: OutboundCall | None = None
    agent: str | None = None
    agent_answer: float | None = None
    waited: float = 0.0
    hold: asyncio.Task[None] | None = None
    callback: bool = False
    #: What travels with the call to the agent (a dialer's contact fields, a queue name).
    info: Mapping[str, str] = field(default_factory=dict)
    #: Agent-first calls: how to place the customer's call, and where the decision goes.
    dial: DialCustomer | None = None
    preview: asyncio.Future[PreviewResult] | None = None


#: Places a call to an agent's extension: (agent id, extension, caller number, what the
#: agent should see about the caller) -> the call, or None when the extension has no
#: registered phone.
RingAgent = Callable[[str, str, str, Mapping[str, str]], OutboundCall | None]
#: Places the callback call to a customer's number.
DialCustomer = Callable[[str], OutboundCall | None]
#: Turns a prompt (``tts:TEXT`` included) into what :meth:`Channel.play` takes.
PromptResolver = Callable[[str], Awaitable[str | Path]]


async def _as_is(prompt: str) -> str | Path:
    return prompt


class AcdService:
    """Queues, agents and the calls between them, for one tenant."""

    def __init__(self, engine: MediaEngine, ring: RingAgent, *, bus: Bus | None = None,
                 dial_customer: DialCustomer | None = None,
                 prompt: PromptResolver = _as_is,
                 record_event: Callable[[AgentTransition], None] | None = None,
                 hang_up_agent: Callable[[OutboundCall, str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.ring = ring
        self.bus = bus or Bus()
        self.dial_customer = dial_customer
        self.prompt = prompt
        self.record_event = record_event
        self.hang_up_agent = hang_up_agent
        self.clock = clock
        self.distributor = Distributor()
        self.agent_configs: dict[str, AgentConfig] = {}
        self.queue_media: dict[str, QueueMedia] = {}
        self._waiting: dict[str, _Waiting] = {}
        self._ids = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._monitors: dict[int, Monitor] = {}
        self._monitored: dict[int, str] = {}  # the agent of each monitor

    # -- configuration ---------------------------------------------------------------------
    def configure(self, agents: Sequence[AgentConfig],
                  queues: Sequence[tuple[QueueConfig, QueueMedia]]) -> None:
        """Add new agents and queues and update changed queues; agents and queues no longer
        configured are logged out / closed to new callers. A running call is never cut."""
        for config, media in queues:
            existing = self.distributor.queues.get(config.name)
            if existing is None:
                self.distributor.add_queue(config)
            else:
                self.distributor.reconfigure_queue(config)
            self.queue_media[config.name] = media
        for agent in agents:
            if agent.id not in self.distributor.agents:
                self.distributor.add_agent(agent.id, dict(agent.skills))
            else:
                self._run(self.distributor.set_skills(agent.id, dict(agent.skills),
                                                      self.clock()))
            self.agent_configs[agent.id] = agent
        wanted = {agent.id for agent in agents}
        for agent_id in list(self.agent_configs):
            if agent_id not in wanted:
                self.agent_configs.pop(agent_id)
                current = self.distributor.agents.get(agent_id)
                if current is not None and current.logged_in and \
                        current.state is AgentState.IDLE:
                    self._run(self.distributor.logout(agent_id, self.clock()))
        queue_names = {config.name for config, _ in queues}
        for name in list(self.queue_media):
            if name not in queue_names:
                self.queue_media.pop(name)

    def agent_for_extension(self, extension: str) -> str | None:
        return next((a.id for a in self.agent_configs.values() if a.extension == extension),
                    None)

    # -- agents ----------------------------------------------------------------------------
    def login(self, agent_id: str, extension: str | None = None) -> str | None:
        """Log ``agent_id`` in on ``extension`` (default: its configured one) and make it
        available; None when done, else why not."""
        config = self.agent_configs.get(agent_id)
        if config is None:
            return f"no agent {agent_id!r}"
        now = self.clock()
        refused = self._run(self.distributor.login(agent_id, extension or config.extension,
                                                   now))
        if refused:
            return refused
        agent = self.distributor.agents[agent_id]
        if agent.status is AgentStatus.AVAILABLE:
            return None
        return self._run(self.distributor.set_available(agent_id, now))

    def logout(self, agent_id: str) -> str | None:
        if agent_id not in self.agent_configs:
            return f"no agent {agent_id!r}"
        return self._run(self.distributor.logout(agent_id, self.clock()))

    def ready(self, agent_id: str) -> str | None:
        if agent_id not in self.agent_configs:
            return f"no agent {agent_id!r}"
        return self._run(self.distributor.set_available(agent_id, self.clock()))

    def end_wrap_up(self, agent_id: str) -> str | None:
        """End the agent's wrap-up now (its disposition is in); None also when it was not in
        wrap-up any more."""
        if agent_id not in self.agent_configs:
            return f"no agent {agent_id!r}"
        agent = self.distributor.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.WRAP_UP:
            return None
        return self._run(self.distributor.wrap_up_done(agent_id, self.clock()))

    def not_ready(self, agent_id: str, reason: str = "break") -> str | None:
        if agent_id not in self.agent_configs:
            return f"no agent {agent_id!r}"
        return self._run(self.distributor.set_not_ready(agent_id, reason, self.clock()))

    # -- callers ---------------------------------------------------------------------------
    async def enqueue(self, channel: Channel, queue: str, *, caller: str = "",
                      priority: int = 0, max_hold: float | None = None,
                      music: bool = True, info: Mapping[str, str] | None = None,
                      ) -> QueueResult:
        """Queue the caller on ``channel`` and return once its time in the queue is over (for
        an answered call: once the conversation with the agent has ended).

        ``max_hold``: give up after that many seconds without an agent (the result is
        ``abandoned``, the caller still on the line): what the dialer does with a customer who
        answered when no agent is free. ``music`` False keeps the caller in silence.
        ``info`` travels with the offer to the agent's phone (as ``X-Pycc-*`` headers)."""
        if queue not in self.distributor.queues:
            return QueueResult("refused", reason=f"no queue {queue!r}")
        call_id = f"{queue}-{next(self._ids)}"
        waiting = _Waiting(call_id, queue, caller, channel, self.clock(),
                           asyncio.get_running_loop().create_future(),
                           info={"queue": queue, **(info or {})})
        self._waiting[call_id] = waiting
        self.bus.publish("queue.joined", queue=queue, call=call_id, caller=caller)
        self._run(self.distributor.on_call_enqueued(call_id, queue, self.clock(),
                                                    priority=priority))
        loop = asyncio.get_running_loop()
        if music and not waiting.done.done() and waiting.connected is None:
            waiting.hold = loop.create_task(self._hold(waiting))
        expiry = None
        if max_hold is not None and not waiting.done.done():
            expiry = loop.call_later(max_hold, self._hold_expired, waiting)
        ended = asyncio.ensure_future(channel.ended.wait())
        finished = asyncio.ensure_future(waiting.finished.wait())
        try:
            waits: set[asyncio.Future[object]] = {waiting.done, ended, finished}  # type: ignore[arg-type]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done.done():
                result = waiting.done.result()
                if result.outcome == "callback" and waiting.hold is not None:
                    # Let the caller hear the confirmation before pycc hangs up.
                    await asyncio.wait({waiting.hold}, timeout=15.0)
                return result
            if waiting.connected is not None or waiting.finished.is_set():
                if channel.ended.is_set():
                    # The caller hung up on the agent.
                    self._end_agent_leg(waiting, "200 BYE")
                else:
                    channel.hangup()
                return self._answered_result(waiting)
            # The caller hung up while waiting or ringing.
            self._run(self.distributor.abandon(call_id, self.clock()))
            return QueueResult("abandoned", self.clock() - waiting.enqueued_at)
        finally:
            if expiry is not None:
                expiry.cancel()
            ended.cancel()
            finished.cancel()
            self._stop_hold(waiting)
            if waiting.callback:
                waiting.channel = None  # the caller hung up; it is called back later
            else:
                self._waiting.pop(call_id, None)
            for out in list(waiting.ringing.values()):
                self._cancel(out)

    async def preview(self, queue: str, number: str, dial: DialCustomer, *,
                      info: Mapping[str, str] | None = None, agent: str | None = None,
                      priority: int = 0, max_wait: float | None = None) -> PreviewResult:
        """Agent first: ring an idle agent of ``queue`` (only ``agent``, if given) about the
        customer ``number``, with ``info``; when the agent answers, ``dial(number)`` places the
        customer's call and pycc connects the two once the customer answers. Returns as soon as
        that is decided; the conversation goes on. ``max_wait``: give up (``no_agent``) after
        that many seconds without an agent taking it."""
        if queue not in self.distributor.queues:
            return PreviewResult("refused")
        loop = asyncio.get_running_loop()
        call_id = f"{queue}-{next(self._ids)}"
        waiting = _Waiting(call_id, queue, number, None, self.clock(), loop.create_future(),
                           callback=True, info={"queue": queue, **(info or {})}, dial=dial,
                           preview=loop.create_future())
        self._waiting[call_id] = waiting
        refused = self._run(self.distributor.on_call_enqueued(
            call_id, queue, self.clock(), priority=priority, callback=True, agent=agent))
        preview = waiting.preview
        assert preview is not None
        try:
            if refused is not None:
                return PreviewResult("refused")
            waits: set[asyncio.Future[object]] = {preview, waiting.done}  # type: ignore[arg-type]
            await asyncio.wait(waits, timeout=max_wait, return_when=asyncio.FIRST_COMPLETED)
            if preview.done():
                return preview.result()
            return PreviewResult("no_agent")  # overflowed (nobody logged in) or waited too long
        finally:
            if not preview.done():
                preview.cancel()
                self._waiting.pop(call_id, None)
                if self.distributor.call(call_id) is not None:
                    self._run(self.distributor.abandon(call_id, self.clock()))
                for out in list(waiting.ringing.values()):
                    self._cancel(out)

    def _hold_expired(self, waiting: _Waiting) -> None:
        if waiting.connected is not None or waiting.done.done():
            return
        self._run(self.distributor.abandon(waiting.call_id, self.clock()))
        if not waiting.done.done():
            waiting.done.set_result(QueueResult("abandoned", self.clock() - waiting.enqueued_at,
                                                reason="no agent within the hold limit"))

    def _answered_result(self, waiting: _Waiting) -> QueueResult:
        return QueueResult("answered", waiting.waited, waiting.agent, waiting.agent_answer)

    async def _hold(self, waiting: _Waiting) -> None:
        """Music, announcements and the callback offer while the caller waits."""
        media = self.queue_media.get(waiting.queue, QueueMedia())
        channel = waiting.channel
        assert channel is not None
        music = await self.prompt(media.music)
        try:
            while True:
                key = await channel.play(music, stop_on=media.callback_key or "",
                                         duration=media.announce_every)
                if key is not None and key == media.callback_key:
                    if self._take_callback(waiting):
                        with contextlib.suppress(Exception):
                            await channel.play(await self.prompt(media.callback_prompt))
                        return
                    continue
                if media.announce_every:
                    await self._announce(waiting, media)
        except ChannelGone:
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("queue %s: holding %s failed", waiting.queue, waiting.call_id)

    async def _announce(self, waiting: _Waiting, media: QueueMedia) -> None:
        channel = waiting.channel
        position = self.distributor.position(waiting.call_id)
        if channel is None or position is None:
            return
        words = []
        if media.announce_position:
            words.append(f"You are number {position} in the queue.")
        wait = self.distributor.estimated_wait(waiting.call_id)
        if media.announce_wait and wait is not None:
            minutes = max(1, round(wait / 60))
            words.append(f"Your estimated wait is {minutes} minute{'s' if minutes > 1 else ''}.")
        if not words:
            return
        try:
            prompt = await self.prompt("tts:" + " ".join(words))
        except Exception as exc:  # no speech synthesiser: the caller just hears music
            log.debug("queue %s: no announcement: %s", waiting.queue, exc)
            return
        await channel.play(prompt)

    def _take_callback(self, waiting: _Waiting) -> bool:
        decisions = self.distributor.request_callback(waiting.call_id, self.clock())
        if any(isinstance(d, Refused) for d in decisions):
            return False
        waiting.callback = True
        self._apply(decisions)
        self.bus.publish("queue.callback", queue=waiting.queue, call=waiting.call_id,
                         caller=waiting.caller)
        if not waiting.done.done():
            waiting.done.set_result(QueueResult("callback", self.clock() - waiting.enqueued_at))
        return True

    def _stop_hold(self, waiting: _Waiting) -> None:
        if waiting.hold is not None and not waiting.hold.done():
            waiting.hold.cancel()
        waiting.hold = None

    # -- decisions -------------------------------------------------------------------------
    def _run(self, decisions: list[Decision]) -> str | None:
        """Carry out ``decisions``; the first refusal's reason, if any."""
        refused = next((d.reason for d in decisions if isinstance(d, Refused)), None)
        self._apply(decisions)
        return refused

    def _apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            try:
                self._carry_out(decision)
            except Exception:
                log.exception("ACD decision %r failed", decision)
        self._schedule()

    def _carry_out(self, decision: Decision) -> None:
        if isinstance(decision, AgentTransition):
            self._transition(decision)
        elif isinstance(decision, OfferCall):
            self._offer(decision.call_id, decision.agent_id)
        elif isinstance(decision, RingAll):
            for agent_id in decision.agent_ids:
                self._offer(decision.call_id, agent_id)
        elif isinstance(decision, CallBackThenOffer):
            self._offer(decision.call_id, decision.agent_id)
        elif isinstance(decision, WithdrawOffer):
            waiting = self._waiting.get(decision.call_id)
            out = waiting.ringing.pop(decision.agent_id, None) if waiting else None
            if out is not None:
                self._cancel(out)
        elif isinstance(decision, OverflowCall):
            self._overflow(decision)
        elif isinstance(decision, CallLeftQueue):
            waiting = self._waiting.get(decision.call_id)
            if waiting is not None:
                waiting.waited = decision.waited
                if waiting.channel is not None:
                    waiting.channel.details["queue_wait"] = round(decision.waited, 3)
            self.bus.publish("queue.left", queue=decision.queue, call=decision.call_id,
                             outcome=decision.outcome.value, waited=decision.waited,
                             agent=decision.agent_id)
        elif isinstance(decision, AnnouncePosition):
            pass  # announced on the queue's own rhythm by _hold
        elif isinstance(decision, Refused):
            log.debug("ACD refused %s for %s: %s", decision.event, decision.subject,
                      decision.reason)

    def _transition(self, record: AgentTransition) -> None:
        self.bus.publish("agent.state", agent=record.agent,
                         status=record.to_status.value, state=record.to_state.value,
                         reason=record.reason, call=record.call_id,
                         previous=f"{record.from_status.value}/{record.from_state.value}")
        if self.record_event is not None:
            self.record_event(record)
        if record.from_state is AgentState.RESERVED and record.to_state is not \
                AgentState.ON_CALL and record.call_id is not None:
            # The offer is over (no answer, withdrawn, phone lost): stop the phone ringing.
            waiting = self._waiting.get(record.call_id)
            out = waiting.ringing.pop(record.agent, None) if waiting else None
            if out is not None:
                self._cancel(out)

    def _overflow(self, decision: OverflowCall) -> None:
        waiting = self._waiting.get(decision.call_id)
        if waiting is None or waiting.done.done():
            return
        target = decision.target
        media = self.queue_media.get(decision.queue)
        if decision.reason is OverflowReason.NO_AGENTS and media is not None and \
                media.no_agents is not None:
            target = media.no_agents
        waiting.done.set_result(QueueResult("overflow", self.clock() - waiting.enqueued_at,
                                            target=target, reason=decision.reason.value))

    # -- agents' phones --------------------------------------------------------------------
    def _offer(self, call_id: str, agent_id: str) -> None:
        waiting = self._waiting.get(call_id)
        agent = self.distributor.agents.get(agent_id)
        if waiting is None or agent is None:
            return
        extension = agent.extension or self.agent_configs[agent_id].extension
        waited = max(0.0, self.clock() - waiting.enqueued_at)
        out = self.ring(agent_id, extension, waiting.caller,
                        {**waiting.info, "queue_wait": f"{waited:.0f}"})
        if out is None:
            log.info("agent %s: extension %s has no phone registered", agent_id, extension)
            loop = asyncio.get_running_loop()
            loop.call_soon(lambda: self._run(self.distributor.phone_lost(agent_id,
                                                                          self.clock())))
            return
        waiting.ringing[agent_id] = out
        out.result.add_done_callback(
            lambda future: self._agent_answered(waiting, agent_id, out, future.result()))
        out.on_end.append(lambda call: self._agent_leg_ended(waiting, agent_id, call))

    def _agent_answered(self, waiting: _Waiting, agent_id: str, out: OutboundCall,
                        answered: bool) -> None:
        if not answered:
            return
        if waiting.ringing.get(agent_id) is not out:
            self._cancel(out)  # answered after the offer was withdrawn
            return
        now = self.clock()
        decisions = self.distributor.answered(waiting.call_id, agent_id, now)
        if any(isinstance(d, Refused) for d in decisions):
            waiting.ringing.pop(agent_id, None)
            self._cancel(out)
            self._apply(decisions)
            return
        waiting.ringing.pop(agent_id, None)
        waiting.connected = out
        waiting.agent = agent_id
        waiting.agent_answer = now
        if waiting.channel is not None:
            waiting.channel.details.update(agent=agent_id, agent_answer=now)
        self._stop_hold(waiting)
        self._apply(decisions)
        if waiting.channel is None:
            self._call_customer_back(waiting, out)
            return
        try:
            if out.channel is None:
                raise ChannelGone(out.id)
            self.engine.bridge(waiting.channel, out.channel)
        except (ValueError, ChannelGone) as exc:
            log.warning("queue call %s: cannot connect agent %s: %s", waiting.call_id,
                        agent_id, exc)
            self._end_agent_leg(waiting, "500 Bridge Failed")
            return
        self.bus.publish("queue.connected", queue=waiting.queue, call=waiting.call_id,
                         agent=agent_id, caller=waiting.caller)

    def _call_customer_back(self, waiting: _Waiting, agent_leg: OutboundCall) -> None:
        """A callback caller's turn: the agent answered; now ring the customer."""
        self._waiting.pop(waiting.call_id, None)
        dial = waiting.dial or self.dial_customer
        customer = dial(waiting.caller) if dial is not None else None
        if waiting.preview is not None and not waiting.preview.done():
            waiting.preview.set_result(PreviewResult("dialed" if customer else "unplaced",
                                                     waiting.agent, customer))
        if customer is None:
            log.info("callback to %s: no way to reach the number", waiting.caller)
            self._end_agent_leg(waiting, "480 Callback Failed")
            return

        def connected(future: asyncio.Future[bool]) -> None:
            if not future.result() or agent_leg.channel is None or customer.channel is None:
                self._end_agent_leg(waiting, "480 Callback Not Answered")
                return
            # The customer's record names the agent who called it, as a queue call's does.
            customer.details.update(agent=waiting.agent, agent_answer=waiting.agent_answer)
            # The customer first: a recording has the customer on the left, as a queue
            # caller is.
            self.engine.bridge(customer.channel, agent_leg.channel)

        def customer_gone(_call: OutboundCall) -> None:
            self._end_agent_leg(waiting, "200 BYE")

        customer.result.add_done_callback(connected)
        customer.on_end.append(customer_gone)
        agent_leg.on_end.append(lambda _call: self._cancel(customer))

    def _agent_leg_ended(self, waiting: _Waiting, agent_id: str, out: OutboundCall) -> None:
        now = self.clock()
        if waiting.connected is out:
            lost = out.hangup_cause in PHONE_LOST_CAUSES
            log.debug("agent %s: call %s ended: %s", agent_id, out.id, out.hangup_cause)
            decisions = (self.distributor.phone_lost(agent_id, now) if lost
                         else self.distributor.call_ended(agent_id, now))
            self._apply(decisions)
            waiting.finished.set()
            return
        if waiting.ringing.get(agent_id) is out:
            # The phone refused or failed before the ring timeout: the agent did not take it.
            waiting.ringing.pop(agent_id, None)
            if waiting.preview is not None and out.status in DECLINE_STATUSES and \
                    out.state is OutboundState.FAILED:
                # The agent saw the customer and passed: skip the contact, and the agent
                # stays available (the withdrawal is blameless).
                self._apply(self.distributor.abandon(waiting.call_id, now))
                if not waiting.preview.done():
                    waiting.preview.set_result(PreviewResult("declined", agent_id))
                return
            agent = self.distributor.agents.get(agent_id)
            if agent is not None and agent.state is AgentState.RESERVED:
                if out.status in (408, 480, 503) and out.state is OutboundState.FAILED:
                    self._apply(self.distributor.phone_lost(agent_id, now))
                else:
                    self._apply(self.distributor.ring_no_answer(agent_id, now))

    def _end_agent_leg(self, waiting: _Waiting, cause: str) -> None:
        out = waiting.connected
        if out is not None and out.state is OutboundState.ANSWERED and self.hang_up_agent:
            self.hang_up_agent(out, cause)

    def _cancel(self, out: OutboundCall) -> None:
        if out.state in (OutboundState.TRYING, OutboundState.RINGING, OutboundState.ANSWERED) \
                and self.hang_up_agent is not None:
            self.hang_up_agent(out, "487 Request Terminated")

    # -- supervisors -----------------------------------------------------------------------
    def monitor(self, supervisor: Channel, agent_id: str,
                mode: MonitorMode = "listen") -> Monitor | None:
        """Put ``supervisor`` on ``agent_id``'s current call: listen, whisper or barge."""
        for waiting in self._waiting.values():
            out = waiting.connected
            if waiting.agent == agent_id and out is not None and out.channel is not None \
                    and waiting.channel is not None:
                monitor = Monitor(self.engine, supervisor, out.channel, waiting.channel, mode)
                self._monitors[supervisor.id] = monitor
                self._monitored[supervisor.id] = agent_id
                return monitor
        return None

    def in_conversation(self, agent_id: str) -> bool:
        """Whether ``agent_id`` talks with a caller of a queue now (what `monitor` joins)."""
        return any(waiting.agent == agent_id and waiting.connected is not None
                   and waiting.connected.channel is not None and waiting.channel is not None
                   for waiting in self._waiting.values())

    def monitors(self) -> list[dict[str, str]]:
        """Who monitors whom now: the agent, the supervisor's number and the mode."""
        return [{"agent": self._monitored.get(key, ""), "supervisor": monitor.supervisor.caller,
                 "mode": monitor.mode} for key, monitor in self._monitors.items()]

    def stop_monitor(self, supervisor: Channel) -> None:
        self._monitored.pop(supervisor.id, None)
        monitor = self._monitors.pop(supervisor.id, None)
        if monitor is not None:
            with contextlib.suppress(Exception):
                monitor.stop()

    # -- timers and state ------------------------------------------------------------------
    def _schedule(self) -> None:
        deadline = self.distributor.get_timer()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None:
            return
        delay = max(0.0, deadline - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._apply(self.distributor.tick(self.clock()))

    def snapshot(self) -> dict[str, object]:
        """Queues and agents now: for ``pycc status``, the API and supervisors."""
        now = self.clock()
        queues = []
        for name in sorted(self.distributor.queues):
            snap = self.distributor.snapshot(name, now)
            queues.append({
                "queue": name, "waiting": snap.waiting,
                "longest_wait": round(snap.longest_wait, 1), "answered": snap.answered,
                "abandoned": snap.abandoned, "overflowed": snap.overflowed,
                "service_level": snap.service_level, "agents_logged_in":
                snap.agents_logged_in, "agents_free": snap.agents_free,
            })
        agents = []
        for agent_id in sorted(self.agent_configs):
            agent = self.distributor.agents.get(agent_id)
            if agent is None:
                continue
            agents.append({
                "agent": agent_id, "extension": agent.extension or
                self.agent_configs[agent_id].extension, "status": agent.status.value,
                "state": agent.state.value, "reason": agent.not_ready_reason or "",
                "call": agent.call_id or "", "calls_today": agent.calls_today,
            })
        return {"queues": queues, "agents": agents}

    def queue_agents(self, queue: str) -> list[AgentView]:
        """The agents who may serve ``queue`` (its most relaxed skill requirement), with what
        each is doing: what a dialer paces on."""
        found = self.distributor.queues.get(queue)
        if found is None:
            return []
        needs = found.config.skills.final
        now = self.clock()
        views = []
        for agent in self.distributor.agents.values():
            if agent.agent_id not in self.agent_configs or not qualifies(agent.skills, needs):
                continue
            wrap_left = None
            if agent.state is AgentState.WRAP_UP and agent.wrap_up_deadline is not None:
                wrap_left = max(0.0, agent.wrap_up_deadline - now)
            talking = None
            if agent.state is AgentState.ON_CALL and agent.answered_at is not None:
                talking = max(0.0, now - agent.answered_at)
            views.append(AgentView(agent.agent_id, agent.status, agent.state,
                                   agent.is_free, wrap_left, talking))
        return views

    def agent_status(self, agent_id: str) -> tuple[AgentStatus, AgentState] | None:
        agent = self.distributor.agents.get(agent_id)
        return None if agent is None else (agent.status, agent.state)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiting in list(self._waiting.values()):
            self._stop_hold(waiting)
