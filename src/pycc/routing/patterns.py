"""Number matchers of the dial plan: exact, prefix, Asterisk-style pattern, regex and any.

A rule's ``match`` text is parsed once by `parse_matcher` into one of five matchers:

- ``"8000"`` (or ``"exact:8000"``): the number itself, nothing more;
- ``"prefix:+44"``: every number that starts with ``+44``; among several prefix rules the
  longest matching prefix wins (the index lives in :mod:`pycc.routing.dialplan`);
- ``"_9NXXNXXXXXX"``: an Asterisk extension pattern (Asterisk "Pattern Matching"): ``X`` is
  0-9, ``Z`` 1-9, ``N`` 2-9 (either case), ``[1-5]`` / ``[135]`` a set, ``.`` one or more of
  anything and ``!`` zero or more of anything (both only as the last element); ``-`` is
  ignored, as Asterisk does, so that ``_1-NXX-NXX-XXXX`` can be written; every other allowed
  character stands for itself;
- ``"re:^\\+1(\\d{10})$"``: a Python regular expression that must match the whole number; its
  groups are handed to translation. It is compiled with `re.ASCII`, so ``\\d`` is 0-9 and not
  every Unicode digit;
- ``"*"``: any number, the empty one included.

Specificity (`Matcher.specificity`) orders matchers as the dial plan prefers them: exact, then
longer prefixes before shorter, then patterns in Asterisk's order, then regexes, then any.
Asterisk's order (``ext_cmp_pattern_pos`` in its ``main/pbx.c``) compares patterns position by
position: a set matching fewer characters is more specific, ties go to the set with the lowest
first character, then to the set whose characters come first; ``.`` sorts after every set,
``!`` after ``.``, and the end of a pattern after ``!``.

Every malformed text raises `RoutingError` (a `ValueError`) naming the text and the position.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import ClassVar, Final, TypeAlias

__all__ = [
    "AnyMatcher",
    "ExactMatcher",
    "MatchKind",
    "Matcher",
    "PatternMatcher",
    "PrefixMatcher",
    "RegexMatcher",
    "RoutingError",
    "Specificity",
    "parse_matcher",
    "pattern_to_regex",
]


class RoutingError(ValueError):
    """Bad dial-plan input: a pattern, a rule, a time condition or a translation step.

    ``text`` is the offending input when there is one, ``position`` the 0-based index in it
    where the problem starts, ``field`` the place in a rule file (``routes[3].to``).
    """

    def __init__(self, message: str, *, text: str | None = None, position: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.text = text
        self.position = position
        self.field = field

    def within(self, field: str) -> RoutingError:
        """The same error, prefixed with where in a rule file it was found."""
        return RoutingError(f"{field}: {self}", text=self.text, position=self.position,
                            field=field)


class MatchKind(enum.IntEnum):
    """The matcher kinds, most specific first: the value is the rank."""

    EXACT = 0
    PREFIX = 1
    PATTERN = 2
    REGEX = 3
    ANY = 4


#: One position of an Asterisk pattern in sort order: (weight, characters of the set).
Position: TypeAlias = tuple[int, tuple[str, ...]]
#: Sort key of a matcher: its kind's rank, then a key within the kind (smaller = more specific).
Specificity: TypeAlias = tuple[int, tuple[Position, ...]]

#: Characters a number, a prefix or a pattern literal may hold: dial-pad keys, "+", letters (for
#: named targets such as "voicemail") and the SIP user-part marks "-", ".", "_", "~".
_NUMBER_CHARS: Final = frozenset(
    "0123456789*#+-._~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
#: Characters that stand for themselves inside a pattern or a set.
_LITERAL_CHARS: Final = frozenset(
    "0123456789*#+ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_WILDCARDS: Final = {"X": "0123456789", "Z": "123456789", "N": "23456789"}

# Asterisk's weights for the open-ended elements and the end of a pattern (see the docstring).
_ONE_OR_MORE_WEIGHT: Final = 0x18000
_ZERO_OR_MORE_WEIGHT: Final = 0x28000
_END: Final[Position] = (0x30000, ())


def _set_position(chars: str) -> Position:
    ordered = tuple(sorted(set(chars)))
    return ((len(ordered) << 8) | ord(ordered[0]), ordered)


class Matcher:
    """A parsed ``match`` text. `match` returns the captured groups (``()`` when the matcher
    captures nothing) or None when the number does not match."""

    __slots__ = ("specificity", "text")

    kind: ClassVar[MatchKind]

    def __init__(self, text: str, specificity: Specificity) -> None:
        self.text = text
        self.specificity = specificity

    def match(self, number: str) -> tuple[str, ...] | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Matcher) and type(other) is type(self) and other.text == self.text

    def __hash__(self) -> int:
        return hash((type(self), self.text))


class ExactMatcher(Matcher):
    """The number itself."""

    __slots__ = ("number",)
    kind = MatchKind.EXACT

    def __init__(self, number: str, text: str | None = None) -> None:
        _check_number(number, text or number, 0 if text is None else len("exact:"))
        super().__init__(text or number, (MatchKind.EXACT, ()))
        self.number = number

    def match(self, number: str) -> tuple[str, ...] | None:
        return () if number == self.number else None


class PrefixMatcher(Matcher):
    """Every number starting with `prefix`; a longer prefix is more specific."""

    __slots__ = ("prefix",)
    kind = MatchKind.PREFIX

    def __init__(self, prefix: str) -> None:
        text = "prefix:" + prefix
        _check_number(prefix, text, len("prefix:"))
        # Negative length: sorting ascending puts the longest prefix first.
        super().__init__(text, (MatchKind.PREFIX, ((-len(prefix), ()),)))
        self.prefix = prefix

    def match(self, number: str) -> tuple[str, ...] | None:
        return () if number.startswith(self.prefix) else None


class PatternMatcher(Matcher):
    """An Asterisk extension pattern such as ``_9NXXNXXXXXX``.

    ``literal_prefix`` is the fixed text before the first wildcard or set (the dial plan indexes
    patterns by it); ``min_length``/``max_length`` bound the numbers it can match (``max_length``
    None when it ends in ``.`` or ``!``); ``regex`` is its translation to a regular expression.
    """

    __slots__ = ("fullmatch", "literal_prefix", "max_length", "min_length", "regex")
    kind = MatchKind.PATTERN

    def __init__(self, text: str) -> None:
        positions, literal_prefix, min_length, open_ended, regex = _parse_pattern(text)
        super().__init__(text, (MatchKind.PATTERN, positions))
        self.literal_prefix = literal_prefix
        self.min_length = min_length
        self.max_length = None if open_ended else min_length
        self.regex = regex
        #: The compiled regex's fullmatch, for callers that test many patterns in a loop.
        self.fullmatch: Callable[[str], re.Match[str] | None] = \
            re.compile(regex, re.DOTALL).fullmatch

    def match(self, number: str) -> tuple[str, ...] | None:
        return () if self.fullmatch(number) is not None else None


class RegexMatcher(Matcher):
    """A regular expression that must match the whole number; its groups are captured."""

    __slots__ = ("_fullmatch", "pattern")
    kind = MatchKind.REGEX

    def __init__(self, expression: str) -> None:
        text = "re:" + expression
        if not expression:
            raise RoutingError(f"bad match {text!r} at position 3: empty regular expression",
                               text=text, position=3)
        try:
            compiled = re.compile(expression, re.ASCII)
        except re.error as exc:
            position = 3 + (exc.pos or 0)
            raise RoutingError(
                f"bad match {text!r} at position {position}: {exc.msg}",
                text=text, position=position,
            ) from None
        super().__init__(text, (MatchKind.REGEX, ()))
        self.pattern = compiled
        self._fullmatch = compiled.fullmatch

    def match(self, number: str) -> tuple[str, ...] | None:
        found = self._fullmatch(number)
        if found is None:
            return None
        # An optional group that took no part in the match translates as empty text.
        return tuple(group or "" for group in found.groups())


class AnyMatcher(Matcher):
    """Any number, the empty one included."""

    __slots__ = ()
    kind = MatchKind.ANY

    def __init__(self) -> None:
        super().__init__("*", (MatchKind.ANY, ()))

    def match(self, number: str) -> tuple[str, ...] | None:
        return ()


def parse_matcher(text: str) -> Matcher:
    """The matcher a rule's ``match`` (or ``caller``) text describes; see the module docstring."""
    if not isinstance(text, str):
        raise RoutingError(f"a match must be text, not {type(text).__name__}")
    if text == "*":
        return AnyMatcher()
    if text.startswith("_"):
        return PatternMatcher(text)
    if text.startswith("re:"):
        return RegexMatcher(text[3:])
    if text.startswith("prefix:"):
        return PrefixMatcher(text[len("prefix:"):])
    if text.startswith("exact:"):
        return ExactMatcher(text[len("exact:"):], text)
    return ExactMatcher(text)


def pattern_to_regex(pattern: str) -> str:
    """The regular expression (for `re.fullmatch` with `re.DOTALL`) an Asterisk pattern means."""
    return _parse_pattern(pattern)[4]


def _check_number(number: str, text: str, offset: int) -> None:
    if not number:
        raise RoutingError(f"bad match {text!r} at position {offset}: empty number",
                           text=text, position=offset)
    for index, char in enumerate(number):
        if char not in _NUMBER_CHARS:
            position = offset + index
            raise RoutingError(
                f"bad match {text!r} at position {position}: {char!r} is not allowed in a number",
                text=text, position=position,
            )


def _fail(text: str, position: int, why: str) -> RoutingError:
    return RoutingError(f"bad pattern {text!r} at position {position}: {why}",
                        text=text, position=position)


def _parse_pattern(text: str) -> tuple[tuple[Position, ...], str, int, bool, str]:
    """(sort positions, literal prefix, minimum length, open-ended, regex) of a pattern."""
    if not text.startswith("_"):
        raise _fail(text, 0, "a pattern starts with '_'")
    positions: list[Position] = []
    regex: list[str] = []
    literal: list[str] = []
    in_literal_prefix = True
    open_ended = False
    index = 1
    while index < len(text):
        char = text[index]
        if open_ended:
            raise _fail(text, index, f"nothing may follow {text[index - 1]!r}")
        if char == "-":
            index += 1
            continue
        upper = char.upper()
        if upper in _WILDCARDS:
            chars = _WILDCARDS[upper]
            positions.append(_set_position(chars))
            regex.append(f"[{chars[0]}-{chars[-1]}]")
            in_literal_prefix = False
        elif char == "[":
            chars, index = _parse_set(text, index)
            positions.append(_set_position(chars))
            regex.append("[" + "".join(re.escape(c) for c in sorted(set(chars))) + "]")
            in_literal_prefix = False
        elif char in ".!":
            positions.append((_ONE_OR_MORE_WEIGHT, ()) if char == "." else
                             (_ZERO_OR_MORE_WEIGHT, ()))
            regex.append(".+" if char == "." else ".*")
            open_ended = True
        elif char in _LITERAL_CHARS:
            positions.append(_set_position(char))
            regex.append(re.escape(char))
            if in_literal_prefix:
                literal.append(char)
        elif char == "]":
            raise _fail(text, index, "']' without '['")
        else:
            raise _fail(text, index, f"{char!r} is not allowed in a pattern")
        index += 1
    if not positions:
        raise _fail(text, len(text), "empty pattern")
    positions.append(_END)
    minimum = sum(1 for weight, _ in positions if weight < _ONE_OR_MORE_WEIGHT)
    if positions[-2][0] == _ONE_OR_MORE_WEIGHT:
        minimum += 1
    return tuple(positions), "".join(literal), minimum, open_ended, "".join(regex)


def _parse_set(text: str, start: int) -> tuple[str, int]:
    """The characters of the ``[...]`` set opening at ``start``, and the index of its ``]``."""
    chars: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "]":
            if not chars:
                raise _fail(text, start, "empty set '[]'")
            return "".join(chars), index
        if char not in _LITERAL_CHARS:
            raise _fail(text, index, f"{char!r} is not allowed in a set")
        if index + 2 < len(text) and text[index + 1] == "-" and text[index + 2] != "]":
            last = text[index + 2]
            if last not in _LITERAL_CHARS:
                raise _fail(text, index + 2, f"{last!r} is not allowed in a set")
            if last < char:
                raise _fail(text, index, f"range {char}-{last} runs backwards")
            chars.extend(chr(code) for code in range(ord(char), ord(last) + 1)
                         if chr(code) in _LITERAL_CHARS)
            index += 3
            continue
        if index + 1 < len(text) and text[index + 1] == "-":
            raise _fail(text, index + 1, "a range needs an end")
        chars.append(char)
        index += 1
    raise _fail(text, start, "'[' is not closed")
