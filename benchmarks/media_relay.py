"""Media benchmark: pycc's RTP relay and transcoding against rtpengine, on loopback.

    python benchmarks/media_relay.py --runs 3 --seconds 8 --calls 250,500,1000 [--workers 1,2]
    python benchmarks/media_relay.py --calls 1000 --workers 1 --without-switch-alone --realtime
    python benchmarks/media_relay.py --mode transcode --codec opus --calls 40,80 \
        [--opus-complexity 5,1] [--workers 1,2] [--reports]
    python benchmarks/media_relay.py --mode transcode --codec G729 --calls 75,150
    python benchmarks/media_relay.py --mode conference --calls 100,200

Each call has two phones: phone A sends PCMU (20 ms, 50 packets/s) to the relay's A-side
port, phone B sends to the B-side port, and each receives the other's packets through the
relay. All A phones share one UDP socket and all B phones another (each leg still has its own
relay ports and latches onto its phone's address), so the load generator is two sockets and a
tight loop; it sends and reads in batches (``sendmmsg``/``recvmmsg``, `udp_batch`), so that
100,000 packets/s each way leave most of a core to the relay. Phones do not share a clock:
each 20 ms is cut into 10 slots and each slot sends a tenth of the calls' packets. A packet
carries its call number and send time in its payload, so the receiver measures loss and
added latency per packet: from just before the batch it leaves in to the kernel's receive
time at the far phone's socket (SO_TIMESTAMPNS), so that the generator's own delay in
reading does not count as the relay's.

- ``relay`` (PCMU both sides) runs against pycc's media server (one process, uvloop, one
  core) and rtpengine in userspace forwarding with one worker thread (Debian's rtpengine,
  installed with apt-get when missing), in the same invocation; the report gives the ratio.
- ``transcode`` (PCMU on A, ``--codec`` on B) and ``conference`` (every phone in one
  conference) run against pycc alone: rtpengine is a relay.

Reported per run: packets sent and received, loss, p50/p99 of the added latency and the
relay's CPU use (from /proc). The median of ``--runs`` runs is printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from udp_batch import BatchReceiver, BatchSender

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
PTIME = 0.02
_STAMP = struct.Struct("!IBQ")  # call, direction, send time in ns
_RR = struct.Struct("!BBHIIIIIII")  # RR header, sender SSRC, one report block
#: The kernel's receive time of each datagram (Linux), which `udp_batch` reads.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


# -- the relay under test: pycc ----------------------------------------------------------------
def sdp(port: int, codec: str, pt: int, rate: int, channels: int = 1) -> bytes:
    suffix = f"/{channels}" if channels > 1 else ""
    # Phones offer telephone-events beside their codec (else pycc listens for keys as tones
    # in the audio it decodes).
    return (
        f"v=0\r\no=bench 1 1 IN IP4 {LOOPBACK}\r\ns=-\r\nc=IN IP4 {LOOPBACK}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {codec}/{rate}{suffix}\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    ).encode()


CODECS = {"PCMU": ("PCMU", 0, 8000, 1), "opus": ("opus", 111, 48000, 2),
          "G729": ("G729", 18, 8000, 1), "G722": ("G722", 9, 8000, 1),
          "PCMA": ("PCMA", 8, 8000, 1)}


async def serve_pycc(args: argparse.Namespace) -> None:
    """The pycc side of a run: a media server with ``calls`` sessions, ports on stdout."""
    from pycc.media.server import MediaServer
    from pycc.sdp.session import SessionDescription

    if args.opus_complexity is not None:
        from pycc.codecs.opus import set_opus_complexity

        set_opus_complexity(int(args.opus_complexity))
    # Named only when asked: a --baseline checkout from before media_priority has no such
    # argument.
    priority = {} if args.relay_priority == "normal" else {"relay_priority": args.relay_priority}
    server = MediaServer(LOOPBACK, args.rtp_ports, rtp_timeout=0,
                         relay_workers=args.relay_workers, **priority)
    await server.start()
    ports: list[tuple[int, int]] = []
    b_codec = CODECS[args.codec]
    if args.mode == "conference":
        assert server.engine is not None
        conference = server.engine.conference("bench", rate=8000)
        conference.tones = False
        for _ in range(args.calls):
            session = server.new_session()
            answer = session.answer_locally(
                SessionDescription.parse(sdp(args.a_port, *CODECS["PCMU"])), "a")
            channel = server.engine.channel(session, "a")
            await conference.join(channel)
            ports.append((answer.media[0].port, 0))
    else:
        for _ in range(args.calls):
            session = server.new_session()
            offer = session.relay_offer(
                SessionDescription.parse(sdp(args.a_port, *CODECS["PCMU"])), "a")
            b_port = offer.media[0].port
            answer = session.relay_answer(
                SessionDescription.parse(sdp(args.b_port, *b_codec)), "b")
            ports.append((answer.media[0].port, b_port))
    print(json.dumps(ports), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.close()


def start_pycc(calls: int, a_port: int, b_port: int, mode: str, codec: str,
               relay_workers: int = 0, opus_complexity: int | None = None,
               pure: bool = False, source: str | None = None,
               priority: str = "normal") -> tuple[subprocess.Popen[str], list[tuple[int, int]]]:
    base = 30000
    span = max(200, calls * 4 + 100)
    argv = [sys.executable, __file__, "--serve-pycc", "--calls", str(calls),
            "--a-port", str(a_port), "--b-port", str(b_port), "--mode", mode,
            "--codec", codec, "--rtp-ports", f"{base}-{base + span}",
            "--relay-workers", str(relay_workers), "--relay-priority", priority]
    if opus_complexity is not None:
        argv += ["--opus-complexity", str(opus_complexity)]
    env = dict(os.environ)
    if pure:
        env["PYCC_PURE"] = "1"
    if source is not None:  # another checkout's pycc (its own `pycc accel build`)
        env["PYTHONPATH"] = source
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the pycc media server did not start")
    return proc, [tuple(p) for p in json.loads(line)]  # type: ignore[misc]


# -- the reference: rtpengine ------------------------------------------------------------------
def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


def bdecode(data: bytes, at: int = 0) -> tuple[object, int]:
    kind = data[at:at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1:end]), end + 1
    if kind == b"l":
        at += 1
        items = []
        while data[at:at + 1] != b"e":
            item, at = bdecode(data, at)
            items.append(item)
        return items, at + 1
    if kind == b"d":
        at += 1
        result: dict[bytes, object] = {}
        while data[at:at + 1] != b"e":
            key, at = bdecode(data, at)
            result[key] = bdecode(data, at)[0]
            at = bdecode(data, at)[1]
        return result, at + 1
    colon = data.index(b":", at)
    length = int(data[at:colon])
    return data[colon + 1:colon + 1 + length], colon + 1 + length


def ng(sock: socket.socket, command: dict[str, object]) -> dict[bytes, object]:
    cookie = secrets.token_hex(4).encode()
    sock.sendto(cookie + b" " + bencode(command), sock.getpeername())
    reply = sock.recv(65536)
    result, _ = bdecode(reply.split(b" ", 1)[1])
    assert isinstance(result, dict)
    if result.get(b"result") != b"ok":
        raise RuntimeError(f"rtpengine: {result}")
    return result


def sdp_port(body: bytes) -> int:
    for line in body.decode().split("\r\n"):
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise ValueError("no audio line")


def start_rtpengine(calls: int, a_port: int, b_port: int, realtime: bool = False,
                    ) -> tuple[subprocess.Popen[bytes], list[tuple[int, int]]]:
    if shutil.which("rtpengine") is None:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                        "rtpengine-daemon"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        ng_port = probe.getsockname()[1]
    base = 40000
    argv = ["rtpengine", "--foreground", "--log-stderr", "--table=-1",
            f"--interface={LOOPBACK}", f"--listen-ng={LOOPBACK}:{ng_port}",
            f"--port-min={base}", f"--port-max={base + calls * 4 + 100}",
            "--num-threads=1", "--log-level=3", f"--pidfile=/tmp/rtpengine-bench-{ng_port}.pid"]
    if realtime:  # its threads as pycc's workers with media_priority = "realtime"
        argv += ["--scheduling=rr", "--priority=10"]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    control.connect((LOOPBACK, ng_port))
    control.settimeout(2.0)
    for _ in range(50):
        try:
            ng(control, {"command": "ping"})
            break
        except (OSError, RuntimeError, TimeoutError):
            time.sleep(0.1)
    ports = []
    for i in range(calls):
        call_id = f"bench-{i}"
        offer = ng(control, {"command": "offer", "call-id": call_id, "from-tag": "a",
                             "sdp": sdp(a_port, *CODECS["PCMU"]), "replace": ["origin"]})
        answer = ng(control, {"command": "answer", "call-id": call_id, "from-tag": "a",
                              "to-tag": "b", "sdp": sdp(b_port, *CODECS["PCMU"])})
        b_side = sdp_port(bytes(offer[b"sdp"]))  # type: ignore[arg-type]
        a_side = sdp_port(bytes(answer[b"sdp"]))  # type: ignore[arg-type]
        ports.append((a_side, b_side))
    control.close()
    return proc, ports


# -- the load generator ------------------------------------------------------------------------
@dataclass
class RunResult:
    sent: int
    received: int
    latencies_ms: list[float]
    cpu: float
    #: Of ``cpu``, what the switch's child processes (relay workers) used.
    worker_cpu: float = 0.0

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 0.0


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of ``pid`` with its child processes (pycc's relay workers), and of the
    children alone."""
    total = children = 0.0
    for process, fields in _processes():
        if process == pid or int(fields[1]) == pid:
            used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            total += used
            if process != pid:
                children += used
    return total, children


def _processes() -> Iterator[tuple[int, list[str]]]:
    """Every process's id and the fields of its /proc stat after the command name."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue


def pin(pid: int, relay_cpu: int, other_cpu: int) -> None:
    """Give the relay's media one core to itself: ``pid``'s child processes (pycc's relay
    workers) on ``relay_cpu``, ``pid`` itself on ``other_cpu`` beside the load generator;
    a process without children (rtpengine, every thread) goes on ``relay_cpu``."""
    children = [process for process, fields in _processes() if int(fields[1]) == pid]
    placements = [(child, relay_cpu) for child in children]
    placements.append((pid, other_cpu if children else relay_cpu))
    for process, cpu in placements:
        try:
            threads = [int(t.name) for t in Path(f"/proc/{process}/task").iterdir()]
        except OSError:
            continue
        for thread in threads:
            with contextlib.suppress(OSError):  # a thread that has just ended
                os.sched_setaffinity(thread, {cpu})


def payload_for(codec: str) -> bytes:
    """One 20 ms frame of a 1 kHz tone in ``codec`` (the same frame repeated is fine)."""
    if codec == "PCMU":
        return b"\xff" * 160
    from pycc.codecs.registry import default_registry

    found = default_registry().find(*CODECS[codec][0:1], CODECS[codec][2], CODECS[codec][3])
    encoder = found.encoder(20)
    rate = found.spec.sample_rate
    t = np.arange(encoder.samples_per_frame) / rate
    return encoder.encode((np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16))


def receiver_report(sender: int, about: int) -> bytes:
    """An RTCP RR (RFC 3550 §6.4.2) from ``sender`` saying nothing of ``about`` was lost."""
    return _RR.pack(0x81, 201, 7, sender, about, 0, 0, 0, 0, 0)


def _be(value: int, size: int) -> npt.NDArray[np.uint8]:
    """``value`` as ``size`` big-endian bytes, to write into a column of packets."""
    return np.frombuffer(value.to_bytes(size, "big"), dtype=np.uint8)


def _column(rows: npt.NDArray[np.uint8], lo: int, hi: int, dtype: str) -> npt.NDArray[np.generic]:
    """Bytes ``lo`` to ``hi`` of every row read as one big-endian number each."""
    return rows[:, lo:hi].copy().view(dtype).reshape(-1)


#: Packets sent per system call: each batch's packets share one send stamp, so a batch must
#: leave quickly (64 packets take tens of microseconds).
_BATCH = 64
#: Slots of each 20 ms in which a share of the calls send.
_SLOTS = 10


def generate(ports: list[tuple[int, int]], a_sock: socket.socket, b_sock: socket.socket,
             seconds: float, pid: int, *, b_codec: str = "PCMU",
             conference: bool = False, warm: float = 1.0, reports: bool = False,
             pinned: bool = False) -> RunResult:
    calls = len(ports)
    b_payload = payload_for(b_codec)
    b_pt = CODECS[b_codec][1]
    ssrcs = np.array([secrets.randbits(32) for _ in range(2 * calls)], dtype=">u4")
    numbers = np.arange(calls, dtype=">u4").view(np.uint8).reshape(calls, 4)
    senders = [BatchSender(a_sock, LOOPBACK, [a for a, _ in ports], 12 + 160)]
    if not conference:
        senders.append(BatchSender(b_sock, LOOPBACK, [b for _, b in ports],
                                   12 + max(len(b_payload), 13)))
        senders[1].packets[:, 12:12 + len(b_payload)] = np.frombuffer(b_payload, np.uint8)
    # Stamped packets carry (call, direction, send time) after the header: A's always (PCMU),
    # B's when B speaks PCMU too.
    stamped = [True, b_codec == "PCMU"]
    for side, sender in enumerate(senders):
        rows = sender.packets
        rows[:, 0] = 0x80
        rows[:, 1] = 0 if side == 0 else b_pt
        rows[:, 8:12] = np.ascontiguousarray(ssrcs[side::2]).view(np.uint8).reshape(calls, 4)
        if stamped[side]:
            rows[:, 12:16] = numbers
            rows[:, 16] = side
    receivers = {a_sock.fileno(): BatchReceiver(a_sock), b_sock.fileno(): BatchReceiver(b_sock)}
    latencies: list[npt.NDArray[np.float64]] = []
    received = sent = 0
    selector = selectors.DefaultSelector()
    selector.register(a_sock, selectors.EVENT_READ)
    selector.register(b_sock, selectors.EVENT_READ)
    start = time.monotonic()
    cpu_start: tuple[float, float] | None = None
    measure_from = start + warm
    # Latency is that of the packets sent in the measured seconds: one sent during the
    # warm-up, when a relay worker may not yet carry its call, is no sample of the steady
    # state even if it arrives later.
    measure_from_ns = time.time_ns() + int(warm * 1e9)
    end = start + warm + seconds
    tick = 0
    next_tick = start
    counted_sent = 0
    # With reports: each phone's RTCP receiver report once a second, about the stream pycc
    # sends it (its SSRC learnt from the packets), to pycc's RTCP port (RTP + 1).
    phone_of = {port: (2 * i + side, port + 1) for i, pair in enumerate(ports)
                for side, port in enumerate(pair)}
    heard: dict[int, int] = {}

    def read(receiver: BatchReceiver, measuring: bool) -> int:
        count = receiver.receive()
        if not count:
            return 0
        rows = receiver.data[:count]
        if reports:
            for port, ssrc in zip(receiver.source_ports(count).tolist(),
                                  _column(rows, 8, 12, ">u4").tolist(), strict=True):
                heard.setdefault(port, ssrc)
        if measuring and not conference:
            call = _column(rows, 12, 16, ">u4")
            stamp = _column(rows, 17, 25, ">u8").astype(np.int64)
            valid = ((receiver.lengths[:count] >= 12 + _STAMP.size) & (call < calls)
                     & (rows[:, 16] <= 1) & (stamp >= measure_from_ns))
            if valid.any():
                arrival = receiver.arrivals_ns(count)
                latencies.append((arrival[valid] - stamp[valid]) / 1e6)
        return count

    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_tick:
            measuring = now >= measure_from
            if measuring and cpu_start is None:
                if pinned:
                    # Again: pycc starts its relay workers when the first calls lock.
                    pin(pid, 1, 0)
                cpu_start = cpu_seconds(pid)
            packet_tick, slot = divmod(tick, _SLOTS)
            if slot == 0:
                for side, sender in enumerate(senders):
                    rows = sender.packets
                    rows[:, 2:4] = _be(packet_tick & 0xFFFF, 2)
                    step = 960 if side == 1 and b_codec == "opus" else 160
                    rows[:, 4:8] = _be(packet_tick * step & 0xFFFFFFFF, 4)
                if reports and packet_tick % 50 == 0:
                    for port, ssrc in heard.items():
                        phone, rtcp_port = phone_of[port]
                        (b_sock if phone % 2 else a_sock).sendto(
                            receiver_report(int(ssrcs[phone]), ssrc), (LOOPBACK, rtcp_port))
            # Phones do not share a clock: each slot of the 20 ms sends its share of the
            # calls, so that packets arrive spread over the interval as real ones do.
            first, last = calls * slot // _SLOTS, calls * (slot + 1) // _SLOTS
            for lo in range(first, last, _BATCH):
                hi = min(last, lo + _BATCH)
                for side, sender in enumerate(senders):
                    if stamped[side]:
                        # Stamped just before they leave: the time the generator takes to
                        # send a burst is not the relay's.
                        sender.packets[lo:hi, 17:25] = _be(time.time_ns(), 8)
                    sender.send(lo, hi)
            per_slot = (last - first) * len(senders)
            sent += per_slot
            if measuring:
                counted_sent += per_slot
            tick += 1
            next_tick = start + tick * PTIME / _SLOTS
        timeout = max(0.0, next_tick - time.monotonic())
        for key, _ in selector.select(timeout):
            receiver = receivers[key.fd]
            # Up to the kernel's receive time: how long the generator takes to come round
            # to reading is not the relay's either.
            measuring = time.monotonic() >= measure_from
            while (count := read(receiver, measuring)) > 0:
                if measuring:
                    received += count
    # Let the last packets arrive.
    drain_until = time.monotonic() + 0.3
    while time.monotonic() < drain_until:
        for key, _ in selector.select(0.05):
            while (count := receivers[key.fd].receive()) > 0:
                received += count
    cpu_end = cpu_seconds(pid)
    cpu, worker_cpu = (end - begin for end, begin in zip(cpu_end, cpu_start or (0.0, 0.0),
                                                         strict=True))
    # In a conference each phone sends one stream and hears one mix: as many packets back.
    flat = np.concatenate(latencies).tolist() if latencies else []
    return RunResult(counted_sent, received, flat, cpu / seconds, worker_cpu / seconds)


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    sock.bind((LOOPBACK, 0))
    sock.setblocking(False)
    return sock


def workers_of(target: str) -> int:
    """The relay worker processes of a pycc target: "pycc-worker" has one, "pycc-N-workers"
    N, plain "pycc" none. A "-py" suffix: the same in pure Python (no compiled code, so the
    workers forward in Python rather than in their C loop); "-base": the same with the
    baseline checkout's pycc; "-rt": its relay workers (or rtpengine's threads) in the
    round-robin real-time class."""
    target = target.removesuffix("-rt").removesuffix("-base").removesuffix("-py")
    if target == "pycc-worker":
        return 1
    if target.startswith("pycc-") and target.endswith("-workers"):
        return int(target.split("-")[1])
    return 0


def run_once(target: str, calls: int, seconds: float, mode: str, codec: str,
             reports: bool = False, warm_workers: float = 5.0,
             pinned: bool = False, baseline: str | None = None) -> RunResult:
    a_sock, b_sock = bound_socket(), bound_socket()
    a_port, b_port = a_sock.getsockname()[1], b_sock.getsockname()[1]
    proc: subprocess.Popen[str] | subprocess.Popen[bytes]
    if target.startswith("pycc"):
        complexity = int(target[len("pycc-opus"):]) if target.startswith("pycc-opus") else None
        proc, ports = start_pycc(calls, a_port, b_port, mode, codec,
                                 relay_workers=workers_of(target),
                                 opus_complexity=complexity, pure="-py" in target,
                                 source=baseline if "-base" in target else None,
                                 priority="realtime" if target.endswith("-rt") else "normal")
    else:
        proc, ports = start_rtpengine(calls, a_port, b_port, realtime=target.endswith("-rt"))
    if pinned:
        pin(proc.pid, 1, 0)
    try:
        # With the relay worker, a call's packets move to it once its sources lock (3 s).
        return generate(ports, a_sock, b_sock, seconds, proc.pid, b_codec=codec,
                        conference=mode == "conference",
                        warm=warm_workers if workers_of(target) else 1.0, reports=reports,
                        pinned=pinned)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        a_sock.close()
        b_sock.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="250,500,1000")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=("relay", "transcode", "conference"), default="relay")
    parser.add_argument("--codec", default="PCMU", choices=sorted(CODECS))
    parser.add_argument("--serve-pycc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--a-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--b-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rtp-ports", default="30000-34999", help=argparse.SUPPRESS)
    parser.add_argument("--relay-workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--relay-priority", default="normal", help=argparse.SUPPRESS)
    parser.add_argument("--opus-complexity", default=None,
                        help="transcode mode: Opus encoder complexities to run pycc with, "
                             "each a target of its own in the same invocation (e.g. 5,1)")
    parser.add_argument("--worker", action="store_true",
                        help="relay mode: also pycc with its relay worker process (the "
                             "relay CPU is then both processes')")
    parser.add_argument("--workers", default="",
                        help="relay and transcode modes: also pycc with each of these "
                             "numbers of relay worker processes (e.g. 1,2; --worker is "
                             "--workers 1)")
    parser.add_argument("--warm", type=float, default=5.0,
                        help="seconds before measuring, for targets with relay workers: the "
                             "calls' sources lock after 3 s, then the switch hands the calls "
                             "over in batches")
    parser.add_argument("--python-loop", action="store_true",
                        help="relay and transcode modes: also each pycc target with workers "
                             "in pure Python (PYCC_PURE=1: the workers forward in Python, not "
                             "in their C loop), named with a -py suffix")
    parser.add_argument("--reports", action="store_true",
                        help="transcode mode: each phone sends an RTCP receiver report a "
                             "second saying it lost nothing, as phones on a clean network do "
                             "(pycc's Opus encoder then sends no FEC)")
    parser.add_argument("--pin", action="store_true",
                        help="relay and transcode modes: the relay's media on CPU 1 alone "
                             "(rtpengine, or pycc's one relay worker), the load generator "
                             "and pycc's switch process on CPU 0")
    parser.add_argument("--without-switch-alone", action="store_true",
                        help="relay and transcode modes with --workers: leave out pycc "
                             "without relay workers")
    parser.add_argument("--baseline", default=None, metavar="SRC",
                        help="relay and transcode modes: also each pycc target with workers "
                             "run from another checkout's source folder (e.g. the previous "
                             "version's src/, its `pycc accel build` done), named with a "
                             "-base suffix")
    parser.add_argument("--realtime", action="store_true",
                        help="relay and transcode modes: also each pycc target with workers "
                             "with media_priority = \"realtime\", and rtpengine with "
                             "--scheduling=rr --priority=10, named with a -rt suffix")
    args = parser.parse_args()
    if args.serve_pycc:
        args.calls = int(args.calls)
        import uvloop

        uvloop.run(serve_pycc(args))
        return
    if args.mode == "relay":
        args.codec = "PCMU"
    if args.pin:
        if len(os.sched_getaffinity(0)) < 2:
            parser.error("--pin needs two CPUs")
        os.sched_setaffinity(0, {0})
    targets = ["pycc", "rtpengine"] if args.mode == "relay" else ["pycc"]
    workers = [int(n) for n in args.workers.split(",") if n.strip()]
    if args.worker and 1 not in workers:
        workers.insert(0, 1)
    if args.mode in ("relay", "transcode"):
        for n in sorted(workers, reverse=True):
            name = "pycc-worker" if n == 1 else f"pycc-{n}-workers"
            targets.insert(1, name)
            if args.python_loop:
                targets.insert(2, f"{name}-py")
            if args.baseline:
                targets.insert(2, f"{name}-base")
    if args.realtime:
        targets += [f"{target}-rt" for target in targets
                    if (workers_of(target) and "-base" not in target) or target == "rtpengine"]
    if args.without_switch_alone and len(targets) > 1:
        targets.remove("pycc")
    if args.opus_complexity is not None and args.mode == "transcode":
        targets = [f"pycc-opus{int(c)}" for c in args.opus_complexity.split(",")]
    print(f"# {' '.join(sys.argv)}")
    print("| mode | calls | target | packets/s sent | loss % | p50 ms | p99 ms | relay CPU % |"
          " of it workers % | pycc / rtpengine CPU |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for calls in (int(c) for c in args.calls.split(",")):
        medians: dict[str, tuple[float, float, float, float, float, float]] = {}
        # Runs alternate between the targets: this VM's speed drifts within minutes, and
        # each target's median should see the same drift.
        runs: dict[str, list[RunResult]] = {target: [] for target in targets}
        for _ in range(args.runs):
            for target in targets:
                result = run_once(target, calls, args.seconds, args.mode, args.codec,
                                  args.reports and args.mode == "transcode", args.warm,
                                  args.pin, args.baseline)
                runs[target].append(result)
                # Each run on stderr too: the medians hide how much runs differ here.
                print(f"# {target} {calls}: {result.sent / args.seconds:,.0f}/s, loss "
                      f"{100 * result.loss:.2f} %, p50 {percentile(result.latencies_ms, 50):.2f}"
                      f" p99 {percentile(result.latencies_ms, 99):.2f} ms, CPU "
                      f"{100 * result.cpu:.0f} % (workers {100 * result.worker_cpu:.0f} %)",
                      file=sys.stderr, flush=True)
        for target, results in runs.items():
            medians[target] = (
                statistics.median(r.sent / args.seconds for r in results),
                statistics.median(100 * r.loss for r in results),
                statistics.median(percentile(r.latencies_ms, 50) for r in results),
                statistics.median(percentile(r.latencies_ms, 99) for r in results),
                statistics.median(100 * r.cpu for r in results),
                statistics.median(100 * r.worker_cpu for r in results),
            )
        for target in targets:
            rate, loss, p50, p99, cpu, worker_cpu = medians[target]
            ratio = ""
            reference = "rtpengine-rt" if target.endswith("-rt") else "rtpengine"
            if target.startswith("pycc") and reference in medians \
                    and medians[reference][4] > 0:
                ratio = f"{cpu / medians[reference][4]:.2f}"
            label = args.mode if args.mode != "transcode" else f"PCMU<->{args.codec}"
            loss = max(0.0, loss)  # packets of the warm-up second may land in the count
            print(f"| {label} | {calls} | {target} | {rate:,.0f} | {loss:.2f} | {p50:.2f} |"
                  f" {p99:.2f} | {cpu:.0f} | {worker_cpu:.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
