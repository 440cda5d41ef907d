"""Fixtures for the store tests: a fresh ``Store`` on SQLite and on a real PostgreSQL.

Every test that takes ``store`` or ``store_url`` runs twice: on a SQLite file in its tmp dir,
and (marked ``peer``) on the emptied database of a throwaway PostgreSQL server that ``pg_url``
starts once per session.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
# peers.* lives in tests/, which pytest does not put on sys.path by itself (no __init__.py).
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))
# Run from a checkout without installing pycc.
if importlib.util.find_spec("pycc") is None:
    sys.path.insert(0, str(_TESTS.parent / "src"))

import psycopg  # noqa: E402

from peers.postgres import PostgresUnavailable, postgres_unavailable, start_postgres  # noqa: E402
from pycc.store import Store, make_url  # noqa: E402


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server for this session (database ``pycc``, superuser ``pycc``)."""
    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file, or the PostgreSQL server's, emptied."""
    if request.param == "sqlite":
        return make_url(tmp_path, None)
    server: str = request.getfixturevalue("pg_url")
    # A fresh schema is much faster than a fresh database (CREATE DATABASE copies a template).
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return server


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A :class:`Store` with its tables created."""
    opened = Store(store_url)
    opened.create_all()
    try:
        yield opened
    finally:
        opened.close()
