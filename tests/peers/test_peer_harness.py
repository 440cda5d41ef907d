"""Self-tests of the real-peer harness, independent of pycc.

They prove the harness before any pycc test relies on it: SIPp talks to SIPp, every scenario in
``tests/scenarios`` completes through Kamailio (which challenges like pycc does), two baresip
phones carry a tone over UDP and TLS, the audio helpers measure it, and the SIPVicious wrappers
read what the tools report.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .audio import active_seconds, dominant_frequency, tone_present, write_tone_wav
from .baresip import start_baresip
from .kamailio import KamailioProxy, start_kamailio
from .net import LOOPBACK, free_port, port_pool, tcp_listening, udp_bound, wait_port
from .parallel import MIN_WORKERS, WorkerCountError, spread, worker_count, worker_slot
from .sipp import (
    SipAccount,
    Transport,
    parse_stat_file,
    run_sipp,
    scenario,
    start_sipp,
    start_sipp_uas,
    write_credentials,
)
from .sipvicious import parse_table, run_svcrack, run_svwar

pytestmark = pytest.mark.peer

PASSWORD = "s3cret"


# -- net / audio (no external program) -------------------------------------------------------


def test_free_port_is_free_for_udp_and_tcp() -> None:
    port = free_port("both", count=2)
    for p in (port, port + 1):
        assert not udp_bound(p)
        assert not tcp_listening(p)
    assert free_port() != port


def test_free_port_blocks_do_not_overlap() -> None:
    blocks = [range(p, p + 60) for p in (free_port("udp", count=60) for _ in range(5))]
    taken = [port for block in blocks for port in block]
    assert len(set(taken)) == len(taken)
    assert not any(udp_bound(port) for port in taken)


@pytest.mark.parametrize("workers", [2, 3, 4, 8])
def test_each_xdist_worker_has_its_own_ports(workers: int) -> None:
    pools = [port_pool(worker, workers, 32768) for worker in range(workers)]
    assert all(pools), "a worker without ports"
    together = [port for pool in pools for port in pool]
    assert len(set(together)) == len(together)  # disjoint
    assert sorted(together) == port_pool(0, 1, 32768)  # and nothing lost
    assert not any(20000 <= port <= 20999 or port >= 32768 for port in together)


def test_worker_slot_reads_xdist_variables() -> None:
    env = {"PYTEST_XDIST_WORKER": "gw2", "PYTEST_XDIST_WORKER_COUNT": "3"}
    assert worker_slot(env) == (2, 3)
    assert worker_slot({}) == (0, 1)
    assert worker_slot({"PYTEST_XDIST_WORKER": "gwx", "PYTEST_XDIST_WORKER_COUNT": "3"}) == (0, 1)


def test_worker_count_has_a_floor_and_an_override() -> None:
    assert worker_count(1, None) == MIN_WORKERS
    assert worker_count(MIN_WORKERS + 5, "") == MIN_WORKERS + 5
    assert worker_count(2, "0") == 0
    assert worker_count(2, " 7 ") == 7
    for bad in ("many", "-1", "2.5"):
        with pytest.raises(WorkerCountError, match="PYCC_TEST_WORKERS"):
            worker_count(2, bad)


def test_spread_spaces_heavy_modules_evenly() -> None:
    heavy, light = ["H0", "H1", "H2"], [f"l{i}" for i in range(9)]
    merged = spread(heavy, light)
    assert sorted(merged) == sorted(heavy + light)
    assert [m for m in merged if m in heavy] == heavy  # each keeps its order
    assert [m for m in merged if m in light] == light
    # One heavy module in each third of the order.
    assert [sum(m in heavy for m in merged[k:k + 4]) for k in (0, 4, 8)] == [1, 1, 1]
    assert spread([], light) == light and spread(heavy, []) == heavy


def test_wait_port_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        wait_port(listener.getsockname()[1], timeout=2)
    with pytest.raises(TimeoutError):
        wait_port(free_port("tcp"), timeout=0.3)


def test_tone_round_trip(tmp_path: Path) -> None:
    tone = write_tone_wav(tmp_path / "1k.wav", 1000, 1.0)
    assert dominant_frequency(tone) == pytest.approx(1000, abs=2)
    assert tone_present(tone, 1000)
    assert not tone_present(tone, 400)
    assert active_seconds(tone) == pytest.approx(1.0, abs=0.05)

    wide = write_tone_wav(tmp_path / "wide.wav", 440, 0.5, rate=16000, channels=2)
    assert dominant_frequency(wide) == pytest.approx(440, abs=2)

    silent = write_tone_wav(tmp_path / "silent.wav", 1000, 1.0, amplitude=0.0)
    assert dominant_frequency(silent) == 0.0
    assert not tone_present(silent, 1000)


# -- SIPp ------------------------------------------------------------------------------------


def test_sipp_builtin_uac_calls_builtin_uas(tmp_path: Path) -> None:
    with start_sipp("uas", None, calls=2, rate=None, workdir=tmp_path) as uas:
        result = run_sipp("uac", uas.address, calls=2, rate=20, workdir=tmp_path, timeout=20)
        assert result.ok, result.describe()
        assert (result.successful, result.failed) == (2, 0), result.describe()
        assert result.stats["created"] == 2
        assert result.elapsed >= 0.0
        callee = uas.wait(10)
    assert callee.ok and callee.successful == 2, callee.describe()


def test_sipp_failure_is_reported(tmp_path: Path) -> None:
    # Nobody answers: the call fails on SIPp's receive timeout and the result says why.
    result = run_sipp(
        "uac", f"{LOOPBACK}:{free_port('udp')}", workdir=tmp_path, timeout=10,
        recv_timeout_ms=1000,
    )
    assert not result.ok
    assert result.failed == 1, result.describe()
    assert "sipp exit" in result.describe()


def test_parse_stat_file(tmp_path: Path) -> None:
    stat = tmp_path / "stats.csv"
    stat.write_text(
        "StartTime;CurrentTime;CallRate(C);SuccessfulCall(P);SuccessfulCall(C);FailedCall(C);"
        "TotalCallCreated;FailedMaxUDPRetrans(C);\n"
        "2026-01-01\t10:00:00.000000\t100.0;2026-01-01\t10:00:02.500000\t102.5;4.0;1;10;2;"
        "12;2;\n"
    )
    counters, raw = parse_stat_file(stat)
    assert counters["successful"] == 10
    assert counters["failed"] == 2
    assert counters["created"] == 12
    assert counters["failed_max_udp_retrans"] == 2
    assert raw["CallRate(C)"] == "4.0"


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[tuple[KamailioProxy, int]]:
    """Kamailio challenging with PASSWORD, relaying to a port the test's callee will use."""
    callee_port = free_port("both")
    # One worker process: with two, Kamailio now and then relays a 180 after the 200 it
    # received later (each response in a process of its own), which SIPp's caller refuses.
    proxy = start_kamailio(
        tmp_path / "kamailio", None, callee_port, auth_password=PASSWORD, children=1
    )
    try:
        yield proxy, callee_port
    finally:
        proxy.stop()


def test_kamailio_starts_and_stops(kamailio: tuple[KamailioProxy, int]) -> None:
    proxy, _ = kamailio
    assert proxy.running
    assert udp_bound(proxy.port) and tcp_listening(proxy.port)
    assert proxy.stop() == 0
    assert not proxy.running


TRANSPORTS: list[Transport] = ["u1", "t1"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_register_scenario_through_kamailio(
    kamailio: tuple[KamailioProxy, int], tmp_path: Path, transport: Transport
) -> None:
    proxy, _ = kamailio
    users = write_credentials(tmp_path / "users.csv", [("1001", PASSWORD), ("1003", PASSWORD)])
    result = run_sipp(
        scenario("uac_register_auth"), proxy.address, transport=transport, inf_file=users,
        calls=4, rate=50, workdir=tmp_path,
    )
    assert result.ok and result.successful == 4, result.describe() + proxy.log()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("caller", "callee"),
    [
        ("uac_call_auth", "uas_answer"),
        ("uac_call_cancel", "uas_ring"),
        ("uac_call_busy", "uas_busy"),
        ("uac_call_unavailable", "uas_reject_480"),
        ("uac_call_notfound", "uas_reject_404"),
    ],
)
def test_call_scenarios_through_kamailio(
    kamailio: tuple[KamailioProxy, int],
    tmp_path: Path,
    transport: Transport,
    caller: str,
    callee: str,
) -> None:
    proxy, callee_port = kamailio
    account = SipAccount("1002", PASSWORD, proxy.address)
    uas = start_sipp_uas(
        scenario(callee), account=account, transport=transport, local_port=callee_port,
        calls=2, workdir=tmp_path,
    )
    with uas:
        users = write_credentials(tmp_path / "users.csv", [("1001", PASSWORD)])
        result = run_sipp(
            scenario(caller), proxy.address, transport=transport, service="1002",
            inf_file=users, calls=2, rate=10, pause_ms=100, workdir=tmp_path,
        )
        answered = uas.wait(15)
    assert result.ok and result.successful == 2, result.describe() + proxy.log()
    assert answered.ok and answered.successful == 2, answered.describe()


# -- baresip ---------------------------------------------------------------------------------


def test_baresip_starts_and_stops(tmp_path: Path) -> None:
    phone = start_baresip(tmp_path, sip_user="1001", registrar_port=None)
    assert phone.running
    assert udp_bound(phone.local_port)
    assert phone.stop() == 0
    assert not phone.running


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_baresip_call_carries_tones_both_ways(
    tmp_path: Path, transport: str, tls_certificate: Path
) -> None:
    caller_tone = write_tone_wav(tmp_path / "1000.wav", 1000, 6.0)
    callee_tone = write_tone_wav(tmp_path / "400.wav", 400, 6.0)
    callee = start_baresip(
        tmp_path, sip_user="1002", registrar_port=None, audio_source_wav=callee_tone,
        record_wav=tmp_path / "heard-by-1002.wav", certificate=tls_certificate,
    )
    caller = start_baresip(
        tmp_path, sip_user="1001", registrar_port=None, audio_source_wav=caller_tone,
        record_wav=tmp_path / "heard-by-1001.wav", transport="tls" if transport == "tls" else "udp",
    )
    with callee, caller:
        port = callee.local_port + 1 if transport == "tls" else callee.local_port
        caller.dial(f"sip:1002@{LOOPBACK}:{port};transport={transport}")
        caller.wait_event("CALL_ESTABLISHED")
        callee.wait_event("CALL_ESTABLISHED")
        time.sleep(2.0)
        caller.hangup()
        callee.wait_event("CALL_CLOSED")
        assert re.search("terminated", caller.wait_for("terminated"))
    heard_by_callee = tmp_path / "heard-by-1002.wav"
    heard_by_caller = tmp_path / "heard-by-1001.wav"
    assert tone_present(heard_by_callee, 1000), dominant_frequency(heard_by_callee)
    assert tone_present(heard_by_caller, 400), dominant_frequency(heard_by_caller)
    assert active_seconds(heard_by_callee) > 1.0
    # The dumps moved from their short folder in /tmp into the phone's workdir.
    for phone in (caller, callee):
        assert not phone.recording_dir.is_symlink() and phone.recordings()


@pytest.fixture
def tls_certificate(tmp_path: Path) -> Path:
    """A self-signed certificate and key in one PEM file, made with the cryptography package."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "phone-cert.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


# -- SIPVicious ------------------------------------------------------------------------------


class LeakyRegistrar:
    """A registrar that gives extension 1005 away: it challenges 1005 and answers 404 to any
    other, and accepts 1005's digest for password 1234 (realm pycc, MD5, no qop)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            reply = self.answer(data.decode(errors="replace"))
            if reply:
                self.sock.sendto(reply.encode(), peer)

    @staticmethod
    def answer(message: str) -> str | None:
        lines = message.split("\r\n")
        if not lines[0] or lines[0].startswith("SIP/2.0"):
            return None
        method = lines[0].split()[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers.setdefault(name.strip().lower(), value.strip())
        user_match = re.search(r"sip:([^@>;]+)@", headers.get("to", ""))
        user = user_match.group(1) if user_match else ""
        status, extra = "404 Not Found", ""
        if user == "1005":
            credentials = headers.get("authorization")
            if credentials is None:
                status = "401 Unauthorized"
                extra = 'WWW-Authenticate: Digest realm="pycc", nonce="0123abcd"\r\n'
            else:
                fields = dict(re.findall(r'(\w+)="?([^",]+)"?', credentials))

                def md5(text: str) -> str:
                    return hashlib.md5(text.encode()).hexdigest()

                ha1 = md5(f"{fields.get('username')}:pycc:1234")
                ha2 = md5(f"{method}:{fields.get('uri')}")
                good = fields.get("response") == md5(f"{ha1}:{fields.get('nonce')}:{ha2}")
                status = "200 OK" if good else "403 Forbidden"
        return (
            f"SIP/2.0 {status}\r\nVia: {headers.get('via', '')}\r\n"
            f"From: {headers.get('from', '')}\r\nTo: {headers.get('to', '')};tag=leaky\r\n"
            f"Call-ID: {headers.get('call-id', '')}\r\nCSeq: {headers.get('cseq', '')}\r\n"
            f"{extra}Content-Length: 0\r\n\r\n"
        )


@pytest.fixture
def leaky_registrar() -> Iterator[LeakyRegistrar]:
    registrar = LeakyRegistrar()
    try:
        yield registrar
    finally:
        registrar.close()


def test_svwar_reports_what_it_finds(leaky_registrar: LeakyRegistrar) -> None:
    result = run_svwar(leaky_registrar.port, extensions="1000-1010")
    assert result.found == {"1005": "reqauth"}, result.log


def test_svcrack_reports_a_cracked_password(leaky_registrar: LeakyRegistrar) -> None:
    result = run_svcrack(leaky_registrar.port, "1005", ["0000", "1111", "1234", "9999"])
    assert result.cracked == {"1005": "1234"}, result.log


def test_svwar_against_silence_finds_nothing() -> None:
    result = run_svwar(free_port("udp"), extensions="1000-1002", max_time=2)
    assert result.found == {}
    assert "found nothing" in result.stderr, result.log


def test_parse_table() -> None:
    table = (
        "+-----------+----------+\n| Extension | Password |\n+===========+==========+\n"
        "| 1005      | 1234     |\n+-----------+----------+\n"
    )
    assert parse_table(table) == {"1005": "1234"}
    assert parse_table("") == {}
