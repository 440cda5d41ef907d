"""Overload control in a running switch: past a limit, or while requests wait unread, new
calls get 503 with Retry-After, and everything inside a dialog still gets its real answer.

Raw SIP from sockets on 127.0.0.1 (what pycc puts on the wire is checked exactly), and SIPp's
authenticated call scenario, which acknowledges a 503 and counts the call as failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest

from peers.pycc_server import PyccServer, start_pycc
from peers.rawsip import (
    RawRequest,
    SipAgent,
    SipMessage,
    ThreadedSwitch,
    invite_request,
    new_tag,
    prepare_data_dir,
    respond_to,
    switch_config,
    wait_until,
)
from peers.sipp import SipAccount, run_sipp, scenario, start_sipp_uas, write_credentials
from pycc.store.db import make_url
from pycc.store.repo import Store

USERS = [("1001", "secret1001"), ("1002", "secret1002")]


def threaded_switch(tmp_path: Path, **settings: object) -> ThreadedSwitch:
    prepare_data_dir(tmp_path, USERS)
    return ThreadedSwitch(switch_config(tmp_path, **settings)).start()


def refused_metric(switch: ThreadedSwitch, reason: str) -> float:
    text = generate_latest(switch.switch.metrics.registry).decode()
    line = next(ln for ln in text.splitlines()
                if ln.startswith("pycc_sip_messages_refused_total{")
                and f'reason="{reason}"' in ln)
    return float(line.rsplit(" ", 1)[1])


def assert_refused(answer: SipMessage, reason: str, retry_after: str = "1") -> None:
    assert (answer.status, answer.reason) == (503, reason), answer.start_line
    assert answer.get("retry-after") == retry_after
    assert answer.to_tag is not None  # a final answer to an INVITE: the ACK must match


@pytest.fixture
def blocked_backlog_switch(tmp_path: Path) -> Iterator[ThreadedSwitch]:
    # One byte: an INVITE read while anything else waits behind it is refused (at once: no
    # grace).
    switch = threaded_switch(tmp_path, overload_backlog=1, overload_retry_after=3,
                             overload_grace=0)
    yield switch
    switch.stop()


def test_backlog_refuses_new_invites_but_not_dialogs_or_registrations(
        blocked_backlog_switch: ThreadedSwitch) -> None:
    switch = blocked_backlog_switch
    caller = SipAgent("1001", "secret1001", switch.udp)
    with caller.peer:
        first = invite_request(caller, "1002")
        in_dialog = caller.new_request("BYE", "sip:1002@pycc")
        in_dialog.headers = [(n, f"{v};tag={new_tag()}" if n == "To" else v)
                             for n, v in in_dialog.headers]
        register = caller.register_request(expires=600)
        last = invite_request(caller, "1002")
        # The switch's loop sleeps while the four requests arrive, so that each waits in the
        # socket's queue behind the one before it (a loaded switch, made on purpose).
        sleeping = threading.Event()

        def busy() -> None:
            sleeping.set()
            time.sleep(0.5)

        switch.loop.call_soon_threadsafe(busy)
        assert sleeping.wait(5)
        for request in (first, in_dialog, register, last):
            caller.send(request)

        def answer(request: RawRequest) -> SipMessage:
            call_id = request.get("Call-ID")
            assert call_id is not None
            return caller.peer.response_to(call_id, request.method)

        refused = answer(first)
        assert_refused(refused, "Server Overloaded", retry_after="3")
        assert answer(in_dialog).status == 481  # in-dialog traffic is never refused
        assert answer(register).status == 401  # nor registrations
        challenged = answer(last)
        assert challenged.status == 407  # nothing waited behind it: admitted, challenged
        # Only now: an ACK sent earlier could wait behind the last INVITE.
        caller.ack_failure(first, refused)
        caller.ack_failure(last, challenged)
    assert refused_metric(switch, "overload_backlog") == 1


def send_signed_invite(caller: SipAgent, callee: str) -> RawRequest:
    """Send an INVITE, acknowledge its challenge and send it again signed; returns that one."""
    invite = invite_request(caller, callee)
    challenge = caller.transact(invite)
    caller.ack_failure(invite, challenge)
    signed = caller.authorize(invite, challenge)
    caller.send(signed)
    return signed


@pytest.fixture
def max_calls_switch(tmp_path: Path) -> Iterator[ThreadedSwitch]:
    switch = threaded_switch(tmp_path, max_calls=1)
    yield switch
    switch.stop()


def test_max_calls_refuses_the_second_call_until_the_first_ends(
        max_calls_switch: ThreadedSwitch, tmp_path: Path) -> None:
    switch = max_calls_switch
    caller = SipAgent("1001", "secret1001", switch.udp)
    callee = SipAgent("1002", "secret1002", switch.udp)
    with caller.peer, callee.peer:
        assert callee.register(expires=600).status == 200
        # The first call rings at the callee: the switch holds one call.
        signed = send_signed_invite(caller, "1002")
        ringing = callee.peer.request("INVITE")
        callee.peer.send(respond_to(ringing, 180, "Ringing", to_tag="c1"), callee.server)
        # The second is refused once its caller is known (its challenge did not count).
        two = caller.transact_auth(invite_request(caller, "1002"))
        assert_refused(two, "Too Many Calls")
        # The first ends; a third call reaches the callee again.
        callee.peer.send(respond_to(ringing, 486, "Busy Here", to_tag="c1"), callee.server)
        one_id = signed.get("Call-ID")
        assert one_id is not None
        busy = caller.peer.response_to(one_id, "INVITE")
        assert busy.status == 486
        caller.ack_failure(signed, busy)
        assert wait_until(lambda: switch.run(lambda: len(switch.switch.b2bua.calls)) == 0)
        send_signed_invite(caller, "1002")
        again = callee.peer.request("INVITE")
        callee.peer.send(respond_to(again, 486, "Busy Here", to_tag="c3"), callee.server)
        assert wait_until(lambda: switch.run(lambda: len(switch.switch.b2bua.calls)) == 0)
    assert refused_metric(switch, "overload_max_calls") == 1
    # Calls that were set up have their records; the refused one has none.
    def records() -> list[str]:
        with Store(make_url(tmp_path, None)) as store:
            return [r.disposition for r in store.list_call_records()]
    assert wait_until(lambda: len(records()) == 2)
    time.sleep(0.3)
    assert sorted(records()) == ["busy", "busy"]


@pytest.fixture
def rate_limited_pycc(tmp_path: Path) -> Iterator[PyccServer]:
    server = start_pycc(tmp_path, USERS, config={"max_call_rate": 1})
    yield server
    server.stop()


@pytest.mark.peer
def test_sipp_calls_past_the_call_rate_are_refused_and_acknowledged(
        rate_limited_pycc: PyccServer, tmp_path: Path) -> None:
    """Four calls at once against one call per second: the first is connected, the other
    three get 503 Call Rate Too High, which SIPp acknowledges (no retransmissions)."""
    pycc = rate_limited_pycc
    account = SipAccount("1002", "secret1002", pycc.address)
    with start_sipp_uas(scenario("uas_answer"), account=account, workdir=tmp_path / "uas"):
        inf = write_credentials(tmp_path / "c.csv", [("1001", "secret1001")])
        result = run_sipp(scenario("uac_call_auth"), pycc.address, service="1002",
                          inf_file=inf, calls=4, rate=20, max_concurrent=4,
                          extra_args=("-default_behaviors", "all,-bye"),
                          workdir=tmp_path / "uac")
    assert (result.successful, result.failed) == (1, 3), result.describe()
    messages = result.messages()
    assert messages.count("SIP/2.0 503 Call Rate Too High") == 3, messages
    assert "Retry-After: 1" in messages
