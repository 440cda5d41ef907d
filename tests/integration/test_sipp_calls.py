"""SIPp phones against a real ``pycc serve``: registration, calls, cancel, busy, unavailable.

Each test starts the switch with the CLI, as an operator would, and reads the call records
back with ``pycc report cdr --format json``. Runs over UDP and TCP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.pycc_server import PyccServer, start_pycc
from peers.sipp import SipAccount, run_sipp, scenario, start_sipp_uas, write_credentials

pytestmark = pytest.mark.peer

USERS = [("1001", "secret1001"), ("1002", "secret1002"), ("1003", "secret1003")]
TRANSPORTS = ["u1", "t1"]


@pytest.fixture
def pycc(tmp_path: Path) -> Iterator[PyccServer]:
    server = start_pycc(tmp_path, USERS, serve_args=["--ring-timeout", "4"])
    yield server
    server.stop()


def caller_inf(tmp_path: Path, user: str = "1001", password: str = "secret1001") -> Path:
    return write_credentials(tmp_path / f"{user}.csv", [(user, password)])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_register_with_digest(pycc: PyccServer, tmp_path: Path, transport: str) -> None:
    result = run_sipp(scenario("uac_register_auth"), pycc.address, transport=transport,  # type: ignore[arg-type]
                      inf_file=caller_inf(tmp_path), calls=1, workdir=tmp_path / "sipp")
    assert result.ok and result.successful == 1, result.describe()


def test_register_wrong_password_is_refused(pycc: PyccServer, tmp_path: Path) -> None:
    inf = write_credentials(tmp_path / "bad.csv", [("1001", "wrong")])
    result = run_sipp(scenario("uac_register_auth"), pycc.address, inf_file=inf, calls=1,
                      workdir=tmp_path / "sipp", timeout=10)
    assert result.failed == 1 and result.successful == 0, result.describe()
    assert "401" in result.messages()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_and_hang_up(pycc: PyccServer, tmp_path: Path, transport: str) -> None:
    account = SipAccount("1002", "secret1002", pycc.address)
    with start_sipp_uas(scenario("uas_answer"), account=account, transport=transport,  # type: ignore[arg-type]
                        workdir=tmp_path / "uas") as callee:
        result = run_sipp(scenario("uac_call_auth"), pycc.address, transport=transport,  # type: ignore[arg-type]
                          service="1002", inf_file=caller_inf(tmp_path), calls=1,
                          workdir=tmp_path / "uac")
        assert result.ok and result.successful == 1, result.describe()
        uas = callee.wait(15)
        assert uas.ok, uas.describe()
    records = pycc.wait_cdrs(1)
    assert len(records) == 1, records
    record = records[0]
    assert record["caller"] == "1001" and record["callee"] == "1002"
    assert record["disposition"] == "answered"
    assert record["hangup_by"] == "caller"
    assert record["hangup_cause"] == "200 BYE"
    assert record["answer"] is not None and record["start"] <= record["answer"] <= record["end"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancelled_call(pycc: PyccServer, tmp_path: Path, transport: str) -> None:
    account = SipAccount("1002", "secret1002", pycc.address)
    with start_sipp_uas(scenario("uas_ring"), account=account, transport=transport,  # type: ignore[arg-type]
                        workdir=tmp_path / "uas") as callee:
        result = run_sipp(scenario("uac_call_cancel"), pycc.address, transport=transport,  # type: ignore[arg-type]
                          service="1002", inf_file=caller_inf(tmp_path), calls=1,
                          workdir=tmp_path / "uac")
        assert result.ok, result.describe()
        uas = callee.wait(15)
        assert uas.ok, uas.describe()
    record = pycc.wait_cdrs(1)[0]
    assert record["disposition"] == "cancelled"
    assert record["sip_status"] == 487 and record["hangup_by"] == "caller"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_busy_callee(pycc: PyccServer, tmp_path: Path, transport: str) -> None:
    account = SipAccount("1002", "secret1002", pycc.address)
    with start_sipp_uas(scenario("uas_busy"), account=account, transport=transport,  # type: ignore[arg-type]
                        workdir=tmp_path / "uas") as callee:
        result = run_sipp(scenario("uac_call_busy"), pycc.address, transport=transport,  # type: ignore[arg-type]
                          service="1002", inf_file=caller_inf(tmp_path), calls=1,
                          workdir=tmp_path / "uac")
        assert result.ok, result.describe()
        uas = callee.wait(15)
        assert uas.ok, uas.describe()
    record = pycc.wait_cdrs(1)[0]
    assert record["disposition"] == "busy" and record["sip_status"] == 486


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unregistered_and_unknown_extensions(pycc: PyccServer, tmp_path: Path,
                                             transport: str) -> None:
    unavailable = run_sipp(scenario("uac_call_unavailable"), pycc.address,
                           transport=transport, service="1003",  # type: ignore[arg-type]
                           inf_file=caller_inf(tmp_path), calls=1, workdir=tmp_path / "a")
    assert unavailable.ok, unavailable.describe()
    unknown = run_sipp(scenario("uac_call_notfound"), pycc.address, transport=transport,  # type: ignore[arg-type]
                       service="9999", inf_file=caller_inf(tmp_path), calls=1,
                       workdir=tmp_path / "b")
    assert unknown.ok, unknown.describe()
    by_callee = {r["callee"]: r for r in pycc.wait_cdrs(2)}
    assert by_callee["1003"]["disposition"] == "unavailable"
    assert by_callee["1003"]["sip_status"] == 480
    assert by_callee["9999"]["disposition"] == "not-found"
    assert by_callee["9999"]["sip_status"] == 404
