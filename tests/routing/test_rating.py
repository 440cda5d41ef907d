"""Rating by destination prefix: increments, costs in Decimal and micro-units, longest match."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.routing.rating import (
    Increment,
    Rate,
    RatePlan,
    RateTable,
    RatingError,
    call_seconds,
    from_micros,
    parse_money,
    rating_digits,
    to_micros,
)

D = Decimal

increments = st.builds(Increment, st.integers(0, 120), st.integers(1, 120))
prices = st.decimals(min_value=0, max_value=10, places=4, allow_nan=False,
                     allow_infinity=False)
fees = st.decimals(min_value=0, max_value=1, places=3, allow_nan=False, allow_infinity=False)
durations = st.floats(min_value=0, max_value=20_000, allow_nan=False, allow_infinity=False)
digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=6)


# -- increments ------------------------------------------------------------------------------


@pytest.mark.parametrize(("increment", "seconds", "billed"), [
    ("60/60", 0.0, 0), ("60/60", 0.001, 60), ("60/60", 60.0, 60), ("60/60", 60.001, 120),
    ("6/6", 1.0, 6), ("6/6", 13.0, 18), ("1/1", 59.2, 60), ("1/1", 59.0, 59),
    ("30/6", 29.0, 30), ("30/6", 31.0, 36), ("0/60", 61.0, 120), (6, 7.0, 12),
    ("60/60", 60.0000001, 60),  # less than a millisecond over is not a new block
])
def test_increments_bill_whole_blocks(increment: object, seconds: float, billed: int) -> None:
    assert Increment.parse(increment).billed(call_seconds(seconds)) == billed


@pytest.mark.parametrize("text", ["60/", "/60", "a/b", "60/0", "-1/60", "1.5/1", "", None, True,
                                  1.5, "60/60/60", "100000/1", -5])
def test_bad_increments_are_refused_naming_the_field(text: object) -> None:
    with pytest.raises(RatingError) as caught:
        Increment.parse(text, "rates[0].increment")
    assert caught.value.where == "rates[0].increment"


def test_a_bare_number_of_seconds_is_both_blocks() -> None:
    assert Increment.parse("60") == Increment(60, 60) == Increment.parse(60)


@given(increments, durations)
def test_increments_round_up_to_the_next_block(increment: Increment, seconds: float) -> None:
    exact = call_seconds(seconds)
    billed = increment.billed(exact)
    if exact == 0:
        assert billed == 0
        return
    assert billed >= exact
    if exact <= increment.first:
        assert billed == increment.first
    else:
        extra = billed - increment.first
        assert extra % increment.next == 0
        assert billed - exact < increment.next


# -- costs -----------------------------------------------------------------------------------


def test_a_call_costs_the_connection_fee_and_its_billed_minutes() -> None:
    rate = Rate("44", D("0.012"), Increment(6, 6), D("0.05"))
    assert rate.cost(0.0) == 0  # answered and hung up at once: nothing, no fee either
    assert rate.cost(1.0) == D("0.05") + D("0.012") * 6 / 60 == D("0.0512")
    assert rate.cost(61.0) == D("0.05") + D("0.012") * 66 / 60
    assert to_micros(rate.cost(61.0)) == 63_200


def test_micro_units_round_up_and_come_back() -> None:
    assert to_micros(D("0.0000001")) == 1
    assert to_micros(D("0.01") * 7 / 60) == 1167  # 0.0011666... is never billed as less
    assert to_micros(D(0)) == 0
    assert from_micros(12_500) == D("0.0125")
    assert from_micros(0) == 0


@given(prices, increments, fees, durations, durations)
def test_cost_never_falls_as_the_call_gets_longer(price: Decimal, increment: Increment,
                                                   fee: Decimal, a: float, b: float) -> None:
    rate = Rate("1", price, increment, fee)
    shorter, longer = sorted((a, b))
    assert rate.cost(shorter) <= rate.cost(longer)
    assert to_micros(rate.cost(shorter)) <= to_micros(rate.cost(longer))


@given(prices, increments, fees, durations)
def test_cost_is_exactly_fee_plus_price_per_billed_minute(price: Decimal, increment: Increment,
                                                          fee: Decimal, seconds: float) -> None:
    rate = Rate("1", price, increment, fee)
    billed = increment.billed(call_seconds(seconds))
    expected = D(0) if billed == 0 else fee + price * billed / 60
    assert rate.cost(seconds) == expected
    assert isinstance(rate.cost(seconds), Decimal)


@pytest.mark.parametrize(("value", "amount"), [
    ("0.012", D("0.012")), (0.012, D("0.012")), (3, D(3)), (0.1, D("0.1")), ("  2.50 ", D("2.5")),
])
def test_money_is_read_as_the_decimal_written(value: object, amount: Decimal) -> None:
    assert parse_money(value, "price") == amount


@pytest.mark.parametrize("value", ["-1", -0.5, "NaN", "inf", "1e400000", "1e-12",
                                   "0.0000000001", "abc", None, True, [], "9" * 30])
def test_bad_money_is_refused(value: object) -> None:
    with pytest.raises(RatingError) as caught:
        parse_money(value, "rates[2].price")
    assert caught.value.where == "rates[2].price"


@pytest.mark.parametrize(("prefix", "price"), [("", D(1)), ("12a", D(1)), ("4" * 16, D(1)),
                                               ("44", D(-1)), ("44", D("NaN"))])
def test_a_rate_checks_itself(prefix: str, price: Decimal) -> None:
    with pytest.raises(RatingError):
        Rate(prefix, price)


# -- tables ----------------------------------------------------------------------------------


def test_the_longest_prefix_rates_the_number() -> None:
    table = RateTable("retail", [Rate("4", D("0.10")), Rate("44", D("0.02")),
                                 Rate("4420", D("0.01"), Increment(1, 1))])
    assert table.match("+442071234567") == table.rates[2]
    assert table.match("441234") == table.rates[1]
    assert table.match("49") == table.rates[0]
    assert table.match("33") is None
    assert table.match("*21") is None and table.match("alice") is None and table.match("") is None
    rated = table.rate("+44207", 61.0)
    assert rated is not None
    assert (rated.table, rated.prefix, rated.billed_seconds) == ("retail", "4420", 61)
    assert rated.cost == D("0.01") * 61 / 60 and rated.micros == 10_167
    assert table.rate("33", 10.0) is None


def test_a_prefix_rated_twice_is_refused() -> None:
    with pytest.raises(RatingError, match="prefix '44' is rated twice"):
        RateTable("t", [Rate("44", D(1)), Rate("44", D(2))])


@given(st.lists(digit_strings, max_size=25, unique=True), digit_strings)
def test_the_longest_prefix_wins(prefixes: list[str], number: str) -> None:
    table = RateTable("t", [Rate(p, D(index)) for index, p in enumerate(prefixes)])
    found = table.match("+" + number)
    candidates = [p for p in prefixes if number.startswith(p)]
    if not candidates:
        assert found is None
    else:
        assert found is not None and found.prefix == max(candidates, key=len)


def test_tables_compare_by_their_rates_in_any_order() -> None:
    a = RateTable("t", [Rate("1", D("0.010")), Rate("44", D("0.02"))])
    b = RateTable("t", [Rate("44", D("0.02")), Rate("1", D("0.01"))])
    assert a == b
    assert a != RateTable("t", [Rate("1", D("0.011")), Rate("44", D("0.02"))])


def test_a_plan_picks_the_trunks_table_else_the_default() -> None:
    retail = RateTable("retail", [Rate("1", D("0.02"))])
    wholesale = RateTable("wholesale", [Rate("1", D("0.01"))])
    plan = RatePlan({"retail": retail, "wholesale": wholesale}, "retail",
                    {"carrier": "wholesale"})
    assert plan.table_for("carrier") is wholesale
    assert plan.table_for("backup") is retail and plan.table_for(None) is retail
    rated = plan.rate("carrier", "+15551234", 60.0)
    assert rated is not None and rated.cost == D("0.01")
    assert RatePlan({"retail": retail}).table_for("carrier") is None
    with pytest.raises(RatingError, match="no rate table 'gone'"):
        RatePlan({"retail": retail}, "gone")


@pytest.mark.parametrize(("number", "digits"), [("+4930", "4930"), ("4930", "4930"),
                                                ("+", None), ("1-800", None), ("١٢", None)])
def test_rating_digits(number: str, digits: str | None) -> None:
    assert rating_digits(number) == digits


def test_durations_are_taken_to_the_millisecond() -> None:
    assert call_seconds(1.0004) == D("1.000")
    assert call_seconds(-3.0) == 0 and call_seconds(float("nan")) == 0
    assert call_seconds(float("inf")) == 0 and call_seconds(D("2.5")) == D("2.500")
    assert call_seconds(5) == D(5)
