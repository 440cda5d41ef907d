"""Fixtures for the file server's tests: a `Store` on SQLite and on a real PostgreSQL.

Tests that take ``store`` run on a SQLite file in their tmp dir and (marked ``peer``) on the
emptied database of a throwaway PostgreSQL server started once per session; the tenants
``default`` and ``acme`` exist in it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
# peers.* lives in tests/, which pytest does not put on sys.path by itself (no __init__.py).
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

import psycopg  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from peers.postgres import PostgresUnavailable, postgres_unavailable, start_postgres  # noqa: E402
from pycc.store import Store, make_url  # noqa: E402


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server for this session."""
    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="session")
def pg_tables(pg_url: str) -> str:
    """``pg_url`` with pycc's tables created once, in a fresh schema."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    with Store(pg_url) as store:
        store.create_all()
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file, or the PostgreSQL server's, emptied."""
    if request.param == "sqlite":
        return make_url(tmp_path, None)
    server: str = request.getfixturevalue("pg_tables")
    # Deleting the few rows a test leaves is much faster than a new schema; children first.
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute("; ".join(f'DELETE FROM "{name}"' for name in tables))
    return server


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A `Store` with its tables and the tenants ``default`` and ``acme``."""
    opened = Store(store_url)
    if not store_url.startswith("postgresql"):
        opened.create_all()  # pg_tables made PostgreSQL's once
    opened.ensure_tenant("default", "pycc")
    opened.ensure_tenant("acme", "acme.example")
    try:
        yield opened
    finally:
        opened.close()
