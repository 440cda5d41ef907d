"""Tests for pycc.sip.uri: RFC 3261 §19.1, RFC 3966, RFC 4475 and RFC 5118 URI cases."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from pycc.sip import uri as uri_module
from pycc.sip.uri import (
    AbsoluteUri,
    SipUri,
    TelUri,
    UriError,
    escape_user,
    parse_sip_uri,
    parse_tel_uri,
    parse_uri,
    unescape,
)

Fields = tuple[
    str,
    str | None,
    str | None,
    str,
    int | None,
    list[tuple[str, str | None]],
    list[tuple[str, str]],
]


def fields(u: SipUri) -> Fields:
    """Every component, with dict order, so round trips are checked exactly."""
    return (
        u.scheme,
        u.user,
        u.password,
        u.host,
        u.port,
        list(u.params.items()),
        list(u.headers.items()),
    )


def sip(text: str) -> SipUri:
    return parse_sip_uri(text)


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@example.com", ("sip", "alice", None, "example.com", None, [], [])),
        (
            "sip:alice:pw@example.com:5060;transport=tcp;lr?subject=x&priority=urgent",
            (
                "sip",
                "alice",
                "pw",
                "example.com",
                5060,
                [("transport", "tcp"), ("lr", None)],
                [("subject", "x"), ("priority", "urgent")],
            ),
        ),
        ("sip:[2001:db8::10]:5070", ("sip", None, None, "2001:db8::10", 5070, [], [])),
        ("sips:1001@127.0.0.1", ("sips", "1001", None, "127.0.0.1", None, [], [])),
        ("sip:example.com", ("sip", None, None, "example.com", None, [], [])),
        ("SIP:Bob@BiLoXi.COM", ("sip", "Bob", None, "biloxi.com", None, [], [])),
        ("sip:bob@example.com.", ("sip", "bob", None, "example.com.", None, [], [])),
        ("sip:u:@h.example", ("sip", "u", "", "h.example", None, [], [])),
        ("sip:h.example:0", ("sip", None, None, "h.example", 0, [], [])),
        ("sip:h.example:65535", ("sip", None, None, "h.example", 65535, [], [])),
        ("sip:3com.example", ("sip", None, None, "3com.example", None, [], [])),
        (
            "sip:h;Transport=TCP;MADDR=239.255.255.1;ttl=15",
            (
                "sip",
                None,
                None,
                "h",
                None,
                [("transport", "TCP"), ("maddr", "239.255.255.1"), ("ttl", "15")],
                [],
            ),
        ),
        (
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
            ("sip", "+1-212-555-1212", "1234", "gateway.com", None, [("user", "phone")], []),
        ),
        # A '?' in the user (RFC 4475 §3.1.1.2 intmeth): no header reading parses.
        (
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:"
            "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
            (
                "sip",
                "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
                "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
                "example.com",
                None,
                [],
                [],
            ),
        ),
        # A user-less URI whose header value carries a plain '@' (Replaces in Refer-To).
        (
            "sip:pbx.example?Replaces=abc@pbx.example%3Bto-tag%3D1",
            (
                "sip",
                None,
                None,
                "pbx.example",
                None,
                [],
                [("Replaces", "abc@pbx.example;to-tag=1")],
            ),
        ),
        (
            "sip:pbx.example?Replaces=abc@pbx.example",
            ("sip", None, None, "pbx.example", None, [], [("Replaces", "abc@pbx.example")]),
        ),
        # A user part with a plain '@' in its headers after the real userinfo.
        (
            "sip:bob@pbx.example?Replaces=abc@pbx.example",
            ("sip", "bob", None, "pbx.example", None, [], [("Replaces", "abc@pbx.example")]),
        ),
        # A repeated header is one header with a list value.
        (
            "sip:h?Route=%3Csip:a%3E&route=x&Route=%3Csip:b%3E",
            ("sip", None, None, "h", None, [], [("Route", "<sip:a>,<sip:b>"), ("route", "x")]),
        ),
        ("sip:h;a=", ("sip", None, None, "h", None, [("a", "")], [])),
        ("sip:h?subject=", ("sip", None, None, "h", None, [], [("subject", "")])),
        (
            "sip:h;p=%41%62",
            ("sip", None, None, "h", None, [("p", "Ab")], []),
        ),
        ("sip:%C3%A9t%C3%A9@h", ("sip", "été", None, "h", None, [], [])),
        # Octets that are not UTF-8 survive as lone surrogates.
        ("sip:%FF@h", ("sip", "\udcff", None, "h", None, [], [])),
    ],
)
def test_parse_examples(text: str, expected: Fields) -> None:
    u = parse_uri(text)
    assert isinstance(u, SipUri)
    assert fields(u) == expected
    assert fields(parse_sip_uri(text)) == expected


@pytest.mark.parametrize(
    ("text", "user", "host"),
    [
        # RFC 4475 §3.1.1.3 esc01: an escaped user that looks like a whole URI.
        ("sip:sips%3Auser%40example.com@example.net", "sips:user@example.com", "example.net"),
        # RFC 4475 §3.1.1.9 semiuri: ';' belongs to the user, '@' only escaped.
        ("sip:user;par=u%40example.net@example.com", "user;par=u@example.net", "example.com"),
        # RFC 4475 §3.1.1.4 escnull: an escaped NUL is kept.
        ("sip:null-%00-null@example.com", "null-\x00-null", "example.com"),
        # RFC 4475 §3.1.1.3 esc01, To and From.
        ("sip:%75se%72@example.com", "user", "example.com"),
        ("sip:I%20have%20spaces@example.net", "I have spaces", "example.net"),
        # RFC 4475 §3.1.1.2 intmeth, To: a '?' in a user without password.
        (
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com",
            "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
            "example.com",
        ),
    ],
)
def test_rfc4475_escaped_users(text: str, user: str, host: str) -> None:
    u = sip(text)
    assert (u.user, u.host) == (user, host)
    # Serializing escapes again and parsing gives the same user.
    assert sip(str(u)).user == user


def test_rfc4475_esc01_serializes_escaped() -> None:
    assert str(sip("sip:sips%3Auser%40example.com@example.net")) == (
        "sip:sips%3Auser%40example.com@example.net"
    )
    assert str(sip("sip:null-%00-null@example.com")) == "sip:null-%00-null@example.com"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "2001:db8::10", None),  # RFC 5118 §4.1
        ("sip:[2001:db8::10:5070]", "2001:db8::10:5070", None),  # §4.3: 8 groups, no port
        ("sip:[2001:db8::10]:5070", "2001:db8::10", 5070),  # §4.4
        ("sip:[::ffff:192.0.2.10]", "::ffff:192.0.2.10", None),  # §4.9
        ("sip:[2001:db8::192.0.2.1]", "2001:db8::192.0.2.1", None),  # §4.10, two colons
        # §4.10: the three-colon spelling RFC 3261's ABNF allowed is tolerated and corrected.
        ("sip:user@[2001:db8:::192.0.2.1]", "2001:db8::192.0.2.1", None),
        ("sip:[:::192.0.2.1]:5060", "::192.0.2.1", 5060),
        ("sip:user@[2001:DB8::A]:5061;transport=tls", "2001:db8::a", 5061),
        ("sip:[::1]", "::1", None),
    ],
)
def test_rfc5118_ipv6(text: str, host: str, port: int | None) -> None:
    u = sip(text)
    assert (u.host, u.port, u.is_ipv6) == (host, port, True)
    assert sip(str(u)) == u


def test_ipv6_host_port_and_serialization() -> None:
    u = sip("sip:alice@[2001:db8::10]:5070;lr")
    assert u.host_port == "[2001:db8::10]:5070"
    assert str(u) == "sip:alice@[2001:db8::10]:5070;lr"
    assert sip("sip:[::1]").host_port == "[::1]"


@pytest.mark.parametrize(
    "text",
    [
        "sip:2001:db8::10",  # RFC 5118 §4.2: IPv6 without brackets
        "sip:alice@2001:db8::10",
        "sip:[2001:db8:::1]",  # three colons are tolerated only before an IPv4 address
        "sip:[2001:db8:::192.0.2.1:1]",
        "sip:[:::192.0.2.1.5]",
        "sip:[2001:db8::10",
        "sip:[2001:db8::10]5070",
        "sip:[fe80::1%25eth0]",
        "sip:[fe80::1%eth0]",
        "sip:[example.com]",
        "sip:[]",
        "sip:",
        "sips:",
        "sip:@example.com",
        "sip::pw@example.com",
        "sip:alice@",
        "sip:alice@:5060",
        "sip:alice@example.com:",
        "sip:alice@example.com:65536",
        "sip:alice@example.com:99999999999999999999",
        "sip:alice@example.com:50a",
        "sip:alice@example.com:-1",
        "sip:alice@exa mple.com",
        "sip:al ice@example.com",
        " sip:alice@example.com",
        "sip:alice@example.com ",
        "sip:alice@example.com;transport=tcp ",
        "sip:alice@example.com\r\n",
        "sip:alice@ex_ample.com",
        "sip:alice@-example.com",
        "sip:alice@example-.com",
        "sip:alice@example..com",
        "sip:alice@.example.com",
        "sip:alice@1.2.3",
        "sip:alice@1.2.3.256",
        "sip:alice@1.2.3.4.5",
        "sip:alice@example.123",
        "sip:al%xe@example.com",
        "sip:alice%4@example.com",
        "sip:alice%@example.com",
        "sip:alice@example.com;%zz",
        "sip:alice@example.com;a=%g0",
        "sip:alice@example.com?a=%2",
        "sip:alice@example.com;",
        "sip:alice@example.com;;lr",
        "sip:alice@example.com;=x",
        "sip:alice@example.com;transport=udp;transport=tcp",
        "sip:alice@example.com;transport=tcp;TRANSPORT=udp",
        "sip:alice@example.com;a=b=c",
        "sip:alice@example.com?",
        "sip:alice@example.com?subject",
        "sip:alice@example.com?=x",
        "sip:alice@example.com?a=b&",
        "sip:alice@example.com?a=b;c",
        "sip:al<ice@example.com",
        "sip:alice@b@example.com",
        "sip:alice@example.com;p=a@b",
        "sip:ali:ce:pw@example.com",
        "sip:alicé@example.com",
        "sip:alice@exämple.com",
        "sip:alice@example.com:５０６０",
        "sip:alice@１.2.3.4",
    ],
)
def test_malformed_sip_uris(text: str) -> None:
    with pytest.raises(UriError):
        parse_uri(text)


@pytest.mark.parametrize(
    "text",
    ["", "sip", ":alice@example.com", "1sip:alice@example.com", "s p:x", "sip alice@example.com"],
)
def test_malformed_scheme(text: str) -> None:
    with pytest.raises(UriError):
        parse_uri(text)


def test_error_names_the_problem() -> None:
    with pytest.raises(UriError, match="brackets"):
        parse_uri("sip:2001:db8::10")
    with pytest.raises(UriError, match="port"):
        parse_uri("sip:h.example:70000")
    with pytest.raises(UriError, match="escape"):
        parse_uri("sip:a%zz@h.example")
    with pytest.raises(UriError, match="empty host"):
        parse_uri("sip:alice@;lr")
    with pytest.raises(UriError, match="conflicting"):
        parse_uri("sip:h;transport=udp;transport=tls")


def test_repeated_parameter_is_tolerated() -> None:
    uri = parse_uri("sip:1002@127.0.0.1:5060;transport=udp;transport=udp")
    assert isinstance(uri, SipUri) and uri.transport == "udp"


def test_uri_error_is_value_error() -> None:
    assert issubclass(UriError, ValueError)


def test_parse_sip_uri_rejects_other_schemes() -> None:
    with pytest.raises(UriError, match="sip"):
        parse_sip_uri("tel:+15551234")
    with pytest.raises(UriError):
        parse_sip_uri("mailto:alice@example.com")
    assert parse_sip_uri("SIPS:h.example").scheme == "sips"


_VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "sip-torture"
# Request-URIs of the RFC 4475 / RFC 5118 archives that must not parse as a URI on their own;
# every other request's Request-URI must.
_BAD_REQUEST_URIS = {
    "ltgtruri.dat": "<sip:user@example.com>",  # RFC 4475 §3.1.2.7
    "lwsruri.dat": "sip:user@example.com;",  # §3.1.2.8, "...com; lr" cut at the space
    "ipv6-bad.dat": "sip:2001:db8::10",  # RFC 5118 §4.2
}


def _request_uris() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in sorted([*_VECTORS.glob("*.dat"), *_VECTORS.glob("rfc5118/*.dat")]):
        start_line = path.read_bytes().split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
        parts = start_line.split()
        if len(parts) >= 2 and not start_line.startswith("SIP/"):
            found.append((path.name, parts[1]))
    return found


@pytest.mark.skipif(not _VECTORS.is_dir(), reason="torture vectors not present")
def test_torture_vector_request_uris() -> None:
    uris = dict(_request_uris())
    assert len(uris) > 40
    for name, text in uris.items():
        if name in _BAD_REQUEST_URIS:
            assert text == _BAD_REQUEST_URIS[name]
            with pytest.raises(UriError):
                parse_uri(text)
        else:
            u = parse_uri(text)
            assert parse_uri(str(u)) == u, name
    assert isinstance(parse_uri(uris["novelsc.dat"]), AbsoluteUri)
    assert isinstance(parse_uri(uris["unkscm.dat"]), AbsoluteUri)
    esc01 = parse_sip_uri(uris["esc01.dat"])
    assert esc01.user == "sips:user@example.com"


# --- serialization -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@example.com",
        "sips:1001@127.0.0.1:5061;transport=tls",
        "sip:alice:pw@example.com:5060;transport=tcp;lr?subject=x&priority=urgent",
        "sip:[2001:db8::10]:5070;maddr=[2001:db8::1]",
        "sip:user;par=u%40example.net@example.com",
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:h?Subject=next%20meeting",
    ],
)
def test_canonical_text_serializes_unchanged(text: str) -> None:
    assert str(sip(text)) == text


def test_serialization_escapes() -> None:
    u = SipUri(
        "sip",
        "a b@c:d?e;f=g",
        "p:w@d",
        "example.com",
        5060,
        {"x y": "v;w=z", "lr": None},
        {"h&1": "v=1&x y"},
    )
    text = str(u)
    assert text == (
        "sip:a%20b%40c%3Ad%3Fe;f=g:p%3Aw%40d@example.com:5060;x%20y=v%3Bw%3Dz;lr?h%261=v%3D1%26x%20y"
    )
    assert fields(sip(text)) == fields(u)


def test_escape_user_and_unescape() -> None:
    assert escape_user("alice") == "alice"
    assert escape_user("+1-212;ext=1&x=$,/") == "+1-212;ext=1&x=$,/"
    assert escape_user("a@b:c") == "a%40b%3Ac"
    assert escape_user("\x00") == "%00"
    assert escape_user("é") == "%C3%A9"
    assert unescape("%C3%A9") == "é"
    assert unescape("%41%6c%69ce") == "Alice"
    assert unescape("plain") == "plain"
    assert unescape("%25") == "%"
    for bad in ["%", "%1", "%g1", "%1g", "a%", "%+1", "% 1", "%-1"]:
        with pytest.raises(UriError):
            unescape(bad)


# --- accessors ---------------------------------------------------------------------------


def test_transport_property() -> None:
    assert sip("sip:h;transport=TCP").transport == "tcp"
    assert sip("sip:h").transport is None
    assert sip("sip:h;transport").transport is None


def test_host_port() -> None:
    assert sip("sip:alice@example.com").host_port == "example.com"
    assert sip("sip:alice@Example.COM:5080").host_port == "example.com:5080"
    assert sip("sip:alice@example.com").is_ipv6 is False


def test_with_copies_and_replaces() -> None:
    u = sip("sip:alice@example.com;lr?subject=x")
    v = u.with_(port=5070, user=None)
    assert (v.user, v.port, v.host) == (None, 5070, "example.com")
    assert (u.user, u.port) == ("alice", None)
    v.params["transport"] = "tcp"
    v.headers["priority"] = "urgent"
    assert u.params == {"lr": None}
    assert u.headers == {"subject": "x"}
    params = {"maddr": "239.255.255.1"}
    w = u.with_(params=dict(params))
    w.params["ttl"] = "1"
    assert params == {"maddr": "239.255.255.1"}
    assert u.with_() == u and u.with_() is not u


def test_aor() -> None:
    assert sip("sip:alice@Example.COM:5070;transport=tcp?x=y").aor() == "sip:alice@example.com"
    assert sip("sips:%61lice@example.com").aor() == "sips:alice@example.com"
    assert sip("sip:example.com").aor() == "sip:example.com"
    assert sip("sip:bob@[2001:DB8:0::10]:5070").aor() == "sip:bob@[2001:db8::10]"
    # The user stays case-sensitive: different users, different bindings.
    assert sip("sip:Alice@example.com").aor() != sip("sip:alice@example.com").aor()


# --- RFC 3261 §19.1.4 comparison ---------------------------------------------------------

EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;lr"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:alice@atlanta.com?Subject=x", "sip:alice@atlanta.com?subject=x"),
    ("sip:alice@atlanta.com;user=phone", "sip:alice@atlanta.com;user=PHONE"),
    ("sip:[2001:db8::10]", "sip:[2001:DB8:0:0::10]"),
    ("sip:a:p@h", "sip:a:%70@h"),
]

DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:alice@atlanta.com", "sip:ALICE@AtLanTa.CoM"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;user=phone"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;ttl=1"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;method=INVITE"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;maddr=239.255.255.1"),
    ("sip:bob@biloxi.com;transport=tcp", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com;lr", "sip:bob@biloxi.com;lr=on"),
    ("sip:bob:x@biloxi.com", "sip:bob@biloxi.com"),
    ("sip:bob:x@biloxi.com", "sip:bob:X@biloxi.com"),
    ("sip:biloxi.com", "sip:bob@biloxi.com"),
    ("sip:h?a=1", "sip:h?a=2"),
    ("sip:h?a=x", "sip:h?a=X"),
    ("sip:h?a=1", "sip:h?a=1&b=2"),
    ("sip:[2001:db8::10]", "sip:[2001:db8::11]"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_rfc3261_equivalent(a: str, b: str) -> None:
    ua, ub = sip(a), sip(b)
    assert ua == ub and ub == ua
    assert hash(ua) == hash(ub)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_rfc3261_different(a: str, b: str) -> None:
    ua, ub = sip(a), sip(b)
    assert ua != ub and ub != ua


def test_equality_is_not_transitive() -> None:
    plain = sip("sip:carol@chicago.com")
    on = sip("sip:carol@chicago.com;security=on")
    off = sip("sip:carol@chicago.com;security=off")
    assert plain == on and plain == off and on != off


def test_uri_kinds_never_equal() -> None:
    assert sip("sip:alice@example.com") != "sip:alice@example.com"
    assert parse_uri("tel:+15551234") != sip("sip:+15551234@example.com")
    assert AbsoluteUri("sip", "alice@example.com") != sip("sip:alice@example.com")


def test_usable_as_dict_key() -> None:
    bindings = {sip("sip:alice@Example.com"): 1}
    assert bindings[sip("sip:%61lice@example.COM")] == 1
    assert sip("sip:alice@example.com:5060") not in bindings


# --- tel URIs (RFC 3966) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "params"),
    [
        ("tel:+1-201-555-0123", "+1-201-555-0123", {}),
        ("tel:7042;phone-context=example.com", "7042", {"phone-context": "example.com"}),
        ("tel:863-1234;phone-context=+1-914-555", "863-1234", {"phone-context": "+1-914-555"}),
        ("tel:+1(201)555.0123;ext=22", "+1(201)555.0123", {"ext": "22"}),
        ("TEL:+44-20-7946-0000;isub=1234;Foo", "+44-20-7946-0000", {"isub": "1234", "foo": None}),
        ("tel:*21%23;phone-context=example.com", "*21#", {"phone-context": "example.com"}),
        ("tel:1234", "1234", {}),
        ("tel:+1;x=%41", "+1", {"x": "A"}),
    ],
)
def test_tel_parse(text: str, number: str, params: dict[str, str | None]) -> None:
    u = parse_uri(text)
    assert isinstance(u, TelUri)
    assert (u.number, u.params) == (number, params)
    assert parse_uri(str(u)) == u
    assert parse_tel_uri(text) == u


def test_tel_accessors_and_serialization() -> None:
    u = parse_tel_uri("tel:+1-201-555-0123;ext=7")
    assert u.global_number
    assert u.digits() == "+12015550123"
    assert str(u) == "tel:+1-201-555-0123;ext=7"
    local = parse_tel_uri("tel:(0)7042;phone-context=example.com")
    assert not local.global_number
    assert local.digits() == "07042"
    assert str(parse_tel_uri("tel:*21%23;phone-context=a.example")) == (
        "tel:*21%23;phone-context=a.example"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1-201-555-0123", "tel:+1(201)555.0123"),
        ("tel:+12015550123;ext=1;isub=2", "tel:+12015550123;isub=2;ext=1"),
        ("tel:+12015550123;Foo=Bar", "tel:+12015550123;foo=bar"),
        ("tel:7042;phone-context=EXAMPLE.com", "tel:7042;phone-context=example.com"),
        ("tel:863-1234;phone-context=+1-914-555", "tel:8631234;phone-context=+1914555"),
        ("tel:+1;ext=1-2", "tel:+1;ext=12"),
        ("tel:ab12;phone-context=x.example", "tel:AB12;phone-context=x.example"),
    ],
)
def test_tel_equal(a: str, b: str) -> None:
    ua, ub = parse_tel_uri(a), parse_tel_uri(b)
    assert ua == ub and hash(ua) == hash(ub)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+12015550123", "tel:+12015550124"),
        ("tel:+12015550123", "tel:12015550123"),
        ("tel:+12015550123", "tel:+12015550123;ext=1"),
        ("tel:+12015550123;ext=1", "tel:+12015550123;ext=2"),
        ("tel:7042;phone-context=a.example", "tel:7042;phone-context=b.example"),
        ("tel:+1;foo", "tel:+1;foo=1"),
    ],
)
def test_tel_different(a: str, b: str) -> None:
    assert parse_tel_uri(a) != parse_tel_uri(b)


@pytest.mark.parametrize(
    "text",
    [
        "tel:",
        "tel:+",
        "tel:+-",
        "tel:+1 201",
        "tel:+1-ab",
        "tel:1+2",
        "tel:--",
        "tel:12g4",
        "tel:+1;",
        "tel:+1;=x",
        "tel:+1;a_b=1",
        "tel:+1;ext=",
        "tel:+1;ext=1;EXT=2",
        "tel:+1;a=b c",
        "tel:+1;a=%zz",
        "tel:%zz",
    ],
)
def test_tel_malformed(text: str) -> None:
    with pytest.raises(UriError):
        parse_uri(text)


def test_parse_tel_uri_rejects_other_schemes() -> None:
    with pytest.raises(UriError):
        parse_tel_uri("sip:+1@h")


# --- other schemes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme", "opaque"),
    [
        ("http://www.example.com/alice/photo.jpg", "http", "//www.example.com/alice/photo.jpg"),
        ("mailto:alice@example.com", "mailto", "alice@example.com"),
        ("urn:service:sos", "urn", "service:sos"),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
        ("HTTP://h.example/x?y=1#frag", "http", "//h.example/x?y=1#frag"),
        ("http://[2001:db8::1]/a%20b", "http", "//[2001:db8::1]/a%20b"),
    ],
)
def test_absolute_uri(text: str, scheme: str, opaque: str) -> None:
    u = parse_uri(text)
    assert u == AbsoluteUri(scheme, opaque)
    assert str(u) == f"{scheme}:{opaque}"


@pytest.mark.parametrize(
    "text", ["http:", "http://a b", "mailto:a<b>", "http://h/%zz", "http://h/\x00", "x:é"]
)
def test_absolute_uri_malformed(text: str) -> None:
    with pytest.raises(UriError):
        parse_uri(text)


# --- property tests ----------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_toplabel = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
hostnames = st.builds(
    lambda labels, top, dot: ".".join([*labels, top]) + dot,
    st.lists(_label, max_size=4),
    _toplabel,
    st.sampled_from(["", "."]),
)
ipv4_hosts = st.ip_addresses(v=4).map(str)
ipv6_hosts = st.ip_addresses(v=6).flatmap(
    lambda a: st.sampled_from([a.compressed, a.exploded, str(a)])
)
hosts = st.one_of(hostnames, ipv4_hosts, ipv6_hosts)
param_names = st.text(min_size=1, max_size=12).filter(lambda s: s.lower() == s)
params = st.dictionaries(param_names, st.none() | st.text(max_size=12), max_size=4)
headers = st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=12), max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | st.text(min_size=1, max_size=20))
    password = None if user is None else draw(st.none() | st.text(max_size=12))
    return SipUri(
        draw(st.sampled_from(["sip", "sips"])),
        user,
        password,
        draw(hosts),
        draw(st.none() | st.integers(0, 65535)),
        draw(params),
        draw(headers),
    )


@given(sip_uris())
def test_property_serialization_round_trip(u: SipUri) -> None:
    text = str(u)
    parsed = parse_uri(text)
    assert isinstance(parsed, SipUri)
    assert fields(parsed) == fields(u)
    assert parsed == u and hash(parsed) == hash(u)
    assert str(parsed) == text


@given(sip_uris())
def test_property_parse_is_idempotent(u: SipUri) -> None:
    once = parse_uri(str(u))
    assert parse_uri(str(once)) == once


@given(sip_uris(), st.data())
def test_property_escaping_any_user_char_is_equivalent(u: SipUri, data: st.DataObject) -> None:
    assume(u.user is not None)
    assert u.user is not None
    # Any character may be written escaped (RFC 3261 §19.1.2); the URI stays the same.
    mask = data.draw(st.lists(st.booleans(), min_size=len(u.user), max_size=len(u.user)))
    escaped = "".join(
        "".join(f"%{b:02x}" for b in ch.encode()) if flag else escape_user(ch)
        for ch, flag in zip(u.user, mask, strict=True)
    )
    text = str(u)
    at = text.index("@") if u.password is None else text.index(":", len(u.scheme) + 1)
    rewritten = f"{u.scheme}:{escaped}{text[at:]}"
    assert parse_uri(rewritten) == u


@given(sip_uris())
def test_property_host_case_does_not_matter_user_case_does(u: SipUri) -> None:
    upper = parse_uri(str(u.with_(host=u.host.upper())))
    assert upper == u and hash(upper) == hash(u)
    if u.user is not None and u.user.swapcase() != u.user:
        assert parse_uri(str(u.with_(user=u.user.swapcase()))) != u


@given(sip_uris(), sip_uris())
def test_property_equality_is_symmetric_and_hash_consistent(a: SipUri, b: SipUri) -> None:
    assert (a == b) == (b == a)
    if a == b:
        assert hash(a) == hash(b)


@given(sip_uris(), st.sampled_from(["transport", "user", "ttl", "method", "maddr"]))
def test_property_significant_param_on_one_side_differs(u: SipUri, name: str) -> None:
    without = u.with_(params={k: v for k, v in u.params.items() if k != name})
    with_param = without.with_(params={**without.params, name: "x"})
    assert without != with_param


_URI_ALPHABET = "aAbz09.-_:;=@?&%[]/+$,!~*'() \x00éfF"
# Whole tokens reach the interesting shapes (userinfo, IPv6, params, headers) far more often
# than single characters do.
_URI_TOKENS = st.sampled_from(
    ["a", "Bob", "h.example", "1.2.3.4", "[::1]", "[2001:db8::1]", "@", "?", "=", ";", ":",
     "&", "5060", "%41", "%", "x=y", "lr", "transport=tcp", " ", "-", ".", "[", "]", "é", "?a=b"]
)  # fmt: skip
_uri_rests = st.one_of(
    st.text(alphabet=_URI_ALPHABET, max_size=40),
    st.lists(_URI_TOKENS, max_size=12).map("".join),
)


@given(_uri_rests)
@example("h.example?Replaces=a@b")  # '@' in a header, not after a user
@example("a?x=y@h.example")
@example("a?b@h.example")
@example("a@b@h.example")
@example("h;lr;lr")
@example("1.2.3?x=y@h.example")
@settings(max_examples=500)
def test_property_fast_path_agrees_with_general_parser(rest: str) -> None:
    fast = uri_module._parse_sip_fast("sip", rest)
    try:
        general: SipUri | None = uri_module._parse_sip_general("sip", rest)
    except UriError:
        general = None
    if fast is not None:
        assert general is not None
        assert fields(fast) == fields(general)


@given(sip_uris())
def test_property_fast_path_agrees_on_valid_uris(u: SipUri) -> None:
    rest = str(u).split(":", 1)[1]
    fast = uri_module._parse_sip_fast(u.scheme, rest)
    general = uri_module._parse_sip_general(u.scheme, rest)
    assert fields(general) == fields(u)
    if fast is not None:
        assert fields(fast) == fields(u)


@given(st.one_of(st.text(), _uri_rests.map(lambda s: "sip:" + s)))
def test_property_only_uri_error_escapes(text: str) -> None:
    # Like h11's fuzz test: any input either parses or raises UriError, nothing else.
    try:
        u = parse_uri(text)
    except UriError:
        return
    assert parse_uri(str(u)) == u


_phone_digits = st.text(alphabet="0123456789-.()", min_size=1, max_size=15).filter(
    lambda s: any(c.isdigit() for c in s)
)
tel_uris = st.builds(
    TelUri,
    _phone_digits.map(lambda s: "+" + s),
    st.dictionaries(
        st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True),
        st.none() | st.text(min_size=1, max_size=10),
        max_size=3,
    ),
)


@given(tel_uris)
def test_property_tel_round_trip(u: TelUri) -> None:
    parsed = parse_uri(str(u))
    assert isinstance(parsed, TelUri)
    assert (parsed.number, list(parsed.params.items())) == (u.number, list(u.params.items()))
    assert parsed == u and hash(parsed) == hash(u)


@given(_phone_digits)
def test_property_tel_separators_do_not_matter(number: str) -> None:
    bare = "".join(c for c in number if c.isdigit())
    assert parse_tel_uri("tel:+" + number) == parse_tel_uri("tel:+" + bare)


# --- robustness --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "sip:" + "a" * 50_000 + "!",
        "sip:" + "a" * 50_000 + "@",
        "sip:" + "a." * 25_000,
        "sip:" + "a:" * 25_000,
        "sip:h" + ";a" * 25_000 + " ",
        "sip:h" + ";a=" * 25_000,
        "sip:" + "a;" * 25_000 + "?x@",
        "sip:" + "[" * 50_000,
        "sip:h?" + "a=b&" * 12_500,
        "tel:+" + "1-" * 25_000 + "x",
    ],
)
def test_long_hostile_input_is_linear(text: str) -> None:
    # CPU time of this process: the parser's work, not how long a busy machine kept it waiting.
    start = time.process_time()
    with contextlib.suppress(UriError):
        parse_uri(text)
    assert time.process_time() - start < 0.5
