"""G.711 against the ITU-T G.191 reference sweep, plus properties and concealment."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pycc.codecs import find
from pycc.codecs.g711 import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ALAW_TO_ULAW,
    ULAW_DECODE,
    ULAW_ENCODE,
    ULAW_TO_ALAW,
    G711Codec,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "g711"


def words(name: str) -> np.ndarray:
    return np.fromfile(VECTORS / name, dtype="<i2")


@pytest.fixture(scope="module")
def sweep() -> np.ndarray:
    source = words("sweep.src")
    assert len(source) == 65536 and len(np.unique(source)) == 65536  # every 16-bit value
    return source


@pytest.mark.parametrize(
    ("encode", "codes_file"),
    [(ulaw_encode, "sweep-r.u"), (alaw_encode, "sweep-r.a")],
    ids=["ulaw", "alaw"],
)
def test_encoder_is_bit_exact_with_g191(encode, codes_file, sweep) -> None:
    expected = words(codes_file).view(np.uint16)
    assert (expected >> 8).max() == 0  # codes live in the low byte of each word
    codes = np.frombuffer(encode(sweep), dtype=np.uint8)
    mismatches = np.flatnonzero(codes != expected)
    assert mismatches.size == 0, f"{mismatches.size} differ, first at {sweep[mismatches[:5]]}"


@pytest.mark.parametrize(
    ("encode", "decode", "roundtrip_file", "reencoded_file"),
    [
        (ulaw_encode, ulaw_decode, "sweep-r.u-u", "sweep-r.reu"),
        (alaw_encode, alaw_decode, "sweep-r.a-a", "sweep-r.rea"),
    ],
    ids=["ulaw", "alaw"],
)
def test_round_trip_is_bit_exact_with_g191(encode, decode, roundtrip_file, reencoded_file,
                                           sweep) -> None:
    decoded = decode(encode(sweep))
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, words(roundtrip_file))
    np.testing.assert_array_equal(decoded, words(reencoded_file))


def test_one_complement_rule_matters_for_ulaw() -> None:
    # The README's finding: G.191 takes ~x, not -x, as the magnitude of a negative sample, so
    # -4 still falls in the smallest µ-law interval (-x would give code 0x7E, as audioop did).
    x = np.array([-1, -2, -3, -4, -5, -32768], dtype=np.int16)
    assert ulaw_encode(x) == bytes([0x7F, 0x7F, 0x7F, 0x7F, 0x7E, 0x00])
    assert ulaw_encode(np.array([0, 4, 32767], dtype=np.int16)) == bytes([0xFF, 0xFE, 0x80])


def test_known_codes() -> None:
    # Digital milliwatt (G.711 Table 5/6): the µ-law sequence decodes to a 1 kHz sine at 0 dBm0.
    dmw = bytes([0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E])
    pcm = ulaw_decode(dmw)
    assert pcm.tolist() == [-8828, -20860, -20860, -8828, 8828, 20860, 20860, 8828]
    assert alaw_encode(np.array([0, -1], dtype=np.int16)) == bytes([0xD5, 0x55])
    assert ULAW_DECODE[0xFF] == 0 and ULAW_DECODE[0x7F] == 0
    assert ALAW_DECODE[0xD5] == 8 and ALAW_DECODE[0x55] == -8


def test_tables_have_the_documented_shapes_and_are_frozen() -> None:
    assert ULAW_ENCODE.shape == ALAW_ENCODE.shape == (65536,)
    assert ULAW_DECODE.shape == ALAW_DECODE.shape == (256,)
    with pytest.raises(ValueError):
        ULAW_ENCODE[0] = 1


def test_transcode_tables_match_decode_then_encode() -> None:
    every = bytes(range(256))
    assert ulaw_to_alaw(every) == alaw_encode(ulaw_decode(every))
    assert alaw_to_ulaw(every) == ulaw_encode(alaw_decode(every))
    assert len(ULAW_TO_ALAW) == len(ALAW_TO_ULAW) == 256
    # A round trip through the other law moves a level by at most one coarse step (~0.5 dB),
    # and most codes come back unchanged.
    for there, back, decode in ((ulaw_to_alaw, alaw_to_ulaw, ulaw_decode),
                                (alaw_to_ulaw, ulaw_to_alaw, alaw_decode)):
        before = decode(every).astype(int)
        after = decode(back(there(every))).astype(int)
        assert np.all(np.abs(after - before) <= np.abs(before) / 16 + 16)
        assert np.count_nonzero(after == before) >= 240


@given(arrays(np.int16, st.integers(1, 400)))
def test_decode_of_encode_is_within_half_a_quantisation_step(pcm: np.ndarray) -> None:
    x = pcm.astype(np.int64)
    # µ-law intervals grow with |x| + 132 (16 per segment), A-law ones with |x| (16 per
    # segment, 16 wide in the two lowest); decoding returns the interval's midpoint, and the
    # one's-complement magnitude shifts negative samples by one more. Outside the top
    # decision level (±32124 µ-law, ±32256 A-law) the codes saturate.
    y = ulaw_decode(ulaw_encode(pcm)).astype(np.int64)
    bound = (np.abs(x) + 132) / 32 + 1
    assert np.all(np.abs(np.clip(x, -32124, 32124) - y) <= bound)
    y = alaw_decode(alaw_encode(pcm)).astype(np.int64)
    bound = np.maximum(np.abs(x) / 32, 8) + 1
    assert np.all(np.abs(np.clip(x, -32256, 32256) - y) <= bound)


def test_registry_codecs_encode_and_decode_any_length() -> None:
    codec = find("pcmu", 8000)
    assert codec.spec.static_payload_type == 0 and find("PCMA", 8000).spec.static_payload_type == 8
    encoder, decoder = codec.encoder(), codec.decoder()
    assert encoder.samples_per_frame == 160
    assert codec.encoder(frame_ms=30).samples_per_frame == 240
    pcm = (np.arange(240, dtype=np.int16) * 50)
    payload = encoder.encode(pcm)
    assert len(payload) == 240
    np.testing.assert_array_equal(decoder.decode(payload), ulaw_decode(payload))
    assert len(decoder.decode(b"")) == 0
    with pytest.raises(TypeError):
        encoder.encode(pcm.astype(np.float32))  # type: ignore[arg-type]


# -- packet loss concealment ------------------------------------------------------------------


def voiced(samples: int, f0: float = 160.0, rate: int = 8000) -> np.ndarray:
    """A steady voiced sound: harmonics of f0 with falling weights."""
    t = np.arange(samples) / rate
    sound = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    return np.rint(6000 * sound).astype(np.int16)


def test_concealment_continues_a_periodic_signal() -> None:
    codec = G711Codec.alaw()
    encoder, decoder = codec.encoder(), codec.decoder()
    signal = voiced(8000)
    for i in range(0, 1600, 160):
        decoder.decode(encoder.encode(signal[i:i + 160]))
    concealed = decoder.conceal(80).astype(float)
    truth = signal[1600:1680].astype(float)
    correlation = np.dot(concealed, truth) / np.sqrt(np.dot(concealed, concealed) *
                                                     np.dot(truth, truth))
    assert correlation > 0.9
    # Silence would have scored 0 and a repeated 20 ms frame a fraction of that.
    assert 0.7 < np.std(concealed) / np.std(truth) < 1.3


def test_concealment_fades_to_silence_after_60_ms() -> None:
    codec = G711Codec.ulaw()
    encoder, decoder = codec.encoder(), codec.decoder()
    signal = voiced(1600)
    for i in range(0, 1600, 160):
        decoder.decode(encoder.encode(signal[i:i + 160]))
    lost = np.concatenate([decoder.conceal(80) for _ in range(10)])  # 100 ms
    level = [np.abs(lost[i:i + 80]).max() for i in range(0, 800, 80)]
    assert level[0] > 3000  # the first 10 ms at full level
    assert all(a >= b for a, b in itertools.pairwise(level[1:7]))  # fading
    assert max(level[6:]) == 0  # silent from 60 ms on


def test_first_frame_after_a_loss_is_blended_not_played_raw() -> None:
    codec = G711Codec.ulaw()
    encoder, decoder = codec.encoder(), codec.decoder()
    signal = voiced(2400, f0=140.0)
    for i in range(0, 1600, 160):
        decoder.decode(encoder.encode(signal[i:i + 160]))
    decoder.conceal(160)
    payload = encoder.encode(signal[1760:1920])
    raw = ulaw_decode(payload)
    played = decoder.decode(payload)
    assert not np.array_equal(played[:10], raw[:10])  # cross-faded start
    np.testing.assert_array_equal(played[100:], raw[100:])  # then the real signal
    # Next frame: no loss in between, so no blending.
    payload = encoder.encode(signal[1920:2080])
    np.testing.assert_array_equal(decoder.decode(payload), ulaw_decode(payload))


def test_concealment_before_any_audio_is_silence() -> None:
    decoder = G711Codec.ulaw().decoder()
    assert not decoder.conceal(160).any()
