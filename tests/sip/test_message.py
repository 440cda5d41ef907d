"""The message parser's two ways of reading header lines, the header container's in-place
top-value change and the responses built from a request (RFC 3261 §7.3, §8.2.6)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pycc.sip.errors import SipParseError
from pycc.sip.headers import Headers, NameAddr, Via, header_key
from pycc.sip.message import (
    DEFAULT_LIMITS,
    Limits,
    Request,
    _header_lines,
    _plain_headers,
    make_response,
    parse_message,
)

REGISTER = (
    "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-1;rport\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n"
    "From: <sip:1001@127.0.0.1>;tag=abc\r\n"
    "To: <sip:1001@127.0.0.1>\r\n"
    "Call-ID: 1-77@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:1001@127.0.0.1:5070>;expires=3600\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


def read_both(head: str, limits: Limits = DEFAULT_LIMITS) -> tuple[object, object]:
    """What each reader makes of ``head``: its lines, or the error it raises."""
    lines = head.split("\r\n") if head.count("\n") == head.count("\r\n") else head.split("\n")
    first = lines[0].rstrip("\r")
    try:
        careful: object = [(header_key(name), value)
                           for name, value in _header_lines(lines, first, True, limits)]
    except SipParseError as exc:
        careful = exc.reason
    fast = _plain_headers(head, lines, limits)
    return (None if fast is None else [(header_key(name), value) for name, value in fast]), careful


NAME = st.sampled_from(["Via", "v", "To", "X-Custom", "a b", "", "Call-ID", "Max-Forwards"])
VALUE = st.text(st.sampled_from(list("ab,;<>\"= \t:\r\x0b")), max_size=12)
LINE_END = st.sampled_from(["\r\n", "\n", "\r\n ", "\r\n\t", "\r\n\r\n"])


@st.composite
def header_blocks(draw: st.DrawFn) -> str:
    head = "OPTIONS sip:a@b SIP/2.0"
    for _ in range(draw(st.integers(1, 6))):
        name = draw(NAME)
        spaces = draw(st.sampled_from(["", " ", "\t", "  "]))
        colon = draw(st.sampled_from([":", ": ", ":\t", ""]))
        head += draw(LINE_END) + name + spaces + colon + draw(VALUE)
    return head


@given(header_blocks())
@example("OPTIONS sip:a@b SIP/2.0\r\nTo: x \x0b")
@example("OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n folded")
@example("OPTIONS sip:a@b SIP/2.0\nTo: x\nFrom: y")
@example("OPTIONS sip:a@b SIP/2.0\r\nTo: x\ry")
def test_the_fast_reader_agrees_with_the_careful_one(head: str) -> None:
    fast, careful = read_both(head)
    if fast is not None:
        assert fast == careful


def test_plain_lines_take_the_fast_reader() -> None:
    head = REGISTER.split("\r\n\r\n")[0]
    fast, careful = read_both(head)
    assert fast is not None and fast == careful
    assert ("max-forwards", "70") in fast  # type: ignore[operator]


@pytest.mark.parametrize(
    ("head", "limits"),
    [
        ("OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n  folded", DEFAULT_LIMITS),
        ("OPTIONS sip:a@b SIP/2.0\r\nTo x", DEFAULT_LIMITS),
        ("OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\nFrom: y\r\nVia: z", Limits(max_headers=2)),
        ("OPTIONS sip:a@b SIP/2.0\r\nTo: " + "x" * 40, Limits(max_line=30)),
    ],
)
def test_what_the_fast_reader_leaves_to_the_careful_one(head: str, limits: Limits) -> None:
    fast, _careful = read_both(head, limits)
    assert fast is None


def test_limits_are_still_answered_513() -> None:
    many = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" + (
        "X: y\r\n" * 300) + "\r\n"
    with pytest.raises(SipParseError) as info:
        parse_message(many.encode())
    assert (info.value.status, info.value.reason) == (513, "Too Many Header Fields")
    long_line = REGISTER.replace("Max-Forwards: 70", "X-Long: " + "a" * 17_000)
    with pytest.raises(SipParseError) as info:
        parse_message(long_line.encode(), limits=Limits(max_message=40_000))
    assert (info.value.status, info.value.reason) == (513, "Header Line Too Long")


def test_replacing_the_top_via_keeps_the_other_parsed_values() -> None:
    message = parse_message(REGISTER.encode())
    assert isinstance(message, Request)
    from_before, cseq_before = message.from_, message.cseq
    stamped = Via("UDP", "127.0.0.1", 5070, {"branch": "z9hG4bK-1-1", "rport": "5070",
                                              "received": "192.0.2.9"})
    message.headers.replace_first("via", str(stamped))
    assert message.from_ is from_before and message.cseq is cseq_before
    assert [v.host for v in message.vias] == ["127.0.0.1", "10.0.0.1"]
    assert message.top_via.received == "192.0.2.9"
    assert message.headers.get("via") == str(stamped)
    with pytest.raises(KeyError):
        message.headers.replace_first("route", "<sip:x>")


def test_replacing_the_first_of_several_values_in_one_line() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2")])
    headers.replace_first("Via", "SIP/2.0/UDP c;branch=z9hG4bK3")
    assert headers.values("via") == ["SIP/2.0/UDP c;branch=z9hG4bK3",
                                     "SIP/2.0/UDP b;branch=z9hG4bK2"]


@pytest.mark.parametrize(
    "to",
    ['"Bob" <sip:1002@example.com>', "<sip:1002@example.com>;x=1", "sip:1002@example.com"],
)
def test_a_response_tags_the_to_as_received(to: str) -> None:
    message = parse_message(REGISTER.replace("To: <sip:1001@127.0.0.1>", f"To: {to}").encode())
    assert isinstance(message, Request)
    response = make_response(message, 200, to_tag="t1")
    line = response.headers.get("to")
    assert line == f"{to};tag=t1"
    assert NameAddr.parse(line or "", "To").tag == "t1"
    assert NameAddr.parse(line or "", "To").uri == message.to.uri
    # 100 Trying gets no tag; a To that has one keeps it.
    assert make_response(message, 100, to_tag="t1").headers.get("to") == to
    tagged = parse_message(REGISTER.replace("To: <sip:1001@127.0.0.1>",
                                            "To: <sip:1001@127.0.0.1>;tag=old").encode())
    assert isinstance(tagged, Request)
    assert make_response(tagged, 200, to_tag="t1").to.tag == "old"


def test_a_response_copies_vias_in_order_and_serializes_one_length() -> None:
    message = parse_message(REGISTER.encode())
    assert isinstance(message, Request)
    response = make_response(message, 401, extra=[("WWW-Authenticate", 'Digest realm="r"')])
    wire = response.to_bytes().decode()
    assert wire.startswith("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5070")
    assert wire.count("Content-Length:") == 1 and wire.endswith("Content-Length: 0\r\n\r\n")
    assert [v.host for v in response.vias] == ["127.0.0.1", "10.0.0.1"]
