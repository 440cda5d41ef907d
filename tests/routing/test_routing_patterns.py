"""Number matchers: each kind, Asterisk's documented patterns and order, and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.routing import (
    AnyMatcher,
    ExactMatcher,
    MatchKind,
    PatternMatcher,
    PrefixMatcher,
    RegexMatcher,
    RoutingError,
    parse_matcher,
    pattern_to_regex,
)

# -- each kind -------------------------------------------------------------------------------


def test_exact_matches_only_the_number() -> None:
    matcher = parse_matcher("8000")
    assert isinstance(matcher, ExactMatcher) and matcher.kind is MatchKind.EXACT
    assert matcher.match("8000") == ()
    assert matcher.match("80000") is None and matcher.match("800") is None
    assert parse_matcher("exact:*67").match("*67") == ()


def test_prefix_matches_numbers_that_start_with_it() -> None:
    matcher = parse_matcher("prefix:+44")
    assert isinstance(matcher, PrefixMatcher) and matcher.prefix == "+44"
    assert matcher.match("+442079460000") == ()
    assert matcher.match("+44") == ()
    assert matcher.match("+4") is None and matcher.match("0044") is None


def test_longer_prefixes_are_more_specific() -> None:
    prefixes = [parse_matcher(text) for text in ("prefix:+4", "prefix:+4420", "prefix:+44")]
    ordered = sorted(prefixes, key=lambda m: m.specificity)
    assert [m.text for m in ordered] == ["prefix:+4420", "prefix:+44", "prefix:+4"]


def test_regex_must_match_the_whole_number_and_captures_groups() -> None:
    matcher = parse_matcher(r"re:^\+1(\d{3})(\d{7})$")
    assert isinstance(matcher, RegexMatcher)
    assert matcher.match("+12125551234") == ("212", "5551234")
    assert matcher.match("+121255512345") is None
    unanchored = parse_matcher(r"re:\d{4}")
    assert unanchored.match("8000") == () and unanchored.match("80001") is None
    assert parse_matcher(r"re:(\d+)(x)?").match("12") == ("12", "")


def test_any_matches_everything() -> None:
    matcher = parse_matcher("*")
    assert isinstance(matcher, AnyMatcher)
    assert matcher.match("") == () and matcher.match("+44123") == ()


# Examples from Asterisk's "Pattern Matching" documentation and the usual NANP dial plans.
@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("_NXXXXXX", ["2345678", "9999999"], ["1234567", "234567", "23456789"]),
        ("_1NXXNXXXXXX", ["12125551234"], ["11125551234", "12121551234", "1212555123"]),
        ("_9NXXNXXXXXX", ["92125551234"], ["91125551234", "9212555123"]),
        ("_+1NXXNXXXXXX", ["+12125551234"], ["12125551234", "+11125551234"]),
        ("_011.", ["011442079460000", "0114"], ["011", "012"]),
        ("_0Z.", ["010", "0987654"], ["01", "00", "001"]),
        ("_9X.", ["901", "9123"], ["9", "91", "8123"]),
        ("_[1-5]XX", ["100", "599"], ["000", "600", "10"]),
        ("_[135]X", ["10", "39", "59"], ["20", "40", "1"]),
        ("_5[0-35-7]X", ["500", "539", "569"], ["540", "580", "5a0"]),
        ("_1-NXX-NXX-XXXX", ["12125551234"], ["1-212-555-1234"]),
        ("_800!", ["800", "8001", "80012345"], ["80", "900"]),
        ("_nxx", ["234"], ["123"]),
        ("_*6X", ["*67", "*69"], ["#67", "*6"]),
    ],
)
def test_asterisk_patterns(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    matcher = parse_matcher(pattern)
    assert isinstance(matcher, PatternMatcher)
    for number in matching:
        assert matcher.match(number) == (), (pattern, number)
    for number in not_matching:
        assert matcher.match(number) is None, (pattern, number)


def test_pattern_index_fields() -> None:
    matcher = PatternMatcher("_9011[1-9]X.")
    assert matcher.literal_prefix == "9011"
    assert matcher.min_length == 7 and matcher.max_length is None
    fixed = PatternMatcher("_1-NXX")
    assert fixed.literal_prefix == "1" and fixed.min_length == fixed.max_length == 4
    assert PatternMatcher("_12!").min_length == 2
    assert pattern_to_regex("_9N[13].") == "9[2-9][13].+"


# Asterisk's order ("show dialplan" lists a context in it): a smaller set first, then the lower
# first character, '.' after any set, '!' after '.', a pattern that ends after '!'.
@pytest.mark.parametrize(
    "ordered",
    [
        ["_NXX", "_XXX"],
        ["_1XX", "_ZXX", "_XXX"],
        ["_NXX", "_ZXX", "_XXX"],
        ["_55512XX", "_555XXXX", "_555.", "_X."],
        ["_[12]X", "_[13]X", "_[2-4]X"],
        ["_9XX.", "_9X.", "_9!"],
        ["_9.", "_9!", "_9"],
        ["_+1[2-4]", "_[+]1X"],
        ["_0[1-3]", "_[0-2]1", "_[1-3]0"],
    ],
)
def test_asterisk_specificity_order(ordered: list[str]) -> None:
    matchers = [parse_matcher(text) for text in reversed(ordered)]
    assert [m.text for m in sorted(matchers, key=lambda m: m.specificity)] == ordered


def test_kinds_order_exact_prefix_pattern_regex_any() -> None:
    texts = ["*", r"re:\d+", "_X.", "prefix:1", "prefix:12", "123"]
    ordered = sorted((parse_matcher(t) for t in texts), key=lambda m: m.specificity)
    assert [m.text for m in ordered] == ["123", "prefix:12", "prefix:1", "_X.", r"re:\d+", "*"]


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("_", 1, "empty pattern"),
        ("_9[", 2, "not closed"),
        ("_9[]", 2, "empty set"),
        ("_9[5-1]", 3, "backwards"),
        ("_9[5-]", 4, "needs an end"),
        ("_9.1", 3, "nothing may follow"),
        ("_9!X", 3, "nothing may follow"),
        ("_9]", 2, "']' without '['"),
        ("_9 1", 2, "not allowed"),
        ("_9[1 ]", 4, "not allowed in a set"),
        ("re:(", 3, "missing )"),
        ("re:", 3, "empty"),
        ("80 00", 2, "not allowed in a number"),
        ("prefix:", 7, "empty number"),
        ("prefix:+4 4", 9, "not allowed"),
        ("", 0, "empty number"),
    ],
)
def test_bad_patterns_name_the_text_and_position(text: str, position: int, words: str) -> None:
    with pytest.raises(RoutingError) as caught:
        parse_matcher(text)
    assert caught.value.position == position
    assert caught.value.text == text
    assert repr(text) in str(caught.value) and f"position {position}" in str(caught.value)
    assert words in str(caught.value)


def test_non_text_is_a_routing_error() -> None:
    with pytest.raises(RoutingError):
        parse_matcher(8000)  # type: ignore[arg-type]


@given(st.text(max_size=30) | st.text(alphabet="_XZNxzn[]-.!0123456789+*#re:()^$\\ ",
                                       max_size=20).map(lambda s: "_" + s))
def test_any_text_parses_or_raises_routing_error(text: str) -> None:
    try:
        matcher = parse_matcher(text)
    except RoutingError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    # Whatever parsed must then match without raising.
    matcher.match(text)
    matcher.match("12345")


# -- the pattern's regex against a reference interpreter ---------------------------------------

_SETS = {"X": "0123456789", "Z": "123456789", "N": "23456789"}


def reference_match(pattern: str, number: str) -> bool:
    """A direct, recursive reading of an Asterisk pattern (valid ones only)."""
    body = pattern[1:] if pattern.startswith("_") else pattern
    if not body:
        return not number
    head = body[0]
    if head == "-":
        return reference_match(body[1:], number)
    if head == ".":
        return len(number) >= 1
    if head == "!":
        return True
    if not number:
        return False
    if head.upper() in _SETS:
        allowed, rest = _SETS[head.upper()], body[1:]
    elif head == "[":
        end = body.index("]")
        allowed, rest = _expand(body[1:end]), body[end + 1:]
    else:
        allowed, rest = head, body[1:]
    return number[0] in allowed and reference_match(rest, number[1:])


def _expand(inside: str) -> str:
    out, index = "", 0
    while index < len(inside):
        if index + 2 < len(inside) and inside[index + 1] == "-":
            out += "".join(chr(c) for c in range(ord(inside[index]), ord(inside[index + 2]) + 1))
            index += 3
        else:
            out += inside[index]
            index += 1
    return out


_LITERALS = "0123456789*#+"


@st.composite
def pattern_tokens(draw: st.DrawFn) -> list[tuple[str, str]]:
    """(pattern text of one element, the characters it matches), the open end last."""
    tokens: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["literal", "wild", "set", "range", "dash"]))
        if kind == "literal":
            char = draw(st.sampled_from(_LITERALS))
            tokens.append((char, char))
        elif kind == "wild":
            letter = draw(st.sampled_from("XZNxzn"))
            tokens.append((letter, _SETS[letter.upper()]))
        elif kind == "set":
            chars = draw(st.lists(st.sampled_from("0123456789#"), min_size=1, max_size=4))
            tokens.append(("[" + "".join(chars) + "]", "".join(chars)))
        elif kind == "range":
            low = draw(st.integers(0, 9))
            high = draw(st.integers(low, 9))
            tokens.append((f"[{low}-{high}]", "".join(str(d) for d in range(low, high + 1))))
        else:
            tokens.append(("-", ""))
    tail = draw(st.sampled_from(["", ".", "!"]))
    if tail:
        tokens.append((tail, tail))
    return tokens


@st.composite
def pattern_and_number(draw: st.DrawFn) -> tuple[str, str]:
    tokens = draw(pattern_tokens())
    pattern = "_" + "".join(text for text, _ in tokens)
    if not any(chars for _, chars in tokens):
        pattern += "0"
        tokens.append(("0", "0"))
    if draw(st.booleans()):
        number = draw(st.text(alphabet="0123456789*#+a", max_size=12))
    else:
        # A number built to match, then perhaps bent by one edit.
        number = ""
        for _, chars in tokens:
            if chars == ".":
                number += draw(st.text(alphabet="0123456789", min_size=1, max_size=4))
            elif chars == "!":
                number += draw(st.text(alphabet="0123456789", max_size=4))
            elif chars:
                number += draw(st.sampled_from(chars))
        edit = draw(st.sampled_from(["none", "drop", "add", "change"]))
        if edit == "drop" and number:
            number = number[:-1]
        elif edit == "add":
            number += draw(st.sampled_from("05#"))
        elif edit == "change" and number:
            at = draw(st.integers(0, len(number) - 1))
            number = number[:at] + draw(st.sampled_from("019*")) + number[at + 1:]
    return pattern, number


@settings(max_examples=400)
@given(pattern_and_number())
def test_pattern_matches_exactly_what_the_reference_matches(case: tuple[str, str]) -> None:
    pattern, number = case
    matcher = PatternMatcher(pattern)
    expected = reference_match(pattern, number)
    assert (matcher.match(number) is not None) is expected
    assert (re.fullmatch(pattern_to_regex(pattern), number, re.DOTALL) is not None) is expected
    if expected:
        assert number.startswith(matcher.literal_prefix)
        assert len(number) >= matcher.min_length
        assert matcher.max_length is None or len(number) <= matcher.max_length


@given(st.lists(st.tuples(st.sampled_from(["X", "Z", "N", "[1-3]", "[13]", "5"]),
                          st.booleans()), min_size=1, max_size=6))
def test_a_pattern_of_narrower_sets_sorts_first(spec: list[tuple[str, bool]]) -> None:
    """Asterisk's order: position-wise subsets, narrower somewhere, are more specific."""
    narrower_of = {"X": "Z", "Z": "N", "N": "[3-5]", "[1-3]": "[13]", "[13]": "3", "5": "5"}
    wide = "_" + "".join(token for token, _ in spec)
    narrow = "_" + "".join(narrower_of[token] if narrow else token for token, narrow in spec)
    if wide == narrow:
        return
    assert PatternMatcher(narrow).specificity < PatternMatcher(wide).specificity
