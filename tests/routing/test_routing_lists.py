"""Screening lists and the longest-prefix table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.routing import (
    NumberScreen,
    PrefixTable,
    RoutingError,
    Screening,
    TenantScreening,
    Verdict,
)

digits = st.text(alphabet="0123", min_size=0, max_size=6)


@given(st.lists(digits, max_size=30), digits)
def test_prefix_table_finds_the_longest_stored_prefix(prefixes: list[str], number: str) -> None:
    table: PrefixTable[str] = PrefixTable()
    for prefix in prefixes:
        table.put(prefix, "v" + prefix)
    candidates = [p for p in set(prefixes) if number.startswith(p)]
    hit = table.longest(number)
    if not candidates:
        assert hit is None
        return
    best = max(candidates, key=len)
    assert hit == (best, "v" + best)
    assert [p for p, _ in table.matches(number)] == sorted(candidates, key=len, reverse=True)
    assert len(table) == len(set(prefixes))


def test_prefix_table_replaces_a_value() -> None:
    table: PrefixTable[int] = PrefixTable()
    table.put("44", 1)
    table.put("44", 2)
    assert table.get("44") == 2 and table.longest("4420") == ("44", 2) and "44" in table


def test_most_specific_entry_decides() -> None:
    screen = NumberScreen(block=["prefix:+1900", "+15550000000", "prefix:+4470"],
                          allow=["+19005550100", "prefix:+447000"])
    assert screen.blocks("+19001234567")
    assert not screen.blocks("+19005550100")  # an allowed hole in a blocked range
    assert screen.blocks("+15550000000")
    assert not screen.blocks("+15550000001")
    assert screen.blocks("+447012345678")
    assert not screen.blocks("+447000123456")  # longer allow prefix beats shorter block
    assert screen.verdict("+33123") is Verdict.ALLOW


def test_allow_only_list() -> None:
    screen = NumberScreen(allow=["prefix:+44", "1001"], default=Verdict.BLOCK)
    assert not screen.blocks("+4420") and not screen.blocks("1001")
    assert screen.blocks("+33123") and screen.blocks("1002")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"block": ["_9X."]}, "exact numbers and \"prefix:\" entries only"),
        ({"block": ["re:.*"]}, "exact numbers"),
        ({"block": ["+44"], "allow": ["+44"]}, "both allowed and blocked"),
        ({"block": ["prefix:+1"], "allow": ["prefix:+1"]}, "both allowed and blocked"),
        ({"block": ["12 3"]}, "block[0]: bad match '12 3' at position 2"),
        ({"block": "+44"}, "expected a list"),
    ],
)
def test_bad_entries_are_refused(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(RoutingError, match=None) as caught:
        NumberScreen(**kwargs)  # type: ignore[arg-type]
    assert words in str(caught.value)


def test_screening_from_dict_and_tenants() -> None:
    screening = Screening.from_dict({
        "inbound": {"block": ["prefix:+1900"]},
        "outbound": {"allow": ["prefix:+44"], "default": "block"},
    })
    assert screening.inbound.blocks("+1900555") and not screening.inbound.blocks("+4420")
    assert screening.outbound.blocks("+1900555") and not screening.outbound.blocks("+4420")
    tenants = TenantScreening({"acme": screening})
    assert tenants.for_tenant("acme") is screening
    assert not tenants.for_tenant("other").inbound.blocks("+1900555")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inbound": {"block": ["_X"]}}, "screening.inbound: block[0]: '_X'"),
        ({"inbound": {"deny": []}}, "screening.inbound: unknown field 'deny'"),
        ({"outbound": {"default": "maybe"}}, "screening.outbound.default: expected"),
        ({"sideways": {}}, "screening: unknown field 'sideways'"),
        ({"inbound": {"block": [1]}}, "screening.inbound.block: expected a list"),
        ([], "screening: expected a mapping"),
    ],
)
def test_screening_from_dict_errors_name_the_field(data: object, message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        Screening.from_dict(data)
    assert str(caught.value).startswith(message), str(caught.value)
