"""Inbound call center end to end: callers through an IVR menu and a queue to agents.

    python benchmarks/inbound.py [--quick] [--rates 20,40,70,85,100] [--ref-rates 130,160]
                                 [--runs 3] [--seconds 4] [--talk 2] [--agents 50]
                                 [--sipp 8] [--workdir DIR]

How many calls per second the whole inbound path (SIP, digest, the route, the IVR menu, the
key, the queue, the ACD ringing an agent, the bridge, the call record) handles with zero
failures, against plain extension-to-extension calls through the same pycc.

Set-up, on 127.0.0.1 only: ``pycc init`` and ``pycc apply`` make a data directory (agents on
extensions 2000, 2001, ... in the queue "sales": longest idle, ring_timeout 10, wrapup 0; an
IVR "main" whose menu sends key 1 to the queue; route 8000 -> ivr main; caller extensions
from 3000; reference callees from 1900), then ``pycc serve`` runs on free ports with a wide
RTP range. A second process (this script with ``--phones``, so that the simulated phones do
not share pycc's CPU) registers one auto-answering ``pycc.ua.UserAgent`` per agent and per
reference callee; they answer ``--answer-delay`` after ringing and never hang up. The agents
are logged in through the control socket, as ``pycc agent login`` does.

Callers: ``--sipp`` SIPp processes side by side, each a share of the rate
(benchmarks/scenarios/inbound_caller.xml): INVITE with SDP, 407, INVITE with credentials,
200, ACK, ``--menu`` seconds of menu, INFO application/dtmf-relay ``Signal=1``, the talk
time in the call (queue wait and agent), then BYE from the caller. A step places
max(``--calls``, rate x ``--seconds``) calls. The talk time is ``--talk``, shortened at high
rates so that rate x talk stays within ``--occupancy`` of the agents (more agents are
configured when the highest rate would leave less than ``--min-talk``): calls wait for
pycc, not for free agents.

A call is answered when SIPp completed it and its call record (read from the SQLite database)
names the queue and an agent with disposition "answered"; anything else is a failure.
Reported per rate: calls, answered, failures, queue wait p50/p99 (call records), pycc's CPU
over the step (/proc, 100 % = one core), its CPU time per call, and the phones' process CPU.

The reference is the same scenario to extension 19xx (one per SIPp process: SIPp's digest uri
is fixed per process): a plain call that pycc.ua answers, alternating with the inbound runs
at each rate, plus ``--ref-rates`` for the reference alone. Figures are medians of ``--runs``
runs (failures their sum); the last column is the inbound path's CPU per call over the plain
call's at the same rate and talk time.

Run it as root in a namespace with only the loopback interface:

    unshare -n sh -c 'ip link set lo up; python benchmarks/inbound.py'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# The pycc of this checkout, here and in every process started (pycc serve, the phones).
sys.path[:0] = [str(SRC), str(ROOT / "tests")]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])

from peers.net import LOOPBACK, free_port, wait_port  # noqa: E402
from peers.process import stop_process, tail, wait_until  # noqa: E402
from peers.pycc_server import PYCC, run_cli  # noqa: E402
from peers.sipp import SippProcess, SippResult, start_sipp, write_credentials  # noqa: E402

SCENARIO = ROOT / "benchmarks" / "scenarios" / "inbound_caller.xml"
IVR_NUMBER = "8000"
FIRST_PLAIN = 1900
FIRST_AGENT = 2000
FIRST_CALLER = 3000
CALLERS = 200
QUEUE = "sales"
#: pycc settings for a load test: every SIPp request comes from one address, which the
#: default per-source limits (500 requests/s, ban after 10 challenges) would throttle.
SERVER_SETTINGS = {"rate_limit": 1e6, "rate_burst": 1e6, "ban_failures": 1_000_000}


def password(number: str) -> str:
    return f"bench-{number}"


def talk_time(rate: float, args: argparse.Namespace) -> float:
    """Seconds from the key to the caller's BYE at ``rate``: ``--talk``, or less so that
    the agents busy at once (rate x talk) stay within ``--occupancy`` of them."""
    occupancy: float = args.occupancy
    agents: int = args.agents
    budget = math.floor(10 * occupancy * agents / rate) / 10
    return min(float(args.talk), budget)


def agents_needed(rates: Sequence[float], args: argparse.Namespace) -> int:
    """``--agents``, or more when the highest rate would leave less than ``--min-talk``."""
    min_talk: float = args.min_talk
    occupancy: float = args.occupancy
    return max(int(args.agents), math.ceil(max(rates) * min_talk / occupancy))


def plain_numbers(count: int) -> list[str]:
    """The extensions the reference calls go to, one per SIPp process."""
    return [str(FIRST_PLAIN + i) for i in range(count)]


def agent_numbers(count: int) -> list[str]:
    return [str(FIRST_AGENT + i) for i in range(count)]


def agent_id(number: str) -> str:
    return f"a{number}"


def center_yaml(agents: int, plain: int) -> str:
    """The ``pycc apply`` file: agents, callers, the queue, the menu and the route."""
    numbers = [*plain_numbers(plain), *agent_numbers(agents),
               *(str(FIRST_CALLER + i) for i in range(CALLERS))]
    lines = ["tenant: default", "extensions:"]
    lines += [f'  - {{number: "{n}", password: {password(n)}}}' for n in numbers]
    lines.append("agents:")
    lines += [f'  - {{id: {agent_id(n)}, extension: "{n}", skills: {{{QUEUE}: 5}}}}'
              for n in agent_numbers(agents)]
    lines += [
        "queues:",
        f"  - name: {QUEUE}",
        f"    skill: {QUEUE}",
        "    strategy: longest-idle",
        "    ring_timeout: 10",
        "    wrapup: 0",
        "    max_wait: 120",
        "    music: tone:hold",
        "ivr:",
        "  - name: main",
        "    steps:",
        "      - answer",
        "      - menu:",
        "          prompt: tone:dial",
        "          timeout: 10",
        "          retries: 1",
        "          options:",
        f'            "1": {{queue: {QUEUE}}}',
        "routes:",
        f'  - {{match: "{IVR_NUMBER}", to: {{ivr: main}}}}',
    ]
    return "\n".join(lines) + "\n"


# -- the simulated agents (a process of their own) ----------------------------------------------
def even_port_pair() -> int:
    """A free UDP port pair (even RTP port, RTCP above it) on the loopback."""
    while True:
        port = free_port("udp", count=2)
        if port % 2 == 0:
            return port


async def run_phones(sip_port: int, numbers: list[str], answer_delay: float) -> None:
    """Register one auto-answering user agent per number; report when ready and, once the
    standard input closes, how many calls each one had."""
    from pycc.sip.address import Address
    from pycc.ua import Call, CallFailed, UserAgent

    loop = asyncio.get_running_loop()
    # Whatever media pycc sends the phones lands in one socket pair that drops it.
    rtp_port = even_port_pair()
    sinks = []
    for port in (rtp_port, rtp_port + 1):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind((LOOPBACK, port))
        sink.setblocking(False)
        loop.add_reader(sink.fileno(), _drain, sink)
        sinks.append(sink)
    server = Address("udp", LOOPBACK, sip_port)
    rung: dict[str, int] = dict.fromkeys(numbers, 0)
    answered: dict[str, int] = dict.fromkeys(numbers, 0)

    async def count(ua: UserAgent) -> None:
        while True:
            call: Call = await ua.next_call(None)
            rung[ua.username] += 1
            with contextlib.suppress(TimeoutError, CallFailed):
                await call.wait_answered(answer_delay + 5)
                answered[ua.username] += 1

    async with contextlib.AsyncExitStack() as stack:
        agents = []
        for number in numbers:
            ua = UserAgent(number, password(number), server=server, auto_answer=True,
                           answer_delay=answer_delay, rtp_port=rtp_port)
            agents.append(await stack.enter_async_context(ua))
        await asyncio.gather(*(ua.register(expires=3600) for ua in agents))
        counters = [asyncio.create_task(count(ua)) for ua in agents]
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.buffer.read)
        for task in counters:
            task.cancel()
        print(json.dumps({"rung": rung, "answered": answered}), flush=True)
    for sink in sinks:
        loop.remove_reader(sink.fileno())
        sink.close()


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(2048)


def phones_main(args: argparse.Namespace) -> None:
    numbers = args.phones.split(",")
    try:
        import uvloop

        uvloop.run(run_phones(args.sip_port, numbers, args.answer_delay))
    except ImportError:
        asyncio.run(run_phones(args.sip_port, numbers, args.answer_delay))


# -- the measured steps --------------------------------------------------------------------------
@dataclass
class Step:
    """One rate step of one kind (``inbound`` or ``plain``)."""

    kind: str
    rate: float
    talk: float
    attempted: int
    sipp_ok: int
    answered: int
    failures: int
    wait_p50: float | None
    wait_p99: float | None
    cpu_percent: float
    cpu_ms_per_call: float
    phones_cpu_percent: float
    seconds: float
    #: Agents found not ready after the step (a ring nobody answered in time), made ready.
    agents_reset: int = 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces: the fields after it start past its closing ")".
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


class Bench:
    """pycc serve, the phones process and the SIPp callers of one invocation."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.data_dir = work / "data"
        self.server: subprocess.Popen[bytes] | None = None
        self.phones: subprocess.Popen[bytes] | None = None
        self.sipps: list[SippProcess] = []
        self.sip_port = 0
        self.media_ports: list[int] = []
        self.runs = 0
        self.phone_counts: dict[str, dict[str, int]] = {}

    # -- set-up and tear-down --------------------------------------------------------------
    def start(self) -> None:
        self._provision()
        self._serve()
        self._start_phones()
        self._login()
        # SIPp binds its media port and the one two above (video): each process its own.
        self.media_ports = [free_port("udp", count=4) for _ in range(self.args.sipp)]

    def _provision(self) -> None:
        done = run_cli(["init", "--data-dir", str(self.data_dir)])
        if done.returncode != 0:
            raise RuntimeError(f"pycc init failed: {done.stderr}")
        path = self.data_dir / "pycc.toml"
        text = path.read_text(encoding="utf-8")
        settings = "".join(f"{key} = {json.dumps(value)}\n"
                           for key, value in SERVER_SETTINGS.items())
        # Top-level settings go before the first table ([applications]) of the file.
        table = text.find("\n[")
        path.write_text(text[:table + 1] + settings + text[table + 1:], encoding="utf-8")
        center = self.work / "center.yaml"
        center.write_text(center_yaml(self.args.agents, self.args.sipp), encoding="utf-8")
        done = run_cli(["apply", str(center), "--data-dir", str(self.data_dir)])
        if done.returncode != 0:
            raise RuntimeError(f"pycc apply failed: {done.stderr}{done.stdout}")

    def _serve(self) -> None:
        self.sip_port, sips_port = free_port("both"), free_port("tcp")
        first = free_port("udp", count=self.args.rtp_port_count)
        rtp = f"{first}-{first + self.args.rtp_port_count - 1}"
        argv = [*PYCC, "serve", "--http-port", "0", "--data-dir", str(self.data_dir),
                "--bind", LOOPBACK,
                "--sip-port", str(self.sip_port), "--sips-port", str(sips_port),
                "--rtp-ports", rtp, "--log-level", self.args.log_level]
        with (self.work / "pycc.log").open("wb") as log:
            self.server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_port(sips_port, 30.0)
        except TimeoutError:
            raise RuntimeError(f"pycc serve did not start:\n{self.log()}") from None

    def _start_phones(self) -> None:
        numbers = [*plain_numbers(self.args.sipp), *agent_numbers(self.args.agents)]
        argv = [sys.executable, str(Path(__file__).resolve()), "--phones", ",".join(numbers),
                "--sip-port", str(self.sip_port), "--answer-delay", str(self.args.answer_delay)]
        with (self.work / "phones.log").open("wb") as log:
            self.phones = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=log, start_new_session=True)
        assert self.phones.stdout is not None
        ready, _, _ = select.select([self.phones.stdout], [], [], 60.0)
        line = self.phones.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise RuntimeError("the phones did not register:\n"
                               + tail(self.work / "phones.log") + "\n" + self.log())

    def _login(self) -> None:
        from pycc.ctl import request

        for number in agent_numbers(self.args.agents):
            request(self.data_dir, "agent", action="login", agent=agent_id(number))
        if not self.agents_idle(10.0):
            raise RuntimeError("the agents are not available after logging in")

    def stop(self) -> None:
        for sipp in self.sipps:
            sipp.stop()
        self.sipps.clear()
        if self.phones is not None:
            if self.phones.poll() is None and self.phones.stdin is not None:
                with contextlib.suppress(OSError):
                    self.phones.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.phones.wait(10.0)
                    # The last line is its count of calls (a few kB: the pipe holds it).
                    assert self.phones.stdout is not None
                    lines = self.phones.stdout.read().splitlines()
                    with contextlib.suppress(ValueError, IndexError):
                        self.phone_counts = json.loads(lines[-1])
            stop_process(self.phones)
            self.phones = None
        if self.server is not None:
            stop_process(self.server, grace=15.0)
            self.server = None

    def log(self) -> str:
        return tail(self.work / "pycc.log")

    # -- state checks -----------------------------------------------------------------------
    def agents_idle(self, timeout: float) -> bool:
        """Wait until every agent is available and idle and no call is left."""
        from pycc.ctl import request

        def idle() -> bool:
            state = request(self.data_dir, "status")
            agents = state.get("agents", [])
            return bool(state.get("calls") == 0 and len(agents) == self.args.agents and all(
                (a["status"], a["state"]) == ("available", "idle") for a in agents))

        return wait_until(idle, timeout, interval=0.2)

    def make_ready(self, timeout: float) -> int:
        """Once the calls are over, make available again the agents that a ring without
        answer set not ready (an overloaded step), so that the next step starts with all of
        them; returns how many there were."""
        from pycc.ctl import request

        wait_until(lambda: request(self.data_dir, "status").get("calls") == 0, timeout, 0.2)
        count = 0
        for agent in request(self.data_dir, "status").get("agents", []):
            if agent["status"] == "offline":
                request(self.data_dir, "agent", action="login", agent=agent["agent"])
                count += 1
            elif agent["status"] != "available":
                request(self.data_dir, "agent", action="ready", agent=agent["agent"])
                count += 1
        if not self.agents_idle(timeout):
            print("# agents still busy after the step", file=sys.stderr, flush=True)
        return count

    def records(self, pids: list[int], since: float, expected: int,
                timeout: float) -> list[dict[str, object]]:
        """The call records of the SIPp processes ``pids`` (SIPp's Call-IDs are
        ``NUMBER-PID@host``) started after ``since``, once ``expected`` are written or
        ``timeout`` passes."""
        from pycc.store import Store, make_url

        markers = tuple(f"-{pid}@" for pid in pids)
        found: list[dict[str, object]] = []

        def written() -> bool:
            nonlocal found
            with Store(make_url(self.data_dir, None)) as store:
                found = [r.model_dump() for r in store.list_call_records("default", since)
                         if any(m in r.call_id for m in markers)]
            return len(found) >= expected

        wait_until(written, timeout, interval=0.3)
        return found

    # -- one step ---------------------------------------------------------------------------
    def run_step(self, kind: str, rate: float) -> Step:
        """Place one step's calls with ``--sipp`` SIPp processes side by side, each at its
        share of ``rate``; a plain step gives each process its own callee."""
        assert self.server is not None and self.phones is not None
        talk = talk_time(rate, self.args)
        calls = max(self.args.calls, round(rate * self.args.seconds))
        count = self.args.sipp
        self.runs += 1
        run_dir = self.work / f"{kind}-{rate:g}-{self.runs}"
        run_dir.mkdir()
        inf = write_credentials(run_dir / "callers.csv", [
            (str(FIRST_CALLER + i), password(str(FIRST_CALLER + i))) for i in range(CALLERS)])
        length = self.args.menu + talk
        share = rate / count
        sipp_timeout = calls / rate + length + 30
        before, phones_before = cpu_seconds(self.server.pid), cpu_seconds(self.phones.pid)
        started, wall = time.monotonic(), time.time()
        for index in range(count):
            number = IVR_NUMBER if kind == "inbound" else plain_numbers(count)[index]
            self.sipps.append(start_sipp(
                SCENARIO, f"{LOOPBACK}:{self.sip_port}",
                calls=calls // count + (index < calls % count), rate=share,
                max_concurrent=math.ceil(share * (length + 2)) + 10, service=number,
                inf_file=inf, pause_ms=round(talk * 1000), timeout=sipp_timeout,
                trace_messages=False,
                extra_args=["-set", "menu", str(round(self.args.menu * 1000)),
                            "-mp", str(self.media_ports[index])],
                workdir=run_dir))
        pids = [sipp.process.pid for sipp in self.sipps]
        results = [sipp.wait(sipp_timeout + 10) for sipp in self.sipps]
        self.sipps.clear()
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(self.server.pid) - before
        phones_cpu = cpu_seconds(self.phones.pid) - phones_before
        records = self.records(pids, wall - 1.0, calls, 15.0)
        if kind == "inbound":
            good = [r for r in records if r["disposition"] == "answered"
                    and r["queue"] == QUEUE and r["agent"]]
        else:
            good = [r for r in records if r["disposition"] == "answered"]
        waits = [float(r["queue_wait"]) for r in good  # type: ignore[arg-type]
                 if r["queue_wait"] is not None]
        sipp_ok = sum(result.successful for result in results)
        failures = max(calls - sipp_ok, calls - len(good))
        if failures:
            explain(kind, rate, results, records, calls)
        p50, p99 = percentile(waits, 0.5), percentile(waits, 0.99)
        return Step(kind, rate, talk, calls, sipp_ok, len(good), failures,
                    None if p50 is None else round(p50 * 1000, 1),
                    None if p99 is None else round(p99 * 1000, 1),
                    round(100 * cpu / elapsed, 1), round(1000 * cpu / calls, 2),
                    round(100 * phones_cpu / elapsed, 1), round(elapsed, 1))


def explain(kind: str, rate: float, results: list[SippResult],
            records: list[dict[str, object]], calls: int) -> None:
    """Say on stderr how the calls of a step with failures ended."""
    outcomes: dict[str, int] = {}
    for record in records:
        who = "an agent" if record["agent"] else "no agent"
        key = f"{record['disposition']} ({record['hangup_cause']}), {who}"
        outcomes[key] = outcomes.get(key, 0) + 1
    sipp: dict[str, int] = {}
    for result in results:
        for name, value in result.failure_counters().items():
            sipp[name] = sipp.get(name, 0) + value
    print(f"# {kind} at {rate:g}/s: {calls} calls, SIPp "
          f"{sum(r.successful for r in results)} ok {sipp}; {len(records)} records: "
          f"{outcomes}; logs in {results[0].workdir.parent}", file=sys.stderr, flush=True)


# -- the report ----------------------------------------------------------------------------------
def median_step(steps: list[Step]) -> Step:
    """The median of several runs of one step (failures: their sum)."""
    if len(steps) == 1:
        return steps[0]

    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(statistics.median(known), 2) if known else None

    first = steps[0]
    return Step(
        first.kind, first.rate, first.talk,
        sum(s.attempted for s in steps), sum(s.sipp_ok for s in steps),
        sum(s.answered for s in steps), sum(s.failures for s in steps),
        med([s.wait_p50 for s in steps]), med([s.wait_p99 for s in steps]),
        med([s.cpu_percent for s in steps]) or 0.0,
        med([s.cpu_ms_per_call for s in steps]) or 0.0,
        med([s.phones_cpu_percent for s in steps]) or 0.0,
        med([s.seconds for s in steps]) or 0.0,
        sum(s.agents_reset for s in steps),
    )


def best_rate(steps: list[Step]) -> float | None:
    """The highest rate such that it and every lower rate had no failure."""
    best = None
    for step in sorted(steps, key=lambda s: s.rate):
        if step.failures:
            break
        best = step.rate
    return best


def cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def report(inbound: list[Step], plain: list[Step], runs: int) -> str:
    """The Markdown table of the steps and the summary lines under it."""
    lines = [
        "| calls/s | talk s | calls | answered by an agent | failures | queue wait p50 / p99 ms "
        "| pycc CPU % | pycc CPU ms/call | agents' process CPU % | plain: failures "
        "| plain: pycc CPU % | plain: CPU ms/call | CPU per call, inbound / plain |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    by_rate = {s.rate: s for s in inbound}
    ref_by_rate = {s.rate: s for s in plain}
    for rate in sorted(by_rate.keys() | ref_by_rate.keys()):
        step, ref = by_rate.get(rate), ref_by_rate.get(rate)
        talk = step.talk if step is not None else ref.talk if ref is not None else 0.0
        ratio = (round(step.cpu_ms_per_call / ref.cpu_ms_per_call, 2)
                 if step is not None and ref is not None and ref.cpu_ms_per_call else None)
        inbound_cells = ["", "", "", "", "", "", ""] if step is None else [
            str(step.attempted), str(step.answered), str(step.failures),
            f"{cell(step.wait_p50)} / {cell(step.wait_p99)}", f"{step.cpu_percent:g}",
            f"{step.cpu_ms_per_call:g}", f"{step.phones_cpu_percent:g}"]
        plain_cells = ["", "", ""] if ref is None else [
            f"{ref.failures} of {ref.attempted}", f"{ref.cpu_percent:g}",
            f"{ref.cpu_ms_per_call:g}"]
        lines.append("| " + " | ".join(
            [f"{rate:g}", f"{talk:g}", *inbound_cells, *plain_cells, cell(ratio)]) + " |")
    lines.append("")
    bests: dict[str, float | None] = {}
    for name, steps in (("inbound", inbound), ("plain", plain)):
        best = bests[name] = best_rate(steps)
        top = max(s.rate for s in steps)
        lines.append(f"{name}: highest rate with zero failures {cell(best) or 'none'} calls/s"
                     + (" (the highest tried)" if best == top else ""))
    best_in, best_plain = bests["inbound"], bests["plain"]
    if best_in and best_plain:
        # A kind that never failed has a limit above its highest rate: a bound, not a ratio.
        in_top = best_in == max(s.rate for s in inbound)
        plain_top = best_plain == max(s.rate for s in plain)
        if in_top and plain_top:
            lines.append("inbound / plain: not known (neither failed at its highest rate)")
        else:
            bound = "at least " if in_top else "at most " if plain_top else ""
            lines.append(f"inbound / plain: {bound}{best_in / best_plain:.2f}")
    if runs > 1:
        lines.append(f"figures are medians of {runs} runs per rate, failures their sum")
    return "\n".join(lines)


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C does: through the clean-up of every process."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a short run: rates 10,40, fewer calls, one run per rate")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rates", default="20,40,70,85,100", help="calls/s, comma separated")
    parser.add_argument("--ref-rates", default="130,160",
                        help="further rates for the plain reference alone (\"\" for none)")
    parser.add_argument("--calls", type=int, default=30, help="least calls per step")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="a step lasts at least this long at its rate")
    parser.add_argument("--talk", type=float, default=2.0,
                        help="seconds from the key to the caller's BYE (queue wait + talk)")
    parser.add_argument("--min-talk", type=float, default=1.0,
                        help="shortest talk time at the highest rate (more agents if needed)")
    parser.add_argument("--menu", type=float, default=0.5,
                        help="seconds of menu before the caller presses 1")
    parser.add_argument("--occupancy", type=float, default=0.8,
                        help="most of the agents a rate may keep busy")
    parser.add_argument("--answer-delay", type=float, default=0.1,
                        help="seconds an agent's phone rings before it answers")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each kind per rate (the figures are their median)")
    parser.add_argument("--sipp", type=int, default=8,
                        help="SIPp caller processes side by side (each a share of the rate)")
    parser.add_argument("--rtp-port-count", type=int, default=4000)
    parser.add_argument("--log-level", default="INFO", help="pycc serve's log level")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the data directory and logs here (default: a temporary one)")
    parser.add_argument("--phones", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sip-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phones is not None:
        phones_main(args)
        return
    if args.quick:
        # Options given on the command line win over the quick run's.
        quick = {"rates": "10,40", "ref_rates": "", "calls": 20, "seconds": 2.0, "runs": 1}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    try:
        rates = [float(r) for r in args.rates.split(",")]
        ref_rates = [float(r) for r in args.ref_rates.split(",") if r.strip()]
    except ValueError as exc:
        parser.error(f"--rates / --ref-rates: {exc}")
    if args.agents < 1 or args.runs < 1 or any(r <= 0 for r in rates + ref_rates) \
            or not 1 <= args.sipp <= 50:
        parser.error("--agents, --rates and --runs must be positive, --sipp 1 to 50")
    if not 0 < args.occupancy <= 1 or args.min_talk <= 0 or args.talk < args.min_talk:
        parser.error("--occupancy must be in (0, 1], --talk at least --min-talk > 0")
    needed = agents_needed(rates, args)
    if needed > args.agents:
        print(f"# {needed} agents, for {max(rates):g} calls/s with {args.min_talk:g} s of talk",
              file=sys.stderr, flush=True)
        args.agents = needed
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pycc-inbound-")))
        else:
            work = args.workdir
            work.mkdir(parents=True, exist_ok=True)
        stack.enter_context(interrupts_as_exceptions())
        bench = Bench(work, args)
        stack.callback(bench.stop)
        bench.start()
        inbound: list[Step] = []
        plain: list[Step] = []
        for rate in rates:
            # The two kinds alternate, so that both see the same state of a noisy machine.
            runs: dict[str, list[Step]] = {"inbound": [], "plain": []}
            for _ in range(args.runs):
                for kind, steps in runs.items():
                    step = bench.run_step(kind, rate)
                    if kind == "inbound":
                        step.agents_reset = bench.make_ready(20.0)
                    print(json.dumps(asdict(step)), flush=True)
                    steps.append(step)
            inbound.append(median_step(runs["inbound"]))
            plain.append(median_step(runs["plain"]))
        for rate in ref_rates:
            # Beyond the inbound path's rates: where the plain calls stop keeping up.
            refs = [bench.run_step("plain", rate) for _ in range(args.runs)]
            for ref in refs:
                print(json.dumps(asdict(ref)), flush=True)
            plain.append(median_step(refs))
        bench.stop()
        if bench.phone_counts:
            rung = sum(bench.phone_counts.get("rung", {}).values())
            answered = sum(bench.phone_counts.get("answered", {}).values())
            print(f"# the phones rang {rung} times and answered {answered}", flush=True)
        print()
        print(report(inbound, plain, args.runs))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Every process was stopped on the way out; no traceback for an interrupted run.
        print("interrupted", file=sys.stderr)
        sys.exit(130)
