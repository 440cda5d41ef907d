"""The relay worker's control socket (pycc.media.relay_worker): messages it cannot use are
answered with an error naming the problem, and the worker goes on.

The worker runs as the media server starts it (``python -m pycc.media.relay_worker FD``), with
the other end of its Unix socket held here."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pycc.media.relay_worker import MAX_MESSAGE, TICK_SLICES


@pytest.fixture
def worker() -> Iterator[tuple[socket.socket, subprocess.Popen[bytes]]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = subprocess.Popen([sys.executable, "-m", "pycc.media.relay_worker",
                                str(theirs.fileno())], pass_fds=[theirs.fileno()])
    theirs.close()
    ours.settimeout(10)
    try:
        yield ours, process
    finally:
        ours.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _udp_pair() -> list[socket.socket]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    return socks


def _add(pairs: object, peers: object = (("127.0.0.1", 4000), ("127.0.0.1", 4002))) -> bytes:
    return json.dumps({"op": "add", "id": 7, "peers": peers, "maps": [pairs, pairs],
                       "events": [[], []], "stats": [None, None]}).encode()


@pytest.mark.parametrize(("payload", "fds", "named"), [
    (b"{not json", 0, "JSONDecodeError"),
    (b'{"op": "add"}', 2, "KeyError"),
    (_add([[0, 0]]), 1, "two descriptors"),
    (_add([[0, 300]]), 2, "second header byte"),
    (_add([[0, 0]], peers=[["127.0.0.1", "x"], ["127.0.0.1", 1]]), 2, "ValueError"),
    (_add([[0, 0]], peers=[["127.0.0.1", 1]]), 2, "two sides"),
])
def test_a_message_the_worker_cannot_use_is_named_and_the_worker_goes_on(
        worker: tuple[socket.socket, subprocess.Popen[bytes]], payload: bytes, fds: int,
        named: str) -> None:
    control, process = worker
    socks = _udp_pair()
    try:
        socket.send_fds(control, [payload], [s.fileno() for s in socks[:fds]])
        reply = json.loads(control.recv(MAX_MESSAGE))
        assert reply["op"] == "error" and named in reply["detail"]
        # Still there: a removal of a bridge it never had is answered.
        control.send(b'{"op": "remove", "id": 99}')
        assert json.loads(control.recv(MAX_MESSAGE)) == {"op": "removed", "id": 99,
                                                         "sides": None}
    finally:
        for sock in socks:
            sock.close()
    control.send(b'{"op": "exit"}')
    assert process.wait(10) == 0


def test_the_counts_go_out_a_share_of_the_bridges_at_a_time(
        worker: tuple[socket.socket, subprocess.Popen[bytes]]) -> None:
    """Each bridge's counts every TICK_SECONDS, in TICK_SLICES messages of a share of the
    bridges each: no pass over every bridge at once holds up their packets."""
    control, process = worker
    socks = [_udp_pair() for _ in range(20)]
    try:
        for ident, pair in enumerate(socks):
            message = json.dumps({"op": "add", "id": ident, "peers": [["127.0.0.1", 4000],
                                                                      ["127.0.0.1", 4002]],
                                  "maps": [[[0, 0]], [[0, 0]]], "events": [[], []],
                                  "stats": [None, None]}).encode()
            socket.send_fds(control, [message], [s.fileno() for s in pair])
        ticks: list[set[int]] = []
        while len(ticks) < 2 * TICK_SLICES + 5:
            reply = json.loads(control.recv(MAX_MESSAGE))
            assert reply["op"] == "tick", reply
            ticks.append({int(key) for key in reply["pairs"]})
        # Past the first round (bridges added during it may be missing from its slices),
        # any TICK_SLICES messages in a row name every bridge once.
        assert all(len(names) <= -(-20 // TICK_SLICES) for names in ticks)
        last = ticks[-TICK_SLICES:]
        assert sorted(ident for names in last for ident in names) == list(range(20))
    finally:
        for pair in socks:
            for sock in pair:
                sock.close()
    control.send(b'{"op": "exit"}')
    assert process.wait(10) == 0


def test_every_removal_is_answered_in_order_though_the_switch_reads_late(
        worker: tuple[socket.socket, subprocess.Popen[bytes]]) -> None:
    """The switch counts a bridge as still forwarded by the worker until its "removed"
    answer arrives: answers the switch's full socket cannot take yet wait, in order."""
    control, process = worker
    removals = 3000
    for ident in range(removals):
        control.send(json.dumps({"op": "remove", "id": ident}).encode())
    answers = [json.loads(control.recv(MAX_MESSAGE)) for _ in range(removals)]
    assert [answer["id"] for answer in answers] == list(range(removals))
    assert {answer["op"] for answer in answers} == {"removed"}
    control.send(b'{"op": "exit"}')
    assert process.wait(10) == 0
