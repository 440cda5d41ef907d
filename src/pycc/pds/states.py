"""The life of a dialer contact as an explicit table, and the retry rules that end it.

A contact is ``ready`` when imported. The dialer claims it (``dial``) and it is ``dialing``;
the call then ends in one result: the customer's line is ``busy``, there is ``no_answer``
within the ring time, the call is ``rejected`` or the number ``invalid``, or the network
``failed``. An ``answer`` makes it ``answered``: then an agent takes the call (``connect``,
``connected``, and ``hangup`` when the talk ends), or no agent is free (``abandoned``), or an
answering machine picked up (``machine``). A result is a passing state: the campaign's retry
rules turn it at once into ``retry`` (dialed again at ``next_at``) or ``done``. A contact on
the do-not-call list or the blacklist at dial time is ``block``-ed straight to ``done``. An
agent may schedule a callback: the contact is ``scheduled`` for that time. A claimed contact
nobody called after all (a preview the agent passed on, or no agent to take it) is ``skip``-ped
back to ``retry``; that attempt does not count.

`TRANSITIONS` is the whole machine; a (state, event) pair missing from it is refused with
`TransitionError`, so a result can never overwrite another. Retry rules count attempts per
result: ``busy: {max: 3, after: 600}`` allows at most three busy attempts, each retried ten
minutes later, and the third busy ends the contact. A result without a rule ends it at once.
Pure: time is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "CALLABLE_STATES",
    "FINAL_RESULTS",
    "IN_CALL_STATES",
    "RETRYABLE_RESULTS",
    "TRANSITIONS",
    "ContactEvent",
    "ContactState",
    "RetryRule",
    "Settlement",
    "TransitionError",
    "next_state",
    "settle",
]


class ContactState(StrEnum):
    READY = "ready"
    DIALING = "dialing"
    ANSWERED = "answered"
    CONNECTED = "connected"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    INVALID = "invalid"
    FAILED = "failed"
    ABANDONED = "abandoned"
    MACHINE = "machine"
    RETRY = "retry"
    SCHEDULED = "scheduled"
    DONE = "done"


class ContactEvent(StrEnum):
    DIAL = "dial"
    BLOCK = "block"
    ANSWER = "answer"
    CONNECT = "connect"
    HANGUP = "hangup"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    INVALID = "invalid"
    FAILED = "failed"
    ABANDONED = "abandoned"
    MACHINE = "machine"
    RETRY = "retry"
    CLOSE = "close"
    CALLBACK = "callback"
    SKIP = "skip"


S = ContactState
E = ContactEvent

#: The results an attempt can end with, each the name of its passing state.
FINAL_RESULTS: Final = ("connected", "abandoned", "machine", "busy", "no_answer", "rejected",
                        "invalid", "failed")
#: Results a retry rule may name (a connected contact is done, an invalid number stays so).
RETRYABLE_RESULTS: Final = ("busy", "no_answer", "failed", "machine", "abandoned", "rejected")
#: States the dialer may claim a contact in (when its ``next_at`` has come).
CALLABLE_STATES: Final = (S.READY, S.RETRY, S.SCHEDULED)
#: States of a contact whose call is in progress.
IN_CALL_STATES: Final = (S.DIALING, S.ANSWERED, S.CONNECTED)

_RESULT_STATES: Final = {S.BUSY, S.NO_ANSWER, S.REJECTED, S.INVALID, S.FAILED, S.ABANDONED,
                         S.MACHINE}


def _table() -> dict[tuple[ContactState, ContactEvent], ContactState]:
    table: dict[tuple[ContactState, ContactEvent], ContactState] = {}
    for waiting in CALLABLE_STATES:
        table[waiting, E.DIAL] = S.DIALING
        table[waiting, E.BLOCK] = S.DONE
        table[waiting, E.CALLBACK] = S.SCHEDULED
    table[S.DONE, E.CALLBACK] = S.SCHEDULED
    table[S.DIALING, E.ANSWER] = S.ANSWERED
    table[S.DIALING, E.SKIP] = S.RETRY
    for result in (S.BUSY, S.NO_ANSWER, S.REJECTED, S.INVALID, S.FAILED):
        table[S.DIALING, E(result.value)] = result
    table[S.ANSWERED, E.CONNECT] = S.CONNECTED
    table[S.ANSWERED, E.ABANDONED] = S.ABANDONED
    table[S.ANSWERED, E.MACHINE] = S.MACHINE
    # Answered, then lost before anyone spoke (the trunk dropped, the switch stopped).
    table[S.ANSWERED, E.FAILED] = S.FAILED
    table[S.CONNECTED, E.HANGUP] = S.DONE
    for result in _RESULT_STATES:
        table[result, E.CLOSE] = S.DONE
        if result is not S.INVALID:
            table[result, E.RETRY] = S.RETRY
    return table


#: Every allowed move: ``TRANSITIONS[(state, event)]`` is the next state.
TRANSITIONS: Final[Mapping[tuple[ContactState, ContactEvent], ContactState]] = _table()


class TransitionError(ValueError):
    """An event that the contact's state does not allow."""

    def __init__(self, state: ContactState, event: ContactEvent) -> None:
        super().__init__(f"a contact in state {state.value!r} cannot take event "
                         f"{event.value!r}")
        self.state = state
        self.event = event


def next_state(state: ContactState | str, event: ContactEvent | str) -> ContactState:
    """The state after ``event``; `TransitionError` if the table has no such move, and
    `ValueError` for a name that is no state or event."""
    current, happened = ContactState(state), ContactEvent(event)
    found = TRANSITIONS.get((current, happened))
    if found is None:
        raise TransitionError(current, happened)
    return found


@dataclass(frozen=True, slots=True)
class RetryRule:
    """At most ``max`` attempts may end with this result; each but the last is dialed again
    ``after`` seconds later."""

    max: int
    after: float


@dataclass(frozen=True, slots=True)
class Settlement:
    """Where an ended attempt leaves its contact.

    ``state`` is ``retry``, ``scheduled`` or ``done``; ``result`` is the attempt's result
    (``connected`` for any call that reached an agent); ``next_at`` is when it may be dialed
    again (None when done); ``counts`` the attempts so far per result; ``path`` the events
    applied, in order.
    """

    state: ContactState
    result: str
    next_at: float | None
    counts: Mapping[str, int]
    path: tuple[ContactEvent, ...]


def settle(state: ContactState | str, result: str, counts: Mapping[str, int],
           rules: Mapping[str, RetryRule], now: float, *,
           callback_at: float | None = None) -> Settlement:
    """End the attempt of a contact in ``state`` (dialing, answered or connected) with
    ``result``, one of `FINAL_RESULTS`, and apply the retry rules.

    A contact already connected to an agent stays connected whatever the end was reported
    as: the customer was reached and must not be dialed again. ``callback_at`` is a callback
    an agent scheduled during the call: a contact that would be done is scheduled instead.
    """
    current = ContactState(state)
    if result not in FINAL_RESULTS:
        raise ValueError(f"unknown result {result!r} (one of {', '.join(FINAL_RESULTS)})")
    if current is S.CONNECTED:
        result = "connected"
    path: list[ContactEvent] = []
    if result in ("connected", "abandoned", "machine") and current is S.DIALING:
        path.append(E.ANSWER)
    if result == "connected":
        if current is not S.CONNECTED:
            path.append(E.CONNECT)
        path.append(E.HANGUP)
    else:
        path.append(E(result))
    for event in path:
        current = next_state(current, event)
    tally = dict(counts)
    tally[result] = tally.get(result, 0) + 1
    next_at: float | None = None
    if current is not S.DONE:
        rule = rules.get(result)
        if rule is not None and tally[result] < rule.max and \
                (current, E.RETRY) in TRANSITIONS:
            path.append(E.RETRY)
            next_at = now + rule.after
        else:
            path.append(E.CLOSE)
        current = next_state(current, path[-1])
    if current is S.DONE and callback_at is not None:
        path.append(E.CALLBACK)
        current = next_state(current, E.CALLBACK)
        next_at = callback_at
    return Settlement(current, result, next_at, tally, tuple(path))
