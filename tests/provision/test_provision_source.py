"""Reading the apply file: values, locations of field paths, and YAML problems as errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.provision import source as source_module
from pycc.provision.source import (
    ApplyError,
    Location,
    child_path,
    load,
    load_file,
    parse_path,
    render_path,
)

TEXT = """\
tenant: acme
queues:
  - name: sales
    ring_timeout: 15
  - name: support
    overflow:
      queue: sales
ivr:
  - name: main
    steps:
      - answer
      - menu:
          options:
            "1": {queue: sales}
"""


def test_values_are_plain_python() -> None:
    source = load(TEXT, "cc.yaml")
    assert source.data == {
        "tenant": "acme",
        "queues": [{"name": "sales", "ring_timeout": 15},
                   {"name": "support", "overflow": {"queue": "sales"}}],
        "ivr": [{"name": "main", "steps": ["answer", {"menu": {"options": {
            "1": {"queue": "sales"}}}}]}],
    }
    assert source.file == "cc.yaml"


@pytest.mark.parametrize(("path", "line", "column"), [
    ("tenant", 1, 1),
    ("queues", 2, 1),
    ("queues[0]", 3, 5),
    ("queues[0].ring_timeout", 4, 5),
    ("queues[1].overflow", 6, 5),
    ("queues[1].overflow.queue", 7, 7),
    ("ivr[0].steps[1].menu.options", 13, 11),
    ('ivr[0].steps[1].menu.options["1"]', 14, 13),
    ("ivr[0].steps[1].menu.options.1", 14, 13),
    ("ivr[0].steps[1].menu.options['1'].queue", 14, 19),
])
def test_every_field_path_has_its_place(path: str, line: int, column: int) -> None:
    assert load(TEXT).locate(path) == Location(line, column)


def test_the_locations_map_is_keyed_by_field_path() -> None:
    locations = load(TEXT).locations
    assert locations["queues[0].ring_timeout"] == (4, 5)
    assert locations["ivr[0].steps[1].menu.options.1.queue"] == (14, 19)
    assert locations[""] == (1, 1)


def test_an_unknown_path_is_located_at_its_deepest_known_prefix() -> None:
    source = load(TEXT)
    assert source.locate("queues[0].ring_timeout.extra[3]") == Location(4, 5)
    assert source.locate("queues[7].name") == Location(2, 1)
    assert source.locate("nowhere") == Location(1, 1)  # the document itself


def test_place_fills_in_file_line_and_column() -> None:
    source = load(TEXT, "cc.yaml")
    error = source.place(ApplyError("queues[1].overflow.queue", "no queue 'x'"))
    assert (error.line, error.column, error.file) == (7, 7, "cc.yaml")
    assert str(error) == "cc.yaml:7:7: queues[1].overflow.queue: no queue 'x'"


def test_error_text_without_a_location() -> None:
    assert str(ApplyError("limits.calls", "must be >= 1")) == "limits.calls: must be >= 1"
    assert str(ApplyError("", "the file is empty", 1, 1, file="f.yaml")) == \
        "f.yaml:1:1: the file is empty"


def test_paths_parse_and_render_both_ways() -> None:
    parts: list[str | int] = ["ivr", 0, "steps", 1, "menu", "options", "*", "x y", 'q"uote']
    text = render_path(tuple(parts))
    assert text == 'ivr[0].steps[1].menu.options["*"]["x y"]["q\\"uote"]'
    assert parse_path(text) == parts
    assert child_path("", "tenant") == "tenant"
    assert child_path("queues", 2) == "queues[2]"
    assert child_path("queues[2]", "music") == "queues[2].music"


@pytest.mark.parametrize(("text", "value"), [
    ("n: 1001", 1001),
    ("n: 0123", "0123"),          # YAML 1.1 would read octal 83
    ("n: 09:00", "09:00"),
    ("n: 20:00", "20:00"),        # YAML 1.1 would read 1200 (base 60)
    ("n: 0x1F", "0x1F"),
    ("n: 1_000", 1000),
    ("n: 2025-12-25", "2025-12-25"),  # dates stay text
    ("n: 1.5", 1.5),
    ("n: 1:30.5", "1:30.5"),
    ("n: yes", True),
    ("n: ~", None),
    ("n: '0123'", "0123"),
])
def test_numbers_that_would_change_stay_as_written(text: str, value: object) -> None:
    assert load(text).data == {"n": value}


def test_mapping_keys_are_the_text_written() -> None:
    assert load("{1: a, null: b, true: c, 1.5: d}").data == {
        "1": "a", "null": "b", "true": "c", "1.5": "d"}


def test_aliases_are_expanded() -> None:
    data = load("a: &x {k: 1}\nb: *x\n").data
    assert data == {"a": {"k": 1}, "b": {"k": 1}}


@pytest.mark.parametrize(("text", "line", "column", "words"), [
    ("queues:\n  - name: sales\n   bad: indent\n", 3, 4, "syntax error"),
    ("a: [1, 2\nb: 3\n", 2, 2, "syntax error"),
    ("a: 'open\n", 2, 1, "syntax error"),
    ("a: 1\n---\nb: 2\n", 2, 1, "single document"),
    ("tenant: a\t\x07\n", 1, 11, "'\\x07' is not allowed"),
])
def test_yaml_syntax_errors_carry_their_place(text: str, line: int, column: int,
                                              words: str) -> None:
    with pytest.raises(ApplyError) as caught:
        load(text, "f.yaml")
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert words in error.message
    assert str(error).startswith(f"f.yaml:{line}:{column}: ")


def test_a_duplicate_key_is_an_error_at_the_duplicate() -> None:
    text = "queues:\n  - name: sales\n    wrapup: 5\n    name: support\n"
    with pytest.raises(ApplyError) as caught:
        load(text)
    error = caught.value
    assert (error.where, error.line, error.column) == ("queues[0].name", 4, 5)
    assert "duplicate key 'name' (first at line 2)" in error.message


def test_a_duplicate_top_level_section_is_an_error() -> None:
    with pytest.raises(ApplyError) as caught:
        load("tenant: a\nqueues: []\ntenant: b\n")
    assert (caught.value.where, caught.value.line) == ("tenant", 3)


@pytest.mark.parametrize(("text", "words"), [
    ("a: &x [1, *x]\n", "contains it"),
    ("a: !!binary aGVsbG8=\n", "unsupported tag"),
    ("a: !custom 1\n", "unsupported tag"),
    ("a: !!set {x, y}\n", "unsupported tag"),
    ("base: &b {x: 1}\nc:\n  <<: *b\n", "merge keys"),
    ("? [a, b]\n: 1\n", "plain name"),
])
def test_yaml_features_a_config_does_not_need_are_refused(text: str, words: str) -> None:
    with pytest.raises(ApplyError, match=words):
        load(text)


def test_an_alias_bomb_stops_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "MAX_VALUES", 5000)  # the same check, sooner
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ApplyError, match="more than"):
        load("\n".join(lines) + "\n")


def test_deep_nesting_stops_with_an_error_quickly() -> None:
    with pytest.raises(ApplyError, match="nested too deeply") as caught:
        load("a: 1\nb: " + "[" * 100 + "]" * 100 + "\n")
    assert (caught.value.line, caught.value.column) == (2, 4 + 64)
    # PyYAML alone would take minutes over this (its scanner is quadratic in the depth).
    with pytest.raises(ApplyError, match="nested too deeply"):
        load("a: " + "[" * 200_000 + "]" * 200_000 + "\n")
    block = "".join(f"{'  ' * level}k{level}:\n" for level in range(100)) + "  " * 100 + "v\n"
    with pytest.raises(ApplyError, match="nested too deeply"):
        load(block)


def test_brackets_in_quotes_comments_and_patterns_are_not_nesting() -> None:
    text = "\n".join([
        "a: '" + "[" * 100 + "'",
        'b: "' + "{" * 100 + '\\"' + '"',
        "c: 'it''s [[[['",
        "# " + "[" * 100,
        "d: x  # " + "{" * 100,
        *(f"r{i}: _9[1-5]XX" for i in range(100)),
    ]) + "\n"
    data = load(text).data
    assert isinstance(data, dict)
    assert data["a"] == "[" * 100
    assert data["b"] == "{" * 100 + '"'
    assert data["c"] == "it's [[[["
    assert data["d"] == "x"
    assert data["r99"] == "_9[1-5]XX"


def test_an_empty_document_is_no_data() -> None:
    assert load("").data is None
    assert load("# only a comment\n").data is None


def test_load_file_reports_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ApplyError, match="cannot read") as caught:
        load_file(tmp_path / "missing.yaml")
    assert caught.value.file == str(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"tenant: a\nname: \xff\xfe\n")
    with pytest.raises(ApplyError, match="not UTF-8") as caught:
        load_file(bad)
    assert (caught.value.line, caught.value.column) == (2, 7)
    good = tmp_path / "good.yaml"
    good.write_bytes("\ufefftenant: acme\n".encode())
    assert load_file(good).data == {"tenant": "acme"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"ab:- \n\t[]{}&*!'\"#,?|>%@`1", "\x00"]),
               max_size=60))
def test_any_text_gives_values_or_an_apply_error(text: str) -> None:
    try:
        source = load(text)
    except ApplyError as error:
        assert error.message
        assert error.line is None or error.line >= 1
        return
    # Every recorded place is inside the text.
    lines = text.count("\n") + 1
    assert all(1 <= place.line <= lines + 1 for place in source.locations.values())
