"""Validating the apply file: the specs built, and every error reported at its line."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycc.ccs import OverflowKind, OverflowTarget, QueueStrategy
from pycc.provision.schema import (
    AnnounceSpec,
    CallbackSpec,
    CallCenterSpec,
    Destination,
    route_names,
    validate,
)
from pycc.provision.source import ApplyError, load
from pycc.routing import Ivr, Queue, Reject, Trunk

SpecOf = Callable[[str], CallCenterSpec]
MONDAY_10 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def errors_of(text: str, **options: object) -> list[ApplyError]:
    source = load(text, "cc.yaml")
    spec, errors = validate(source.data, source=source, **options)  # type: ignore[arg-type]
    assert spec is None
    assert errors
    return errors


def places(errors: list[ApplyError]) -> list[tuple[int | None, str]]:
    return [(error.line, error.where) for error in errors]


# -- a valid file ------------------------------------------------------------------------------


def test_the_example_file_validates_into_every_section(example_text: str,
                                                       spec_of: SpecOf) -> None:
    spec = spec_of(example_text)
    assert (spec.tenant, spec.realm) == ("default", "pycc")
    assert [e.number for e in spec.extensions] == ["1001", "1002", "1003"]
    assert spec.extensions[0].password == "secret1001"
    assert [(a.id, a.extension, dict(a.skills)) for a in spec.agents] == [
        ("alice", "1001", {"sales": 5, "support": 2}), ("bob", "1002", {"sales": 3}),
        ("carol", "1003", {"support": 8})]
    sales, support = spec.queues
    assert sales.config.strategy is QueueStrategy.LONGEST_IDLE
    assert (sales.config.ring_timeout, sales.config.wrap_up, sales.config.max_wait,
            sales.config.max_size, sales.config.service_level_target) == (15, 5, 300, 20, 20)
    assert sales.config.overflow == OverflowTarget(OverflowKind.QUEUE, "support")
    assert dict(sales.config.skills.final) == {"sales": 1}
    assert sales.overflow == Destination("queue", "support")
    assert sales.no_agents == Destination("voicemail", "1001")
    assert sales.music == "tone:hold"
    assert sales.announce == AnnounceSpec(30.0, True, True)
    assert sales.callback == CallbackSpec("*", "tts:Press star to be called back")
    assert support.config.strategy is QueueStrategy.SKILL_WEIGHTED
    assert [(after, dict(needs)) for after, needs in support.config.skills.steps] == [
        (0.0, {"support": 5}), (60.0, {"support": 1})]
    assert support.no_agents == Destination("ivr", "closed")
    assert support.music == "tone:hold"  # the default
    assert list(spec.ivr) == ["main", "closed"]
    assert spec.ivr["main"].flow.name == "main"
    assert ("ivr[0].steps[2].menu.options.1.queue", "queue", "sales") in \
        spec.ivr["main"].flow.references()
    assert [t.name for t in spec.trunks] == ["carrier", "backup"]
    assert spec.trunks[1].config.max_calls == 10
    assert [(d.number, d.target) for d in spec.dids] == [
        ("+15551230000", Destination("ivr", "main")),
        ("+15551230001", Destination("queue", "support"))]
    assert [c.name for c in spec.calendars] == ["holidays"]
    assert datetime(2030, 12, 25).date() in spec.calendars[0].calendar
    assert spec.limits is not None and spec.limits.calls == 50
    assert [c["name"] for c in spec.campaigns] == ["spring"]
    assert len(spec.routes) == 3
    assert spec.dispositions is not None
    assert [(d.code, d.callback) for d in spec.dispositions] == [
        ("sale", False), ("no_sale", False), ("callback", True), ("dnc", False)]
    assert spec.sections == {"tenant", "realm", "extensions", "agents", "queues", "calendars",
                             "ivr", "trunks", "dids", "routes", "blacklist", "limits",
                             "campaigns", "dispositions"}


def test_the_dial_plan_takes_dids_first_then_routes_and_screens(example_text: str,
                                                                spec_of: SpecOf) -> None:
    plan = spec_of(example_text).dial_plan

    def route(called: str, caller: str = "+15550001111") -> object:
        decision = plan.route(called, caller, MONDAY_10, tenant_time_zone="UTC")
        return None if decision is None else (decision.action, decision.rule, decision.called)

    assert route("+15551230001") == (Queue("support"), "dids[1]", "+15551230001")
    assert route("8000") == (Ivr("main"), "routes[0]", "8000")
    assert route("8001") == (Queue("sales"), "routes[1]", "8001")
    assert route("912345") == (Trunk(("carrier", "backup")), "outside", "12345")
    assert route("7") is None
    assert route("8000", caller="+19005550000") == (Reject(403, "Forbidden"),
                                                    "screening:inbound", "8000")
    assert route("919005550000") == (Reject(403, "Forbidden"), "screening:outbound",
                                     "19005550000")


def test_a_did_wins_over_a_route_for_the_same_number(spec_of: SpecOf) -> None:
    spec = spec_of("""\
queues: [{name: sales}]
ivr: [{name: main, steps: [answer]}]
routes: [{match: "5550100", to: {queue: sales}, order: -5}]
dids: [{number: 5550100, to: {ivr: main}}]
""")
    decision = spec.dial_plan.route("5550100", "1", MONDAY_10, tenant_time_zone="UTC")
    assert decision is not None
    assert (decision.action, decision.rule) == (Ivr("main"), "dids[0]")
    assert spec.dids[0].number == "5550100"


def test_defaults(spec_of: SpecOf) -> None:
    spec = spec_of("queues: [{name: q}]\n")
    assert (spec.tenant, spec.realm) == ("default", "default")
    (queue,) = spec.queues
    assert queue.config.strategy is QueueStrategy.LONGEST_IDLE
    assert (queue.config.ring_timeout, queue.config.wrap_up, queue.config.max_wait,
            queue.config.service_level_target) == (15, 5, None, 20)
    assert (queue.music, queue.overflow, queue.announce, queue.callback) == (
        "tone:hold", None, None, None)
    assert spec.sections == {"queues"}
    source = load("realm: example.com\n")
    other, errors = validate(source.data, default_tenant="acme")
    assert errors == [] and other is not None
    assert (other.tenant, other.realm) == ("acme", "example.com")


def test_route_names_are_stable_and_unique() -> None:
    routes = [{"match": "8000"}, {"name": "8000", "match": "x"}, {"match": "8000"},
              {"match": "_9X."}, {"name": "out", "match": "_9X."}]
    assert route_names(routes) == ["8000#2", "8000", "8000#3", "_9X.", "out"]


# -- errors, each at its line ------------------------------------------------------------------

MANY_ERRORS = """\
tenant: acme
extensions:
  - {number: "1001", password: short}
  - {number: "1001", password: longenough}
agents:
  - {id: alice, extension: "1001", skills: {sales: 50}}
  - {id: bob, extension: "1001"}
  - {id: carol, extension: nobody}
queues:
  - name: sales
    strategy: fastest
    ring_timeout: -1
    overflow: {queue: nowhere}
    colour: blue
ivr:
  - name: main
    steps:
      - menu:
          prompt: tts:Hello
          timeout: zero
          options: {"1": {queue: sales}}
  - name: other
    steps: [{transfer: {queue: missing}}]
routes:
  - {match: "8000", to: {ivr: main}}
  - {match: "8001", to: {fax: x}}
  - {match: "8002", to: {trunk: nowhere}}
limits: {calls: 0}
surprise: 1
"""


def test_every_error_of_a_file_is_reported_at_its_line() -> None:
    errors = errors_of(MANY_ERRORS)
    assert places(errors) == [
        (3, "extensions[0].password"),
        (4, "extensions[1].number"),
        (6, "agents[0].skills.sales"),
        (7, "agents[1].extension"),
        (8, "agents[2].extension"),
        (11, "queues[0].strategy"),
        (12, "queues[0].ring_timeout"),
        (13, "queues[0].overflow.queue"),
        (14, "queues[0].colour"),
        (20, "ivr[0].steps[0].menu.timeout"),
        (23, "ivr[1].steps[0].transfer.queue"),
        (26, "routes[1].to"),
        (27, "routes[2].to.trunk"),
        (28, "limits.calls"),
        (29, "surprise"),
    ]
    text = [str(error) for error in errors]
    assert text[0] == "cc.yaml:3:22: extensions[0].password: must be at least 8 characters"
    assert text[1].startswith("cc.yaml:4:6: extensions[1].number: extension '1001' is "
                              "defined twice")
    assert "must be >= 1 and <= 10, not 50" in text[2]
    assert "already agent 'alice'" in text[3]
    assert "no extension 'nobody'" in text[4]
    assert "unknown strategy 'fastest'" in text[5]
    assert "must be > 0, not -1" in text[6]
    assert "there is no queue 'nowhere'" in text[7]
    assert "unknown field 'colour'" in text[8]
    assert "there is no queue 'missing'" in text[10]
    assert 'unknown action "fax"' in text[11]
    assert "[0]" not in text[11]  # the per-rule compile's own index does not leak out
    assert "no trunk 'nowhere'" in text[12]
    assert "must be >= 1, not 0" in text[13]
    assert "unknown section 'surprise'" in text[14]


@pytest.mark.parametrize(("text", "expected"), [
    ("[1, 2]\n", [(None, "")]),
    ("just text\n", [(None, "")]),
    ("tenant: [a]\n", [(1, "tenant")]),
    ("realm: 'has space'\n", [(1, "realm")]),
    ("extensions: {number: 1}\n", [(1, "extensions")]),
    ("extensions:\n  - 1001\n", [(2, "extensions[0]")]),
    ("extensions:\n  - {number: '10 01', password: longenough}\n",
     [(2, "extensions[0].number")]),
    ("extensions:\n  - {number: '1001'}\n", [(2, "extensions[0]")]),
    ("agents:\n  - {id: a, extension: '1', skills: [sales]}\n", [(2, "agents[0].skills")]),
    ("agents:\n  - {id: a, extension: '1', skills: {sales: true}}\n",
     [(2, "agents[0].skills.sales")]),
    ("queues:\n  - {name: q, ring_timeout: fast}\n", [(2, "queues[0].ring_timeout")]),
    ("queues:\n  - {name: q, ring_timeout: .inf}\n", [(2, "queues[0].ring_timeout")]),
    ("queues:\n  - {name: q, wrapup: -1}\n", [(2, "queues[0].wrapup")]),
    ("queues:\n  - {name: q, max_size: 1.5}\n", [(2, "queues[0].max_size")]),
    ("queues:\n  - {name: q, skill: a, skills: {a: 1}}\n", [(2, "queues[0]")]),
    ("queues:\n  - name: q\n    skills:\n      - {after: 0, needs: {a: 1}}\n"
     "      - {after: 30, needs: {a: 5}}\n", [(3, "queues[0].skills")]),
    ("queues:\n  - {name: q, music: 'tone:nonsense'}\n", [(2, "queues[0].music")]),
    ("queues:\n  - {name: q, music: 'tts:'}\n", [(2, "queues[0].music")]),
    ("queues:\n  - {name: q, overflow: {queue: q}}\n", [(2, "queues[0].overflow.queue")]),
    ("queues:\n  - {name: q, overflow: {fax: x}}\n", [(2, "queues[0].overflow.fax")]),
    ("queues:\n  - {name: q, overflow: {queue: a, ivr: b}}\n", [(2, "queues[0].overflow")]),
    ("queues:\n  - {name: q, no_agents: {ivr: none}}\n", [(2, "queues[0].no_agents.ivr")]),
    ("queues:\n  - {name: q, announce: {every: 0}}\n", [(2, "queues[0].announce.every")]),
    ("queues:\n  - {name: q, announce: {position: maybe}}\n",
     [(2, "queues[0].announce.position")]),
    ("queues:\n  - {name: q, callback: {key: '**'}}\n", [(2, "queues[0].callback.key")]),
    ("queues:\n  - {name: q, agent_order: [ghost]}\n", [(2, "queues[0].agent_order[0]")]),
    ("queues:\n  - {name: q}\n  - {name: q}\n", [(3, "queues[1].name")]),
    ("ivr:\n  - {name: a, steps: [answer]}\n  - {name: a, steps: [answer]}\n",
     [(3, "ivr[1].name")]),
    ("ivr:\n  - {name: a, steps: [dance]}\n", [(2, "ivr[0].steps[0]")]),
    ("ivr:\n  - {name: a, steps: [{transfer: {ivr: b}}]}\n",
     [(2, "ivr[0].steps[0].transfer.ivr")]),
    ("ivr:\n  - {name: a}\n", [(2, "ivr[0]")]),
    ("trunks:\n  - {name: t, host: h, colour: red}\n", [(2, "trunks[0].colour")]),
    ("trunks:\n  - {name: t, host: h}\n  - {name: t, host: h}\n", [(3, "trunks[1].name")]),
    ("trunks:\n  - just-a-name\n", [(2, "trunks[0]")]),
    ("routes:\n  - {match: '_9[', to: {extension: '1'}}\n", [(2, "routes[0].match")]),
    ("routes:\n  - {match: '1', to: {queue: q}}\n", [(2, "routes[0].to.queue")]),
    ("routes:\n  - {match: '1', to: {extension: '1'}, time: {holidays: none}}\n",
     [(2, "routes[0].time.holidays")]),
    ("routes:\n  - {match: '1', to: {extension: '1'}, extra: 1}\n", [(2, "routes[0]")]),
    ("routes:\n  - {name: a, match: '1', to: {extension: '1'}}\n"
     "  - {name: a, match: '2', to: {extension: '1'}}\n", [(3, "routes[1].name")]),
    ("routes: {match: '1'}\n", [(1, "routes")]),
    ("dids:\n  - {number: abc, to: {extension: '1'}}\n", [(2, "dids[0].number")]),
    ("dids:\n  - {number: '1', to: {trunk: t}}\n", [(2, "dids[0].to.trunk")]),
    ("dids:\n  - {number: '1', to: {ivr: gone}}\n", [(2, "dids[0].to.ivr")]),
    ("dids:\n  - {number: '1', to: {extension: '2'}}\n  - {number: 1, to: {extension: '2'}}\n",
     [(3, "dids[1].number")]),
    ("calendars:\n  uk:\n    - 2025-13-45\n", [(3, "calendars.uk[0]")]),
    ("calendars: [a]\n", [(1, "calendars")]),
    ("calendars:\n", [(1, "calendars")]),
    ("queues:\n", [(1, "queues")]),
    ("blacklist: {inbound: ['_9X.']}\n", [(1, "blacklist.inbound[0]")]),
    ("blacklist: {inbound: {block: ['1'], allow: ['1']}}\n", [(1, "blacklist.inbound")]),
    ("blacklist: {sideways: []}\n", [(1, "blacklist.sideways")]),
    ("limits: {calls: many}\n", [(1, "limits.calls")]),
    ("limits: {seats: 3}\n", [(1, "limits.seats")]),
    ("campaigns:\n  - {mode: predictive}\n", [(2, "campaigns[0]")]),
    ("campaigns:\n  - {name: a}\n  - {name: a}\n", [(3, "campaigns[1].name")]),
    ("campaigns:\n  - {name: a, queue: nowhere}\n", [(2, "campaigns[0].queue")]),
])
def test_each_kind_of_error_names_its_field(text: str,
                                            expected: list[tuple[int | None, str]]) -> None:
    errors = errors_of(text)
    got = places(errors)
    if expected[0][0] is None:  # a file that is no mapping has no field to point at
        assert [where for _, where in got] == [where for _, where in expected]
    else:
        assert got == expected, [str(e) for e in errors]


def test_a_trunk_list_route_points_at_the_missing_trunk() -> None:
    errors = errors_of("trunks: [{name: a, host: h}]\n"
                       "routes:\n  - {match: '9', to: {trunk: [a, b]}}\n")
    assert places(errors) == [(3, "routes[0].to.trunk[1]")]
    assert "there is no trunk 'b'" in errors[0].message


def test_references_to_sections_left_out_use_the_stored_names() -> None:
    text = ("routes:\n  - {match: '1', to: {queue: sales}}\n"
            "  - {match: '2', to: {ivr: main}, time: {holidays: uk}}\n"
            "agents:\n  - {id: a, extension: alice}\n")
    errors = errors_of(text)
    assert places(errors) == [(2, "routes[0].to.queue"), (3, "routes[1].time.holidays"),
                              (5, "agents[0].extension")]
    assert "the file has no queues section and none by that name is stored" in \
        errors[0].message
    known = {"queues": ["sales"], "ivr": ["main"], "calendars": ["uk"],
             "extensions": ["alice"]}
    spec, problems = validate(load(text).data, known=known)
    assert problems == [] and spec is not None
    # A section the file has replaces the stored one: its names are the only ones.
    errors = errors_of(text + "queues: [{name: support}]\n", known=known)
    assert places(errors) == [(2, "routes[0].to.queue")]
    assert "there is no queue 'sales'" in errors[0].message


def test_ivr_flows_see_the_calendars_and_each_other(spec_of: SpecOf) -> None:
    spec = spec_of("""\
calendars: {uk: ["12-25"]}
ivr:
  - name: a
    steps:
      - time: {when: {holidays: uk}, then: {ivr: b}}
  - name: b
    steps: [{transfer: {ivr: a}}]
""")
    assert set(spec.ivr) == {"a", "b"}


def test_non_json_values_are_refused() -> None:
    spec, errors = validate({"queues": [{"name": ("t", "u")}]})
    assert spec is None
    assert [(e.where, e.message) for e in errors] == [
        ("queues[0].name", "unsupported value a tuple")]
    spec, errors = validate({"limits": {1: 2}})
    assert spec is None and errors[0].message == "key 1: keys must be text"


# -- random damage never breaks the validator --------------------------------------------------

_REPLACEMENTS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True),
    st.text(max_size=8), st.sampled_from(["sales", "main", "carrier", "1001", "tone:hold",
                                          "tts:", "_9X.", "prefix:+1", "09:00"]),
    st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=5),
                                                             st.integers(0, 3), max_size=2),
)


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _mutate(data: dict[str, object], seed: int, replacement: object, action: int) -> object:
    chooser = random.Random(seed)
    paths = _paths(data)[1:]
    path = chooser.choice(paths)
    parent: object = data
    for part in path[:-1]:
        parent = parent[part]  # type: ignore[index]
    last = path[-1]
    if action == 0 or not isinstance(parent, dict):
        parent[last] = replacement  # type: ignore[index]
    elif action == 1:
        del parent[last]
    else:
        parent[f"x{seed % 7}"] = replacement
    return data


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seeds=st.lists(st.integers(0, 10**6), min_size=1, max_size=3),
       replacement=_REPLACEMENTS, action=st.integers(0, 2))
def test_random_damage_to_a_valid_file_is_reported_never_raised(
        example_text: str, seeds: list[int], replacement: object, action: int) -> None:
    data = copy.deepcopy(load(example_text).data)
    assert isinstance(data, dict)
    for seed in seeds:
        _mutate(data, seed, copy.deepcopy(replacement), action)
    spec, errors = validate(data)
    assert (spec is None) == bool(errors)
    for error in errors:
        assert isinstance(error, ApplyError)
        assert error.message
