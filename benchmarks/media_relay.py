"""Media benchmark: pycc's RTP relay and transcoding against rtpengine, on loopback.

    python benchmarks/media_relay.py --runs 3 --seconds 8 --calls 250,500,1000 [--workers 1,2]
    python benchmarks/media_relay.py --mode transcode --codec opus --calls 40,80 \
        [--opus-complexity 5,1] [--workers 1,2] [--reports]
    python benchmarks/media_relay.py --mode transcode --codec G729 --calls 75,150
    python benchmarks/media_relay.py --mode conference --calls 100,200

Each call has two phones: phone A sends PCMU (20 ms, 50 packets/s) to the relay's A-side
port, phone B sends to the B-side port, and each receives the other's packets through the
relay. All A phones share one UDP socket and all B phones another (each leg still has its own
relay ports and latches onto its phone's address), so the load generator is two sockets and a
tight loop. A packet carries its call number and send time in its payload, so the receiver
measures loss and added latency per packet: from just before the generator's ``sendto`` to
the kernel's receive time at the far phone's socket (SO_TIMESTAMPNS), so that neither the
generator's 20 ms bursts nor its own delay in reading count as the relay's.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
PTIME = 0.02
_HEADER = struct.Struct("!BBHII")
_STAMP = struct.Struct("!IBQ")  # call, direction, send time in ns
_RR = struct.Struct("!BBHIIIIIII")  # RR header, sender SSRC, one report block
#: The kernel's receive time of each datagram, as a struct timespec (Linux).
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")


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
    server = MediaServer(LOOPBACK, args.rtp_ports, rtp_timeout=0,
                         relay_workers=args.relay_workers)
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
               ) -> tuple[subprocess.Popen[str], list[tuple[int, int]]]:
    base = 30000
    span = max(200, calls * 4 + 100)
    argv = [sys.executable, __file__, "--serve-pycc", "--calls", str(calls),
            "--a-port", str(a_port), "--b-port", str(b_port), "--mode", mode,
            "--codec", codec, "--rtp-ports", f"{base}-{base + span}",
            "--relay-workers", str(relay_workers)]
    if opus_complexity is not None:
        argv += ["--opus-complexity", str(opus_complexity)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
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


def start_rtpengine(calls: int, a_port: int,
                    b_port: int) -> tuple[subprocess.Popen[bytes], list[tuple[int, int]]]:
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

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and of its child processes (pycc's relay worker)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


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


def arrival_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    """When the kernel received a datagram (SO_TIMESTAMPNS), else now."""
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(value)
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()


def generate(ports: list[tuple[int, int]], a_sock: socket.socket, b_sock: socket.socket,
             seconds: float, pid: int, *, b_codec: str = "PCMU",
             conference: bool = False, warm: float = 1.0, reports: bool = False) -> RunResult:
    calls = len(ports)
    b_payload = payload_for(b_codec)
    b_pt = CODECS[b_codec][1]
    ssrcs = [secrets.randbits(32) for _ in range(2 * calls)]
    packets_a = [bytearray(12 + 160) for _ in range(calls)]
    packets_b = [bytearray(12 + max(len(b_payload), 13)) for _ in range(calls)]
    for i in range(calls):
        packets_b[i][12:12 + len(b_payload)] = b_payload
    latencies: list[float] = []
    received = sent = 0
    selector = selectors.DefaultSelector()
    selector.register(a_sock, selectors.EVENT_READ)
    selector.register(b_sock, selectors.EVENT_READ)
    start = time.monotonic()
    cpu_start: float | None = None
    measure_from = start + warm
    end = start + warm + seconds
    tick = 0
    next_tick = start
    counted_sent = 0
    # With reports: each phone's RTCP receiver report once a second, about the stream pycc
    # sends it (its SSRC learnt from the packets), to pycc's RTCP port (RTP + 1).
    phone_of = {port: (2 * i + side, port + 1) for i, pair in enumerate(ports)
                for side, port in enumerate(pair)}
    heard: dict[int, int] = {}
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_tick:
            measuring = now >= measure_from
            if measuring and cpu_start is None:
                cpu_start = cpu_seconds(pid)
            seq, ts = tick & 0xFFFF, tick * 160
            for i, (a_side, b_side) in enumerate(ports):
                packet = packets_a[i]
                _HEADER.pack_into(packet, 0, 0x80, 0, seq, ts, ssrcs[2 * i])
                # Each packet is stamped just before it leaves: the time the generator takes
                # to send a tick's burst is not the relay's.
                _STAMP.pack_into(packet, 12, i, 0, time.time_ns())
                a_sock.sendto(packet, (LOOPBACK, a_side))
                if not conference:
                    packet = packets_b[i]
                    _HEADER.pack_into(packet, 0, 0x80, b_pt, seq, ts * (6 if b_codec == "opus"
                                                                          else 1),
                                      ssrcs[2 * i + 1])
                    if b_codec == "PCMU":
                        _STAMP.pack_into(packet, 12, i, 1, time.time_ns())
                    b_sock.sendto(packet, (LOOPBACK, b_side))
            if reports and tick % 50 == 0:
                for port, ssrc in heard.items():
                    phone, rtcp_port = phone_of[port]
                    (b_sock if phone % 2 else a_sock).sendto(
                        receiver_report(ssrcs[phone], ssrc), (LOOPBACK, rtcp_port))
            per_tick = calls if conference else 2 * calls
            sent += per_tick
            if measuring:
                counted_sent += per_tick
            tick += 1
            next_tick = start + tick * PTIME
        timeout = max(0.0, next_tick - time.monotonic())
        for key, _ in selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            while True:
                try:
                    data, ancillary, _flags, source = sock.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                if reports and source[1] not in heard and len(data) >= 12:
                    heard[source[1]] = int.from_bytes(data[8:12], "big")
                if time.monotonic() < measure_from:
                    continue
                received += 1
                if len(data) >= 12 + _STAMP.size and not conference:
                    call, direction, stamp = _STAMP.unpack_from(data, 12)
                    if call < calls and direction in (0, 1) and stamp > 10**9:
                        # Up to the kernel's receive time: how long the generator takes to
                        # come round to reading is not the relay's either.
                        latencies.append((arrival_ns(ancillary) - stamp) / 1e6)
    # Let the last packets arrive.
    drain_until = time.monotonic() + 0.3
    while time.monotonic() < drain_until:
        for key, _ in selector.select(0.05):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            while True:
                try:
                    sock.recv(2048)
                except BlockingIOError:
                    break
                received += 1
    cpu = cpu_seconds(pid) - (cpu_start or 0.0)
    # In a conference each phone sends one stream and hears one mix: as many packets back.
    return RunResult(counted_sent, received, latencies, cpu / seconds)


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
    N, plain "pycc" none."""
    if target == "pycc-worker":
        return 1
    if target.startswith("pycc-") and target.endswith("-workers"):
        return int(target.split("-")[1])
    return 0


def run_once(target: str, calls: int, seconds: float, mode: str, codec: str,
             reports: bool = False) -> RunResult:
    a_sock, b_sock = bound_socket(), bound_socket()
    a_port, b_port = a_sock.getsockname()[1], b_sock.getsockname()[1]
    proc: subprocess.Popen[str] | subprocess.Popen[bytes]
    if target.startswith("pycc"):
        complexity = int(target[len("pycc-opus"):]) if target.startswith("pycc-opus") else None
        proc, ports = start_pycc(calls, a_port, b_port, mode, codec,
                                 relay_workers=workers_of(target),
                                 opus_complexity=complexity)
    else:
        proc, ports = start_rtpengine(calls, a_port, b_port)
    try:
        # With the relay worker, a call's packets move to it once its sources lock (3 s).
        return generate(ports, a_sock, b_sock, seconds, proc.pid, b_codec=codec,
                        conference=mode == "conference",
                        warm=5.0 if workers_of(target) else 1.0, reports=reports)
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
    parser.add_argument("--reports", action="store_true",
                        help="transcode mode: each phone sends an RTCP receiver report a "
                             "second saying it lost nothing, as phones on a clean network do "
                             "(pycc's Opus encoder then sends no FEC)")
    args = parser.parse_args()
    if args.serve_pycc:
        args.calls = int(args.calls)
        import uvloop

        uvloop.run(serve_pycc(args))
        return
    if args.mode == "relay":
        args.codec = "PCMU"
    targets = ["pycc", "rtpengine"] if args.mode == "relay" else ["pycc"]
    workers = [int(n) for n in args.workers.split(",") if n.strip()]
    if args.worker and 1 not in workers:
        workers.insert(0, 1)
    if args.mode in ("relay", "transcode"):
        for n in sorted(workers, reverse=True):
            targets.insert(1, "pycc-worker" if n == 1 else f"pycc-{n}-workers")
    if args.opus_complexity is not None and args.mode == "transcode":
        targets = [f"pycc-opus{int(c)}" for c in args.opus_complexity.split(",")]
    print(f"# {' '.join(sys.argv)}")
    print("| mode | calls | target | packets/s sent | loss % | p50 ms | p99 ms | relay CPU % |"
          " pycc / rtpengine CPU |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for calls in (int(c) for c in args.calls.split(",")):
        medians: dict[str, tuple[float, float, float, float, float]] = {}
        # Runs alternate between the targets: this VM's speed drifts within minutes, and
        # each target's median should see the same drift.
        runs: dict[str, list[RunResult]] = {target: [] for target in targets}
        for _ in range(args.runs):
            for target in targets:
                runs[target].append(run_once(target, calls, args.seconds, args.mode,
                                             args.codec,
                                             args.reports and args.mode == "transcode"))
        for target, results in runs.items():
            medians[target] = (
                statistics.median(r.sent / args.seconds for r in results),
                statistics.median(100 * r.loss for r in results),
                statistics.median(percentile(r.latencies_ms, 50) for r in results),
                statistics.median(percentile(r.latencies_ms, 99) for r in results),
                statistics.median(100 * r.cpu for r in results),
            )
        for target in targets:
            rate, loss, p50, p99, cpu = medians[target]
            ratio = ""
            if target.startswith("pycc") and "rtpengine" in medians \
                    and medians["rtpengine"][4] > 0:
                ratio = f"{cpu / medians['rtpengine'][4]:.2f}"
            label = args.mode if args.mode != "transcode" else f"PCMU<->{args.codec}"
            loss = max(0.0, loss)  # packets of the warm-up second may land in the count
            print(f"| {label} | {calls} | {target} | {rate:,.0f} | {loss:.2f} | {p50:.2f} |"
                  f" {p99:.2f} | {cpu:.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
