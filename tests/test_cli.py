"""The ``pycc`` command line: DESIGN.md's contract of names, outputs and exit codes.

Most commands run in-process through typer's CliRunner (a subprocess costs seconds of start-up);
the entry point itself, ``python -m pycc``, and the ``PYCC_DATA_DIR`` default are checked in
real subprocesses. Exit codes: 0 success, 1 a failed operation, 2 bad usage; an error is one
line on stderr.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pycc.cli import app
from pycc.store import CallRecord, Store, make_url

RUNNER = CliRunner()
# Wide enough that rich never truncates a table cell or a help line.
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}

REQUIRED_CDR_KEYS = {"call_id", "caller", "callee", "start", "answer", "end", "disposition",
                     "hangup_cause"}


def pycc(*args: str, env: dict[str, str] | None = None) -> Result:
    return RUNNER.invoke(app, list(args), env={**WIDE, **(env or {})})


def pycc_process(args: Sequence[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pycc", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **WIDE, **(env or {})}, cwd=cwd,
                          check=False)


def error_line(result: Result | subprocess.CompletedProcess[str]) -> str:
    """The one line an error prints on stderr (fails if there are more)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    result = pycc("init", "--data-dir", str(directory))
    assert result.exit_code == 0, result.output
    return directory


def store_of(data_dir: Path) -> Store:
    return Store(make_url(data_dir, None))


# -- help ------------------------------------------------------------------------------------


def test_python_dash_m_pycc_help() -> None:
    done = pycc_process(["--help"])
    assert done.returncode == 0, done.stderr
    for command in ("init", "serve", "user", "report"):
        assert command in done.stdout
    assert "Usage" in done.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["init"], ["--data-dir", "--db"]),
        (["serve"], ["--data-dir", "--bind", "--sip-port", "--sips-port", "--http-port",
                     "--rtp-ports", "--db"]),
        (["user"], ["add", "list", "remove"]),
        (["user", "add"], ["--password", "--tenant", "--data-dir"]),
        (["user", "list"], ["--data-dir"]),
        (["user", "remove"], ["--data-dir"]),
        (["report"], ["cdr"]),
        (["report", "cdr"], ["--format", "--since", "--data-dir"]),
    ],
)
def test_subcommand_help(args: list[str], expected: list[str]) -> None:
    result = pycc(*args, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    for word in expected:
        assert word in result.stdout, f"{word} missing from {' '.join(args)} --help"


# -- init ------------------------------------------------------------------------------------


def test_init_creates_config_database_and_certificate(tmp_path: Path) -> None:
    directory = tmp_path / "fresh" / "data"
    result = pycc("init", "--data-dir", str(directory))
    assert result.exit_code == 0, result.output
    assert (directory / "pycc.toml").is_file()
    assert (directory / "pycc.db").is_file()
    cert, key = directory / "tls" / "cert.pem", directory / "tls" / "key.pem"
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY-----" in key.read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    config = tomllib.loads((directory / "pycc.toml").read_text())
    assert len(config["secret"]) >= 32
    # The default tenant exists, so extensions can be added at once.
    with store_of(directory) as store:
        assert store.get_tenant("default") is not None


def test_init_twice_keeps_secret_certificate_and_extensions(data_dir: Path) -> None:
    secret = tomllib.loads((data_dir / "pycc.toml").read_text())["secret"]
    cert = (data_dir / "tls" / "cert.pem").read_bytes()
    assert pycc("user", "add", "1001", "--password", "pw", "--data-dir",
                str(data_dir)).exit_code == 0
    again = pycc("init", "--data-dir", str(data_dir))
    assert again.exit_code == 0, again.output
    assert tomllib.loads((data_dir / "pycc.toml").read_text())["secret"] == secret
    assert (data_dir / "tls" / "cert.pem").read_bytes() == cert
    listed = pycc("user", "list", "--data-dir", str(data_dir))
    assert listed.stdout.split() == ["1001"]


def test_two_data_dirs_get_different_secrets(tmp_path: Path) -> None:
    secrets = []
    for name in ("a", "b"):
        assert pycc("init", "--data-dir", str(tmp_path / name)).exit_code == 0
        secrets.append(tomllib.loads((tmp_path / name / "pycc.toml").read_text())["secret"])
    assert secrets[0] != secrets[1]


# -- users -----------------------------------------------------------------------------------


def test_user_add_list_remove_round_trip(data_dir: Path) -> None:
    where = ["--data-dir", str(data_dir)]
    added = pycc("user", "add", "1001", "--password", "secret1", "--name", "Alice", *where)
    assert added.exit_code == 0, added.output
    assert "1001" in added.stdout
    assert pycc("user", "add", "1002", "--password", "secret2", *where).exit_code == 0
    listed = pycc("user", "list", *where)
    assert listed.exit_code == 0
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows == [["1001", "Alice"], ["1002", ""]]
    # Only the digest hashes are stored, never the password.
    with store_of(data_dir) as store:
        ext = store.get_extension("default", "1001")
        assert ext is not None and "secret1" not in (ext.ha1_md5 + ext.ha1_sha256)
    removed = pycc("user", "remove", "1001", *where)
    assert removed.exit_code == 0, removed.output
    assert pycc("user", "list", *where).stdout.split() == ["1002"]


def test_adding_an_existing_extension_fails_naming_it(data_dir: Path) -> None:
    where = ["--data-dir", str(data_dir)]
    assert pycc("user", "add", "1001", "--password", "a", *where).exit_code == 0
    again = pycc("user", "add", "1001", "--password", "b", *where)
    assert again.exit_code == 1
    assert "1001" in error_line(again)
    assert again.stdout == ""


def test_removing_a_missing_extension_fails_naming_it(data_dir: Path) -> None:
    result = pycc("user", "remove", "4242", "--data-dir", str(data_dir))
    assert result.exit_code == 1
    assert "4242" in error_line(result)


@pytest.mark.parametrize("number", ["10 01", "1001;x", "a@b", "<1001>", "1001:5060", ""])
def test_invalid_extension_is_a_usage_error(data_dir: Path, number: str) -> None:
    result = pycc("user", "add", number, "--password", "pw", "--data-dir", str(data_dir))
    assert result.exit_code == 2, result.output
    assert error_line(result)
    assert pycc("user", "list", "--data-dir", str(data_dir)).stdout == ""


def test_unknown_tenant_fails(data_dir: Path) -> None:
    result = pycc("user", "add", "1001", "--password", "pw", "--tenant", "other",
                  "--data-dir", str(data_dir))
    assert result.exit_code == 1
    assert "other" in error_line(result)


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("--rtp-ports", "3000-2000", "reversed"), ("--rtp-ports", "20000", "rtp-ports"),
     ("--rtp-ports", "10-20", "rtp-ports"), ("--rtp-timeout", "-1", "rtp-timeout")],
)
def test_serve_refuses_bad_media_settings(data_dir: Path, option: str, value: str,
                                          named: str) -> None:
    result = pycc("serve", "--data-dir", str(data_dir), option, value)
    assert result.exit_code == 1, result.output
    assert named in error_line(result)


@pytest.mark.parametrize(
    "args",
    [["user", "list"], ["user", "add", "1001", "--password", "pw"], ["user", "remove", "1001"],
     ["report", "cdr"], ["serve"]],
)
def test_commands_on_a_missing_data_dir_say_run_init(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nowhere"
    result = pycc(*args, "--data-dir", str(missing))
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "not found: run 'pycc init" in line
    assert not missing.exists()


# -- reports ---------------------------------------------------------------------------------


def add_record(data_dir: Path, call_id: str = "abc@127.0.0.1", start: float = 1_700_000_000.0,
               ) -> None:
    with store_of(data_dir) as store:
        tenant = store.get_tenant("default")
        assert tenant is not None and tenant.id is not None
        store.add_call_record(CallRecord(
            tenant_id=tenant.id, call_id=call_id, caller="1001", callee="1002",
            direction="internal", start=start, ring=start + 0.5, answer=start + 2.0,
            end=start + 32.0, disposition="answered", hangup_cause="200 BYE",
            hangup_by="caller", sip_status=200, duration=30.0,
        ))


def test_report_cdr_json_is_an_empty_array_at_first(data_dir: Path) -> None:
    result = pycc("report", "cdr", "--format", "json", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_report_cdr_json_has_the_record_fields(data_dir: Path) -> None:
    add_record(data_dir)
    result = pycc("report", "cdr", "--format", "json", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert isinstance(records, list) and len(records) == 1
    record = records[0]
    assert set(record) >= REQUIRED_CDR_KEYS
    assert record["call_id"] == "abc@127.0.0.1"
    assert (record["caller"], record["callee"]) == ("1001", "1002")
    assert record["disposition"] == "answered" and record["hangup_cause"] == "200 BYE"
    # Times are ISO 8601 in UTC, in order.
    assert record["start"] == "2023-11-14T22:13:20+00:00"
    assert record["start"] < record["answer"] < record["end"]


def test_report_cdr_csv_has_a_header_row(data_dir: Path) -> None:
    empty = pycc("report", "cdr", "--format", "csv", "--data-dir", str(data_dir))
    assert empty.exit_code == 0, empty.output
    header = empty.stdout.splitlines()
    assert len(header) == 1 and set(header[0].split(",")) >= REQUIRED_CDR_KEYS
    add_record(data_dir)
    result = pycc("report", "cdr", "--format", "csv", "--data-dir", str(data_dir))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    assert rows[0]["call_id"] == "abc@127.0.0.1" and rows[0]["callee"] == "1002"


def test_report_cdr_table(data_dir: Path) -> None:
    add_record(data_dir, call_id="table-call-1")
    result = pycc("report", "cdr", "--format", "table", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    assert "table-call-1" in result.stdout and "answered" in result.stdout
    default = pycc("report", "cdr", "--data-dir", str(data_dir))
    assert default.exit_code == 0 and "table-call-1" in default.stdout


def test_report_cdr_unknown_format_is_a_usage_error(data_dir: Path) -> None:
    result = pycc("report", "cdr", "--format", "xml", "--data-dir", str(data_dir))
    assert result.exit_code == 2
    assert "xml" in error_line(result)


@pytest.mark.parametrize("since", ["yesterday", "2024-13-45", "12:00pm"])
def test_report_cdr_bad_since_is_a_usage_error(data_dir: Path, since: str) -> None:
    result = pycc("report", "cdr", "--since", since, "--data-dir", str(data_dir))
    assert result.exit_code == 2
    assert since in error_line(result)


def test_report_cdr_since_filters(data_dir: Path) -> None:
    add_record(data_dir, call_id="old", start=1_600_000_000.0)
    add_record(data_dir, call_id="new", start=1_700_000_000.0)
    where = ["--format", "json", "--data-dir", str(data_dir)]

    def ids(*since: str) -> list[str]:
        result = pycc("report", "cdr", *since, *where)
        assert result.exit_code == 0, result.output
        return [r["call_id"] for r in json.loads(result.stdout)]

    assert ids() == ["old", "new"]
    assert ids("--since", "1650000000") == ["new"]
    assert ids("--since", "2022-01-01") == ["new"]
    assert ids("--since", "2020-01-01T00:00:00+00:00") == ["old", "new"]


# -- PYCC_DATA_DIR ---------------------------------------------------------------------------


def test_pycc_data_dir_is_the_default(tmp_path: Path) -> None:
    directory = tmp_path / "from-env"
    env = {"PYCC_DATA_DIR": str(directory)}
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    init = pycc_process(["init"], env=env, cwd=elsewhere)
    assert init.returncode == 0, init.stderr
    assert (directory / "pycc.toml").is_file() and (directory / "pycc.db").is_file()
    assert not (elsewhere / "data").exists()
    added = pycc_process(["user", "add", "1001", "--password", "pw"], env=env, cwd=elsewhere)
    assert added.returncode == 0, added.stderr
    listed = pycc_process(["user", "list"], env=env, cwd=elsewhere)
    assert listed.returncode == 0 and listed.stdout.split() == ["1001"]
    # --data-dir still wins over the environment.
    other = tmp_path / "explicit"
    assert pycc("init", "--data-dir", str(other), env=env).exit_code == 0
    assert pycc("user", "list", "--data-dir", str(other), env=env).stdout == ""


def test_missing_data_dir_from_env_fails_in_a_real_process(tmp_path: Path) -> None:
    done = pycc_process(["user", "list"], env={"PYCC_DATA_DIR": str(tmp_path / "none")})
    assert done.returncode == 1
    assert "not found: run 'pycc init" in error_line(done)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("opus_complexity", "11", "0 to 10"), ("opus_complexity", "-1", "0 to 10"),
    ("opus_complexity", '"fast"', "0 to 10"), ("opus_complexity", "2.5", "0 to 10"),
    ("media_workers", "65", "-1 to 64"), ("media_workers", "-2", "-1 to 64"),
    ("media_workers", '"two"', "-1 to 64"),
    ("register_workers", "2", "-1 to 1"), ("register_workers", '"one"', "-1 to 1"),
    ("media_priority", '"turbo"', "normal, high or realtime"),
    ("media_priority", "10", "normal, high or realtime"),
])
def test_serve_refuses_a_setting_outside_its_range(
        data_dir: Path, setting: str, value: str, words: str) -> None:
    config = data_dir / "pycc.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(f"{setting} = {value}\n" + text, encoding="utf-8")
    result = pycc("serve", "--data-dir", str(data_dir), "--sip-port", "0", "--sips-port", "-1",
                  "--http-port", "-1")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert setting in line and words in line, line
