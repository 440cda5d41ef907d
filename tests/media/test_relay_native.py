"""The relay worker's C loop (pycc.media.relay_native, relay_core.c), against the Python it
replaces: the RFC 3550 statistics come out the same field for field, and packets are
forwarded, renumbered, dropped and passed up exactly as `Worker._forward` does.

The library is compiled here from the checkout's source with the system C compiler (as
`pycc accel build` does), so these tests never depend on a cached build."""

from __future__ import annotations

import ctypes
import shlex
import socket
import struct
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc import accel
from pycc.media import relay_native
from pycc.media.relay_native import CONTROL, EVENT, PATH, RTCP, NativeRelay
from pycc.rtp.stats import ReceiverStats

SOURCES = [str(accel.SOURCE_ROOT / relative) for relative in accel.NATIVE[accel.RELAY_LIBRARY]]


def compile_relay(target: Path) -> ctypes.CDLL:
    """The relay library compiled from the checkout, as `pycc accel build` does, warnings
    refused."""
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1]
    subprocess.run([*compiler, *accel.NATIVE_FLAGS, "-Wextra", "-Werror", "-o", str(target),
                    *SOURCES, "-lm"], check=True, capture_output=True)
    found = relay_native.load(target)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    return compile_relay(tmp_path_factory.mktemp("relay") / "librelay.so")


# -- the statistics ------------------------------------------------------------------------

packets = st.lists(st.tuples(
    st.integers(0, 0xFFFF),              # sequence number
    st.integers(0, 0xFFFFFFFF),          # RTP timestamp
    st.sampled_from([0x1234, 0xBEEF]),   # SSRC: a change resets the source
    st.floats(0.0, 5.0),                 # seconds since the previous packet
), max_size=60)


def _walk(steps: list[tuple[int, int, int, float]], start: int) -> Iterator[tuple[int, int, int,
                                                                               float]]:
    """Mostly a stream in order (so that sources validate and wrap), with the drawn packets
    as jumps, repeats and strays."""
    seq, ts, now = start, start * 160, 1000.0
    for drawn_seq, drawn_ts, ssrc, gap in steps:
        now += gap
        if drawn_seq % 3:
            seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
            yield seq, ts, 0x1234, now
        else:
            yield drawn_seq, drawn_ts, ssrc, now


def _same(python: ReceiverStats, native: ReceiverStats) -> None:
    assert native.state() == python.state()
    assert native.report_block(1, 5000.0) == python.report_block(1, 5000.0)


@settings(max_examples=300, deadline=None)
@given(steps=packets, start=st.integers(0, 0xFFFF), handover=st.integers(0, 60),
       min_sequential=st.integers(1, 3), clock=st.sampled_from([8000, 16000, 48000]))
def test_the_c_statistics_equal_pythons_packet_for_packet(
        lib: ctypes.CDLL, steps: list[tuple[int, int, int, float]], start: int, handover: int,
        min_sequential: int, clock: int) -> None:
    python = ReceiverStats(clock, min_sequential=min_sequential)
    moved = ReceiverStats(clock, min_sequential=min_sequential)
    moved.sender_report_received(0xABCD, 999.0)
    python.sender_report_received(0xABCD, 999.0)
    c = relay_native._Stats()
    in_c = False
    for number, (seq, ts, ssrc, now) in enumerate(_walk(steps, start)):
        if number == handover:  # the bridge goes to the C loop mid-stream
            relay_native.stats_to_c(moved, c)
            in_c = True
        expected = python.update(seq, ts, now, ssrc)
        if in_c:
            assert lib.pr_stats_update(ctypes.byref(c), seq, ts, now, ssrc) == int(expected)
        else:
            assert moved.update(seq, ts, now, ssrc) == expected
    if in_c:  # and back, as when the switch takes the bridge back
        relay_native.stats_from_c(c, moved)
    _same(python, moved)


@pytest.mark.parametrize("jump", [2999, 3000, 3001, 65435, 65436, 65437, 65535, 0])
def test_the_c_statistics_take_the_same_jumps(lib: ctypes.CDLL, jump: int) -> None:
    """A.1's edges: MAX_DROPOUT ahead, MAX_MISORDER back, a duplicate, and a restart."""
    python = ReceiverStats(8000)
    c = relay_native._Stats()
    relay_native.stats_to_c(ReceiverStats(8000), c)
    seqs = [65530, 65531, 65532, (65532 + jump) & 0xFFFF, (65533 + jump) & 0xFFFF, 65533, 3]
    for n, seq in enumerate(seqs):
        now = 10.0 + 0.02 * n
        expected = python.update(seq, 160 * n, now, 99)
        assert lib.pr_stats_update(ctypes.byref(c), seq, 160 * n, now, 99) == int(expected)
    moved = ReceiverStats(8000)
    relay_native.stats_from_c(c, moved)
    _same(python, moved)


def test_a_new_ssrc_in_c_forgets_the_last_sender_report_too(lib: ctypes.CDLL) -> None:
    stats = ReceiverStats(8000)
    stats.update(10, 0, 1.0, 7)
    stats.sender_report_received(0x1111, 1.5)
    c = relay_native._Stats()
    relay_native.stats_to_c(stats, c)
    lib.pr_stats_update(ctypes.byref(c), 500, 0, 2.0, 8)
    relay_native.stats_from_c(c, stats)
    assert stats.report_block(8, 3.0).lsr == 0


# -- forwarding ----------------------------------------------------------------------------

def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _rtp(seq: int, pt: int = 0, payload: bytes = b"\xff" * 160, ssrc: int = 0x5151) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


class Call:
    """Two phones and the relay's two sockets between them."""

    def __init__(self, relay: NativeRelay) -> None:
        self.relay = relay
        self.phone_a, self.phone_b, self.a, self.b = _udp(), _udp(), _udp(), _udp()
        self.stats = ReceiverStats(8000)

    def add(self, table: list[int], events: Sequence[int] = (), *, python: bool = False) -> None:
        self.relay.add(self.a, self.b, self.phone_a.getsockname(), table, list(events),
                       self.stats, python=python)
        self.relay.add(self.b, self.a, self.phone_b.getsockname(), table, [], None)

    def drain(self, expect: int) -> list[tuple[int, int, bytes]]:
        """Drain until ``expect`` datagrams arrived at the relay's sockets."""
        records: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            records += self.relay.drain()
            counts = self.relay.counts([self.a.fileno()])[0]
            assert counts is not None
            if counts.received + counts.dropped >= expect:
                return records
            time.sleep(0.002)
        raise AssertionError("the relay did not read the packets")

    def heard_by_b(self) -> list[bytes]:
        time.sleep(0.05)
        heard = []
        while True:
            try:
                data, source = self.phone_b.recvfrom(4096)
            except BlockingIOError:
                return heard
            assert source == self.b.getsockname()
            heard.append(data)

    def close(self) -> None:
        for sock in (self.phone_a, self.phone_b, self.a, self.b):
            sock.close()


@pytest.fixture
def call(lib: ctypes.CDLL) -> Iterator[Call]:
    relay = NativeRelay(lib)
    made = Call(relay)
    yield made
    made.close()
    relay.close()


def _table(*pairs: tuple[int, int]) -> list[int]:
    table = [-1] * 256
    for second, out in pairs:
        table[second] = out
    return table


def test_packets_are_forwarded_byte_for_byte_and_renumbered(call: Call) -> None:
    call.add(_table((0, 0), (0x80, 0x80), (101, 96)))
    sent = [_rtp(1), _rtp(2, 0x80), _rtp(3, 101, b"\x01\x0a\x00\xa0")]
    for packet in sent:
        call.phone_a.sendto(packet, call.a.getsockname())
    assert call.drain(3) == []
    heard = call.heard_by_b()
    assert heard[:2] == sent[:2]
    assert heard[2] == sent[2][:1] + b"\x60" + sent[2][2:]  # payload type 101 -> 96
    counts = call.relay.remove(call.a.fileno())
    assert counts is not None and (counts.received, counts.dropped) == (3, 0)
    assert call.stats.received == 2 and call.stats.highest_sequence == 3  # probation of 2


def test_bad_and_foreign_packets_are_dropped_and_counted(call: Call) -> None:
    call.add(_table((0, 0)))
    stranger = _udp()
    try:
        stranger.sendto(_rtp(1), call.a.getsockname())           # not the party
        call.phone_a.sendto(_rtp(2)[:11], call.a.getsockname())   # short
        call.phone_a.sendto(b"\x40" + _rtp(3)[1:], call.a.getsockname())  # version 1
        call.phone_a.sendto(_rtp(4, pt=18), call.a.getsockname())  # not negotiated
        # 15 CSRCs in 20 bytes; an extension of 100 words in 24; padding counted as 0.
        call.phone_a.sendto(b"\x8f" + _rtp(6)[1:20], call.a.getsockname())
        call.phone_a.sendto(b"\x90" + _rtp(7)[1:12] + b"\xbe\xde\x00\x64" + bytes(8),
                            call.a.getsockname())
        call.phone_a.sendto(b"\xa0" + _rtp(8)[1:-1] + b"\x00", call.a.getsockname())
        # Well-formed: two CSRCs, a one-word extension, three bytes of padding.
        fine = (b"\xb2" + _rtp(9)[1:12] + bytes(8) + b"\xbe\xde\x00\x01" + bytes(4)
                + b"\xff" * 160 + b"\x00\x00\x03")
        call.phone_a.sendto(fine, call.a.getsockname())
        call.phone_a.sendto(_rtp(5), call.a.getsockname())
        assert call.drain(9) == []
    finally:
        stranger.close()
    assert call.heard_by_b() == [fine, _rtp(5)]
    counts = call.relay.counts([call.a.fileno(), 12345])
    assert counts[0] is not None and (counts[0].received, counts[0].dropped) == (2, 7)
    assert counts[0].dropped_by == {"source": 1, "short": 1, "version": 1, "payload-type": 1,
                                    "csrc": 1, "extension": 1, "padding": 1}
    assert counts[1] is None


def test_rtcp_events_and_transcoded_packets_are_passed_up(call: Call, lib: ctypes.CDLL) -> None:
    call.add(_table((0, 0), (101, 101)), events=[101])
    rtcp = struct.pack("!BBHI", 0x81, 201, 7, 0x5151) + bytes(24)  # an RR with one block
    short = struct.pack("!BBHI", 0x80, 201, 1, 0x5151)  # RFC 5506: no block, 8 bytes
    event = _rtp(1, 101, b"\x05\x8a\x00\xa0")
    call.phone_a.sendto(rtcp, call.a.getsockname())
    call.phone_a.sendto(short, call.a.getsockname())
    call.phone_a.sendto(event, call.a.getsockname())
    records = call.drain(1)  # RTCP is neither received nor dropped
    assert (call.a.fileno(), RTCP, rtcp) in records
    assert (call.a.fileno(), RTCP, short) in records
    assert (call.a.fileno(), EVENT, event) in records
    assert call.heard_by_b() == [event]  # the event goes on, too

    other = Call(NativeRelay(lib))
    try:
        other.add(_table((0, 0)), python=True)
        other.phone_a.sendto(_rtp(9), other.a.getsockname())
        assert other.drain(1) == [(other.a.fileno(), PATH, _rtp(9))]
        assert other.heard_by_b() == []  # the transcoder sends, not the loop
    finally:
        other.close()
        other.relay.close()


def test_a_side_the_loop_cannot_hold_is_refused_with_the_reason(call: Call) -> None:
    with pytest.raises(ValueError, match="numeric address"):
        call.relay.add(call.a, call.b, ("phone.example", 4000), _table(), [], None)
    with pytest.raises(ValueError, match="port"):
        call.relay.add(call.a, call.b, ("127.0.0.1", 70000), _table(), [], None)
    with pytest.raises(ValueError, match="256"):
        call.relay.add(call.a, call.b, ("127.0.0.1", 4000), [0], [], None)
    call.add(_table((0, 0)))
    with pytest.raises(OSError):
        call.add(_table((0, 0)))  # that socket is carried already
    assert call.relay.remove(9999) is None


def _reuses_port(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)


def test_each_side_sends_through_a_twin_connected_to_its_party(call: Call) -> None:
    call.add(_table((0, 0)))
    assert call.relay.twinned(call.a.fileno()) and call.relay.twinned(call.b.fileno())
    assert call.relay.twinned(12345) is None
    assert _reuses_port(call.a) == 1
    stranger = _udp()
    try:
        call.phone_a.sendto(_rtp(1), call.a.getsockname())
        time.sleep(0.05)
        # The party's packet went to the twin, not to the socket the switch made.
        with pytest.raises(BlockingIOError):
            call.a.recv(4096)
        stranger.sendto(_rtp(2), call.a.getsockname())
        call.phone_a.sendto(_rtp(3), call.a.getsockname())
        assert call.drain(3) == []
        assert call.heard_by_b() == [_rtp(1), _rtp(3)]  # from B's port, as before
        counts = call.relay.remove(call.a.fileno())
        assert counts is not None and (counts.received, counts.dropped_by) == (2, {"source": 1})
        # Handed back: the twin is gone, the port is the switch's socket's alone again.
        assert call.relay.twinned(call.a.fileno()) is None
        assert _reuses_port(call.a) == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as intruder:
            intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with pytest.raises(OSError):
                intruder.bind(call.a.getsockname())
        call.phone_a.sendto(_rtp(4), call.a.getsockname())
        time.sleep(0.05)
        assert call.a.recv(4096) == _rtp(4)
    finally:
        stranger.close()


def test_packets_from_before_the_twin_go_first_in_order(call: Call) -> None:
    """The switch stopped reading before the hand-over: what waits on its socket is older
    than anything the twin gets, and leaves first."""
    for seq in (1, 2, 3):
        call.phone_a.sendto(_rtp(seq), call.a.getsockname())
    time.sleep(0.05)
    call.add(_table((0, 0)))
    for seq in (4, 5, 6):
        call.phone_a.sendto(_rtp(seq), call.a.getsockname())
    time.sleep(0.05)
    assert call.drain(6) == []
    assert call.heard_by_b() == [_rtp(seq) for seq in range(1, 7)]


def test_packets_waiting_on_a_twin_are_taken_before_the_side_is_handed_back(
        call: Call) -> None:
    """What the party sent that the loop has not read yet is the next carrier's: taken out
    unread, in order; the far party gets none of it from the loop."""
    call.add(_table((0, 0)))
    for seq in range(1, 41):
        call.phone_a.sendto(_rtp(seq), call.a.getsockname())
    time.sleep(0.05)  # queued on the twin, not read yet
    assert call.relay.take_pending(call.a.fileno()) == [_rtp(seq) for seq in range(1, 41)]
    assert call.relay.take_pending(call.a.fileno()) == []
    assert call.relay.take_pending(12345) == []
    # From the first take on, the party's packets reach the switch's socket, not a twin
    # about to close.
    call.phone_a.sendto(_rtp(41), call.a.getsockname())
    time.sleep(0.05)
    counts = call.relay.remove(call.a.fileno())
    assert counts is not None and counts.received == 0
    assert call.heard_by_b() == []
    call.phone_a.sendto(_rtp(42), call.a.getsockname())
    time.sleep(0.05)
    assert [call.a.recv(4096), call.a.recv(4096)] == [_rtp(41), _rtp(42)]


def test_a_readable_control_socket_comes_before_the_packets(call: Call) -> None:
    switch_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        call.relay.watch_control(worker_end.fileno())
        call.add(_table((0, 0)))
        call.phone_a.sendto(_rtp(1), call.a.getsockname())
        switch_end.send(b'{"op": "remove"}')
        time.sleep(0.05)
        assert list(call.relay.drain()) == [(worker_end.fileno(), CONTROL, b"")]
        assert call.heard_by_b() == []  # the order first: the packet still waits
        assert call.relay.take_pending(call.a.fileno()) == [_rtp(1)]
        worker_end.recv(100)
        call.phone_a.sendto(_rtp(2), call.a.getsockname())
        assert call.drain(1) == []
        assert call.heard_by_b() == [_rtp(2)]
    finally:
        switch_end.close()
        worker_end.close()


_NO_DESCRIPTORS_LEFT = """
import resource, socket, struct, sys, time
from pathlib import Path
from pycc.media import relay_native

def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock

relay = relay_native.NativeRelay(relay_native.load(Path(sys.argv[1])))
phone_a, phone_b, a, b = udp(), udp(), udp(), udp()
highest = max(s.fileno() for s in (phone_a, phone_b, a, b))
resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, resource.getrlimit(
    resource.RLIMIT_NOFILE)[1]))
table = [-1] * 256
table[0] = 0
relay.add(a, b, phone_a.getsockname(), table, [], None)
relay.add(b, a, phone_b.getsockname(), table, [], None)
packet = struct.pack("!BBHII", 0x80, 0, 1, 160, 7) + bytes(160)
phone_a.sendto(packet, a.getsockname())
deadline = time.monotonic() + 5
while relay.counts([a.fileno()])[0].received < 1 and time.monotonic() < deadline:
    list(relay.drain())
    time.sleep(0.002)
time.sleep(0.05)
heard, source = phone_b.recvfrom(4096)
assert heard == packet and source == b.getsockname(), (heard, source)
assert relay.twinned(a.fileno()) is False and a.getsockopt(
    socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
print("sent with sendto")
"""


def test_without_a_twin_a_side_sends_with_sendto(tmp_path: Path) -> None:
    """No descriptor left for the twin: the side is carried all the same."""
    library = tmp_path / "librelay.so"
    compile_relay(library)
    done = subprocess.run([sys.executable, "-c", _NO_DESCRIPTORS_LEFT, str(library)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sent with sendto"


def test_no_library_means_python_forwarding(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv(accel.ENV_PURE, "1")
    assert relay_native.load() is None
    monkeypatch.delenv(accel.ENV_PURE)
    monkeypatch.setenv(accel.ENV_DIR, str(tmp_path))  # an empty cache: nothing built
    assert relay_native.load() is None
    broken = tmp_path / "librelay.so"
    broken.write_bytes(b"not a library")
    assert relay_native.load(broken) is None
