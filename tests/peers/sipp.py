"""SIPp (Debian ``sip-tester``) as a scripted SIP peer on 127.0.0.1.

:func:`run_sipp` runs one scenario to the end and returns a :class:`SippResult` with the exit
status, the output and the counters of SIPp's statistics file (successful and failed calls and
the reasons of the failures). :func:`start_sipp` starts one in the background (a callee, a
long benchmark) and returns a :class:`SippProcess`; :func:`start_sipp_uas` first registers the
callee's extension to the switch from the port it will listen on.

Each run writes its statistics, screen, error and message logs to its own directory, so that a
failing test can show what SIPp saw (:meth:`SippResult.describe`).

Scenarios are in ``tests/scenarios`` (:func:`scenario`); credentials reach them through an
injection file (:func:`write_credentials`).
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from .net import LOOPBACK, free_port, tcp_listening, udp_bound
from .process import stop_process, tail, wait_until

SIPP = "sipp"
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

#: How long SIPp waits for each message its scenario expects. Generous: on a busy machine (the
#: suite runs in parallel) a step of the test between two messages can take many seconds, and
#: a passing run never waits this long.
RECV_TIMEOUT_MS = 30_000

# SIPp transport modes: u1/t1 = one UDP socket / one TCP connection for all calls,
# un/tn = one per call.
Transport = Literal["u1", "un", "t1", "tn"]

# Exit statuses documented by SIPp.
EXIT_ALL_CALLS_OK = 0
EXIT_SOME_CALLS_FAILED = 1
EXIT_NO_CALL_PROCESSED = 99


def scenario(name: str) -> Path:
    """The path of a scenario in ``tests/scenarios`` (``.xml`` may be left out)."""
    path = SCENARIO_DIR / (name if name.endswith(".xml") else f"{name}.xml")
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def write_inf(path: Path, rows: Iterable[Sequence[str]], *, order: str = "SEQUENTIAL") -> Path:
    """Write a SIPp injection file: ``rows`` become ``[field0]``, ``[field1]``, ... per call."""
    lines = [order]
    for row in rows:
        for value in row:
            if ";" in value or "\n" in value:
                raise ValueError(f"injection values may not hold ';' or newlines: {value!r}")
        lines.append(";".join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_credentials(
    path: Path, accounts: Iterable[tuple[str, str]], *, order: str = "SEQUENTIAL"
) -> Path:
    """Write the injection file the ``uac_*`` scenarios read, one (extension, password) a line.

    Fields: 0 = extension, 1 = password, 2 = SIPp's ``[authentication ...]`` keyword with both
    (SIPp 3.6 does not expand ``[fieldN]`` inside ``[authentication]``, but it does expand a
    keyword that comes from the injection file).
    """
    rows = []
    for user, password in accounts:
        for value in (user, password):
            if not value or any(c in value for c in " []"):
                raise ValueError(f"SIPp credentials may not be empty or hold ' []': {value!r}")
        rows.append((user, password, f"[authentication username={user} password={password}]"))
    return write_inf(path, rows, order=order)


def _snake(name: str) -> str:
    # "FailedMaxUDPRetrans" -> "failed_max_udp_retrans"
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _epoch(value: str) -> float:
    # "2026-12-01\t13:00:32.367141\t1796130032.367141": the last field is the epoch time.
    return float(value.split("\t")[-1])


def parse_stat_file(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Parse SIPp's ``-trace_stat`` CSV: (cumulative counters, raw last row).

    Counter names are the CSV's cumulative ``(C)`` columns in snake case
    (``SuccessfulCall(C)`` -> ``successful_call``); ``successful``, ``failed``, ``created``
    and ``current`` are short aliases for the call totals.
    """
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=";") if row]
    if len(rows) < 2:
        return {}, {}
    header, last = rows[0], rows[-1]
    raw = {name: value for name, value in zip(header, last, strict=False) if name}
    counters: dict[str, int] = {}
    for name, value in raw.items():
        if name.endswith("(P)"):
            continue
        key = _snake(name.removesuffix("(C)"))
        try:
            counters[key] = int(value)
        except ValueError:
            continue
    counters["successful"] = counters.get("successful_call", 0)
    counters["failed"] = counters.get("failed_call", 0)
    counters["created"] = counters.get("total_call_created", 0)
    counters["current"] = counters.get("current_call", 0)
    return counters, raw


_SCREEN_COUNTERS = {
    "successful": re.compile(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)"),
    "failed": re.compile(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)"),
    "created": re.compile(r"Total Calls created\s*\|\s*\|\s*(\d+)"),
}


def parse_screen(text: str) -> dict[str, int]:
    """Call totals from SIPp's final statistics screen, when no statistics file was written."""
    counters: dict[str, int] = {}
    for key, pattern in _SCREEN_COUNTERS.items():
        found = pattern.findall(text)
        if found:
            counters[key] = int(found[-1])
    return counters


@dataclass
class SippResult:
    """The outcome of one SIPp run."""

    returncode: int
    stdout: str
    stderr: str
    stats: dict[str, int]
    raw_stats: dict[str, str]
    workdir: Path
    argv: list[str]
    timed_out: bool = False

    @property
    def successful(self) -> int:
        return self.stats.get("successful", 0)

    @property
    def failed(self) -> int:
        return self.stats.get("failed", 0)

    @property
    def ok(self) -> bool:
        """SIPp exited 0: every call followed the scenario to its end."""
        return self.returncode == EXIT_ALL_CALLS_OK and not self.timed_out

    @property
    def elapsed(self) -> float:
        """Seconds from SIPp's start to its last statistics dump."""
        try:
            return _epoch(self.raw_stats["CurrentTime"]) - _epoch(self.raw_stats["StartTime"])
        except (KeyError, ValueError, IndexError):
            return 0.0

    @property
    def call_rate(self) -> float:
        """Cumulative calls per second, as SIPp computed it."""
        try:
            return float(self.raw_stats.get("CallRate(C)", "0"))
        except ValueError:
            return 0.0

    def errors(self) -> str:
        """SIPp's error log: unexpected messages and why calls were aborted."""
        return tail(self.workdir / "errors.log", 6000)

    def messages(self) -> str:
        """The SIP messages SIPp sent and received (when traced)."""
        return tail(self.workdir / "messages.log", 12000)

    def failure_counters(self) -> dict[str, int]:
        """The non-zero ``failed_*`` counters: why calls failed."""
        return {k: v for k, v in self.stats.items() if k.startswith("failed_") and v}

    def describe(self) -> str:
        """A report for assertion messages."""
        parts = [
            f"sipp exit {self.returncode}{' (timed out)' if self.timed_out else ''}: "
            f"{self.successful} successful, {self.failed} failed calls",
            f"command: {' '.join(self.argv)}",
            f"workdir: {self.workdir}",
        ]
        if self.failure_counters():
            parts.append(f"failures: {self.failure_counters()}")
        if self.stderr.strip():
            parts.append("stderr:\n" + self.stderr[-3000:])
        errors = self.errors()
        if errors and "does not exist" not in errors:
            parts.append("errors.log:\n" + errors)
        messages = self.messages()
        if messages and "does not exist" not in messages:
            parts.append("messages.log (end):\n" + messages[-6000:])
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.describe()


def sipp_argv(
    scenario: Path | str,
    target: str | None,
    *,
    workdir: Path,
    transport: Transport = "u1",
    local_port: int | None = None,
    local_ip: str = LOOPBACK,
    calls: int | None = 1,
    rate: float | None = 10.0,
    max_concurrent: int | None = None,
    service: str | None = None,
    inf_file: Path | None = None,
    keys: Mapping[str, str] | None = None,
    pause_ms: int | None = None,
    timeout: float | None = 30.0,
    recv_timeout_ms: int | None = RECV_TIMEOUT_MS,
    trace_messages: bool = True,
    auth_uri: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The SIPp command line that :func:`run_sipp` and :func:`start_sipp` use.

    ``scenario`` is a file (``-sf``) or the name of a built-in scenario such as ``"uac"`` or
    ``"uas"`` (``-sn``). ``target`` is ``host:port`` for a caller, None for a callee.
    ``auth_uri`` is the digest uri of SIPp's credentials without ``sip:``; by default it is
    ``service@target`` when both are given, the Request-URI of the ``uac_call_*`` scenarios
    (SIPp's own default, ``sip:target``, is the Request-URI of ``uac_register_auth``). Pass
    ``""`` to keep SIPp's default.
    """
    if auth_uri is None and service is not None and target is not None:
        auth_uri = f"{service}@{target}"
    argv = [SIPP]
    if isinstance(scenario, Path) or scenario.endswith(".xml"):
        argv += ["-sf", str(scenario)]
    else:
        argv += ["-sn", scenario]
    if target is not None:
        argv.append(target)
    argv += ["-i", local_ip, "-t", transport, "-nostdin"]
    if local_port is not None:
        argv += ["-p", str(local_port)]
    if calls is not None:
        argv += ["-m", str(calls)]
    if rate is not None:
        argv += ["-r", f"{rate:g}"]
    if max_concurrent is not None:
        argv += ["-l", str(max_concurrent)]
    if service is not None:
        argv += ["-s", service]
    if inf_file is not None:
        argv += ["-inf", str(inf_file)]
    for key, value in (keys or {}).items():
        argv += ["-key", key, value]
    if pause_ms is not None:
        argv += ["-d", str(pause_ms)]
    if auth_uri:
        argv += ["-auth_uri", auth_uri]
    if timeout is not None:
        # SIPp stops itself (and fails) before the harness has to kill it.
        argv += ["-timeout", f"{max(1, int(timeout))}s", "-timeout_error"]
    if recv_timeout_ms is not None:
        argv += ["-recv_timeout", f"{recv_timeout_ms}ms"]
    argv += [
        "-trace_stat",
        "-stf",
        str(workdir / "stats.csv"),
        "-fd",
        "1",
        "-trace_screen",
        "-screen_file",
        str(workdir / "screen.log"),
        "-trace_err",
        "-error_file",
        str(workdir / "errors.log"),
    ]
    if trace_messages:
        argv += ["-trace_msg", "-message_file", str(workdir / "messages.log")]
    argv += list(extra_args)
    return argv


@dataclass
class SippProcess:
    """A SIPp started in the background; :meth:`wait` or :meth:`stop` gives its result."""

    process: subprocess.Popen[bytes]
    workdir: Path
    argv: list[str]
    local_port: int
    transport: Transport
    _result: SippResult | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.local_port}"

    def wait(self, timeout: float) -> SippResult:
        """Wait for SIPp to exit by itself (after its ``-m`` calls); kill it after ``timeout``."""
        timed_out = False
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process(self.process, first_signal=signal.SIGUSR1, grace=3.0)
        return self._collect(timed_out)

    def stop(self, grace: float = 5.0) -> SippResult:
        """Ask SIPp to finish (SIGUSR1 works like pressing 'q'), then kill it."""
        if self._result is not None:
            return self._result
        if self.running:
            # The first SIGUSR1 lets calls in progress end; the second one quits at once.
            self.process.send_signal(signal.SIGUSR1)
            if not wait_until(lambda: not self.running, grace / 2):
                if self.running:
                    self.process.send_signal(signal.SIGUSR1)
                stop_process(self.process, first_signal=signal.SIGUSR1, grace=grace / 2)
        stop_process(self.process)
        return self._collect(timed_out=False)

    def _collect(self, timed_out: bool) -> SippResult:
        if self._result is None:
            self._result = collect_result(self.workdir, self.argv, self.process, timed_out)
        return self._result

    def __enter__(self) -> SippProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def collect_result(
    workdir: Path, argv: list[str], proc: subprocess.Popen[bytes], timed_out: bool
) -> SippResult:
    stdout = (workdir / "stdout.log").read_text(errors="replace")
    stderr = (workdir / "stderr.log").read_text(errors="replace")
    stats: dict[str, int] = {}
    raw: dict[str, str] = {}
    stat_file = workdir / "stats.csv"
    if stat_file.exists():
        stats, raw = parse_stat_file(stat_file)
    if not stats:
        screen = workdir / "screen.log"
        stats = parse_screen(
            (screen.read_text(errors="replace") if screen.exists() else "") + stdout
        )
    return SippResult(
        returncode=int(proc.returncode if proc.returncode is not None else -9),
        stdout=stdout,
        stderr=stderr,
        stats=stats,
        raw_stats=raw,
        workdir=workdir,
        argv=argv,
        timed_out=timed_out,
    )


def _launch(argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    if shutil.which(SIPP) is None:
        raise FileNotFoundError("sipp not installed; run scripts/setup.sh --test")
    # stdout goes to a file: a pipe nobody reads would stall SIPp's screen refreshes.
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        return subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def _workdir(workdir: Path | None) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="pycc-sipp-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="sipp-", dir=workdir))


def _spawn(
    scenario: Path | str,
    target: str | None,
    *,
    workdir: Path | None,
    transport: Transport,
    local_port: int | None,
    **options: Any,
) -> SippProcess:
    """Launch SIPp with :func:`sipp_argv` in a fresh run directory; return its handle."""
    port = free_port("both") if local_port is None else local_port
    run_dir = _workdir(workdir)
    argv = sipp_argv(scenario, target, workdir=run_dir, transport=transport, local_port=port,
                     **options)
    return SippProcess(_launch(argv, run_dir), run_dir, argv, port, transport)


def start_sipp(
    scenario: Path | str,
    target: str | None,
    *,
    transport: Transport = "u1",
    local_port: int | None = None,
    calls: int | None = 1,
    rate: float | None = 10.0,
    max_concurrent: int | None = None,
    service: str | None = None,
    inf_file: Path | None = None,
    keys: Mapping[str, str] | None = None,
    pause_ms: int | None = None,
    timeout: float | None = 30.0,
    recv_timeout_ms: int | None = RECV_TIMEOUT_MS,
    trace_messages: bool = True,
    auth_uri: str | None = None,
    extra_args: Sequence[str] = (),
    workdir: Path | None = None,
    ready_timeout: float = 5.0,
) -> SippProcess:
    """Start SIPp in the background and wait until it has bound its local port.

    Arguments as in :func:`sipp_argv`; ``local_port`` None picks a free port. Each run gets a
    fresh subdirectory of ``workdir`` (or a temporary directory) for its logs.
    """
    handle = _spawn(
        scenario, target, workdir=workdir, transport=transport, local_port=local_port,
        calls=calls, rate=rate, max_concurrent=max_concurrent, service=service,
        inf_file=inf_file, keys=keys, pause_ms=pause_ms, timeout=timeout,
        recv_timeout_ms=recv_timeout_ms, trace_messages=trace_messages, auth_uri=auth_uri,
        extra_args=extra_args,
    )
    port, proc = handle.local_port, handle.process
    if transport.startswith("u"):
        bound = lambda: not handle.running or udp_bound(port)  # noqa: E731
    elif target is None:
        bound = lambda: not handle.running or tcp_listening(port)  # noqa: E731
    else:
        # A TCP caller connects out at once; there is no listener of its own to wait for.
        bound = lambda: True  # noqa: E731
    wait_until(bound, ready_timeout)
    if not handle.running and proc.returncode not in (0, None):
        result = handle._collect(timed_out=False)
        raise RuntimeError(f"sipp exited at start:\n{result.describe()}")
    return handle


def run_sipp(
    scenario: Path | str,
    target: str | None,
    *,
    transport: Transport = "u1",
    local_port: int | None = None,
    calls: int | None = 1,
    rate: float | None = 10.0,
    max_concurrent: int | None = None,
    service: str | None = None,
    inf_file: Path | None = None,
    keys: Mapping[str, str] | None = None,
    pause_ms: int | None = None,
    timeout: float = 30.0,
    recv_timeout_ms: int | None = RECV_TIMEOUT_MS,
    trace_messages: bool = True,
    auth_uri: str | None = None,
    extra_args: Sequence[str] = (),
    workdir: Path | None = None,
) -> SippResult:
    """Run a SIPp scenario to its end (at most ``timeout`` seconds) and return its result.

    Example: three authenticated calls from 1001 to 1002 over TCP::

        inf = write_credentials(tmp_path / "users.csv", [("1001", "secret")])
        result = run_sipp(scenario("uac_call_auth"), "127.0.0.1:5060", transport="t1",
                          service="1002", inf_file=inf, calls=3)
        assert result.ok and result.successful == 3, result.describe()
    """
    handle = _spawn(
        scenario, target, workdir=workdir, transport=transport, local_port=local_port,
        calls=calls, rate=rate, max_concurrent=max_concurrent, service=service,
        inf_file=inf_file, keys=keys, pause_ms=pause_ms, timeout=timeout,
        recv_timeout_ms=recv_timeout_ms, trace_messages=trace_messages, auth_uri=auth_uri,
        extra_args=extra_args,
    )
    # SIPp's own -timeout fires first; the margin covers its shutdown.
    return handle.wait(timeout + 10.0)


@dataclass(frozen=True)
class SipAccount:
    """An extension's credentials and the switch it registers to (``host:port``)."""

    user: str
    password: str
    registrar: str


def register(
    account: SipAccount,
    *,
    transport: Transport = "u1",
    local_port: int | None = None,
    timeout: float = 15.0,
    workdir: Path | None = None,
) -> SippResult:
    """REGISTER ``account`` (with digest) from ``local_port``: uac_register_auth.xml, one call."""
    run_dir = _workdir(workdir)
    inf = write_credentials(run_dir / "account.csv", [(account.user, account.password)])
    return run_sipp(
        scenario("uac_register_auth"),
        account.registrar,
        transport=transport,
        local_port=local_port,
        calls=1,
        inf_file=inf,
        timeout=timeout,
        workdir=run_dir,
    )


def start_sipp_uas(
    scenario: Path | str,
    *,
    account: SipAccount | None = None,
    transport: Transport = "u1",
    local_port: int | None = None,
    calls: int | None = 1,
    timeout: float | None = 60.0,
    recv_timeout_ms: int | None = RECV_TIMEOUT_MS,
    trace_messages: bool = True,
    keys: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    workdir: Path | None = None,
) -> SippProcess:
    """Start a SIPp callee (``uas_answer``, ``uas_busy``, ``uas_ring`` ...) on 127.0.0.1.

    With ``account``, the extension is first registered to ``account.registrar`` from the very
    port the callee then listens on, so the switch's INVITE for the extension arrives here.
    Raises RuntimeError when that registration fails. The callee exits by itself after
    ``calls`` calls; :meth:`SippProcess.wait` returns its result then, :meth:`SippProcess.stop`
    ends it earlier.
    """
    port = free_port("both") if local_port is None else local_port
    if account is not None:
        result = register(account, transport=transport, local_port=port, workdir=workdir)
        if not result.ok:
            raise RuntimeError(f"registering {account.user} failed:\n{result.describe()}")
        if transport.startswith("u"):
            # The registering SIPp has exited, but give the kernel a moment to free the port.
            wait_until(lambda: not udp_bound(port), 2.0)
        else:
            wait_until(lambda: not tcp_listening(port), 2.0)
        time.sleep(0.05)
    return start_sipp(
        scenario,
        None,
        transport=transport,
        local_port=port,
        calls=calls,
        rate=None,
        timeout=timeout,
        recv_timeout_ms=recv_timeout_ms,
        trace_messages=trace_messages,
        keys=keys,
        extra_args=extra_args,
        workdir=workdir,
    )


__all__ = [
    "EXIT_ALL_CALLS_OK",
    "EXIT_NO_CALL_PROCESSED",
    "EXIT_SOME_CALLS_FAILED",
    "SCENARIO_DIR",
    "SipAccount",
    "SippProcess",
    "SippResult",
    "collect_result",
    "parse_screen",
    "parse_stat_file",
    "register",
    "run_sipp",
    "scenario",
    "sipp_argv",
    "start_sipp",
    "start_sipp_uas",
    "write_credentials",
    "write_inf",
]
