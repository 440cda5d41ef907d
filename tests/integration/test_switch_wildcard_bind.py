"""A switch listening on 0.0.0.0 (the default of ``pycc serve``) never names 0.0.0.0 in a
message: Via and Contact carry the address the peer reaches it on."""

from __future__ import annotations

from pathlib import Path

from peers.rawsip import (
    SipAgent,
    ThreadedSwitch,
    invite_request,
    prepare_data_dir,
    respond_to,
    switch_config,
)

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


def test_wildcard_listener_advertises_a_reachable_address(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path, USERS)
    with ThreadedSwitch(switch_config(tmp_path, bind="0.0.0.0")) as switch:
        server = ("127.0.0.1", switch.udp[1])
        caller = SipAgent("1001", "secret1001", server)
        callee = SipAgent("1002", "secret1002", server)
        with caller.peer, callee.peer:
            assert callee.register(expires=600).status == 200
            invite = invite_request(caller, "1002")
            first = caller.transact(invite)
            caller.ack_failure(invite, first)
            signed = caller.authorize(invite, first)
            caller.send(signed)
            incoming = callee.peer.request("INVITE")
            via, contact = incoming.all("via")[0], incoming.get("contact") or ""
            assert f"127.0.0.1:{server[1]}" in via and "0.0.0.0" not in via
            assert f"@127.0.0.1:{server[1]}" in contact
            callee.peer.send(respond_to(incoming, 180, "Ringing", to_tag="b", extra=[
                ("Contact", f"<{callee.contact_uri}>")]), server)
            call_id = signed.get("Call-ID")
            assert call_id is not None
            ringing = caller.peer.wait_for(
                lambda m: m.is_response and m.call_id == call_id and m.status == 180)
            assert "0.0.0.0" not in (ringing.get("contact") or "")
            assert f"@127.0.0.1:{server[1]}" in (ringing.get("contact") or "")
            callee.peer.send(respond_to(incoming, 486, "Busy Here", to_tag="b"), server)
            busy = caller.peer.response_to(call_id, "INVITE")
            assert busy.status == 486
            caller.ack_failure(signed, busy)


def test_loop_detected_behind_a_wildcard_listener(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path, USERS)
    with ThreadedSwitch(switch_config(tmp_path, bind="0.0.0.0")) as switch:
        server = ("127.0.0.1", switch.udp[1])
        caller = SipAgent("1001", "secret1001", server)
        with caller.peer:
            request = invite_request(caller, "1002")
            request.headers.insert(
                1, ("Via", f"SIP/2.0/UDP 127.0.0.1:{server[1]};branch=z9hG4bK-pycc-0001"))
            answer = caller.transact(request)
            assert answer.status == 482, answer.start_line
            caller.ack_failure(request, answer)
