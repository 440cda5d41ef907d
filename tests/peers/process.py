"""Start and stop the external programs the integration tests talk to.

Each peer runs in its own process group, so that stopping it also stops the children it forked
(Kamailio forks one worker per listener and child slot) and nothing outlives a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO


def start_process(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout_pipe: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new process group with its output going to ``log_path``.

    With ``stdout_pipe`` the standard output is a pipe the caller reads, and only the standard
    error goes to the log file.
    """
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            [os.fspath(a) for a in argv],
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=stdin,
            stdout=subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_process(
    proc: subprocess.Popen[bytes],
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    grace: float = 5.0,
    whole_group: bool = False,
) -> int:
    """Stop ``proc`` and its process group: ``first_signal``, then SIGKILL after ``grace``.

    With ``whole_group`` the first signal goes to every process of the group, not only to
    the leader: a worker forked while the leader was handling the signal would miss it.
    Returns the exit status (negative for a signal, as in :mod:`subprocess`).
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if whole_group:
                os.killpg(proc.pid, first_signal)
            else:
                proc.send_signal(first_signal)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(timeout=grace)
    # Workers the leader forked may still be exiting; make sure none is left behind.
    _kill_group(proc)
    return int(proc.returncode)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it returns something true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: Path, max_chars: int = 4000) -> str:
    """The end of a log file, for assertion messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return text[-max_chars:]
