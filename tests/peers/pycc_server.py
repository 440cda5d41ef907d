"""``pycc serve`` as a real process on 127.0.0.1, the way an operator runs it.

:func:`start_pycc` makes a data directory with ``pycc init``, adds extensions with
``pycc user add`` and starts ``pycc serve`` on free ports; :class:`PyccServer` reads call
records back through ``pycc report cdr --format json`` and stops the server with SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pycc.store.db import make_url
from pycc.store.repo import Store

from .net import LOOPBACK, free_port, port_was_taken
from .process import tail, wait_until

PYCC = [sys.executable, "-m", "pycc"]
#: What :data:`PYCC` is unless a harness swapped it (for a profiler, say).
_THIS_PYTHON = (sys.executable, "-m", "pycc")


#: Commands :func:`run_cli` runs in a process of their own; the others run in the test's own
#: process, through the CLI's typer app. Starting an interpreter that imports pycc costs
#: about 2 s of CPU, many times what ``pycc init`` or ``pycc report cdr`` do, and nearly every
#: test that starts pycc runs a few. (The CLI as a process is tested in tests/test_cli.py.)
OWN_PROCESS = frozenset({"serve", "demo"})


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run one ``pycc`` command and return its completed process (never raises on exit code)."""
    if (args and args[0] not in OWN_PROCESS and tuple(PYCC) == _THIS_PYTHON
            and (env is None or env == os.environ)):
        return run_cli_here(args)
    return subprocess.run([*PYCC, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def run_cli_here(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``pycc ARGS`` in this process, as a completed process (an exception is exit code 1
    with its traceback on stderr)."""
    import traceback

    from typer.testing import CliRunner

    from pycc.cli import app

    result = CliRunner().invoke(app, list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess([*PYCC, *args], result.exit_code, result.stdout,
                                       stderr)


@dataclass
class PyccServer:
    data_dir: Path
    sip_port: int
    sips_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra_cli: list[str] = field(default_factory=list)
    #: The admin API's port (a free one; serve_args may name another).
    http_port: int = 0

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.sip_port}"

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return run_cli([*args, "--data-dir", str(self.data_dir), *self.extra_cli],
                       timeout=timeout)

    def cdrs(self) -> list[dict[str, Any]]:
        done = self.cli("report", "cdr", "--format", "json")
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        records: list[dict[str, Any]] = json.loads(done.stdout)
        return records

    def wait_cdrs(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            nonlocal found
            found = self.cdrs()
            return len(found) >= count

        wait_until(enough, timeout, interval=0.2)
        return found

    def log(self) -> str:
        return tail(self.log_path)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> PyccServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


#: What ``pycc serve`` prints once every listener (SIP, TLS, the admin API) is up.
SERVING = b"pycc serving "


def log_size(log_path: Path) -> int:
    """Where the next ``pycc serve`` appending to ``log_path`` starts writing."""
    return log_path.stat().st_size if log_path.exists() else 0


def wait_serving(server: PyccServer, since: int = 0, timeout: float = 30.0) -> None:
    """Wait until ``server`` says it is serving, in its log after byte ``since``.

    An open port is not enough: the SIP sockets are bound before the admin API is loaded,
    and a message sent in between waits for the loop; a test with a short answer timeout
    would then fail on a loaded machine. Raises RuntimeError (with the log) when the process
    exits or does not get there within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with server.log_path.open("rb") as log:
            log.seek(since)
            if SERVING in log.read():
                return
        if server.proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"pycc serve did not start:\n{server.log()}")
        time.sleep(0.05)


def with_settings(text: str, config: dict[str, object]) -> str:
    """``text`` (a pycc.toml) with ``config``'s top-level settings: a setting ``pycc init``
    wrote already is replaced (TOML refuses a key twice), the others go before the first
    table ([applications]) of the file."""
    table = text.find("\n[")
    head, tail = (text, "") if table < 0 else (text[:table + 1], text[table + 1:])
    for key, value in config.items():
        line = f"{key} = {json.dumps(value)}"
        head, found = re.subn(rf"(?m)^{re.escape(key)}\s*=.*$", line, head, count=1)
        if not found:
            head = head + ("" if head.endswith("\n") or not head else "\n") + line + "\n"
    return head + tail


def start_pycc(
    workdir: Path,
    users: Iterable[tuple[str, str]] = (),
    *,
    serve_args: Sequence[str] = (),
    config: dict[str, object] | None = None,
    db_url: str | None = None,
) -> PyccServer:
    """Initialise ``workdir/data``, add ``users`` and start ``pycc serve`` on free ports."""
    data_dir = workdir / "data"
    extra = ["--db", db_url] if db_url else []
    env = dict(os.environ)
    done = run_cli(["init", "--data-dir", str(data_dir), *extra], env=env)
    if done.returncode != 0:
        raise RuntimeError(f"pycc init failed: {done.stderr}")
    if config:
        path = data_dir / "pycc.toml"
        path.write_text(with_settings(path.read_text(encoding="utf-8"), config),
                        encoding="utf-8")
    if users:
        # One process adds them all (a `pycc user add` per user costs a second each).
        with Store(make_url(data_dir, db_url)) as store:
            store.create_all()
            tenant = store.ensure_tenant("default", "pycc")
            for user, password in users:
                store.add_extension(tenant.name, user, password)
    log_path = workdir / "pycc.log"
    # The ports free_port found may be taken before pycc binds them: then it starts again.
    attempts = 3
    for attempt in range(1, attempts + 1):
        sip_port = free_port("both")
        sips_port = free_port("tcp")
        http_port = free_port("tcp")
        argv = [*PYCC, "serve", "--data-dir", str(data_dir), "--bind", LOOPBACK,
                "--sip-port", str(sip_port), "--sips-port", str(sips_port),
                "--http-port", str(http_port), *extra, *serve_args]
        # The first start writes a new log; a retry keeps what the failed one said.
        since = 0 if attempt == 1 else log_size(log_path)
        with log_path.open("wb" if attempt == 1 else "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        server = PyccServer(data_dir, sip_port, sips_port, proc, log_path, extra, http_port)
        try:
            wait_serving(server, since)
        except RuntimeError as exc:
            if attempt < attempts and port_was_taken(str(exc)):
                continue
            raise
        return server
    raise AssertionError("unreachable")
