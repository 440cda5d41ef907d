"""G.729A through bcg729: the stored conformance vectors, a tone round trip, RFC 3551 framing."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.codecs import CodecError, find
from pycc.codecs import g729 as g729_module
from pycc.codecs.g729 import FRAME_SAMPLES, G729Codec, G729Decoder, G729Encoder

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "g729"
RATE = 8000


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def pcm_vector(name: str) -> np.ndarray:
    return np.frombuffer(vector(name), dtype="<i2").astype(np.int16)


def frames_with_length_prefix(data: bytes) -> list[bytes]:
    frames, i = [], 0
    while i < len(data):
        size = data[i]
        frames.append(data[i + 1:i + 1 + size])
        i += 1 + size
    return frames


def test_vector_files_are_intact() -> None:
    for line in vector("SHA256SUMS").decode().splitlines():
        digest, name = line.split()
        assert hashlib.sha256(vector(name)).hexdigest() == digest, name


def test_encoder_reproduces_the_conformance_bitstream() -> None:
    pcm = pcm_vector("input.s16le")
    encoder = G729Encoder(FRAME_SAMPLES)
    bitstream = b"".join(encoder.encode(pcm[i:i + 80]) for i in range(0, len(pcm), 80))
    assert bitstream == vector("speech.g729")


def test_decoder_reproduces_the_conformance_output() -> None:
    bitstream = vector("speech.g729")
    decoder = G729Decoder()
    # Two frames per packet, as pycc sends them.
    decoded = np.concatenate([decoder.decode(bitstream[i:i + 20])
                              for i in range(0, len(bitstream), 20)])
    np.testing.assert_array_equal(decoded, pcm_vector("speech.decoded.s16le"))


def test_vad_stream_with_sid_frames_matches_the_vector() -> None:
    pcm = pcm_vector("input.s16le")
    expected = frames_with_length_prefix(vector("vad.frames"))
    encoder = G729Encoder(FRAME_SAMPLES, vad=True)
    frames = [encoder.encode(pcm[i:i + 80]) for i in range(0, len(pcm), 80)]
    assert frames == expected
    assert {len(f) for f in frames} == {0, 2, 10}  # speech, SID and untransmitted frames
    decoder = G729Decoder()
    decoded = np.concatenate([decoder.decode(f) for f in frames if f])
    np.testing.assert_array_equal(decoded, pcm_vector("vad.decoded.s16le"))


def test_a_trailing_sid_frame_is_accepted() -> None:
    frames = frames_with_length_prefix(vector("vad.frames"))
    speech = next(f for f in frames if len(f) == 10)
    sid = next(f for f in frames if len(f) == 2)
    decoder = G729Decoder()
    assert len(decoder.decode(speech + speech + sid)) == 240
    assert len(decoder.decode(sid)) == 80


def sine(freq: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_a_1khz_tone_comes_back_as_a_1khz_tone() -> None:
    codec = find("G729", 8000)
    encoder, decoder = codec.encoder(), codec.decoder()
    assert encoder.samples_per_frame == 160
    tone = sine(1000, 1.0)
    payloads = [encoder.encode(tone[i:i + 160]) for i in range(0, len(tone), 160)]
    assert {len(p) for p in payloads} == {20}
    decoded = np.concatenate([decoder.decode(p) for p in payloads])[RATE // 4:]
    spectrum = np.abs(np.fft.rfft(decoded.astype(float) * np.hanning(len(decoded))))
    assert abs(np.argmax(spectrum) * RATE / len(decoded) - 1000) <= 20
    level = 10 * np.log10(np.mean(decoded.astype(float) ** 2) / np.mean(tone.astype(float) ** 2))
    assert abs(level) < 3.0


def test_packet_length_is_checked() -> None:
    decoder = find("G729", 8000).decoder()
    for size in (0, 1, 9, 11, 13, 25):
        with pytest.raises(CodecError):
            decoder.decode(bytes(size))
    assert len(decoder.decode(bytes(30))) == 240
    with pytest.raises(CodecError):
        find("G729", 8000).encoder().encode(np.zeros(100, dtype=np.int16))
    with pytest.raises(CodecError):
        G729Codec().encoder(frame_ms=15)


@settings(max_examples=50)
@given(st.integers(1, 6).flatmap(lambda n: st.binary(min_size=10 * n, max_size=10 * n)))
def test_any_well_framed_payload_decodes(payload: bytes) -> None:
    assert len(G729Decoder().decode(payload)) == 8 * len(payload)


def test_concealment_uses_the_library_plc() -> None:
    codec = find("G729", 8000)
    encoder, decoder = codec.encoder(), codec.decoder()
    tone = sine(500, 0.2)
    for i in range(0, len(tone), 160):
        decoder.decode(encoder.encode(tone[i:i + 160]))
    lost = decoder.conceal(160)
    assert len(lost) == 160 and np.abs(lost).max() > 1000  # continues, not silence
    assert len(decoder.conceal(100)) == 100


def test_contexts_are_freed_with_their_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    real = g729_module.bcg729()
    closed: list[tuple[str, int]] = []

    def closing(kind: str, close: Callable[[int], None]) -> Callable[[int], None]:
        def close_and_count(context: int) -> None:
            closed.append((kind, context))
            close(context)
        return close_and_count

    counted = dataclasses.replace(
        real,
        close_encoder=closing("encoder", real.close_encoder),
        close_decoder=closing("decoder", real.close_decoder),
    )
    monkeypatch.setattr(g729_module, "_loaded", counted)
    encoder, decoder = G729Encoder(160), G729Decoder()
    encoder.encode(np.zeros(160, dtype=np.int16))
    decoder.conceal(80)
    assert closed == []
    del encoder
    gc.collect()
    assert [kind for kind, _ in closed] == ["encoder"]
    del decoder
    gc.collect()
    assert [kind for kind, _ in closed] == ["encoder", "decoder"]
    assert all(context for _, context in closed)
