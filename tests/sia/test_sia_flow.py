"""Declarative IVR flows: parsing, labels, references, and every kind of validation error
with its exact place in the apply file; a fuzzer checks that nothing but FlowError escapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.routing.timecond import HolidayCalendar
from pycc.sia.flow import (
    Answer,
    Collect,
    FlowError,
    Goto,
    Hangup,
    Http,
    If,
    Menu,
    Play,
    Record,
    SetVars,
    Target,
    Time,
    Transfer,
    parse_flow,
    substitute,
    substitute_json,
    validate_flow,
)

W = "ivr[0].steps"

DESIGN_EXAMPLE: list[Any] = [
    "answer",
    {"menu": {"prompt": "tts:Press 1 for sales, 2 for support", "timeout": 5, "retries": 2,
              "options": {"1": {"queue": "sales"}, "2": {"queue": "support"}}}},
]


def errors(steps: Any, **kwargs: Any) -> list[tuple[str, str]]:
    return [(e.where, e.message) for e in validate_flow("main", steps, W, **kwargs)]


def wheres(steps: Any) -> list[str]:
    return [where for where, _ in errors(steps)]


# -- good flows ---------------------------------------------------------------------------------


def test_the_design_example_parses_into_steps_with_labels_and_references() -> None:
    flow = parse_flow("main", DESIGN_EXAMPLE, W)
    assert flow.name == "main" and flow.where == W
    answer, menu = flow.steps
    assert answer.label == "1" and answer.where == "ivr[0].steps[0]"
    assert isinstance(menu, Menu)
    assert (menu.label, menu.prompt, menu.timeout, menu.retries) == (
        "2", "tts:Press 1 for sales, 2 for support", 5.0, 2)
    sales = menu.options["1"][0]
    assert isinstance(sales, Transfer) and sales.target == Target("queue", "sales")
    assert sales.label is None  # a branch written as a target adds nothing to the path
    # Without on_timeout / on_invalid the menu hangs up.
    assert [type(s) for s in menu.on_timeout] == [Hangup]
    assert [type(s) for s in menu.on_invalid] == [Hangup]
    assert flow.references() == [
        ("ivr[0].steps[1].menu.options.1.queue", "queue", "sales"),
        ("ivr[0].steps[1].menu.options.2.queue", "queue", "support"),
    ]


def test_every_step_kind_with_its_fields_and_defaults() -> None:
    flow = parse_flow("full", [
        {"answer": None, "id": "start"},
        {"play": {"prompt": "welcome.wav", "stop_on": "#"}},
        {"play": "tone:ringback"},
        {"collect": {"var": "account", "max": 8, "min": 2, "terminator": "*", "timeout": 7,
                     "inter_digit": 2, "prompt": "tts:Your account?"}},
        {"set": {"vip": True, "count": 3, "ratio": 0.5, "nothing": None,
                 "who": "${caller}-${called}"}},
        {"if": {"var": "account", "in": ["123", 456], "then": [{"goto": "start"}],
                "else": "hangup"}},
        {"time": {"when": {"weekdays": "mon-fri", "hours": "09:00-17:00"},
                  "then": {"queue": "sales"}}},
        {"http": {"method": "post", "url": "https://crm.example/lookup",
                  "json": {"caller": "${caller}", "n": [1, None, True]}, "timeout": 2,
                  "into": "crm", "on_error": {"voicemail": "crm-down"}}},
        {"record": {"name": "vm-${caller}", "max_seconds": 30, "beep": False,
                    "silence": 4, "stop_on": "#*"}},
        {"record": None},
        {"collect": {"var": "x"}},
        {"transfer": {"extension": 1002}},
        "hangup",
    ], W)
    steps = flow.steps
    assert isinstance(steps[0], Answer)
    assert steps[0].id == "start" and steps[0].label == "start"
    assert isinstance(steps[1], Play) and (steps[1].prompt, steps[1].stop_on) == ("welcome.wav",
                                                                                  "#")
    assert isinstance(steps[2], Play) and steps[2].stop_on == ""
    collect = steps[3]
    assert isinstance(collect, Collect)
    assert (collect.var, collect.max_digits, collect.min_digits, collect.terminator,
            collect.timeout, collect.inter_digit, collect.prompt) == (
        "account", 8, 2, "*", 7.0, 2.0, "tts:Your account?")
    assert isinstance(steps[4], SetVars) and steps[4].values == (
        ("vip", "true"), ("count", "3"), ("ratio", "0.5"), ("nothing", ""),
        ("who", "${caller}-${called}"))
    test = steps[5]
    assert isinstance(test, If) and test.test == "in" and test.choices == ("123", "456")
    assert test.then is not None and isinstance(test.then[0], Goto)
    assert test.then[0].label == "6.then.1"
    assert test.otherwise is not None and isinstance(test.otherwise[0], Hangup)
    time_step = steps[6]
    assert isinstance(time_step, Time) and time_step.otherwise is None
    assert time_step.condition.matches(datetime(2025, 6, 2, 10, tzinfo=UTC))  # a Monday
    assert not time_step.condition.matches(datetime(2025, 6, 1, 10, tzinfo=UTC))
    http = steps[7]
    assert isinstance(http, Http)
    assert (http.method, http.timeout, http.into) == ("POST", 2.0, "crm")
    assert http.body == {"caller": "${caller}", "n": [1, None, True]}
    record = steps[8]
    assert isinstance(record, Record)
    assert (record.name, record.max_seconds, record.beep, record.silence, record.stop_on) == (
        "vm-${caller}", 30.0, False, 4.0, "#*")
    default_record = steps[9]
    assert isinstance(default_record, Record)
    assert (default_record.name, default_record.max_seconds, default_record.beep,
            default_record.silence, default_record.stop_on) == ("message", 60.0, True, None, "#")
    default_collect = steps[10]
    assert isinstance(default_collect, Collect)
    assert (default_collect.max_digits, default_collect.min_digits, default_collect.terminator,
            default_collect.timeout, default_collect.inter_digit) == (4, 1, "#", 5.0, 3.0)
    transfer = steps[11]
    assert isinstance(transfer, Transfer) and transfer.target == Target("extension", "1002")
    assert flow.references() == [
        ("ivr[0].steps[6].time.then.queue", "queue", "sales"),
        ("ivr[0].steps[7].http.on_error.voicemail", "voicemail", "crm-down"),
        ("ivr[0].steps[11].transfer.extension", "extension", "1002"),
    ]


def test_references_skip_numbers_and_names_made_of_variables() -> None:
    flow = parse_flow("r", [{"menu": {"prompt": "m.wav", "options": {
        "1": {"number": "+15551230000"}, "2": {"extension": "${ext}"},
        "3": {"conference": "room"}, "4": {"ivr": "other"}, "5": "hangup"}}}], W)
    assert flow.references() == [
        ("ivr[0].steps[0].menu.options.3.conference", "conference", "room"),
        ("ivr[0].steps[0].menu.options.4.ivr", "ivr", "other"),
    ]


def test_ids_locate_steps_inside_branches_for_goto() -> None:
    flow = parse_flow("g", [
        {"play": "a.wav", "id": "top"},
        {"if": {"var": "x", "equals": "1", "then": [
            {"play": "b.wav"}, {"play": "c.wav", "id": "inner"}]}},
        {"goto": "inner"},
    ], W)
    frames = flow.locate("inner")
    assert [index for _steps, index in frames] == [2, 1]
    assert frames[-1][0][1].id == "inner"
    assert flow.locate("top") == ((flow.steps, 0),)
    assert [step.label for step in flow.walk()] == ["top", "2", "2.then.1", "inner", "3"]


def test_yaml_number_keys_and_numbers_as_names_are_accepted() -> None:
    flow = parse_flow("n", [{"menu": {"prompt": "m.wav", "options": {
        1: {"extension": 1001}, "#": "hangup"}}}], W)
    menu = flow.steps[0]
    assert isinstance(menu, Menu) and sorted(menu.options) == ["#", "1"]
    assert flow.references() == [("ivr[0].steps[0].menu.options.1.extension", "extension",
                                  "1001")]


def test_substitution() -> None:
    variables = {"caller": "1001", "crm.name": "Ann"}
    assert substitute("${caller} is ${crm.name}; ${missing}!", variables) == "1001 is Ann; !"
    assert substitute("$5 and ${ not a ref", variables) == "$5 and ${ not a ref"
    assert substitute_json({"a": ["${caller}", 2, {"b": "${crm.name}"}], "c": None},
                           variables) == {"a": ["1001", 2, {"b": "Ann"}], "c": None}


def test_target_checks_its_kind() -> None:
    with pytest.raises(ValueError, match="unknown target kind"):
        Target("trunk", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a name"):
        Target("queue", "")


# -- errors -----------------------------------------------------------------------------------


def test_parse_flow_raises_the_first_error_with_where_and_message() -> None:
    with pytest.raises(FlowError) as raised:
        parse_flow("main", [{"menu": {"prompt": "m.wav", "timeout": 0,
                                      "options": {"1": "hangup"}}}], W)
    err = raised.value
    assert err.where == "ivr[0].steps[0].menu.timeout"
    assert err.message == "expected more than 0 and at most 600, not 0"
    assert str(err) == f"{err.where}: {err.message}"
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(("steps", "where", "message"), [
    ("answer", W, "expected a list of steps, not text 'answer'"),
    ([], W, "a flow needs at least one step"),
    (["dance"], f"{W}[0]", "unknown step text 'dance'"),
    (["menu"], f"{W}[0]", "the menu step needs settings"),
    ([42], f"{W}[0]", "expected a step (a name or a mapping with one step), not the number 42"),
    ([{"dance": 1}], f"{W}[0].dance", "unknown step 'dance'"),
    ([{"id": "x"}], f"{W}[0]", "no step in this item"),
    ([{"play": "a.wav", "menu": {}}], f"{W}[0]", "one step per item, found play and menu"),
    ([{"play": "a.wav", "id": "9lives"}], f"{W}[0].id", "expected a step id"),
    ([{"answer": {"now": True}}], f"{W}[0].answer", "the answer step takes no settings"),
    ([{"play": ""}], f"{W}[0].play", "expected a prompt"),
    ([{"play": "tone:moo"}], f"{W}[0].play", "unknown tone 'moo'"),
    ([{"play": "tone:dtmf:12x"}], f"{W}[0].play", "expected DTMF keys"),
    ([{"play": "tts:   "}], f"{W}[0].play", "tts: needs the text to speak"),
    ([{"play": "tts:Hello ${name"}], f"{W}[0].play", "unclosed '${'"),
    ([{"play": "tts:Hello ${1x}"}], f"{W}[0].play", "bad variable name '1x'"),
    ([{"play": "msg-${caller}.wav"}], f"{W}[0].play", "only filled in in tts: prompts"),
    ([{"play": {"prompt": "a.wav", "stop_on": "x"}}], f"{W}[0].play.stop_on",
     "expected keys from 0-9, * and #"),
    ([{"play": {"stop_on": "#"}}], f"{W}[0].play.prompt", "this field is required"),
    ([{"play": {"prompt": "a.wav", "loud": True}}], f"{W}[0].play.loud",
     "unknown field 'loud'"),
    ([{"menu": {"prompt": "m.wav"}}], f"{W}[0].menu.options", "this field is required"),
    ([{"menu": {"prompt": "m.wav", "options": []}}], f"{W}[0].menu.options",
     "expected keys (0-9, * and #) with their branches"),
    ([{"menu": {"prompt": "m.wav", "options": {"12": "hangup"}}}],
     f"{W}[0].menu.options.12", "an option is one key"),
    ([{"menu": {"prompt": "m.wav", "options": {1: "hangup", "1": "hangup"}}}],
     f"{W}[0].menu.options.1", "the key 1 is given twice"),
    ([{"menu": {"prompt": "m.wav", "retries": 11, "options": {"1": "hangup"}}}],
     f"{W}[0].menu.retries", "expected 0 to 10, not 11"),
    ([{"menu": {"prompt": "m.wav", "retries": 1.5, "options": {"1": "hangup"}}}],
     f"{W}[0].menu.retries", "expected a whole number"),
    ([{"menu": {"prompt": "m.wav", "timeout": True, "options": {"1": "hangup"}}}],
     f"{W}[0].menu.timeout", "expected a number of seconds"),
    ([{"menu": {"prompt": "m.wav", "timeout": float("nan"), "options": {"1": "hangup"}}}],
     f"{W}[0].menu.timeout", "expected more than 0"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": "later"}}}], f"{W}[0].menu.options.1",
     "expected a branch"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": {"queue": "a", "ivr": "b"}}}}],
     f"{W}[0].menu.options.1", "one target at a time, found queue and ivr"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": {"trunk": "a"}}}}],
     f"{W}[0].menu.options.1.trunk", "unknown target 'trunk'"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": {"queue": ""}}}}],
     f"{W}[0].menu.options.1.queue", "expected a name"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": {"goto": "x", "queue": "a"}}}}],
     f"{W}[0].menu.options.1", "a goto branch has nothing else in it"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": [{"play": 3}]}}}],
     f"{W}[0].menu.options.1[0].play", "expected a prompt"),
    ([{"menu": {"prompt": "m.wav", "options": {"1": "hangup"}, "on_timeout": "later"}}],
     f"{W}[0].menu.on_timeout", "expected a branch"),
    ([{"collect": {"max": 3}}], f"{W}[0].collect.var", "this field is required"),
    ([{"collect": {"var": "a b"}}], f"{W}[0].collect.var", "'a b' is not a variable name"),
    ([{"collect": {"var": "a", "min": 5, "max": 3}}], f"{W}[0].collect.min",
     "min (5) is more than max (3)"),
    ([{"collect": {"var": "a", "max": 0}}], f"{W}[0].collect.max", "expected 1 to 64, not 0"),
    ([{"collect": {"var": "a", "terminator": "enter"}}], f"{W}[0].collect.terminator",
     "expected keys"),
    ([{"set": {}}], f"{W}[0].set", "expected variables and their values"),
    ([{"set": {"1st": "x"}}], f"{W}[0].set.1st", "'1st' is not a variable name"),
    ([{"set": {"a": ["x"]}}], f"{W}[0].set.a", "expected text, not a list"),
    ([{"set": {"a": float("inf")}}], f"{W}[0].set.a", "expected a finite number"),
    ([{"if": {"var": "a", "then": "hangup"}}], f"{W}[0].if", "needs one test"),
    ([{"if": {"var": "a", "equals": "1", "in": ["1"], "then": "hangup"}}], f"{W}[0].if",
     "one test per if, found equals and in"),
    ([{"if": {"var": "a", "equals": "1"}}], f"{W}[0].if", "needs then, else or both"),
    ([{"if": {"var": "a", "matches": "([0-9]", "then": "hangup"}}], f"{W}[0].if.matches",
     "not a valid regular expression"),
    ([{"if": {"var": "a", "in": [], "then": "hangup"}}], f"{W}[0].if.in",
     "expected a list of values"),
    ([{"if": {"var": "a", "less": "ten", "then": "hangup"}}], f"{W}[0].if.less",
     "expected a number"),
    ([{"if": {"var": "a", "equals": 1, "then": "hangup", "elif": "hangup"}}],
     f"{W}[0].if.elif", "unknown field 'elif'"),
    ([{"time": {"then": "hangup"}}], f"{W}[0].time.when", "this field is required"),
    ([{"time": {"when": {"hours": "9-17"}, "then": "hangup"}}], f"{W}[0].time.when.hours",
     "bad hours '9-17'"),
    ([{"time": {"when": {"weekdays": "funday"}, "then": "hangup"}}],
     f"{W}[0].time.when.weekdays", "unknown day 'funday'"),
    ([{"time": {"when": {"zone": "Mars/Olympus"}, "then": "hangup"}}],
     f"{W}[0].time.when.zone", "unknown time zone"),
    ([{"time": {"when": {"holidays": "uk"}, "then": "hangup"}}],
     f"{W}[0].time.when.holidays", "unknown holiday calendar 'uk'"),
    ([{"time": {"when": {"moon": "full"}, "then": "hangup"}}], f"{W}[0].time.when",
     "unknown field 'moon'"),
    ([{"time": {"when": [{"hours": "09:00-12:00"}, 5], "then": "hangup"}}],
     f"{W}[0].time.when[1]", "expected a time condition"),
    ([{"time": {"when": "always", "then": "hangup"}}], f"{W}[0].time.when",
     "expected a time condition"),
    ([{"http": {"method": "GET"}}], f"{W}[0].http.url", "this field is required"),
    ([{"http": {"url": "ftp://x"}}], f"{W}[0].http.url",
     "expected an http:// or https:// address"),
    ([{"http": {"url": "http://x", "method": "DELETE"}}], f"{W}[0].http.method",
     "expected GET or POST"),
    ([{"http": {"url": "http://x", "json": {"a": 1}}}], f"{W}[0].http.json",
     "a GET request has no body"),
    ([{"http": {"url": "http://x", "method": "POST", "json": {"a": {"b": float("nan")}}}}],
     f"{W}[0].http.json.a.b", "JSON has no nan"),
    ([{"http": {"url": "http://x", "method": "POST", "json": {"a": {1: "x"}}}}],
     f"{W}[0].http.json.a.1", "a JSON object's keys are text"),
    ([{"http": {"url": "http://x", "timeout": 61}}], f"{W}[0].http.timeout",
     "expected more than 0 and at most 60"),
    ([{"http": {"url": "http://x", "into": "my var"}}], f"{W}[0].http.into",
     "not a variable name"),
    ([{"transfer": {}}], f"{W}[0].transfer", "expected one target"),
    ([{"transfer": "sales"}], f"{W}[0].transfer", "expected one target"),
    ([{"transfer": {"queue": "sa\nles"}}], f"{W}[0].transfer.queue", "printable characters"),
    ([{"transfer": {"queue": "${q"}}], f"{W}[0].transfer.queue", "unclosed '${'"),
    ([{"record": {"max_seconds": 0}}], f"{W}[0].record.max_seconds", "expected more than 0"),
    ([{"record": {"beep": "yes"}}], f"{W}[0].record.beep", "expected true or false"),
    ([{"record": "now"}], f"{W}[0].record", "expected a mapping of settings"),
    ([{"goto": 3}], f"{W}[0].goto", "expected the id of a step"),
    ([{"goto": "nowhere"}], f"{W}[0].goto", "no step has the id 'nowhere' (ids: none)"),
])
def test_each_error_names_its_place(steps: Any, where: str, message: str) -> None:
    found = errors(steps)
    assert any(w == where and message in m for w, m in found), found
    with pytest.raises(FlowError) as raised:
        parse_flow("main", steps, W)
    assert raised.value.where == found[0][0]


def test_validate_flow_lists_every_error() -> None:
    steps = [
        {"menu": {"prompt": 5, "timeout": -1, "options": {"12": "hangup"}, "colour": "red"}},
        {"goto": "nope"},
        {"play": "a.wav", "id": "twice"},
        {"play": "b.wav", "id": "twice"},
        {"if": {"var": "x", "matches": "(", "then": [{"transfer": {"queue": 3.5}}]}},
    ]
    assert sorted(wheres(steps)) == sorted([
        "ivr[0].steps[0].menu.colour",
        "ivr[0].steps[0].menu.prompt",
        "ivr[0].steps[0].menu.options.12",
        "ivr[0].steps[0].menu.timeout",
        "ivr[0].steps[1].goto",
        "ivr[0].steps[3].id",
        "ivr[0].steps[4].if.then[0].transfer.queue",
        "ivr[0].steps[4].if.matches",
    ])
    assert ("ivr[0].steps[3].id", "duplicate step id 'twice' (also at ivr[0].steps[2].id)") \
        in errors(steps)
    assert validate_flow("main", DESIGN_EXAMPLE, W) == []


def test_goto_may_target_an_id_inside_a_branch_and_missing_ids_list_the_known_ones() -> None:
    steps = [{"if": {"var": "a", "equals": "1", "then": [{"play": "a.wav", "id": "deep"}]}},
             {"goto": "deep"}, {"goto": "shallow"}]
    assert errors(steps) == [("ivr[0].steps[2].goto", "no step has the id 'shallow' "
                                                       "(ids: deep)")]


def test_branches_nested_too_deeply_are_an_error_not_a_crash() -> None:
    branch: Any = "hangup"
    for _ in range(40):
        branch = [{"if": {"var": "a", "equals": "1", "then": branch}}]
    found = errors(branch)
    assert found and all("nested more than 16 deep" in m for _, m in found)


def test_named_holiday_calendars_can_be_given() -> None:
    calendar = HolidayCalendar.from_entries("uk", ["12-25"])
    steps = [{"time": {"when": {"holidays": "uk"}, "then": {"voicemail": "closed"}}}]
    flow = parse_flow("h", steps, W, calendars={"uk": calendar})
    step = flow.steps[0]
    assert isinstance(step, Time)
    assert step.condition.matches(datetime(2025, 12, 25, 12, tzinfo=UTC))
    assert not step.condition.matches(datetime(2025, 12, 24, 12, tzinfo=UTC))


def test_if_tests() -> None:
    def check(test: dict[str, Any], value: str, variables: dict[str, str] | None = None) -> bool:
        flow = parse_flow("t", [{"if": {"var": "v", **test, "then": "hangup"}}], W)
        step = flow.steps[0]
        assert isinstance(step, If)
        return step.holds(value, lambda text: substitute(text, variables or {}))

    assert check({"equals": 12}, "12") and not check({"equals": 12}, "13")
    assert check({"equals": "${other}"}, "x", {"other": "x"})
    assert check({"not_equals": "a"}, "b") and not check({"not_equals": "a"}, "a")
    assert check({"in": ["1", "2"]}, "2") and not check({"in": ["1", "2"]}, "3")
    assert check({"matches": "0[0-9]+"}, "0123") and not check({"matches": "0[0-9]+"}, "x0123")
    assert check({"less": 10}, "9.5") and not check({"less": 10}, "10")
    assert check({"greater": 10}, "11") and not check({"greater": 10}, "abc")
    assert not check({"greater": 10}, "inf")


# -- fuzzing ----------------------------------------------------------------------------------

_WORDS = st.sampled_from([
    "answer", "hangup", "play", "menu", "collect", "set", "if", "time", "http", "transfer",
    "record", "goto", "id", "prompt", "timeout", "retries", "options", "invalid", "on_invalid",
    "on_timeout", "var", "min", "max", "terminator", "inter_digit", "equals", "in", "matches",
    "less", "greater", "then", "else", "when", "weekdays", "hours", "zone", "method", "url",
    "json", "into", "on_error", "queue", "ivr", "extension", "number", "name", "beep",
    "silence", "stop_on", "max_seconds", "1", "#", "tone:beep", "tts:hi ${caller}", "a.wav",
    "09:00-17:00", "mon-fri", "http://x/${a}", "(", "${", "POST",
])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True), _WORDS,
    st.text(max_size=8))
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(_WORDS, st.integers(0, 12)), children, max_size=4)),
    max_leaves=16)


def only_flow_errors(steps: Any) -> None:
    problems = validate_flow("fuzz", steps, W)
    assert all(isinstance(p, FlowError) and p.where.startswith(W) for p in problems)
    try:
        flow = parse_flow("fuzz", steps, W)
    except FlowError:
        assert problems
    else:
        assert not problems
        flow.references()
        list(flow.walk())


@settings(max_examples=150, deadline=None)
@given(_TREES)
def test_random_structures_raise_nothing_but_flow_errors(steps: Any) -> None:
    only_flow_errors(steps)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(_WORDS, _TREES, min_size=1, max_size=3), min_size=1,
                max_size=4))
def test_random_steps_raise_nothing_but_flow_errors(steps: Any) -> None:
    only_flow_errors(steps)
