"""``pycc`` on PostgreSQL: init, users, serve, a SIPp call and its record, all with ``--db URL``.

A throwaway PostgreSQL server is started once for this module (tests/peers/postgres.py); each
test gets an empty schema. Registrations live in the database, so they survive a restart of
``pycc serve``: after the restart a call reaches the callee without it registering again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from peers.postgres import PostgresUnavailable, postgres_unavailable, start_postgres
from peers.pycc_server import PyccServer, run_cli, start_pycc
from peers.sipp import SipAccount, run_sipp, scenario, start_sipp_uas, write_credentials

pytestmark = pytest.mark.peer

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server for this module (database ``pycc``, superuser ``pycc``)."""
    try:
        url, stop = start_postgres(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """The server's database, emptied."""
    with psycopg.connect(pg_server, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return pg_server


def tables(url: str) -> dict[str, int]:
    """Row counts of pycc's tables, read straight from PostgreSQL."""
    with psycopg.connect(url) as connection:
        names = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        counts: dict[str, int] = {}
        for name in names:
            row = connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            assert row is not None
            counts[name] = int(row[0])
        return counts


def caller_inf(tmp_path: Path) -> Path:
    return write_credentials(tmp_path / "1001.csv", [("1001", "secret1001")])


def test_cli_against_postgres(tmp_path: Path, pg_url: str) -> None:
    data = tmp_path / "data"
    db = ["--data-dir", str(data), "--db", pg_url]
    init = run_cli(["init", *db])
    assert init.returncode == 0, init.stderr
    # No SQLite file: the database is PostgreSQL.
    assert not (data / "pycc.db").exists()
    assert (data / "pycc.toml").is_file()
    assert run_cli(["user", "add", "1001", "--password", "pw", *db]).returncode == 0
    duplicate = run_cli(["user", "add", "1001", "--password", "pw", *db])
    assert duplicate.returncode == 1 and "1001" in duplicate.stderr
    listed = run_cli(["user", "list", *db])
    assert listed.stdout.split() == ["1001"]
    counts = tables(pg_url)
    assert counts.get("extensions") == 1 and counts.get("tenants") == 1, counts
    empty = run_cli(["report", "cdr", "--format", "json", *db])
    assert empty.returncode == 0 and json.loads(empty.stdout) == []


def test_call_through_pycc_on_postgres(tmp_path: Path, pg_url: str) -> None:
    server = start_pycc(tmp_path, USERS, db_url=pg_url, serve_args=["--ring-timeout", "5"])
    try:
        assert not (server.data_dir / "pycc.db").exists()
        callee_port = call_once(server, tmp_path / "call1", register_first=True)
        done = run_cli(["report", "cdr", "--format", "json", "--data-dir",
                        str(server.data_dir), "--db", pg_url])
        assert done.returncode == 0, done.stderr
        records = json.loads(done.stdout)
        assert len(records) == 1, records
        record = records[0]
        assert (record["caller"], record["callee"]) == ("1001", "1002")
        assert record["disposition"] == "answered" and record["hangup_by"] == "caller"
        assert record["hangup_cause"] == "200 BYE"
        assert record["start"] <= record["answer"] <= record["end"]
        assert tables(pg_url).get("call_records") == 1
        assert server.stop() == 0

        # The binding of 1002 is in PostgreSQL: a switch started again, even from another data
        # directory (as another node would be), knows where 1002 is, and the call reaches the
        # same SIPp port without a new REGISTER.
        assert tables(pg_url).get("bindings", 0) >= 1
        restarted = start_pycc(tmp_path / "again", db_url=pg_url,
                               serve_args=["--ring-timeout", "5"])
        try:
            call_once(restarted, tmp_path / "call2", register_first=False,
                      callee_port=callee_port)
            records = restarted.wait_cdrs(2)
            assert [r["disposition"] for r in records] == ["answered", "answered"], records
        finally:
            assert restarted.stop() == 0
    finally:
        server.stop()


def call_once(server: PyccServer, workdir: Path, *, register_first: bool,
              callee_port: int | None = None) -> int:
    """1001 calls 1002 (a SIPp answering machine, registered first or already known to the
    switch at ``callee_port``); returns the callee's port."""
    account = SipAccount("1002", "secret1002", server.address) if register_first else None
    with start_sipp_uas(scenario("uas_answer"), account=account, local_port=callee_port,
                        workdir=workdir / "uas") as callee:
        result = run_sipp(scenario("uac_call_auth"), server.address, service="1002",
                          inf_file=caller_inf(workdir), calls=1, workdir=workdir / "uac")
        assert result.ok and result.successful == 1, f"{result.describe()}\n{server.log()}"
        uas = callee.wait(15)
        assert uas.ok, uas.describe()
    return callee.local_port
