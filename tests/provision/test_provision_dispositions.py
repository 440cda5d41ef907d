"""The ``dispositions`` section of ``pycc apply``: validated with every error at its place,
stored one row per code, read back unchanged, and what the running call center is given."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.ccc.dispositions import DEFAULT_DISPOSITIONS, Disposition
from pycc.ccmanager.center import CenterConfig, center_config
from pycc.provision.schema import CallCenterSpec, validate
from pycc.provision.source import ApplyError, load
from pycc.provision.sync import apply
from pycc.provision.sync import load as load_stored
from pycc.store import Store

SpecOf = Callable[[str], CallCenterSpec]
T0 = 1_700_000_000.0

CODES = """\
tenant: default
dispositions:
  - {code: sale, label: Sale}
  - {code: callback, label: Call back, callback: true}
  - {code: dnc, label: "Do not call"}
"""
WRITTEN = (Disposition("sale", "Sale"), Disposition("callback", "Call back", callback=True),
           Disposition("dnc", "Do not call"))


def errors_of(text: str) -> list[ApplyError]:
    source = load(text, "cc.yaml")
    spec, errors = validate(source.data, source=source)
    assert spec is None and errors
    return errors


def test_the_section_becomes_dispositions_in_file_order(spec_of: SpecOf) -> None:
    spec = spec_of(CODES)
    assert spec.dispositions == WRITTEN
    assert "dispositions" in spec.sections
    assert center_config(spec).dispositions == WRITTEN


def test_codes_differing_in_case_are_two_codes(spec_of: SpecOf) -> None:
    spec = spec_of("dispositions: [{code: Sale, label: Big sale}, {code: sale, label: Sale}]\n")
    assert spec.dispositions is not None
    assert [d.code for d in spec.dispositions] == ["Sale", "sale"]


def test_a_file_without_the_section_gives_the_defaults(spec_of: SpecOf) -> None:
    spec = spec_of("queues: [{name: sales}]\n")
    assert spec.dispositions is None
    assert center_config(spec).dispositions == DEFAULT_DISPOSITIONS
    assert CenterConfig().dispositions == DEFAULT_DISPOSITIONS


@pytest.mark.parametrize(("entries", "where", "words"), [
    ("sale", "dispositions", "expected a list"),
    ("[]", "dispositions", "1 to 100"),
    ("[sale]", "dispositions[0]", "expected a mapping"),
    ("[{label: Sale}]", "dispositions[0]", "missing field 'code'"),
    ("[{code: sale}]", "dispositions[0]", "missing field 'label'"),
    ("[{code: 9sale, label: Sale}]", "dispositions[0].code", "must be a letter"),
    ("[{code: sale won, label: Sale}]", "dispositions[0].code", "'sale won'"),
    ("[{code: 12, label: Sale}]", "dispositions[0].code", "must be a letter"),
    (f"[{{code: s{'x' * 32}, label: Sale}}]", "dispositions[0].code", "32"),
    ("[{code: sale, label: ''}]", "dispositions[0].label", "1 to 64"),
    ("[{code: sale, label: '   '}]", "dispositions[0].label", "1 to 64"),
    (f"[{{code: sale, label: {'y' * 65}}}]", "dispositions[0].label", "1 to 64"),
    ('[{code: sale, label: "a\\tb"}]', "dispositions[0].label", "printable"),
    ("[{code: sale, label: [Sale]}]", "dispositions[0].label", "text"),
    ("[{code: sale, label: Sale, callback: soon}]", "dispositions[0].callback",
     "true or false"),
    ("[{code: sale, label: Sale, colour: red}]", "dispositions[0].colour", "unknown field"),
    ("[{code: sale, label: Sale}, {code: sale, label: Again}]", "dispositions[1].code",
     "defined twice (first at dispositions[0])"),
])
def test_each_bad_entry_is_named_by_its_field(entries: str, where: str, words: str) -> None:
    errors = errors_of(f"tenant: default\ndispositions: {entries}\n")
    assert [error.where for error in errors] == [where]
    assert words in errors[0].message
    assert errors[0].line == 2 and str(errors[0]).startswith("cc.yaml:2:")


def test_too_many_codes_are_refused() -> None:
    entries = "".join(f"  - {{code: c{i}, label: Code {i}}}\n" for i in range(101))
    errors = errors_of(f"dispositions:\n{entries}")
    assert [(e.where, e.line) for e in errors] == [("dispositions", 1)]
    assert "not 101" in errors[0].message


def test_every_error_of_the_section_is_reported_at_its_line() -> None:
    text = """\
dispositions:
  - {code: sale, label: Sale}
  - {code: "no sale", label: ""}
  - {code: sale, label: Sale again, callback: 1}
  - {code: ok, label: Fine}
"""
    errors = errors_of(text)
    assert [(e.line, e.where) for e in errors] == [
        (3, "dispositions[1].code"),
        (3, "dispositions[1].label"),
        (4, "dispositions[2].code"),
        (4, "dispositions[2].callback"),
    ]


def test_the_section_is_stored_and_loads_back_equal(store: Store, spec_of: SpecOf) -> None:
    applied = spec_of(CODES)
    result = apply(store, applied, T0)
    assert [change for change in result.created if change[0] == "disposition"] == [
        ("disposition", "sale"), ("disposition", "callback"), ("disposition", "dnc")]
    loaded = load_stored(store, "default")
    assert loaded is not None
    assert loaded == applied
    assert loaded.dispositions == WRITTEN
    assert center_config(loaded).dispositions == WRITTEN


def test_applying_the_same_codes_again_changes_nothing(store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of(CODES), T0)
    # Spelled differently, the same codes: nothing to write.
    same = CODES.replace("{code: sale, label: Sale}",
                         "{label: Sale, code: sale, callback: false}")
    assert not apply(store, spec_of(same), T0 + 1).changed


def test_a_new_list_replaces_the_stored_one(store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of(CODES), T0)
    result = apply(store, spec_of(
        "dispositions:\n  - {code: dnc, label: Never call}\n  - {code: sale, label: Sale}\n"),
        T0 + 1)
    assert set(result.deleted) == {("disposition", "callback")}
    assert set(result.updated) == {("disposition", "dnc"), ("disposition", "sale")}
    loaded = load_stored(store, "default")
    assert loaded is not None
    assert loaded.dispositions == (Disposition("dnc", "Never call"), Disposition("sale", "Sale"))


def test_leaving_the_section_out_keeps_the_stored_one(store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of(CODES), T0)
    result = apply(store, spec_of("queues: [{name: sales}]\n"), T0 + 1)
    assert not any(kind == "disposition" for kind, _ in result.deleted + result.updated)
    loaded = load_stored(store, "default")
    assert loaded is not None
    assert loaded.dispositions == WRITTEN
    assert [q.name for q in loaded.queues] == ["sales"]


def test_a_tenant_that_never_had_the_section_runs_with_the_defaults(
        store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of("queues: [{name: sales}]\n"), T0)
    loaded = load_stored(store, "default")
    assert loaded is not None
    assert loaded.dispositions is None and "dispositions" not in loaded.sections
    assert center_config(loaded).dispositions == DEFAULT_DISPOSITIONS


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 200),
                     st.floats(allow_nan=False), st.text(max_size=70),
                     st.sampled_from(["sale", "Sale", "no_sale", "call-back", "Call back",
                                      "9x", "", " ", "x" * 33]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=8)
_ENTRIES = st.one_of(
    _VALUES,
    st.dictionaries(st.sampled_from(["code", "label", "callback", "colour"]), _VALUES,
                    max_size=4),
    st.fixed_dictionaries({"code": st.sampled_from(["sale", "dnc", "Sale", "9x", "a b"]),
                           "label": st.sampled_from(["Sale", "Do not call", "", "\x07"])},
                          optional={"callback": st.sampled_from([True, False, None, 1])}),
)


@settings(max_examples=200, deadline=None)
@given(section=st.one_of(st.lists(_ENTRIES, max_size=6), _VALUES))
def test_arbitrary_entries_validate_or_are_errors_naming_the_section(section: object) -> None:
    spec, errors = validate({"tenant": "default", "dispositions": section})
    assert (spec is None) == bool(errors)
    for error in errors:
        assert isinstance(error, ApplyError) and error.message
        assert error.where.startswith("dispositions"), error
    if spec is not None:
        assert isinstance(section, list) and spec.dispositions is not None
        assert [(d.code, d.label, d.callback) for d in spec.dispositions] == [
            (e["code"], e["label"], e.get("callback", False)) for e in section]
