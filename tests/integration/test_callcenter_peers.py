"""The inbound call center with real peers, as an operator runs it: ``pycc init``, ``pycc
apply FILE``, ``pycc serve``, ``pycc agent login`` and ``pycc status``, and baresip phones
that say a tone each and record what they hear.

A caller dials a DID, hears the menu, presses 1 (RFC 4733) and waits in "sales" hearing
music. Two agents are logged in: the longest-idle one rings, does not answer and is set not
ready; the other answers and the two talk; a supervisor whispers (the agent hears it, the
caller does not); after the hang-up the agent is in wrap-up, then available; the call record
shows the IVR path, the queue wait, the agent and the talk time.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from peers.audio import tone_energy_ratio, tone_present
from peers.baresip import BaresipPhone, start_baresip
from peers.net import LOOPBACK, free_port
from peers.process import wait_until
from peers.pycc_server import PYCC, PyccServer, log_size, run_cli, wait_serving
from pycc.store import Store, make_url
from pycc.store.models import CallRecord

pytestmark = pytest.mark.peer

PASSWORDS = {ext: f"secret{ext}" for ext in ("1001", "1002", "1003", "1004")}
DID = "+15551230000"

CENTER = f"""
tenant: default
extensions:
  - {{number: "1001", password: {PASSWORDS["1001"]}, name: Alice}}
  - {{number: "1002", password: {PASSWORDS["1002"]}, name: Bob}}
  - {{number: "1003", password: {PASSWORDS["1003"]}, name: Caller}}
  - {{number: "1004", password: {PASSWORDS["1004"]}, name: Boss}}
agents:
  - {{id: alice, extension: "1001", skills: {{sales: 5}}}}
  - {{id: bob, extension: "1002", skills: {{sales: 5}}}}
queues:
  - name: sales
    skill: sales
    strategy: longest-idle
    ring_timeout: 15                # outlasts a few `pycc status` runs on a busy machine
    wrapup: 6                       # the same for wrap-up
    music: tone:hold
ivr:
  - name: main
    steps:
      - answer
      - menu:
          prompt: tone:dial
          timeout: 8
          options:
            "1": {{queue: sales}}
dids:
  - {{number: "{DID}", to: {{ivr: main}}}}
"""


def serve(workdir: Path, rtp_first: int, *extra: str) -> PyccServer:
    data_dir = workdir / "data"
    done = run_cli(["init", "--data-dir", str(data_dir)])
    assert done.returncode == 0, done.stderr
    center = workdir / "center.yaml"
    center.write_text(CENTER, encoding="utf-8")
    applied = run_cli(["apply", str(center), "--data-dir", str(data_dir)])
    assert applied.returncode == 0, applied.stderr
    again = run_cli(["apply", str(center), "--data-dir", str(data_dir)])
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr
    sip_port, sips_port = free_port("both"), free_port("tcp")
    log_path = workdir / "pycc.log"
    argv = [*PYCC, "serve", "--http-port", "0", "--data-dir", str(data_dir), "--bind", LOOPBACK,
            "--sip-port", str(sip_port), "--sips-port", str(sips_port),
            "--rtp-ports", f"{rtp_first}-{rtp_first + 39}", *extra]
    since = log_size(log_path)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = PyccServer(data_dir, sip_port, sips_port, proc, log_path)
    wait_serving(server, since)
    return server


def phone(server: PyccServer, workdir: Path, user: str, tone: float,
          auto_answer: bool = False) -> BaresipPhone:
    return start_baresip(workdir, sip_user=user, password=PASSWORDS[user],
                         registrar_port=server.sip_port, codecs=("pcmu",), tone_hz=tone,
                         tone_seconds=40.0, auto_answer=auto_answer)


def status(server: PyccServer) -> dict[str, dict[str, object]]:
    done = run_cli(["status", "--format", "json", "--data-dir", str(server.data_dir)])
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    return {agent["agent"]: agent for agent in state["agents"]}


def agent_is(server: PyccServer, agent: str, status_: str, state: str,
             timeout: float = 8.0) -> None:
    found: dict[str, object] = {}

    def check() -> bool:
        nonlocal found
        found = status(server)[agent]
        return (found["status"], found["state"]) == (status_, state)

    assert wait_until(check, timeout, interval=0.1), (agent, found["status"], found["state"])


def call_record(server: PyccServer, timeout: float = 10.0) -> CallRecord:
    found: list[CallRecord] = []

    def written() -> bool:
        nonlocal found
        with Store(make_url(server.data_dir, None)) as store:
            found = [r for r in store.list_call_records("default") if r.callee == DID]
        return bool(found)

    assert wait_until(written, timeout, interval=0.2), server.log()
    return found[0]


def test_did_menu_queue_agents_whisper_and_wrap_up(tmp_path: Path) -> None:
    rtp_first = free_port("udp", count=40)
    server = serve(tmp_path, rtp_first)
    phones: list[BaresipPhone] = []
    try:
        alice = phone(server, tmp_path, "1001", 300.0)
        bob = phone(server, tmp_path, "1002", 400.0)
        caller = phone(server, tmp_path, "1003", 1000.0)
        boss = phone(server, tmp_path, "1004", 2000.0)
        phones += [alice, bob, caller, boss]
        for agent in ("alice", "bob"):
            done = run_cli(["agent", "login", agent, "--data-dir", str(server.data_dir)])
            assert done.returncode == 0, done.stderr
            assert f"{agent}: available / idle" in done.stdout
            time.sleep(0.2)  # alice has been idle longest
        refused = run_cli(["agent", "ready", "nobody", "--data-dir", str(server.data_dir)])
        assert refused.returncode == 1 and "no agent 'nobody'" in refused.stderr

        caller.dial(DID)
        caller.wait_event("CALL_ESTABLISHED", timeout=10)
        time.sleep(1.0)  # the menu's prompt plays
        caller.send_digits("1")

        # alice rings first and does not answer: after the ring timeout she is not ready.
        alice.wait_event("CALL_INCOMING", timeout=10)
        agent_is(server, "alice", "available", "reserved")
        alice.wait_event("CALL_CLOSED", timeout=25)
        agent_is(server, "alice", "not_ready", "idle")

        # bob rings next and answers.
        bob.wait_event("CALL_INCOMING", timeout=10)
        bob.accept()
        bob.wait_event("CALL_ESTABLISHED", timeout=10)
        agent_is(server, "bob", "available", "on_call")
        time.sleep(2.0)

        # The supervisor whispers to bob.
        boss.dial("*34bob")
        boss.wait_event("CALL_ESTABLISHED", timeout=10)
        time.sleep(2.5)
        boss.hangup()
        boss.wait_event("CALL_CLOSED", timeout=10)
        time.sleep(0.5)

        caller.hangup()
        caller.wait_event("CALL_CLOSED", timeout=10)
        bob.wait_event("CALL_CLOSED", timeout=10)
        agent_is(server, "bob", "available", "wrap_up", timeout=5)
        agent_is(server, "bob", "available", "idle", timeout=10)
    finally:
        for each in phones:
            each.stop()
        server.stop()
    log = server.log()

    heard_by_caller = caller.last_recording()
    heard_by_bob = bob.last_recording()
    assert heard_by_caller is not None and heard_by_bob is not None, log
    # Each side heard the other; the whisper reached bob and not the caller.
    assert tone_present(heard_by_caller, 400, min_energy_ratio=0.2), tone_energy_ratio(
        heard_by_caller, 400)
    assert tone_energy_ratio(heard_by_caller, 2000) < 0.01, tone_energy_ratio(
        heard_by_caller, 2000)
    assert tone_energy_ratio(heard_by_bob, 1000) > 0.3, tone_energy_ratio(heard_by_bob, 1000)
    assert tone_energy_ratio(heard_by_bob, 2000) > 0.05, tone_energy_ratio(heard_by_bob, 2000)

    record = call_record(server)
    assert record.disposition == "answered" and record.caller == "1003"
    assert record.route is not None
    assert record.ivr_path is not None and "queue:sales=answered" in record.ivr_path
    assert record.ivr_path.startswith("main")
    assert record.queue == "sales" and record.agent == "bob"
    assert record.queue_wait is not None and record.queue_wait >= 2.0
    assert record.agent_answer is not None
    talk = record.end - record.agent_answer
    assert 4.0 < talk < 15.0, talk


def test_agent_phone_killed_mid_call(tmp_path: Path) -> None:
    """bob's phone is killed (SIGKILL: no BYE, no more RTP) while he talks to a caller: the
    caller's call is ended by pycc, bob is set not ready (his phone is gone), and the call
    record still names him."""
    rtp_first = free_port("udp", count=40)
    server = serve(tmp_path, rtp_first, "--rtp-timeout", "3")
    phones: list[BaresipPhone] = []
    try:
        bob = phone(server, tmp_path, "1002", 400.0)
        caller = phone(server, tmp_path, "1003", 1000.0)
        phones += [bob, caller]
        done = run_cli(["agent", "login", "bob", "--data-dir", str(server.data_dir)])
        assert done.returncode == 0, done.stderr
        caller.dial(DID)
        caller.wait_event("CALL_ESTABLISHED", timeout=10)
        time.sleep(1.0)
        caller.send_digits("1")
        bob.wait_event("CALL_INCOMING", timeout=10)
        bob.accept()
        bob.wait_event("CALL_ESTABLISHED", timeout=10)
        time.sleep(1.0)
        bob.process.kill()
        bob.process.wait(5)
        # pycc notices the silence after --rtp-timeout and hangs the caller up.
        caller.wait_event("CALL_CLOSED", timeout=15)
        agent_is(server, "bob", "not_ready", "idle", timeout=5)
    finally:
        for each in phones:
            each.stop()
        server.stop()
    record = call_record(server)
    assert record.agent == "bob" and record.disposition == "answered"
    assert record.hangup_by == "system"
