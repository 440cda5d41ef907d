"""``pycc serve`` stops cleanly on SIGTERM and SIGINT (DESIGN.md's command-line contract).

A call is up between two SIPp phones when the switch is told to stop: both phones must get a
BYE (their scenarios wait for it and answer it), the process must exit 0 within seconds, and
the call's record must be written (answered, hung up by the system). Without calls, a stop
and a restart on the same data directory just work.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from peers.process import wait_until
from peers.pycc_server import PyccServer, start_pycc
from peers.sipp import (
    SipAccount,
    SippProcess,
    register,
    scenario,
    start_sipp,
    start_sipp_uas,
    write_credentials,
)

pytestmark = pytest.mark.peer

USERS = [("1001", "secret1001"), ("1002", "secret1002")]
STOP_WITHIN = 5.0


def stop_with(server: PyccServer, sig: signal.Signals) -> tuple[int, float]:
    """Send ``sig`` and wait for the exit: (exit code, seconds it took)."""
    started = time.monotonic()
    server.proc.send_signal(sig)
    try:
        code = server.proc.wait(STOP_WITHIN * 3)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        pytest.fail(f"pycc did not exit after {sig.name}:\n{server.log()}")
    return code, time.monotonic() - started


def call_is_up(caller: SippProcess) -> bool:
    """The caller has ACKed the 200 (SIPp writes its message trace as it goes)."""
    messages = caller.workdir / "messages.log"
    return messages.exists() and "CSeq: 2 ACK" in messages.read_text(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_during_a_call_hangs_it_up_and_writes_the_record(
    tmp_path: Path, sig: signal.Signals
) -> None:
    server = start_pycc(tmp_path, USERS)
    try:
        account = SipAccount("1002", "secret1002", server.address)
        with start_sipp_uas(scenario("uas_answer"), account=account,
                            workdir=tmp_path / "uas") as callee:
            inf = write_credentials(tmp_path / "1001.csv", [("1001", "secret1001")])
            with start_sipp(scenario("uac_call_long"), server.address, service="1002",
                            inf_file=inf, calls=1, timeout=60,
                            workdir=tmp_path / "uac") as caller:
                assert wait_until(lambda: call_is_up(caller), 15), (
                    f"the call did not come up:\n{caller.stop().describe()}\n{server.log()}"
                )
                time.sleep(0.5)  # talking
                assert server.cdrs() == []  # nothing written while the call is up
                code, took = stop_with(server, sig)
                assert code == 0, server.log()
                assert took < STOP_WITHIN, f"pycc took {took:.1f}s to stop"
                uac = caller.wait(15)
                uas = callee.wait(15)
        assert uac.ok and uac.successful == 1, uac.describe()
        assert uas.ok and uas.successful == 1, uas.describe()
        # Both legs were hung up by the switch, not by the phones.
        assert "BYE sip:" in uac.messages() and "BYE sip:" in uas.messages()
    finally:
        server.stop()

    records = server.cdrs()  # read with `pycc report cdr` from the stopped switch's data dir
    assert len(records) == 1, records
    record = records[0]
    assert (record["caller"], record["callee"]) == ("1001", "1002")
    assert record["disposition"] == "answered"
    assert record["hangup_by"] == "system"
    assert record["answer"] is not None and record["start"] <= record["answer"] <= record["end"]
    assert record["duration"] >= 0.5
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def options_answered(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        host, local = sock.getsockname()
        sock.sendto(
            (
                "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK-restart{local};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@127.0.0.1>;tag=t{local}\r\n"
                "To: <sip:probe@127.0.0.1>\r\n"
                f"Call-ID: restart{local}@pycc-tests\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", port),
        )
        sock.settimeout(3.0)
        try:
            return sock.recv(65_536).startswith(b"SIP/2.0 200 ")
        except TimeoutError:
            return False


def test_sigint_without_calls_then_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    first = start_pycc(tmp_path, USERS)
    try:
        assert options_answered(first.sip_port)
        reg = register(SipAccount("1001", "secret1001", first.address),
                       workdir=tmp_path / "reg1")
        assert reg.ok, reg.describe()
        code, took = stop_with(first, signal.SIGINT)
        assert code == 0, first.log()
        assert took < STOP_WITHIN
        assert "Traceback" not in first.log_path.read_text(errors="replace"), first.log()
        assert not options_answered(first.sip_port)
    finally:
        first.stop()

    # Same data dir (start_pycc runs `pycc init` again, which keeps everything), new ports.
    second = start_pycc(tmp_path)
    try:
        assert options_answered(second.sip_port)
        listed = second.cli("user", "list")
        assert listed.stdout.split() == ["1001", "1002"], listed.stdout
        reg = register(SipAccount("1002", "secret1002", second.address),
                       workdir=tmp_path / "reg2")
        assert reg.ok, reg.describe()
        code, _ = stop_with(second, signal.SIGINT)
        assert code == 0, second.log()
    finally:
        second.stop()
