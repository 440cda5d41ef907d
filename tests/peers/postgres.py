"""A throwaway PostgreSQL server for tests: ``start_postgres(tmp_dir) -> (url, stop)``.

The server runs from the distribution's binaries (``/usr/lib/postgresql/*/bin``) on 127.0.0.1
with a free port, trusts local connections, and keeps its socket in its own data directory.
PostgreSQL refuses to run as root, so as root the cluster is run by the ``postgres`` OS user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from .net import free_port

#: Where Debian and Ubuntu install the server binaries, one directory per major version.
BIN_PATTERNS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin")

#: Set to "1" to let the PostgreSQL tests skip when the server is missing, instead of failing.
ALLOW_SKIP_ENV = "PYCC_ALLOW_SKIP_PG"

USER = "pycc"
DATABASE = "pycc"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_bindir(patterns: Sequence[str] = BIN_PATTERNS) -> Path | None:
    """Return the directory with ``initdb`` and ``pg_ctl`` of the newest version, or None."""
    found = [
        Path(candidate)
        for pattern in patterns
        for candidate in glob.glob(pattern)
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists()
    ]
    if not found:
        initdb = shutil.which("initdb")
        return Path(initdb).parent if initdb else None

    def version(path: Path) -> tuple[int, ...]:
        digits = path.parent.name.split(".")
        return tuple(int(part) for part in digits) if all(p.isdigit() for p in digits) else ()

    return max(found, key=version)


def postgres_unavailable(reason: str) -> NoReturn:
    """Fail the test, or skip it when the environment allows PostgreSQL to be missing."""
    if os.environ.get(ALLOW_SKIP_ENV) == "1":
        pytest.skip(f"PostgreSQL unavailable ({ALLOW_SKIP_ENV}=1): {reason}")
    pytest.fail(f"PostgreSQL unavailable: {reason} (set {ALLOW_SKIP_ENV}=1 to skip instead)")


def start_postgres(tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    """Start a server with a database ``pycc`` owned by superuser ``pycc``.

    Returns its ``postgresql://`` URL and a function that stops it (immediately: the data is
    thrown away). Raises :class:`PostgresUnavailable` if the binaries are missing.
    """
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"no initdb/pg_ctl under {', '.join(BIN_PATTERNS)} or on PATH")
    as_postgres = os.geteuid() == 0
    owned_dir = as_postgres and not _reachable_by_others(tmp_dir)
    # As root, the postgres user must reach the data directory: pytest's tmp dirs are private
    # to root, so use a fresh directory directly in the system temp dir instead.
    base = Path(tempfile.mkdtemp(prefix="pycc-pg-")) if owned_dir else tmp_dir
    datadir = base / "data"
    datadir.mkdir()
    if as_postgres:
        account = pwd.getpwnam("postgres")
        for path in (base, datadir) if owned_dir else (datadir,):
            os.chown(path, account.pw_uid, account.pw_gid)

    def run(*args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if as_postgres else list(args)
        result = subprocess.run(
            command, cwd=datadir, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            log = datadir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args)} exited {result.returncode}: {result.stderr}{result.stdout}{tail}"
            )

    port = free_port("tcp")  # this xdist worker's own port pool (peers.net)
    run(str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", USER, "--no-sync")
    options = f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(bindir / "pg_ctl")
    log = str(datadir / "server.log")
    run(pg_ctl, "-D", str(datadir), "-o", options, "-l", log, "-w", "-t", "30", "start")

    def stop() -> None:
        try:
            run(pg_ctl, "-D", str(datadir), "-m", "immediate", "-w", "stop")
        finally:
            if owned_dir:
                shutil.rmtree(base, ignore_errors=True)

    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
    except BaseException:
        stop()
        raise
    return f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}", stop


def _reachable_by_others(path: Path) -> bool:
    return all(
        stat.S_IMODE(parent.stat().st_mode) & stat.S_IXOTH for parent in (path, *path.parents)
    )
