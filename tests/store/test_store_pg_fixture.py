"""The PostgreSQL test helper: it fails when the server is missing, unless told to skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from peers.postgres import ALLOW_SKIP_ENV, find_bindir, postgres_unavailable


def test_missing_postgres_fails_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL unavailable"):
        postgres_unavailable("no initdb")


def test_missing_postgres_skips_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_SKIP_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match="no initdb"):
        postgres_unavailable("no initdb")


def test_find_bindir_reports_nothing_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_bindir([str(tmp_path / "*" / "bin")]) is None


def test_find_bindir_picks_the_newest_version(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        (bindir / "initdb").touch()
        (bindir / "pg_ctl").touch()
    assert find_bindir([str(tmp_path / "*" / "bin")]) == tmp_path / "15" / "bin"


@pytest.mark.peer
def test_pg_url_serves_a_database(pg_url: str) -> None:
    import psycopg

    assert pg_url.startswith("postgresql://pycc@127.0.0.1:")
    with psycopg.connect(pg_url) as connection:
        row = connection.execute("SELECT current_database(), current_user").fetchone()
    assert row == ("pycc", "pycc")
