"""Hypothesis properties of the pycc SDP parser and serializer.

1. Any description the model can hold serializes to text that parses back to the same model,
   and serializing again gives the same bytes.
2. For any input the parser accepts, serialize(parse(x)) is a fixed point.
3. For any bytes at all, the parser either succeeds or raises SdpError — nothing else.
"""

from __future__ import annotations

import copy

from hypothesis import event, given
from hypothesis import strategies as st

from pycc.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
    UnknownLine,
)

# Printable ASCII without the space that separates fields.
TOKEN_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# Free text: anything but the line breaks and NUL that SDP text excludes (RFC 8866 §9).
texts = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=16)
numbers = st.integers(0, 2**40)
UNKNOWN_TYPES = "fghjlnqwxyABXZ"
RTP_PROTOS = ["RTP/AVP", "RTP/SAVP", "RTP/AVPF", "UDP/TLS/RTP/SAVPF"]


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    addrtype = draw(st.sampled_from(["IP4", "IP6"]) | tokens)
    if addrtype in ("IP4", "IP6"):
        # The multicast suffixes are split off these two types, so their address has no '/'.
        address = draw(tokens.filter(lambda t: "/" not in t))
    else:
        address = draw(tokens)
    ttl = count = None
    if addrtype == "IP4":
        ttl = draw(st.none() | st.integers(0, 255))
        if ttl is not None:
            count = draw(st.none() | st.integers(1, 1000))
    elif addrtype == "IP6":
        count = draw(st.none() | st.integers(1, 1000))
    return Connection(draw(tokens), addrtype, address, ttl, count)


bandwidths = st.builds(Bandwidth, tokens.filter(lambda t: ":" not in t), numbers)
attribute_names = st.sampled_from(["sendonly", "ptime", "tool", "label", "x-pycc"]) | tokens.filter(
    lambda t: ":" not in t and t not in ("rtpmap", "fmtp")
)
attributes = st.builds(Attribute, attribute_names, st.none() | texts)
rtpmaps = st.builds(
    RtpMap,
    st.integers(0, 127),
    tokens.filter(lambda t: "/" not in t),
    st.integers(1, 200000),
    st.integers(1, 8),
)


def unknown_lines(anchors: list[str]) -> st.SearchStrategy[list[UnknownLine]]:
    # An unknown line can only be anchored to a line that is present, as the parser anchors it,
    # and the parser lists them in the order they appear: that of their anchors.
    return st.lists(
        st.builds(UnknownLine, st.sampled_from(UNKNOWN_TYPES), texts, st.sampled_from(anchors)),
        max_size=3,
    ).map(lambda lines: sorted(lines, key=lambda line: anchors.index(line.after)))


@st.composite
def media_descriptions(draw: st.DrawFn) -> MediaDescription:
    proto = draw(st.sampled_from(RTP_PROTOS) | tokens.filter(lambda t: "RTP" not in t))
    is_rtp = proto in RTP_PROTOS
    if is_rtp:
        formats = draw(st.lists(st.integers(0, 127).map(str), min_size=1, max_size=6))
    else:
        formats = draw(st.lists(tokens, min_size=1, max_size=3))
    extra: list[Attribute] = []
    if is_rtp:
        maps = draw(st.lists(rtpmaps, max_size=3))
        extra += [Attribute("rtpmap", str(m)) for m in maps]
        extra += [Attribute("fmtp", f"{m.payload_type} {draw(texts)}") for m in maps[:1]]
    media = MediaDescription(
        media=draw(tokens),
        port=draw(st.integers(0, 65535)),
        port_count=draw(st.integers(1, 4)),
        proto=proto,
        formats=formats,
        information=draw(st.none() | texts),
        connection=draw(st.none() | connections()),
        bandwidths=draw(st.lists(bandwidths, max_size=2)),
        key=draw(st.none() | texts),
        attributes=draw(st.permutations(extra + draw(st.lists(attributes, max_size=4)))),
    )
    present = ["m"] + [
        letter
        for letter, value in (
            ("i", media.information),
            ("c", media.connection),
            ("b", media.bandwidths),
            ("k", media.key),
            ("a", media.attributes),
        )
        if value is not None and value != []
    ]
    media.unknown_lines = draw(unknown_lines(present))
    return media


@st.composite
def session_descriptions(draw: st.DrawFn) -> SessionDescription:
    sd = SessionDescription(
        origin=draw(st.builds(Origin, tokens, tokens, numbers, tokens, tokens, tokens)),
        session_name=draw(texts),
        information=draw(st.none() | texts),
        uri=draw(st.none() | texts),
        emails=draw(st.lists(texts, max_size=2)),
        phones=draw(st.lists(texts, max_size=2)),
        connection=draw(st.none() | connections()),
        bandwidths=draw(st.lists(bandwidths, max_size=2)),
        times=draw(
            st.lists(
                st.builds(Timing, numbers, numbers, st.lists(texts, max_size=2).map(tuple)),
                min_size=1,
                max_size=3,
            )
        ),
        timezones=draw(st.none() | texts),
        key=draw(st.none() | texts),
        attributes=draw(st.lists(attributes, max_size=4)),
        media=draw(st.lists(media_descriptions(), max_size=3)),
    )
    present = ["v", "o", "s"] + [
        letter
        for letter, value in (
            ("i", sd.information),
            ("u", sd.uri),
            ("e", sd.emails),
            ("p", sd.phones),
            ("c", sd.connection),
            ("b", sd.bandwidths),
            ("t", sd.times),
            ("z", sd.timezones),
            ("k", sd.key),
            ("a", sd.attributes),
        )
        if value is not None and value != []
    ]
    sd.unknown_lines = draw(unknown_lines(present))
    return sd


@given(session_descriptions())
def test_model_survives_serialize_then_parse(sd: SessionDescription) -> None:
    data = bytes(sd)
    parsed = SessionDescription.parse(data)
    assert parsed == sd
    assert bytes(parsed) == data
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")


@given(session_descriptions())
def test_a_copy_is_equal_and_changes_apart(sd: SessionDescription) -> None:
    copied = sd.copy()
    assert copied == copy.deepcopy(sd)
    before = bytes(sd)
    # Changing every list of the copy, at session and media level, leaves the original alone.
    copied.set_attribute("pycc-copy", "1")
    copied.emails.append("copy@example.com")
    copied.phones.append("+1 555 0199")
    copied.bandwidths.append(Bandwidth("AS", 1))
    copied.times.append(Timing(1, 2))
    copied.unknown_lines.append(UnknownLine("x", "copy", "a"))
    for media in copied.media:
        media.port += 2
        media.formats.append("127")
        media.set_attribute("pycc-copy", "1")
        media.bandwidths.append(Bandwidth("AS", 1))
        media.unknown_lines.append(UnknownLine("y", "copy", "a"))
    copied.media.append(MediaDescription(media="audio", port=9, proto="RTP/AVP", formats=["0"]))
    assert bytes(sd) == before


# Lines from real descriptions, and a few broken ones, shuffled into a soup that the parser must
# either reject with SdpError or accept such that serializing is stable.
GOOD_LINES = [
    "i=info",
    "u=http://example.com/",
    "e=ops@example.com",
    "p=+1 555 0100",
    "c=IN IP4 192.0.2.1",
    "c=IN IP4 224.2.1.1/127/3",
    "c=IN IP6 ff15::101/3",
    "c=IN IP6 ::ffff:192.0.2.1",
    "b=AS:64",
    "t=3338481189 3370017201",
    "r=7d 1h 0 25h",
    "z=2882844526 -1h",
    "k=prompt",
    "a=sendonly",
    "a=recvonly",
    "a=rtcp-mux",
    "a=ptime:20",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:101 0-15",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
    "m=audio 5004 RTP/AVP 0 8 101",
    "m=video 0 RTP/AVP 96",
    "m=audio 5004/2 RTP/SAVP 0",
    "m=image 6000 udptl t38",
    "x=extension",
    "Y=",
]
BAD_LINES = [
    "v=0",
    "o=alice 2890844526 2890844526 IN IP6 2001:db8::1",
    "s=",
    "m=audio x RTP/AVP 0",
    "a=rtpmap:x PCMU/8000",
    "c=IN IP4",
    "garbage",
    "",
]
# Free-valued lines: extension attributes and unknown types take any text.
typed_texts = st.builds("a=pycc-{}".format, texts) | st.builds(
    "{}={}".format, st.sampled_from("xyQ"), texts
)


@st.composite
def soups(draw: st.DrawFn) -> list[str]:
    lines = draw(st.lists(st.sampled_from(GOOD_LINES) | typed_texts, max_size=10))
    # At most one line that is broken or out of place, so that many soups are accepted.
    odd = draw(st.none() | st.sampled_from(BAD_LINES) | texts)
    if odd is not None:
        lines.insert(draw(st.integers(0, len(lines))), odd)
    return lines


@given(soups(), st.sampled_from(["\r\n", "\n"]), st.sampled_from([True, True, True, False]))
def test_accepted_input_reaches_a_fixed_point(
    soup: list[str], newline: str, with_header: bool
) -> None:
    header = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"] if with_header else []
    data = newline.join(header + soup) + newline
    try:
        sd = SessionDescription.parse(data)
    except SdpError as exc:
        event("rejected")
        assert str(exc).startswith("SDP")
        return
    event("accepted")
    once = bytes(sd)
    again = SessionDescription.parse(once)
    assert again == sd
    assert bytes(again) == once


@given(st.binary(max_size=300))
def test_any_bytes_give_a_description_or_sdp_error(data: bytes) -> None:
    try:
        sd = SessionDescription.parse(b"v=0\r\n" + data)
    except SdpError:
        return
    assert SessionDescription.parse(bytes(sd)) == sd
