"""The dial plan: a decision table, the rule-file validation, and the index against a scan."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.routing import (
    Conference,
    Decision,
    DialPlan,
    Extension,
    HolidayCalendar,
    Ivr,
    Queue,
    Reject,
    RoutingError,
    Rule,
    Screening,
    TimeCondition,
    Translation,
    Trunk,
    parse_matcher,
)

LONDON = ZoneInfo("Europe/London")
CALENDARS = {"uk": HolidayCalendar.from_entries("uk", [{"date": "2025-12-25",
                                                         "name": "Christmas Day"}])}

ROUTES: list[dict[str, object]] = [
    {"name": "main-ivr", "match": "8000", "to": {"ivr": "main"}},
    {"name": "after-hours", "match": "8000", "to": {"ivr": "closed"}, "order": -1,
     "time": [{"weekdays": "sat-sun"},
              {"weekdays": "mon-fri", "hours": "18:00-08:00"},
              {"holidays": "uk"}]},
    {"name": "sales", "match": "8001", "to": {"queue": "sales"}},
    {"name": "vip", "match": "8001", "caller": "prefix:+4420", "to": {"queue": "vip"}},
    {"name": "vip-first", "match": "8002", "caller": "prefix:+4420", "to": {"queue": "vip"}},
    {"name": "support", "match": "8002", "to": {"queue": "support"}},
    {"name": "extensions", "match": "_1XXX", "to": {"extension": "dialled"}},
    {"name": "alice", "match": "1001", "to": {"extension": "1001"}},
    {"name": "rooms", "match": "_7[0-4]X", "to": {"conference": "rooms"}},
    {"name": "outside", "match": "_9X.", "to": {"trunk": "carrier"}, "translate": {"strip": 1}},
    {"name": "us", "match": "_91NXXNXXXXXX", "to": {"trunk": ["us-a", "us-b"]},
     "translate": {"called": [{"strip": 1}, {"e164": {"country": "US"}}],
                   "calling": [{"e164": {"country": "GB"}}]}},
    {"name": "premium", "match": "_909.", "to": {"reject": {"status": 403,
                                                            "reason": "No premium calls"}}},
    {"name": "uk", "match": "prefix:+44", "to": {"trunk": "uk"}},
    {"name": "london", "match": "prefix:+4420", "to": {"trunk": "london"}},
    {"name": "e164-us", "match": r"re:^\+1(\d{10})$", "to": {"trunk": "us-a"},
     "translate": {"replace": {"with": r"1\1"}}},
    {"name": "anything", "match": "*", "to": {"reject": 404}, "order": 10},
]
SCREENING = Screening.from_dict({
    "inbound": {"block": ["prefix:+1900", "+447700900666"]},
    "outbound": {"block": ["prefix:+1976"]},
})
PLAN = DialPlan.from_dicts(ROUTES, calendars=CALENDARS, screening=SCREENING)

TUESDAY_NOON = datetime(2025, 6, 3, 11, 0, tzinfo=UTC)  # 12:00 BST
TUESDAY_NIGHT = datetime(2025, 6, 3, 20, 0, tzinfo=UTC)  # 21:00 BST
SATURDAY = datetime(2025, 6, 7, 11, 0, tzinfo=UTC)
CHRISTMAS = datetime(2025, 12, 25, 11, 0, tzinfo=UTC)  # a Thursday, 11:00 GMT


@pytest.mark.parametrize(
    ("called", "caller", "at", "action", "rule", "new_called", "new_calling"),
    [
        ("8000", "1001", TUESDAY_NOON, Ivr("main"), "main-ivr", "8000", "1001"),
        ("8000", "1001", TUESDAY_NIGHT, Ivr("closed"), "after-hours", "8000", "1001"),
        ("8000", "1001", SATURDAY, Ivr("closed"), "after-hours", "8000", "1001"),
        ("8000", "1001", CHRISTMAS, Ivr("closed"), "after-hours", "8000", "1001"),
        ("8001", "+442079460018", TUESDAY_NOON, Queue("sales"), "sales", "8001",
         "+442079460018"),  # same specificity: the rule written first wins
        ("8002", "+442079460018", TUESDAY_NOON, Queue("vip"), "vip-first", "8002",
         "+442079460018"),
        ("8002", "+441612345678", TUESDAY_NOON, Queue("support"), "support", "8002",
         "+441612345678"),  # the caller condition fails: the next candidate
        ("1001", "1002", TUESDAY_NOON, Extension("1001"), "alice", "1001", "1002"),
        ("1002", "1001", TUESDAY_NOON, Extension("dialled"), "extensions", "1002", "1001"),
        ("712", "1001", TUESDAY_NOON, Conference("rooms"), "rooms", "712", "1001"),
        ("752", "1001", TUESDAY_NOON, Reject(404, "Not Found"), "anything", "752", "1001"),
        ("90123", "1001", TUESDAY_NOON, Trunk(("carrier",)), "outside", "0123", "1001"),
        ("912125550123", "02079460018", TUESDAY_NOON, Trunk(("us-a", "us-b")), "us",
         "+12125550123", "+442079460018"),  # NXX beats X, "." comes last
        ("909123", "1001", TUESDAY_NOON, Reject(403, "No premium calls"), "premium",
         "909123", "1001"),
        ("+442079460018", "1001", TUESDAY_NOON, Trunk(("london",)), "london",
         "+442079460018", "1001"),  # the longest prefix
        ("+441612345678", "1001", TUESDAY_NOON, Trunk(("uk",)), "uk", "+441612345678", "1001"),
        ("+12125550123", "1001", TUESDAY_NOON, Trunk(("us-a",)), "e164-us", "12125550123",
         "1001"),
        ("8000", "+19005550100", TUESDAY_NOON, Reject(403, "Forbidden"), "screening:inbound",
         "8000", "+19005550100"),
        ("8000", "+447700900666", TUESDAY_NOON, Reject(403, "Forbidden"), "screening:inbound",
         "8000", "+447700900666"),
        ("+19765550100", "1001", TUESDAY_NOON, Reject(403, "Forbidden"), "screening:outbound",
         "+19765550100", "1001"),
        ("919765550100", "1001", TUESDAY_NOON, Reject(403, "Forbidden"), "screening:outbound",
         "+19765550100", "1001"),  # blocked once translated to what goes out
        ("", "", TUESDAY_NOON, Reject(404, "Not Found"), "anything", "", ""),
    ],
)
def test_decision_table(called: str, caller: str, at: datetime, action: object, rule: str,
                        new_called: str, new_calling: str) -> None:
    decision = PLAN.route(called, caller, at, tenant_time_zone="Europe/London")
    assert decision is not None
    assert (decision.action, decision.rule, decision.called, decision.calling) == \
        (action, rule, new_called, new_calling)


def test_regex_groups_are_in_the_decision() -> None:
    decision = PLAN.route("+12125550123", "1001", TUESDAY_NOON, tenant_time_zone=LONDON)
    assert decision is not None and decision.groups == ("2125550123",)


def test_no_rule_means_no_decision() -> None:
    plan = DialPlan.from_dicts([{"match": "8000", "to": {"ivr": "main"}}])
    assert plan.route("8001", "1001", TUESDAY_NOON, tenant_time_zone="UTC") is None
    assert DialPlan([]).route("8000", "", TUESDAY_NOON, tenant_time_zone="UTC") is None


def test_the_tenant_zone_decides_the_local_time() -> None:
    plan = DialPlan([Rule("day", "8000", Queue("day"),
                          time=TimeCondition.from_dict({"hours": "09:00-17:00"})),
                     Rule("night", "8000", Queue("night"), order=1)])
    at = datetime(2025, 6, 3, 14, 0, tzinfo=UTC)  # 15:00 in London, 10:00 in New York
    tokyo = plan.route("8000", "", at, tenant_time_zone="Asia/Tokyo")  # 23:00
    london = plan.route("8000", "", at, tenant_time_zone="Europe/London")
    assert tokyo is not None and tokyo.rule == "night"
    assert london is not None and london.rule == "day"


def test_route_refuses_a_naive_instant_and_an_unknown_zone() -> None:
    with pytest.raises(RoutingError, match="aware"):
        PLAN.route("8000", "1001", datetime(2025, 6, 3, 12), tenant_time_zone="UTC")
    with pytest.raises(RoutingError, match="unknown time zone"):
        PLAN.route("8000", "1001", TUESDAY_NOON, tenant_time_zone="Nowhere/Special")


def test_rules_built_in_python() -> None:
    plan = DialPlan([
        Rule("out", "_0Z.", Trunk(("a", "b")), translate=Translation.from_dict({"strip": 1})),
        Rule("ops", parse_matcher("0"), Extension("1000")),
    ])
    decision = plan.route("0123", "1001", TUESDAY_NOON, tenant_time_zone="UTC")
    assert decision == Decision(Trunk(("a", "b")), "out", "123", "1001")
    assert Trunk("solo") == Trunk(("solo",))  # type: ignore[arg-type]
    assert Trunk(["a", "b"]) == Trunk(("a", "b"))  # type: ignore[arg-type]
    with pytest.raises(RoutingError, match="needs trunk names"):
        Trunk(())
    assert repr(plan.rules[1]) == "Rule('ops', '0', Extension(number='1000'), order=0)"
    with pytest.raises(RoutingError, match="needs an re: match"):
        Rule("x", "_X.", Queue("q"), translate=Translation.from_dict(
            {"replace": {"with": r"\1"}}))
    with pytest.raises(RoutingError, match="status must be 400-699"):
        Reject(200)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"match": "8000", "to": {"foo": "x"}}, 'routes[1].to: unknown action "foo"'),
        ({"match": "8000"}, "routes[1]: missing field 'to'"),
        ({"to": {"ivr": "main"}}, "routes[1]: missing field 'match'"),
        ({"match": "8000", "to": {"ivr": "main"}, "colour": "red"},
         "routes[1]: unknown field 'colour'"),
        ({"match": "_9[", "to": {"ivr": "main"}},
         "routes[1].match: bad pattern '_9[' at position 2"),
        ({"match": "8000", "caller": "re:(", "to": {"ivr": "main"}},
         "routes[1].caller: bad match 're:(' at position 3"),
        ({"match": None, "to": {"ivr": "main"}}, "routes[1].match: expected text"),
        ({"match": "8000", "to": {"ivr": "main", "queue": "q"}},
         "routes[1].to: expected one action"),
        ({"match": "8000", "to": "main"}, "routes[1].to: expected one action"),
        ({"match": "8000", "to": {"trunk": []}}, "routes[1].to.trunk: expected a trunk name"),
        ({"match": "8000", "to": {"queue": ""}}, "routes[1].to.queue: expected a name"),
        ({"match": "8000", "to": {"reject": 200}},
         "routes[1].to.reject: reject: status must be 400-699"),
        ({"match": "8000", "to": {"reject": "busy"}},
         "routes[1].to.reject: status must be a number"),
        ({"match": "8000", "to": {"reject": {"code": 486}}},
         "routes[1].to.reject: expected a status"),
        ({"match": "8000", "to": {"ivr": "main"}, "order": "first"},
         "routes[1].order: expected a whole number"),
        ({"match": "8000", "to": {"ivr": "main"}, "translate": {"strip": "x"}},
         "routes[1].translate.strip: expected a whole number"),
        ({"match": "8000", "to": {"ivr": "main"}, "translate": {"replace": {"with": "x"}}},
         "routes[1].translate: rule 'routes[1]': a replace step without a pattern"),
        ({"match": "8000", "to": {"ivr": "main"}, "time": {"hours": "9-5"}},
         "routes[1].time.hours: bad hours '9-5'"),
        ({"match": "8000", "to": {"ivr": "main"}, "time": [{"days": "mon"}, {"days": "xyz"}]},
         "routes[1].time[1].weekdays: bad weekdays 'xyz'"),
        ({"match": "8000", "to": {"ivr": "main"}, "time": {"holidays": "fr"}},
         "routes[1].time.holidays: unknown holiday calendar 'fr'"),
        ({"match": "8000", "to": {"ivr": "main"}, "time": "weekdays"},
         "routes[1].time: expected a mapping"),
        ({"match": "8000", "to": {"ivr": "main"}, "time": []},
         "routes[1].time: an empty list"),
        ({"match": "8000", "to": {"ivr": "main"}, "name": ""}, "routes[1].name: expected text"),
        ("8000", "routes[1]: expected a mapping"),
    ],
)
def test_from_dicts_errors_name_the_rule_and_field(route: object, message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        DialPlan.from_dicts([{"match": "1", "to": {"ivr": "x"}}, route],  # type: ignore[list-item]
                            calendars=CALENDARS)
    assert str(caught.value).startswith(message), str(caught.value)


def test_from_dicts_needs_a_list() -> None:
    with pytest.raises(RoutingError, match="routes: expected a list"):
        DialPlan.from_dicts({"match": "8000"})  # type: ignore[arg-type]


def test_yaml_numbers_are_read_as_numbers() -> None:
    plan = DialPlan.from_dicts([{"match": 8000, "to": {"extension": 1001}}])
    decision = plan.route("8000", "", TUESDAY_NOON, tenant_time_zone="UTC")
    assert decision is not None and decision.action == Extension("1001")


# -- the index against a plain scan ------------------------------------------------------------

CALLED_TEXTS = ["1", "12", "123", "1234", "21", "prefix:1", "prefix:12", "prefix:2",
                "prefix:123", "_1X", "_1XX", "_X.", "_1!", "_[12]X.", "_NX", "_12[3-4]",
                "_Z!", "_[1]2", "_[1]23", "re:1.*", r"re:(\d)(\d)", "*"]
CALLER_TEXTS = [None, "1", "prefix:2", "_X"]


def scan(rules: list[Rule], called: str, caller: str) -> str | None:
    """The dial plan's meaning, without an index: sort every match and take the first."""
    for order in sorted({rule.order for rule in rules}):
        tier = [(rule.match_called.specificity, index, rule)
                for index, rule in enumerate(rules)
                if rule.order == order and rule.match_called.match(called) is not None]
        for _, _, rule in sorted(tier, key=lambda item: (item[0], item[1])):
            if rule.match_caller is None or rule.match_caller.match(caller) is not None:
                return rule.name
    return None


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(CALLED_TEXTS), st.sampled_from(CALLER_TEXTS),
                          st.integers(0, 2)), max_size=14),
       st.text(alphabet="0123", max_size=5), st.sampled_from(["1", "2", "22", ""]))
def test_the_index_decides_like_a_scan(spec: list[tuple[str, str | None, int]], called: str,
                                       caller: str) -> None:
    rules = [Rule(f"r{index}", called_text, Queue("q"), match_caller=caller_text, order=order)
             for index, (called_text, caller_text, order) in enumerate(spec)]
    decision = DialPlan(rules).route(called, caller, TUESDAY_NOON, tenant_time_zone="UTC")
    assert (decision.rule if decision else None) == scan(rules, called, caller)


def test_patterns_from_different_literal_starts_are_ranked_together() -> None:
    # "_[1]2" is indexed under "" and "_1X" under "1"; "_[1]2" is the more specific.
    plan = DialPlan([Rule("wide", "_1X", Queue("wide")), Rule("narrow", "_[1]2", Queue("n")),
                     Rule("other", "_12", Queue("other"), order=1)])
    decision = plan.route("12", "", TUESDAY_NOON, tenant_time_zone="UTC")
    assert decision is not None and decision.rule == "narrow"
    decision = plan.route("13", "", TUESDAY_NOON, tenant_time_zone="UTC")
    assert decision is not None and decision.rule == "wide"
