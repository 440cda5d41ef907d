"""Admin API latency under call load: a fixed request rate while 100 calls are up.

    python benchmarks/api_load.py [--quick] [--rate 200] [--calls 100] [--media echo|relay]
                                  [--runs 3] [--seconds 20] [--warmup 3] [--clients 1]
                                  [--http-client raw|httpx] [--profile] [--workdir DIR]

The issue's target: the admin API answers with a p99 latency under 50 ms at 200 requests per
second while 100 calls are active.

Set-up, the way an operator runs pycc, on 127.0.0.1 only: ``pycc init``; ``pycc apply`` of a
small call center (``--agents`` agents on extensions 2000, 2001, ... in the queue "sales";
a trunk "carrier" and a campaign "spring" on the queue; caller extensions from 3000);
``pycc campaign import`` of ``--contacts`` contacts into "spring"; ``--records`` call records
written to the database (so that ``/v1/records`` has pages); ``pycc admin user add`` of an
admin and ``pycc admin token create`` of its token; then ``pycc serve`` on free ports with
``--http-port 0`` (the bound port is read from its "pycc serving ... http=HOST:PORT" line).
The agents are logged in and made ready through the API.

The calls: one SIPp (benchmarks/scenarios/api_load_caller.xml) places ``--calls`` calls, each
from its own extension with digest authentication, and keeps them up, sending 20 ms PCMU
packets (a capture this script writes, replayed over and over). With ``--media echo`` (the
default) they call 9196, the echo test ``pycc init`` configures: pycc decodes, mixes and
encodes every packet back (50 packets/s each way per call). With ``--media relay`` they call
extension 1900, a SIPp (benchmarks/scenarios/api_load_callee.xml, registered from its port)
that answers and sends every packet back (``-rtp_echo``): pycc relays both ways (100 packets/s
in and out per call). Before measuring, ``GET /v1/calls`` must list every call answered, and
afterwards still; then each call is hung up with ``DELETE /v1/calls/{id}`` and SIPp must
count every call as completed.

The load is open-loop: request k is due at start + k / ``--rate`` whatever happened to the
ones before it, and its latency is measured from that due time to the end of its response,
so a server (or a client) that falls behind shows in the figures instead of slowing the
load down. ``--clients`` processes (this script with ``--client``: asyncio and uvloop, at
most ``--connections`` keep-alive connections each) share the schedule. Their HTTP is a
small HTTP/1.1 client on asyncio streams by default; ``--http-client httpx`` uses
``httpx.AsyncClient`` instead, which here costs 2 to 3 ms of CPU per request: at 200
requests/s on two cores shared with pycc and SIPp, that load generator, not pycc, set the
figures. The mix repeats every
20 requests: 3 ``GET /v1/agents``, 2 ``GET /v1/queues``, 3 ``GET /v1/calls``, 2
``GET /v1/campaigns``, 3 ``GET /v1/records?limit=50`` (the first page or a later one by
cursor), 2 ``GET /v1/me``, 2 ``POST /v1/agents/{id}/state`` (each agent in turn made not
ready, then ready again; 200 expected) and 3 ``GET /health``. Any answer but 200 counts as
an error. The first ``--warmup`` seconds of each run are not counted.

Each run of the load with the calls up alternates with a reference run of the same load with
no call up, against the same pycc, ``--runs`` times; the figures are medians over the runs
(errors their sum): latency p50/p95/p99/max, the rate achieved (requests sent per second,
and the lag of a send behind its due time), pycc's CPU over the measured window (/proc,
100 % = one core, all threads) and with the calls up but no request, RTP packets pycc
received per second (its metrics), the load generators' CPU, and how busy the machine was
(the 1-minute load average, and the share of the window pycc's event loop was runnable but
waiting for a CPU, from /proc/PID/schedstat). Per operation, p50/p99 over all runs. The
last lines give the errors by kind, p99 with calls over p99 without, and whether the target
was met.

Run it as root in a namespace with only the loopback interface:

    unshare -n sh -c 'ip link set lo up; python benchmarks/api_load.py'

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
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# The pycc of this checkout, here and in every process started (pycc serve, the clients).
sys.path[:0] = [str(SRC), str(ROOT / "tests")]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])

# The test peers live in tests/ (put on the path above), which mypy's default path lacks.
from peers.net import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    LOOPBACK,
    free_port,
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
    SipAccount,
    SippProcess,
    start_sipp,
    start_sipp_uas,
    write_credentials,
)

SCENARIO = ROOT / "benchmarks" / "scenarios" / "api_load_caller.xml"
CALLEE_SCENARIO = ROOT / "benchmarks" / "scenarios" / "api_load_callee.xml"
#: The capture the scenario replays: written into the work directory beside a copy of the
#: scenario, where SIPp looks for it.
CAPTURE = "api_load_rtp.pcap"
CAPTURE_SECONDS = 10.0
ECHO_NUMBER = "9196"
#: The extension the calls go to with ``--media relay`` (a SIPp that echoes the RTP back).
CALLEE = "1900"
FIRST_AGENT = 2000
FIRST_CALLER = 3000
QUEUE = "sales"
CAMPAIGN = "spring"
ADMIN = "bench"
#: pycc settings for a load test: every SIPp request comes from one address, which the
#: default per-source limits (500 requests/s, ban after 10 challenges) would throttle.
SERVER_SETTINGS = {"rate_limit": 1e6, "rate_burst": 1e6, "ban_failures": 1_000_000}
#: One cycle of the request mix: (operation, how many of each 20 requests).
MIX = (("agents", 3), ("queues", 2), ("calls", 3), ("campaigns", 2), ("records", 3),
       ("me", 2), ("agent_state", 2), ("health", 3))
OPERATIONS = tuple(name for name, _ in MIX)


def password(number: str) -> str:
    return f"bench-{number}"


def agent_numbers(count: int) -> list[str]:
    return [str(FIRST_AGENT + i) for i in range(count)]


def caller_numbers(count: int) -> list[str]:
    return [str(FIRST_CALLER + i) for i in range(count)]


def agent_id(number: str) -> str:
    return f"a{number}"


def center_yaml(agents: int, callers: int, trunk_port: int) -> str:
    """The ``pycc apply`` file: agents, callers, the queue, a trunk and a campaign."""
    numbers = [CALLEE, *agent_numbers(agents), *caller_numbers(callers)]
    lines = ["tenant: default", "extensions:"]
    lines += [f'  - {{number: "{n}", password: {password(n)}}}' for n in numbers]
    lines.append("agents:")
    lines += [f'  - {{id: {agent_id(n)}, extension: "{n}", skills: {{{QUEUE}: 5}}}}'
              for n in agent_numbers(agents)]
    lines += [
        "queues:",
        f"  - {{name: {QUEUE}, skill: {QUEUE}, strategy: longest-idle, ring_timeout: 15, "
        "wrapup: 5, max_wait: 300, music: tone:hold}",
        "trunks:",
        # Nothing answers there: the campaign is never started, and no OPTIONS are sent.
        f'  - {{name: carrier, host: "{LOOPBACK}:{trunk_port}", register: false, '
        "options_interval: 0, ips: []}",
        "campaigns:",
        f"  - name: {CAMPAIGN}",
        "    mode: predictive",
        f"    queue: {QUEUE}",
        "    trunk: carrier",
        "    abandon_limit: 0.03",
        '    caller_ids: ["+15551230000"]',
        "    retries: {busy: {max: 3, after: 600}, no_answer: {max: 2, after: 3600}}",
    ]
    return "\n".join(lines) + "\n"


def contacts_csv(count: int) -> str:
    rows = ["id,phone,name"]
    rows += [f"c{i:05d},+1212555{i:04d},Customer {i}" for i in range(count)]
    return "\n".join(rows) + "\n"


def call_records(tenant_id: int, count: int, agents: int, now: float) -> list[dict[str, Any]]:
    """``count`` closed call records of the last days, answered by the agents in turn."""
    rng = random.Random(7)
    records = []
    for i in range(count):
        start = now - 86400 * 3 + i * 30.0
        talk = rng.uniform(20, 400)
        agent = agent_id(agent_numbers(agents)[i % agents])
        records.append({
            "tenant_id": tenant_id, "call_id": f"bench-{i}@pycc", "caller": f"+1212555{i:04d}",
            "callee": "8000", "direction": "inbound", "start": start, "ring": start + 0.2,
            "answer": start + 8.0, "end": start + 8.0 + talk, "disposition": "answered",
            "hangup_cause": "200 BYE", "hangup_by": "caller", "sip_status": 200,
            "duration": talk, "node": "bench", "state": "closed", "queue": QUEUE,
            "queue_wait": 7.0, "agent": agent, "agent_answer": start + 8.0,
            "talk_seconds": talk, "codec_caller": "PCMU/8000", "codec_callee": "PCMU/8000",
        })
    return records


# -- the RTP the callers send --------------------------------------------------------------------
def rtp_capture(seconds: float) -> bytes:
    """A pcap file of one PCMU stream in 20 ms packets (a wavering tone, as a voice would
    keep the decoder and the mixer busy): Ethernet, IPv4, UDP and RTP, which SIPp replays to
    the address in pycc's answer."""
    import numpy as np

    from pycc.codecs.g711 import ulaw_encode

    frames = round(seconds * 50)
    t = np.arange(frames * 160) / 8000.0
    pitch = 180.0 + 60.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 8000.0
    level = 6000.0 * (0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t))
    pcm = (level * np.sin(phase)).astype(np.int16)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n in range(frames):
        payload = ulaw_encode(pcm[n * 160:(n + 1) * 160])
        rtp = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, n, n * 160, 0x5EED0001)
        udp_len = 8 + len(rtp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, n, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        udp = struct.pack("!HHHH", 40000, 40002, udp_len, 0)
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp + rtp + payload
        seconds_at, micros = divmod(n * 20_000, 1_000_000)
        out.append(struct.pack("<IIII", seconds_at, micros, len(frame), len(frame)) + frame)
    return b"".join(out)


# -- the load generator (a process of its own) ---------------------------------------------------
@dataclass
class Plan:
    """What every client process does: the shared schedule and the requests' targets."""

    base_url: str
    token: str
    rate: float
    #: time.monotonic() of request 0 (the clock is the same in every process).
    start: float
    warmup: float
    seconds: float
    clients: int
    agents: list[str]
    cursors: list[str]
    seed: int
    connections: int
    timeout: float
    http_client: str


def mix_cycle(seed: int) -> list[str]:
    """The operations of one cycle of 20 requests, in a fixed shuffled order."""
    cycle = [name for name, count in MIX for _ in range(count)]
    random.Random(seed).shuffle(cycle)
    return cycle


def request_for(k: int, plan: Plan, cycle: list[str]) -> tuple[str, str, str, Any]:
    """Request k of the schedule: (operation, method, path, JSON body or query)."""
    op = cycle[k % len(cycle)]
    if op == "agent_state":
        # The n-th state change of the schedule goes to agent n mod A; each agent is made
        # not ready, then ready again, so every change is one the agent accepts.
        per_cycle = cycle.count("agent_state")
        n = (k // len(cycle)) * per_cycle + cycle[:k % len(cycle)].count("agent_state")
        agent = plan.agents[n % len(plan.agents)]
        action = "not_ready" if (n // len(plan.agents)) % 2 == 0 else "ready"
        return op, "POST", f"/v1/agents/{agent}/state", {"action": action, "reason": "break"}
    if op == "records":
        cursor = plan.cursors[(k // len(cycle)) % len(plan.cursors)]
        return op, "GET", "/v1/records", {"limit": 50, **({"after": cursor} if cursor else {})}
    path = {"agents": "/v1/agents", "queues": "/v1/queues", "calls": "/v1/calls",
            "campaigns": "/v1/campaigns", "me": "/v1/me", "health": "/health"}[op]
    return op, "GET", path, None


class Answer(Exception):
    """A request that got no usable answer (the reason is the message)."""


class Closed(Answer):
    """The connection was closed before any byte of an answer came."""


class RawHttp:
    """Keep-alive HTTP/1.1 connections to pycc on asyncio streams: a request takes an idle
    connection or opens one. It costs a few per cent of httpx's CPU per request, which
    matters when the load generator shares two cores with pycc."""

    def __init__(self, base_url: str, token: str) -> None:
        address = base_url.removeprefix("http://").rstrip("/")
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.fixed = (f"Host: {address}\r\nAuthorization: Bearer {token}\r\n"
                      "Accept: application/json\r\n")
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, extra: Any) -> tuple[int, bytes]:
        body = b""
        head = f"{method} {path}"
        if method == "GET" and extra:
            head += "?" + urllib.parse.urlencode(extra)
        head += " HTTP/1.1\r\n" + self.fixed
        if method == "POST":
            body = json.dumps(extra).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        message = head.encode() + b"\r\n" + body
        while True:
            reused = bool(self.idle)
            if reused:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(message)
                status, keep, answer = await self._response(reader)
                break
            except (Closed, ConnectionError):
                writer.close()
                # The server closed an idle keep-alive connection as this request went out
                # on it (uvicorn does after 5 s): send it again on a new one.
                if not reused:
                    raise
            except BaseException:
                writer.close()
                raise
        if keep:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return status, answer

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
        try:
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise Closed("connection closed before an answer") from None
            raise Answer("connection closed in the middle of an answer") from None
        except asyncio.LimitOverrunError:
            raise Answer("answer head too long") from None
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip().lower()
        if fields.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size + 2))
            await reader.readuntil(b"\r\n")
            answer = b"".join(c[:-2] for c in chunks)
        else:
            answer = await reader.readexactly(int(fields.get("content-length", "0")))
        return status, fields.get("connection") != "close", answer

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


class HttpxHttp:
    """The same requests through ``httpx.AsyncClient`` (``--http-client httpx``)."""

    def __init__(self, base_url: str, token: str, connections: int, timeout: float) -> None:
        import httpx

        limits = httpx.Limits(max_connections=connections,
                              max_keepalive_connections=connections)
        self.client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
            timeout=httpx.Timeout(timeout))
        self.errors: tuple[type[Exception], ...] = (httpx.HTTPError,)

    async def request(self, method: str, path: str, extra: Any) -> tuple[int, bytes]:
        if method == "POST":
            response = await self.client.post(path, json=extra)
        else:
            response = await self.client.get(path, params=extra)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


async def drive(plan: Plan, index: int) -> dict[str, Any]:
    """Send this client's share of the schedule (requests index, index + clients, ...) and
    return, for the requests due after the warm-up, [operation, due offset s, latency ms,
    status (0: no answer), send lag ms]."""
    cycle = mix_cycle(plan.seed)
    total = math.floor(plan.rate * (plan.warmup + plan.seconds))
    measured_from = plan.start + plan.warmup
    results: list[list[Any]] = []
    failures: dict[str, int] = {}
    http: RawHttp | HttpxHttp
    errors: tuple[type[Exception], ...] = (OSError, Answer, ValueError, IndexError,
                                           TimeoutError)
    if plan.http_client == "httpx":
        http = HttpxHttp(plan.base_url, plan.token, plan.connections, plan.timeout)
        errors += http.errors
    else:
        http = RawHttp(plan.base_url, plan.token)

    def failed(key: str, due: float) -> None:
        if due >= measured_from:  # the warm-up's are not counted
            failures[key] = failures.get(key, 0) + 1

    # Requests wait for a connection here (at most --connections at once), not in httpx's
    # pool: its queue costs time in proportion to its length per request, which makes a
    # client that has fallen behind fall further behind.
    free = asyncio.Semaphore(plan.connections)

    async def one(k: int, due: float) -> None:
        op, method, path, extra = request_for(k, plan, cycle)
        sent = time.monotonic()
        status = 0
        try:
            async with free, asyncio.timeout(plan.timeout):
                status, answer = await http.request(method, path, extra)
            if status != 200:
                failed(f"{op} {status}: {why(answer.decode(errors='replace'))}", due)
        except errors as exc:
            failed(f"{op}: {type(exc).__name__} {exc}"[:120].rstrip(), due)
        except asyncio.CancelledError:
            failed(f"{op}: no answer {plan.timeout:g} s after the last request was sent",
                   due)
            raise
        finally:
            if due >= measured_from:
                results.append([op, round(due - measured_from, 4),
                                round((time.monotonic() - due) * 1000, 3), status,
                                round((sent - due) * 1000, 3)])

    tasks: set[asyncio.Task[None]] = set()
    try:
        for k in range(index, total, plan.clients):
            due = plan.start + k / plan.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(k, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        # An overloaded server may hold a queue of requests: the run ends --timeout seconds
        # after the last send, and what is still unanswered then counts as an error (its
        # latency, up to then, as a lower bound).
        if tasks:
            await asyncio.wait(set(tasks), timeout=plan.timeout)
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(set(tasks))
    finally:
        await http.close()
    return {"results": results, "failures": failures}


def why(text: str) -> str:
    """A short reason from an error answer: a problem document's detail, or the first
    failing check of a health report."""
    try:
        body = json.loads(text)
    except ValueError:
        return text[:80]
    if isinstance(body, dict):
        checks = body.get("checks")
        if isinstance(checks, dict):
            for name, check in checks.items():
                if isinstance(check, dict) and check.get("status") == "failing":
                    return f"{name} failing: {str(check.get('detail'))[:80]}"
        if "detail" in body:
            return str(body["detail"])[:80]
    return text[:80]


def client_main(args: argparse.Namespace) -> None:
    plan = Plan(**json.loads(Path(args.client).read_text(encoding="utf-8")))
    try:
        import uvloop

        outcome = uvloop.run(drive(plan, args.client_index))
    except ImportError:
        outcome = asyncio.run(drive(plan, args.client_index))
    # A file, not the standard output: the event loop may leave that pipe non-blocking,
    # which cuts a large write short.
    out = Path(args.client).with_name(f"client-{args.client_index}.json")
    out.write_text(json.dumps(outcome), encoding="utf-8")


# -- measuring -----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (all its threads) so far, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces: the fields after it start past its closing ")".
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (pycc's relay worker), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def run_delay(pid: int) -> float:
    """Seconds the main thread of ``pid`` (pycc's event loop) has spent runnable but waiting
    for a CPU, from /proc/PID/schedstat: how much other work on the machine held it up."""
    fields = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(fields[1]) / 1e9


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


@dataclass
class Run:
    """One measured run of the request load, with the calls up or without."""

    kind: str
    rate: float
    requests: int
    errors: int
    achieved_rate: float
    lag_p99_ms: float
    lag_max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    cpu_percent: float
    clients_cpu_percent: float
    calls_before: int = 0
    calls_after: int = 0
    calls_completed: int = 0
    calls_only_cpu_percent: float | None = None
    rtp_per_second: float | None = None
    sipp_cpu_percent: float | None = None
    #: The relay worker process (pycc.media.offload), beside pycc serve's own.
    worker_cpu_percent: float | None = None
    #: The machine's 1-minute load average at the end of the run (other work on it shows),
    #: and the share of the measured window pycc's event loop waited for a CPU.
    load_average: float = 0.0
    loop_waited_percent: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    #: operation -> latencies (ms) of this run, for the per-operation table.
    latencies: dict[str, list[float]] = field(default_factory=dict, repr=False)


class Bench:
    """pycc serve, the SIPp callers and the client processes of one invocation."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.data_dir = work / "data"
        self.server: subprocess.Popen[bytes] | None = None
        self.sipp: SippProcess | None = None
        self.callee: SippProcess | None = None
        self.clients: list[subprocess.Popen[bytes]] = []
        self.profiler: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.token = ""
        self.sip_port = 0
        self.runs = 0
        self.agents = [agent_id(n) for n in agent_numbers(args.agents)]
        self.cursors: list[str] = []

    # -- set-up and tear-down --------------------------------------------------------------
    def start(self) -> None:
        self._provision()
        self._serve()
        self._ready_agents()
        (self.work / CAPTURE).write_bytes(rtp_capture(CAPTURE_SECONDS))
        shutil.copyfile(SCENARIO, self.work / SCENARIO.name)

    def _provision(self) -> None:
        done = run_cli(["init", "--data-dir", str(self.data_dir)])
        if done.returncode != 0:
            raise RuntimeError(f"pycc init failed: {done.stderr}")
        path = self.data_dir / "pycc.toml"
        text = path.read_text(encoding="utf-8")
        if f'"{ECHO_NUMBER}" = "echo"' not in text:
            raise RuntimeError(f"pycc init no longer configures {ECHO_NUMBER} as the echo test")
        settings = "".join(f"{key} = {json.dumps(value)}\n"
                           for key, value in SERVER_SETTINGS.items())
        # Top-level settings go before the first table ([applications]) of the file.
        table = text.find("\n[")
        path.write_text(text[:table + 1] + settings + text[table + 1:], encoding="utf-8")
        center = self.work / "center.yaml"
        center.write_text(center_yaml(self.args.agents, self.args.calls, free_port("udp")),
                          encoding="utf-8")
        self._cli("apply", str(center))
        contacts = self.work / "contacts.csv"
        contacts.write_text(contacts_csv(self.args.contacts), encoding="utf-8")
        self._cli("campaign", "import", CAMPAIGN, str(contacts))
        self._write_records()
        self._cli("admin", "user", "add", ADMIN, "--role", "admin",
                  "--password", "bench-admin-password")
        done = self._cli("admin", "token", "create", ADMIN, "--label", "api-load")
        tokens = [line for line in done.stdout.split() if line.startswith("pycc_")]
        if len(tokens) != 1:
            raise RuntimeError(f"no token in the output of pycc admin token create: {done}")
        self.token = tokens[0]

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done: subprocess.CompletedProcess[str] = run_cli(
            [*args, "--data-dir", str(self.data_dir)])
        if done.returncode != 0:
            raise RuntimeError(f"pycc {' '.join(args[:3])} failed: {done.stderr}{done.stdout}")
        return done

    def _write_records(self) -> None:
        from pycc.api.paging import encode_cursor
        from pycc.store import Store, make_url

        with Store(make_url(self.data_dir, None)) as store:
            tenant = store.ensure_tenant("default", "pycc")
            assert tenant.id is not None
            store.add_call_records(call_records(tenant.id, self.args.records,
                                                self.args.agents, time.time()))
            ids = sorted(r.id for r in store.list_call_records("default", None)
                         if r.id is not None)
        # The first page, and pages further on (a cursor is the last id of the page before).
        self.cursors = ["", *(encode_cursor(ids[i]) for i in range(49, len(ids) - 50, 50))]

    def _serve(self) -> None:
        self.sip_port, sips_port = free_port("both"), free_port("tcp")
        count = max(400, 8 * self.args.calls)
        first = free_port("udp", count=count)
        argv = [*PYCC, "serve", "--data-dir", str(self.data_dir), "--bind", LOOPBACK,
                "--sip-port", str(self.sip_port), "--sips-port", str(sips_port),
                "--http-port", "0", "--rtp-ports", f"{first}-{first + count - 1}",
                "--log-level", self.args.log_level]
        log_path = self.work / "pycc.log"
        with log_path.open("wb") as log:
            self.server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        found: list[tuple[str, str]] = []

        def serving() -> bool:
            found[:] = re.findall(r"pycc serving .*\bhttp=(\S+):(\d+)", tail(log_path, 20000))
            return bool(found) or (self.server is not None and self.server.poll() is not None)

        wait_until(serving, 30.0, interval=0.1)
        if not found:
            raise RuntimeError(f"pycc serve did not start:\n{self.log()}")
        host, port = found[-1]
        self.base_url = f"http://{host}:{port}"

    def _http(self) -> Any:
        import httpx

        return httpx.Client(base_url=self.base_url, timeout=30.0,
                            headers={"Authorization": f"Bearer {self.token}"})

    def _ready_agents(self) -> None:
        """Every agent logged in and ready (as each run's state changes expect)."""
        with self._http() as http:
            for agent in http.get("/v1/agents").raise_for_status().json():
                # Logging in makes the agent available too.
                action = {"offline": "login", "not_ready": "ready"}.get(agent["status"])
                if action is not None:
                    http.post(f"/v1/agents/{agent['agent']}/state",
                              json={"action": action}).raise_for_status()
            states = {a["agent"]: a["status"] for a in http.get("/v1/agents").json()}
        if sorted(states) != sorted(self.agents) or set(states.values()) != {"available"}:
            raise RuntimeError(f"the agents are not all ready: {states}")

    def stop(self) -> None:
        for client in self.clients:
            stop_process(client)
        self.clients.clear()
        if self.profiler is not None:
            stop_process(self.profiler, first_signal=signal.SIGINT, grace=10.0)
            self.profiler = None
        for sipp in (self.sipp, self.callee):
            if sipp is not None:
                sipp.stop()
        self.sipp = self.callee = None
        if self.server is not None:
            stop_process(self.server, grace=15.0)
            self.server = None

    def log(self) -> str:
        return str(tail(self.work / "pycc.log"))

    # -- the calls --------------------------------------------------------------------------
    def answered_calls(self) -> list[str]:
        with self._http() as http:
            calls = http.get("/v1/calls").raise_for_status().json()
        return [c["id"] for c in calls if c["state"] == "answered"]

    def calls_up(self, run_dir: Path) -> int:
        """Start the callers; return how many calls are up once all are (or 30 s passed)."""
        count = self.args.calls
        inf = write_credentials(run_dir / "callers.csv", [
            (n, password(n)) for n in caller_numbers(count)])
        number = ECHO_NUMBER
        if self.args.media == "relay":
            number = CALLEE
            self.callee = start_sipp_uas(
                CALLEE_SCENARIO, account=SipAccount(CALLEE, password(CALLEE),
                                                    f"{LOOPBACK}:{self.sip_port}"),
                calls=count, timeout=None, recv_timeout_ms=None, trace_messages=False,
                workdir=run_dir, extra_args=["-l", str(count), "-rtp_echo",
                                             "-mp", str(free_port("udp", count=4))])
        self.sipp = start_sipp(
            self.work / SCENARIO.name, f"{LOOPBACK}:{self.sip_port}", calls=count,
            rate=self.args.call_rate, max_concurrent=count, service=number,
            inf_file=inf, timeout=None, trace_messages=False, workdir=run_dir,
            extra_args=["-set", "loop_ms", str(round(CAPTURE_SECONDS * 1000)),
                        "-set", "max_loops", "60", "-mp", str(free_port("udp", count=4))])
        up: list[str] = []

        def all_up() -> bool:
            nonlocal up
            up = self.answered_calls()
            return len(up) >= count or (self.sipp is not None and not self.sipp.running)

        wait_until(all_up, count / self.args.call_rate + 30.0, interval=0.5)
        return len(up)

    def calls_down(self) -> tuple[int, int]:
        """Hang every call up through the API; (calls still up, calls SIPp completed)."""
        up = self.answered_calls()
        with self._http() as http:
            for call in up:
                http.delete(f"/v1/calls/{call}")
        completed = []
        for sipp in (self.sipp, self.callee):
            if sipp is None:
                continue
            result = sipp.wait(30.0)
            if result.failed:
                print(f"# SIPp: {result.failed} calls failed {result.failure_counters()}; "
                      f"logs in {result.workdir}", file=sys.stderr, flush=True)
            completed.append(int(result.successful))
        self.sipp = self.callee = None
        return len(up), min(completed)

    def sipp_pids(self) -> list[int]:
        return [s.process.pid for s in (self.sipp, self.callee) if s is not None]

    def rtp_received(self) -> float:
        """pycc's count of RTP packets received (its Prometheus metrics)."""
        with self._http() as http:
            text = http.get("/metrics").raise_for_status().text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("pycc_rtp_packets_received"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    # -- one run ----------------------------------------------------------------------------
    def run(self, kind: str) -> Run:
        """One run of the request load; with ``kind`` "calls", while the calls are up."""
        assert self.server is not None
        args = self.args
        self.runs += 1
        run_dir = self.work / f"{kind}-{self.runs}"
        run_dir.mkdir()
        self._ready_agents()
        calls_before = calls_only = None
        sipp_pids: list[int] = []
        if kind == "calls":
            calls_before = self.calls_up(run_dir)
            if calls_before < args.calls:
                raise RuntimeError(f"only {calls_before} of {args.calls} calls came up:\n"
                                   + "".join(s.stop().describe() + "\n" for s in
                                             (self.sipp, self.callee) if s is not None)
                                   + "\n" + self.log())
            sipp_pids = self.sipp_pids()
            # The media of a call settles: its sources lock, 3 s after the answer, and then a
            # relayed call's packets go to the relay worker (pycc.media.offload).
            time.sleep(args.settle)
            # What the calls cost pycc with no request coming.
            before, t0 = cpu_seconds(self.server.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            calls_only = 100 * (cpu_seconds(self.server.pid) - before) / (time.monotonic() - t0)
        plan = Plan(base_url=self.base_url, token=self.token, rate=args.rate,
                    start=time.monotonic() + 2.0, warmup=args.warmup, seconds=args.seconds,
                    clients=args.clients, agents=self.agents, cursors=self.cursors,
                    seed=args.seed, connections=args.connections, timeout=args.timeout,
                    http_client=args.http_client)
        plan_path = run_dir / "plan.json"
        plan_path.write_text(json.dumps(asdict(plan)), encoding="utf-8")
        with (run_dir / "clients.log").open("wb") as log:
            self.clients = [subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--client", str(plan_path),
                 "--client-index", str(i)], stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True)
                for i in range(args.clients)]
        begin, end = plan.start + plan.warmup, plan.start + plan.warmup + plan.seconds
        sleep_until(begin)
        cpu_before = cpu_seconds(self.server.pid)
        waited_before = run_delay(self.server.pid)
        clients_before = sum(cpu_seconds(c.pid) for c in self.clients)
        sipp_before = sum(cpu_seconds(pid) for pid in sipp_pids)
        workers = child_pids(self.server.pid)
        workers_before = sum(cpu_seconds(pid) for pid in workers)
        rtp_before = self.rtp_received() if kind == "calls" else 0.0
        if args.profile:
            self._profile(run_dir / f"profile-{kind}.txt")
        sleep_until(end)
        span = time.monotonic() - begin
        load = os.getloadavg()[0]
        waited = 100 * (run_delay(self.server.pid) - waited_before) / span
        cpu = 100 * (cpu_seconds(self.server.pid) - cpu_before) / span
        clients_cpu = 100 * (sum(cpu_seconds(c.pid) for c in self.clients)
                             - clients_before) / span
        sipp_cpu = (100 * (sum(cpu_seconds(pid) for pid in sipp_pids) - sipp_before) / span
                    if sipp_pids else None)
        workers_cpu = (100 * (sum(cpu_seconds(pid) for pid in workers) - workers_before) / span
                       if workers else None)
        rtp_rate = ((self.rtp_received() - rtp_before) / (time.monotonic() - begin)
                    if kind == "calls" else None)
        outcomes = []
        for index, client in enumerate(self.clients):
            client.wait(timeout=2 * args.timeout + 60.0)
            if client.returncode != 0:
                raise RuntimeError(f"a client failed:\n{tail(run_dir / 'clients.log')}")
            outcomes.append(json.loads((run_dir / f"client-{index}.json").read_text()))
        self.clients = []
        if self.profiler is not None:
            self.profiler.wait(30.0)
            self.profiler = None
        calls_after = calls_completed = 0
        if kind == "calls":
            calls_after, calls_completed = self.calls_down()
        run = summarise(kind, args, outcomes, cpu, clients_cpu, calls_before or 0,
                        calls_after, calls_completed, calls_only, rtp_rate, sipp_cpu)
        run.load_average = round(load, 2)
        run.worker_cpu_percent = None if workers_cpu is None else round(workers_cpu, 1)
        run.loop_waited_percent = round(waited, 1)
        return run

    def _profile(self, path: Path) -> None:
        """py-spy samples pycc serve over the measured window (it costs CPU itself)."""
        assert self.server is not None
        self.profiler = subprocess.Popen(
            ["py-spy", "record", "--pid", str(self.server.pid), "--duration",
             str(math.ceil(self.args.seconds)), "--rate", "200", "--format", "raw",
             "--output", str(path), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def summarise(kind: str, args: argparse.Namespace, outcomes: list[dict[str, Any]],
              cpu: float, clients_cpu: float, calls_before: int, calls_after: int,
              calls_completed: int, calls_only: float | None, rtp_rate: float | None,
              sipp_cpu: float | None) -> Run:
    rows = [row for outcome in outcomes for row in outcome["results"]]
    failures: dict[str, int] = {}
    for outcome in outcomes:
        for key, value in outcome["failures"].items():
            failures[key] = failures.get(key, 0) + value
    latencies = [float(r[2]) for r in rows]
    lags = [float(r[4]) for r in rows]
    by_op: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    for row in rows:
        by_op[row[0]].append(float(row[2]))
    # Sends per second over the measured window: the first to the last request sent in it.
    sends = sorted(float(r[1]) + float(r[4]) / 1000 for r in rows)
    achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else 0.0

    def ms(value: float | None) -> float:
        return round(value or 0.0, 2)

    return Run(
        kind=kind, rate=args.rate, requests=len(rows),
        errors=sum(1 for r in rows if r[3] != 200), achieved_rate=round(achieved, 1),
        lag_p99_ms=ms(percentile(lags, 0.99)), lag_max_ms=ms(max(lags, default=0.0)),
        p50_ms=ms(percentile(latencies, 0.5)), p95_ms=ms(percentile(latencies, 0.95)),
        p99_ms=ms(percentile(latencies, 0.99)), max_ms=ms(max(latencies, default=0.0)),
        cpu_percent=round(cpu, 1), clients_cpu_percent=round(clients_cpu, 1),
        calls_before=calls_before, calls_after=calls_after, calls_completed=calls_completed,
        calls_only_cpu_percent=None if calls_only is None else round(calls_only, 1),
        rtp_per_second=None if rtp_rate is None else round(rtp_rate),
        sipp_cpu_percent=None if sipp_cpu is None else round(sipp_cpu, 1),
        failures=failures, latencies=by_op)


# -- the report ----------------------------------------------------------------------------------
def med(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def cell(value: float | None, suffix: str = "") -> str:
    return "" if value is None else f"{value:g}{suffix}"


def report(runs: dict[str, list[Run]], args: argparse.Namespace) -> str:
    """The Markdown tables and the verdict."""
    lines = [
        "| load | runs | requests/s offered / sent | requests | errors | p50 ms | p95 ms "
        "| p99 ms | max ms | send lag p99 / max ms | pycc CPU % | pycc CPU %, calls and no "
        "requests | calls up before / after / completed | RTP packets/s into pycc "
        "| relay worker CPU % | clients' CPU % | SIPp CPU % | machine load (1 min) "
        "| pycc's loop waited for a CPU % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    labels = {"none": "no call up", "calls": f"{args.calls} calls up ({args.media})"}
    p99: dict[str, float | None] = {}
    for kind in ("none", "calls"):
        done = runs.get(kind, [])
        if not done:
            continue

        def m(name: str, done: list[Run] = done) -> float | None:
            return med([getattr(r, name) for r in done])

        p99[kind] = m("p99_ms")
        calls = "" if kind == "none" else " / ".join(
            f"{min(getattr(r, name) for r in done)}"
            for name in ("calls_before", "calls_after", "calls_completed"))
        lines.append("| " + " | ".join([
            labels[kind], str(len(done)), f"{args.rate:g} / {cell(m('achieved_rate'))}",
            str(sum(r.requests for r in done)), str(sum(r.errors for r in done)),
            cell(m("p50_ms")), cell(m("p95_ms")), cell(m("p99_ms")), cell(m("max_ms")),
            f"{cell(m('lag_p99_ms'))} / {cell(m('lag_max_ms'))}", cell(m("cpu_percent")),
            cell(m("calls_only_cpu_percent")), calls, cell(m("rtp_per_second")),
            cell(m("worker_cpu_percent")), cell(m("clients_cpu_percent")),
            cell(m("sipp_cpu_percent")),
            cell(m("load_average")), cell(m("loop_waited_percent"))]) + " |")
    lines += ["", "| operation | " + " | ".join(
        f"{labels[k]}: p50 / p99 ms" for k in ("none", "calls") if runs.get(k)) + " |",
        "| --- |" + " ---: |" * sum(1 for k in ("none", "calls") if runs.get(k))]
    for op in OPERATIONS:
        cells = []
        for kind in ("none", "calls"):
            if not runs.get(kind):
                continue
            pooled = [v for r in runs[kind] for v in r.latencies.get(op, [])]
            cells.append(f"{cell(round(percentile(pooled, 0.5) or 0, 1))} / "
                         f"{cell(round(percentile(pooled, 0.99) or 0, 1))}")
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines.append("")
    kinds: dict[str, int] = {}
    for kind in ("none", "calls"):
        for one in runs.get(kind, []):
            for key, count in one.failures.items():
                name = f"{labels[kind]}: {key}"
                kinds[name] = kinds.get(name, 0) + count
    for name, count in sorted(kinds.items(), key=lambda item: -item[1]):
        lines.append(f"errors, {name}: {count}")
    if args.runs > 1:
        lines.append(f"figures are medians of {args.runs} runs of {args.seconds:g} s "
                     "(per operation: all runs pooled), errors their sum")
    with_calls, without = p99.get("calls"), p99.get("none")
    if with_calls is not None and without:
        lines.append(f"p99 with {args.calls} calls / p99 with none: {with_calls / without:.2f}")
    if with_calls is not None:
        errors = sum(r.errors for r in runs["calls"])
        calls_ok = all(r.calls_before >= args.calls and r.calls_after >= args.calls
                       for r in runs["calls"])
        met = with_calls < 50 and errors == 0 and calls_ok
        lines.append(f"target (p99 < 50 ms at {args.rate:g} requests/s, {args.calls} calls "
                     f"up ({args.media}), no error): {'met' if met else 'NOT met'} "
                     f"(p99 {with_calls:g} ms, {errors} errors"
                     f"{'' if calls_ok else ', calls not all up'})")
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
                        help="a short run: one run of 8 s each way, 2 s of warm-up")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--calls", type=int, default=100, help="calls up during the load")
    parser.add_argument("--media", choices=("echo", "relay"), default="echo",
                        help="echo: the calls go to pycc's echo test (every packet decoded, "
                             "mixed and encoded back); relay: to an extension whose SIPp "
                             "sends the RTP back (pycc relays both ways)")
    parser.add_argument("--call-rate", type=float, default=50.0,
                        help="calls per second while they are put up")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each kind (the figures are their median)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of load before the measured ones (not counted)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds after the calls are up before anything is measured "
                             "(their media settles: relayed calls go to the relay worker)")
    parser.add_argument("--idle-seconds", type=float, default=3.0,
                        help="seconds with the calls up and no request (pycc's CPU)")
    parser.add_argument("--clients", type=int, default=1,
                        help="load generator processes sharing the schedule")
    parser.add_argument("--http-client", choices=("raw", "httpx"), default="raw",
                        help="the clients' HTTP: raw keep-alive HTTP/1.1 on asyncio streams "
                             "(cheap), or httpx.AsyncClient (a few ms of CPU per request)")
    parser.add_argument("--connections", type=int, default=64,
                        help="most HTTP connections of each client process")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds a request may take (and the wait for the last ones)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1, help="order of the request mix")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy records pycc serve in each run (raw stacks in the work "
                             "directory; the profiler's own cost is in the figures)")
    parser.add_argument("--log-level", default="INFO", help="pycc serve's log level")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the data directory and logs here (default: a temporary one)")
    parser.add_argument("--client", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--client-index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        client_main(args)
        return
    if args.quick:
        # Options given on the command line win over the quick run's.
        quick = {"runs": 1, "seconds": 8.0, "warmup": 2.0, "idle_seconds": 2.0}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.rate <= 0 or args.call_rate <= 0 or args.seconds <= 0 or args.warmup < 0 \
            or args.idle_seconds <= 0 or args.timeout <= 0:
        parser.error("--rate, --call-rate, --seconds, --idle-seconds and --timeout must be "
                     "positive, --warmup not negative")
    if not 1 <= args.runs <= 50 or not 1 <= args.clients <= 16 or args.connections < 1:
        parser.error("--runs must be 1 to 50, --clients 1 to 16, --connections positive")
    if not 1 <= args.calls <= 1000 or not 1 <= args.agents <= 500:
        parser.error("--calls must be 1 to 1000, --agents 1 to 500")
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy (pip install py-spy)")
    if args.contacts < 1 or args.records < 100:
        parser.error("--contacts must be positive, --records at least 100")
    if args.idle_seconds + args.warmup + args.seconds > 400:
        # The callers give up after 60 replays of the 10 s capture.
        parser.error("--idle-seconds + --warmup + --seconds must stay under 400")
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pycc-api-")))
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
        runs: dict[str, list[Run]] = {"none": [], "calls": []}
        for _ in range(args.runs):
            # The two kinds alternate, so that both see the same state of a noisy machine.
            for kind, done in runs.items():
                one = bench.run(kind)
                summary = {k: v for k, v in asdict(one).items() if k != "latencies"}
                print(json.dumps(summary), flush=True)
                done.append(one)
        bench.stop()
        print()
        print(report(runs, args))
        print(f"whole invocation: {time.monotonic() - wall:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Every process was stopped on the way out; no traceback for an interrupted run.
        print("interrupted", file=sys.stderr)
        sys.exit(130)
