"""A campaign survives ``kill -9``: after the restart it resumes by itself, the calls that were
in flight are accounted for, and no contact that reached an agent is dialed again.

``pycc serve`` runs as an operator runs it (init, apply, campaign import, serve, agent login,
campaign start); SIPp plays the customers behind a trunk; two ``pycc.ua`` agents on their own
event loop answer every offer and hang up after a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from peers.net import LOOPBACK, free_port
from peers.process import wait_until
from peers.pycc_server import PYCC, PyccServer, log_size, run_cli, wait_serving
from peers.rtp_phone import RtpPhone
from peers.sipp import scenario, start_sipp_uas
from pycc.pds.store import DialerStore
from pycc.sip.address import Address
from pycc.store import Store, make_url
from pycc.ua import UserAgent

pytestmark = pytest.mark.peer

AGENTS = {"1001": ("agent-a", "secret-1001x"), "1002": ("agent-b", "secret-1002x")}
#: Every customer answers (last digits 3-9, see tests/scenarios/uas_customers.xml).
NUMBERS = [f"+1212555{2000 + 10 * i + 3 + i % 7:04d}" for i in range(16)]


def center_yaml(port: int) -> str:
    extensions = "\n".join(f"  - {{number: \"{ext}\", password: {pw}}}"
                           for ext, (_a, pw) in AGENTS.items())
    agents = "\n".join(f"  - {{id: {agent}, extension: \"{ext}\", skills: {{sales: 5}}}}"
                       for ext, (agent, _pw) in AGENTS.items())
    return f"""
tenant: default
extensions:
{extensions}
agents:
{agents}
queues:
  - {{name: outbound, skill: sales, ring_timeout: 5, wrapup: 0.2}}
trunks:
  - {{name: customers, host: "127.0.0.1:{port}", options_interval: 0, ips: []}}
campaigns:
  - name: spring
    mode: progressive
    queue: outbound
    trunk: customers
    caller_ids: ["+15551230000"]
    ring_time: 15
    retries: {{failed: {{max: 3, after: 1}}, abandoned: {{max: 3, after: 1}}}}
"""


class Agents:
    """The agents' phones on an event loop of their own (a thread), re-registering on
    demand, answering every call and hanging up after ``talk`` seconds."""

    def __init__(self, talk: float = 1.0) -> None:
        self.talk = talk
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.uas: list[UserAgent] = []
        self.phones: list[RtpPhone] = []
        self.tasks: list[asyncio.Future[None]] = []

    def run(self, coro: object, timeout: float = 20.0) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    async def _start(self, port: int) -> None:
        for ext, (_agent, password) in AGENTS.items():
            phone = RtpPhone()
            await phone.start()
            ua = UserAgent(ext, password, server=Address("udp", LOOPBACK, port),
                           rtp_port=phone.port, auto_answer=True)
            await ua.start()
            await ua.register()
            self.phones.append(phone)
            self.uas.append(ua)
            self.tasks.append(asyncio.ensure_future(self._answer(ua)))

    async def _answer(self, ua: UserAgent) -> None:
        while True:
            call = await ua.next_call(None)
            await call.answered.wait()
            await asyncio.sleep(self.talk)
            with contextlib.suppress(Exception):
                await call.hangup(2.0)

    async def _register(self) -> None:
        for ua in self.uas:
            await ua.register()

    async def _close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for ua in self.uas:
            await ua.close(graceful=False)
        for phone in self.phones:
            await phone.close()

    def start(self, port: int) -> None:
        self.run(self._start(port))

    def register_again(self) -> None:
        self.run(self._register())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def serve(data_dir: Path, sip_port: int, rtp_first: int, log_path: Path) -> PyccServer:
    sips_port = free_port("tcp")
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


def login_agents(data_dir: Path) -> None:
    for _ext, (agent, _pw) in AGENTS.items():
        done = run_cli(["agent", "login", agent, "--data-dir", str(data_dir)])
        assert done.returncode == 0, done.stderr


def test_campaign_resumes_after_kill_9_without_redialing_connected_contacts(
        tmp_path: Path) -> None:
    customers = start_sipp_uas(scenario("uas_customers"), calls=None, timeout=None,
                               extra_args=["-set", "ring", "200"],
                               workdir=tmp_path / "customers")
    data_dir = tmp_path / "data"
    assert run_cli(["init", "--data-dir", str(data_dir)]).returncode == 0
    (tmp_path / "center.yaml").write_text(center_yaml(customers.local_port), encoding="utf-8")
    applied = run_cli(["apply", str(tmp_path / "center.yaml"), "--data-dir", str(data_dir)])
    assert applied.returncode == 0, applied.stderr
    (tmp_path / "contacts.csv").write_text(
        "id,phone\n" + "".join(f"c{i},{n}\n" for i, n in enumerate(NUMBERS)), encoding="utf-8")
    imported = run_cli(["campaign", "import", "spring", str(tmp_path / "contacts.csv"),
                        "--data-dir", str(data_dir)])
    assert imported.returncode == 0, imported.stdout + imported.stderr
    sip_port, rtp_first = free_port("both"), free_port("udp", count=40)
    log_path = tmp_path / "pycc.log"
    agents = Agents(talk=1.0)
    server = serve(data_dir, sip_port, rtp_first, log_path)
    dialer = DialerStore(Store(make_url(data_dir, None)), "default")

    def connected() -> int:
        return sum(1 for c in dialer.contacts("spring") if c.result == "connected")

    try:
        agents.start(sip_port)
        login_agents(data_dir)
        started = run_cli(["campaign", "start", "spring", "--data-dir", str(data_dir)])
        assert started.returncode == 0, started.stderr
        assert wait_until(lambda: connected() >= 4, 30, interval=0.2), server.log()
        # Calls are up when the switch dies: no BYE, no records written by it.
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(5)
        before = {c.phone for c in dialer.contacts("spring") if c.result == "connected"}
        time.sleep(0.5)
        server = serve(data_dir, sip_port, rtp_first, log_path)
        agents.register_again()
        login_agents(data_dir)  # agent state lives in the switch: the agents log in again
        assert wait_until(
            lambda: all(c.state == "done" for c in dialer.contacts("spring")), 60,
            interval=0.3), server.log()
        status = run_cli(["campaign", "status", "spring", "--data-dir", str(data_dir)])
        assert status.returncode == 0 and '"running": true' in status.stdout, status.stdout
    finally:
        agents.close()
        server.stop()
        customers.stop()
    contacts = dialer.contacts("spring")
    assert {c.phone: c.result for c in contacts} == {n: "connected" for n in NUMBERS}
    attempts = dialer.attempts("spring")
    per_number = Counter(a.number for a in attempts)
    # Contacts connected before the crash were never dialed again.
    for number in before:
        assert per_number[number] == 1, (number, per_number[number])
    # Every attempt ended in a stored result; only one per contact is a connection.
    assert all(a.result for a in attempts), [a for a in attempts if not a.result]
    connections = Counter(a.number for a in attempts if a.result == "connected")
    assert all(count == 1 for count in connections.values()), connections
    log = (customers.workdir / "messages.log").read_text(encoding="utf-8", errors="replace")
    invites = Counter(re.findall(r"INVITE sip:(\+\d+)@", log))
    assert invites == per_number, (invites, per_number)
