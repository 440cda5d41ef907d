"""``pycc admin``: users, API tokens and the audit log from the command line (in-process with
typer's CliRunner, on SQLite and PostgreSQL, and once through the real ``python -m pycc``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import pycc
from pycc.aaa.accounts import resolve_token
from pycc.aaa.audit import local_actor
from pycc.aaa.roles import SYSTEM_TENANT, Principal, Role
from pycc.cli import app
from pycc.config import DEFAULT_REALM, DEFAULT_TENANT, write_initial_config
from pycc.store import Store, make_url

RUNNER = CliRunner()
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}
TOKEN = re.compile(r"pycc_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
PASSWORD = "Correct-Horse-9"


def error_line(result: Result | subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    return lines[0]


class Admin:
    """``pycc admin ...`` against one data directory and database."""

    def __init__(self, data_dir: Path, db: str) -> None:
        self.db = db
        self.where = ["--data-dir", str(data_dir), "--db", db]

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return RUNNER.invoke(app, ["admin", *args, *self.where], input=stdin, env=WIDE)


def data_dir_for(tmp_path: Path, db: str) -> Path:
    """A data directory as ``pycc init`` leaves it, without the TLS certificate (slow to
    make, and no admin command reads it)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_initial_config(data_dir)
    with Store(db) as store:
        store.create_all()
        store.ensure_tenant(DEFAULT_TENANT, DEFAULT_REALM)
    return data_dir


@pytest.fixture
def admin(tmp_path: Path, store_url: str) -> Admin:
    return Admin(data_dir_for(tmp_path, store_url), store_url)


@pytest.fixture
def sqlite_admin(tmp_path: Path) -> Admin:
    """For what does not depend on the database: SQLite only."""
    db = make_url(tmp_path, None)
    return Admin(data_dir_for(tmp_path, db), db)


def test_users_tokens_and_their_audit_trail(admin: Admin, store_url: str) -> None:
    added = admin("user", "add", "root", "--role", "admin", "--tenant", "*",
                  "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert added.stdout == "added admin root to tenant *\n"
    added = admin("user", "add", "ann", "--role", "agent", "--agent", "alice",
                  "--password", PASSWORD)
    assert added.exit_code == 0, added.output

    listed = admin("user", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [
        {"tenant": SYSTEM_TENANT, "name": "root", "role": "admin", "agent": None,
         "enabled": True, "created": pytest.approx(json.loads(listed.stdout)[0]["created"])},
        {"tenant": "default", "name": "ann", "role": "agent", "agent": "alice",
         "enabled": True, "created": pytest.approx(json.loads(listed.stdout)[1]["created"])},
    ]

    created = admin("token", "create", "root", "--tenant", "*", "--label", "crm",
                    "--expires", "30")
    assert created.exit_code == 0, created.output
    match = TOKEN.fullmatch(created.stdout.strip())
    assert match is not None and created.stdout.count("\n") == 1, created.stdout
    assert "shown only now" in created.stderr and match[1] in created.stderr
    with Store(store_url) as store:
        assert resolve_token(store, match[0], 0.0) == Principal("root", SYSTEM_TENANT,
                                                                 Role.ADMIN)
    tokens = admin("token", "list", "--format", "json")
    assert [(t["prefix"], t["user"], t["label"], t["revoked"])
            for t in json.loads(tokens.stdout)] == [(match[1], "root", "crm", False)]
    assert match[0] not in tokens.stdout

    revoked = admin("token", "revoke", match[1])
    assert revoked.exit_code == 0 and match[1] in revoked.stdout
    with Store(store_url) as store:
        assert resolve_token(store, match[0], 0.0) is None
    removed = admin("user", "remove", "ann")
    assert removed.exit_code == 0 and removed.stdout == "removed ann from tenant default\n"

    trail = admin("audit", "--format", "json")
    assert trail.exit_code == 0, trail.output
    entries = json.loads(trail.stdout)
    assert [(e["tenant"], e["action"], e["target_kind"], e["target_id"]) for e in entries] == [
        ("*", "create", "user", "root"), ("default", "create", "user", "ann"),
        ("*", "issue", "token", match[1]), ("*", "revoke", "token", match[1]),
        ("default", "delete", "user", "ann")]
    assert {(e["actor"], e["source"]) for e in entries} == {(local_actor(), "cli")}
    assert PASSWORD not in trail.stdout and match[0] not in trail.stdout
    table = admin("audit", "--tenant", "default")
    assert table.exit_code == 0
    assert "user ann" in table.stdout and "user root" not in table.stdout


def test_disable_enable_and_passwd(sqlite_admin: Admin) -> None:
    admin = sqlite_admin
    assert admin("user", "add", "boss", "--role", "admin", "--password", PASSWORD).exit_code == 0
    token = admin("token", "create", "boss").stdout.strip()
    assert admin("user", "disable", "boss").exit_code == 0
    with Store(admin.db) as store:
        assert resolve_token(store, token, 0.0) is None
    assert admin("user", "enable", "boss").exit_code == 0
    changed = admin("user", "passwd", "boss", "--password-stdin", stdin="Another-Secret-7\n")
    assert changed.exit_code == 0, changed.output
    with Store(admin.db) as store:
        assert resolve_token(store, token, 0.0) == Principal("boss", "default", Role.ADMIN)
    actions = [e["action"] for e in json.loads(admin("audit", "--format", "json").stdout)]
    assert actions == ["create", "issue", "disable", "enable", "update"]


def test_since_and_paging(sqlite_admin: Admin) -> None:
    admin = sqlite_admin
    for name in ("a1", "a2"):
        assert admin("user", "add", name, "--role", "supervisor",
                     "--password", PASSWORD).exit_code == 0
    first = admin("audit", "--format", "json", "--limit", "1")
    (entry,) = json.loads(first.stdout)
    assert error_line(first) == f"more entries: --after {entry['id']}"
    rest = json.loads(admin("audit", "--format", "json", "--after", str(entry["id"])).stdout)
    assert [e["target_id"] for e in rest] == ["a2"]
    assert json.loads(admin("audit", "--format", "json", "--since", "2999-01-01").stdout) == []
    assert len(json.loads(admin("audit", "--format", "json", "--since", "0").stdout)) == 2


@pytest.mark.parametrize(("args", "stdin", "code", "says"), [
    (("user", "add", "x", "--role", "boss", "--password", PASSWORD), None, 2,
     "pycc: error: role: must be one of admin, supervisor, agent, not 'boss'"),
    (("user", "add", "x", "--role", "agent", "--password", PASSWORD), None, 2,
     "pycc: error: agent: a user with the role agent needs an agent id"),
    (("user", "add", "x", "--role", "admin", "--password", "short"), None, 2,
     "pycc: error: password: must have at least 8 characters"),
    (("user", "add", "x", "--role", "admin", "--password", PASSWORD, "--password-stdin"),
     PASSWORD, 2, "pycc: error: give either --password or --password-stdin, not both"),
    (("user", "add", "x", "--role", "admin"), None, 2,
     "pycc: error: no password: give --password-stdin or --password"),
    (("user", "add", "x", "--role", "admin", "--tenant", "initech", "--password", PASSWORD),
     None, 1, "pycc: error: tenant 'initech' does not exist"),
    (("user", "remove", "ghost"), None, 1,
     "pycc: error: user 'ghost' does not exist in tenant 'default'"),
    (("user", "list", "--format", "xml"), None, 2,
     "pycc: error: --format: 'xml' is not table or json"),
    (("token", "create", "ghost"), None, 1,
     "pycc: error: user 'ghost' does not exist in tenant 'default'"),
    (("token", "create", "ghost", "--expires", "0"), None, 2,
     "pycc: error: --expires: must be more than 0 and at most 3650 days, not 0"),
    (("token", "revoke", "nothex"), None, 2,
     "pycc: error: prefix: must be the 12 hex digits after pycc_ in the token"),
    (("token", "revoke", "0123456789ab"), None, 1, "pycc: error: no API token 0123456789ab"),
    (("audit", "--since", "yesterday"), None, 2,
     "pycc: error: --since: 'yesterday' is neither ISO 8601 nor epoch seconds"),
    (("audit", "--limit", "0"), None, 2,
     "pycc: error: --limit: must be between 1 and 1000, not 0"),
])
def test_errors_are_one_line_with_the_exit_status(sqlite_admin: Admin, args: tuple[str, ...],
                                                  stdin: str | None, code: int,
                                                  says: str) -> None:
    admin = sqlite_admin
    result = admin(*args, stdin=stdin)
    assert result.exit_code == code, result.output
    assert error_line(result) == says
    assert PASSWORD not in result.stderr
    assert json.loads(admin("user", "list", "--format", "json").stdout) == []


def test_a_taken_name_fails_and_changes_nothing(sqlite_admin: Admin) -> None:
    admin = sqlite_admin
    assert admin("user", "add", "boss", "--role", "admin", "--password", PASSWORD).exit_code == 0
    again = admin("user", "add", "boss", "--role", "supervisor", "--password", PASSWORD)
    assert again.exit_code == 1
    assert error_line(again) == "pycc: error: user 'boss' already exists in tenant 'default'"
    assert len(json.loads(admin("audit", "--format", "json").stdout)) == 1


def test_a_missing_data_directory_is_one_line(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["admin", "user", "list", "--data-dir", str(tmp_path / "no")])
    assert result.exit_code == 1
    assert error_line(result).startswith("pycc: error: ")


def test_the_real_command(tmp_path: Path) -> None:
    db = make_url(tmp_path, None)
    admin = Admin(data_dir_for(tmp_path, db), db)
    assert admin("user", "add", "root", "--role", "admin", "--tenant", "*",
                 "--password", PASSWORD).exit_code == 0
    src = str(Path(pycc.__file__).resolve().parents[1])
    env = {**os.environ, **WIDE, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    failed = subprocess.run(
        [sys.executable, "-m", "pycc", "admin", "user", "add", "root", "--role", "admin",
         "--tenant", "*", "--password-stdin", *admin.where], input=PASSWORD + "\n",
        capture_output=True, text=True, env=env, timeout=60, check=False)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert error_line(failed) == "pycc: error: user 'root' already exists in tenant '*'"
