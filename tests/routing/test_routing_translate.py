"""Number translation steps, E.164 normalisation for the known plans, and round trips."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.routing import (
    NUMBERING_PLANS,
    Prepend,
    Replace,
    RoutingError,
    Strip,
    ToE164,
    Translation,
    numbering_plan,
    to_e164,
    to_national,
)


def test_steps_apply_in_order_to_each_number() -> None:
    translation = Translation(
        called=(Strip(1), Prepend("0044")),
        calling=(Replace(re.compile(r"^0"), "+44"),),
    )
    assert translation.apply("92079460000", "02079460001") == ("00442079460000",
                                                               "+442079460001")
    assert Translation(called=(Prepend("00"), Strip(2))).apply("123", "x") == ("123", "x")
    assert Strip(5).apply("123") == ""


def test_replace_uses_group_references() -> None:
    step = Replace(re.compile(r"^00(\d+)$"), r"+\1")
    assert step.apply("0044123") == "+44123" and step.apply("44123") == "44123"
    named = Replace(re.compile(r"^(?P<area>\d{3})(?P<rest>\d{7})$"), r"+1\g<area>\g<rest>")
    assert named.apply("2125551234") == "+12125551234"


@pytest.mark.parametrize(
    ("pattern", "template", "words"),
    [
        (r"^(\d)$", r"\2", "invalid group reference 2"),
        (r"^\d$", r"\1", "invalid group reference 1"),
        (r"^(\d)$", r"\g<name>", "unknown group name 'name'"),
        (r"^(\d)$", "x\\", "bad escape"),
    ],
)
def test_bad_templates_are_refused_when_built(pattern: str, template: str, words: str) -> None:
    with pytest.raises(RoutingError, match=re.escape(words)):
        Replace(re.compile(pattern), template)


# Numbers from each plan's national format (test numbers of the national regulators where they
# publish them: Ofcom's 020 7946 0xxx drama range, NANP 555-01xx).
@pytest.mark.parametrize(
    ("country", "dialled", "e164"),
    [
        ("GB", "02079460018", "+442079460018"),
        ("GB", "020 7946 0018", "+442079460018"),
        ("GB", "0033142685300", "+33142685300"),
        ("GB", "+44 20 7946 0018", "+442079460018"),
        ("GB", "999", "999"),  # emergency short code: left alone
        ("GB", "79460018", "79460018"),  # local number without area code: left alone
        ("GB", "0800 1111", "+448001111"),
        ("US", "2125550123", "+12125550123"),
        ("US", "1 (212) 555-0123", "+12125550123"),
        ("US", "011442079460018", "+442079460018"),
        ("US", "5550123", "5550123"),  # seven-digit local dialling: left alone
        ("US", "911", "911"),
        ("US", "11125550123", "11125550123"),  # area codes never start with 1
        ("CA", "4165550123", "+14165550123"),
        ("DE", "030123456", "+4930123456"),
        ("DE", "00442079460018", "+442079460018"),
        ("FR", "0142685300", "+33142685300"),
        ("FR", "014268530", "014268530"),  # too short for a French number
        ("CN", "01012345678", "+861012345678"),
        ("CN", "13812345678", "+8613812345678"),  # mobiles go without the trunk prefix
        ("IN", "09876543210", "+919876543210"),
        ("IN", "9876543210", "+919876543210"),
        ("IN", "01123456789", "+911123456789"),
        ("AU", "0291234567", "+61291234567"),
        ("AU", "0011442079460018", "+442079460018"),  # 0011, not 0 then 011
        ("GB", "+123", "+123"),  # too short for E.164: left alone
        ("GB", "+1234567890123456", "+1234567890123456"),  # more than 15 digits
        ("GB", "1001", "1001"),
        ("GB", "alice", "alice"),
    ],
)
def test_to_e164(country: str, dialled: str, e164: str) -> None:
    assert to_e164(dialled, numbering_plan(country)) == e164
    assert ToE164(numbering_plan(country)).apply(dialled) == e164


@pytest.mark.parametrize(
    ("country", "e164", "dialled"),
    [
        ("GB", "+442079460018", "02079460018"),
        ("GB", "+33142685300", "0033142685300"),
        ("US", "+12125550123", "12125550123"),
        ("US", "+442079460018", "011442079460018"),
        ("AU", "+61291234567", "0291234567"),
        ("AU", "+12125550123", "001112125550123"),
        ("DE", "2079460018", "2079460018"),  # not E.164: left alone
    ],
)
def test_to_national(country: str, e164: str, dialled: str) -> None:
    assert to_national(e164, numbering_plan(country)) == dialled


def test_unknown_country() -> None:
    with pytest.raises(RoutingError, match="no numbering plan for country 'ZZ'"):
        numbering_plan("ZZ")
    assert numbering_plan("nanp") is NUMBERING_PLANS["US"]


@st.composite
def national_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(country, national significant number) valid for the plan."""
    country = draw(st.sampled_from(sorted(NUMBERING_PLANS)))
    plan = NUMBERING_PLANS[country]
    if plan.nsn_pattern is not None:
        nsn = draw(st.from_regex(plan.nsn_pattern, fullmatch=True))
    else:
        length = draw(st.sampled_from(plan.nsn_lengths))
        nsn = draw(st.sampled_from("123456789")) + draw(
            st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return country, nsn


@given(national_numbers())
def test_e164_and_national_round_trip(case: tuple[str, str]) -> None:
    country, nsn = case
    plan = NUMBERING_PLANS[country]
    e164 = "+" + plan.country_code + nsn
    national = plan.national_prefix + nsn
    assert to_e164(national, plan) == e164
    assert to_national(e164, plan) == national
    assert to_e164(to_national(e164, plan), plan) == e164


@given(st.sampled_from(sorted(NUMBERING_PLANS)), st.sampled_from(sorted(NUMBERING_PLANS)),
       st.data())
def test_foreign_numbers_round_trip_through_the_international_prefix(
        home: str, abroad: str, data: st.DataObject) -> None:
    plan, other = NUMBERING_PLANS[home], NUMBERING_PLANS[abroad]
    _, nsn = data.draw(national_numbers().filter(lambda case: case[0] == abroad))
    e164 = "+" + other.country_code + nsn
    dialled = to_national(e164, plan)
    assert to_e164(dialled, plan) == e164


@given(st.text(alphabet="0123456789+*#", max_size=15), st.text(alphabet="0123456789", min_size=1,
                                                                max_size=6))
def test_prepend_then_strip_is_the_identity(number: str, prefix: str) -> None:
    translation = Translation(called=(Prepend(prefix), Strip(len(prefix))),
                              calling=(Strip(len(prefix)),))
    assert translation.apply(number, prefix + number) == (number, number)


@given(st.text(max_size=20), st.sampled_from(sorted(NUMBERING_PLANS)))
def test_normalisation_never_raises_and_is_idempotent(number: str, country: str) -> None:
    plan = NUMBERING_PLANS[country]
    once = to_e164(number, plan)
    assert to_e164(once, plan) == once
    to_national(number, plan)


def test_from_dict_shapes() -> None:
    assert Translation.from_dict({"strip": 1}) == Translation(called=(Strip(1),))
    assert Translation.from_dict({"strip": 1, "prepend": "0044"}) == \
        Translation(called=(Strip(1), Prepend("0044")))
    assert Translation.from_dict([{"prepend": 0}, {"strip": 2}]) == \
        Translation(called=(Prepend("0"), Strip(2)))
    both = Translation.from_dict({"called": [{"e164": {"country": "GB"}}],
                                  "calling": {"national": {"country": "GB"}}})
    assert both.apply("02079460018", "+442079460019") == ("+442079460018", "02079460019")
    replace = Translation.from_dict({"replace": {"pattern": "^9", "with": ""}})
    assert replace.apply("9123", "") == ("123", "")
    unbound = Translation.from_dict({"replace": {"with": r"+1\1"}})
    assert unbound.needs_pattern
    bound = unbound.bind(re.compile(r"^1(\d{10})$"))
    assert bound.apply("12125550123", "x") == ("+12125550123", "x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"strip": "1"}, "translate.strip: expected a whole number"),
        ({"strip": -1}, "translate.strip: strip: expected a whole number >= 0"),
        ({"chop": 1}, "translate.chop: unknown step 'chop'"),
        ({"replace": {"pattern": "("}}, "translate.replace: expected {pattern"),
        ({"replace": {"pattern": "(", "with": ""}}, "translate.replace: bad pattern '('"),
        ({"replace": {"pattern": "^0", "with": r"\1"}}, "translate.replace: replace: 'with'"),
        ({"e164": {"country": "XX"}}, "translate.e164: no numbering plan"),
        ({"e164": "GB"}, "translate.e164: expected {country: CC}"),
        ([{"strip": 1, "prepend": "0"}], "translate[0]: expected one step"),
        ({"called": [{"strip": True}]}, "translate.called[0].strip: expected a whole number"),
        ("strip 1", "translate: expected a step mapping"),
    ],
)
def test_from_dict_errors_name_the_field(data: object, message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        Translation.from_dict(data)
    assert str(caught.value).startswith(message), str(caught.value)
