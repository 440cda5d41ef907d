"""Bad input against a real ``pycc serve``: scanners, password guessing, floods and garbage.

- sipvicious ``svwar`` cannot tell existing extensions from missing ones (REGISTER, INVITE,
  OPTIONS scans, also forced), because pycc answers both identically;
- ``svcrack`` gets the source banned after ``ban_failures`` wrong passwords, before it reaches
  the right one, and the banned address is refused (403) even with the right password;
- a flood from one source address is rate-limited while another source is served in full
  (the switch listens on 127.0.0.1; 127.0.0.2 and up serve as other source addresses, since the
  whole 127/8 is loopback on Linux);
- malformed datagrams and streams never crash or block the server.

The ban is per source address and every peer here sends from 127.0.0.x, so each test starts its
own switch.
"""

from __future__ import annotations

import os
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.pycc_server import PyccServer, start_pycc
from peers.sipp import run_sipp, scenario, write_credentials
from peers.sipvicious import run_svcrack, run_svwar
from pycc.store import Store, make_url

pytestmark = pytest.mark.peer

USERS = [("1001", "Secret-1001"), ("1005", "Secret-1005")]
SCAN_RANGE = "1000-1010"

FLOODER = "127.0.0.2"
WELL_BEHAVED = "127.0.0.3"
GARBAGE_SOURCE = "127.0.0.4"


def full_log(server: PyccServer) -> str:
    return server.log_path.read_text(errors="replace")


def assert_healthy(server: PyccServer) -> None:
    """The server runs, answers OPTIONS and has logged no traceback."""
    assert server.proc.poll() is None, f"pycc exited:\n{server.log()}"
    with udp_socket() as sock:
        status = ask(sock, server.sip_port, options(sock, "health"))
    assert status == 200, f"OPTIONS after the test got {status}\n{server.log()}"
    assert "Traceback" not in full_log(server), server.log()


# -- a minimal raw SIP client ----------------------------------------------------------------


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


def request(sock: socket.socket, method: str, ruri: str, to_user: str, tag: str,
            extra: str = "", cseq: int = 1) -> bytes:
    host, port = sock.getsockname()[:2]
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{to_user}@127.0.0.1>;tag=f-{tag}\r\n"
        f"To: <sip:{to_user}@127.0.0.1>\r\n"
        f"Call-ID: {tag}@pycc-tests\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:{to_user}@{host}:{port}>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def options(sock: socket.socket, tag: str) -> bytes:
    return request(sock, "OPTIONS", "sip:127.0.0.1", "probe", tag)


def receive(sock: socket.socket, timeout: float) -> bytes | None:
    sock.settimeout(timeout)
    try:
        return sock.recv(70_000)
    except TimeoutError:
        return None


def status_of(data: bytes | None) -> int | None:
    if data is None or not data.startswith(b"SIP/2.0 "):
        return None
    return int(data.split(b" ", 2)[1])


_TOP_BRANCH = re.compile(rb"^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch=([^;,\s]+)",
                         re.IGNORECASE | re.MULTILINE)


def top_branch(data: bytes) -> bytes | None:
    """The branch of the first Via of a message, if it has one."""
    found = _TOP_BRANCH.search(data.split(b"\r\n\r\n", 1)[0])
    return found.group(1) if found else None


def ask(sock: socket.socket, port: int, data: bytes, timeout: float = 3.0) -> int | None:
    """Send ``data`` to the switch and return the status of its answer (None: no answer).

    An answer that names another request's branch is a late answer to something sent before
    (on a busy machine it can come after the sender stopped waiting for it): it is skipped.
    """
    sock.sendto(data, ("127.0.0.1", port))
    sent = top_branch(data)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        answer = receive(sock, left)
        if answer is None:
            return None
        branch = top_branch(answer)
        # A late answer to damaged garbage may carry no branch at all: not ours either.
        if sent is None or branch == sent:
            return status_of(answer)
    return None


def shape(data: bytes) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """What a scanner could compare between two answers: the status line, the header names
    in order and the challenge's parameter names (nonces, tags and echoed names vary)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    first, *lines = head.split("\r\n")
    names = tuple(line.split(":", 1)[0].strip().lower() for line in lines)
    challenge = next((line for line in lines if "authenticate:" in line.lower()), "")
    params = tuple(sorted(re.findall(r"(\w+)=", challenge)))
    return first, names, params


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def pycc(tmp_path: Path) -> Iterator[PyccServer]:
    server = start_pycc(tmp_path, USERS)
    yield server
    server.stop()


#: The REGISTER checks run against a switch that reads REGISTERs itself and against one whose
#: register worker reads and authenticates them (`pycc.ccmanager.register_offload`).
REGISTER_WORKERS = pytest.mark.parametrize("register_workers", [0, 1],
                                           ids=["in-switch", "worker"])


@pytest.fixture
def pycc_workers(tmp_path: Path, register_workers: int) -> Iterator[PyccServer]:
    server = start_pycc(tmp_path, USERS, config={"register_workers": register_workers})
    yield server
    server.stop()


# -- (a) extension enumeration ---------------------------------------------------------------


@pytest.mark.parametrize(("method", "register_workers"), [
    ("REGISTER", 0), ("REGISTER", 1), ("INVITE", 0), ("OPTIONS", 0)])
def test_svwar_finds_no_extension(pycc_workers: PyccServer, method: str) -> None:
    pycc = pycc_workers
    default = run_svwar(pycc.sip_port, extensions=SCAN_RANGE, method=method)  # type: ignore[arg-type]
    assert not default.timed_out, default.log
    assert default.found == {}, default.log
    assert "no server response" not in default.log, default.log
    # Forced, svwar probes every extension and reports any that answer differently.
    forced = run_svwar(pycc.sip_port, extensions=SCAN_RANGE, method=method,  # type: ignore[arg-type]
                       force=True)
    assert not forced.timed_out, forced.log
    assert forced.found == {}, forced.log
    assert "no server response" not in forced.log, forced.log
    assert_healthy(pycc)


@REGISTER_WORKERS
def test_known_and_unknown_extensions_get_identical_answers(pycc_workers: PyccServer) -> None:
    """The property svwar relies on, checked directly: for each method, the answer for an
    existing extension has the same status, header names and challenge fields as for a
    missing one, also when wrong credentials are offered."""
    pycc = pycc_workers
    realm_nonce: dict[str, str] = {}
    for method in ("REGISTER", "INVITE", "OPTIONS"):
        shapes = {}
        for ext in ("1001", "1000", "1005", "1009"):
            ruri = "sip:127.0.0.1" if method == "REGISTER" else f"sip:{ext}@127.0.0.1"
            tag = f"{method}-{ext}-{os.getpid()}"
            # A socket per probe: a retransmitted 407 (not ACKed here) cannot mix answers up.
            with udp_socket() as sock:
                sock.sendto(request(sock, method, ruri, ext, tag), ("127.0.0.1", pycc.sip_port))
                answer = receive(sock, 3.0)
            assert answer is not None, f"no answer to {method} for {ext}"
            shapes[ext] = shape(answer)
            nonce = re.search(rb'nonce="([^"]+)"', answer)
            if method == "REGISTER" and nonce:
                realm_nonce[ext] = nonce.group(1).decode()
        assert len(set(shapes.values())) == 1, f"{method} answers differ: {shapes}"
        status = next(iter(shapes.values()))[0]
        assert status.startswith({"REGISTER": "SIP/2.0 401", "INVITE": "SIP/2.0 407",
                                  "OPTIONS": "SIP/2.0 200"}[method]), status
    # Wrong credentials for an existing and a missing extension: both challenged again.
    answers = {}
    with udp_socket() as sock:
        for ext in ("1001", "1000"):
            auth = (
                f'Authorization: Digest username="{ext}", realm="pycc", '
                f'nonce="{realm_nonce[ext]}", uri="sip:127.0.0.1", '
                f'response="0123456789abcdef0123456789abcdef", algorithm=MD5\r\n'
            )
            tag = f"wrong-{ext}-{os.getpid()}"
            sock.sendto(request(sock, "REGISTER", "sip:127.0.0.1", ext, tag, auth, cseq=2),
                        ("127.0.0.1", pycc.sip_port))
            answer = receive(sock, 3.0)
            assert answer is not None
            answers[ext] = shape(answer)
        assert answers["1001"] == answers["1000"], answers
        assert answers["1001"][0].startswith("SIP/2.0 401")


# -- (b) password guessing -------------------------------------------------------------------

BAN_FAILURES = 5
RIGHT_AT = 20  # the right password's line in the list


def guesses(right: str) -> list[str]:
    words = [f"guess{i}" for i in range(1, 31)]
    words[RIGHT_AT - 1] = right
    return words


def bindings(server: PyccServer) -> list[str]:
    with Store(make_url(server.data_dir, None)) as store:
        return [b.aor for b in store.list_bindings(0.0)]


def test_svcrack_cracks_without_a_ban(tmp_path: Path) -> None:
    """Control: with the ban out of reach, svcrack does find the password at line 20, so the
    next test's outcome is pycc's doing, not svcrack failing to work."""
    server = start_pycc(tmp_path, USERS, config={"ban_failures": 1000})
    try:
        result = run_svcrack(server.sip_port, "1001", guesses("Secret-1001"),
                             workdir=tmp_path / "svcrack", timeout=60)
        assert result.cracked == {"1001": "Secret-1001"}, result.log
    finally:
        server.stop()


@REGISTER_WORKERS
def test_svcrack_gets_banned_before_the_right_password(tmp_path: Path,
                                                       register_workers: int) -> None:
    server = start_pycc(tmp_path, USERS, config={"ban_failures": BAN_FAILURES,
                                                 "ban_window": 60, "ban_time": 600,
                                                 "register_workers": register_workers})
    try:
        # A banned source is answered 403, which svcrack ignores: it keeps asking for a fresh
        # challenge until it is stopped, so it is given a fixed time.
        result = run_svcrack(server.sip_port, "1001", guesses("Secret-1001"),
                             workdir=tmp_path / "svcrack", max_time=3, timeout=8)
        assert result.cracked == {}, result.log
        assert "The password for" not in result.log, result.log
        log = full_log(server)
        assert re.search(r"banning 127\.0\.0\.1\b", log), log[-3000:]
        # Exactly ban_failures guesses were judged: the rest, the right one among them, never.
        assert log.count("authentication failed") == BAN_FAILURES, log[-3000:]
        assert bindings(server) == [], "svcrack's guess registered a contact"

        # The right password from the banned address is refused too.
        inf = write_credentials(tmp_path / "right.csv", [("1001", "Secret-1001")])
        sipp = run_sipp(scenario("uac_register_auth"), server.address, inf_file=inf, calls=1,
                        workdir=tmp_path / "sipp", timeout=10)
        assert sipp.successful == 0 and sipp.failed == 1, sipp.describe()
        assert "SIP/2.0 403" in sipp.messages(), sipp.describe()
        assert "SIP/2.0 200" not in sipp.messages(), sipp.describe()
        assert bindings(server) == []
        assert "Traceback" not in full_log(server)
        assert ("reads and authenticates the REGISTERs" in full_log(server)) == \
            bool(register_workers)
        assert server.proc.poll() is None
    finally:
        assert server.stop() == 0


# -- (c) rate limiting -----------------------------------------------------------------------

RATE = 50


def tags_answered(sock: socket.socket, until: float) -> set[str]:
    """Collect the Call-IDs of 200 answers arriving on ``sock`` until ``until``."""
    seen: set[str] = set()
    while (left := until - time.monotonic()) > 0:
        data = receive(sock, min(left, 0.2))
        if data is None or status_of(data) != 200:
            continue
        found = re.search(rb"Call-ID: *([^\r\n@]+)@", data, re.IGNORECASE)
        if found:
            seen.add(found.group(1).decode())
    return seen


def test_a_flood_is_rate_limited_without_hurting_other_sources(tmp_path: Path) -> None:
    server = start_pycc(tmp_path, USERS, config={"rate_limit": RATE, "rate_burst": RATE})
    try:
        with udp_socket(FLOODER) as flood:
            flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            # 1. 2000 OPTIONS as fast as the socket takes them.
            target = ("127.0.0.1", server.sip_port)
            sent = 2000
            began = time.monotonic()
            for i in range(sent):
                flood.sendto(options(flood, f"burst{i}"), target)
            lasted = time.monotonic() - began
            answered = tags_answered(flood, time.monotonic() + 2.0)
            # The burst allowance plus the refill while pycc reads the flood: as long as it
            # took to send (longer on a loaded machine) and up to two seconds more while pycc
            # drains what its socket buffer holds (slower with browser and media tests running
            # beside it). Without the limiter that buffer alone lets many times more in.
            allowed = RATE + RATE * (lasted + 2.0)
            assert len(answered) <= allowed, f"{len(answered)} of {sent} flood OPTIONS answered"
            assert len(answered) >= RATE // 2, f"only {len(answered)} answered: switch alive?"

            # 2. A sustained flood (about 2000/s for 2 s) while another source sends one
            # OPTIONS every 50 ms: the other source is answered every time.
            time.sleep(1.5)  # the flooder's bucket refills
            stop = threading.Event()
            flood_sent = 0

            def keep_flooding() -> None:
                nonlocal flood_sent
                while not stop.is_set():
                    for _ in range(20):
                        flood.sendto(options(flood, f"sustained{flood_sent}"), target)
                        flood_sent += 1
                    time.sleep(0.01)

            flooder = threading.Thread(target=keep_flooding, daemon=True)
            flooder.start()
            try:
                time.sleep(0.3)
                with udp_socket(WELL_BEHAVED) as good:
                    good_tags = [f"good{i}" for i in range(20)]
                    for tag in good_tags:
                        good.sendto(options(good, tag), target)
                        time.sleep(0.05)
                    good_answered = tags_answered(good, time.monotonic() + 1.0)
            finally:
                stop.set()
                flooder.join(5)
            flood_answered = tags_answered(flood, time.monotonic() + 1.0)
        missing = sorted(set(good_tags) - good_answered)
        assert not missing, f"well-behaved source not answered for {missing}"
        assert flood_sent >= 1000, flood_sent
        assert len(flood_answered) <= flood_sent // 5, (len(flood_answered), flood_sent)
        assert_healthy(server)
    finally:
        assert server.stop() == 0


# -- (d) garbage -----------------------------------------------------------------------------


def invite(host: str, port: int, tag: str, headers: str = "", body: bytes = b"") -> bytes:
    head = (
        f"INVITE sip:1001@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:9999@127.0.0.1>;tag=f-{tag}\r\n"
        "To: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: {tag}@pycc-tests\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:9999@{host}:{port}>\r\n"
        f"{headers}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_garbage_never_crashes_the_server(pycc: PyccServer) -> None:
    rng = random.Random(20240601)
    target = ("127.0.0.1", pycc.sip_port)
    with udp_socket(GARBAGE_SOURCE) as sock:
        host, port = sock.getsockname()
        whole = invite(host, port, "trunc", body=b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n")
        payloads: list[bytes] = []
        payloads += [rng.randbytes(rng.randint(1, 1400)) for _ in range(150)]
        payloads += [whole[:cut] for cut in range(0, len(whole), 7)]
        payloads += [b"\r\n", b"\x00" * 100, b"INVITE", b"SIP/2.0 200 OK\r\n\r\n",
                     b"INVITE sip:x SIP/2.0\r\n" + b"Via: \xff\xfe\r\n" * 3 + b"\r\n",
                     "INVITE sip:é@127.0.0.1 SIP/2.0\r\n\r\n".encode()]
        # Random bit flips in an otherwise good INVITE.
        for i in range(100):
            damaged = bytearray(whole)
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            payloads.append(bytes(damaged).replace(b"z9hG4bK-trunc", f"z9hG4bK-f{i}".encode()))
        for index, payload in enumerate(payloads):
            sock.sendto(payload, target)
            if index % 50 == 49:
                time.sleep(0.02)  # stay under the default rate limit
        # Drain whatever was answered.
        while receive(sock, 0.5) is not None:
            pass

        # Limits, each answered 513 (RFC 3261 §21.5.14).
        many = "".join(f"X-Header-{i}: {i}\r\n" for i in range(300))
        assert ask(sock, pycc.sip_port, invite(host, port, "many", many)) == 513
        long_line = f"X-Long: {'a' * 20_000}\r\n"
        assert ask(sock, pycc.sip_port, invite(host, port, "long", long_line)) == 513
        # The largest datagram IPv4 carries (a 70 KB one cannot be sent over UDP): its body
        # is over the body limit, so 513, or dropped.
        huge = invite(host, port, "huge", body=b"a" * 65_000)
        huge = invite(host, port, "huge", body=b"a" * (65_507 - (len(huge) - 65_000)))
        assert len(huge) == 65_507
        assert ask(sock, pycc.sip_port, huge) in (513, None)

    # 70 KB over TCP: answered 513 or the connection closed, never accepted.
    with socket.create_connection(target, timeout=5) as stream:
        host, port = stream.getsockname()[:2]
        message = invite(host, port, "tcp-huge", body=b"a" * 70_000).replace(b"/UDP", b"/TCP")
        try:
            stream.sendall(message)
            reply = stream.recv(65_536)
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            reply = b""
        assert reply == b"" or status_of(reply) == 513, reply[:200]

    # Garbage over TCP, then a good request on a new connection.
    with socket.create_connection(target, timeout=5) as stream:
        stream.sendall(rng.randbytes(5000))
    time.sleep(0.3)
    assert_healthy(pycc)
    with socket.create_connection(target, timeout=5) as stream:
        host, port = stream.getsockname()[:2]
        good = request_tcp(host, port, "tcp-ok")
        stream.sendall(good)
        assert status_of(stream.recv(65_536)) == 200
    assert pycc.stop() == 0


def request_tcp(host: str, port: int, tag: str) -> bytes:
    return (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {host}:{port};branch=z9hG4bK-{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=f-{tag}\r\n"
        "To: <sip:probe@127.0.0.1>\r\n"
        f"Call-ID: {tag}@pycc-tests\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
