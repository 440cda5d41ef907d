"""Runs IVR flows on a call: a declarative :class:`~pycc.sia.flow.Flow`, or a coroutine.

A flow ends by transferring the call (the outcome's ``target``), by hanging up (a ``hangup``
step, the end of the steps, a menu nobody answers), or because the caller hung up
(``hung_up``; never an exception). ``path`` lists the steps visited, ``flow.label`` with the
choice made where there was one (``main.menu1=1``, ``main.4=then``, ``main.menu1=timeout``),
for the call record's IVR path; a caller's digits are not in it (they may be a PIN).

A transfer to an IVR that is in ``flows`` continues there. A step budget stops flows that
loop (a ``goto`` back without waiting for the caller): the call is hung up and the error
logged.

A prompt that cannot be played (a missing file, no espeak-ng) is logged and skipped, so a
caller is never left in silence by a configuration mistake; any other unexpected error hangs
the call up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal, TypeAlias

from pycc.media.channel import ChannelGone
from pycc.media.player import PromptError
from pycc.sia.call import IvrCall
from pycc.sia.fetch import FetchError, scalar_variables
from pycc.sia.flow import (
    Answer,
    Branch,
    Collect,
    Flow,
    Goto,
    Hangup,
    Http,
    If,
    Menu,
    Play,
    Record,
    SetVars,
    Step,
    Steps,
    Target,
    Time,
    Transfer,
    substitute_json,
)
from pycc.sia.keys import INVALID, TIMEOUT, KeyTally

__all__ = ["MAX_STEPS", "FlowOutcome", "Reason", "run_coroutine", "run_flow"]

log = logging.getLogger("pycc.sia")

MAX_STEPS = 1000
Reason: TypeAlias = Literal["transfer", "hangup", "end", "caller", "loop", "error"]
CoroutineFlow: TypeAlias = Callable[[IvrCall], Awaitable[Target | None]]
_NO_FLOWS: Mapping[str, Flow] = MappingProxyType({})


@dataclass
class FlowOutcome:
    """How a flow ended. ``reason``: transfer, hangup (a step, or a menu's default), end (no
    more steps), caller (the caller hung up, ``hung_up``), loop (the step budget ran out) or
    error (logged)."""

    target: Target | None
    path: list[str]
    hung_up: bool
    variables: dict[str, str]
    reason: Reason = "hangup"
    steps: int = field(default=0, compare=False)


class _Finished(Exception):
    def __init__(self, target: Target | None, reason: Reason) -> None:
        super().__init__(reason)
        self.target = target
        self.reason = reason


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_flow(flow: Flow, call: IvrCall, *, flows: Mapping[str, Flow] = _NO_FLOWS,
                   now: Callable[[], datetime] | None = None, tally: KeyTally | None = None,
                   max_steps: int = MAX_STEPS) -> FlowOutcome:
    """Run ``flow`` on ``call`` until it transfers or the call ends (see the module doc)."""
    return await _Run(flow, call, flows, now or _utc_now, tally, max_steps).run()


async def run_coroutine(flow: CoroutineFlow, call: IvrCall) -> FlowOutcome:
    """Run a developer's coroutine flow with the same outcome as a declarative one: None
    from the flow hangs up, the caller hanging up is ``hung_up``, an exception is logged and
    hangs up."""
    name = getattr(flow, "__name__", "flow")
    try:
        target = await flow(call)
    except ChannelGone:
        return FlowOutcome(None, [], True, dict(call.variables), "caller")
    except Exception:
        log.exception("ivr %s failed for %s", name, call.get("caller"))
        call.hangup()
        return FlowOutcome(None, [], False, dict(call.variables), "error")
    if target is None:
        call.hangup()
        return FlowOutcome(None, [], False, dict(call.variables), "hangup")
    return FlowOutcome(target, [], False, dict(call.variables), "transfer")


class _Level:
    """A list of steps being run and the index of the next one."""

    __slots__ = ("index", "steps")

    def __init__(self, steps: Steps, index: int = 0) -> None:
        self.steps = steps
        self.index = index


class _Run:
    def __init__(self, flow: Flow, call: IvrCall, flows: Mapping[str, Flow],
                 now: Callable[[], datetime], tally: KeyTally | None, max_steps: int) -> None:
        self.call = call
        self.flows = flows
        self.now = now
        self.tally = tally
        self.max_steps = max_steps
        self.path: list[str] = []
        self.count = 0
        self.flow = flow
        self.stack = [_Level(flow.steps)]

    def outcome(self, target: Target | None, reason: Reason) -> FlowOutcome:
        return FlowOutcome(target, self.path, reason == "caller", dict(self.call.variables),
                           reason, self.count)

    async def run(self) -> FlowOutcome:
        call = self.call
        try:
            while (step := self.next_step()) is not None:
                self.count += 1
                if self.count > self.max_steps:
                    log.error("ivr %s: more than %d steps for %s (a goto loop?); hanging up",
                              self.flow.name, self.max_steps, call.get("caller"))
                    call.hangup()
                    return self.outcome(None, "loop")
                if call.ended:
                    raise ChannelGone(call.channel.name)
                await self.execute(step)
            call.hangup()
            return self.outcome(None, "end")
        except _Finished as finished:
            return self.outcome(finished.target, finished.reason)
        except ChannelGone:
            return self.outcome(None, "caller")
        except Exception:
            log.exception("ivr %s: step failed for %s", self.flow.name, call.get("caller"))
            call.hangup()
            return self.outcome(None, "error")

    # -- moving through the steps -----------------------------------------------------------
    def next_step(self) -> Step | None:
        while self.stack:
            level = self.stack[-1]
            if level.index < len(level.steps):
                step = level.steps[level.index]
                level.index += 1
                return step
            self.stack.pop()
        return None

    def push(self, branch: Branch) -> None:
        if branch:
            self.stack.append(_Level(branch))

    def visit(self, step: Step, choice: str | None = None) -> None:
        if step.label is not None:
            suffix = "" if choice is None else f"={choice}"
            self.path.append(f"{self.flow.name}.{step.label}{suffix}")

    def prompt(self, prompt: str) -> str:
        # Only spoken text takes variables: a variable never picks a file to play.
        return "tts:" + self.call.substitute(prompt[4:]) if prompt.startswith("tts:") \
            else prompt

    def skipped(self, step: Step, exc: Exception) -> None:
        log.warning("ivr %s: %s: prompt skipped: %s", self.flow.name, step.where, exc)

    # -- the steps ----------------------------------------------------------------------------
    async def execute(self, step: Step) -> None:
        call = self.call
        if isinstance(step, Answer):
            self.visit(step)
            await call.answer()
        elif isinstance(step, Hangup):
            self.visit(step)
            call.hangup()
            raise _Finished(None, "hangup")
        elif isinstance(step, Goto):
            self.visit(step)
            self.stack = [_Level(steps, index) for steps, index in
                          self.flow.locate(step.target)]
        elif isinstance(step, Play):
            await self.play(step)
        elif isinstance(step, Menu):
            await self.menu(step)
        elif isinstance(step, Collect):
            self.visit(step)
            call.set(step.var, await self.collect(
                step, step.prompt, max=step.max_digits, min=step.min_digits,
                timeout=step.timeout, inter_digit=step.inter_digit,
                terminator=step.terminator))
        elif isinstance(step, SetVars):
            self.visit(step)
            for var, template in step.values:
                call.set(var, call.substitute(template))
        elif isinstance(step, If):
            holds = step.holds(call.get(step.var), call.substitute)
            self.visit(step, "then" if holds else "else")
            self.push(step.then if holds else step.otherwise)
        elif isinstance(step, Time):
            holds = step.condition.matches(self.now())
            self.visit(step, "then" if holds else "else")
            self.push(step.then if holds else step.otherwise)
        elif isinstance(step, Http):
            await self.http(step)
        elif isinstance(step, Transfer):
            self.transfer(step)
        elif isinstance(step, Record):
            self.visit(step)
            path = await call.record(call.substitute(step.name), max_seconds=step.max_seconds,
                                     silence=step.silence, beep=step.beep,
                                     stop_on=step.stop_on)
            call.set("recording", str(path))
        else:  # pragma: no cover - every parsed step is one of the above
            raise TypeError(f"unknown step {step!r}")

    async def play(self, step: Play) -> None:
        self.visit(step)
        try:
            key = await self.call.play(self.prompt(step.prompt), stop_on=step.stop_on)
        except PromptError as exc:
            self.skipped(step, exc)
            return
        if key is not None:
            self.call.set("last_key", key)

    async def collect(self, step: Step, prompt: str | None, *, max: int, min: int,
                      timeout: float, inter_digit: float, terminator: str) -> str:
        try:
            return await self.call.collect(
                max, min=min, timeout=timeout, inter_digit=inter_digit, terminator=terminator,
                prompt=None if prompt is None else self.prompt(prompt))
        except PromptError as exc:
            self.skipped(step, exc)
        return await self.call.collect(max, min=min, timeout=timeout, inter_digit=inter_digit,
                                       terminator=terminator)

    def mark(self, step: Menu, key: str) -> None:
        if self.tally is not None:
            self.tally.add(self.flow.name, step.label or step.where, key)
        self.visit(step, key)

    async def menu(self, step: Menu) -> None:
        outcome = TIMEOUT
        for _attempt in range(step.retries + 1):
            key = await self.collect(step, step.prompt, max=1, min=1, timeout=step.timeout,
                                     inter_digit=step.timeout, terminator="")
            if key in step.options:
                self.mark(step, key)
                self.push(step.options[key])
                return
            outcome = INVALID if key else TIMEOUT
            self.mark(step, outcome)
            if outcome == INVALID:
                # Keys pressed after the wrong one belong to no menu.
                self.call.flush_keys()
                if step.invalid is not None:
                    try:
                        await self.call.play(self.prompt(step.invalid))
                    except PromptError as exc:
                        self.skipped(step, exc)
        self.push(step.on_timeout if outcome == TIMEOUT else step.on_invalid)

    async def http(self, step: Http) -> None:
        call = self.call
        body = None if step.body is None else substitute_json(step.body, call.variables)
        try:
            data = await call.http(step.method, call.substitute(step.url), json=body,
                                   timeout=step.timeout)
        except FetchError as exc:
            log.warning("ivr %s: %s: %s", self.flow.name, step.where, exc)
            call.set(f"{step.into}.error", str(exc))
            self.visit(step, "error")
            self.push(step.on_error)
            return
        call.variables.pop(f"{step.into}.error", None)
        call.variables.update(scalar_variables(step.into, data))
        self.visit(step)

    def transfer(self, step: Transfer) -> None:
        self.visit(step)
        kind = step.target.kind
        name = self.call.substitute(step.target.name).strip()
        if not name:
            log.error("ivr %s: %s: the %s name %r is empty for this call; hanging up",
                      self.flow.name, step.target_where, kind, step.target.name)
            self.call.hangup()
            raise _Finished(None, "error")
        following = self.flows.get(name) if kind == "ivr" else None
        if following is None:
            raise _Finished(Target(kind, name), "transfer")
        self.flow = following
        self.stack = [_Level(following.steps)]
