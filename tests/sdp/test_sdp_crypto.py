"""SDES ``a=crypto`` attributes of pycc.sdp.crypto: RFC 4568 examples, errors, offer/answer
choice, SDP helpers, and proof that keys stay out of reprs, errors and redacted messages."""

from __future__ import annotations

import base64
import contextlib
import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.sdp import SdpError, SessionDescription
from pycc.sdp.crypto import (
    SDES_PROFILES,
    SUITES,
    CryptoAttribute,
    CryptoError,
    UnsupportedSuiteError,
    crypto_attributes,
    is_supported,
    new_crypto,
    offer_crypto,
    parse_crypto,
    redact_sdp,
    redact_sdp_bytes,
    select_crypto,
    with_crypto,
)

# RFC 4568 §4 and §5.1.1 example lines.
RFC_KEY_1 = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
RFC_KEY_2 = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj"
RFC_LINE_1 = f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^20|1:32"
RFC_LINE_2 = f"2 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY_2}|2^20|1:32"


def crlf(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


def fixed_random(seed: int) -> Callable[[int], bytes]:
    """A deterministic ``random_bytes``: seed, seed + 1, ... (mod 256)."""
    counter = itertools.count(seed)

    def random_bytes(n: int) -> bytes:
        return bytes(next(counter) % 256 for _ in range(n))

    return random_bytes


# -- parsing ---------------------------------------------------------------------------------


def test_rfc4568_example_line() -> None:
    attr = parse_crypto(RFC_LINE_1)
    assert attr.tag == 1
    assert attr.suite == "AES_CM_128_HMAC_SHA1_80"
    assert attr.key == bytes.fromhex("3d2d6e40255e7821426a75667239293f")
    assert attr.salt == bytes.fromhex("2c2335685c603d265d7b71695051")
    assert attr.lifetime == 2**20
    assert attr.mki == (1, 32)
    assert attr.mki_bytes == (1).to_bytes(32, "big")
    assert attr.session_params == ()
    assert attr.key_salt == base64.b64decode(RFC_KEY_1)
    assert attr.crypto_suite.rtp_tag_length == 10


@pytest.mark.parametrize(
    "value",
    [
        RFC_LINE_1,
        RFC_LINE_2,
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}",
        f"4 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|1000",
        f"5 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|7:4",
        f"6 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY_2}|2^31 WSH=128 -X-VENDOR FEC_ORDER=FEC_SRTP",
        "7 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==",
    ],
)
def test_format_gives_back_the_line(value: str) -> None:
    attr = parse_crypto(value)
    assert attr.format() == value
    assert parse_crypto(attr.format()) == attr
    assert attr.to_attribute().name == "crypto"
    assert attr.to_attribute().value == value


def test_lifetime_forms() -> None:
    decimal = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|1048576")
    power = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^20")
    assert decimal == power
    assert decimal.lifetime == 1_048_576
    # A power of two is written back in the 2^n form, any other number as it is.
    assert decimal.format().endswith("|2^20")
    assert parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^48").lifetime == 2**48
    assert parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^0").lifetime == 1


def test_mki_without_lifetime_and_both() -> None:
    mki_only = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|1:4")
    assert (mki_only.lifetime, mki_only.mki) == (None, (1, 4))
    assert mki_only.mki_bytes == b"\x00\x00\x00\x01"
    both = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^10|258:2")
    assert (both.lifetime, both.mki, both.mki_bytes) == (1024, (258, 2), b"\x01\x02")


def test_gcm_key_with_or_without_base64_padding() -> None:
    # RFC 7714 §12: 16-byte key and 12-byte salt; 28 bytes need '==' padding in base64.
    material = bytes(range(28))
    padded = base64.b64encode(material).decode()
    assert padded.endswith("==")
    for text in (padded, padded.rstrip("=")):
        attr = parse_crypto(f"1 AEAD_AES_128_GCM inline:{text}")
        assert attr.key == material[:16]
        assert attr.salt == material[16:]
    assert parse_crypto(f"1 AEAD_AES_128_GCM inline:{padded.rstrip('=')}").format().endswith("==")


def test_spacing_and_inline_case_are_tolerated() -> None:
    attr = parse_crypto(f"1  AES_CM_128_HMAC_SHA1_80\tINLINE:{RFC_KEY_1}  WSH=64")
    assert attr.key_salt == base64.b64decode(RFC_KEY_1)
    assert attr.session_params == ("WSH=64",)


KEY_30 = RFC_KEY_1  # 30 bytes: right for AES_CM, wrong for GCM
GCM_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="  # 28 bytes
BAD_LINES = {
    "too few fields": "1 AES_CM_128_HMAC_SHA1_80",
    "tag not digits": f"x AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}",
    "tag ten digits": f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}",
    "tag with sign": f"+1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}",
    "not base64": "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPy!jNWhcYD0mXXtxaVBR",
    "three pads": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}===",
    "empty key": "1 AES_CM_128_HMAC_SHA1_80 inline:",
    "short key": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30[:-4]}",
    "GCM key for AES_CM": f"1 AES_CM_128_HMAC_SHA1_80 inline:{GCM_KEY}",
    "AES_CM key for GCM": f"1 AEAD_AES_128_GCM inline:{KEY_30}",
    "two keys": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|2^20|1:4;inline:{RFC_KEY_2}|2^20|2:4",
    "other key method": f"1 AES_CM_128_HMAC_SHA1_80 uri:{KEY_30}",
    "no key method": f"1 AES_CM_128_HMAC_SHA1_80 {KEY_30}",
    "lifetime too big": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|2^49",
    "huge exponent": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|2^99999999999",
    "decimal too big": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|281474976710657",
    "thousand digits": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|{'9' * 1000}",
    "lifetime zero": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|0",
    "lifetime word": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|forever",
    "MKI length zero": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|1:0",
    "MKI length 129": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|1:129",
    "MKI value too big": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|256:1",
    "MKI not numbers": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|a:b",
    "MKI before lifetime": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|1:4|2^20",
    "four fields": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|2^20|1:4|x",
    "non-ASCII param": f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30} WSH=6\u00e4",
}


@pytest.mark.parametrize("value", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_lines_raise_crypto_error_without_the_key(value: str) -> None:
    with pytest.raises(CryptoError) as info:
        parse_crypto(value)
    assert isinstance(info.value, SdpError)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "crypto"
    assert not isinstance(info.value, UnsupportedSuiteError)
    message = str(info.value)
    for key in (KEY_30, RFC_KEY_2, KEY_30[:20], KEY_30[-20:], "AAECAwQFBgcICQoLDA0O"):
        assert key not in message


@pytest.mark.parametrize(
    "suite", ["F8_128_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_80", "aes_cm_128_hmac_sha1_80"]
)
def test_unknown_suite_is_its_own_error(suite: str) -> None:
    with pytest.raises(UnsupportedSuiteError, match="unsupported crypto suite"):
        parse_crypto(f"1 {suite} inline:{RFC_KEY_1}")
    with pytest.raises(UnsupportedSuiteError):
        new_crypto(1, suite)


def test_constructor_checks_fields() -> None:
    key, salt = bytes(16), bytes(14)
    assert CryptoAttribute(0, "AES_CM_128_HMAC_SHA1_80", key, salt).tag == 0
    with pytest.raises(CryptoError):
        CryptoAttribute(10**9, "AES_CM_128_HMAC_SHA1_80", key, salt)
    with pytest.raises(CryptoError):
        CryptoAttribute(1, "AEAD_AES_128_GCM", key, salt)
    with pytest.raises(CryptoError):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key, salt, lifetime=2**48 + 1)
    with pytest.raises(CryptoError):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key, salt, mki=(1, 0))
    with pytest.raises(CryptoError, match="128 digits"):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key, salt, mki=(10**128, 128))
    with pytest.raises(CryptoError):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key, salt, session_params=("a b",))
    with pytest.raises(CryptoError):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key, salt, session_params=("",))


def test_suites_table() -> None:
    assert list(SUITES) == [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
        "AEAD_AES_128_GCM",
    ]
    lengths = {name: (s.key_length, s.salt_length) for name, s in SUITES.items()}
    assert lengths == {
        "AES_CM_128_HMAC_SHA1_80": (16, 14),
        "AES_CM_128_HMAC_SHA1_32": (16, 14),
        "AEAD_AES_128_GCM": (16, 12),
    }
    assert [s.rtp_tag_length for s in SUITES.values()] == [10, 4, 16]
    assert [s.rtcp_tag_length for s in SUITES.values()] == [10, 10, 16]
    assert SUITES["AEAD_AES_128_GCM"].srtp_profile == "SRTP_PROFILE_AEAD_AES_128_GCM"
    assert frozenset({"RTP/SAVP", "RTP/SAVPF"}) == SDES_PROFILES
    with pytest.raises(TypeError):
        SUITES["X"] = SUITES["AEAD_AES_128_GCM"]  # type: ignore[index]


# -- properties ------------------------------------------------------------------------------

session_params = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)


@st.composite
def crypto_attrs(draw: st.DrawFn) -> CryptoAttribute:
    suite = SUITES[draw(st.sampled_from(list(SUITES)))]
    mki_length = draw(st.integers(1, 128))
    # The value must fit its length and the 128 decimal digits of §9.1.
    mki_limit = min(256**mki_length, 10**128) - 1
    return CryptoAttribute(
        tag=draw(st.integers(0, 999_999_999)),
        suite=suite.name,
        key=draw(st.binary(min_size=suite.key_length, max_size=suite.key_length)),
        salt=draw(st.binary(min_size=suite.salt_length, max_size=suite.salt_length)),
        lifetime=draw(st.none() | st.integers(1, 2**48)),
        mki=draw(st.none() | st.integers(0, mki_limit).map(lambda v: (v, mki_length))),
        session_params=tuple(draw(st.lists(session_params, max_size=3))),
    )


@given(crypto_attrs())
def test_any_attribute_round_trips_through_its_text(attr: CryptoAttribute) -> None:
    text = attr.format()
    assert parse_crypto(text) == attr
    assert parse_crypto(text).format() == text


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_crypto_error(text: str) -> None:
    with contextlib.suppress(CryptoError):
        parse_crypto(text)


@given(
    st.integers(0, 99),
    st.sampled_from(list(SUITES)),
    st.text(st.sampled_from("ABCDEFabcdef0123456789+/=!|:;-"), max_size=60),
    st.lists(session_params, max_size=2),
)
def test_near_miss_lines_parse_or_raise_crypto_error(
    tag: int, suite: str, key_info: str, params: list[str]
) -> None:
    try:
        attr = parse_crypto(" ".join((str(tag), suite, "inline:" + key_info, *params)))
    except CryptoError:
        return
    assert attr.suite == suite


# -- keys stay secret ------------------------------------------------------------------------


def secret_forms(attr: CryptoAttribute) -> list[str]:
    """Every way the key material could be spelled in a log."""
    return [
        base64.b64encode(attr.key_salt).decode().rstrip("="),
        base64.b64encode(attr.key).decode().rstrip("="),
        attr.key.hex(),
        attr.salt.hex(),
        attr.key_salt.hex(),
        repr(attr.key)[2:-1],
        repr(attr.salt)[2:-1],
    ]


@given(crypto_attrs())
def test_repr_and_str_hide_key_and_salt(attr: CryptoAttribute) -> None:
    for shown in (repr(attr), str(attr), f"{attr}", repr([attr])):
        assert "<redacted>" in shown
        for secret in secret_forms(attr):
            assert secret not in shown


SIP_INVITE = crlf(
    "INVITE sip:1002@192.0.2.10 SIP/2.0",
    "Via: SIP/2.0/TLS 192.0.2.20:5061;branch=z9hG4bK776asdhds",
    "From: <sips:1001@192.0.2.10>;tag=1928301774",
    "To: <sips:1002@192.0.2.10>",
    "Call-ID: a84b4c76e66710",
    "CSeq: 314159 INVITE",
    "Content-Type: application/sdp",
    "Content-Disposition: session",
    "",
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.20",
    "s=-",
    "c=IN IP4 192.0.2.20",
    "t=0 0",
    "m=audio 49170 RTP/SAVP 0",
    f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^20|1:32",
    f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY_2}|2^20 KDR=0",
    "a=crypto:3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==",
    "a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:bad-key_material;inline:second/key+",
    "k=base64:c2VjcmV0LWtleS1tYXRlcmlhbA==",
    "a=key-mgmt:mikey AQAFgM0XflABAAAAAAAAAAAAAAsAyO0z",
    "a=rtpmap:0 PCMU/8000",
)
SIP_SECRETS = [
    RFC_KEY_1,
    RFC_KEY_2,
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw",
    "bad-key_material",
    "second/key+",
    "c2VjcmV0LWtleS1tYXRlcmlhbA",
    "AQAFgM0XflABAAAAAAAAAAAAAAsAyO0z",
]


def test_redact_sdp_blanks_every_key_and_nothing_else() -> None:
    redacted = redact_sdp(SIP_INVITE)
    for secret in SIP_SECRETS:
        assert secret in SIP_INVITE
        assert secret not in redacted
    lines = redacted.split("\r\n")
    assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<redacted>|2^20|1:32" in lines
    assert "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:<redacted>|2^20 KDR=0" in lines
    assert "a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:<redacted>;inline:<redacted>" in lines
    assert "k=base64:<redacted>" in lines
    assert "a=key-mgmt:mikey <redacted>" in lines
    untouched = [
        line
        for line in SIP_INVITE.split("\r\n")
        if not line.startswith(("a=crypto:", "k=", "a=key-mgmt:"))
    ]
    assert [line for line in lines if line in untouched] == untouched
    assert redact_sdp(redacted) == redacted


def test_redact_sdp_bytes_matches_text_version() -> None:
    data = SIP_INVITE.encode()
    assert redact_sdp_bytes(data) == redact_sdp(SIP_INVITE).encode()
    # Bytes that are not UTF-8 are no obstacle: nothing is decoded.
    latin = b"s=Caf\xe9\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + RFC_KEY_1.encode()
    assert redact_sdp_bytes(latin) == (
        b"s=Caf\xe9\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<redacted>"
    )


@given(crypto_attrs())
def test_redacted_sdp_of_any_key_holds_no_key(attr: CryptoAttribute) -> None:
    text = crlf("m=audio 4000 RTP/SAVP 0", "a=crypto:" + attr.format(), "a=sendrecv")
    redacted = redact_sdp(text)
    assert base64.b64encode(attr.key_salt).decode().rstrip("=") not in redacted
    assert redacted.startswith(f"m=audio 4000 RTP/SAVP 0\r\na=crypto:{attr.tag} {attr.suite} ")
    assert redact_sdp_bytes(text.encode()) == redacted.encode()


# -- making keys and choosing one ------------------------------------------------------------


def test_new_crypto_takes_key_then_salt_from_random_bytes() -> None:
    asked: list[int] = []

    def random_bytes(n: int) -> bytes:
        asked.append(n)
        return bytes(range(n))

    attr = new_crypto(7, "AEAD_AES_128_GCM", random_bytes)
    assert asked == [28]
    assert (attr.tag, attr.suite) == (7, "AEAD_AES_128_GCM")
    assert (attr.key, attr.salt) == (bytes(range(16)), bytes(range(16, 28)))
    assert (attr.lifetime, attr.mki, attr.session_params) == (None, None, ())
    fresh = [new_crypto(1, "AES_CM_128_HMAC_SHA1_80") for _ in range(3)]
    assert len({a.key_salt for a in fresh}) == 3  # os.urandom by default


def test_offer_crypto_numbers_lines_in_preference_order() -> None:
    offer = offer_crypto()
    assert [(a.tag, a.suite) for a in offer] == [
        (1, "AES_CM_128_HMAC_SHA1_80"),
        (2, "AES_CM_128_HMAC_SHA1_32"),
        (3, "AEAD_AES_128_GCM"),
    ]
    assert len({a.key_salt for a in offer}) == 3
    assert [a.suite for a in offer_crypto(["AEAD_AES_128_GCM"])] == ["AEAD_AES_128_GCM"]


def test_select_crypto_takes_the_first_acceptable_offer() -> None:
    offer = [
        parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1} UNENCRYPTED_SRTCP"),
        parse_crypto(f"2 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1} KDR=1"),
        parse_crypto(f"3 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY_2} WSH=256 -OPTIONAL_THING"),
        parse_crypto(f"4 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}"),
    ]
    assert [is_supported(a) for a in offer] == [False, False, True, True]
    chosen = select_crypto(offer)
    assert chosen is offer[2]
    assert select_crypto(offer, ["AES_CM_128_HMAC_SHA1_80"]) is offer[3]
    assert select_crypto(offer, ["AEAD_AES_128_GCM"]) is None
    assert select_crypto([]) is None
    # §5.1.2: the answer has the chosen tag and suite and a key of its own.
    answer = new_crypto(chosen.tag, chosen.suite)
    assert (answer.tag, answer.suite) == (3, "AES_CM_128_HMAC_SHA1_32")
    assert answer.key_salt != chosen.key_salt


@pytest.mark.parametrize(
    "param",
    ["UNENCRYPTED_SRTP", "UNAUTHENTICATED_SRTP", "FEC_ORDER=SRTP_FEC", "FEC_KEY=inline:x", "X"],
)
def test_session_parameters_pycc_cannot_honour(param: str) -> None:
    attr = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1} {param}")
    assert not is_supported(attr)
    assert select_crypto([attr]) is None


# -- on the SDP model ------------------------------------------------------------------------

SRTP_OFFER = crlf(
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.20",
    "s=-",
    "c=IN IP4 192.0.2.20",
    "t=0 0",
    "m=audio 49170 RTP/SAVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    f"a=crypto:1 F8_128_HMAC_SHA1_80 inline:{RFC_KEY_1}",
    f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY_1}|2^20|1:4",
    "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:broken",
    f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY_2}",
    f"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY_2}",
    "a=rtpmap:101 telephone-event/8000",
    "a=sendrecv",
)


def test_crypto_attributes_skips_unusable_and_repeated_lines() -> None:
    media = SessionDescription.parse(SRTP_OFFER).media[0]
    assert media.proto in SDES_PROFILES
    attrs = crypto_attributes(media)
    assert [(a.tag, a.suite) for a in attrs] == [
        (2, "AES_CM_128_HMAC_SHA1_80"),
        (4, "AES_CM_128_HMAC_SHA1_32"),
    ]
    assert attrs[0].mki == (1, 4)


def test_with_crypto_replaces_lines_in_place_on_a_copy() -> None:
    sd = SessionDescription.parse(SRTP_OFFER)
    media = sd.media[0]
    before = list(media.attributes)
    answer = new_crypto(2, "AES_CM_128_HMAC_SHA1_80", fixed_random(5))
    updated = with_crypto(media, [answer])
    assert media.attributes == before  # the original is untouched
    assert [str(a) for a in updated.attributes] == [
        "rtpmap:0 PCMU/8000",
        "crypto:" + answer.format(),
        "rtpmap:101 telephone-event/8000",
        "sendrecv",
    ]
    sd.media[0] = updated
    again = SessionDescription.parse(sd.to_bytes()).media[0]
    assert crypto_attributes(again) == [answer]
    plain = with_crypto(media, [])
    assert not plain.has_attribute("crypto")
    assert plain.formats == media.formats and plain.formats is not media.formats


def test_with_crypto_appends_when_there_were_none() -> None:
    media = SessionDescription.parse(
        crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 4000 RTP/SAVP 0")
    ).media[0]
    offer = offer_crypto()
    updated = with_crypto(media, offer)
    assert crypto_attributes(updated) == offer
    assert updated.attributes[-1].value == offer[-1].format()


def test_offer_answer_through_sdp_text() -> None:
    """Offerer writes three keys, answerer picks one and answers with its own key; each side
    ends with the same pair (its own key, the peer's key) the other holds reversed."""
    skeleton = crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 4000 RTP/SAVP 0")
    offer_sd = SessionDescription.parse(skeleton)
    offered = offer_crypto(["AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"])
    offer_sd.media[0] = with_crypto(offer_sd.media[0], offered)

    received = SessionDescription.parse(offer_sd.to_bytes())
    chosen = select_crypto(crypto_attributes(received.media[0]), ["AES_CM_128_HMAC_SHA1_80"])
    assert chosen is not None
    answer = new_crypto(chosen.tag, chosen.suite)
    answer_sd = SessionDescription.parse(skeleton)
    answer_sd.media[0] = with_crypto(answer_sd.media[0], [answer])

    answered = crypto_attributes(SessionDescription.parse(answer_sd.to_bytes()).media[0])
    assert answered == [answer]
    mine = next(a for a in offered if a.tag == answered[0].tag)
    assert mine == chosen  # the offerer's own line, as the answerer read it
    assert (mine.tag, mine.suite) == (2, "AES_CM_128_HMAC_SHA1_80")
