"""Call records survive ``kill -9``: every call has exactly one record after the restart.

``pycc serve`` runs as an operator runs it (init, apply, serve). SIPp phones call the echo
service (answered by pycc itself), an outside number over a trunk that SIPp answers, and an
IVR that transfers to an outside number (a call pycc places itself); two short calls end
before the crash. While the long calls are up the switch is killed with SIGKILL, so it writes
nothing more. After the restart every Call-ID the phones sent has one record: the short calls
as they ended, the calls that were up closed as "interrupted" by the system, with the time
they were last known to be up, their durations and the cost of the calls out.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from peers.net import LOOPBACK, free_port
from peers.process import wait_until
from peers.pycc_server import PYCC, PyccServer, log_size, run_cli, wait_serving
from peers.sipp import (
    SippProcess,
    run_sipp,
    scenario,
    start_sipp,
    start_sipp_uas,
    write_credentials,
)
from pycc.store import CallRecord, Store, make_url

pytestmark = pytest.mark.peer

PASSWORD = "secret-1001x"
ECHO = "9196"
OUTSIDE = "05550100"  # the route strips the 0: the trunk is asked for 5550100
TRANSFER = "7000"
LONG_CALLS = 3


def center_yaml(trunk_port: int) -> str:
    return f"""
tenant: default
extensions:
  - {{number: "1001", password: {PASSWORD}}}
trunks:
  - {{name: carrier, host: "127.0.0.1:{trunk_port}", options_interval: 0, ips: []}}
ivr:
  - name: out
    steps:
      - transfer: {{number: "05550199"}}
routes:
  - {{match: "{TRANSFER}", to: {{ivr: out}}}}
  - {{match: "_0X.", to: {{trunk: carrier}}, translate: {{strip: 1}}}}
rates:
  tables:
    - name: standard
      rates:
        - {{prefix: "555", price: 0.60, increment: 1/1}}
  default: standard
"""


def serve(data_dir: Path, log_path: Path) -> PyccServer:
    sip_port, sips_port, rtp_first = free_port("both"), free_port("tcp"), free_port("udp", count=40)
    argv = [*PYCC, "serve", "--http-port", "0", "--data-dir", str(data_dir), "--bind", LOOPBACK,
            "--sip-port", str(sip_port), "--sips-port", str(sips_port),
            "--rtp-ports", f"{rtp_first}-{rtp_first + 39}"]
    since = log_size(log_path)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = PyccServer(data_dir, sip_port, sips_port, proc, log_path)
    wait_serving(server, since)
    return server


def call_ids(*callers: SippProcess | Path) -> set[str]:
    """The Call-IDs of the INVITEs the SIPp callers sent."""
    found: set[str] = set()
    for caller in callers:
        workdir = caller if isinstance(caller, Path) else caller.workdir
        text = (workdir / "messages.log").read_text(encoding="utf-8", errors="replace")
        found.update(re.findall(r"^\s*Call-ID: (\S+)", text, flags=re.MULTILINE))
    return found


def test_kill_9_leaves_one_record_per_call(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "pycc.log"
    trunk = start_sipp_uas(scenario("uas_answer"), calls=LONG_CALLS + 1, timeout=90,
                           workdir=tmp_path / "trunk")
    assert run_cli(["init", "--data-dir", str(data_dir)]).returncode == 0
    (tmp_path / "center.yaml").write_text(center_yaml(trunk.local_port), encoding="utf-8")
    applied = run_cli(["apply", str(tmp_path / "center.yaml"), "--data-dir", str(data_dir)])
    assert applied.returncode == 0, applied.stderr
    inf = write_credentials(tmp_path / "1001.csv", [("1001", PASSWORD)])
    store = Store(make_url(data_dir, None))
    server = serve(data_dir, log_path)
    callers: list[SippProcess] = []

    def open_answered() -> list[CallRecord]:
        return [r for r in store.list_call_records(include_open=True)
                if r.state == "open" and r.answer is not None]

    try:
        short = run_sipp(scenario("uac_call_auth"), server.address, service=ECHO,
                         inf_file=inf, calls=2, pause_ms=300, workdir=tmp_path / "short")
        assert short.ok and short.successful == 2, short.describe()
        for service, name in ((ECHO, "echo"), (OUTSIDE, "outside"), (TRANSFER, "transfer")):
            callers.append(start_sipp(
                scenario("uac_call_long"), server.address, service=service, inf_file=inf,
                calls=LONG_CALLS if service != TRANSFER else 1, timeout=60,
                workdir=tmp_path / name))
        # Every call up: 3 echo + 3 outside + the transfer's caller and its call out.
        up = 2 * LONG_CALLS + 2
        assert wait_until(lambda: len(open_answered()) == up, 20, interval=0.2), (
            [(r.call_id, r.state, r.answer) for r in store.list_call_records(
                include_open=True)], server.log())
        time.sleep(2.5)  # talking; the heartbeat notes the calls are still up
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(5)
        killed_at = time.time()
        sent = call_ids(short.workdir, *callers)
        for caller in callers:
            caller.stop(grace=1.0)
        left_open = {r.call_id for r in store.list_call_records(include_open=True)
                     if r.state == "open"}
        assert len(left_open) == up
        server = serve(data_dir, log_path)
        # Closed before the switch takes calls: by the time it listens, nothing is open.
        records = store.list_call_records(include_open=True)
        server.stop()
        server = serve(data_dir, log_path)  # a second restart finds nothing more to close
        server.stop()
    finally:
        server.stop()
        for caller in callers:
            caller.stop(grace=0.5)
        trunk.stop(grace=0.5)
    again = store.list_call_records(include_open=True)
    store.close()
    assert [r.model_dump() for r in again] == [r.model_dump() for r in records]
    by_id = {record.call_id: record for record in records}
    assert len(by_id) == len(records), Counter(r.call_id for r in records)
    assert all(record.state == "closed" for record in records)
    # Every call the phones made has its record, and so has the call pycc placed.
    placed = set(by_id) - sent
    assert sent <= set(by_id) and len(placed) == 1, (sent, set(by_id))
    interrupted = {cid for cid, record in by_id.items() if record.disposition == "interrupted"}
    assert interrupted == left_open
    for call_id in interrupted:
        record = by_id[call_id]
        assert record.hangup_by == "system" and record.answer is not None
        # Last known up: the heartbeat moved the end past the answer, before the kill.
        assert record.answer < record.end <= killed_at
        assert record.duration == pytest.approx(record.end - record.answer, abs=0.002)
    finished = [r for r in records if r.call_id not in interrupted]
    assert [(r.callee, r.disposition, r.hangup_by) for r in finished] == \
        [(ECHO, "answered", "caller")] * 2
    outside = [r for r in records if r.callee_dialed == OUTSIDE]
    assert len(outside) == LONG_CALLS
    for record in outside:
        assert (record.direction, record.trunk, record.callee) == ("outbound", "carrier",
                                                                   "5550100")
        assert (record.rate_table, record.rate_prefix) == ("standard", "555")
        # 0.60 a minute, by the second: 10 000 micro-units a second.
        assert record.cost == 10_000 * -(-record.duration // 1) > 0
    [out] = [by_id[call_id] for call_id in placed]
    assert (out.direction, out.trunk, out.callee, out.callee_dialed, out.route) == \
        ("outbound", "carrier", "5550199", "05550199", "transfer")
    assert out.disposition == "interrupted" and out.cost is not None and out.cost > 0
    echo = [r for r in records if r.callee == ECHO]
    assert len(echo) == LONG_CALLS + 2 and all(r.cost == 0 for r in echo)
    assert all(r.direction == "internal" for r in echo)
    log = log_path.read_text(errors="replace")
    assert f"closed {2 * LONG_CALLS + 2} call records left open" in log
