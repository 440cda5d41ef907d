"""pycc.ua against a scripted peer on a raw UDP socket, for what a real switch never does on
purpose: retransmitted 2xx (each must be ACKed again), a missing ACK (the 2xx is resent, then
the call ends with BYE), and requests the agent must answer itself (OPTIONS, BYE, re-INVITE,
CANCEL). Also two agents calling each other with no switch between them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import cast

import pytest

from pycc.sip.address import Address
from pycc.sip.headers import Headers
from pycc.sip.message import Request, Response, make_response, parse_message
from pycc.sip.transaction import TimerConfig
from pycc.sip.uri import parse_uri
from pycc.ua import CallFailed, CallState, UserAgent, minimal_sdp

PEER_SDP = minimal_sdp("127.0.0.1", 30000, username="peer")
FAST = TimerConfig(t1=0.02, t2=0.16)


class Peer(asyncio.DatagramProtocol):
    """A hand-driven SIP element on one UDP socket."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[Request | Response, tuple[str, int]]] = (
            asyncio.Queue()
        )
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((parse_message(data), addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    @property
    def address(self) -> Address:
        return Address("udp", "127.0.0.1", self.port)

    def send(self, message: Request | Response, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(message.to_bytes(), to)

    async def next(self, timeout: float = 2.0) -> tuple[Request | Response, tuple[str, int]]:
        async with asyncio.timeout(timeout):
            return await self.received.get()

    async def request(self, method: str, timeout: float = 2.0) -> tuple[Request, tuple[str, int]]:
        message, source = await self.next(timeout)
        assert isinstance(message, Request), message
        assert message.method == method, message
        return message, source

    async def response(self, status: int, timeout: float = 2.0) -> Response:
        message, _source = await self.next(timeout)
        assert isinstance(message, Response), message
        assert message.status == status, message
        return message

    async def quiet(self, seconds: float) -> list[Request | Response]:
        """Everything that arrives within ``seconds``."""
        got = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                message, _ = await self.next(left)
            except TimeoutError:
                break
            got.append(message)
        return got

    def build(self, method: str, ua: UserAgent, *, call_id: str, cseq: int, to_tag: str = "",
              from_tag: str = "peer", body: bytes = b"") -> Request:
        assert ua.local_address is not None
        target = ua.local_address
        headers = Headers()
        branch = f"z9hG4bK{secrets.token_hex(6)}"
        headers.add("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}")
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:peer@127.0.0.1>;tag={from_tag}")
        headers.add("To", f"<sip:{ua.username}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""))
        headers.add("Call-ID", call_id)
        headers.add("CSeq", f"{cseq} {method}")
        headers.add("Contact", f"<sip:peer@127.0.0.1:{self.port}>")
        if body:
            headers.add("Content-Type", "application/sdp")
        uri = parse_uri(f"sip:{ua.username}@{target.host_port}")
        return Request(headers, body, method, uri)


def run(scenario: Callable[[Peer], Awaitable[None]]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(
            Peer, local_addr=("127.0.0.1", 0)
        )
        try:
            async with asyncio.timeout(20):
                await scenario(peer)
        finally:
            transport.close()

    asyncio.run(main())


def ua_address(ua: UserAgent) -> tuple[str, int]:
    assert ua.local_address is not None
    return (ua.local_address.host, ua.local_address.port)


# -- the agent as caller ---------------------------------------------------------------------


def test_every_2xx_retransmission_is_acked_again() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1001", "pw", server=peer.address) as ua:
            call = await ua.dial("2000")
            invite, source = await peer.request("INVITE")
            assert invite.body == call.local_sdp
            peer.send(make_response(invite, 180, to_tag="callee"), source)
            ok = make_response(invite, 200, to_tag="callee", body=PEER_SDP,
                               content_type="application/sdp",
                               extra=[("Contact", f"<sip:peer@127.0.0.1:{peer.port}>")])
            peer.send(ok, source)
            first_ack, _ = await peer.request("ACK")
            await call.wait_answered(1)
            assert call.ringing.is_set() and call.remote_sdp == PEER_SDP
            assert first_ack.cseq.seq == invite.cseq.seq
            assert first_ack.to.tag == "callee"
            # §13.2.2.4: each retransmission of the 2xx gets the same ACK again.
            for _ in range(2):
                peer.send(ok, source)
                again, _ = await peer.request("ACK")
                assert again.to_bytes() == first_ack.to_bytes()
            await ua.close()
            bye, _ = await peer.request("BYE")
            assert bye.to.tag == "callee"

    run(scenario)


def test_challenge_on_invite_is_answered_with_proxy_authorization() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1001", "pw", server=peer.address) as ua:
            call = await ua.dial("2000")
            invite, source = await peer.request("INVITE")
            challenge = 'Digest realm="pycc", nonce="abc123", algorithm=MD5, qop="auth"'
            peer.send(make_response(invite, 407, to_tag="x",
                                    extra=[("Proxy-Authenticate", challenge)]), source)
            await peer.request("ACK")  # the INVITE transaction ACKs the 407 itself
            retry, _ = await peer.request("INVITE")
            assert retry.call_id == invite.call_id
            assert retry.from_.tag == invite.from_.tag
            assert retry.cseq.seq == invite.cseq.seq + 1
            credentials = retry.headers.get("proxy-authorization") or ""
            assert 'username="1001"' in credentials and 'nonce="abc123"' in credentials
            assert ua.challenges[407] == 1
            peer.send(make_response(retry, 486, to_tag="y"), source)
            await peer.request("ACK")
            await call.wait_ended(1)
            assert call.status == 486 and call.ended_by == "remote"

    run(scenario)


def test_2xx_after_cancel_is_acked_and_ended_with_bye() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1001", "pw", server=peer.address) as ua:
            call = await ua.dial("2000")
            invite, source = await peer.request("INVITE")
            peer.send(make_response(invite, 180, to_tag="callee"), source)
            await call.ringing.wait()
            hanging_up = asyncio.create_task(call.hangup(timeout=2))
            cancel, _ = await peer.request("CANCEL")
            peer.send(make_response(cancel, 200, to_tag="callee"), source)
            # The callee answered before it saw the CANCEL (§9.1's race).
            peer.send(make_response(invite, 200, to_tag="callee", body=PEER_SDP,
                                    content_type="application/sdp"), source)
            await peer.request("ACK")
            bye, _ = await peer.request("BYE")
            peer.send(make_response(bye, 200), source)
            await hanging_up
            assert call.state is CallState.ENDED and call.ended_by == "local"

    run(scenario)


def test_local_timeout_cancels_and_raises_408() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1001", "pw", server=peer.address) as ua:
            calling = asyncio.create_task(ua.call("2000", timeout=0.3))
            invite, source = await peer.request("INVITE")
            peer.send(make_response(invite, 180, to_tag="callee"), source)
            cancel, _ = await peer.request("CANCEL", timeout=2)
            assert cancel.cseq.seq == invite.cseq.seq and cancel.call_id == invite.call_id
            peer.send(make_response(cancel, 200, to_tag="callee"), source)
            peer.send(make_response(invite, 487, to_tag="callee"), source)
            with pytest.raises(CallFailed) as failure:
                await calling
            assert failure.value.status == 408
            await peer.request("ACK")  # for the 487
            (call,) = ua.calls.values()
            assert call.state is CallState.ENDED and call.status == 487

    run(scenario)


# -- the agent as callee ---------------------------------------------------------------------


def test_2xx_is_resent_until_the_ack_comes() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1002", "pw", server=peer.address, auto_answer=True,
                             timers=FAST) as ua:
            invite = peer.build("INVITE", ua, call_id="c1", cseq=1, body=PEER_SDP)
            peer.send(invite, ua_address(ua))
            ringing = await peer.response(180)
            ok = await peer.response(200)
            assert ok.to.tag == ringing.to.tag and ok.body
            early = await peer.quiet(0.1)
            assert len(early) >= 2 and all(isinstance(m, Response) for m in early)
            assert all(m.to_bytes() == ok.to_bytes() for m in early)
            ack = peer.build("ACK", ua, call_id="c1", cseq=1, to_tag=ok.to.tag or "")
            peer.send(ack, ua_address(ua))
            await peer.quiet(0.05)  # retransmissions already on their way
            assert await peer.quiet(0.4) == []
            call = await ua.next_call(0)
            assert call.state is CallState.ANSWERED and call.remote_sdp == PEER_SDP

    run(scenario)


def test_missing_ack_ends_the_call_with_bye() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1002", "pw", server=peer.address, auto_answer=True,
                             timers=FAST) as ua:
            peer.send(peer.build("INVITE", ua, call_id="c2", cseq=1, body=PEER_SDP),
                      ua_address(ua))
            await peer.response(180)
            ok = await peer.response(200)
            # 64*T1 = 1.28 s of 2xx retransmissions, then the UAS gives up with BYE.
            loop = asyncio.get_running_loop()
            end = loop.time() + 3
            while True:
                message, _ = await peer.next(end - loop.time())
                if isinstance(message, Request):
                    break
            assert message.method == "BYE" and message.from_.tag == ok.to.tag
            call = await ua.next_call(0)
            assert call.state is CallState.ENDED and call.ended_by == "local"

    run(scenario)


def test_options_bye_and_reinvite_are_answered() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1002", "pw", server=peer.address, auto_answer=True) as ua:
            target = ua_address(ua)
            peer.send(peer.build("OPTIONS", ua, call_id="o1", cseq=1), target)
            options = await peer.response(200)
            assert "INVITE" in (options.headers.get("allow") or "")
            peer.send(peer.build("INVITE", ua, call_id="c3", cseq=1, body=PEER_SDP), target)
            await peer.response(180)
            ok = await peer.response(200)
            tag = ok.to.tag or ""
            peer.send(peer.build("ACK", ua, call_id="c3", cseq=1, to_tag=tag), target)
            call = await ua.next_call(1)
            await call.answered.wait()
            # A re-INVITE with a new offer: answered 200 with a new version of our SDP.
            offer = minimal_sdp("127.0.0.1", 30002, username="peer", version=2)
            peer.send(peer.build("INVITE", ua, call_id="c3", cseq=2, to_tag=tag, body=offer),
                      target)
            reinvite_ok = await peer.response(200)
            assert reinvite_ok.body == call.local_sdp == ok.body  # our side did not change
            assert call.remote_sdp == offer
            peer.send(peer.build("ACK", ua, call_id="c3", cseq=2, to_tag=tag), target)
            # In-dialog OPTIONS, then BYE.
            peer.send(peer.build("OPTIONS", ua, call_id="c3", cseq=3, to_tag=tag), target)
            await peer.response(200)
            peer.send(peer.build("BYE", ua, call_id="c3", cseq=4, to_tag=tag), target)
            await peer.response(200)
            assert await call.wait_ended(1) == "remote"
            assert call.requests_received == {"INVITE": 1, "OPTIONS": 1, "BYE": 1}
            # A request in a dialog the agent does not know: 481.
            peer.send(peer.build("BYE", ua, call_id="nope", cseq=1, to_tag="zz"), target)
            await peer.response(481)

    run(scenario)


def test_cancel_from_peer_gets_200_and_487() -> None:
    async def scenario(peer: Peer) -> None:
        async with UserAgent("1002", "pw", server=peer.address) as ua:
            invite = peer.build("INVITE", ua, call_id="c4", cseq=1, body=PEER_SDP)
            peer.send(invite, ua_address(ua))
            await peer.response(180)
            call = await ua.next_call(1)
            assert call.state is CallState.RINGING
            cancel = Request(invite.headers.copy(), b"", "CANCEL", invite.uri)
            cancel.headers.set("CSeq", "1 CANCEL")
            cancel.headers.remove("content-type")
            peer.send(cancel, ua_address(ua))
            statuses = set()
            for _ in range(2):
                answer, _ = await peer.next()
                assert isinstance(answer, Response)
                statuses.add(answer.status)
            assert statuses == {200, 487}
            assert await call.wait_ended(1) == "remote" and call.status == 487
            with pytest.raises(Exception, match="cannot answer"):
                await call.answer()

    run(scenario)


# -- two agents, no switch -------------------------------------------------------------------


def test_two_agents_call_each_other_directly() -> None:
    async def main() -> None:
        async with UserAgent("2000", "pw", server=Address("udp", "127.0.0.1", 9),
                             auto_answer=True) as callee:
            assert callee.local_address is not None
            async with UserAgent("1000", "pw", server=callee.local_address) as caller:
                call = await caller.call(f"sip:2000@{callee.local_address.host_port}",
                                         timeout=5)
                incoming = await callee.next_call(1)
                assert call.remote_sdp == incoming.local_sdp
                assert (await call.send_info_dtmf("9")).status == 200
                assert await incoming.next_dtmf(1) == "9"
                await call.hangup()
                assert await incoming.wait_ended(1) == "remote"

    asyncio.run(asyncio.wait_for(main(), 20))
