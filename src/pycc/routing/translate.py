"""Number translation: ordered rewrite steps for the called and the calling number.

A `Translation` holds two step lists, ``called`` and ``calling``; each list runs in order on its
own number and the pair of results is returned (nothing is mutated). The steps:

- `Strip` ``{strip: N}``: drop the first N characters (all of them if the number is shorter);
- `Prepend` ``{prepend: "0044"}``: put text in front;
- `Replace` ``{replace: {pattern: REGEX, with: TEMPLATE}}``: replace the first match of the
  regex (anchor it with ``^``/``$`` to mean the whole number; ``\\d`` means 0-9 only, the
  ASCII flag is on) by the template, whose ``\\1`` and ``\\g<name>`` refer to the regex's
  groups; left out, ``pattern`` is the rule's own ``re:``
  match, so a rule can capture with its match and rebuild with its translation;
- `ToE164` ``{e164: {country: GB}}``: a national or internationally-prefixed number to E.164;
- `ToNational` ``{national: {country: GB}}``: an E.164 number to how a caller in that country
  dials it (the trunk prefix for home numbers, the international prefix for the rest).

E.164 normalisation is deliberately small, and honest about it: ITU-T E.164 §6 numbers are
``+`` country code national-significant-number, at most 15 digits. For each country of
`NUMBERING_PLANS` it knows the country code, the trunk (national) prefix, the international
prefix, the usual length of a national significant number and which complete national numbers
are dialled without the trunk prefix (NANP's ten digits; Chinese and Indian mobiles). Numbers it
cannot place (local numbers without an area code, short codes such as 112 or 999, extensions)
are returned unchanged; it is not a numbering-plan validator (use libphonenumber for that).
Visual separators (space, ``-``, ``.``, parentheses) are ignored when reading a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from pycc.routing.patterns import RoutingError

__all__ = [
    "NUMBERING_PLANS",
    "NumberingPlan",
    "Prepend",
    "Replace",
    "Step",
    "Strip",
    "ToE164",
    "ToNational",
    "Translation",
    "numbering_plan",
    "to_e164",
    "to_national",
]


class Step(Protocol):
    """One rewrite of a number."""

    def apply(self, number: str) -> str: ...


@dataclass(frozen=True, slots=True)
class NumberingPlan:
    """What a country's dialling looks like, for E.164 normalisation (ITU-T E.164 §6)."""

    country: str
    country_code: str
    national_prefix: str  # the trunk prefix dialled before a national number
    international_prefix: str  # dialled before a country code
    nsn_lengths: range  # lengths of the national significant number accepted
    #: What every national significant number looks like, when the plan is that regular.
    nsn_pattern: re.Pattern[str] | None = None
    #: Complete national significant numbers that are dialled without the trunk prefix.
    bare_national: re.Pattern[str] | None = None

    def is_nsn(self, nsn: str) -> bool:
        """Whether ``nsn`` can be this country's national significant number."""
        return (len(nsn) in self.nsn_lengths
                and not nsn.startswith(self.national_prefix)
                and (self.nsn_pattern is None or self.nsn_pattern.fullmatch(nsn) is not None))


_NANP: Final = re.compile(r"[2-9][0-9]{2}[2-9][0-9]{6}")

#: The handful of countries pycc normalises. Lengths are ranges wide enough for the plan's
#: real numbers (Germany's open plan especially); they only keep nonsense out.
NUMBERING_PLANS: Final[Mapping[str, NumberingPlan]] = {
    "GB": NumberingPlan("GB", "44", "0", "00", range(7, 11)),
    # NANP: "1" before the ten digits NXX-NXX-XXXX, which are dialled on their own too.
    "US": NumberingPlan("US", "1", "1", "011", range(10, 11), _NANP, _NANP),
    "CA": NumberingPlan("CA", "1", "1", "011", range(10, 11), _NANP, _NANP),
    "DE": NumberingPlan("DE", "49", "0", "00", range(5, 14)),
    "FR": NumberingPlan("FR", "33", "0", "00", range(9, 10)),
    # Mobile numbers (11 digits from 13x to 19x) are dialled without the trunk prefix.
    "CN": NumberingPlan("CN", "86", "0", "00", range(8, 12),
                        bare_national=re.compile(r"1[3-9][0-9]{9}")),
    # Mobile numbers (10 digits from 6 to 9) are dialled without the trunk prefix.
    "IN": NumberingPlan("IN", "91", "0", "00", range(10, 11),
                        bare_national=re.compile(r"[6-9][0-9]{9}")),
    "AU": NumberingPlan("AU", "61", "0", "0011", range(9, 10)),
}

_SEPARATORS: Final = str.maketrans("", "", " -.()")
_E164_MAX_DIGITS: Final = 15
#: The shortest E.164 numbers in service (small island plans) have 7 digits with the code.
_E164_MIN_DIGITS: Final = 7


def numbering_plan(country: str) -> NumberingPlan:
    """The plan of an ISO 3166 alpha-2 country code (``"NANP"`` means US)."""
    key = country.upper() if isinstance(country, str) else ""
    plan = NUMBERING_PLANS.get("US" if key == "NANP" else key)
    if plan is None:
        raise RoutingError(f"no numbering plan for country {country!r} "
                           f"(known: {', '.join(sorted(NUMBERING_PLANS))})", text=str(country))
    return plan


def _e164_digits_ok(digits: str) -> bool:
    return digits.isdigit() and digits.isascii() and \
        _E164_MIN_DIGITS <= len(digits) <= _E164_MAX_DIGITS


def to_e164(number: str, plan: NumberingPlan) -> str:
    """``number`` as E.164 (``+CCNSN``) if the plan can place it, else ``number`` unchanged."""
    digits = number.translate(_SEPARATORS)
    if digits.startswith("+"):
        return digits if _e164_digits_ok(digits[1:]) else number
    if not digits.isdigit() or not digits.isascii():
        return number
    # The international prefix first: it may start with the trunk prefix ("00" after "0").
    if digits.startswith(plan.international_prefix):
        rest = digits[len(plan.international_prefix):]
        return "+" + rest if _e164_digits_ok(rest) else number
    if digits.startswith(plan.national_prefix):
        nsn = digits[len(plan.national_prefix):]
        if plan.is_nsn(nsn):
            return "+" + plan.country_code + nsn
    if plan.bare_national is not None and plan.bare_national.fullmatch(digits):
        return "+" + plan.country_code + digits
    return number


def to_national(number: str, plan: NumberingPlan) -> str:
    """How a caller in the plan's country dials an E.164 ``number``; other numbers unchanged."""
    digits = number.translate(_SEPARATORS)
    if not digits.startswith("+") or not _e164_digits_ok(digits[1:]):
        return number
    if digits.startswith("+" + plan.country_code):
        nsn = digits[1 + len(plan.country_code):]
        if plan.is_nsn(nsn):
            return plan.national_prefix + nsn
    return plan.international_prefix + digits[1:]


@dataclass(frozen=True, slots=True)
class Strip:
    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise RoutingError(f"strip: expected a whole number >= 0, not {self.count!r}")

    def apply(self, number: str) -> str:
        return number[self.count:]


@dataclass(frozen=True, slots=True)
class Prepend:
    prefix: str

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not self.prefix:
            raise RoutingError(f"prepend: expected non-empty text, not {self.prefix!r}")

    def apply(self, number: str) -> str:
        return self.prefix + number


@dataclass(frozen=True, slots=True)
class Replace:
    """Replace the first match of ``pattern`` by ``template``; ``pattern`` None until bound to
    the rule's regex (`Translation.bind`)."""

    pattern: re.Pattern[str] | None
    template: str

    def __post_init__(self) -> None:
        if not isinstance(self.template, str):
            raise RoutingError(f"replace: 'with' must be text, not {self.template!r}")
        if self.pattern is not None:
            _check_template(self.template, self.pattern)

    def apply(self, number: str) -> str:
        if self.pattern is None:
            raise RoutingError("replace: no pattern (bind the translation to a regex rule)")
        return self.pattern.sub(self.template, number, count=1)


@dataclass(frozen=True, slots=True)
class ToE164:
    plan: NumberingPlan

    def apply(self, number: str) -> str:
        return to_e164(number, self.plan)


@dataclass(frozen=True, slots=True)
class ToNational:
    plan: NumberingPlan

    def apply(self, number: str) -> str:
        return to_national(number, self.plan)


def _check_template(template: str, pattern: re.Pattern[str]) -> None:
    """Refuse a template the pattern cannot expand now, not on the first call that matches.

    Expanding it once against a stand-in regex with the same groups (each matching nothing)
    makes :mod:`re` itself judge every group reference and escape.
    """
    names = {index: name for name, index in pattern.groupindex.items()}
    stand_in = "".join(f"(?P<{names[index]}>)" if index in names else "()"
                       for index in range(1, pattern.groups + 1))
    try:
        re.compile(stand_in).sub(template, "", count=1)
    except (re.error, IndexError) as exc:
        position = getattr(exc, "pos", None)
        reason = getattr(exc, "msg", str(exc))
        raise RoutingError(
            f"replace: 'with' {template!r}"
            + (f" at position {position}" if position is not None else "")
            + f": {reason} (pattern {pattern.pattern!r})",
            text=template, position=position,
        ) from None


@dataclass(frozen=True, slots=True)
class Translation:
    """Steps for the called and for the calling number, each list applied in order."""

    called: tuple[Step, ...] = ()
    calling: tuple[Step, ...] = ()

    def apply(self, called: str, calling: str) -> tuple[str, str]:
        for step in self.called:
            called = step.apply(called)
        for step in self.calling:
            calling = step.apply(calling)
        return called, calling

    @property
    def needs_pattern(self) -> bool:
        """Whether a ``replace`` step waits for the rule's regex."""
        return any(isinstance(step, Replace) and step.pattern is None
                   for step in (*self.called, *self.calling))

    def bind(self, pattern: re.Pattern[str]) -> Translation:
        """The translation with the called-number ``replace`` steps that have no pattern given
        the rule's regex; such steps on the calling number are an error (the rule's regex
        matched the called number, not the caller)."""
        if any(isinstance(step, Replace) and step.pattern is None for step in self.calling):
            raise RoutingError("calling: a replace step needs its own pattern")
        steps = tuple(
            Replace(pattern, step.template)
            if isinstance(step, Replace) and step.pattern is None else step
            for step in self.called
        )
        return replace(self, called=steps)

    @classmethod
    def from_dict(cls, data: object, where: str = "translate") -> Translation:
        """From a rule's ``translate``: one step mapping (``{strip: 1}``), a mapping of several
        steps applied in the order written, a list of steps (all for the called number), or
        ``{called: [...], calling: [...]}``."""
        if isinstance(data, Mapping) and data and set(data) <= {"called", "calling"}:
            return cls(_steps(data.get("called", []), f"{where}.called"),
                       _steps(data.get("calling", []), f"{where}.calling"))
        return cls(_steps(data, where), ())


def _steps(data: object, where: str) -> tuple[Step, ...]:
    if isinstance(data, Mapping):
        items: list[tuple[str, object, str]] = [
            (str(key), value, f"{where}.{key}") for key, value in data.items()
        ]
    elif isinstance(data, Sequence) and not isinstance(data, str):
        items = []
        for index, entry in enumerate(data):
            if not isinstance(entry, Mapping) or len(entry) != 1:
                raise RoutingError(f"{where}[{index}]: expected one step such as {{strip: 1}}",
                                   field=f"{where}[{index}]")
            ((key, value),) = entry.items()
            items.append((str(key), value, f"{where}[{index}].{key}"))
    else:
        raise RoutingError(f"{where}: expected a step mapping or a list of steps", field=where)
    steps: list[Step] = []
    for key, value, field in items:
        try:
            steps.append(_step(key, value))
        except RoutingError as exc:
            raise exc.within(field) from None
    return tuple(steps)


def _step(key: str, value: object) -> Step:
    if key == "strip":
        if not isinstance(value, int) or isinstance(value, bool):
            raise RoutingError(f"expected a whole number, not {value!r}")
        return Strip(value)
    if key == "prepend":
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise RoutingError(f"expected text, not {value!r}")
        return Prepend(str(value))
    if key == "replace":
        if not isinstance(value, Mapping) or "with" not in value or \
                not set(value) <= {"pattern", "with"}:
            raise RoutingError("expected {pattern: REGEX, with: TEMPLATE}")
        template = value["with"]
        if not isinstance(template, str):
            raise RoutingError(f"'with' must be text, not {template!r}")
        source = value.get("pattern")
        if source is None:
            return Replace(None, template)
        if not isinstance(source, str):
            raise RoutingError(f"'pattern' must be text, not {source!r}")
        try:
            compiled = re.compile(source, re.ASCII)
        except re.error as exc:
            raise RoutingError(f"bad pattern {source!r} at position {exc.pos}: {exc.msg}",
                               text=source, position=exc.pos) from None
        return Replace(compiled, template)
    if key in ("e164", "national"):
        if not isinstance(value, Mapping) or set(value) != {"country"}:
            raise RoutingError("expected {country: CC}")
        plan = numbering_plan(str(value["country"]))
        return ToE164(plan) if key == "e164" else ToNational(plan)
    raise RoutingError(f"unknown step {key!r} (strip, prepend, replace, e164, national)")
