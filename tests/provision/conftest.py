"""Fixtures for the ``pycc apply`` tests: the example file, and a fresh `Store`.

Tests that take ``store`` run on a SQLite file in their tmp dir and (marked ``peer``) on the
emptied database of a throwaway PostgreSQL server started once per session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from peers.postgres import PostgresUnavailable, postgres_unavailable, start_postgres
from pycc.provision.schema import CallCenterSpec, validate
from pycc.provision.source import load
from pycc.store import Store, make_url

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "callcenter.yaml"


@pytest.fixture
def example_text() -> str:
    """The example file, which has every section."""
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture
def spec_of() -> Callable[[str], CallCenterSpec]:
    """Validate YAML text that must be valid; a failure shows every error."""

    def build(text: str) -> CallCenterSpec:
        source = load(text, "test.yaml")
        spec, errors = validate(source.data, source=source)
        assert spec is not None, "\n".join(map(str, errors))
        assert errors == []
        return spec

    return build


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
    if request.param == "sqlite":
        return make_url(tmp_path, None)
    server: str = request.getfixturevalue("pg_url")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return server


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)
    opened.create_all()
    try:
        yield opened
    finally:
        opened.close()
