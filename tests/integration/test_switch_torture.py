"""RFC 4475 and RFC 5118 torture messages sent to a running ``pycc serve``.

tests/sip/test_torture.py checks the parser alone; this module checks what the running switch
puts on the wire for every vector of tests/vectors/sip-torture (see INDEX.md there): the status
and reason of each answer, the headers the RFCs ask for, silence where a message must be dropped,
and that the switch keeps working (OPTIONS answered, ``pycc report cdr`` works, no traceback in
its log) after all of them.

Each vector goes out as one UDP datagram from a socket bound on 127.0.0.1. Malformed requests
are sent bit-exact: pycc answers them statelessly to the source address. For the messages that
parse and reach the application, pycc answers as RFC 3261 §18.2.2 says: over UDP without
``rport`` to the source IP at the *Via's* port. The vectors' Via ports belong to hosts such as
192.0.2.15, so for those tests the sent-by of the top Via (and nothing else) is rewritten to
the test socket's 127.0.0.1:port (:func:`peers.rawsip.rewrite_top_via`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from peers.pycc_server import PyccServer, start_pycc
from peers.rawsip import (
    SipAgent,
    SipMessage,
    TcpPeer,
    ThreadedSwitch,
    UdpPeer,
    ack_for_failure,
    call_id_of,
    iter_vectors,
    load_vector,
    prepare_data_dir,
    rewrite_top_via,
    split_commas,
    switch_config,
)
from pycc.sip.address import Address
from pycc.sip.auth import parse_challenge

pytestmark = pytest.mark.peer

LOOPBACK = "127.0.0.1"

#: Malformed requests (RFC 4475 §3.1.2, §3.2, §3.3, RFC 5118 §4.2) and the status pycc answers.
REJECTED = {
    "badinv01.dat": 400, "clerr.dat": 400, "ncl.dat": 400, "scalar02.dat": 400,
    "quotbal.dat": 400, "ltgtruri.dat": 400, "lwsruri.dat": 400, "lwsstart.dat": 400,
    "trws.dat": 400, "escruri.dat": 400, "regbadct.dat": 400, "badaspec.dat": 400,
    "baddn.dat": 400, "badvers.dat": 505, "mismatch01.dat": 400, "mismatch02.dat": 501,
    "badbranch.dat": 400, "insuf.dat": 400, "multi01.dat": 400, "mcl01.dat": 400,
    "rfc5118/wire/ipv6-bad.dat": 400,
}

#: Malformed responses: dropped without an answer (RFC 4475 §3.1.2.5, §3.1.2.19).
MALFORMED_RESPONSES = ["scalarlg.dat", "bigcode.dat"]

#: Well-formed responses that match no transaction of pycc's: absorbed, nothing sent. bcast
#: (§3.3.10) names 255.255.255.255 in its second Via: forwarding it would be an amplifier.
STRAY_RESPONSES = ["bcast.dat", "unreason.dat", "noreason.dat"]

Check = Callable[[SipMessage, bytes], None]


def _no_check(answer: SipMessage, sent: bytes) -> None:
    return None


def _option_tags(raw: bytes, header: str) -> set[str]:
    message = SipMessage.parse(raw)
    return {tag.lower() for value in message.lines(header) for tag in split_commas(value)}


def _check_unsupported(answer: SipMessage, sent: bytes) -> None:
    # RFC 3261 §8.2.2.3: Unsupported lists the option tags the UAS did not understand.
    wanted = _option_tags(sent, "require") | _option_tags(sent, "proxy-require")
    assert len(wanted) == 4, wanted
    listed = {tag.lower() for tag in answer.all("unsupported")}
    assert listed == wanted


def _check_accept(answer: SipMessage, sent: bytes) -> None:
    assert "application/sdp" in [a.lower() for a in answer.all("accept")]


def _check_not_acceptable(answer: SipMessage, sent: bytes) -> None:
    if answer.status == 406:
        # RFC 4475 §3.3.15: a 406 carries a 399 Warning saying what is acceptable.
        assert (answer.get("warning") or "").startswith("399 ")


def _check_allow(answer: SipMessage, sent: bytes) -> None:
    allowed = {m.upper() for m in answer.all("allow")}
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"} <= allowed
    method = SipMessage.parse(sent).method
    assert method not in allowed
    if method == "RE%47IST%45R":
        # §3.1.1.5: % is no escape in a method; this is not REGISTER, so no challenge either.
        assert "www-authenticate" not in answer.header_names()


def _check_options_ok(answer: SipMessage, sent: bytes) -> None:
    assert "INVITE" in {m.upper() for m in answer.all("allow")}


def _check_www_challenge(answer: SipMessage, sent: bytes) -> None:
    challenges = [parse_challenge(v) for v in answer.lines("www-authenticate")]
    assert challenges and all(c.is_digest and c.realm == "pycc" and c.nonce for c in challenges)
    # RFC 4475 §3.3.7: the unknown scheme is ignored, not echoed, and a fresh Digest offered.
    assert "NoOneKnowsThisScheme" not in answer.raw.decode("utf-8", "replace")


def _check_proxy_challenge(answer: SipMessage, sent: bytes) -> None:
    challenges = [parse_challenge(v) for v in answer.lines("proxy-authenticate")]
    assert challenges and all(c.is_digest and c.realm == "pycc" and c.nonce for c in challenges)


def _check_names_problem(answer: SipMessage, sent: bytes) -> None:
    assert answer.reason not in ("", "Bad Request")


#: Vectors that parse and reach pycc's application, with the status and headers it answers.
APP_ANSWERS: dict[str, tuple[int, Check]] = {
    # RFC 4475 §3.1.1: valid messages, processed normally (an unauthenticated INVITE gets
    # 407, an unauthenticated REGISTER 401, an OPTIONS 200).
    "esc01.dat": (407, _check_proxy_challenge),
    "escnull.dat": (401, _no_check),
    "lwsdisp.dat": (200, _check_options_ok),
    "longreq.dat": (407, _check_proxy_challenge),
    "semiuri.dat": (200, _check_options_ok),
    "transports.dat": (200, _check_options_ok),
    # MESSAGE is a known method pycc does not serve outside a dialog.
    "mpart01.dat": (405, _check_allow),
    # §3.1.1.1: its To carries a tag, so this is a re-INVITE of a dialog pycc never had:
    # 481 (RFC 3261 §12.2.2), not a challenge for a new call.
    "wsinv.dat": (481, _no_check),
    # §3.1.1.2, §3.1.1.5: unknown methods.
    "intmeth.dat": (501, _check_allow),
    "esc02.dat": (501, _check_allow),
    # §3.1.2.12: the Date is of no use to pycc and is ignored.
    "baddate.dat": (407, _check_proxy_challenge),
    # §3.3: valid messages the application rejects.
    "unkscm.dat": (416, _no_check),
    "novelsc.dat": (416, _no_check),
    "unksm2.dat": (400, _check_names_problem),
    "bext01.dat": (420, _check_unsupported),
    "invut.dat": (415, _check_accept),
    "regaut01.dat": (401, _check_www_challenge),
    "zeromf.dat": (200, _check_options_ok),
    "cparam01.dat": (401, _check_www_challenge),
    "cparam02.dat": (401, _check_www_challenge),
    "regescrt.dat": (401, _check_www_challenge),
    "sdp01.dat": (406, _check_not_acceptable),
    # §3.4.1: RFC 2543 syntax (no branch, no From tag, no Max-Forwards) is still served.
    "inv2543.dat": (407, _check_proxy_challenge),
    # RFC 5118 §4: IPv6 references in the R-URI, Via, Contact and SDP.
    "rfc5118/wire/ipv6-good.dat": (401, _no_check),
    "rfc5118/wire/port-ambiguous.dat": (401, _no_check),
    "rfc5118/wire/port-unambiguous.dat": (401, _no_check),
    "rfc5118/wire/via-received-param-with-delim.dat": (481, _no_check),
    "rfc5118/wire/via-received-param-no-delim.dat": (200, _check_options_ok),
    "rfc5118/wire/ipv6-in-sdp.dat": (407, _check_proxy_challenge),
    "rfc5118/wire/mult-ip-in-header.dat": (481, _no_check),
    "rfc5118/wire/mult-ip-in-sdp.dat": (407, _check_proxy_challenge),
    "rfc5118/wire/ipv4-mapped-ipv6.dat": (407, _check_proxy_challenge),
    "rfc5118/wire/ipv6-bug-abnf-3-colons.dat": (200, _check_options_ok),
    "rfc5118/wire/ipv6-correct-abnf-2-colons.dat": (200, _check_options_ok),
}

#: In the archive but referenced by no section: a 400 or silence, never a crash.
UNREFERENCED = ["test.dat"]


def test_every_vector_has_an_expectation() -> None:
    covered = (set(REJECTED) | set(MALFORMED_RESPONSES) | set(STRAY_RESPONSES)
               | set(APP_ANSWERS) | set(UNREFERENCED) | {"dblreq.dat"})
    assert covered == set(iter_vectors())


@pytest.fixture(scope="module")
def pycc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyccServer]:
    server = start_pycc(tmp_path_factory.mktemp("torture"), [("1001", "secret1001")])
    yield server
    server.stop()


def _server(pycc: PyccServer) -> tuple[str, int]:
    status = pycc.proc.poll()
    assert status is None, f"pycc serve is gone (exit status {status}):\n{pycc.log()}"
    return (LOOPBACK, pycc.sip_port)


def _answers(peer: UdpPeer, call_id: str | None, duration: float) -> list[SipMessage]:
    return [m for m in peer.collect(duration) if m.is_response and m.call_id == call_id]


def _assert_options_answered(pycc: PyccServer) -> None:
    agent = SipAgent("1001", "secret1001", _server(pycc))
    try:
        request = agent.new_request("OPTIONS", f"sip:{pycc.address}")
        answer = agent.transact(request)
        assert answer.status == 200, answer.start_line
    finally:
        agent.peer.close()


# -- malformed requests: stateless answers to the source -----------------------------------------


@pytest.mark.parametrize(("name", "status"), sorted(REJECTED.items()))
def test_malformed_request_is_answered(pycc: PyccServer, name: str, status: int) -> None:
    raw = load_vector(name)
    with UdpPeer() as peer:
        peer.send(raw, _server(pycc))  # bit-exact: the answer goes to the source address
        answer = peer.wait_for(lambda m: m.is_response, timeout=3.0)
        assert answer.status == status, answer.start_line
        if status == 400:
            # The reason phrase names the problem, not just "Bad Request".
            assert answer.reason not in ("", "Bad Request"), answer.start_line
        assert answer.call_id == call_id_of(raw)
        # The answer echoes the request's Via lines (RFC 3261 §8.2.6.2).
        sent_vias = SipMessage.parse(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n").lines("via")
        assert answer.lines("via")[:1] == sent_vias[:1]
        # One answer, no retransmissions: stateless, no transaction left behind.
        assert _answers(peer, answer.call_id, 1.2) == []


@pytest.mark.parametrize("name", MALFORMED_RESPONSES)
def test_malformed_response_is_dropped(pycc: PyccServer, name: str) -> None:
    with UdpPeer() as peer:
        peer.send(load_vector(name), _server(pycc))
        assert peer.collect(1.0) == []
    _assert_options_answered(pycc)


@pytest.mark.parametrize("name", STRAY_RESPONSES)
def test_stray_response_gets_no_answer(pycc: PyccServer, name: str) -> None:
    with UdpPeer() as peer:
        peer.send(load_vector(name), _server(pycc))
        assert peer.collect(1.0) == []
    _assert_options_answered(pycc)


def test_unreferenced_vector(pycc: PyccServer) -> None:
    with UdpPeer() as peer:
        peer.send(load_vector("test.dat"), _server(pycc))
        answers = peer.collect(1.0)
        assert all(a.is_response and a.status == 400 for a in answers), answers
    _assert_options_answered(pycc)


# -- messages that reach the application -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(APP_ANSWERS))
def test_application_answer(pycc: PyccServer, name: str) -> None:
    status, check = APP_ANSWERS[name]
    with UdpPeer() as peer:
        sent = rewrite_top_via(load_vector(name), LOOPBACK, peer.port)
        call_id = call_id_of(sent)
        assert call_id is not None
        peer.send(sent, _server(pycc))
        answer = peer.response_to(call_id, timeout=3.0)
        assert answer.status == status, answer.start_line
        assert answer.reason, "every answer has a reason phrase"
        # RFC 3261 §8.2.6.2: the UAS tags the To of a request that had no tag.
        assert answer.to_tag is not None, answer.get("to")
        check(answer, sent)
        if SipMessage.parse(sent).cseq_method == "INVITE":
            peer.send(ack_for_failure(SipMessage.parse(sent).request_uri, answer), _server(pycc))


def test_rfc2543_invite_ack_ends_the_retransmissions(pycc: PyccServer) -> None:
    """RFC 4475 §3.4.1: no branch, so the ACK is matched by the RFC 2543 rules (§17.2.3)."""
    with UdpPeer() as peer:
        sent = rewrite_top_via(load_vector("inv2543.dat"), LOOPBACK, peer.port)
        peer.send(sent, _server(pycc))
        first = peer.response_to("inv2543.1717@ift.client.example.com", timeout=3.0)
        assert first.status == 407
        assert first.to_tag, "a final answer to an INVITE carries a To tag"
        # Without an ACK, Timer G resends the 407 after T1 (0.5 s).
        resent = _answers(peer, first.call_id, 0.9)
        assert [a.status for a in resent] == [407]
        assert resent[0].to_tag == first.to_tag
        peer.send(ack_for_failure("sip:UserB@example.com", first), _server(pycc))
        # Timer G would fire again 1 s after the last copy; the ACK silenced it.
        assert _answers(peer, first.call_id, 2.5) == []


def test_extra_octets_in_a_datagram_are_ignored(pycc: PyccServer) -> None:
    """RFC 4475 §3.1.1.8 dblreq: the REGISTER is handled, the INVITE after it is not."""
    with UdpPeer() as peer:
        sent = rewrite_top_via(load_vector("dblreq.dat"), LOOPBACK, peer.port)
        peer.send(sent, _server(pycc))
        answers = [m for m in peer.collect(1.5) if m.is_response]
        assert [(a.status, a.call_id, a.cseq_method) for a in answers] == [
            (401, "dblreq.0ha0isndaksdj99sdfafnl3lk233412", "REGISTER")
        ]


def test_stray_responses_send_nothing_anywhere(tmp_path: Path) -> None:
    """bcast and the other stray or malformed responses make pycc send nothing at all, to
    no address (not only not to us): every send of the switch's transports is recorded."""
    prepare_data_dir(tmp_path, [("1001", "secret1001")])
    with ThreadedSwitch(switch_config(tmp_path)) as running, UdpPeer() as peer:
        endpoint = running.switch.endpoint
        assert endpoint is not None
        manager = endpoint.transports
        sent: list[tuple[bytes, Address]] = []
        real_send = manager.send

        def record(data: bytes, destination: Address) -> None:
            sent.append((data, destination))
            real_send(data, destination)

        running.run(lambda: setattr(manager, "send", record))
        for name in STRAY_RESPONSES + MALFORMED_RESPONSES:
            peer.send(load_vector(name), running.udp)
        assert peer.collect(1.5) == []
        assert endpoint.stats.received == len(STRAY_RESPONSES + MALFORMED_RESPONSES)
        assert sent == []
        # The recorder does see what the switch does send.
        peer.send(rewrite_top_via(load_vector("zeromf.dat"), LOOPBACK, peer.port), running.udp)
        assert peer.response_to("zeromf.jfasdlfnm2o2l43r5u0asdfas").status == 200
        assert [d.port for _, d in sent] == [peer.port]


# -- streams -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mcl01.dat", "ncl.dat"])
def test_tcp_framing_error_answers_then_closes(pycc: PyccServer, name: str) -> None:
    """RFC 4475 §3.3.9, §3.1.2.3: the framing is lost, so 400 and the connection closes."""
    with TcpPeer(pycc.sip_port) as connection:
        connection.send(load_vector(name))
        answer = connection.read_message(3.0)
        assert answer is not None and answer.status == 400, answer
        assert answer.reason not in ("", "Bad Request")
        assert answer.call_id == call_id_of(load_vector(name))
        assert connection.wait_closed(3.0), "pycc kept a connection whose framing is lost"


def test_tcp_content_length_too_large_waits_and_does_not_block(pycc: PyccServer) -> None:
    """RFC 4475 §3.1.2.2 over TCP: pycc waits for the rest of the body (no answer, the
    connection stays open), and meanwhile serves everyone else."""
    with TcpPeer(pycc.sip_port) as waiting:
        waiting.send(load_vector("clerr.dat"))
        with pytest.raises(TimeoutError):
            waiting.read_message(1.0)
        with TcpPeer(pycc.sip_port) as other:
            options = (
                "OPTIONS sip:pycc@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP 127.0.0.1:{other.port};branch=z9hG4bK-clerr-follow-up\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:probe@pycc>;tag=1\r\nTo: <sip:pycc@pycc>\r\n"
                "Call-ID: clerr-follow-up\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            other.send(options.encode())
            answer = other.read_message(3.0)
            assert answer is not None and answer.status == 200
            assert answer.call_id == "clerr-follow-up"
        assert not waiting.wait_closed(0.2), "closed before the incomplete timeout"


def test_tcp_incomplete_message_is_closed_after_the_timeout(tmp_path: Path) -> None:
    """The connection holding clerr's incomplete message is closed by the transports' sweep
    once the incomplete timeout (32 s) has passed; the sweep is run with a clock moved past it
    rather than waiting."""
    prepare_data_dir(tmp_path, [("1001", "secret1001")])
    with ThreadedSwitch(switch_config(tmp_path)) as running:
        endpoint = running.switch.endpoint
        assert endpoint is not None
        manager = endpoint.transports
        with TcpPeer(running.tcp_port) as connection:
            connection.send(load_vector("clerr.dat"))
            with pytest.raises(TimeoutError):
                connection.read_message(0.5)
            # Not yet: the sweep at the present time leaves it open.
            assert running.run(lambda: manager.sweep(running.loop.time())) == 0
            closed = running.run(lambda: manager.sweep(running.loop.time() + 33.0))
            assert closed == 1
            assert connection.wait_closed(3.0)


# -- after all of it ---------------------------------------------------------------------------


def test_switch_survives_every_vector(pycc: PyccServer) -> None:
    """All vectors back to back, over UDP (bit-exact and with our Via) and TCP; then the
    switch still answers, its call records can be read, and its log has no traceback."""
    with UdpPeer() as peer:
        for name in iter_vectors():
            raw = load_vector(name)
            peer.send(raw, _server(pycc))
            with contextlib.suppress(ValueError):  # test.dat has no readable Via
                peer.send(rewrite_top_via(raw, LOOPBACK, peer.port), _server(pycc))
        for name in iter_vectors():
            with TcpPeer(pycc.sip_port) as connection:
                connection.send(load_vector(name))
        peer.collect(1.0)
    _assert_options_answered(pycc)
    done = pycc.cli("report", "cdr", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)
    assert pycc.proc.poll() is None, "pycc serve exited"
    log = pycc.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log
    assert not re.search(r"\b(ERROR|CRITICAL)\b", log), log

