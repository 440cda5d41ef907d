"""Rating calls by destination: rate tables, billing increments and the cost of one call.

A rate table maps destination prefixes to a `Rate`: a price per minute, a billing increment
and a connection fee. The rate of a call is the one with the longest prefix of the called
number after translation, written as E.164 digits (a leading ``+`` is ignored, so ``+4930...``
and ``4930...`` rate alike). Which table applies is a `RatePlan`'s choice: the table of the
trunk the call went out on, else the tenant's default table.

Billing increments are written ``first/next`` (``60/60``, ``6/6``, ``1/1``, ``30/6``): the
first ``first`` seconds are billed as one block as soon as the call is connected, then every
started block of ``next`` seconds. A call that was never answered, or was answered and ended
at once (zero seconds), costs nothing, connection fee included.

Money is `decimal.Decimal` throughout, never a float. A cost is kept as whole micro-units of
the currency (millionths: 0.0125 is 12 500), rounded up: the database adds integers exactly,
on SQLite and PostgreSQL alike, and no call is billed less than its tariff. Durations arrive
as float seconds and are taken to the millisecond first, so a float's last bits never move a
call into the next block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Final

from pycc.routing.lists import PrefixTable

__all__ = [
    "DEFAULT_INCREMENT",
    "MICROS",
    "Increment",
    "Rate",
    "RatePlan",
    "RateTable",
    "Rated",
    "RatingError",
    "call_seconds",
    "from_micros",
    "parse_money",
    "rating_digits",
    "to_micros",
]

#: Micro-units per currency unit: costs are stored as integers of these.
MICROS: Final = 1_000_000
#: Longest prefix a rate may have (E.164 numbers have at most 15 digits).
MAX_PREFIX: Final = 15
#: Longest money text accepted: a price is no place for a hundred digits.
MAX_MONEY_TEXT: Final = 24
#: Amounts are below this, with at most this many decimal places.
MAX_AMOUNT: Final = 10**9
MAX_PLACES: Final = 9

_MILLISECOND: Final = Decimal("0.001")
_MINUTE: Final = Decimal(60)
_ZERO: Final = Decimal(0)


class RatingError(ValueError):
    """A rate, increment or table that cannot be used; ``where`` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class Increment:
    """Billing increment: the first ``first`` seconds as one block, then blocks of ``next``."""

    first: int
    next: int

    def __post_init__(self) -> None:
        if self.first < 0 or self.next < 1:
            raise RatingError("", f"increment {self.first}/{self.next}: the first block must "
                                  "be >= 0 seconds and the next ones >= 1")

    @classmethod
    def parse(cls, value: object, where: str = "increment") -> Increment:
        """``"60/60"``, ``"6/6"``, ``"1/1"``, any ``"first/next"``, or one whole number of
        seconds for both."""
        if isinstance(value, int) and not isinstance(value, bool):
            first = following = value
        elif isinstance(value, str) and value.count("/") == 1:
            head, _, tail = value.partition("/")
            if not (head.strip().isdigit() and tail.strip().isdigit()):
                raise RatingError(where, f"{value!r}: expected FIRST/NEXT in whole seconds, "
                                         "such as 60/60, 6/6 or 1/1")
            first, following = int(head), int(tail)
        elif isinstance(value, str) and value.strip().isdigit():
            first = following = int(value)
        else:
            raise RatingError(where, f"{value!r}: expected FIRST/NEXT in whole seconds, such "
                                     "as 60/60, 6/6 or 1/1")
        if first < 0 or following < 1 or first > 86_400 or following > 86_400:
            raise RatingError(where, f"{value!r}: the first block must be 0 to 86400 seconds "
                                     "and the next ones 1 to 86400")
        return cls(first, following)

    def billed(self, seconds: Decimal) -> int:
        """The whole seconds billed for a call of ``seconds``: 0 for no time at all."""
        if seconds <= 0:
            return 0
        if seconds <= self.first:
            return self.first
        blocks = ((seconds - self.first) / self.next).to_integral_value(ROUND_CEILING)
        return self.first + int(blocks) * self.next

    def __str__(self) -> str:
        return f"{self.first}/{self.next}"


DEFAULT_INCREMENT: Final = Increment(60, 60)


@dataclass(frozen=True, slots=True)
class Rate:
    """The tariff of one destination prefix: ``price`` per minute, ``connection`` once per
    connected call."""

    prefix: str
    price: Decimal
    increment: Increment = DEFAULT_INCREMENT
    connection: Decimal = _ZERO
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.prefix.isdigit() or not self.prefix.isascii() or \
                len(self.prefix) > MAX_PREFIX:
            raise RatingError("prefix", f"{self.prefix!r}: expected 1 to {MAX_PREFIX} digits")
        for label, amount in (("price", self.price), ("connection", self.connection)):
            if not amount.is_finite() or amount < 0:
                raise RatingError(label, f"{amount}: must be a finite amount >= 0")

    def cost(self, seconds: float | Decimal) -> Decimal:
        """What a connected call of ``seconds`` costs, exactly (see `to_micros`)."""
        billed = self.increment.billed(call_seconds(seconds))
        if billed == 0:
            return _ZERO
        return self.connection + self.price * billed / _MINUTE


@dataclass(frozen=True, slots=True)
class Rated:
    """The rating of one call: the table and prefix that priced it, the seconds billed and
    the cost (exact, and in micro-units as stored)."""

    table: str
    prefix: str
    billed_seconds: int
    cost: Decimal

    @property
    def micros(self) -> int:
        return to_micros(self.cost)


class RateTable:
    """Named rates, looked up by the longest prefix of the called number."""

    __slots__ = ("_prefixes", "name", "rates")

    def __init__(self, name: str, rates: Iterable[Rate]) -> None:
        self.name = name
        self.rates: tuple[Rate, ...] = tuple(rates)
        self._prefixes: PrefixTable[Rate] = PrefixTable()
        for index, rate in enumerate(self.rates):
            if rate.prefix in self._prefixes:
                raise RatingError(f"rates[{index}].prefix",
                                  f"prefix {rate.prefix!r} is rated twice in table {name!r}")
            self._prefixes.put(rate.prefix, rate)

    def __len__(self) -> int:
        return len(self.rates)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RateTable):
            return NotImplemented
        return self.name == other.name and sorted(self.rates, key=_by_prefix) == \
            sorted(other.rates, key=_by_prefix)

    def __hash__(self) -> int:
        return hash((self.name, len(self.rates)))

    def __repr__(self) -> str:
        return f"RateTable({self.name!r}, {len(self.rates)} rates)"

    def match(self, number: str) -> Rate | None:
        """The rate of the longest prefix of ``number`` (see `rating_digits`), or None."""
        digits = rating_digits(number)
        if digits is None:
            return None
        found = self._prefixes.longest(digits)
        return None if found is None else found[1]

    def rate(self, number: str, seconds: float | Decimal) -> Rated | None:
        """The rating of a call to ``number`` connected for ``seconds``; None when the table
        has no rate for the number."""
        rate = self.match(number)
        if rate is None:
            return None
        billed = rate.increment.billed(call_seconds(seconds))
        return Rated(self.name, rate.prefix, billed, rate.cost(seconds))


@dataclass(frozen=True)
class RatePlan:
    """Which table rates a call: the table its trunk names in ``trunks``, else ``default``
    (the tenant's table), else none (the call is not rated)."""

    tables: Mapping[str, RateTable] = field(default_factory=dict)
    default: str | None = None
    trunks: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, name in [("default", self.default),
                            *((f"trunks.{trunk}", table) for trunk, table in self.trunks.items())]:
            if name is not None and name not in self.tables:
                raise RatingError(label, f"no rate table {name!r}")

    def table_for(self, trunk: str | None) -> RateTable | None:
        """The table that rates calls out over ``trunk`` (None: no table applies)."""
        name = self.trunks.get(trunk) if trunk is not None else None
        if name is None:
            name = self.default
        return None if name is None else self.tables[name]

    def rate(self, trunk: str | None, number: str, seconds: float | Decimal) -> Rated | None:
        """The rating of a call to ``number`` over ``trunk``; None when no table applies or
        the table has no rate for the number."""
        table = self.table_for(trunk)
        return None if table is None else table.rate(number, seconds)


def rating_digits(number: str) -> str | None:
    """The digits a number is rated by: without a leading ``+``; None when anything but
    digits is left (a SIP name, ``*21``), which no rate matches."""
    digits = number[1:] if number.startswith("+") else number
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    return digits


def call_seconds(seconds: float | Decimal) -> Decimal:
    """A duration as Decimal seconds, to the millisecond; negative or not finite is 0."""
    if isinstance(seconds, int):
        seconds = Decimal(seconds)
    if isinstance(seconds, float):
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return _ZERO
        value = Decimal(repr(seconds))
    else:
        value = seconds
        if not value.is_finite():
            return _ZERO
    value = value.quantize(_MILLISECOND, ROUND_HALF_EVEN)
    return value if value > 0 else _ZERO


def parse_money(value: object, where: str) -> Decimal:
    """An amount written as text (``"0.012"``) or a number (YAML reads ``0.012`` as a float,
    which is taken as the decimal it was written as): finite and >= 0."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RatingError(where, f"expected an amount such as 0.012, not {_kind(value)}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if len(text) > MAX_MONEY_TEXT:
        raise RatingError(where, f"{text[:MAX_MONEY_TEXT]}...: too many digits for an amount")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise RatingError(where, f"{text!r} is not an amount such as 0.012") from None
    if not amount.is_finite() or amount < 0:
        raise RatingError(where, f"{text}: must be a finite amount >= 0")
    if amount >= MAX_AMOUNT or amount.as_tuple().exponent < -MAX_PLACES:  # type: ignore[operator]
        raise RatingError(where, f"{text}: must be below {MAX_AMOUNT} with at most "
                                 f"{MAX_PLACES} decimal places")
    return amount


def to_micros(amount: Decimal) -> int:
    """``amount`` in whole micro-units, rounded up (a cost is never rounded down)."""
    return int((amount * MICROS).to_integral_value(ROUND_CEILING))


def from_micros(micros: int) -> Decimal:
    """Micro-units back to an amount (``12500`` -> ``Decimal("0.012500")``)."""
    return Decimal(micros).scaleb(-6)


def _by_prefix(rate: Rate) -> str:
    return rate.prefix


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    return f"a {type(value).__name__}" if not isinstance(value, str) else repr(value)
