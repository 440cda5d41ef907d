"""Who may do what: roles, the principal a request acts as, and the permission table.

Three roles exist within a tenant. An **admin** manages everything of its tenant. A
**supervisor** reads and monitors its tenant's agents, queues, calls, reports, records and
recordings, controls and transfers calls and changes agent states, but changes no
configuration and no users. An **agent** reads only its own records, recordings and reports,
changes only its own state and transfers only a call it is on. The agent desktop's shared
records are the exception: every role works with its tenant's customers and tickets and
reads its knowledge base, which only admins and supervisors write.

A principal of the tenant named ``*`` (`SYSTEM_TENANT`) belongs to the operator of the
switch: it has its role in every tenant, and only an admin of ``*`` (the system super-admin
the CLI creates) may manage tenants themselves. No other principal ever reaches a tenant
not its own.

`PERMISSIONS` is the whole policy as one explicit table (action x role -> scope); `allowed`
only looks it up. Pure: no database, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "PERMISSIONS",
    "SYSTEM_TENANT",
    "Action",
    "Principal",
    "Role",
    "Scope",
    "allowed",
]

#: The tenant name of the operator's own users, who act on every tenant.
SYSTEM_TENANT: Final = "*"


class Role(enum.StrEnum):
    """What a user is to its tenant."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class Action(enum.StrEnum):
    """Everything the admin API and CLI check before acting."""

    #: Read configuration: extensions, agents, skill groups, queues, IVR flows, routes,
    #: trunks, campaigns, contact and do-not-call lists, rate tables.
    CONFIG_READ = "config.read"
    #: Create, change or delete any of that.
    CONFIG_WRITE = "config.write"
    #: List users and their API tokens.
    USERS_READ = "users.read"
    #: Create, change, disable and delete users; issue and revoke their API tokens.
    USERS_WRITE = "users.write"
    #: Read the audit log.
    AUDIT_READ = "audit.read"
    #: Read agents and their live states.
    AGENTS_READ = "agents.read"
    #: Log an agent in or out, make it ready or not ready.
    AGENT_STATE = "agents.state"
    #: Read queues and their live statistics.
    QUEUES_READ = "queues.read"
    #: See the calls in progress.
    CALLS_READ = "calls.read"
    #: Listen to, whisper into or barge into a call.
    CALLS_MONITOR = "calls.monitor"
    #: Originate and hang up calls.
    CALLS_CONTROL = "calls.control"
    #: Transfer a live call elsewhere (an agent: only a call it is on).
    CALLS_TRANSFER = "calls.transfer"
    #: Start and stop campaigns (their settings are configuration).
    CAMPAIGNS_RUN = "campaigns.run"
    #: Read reports.
    REPORTS_READ = "reports.read"
    #: Read call records.
    RECORDS_READ = "records.read"
    #: List and download recordings.
    RECORDINGS_READ = "recordings.read"
    #: Delete recordings.
    RECORDINGS_DELETE = "recordings.delete"
    #: Create tenants and act across them: the system super-admin only.
    TENANTS_MANAGE = "tenants.manage"
    #: Look up, create and change customers (the agent desktop's caller lookup).
    CUSTOMERS = "customers"
    #: Read, create, change and comment on tickets.
    TICKETS = "tickets"
    #: Read and search the knowledge base.
    KB_READ = "kb.read"
    #: Write and delete knowledge-base articles.
    KB_WRITE = "kb.write"
    #: Put an announcement on every agent's desktop, or take one off.
    ANNOUNCE = "announce"


class Scope(enum.Enum):
    """How far a role's permission for an action reaches within a tenant it may act on."""

    #: Not at all.
    NONE = "none"
    #: Only the agent the principal is (the request must name that agent).
    OWN = "own"
    #: Everything of the tenant.
    TENANT = "tenant"
    #: Only for principals of `SYSTEM_TENANT`.
    SYSTEM = "system"


_N, _O, _T, _S = Scope.NONE, Scope.OWN, Scope.TENANT, Scope.SYSTEM

#: action -> (admin, supervisor, agent). Written out in full so a review reads the policy.
_TABLE: Final[dict[Action, tuple[Scope, Scope, Scope]]] = {
    Action.CONFIG_READ: (_T, _T, _N),
    Action.CONFIG_WRITE: (_T, _N, _N),
    Action.USERS_READ: (_T, _N, _N),
    Action.USERS_WRITE: (_T, _N, _N),
    Action.AUDIT_READ: (_T, _N, _N),
    Action.AGENTS_READ: (_T, _T, _O),
    Action.AGENT_STATE: (_T, _T, _O),
    Action.QUEUES_READ: (_T, _T, _N),
    Action.CALLS_READ: (_T, _T, _N),
    Action.CALLS_MONITOR: (_T, _T, _N),
    Action.CALLS_CONTROL: (_T, _T, _N),
    Action.CALLS_TRANSFER: (_T, _T, _O),
    Action.CAMPAIGNS_RUN: (_T, _T, _N),
    Action.REPORTS_READ: (_T, _T, _O),
    Action.RECORDS_READ: (_T, _T, _O),
    Action.RECORDINGS_READ: (_T, _T, _O),
    Action.RECORDINGS_DELETE: (_T, _N, _N),
    Action.TENANTS_MANAGE: (_S, _N, _N),
    Action.CUSTOMERS: (_T, _T, _T),
    Action.TICKETS: (_T, _T, _T),
    Action.KB_READ: (_T, _T, _T),
    Action.KB_WRITE: (_T, _T, _N),
    Action.ANNOUNCE: (_T, _T, _N),
}

#: The policy: action -> role -> scope.
PERMISSIONS: Final[Mapping[Action, Mapping[Role, Scope]]] = MappingProxyType({
    action: MappingProxyType(dict(zip((Role.ADMIN, Role.SUPERVISOR, Role.AGENT), scopes,
                                      strict=True)))
    for action, scopes in _TABLE.items()
})


@dataclass(frozen=True, slots=True)
class Principal:
    """The user a request acts as: ``user`` of ``tenant`` with ``role``; ``agent`` is the
    agent id of an agent (and only of an agent)."""

    user: str
    tenant: str
    role: Role
    agent: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            raise ValueError(f"role: must be one of {', '.join(Role)}, not {self.role!r}")
        if self.role is Role.AGENT:
            if not self.agent:
                raise ValueError("agent: a user with the role agent needs an agent id")
            if self.tenant == SYSTEM_TENANT:
                raise ValueError("role: an agent belongs to one tenant, not to every tenant")
        elif self.agent is not None:
            raise ValueError(f"agent: only a user with the role agent has an agent id, "
                             f"not a {self.role}")

    @property
    def is_system(self) -> bool:
        """Whether this principal is the operator's and so acts on every tenant."""
        return self.tenant == SYSTEM_TENANT

    @property
    def label(self) -> str:
        """``user@tenant``, as the audit log names the actor."""
        return f"{self.user}@{self.tenant}"


def allowed(principal: Principal, action: Action, *, tenant: str,
            agent: str | None = None) -> bool:
    """Whether ``principal`` may do ``action`` on a resource of ``tenant``.

    ``agent`` names the agent the resource belongs to (the agent whose state changes, whose
    call record or recording is read), or None for a resource of no one agent; an agent's
    own-scoped permissions need it to be the agent's own id.
    """
    if not principal.is_system and tenant != principal.tenant:
        return False
    scope = PERMISSIONS[action].get(principal.role, Scope.NONE)
    if scope is Scope.TENANT:
        return True
    if scope is Scope.SYSTEM:
        return principal.is_system
    if scope is Scope.OWN:
        return agent is not None and agent == principal.agent
    return False
