"""The ``rates`` section and the credit limit of ``pycc apply``: validated with every error at
its line, stored in the rate tables all or nothing, idempotent, and read back unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from pycc.provision.schema import CallCenterSpec, validate
from pycc.provision.source import ApplyError, load
from pycc.provision.sync import apply
from pycc.provision.sync import load as load_stored
from pycc.routing.rating import Increment
from pycc.store import Store
from pycc.store.billing_models import RateAssignment, RateRow, RateTableRow

SpecOf = Callable[[str], CallCenterSpec]
T0 = 1_700_000_000.0

RATES = """\
tenant: default
trunks:
  - {name: carrier, host: "127.0.0.1:5080"}
  - {name: backup, host: "127.0.0.1:5090"}
rates:
  tables:
    - name: retail
      increment: 6/6
      rates:
        - {prefix: "44", price: 0.02, name: UK}
        - {prefix: "+4420", price: "0.015", increment: 1/1, connection: 0.05}
        - {prefix: 1, price: 0.01, increment: 60}
    - name: wholesale
      connection: "0.001"
      rates:
        - {prefix: "1", price: 0.004}
  default: retail
  trunks: {backup: wholesale}
limits: {calls: 20, credit: 250.50, credit_since: "2025-06-01"}
"""


def errors_of(text: str) -> list[ApplyError]:
    source = load(text, "cc.yaml")
    spec, errors = validate(source.data, source=source)
    assert spec is None and errors
    return errors


def test_the_rates_section_becomes_a_rate_plan(spec_of: SpecOf) -> None:
    spec = spec_of(RATES)
    assert spec.rates is not None
    retail, wholesale = spec.rates.tables
    assert [(r.prefix, r.price, r.increment, r.connection, r.name) for r in retail.rates] == [
        ("44", Decimal("0.02"), Increment(6, 6), Decimal(0), "UK"),
        ("4420", Decimal("0.015"), Increment(1, 1), Decimal("0.05"), None),
        ("1", Decimal("0.01"), Increment(60, 60), Decimal(0), None)]
    assert wholesale.rates[0].connection == Decimal("0.001")
    plan = spec.rates.plan
    assert plan.table_for("carrier") is retail and plan.table_for("backup") is wholesale
    rated = plan.rate("carrier", "+442071234", 10.0)
    assert rated is not None and rated.cost == Decimal("0.05") + Decimal("0.015") * 10 / 60
    assert spec.limits is not None
    assert (spec.limits.calls, spec.limits.credit) == (20, Decimal("250.5"))
    assert spec.limits.credit_since == datetime(2025, 6, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("since", "epoch"), [
    ("2025-06-01T12:00:00+02:00", datetime(2025, 6, 1, 10, tzinfo=UTC).timestamp()),
    ("2025-06-01 08:30", datetime(2025, 6, 1, 8, 30, tzinfo=UTC).timestamp()),
    (1_750_000_000, 1_750_000_000.0),
])
def test_the_credit_period_starts_at_a_date_a_time_or_epoch_seconds(
        spec_of: SpecOf, since: object, epoch: float) -> None:
    value = f'"{since}"' if isinstance(since, str) else since
    spec = spec_of(f"limits: {{credit: 10, credit_since: {value}}}\n")
    assert spec.limits is not None and spec.limits.credit_since == epoch


def test_every_error_of_the_rates_section_is_reported_at_its_line() -> None:
    text = """\
trunks: [{name: carrier, host: h}]
rates:
  tables:
    - name: retail
      increment: 6/0
      rates:
        - {prefix: "44", price: -1}
        - {prefix: "4a", price: 0.01}
        - {prefix: "5", price: 0.01, increment: sometimes}
        - {prefix: "4a", price: 0.02}
        - {prefix: "7", price: 0.01, colour: red}
        - {price: 0.01}
    - name: retail
      rates: []
  default: nowhere
  trunks: {carrier: gone, ghost: retail}
limits: {credit: lots, credit_since: yesterday}
"""
    errors = errors_of(text)
    assert [(e.line, e.where) for e in errors] == [
        (5, "rates.tables[0].increment"),
        (7, "rates.tables[0].rates[0].price"),
        (8, "rates.tables[0].rates[1].prefix"),
        (9, "rates.tables[0].rates[2].increment"),
        (10, "rates.tables[0].rates[3].prefix"),
        (11, "rates.tables[0].rates[4].colour"),
        (12, "rates.tables[0].rates[5]"),
        (13, "rates.tables[1].name"),
        (15, "rates.default"),
        (16, "rates.trunks.carrier"),
        (16, "rates.trunks.ghost"),
        (17, "limits.credit"),
    ]
    text_of = [str(error) for error in errors]
    assert text_of[0].startswith("cc.yaml:5:7: rates.tables[0].increment: '6/0'")
    assert "-1: must be a finite amount >= 0" in text_of[1]
    assert "expected 1 to 15 digits" in text_of[2]
    assert "'4a': expected 1 to 15 digits" in text_of[4]
    assert "unknown field 'colour'" in text_of[5]
    assert "missing field 'prefix'" in text_of[6]
    assert "rate table 'retail' is defined twice (first at rates.tables[0])" in text_of[7]
    assert "no rate table 'nowhere'" in text_of[8]
    assert "no rate table 'gone'" in text_of[9]
    assert "there is no trunk 'ghost'" in text_of[10]
    assert "'lots' is not an amount" in text_of[11]


@pytest.mark.parametrize(("text", "where"), [
    ("rates: [retail]\n", "rates"),
    ("rates: {tables: {retail: []}}\n", "rates.tables"),
    ("rates: {tables: [{name: t, rates: [{prefix: '1', price: 1}]},"
     " {name: t, rates: []}]}\n", "rates.tables[1].name"),
    ("rates: {trunks: [a]}\n", "rates.trunks"),
    ("rates: {tables: [{name: t, rates: [{prefix: '1', price: 1}, {prefix: '+1', price: 2}]}]}\n",
     "rates.tables[0].rates[1].prefix"),
    ("rates: {tables: [{name: t, rates: [{prefix: '1', price: 1, name: [x]}]}]}\n",
     "rates.tables[0].rates[0].name"),
    ("limits: {credit_since: 2025-01-01}\n", "limits.credit_since"),
    ("limits: {credit: 5, credit_since: soon}\n", "limits.credit_since"),
    ("limits: {credit: 1e400}\n", "limits.credit"),
])
def test_each_kind_of_rates_error_names_its_field(text: str, where: str) -> None:
    assert [error.where for error in errors_of(text)] == [where]


def stored(store: Store) -> dict[str, object]:
    with Session(store.engine) as session:
        tables = {table.name: sorted((rate.prefix, rate.price, rate.first_seconds,
                                      rate.next_seconds, rate.connection, rate.name)
                                     for rate in session.exec(select(RateRow).where(
                                         RateRow.table_id == table.id)))
                  for table in session.exec(select(RateTableRow))}
        chosen = {row.trunk: row.table_name for row in session.exec(select(RateAssignment))}
        updated = {table.name: table.updated for table in session.exec(select(RateTableRow))}
    return {"tables": tables, "chosen": chosen, "updated": updated}


def test_rates_are_stored_idempotently_and_load_back(store: Store, spec_of: SpecOf) -> None:
    spec = spec_of(RATES)
    result = apply(store, spec, T0)
    assert {change for change in result.created if change[0].startswith("rate")} == {
        ("rate_table", "retail"), ("rate_table", "wholesale"),
        ("rate_assignment", "default"), ("rate_assignment", "backup")}
    first = stored(store)
    assert first["tables"]["retail"] == [  # type: ignore[index]
        ("1", "0.01", 60, 60, "0", None), ("44", "0.02", 6, 6, "0", "UK"),
        ("4420", "0.015", 1, 1, "0.05", None)]
    assert first["chosen"] == {"": "retail", "backup": "wholesale"}
    again = apply(store, spec_of(RATES), T0 + 60)
    assert not again.changed and stored(store) == first  # timestamps included
    loaded = load_stored(store, "default")
    assert loaded is not None and loaded.rates == spec.rates and loaded.limits == spec.limits
    assert loaded.rates is not None
    assert loaded.rates.plan.rate("backup", "1555", 30.0) == spec.rates.plan.rate(  # type: ignore[union-attr]
        "backup", "1555", 30.0)


def test_changing_one_rate_rewrites_only_its_table(store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of(RATES), T0)
    changed = RATES.replace('price: 0.004', 'price: 0.005').replace(
        "trunks: {backup: wholesale}", "trunks: {backup: wholesale, carrier: wholesale}")
    result = apply(store, spec_of(changed), T0 + 1)
    assert result.updated == (("rate_table", "wholesale"),)
    assert result.created == (("rate_assignment", "carrier"),)
    after = stored(store)
    assert after["updated"] == {"retail": T0, "wholesale": T0 + 1}
    assert after["tables"]["wholesale"] == [("1", "0.005", 60, 60, "0.001", None)]  # type: ignore[index]


def test_an_empty_rates_section_removes_every_table(store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of(RATES), T0)
    result = apply(store, spec_of("rates: {}\n"), T0 + 1)
    assert set(result.deleted) == {("rate_table", "retail"), ("rate_table", "wholesale"),
                                   ("rate_assignment", "default"),
                                   ("rate_assignment", "backup")}
    assert stored(store) == {"tables": {}, "chosen": {}, "updated": {}}
    loaded = load_stored(store, "default")
    assert loaded is not None and loaded.rates is None


def test_a_file_without_rates_leaves_them_and_a_dry_run_writes_nothing(
        store: Store, spec_of: SpecOf) -> None:
    apply(store, spec_of(RATES), T0)
    before = stored(store)
    apply(store, spec_of("trunks:\n  - {name: carrier, host: '127.0.0.1:5080'}\n"
                         "  - {name: backup, host: '127.0.0.1:5090'}\n"
                         "  - {name: third, host: '127.0.0.1:5100'}\n"), T0 + 1)
    assert stored(store) == before
    preview = apply(store, spec_of("rates: {}\n"), T0 + 2, dry_run=True)
    assert preview.dry_run and len(preview.deleted) == 4
    assert stored(store) == before
