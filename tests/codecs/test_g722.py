"""G.722 through PyAV: RTP framing per RFC 3551 §4.5.2 and a clean 1 kHz round trip."""

from __future__ import annotations

import numpy as np
import pytest

from pycc.codecs import CodecError, find

RATE = 16000


def sine(freq: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_frequency(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum)) * RATE / len(pcm)


def rms_db(pcm: np.ndarray) -> float:
    return 10 * np.log10(np.mean(pcm.astype(float) ** 2))


def round_trip(pcm: np.ndarray, frame_ms: int = 20) -> tuple[list[bytes], np.ndarray]:
    codec = find("G722", 8000)
    encoder, decoder = codec.encoder(frame_ms), codec.decoder()
    n = encoder.samples_per_frame
    payloads = [encoder.encode(pcm[i:i + n]) for i in range(0, len(pcm), n)]
    return payloads, np.concatenate([decoder.decode(p) for p in payloads])


def test_a_20_ms_packet_is_320_samples_in_160_bytes() -> None:
    codec = find("G722", 8000)
    assert codec.spec.sample_rate == RATE and codec.spec.timestamp_step == 160
    payloads, decoded = round_trip(sine(1000, 0.2))
    assert [len(p) for p in payloads] == [160] * 10
    assert len(decoded) == 3200 and decoded.dtype == np.int16


def test_a_1khz_tone_keeps_its_frequency_and_level() -> None:
    tone = sine(1000, 1.0)
    _, decoded = round_trip(tone)
    steady = decoded[RATE // 4:]
    assert abs(peak_frequency(steady) - 1000) <= 20
    assert abs(rms_db(steady) - rms_db(tone)) < 1.0


def test_wideband_content_survives() -> None:
    # 6 kHz is above the narrowband limit: only a wideband codec keeps it.
    tone = sine(6000, 0.5, 6000)
    _, decoded = round_trip(tone)
    assert abs(peak_frequency(decoded[RATE // 8:]) - 6000) <= 20


def test_10_ms_packets_are_not_buffered() -> None:
    payloads, decoded = round_trip(sine(1000, 0.1), frame_ms=10)
    assert [len(p) for p in payloads] == [80] * 10
    assert len(decoded) == 1600


def test_streams_keep_their_own_state() -> None:
    # Two encoders fed the same audio produce the same bytes: no shared ADPCM state.
    codec = find("G722", 8000)
    a, b = codec.encoder(), codec.encoder()
    tone = sine(700, 0.1)
    first = [a.encode(tone[i:i + 320]) for i in range(0, 1600, 320)]
    assert [b.encode(tone[i:i + 320]) for i in range(0, 1600, 320)] == first


def test_bad_input() -> None:
    codec = find("G722", 8000)
    decoder = codec.decoder()
    with pytest.raises(CodecError):
        decoder.decode(b"")
    assert len(decoder.decode(bytes(range(160)))) == 320  # every byte string is valid G.722
    with pytest.raises(CodecError):
        codec.encoder().encode(np.zeros(100, dtype=np.int16))
    assert len(decoder.conceal(320)) == 320
