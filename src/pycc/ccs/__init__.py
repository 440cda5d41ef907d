"""The call-center service (ccs): agent states, queues and call distribution (the ACD).

This package's decision core is pure: no asyncio, sockets, database or clock; time is passed in
as ``now`` (seconds). :mod:`~pycc.ccs.agent` is the one authoritative state machine per agent,
:mod:`~pycc.ccs.skills` skill levels and requirements that relax with waiting time,
:mod:`~pycc.ccs.strategies` the choice among idle agents, :mod:`~pycc.ccs.queue` the queues and
the `Distributor` that turns events into decisions, :mod:`~pycc.ccs.estimates` wait estimates,
service level and queue statistics. The running service that wires them to calls comes later.
"""

from __future__ import annotations

from pycc.ccs.agent import (
    TRANSITIONS,
    Agent,
    AgentEffect,
    AgentInput,
    AgentResult,
    AgentState,
    AgentStatus,
    AgentTransition,
    Changed,
    Refused,
)
from pycc.ccs.estimates import HandleTimeAverage, QueueSnapshot, QueueStatistics, estimated_wait
from pycc.ccs.queue import (
    AnnouncePosition,
    CallBackThenOffer,
    CallLeftQueue,
    CallOutcome,
    CallQueue,
    Decision,
    Distributor,
    OfferCall,
    OverflowCall,
    OverflowKind,
    OverflowReason,
    OverflowTarget,
    QueueConfig,
    QueueError,
    RingAll,
    WaitingCall,
    WithdrawOffer,
)
from pycc.ccs.skills import SkillError, SkillSchedule, qualifies, skill_levels, skill_score
from pycc.ccs.strategies import (
    STRATEGIES,
    ChoiceContext,
    QueueStrategy,
    Strategy,
    choose,
    register_strategy,
)

__all__ = [
    "STRATEGIES",
    "TRANSITIONS",
    "Agent",
    "AgentEffect",
    "AgentInput",
    "AgentResult",
    "AgentState",
    "AgentStatus",
    "AgentTransition",
    "AnnouncePosition",
    "CallBackThenOffer",
    "CallLeftQueue",
    "CallOutcome",
    "CallQueue",
    "Changed",
    "ChoiceContext",
    "Decision",
    "Distributor",
    "HandleTimeAverage",
    "OfferCall",
    "OverflowCall",
    "OverflowKind",
    "OverflowReason",
    "OverflowTarget",
    "QueueConfig",
    "QueueError",
    "QueueSnapshot",
    "QueueStatistics",
    "QueueStrategy",
    "Refused",
    "RingAll",
    "SkillError",
    "SkillSchedule",
    "Strategy",
    "WaitingCall",
    "WithdrawOffer",
    "choose",
    "estimated_wait",
    "qualifies",
    "register_strategy",
    "skill_levels",
    "skill_score",
]
