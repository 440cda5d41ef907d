"""Rebuilding and checking the reports' summary tables (`pycc.store.report_models`).

The database keeps the summaries itself once they are activated, which the first report does
(filling them from every record in that one request). An operator upgrading a large database
runs ``python -m pycc.aaa.reports.rebuild [--data-dir DIR | --db URL]`` at a quiet time
instead, and ``--check`` to compare the summaries with the rows without changing anything
(they are rebuilt in a transaction that is then rolled back): exit status 1 names the tables
that differ.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from pycc.aaa.reports.options import ReportError
from pycc.aaa.reports.sql import table_of, tenant_id
from pycc.store import report_models
from pycc.store.db import WRITE_OPTION, make_url
from pycc.store.errors import StoreError
from pycc.store.repo import Store

__all__ = ["check", "main", "rebuild"]

#: Places a summed float is compared to: sums added in another order differ in the last bits.
_PLACES = 6
#: The columns a stale row may have wrong.
_STALE = frozenset({"stale", "first_call", "last_call"})

Row = dict[str, Any]


def _rows(connection: Connection, tenant: int | None) -> dict[str, dict[tuple[Any, ...], Row]]:
    """Every summary row (of ``tenant``) by its key, comparable: floats rounded, rows of agent
    times left at nothing dropped (the triggers keep them, a rebuild does not make them)."""
    found: dict[str, dict[tuple[Any, ...], Row]] = {}
    where = "" if tenant is None else " WHERE tenant_id = :tenant"
    for model in report_models.SUMMARY_TABLES:
        table = table_of(model)
        keys = [column.name for column in table.primary_key.columns]
        rows = connection.execute(text(f"SELECT * FROM {table.name}{where}"),
                                  {} if tenant is None else {"tenant": tenant}).mappings()
        kept: dict[tuple[Any, ...], Row] = {}
        for row in rows:
            values = {name: round(value, _PLACES) if isinstance(value, float) else value
                      for name, value in row.items()}
            if model is report_models.AgentTime and not any(
                    values[name] for name in ("seconds", "net", "starts")):
                continue
            kept[tuple(values[name] for name in keys)] = values
        found[table.name] = kept
    return found


def _differs(kept: dict[tuple[Any, ...], Row], made: dict[tuple[Any, ...], Row]) -> bool:
    """Whether a table's kept rows differ from the rebuilt ones; a row marked stale is
    expected to, in its first and last call (and the mark)."""
    if kept.keys() != made.keys():
        return True
    for key, row in kept.items():
        other = made[key]
        if row.get("stale"):
            row = {name: value for name, value in row.items() if name not in _STALE}
            other = {name: value for name, value in other.items() if name not in _STALE}
        if row != other:
            return True
    return False


def _tenant(connection: Connection, name: str | None) -> int | None:
    return None if name is None else tenant_id(connection, name)


def rebuild(store: Store, tenant: str | None = None) -> None:
    """Activate the summaries (which fills them all) or, when they are active, refill those
    of ``tenant`` (None: every tenant) from the rows."""
    def work(connection: Connection) -> None:
        if not report_models.activate(connection):
            report_models.rebuild(connection, _tenant(connection, tenant))

    store.write(lambda session: work(session.connection()))


def check(store: Store, tenant: str | None = None) -> list[str]:
    """The summary tables whose rows (of ``tenant``) differ from the ones the rows give;
    nothing is changed. Summaries not yet activated have nothing to differ."""
    writer = store.engine.execution_options(**{WRITE_OPTION: True})
    try:
        with writer.connect() as connection, connection.begin() as transaction:
            if not report_models.active(connection):
                return []
            owner = _tenant(connection, tenant)
            kept = _rows(connection, owner)
            report_models.rebuild(connection, owner)
            made = _rows(connection, owner)
            transaction.rollback()
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc
    return [name for name in kept if _differs(kept[name], made[name])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pycc.aaa.reports.rebuild",
        description="Rebuild (or check) the report summaries from the call records and "
                    "agent events.")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("PYCC_DATA_DIR", ".")),
                        help="pycc's data directory (default $PYCC_DATA_DIR or .)")
    parser.add_argument("--db", help="database URL (default the data directory's SQLite)")
    parser.add_argument("--tenant", help="only this tenant (default every one)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the rows, change nothing; exit 1 if they differ")
    args = parser.parse_args(argv)
    try:
        with Store(make_url(args.data_dir, args.db)) as store:
            if args.check:
                differing = check(store, args.tenant)
                for name in differing:
                    print(f"{name}: differs from the records", file=sys.stderr)
                return 1 if differing else 0
            rebuild(store, args.tenant)
    except (StoreError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
