"""pycc.ua against a real pycc Switch on 127.0.0.1: registration, calls, CANCEL, re-INVITE,
DTMF over INFO, call records and the brute-force ban, over UDP, TCP and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pycc.config import load_config, write_initial_config
from pycc.rtp.dtmf import DigitEnded, DigitStarted, DtmfReceiver
from pycc.rtp.packet import parse_rtp
from pycc.sdp.session import SessionDescription
from pycc.sip.address import Address
from pycc.store.db import make_url
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, CallFailed, CallState, UaError, UserAgent, minimal_sdp

PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002", "1003": "secret-1003"}
TRANSPORTS = ["udp", "tcp"]


class Lab:
    """A running switch, its store and the user agents of one test."""

    def __init__(self, switch: Switch, store: Store, stack: contextlib.AsyncExitStack) -> None:
        self.switch = switch
        self.store = store
        self.stack = stack

    async def agent(self, user: str, transport: str = "udp", *, password: str | None = None,
                    register: bool = True, **options: Any) -> UserAgent:
        ua = UserAgent(user, password or PASSWORDS[user],
                       server=self.switch.addresses[transport], **options)
        await self.stack.enter_async_context(ua)
        if register:
            await ua.register()
        return ua

    async def record(self, call_id: str, timeout: float = 5.0) -> CallRecord:
        """The call record of ``call_id`` (A-leg Call-ID), once the switch has written it."""
        async with asyncio.timeout(timeout):
            while True:
                records = await asyncio.to_thread(self.store.list_call_records, "default")
                for record in records:
                    if record.call_id == call_id:
                        return record
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def lab(tmp_path: Path, **overrides: Any) -> AsyncIterator[Lab]:
    data = tmp_path / "data"
    data.mkdir()
    write_initial_config(data)
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    config = load_config(data).with_overrides(bind="127.0.0.1", sip_port=0, sips_port=0,
                                              **overrides)
    try:
        async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
            yield Lab(switch, store, stack)
    finally:
        store.close()


def run(tmp_path: Path, scenario: Callable[[Lab], Awaitable[None]], **overrides: Any) -> None:
    async def main() -> None:
        async with asyncio.timeout(30), lab(tmp_path, **overrides) as the_lab:
            await scenario(the_lab)

    asyncio.run(main())


def rtp_port(sdp: bytes) -> int:
    return SessionDescription.parse(sdp).media[0].port


def sdp_version(sdp: bytes) -> int:
    return SessionDescription.parse(sdp).origin.sess_version


def anchored(sdp: bytes) -> int:
    """The RTP port of a description pycc wrote (its o= and c= name pycc); the port."""
    description = SessionDescription.parse(sdp)
    assert description.origin.username == "pycc"
    assert description.connection is not None
    assert description.connection.address == "127.0.0.1"
    port = description.media[0].port
    assert 20000 <= port <= 20999 and port % 2 == 0
    return port


# -- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_register_binds_and_unregister_removes(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        ua = await lab.agent("1001", transport, register=False)
        response = await ua.register(expires=120)
        assert response.status == 200
        assert ua.registered
        assert ua.challenges[401] == 1  # the first REGISTER went without credentials
        assert lab.switch.registrar is not None
        locations = lab.switch.registrar.lookup("1001")
        assert len(locations) == 1
        assert locations[0].binding.contact in ua.contact
        assert (await ua.unregister()).status == 200
        assert not ua.registered
        assert lab.switch.registrar.lookup("1001") == []

    run(tmp_path, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_register_with_wrong_password_raises_401(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        ua = await lab.agent("1001", transport, password="wrong", register=False)
        with pytest.raises(UaError) as failure:
            await ua.register()
        assert failure.value.status == 401
        assert not ua.registered
        assert lab.switch.registrar is not None
        assert lab.switch.registrar.lookup("1001") == []

    run(tmp_path, scenario)


async def guess_passwords(lab: Lab, attempts: int) -> list[int | None]:
    """REGISTER ``attempts`` times with a wrong password; the final status of each."""
    ua = await lab.agent("1001", password="guess", register=False)
    statuses = []
    for _attempt in range(attempts):
        with pytest.raises(UaError) as failure:
            await ua.register()
        statuses.append(failure.value.status)
    return statuses


def test_repeated_wrong_passwords_ban_the_source(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        statuses = await guess_passwords(lab, 12)
        assert statuses[0] == 401
        assert 403 in statuses
        first_ban = statuses.index(403)
        assert set(statuses[:first_ban]) == {401}
        assert set(statuses[first_ban:]) == {403}
        # The ban is on the source address: even the right password is refused now.
        honest = await lab.agent("1002", register=False)
        with pytest.raises(UaError) as refused:
            await honest.register()
        assert refused.value.status == 403

    run(tmp_path, scenario, ban_failures=3)


def test_ban_comes_after_ban_failures_failures(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        # Each register() makes one wrong-digest attempt (the first REGISTER of each only
        # fetches the challenge): the third failure starts the ban.
        assert await guess_passwords(lab, 4) == [401, 401, 403, 403]

    run(tmp_path, scenario, ban_failures=3)


def test_switch_answers_options(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        ua = await lab.agent("1001", register=False)
        response = await ua.options()
        assert response.status == 200
        assert "INVITE" in (response.headers.get("allow") or "")

    run(tmp_path, scenario)


def test_a_register_without_credentials_is_challenged_at_once_and_its_copy_absorbed(
    tmp_path: Path,
) -> None:
    """The challenge goes out before the event loop runs again (no task per REGISTER), and
    the same datagram again is answered with the same 401 from the transaction."""

    async def scenario(lab: Lab) -> None:
        endpoint = lab.switch.endpoint
        assert endpoint is not None
        sent: list[bytes] = []
        real_send = endpoint.transports.send
        endpoint.transports.send = lambda data, destination: sent.append(data)  # type: ignore[method-assign]
        phone = Address("udp", "127.0.0.1", 5999)
        register = (
            b"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-absorb-1;rport\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=a1\r\n"
            b"To: <sip:1001@127.0.0.1>\r\nCall-ID: absorb-1@127.0.0.1\r\n"
            b"CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5999>\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        try:
            endpoint.message_received(register, phone)
            assert [m.split(b"\r\n", 1)[0] for m in sent] == [b"SIP/2.0 401 Unauthorized"]
            endpoint.message_received(register, phone)
            assert len(sent) == 2 and sent[1] == sent[0]
            assert endpoint.stats.retransmissions_absorbed == 1
            # Another REGISTER (new branch) is a new transaction with a new nonce.
            endpoint.message_received(register.replace(b"absorb-1;", b"absorb-2;"), phone)
            assert len(sent) == 3 and sent[2] != sent[0]
            assert endpoint.stats.retransmissions_absorbed == 1
        finally:
            endpoint.transports.send = real_send  # type: ignore[method-assign]

    # The switch's own path: a register worker would answer from its process instead.
    run(tmp_path, scenario, register_workers=0)


# -- answered calls --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_answered_and_ended_by_caller(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", transport)
        bob = await lab.agent("1002", transport, auto_answer=True)
        call = await alice.call("1002", timeout=10)
        assert call.state is CallState.ANSWERED and call.status == 200
        assert alice.challenges[407] == 1  # the switch asked the INVITE for credentials
        answered = await bob.next_call(2)
        assert answered.direction == "incoming" and answered.remote_party == "1001"
        await answered.answered.wait()
        # pycc anchors the media: each side sees pycc's ports, never the other phone's.
        assert call.remote_sdp is not None and answered.remote_sdp is not None
        assert call.local_sdp is not None and answered.local_sdp is not None
        to_alice, to_bob = anchored(call.remote_sdp), anchored(answered.remote_sdp)
        assert to_alice != rtp_port(answered.local_sdp) and to_alice != to_bob
        assert to_bob != rtp_port(call.local_sdp)
        await call.hangup()
        assert await answered.wait_ended(3) == "remote"
        assert await call.wait_ended(1) == "local"
        record = await lab.record(call.call_id)
        assert (record.caller, record.callee) == ("1001", "1002")
        assert record.disposition == "answered"
        assert record.hangup_by == "caller"
        assert record.sip_status == 200
        assert record.answer is not None
        assert (record.codec_caller, record.codec_callee) == ("PCMU/8000", "PCMU/8000")
        assert record.media_path == "relay"

    run(tmp_path, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_ended_by_callee(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", transport)
        bob = await lab.agent("1002", transport, auto_answer=True, answer_delay=0.2)
        call = await alice.call("1002", timeout=10)
        assert call.ringing.is_set()  # the 180 came before the delayed answer
        answered = await bob.next_call(2)
        await answered.answered.wait()
        await answered.hangup()
        assert await call.wait_ended(3) == "remote"
        assert answered.ended_by == "local"
        record = await lab.record(call.call_id)
        assert record.disposition == "answered"
        assert record.hangup_by == "callee"

    run(tmp_path, scenario)


def test_manual_answer_after_ringing(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002")
        call = await alice.dial("1002")
        incoming = await bob.next_call(3)
        await asyncio.wait_for(call.ringing.wait(), 3)
        assert call.state is CallState.RINGING and incoming.state is CallState.RINGING
        custom = minimal_sdp("127.0.0.1", 41000, username="desk", session_id=77)
        await incoming.answer(custom)
        await call.wait_answered(3)
        first = call.remote_sdp
        assert first is not None and anchored(first) != 41000
        assert incoming.local_sdp == custom
        # A re-INVITE is answered with the same description: nothing changed on that side.
        assert (await call.reinvite()).status == 200
        assert call.remote_sdp == first
        await call.hangup()
        await incoming.wait_ended(3)

    run(tmp_path, scenario)


def test_call_without_offer_gets_answer_in_ack(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True)
        call = await alice.call("1002", sdp=b"", timeout=10)
        incoming = await bob.next_call(2)
        # Late offer: the callee's 200 carries the offer, the caller's ACK the answer; pycc
        # rewrites both.
        assert call.remote_sdp is not None and incoming.local_sdp is not None
        assert anchored(call.remote_sdp) != rtp_port(incoming.local_sdp)
        async with asyncio.timeout(3):
            while incoming.remote_sdp is None:
                await asyncio.sleep(0.02)
        assert call.local_sdp is not None
        assert anchored(incoming.remote_sdp) != rtp_port(call.local_sdp)
        await call.hangup()
        await incoming.wait_ended(3)

    run(tmp_path, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reinvite_from_caller_reaches_callee(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", transport)
        bob = await lab.agent("1002", transport, auto_answer=True)
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        first_answer = call.remote_sdp
        offer_before = call.local_sdp
        relayed_before = incoming.remote_sdp
        assert relayed_before is not None
        response = await call.reinvite()
        assert response.status == 200
        assert incoming.requests_received["INVITE"] == 1
        assert call.local_sdp != offer_before  # a new version of our description
        # pycc's own offer to the callee is a new version, on the same ports.
        assert incoming.remote_sdp is not None and incoming.remote_sdp != relayed_before
        assert sdp_version(incoming.remote_sdp) == sdp_version(relayed_before) + 1
        assert anchored(incoming.remote_sdp) == anchored(relayed_before)
        assert call.remote_sdp == first_answer  # the callee answered the same: so does pycc
        # The dialog is still usable both ways afterwards.
        assert (await call.update()).status == 200
        await incoming.hangup()
        assert await call.wait_ended(3) == "remote"

    run(tmp_path, scenario)


def test_update_is_relayed_both_ways(tmp_path: Path) -> None:
    """RFC 3311 UPDATE inside an answered call, from each side, with an SDP offer."""

    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True)
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        response = await call.update()
        assert response.status == 200
        assert incoming.requests_received["UPDATE"] == 1
        # the offer crossed pycc, rewritten, and the answer came back, rewritten
        assert incoming.remote_sdp is not None and call.local_sdp is not None
        assert anchored(incoming.remote_sdp) != rtp_port(call.local_sdp)
        assert response.body and anchored(response.body) != rtp_port(incoming.local_sdp or b"")
        back = await incoming.update()
        assert back.status == 200
        assert call.requests_received["UPDATE"] == 1
        assert call.remote_sdp is not None and incoming.local_sdp is not None
        assert anchored(call.remote_sdp) != rtp_port(incoming.local_sdp)
        # a re-INVITE still works after the UPDATEs: offer/answer state is consistent
        assert (await call.reinvite()).status == 200
        await call.hangup()
        assert await incoming.wait_ended(3) == "remote"

    run(tmp_path, scenario)


def test_info_dtmf_reaches_a_callee_without_events_as_info(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True, telephone_events=False)
        keys: list[tuple[str, str, str]] = []
        assert lab.switch.b2bua is not None
        lab.switch.b2bua.dtmf_listeners.append(
            lambda _call, party, digit, form: keys.append((party, digit, form)))
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        for digit in "12#":
            assert (await call.send_info_dtmf(digit)).status == 200
        assert [await incoming.next_dtmf(2) for _ in range(3)] == ["1", "2", "#"]
        assert keys == [("a", "1", "info"), ("a", "2", "info"), ("a", "#", "info")]
        with pytest.raises(ValueError):
            await call.send_info_dtmf("x")
        await call.hangup()

    run(tmp_path, scenario)


def test_info_dtmf_reaches_a_callee_with_events_as_rfc4733(tmp_path: Path) -> None:
    """The callee negotiated telephone-event: pycc answers the INFO and sends the key to the
    callee's RTP port as RFC 4733 packets, each key once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
        rtp.bind(("127.0.0.1", 0))
        rtp.setblocking(False)
        port = rtp.getsockname()[1]

        async def scenario(lab: Lab) -> None:
            alice = await lab.agent("1001")
            bob = await lab.agent("1002", auto_answer=True, rtp_port=port)
            call = await alice.call("1002", timeout=10)
            await bob.next_call(2)
            assert (await call.send_info_dtmf("5", duration=100)).status == 200
            receiver = DtmfReceiver(8000)
            digits: list[str] = []
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(3):
                while not any(isinstance(e, DigitEnded) for e in receiver.handle_timer(
                        loop.time())) and len(digits) < 2:
                    try:
                        data = rtp.recv(2048)
                    except BlockingIOError:
                        await asyncio.sleep(0.01)
                        if digits and receiver.get_timer() is None:
                            break
                        continue
                    packet = parse_rtp(data)
                    assert packet.payload_type == 101
                    for event in receiver.receive_packet(packet, loop.time()):
                        if isinstance(event, DigitStarted):
                            digits.append(event.digit)
            assert digits == ["5"]
            await call.hangup()

        run(tmp_path, scenario)


def test_second_registration_gets_cancel_when_first_answers(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        desk = await lab.agent("1002")
        mobile = await lab.agent("1002", "tcp")
        assert lab.switch.registrar is not None
        assert len(lab.switch.registrar.lookup("1002")) == 2
        call = await alice.dial("1002")
        on_desk = await desk.next_call(3)
        on_mobile = await mobile.next_call(3)
        assert on_desk.state is on_mobile.state is CallState.RINGING
        await on_mobile.answer()
        await call.wait_answered(3)
        assert await on_desk.wait_ended(3) == "remote"
        assert on_desk.status == 487
        assert call.remote_sdp is not None and on_mobile.local_sdp is not None
        assert anchored(call.remote_sdp) != rtp_port(on_mobile.local_sdp)
        await call.hangup()
        assert await on_mobile.wait_ended(3) == "remote"

    run(tmp_path, scenario)


# -- failed calls ----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_callee_rejects_busy(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", transport)
        bob = await lab.agent("1002", transport)

        async def refuse() -> Call:
            incoming = await bob.next_call(3)
            await incoming.reject(486)
            return incoming

        refusing = asyncio.create_task(refuse())
        with pytest.raises(CallFailed) as failure:
            await alice.call("1002", timeout=10)
        assert failure.value.status == 486
        incoming = await refusing
        assert incoming.ended_by == "local" and incoming.status == 486
        record = await lab.record(incoming_call_id(alice))
        assert record.disposition == "busy"
        assert record.sip_status == 486

    run(tmp_path, scenario)


def incoming_call_id(caller: UserAgent) -> str:
    """The Call-ID of the one call ``caller`` made (ended calls are kept a while)."""
    (call_id,) = caller.calls
    return call_id


def test_unregistered_and_unknown_numbers(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        with pytest.raises(CallFailed) as offline:
            await alice.call("1003", timeout=5)
        assert offline.value.status == 480
        with pytest.raises(CallFailed) as unknown:
            await alice.call("9999", timeout=5)
        assert unknown.value.status == 404
        assert alice.challenges[407] == 2

    run(tmp_path, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_caller_cancels_while_ringing(tmp_path: Path, transport: str) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", transport)
        bob = await lab.agent("1002", transport)
        call = await alice.dial("1002")
        incoming = await bob.next_call(3)
        await asyncio.wait_for(call.ringing.wait(), 3)
        await call.hangup()
        assert call.state is CallState.ENDED
        assert call.status == 487 and call.ended_by == "local"
        assert await incoming.wait_ended(3) == "remote"
        assert incoming.status == 487
        with pytest.raises(CallFailed):
            await call.wait_answered(1)
        record = await lab.record(call.call_id)
        assert record.disposition == "cancelled"
        assert record.hangup_by == "caller"

    run(tmp_path, scenario)


def test_ring_timeout_gives_408(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002")
        with pytest.raises(CallFailed) as failure:
            await alice.call("1002", timeout=10)
        assert failure.value.status == 408
        incoming = await bob.next_call(1)
        assert await incoming.wait_ended(3) == "remote"  # the switch cancelled the branch
        record = await lab.record(incoming_call_id(alice))
        assert record.disposition == "no-answer"

    run(tmp_path, scenario, ring_timeout=1)


# -- TLS -------------------------------------------------------------------------------------


def test_tls_register_and_call(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", "tls")
        bob = await lab.agent("1002", "tls", auto_answer=True)
        assert ";transport=tls" in alice.contact
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        assert call.remote_sdp is not None and incoming.local_sdp is not None
        assert anchored(call.remote_sdp) != rtp_port(incoming.local_sdp)
        await call.hangup()
        assert await incoming.wait_ended(3) == "remote"

    run(tmp_path, scenario)


# -- the other direction, and endings the users did not choose ------------------------------


def test_reinvite_from_callee_reaches_caller(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True)
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        await incoming.answered.wait()
        response = await incoming.reinvite()
        assert response.status == 200
        assert call.requests_received["INVITE"] == 1
        # the callee's offer reached the caller rewritten by pycc, the answer came back so
        assert call.remote_sdp is not None and incoming.local_sdp is not None
        assert anchored(call.remote_sdp) != rtp_port(incoming.local_sdp)
        assert response.body and anchored(response.body) == anchored(incoming.remote_sdp or b"")
        await call.hangup()
        assert await incoming.wait_ended(3) == "remote"
        record = await lab.record(call.call_id)
        assert record.hangup_by == "caller"

    run(tmp_path, scenario)


def test_closing_an_agent_hangs_up_its_calls(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001", "tcp")
        bob = await lab.agent("1002", "tcp", auto_answer=True)
        call = await alice.call("1002", timeout=10)
        await bob.close()
        assert await call.wait_ended(3) == "remote"
        record = await lab.record(call.call_id)
        assert record.hangup_by == "callee"

    run(tmp_path, scenario)


def test_stopping_the_switch_ends_answered_calls(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True)
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        await lab.switch.stop()
        assert await call.wait_ended(3) == "remote"
        assert await incoming.wait_ended(3) == "remote"
        (record,) = await asyncio.to_thread(lab.store.list_call_records, "default")
        assert record.call_id == call.call_id
        assert (record.disposition, record.hangup_by) == ("answered", "system")

    run(tmp_path, scenario)


def test_a_call_whose_rtp_stops_is_hung_up_and_the_record_says_why(tmp_path: Path) -> None:
    """Neither phone sends RTP (these user agents have no media): after rtp_timeout seconds
    pycc hangs the call up with BYE to both and records the cause."""

    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True)
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        assert await call.wait_ended(5) == "remote"
        assert await incoming.wait_ended(2) == "remote"
        record = await lab.record(call.call_id)
        assert record.disposition == "answered"
        assert (record.hangup_by, record.hangup_cause) == ("system", "RTP timeout")
        assert 0.8 <= record.duration <= 4.0

    run(tmp_path, scenario, rtp_timeout=1.0)


def test_an_offerless_reinvite_is_answered_by_pycc_with_its_own_side(tmp_path: Path) -> None:
    """A re-INVITE without SDP (a session refresh): pycc offers the caller its own side as it
    is, takes the answer in the ACK, and leaves the callee alone, so no description with a
    phone's own address ever crosses the switch."""

    async def scenario(lab: Lab) -> None:
        alice = await lab.agent("1001")
        bob = await lab.agent("1002", auto_answer=True)
        call = await alice.call("1002", timeout=10)
        incoming = await bob.next_call(2)
        first = call.remote_sdp
        assert first is not None
        response = await call.reinvite(sdp=b"")
        assert response.status == 200
        assert response.body == first  # pycc's side, unchanged: the same description
        assert anchored(response.body) == anchored(first)
        await asyncio.sleep(0.2)
        assert incoming.requests_received["INVITE"] == 0  # nothing reached the callee
        assert (await call.update()).status == 200  # the dialog goes on
        await call.hangup()
        assert await incoming.wait_ended(3) == "remote"

    run(tmp_path, scenario)
