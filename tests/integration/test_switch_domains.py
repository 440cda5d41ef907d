"""With the one tenant ``pycc init`` creates, an extension answers to every name and address
of the switch: registered under one, called under another."""

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


@pytest.mark.parametrize(("register_domain", "call_domain"), [
    ("127.0.0.1", "pbx.example.com"),
    ("pbx.example.com", "127.0.0.1:5060"),
    ("pycc", "192.0.2.1"),
])
def test_extension_reached_under_any_name(switch: ThreadedSwitch, register_domain: str,
                                          call_domain: str) -> None:
    callee = SipAgent("1002", "secret1002", switch.udp, domain=register_domain)
    caller = SipAgent("1001", "secret1001", switch.udp, domain=call_domain)
    with callee.peer, caller.peer:
        assert callee.register(expires=600).status == 200
        invite = invite_request(caller, "1002")
        assert invite.uri == f"sip:1002@{call_domain}"
        first = caller.transact(invite)
        assert first.status == 407
        caller.ack_failure(invite, first)
        signed = caller.authorize(invite, first)
        caller.send(signed)
        incoming = callee.peer.request("INVITE")
        assert incoming.request_uri == callee.contact_uri
        callee.peer.send(respond_to(incoming, 486, "Busy Here", to_tag="b"), callee.server)
        call_id = signed.get("Call-ID")
        assert call_id is not None
        assert caller.peer.response_to(call_id, "INVITE").status == 486


def test_unknown_extension_under_any_name_is_404(switch: ThreadedSwitch) -> None:
    caller = SipAgent("1001", "secret1001", switch.udp, domain="pbx.example.com")
    with caller.peer:
        answer = caller.transact_auth(invite_request(caller, "4040"))
        assert answer.status == 404
