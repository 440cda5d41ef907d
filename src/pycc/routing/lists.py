"""Call screening: block and allow lists of numbers, per tenant, and the longest-prefix table.

Inbound screening looks at the caller's number, outbound screening at the called number. A
list holds exact numbers (``"+15551234567"``) and prefixes (``"prefix:+1900"``, the matcher
syntax of :mod:`pycc.routing.patterns`), each marked block or allow. The most specific entry
decides: an exact entry beats every prefix, a longer prefix beats a shorter one, so an allow
entry can open a hole in a blocked range (block ``prefix:+1900``, allow ``+19005550100``) and a
block entry can close one in an allowed range. A number no entry covers gets the list's
``default`` (allow, unless the tenant runs an allow-only list).

`PrefixTable` is the index behind it (and behind the dial plan's prefix rules): one dict per
prefix, probed from the longest prefix length present down to the shortest, so a lookup costs
at most one dict probe per distinct prefix length however many prefixes there are.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pycc.routing.patterns import ExactMatcher, PrefixMatcher, RoutingError, parse_matcher

__all__ = [
    "NumberScreen",
    "PrefixTable",
    "Screening",
    "TenantScreening",
    "Verdict",
]

V = TypeVar("V")


class PrefixTable(Generic[V]):
    """Values keyed by prefix, looked up by the longest prefix of a number."""

    __slots__ = ("by_prefix", "lengths")

    def __init__(self) -> None:
        #: Read-only views for hot loops that probe the table inline; change it with `put`.
        self.by_prefix: dict[str, V] = {}
        self.lengths: list[int] = []  # distinct prefix lengths, longest first

    def __len__(self) -> int:
        return len(self.by_prefix)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self.by_prefix

    def get(self, prefix: str) -> V | None:
        """The value stored under exactly ``prefix``."""
        return self.by_prefix.get(prefix)

    def values(self) -> Iterable[V]:
        return self.by_prefix.values()

    def put(self, prefix: str, value: V) -> None:
        if prefix not in self.by_prefix:
            length = len(prefix)
            if length not in self.lengths:
                # Kept longest first: bisect on the negated lengths.
                negated = [-known for known in self.lengths]
                self.lengths.insert(bisect.bisect_left(negated, -length), length)
        self.by_prefix[prefix] = value

    def longest(self, number: str) -> tuple[str, V] | None:
        """The longest stored prefix of ``number`` and its value, or None."""
        by_prefix = self.by_prefix
        size = len(number)
        for length in self.lengths:
            if length <= size:
                value = by_prefix.get(number[:length])
                if value is not None:
                    return number[:length], value
        return None

    def matches(self, number: str) -> Iterator[tuple[str, V]]:
        """Every stored prefix of ``number`` with its value, longest first."""
        by_prefix = self.by_prefix
        size = len(number)
        for length in self.lengths:
            if length <= size:
                value = by_prefix.get(number[:length])
                if value is not None:
                    yield number[:length], value


class Verdict(enum.Enum):
    ALLOW = "allow"
    BLOCK = "block"


class NumberScreen:
    """One direction's list: exact numbers and prefixes marked block or allow."""

    __slots__ = ("_exact", "_prefixes", "default")

    def __init__(self, *, block: Iterable[str] = (), allow: Iterable[str] = (),
                 default: Verdict = Verdict.ALLOW) -> None:
        self.default = default
        self._exact: dict[str, Verdict] = {}
        self._prefixes: PrefixTable[Verdict] = PrefixTable()
        for verdict, entries in ((Verdict.BLOCK, block), (Verdict.ALLOW, allow)):
            if isinstance(entries, str):
                raise RoutingError(f"{verdict.value}: expected a list of numbers, not text")
            for index, entry in enumerate(entries):
                self._add(entry, verdict, f"{verdict.value}[{index}]")

    def _add(self, entry: str, verdict: Verdict, where: str) -> None:
        try:
            matcher = parse_matcher(entry)
        except RoutingError as exc:
            raise exc.within(where) from None
        if isinstance(matcher, ExactMatcher):
            known = self._exact.get(matcher.number)
            key = matcher.number
        elif isinstance(matcher, PrefixMatcher):
            known = self._prefixes.get(matcher.prefix)
            key = "prefix:" + matcher.prefix
        else:
            raise RoutingError(
                f"{where}: {entry!r}: screening lists hold exact numbers and "
                f"\"prefix:\" entries only", text=entry, field=where,
            )
        if known is not None and known is not verdict:
            raise RoutingError(f"{where}: {key!r} is both allowed and blocked", text=entry,
                               field=where)
        if isinstance(matcher, ExactMatcher):
            self._exact[matcher.number] = verdict
        else:
            self._prefixes.put(matcher.prefix, verdict)

    def verdict(self, number: str) -> Verdict:
        exact = self._exact.get(number)
        if exact is not None:
            return exact
        hit = self._prefixes.longest(number)
        return self.default if hit is None else hit[1]

    def blocks(self, number: str) -> bool:
        return self.verdict(number) is Verdict.BLOCK

    @classmethod
    def from_dict(cls, data: object, where: str = "screen") -> NumberScreen:
        """From ``{block: [...], allow: [...], default: allow|block}`` (all optional)."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise RoutingError(f"{where}: expected a mapping with block/allow/default")
        unknown = set(data) - {"block", "allow", "default"}
        if unknown:
            raise RoutingError(f"{where}: unknown field {sorted(map(str, unknown))[0]!r}",
                               field=where)
        default_text = data.get("default", "allow")
        try:
            default = Verdict(default_text)
        except ValueError:
            raise RoutingError(f"{where}.default: expected \"allow\" or \"block\", "
                               f"not {default_text!r}", field=f"{where}.default") from None
        lists: dict[str, list[str]] = {}
        for name in ("block", "allow"):
            entries = data.get(name, [])
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise RoutingError(f"{where}.{name}: expected a list of numbers (text)",
                                   field=f"{where}.{name}")
            lists[name] = entries
        try:
            return cls(block=lists["block"], allow=lists["allow"], default=default)
        except RoutingError as exc:
            raise exc.within(where) from None


@dataclass(frozen=True, slots=True)
class Screening:
    """A tenant's lists: ``inbound`` screens callers, ``outbound`` screens called numbers."""

    inbound: NumberScreen = field(default_factory=NumberScreen)
    outbound: NumberScreen = field(default_factory=NumberScreen)

    @classmethod
    def from_dict(cls, data: object, where: str = "screening") -> Screening:
        """From ``{inbound: {block: [...], ...}, outbound: {...}}``."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise RoutingError(f"{where}: expected a mapping with inbound/outbound")
        unknown = set(data) - {"inbound", "outbound"}
        if unknown:
            raise RoutingError(f"{where}: unknown field {sorted(map(str, unknown))[0]!r}",
                               field=where)
        return cls(NumberScreen.from_dict(data.get("inbound"), f"{where}.inbound"),
                   NumberScreen.from_dict(data.get("outbound"), f"{where}.outbound"))


class TenantScreening:
    """Every tenant's `Screening`; a tenant without lists screens nothing."""

    __slots__ = ("_by_tenant",)

    _OPEN = Screening()

    def __init__(self, by_tenant: Mapping[str, Screening] | None = None) -> None:
        self._by_tenant = dict(by_tenant or {})

    def for_tenant(self, tenant: str) -> Screening:
        return self._by_tenant.get(tenant, self._OPEN)

    def set(self, tenant: str, screening: Screening) -> None:
        self._by_tenant[tenant] = screening
