"""Loops and hop limits: Max-Forwards (RFC 3261 §8.1.1.6, §16.6 step 3) and loop detection
(§16.3 step 4) on INVITEs the switch would forward to an extension."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.rawsip import SipAgent, ThreadedSwitch, invite_request, prepare_data_dir, switch_config

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[ThreadedSwitch]:
    prepare_data_dir(tmp_path, USERS)
    threaded = ThreadedSwitch(switch_config(tmp_path)).start()
    yield threaded
    threaded.stop()


def test_invite_that_passed_pycc_before_is_a_loop(switch: ThreadedSwitch) -> None:
    caller = SipAgent("1001", "secret1001", switch.udp)
    with caller.peer:
        request = invite_request(caller, "1002")
        host, port = switch.udp
        # A Via pycc itself would have added on an earlier pass, below the caller's own.
        request.headers.insert(1, ("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK-pycc-0001"))
        answer = caller.transact(request)
        assert answer.status == 482, answer.start_line
        caller.ack_failure(request, answer)


def test_foreign_via_is_not_a_loop(switch: ThreadedSwitch) -> None:
    caller = SipAgent("1001", "secret1001", switch.udp)
    with caller.peer:
        request = invite_request(caller, "1002")
        request.headers.insert(1, ("Via", "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-other-1"))
        answer = caller.transact(request)
        assert answer.status == 407, answer.start_line  # normal processing: a challenge
        caller.ack_failure(request, answer)


def test_max_forwards_zero_is_not_forwarded(switch: ThreadedSwitch) -> None:
    caller = SipAgent("1001", "secret1001", switch.udp)
    callee = SipAgent("1002", "secret1002", switch.udp)
    with caller.peer, callee.peer:
        assert callee.register().status == 200
        request = invite_request(caller, "1002").without("Max-Forwards")
        request.header("Max-Forwards", "0")
        answer = caller.transact_auth(request)
        assert answer.status == 483, answer.start_line
        # nothing reached the registered callee
        assert not [m for m in callee.peer.collect(0.5) if not m.is_response]
