"""RFC 4475 and RFC 5118 torture messages through the parser.

Each vector gets the behaviour its RFC names (see tests/vectors/sip-torture/INDEX.md): valid
and tolerated messages parse, malformed requests raise the status to answer, and malformed
responses are dropped. What an application does with a parsed message (416, 420, 415 ...) is
checked against the running switch in tests/integration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pycc.sip.errors import SipParseError
from pycc.sip.message import Request, Response, error_response_for, parse_message
from pycc.sip.uri import SipUri

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sip-torture"

PARSES = [
    "wsinv.dat", "intmeth.dat", "esc01.dat", "escnull.dat", "esc02.dat", "lwsdisp.dat",
    "longreq.dat", "dblreq.dat", "semiuri.dat", "transports.dat", "mpart01.dat",
    "unreason.dat", "noreason.dat", "unkscm.dat", "novelsc.dat", "unksm2.dat", "bext01.dat",
    "invut.dat", "regaut01.dat", "bcast.dat", "zeromf.dat", "cparam01.dat", "cparam02.dat",
    "regescrt.dat", "sdp01.dat", "inv2543.dat",
    # RFC 4475 §3.1.2.12 lets an element ignore a Date it does not use.
    "baddate.dat",
] + [f"rfc5118/wire/{name}" for name in (
    "ipv6-good.dat", "port-ambiguous.dat", "port-unambiguous.dat",
    "via-received-param-with-delim.dat", "via-received-param-no-delim.dat", "ipv6-in-sdp.dat",
    "mult-ip-in-header.dat", "mult-ip-in-sdp.dat", "ipv4-mapped-ipv6.dat",
    "ipv6-bug-abnf-3-colons.dat", "ipv6-correct-abnf-2-colons.dat",
)]

#: Malformed requests and the status pycc answers with.
REJECTED = {
    "badinv01.dat": 400, "clerr.dat": 400, "ncl.dat": 400, "scalar02.dat": 400,
    "quotbal.dat": 400, "ltgtruri.dat": 400, "lwsruri.dat": 400, "lwsstart.dat": 400,
    "trws.dat": 400, "escruri.dat": 400, "regbadct.dat": 400, "badaspec.dat": 400,
    "baddn.dat": 400, "badvers.dat": 505, "mismatch01.dat": 400, "mismatch02.dat": 501,
    "badbranch.dat": 400, "insuf.dat": 400, "multi01.dat": 400, "mcl01.dat": 400,
    "rfc5118/wire/ipv6-bad.dat": 400,
}

#: Malformed responses: dropped without an answer.
DROPPED = ["scalarlg.dat", "bigcode.dat"]


def load(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


@pytest.mark.parametrize("name", PARSES)
def test_valid_vectors_parse(name: str) -> None:
    msg = parse_message(load(name))
    assert isinstance(msg, Request | Response)
    # a parsed message serializes and parses again to the same start line and Call-ID
    again = parse_message(msg.to_bytes())
    assert again.start_line() == msg.start_line()
    assert again.call_id == msg.call_id
    assert again.body == msg.body


@pytest.mark.parametrize(("name", "status"), sorted(REJECTED.items()))
def test_invalid_requests_get_status(name: str, status: int) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    assert info.value.status == status, info.value.reason
    answer = error_response_for(info.value)
    if answer is not None:
        assert answer.status == status
        assert answer.reason == info.value.reason
        # the reason phrase names the problem, not just "Bad Request"
        assert answer.reason not in ("", "Bad Request")


@pytest.mark.parametrize("name", DROPPED)
def test_invalid_responses_are_dropped(name: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    assert info.value.status is None
    assert error_response_for(info.value) is None


def test_unreferenced_vector_does_not_crash() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("test.dat"))
    assert info.value.status in (400, None)


def test_short_tortuous_invite_details() -> None:
    msg = parse_message(load("wsinv.dat"))
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.max_forwards == 68
    assert msg.cseq.seq == 9
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.headers.get("Subject") == ""
    assert len(msg.vias) == 3
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8" and msg.to.tag == "1918181833n"
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"


def test_escaped_user_is_decoded() -> None:
    msg = parse_message(load("esc01.dat"))
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user == "sips:user@example.com"


def test_escaped_nulls_register_two_contacts() -> None:
    msg = parse_message(load("escnull.dat"))
    assert len(msg.contacts) == 2
    users = {c.sip_uri.user for c in msg.contacts}
    assert all(u is not None and "\x00" in u for u in users)


def test_percent_in_method_is_not_an_escape() -> None:
    msg = parse_message(load("esc02.dat"))
    assert isinstance(msg, Request)
    assert msg.method == "RE%47IST%45R"
    assert len(msg.contacts) == 2


def test_trailing_octets_in_datagram_ignored() -> None:
    msg = parse_message(load("dblreq.dat"))
    assert isinstance(msg, Request) and msg.method == "REGISTER"
    assert msg.body == b""


def test_semicolon_in_user_part() -> None:
    msg = parse_message(load("semiuri.dat"))
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.user == "user;par=u@example.net"


def test_multipart_body_kept_byte_exact() -> None:
    raw = load("mpart01.dat")
    msg = parse_message(raw)
    assert b"\x00" in msg.body
    assert raw.endswith(msg.body)
    assert len(msg.body) == int(msg.headers.get("Content-Length") or "0")


def test_empty_reason_phrase() -> None:
    msg = parse_message(load("noreason.dat"))
    assert isinstance(msg, Response)
    assert msg.status == 100 and msg.reason == ""


def test_contact_param_vs_uri_param() -> None:
    header_param = parse_message(load("cparam01.dat")).contacts[0]
    assert "unknownparam" in header_param.params
    assert "unknownparam" not in header_param.sip_uri.params
    uri_param = parse_message(load("cparam02.dat")).contacts[0]
    assert "unknownparam" in uri_param.sip_uri.params


def test_rfc2543_invite_without_content_length() -> None:
    msg = parse_message(load("inv2543.dat"))
    assert msg.body.startswith(b"v=0")
    assert msg.top_via.branch is None


def test_ipv6_references() -> None:
    msg = parse_message(load("rfc5118/wire/port-unambiguous.dat"))
    assert isinstance(msg, Request) and isinstance(msg.uri, SipUri)
    assert msg.uri.host == "2001:db8::10" and msg.uri.port == 5070
    amb = parse_message(load("rfc5118/wire/port-ambiguous.dat"))
    assert isinstance(amb, Request) and isinstance(amb.uri, SipUri)
    assert amb.uri.port is None
    rec = parse_message(load("rfc5118/wire/via-received-param-with-delim.dat"))
    assert rec.top_via.received is not None and "2001:db8::9:255" in rec.top_via.received
