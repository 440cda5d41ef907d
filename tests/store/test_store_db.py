"""Database URLs, SQLite connection settings and table creation."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from pycc.store import Store, StoreError, database_url, make_url


def test_make_url_defaults_to_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    assert make_url(tmp_path, None) == f"sqlite:///{tmp_path}/pycc.db"


def test_make_url_prefers_db_url(tmp_path: Path) -> None:
    assert make_url(tmp_path, "sqlite:////srv/other.db") == "sqlite:////srv/other.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://pycc@127.0.0.1:5432/pycc", "postgresql+psycopg://pycc@127.0.0.1:5432/pycc"),
        ("postgres://u:pw@db/pycc", "postgresql+psycopg://u:pw@db/pycc"),
        ("postgresql+psycopg://u@db/pycc", "postgresql+psycopg://u@db/pycc"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
    ],
)
def test_postgresql_urls_use_psycopg3(given: str, expected: str) -> None:
    assert make_url(None, given) == expected
    assert database_url(given) == expected


def test_make_url_needs_a_url_or_a_data_dir() -> None:
    with pytest.raises(ValueError, match="data directory"):
        make_url(None, None)


def test_store_accepts_plain_postgresql_url() -> None:
    # No connection is made until first use.
    store = Store("postgresql://pycc@127.0.0.1:1/pycc")
    assert store.engine.url.drivername == "postgresql+psycopg"
    store.close()


def test_sqlite_file_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    with Store(make_url(tmp_path, None)) as store, store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_in_memory_sqlite_keeps_one_database(tmp_path: Path) -> None:
    with Store("sqlite://") as store:
        store.create_all()
        store.ensure_tenant("default", "pycc")
        assert [t.name for t in store.list_tenants()] == ["default"]


def test_create_all_makes_the_tables_and_is_repeatable(store: Store) -> None:
    store.create_all()
    names = set(inspect(store.engine).get_table_names())
    assert {"tenants", "extensions", "bindings", "call_records"} <= names


def test_create_all_reports_an_unusable_database(tmp_path: Path) -> None:
    with (
        Store(make_url(tmp_path / "missing" / "dir", None)) as store,
        pytest.raises(StoreError, match="cannot create tables"),
    ):
        store.create_all()


def test_sqlite_writer_waits_for_another_process_lock(tmp_path: Path) -> None:
    url = make_url(tmp_path, None)
    with Store(url) as store:
        store.create_all()
        other = sqlite3.connect(tmp_path / "pycc.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO tenants (name, realm, created) VALUES ('held', 'r', 0)")
        releaser = threading.Timer(0.5, other.commit)
        releaser.start()
        try:
            # WAL: reading is not blocked by the other writer.
            started = time.monotonic()
            assert store.list_tenants() == []
            assert time.monotonic() - started < 0.4
            # Writing waits for the lock (busy timeout) instead of failing.
            store.ensure_tenant("default", "pycc")
            assert time.monotonic() - started >= 0.4
        finally:
            releaser.join()
            other.close()
        assert [t.name for t in store.list_tenants()] == ["default", "held"]
