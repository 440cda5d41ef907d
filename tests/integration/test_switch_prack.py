"""Reliable provisional responses (RFC 3262) from a callee: pycc PRACKs them on the B leg and
relays the ringing to the caller; a retransmission of the same 180 gets no second PRACK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.rawsip import (
    SipAgent,
    ThreadedSwitch,
    invite_request,
    prepare_data_dir,
    respond_to,
    switch_config,
)

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[ThreadedSwitch]:
    prepare_data_dir(tmp_path, USERS)
    threaded = ThreadedSwitch(switch_config(tmp_path)).start()
    yield threaded
    threaded.stop()


def test_reliable_180_is_pracked_once(switch: ThreadedSwitch) -> None:
    caller = SipAgent("1001", "secret1001", switch.udp)
    callee = SipAgent("1002", "secret1002", switch.udp)
    with caller.peer, callee.peer:
        assert callee.register(expires=600).status == 200
        invite = invite_request(caller, "1002")
        first = caller.transact(invite)
        assert first.status == 407
        caller.ack_failure(invite, first)
        signed = caller.authorize(invite, first)
        caller.send(signed)
        incoming = callee.peer.request("INVITE")
        ringing = respond_to(incoming, 180, "Ringing", to_tag="callee-tag", extra=[
            ("Require", "100rel"), ("RSeq", "4711"),
            ("Contact", f"<{callee.contact_uri}>"),
        ])
        callee.peer.send(ringing, callee.server)
        prack = callee.peer.request("PRACK")
        assert prack.get("rack") == f"4711 {incoming.get('cseq')}"
        assert prack.to_tag == "callee-tag"
        assert prack.request_uri == callee.contact_uri
        # the caller hears the ringing
        call_id = signed.get("Call-ID")
        assert call_id is not None
        heard = caller.peer.wait_for(
            lambda m: m.is_response and m.call_id == call_id and m.status == 180)
        assert heard.to_tag is not None
        # the PRACK is answered; the 180 arrives again (a retransmission): no second PRACK
        callee.peer.send(respond_to(prack, 200, "OK"), callee.server)
        callee.peer.send(ringing, callee.server)
        again = [m for m in callee.peer.collect(1.0) if not m.is_response and m.method == "PRACK"]
        assert again == []
        # tidy up: the callee refuses, pycc ACKs it and tells the caller
        callee.peer.send(respond_to(incoming, 486, "Busy Here", to_tag="callee-tag"),
                         callee.server)
        busy = caller.peer.response_to(call_id, "INVITE")
        assert busy.status == 486
        caller.ack_failure(signed, busy)
