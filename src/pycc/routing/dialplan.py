"""The dial plan: rules, actions and the routing decision for one call.

A `Rule` matches the called number (and optionally the caller and a time condition) and names
an `Action`: ring an `Extension`, join a `Queue`, run an `Ivr` flow, enter a `Conference`, go
out over `Trunk` (several names: tried in failover order) or `Reject` with a SIP status
(RFC 3261 §21). `DialPlan.route` decides:

1. screening first: a blocked caller (inbound list) or a blocked called number (outbound list)
   gets ``Reject(403, "Forbidden")``;
2. rules are taken by ``order``, lowest first; within one ``order`` the most specific match of
   the called number wins: exact, then the longest prefix, then patterns in Asterisk's order,
   then regexes (in the order written), then ``*``. Equally specific rules go in the order
   written. A candidate whose caller or time condition does not hold is passed over for the
   next one;
3. the winner's translation rewrites the called and calling numbers; a trunk call's translated
   number is screened again (an outbound list holds the numbers as they are dialled out).

The cost of a decision does not grow with the number of exact and prefix rules: exact numbers
are a dict, prefixes a `PrefixTable` probed once per prefix length, and patterns are indexed by
their literal start (``_9NXX...`` sits under ``"9"``) and length, so only the few that can match
run their regex. Regexes and ``*`` are scanned; they are few in real plans.

`DialPlan.from_dicts` reads the ``routes`` list of the ``pycc apply`` file (DESIGN.md); its
errors name the rule and the field: ``routes[3].to: unknown action "foo"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final, NamedTuple, TypeAlias

from pycc.routing.lists import PrefixTable, Screening
from pycc.routing.patterns import (
    AnyMatcher,
    ExactMatcher,
    Matcher,
    PatternMatcher,
    PrefixMatcher,
    RegexMatcher,
    RoutingError,
    Specificity,
    parse_matcher,
)
from pycc.routing.timecond import (
    HolidayCalendar,
    TimeCondition,
    TimeRule,
    TimeSchedule,
    time_zone,
)
from pycc.routing.translate import Translation

__all__ = [
    "REASON_PHRASES",
    "Action",
    "Conference",
    "Decision",
    "DialPlan",
    "Extension",
    "Ivr",
    "Queue",
    "Reject",
    "Rule",
    "Trunk",
]


@dataclass(frozen=True, slots=True)
class Extension:
    number: str


@dataclass(frozen=True, slots=True)
class Queue:
    name: str


@dataclass(frozen=True, slots=True)
class Ivr:
    flow: str


@dataclass(frozen=True, slots=True)
class Conference:
    name: str


@dataclass(frozen=True, slots=True)
class Trunk:
    """Go out over the first trunk that takes the call, in this order."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        names: object = self.names
        # Accept one name or any sequence of them; keep a tuple so the action stays hashable.
        if isinstance(names, str):
            names = (names,)
        if not isinstance(names, Sequence) or not names or \
                not all(isinstance(name, str) and name for name in names):
            raise RoutingError(f"a trunk action needs trunk names, not {self.names!r}")
        object.__setattr__(self, "names", tuple(names))


#: RFC 3261 §21 reason phrases of the statuses a dial plan is likely to reject with.
REASON_PHRASES: Final[Mapping[int, str]] = {
    403: "Forbidden",
    404: "Not Found",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer the INVITE with a final error status (4xx-6xx)."""

    status: int
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or isinstance(self.status, bool) or \
                not 400 <= self.status <= 699:
            raise RoutingError(f"reject: status must be 400-699, not {self.status!r}")
        if not self.reason:
            object.__setattr__(self, "reason", REASON_PHRASES.get(self.status, "Rejected"))


Action: TypeAlias = Extension | Queue | Ivr | Conference | Trunk | Reject

_FORBIDDEN: Final = Reject(403, "Forbidden")


class Rule:
    """One dial-plan rule. Matchers may be given as text (parsed by `parse_matcher`)."""

    __slots__ = ("action", "match_called", "match_caller", "name", "order", "time", "translate")

    def __init__(self, name: str, match_called: Matcher | str, action: Action, *,
                 match_caller: Matcher | str | None = None, time: TimeRule | None = None,
                 translate: Translation | None = None, order: int = 0) -> None:
        self.name = name
        self.match_called = (parse_matcher(match_called) if isinstance(match_called, str)
                             else match_called)
        self.match_caller = (parse_matcher(match_caller) if isinstance(match_caller, str)
                             else match_caller)
        self.action = action
        self.time = time
        if translate is not None and translate.needs_pattern:
            if not isinstance(self.match_called, RegexMatcher):
                raise RoutingError(
                    f"rule {name!r}: a replace step without a pattern needs an re: match")
            translate = translate.bind(self.match_called.pattern)
        self.translate = translate
        self.order = order

    def __repr__(self) -> str:
        return (f"Rule({self.name!r}, {self.match_called.text!r}, {self.action!r}, "
                f"order={self.order})")


class Decision(NamedTuple):
    """Where a call goes: the action, the rule that chose it and the translated numbers.

    ``groups`` are what the rule's ``re:`` match captured (empty for other matchers). A named
    tuple rather than a frozen dataclass: one is made per call, and it costs half as much.
    """

    action: Action
    rule: str
    called: str
    calling: str
    groups: tuple[str, ...] = ()


class _Tier:
    """The rules of one ``order``, indexed by how their called-number matcher works."""

    __slots__ = ("anys", "exact", "patterns", "prefixes", "regexes")

    def __init__(self) -> None:
        self.exact: dict[str, list[Rule]] = {}
        self.prefixes: PrefixTable[list[Rule]] = PrefixTable()
        # Patterns by their literal start.
        self.patterns: PrefixTable[list[_PatternEntry]] = PrefixTable()
        self.regexes: list[tuple[Rule, RegexMatcher]] = []
        self.anys: list[Rule] = []

    def add(self, rule: Rule, position: int) -> None:
        matcher = rule.match_called
        if isinstance(matcher, ExactMatcher):
            self.exact.setdefault(matcher.number, []).append(rule)
        elif isinstance(matcher, PrefixMatcher):
            found = self.prefixes.get(matcher.prefix)
            if found is None:
                self.prefixes.put(matcher.prefix, [rule])
            else:
                found.append(rule)
        elif isinstance(matcher, PatternMatcher):
            bucket = self.patterns.get(matcher.literal_prefix)
            entry = (matcher.specificity, position, rule, matcher.fullmatch)
            if bucket is None:
                self.patterns.put(matcher.literal_prefix, [entry])
            else:
                bucket.append(entry)
        elif isinstance(matcher, RegexMatcher):
            self.regexes.append((rule, matcher))
        elif isinstance(matcher, AnyMatcher):
            self.anys.append(rule)
        else:
            raise RoutingError(f"rule {rule.name!r}: unknown matcher {matcher!r}")

    def freeze(self) -> None:
        for bucket in self.patterns.values():
            bucket.sort()

    def candidates(self, called: str) -> Iterator[tuple[Rule, tuple[str, ...]]]:
        """Rules whose called-number matcher takes ``called``, most specific first; lazily,
        so that a hit on an exact number runs no pattern or regex."""
        exact = self.exact.get(called)
        if exact is not None:
            for rule in exact:
                yield rule, ()
        # The two prefix tables are probed inline: this is the hot loop of routing.
        size = len(called)
        by_prefix = self.prefixes.by_prefix
        for length in self.prefixes.lengths:
            if length <= size:
                rules = by_prefix.get(called[:length])
                if rules is not None:
                    for rule in rules:
                        yield rule, ()
        hits: list[_PatternEntry] = []
        by_prefix_patterns = self.patterns.by_prefix
        for length in self.patterns.lengths:
            if length <= size:
                bucket = by_prefix_patterns.get(called[:length])
                if bucket is not None:
                    for entry in bucket:
                        if entry[3](called) is not None:
                            hits.append(entry)
        if len(hits) > 1:
            # Each bucket is sorted already; hits from several buckets are merged here. The
            # positions are unique, so tuples never compare as far as the rules.
            hits.sort()
        for entry in hits:
            yield entry[2], ()
        for rule, regex in self.regexes:
            groups = regex.match(called)
            if groups is not None:
                yield rule, groups
        for rule in self.anys:
            yield rule, ()


#: (specificity, position written, rule, the pattern's fullmatch).
_PatternEntry: TypeAlias = tuple[Specificity, int, Rule, Callable[[str], object]]


class DialPlan:
    """A tenant's rules, indexed for routing; `route` is pure and may be called from anywhere."""

    __slots__ = ("_tiers", "rules", "screening")

    def __init__(self, rules: Iterable[Rule], *, screening: Screening | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.screening = screening
        tiers: dict[int, _Tier] = {}
        for position, rule in enumerate(self.rules):
            tiers.setdefault(rule.order, _Tier()).add(rule, position)
        self._tiers: tuple[_Tier, ...] = tuple(tiers[order] for order in sorted(tiers))
        for tier in self._tiers:
            tier.freeze()

    def route(self, called: str, caller: str, at: datetime, *,
              tenant_time_zone: str | tzinfo) -> Decision | None:
        """The decision for a call from ``caller`` to ``called`` at instant ``at`` (aware), or
        None when no rule takes it."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise RoutingError(f"route needs an aware datetime, not naive {at}")
        screening = self.screening
        if screening is not None:
            if screening.inbound.blocks(caller):
                return Decision(_FORBIDDEN, "screening:inbound", called, caller)
            if screening.outbound.blocks(called):
                return Decision(_FORBIDDEN, "screening:outbound", called, caller)
        local: datetime | None = None  # converted only if a candidate has a time condition
        for tier in self._tiers:
            for rule, groups in tier.candidates(called):
                caller_matcher = rule.match_caller
                if caller_matcher is not None and caller_matcher.match(caller) is None:
                    continue
                condition = rule.time
                if condition is not None:
                    if local is None:
                        local = at.astimezone(time_zone(tenant_time_zone))
                    if not condition.matches(local):
                        continue
                return self._decide(rule, groups, called, caller)
        return None

    def _decide(self, rule: Rule, groups: tuple[str, ...], called: str,
                caller: str) -> Decision:
        if rule.translate is not None:
            called, caller = rule.translate.apply(called, caller)
        if (isinstance(rule.action, Trunk) and self.screening is not None
                and self.screening.outbound.blocks(called)):
            return Decision(_FORBIDDEN, "screening:outbound", called, caller)
        return Decision(rule.action, rule.name, called, caller, groups)

    @classmethod
    def from_dicts(cls, routes: Sequence[Mapping[str, object]], *,
                   calendars: Mapping[str, HolidayCalendar] | None = None,
                   screening: Screening | None = None, where: str = "routes") -> DialPlan:
        """The plan of a ``routes:`` list, e.g. ``[{match: "8000", to: {ivr: main}},
        {match: "_9X.", to: {trunk: carrier}, translate: {strip: 1}}]``.

        Each rule: ``match`` (required), ``to`` (required: one of ``extension``, ``queue``,
        ``ivr``, ``conference``, ``trunk`` (a name or a list), ``reject`` (a status or
        ``{status, reason}``)), and optional ``name``, ``caller``, ``time`` (a condition of
        :mod:`pycc.routing.timecond` or a list of them, any of which holds), ``translate``,
        ``order``. ``calendars`` are the holiday calendars ``time`` may name.
        """
        if isinstance(routes, str | Mapping) or not isinstance(routes, Sequence):
            raise RoutingError(f"{where}: expected a list of rules", field=where)
        rules = [_rule_from_dict(entry, f"{where}[{index}]", calendars)
                 for index, entry in enumerate(routes)]
        return cls(rules, screening=screening)


_RULE_FIELDS: Final = frozenset({"name", "match", "caller", "time", "to", "translate", "order"})
_ACTIONS: Final = ("extension", "queue", "ivr", "conference", "trunk", "reject")


def _rule_from_dict(entry: object, where: str,
                    calendars: Mapping[str, HolidayCalendar] | None) -> Rule:
    if not isinstance(entry, Mapping):
        raise RoutingError(f"{where}: expected a mapping such as {{match: ..., to: ...}}",
                           field=where)
    for key in entry:
        if key not in _RULE_FIELDS:
            raise RoutingError(f"{where}: unknown field {key!r}", field=where)
    for key in ("match", "to"):
        if key not in entry:
            raise RoutingError(f"{where}: missing field {key!r}", field=where)
    name = entry.get("name", where)
    if not isinstance(name, str) or not name:
        raise RoutingError(f"{where}.name: expected text", field=f"{where}.name")
    called = _matcher(entry["match"], f"{where}.match")
    caller = None if entry.get("caller") is None else _matcher(entry["caller"], f"{where}.caller")
    action = _action(entry["to"], f"{where}.to")
    time = None if entry.get("time") is None else _time(entry["time"], f"{where}.time",
                                                          calendars)
    translate = None
    if entry.get("translate") is not None:
        translate = Translation.from_dict(entry["translate"], f"{where}.translate")
    order = entry.get("order", 0)
    if not isinstance(order, int) or isinstance(order, bool):
        raise RoutingError(f"{where}.order: expected a whole number, not {order!r}",
                           field=f"{where}.order")
    try:
        return Rule(name, called, action, match_caller=caller, time=time, translate=translate,
                    order=order)
    except RoutingError as exc:
        raise exc.within(f"{where}.translate") from None


def _matcher(value: object, where: str) -> Matcher:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads match: 8000 as a number
    if not isinstance(value, str):
        raise RoutingError(f"{where}: expected text, not {value!r}", field=where)
    try:
        return parse_matcher(value)
    except RoutingError as exc:
        raise exc.within(where) from None


def _action(value: object, where: str) -> Action:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise RoutingError(f"{where}: expected one action such as {{queue: sales}}",
                           field=where)
    ((kind, target),) = value.items()
    if kind not in _ACTIONS:
        raise RoutingError(f"{where}: unknown action \"{kind}\" "
                           f"(one of {', '.join(_ACTIONS)})", field=where)
    field = f"{where}.{kind}"
    if kind == "reject":
        return _reject(target, field)
    if kind == "trunk":
        names = [target] if isinstance(target, str) else target
        if not isinstance(names, list) or not names or \
                not all(isinstance(name, str) and name for name in names):
            raise RoutingError(f"{field}: expected a trunk name or a list of them",
                               field=field)
        return Trunk(tuple(names))
    if isinstance(target, int) and not isinstance(target, bool) and kind == "extension":
        target = str(target)
    if not isinstance(target, str) or not target:
        raise RoutingError(f"{field}: expected a name, not {target!r}", field=field)
    if kind == "extension":
        return Extension(target)
    if kind == "queue":
        return Queue(target)
    if kind == "ivr":
        return Ivr(target)
    return Conference(target)


def _reject(target: object, field: str) -> Reject:
    status: object = target
    reason: object = ""
    if isinstance(target, Mapping):
        if "status" not in target or not set(target) <= {"status", "reason"}:
            raise RoutingError(f"{field}: expected a status or {{status: ..., reason: ...}}",
                               field=field)
        status, reason = target["status"], target.get("reason", "")
    if not isinstance(reason, str):
        raise RoutingError(f"{field}.reason: expected text", field=f"{field}.reason")
    if not isinstance(status, int) or isinstance(status, bool):
        raise RoutingError(f"{field}: status must be a number 400-699, not {status!r}",
                           field=field)
    try:
        return Reject(status, reason)
    except RoutingError as exc:
        raise exc.within(field) from None


def _time(value: object, where: str,
          calendars: Mapping[str, HolidayCalendar] | None) -> TimeRule:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise RoutingError(f"{where}: an empty list of time conditions", field=where)
    conditions = []
    for index, item in enumerate(items):
        place = f"{where}[{index}]" if isinstance(value, list) else where
        if not isinstance(item, Mapping):
            raise RoutingError(f"{place}: expected a mapping such as "
                               f"{{weekdays: mon-fri, hours: \"09:00-17:00\"}}", field=place)
        conditions.append(TimeCondition.from_dict(item, calendars, place))
    return conditions[0] if len(conditions) == 1 else TimeSchedule(tuple(conditions))
