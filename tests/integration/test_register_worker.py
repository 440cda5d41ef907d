"""The register worker (`pycc.ccmanager.register_offload`) seen from phones on 127.0.0.1.

What a switch with ``register_workers = 1`` must do beyond what `test_switch_registrar.py`
checks in both modes: answer a retransmitted REGISTER as a server transaction would (RFC 3261
§17.2.2: the same answer again, not a new challenge or a replayed nonce count's refusal),
answer REGISTERs that came over TCP on their connection (§18.2.2), challenge a call's first
INVITE (§22.3), resend that challenge until its ACK (§17.2.1) and drop the ACK unread, but
leave a trusted trunk's INVITE to the B2BUA, route calls to phones the worker registered,
carry a SIPp load of digest REGISTERs, and go on registering phones itself when the worker
dies. A setting out of range is refused at start; the default starts the
worker on a machine with two or more cores.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from peers.rawsip import (
    LOOPBACK,
    RawRequest,
    SipAgent,
    TcpPeer,
    ThreadedSwitch,
    invite_request,
    new_branch,
    new_tag,
    prepare_data_dir,
    switch_config,
    wait_until,
)
from peers.sipp import run_sipp, scenario, write_credentials
from pycc.ccmanager import register_offload
from pycc.ccmanager.register_offload import RegisterOffloader
from pycc.config import ConfigError
from pycc.sip.address import Address
from pycc.switch import Switch

USERS = [("1001", "secret1001"), ("1002", "secret1002")] + \
    [(str(n), f"pw-{n}") for n in range(2000, 2020)]
PASSWORDS = dict(USERS)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    prepare_data_dir(path, USERS)
    return path


@pytest.fixture
def switch(data_dir: Path) -> Iterator[ThreadedSwitch]:
    with ThreadedSwitch(switch_config(data_dir, register_workers=1)) as running:
        yield running


def offload_of(running: ThreadedSwitch) -> RegisterOffloader:
    offload = running.switch.register_offload
    assert offload is not None
    return offload


def test_a_retransmission_gets_the_same_answer(switch: ThreadedSwitch) -> None:
    phone = SipAgent("1001", PASSWORDS["1001"], switch.udp)
    try:
        first = phone.register_request(expires=600)
        challenge = phone.transact(first)
        assert challenge.status == 401, challenge.start_line
        # The first REGISTER again, as a phone that missed the 401 sends it: the same 401
        # (same nonce, same To tag), not a second challenge the phone never asked for.
        phone.send(first)
        again = phone.peer.response_to(str(first.get("Call-ID")), "REGISTER")
        assert again.raw == challenge.raw

        authorized = phone.authorize(first, challenge)
        ok = phone.transact(authorized)
        assert ok.status == 200, ok.start_line
        handled = offload_of(switch).handled_total
        # Its authenticated repeat gets the 200 again, byte for byte: judged afresh, its
        # nonce count would be a replay and draw a challenge and a failure on the source.
        phone.send(authorized)
        repeat = phone.peer.response_to(str(first.get("Call-ID")), "REGISTER")
        assert repeat.raw == ok.raw
        assert offload_of(switch).handled_total == handled
        registrar = switch.switch.registrar
        assert registrar is not None and registrar.auth.failures == 0
    finally:
        phone.peer.close()


def _tcp_register(peer: TcpPeer, user: str, port: int, *, cseq: int, call_id: str,
                  authorization: str | None = None) -> bytes:
    lines = [
        "REGISTER sip:pycc SIP/2.0",
        f"Via: SIP/2.0/TCP {LOOPBACK}:{peer.sock.getsockname()[1]};branch={new_branch()}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@pycc>;tag={new_tag()}",
        f"To: <sip:{user}@pycc>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@{LOOPBACK}:{port};transport=tcp>",
        "Expires: 600",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def test_a_register_over_tcp_is_answered_on_its_connection(switch: ThreadedSwitch) -> None:
    tcp = switch.switch.addresses["tcp"]
    with TcpPeer(tcp.port) as peer:
        call_id = f"{secrets.token_hex(6)}@test"
        local = peer.sock.getsockname()[1]
        peer.send(_tcp_register(peer, "1002", local, cseq=1, call_id=call_id))
        challenge = peer.read_message()
        assert challenge is not None and challenge.status == 401, challenge
        helper = SipAgent("1002", PASSWORDS["1002"], (LOOPBACK, tcp.port))
        try:
            request = RawRequest("REGISTER", "sip:pycc", [])
            authorization = helper.authorize(request, challenge).get("Authorization")
        finally:
            helper.peer.close()
        assert authorization is not None
        peer.send(_tcp_register(peer, "1002", local, cseq=2, call_id=call_id,
                                authorization=authorization))
        ok = peer.read_message()
        assert ok is not None and ok.status == 200, ok
        assert offload_of(switch).handled_total >= 2
        registrar = switch.switch.registrar
        assert registrar is not None
        locations = switch.run(lambda: registrar.lookup("1002"))
        # A stream binding is reached over the connection it registered on (RFC 5626 §5.3).
        assert [(loc.destination.transport, loc.destination.connection is not None)
                for loc in locations if loc.destination] == [("tcp", True)]


def test_a_phone_the_worker_registered_is_called(switch: ThreadedSwitch) -> None:
    caller = SipAgent("1001", PASSWORDS["1001"], switch.udp)
    callee = SipAgent("1002", PASSWORDS["1002"], switch.udp)
    try:
        assert callee.register(expires=600).status == 200
        offload = offload_of(switch)
        handled = offload.handled_total
        assert handled >= 2
        invite = invite_request(caller, "1002")
        caller.send(invite)
        first = caller.peer.response_to(str(invite.get("Call-ID")), "INVITE")
        assert first.status == 407, first.start_line
        # The worker made the challenge; the switch holds no transaction for it.
        assert offload.handled_total == handled + 1
        assert len(offload._acks) == 1
        caller.ack_failure(invite, first)
        # Its ACK is dropped unread (the worker's challenge ends there).
        assert wait_until(lambda: not offload._acks)
        caller.send(caller.authorize(invite, first))
        arrived = callee.peer.request("INVITE")
        # The B2BUA found the binding the worker's REGISTER made, at the phone's address.
        assert arrived.request_uri.startswith(f"sip:1002@{LOOPBACK}:{callee.peer.port}")
        assert offload.handled_total == handled + 1
    finally:
        caller.peer.close()
        callee.peer.close()


def test_the_workers_challenge_is_resent_until_its_ack(switch: ThreadedSwitch) -> None:
    """RFC 3261 §17.2.1: over UDP a final answer to an INVITE is resent (Timer G, from T1 =
    0.5 s) until the ACK comes, as the B2BUA's own INVITE server transaction does."""
    offload = offload_of(switch)
    caller = SipAgent("1001", PASSWORDS["1001"], switch.udp)
    try:
        handled = offload.handled_total
        invite = invite_request(caller, "1002")
        caller.send(invite)
        call_id = str(invite.get("Call-ID"))
        first = caller.peer.response_to(call_id, "INVITE")
        assert first.status == 407 and offload.handled_total == handled + 1
        copies = [m for m in caller.peer.collect(0.9) if m.is_response]
        assert [(m.status, m.raw) for m in copies] == [(407, first.raw)]
        caller.ack_failure(invite, first)
        # Timer G would fire again 1 s after the first copy; the ACK stopped it.
        assert [m for m in caller.peer.collect(1.6) if m.is_response] == []
        assert not offload._acks
    finally:
        caller.peer.close()


def test_an_invite_from_a_trusted_trunk_stays_in_the_switch(switch: ThreadedSwitch) -> None:
    b2bua = switch.switch.b2bua
    assert b2bua is not None
    offload = offload_of(switch)
    caller = SipAgent("1001", PASSWORDS["1001"], switch.udp)
    try:
        assert b2bua.challenges(Address("udp", LOOPBACK, caller.peer.port))
        # A trunk trusted by its address is never challenged: the B2BUA takes its INVITEs.
        b2bua.trusted_source = lambda host: "carrier" if host == LOOPBACK else None
        assert not b2bua.challenges(Address("udp", LOOPBACK, caller.peer.port))
        handled = offload.handled_total
        invite = invite_request(caller, "1002")
        caller.send(invite)
        answer = caller.peer.response_to(str(invite.get("Call-ID")), "INVITE")
        assert answer.status != 407, answer.start_line
        assert offload.handled_total == handled
    finally:
        caller.peer.close()


def test_sipp_registers_through_the_worker(switch: ThreadedSwitch, tmp_path: Path) -> None:
    users = [(u, p) for u, p in USERS if u.startswith("20")]
    inf = write_credentials(tmp_path / "users.csv", users)
    host, port = switch.udp
    result = run_sipp(scenario("uac_register_auth"), f"{host}:{port}", inf_file=inf,
                      calls=60, rate=60, max_concurrent=80, timeout=30,
                      trace_messages=False, workdir=tmp_path / "sipp")
    assert result.successful == 60 and result.failed == 0, result.describe()
    assert offload_of(switch).handled_total >= 120
    registrar = switch.switch.registrar
    assert registrar is not None
    assert switch.run(registrar.binding_count) == len(users)


def test_a_dead_worker_leaves_the_registers_to_the_switch(switch: ThreadedSwitch) -> None:
    offload = offload_of(switch)
    process = offload._process
    assert process is not None
    process.kill()
    assert wait_until(lambda: not offload.running), "the switch did not notice"
    assert switch.switch.endpoint is not None and switch.switch.endpoint.request_hook is None
    phone = SipAgent("1001", PASSWORDS["1001"], switch.udp)
    try:
        handled = offload.handled_total
        ok = phone.register(expires=600)
        assert ok.status == 200, ok.start_line
        assert offload.handled_total == handled
        registrar = switch.switch.registrar
        assert registrar is not None
        assert [loc.destination for loc in switch.run(lambda: registrar.lookup("1001"))] == [
            Address("udp", LOOPBACK, phone.peer.port)]
    finally:
        phone.peer.close()


def test_a_stuck_worker_leaves_new_registers_to_the_switch(
        switch: ThreadedSwitch, monkeypatch: pytest.MonkeyPatch) -> None:
    offload = offload_of(switch)
    process = offload._process
    assert process is not None
    monkeypatch.setattr(register_offload, "MAX_PENDING", 2)
    phones = [SipAgent(user, PASSWORDS[user], switch.udp) for user in ("2000", "2001", "2002")]
    waiting = [phone.register_request(expires=600) for phone in phones[:2]]
    os.kill(process.pid, signal.SIGSTOP)
    try:
        for phone, request in zip(phones, waiting, strict=False):
            phone.send(request)
        assert wait_until(lambda: len(offload._pending) == 2)
        # The worker holds as many as it may: the next phone is answered by the switch.
        assert phones[2].register(expires=600).status == 200
        assert len(offload._pending) == 2
    finally:
        os.kill(process.pid, signal.SIGCONT)
    # Going on, the worker answers the two it held.
    for phone, request in zip(phones, waiting, strict=False):
        answer = phone.peer.response_to(str(request.get("Call-ID")), "REGISTER")
        assert answer.status == 401, answer.start_line
    for phone in phones:
        phone.peer.close()


@pytest.mark.parametrize("cores", [1, 2, 8])
def test_the_default_starts_a_worker_where_there_are_cores(
        data_dir: Path, cores: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    with ThreadedSwitch(switch_config(data_dir)) as running:
        offload = running.switch.register_offload
        assert (offload is not None and offload.running) == (cores >= 2)


@pytest.mark.parametrize("value", [2, -2])
def test_register_workers_out_of_range_is_refused(data_dir: Path, value: int) -> None:
    async def start() -> None:
        running = Switch(switch_config(data_dir, register_workers=value))
        try:
            await running.start()
        finally:
            await running.stop()

    with pytest.raises(ConfigError, match=re.escape("register_workers: expected a whole "
                                                    "number from -1 to 1")):
        asyncio.run(start())


def test_zero_keeps_the_registers_in_the_switch(data_dir: Path) -> None:
    with ThreadedSwitch(switch_config(data_dir, register_workers=0)) as running:
        assert running.switch.register_offload is None
        assert running.switch.endpoint is not None
        assert running.switch.endpoint.request_hook is None
        phone = SipAgent("1001", PASSWORDS["1001"], running.udp)
        try:
            assert phone.register(expires=600).status == 200
        finally:
            phone.peer.close()
