"""Roles and permissions: every role of every tenant against every action on every tenant.

The expectations are written here from the policy in words (issue 6), rule by rule, not
copied from the table in `pycc.aaa.roles`, so a wrong cell in the table fails a test.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.aaa.roles import (
    PERMISSIONS,
    SYSTEM_TENANT,
    Action,
    Principal,
    Role,
    Scope,
    allowed,
)

TENANTS = ("acme", "globex")
AGENTS = ("alice", "bob")

#: What a supervisor may do in its tenant: read and monitor, change agent states.
SUPERVISOR = {Action.CONFIG_READ, Action.AGENTS_READ, Action.AGENT_STATE, Action.QUEUES_READ,
              Action.CALLS_READ, Action.CALLS_MONITOR, Action.CALLS_CONTROL,
              Action.CALLS_TRANSFER, Action.CAMPAIGNS_RUN, Action.REPORTS_READ,
              Action.RECORDS_READ, Action.RECORDINGS_READ, Action.CUSTOMERS, Action.TICKETS,
              Action.KB_READ, Action.KB_WRITE, Action.ANNOUNCE}
#: What an agent may do, and only about itself (transfer: only a call it is on).
AGENT_OWN = {Action.AGENTS_READ, Action.AGENT_STATE, Action.REPORTS_READ, Action.RECORDS_READ,
             Action.RECORDINGS_READ, Action.CALLS_TRANSFER}
#: The working data an agent shares with its whole tenant: customers, tickets, and the
#: knowledge base to read.
AGENT_SHARED = {Action.CUSTOMERS, Action.TICKETS, Action.KB_READ}
#: Changes to configuration or users: never a supervisor's or an agent's.
CHANGES = {Action.CONFIG_WRITE, Action.USERS_READ, Action.USERS_WRITE, Action.AUDIT_READ,
           Action.RECORDINGS_DELETE, Action.TENANTS_MANAGE}


def principals() -> list[Principal]:
    found = [Principal("root", SYSTEM_TENANT, Role.ADMIN),
             Principal("noc", SYSTEM_TENANT, Role.SUPERVISOR)]
    for tenant in TENANTS:
        found.append(Principal("boss", tenant, Role.ADMIN))
        found.append(Principal("sup", tenant, Role.SUPERVISOR))
        found.extend(Principal(f"u-{agent}", tenant, Role.AGENT, agent) for agent in AGENTS)
    return found


def expected(principal: Principal, action: Action, tenant: str, agent: str | None) -> bool:
    """The policy, in the order the issue states it."""
    if principal.tenant not in (SYSTEM_TENANT, tenant):
        return False  # a tenant never sees another tenant
    if action is Action.TENANTS_MANAGE:
        return principal.tenant == SYSTEM_TENANT and principal.role is Role.ADMIN
    if principal.role is Role.ADMIN:
        return True  # manages everything of its tenant (the system admin: of every tenant)
    if principal.role is Role.SUPERVISOR:
        return action in SUPERVISOR
    if action in AGENT_SHARED:
        return principal.tenant == tenant
    return action in AGENT_OWN and agent == principal.agent


CASES = list(itertools.product(principals(), list(Action), [*TENANTS, SYSTEM_TENANT],
                               [*AGENTS, None]))


@pytest.mark.parametrize(("principal", "action", "tenant", "agent"), CASES,
                         ids=lambda v: getattr(v, "label", None) or str(v))
def test_every_role_and_tenant_combination(principal: Principal, action: Action,
                                           tenant: str, agent: str | None) -> None:
    assert allowed(principal, action, tenant=tenant, agent=agent) is expected(
        principal, action, tenant, agent)


def test_the_matrix_covers_every_case_and_allows_and_refuses_some() -> None:
    outcomes = [allowed(p, a, tenant=t, agent=g) for p, a, t, g in CASES]
    # 6 principals per tenant pair + 2 system ones, every action, 3 tenants, 3 agents.
    assert len(CASES) == 10 * len(Action) * 3 * 3
    assert any(outcomes) and not all(outcomes)


def test_the_table_has_a_scope_for_every_action_and_role() -> None:
    assert set(PERMISSIONS) == set(Action)
    for action, scopes in PERMISSIONS.items():
        assert set(scopes) == set(Role), action
    # Only tenant management is the system's alone; only agents have own-scoped rows.
    system_only = {a for a, s in PERMISSIONS.items() if Scope.SYSTEM in s.values()}
    assert system_only == {Action.TENANTS_MANAGE}
    assert {r for s in PERMISSIONS.values() for r, v in s.items() if v is Scope.OWN} == {
        Role.AGENT}


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        PERMISSIONS[Action.CONFIG_WRITE][Role.AGENT] = Scope.TENANT  # type: ignore[index]


names = st.text(alphabet="abcdefg*", min_size=1, max_size=3)


@st.composite
def any_principal(draw: st.DrawFn) -> Principal:
    role = draw(st.sampled_from(list(Role)))
    tenant = draw(names)
    if role is Role.AGENT:
        tenant = tenant if tenant != SYSTEM_TENANT else "a"
        return Principal("u", tenant, role, draw(names))
    return Principal("u", tenant, role)


@given(any_principal(), st.sampled_from(list(Action)), names, st.none() | names)
def test_no_one_but_the_operator_reaches_another_tenant(principal: Principal, action: Action,
                                                         tenant: str,
                                                         agent: str | None) -> None:
    if tenant != principal.tenant and not principal.is_system:
        assert not allowed(principal, action, tenant=tenant, agent=agent)


@given(any_principal(), st.sampled_from(list(Action)), names, st.none() | names)
def test_an_agent_only_ever_acts_on_itself(principal: Principal, action: Action, tenant: str,
                                           agent: str | None) -> None:
    if principal.role is Role.AGENT and allowed(principal, action, tenant=tenant, agent=agent):
        assert tenant == principal.tenant
        assert action in AGENT_SHARED or (agent == principal.agent and action in AGENT_OWN)


@given(any_principal(), st.sampled_from(sorted(CHANGES)), names, st.none() | names)
def test_only_admins_change_configuration_or_users(principal: Principal, action: Action,
                                                   tenant: str, agent: str | None) -> None:
    if principal.role is not Role.ADMIN:
        assert not allowed(principal, action, tenant=tenant, agent=agent)


@given(any_principal(), names)
def test_only_the_system_admin_manages_tenants(principal: Principal, tenant: str) -> None:
    may = allowed(principal, Action.TENANTS_MANAGE, tenant=tenant)
    assert may is (principal.tenant == SYSTEM_TENANT and principal.role is Role.ADMIN)


def test_a_tenant_principal_cannot_act_on_the_system_tenant() -> None:
    admin = Principal("boss", "acme", Role.ADMIN)
    assert not allowed(admin, Action.USERS_WRITE, tenant=SYSTEM_TENANT)
    assert allowed(Principal("root", SYSTEM_TENANT, Role.ADMIN), Action.USERS_WRITE,
                   tenant=SYSTEM_TENANT)


@pytest.mark.parametrize(("args", "says"), [
    (("ann", "acme", Role.AGENT), "agent: a user with the role agent needs an agent id"),
    (("ann", "acme", Role.AGENT, ""), "agent: a user with the role agent needs an agent id"),
    (("ann", SYSTEM_TENANT, Role.AGENT, "alice"), "role: an agent belongs to one tenant"),
    (("sup", "acme", Role.SUPERVISOR, "alice"), "agent: only a user with the role agent"),
    (("x", "acme", "admin"), "role: must be one of admin, supervisor, agent"),
])
def test_inconsistent_principals_are_refused(args: tuple[object, ...], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Principal(*args)  # type: ignore[arg-type]


def test_a_principal_names_itself_user_at_tenant() -> None:
    assert Principal("ann", "acme", Role.AGENT, "alice").label == "ann@acme"
    assert Principal("root", SYSTEM_TENANT, Role.ADMIN).label == "root@*"
    assert Principal("root", SYSTEM_TENANT, Role.ADMIN).is_system
    assert not Principal("boss", "acme", Role.ADMIN).is_system
