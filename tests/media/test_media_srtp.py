"""SrtpLeg of pycc.media.srtp against RFC 3711 / libsrtp vectors and an independent reference.

The reference below is written from RFC 3711 §4.1.1 (AES-CM), §4.2.1 (HMAC-SHA1), §4.3 (key
derivation) and RFC 7714 §8-§9 (AES-GCM) with the ``cryptography`` package's AES primitives.
It is first checked against RFC 3711 appendix B.2 and B.3, then against the libsrtp
``srtp_validate`` packets, and then used to check every suite bit for bit, so a key and salt
handed to libsrtp in the wrong order or length cannot pass as a round trip would let it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.media.srtp import SrtpError, SrtpLeg
from pycc.sdp.crypto import (
    SUITES,
    CryptoAttribute,
    crypto_attributes,
    new_crypto,
    offer_crypto,
    select_crypto,
    with_crypto,
)
from pycc.sdp.session import SessionDescription

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "srtp_vectors.json").read_text()
)
VALIDATE = VECTORS["libsrtp_srtp_validate_AES_CM_128_HMAC_SHA1_80"]

# -- the reference ---------------------------------------------------------------------------


def aes_cm_keystream(key: bytes, iv: bytes, length: int) -> bytes:
    """RFC 3711 §4.1.1: AES in counter mode from a 128-bit IV."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


def derive(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    """RFC 3711 §4.3.1 with key_derivation_rate 0 (r = 0), the PRF of §4.3.3.

    A 12-byte AEAD salt is used as the first 12 of the 14 bytes (RFC 7714 §11)."""
    x = int.from_bytes(master_salt.ljust(14, b"\0"), "big") ^ (label << 48)
    return aes_cm_keystream(master_key, (x << 16).to_bytes(16, "big"), length)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def reference_srtp(attr: CryptoAttribute, packet: bytes, roc: int = 0) -> bytes:
    """SRTP protection of one RTP packet without CSRCs or extension (RFC 3711 §3.3)."""
    mk, ms, suite = attr.key, attr.salt, attr.crypto_suite
    header, payload = packet[:12], packet[12:]
    seq, ssrc = struct.unpack("!H4xI", packet[2:12])
    index = (roc << 16) | seq
    key, salt = derive(mk, ms, 0, 16), derive(mk, ms, 2, suite.salt_length)
    if suite.aead:  # RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt
        iv = xor(struct.pack("!HIIH", 0, ssrc, roc, seq), salt)
        return header + AESGCM(key).encrypt(iv, payload, header)
    # §4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16)
    iv = (int.from_bytes(salt, "big") << 16 ^ ssrc << 64 ^ index << 16).to_bytes(16, "big")
    encrypted = header + xor(payload, aes_cm_keystream(key, iv, len(payload)))
    auth_key = derive(mk, ms, 1, 20)
    tag = hmac.new(auth_key, encrypted + roc.to_bytes(4, "big"), hashlib.sha1).digest()
    return encrypted + tag[: suite.rtp_tag_length]


def reference_srtcp(attr: CryptoAttribute, packet: bytes, index: int) -> bytes:
    """SRTCP protection with the E flag set (RFC 3711 §3.4; RFC 7714 §9.1 for GCM)."""
    mk, ms, suite = attr.key, attr.salt, attr.crypto_suite
    header, payload = packet[:8], packet[8:]
    (ssrc,) = struct.unpack("!I", packet[4:8])
    trailer = struct.pack("!I", 0x8000_0000 | index)
    key, salt = derive(mk, ms, 3, 16), derive(mk, ms, 5, suite.salt_length)
    if suite.aead:  # IV = (00 00 || SSRC || 00 00 || 0 || index) XOR salt; AAD header + trailer
        iv = xor(struct.pack("!HIHI", 0, ssrc, 0, index), salt)
        return header + AESGCM(key).encrypt(iv, payload, header + trailer) + trailer
    iv = (int.from_bytes(salt, "big") << 16 ^ ssrc << 64 ^ index << 16).to_bytes(16, "big")
    encrypted = header + xor(payload, aes_cm_keystream(key, iv, len(payload))) + trailer
    tag = hmac.new(derive(mk, ms, 4, 20), encrypted, hashlib.sha1).digest()
    return encrypted + tag[: suite.rtcp_tag_length]


def test_reference_matches_rfc3711_appendix_b() -> None:
    b2 = VECTORS["rfc3711_B2_aes_cm_keystream"]
    keystream = aes_cm_keystream(
        bytes.fromhex(b2["session_key"]), bytes.fromhex(b2["iv_offset"]), 48
    )
    assert keystream == bytes.fromhex(b2["keystream_first_48_bytes"])
    b3 = VECTORS["rfc3711_B3_key_derivation"]
    mk, ms = bytes.fromhex(b3["master_key"]), bytes.fromhex(b3["master_salt"])
    assert derive(mk, ms, 0, 16) == bytes.fromhex(b3["rtp_cipher_key_label0"])
    assert derive(mk, ms, 2, 14) == bytes.fromhex(b3["rtp_cipher_salt_label2"])
    assert derive(mk, ms, 1, 94) == bytes.fromhex(b3["rtp_auth_key_label1_94_bytes"])


# -- helpers ---------------------------------------------------------------------------------

VALIDATE_KEY = CryptoAttribute(
    1,
    "AES_CM_128_HMAC_SHA1_80",
    bytes.fromhex(VALIDATE["master_key"]),
    bytes.fromhex(VALIDATE["master_salt"]),
)
RTP_PLAIN = bytes.fromhex(VALIDATE["rtp_plaintext"])
SRTP = bytes.fromhex(VALIDATE["srtp_protected"])
RTCP_PLAIN = bytes.fromhex(VALIDATE["rtcp_plaintext"])
SRTCP = bytes.fromhex(VALIDATE["srtcp_protected_index1_Ebit"])


def rtp(seq: int, payload: bytes = b"\xd5" * 160, ssrc: int = 0x1234_5678, ts: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, ssrc) + payload


def rtcp(ssrc: int = 0x1234_5678, body: bytes = b"\x00" * 20) -> bytes:
    # A sender report header; the body need not be a valid report for SRTCP.
    return struct.pack("!BBHI", 0x80, 200, (len(body) + 4) // 4, ssrc) + body


def leg_pair(suite: str) -> tuple[SrtpLeg, SrtpLeg, CryptoAttribute, CryptoAttribute]:
    """Alice and Bob, each with its own key of ``suite``."""
    a, b = new_crypto(1, suite), new_crypto(1, suite)
    return SrtpLeg(a, b), SrtpLeg(b, a), a, b


def flip(packet: bytes, position: int) -> bytes:
    return packet[:position] + bytes([packet[position] ^ 0x01]) + packet[position + 1 :]


ALL_SUITES = list(SUITES)

# -- RFC and libsrtp vectors -----------------------------------------------------------------


def test_reference_reproduces_the_libsrtp_vectors() -> None:
    assert reference_srtp(VALIDATE_KEY, RTP_PLAIN) == SRTP
    assert reference_srtcp(VALIDATE_KEY, RTCP_PLAIN, index=1) == SRTCP


def test_protect_matches_the_vectors_bit_for_bit() -> None:
    leg = SrtpLeg(VALIDATE_KEY, new_crypto(1, "AES_CM_128_HMAC_SHA1_80"))
    assert leg.protect_rtp(RTP_PLAIN) == SRTP
    # libsrtp numbers SRTCP packets from 1.
    assert leg.protect_rtcp(RTCP_PLAIN) == SRTCP


def test_unprotect_recovers_the_vector_plaintexts() -> None:
    leg = SrtpLeg(new_crypto(1, "AES_CM_128_HMAC_SHA1_80"), VALIDATE_KEY)
    assert leg.unprotect_rtp(SRTP) == RTP_PLAIN
    assert leg.unprotect_rtcp(SRTCP) == RTCP_PLAIN
    assert (leg.auth_failures, leg.replays, leg.errors) == (0, 0, 0)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(ALL_SUITES),
    st.binary(min_size=30, max_size=30),
    st.lists(st.binary(max_size=300), min_size=1, max_size=4),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
)
def test_every_suite_matches_the_reference(
    suite: str, material: bytes, payloads: list[bytes], first_seq: int, ssrc: int
) -> None:
    spec = SUITES[suite]
    local = CryptoAttribute(
        1, suite, material[: spec.key_length], material[16 : 16 + spec.salt_length]
    )
    leg = SrtpLeg(local, new_crypto(1, suite))
    peer = SrtpLeg(new_crypto(1, suite), local)
    for n, payload in enumerate(payloads):
        packet = rtp(first_seq + n, payload, ssrc)
        # The sequence number may wrap: the rollover counter then counts one (§3.3.1).
        roc = (first_seq + n) >> 16
        protected = leg.protect_rtp(packet)
        assert protected == reference_srtp(local, packet, roc)
        assert peer.unprotect_rtp(protected) == packet
        control = rtcp(ssrc, payload[:40])
        protected = leg.protect_rtcp(control)
        assert protected == reference_srtcp(local, control, index=n + 1)
        assert peer.unprotect_rtcp(protected) == control


# -- offer/answer round trips ----------------------------------------------------------------


def negotiate(suite: str) -> tuple[SrtpLeg, SrtpLeg]:
    """Offer all suites in SDP text, answer with ``suite`` only; the two legs that result."""
    skeleton = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
    offer_sd = SessionDescription.parse(skeleton)
    offered = offer_crypto()
    offer_sd.media[0] = with_crypto(offer_sd.media[0], offered)

    answerer_view = SessionDescription.parse(offer_sd.to_bytes()).media[0]
    chosen = select_crypto(crypto_attributes(answerer_view), [suite])
    assert chosen is not None and chosen.suite == suite
    answer = new_crypto(chosen.tag, chosen.suite)
    answer_sd = SessionDescription.parse(skeleton)
    answer_sd.media[0] = with_crypto(answer_sd.media[0], [answer])

    (remote,) = crypto_attributes(SessionDescription.parse(answer_sd.to_bytes()).media[0])
    local = next(a for a in offered if a.tag == remote.tag)
    return SrtpLeg(local, remote), SrtpLeg(answer, chosen)


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_round_trip_between_offerer_and_answerer(suite: str) -> None:
    offerer, answerer = negotiate(suite)
    assert offerer.suite == answerer.suite == suite
    for seq in range(65530, 65560):  # across a sequence number wrap
        packet = rtp(seq, bytes([seq & 0xFF]) * 160, ts=seq * 160)
        assert answerer.unprotect_rtp(offerer.protect_rtp(packet)) == packet
        reply = rtp(seq + 7, b"\x55" * 80, ssrc=0xBEEF)
        assert offerer.unprotect_rtp(answerer.protect_rtp(reply)) == reply
    for _ in range(3):
        assert answerer.unprotect_rtcp(offerer.protect_rtcp(rtcp())) == rtcp()
        assert offerer.unprotect_rtcp(answerer.protect_rtcp(rtcp(7))) == rtcp(7)
    for leg in (offerer, answerer):
        assert (leg.auth_failures, leg.replays, leg.errors) == (0, 0, 0)


@pytest.mark.parametrize(
    ("suite", "rtp_overhead", "rtcp_overhead"),
    [
        ("AES_CM_128_HMAC_SHA1_32", 4, 4 + 10),  # RFC 4568 §6.2.2: SRTCP keeps 80 bits
        ("AES_CM_128_HMAC_SHA1_80", 10, 4 + 10),
        ("AEAD_AES_128_GCM", 16, 4 + 16),
    ],
)
def test_tag_lengths(suite: str, rtp_overhead: int, rtcp_overhead: int) -> None:
    alice, _, _, _ = leg_pair(suite)
    assert len(alice.protect_rtp(rtp(1))) - len(rtp(1)) == rtp_overhead
    assert len(alice.protect_rtcp(rtcp())) - len(rtcp()) == rtcp_overhead


def test_ssrc_change_is_followed() -> None:
    alice, bob, _, _ = leg_pair("AES_CM_128_HMAC_SHA1_80")
    for seq, ssrc in [(1, 0xA), (2, 0xA), (900, 0xB), (901, 0xB), (3, 0xA), (40000, 0xC)]:
        packet = rtp(seq, ssrc=ssrc)
        assert bob.unprotect_rtp(alice.protect_rtp(packet)) == packet
    assert (bob.auth_failures, bob.replays, bob.errors) == (0, 0, 0)


def test_bytearray_and_memoryview_are_accepted() -> None:
    alice, bob, _, _ = leg_pair("AEAD_AES_128_GCM")
    buffer = bytearray(alice.protect_rtp(rtp(1)))
    assert bob.unprotect_rtp(memoryview(buffer)) == rtp(1)
    assert bob.unprotect_rtp(alice.protect_rtp(bytearray(rtp(2)))) == rtp(2)
    assert bob.unprotect_rtcp(bytearray(alice.protect_rtcp(memoryview(rtcp())))) == rtcp()


# -- attacks and garbage ---------------------------------------------------------------------


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_tampered_packets_are_dropped_and_counted(suite: str) -> None:
    alice, bob, _, _ = leg_pair(suite)
    protected = alice.protect_rtp(rtp(10))
    # A bit flipped in the header, the payload, or the tag.
    for position in (1, 3, 20, len(protected) - 1):
        assert bob.unprotect_rtp(flip(protected, position)) is None
    assert bob.auth_failures == 4
    # The forgeries did not take the genuine packet's place in the replay window.
    assert bob.unprotect_rtp(protected) == rtp(10)
    control = alice.protect_rtcp(rtcp())
    assert bob.unprotect_rtcp(flip(control, 12)) is None
    assert bob.unprotect_rtcp(flip(control, len(control) - 1)) is None
    assert bob.auth_failures == 6
    assert bob.unprotect_rtcp(control) == rtcp()
    assert (bob.replays, bob.errors) == (0, 0)


def test_a_packet_under_the_wrong_key_is_an_auth_failure() -> None:
    alice, _, _, _ = leg_pair("AES_CM_128_HMAC_SHA1_80")
    _, mallory, _, _ = leg_pair("AES_CM_128_HMAC_SHA1_80")
    assert mallory.unprotect_rtp(alice.protect_rtp(rtp(1))) is None
    assert mallory.auth_failures == 1


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_replayed_packets_are_dropped_and_counted(suite: str) -> None:
    alice, bob, _, _ = leg_pair(suite)
    first = alice.protect_rtp(rtp(1))
    assert bob.unprotect_rtp(first) == rtp(1)
    assert bob.unprotect_rtp(first) is None
    # Older than the 128-packet window: dropped without knowing whether it was seen.
    late = alice.protect_rtp(rtp(2))
    for seq in range(3, 200):
        assert bob.unprotect_rtp(alice.protect_rtp(rtp(seq))) == rtp(seq)
    assert bob.unprotect_rtp(late) is None
    control = alice.protect_rtcp(rtcp())
    assert bob.unprotect_rtcp(control) == rtcp()
    assert bob.unprotect_rtcp(control) is None
    assert (bob.auth_failures, bob.replays, bob.errors) == (0, 3, 0)


def test_reordering_within_the_window_is_fine() -> None:
    alice, bob, _, _ = leg_pair("AES_CM_128_HMAC_SHA1_80")
    packets = [alice.protect_rtp(rtp(seq)) for seq in range(100)]
    for seq in [*range(50, 100), *range(50)]:
        assert bob.unprotect_rtp(packets[seq]) == rtp(seq)
    assert bob.replays == 0


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_short_and_oversized_packets_are_errors(suite: str) -> None:
    alice, bob, _, _ = leg_pair(suite)
    tag = SUITES[suite].rtp_tag_length
    for packet in (b"", b"\x80", rtp(1)[: 12 + tag - 1]):
        assert bob.unprotect_rtp(packet) is None
        assert bob.unprotect_rtcp(packet) is None
    assert bob.unprotect_rtp(rtp(1, b"\0" * 1600)) is None
    assert bob.unprotect_rtcp(rtcp(body=b"\0" * 1600)) is None
    assert (bob.errors, bob.auth_failures, bob.replays) == (8, 0, 0)
    with pytest.raises(SrtpError):
        alice.protect_rtp(rtp(1, b"\0" * 1400))  # beyond pylibsrtp's 1500-byte buffer
    with pytest.raises(SrtpError):
        alice.protect_rtp(b"\x80\x00")


def test_protect_refuses_an_index_it_already_used() -> None:
    # Encrypting two payloads under one index would reuse keystream (RFC 3711 §9.1).
    alice, _, _, _ = leg_pair("AES_CM_128_HMAC_SHA1_80")
    alice.protect_rtp(rtp(5))
    with pytest.raises(SrtpError, match="replay"):
        alice.protect_rtp(rtp(5, b"other"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_SUITES), st.binary(max_size=1700), st.booleans())
def test_garbage_never_raises(suite: str, data: bytes, looks_like_rtp: bool) -> None:
    _, bob, _, _ = leg_pair(suite)
    if looks_like_rtp and len(data) >= 1:
        data = b"\x80" + data[1:]
    assert bob.unprotect_rtp(data) is None
    assert bob.unprotect_rtcp(data) is None
    assert bob.auth_failures + bob.replays + bob.errors == 2


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ALL_SUITES), st.binary(max_size=1600))
def test_protecting_garbage_raises_only_srtp_error(suite: str, data: bytes) -> None:
    alice, _, _, _ = leg_pair(suite)
    for protect in (alice.protect_rtp, alice.protect_rtcp):
        with contextlib.suppress(SrtpError):
            protect(data)


# -- MKI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_mki_sits_where_rfc3711_and_rfc7714_put_it(suite: str) -> None:
    base = new_crypto(1, suite)
    with_mki = CryptoAttribute(1, suite, base.key, base.salt, mki=(0x0102, 2))
    plain_leg = SrtpLeg(base, new_crypto(1, suite))
    mki_leg = SrtpLeg(with_mki, new_crypto(1, suite))
    spec = SUITES[suite]
    for packet, tail, protect in (
        (rtp(1), spec.rtp_tag_length, "protect_rtp"),
        (rtcp(), spec.rtcp_tag_length, "protect_rtcp"),
    ):
        without = getattr(plain_leg, protect)(packet)
        marked = getattr(mki_leg, protect)(packet)
        if spec.aead:  # after the ciphertext, its tag and the SRTCP index
            assert marked == without + b"\x01\x02"
        else:  # between the encrypted part (and SRTCP index) and the tag
            assert marked == without[:-tail] + b"\x01\x02" + without[-tail:]


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_mki_round_trip_and_wrong_mki(suite: str) -> None:
    a = CryptoAttribute(1, suite, *split(suite, 1), mki=(7, 4))
    b = CryptoAttribute(1, suite, *split(suite, 2), mki=(1, 1))
    alice, bob = SrtpLeg(a, b), SrtpLeg(b, a)
    for seq in range(5):
        assert bob.unprotect_rtp(alice.protect_rtp(rtp(seq))) == rtp(seq)
        assert alice.unprotect_rtp(bob.protect_rtp(rtp(seq))) == rtp(seq)
    assert bob.unprotect_rtcp(alice.protect_rtcp(rtcp())) == rtcp()
    # The same key announced without an MKI, or with another one, does not match.
    stranger = SrtpLeg(b, CryptoAttribute(1, suite, a.key, a.salt, mki=(8, 4)))
    assert stranger.unprotect_rtp(alice.protect_rtp(rtp(9))) is None
    assert stranger.errors == 1
    no_mki = SrtpLeg(b, CryptoAttribute(1, suite, a.key, a.salt))
    assert no_mki.unprotect_rtp(alice.protect_rtp(rtp(10))) is None
    assert no_mki.auth_failures + no_mki.errors == 1


def split(suite: str, seed: int) -> tuple[bytes, bytes]:
    spec = SUITES[suite]
    material = bytes((seed * 31 + i) % 256 for i in range(spec.key_length + spec.salt_length))
    return material[: spec.key_length], material[spec.key_length :]


# -- construction ----------------------------------------------------------------------------


def test_suites_must_match_and_window_must_be_sane() -> None:
    with pytest.raises(SrtpError, match="differ"):
        SrtpLeg(new_crypto(1, "AES_CM_128_HMAC_SHA1_80"), new_crypto(1, "AEAD_AES_128_GCM"))
    key = new_crypto(1, "AES_CM_128_HMAC_SHA1_80")
    with pytest.raises(SrtpError, match="replay window"):
        SrtpLeg(key, key, replay_window=32)
    wide = SrtpLeg(key, key, replay_window=1024)
    sender = SrtpLeg(key, key)
    late = sender.protect_rtp(rtp(0))
    for seq in range(1, 600):
        wide.unprotect_rtp(sender.protect_rtp(rtp(seq)))
    assert wide.unprotect_rtp(late) == rtp(0)


def test_repr_names_the_suite_and_counters_only() -> None:
    _, bob, a, b = leg_pair("AES_CM_128_HMAC_SHA1_80")
    bob.unprotect_rtp(b"junk")
    shown = repr(bob)
    assert shown == (
        "SrtpLeg(suite='AES_CM_128_HMAC_SHA1_80', auth_failures=0, replays=0, errors=1)"
    )
    for attr in (a, b):
        assert attr.key.hex() not in shown
