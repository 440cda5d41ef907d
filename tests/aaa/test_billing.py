"""The credit tracker: a running total of costs against the tenant's limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pycc.aaa.billing import CreditTracker

T0 = 1_700_000_000.0


def test_without_a_limit_nothing_is_ever_exhausted() -> None:
    credit = CreditTracker()
    assert credit.configure(None) is False
    credit.add(T0, 10**12)
    assert not credit.exhausted and credit.remaining is None
    assert credit.snapshot()["limit"] is None


def test_the_limit_is_reached_when_the_total_gets_there() -> None:
    credit = CreditTracker()
    assert credit.configure(Decimal("0.10")) is True  # the total must be loaded first
    credit.load(40_000)
    assert not credit.stale and not credit.exhausted
    assert credit.remaining == Decimal("0.06")
    credit.add(T0, 59_999)
    assert not credit.exhausted
    credit.add(T0, 1)
    assert credit.exhausted and credit.remaining == 0
    assert credit.snapshot() == {"limit": "0.10", "since": None, "billed": "0.100000",
                                 "remaining": "0.000000", "exhausted": True}


def test_only_costs_of_the_period_count() -> None:
    credit = CreditTracker()
    credit.configure(Decimal(1), since=T0)
    credit.load(0)
    credit.add(T0 - 1, 900_000)  # an older call, written late
    credit.add(T0, 100_000)
    credit.add(T0 + 5, None)  # an unrated call
    credit.add(T0 + 6, 0)
    assert credit.total == 100_000


def test_a_new_period_or_a_first_limit_asks_for_a_reload() -> None:
    credit = CreditTracker()
    credit.configure(Decimal(5), since=T0)
    credit.load(10)
    assert credit.configure(Decimal(6), since=T0) is False  # only the amount changed
    assert credit.configure(Decimal(6), since=T0 + 86_400) is True
    credit.load(0)
    assert credit.configure(None) is False and not credit.exhausted
    assert credit.configure(Decimal(1)) is True


@pytest.mark.parametrize("limit", [Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_a_bad_limit_is_refused(limit: Decimal) -> None:
    with pytest.raises(ValueError, match="credit limit"):
        CreditTracker().configure(limit)


def test_a_zero_limit_refuses_at_once() -> None:
    credit = CreditTracker()
    credit.configure(Decimal(0))
    credit.load(0)
    assert credit.exhausted
