"""The running dialer: campaigns that dial customers and hand each answered call to an agent.

One :class:`DialerService` per tenant. A started campaign has a pacing loop that wakes on
every change that matters (an agent's state, a call's progress, new contacts, a start) and
asks its :class:`~pycc.pds.pacing.Pacer` how many customers to dial now; it claims that many
contacts from the :class:`~pycc.pds.store.DialerStore` (atomically: no contact is dialed twice)
and places the calls over the campaign's trunks (or to a local extension), one caller ID of
the campaign's pool after the other. A call that rings for the campaign's ring time is
cancelled (no answer). One that is answered is offered at once to the campaign's queue with
a hold limit of two seconds: the ACD connects it to an idle agent, with the contact's fields
as ``X-Pycc-*`` headers on the agent's INVITE; if no agent takes it in time, the campaign's
short message plays and the call counts as abandoned. Every attempt ends in a stored result;
after a crash, :meth:`DialerStore.recover` closes the attempts left open before dialing again.

Preview campaigns, and callbacks an agent scheduled for themself in any mode, go agent first
(:meth:`AcdService.preview`): the agent's phone rings showing the contact, answering dials the
customer, declining passes the contact back (it is offered again ``PREVIEW_SKIP_DELAY``
seconds later and the attempt does not count).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pycc.bus import Bus, Event
from pycc.ccmanager.outbound import OutboundCall, OutboundState
from pycc.ccs.agent import AgentStatus
from pycc.dsp.amd import AmdDetector, AmdResult, BeepDetector
from pycc.dsp.pcm import Pcm
from pycc.media.channel import Channel, ChannelGone
from pycc.pds.campaign import CampaignConfig, CampaignError
from pycc.pds.pacing import DialerState, Pacer, dial_level, make_pacer
from pycc.pds.progress import CallResult, result_for_status
from pycc.pds.stats import DialerStats
from pycc.pds.store import Claim, DialerStore
from pycc.pds.windows import window_close
from pycc.store.async_store import AsyncStore
from pycc.store.errors import NotFound

if TYPE_CHECKING:
    from pycc.ccmanager.center import CallCenter

__all__ = ["DialerError", "DialerService"]

log = logging.getLogger("pycc.dialer")

#: How long an answered customer may wait for an agent (the issue's "within 2 seconds").
HOLD_LIMIT = 2.0
#: The wait for an agent predictive pacing plans for (the hold limit itself is 2 s).
PLANNED_HOLD = 0.3
#: Longest answering-machine analysis (Asterisk's total_analysis_time is 5 s).
AMD_LIMIT = 5.5
#: How long to wait for a machine's beep before leaving the message anyway.
BEEP_WAIT = 20.0
#: The answer rate a campaign assumes before it has measured one.
COLD_START_ANSWER_RATE = 0.8
#: How often a running campaign looks again without any event: retries falling due and
#: calling windows opening are times, not events.
IDLE_RECHECK = 1.0
#: How long an agent-first call waits for an agent to take it before the contact goes back.
PREVIEW_WAIT = 120.0
#: When a contact an agent passed on (or nobody took) may be offered again.
PREVIEW_SKIP_DELAY = 60.0
#: What a progress result becomes in the contact's record.
_FINAL = {
    CallResult.BUSY: "busy", CallResult.NO_ANSWER: "no_answer",
    CallResult.REJECTED: "rejected", CallResult.INVALID_NUMBER: "invalid",
    CallResult.NETWORK_FAILURE: "failed", CallResult.FAILED: "failed",
    CallResult.CANCELLED: "no_answer", CallResult.MACHINE: "machine",
    CallResult.ABANDONED: "abandoned", CallResult.CONNECTED: "connected",
}


class DialerError(Exception):
    """A campaign cannot be started, stopped or found; the message says why."""


@dataclass(eq=False)
class _Attempt:
    claim: Claim
    call: OutboundCall
    dialed: float
    answered: float | None = None


@dataclass(eq=False)
class _Live:
    config: CampaignConfig
    pacer: Pacer
    stats: DialerStats
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    running: bool = True
    in_flight: dict[int, _Attempt] = field(default_factory=dict)
    waiting: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    caller_ids: itertools.cycle[str] | None = None
    connect_times: list[float] = field(default_factory=list)


class DialerService:
    """Runs the tenant's campaigns on the call center's ACD, router and media."""

    def __init__(self, center: CallCenter, store: AsyncStore, *, tenant: str = "default",
                 bus: Bus | None = None, node: str = "",
                 hold_limit: float = HOLD_LIMIT) -> None:
        self.center = center
        self.store = store
        self.dialer_store = DialerStore(store.store, tenant)
        self.tenant = tenant
        self.bus = bus or center.bus
        self.node = node
        self.hold_limit = hold_limit
        self.clock = time.time
        self.campaigns: dict[str, _Live] = {}
        self.bus.subscribe("agent.state", self._agent_changed)

    # -- control ---------------------------------------------------------------------------
    def config_of(self, name: str) -> CampaignConfig:
        """The campaign ``name`` as ``pycc apply`` configured it."""
        raws = self.center.config.campaigns
        templates = {str(raw["name"]): raw for raw in raws if raw.get("template") is True}
        for index, raw in enumerate(raws):
            if raw.get("name") == name and raw.get("template") is not True:
                try:
                    return CampaignConfig.from_dict(raw, f"campaigns[{index}]", templates)
                except CampaignError as exc:
                    raise DialerError(str(exc)) from None
        raise DialerError(f"no campaign {name!r} (campaigns come from pycc apply)")

    async def start(self, name: str) -> dict[str, object]:
        """Start (or resume) campaign ``name``; it dials at once."""
        live = self.campaigns.get(name)
        if live is not None and live.running:
            return self.status(name)
        config = self.config_of(name)
        if config.queue is None or config.queue not in self.center.acd.distributor.queues:
            raise DialerError(f"campaign {name}: its queue {config.queue!r} does not exist")
        dstore = self.dialer_store
        now = self.clock()
        await self.store.run(dstore.save_campaign, config, now)
        recovered = await self.store.run(dstore.recover, name, now)
        if recovered.failed or recovered.connected:
            log.info("campaign %s: %d calls interrupted by a restart closed, %d connected kept",
                     name, recovered.failed, recovered.connected)
        await self.store.run(dstore.set_campaign_state, name, "running", now)
        params: dict[str, object] = {}
        if config.mode in ("progressive", "ratio"):
            params = {"ratio" if config.mode == "progressive" else "level": config.dial_level}
        elif config.mode == "predictive":
            # Plan for a customer to find an agent well inside the hold limit: the answer-to-
            # agent time, not only the abandon rate, is what the customer notices.
            params = {"max_hold": PLANNED_HOLD}
        try:
            pacer = make_pacer(config.mode, **params)
        except (ValueError, TypeError):
            pacer = make_pacer(config.mode)
        # Cautious until measured: assuming most calls answer dials about one line per free
        # agent at first, and the pacer opens up as the real answer rate comes in.
        stats = DialerStats(day_start=now, prior_answer_rate=COLD_START_ANSWER_RATE)
        live = _Live(config, pacer, stats)
        if config.caller_ids:
            live.caller_ids = itertools.cycle(config.caller_ids)
        self.campaigns[name] = live
        live.task = asyncio.get_running_loop().create_task(self._pace(live))
        live.wake.set()
        self.bus.publish("campaign.started", campaign=name, mode=config.mode)
        return self.status(name)

    async def stop(self, name: str) -> dict[str, object]:
        """Stop dialing; calls already up are left to finish."""
        live = self.campaigns.get(name)
        if live is None:
            config = self.config_of(name)  # a clear error for an unknown name
            now = self.clock()
            # Never started here: it may not be in the dialer's table yet.
            await self.store.run(self.dialer_store.save_campaign, config, now)
            await self.store.run(self.dialer_store.set_campaign_state, name, "stopped", now)
            return {"campaign": name, "running": False}
        live.running = False
        live.wake.set()
        if live.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await live.task
        await self.store.run(self.dialer_store.set_campaign_state, name, "stopped",
                             self.clock())
        self.bus.publish("campaign.stopped", campaign=name)
        return self.status(name)

    async def resume_running(self) -> None:
        """Start the campaigns that were running when the switch stopped (or crashed)."""
        names = await self.store.run(self.dialer_store.campaign_names)
        for name in names:
            state = await self.store.run(self.dialer_store.campaign_state, name)
            if state == "running" and name not in self.campaigns:
                try:
                    await self.start(name)
                except DialerError as exc:
                    log.warning("campaign %s not resumed: %s", name, exc)

    async def schedule_callback(self, name: str, contact: str, at: float,
                                agent: str | None = None) -> None:
        """Call contact ``contact`` (its external id) of campaign ``name`` back at ``at``
        (epoch seconds), ringing ``agent`` first when given; what an agent's desk calls."""
        if agent is not None and agent not in self.center.acd.agent_configs:
            raise DialerError(f"no agent {agent!r}")
        dstore = self.dialer_store
        try:
            contact_id = await self.store.run(dstore.find_contact, name, contact)
            await self.store.run(dstore.schedule_callback, contact_id, at, agent,
                                 now=self.clock())
        except NotFound as exc:
            raise DialerError(str(exc)) from None
        self.poke(name)

    def poke(self, name: str | None = None) -> None:
        """New contacts or a change: running campaigns look again at once."""
        for campaign, live in self.campaigns.items():
            if name is None or campaign == name:
                live.wake.set()

    def status(self, name: str) -> dict[str, object]:
        live = self.campaigns.get(name)
        if live is None:
            return {"campaign": name, "running": False}
        stats = live.stats
        times = sorted(live.connect_times)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))] if times else None
        return {
            "campaign": name, "running": live.running, "mode": live.config.mode,
            "dial_level": None if (level := dial_level(live.pacer)) is None
            else round(level, 2),
            "in_flight": len(live.in_flight), "dialed": stats.dialed_today,
            "answered": stats.answered_today, "connected": stats.connected_today,
            "abandoned": stats.abandoned_today,
            "abandon_rate": round(stats.abandon_rate_day, 4),
            "answer_to_agent_p95": None if p95 is None else round(p95, 3),
        }

    def halt(self) -> None:
        """Dial nothing more (the switch is stopping); campaigns stay "running" in the
        database, so they resume when it starts again."""
        for live in self.campaigns.values():
            live.running = False
            live.wake.set()

    async def close(self, grace: float = 3.0) -> None:
        """Stop every campaign's loop; calls still being followed get ``grace`` seconds to
        record their results (a stopping switch has hung them up)."""
        self.halt()
        pending = [task for live in self.campaigns.values() for task in live.tasks]
        if pending:
            await asyncio.wait(pending, timeout=grace)
        for live in self.campaigns.values():
            for task in list(live.tasks):
                task.cancel()
            if live.task is not None:
                live.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await live.task

    # -- pacing ----------------------------------------------------------------------------
    def _agent_changed(self, _event: Event) -> None:
        for live in self.campaigns.values():
            live.wake.set()

    async def _pace(self, live: _Live) -> None:
        name = live.config.name
        while live.running:
            # Agents coming free with time is no event: the pacer says how often to look.
            recheck = min(IDLE_RECHECK, live.pacer.recheck_interval or IDLE_RECHECK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.wake.wait(), recheck)
            live.wake.clear()
            if not live.running:
                break
            now = self.clock()
            try:
                state = self._state(live)
                if live.config.mode == "preview":
                    # One contact for each idle agent that has none on its way yet.
                    lines = state.agents_idle - self._unoffered(live)
                else:
                    lines = live.pacer.decide(state, live.stats, now)
            except ValueError as exc:
                log.warning("campaign %s: pacing failed: %s", name, exc)
                continue
            if lines <= 0:
                continue
            try:
                claims = await self.store.run(self.dialer_store.claim, name, lines, now,
                                              blocked=self._blocked, node=self.node)
            except Exception:
                log.exception("campaign %s: claiming contacts failed", name)
                await asyncio.sleep(1.0)
                continue
            for claim in claims:
                if live.config.mode == "preview" or claim.callback_agent:
                    self._spawn(live, self._preview(live, claim))
                else:
                    self._dial(live, claim)

    def _state(self, live: _Live) -> DialerState:
        now = self.clock()
        queue = live.config.queue or ""
        agents = self.center.acd.queue_agents(queue)
        logged_in = [a for a in agents if a.status is not AgentStatus.OFFLINE]
        # Everyone waiting in the queue needs an agent first: the campaign's own answered
        # customers and, in a blended queue, inbound callers.
        found = self.center.acd.distributor.queues.get(queue)
        waiting = max(live.waiting, len(found) if found is not None else 0)
        return DialerState(
            agents_logged_in=len(logged_in),
            agents_idle=sum(1 for a in logged_in if a.free),
            wrapup_remaining=tuple(a.wrap_up_left for a in logged_in
                                   if a.wrap_up_left is not None),
            talk_elapsed=tuple(a.talking for a in logged_in if a.talking is not None),
            ring_elapsed=tuple(now - a.dialed for a in live.in_flight.values()
                               if a.answered is None),
            calls_waiting=waiting,
            abandon_limit=live.config.abandon_limit,
            shift_end=window_close(live.config.timezone, live.config.window, now),
        )

    def _unoffered(self, live: _Live) -> int:
        """Agent-first calls of the campaign's queue that no agent's phone rings for yet."""
        found = self.center.acd.distributor.queues.get(live.config.queue or "")
        return sum(1 for call in found if not call.offered) if found is not None else 0

    def _blocked(self, number: str) -> bool:
        """The tenant's outbound blacklist, checked at dial time."""
        plan = self.center.config.dial_plan
        screening = plan.screening if plan is not None else None
        return screening is not None and screening.outbound.blocks(number)

    # -- one call --------------------------------------------------------------------------
    def _place(self, live: _Live, claim: Claim) -> _Attempt | None:
        """Place the call to the claimed contact (None: no way to place it)."""
        caller_id = claim.caller_id or (next(live.caller_ids) if live.caller_ids else "pycc")
        out = self.center.dial_out(claim.phone, caller_id, live.config.trunks,
                                   campaign=live.config.name, contact=claim.external_id)
        now = self.clock()
        live.stats.record_dialed(now)
        if out is None:
            return None
        attempt = _Attempt(claim, out, now)
        live.in_flight[claim.attempt_id] = attempt
        return attempt

    def _spawn(self, live: _Live, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        live.tasks.add(task)
        task.add_done_callback(live.tasks.discard)

    def _dial(self, live: _Live, claim: Claim) -> None:
        attempt = self._place(live, claim)
        if attempt is None:
            self._spawn(live, self._finish(live, claim, "failed", 503, None, None))
        else:
            self._spawn(live, self._follow(live, attempt))

    async def _not_answered(self, live: _Live, attempt: _Attempt) -> None:
        """The customer did not answer within the ring time: why, counted and stored."""
        config, out = live.config, attempt.call
        now = self.clock()
        ring = now - attempt.dialed
        if out.state in (OutboundState.TRYING, OutboundState.RINGING):
            self.center.originator.cancel(out, "487 No Answer")
        result = result_for_status(out.status or 487, ring_seconds=ring,
                                   min_ring=min(15.0, config.ring_time), early_media=False)
        if result in (CallResult.NO_ANSWER, CallResult.CANCELLED):
            live.stats.record_no_answer(now, ring)
        elif result is CallResult.BUSY:
            live.stats.record_busy(now, ring)
        else:
            live.stats.record_failed(now, ring)
        await self._finish(live, attempt.claim, _FINAL.get(result, "failed"),
                           out.status or None, None, out.id)

    async def _preview(self, live: _Live, claim: Claim) -> None:
        """Agent first: the agent sees the contact, answering dials it (see the module)."""
        config = live.config
        target = claim.callback_agent
        if target is not None and not self._logged_in(target):
            target = None  # its agent is away: any agent of the campaign may call it back
        placed: list[_Attempt] = []

        def dial(_number: str) -> OutboundCall | None:
            attempt = self._place(live, claim)
            if attempt is None:
                return None
            placed.append(attempt)
            return attempt.call

        label = claim.name or claim.phone
        info = {**self._info(config, claim), "mode": "preview",
                "display": f"{label} ({config.name})"}
        self.bus.publish("campaign.preview", campaign=config.name, contact=claim.external_id,
                         phone=claim.phone, agent=target)
        try:
            decided = await self.center.acd.preview(
                config.queue or "", claim.phone, dial, info=info, agent=target,
                priority=10 + config.priority, max_wait=PREVIEW_WAIT)
            if not placed:
                if decided.outcome == "unplaced":
                    await self._finish(live, claim, "failed", 503, decided.agent, None)
                    return
                await self.store.run(self.dialer_store.release, claim.attempt_id,
                                     self.clock(), after=PREVIEW_SKIP_DELAY,
                                     note=decided.outcome)
                self.bus.publish("campaign.result", campaign=config.name,
                                 contact=claim.external_id, phone=claim.phone,
                                 result="skipped", agent=decided.agent)
                return
            await self._follow_previewed(live, placed[0], decided.agent)
        except Exception:
            log.exception("campaign %s: preview call to %s failed", config.name, claim.phone)
            for attempt in placed:
                self.center.originator.hangup(attempt.call, "500 Dialer Error")
            await self._finish(live, claim, "failed", None, None,
                               placed[0].call.id if placed else None)
        finally:
            live.in_flight.pop(claim.attempt_id, None)
            live.wake.set()

    async def _follow_previewed(self, live: _Live, attempt: _Attempt,
                                agent: str | None) -> None:
        """The customer's call of an agent-first attempt; the ACD connects the agent (who is
        on the line already) when the customer answers."""
        out = attempt.call
        if not await out.wait_answered(live.config.ring_time):
            await self._not_answered(live, attempt)
            return
        now = self.clock()
        attempt.answered = now
        live.stats.record_answered(now, now - attempt.dialed)
        live.stats.record_connected(now, 0.0)
        live.connect_times.append(0.0)
        await self.store.run(self.dialer_store.mark_connected, attempt.claim.attempt_id, now,
                             agent)
        await out.ended.wait()
        end = self.clock()
        live.stats.record_handled(end, end - now, self._wrapup(live.config))
        await self._finish(live, attempt.claim, "connected", 200, agent, out.id)

    def _logged_in(self, agent: str) -> bool:
        found = self.center.acd.agent_status(agent)
        return found is not None and found[0] is not AgentStatus.OFFLINE

    @staticmethod
    def _info(config: CampaignConfig, claim: Claim) -> dict[str, str]:
        """What the agent's phone is told about the contact."""
        return {"campaign": config.name, "contact": claim.external_id, "phone": claim.phone,
                **({"name": claim.name} if claim.name else {}), **claim.fields}

    async def _follow(self, live: _Live, attempt: _Attempt) -> None:
        config, out = live.config, attempt.call
        try:
            answered = await out.wait_answered(config.ring_time)
            now = self.clock()
            ring = now - attempt.dialed
            if not answered:
                await self._not_answered(live, attempt)
                return
            attempt.answered = now
            live.stats.record_answered(now, ring)
            await self.store.run(self.dialer_store.mark_answered, attempt.claim.attempt_id, now)
            await self._connect(live, attempt)
        except Exception:
            log.exception("campaign %s: call to %s failed", config.name, attempt.claim.phone)
            self.center.originator.hangup(out, "500 Dialer Error")
            await self._finish(live, attempt.claim, "failed", None, None, out.id)
        finally:
            live.in_flight.pop(attempt.claim.attempt_id, None)
            live.wake.set()

    async def _connect(self, live: _Live, attempt: _Attempt) -> None:
        """The customer answered: an agent within the hold limit, or the abandon message."""
        config, out, claim = live.config, attempt.call, attempt.claim
        channel = out.channel
        if channel is None:
            await self._finish(live, claim, "failed", None, None, out.id)
            return
        if config.amd:
            verdict = await _listen(channel, AmdDetector(rate=channel.rate),
                                    AMD_LIMIT)
            if verdict is not None and verdict.verdict == "machine":
                live.stats.record_machine(self.clock())
                if config.machine == "message" and config.machine_message:
                    await self._leave_message(channel, config.machine_message)
                self.center.originator.hangup(out, "200 Answering Machine")
                await self._finish(live, claim, "machine", 200, None, out.id)
                return
        info: Mapping[str, str] = self._info(config, claim)
        live.waiting += 1
        live.wake.set()
        connected_at: list[float] = []

        def connected(at: float) -> None:
            connected_at.append(at)
            # Counted as the talk starts (as the simulator does), not when it ends: the
            # wallboard's figure is live and the pacer's handled calls start then.
            wait = max(0.0, at - (attempt.answered or at))
            live.connect_times.append(wait)
            live.stats.record_connected(at, wait)

        def on_connected(event: Event) -> None:
            if event.data.get("caller") == claim.phone and not connected_at:
                connected(self.clock())
                # Talking to an agent now, no longer waiting for one: the pacer must know.
                live.waiting = max(0, live.waiting - 1)
                live.wake.set()

        unsubscribe = self.bus.subscribe("queue.connected", on_connected)
        try:
            result = await self.center.acd.enqueue(
                channel, config.queue or "", caller=claim.phone, priority=10 + config.priority,
                max_hold=self.hold_limit, music=False,
                info={**self.center.call_info(channel), **info})
        finally:
            unsubscribe()
            if not connected_at:
                live.waiting = max(0, live.waiting - 1)
        now = self.clock()
        if result.outcome == "answered" and result.agent is not None:
            if not connected_at:  # the queue's event was not seen
                connected(now)
            talk = now - (result.agent_answer or now)
            live.stats.record_handled(now, talk, self._wrapup(config))
            await self.store.run(self.dialer_store.mark_connected, claim.attempt_id,
                                 result.agent_answer or now, result.agent)
            await self._finish(live, claim, "connected", 200, result.agent, out.id)
            return
        if result.outcome == "abandoned" and not channel.ended.is_set():
            live.stats.record_abandoned(now)
            if config.abandon_message:
                with contextlib.suppress(ChannelGone, Exception):
                    await channel.play(await self.center.resolve_prompt(
                        config.abandon_message), duration=10.0)
            self.center.originator.hangup(out, "200 Abandoned")
            await self._finish(live, claim, "abandoned", 200, None, out.id)
            return
        # The customer hung up before an agent took the call.
        live.stats.record_abandoned(now)
        self.center.originator.hangup(out, "200 BYE")
        await self._finish(live, claim, "abandoned", 200, None, out.id)

    async def _leave_message(self, channel: Channel, prompt: str) -> None:
        """Wait for the machine's beep (or its silence), then play the campaign's message."""
        with contextlib.suppress(ChannelGone, Exception):
            await _listen_for_beep(channel, BEEP_WAIT)
            await channel.play(await self.center.resolve_prompt(prompt), duration=60.0)

    def _wrapup(self, config: CampaignConfig) -> float:
        queue = self.center.acd.distributor.queues.get(config.queue or "")
        return queue.config.wrap_up if queue is not None else 0.0

    async def _finish(self, live: _Live, claim: Claim, result: str, status: int | None,
                      agent: str | None, call_id: str | None) -> None:
        try:
            await self.store.run(self.dialer_store.finish, claim.attempt_id, result,
                                 self.clock(), sip_status=status, agent=agent,
                                 call_id=call_id)
        except Exception:
            log.exception("campaign %s: the result of attempt %d was not stored",
                          live.config.name, claim.attempt_id)
        self.bus.publish("campaign.result", campaign=live.config.name,
                         contact=claim.external_id, phone=claim.phone, result=result,
                         agent=agent)
        live.wake.set()


class _Tap:
    """Feeds what a channel's party says, frame by frame on the media clock, to ``feed``
    until it returns something."""

    def __init__(self, channel: Channel, feed: Callable[[Pcm], object | None],
                 done: asyncio.Future[object]) -> None:
        self.source = channel.input(channel.rate)
        self.feed = feed
        self.done = done

    def tick(self, now: float) -> None:
        if self.done.done():
            return
        frame = self.source.read(now)
        if frame is None:
            return
        found = self.feed(frame)
        if found:
            self.done.set_result(found)


async def _tap(channel: Channel, feed: Callable[[Pcm], object | None],
               limit: float) -> object | None:
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    tap = _Tap(channel, feed, done)
    clock = channel.engine.clock
    clock.subscribe(tap)
    ended = asyncio.ensure_future(channel.ended.wait())
    try:
        waits: set[asyncio.Future[object]] = {done, ended}  # type: ignore[arg-type]
        await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        return done.result() if done.done() else None
    finally:
        ended.cancel()
        clock.unsubscribe(tap)


async def _listen(channel: Channel, detector: AmdDetector, limit: float) -> AmdResult | None:
    """The answering-machine verdict on the first seconds of the customer's audio."""
    found = await _tap(channel, detector.feed, limit)
    return found if isinstance(found, AmdResult) else None


async def _listen_for_beep(channel: Channel, limit: float) -> None:
    detector = BeepDetector(channel.rate)
    await _tap(channel, lambda pcm: bool(detector.feed(pcm)) or None, limit)
