"""The agent desktop's record rules (`pycc.ccc.desk`): phone numbers in normal form, and
every check naming the field that is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.ccc import desk
from pycc.ccc.desk import DeskError


def field_of(check: object, **kwargs: object) -> str:
    assert callable(check)
    with pytest.raises(DeskError) as caught:
        check(**kwargs)
    assert caught.value.message and str(caught.value).startswith(caught.value.field)
    return caught.value.field


# -- phone numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "normal"), [
    ("+1 (555) 010-0001", "+15550100001"),
    ("+15550100001", "+15550100001"),
    ("  +44 20 7946.0958 ", "+442079460958"),
    ("(555) 010-0001", "5550100001"),
    ("1+2", "12"),  # a plus inside a number is not a country code
    ("", ""),
    ("٣٤٥ 12", "12"),  # digits of other scripts are not dialled
])
def test_normal_form(written: str, normal: str) -> None:
    assert desk.normalise_phone(written) == normal


@given(st.text())
def test_normal_form_is_idempotent_and_only_digits_after_a_plus(text: str) -> None:
    normal = desk.normalise_phone(text)
    assert desk.normalise_phone(normal) == normal
    digits = normal.removeprefix("+")
    assert all(c in "0123456789" for c in digits)
    assert normal.startswith("+") == text.lstrip().startswith("+")
    # Nothing dialled is lost: every ASCII digit written is kept, in order.
    assert digits == "".join(c for c in text if c in "0123456789")


@given(st.lists(st.sampled_from("0123456789 +-()."), min_size=3, max_size=32))
def test_a_number_written_any_way_looks_up_as_its_normal_form(chars: list[str]) -> None:
    written = "".join(chars)
    if not any(c.isdigit() for c in written) or len(written.strip()) < 3:
        with pytest.raises(DeskError):
            desk.check_phone_query(written)
        return
    assert desk.check_phone_query(written) == desk.normalise_phone(written)


# -- customers -------------------------------------------------------------------------------


def test_a_customer_is_stripped_and_normalised() -> None:
    data = desk.check_customer(name="  Ann Lee ", phones=["+1 (555) 010-0001", "020 7946"],
                               email=" ann@example.com ", company="", notes="line 1\nline 2",
                               fields={" plan ": "gold"})
    assert data.name == "Ann Lee"
    assert data.phones == ("+1 (555) 010-0001", "020 7946")
    assert data.numbers == ("+15550100001", "0207946")
    assert data.email == "ann@example.com"
    assert data.company is None  # what an empty form field sends
    assert data.notes == "line 1\nline 2"
    assert data.fields == {"plan": "gold"}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"name": None}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "a\nb"}, "name"),
    ({"name": "\ud800"}, "name"),
    ({"phones": "5550100"}, "phones"),
    ({"phones": ["555"] * 6}, "phones"),
    ({"phones": ["555 0100", "12"]}, "phones.1"),
    ({"phones": ["x" * 33]}, "phones.0"),
    ({"phones": ["555-CALL-NOW"]}, "phones.0"),
    ({"phones": ["(-)"]}, "phones.0"),
    ({"phones": [5550100]}, "phones.0"),
    ({"phones": ["555 0100", "555-0100"]}, "phones.1"),
    ({"email": "ann"}, "email"),
    ({"email": "ann@example"}, "email"),
    ({"email": "ann@@example.com"}, "email"),
    ({"email": 7}, "email"),
    ({"company": "c" * 201}, "company"),
    ({"notes": "n" * 5001}, "notes"),
    ({"notes": None}, "notes"),
    ({"fields": ["a"]}, "fields"),
    ({"fields": {f"k{i}": "v" for i in range(31)}}, "fields"),
    ({"fields": {"": "v"}}, "fields."),
    ({"fields": {"k" * 41: "v"}}, "fields." + "k" * 41),
    ({"fields": {"plan": "v" * 501}}, "fields.plan"),
    ({"fields": {"plan": 3}}, "fields.plan"),
    ({"fields": {"plan": "a", " plan": "b"}}, "fields. plan"),
    # A key that cannot be shown as it is is named escaped.
    ({"fields": {"a\ud800": "v"}}, "fields.a\\ud800"),
    ({"fields": {"a\x00": "v"}}, "fields.a\\u0000"),
])
def test_a_bad_customer_names_its_field(kwargs: dict[str, object], field: str) -> None:
    assert field_of(desk.check_customer, **({"name": "Ann"} | kwargs)) == field


def test_the_limits_themselves_are_allowed() -> None:
    data = desk.check_customer(name="x" * 120, phones=[f"+{i}" * 3 for i in range(1, 6)],
                               notes="n" * 5000,
                               fields={f"{i:040d}": "v" * 500 for i in range(30)})
    assert len(data.numbers) == 5 and len(data.fields) == 30


# -- tickets and articles --------------------------------------------------------------------


def test_a_ticket_s_defaults() -> None:
    data = desk.check_ticket(subject=" Refund ")
    assert (data.subject, data.body, data.customer, data.call, data.assignee,
            data.priority) == ("Refund", "", None, None, None, "normal")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"subject": ""}, "subject"),
    ({"subject": "s" * 201}, "subject"),
    ({"body": "b" * 10_001}, "body"),
    ({"customer": 0}, "customer"),
    ({"customer": 2**63}, "customer"),
    ({"customer": True}, "customer"),
    ({"customer": "7"}, "customer"),
    ({"call": ""}, "call"),
    ({"assignee": ""}, "assignee"),
    ({"assignee": "u" * 65}, "assignee"),
    ({"priority": "asap"}, "priority"),
    ({"priority": None}, "priority"),
])
def test_a_bad_ticket_names_its_field(kwargs: dict[str, object], field: str) -> None:
    assert field_of(desk.check_ticket, **({"subject": "Refund"} | kwargs)) == field


def test_statuses_priorities_and_comments() -> None:
    assert [desk.check_status(s) for s in desk.STATUSES] == list(desk.STATUSES)
    assert field_of(desk.check_status, value="done") == "status"
    assert field_of(desk.check_status, value=["open"]) == "status"
    assert desk.check_comment(" called back\n") == "called back"
    assert field_of(desk.check_comment, body=" ") == "body"
    assert field_of(desk.check_comment, body="c" * 5001) == "body"


def test_articles() -> None:
    data = desk.check_article(title="Refunds", body="Step 1\tthen 2", tags=[" billing "])
    assert (data.title, data.body, data.tags) == ("Refunds", "Step 1\tthen 2", ("billing",))
    assert field_of(desk.check_article, title="") == "title"
    assert field_of(desk.check_article, title="t", body="b" * 50_001) == "body"
    assert field_of(desk.check_article, title="t", tags="billing") == "tags"
    assert field_of(desk.check_article, title="t", tags=["a"] * 21) == "tags"
    assert field_of(desk.check_article, title="t", tags=["a", ""]) == "tags.1"
    assert field_of(desk.check_article, title="t", tags=["t" * 41]) == "tags.0"
    assert field_of(desk.check_article, title="t", tags=["a", "b", "a"]) == "tags.2"


# -- search ----------------------------------------------------------------------------------


def test_search_is_case_insensitive_and_never_spans_two_parts() -> None:
    haystack = desk.search_text("Straße Müller", "ACME")
    assert desk.check_search("STRASSE") in haystack
    assert desk.check_search("müller") in haystack
    assert desk.check_search("acme") in haystack
    assert field_of(desk.check_search, value="ler\nacme") == "q"
    assert field_of(desk.check_search, value="") == "q"
    assert field_of(desk.check_search, value="q" * 201) == "q"


@given(st.lists(st.text(), min_size=1, max_size=4), st.text(min_size=1, max_size=20))
def test_a_search_finds_what_one_part_holds(parts: list[str], needle: str) -> None:
    try:
        query = desk.check_search(needle)
    except DeskError:
        return
    found = query in desk.search_text(*parts)
    assert found == any(query in part.casefold() for part in parts)
