"""Campaign settings: `CampaignConfig.from_dict`, templates, and the ``campaigns:`` section of
``pycc apply`` reporting each error at its exact field and line."""

from __future__ import annotations

from typing import Any

import pytest

from pycc.pds.campaign import CampaignConfig, CampaignError, campaigns_from_entries
from pycc.pds.states import RetryRule
from pycc.pds.windows import CallingWindow
from pycc.provision.schema import validate
from pycc.provision.source import load

FULL: dict[str, Any] = {
    "name": "spring", "mode": "progressive", "queue": "sales", "trunk": ["carrier", "backup"],
    "abandon_limit": 0.02, "dial_level": 1.5, "max_dial_level": 4,
    "caller_ids": ["+15551230000", "+15551230001"], "country": "us",
    "timezone": "America/Chicago",
    "window": {"start": "09:00", "end": "20:00", "days": "mon-fri"},
    "retries": {"busy": {"max": 3, "after": 600}, "no_answer": {"max": 2, "after": 3600}},
    "ring_time": 30, "machine": "message", "machine_message": "tts:Please call us back",
    "abandon_message": "tone:busy", "priority": 7,
}


def test_a_full_entry_gives_every_setting() -> None:
    config = CampaignConfig.from_dict(FULL, "campaigns[0]")
    assert config.name == "spring" and config.mode == "progressive"
    assert config.queue == "sales" and config.trunks == ("carrier", "backup")
    assert config.abandon_limit == 0.02 and config.dial_level == 1.5
    assert config.max_dial_level == 4.0
    assert config.caller_ids == ("+15551230000", "+15551230001")
    assert config.country == "US" and config.timezone == "America/Chicago"
    assert config.window == CallingWindow(9 * 3600, 20 * 3600, frozenset(range(5)))
    assert config.retries == {"busy": RetryRule(3, 600.0), "no_answer": RetryRule(2, 3600.0)}
    assert config.ring_time == 30.0 and config.machine == "message"
    assert config.machine_message == "tts:Please call us back"
    assert config.abandon_message == "tone:busy" and config.priority == 7
    assert config.runnable is None


def test_defaults_and_the_round_trip_through_to_dict() -> None:
    config = CampaignConfig.from_dict({"name": "a"})
    assert (config.mode, config.abandon_limit, config.ring_time, config.machine) == \
        ("predictive", 0.03, 25.0, "hangup")
    assert config.queue is None and config.runnable is not None
    assert "no queue" in config.runnable
    assert config.window is None and dict(config.retries) == {}
    full = CampaignConfig.from_dict(FULL)
    assert CampaignConfig.from_dict(full.to_dict()) == full
    assert CampaignConfig.from_dict(config.to_dict()) == config


def test_ratio_is_a_synonym_of_dial_level() -> None:
    assert CampaignConfig.from_dict({"name": "a", "mode": "ratio", "ratio": 2.5}).dial_level \
        == 2.5
    assert CampaignConfig.from_dict({"name": "a", "ratio": 4}).max_dial_level == 4.0


@pytest.mark.parametrize(("change", "where", "words"), [
    ({"colour": "red"}, "c.colour", "unknown field 'colour'"),
    ({"name": "has space"}, "c.name", "expected a name"),
    ({"mode": "turbo"}, "c.mode", "unknown mode 'turbo'"),
    ({"queue": 5}, "c.queue", "expected a name"),
    ({"trunk": []}, "c.trunk", "trunk name or a list"),
    ({"trunk": ["a", "a"]}, "c.trunk[1]", "listed twice"),
    ({"trunk": ["a", 3]}, "c.trunk[1]", "expected a name"),
    ({"abandon_limit": 0.5}, "c.abandon_limit", "<= 0.2"),
    ({"abandon_limit": -0.01}, "c.abandon_limit", ">= 0"),
    ({"abandon_limit": "3%"}, "c.abandon_limit", "expected a number"),
    ({"abandon_limit": True}, "c.abandon_limit", "expected a number"),
    ({"dial_level": 0}, "c.dial_level", "> 0"),
    ({"ratio": 2, "dial_level": 2}, "c", "not both"),
    ({"dial_level": 4, "max_dial_level": 2}, "c.max_dial_level", "at least the dial level"),
    ({"caller_ids": "+15551230000"}, "c.caller_ids", "list of E.164"),
    ({"caller_ids": ["+15551230000", "5551230001"]}, "c.caller_ids[1]", "E.164"),
    ({"caller_ids": ["+15551230000", "+15551230000"]}, "c.caller_ids[1]", "listed twice"),
    ({"country": "XX"}, "c.country", "no numbering plan"),
    ({"timezone": "Mars/Olympus"}, "c.timezone", "unknown time zone"),
    ({"window": "9-5"}, "c.window", "expected {start"),
    ({"window": {"start": "09:00"}}, "c.window", "missing field 'end'"),
    ({"window": {"start": "9am", "end": "17:00"}}, "c.window", "not HH:MM"),
    ({"window": {"start": 9, "end": "17:00"}}, "c.window.start", "expected a time"),
    ({"window": {"start": "09:00", "end": "09:00"}}, "c.window", "empty"),
    ({"window": {"start": "09:00", "end": "17:00", "days": "mon-fry"}}, "c.window.days",
     "unknown day"),
    ({"window": {"start": "09:00", "end": "17:00", "hours": 3}}, "c.window.hours",
     "unknown field"),
    ({"retries": {"connected": {"max": 2}}}, "c.retries.connected", "no retries for"),
    ({"retries": {"busy": 3}}, "c.retries.busy", "expected {max"),
    ({"retries": {"busy": {"after": 60}}}, "c.retries.busy", "missing field 'max'"),
    ({"retries": {"busy": {"max": 0}}}, "c.retries.busy.max", ">= 1"),
    ({"retries": {"busy": {"max": 2, "after": -5}}}, "c.retries.busy.after", ">= 0"),
    ({"retries": {"busy": {"max": 2, "every": 5}}}, "c.retries.busy.every", "unknown field"),
    ({"ring_time": 10}, "c.ring_time", ">= 15"),
    ({"machine": "detect"}, "c.machine", "hangup or message"),
    ({"machine": "message"}, "c.machine_message", "needs the prompt"),
    ({"machine_message": "tone:nosuch"}, "c.machine_message", "nosuch"),
    ({"abandon_message": "tts:"}, "c.abandon_message", "needs the text"),
    ({"priority": 1.5}, "c.priority", "whole number"),
    ({"template": "base"}, "c.template", "no template 'base'"),
])
def test_each_bad_field_is_named(change: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(CampaignError) as caught:
        CampaignConfig.from_dict({"name": "a", **change}, "c")
    assert caught.value.where == where, str(caught.value)
    assert words in caught.value.message
    assert str(caught.value) == f"{where}: {caught.value.message}"


def test_not_a_mapping_or_no_name() -> None:
    with pytest.raises(CampaignError, match=r"^c: expected a mapping"):
        CampaignConfig.from_dict(["a"], "c")
    with pytest.raises(CampaignError, match=r"^c: missing field 'name'"):
        CampaignConfig.from_dict({"mode": "preview"}, "c")


def test_templates_fill_in_what_a_campaign_leaves_out() -> None:
    configs = campaigns_from_entries([
        {"name": "base", "template": True, "queue": "sales", "country": "GB",
         "retries": {"busy": {"max": 2, "after": 60}}, "machine": "message"},
        {"name": "spring", "template": "base", "machine_message": "tts:hi"},
        {"name": "summer", "template": "base", "queue": "support",
         "machine": "hangup"},
    ])
    base, spring, summer = configs
    assert base.is_template and base.runnable is not None and "template" in base.runnable
    assert not spring.is_template and spring.queue == "sales" and spring.country == "GB"
    assert spring.retries == {"busy": RetryRule(2, 60.0)} and spring.template == "base"
    assert summer.queue == "support" and summer.machine == "hangup"
    assert summer.country == "GB"


def test_a_template_must_come_first_and_names_are_unique() -> None:
    with pytest.raises(CampaignError) as caught:
        campaigns_from_entries([{"name": "a", "template": "base"},
                                {"name": "base", "template": True}])
    assert caught.value.where == "campaigns[0].template"
    with pytest.raises(CampaignError) as caught:
        campaigns_from_entries([{"name": "a"}, {"name": "a"}])
    assert caught.value.where == "campaigns[1].name"
    # A template's fields are checked where the campaign uses them.
    with pytest.raises(CampaignError) as caught:
        campaigns_from_entries([{"name": "base", "template": True, "machine": "message"},
                                {"name": "a", "template": "base"}])
    assert caught.value.where == "campaigns[1].machine_message"


# -- through pycc apply ------------------------------------------------------------------------

HEAD = """\
queues: [{name: sales}]
trunks: [{name: carrier, host: "127.0.0.1:5080"}]
campaigns:
"""


def apply_errors(body: str) -> list[tuple[int | None, str, str]]:
    source = load(HEAD + body, "test.yaml")
    spec, errors = validate(source.data, source=source)
    assert (spec is None) == bool(errors)
    return [(error.line, error.where, error.message) for error in errors]


def test_the_design_example_is_valid() -> None:
    source = load(HEAD + """\
  - name: spring
    mode: predictive
    queue: sales
    trunk: carrier
    abandon_limit: 0.03
    caller_ids: ["+15551230000"]
    window: {start: "09:00", end: "20:00"}
    retries: {busy: {max: 3, after: 600}, no_answer: {max: 2, after: 3600}}
""")
    spec, errors = validate(source.data, source=source)
    assert errors == [] and spec is not None
    assert [c["name"] for c in spec.campaigns] == ["spring"]


@pytest.mark.parametrize(("body", "line", "where", "words"), [
    ("  - name: a\n    retries: {busy: {max: 0}}\n", 5, "campaigns[0].retries.busy.max",
     ">= 1"),
    ("  - name: a\n    window: {start: \"09:00\", end: \"25:00\"}\n", 5, "campaigns[0].window",
     "not a time of day"),
    ("  - {name: a, ring_time: 5}\n", 4, "campaigns[0].ring_time", ">= 15"),
    ("  - {name: a, trunk: [carrier, other]}\n", 4, "campaigns[0].trunk[1]",
     "no trunk 'other'"),
    ("  - {name: a, queue: nowhere}\n", 4, "campaigns[0].queue", "no queue 'nowhere'"),
    ("  - {name: base, template: true, queue: nowhere}\n  - {name: a, template: base}\n", 4,
     "campaigns[0].queue", "no queue 'nowhere'"),
    ("  - {name: a, template: base}\n  - {name: base, template: true}\n", 4,
     "campaigns[0].template", "no template 'base'"),
    ("  - {name: a, mode: turbo}\n", 4, "campaigns[0].mode", "unknown mode"),
])
def test_apply_reports_campaign_errors_at_their_field(body: str, line: int, where: str,
                                                     words: str) -> None:
    errors = apply_errors(body)
    assert [(found_line, found_where) for found_line, found_where, _ in errors] == \
        [(line, where)], errors
    assert words in errors[0][2]


def test_apply_takes_a_template_and_the_campaign_using_it() -> None:
    assert apply_errors("  - {name: base, template: true, queue: sales, trunk: carrier}\n"
                        "  - {name: a, template: base, country: US}\n") == []
