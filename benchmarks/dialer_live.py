"""A live outbound campaign: agents and customers through real SIP, predictive against progressive.

    python benchmarks/dialer_live.py [--quick] [--agents 10] [--contacts 200]
                                     [--modes predictive,progressive] [--talk 7] [--wrapup 3]
                                     [--seed 1] [--workdir DIR]

The issue's live target: 10 agents and 200 customers dialed by a predictive campaign through
real SIP on 127.0.0.1, with zero lost contacts, abandonment (abandoned / answered by a person)
at or under 3 % and the answer-to-agent time (customer's 200 OK to the agent's answer) under
500 ms at the 95th percentile. A progressive campaign (one line per idle agent) dials the same
customers in the same invocation, for comparison.

Set-up, the way an operator runs pycc: ``pycc init``, ``pycc apply`` (agents on extensions
2000, 2001, ... with the skill "sales"; the queue "outbound": longest idle, ring_timeout 5,
wrap-up ``--wrapup``; one trunk per campaign to its own SIPp; one campaign per mode, ring
time 15 s, retries busy {max 2, after 10} and abandoned {max 2, after 10}), ``pycc campaign
import`` of one CSV per campaign (the same customers), ``pycc serve``, ``pycc agent login``
for each agent, then per mode ``pycc campaign start`` ... ``pycc campaign status`` ...
``pycc campaign stop``.

The customers are one SIPp UAS per campaign (benchmarks/scenarios/dialer_customers.xml): each
number tells its customer what to do, drawn once from ``--seed``: answer after a lognormal
ring delay (mean ``--ring``), busy, never answer (the dialer cancels after its 15 s ring time),
decline (603) or be an invalid number (404), in the proportions of ``--mix``. The agents are
``pycc.ua.UserAgent`` phones in a process of their own (this script with ``--agents-process``,
so that they do not share pycc's CPU): they answer at once (``--answer-delay``), talk for a
lognormal time (mean ``--talk``, log-sigma ``--talk-sigma``) and hang up.

Measured per mode, from pycc's database (``DialerStore``), SIPp's message log and the agents:

- lost contacts: contacts not in a final state at the end (must be 0); attempts without a
  result (0); numbers whose SIPp INVITE count (distinct Call-IDs) differs from their attempts
  (0); numbers dialed more often than their behaviour and the retry rules allow (0);
  contacts whose final result does not fit their behaviour; calls reaching an agent twice;
- abandonment: abandoned / (connected + abandoned) over all attempts;
- answer-to-agent time from the attempts' ``answered`` and ``connected`` columns (p50, p95,
  max), beside the ``answer_to_agent_p95`` that ``pycc campaign status`` reports;
- agent occupancy: the agents' talk (answer to hang-up, from their phones) plus the queue's
  wrap-up, over agents x the campaign's span (first attempt to the last result);
- the span, calls connected per agent-hour, pycc's CPU over the run (100 % = one core, all
  threads, from /proc) and the agents' process CPU.

Run it as root in a namespace with only the loopback interface:

    unshare -n sh -c 'ip link set lo up; python benchmarks/dialer_live.py'

Every process it starts is stopped on the way out, on errors and on Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# The pycc of this checkout, here and in every process started (pycc serve, the agents).
sys.path[:0] = [str(SRC), str(ROOT / "tests")]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])

# The test peers live in tests/ (put on the path above), which mypy's default path lacks.
from peers.net import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    LOOPBACK,
    free_port,
    wait_port,
)
from peers.process import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    stop_process,
    tail,
    wait_until,
)
from peers.pycc_server import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    PYCC,
    run_cli,
)
from peers.sipp import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    SippProcess,
    SippResult,
    start_sipp,
)

SCENARIO = ROOT / "benchmarks" / "scenarios" / "dialer_customers.xml"
FIRST_AGENT = 2000
QUEUE = "outbound"
SKILL = "sales"
RING_TIME = 15.0
#: Retry rules of both campaigns: (result, max attempts, seconds before the next one).
RETRIES = (("busy", 2, 10.0), ("abandoned", 2, 10.0))
#: What a customer who answered hears when no agent is free (then pycc hangs up).
ABANDON_MESSAGE = "tts:All our agents are busy. We will call you back."
#: The customers' behaviours and the digit that tells SIPp (the number's last one).
BEHAVIOUR_DIGITS = {"busy": "0", "no_answer": "1", "rejected": "2", "invalid": "3"}
BEHAVIOURS = ("answer", "busy", "no_answer", "rejected", "invalid")
#: The result a contact of each behaviour must end with (an answering customer: either).
EXPECTED_RESULTS = {"answer": ("connected", "abandoned"), "busy": ("busy",),
                    "no_answer": ("no_answer",), "rejected": ("rejected",),
                    "invalid": ("invalid",)}
MAX_CONTACTS = 1000  # three digits of the number hold the contact's index
MAX_RING = 9.9  # two digits hold the ring delay in tenths of a second


def password(number: str) -> str:
    return f"bench-{number}"


def agent_numbers(count: int) -> list[str]:
    return [str(FIRST_AGENT + i) for i in range(count)]


def agent_id(number: str) -> str:
    return f"a{number}"


def campaign_name(mode: str) -> str:
    return f"live-{mode}"


# -- the customers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Customer:
    """One contact of the list: its number and what its SIPp customer does."""

    index: int
    number: str
    behaviour: str
    ring: float

    def allowed_attempts(self) -> range:
        """How many attempts the retry rules allow for this customer."""
        rules = {result: most for result, most, _after in RETRIES}
        if self.behaviour == "busy":
            return range(rules["busy"], rules["busy"] + 1)
        if self.behaviour == "answer":
            # Connected at the first attempt, or abandoned and dialed again.
            return range(1, rules["abandoned"] + 1)
        return range(1, 2)


def lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    """A lognormal draw with this mean (not median) and log-sigma."""
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2.0, sigma)


def parse_mix(text: str) -> dict[str, float]:
    """``answer=0.64,busy=0.14,...`` as shares of one (every behaviour named, summing to 1)."""
    shares: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {name!r} (one of {', '.join(BEHAVIOURS)})")
        try:
            shares[name] = float(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number") from None
        if not 0 <= shares[name] <= 1:
            raise ValueError(f"{name}: a share is between 0 and 1, not {value}")
    if abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"the shares add up to {sum(shares.values()):g}, not 1")
    return {name: shares.get(name, 0.0) for name in BEHAVIOURS}


def make_customers(count: int, mix: dict[str, float], ring_mean: float,
                   seed: int) -> list[Customer]:
    """``count`` customers drawn from ``seed``: each behaviour in its share of ``mix``
    (rounded, the rest answering), in random order, with lognormal ring delays."""
    rng = random.Random(seed)
    behaviours: list[str] = []
    for name in BEHAVIOURS[1:]:
        behaviours += [name] * round(mix[name] * count)
    behaviours = behaviours[:count]
    behaviours += ["answer"] * (count - len(behaviours))
    rng.shuffle(behaviours)
    customers = []
    for index, behaviour in enumerate(behaviours):
        ring = 0.0
        if behaviour in ("answer", "rejected"):
            ring = min(MAX_RING, max(0.3, lognormal(rng, ring_mean, 0.5)))
        tenths = round(ring * 10)
        digit = BEHAVIOUR_DIGITS.get(behaviour, str(4 + index % 6))
        # +1 212 5RR III B: a valid NANP number (exchange 5RR) that SIPp decodes.
        customers.append(Customer(index, f"+12125{tenths:02d}{index:03d}{digit}", behaviour,
                                  tenths / 10))
    return customers


def contacts_csv(customers: Sequence[Customer]) -> str:
    rows = ["id,phone,name,plan"]
    rows += [f"c{c.index:03d},{c.number},Customer {c.index},{c.behaviour}" for c in customers]
    return "\n".join(rows) + "\n"


def center_yaml(agents: int, wrapup: float, trunk_ports: dict[str, int]) -> str:
    """The ``pycc apply`` file: agents, the queue, one trunk and one campaign per mode."""
    numbers = agent_numbers(agents)
    lines = ["tenant: default", "extensions:"]
    lines += [f'  - {{number: "{n}", password: {password(n)}}}' for n in numbers]
    lines.append("agents:")
    lines += [f'  - {{id: {agent_id(n)}, extension: "{n}", skills: {{{SKILL}: 5}}}}'
              for n in numbers]
    lines += ["queues:",
              f"  - {{name: {QUEUE}, skill: {SKILL}, strategy: longest-idle, "
              f"ring_timeout: 5, wrapup: {wrapup:g}}}",
              "trunks:"]
    lines += [f'  - {{name: customers-{mode}, host: "{LOOPBACK}:{port}", '
              f"options_interval: 0, ips: []}}" for mode, port in trunk_ports.items()]
    retries = ", ".join(f"{result}: {{max: {most}, after: {after:g}}}"
                        for result, most, after in RETRIES)
    lines.append("campaigns:")
    for mode in trunk_ports:
        lines += [f"  - name: {campaign_name(mode)}",
                  f"    mode: {mode}",
                  *(["    dial_level: 1"] if mode == "progressive" else []),
                  f"    queue: {QUEUE}",
                  f"    trunk: customers-{mode}",
                  "    abandon_limit: 0.03",
                  '    caller_ids: ["+15551230000", "+15551230001"]',
                  f"    ring_time: {RING_TIME:g}",
                  f'    abandon_message: "{ABANDON_MESSAGE}"',
                  f"    retries: {{{retries}}}"]
    return "\n".join(lines) + "\n"


# -- the agents (a process of their own) ---------------------------------------------------------
def even_port_pair() -> int:
    """A free UDP port pair (even RTP port, RTCP above it) on the loopback."""
    while True:
        port = free_port("udp", count=2)
        if port % 2 == 0:
            return int(port)


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while True:
            sock.recv(2048)


async def run_agents(args: argparse.Namespace) -> None:
    """Register one auto-answering phone per agent; each call is talked through for a
    lognormal time and hung up. Prints ``ready``, then, once the standard input closes,
    one JSON list of every call."""
    from pycc.sip.address import Address
    from pycc.ua import Call, CallFailed, UserAgent

    loop = asyncio.get_running_loop()
    rng = random.Random(args.seed + 7919)
    # Whatever media pycc sends the agents lands in one socket pair that drops it.
    rtp_port = even_port_pair()
    sinks = []
    for port in (rtp_port, rtp_port + 1):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind((LOOPBACK, port))
        sink.setblocking(False)
        loop.add_reader(sink.fileno(), _drain, sink)
        sinks.append(sink)
    server = Address("udp", LOOPBACK, args.sip_port)
    calls: list[dict[str, Any]] = []
    busy: dict[str, int] = {}

    async def talk(ua: UserAgent, call: Call) -> None:
        invite = call.invite
        record: dict[str, Any] = {
            "agent": ua.username, "offered": time.time(), "answered": None, "ended": None,
            "ended_by": None, "overlap": busy.get(ua.username, 0) > 0,
            "phone": invite.headers.get("x-pycc-phone") if invite is not None else None,
            "campaign": invite.headers.get("x-pycc-campaign") if invite is not None else None,
        }
        calls.append(record)
        busy[ua.username] = busy.get(ua.username, 0) + 1
        try:
            await call.wait_answered(args.answer_delay + 10.0)
            record["answered"] = time.time()
            seconds = max(1.0, lognormal(rng, args.talk, args.talk_sigma))
            with contextlib.suppress(TimeoutError):
                await call.wait_ended(seconds)
            if not call.ended.is_set():
                await call.hangup(5.0)
            record["ended_by"] = call.ended_by or "local"
        except (TimeoutError, CallFailed):
            record["ended_by"] = "not answered"
        finally:
            record["ended"] = time.time()
            busy[ua.username] -= 1

    async def serve(ua: UserAgent) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while True:
            call = await ua.next_call(None)
            task = asyncio.create_task(talk(ua, call))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async with contextlib.AsyncExitStack() as stack:
        agents = []
        for number in args.agents_process.split(","):
            ua = UserAgent(number, password(number), server=server, auto_answer=True,
                           answer_delay=args.answer_delay, rtp_port=rtp_port)
            agents.append(await stack.enter_async_context(ua))
        await asyncio.gather(*(ua.register(expires=3600) for ua in agents))
        servers = [asyncio.create_task(serve(ua)) for ua in agents]
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.buffer.read)
        for task in servers:
            task.cancel()
        print(json.dumps(calls), flush=True)
    for sink in sinks:
        loop.remove_reader(sink.fileno())
        sink.close()


def agents_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.run(run_agents(args))
    except ImportError:
        asyncio.run(run_agents(args))


# -- measuring -----------------------------------------------------------------------------------
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


_MESSAGE_SPLIT = re.compile(r"^-{5,}.*$", re.MULTILINE)
_INVITE = re.compile(r"^INVITE sip:(\+?\d+)@", re.MULTILINE)
_CALL_ID = re.compile(r"^(?:Call-ID|i):\s*(\S+)", re.MULTILINE | re.IGNORECASE)


def invites_per_number(messages_log: Path) -> tuple[Counter[str], int]:
    """Distinct INVITEs (Call-IDs) SIPp received per number, and the retransmissions seen."""
    text = messages_log.read_text(encoding="utf-8", errors="replace")
    seen: set[tuple[str, str]] = set()
    total = 0
    for block in _MESSAGE_SPLIT.split(text):
        invite = _INVITE.search(block)
        if invite is None:
            continue
        call_id = _CALL_ID.search(block)
        total += 1
        seen.add((invite.group(1), call_id.group(1) if call_id else f"?{total}"))
    counts: Counter[str] = Counter(number for number, _call in seen)
    return counts, total - len(seen)


@dataclass
class Dialed:
    """One campaign dialed to its end: what is known before the agents report."""

    mode: str
    status: dict[str, Any]
    sipp: SippResult
    cpu_share: float
    agents_share: float
    finished: bool


@dataclass
class Run:
    """One campaign dialed to its end, and what was measured."""

    mode: str
    contacts: int
    attempts: int
    lost_contacts: int
    attempts_without_result: int
    invite_mismatches: int
    invite_retransmissions: int
    unexpected_attempts: int
    unexpected_results: int
    double_connects: int
    results: dict[str, int]
    answered: int
    connected: int
    abandoned: int
    abandon_rate: float
    a2a_p50_ms: float | None
    a2a_p95_ms: float | None
    a2a_max_ms: float | None
    status_p95_ms: float | None
    occupancy: float
    agent_calls: int
    agent_calls_unanswered: int
    agent_calls_overlapping: int
    agent_calls_ended_by_pycc: int
    span_s: float
    connects_per_agent_hour: float
    pycc_cpu_percent: float
    agents_cpu_percent: float
    sipp_failed: int
    notes: list[str] = field(default_factory=list)


class Bench:
    """pycc serve, the agents' process and the SIPp customers of one invocation."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.data_dir = work / "data"
        self.modes: list[str] = args.modes
        self.customers = make_customers(args.contacts, args.mix, args.ring, args.seed)
        self.server: subprocess.Popen[bytes] | None = None
        self.agents: subprocess.Popen[bytes] | None = None
        self.sipps: list[SippProcess] = []
        self.sip_port = 0
        self.trunk_ports = {mode: free_port("both") for mode in self.modes}
        self.agent_calls: list[dict[str, Any]] = []

    # -- set-up and tear-down --------------------------------------------------------------
    def start(self) -> None:
        self._provision()
        self._serve()
        self._start_agents()
        self._login()

    def _cli(self, *argv: str, timeout: float = 60.0) -> str:
        done = run_cli([*argv, "--data-dir", str(self.data_dir)], timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"pycc {' '.join(argv)} failed: {done.stderr}{done.stdout}")
        return str(done.stdout)

    def _provision(self) -> None:
        done = run_cli(["init", "--data-dir", str(self.data_dir)])
        if done.returncode != 0:
            raise RuntimeError(f"pycc init failed: {done.stderr}")
        center = self.work / "center.yaml"
        center.write_text(center_yaml(self.args.agents, self.args.wrapup, self.trunk_ports),
                          encoding="utf-8")
        self._cli("apply", str(center))
        contacts = self.work / "contacts.csv"
        contacts.write_text(contacts_csv(self.customers), encoding="utf-8")
        for mode in self.modes:
            out = self._cli("campaign", "import", campaign_name(mode), str(contacts))
            print(f"# {campaign_name(mode)}: {out.strip().splitlines()[-1] if out else ''}",
                  file=sys.stderr, flush=True)

    def _serve(self) -> None:
        self.sip_port, sips_port = free_port("both"), free_port("tcp")
        first = free_port("udp", count=400)
        argv = [*PYCC, "serve", "--http-port", "0", "--data-dir", str(self.data_dir),
                "--bind", LOOPBACK,
                "--sip-port", str(self.sip_port), "--sips-port", str(sips_port),
                "--rtp-ports", f"{first}-{first + 399}", "--log-level", self.args.log_level]
        with (self.work / "pycc.log").open("wb") as log:
            self.server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_port(sips_port, 30.0)
        except TimeoutError:
            raise RuntimeError(f"pycc serve did not start:\n{self.log()}") from None

    def _start_agents(self) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()),
                "--agents-process", ",".join(agent_numbers(self.args.agents)),
                "--sip-port", str(self.sip_port), "--answer-delay", str(self.args.answer_delay),
                "--talk", str(self.args.talk), "--talk-sigma", str(self.args.talk_sigma),
                "--seed", str(self.args.seed)]
        with (self.work / "agents.log").open("wb") as log:
            self.agents = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=log, start_new_session=True)
        assert self.agents.stdout is not None
        ready, _, _ = select.select([self.agents.stdout], [], [], 60.0)
        line = self.agents.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise RuntimeError("the agents did not register:\n"
                               + tail(self.work / "agents.log") + "\n" + self.log())

    def _login(self) -> None:
        for number in agent_numbers(self.args.agents):
            self._cli("agent", "login", agent_id(number))
        if not self.agents_idle(15.0):
            raise RuntimeError("the agents are not available after logging in")

    def stop(self) -> None:
        for sipp in self.sipps:
            sipp.stop()
        self.sipps.clear()
        if self.agents is not None:
            if self.agents.poll() is None:
                # Closing its standard input ends the process, which prints its calls as the
                # last line: read while it writes (more than a pipe holds for long lists).
                with contextlib.suppress(subprocess.TimeoutExpired, OSError, ValueError,
                                         IndexError):
                    out, _err = self.agents.communicate(timeout=30.0)
                    self.agent_calls = json.loads(out.splitlines()[-1])
            stop_process(self.agents)
            self.agents = None
        if self.server is not None:
            stop_process(self.server, grace=15.0)
            self.server = None

    def log(self) -> str:
        return str(tail(self.work / "pycc.log"))

    # -- state -------------------------------------------------------------------------------
    def agents_idle(self, timeout: float) -> bool:
        """Wait until every agent is available and idle."""
        from pycc.ctl import request

        def idle() -> bool:
            state = request(self.data_dir, "status")
            agents = state.get("agents", [])
            return bool(len(agents) == self.args.agents and all(
                (a["status"], a["state"]) == ("available", "idle") for a in agents))

        return bool(wait_until(idle, timeout, interval=0.3))

    def contacts_done(self, name: str) -> bool:
        from pycc.pds.store import DialerStore
        from pycc.store import Store, make_url

        with Store(make_url(self.data_dir, None)) as store:
            status = DialerStore(store, "default").campaign_status(name)
        return status["total"] == len(self.customers) and status["done"] == status["total"]

    # -- one campaign ------------------------------------------------------------------------
    def run(self, mode: str) -> Dialed:
        """Dial ``mode``'s campaign to its end against a fresh SIPp."""
        assert self.server is not None and self.agents is not None
        name = campaign_name(mode)
        run_dir = self.work / mode
        run_dir.mkdir()
        sipp = start_sipp(
            SCENARIO, None, local_port=self.trunk_ports[mode], calls=None, rate=None,
            timeout=None, recv_timeout_ms=600_000, trace_messages=True, workdir=run_dir,
            extra_args=["-mp", str(free_port("udp", count=4))])
        self.sipps.append(sipp)
        if not self.agents_idle(60.0):
            print("# some agents are not idle before the run", file=sys.stderr, flush=True)
        before, agents_before = cpu_seconds(self.server.pid), cpu_seconds(self.agents.pid)
        started = time.monotonic()
        print(json.dumps({"campaign": name, "start": json.loads(
            self._cli("campaign", "start", name))}), flush=True)
        finished = wait_until(lambda: self.contacts_done(name), self.args.run_timeout, 0.5)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(self.server.pid) - before
        agents_cpu = cpu_seconds(self.agents.pid) - agents_before
        status = json.loads(self._cli("campaign", "status", name))
        self._cli("campaign", "stop", name)
        print(json.dumps({"campaign": name, "status": status}), flush=True)
        if not self.agents_idle(60.0):
            print("# some agents are still busy after the run", file=sys.stderr, flush=True)
        result = sipp.stop()
        self.sipps.remove(sipp)
        return Dialed(mode, status, result, cpu / elapsed, agents_cpu / elapsed, finished)

    def measure(self, dialed: Dialed) -> Run:
        """The figures of a dialed campaign from pycc's database, SIPp's message log and
        the agents' calls (known once their process has ended)."""
        from pycc.pds.store import DialerStore
        from pycc.store import Store, make_url

        mode, status, sipp = dialed.mode, dialed.status, dialed.sipp
        name = campaign_name(mode)
        with Store(make_url(self.data_dir, None)) as store:
            dialer = DialerStore(store, "default")
            contacts = dialer.contacts(name)
            attempts = dialer.attempts(name)
        by_number = {c.number: c for c in self.customers}
        per_number = Counter(a.number for a in attempts)
        invites, retransmissions = invites_per_number(sipp.workdir / "messages.log")
        numbers = set(per_number) | set(invites)
        unexpected_attempts = sum(
            1 for c in self.customers if per_number[c.number] not in c.allowed_attempts())
        unexpected_results = sum(
            1 for c in contacts if c.state == "done" and c.phone in by_number
            and c.result not in EXPECTED_RESULTS[by_number[c.phone].behaviour])
        connects = Counter(a.number for a in attempts if a.result == "connected")
        results = Counter(a.result or "none" for a in attempts)
        connected, abandoned = results["connected"], results["abandoned"]
        waits = [a.connected - a.answered for a in attempts
                 if a.result == "connected" and a.connected is not None
                 and a.answered is not None]
        starts = [a.started for a in attempts]
        ends = [a.ended for a in attempts if a.ended is not None]
        span_start = min(starts) if starts else 0.0
        span_end = max(ends) if ends else span_start
        span = max(span_end - span_start, 1e-9)
        # The agents' side: their talk plus the queue's wrap-up within the span.
        calls = [c for c in self.agent_calls if c.get("campaign") == name]
        busy = 0.0
        for call in calls:
            if call["answered"] is not None and call["ended"] is not None:
                end = min(span_end, call["ended"] + self.args.wrapup)
                busy += max(0.0, end - max(span_start, call["answered"]))
        agent_phones = Counter(c["phone"] for c in calls if c["answered"] is not None)
        notes = [] if dialed.finished else [f"not done after {self.args.run_timeout:g} s"]
        if agent_phones != connects:
            notes.append(f"the agents answered {sum(agent_phones.values())} calls, "
                         f"{sum(connects.values())} attempts are connected")
        p95_status = status.get("answer_to_agent_p95")

        def ms(value: float | None) -> float | None:
            return None if value is None else round(1000 * value, 1)

        return Run(
            mode=mode, contacts=len(contacts), attempts=len(attempts),
            lost_contacts=sum(1 for c in contacts if c.state != "done")
            + max(0, len(self.customers) - len(contacts)),
            attempts_without_result=sum(1 for a in attempts
                                        if not a.result or a.ended is None),
            invite_mismatches=sum(1 for n in numbers if invites[n] != per_number[n]),
            invite_retransmissions=retransmissions,
            unexpected_attempts=unexpected_attempts,
            unexpected_results=unexpected_results,
            double_connects=sum(1 for count in connects.values() if count > 1),
            results=dict(sorted(results.items())),
            answered=connected + abandoned, connected=connected, abandoned=abandoned,
            abandon_rate=round(abandoned / (connected + abandoned), 4)
            if connected + abandoned else 0.0,
            a2a_p50_ms=ms(percentile(waits, 0.5)), a2a_p95_ms=ms(percentile(waits, 0.95)),
            a2a_max_ms=ms(max(waits) if waits else None),
            status_p95_ms=ms(float(p95_status)) if p95_status is not None else None,
            occupancy=round(busy / (self.args.agents * span), 4),
            agent_calls=sum(1 for c in calls if c["answered"] is not None),
            agent_calls_unanswered=sum(1 for c in calls if c["answered"] is None),
            agent_calls_overlapping=sum(1 for c in calls if c["overlap"]),
            agent_calls_ended_by_pycc=sum(1 for c in calls if c["ended_by"] == "remote"),
            span_s=round(span, 1),
            connects_per_agent_hour=round(connected * 3600 / (self.args.agents * span), 1),
            pycc_cpu_percent=round(100 * dialed.cpu_share, 1),
            agents_cpu_percent=round(100 * dialed.agents_share, 1),
            sipp_failed=sipp.failed, notes=notes)

    def errors_logged(self) -> list[str]:
        """pycc's ERROR lines and tracebacks, for the report."""
        try:
            text = (self.work / "pycc.log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines()
                if " ERROR " in line or line.startswith("Traceback")]


# -- the report ----------------------------------------------------------------------------------
def cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def report(runs: list[Run], args: argparse.Namespace) -> str:
    """A Markdown table with one column per mode, and the targets under it."""
    rows: list[tuple[str, list[str]]] = [
        ("contacts / attempts", [f"{r.contacts} / {r.attempts}" for r in runs]),
        ("lost contacts (not in a final state)", [str(r.lost_contacts) for r in runs]),
        ("attempts without a result", [str(r.attempts_without_result) for r in runs]),
        ("numbers whose SIPp INVITEs differ from their attempts",
         [str(r.invite_mismatches) for r in runs]),
        ("numbers dialed more often than the retry rules allow",
         [str(r.unexpected_attempts) for r in runs]),
        ("contacts whose result does not fit the customer",
         [str(r.unexpected_results) for r in runs]),
        ("contacts connected twice", [str(r.double_connects) for r in runs]),
        ("agents' calls: answered / not answered / offered during a call / ended by pycc",
         [f"{r.agent_calls} / {r.agent_calls_unanswered} / {r.agent_calls_overlapping} / "
          f"{r.agent_calls_ended_by_pycc}" for r in runs]),
        ("attempts by result", [", ".join(f"{k} {v}" for k, v in r.results.items())
                                for r in runs]),
        ("answered by a person (connected + abandoned)", [str(r.answered) for r in runs]),
        ("abandoned / answered", [f"{r.abandoned} / {r.answered} = {100 * r.abandon_rate:.2f} %"
                                  for r in runs]),
        ("answer to agent p50 / p95 / max, ms (attempts)",
         [f"{cell(r.a2a_p50_ms)} / {cell(r.a2a_p95_ms)} / {cell(r.a2a_max_ms)}" for r in runs]),
        ("answer to agent p95, ms (campaign status)", [cell(r.status_p95_ms) for r in runs]),
        ("agent occupancy (talk + wrap-up over the span)",
         [f"{100 * r.occupancy:.1f} %" for r in runs]),
        ("span: first attempt to last result", [f"{r.span_s:g} s" for r in runs]),
        ("connected calls per agent-hour", [f"{r.connects_per_agent_hour:g}" for r in runs]),
        ("pycc CPU over the run (100 % = one core)",
         [f"{r.pycc_cpu_percent:g} %" for r in runs]),
        ("agents' process CPU", [f"{r.agents_cpu_percent:g} %" for r in runs]),
    ]
    lines = ["| | " + " | ".join(r.mode for r in runs) + " |",
             "| --- |" + " ---: |" * len(runs)]
    lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]
    lines.append("")
    for r in runs:
        lost = r.lost_contacts + r.attempts_without_result + r.invite_mismatches \
            + r.unexpected_attempts + r.double_connects
        verdicts = [
            f"zero lost contacts {'met' if lost == 0 else 'NOT met'}",
            f"abandonment <= 3 % {'met' if r.abandon_rate <= 0.03 else 'NOT met'}",
            "answer-to-agent p95 < 500 ms "
            + ("met" if r.a2a_p95_ms is not None and r.a2a_p95_ms < 500 else "NOT met"),
        ]
        lines.append(f"{r.mode}: " + "; ".join(verdicts)
                     + (f" ({'; '.join(r.notes)})" if r.notes else ""))
    lines.append(f"{args.agents} agents, {args.contacts} contacts, talk mean {args.talk:g} s, "
                 f"wrap-up {args.wrapup:g} s, ring mean {args.ring:g} s, seed {args.seed}")
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 5 agents, 60 contacts, 4 s talks, 1 s wrap-up")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--modes", default="predictive,progressive",
                        help="dial modes, one campaign each, dialed in this order")
    parser.add_argument("--talk", type=float, default=7.0, help="agents' mean talk time, s")
    parser.add_argument("--talk-sigma", type=float, default=0.5,
                        help="log-sigma of the lognormal talk time")
    parser.add_argument("--wrapup", type=float, default=3.0, help="the queue's wrap-up, s")
    parser.add_argument("--ring", type=float, default=4.0,
                        help="mean ring delay of answering customers, s (at most 9.9)")
    parser.add_argument("--mix", default="answer=0.64,busy=0.14,no_answer=0.1,rejected=0.06,"
                                         "invalid=0.06",
                        help="shares of the customers' behaviours")
    parser.add_argument("--answer-delay", type=float, default=0.0,
                        help="seconds an agent's phone rings before it answers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-timeout", type=float, default=900.0,
                        help="longest wait for a campaign's contacts to be done, s")
    parser.add_argument("--log-level", default="INFO", help="pycc serve's log level")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the data directory and logs here (default: a temporary one)")
    parser.add_argument("--agents-process", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sip-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agents_process is not None:
        agents_main(args)
        return
    if args.quick:
        # Options given on the command line win over the quick run's.
        quick = {"agents": 5, "contacts": 60, "talk": 4.0, "wrapup": 1.0}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    try:
        args.mix = parse_mix(args.mix)
    except ValueError as exc:
        parser.error(f"--mix: {exc}")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    from pycc.pds.campaign import MODES

    for mode in args.modes:
        if mode not in MODES or mode == "preview":
            parser.error(f"--modes: {mode!r} is not a dial mode that dials by itself "
                         f"({', '.join(m for m in MODES if m != 'preview')})")
    if not args.modes or len(set(args.modes)) != len(args.modes):
        parser.error("--modes: give each mode once")
    if not 1 <= args.agents <= 200 or not 1 <= args.contacts <= MAX_CONTACTS:
        parser.error(f"--agents must be 1 to 200, --contacts 1 to {MAX_CONTACTS}")
    if args.talk <= 0 or args.talk_sigma < 0 or args.wrapup < 0 or args.answer_delay < 0:
        parser.error("--talk must be positive; --talk-sigma, --wrapup and --answer-delay "
                     "not negative")
    if not 0 < args.ring <= MAX_RING or args.run_timeout <= 0:
        parser.error(f"--ring must be in (0, {MAX_RING:g}], --run-timeout positive")
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pycc-dialer-")))
        else:
            work = args.workdir
            work.mkdir(parents=True, exist_ok=True)
            if any(work.iterdir()):
                parser.error(f"--workdir: {work} is not empty")
        stack.enter_context(interrupts_as_exceptions())
        bench = Bench(work, args)
        stack.callback(bench.stop)
        wall = time.monotonic()
        bench.start()
        dialed = [bench.run(mode) for mode in args.modes]
        bench.stop()
        runs = [bench.measure(one) for one in dialed]
        for run in runs:
            print(json.dumps(asdict(run)), flush=True)
        errors = bench.errors_logged()
        print()
        print(report(runs, args))
        print(f"pycc logged {len(errors)} ERROR lines or tracebacks"
              + (f"; first: {errors[0]}" if errors else ""))
        print(f"whole invocation: {time.monotonic() - wall:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Every process was stopped on the way out; no traceback for an interrupted run.
        print("interrupted", file=sys.stderr)
        sys.exit(130)
