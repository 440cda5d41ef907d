"""The database the API tests run on: a SQLite file in the test's data dir, and (marked
``peer``) a throwaway PostgreSQL server started once per session, its tables emptied before
each test."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlmodel import SQLModel

from peers.postgres import PostgresUnavailable, postgres_unavailable, start_postgres
from pycc.store import Store


@pytest.fixture(scope="session")
def api_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        with Store(url) as store:
            store.create_all()
        yield url
    finally:
        stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peer)])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite in the data dir, else the emptied PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("api_pg")
    tables = [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("; ".join(f'DELETE FROM "{name}"' for name in tables))
    return url
