"""A recording is not lost when ``pycc serve`` is killed with SIGKILL in the middle of the
call: after the restart the call's record (closed as "interrupted") names it, the catalog
has it with the SHA-256 of the file the recorder left, and the admin API serves those
bytes under that digest.

``pycc serve`` runs as an operator runs it (init, then serve with ``record_calls``); the
phones are ``pycc.ua`` user agents in the test's own event loop, sending tones over RTP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import signal
import subprocess
import time
from pathlib import Path

import httpx

from peers.net import LOOPBACK, free_port, wait_port
from peers.pycc_server import PYCC, run_cli
from peers.rtp_phone import RtpPhone
from pycc.aaa.accounts import create_user, issue_token
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.files import catalog
from pycc.sip.address import Address
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.ua import UserAgent

PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002"}


def serve(data: Path, log: Path, sip_port: int, http_port: int,
          rtp: int) -> subprocess.Popen[bytes]:
    argv = [*PYCC, "serve", "--http-port", "0", "--data-dir", str(data), "--bind", LOOPBACK,
            "--sip-port", str(sip_port), "--sips-port", "-1", "--http-port", str(http_port),
            "--rtp-ports", f"{rtp}-{rtp + 19}"]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(http_port, 20.0)
    except Exception:
        proc.kill()
        raise AssertionError(log.read_text(errors="replace")[-3000:]) from None
    return proc


async def talk_then_kill(server: Address, proc: subprocess.Popen[bytes]) -> str:
    """1001 calls 1002; after a second and a half of tones, the server is killed."""
    async with contextlib.AsyncExitStack() as stack:
        phones = {}
        for number in ("1002", "1001"):
            rtp = await stack.enter_async_context(RtpPhone())
            ua = UserAgent(number, PASSWORDS[number], server=server, rtp_port=rtp.port,
                           auto_answer=True)
            await stack.enter_async_context(ua)
            if number == "1002":
                await ua.register()
            phones[number] = (ua, rtp)
        call = await phones["1001"][0].call("1002", timeout=5)
        phones["1001"][1].learn(call.remote_sdp)
        incoming = await phones["1002"][0].next_call(5)
        await asyncio.wait_for(incoming.answered.wait(), 5)
        phones["1002"][1].learn(incoming.remote_sdp)
        phones["1001"][1].tone(800)
        phones["1002"][1].tone(1200)
        await asyncio.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        # Nobody answers the phones' BYE and de-registration any more: leave at once.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stack.aclose(), 3)
        return call.call_id


def test_a_recording_survives_kill_9_and_is_catalogued_after_restart(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "pycc.log"
    assert run_cli(["init", "--data-dir", str(data)]).returncode == 0
    toml = data / "pycc.toml"
    text = toml.read_text(encoding="utf-8").replace("record_calls = false", "record_calls = true")
    toml.write_text(text + "\n[files]\nindex_interval = 0.3\n", encoding="utf-8")
    store = Store(make_url(data, None))
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    now = time.time()
    fast = ScryptParams(log2_n=4, r=1, p=1)
    create_user(store, "default", "root", "admin", password="pw-root-123456", now=now,
                origin=Origin("tests", "cli"), params=fast)
    token = issue_token(store, "default", "root", now=now, origin=Origin("tests", "cli"))
    sip_port, http_port, rtp = free_port("both"), free_port("tcp"), free_port("udp", count=20)
    proc = serve(data, log, sip_port, http_port, rtp)
    try:
        call_id = asyncio.run(asyncio.wait_for(
            talk_then_kill(Address("udp", LOOPBACK, sip_port), proc), 30))
        left = [r for r in store.list_call_records("default", include_open=True)
                if r.call_id == call_id]
        assert [r.state for r in left] == ["open"]
        assert catalog.list_files(store, "default", catalog.RECORDING) == []
        (on_disk,) = list((data / "recordings").rglob("*.wav"))
        proc = serve(data, log, sip_port, http_port, rtp)
        deadline = time.monotonic() + 15
        rows = []
        while not rows and time.monotonic() < deadline:
            rows = catalog.list_files(store, "default", catalog.RECORDING)
            time.sleep(0.2)
        assert rows, log.read_text(errors="replace")[-3000:]
        (row,) = rows
        content = on_disk.read_bytes()
        assert row.call_id == call_id
        assert row.path == on_disk.relative_to(data / "recordings").as_posix()
        assert row.sha256 == hashlib.sha256(content).hexdigest()
        assert row.duration is not None and 0.3 < row.duration < 2.5, row.duration
        (record,) = [r for r in store.list_call_records("default") if r.call_id == call_id]
        assert (record.disposition, record.recording) == ("interrupted", row.path)
        response = httpx.get(f"http://{LOOPBACK}:{http_port}/v1/recordings/{row.id}/content",
                             headers={"Authorization": f"Bearer {token.plaintext}"},
                             timeout=10)
        assert response.status_code == 200, response.text
        assert response.content == content
        digest = response.headers["repr-digest"][len("sha-256=:"):-1]
        assert base64.b64decode(digest).hex() == hashlib.sha256(response.content).hexdigest()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.close()
