"""L16 (RFC 3551 §4.5.11): network byte order, any rate, mono and stereo."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pycc.codecs import CodecError, find
from pycc.codecs.l16 import L16Codec


def test_samples_are_big_endian() -> None:
    encoder = find("L16", 8000).encoder()
    pcm = np.array([1, -2, 0x1234, -32768], dtype=np.int16)
    assert encoder.encode(pcm) == bytes.fromhex("0001 fffe 1234 8000")


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_registered_rates_round_trip(rate: int) -> None:
    codec = find("l16", rate)
    encoder, decoder = codec.encoder(), codec.decoder()
    assert encoder.samples_per_frame == rate // 50
    assert codec.spec.bitrate == 16 * rate
    pcm = np.arange(-encoder.samples_per_frame, 0, dtype=np.int16) * 97
    payload = encoder.encode(pcm)
    assert len(payload) == 2 * len(pcm)
    np.testing.assert_array_equal(decoder.decode(payload), pcm)


@given(arrays(np.int16, st.integers(0, 300)))
def test_round_trip_is_lossless(pcm: np.ndarray) -> None:
    codec = L16Codec(44100)
    assert codec.spec.static_payload_type == 11
    np.testing.assert_array_equal(codec.decoder().decode(codec.encoder().encode(pcm)), pcm)


def test_stereo_is_interleaved() -> None:
    codec = L16Codec(44100, 2)
    assert codec.spec.static_payload_type == 10 and str(codec.spec) == "L16/44100/2"
    stereo = np.array([[1, 2], [3, 4]], dtype=np.int16)
    payload = codec.encoder().encode(stereo)
    assert payload == bytes.fromhex("0001 0002 0003 0004")
    decoder = codec.decoder()
    np.testing.assert_array_equal(decoder.decode(payload), stereo)
    assert decoder.conceal(10).shape == (10, 2)
    with pytest.raises(CodecError):
        decoder.decode(b"\x00\x01\x00")  # not whole stereo samples


@given(st.binary(max_size=100))
def test_any_payload_decodes_or_raises_codec_error(payload: bytes) -> None:
    decoder = find("L16", 16000).decoder()
    try:
        pcm = decoder.decode(payload)
    except CodecError:
        assert len(payload) % 2
    else:
        assert len(pcm) == len(payload) // 2
