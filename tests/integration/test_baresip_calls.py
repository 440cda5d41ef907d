"""Two baresip phones register to ``pycc serve`` with digest and call each other.

The caller plays a 1 kHz tone and the callee a 400 Hz tone; each records what it hears, and
the recordings must carry the other side's tone: proof that the call, with its SDP passed
through pycc, really connects two phones. Over UDP, TCP and TLS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.audio import active_seconds, dominant_frequency, tone_present, write_tone_wav
from peers.baresip import start_baresip
from peers.pycc_server import PyccServer, start_pycc

pytestmark = pytest.mark.peer

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


@pytest.fixture
def pycc(tmp_path: Path) -> Iterator[PyccServer]:
    server = start_pycc(tmp_path, USERS)
    yield server
    server.stop()


@pytest.fixture
def phone_certificate(tmp_path: Path) -> Path:
    """A certificate and key in one PEM file, for a phone that accepts TLS connections."""
    from pycc.transport.tls import make_self_signed_certificate

    cert, key = tmp_path / "phone-cert.pem", tmp_path / "phone-key.pem"
    make_self_signed_certificate(cert, key, common_name="phone")
    both = tmp_path / "phone.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    return both


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_phones_hear_each_other_through_pycc(
    pycc: PyccServer, tmp_path: Path, transport: str, phone_certificate: Path
) -> None:
    port = pycc.sips_port if transport == "tls" else pycc.sip_port
    caller_tone = write_tone_wav(tmp_path / "1000hz.wav", 1000, 8.0)
    callee_tone = write_tone_wav(tmp_path / "400hz.wav", 400, 8.0)
    heard_by_callee = tmp_path / "heard-by-1002.wav"
    heard_by_caller = tmp_path / "heard-by-1001.wav"
    callee = start_baresip(
        tmp_path, sip_user="1002", password="secret1002", registrar_port=port,
        transport=transport, audio_source_wav=callee_tone,  # type: ignore[arg-type]
        record_wav=heard_by_callee, auto_answer=True, certificate=phone_certificate,
    )
    caller = start_baresip(
        tmp_path, sip_user="1001", password="secret1001", registrar_port=port,
        transport=transport, audio_source_wav=caller_tone,  # type: ignore[arg-type]
        record_wav=heard_by_caller, auto_answer=False, certificate=phone_certificate,
    )
    with callee, caller:
        caller.dial("1002")
        caller.wait_event("CALL_ESTABLISHED", timeout=15)
        callee.wait_event("CALL_ESTABLISHED", timeout=15)
        time.sleep(2.5)
        caller.hangup()
        callee.wait_event("CALL_CLOSED", timeout=15)
    assert tone_present(heard_by_callee, 1000), dominant_frequency(heard_by_callee)
    assert tone_present(heard_by_caller, 400), dominant_frequency(heard_by_caller)
    assert active_seconds(heard_by_callee) > 1.0
    record = pycc.wait_cdrs(1)[0]
    assert record["caller"] == "1001" and record["callee"] == "1002"
    assert record["disposition"] == "answered" and record["hangup_by"] == "caller"
    assert record["duration"] > 1.0
