"""SIPVicious (Debian ``sipvicious``) scans against a switch on 127.0.0.1.

``svwar`` looks for extensions by how a server answers REGISTER (or OPTIONS/INVITE) for each
candidate: a server that answers an unknown extension differently from a known one gives them
away. ``svcrack`` guesses an extension's password from a list. pycc must answer unknown and
known extensions identically (svwar finds nothing) and ban an address that keeps failing
authentication (svcrack cracks nothing).

Both tools print their findings as a table on stdout and their diagnostics (``found nothing``,
``no server response``, ...) on stderr; they exit 0 either way, so read :attr:`found` /
:attr:`cracked` and :attr:`log`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .net import LOOPBACK, free_port

# Debian installs the tools as svwar/svcrack; pip's sipvicious as sipvicious_svwar/...
_NAMES = {
    "svwar": ("svwar", "sipvicious_svwar"),
    "svcrack": ("svcrack", "sipvicious_svcrack"),
}

_ROW = re.compile(r"^\|\s*(?P<left>[^|]*?)\s*\|\s*(?P<right>[^|]*?)\s*\|\s*$")


def tool_path(tool: Literal["svwar", "svcrack"]) -> str:
    """The installed command for ``tool``; FileNotFoundError when sipvicious is missing."""
    for name in _NAMES[tool]:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(f"{tool} not installed; run scripts/setup.sh --test")


def parse_table(stdout: str) -> dict[str, str]:
    """The rows of SIPVicious' result table (first column -> second), header excluded."""
    rows: dict[str, str] = {}
    for line in stdout.splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            continue
        left, right = match["left"], match["right"]
        if left in ("Extension", "") or set(left) <= {"=", "-", "+"}:
            continue
        rows[left] = right
    return rows


@dataclass
class ScanResult:
    """The outcome of one svwar or svcrack run."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    rows: dict[str, str]
    timed_out: bool = False

    @property
    def log(self) -> str:
        """Everything the tool printed, for assertion messages."""
        return f"$ {' '.join(self.argv)}\n{self.stdout}{self.stderr}"

    def __str__(self) -> str:
        return self.log


@dataclass
class SvwarResult(ScanResult):
    @property
    def found(self) -> dict[str, str]:
        """Extensions svwar believes exist -> how (``reqauth``, ``noauth``, ...)."""
        return self.rows


@dataclass
class SvcrackResult(ScanResult):
    @property
    def cracked(self) -> dict[str, str]:
        """Extension -> the password svcrack found."""
        return self.rows


def _run(argv: list[str], timeout: float) -> tuple[int, str, str, bool]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        err = exc.stderr if isinstance(exc.stderr, str) else (exc.stderr or b"").decode()
        return -9, out, err, True
    return done.returncode, done.stdout, done.stderr, False


def run_svwar(
    port: int,
    *,
    host: str = LOOPBACK,
    extensions: str = "1000-1010",
    method: Literal["REGISTER", "OPTIONS", "INVITE"] = "REGISTER",
    force: bool = False,
    local_port: int | None = None,
    max_time: float = 5.0,
    timeout: float = 120.0,
    extra_args: Sequence[str] = (),
) -> SvwarResult:
    """Scan ``host:port`` (UDP) for the extensions in ``extensions`` (``"1000-1010,2000"``).

    ``force`` scans even when the server answers a made-up extension with a challenge (svwar
    otherwise stops there, reporting that it cannot tell extensions apart, which is what pycc
    wants). ``max_time`` is how long svwar keeps sending without any answer.
    """
    argv = [
        tool_path("svwar"),
        "-e",
        extensions,
        "-m",
        method,
        "-b",
        LOOPBACK,
        "-P",
        str(local_port or free_port("udp")),
        "--maximumtime",
        f"{max(1, int(max_time))}",
    ]
    if force:
        argv.append("--force")
    argv += [*extra_args, f"udp://{host}:{port}"]
    code, out, err, timed_out = _run(argv, timeout)
    return SvwarResult(argv, code, out, err, parse_table(out), timed_out)


def run_svcrack(
    port: int,
    username: str,
    passwords: Sequence[str],
    *,
    host: str = LOOPBACK,
    extension: str | None = None,
    domain: str | None = None,
    local_port: int | None = None,
    max_time: float = 5.0,
    timeout: float = 120.0,
    workdir: Path | None = None,
    extra_args: Sequence[str] = (),
) -> SvcrackResult:
    """Try each of ``passwords`` for ``username`` against ``host:port`` (UDP, REGISTER).

    ``max_time`` is how long svcrack keeps sending without any answer (a banned address gets
    none). The password list is written to ``workdir`` (a temporary directory by default).
    """
    root = Path(tempfile.mkdtemp(prefix="pycc-svcrack-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    dictionary = root / "passwords.txt"
    dictionary.write_text("".join(f"{p}\n" for p in passwords))
    argv = [
        tool_path("svcrack"),
        "-u",
        username,
        "-d",
        str(dictionary),
        "-b",
        LOOPBACK,
        "-P",
        str(local_port or free_port("udp")),
        "--maximumtime",
        f"{max(1, int(max_time))}",
    ]
    if extension is not None:
        argv += ["-e", extension]
    if domain is not None:
        argv += ["--domain", domain]
    argv += [*extra_args, f"udp://{host}:{port}"]
    code, out, err, timed_out = _run(argv, timeout)
    return SvcrackResult(argv, code, out, err, parse_table(out), timed_out)
