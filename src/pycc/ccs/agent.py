"""One agent's authoritative state machine: what the agent chose and what the system is doing.

An agent has two independent axes. The STATUS is the agent's (or a supervisor's) choice:
``offline``, ``available`` or ``not_ready`` with a reason. The STATE is what the ACD is doing with
the agent: ``idle``, ``reserved`` (a call is ringing the phone), ``on_call`` or ``wrap_up``. Only an
``available`` + ``idle`` agent is offered calls; changing status never interrupts a call, it only
decides what happens once the agent is idle again. ``offline`` always pairs with ``idle``.

The machine is one explicit table, `TRANSITIONS[(status, state, input)] -> (status, state,
effect)`; a missing key is an ordinary refusal returned as `Refused` (offering a busy agent is not
an error, just a "no"). Every accepted event yields one `AgentTransition` record for reports and
the bus. Time is passed in as ``now`` (seconds); the ring timeout and the wrap-up end are this
object's timers (`get_timer` / `handle_timer`). ``phone_lost`` and ``force`` can be applied in
every logged-in state, so an agent can never get stuck reserved or on a call.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

from pycc.ccs.skills import skill_levels

__all__ = [
    "TRANSITIONS",
    "Agent",
    "AgentEffect",
    "AgentInput",
    "AgentResult",
    "AgentState",
    "AgentStatus",
    "AgentTransition",
    "Changed",
    "Refused",
]


class AgentStatus(enum.Enum):
    """What the agent (or a supervisor) chose."""

    __hash__ = object.__hash__  # identity hashing keeps the table lookup in C

    OFFLINE = "offline"
    AVAILABLE = "available"
    NOT_READY = "not_ready"


class AgentState(enum.Enum):
    """What the system is doing with the agent."""

    __hash__ = object.__hash__

    IDLE = "idle"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class AgentInput(enum.Enum):
    __hash__ = object.__hash__

    LOGIN = "login"
    LOGOUT = "logout"
    SET_AVAILABLE = "set_available"
    SET_NOT_READY = "set_not_ready"
    OFFER = "offer"
    ANSWERED = "answered"
    RING_NO_ANSWER = "ring_no_answer"
    WITHDRAW = "withdraw"  # the caller left, or another agent of a ring-all answered
    CALL_ENDED = "call_ended"
    WRAP_UP_DONE = "wrap_up_done"
    PHONE_LOST = "phone_lost"
    FORCE_OFFLINE = "force_offline"
    FORCE_AVAILABLE = "force_available"
    FORCE_NOT_READY = "force_not_ready"


class AgentEffect(enum.Enum):
    """What a transition does to the agent's call and counters besides moving it."""

    __hash__ = object.__hash__

    NONE = "none"
    LOG_IN = "take the extension, idle from now"
    LOG_OUT = "let go of any call, clear the timers"
    RESERVE = "hold the call, start the ring timer"
    CONNECT = "stop the ring timer, start talk time"
    RELEASE = "let go of the call (it goes to the next agent or ends)"
    END_CALL = "count the call and its talk time, start the wrap-up timer"
    FINISH_WRAP_UP = "forget the call, idle from now"


_S = AgentStatus
_T = AgentState
_I = AgentInput
_E = AgentEffect
_LOGGED_IN: Final = (_S.AVAILABLE, _S.NOT_READY)
_ALL_STATES: Final = tuple(AgentState)

#: ``None`` in a target keeps the current status or state.
Row: TypeAlias = tuple[AgentStatus | None, AgentState | None, AgentEffect]


def _build_table() -> dict[tuple[AgentStatus, AgentState, AgentInput], Row]:
    t: dict[tuple[AgentStatus, AgentState, AgentInput], Row] = {
        (_S.OFFLINE, _T.IDLE, _I.LOGIN): (_S.AVAILABLE, _T.IDLE, _E.LOG_IN),
        (_S.OFFLINE, _T.IDLE, _I.FORCE_AVAILABLE): (_S.AVAILABLE, _T.IDLE, _E.LOG_IN),
        (_S.AVAILABLE, _T.IDLE, _I.OFFER): (None, _T.RESERVED, _E.RESERVE),
    }
    for status in _LOGGED_IN:
        t[status, _T.IDLE, _I.LOGOUT] = (_S.OFFLINE, _T.IDLE, _E.LOG_OUT)
        t[status, _T.WRAP_UP, _I.LOGOUT] = (_S.OFFLINE, _T.IDLE, _E.LOG_OUT)
        t[status, _T.RESERVED, _I.ANSWERED] = (None, _T.ON_CALL, _E.CONNECT)
        t[status, _T.RESERVED, _I.RING_NO_ANSWER] = (_S.NOT_READY, _T.IDLE, _E.RELEASE)
        t[status, _T.RESERVED, _I.WITHDRAW] = (None, _T.IDLE, _E.RELEASE)
        t[status, _T.ON_CALL, _I.CALL_ENDED] = (None, _T.WRAP_UP, _E.END_CALL)
        t[status, _T.WRAP_UP, _I.WRAP_UP_DONE] = (None, _T.IDLE, _E.FINISH_WRAP_UP)
        t[status, _T.IDLE, _I.PHONE_LOST] = (_S.NOT_READY, _T.IDLE, _E.NONE)
        t[status, _T.RESERVED, _I.PHONE_LOST] = (_S.NOT_READY, _T.IDLE, _E.RELEASE)
        t[status, _T.ON_CALL, _I.PHONE_LOST] = (_S.NOT_READY, _T.IDLE, _E.RELEASE)
        t[status, _T.WRAP_UP, _I.PHONE_LOST] = (_S.NOT_READY, _T.IDLE, _E.FINISH_WRAP_UP)
        for state in _ALL_STATES:
            # A status choice never interrupts what the system is doing with the agent.
            t[status, state, _I.SET_NOT_READY] = (_S.NOT_READY, None, _E.NONE)
            t[status, state, _I.FORCE_NOT_READY] = (_S.NOT_READY, None, _E.NONE)
            t[status, state, _I.FORCE_OFFLINE] = (_S.OFFLINE, _T.IDLE, _E.LOG_OUT)
            if status is _S.NOT_READY:
                t[status, state, _I.SET_AVAILABLE] = (_S.AVAILABLE, None, _E.NONE)
                t[status, state, _I.FORCE_AVAILABLE] = (_S.AVAILABLE, None, _E.NONE)
    return t


#: The whole machine. Keys absent here are refused.
TRANSITIONS: Final[Mapping[tuple[AgentStatus, AgentState, AgentInput], Row]] = _build_table()


@dataclass(frozen=True, slots=True)
class AgentTransition:
    """The record of one accepted event: for reports, the bus and supervisors' screens."""

    agent: str
    from_status: AgentStatus
    from_state: AgentState
    to_status: AgentStatus
    to_state: AgentState
    reason: str
    at: float
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Changed:
    """An accepted event. ``released_call`` is a call the agent let go of before it ended
    normally (no answer, phone lost, withdrawn, forced out): the ACD must route it on or drop it.
    """

    record: AgentTransition
    released_call: str | None = None
    ok: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Refused:
    """An event the current state does not allow; nothing changed."""

    subject: str
    event: str
    reason: str
    ok: ClassVar[bool] = False


AgentResult: TypeAlias = Changed | Refused


def _refusal(status: AgentStatus, state: AgentState, event: AgentInput) -> str:
    if event is _I.LOGIN:
        return "already logged in"
    if status is _S.OFFLINE:
        return "no extension known: the agent must log in" if event is _I.FORCE_AVAILABLE \
            else "not logged in"
    if event is _I.OFFER:
        if status is not _S.AVAILABLE:
            return f"not available ({status.value})"
        return f"busy ({state.value})"
    if event is _I.LOGOUT:
        return f"a call is {'ringing' if state is _T.RESERVED else 'connected'}; it must end first"
    if event in (_I.ANSWERED, _I.RING_NO_ANSWER, _I.WITHDRAW):
        return f"no call is ringing ({state.value})"
    if event is _I.CALL_ENDED:
        return f"not on a call ({state.value})"
    if event is _I.WRAP_UP_DONE:
        return f"not in wrap-up ({state.value})"
    if event in (_I.SET_AVAILABLE, _I.FORCE_AVAILABLE):
        return "already available"
    return f"{event.value} is not allowed when {status.value}/{state.value}"


class Agent:
    """One agent: status, state, the call it holds, its timers and its counters for strategies.

    Counters: ``idle_since`` (login or end of the last wrap-up: longest-idle),
    ``last_call_end``, ``calls_today``, ``talk_time_today``, ``last_offered_at`` (round-robin
    memory and reports). The service resets the daily counters with `reset_daily`.
    """

    __slots__ = (
        "agent_id",
        "answered_at",
        "call_id",
        "calls_today",
        "extension",
        "idle_since",
        "last_call_end",
        "last_offered_at",
        "not_ready_reason",
        "offers_today",
        "ring_deadline",
        "skills",
        "state",
        "status",
        "talk_time_today",
        "wrap_up_deadline",
    )

    def __init__(self, agent_id: str, skills: Mapping[str, object] | None = None) -> None:
        self.agent_id = agent_id
        self.skills: dict[str, int] = skill_levels(skills or {})
        self.extension: str | None = None
        self.status = AgentStatus.OFFLINE
        self.state = AgentState.IDLE
        self.not_ready_reason: str | None = None
        self.call_id: str | None = None
        self.ring_deadline: float | None = None
        self.wrap_up_deadline: float | None = None
        self.answered_at: float | None = None
        self.idle_since: float | None = None
        self.last_call_end: float | None = None
        self.last_offered_at: float | None = None
        self.calls_today = 0
        self.offers_today = 0
        self.talk_time_today = 0.0

    def __repr__(self) -> str:
        return (f"Agent({self.agent_id!r}, {self.status.value}/{self.state.value}, "
                f"call={self.call_id!r})")

    @property
    def logged_in(self) -> bool:
        return self.status is not AgentStatus.OFFLINE

    @property
    def is_free(self) -> bool:
        """Can be offered a call now."""
        return self.status is AgentStatus.AVAILABLE and self.state is AgentState.IDLE

    # -- events --------------------------------------------------------------------------------

    def login(self, extension: str, now: float) -> AgentResult:
        if not extension:
            return Refused(self.agent_id, _I.LOGIN.value, "an extension is required")
        return self._apply(_I.LOGIN, now, "login", extension=extension)

    def logout(self, now: float) -> AgentResult:
        return self._apply(_I.LOGOUT, now, "logout")

    def set_available(self, now: float) -> AgentResult:
        return self._apply(_I.SET_AVAILABLE, now, "available")

    def set_not_ready(self, reason: str, now: float) -> AgentResult:
        return self._apply(_I.SET_NOT_READY, now, reason or "not-ready")

    def offer(self, call_id: str, now: float, ring_timeout: float) -> AgentResult:
        """Reserve the agent for ``call_id``; it rings for ``ring_timeout`` seconds."""
        if not call_id:
            return Refused(self.agent_id, _I.OFFER.value, "a call id is required")
        return self._apply(_I.OFFER, now, "offer", call_id=call_id, duration=ring_timeout)

    def answered(self, now: float) -> AgentResult:
        return self._apply(_I.ANSWERED, now, "answered")

    def ring_no_answer(self, now: float) -> AgentResult:
        return self._apply(_I.RING_NO_ANSWER, now, "no-answer")

    def withdraw(self, now: float, reason: str = "withdrawn") -> AgentResult:
        """Stop ringing without blaming the agent (caller gone, or answered elsewhere)."""
        return self._apply(_I.WITHDRAW, now, reason)

    def call_ended(self, now: float, wrap_up: float) -> AgentResult:
        """The connected call ended; wrap-up lasts ``wrap_up`` seconds (0: ends at ``now``)."""
        return self._apply(_I.CALL_ENDED, now, "call-ended", duration=wrap_up)

    def wrap_up_done(self, now: float) -> AgentResult:
        return self._apply(_I.WRAP_UP_DONE, now, "wrap-up-done")

    def phone_lost(self, now: float) -> AgentResult:
        return self._apply(_I.PHONE_LOST, now, "phone-lost")

    def force(self, status: AgentStatus, now: float, reason: str = "supervisor") -> AgentResult:
        """A supervisor sets the status; forcing offline drops any call from the agent."""
        event = {
            AgentStatus.OFFLINE: _I.FORCE_OFFLINE,
            AgentStatus.AVAILABLE: _I.FORCE_AVAILABLE,
            AgentStatus.NOT_READY: _I.FORCE_NOT_READY,
        }[status]
        return self._apply(event, now, reason or "supervisor")

    def reset_daily(self) -> None:
        self.calls_today = 0
        self.offers_today = 0
        self.talk_time_today = 0.0

    # -- timers --------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        if self.state is AgentState.RESERVED:
            return self.ring_deadline
        if self.state is AgentState.WRAP_UP:
            return self.wrap_up_deadline
        return None

    def handle_timer(self, now: float) -> list[AgentResult]:
        """Fire the ring timeout or the end of wrap-up if due."""
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return []
        if self.state is AgentState.RESERVED:
            return [self.ring_no_answer(now)]
        return [self.wrap_up_done(now)]

    # -- the machine ---------------------------------------------------------------------------

    def _apply(self, event: AgentInput, now: float, reason: str, *, call_id: str | None = None,
               extension: str | None = None, duration: float = 0.0) -> AgentResult:
        row = TRANSITIONS.get((self.status, self.state, event))
        if row is None or (event is _I.FORCE_AVAILABLE and self.status is _S.OFFLINE
                           and self.extension is None):
            return Refused(self.agent_id, event.value,
                           _refusal(self.status, self.state, event))
        to_status, to_state, effect = row
        from_status, from_state = self.status, self.state
        record_call = self.call_id if call_id is None else call_id
        released: str | None = None
        if effect is _E.LOG_IN:
            if extension is not None:
                self.extension = extension
            self.idle_since = now
        elif effect is _E.RESERVE:
            self.call_id = call_id
            self.ring_deadline = now + max(0.0, duration)
            self.last_offered_at = now
            self.offers_today += 1
        elif effect is _E.CONNECT:
            self.answered_at = now
            self.ring_deadline = None
        elif effect is _E.END_CALL:
            self._count_call(now)
            self.wrap_up_deadline = now + max(0.0, duration)
        elif effect is _E.FINISH_WRAP_UP:
            self._forget_call()
            self.idle_since = now
        elif effect in (_E.RELEASE, _E.LOG_OUT):
            if self.state in (_T.RESERVED, _T.ON_CALL):
                released = self.call_id
            if self.state is _T.ON_CALL:
                self._count_call(now)
                self.idle_since = now
            self._forget_call()
        self.status = from_status if to_status is None else to_status
        self.state = from_state if to_state is None else to_state
        if self.status is not _S.NOT_READY:
            self.not_ready_reason = None
        elif to_status is _S.NOT_READY:
            self.not_ready_reason = reason
        record = AgentTransition(self.agent_id, from_status, from_state, self.status, self.state,
                                 reason, now, record_call)
        return Changed(record, released)

    def _count_call(self, now: float) -> None:
        if self.answered_at is not None:
            self.talk_time_today += max(0.0, now - self.answered_at)
        self.calls_today += 1
        self.last_call_end = now

    def _forget_call(self) -> None:
        self.call_id = None
        self.ring_deadline = None
        self.wrap_up_deadline = None
        self.answered_at = None
