"""Opus (RFC 6716/7587): round trip, in-band FEC versus concealment, DTX, fmtp, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from pycc.codecs import CodecError, find
from pycc.codecs.opus import OpusCodec

RATE = 48000
FRAME = 960


def sine(freq: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def speech_like(seconds: float) -> np.ndarray:
    """Voiced sound with a wandering pitch and syllable-rate envelope."""
    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 15))
    return np.rint(5000 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.int16)


def peak_frequency(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum)) * RATE / len(pcm)


def rms_db(pcm: np.ndarray) -> float:
    return 10 * np.log10(np.mean(pcm.astype(float) ** 2))


def encode_all(codec: OpusCodec, pcm: np.ndarray) -> list[bytes]:
    encoder = codec.encoder()
    return [encoder.encode(pcm[i:i + FRAME]) for i in range(0, len(pcm), FRAME)]


def test_spec_follows_rfc_7587() -> None:
    codec = find("opus", 48000, 2)
    assert codec.spec.sample_rate == RATE and codec.spec.pcm_channels == 1
    assert "useinbandfec=1" in codec.spec.fmtp
    encoder = codec.encoder()
    assert encoder.samples_per_frame == FRAME
    assert encoder.fec and not encoder.dtx


def test_a_1khz_tone_keeps_its_frequency_and_level() -> None:
    codec = find("opus", 48000, 2)
    tone = sine(1000, 1.0)
    decoder = codec.decoder()
    decoded = np.concatenate([decoder.decode(p) for p in encode_all(codec, tone)])
    assert len(decoded) == len(tone)
    steady = decoded[RATE // 4:]
    assert abs(peak_frequency(steady) - 1000) <= 20
    assert abs(rms_db(steady) - rms_db(tone)) < 2.0


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    ref = reference.astype(float)
    noise = np.sum((ref - estimate.astype(float)) ** 2)
    return float(10 * np.log10(np.sum(ref**2) / max(noise, 1.0)))


def recovery_snr(fec: bool) -> tuple[float, float]:
    """Mean SNR of lost frames rebuilt by PLC and by FEC, against the loss-free decoding."""
    codec = OpusCodec(bitrate=32000, packet_loss_percentage=20, fec=fec)
    payloads = encode_all(codec, speech_like(2.0))
    clean, concealing, correcting = codec.decoder(), codec.decoder(), codec.decoder()
    lost = set(range(5, len(payloads) - 1, 7))
    plc: list[float] = []
    recovered: list[float] = []
    for index, payload in enumerate(payloads):
        truth = clean.decode(payload)
        if index in lost:
            plc.append(snr_db(truth, concealing.conceal(FRAME)))
            recovered.append(snr_db(truth, correcting.decode_fec(payloads[index + 1], FRAME)))
        else:
            concealing.decode(payload)
            correcting.decode(payload)
    return float(np.mean(plc)), float(np.mean(recovered))


def test_fec_recovers_a_lost_frame_better_than_concealment() -> None:
    plc, fec = recovery_snr(fec=True)
    assert fec > plc + 5.0, (plc, fec)
    assert fec > 8.0


def test_without_fec_in_the_stream_decode_fec_is_concealment() -> None:
    plc, fec = recovery_snr(fec=False)
    assert abs(fec - plc) < 0.5, (plc, fec)


def test_conceal_returns_the_asked_length() -> None:
    codec = find("opus", 48000, 2)
    decoder = codec.decoder()
    for payload in encode_all(codec, sine(440, 0.2)):
        decoder.decode(payload)
    assert len(decoder.conceal(960)) == 960
    assert len(decoder.conceal(500)) == 500  # not a 2.5 ms multiple: rounded up, then cut
    assert decoder.supports_fec


def test_dtx_sends_tiny_packets_in_silence() -> None:
    codec = OpusCodec(dtx=True)
    assert "usedtx=1" in codec.spec.fmtp
    payloads = encode_all(codec, np.zeros(RATE, dtype=np.int16))
    assert sum(len(p) <= 2 for p in payloads) > len(payloads) // 2
    loud = encode_all(OpusCodec(dtx=False), np.zeros(RATE, dtype=np.int16))
    assert sum(len(p) <= 2 for p in loud) < sum(len(p) <= 2 for p in payloads)


def test_bitrate_is_settable_and_changes_the_packet_size() -> None:
    codec = find("opus", 48000, 2)
    encoder = codec.encoder()
    speech = speech_like(1.0)
    encoder.bitrate = 64000
    assert encoder.bitrate == 64000
    high = sum(len(encoder.encode(speech[i:i + FRAME])) for i in range(0, len(speech), FRAME))
    encoder.bitrate = 12000
    encoder.packet_loss_percentage = 0
    assert encoder.packet_loss_percentage == 0
    low = sum(len(encoder.encode(speech[i:i + FRAME])) for i in range(0, len(speech), FRAME))
    assert high > 3 * low
    with pytest.raises(CodecError):
        encoder.bitrate = 1000


def test_from_fmtp_applies_the_peer_parameters() -> None:
    codec = OpusCodec.from_fmtp("maxaveragebitrate=20000; useinbandfec=0; usedtx=1; stereo=0")
    encoder = codec.encoder()
    assert (encoder.bitrate, encoder.fec, encoder.dtx) == (20000, False, True)
    for bad in ("maxaveragebitrate=lots", "useinbandfec=yes"):
        with pytest.raises(CodecError):
            OpusCodec.from_fmtp(bad)


def test_bad_input_raises_codec_error() -> None:
    codec = find("opus", 48000, 2)
    decoder = codec.decoder()
    with pytest.raises(CodecError):
        decoder.decode(b"")
    with pytest.raises(CodecError):
        decoder.decode(b"\xff\xff\xff")  # code 3 packet with an impossible frame count
    with pytest.raises(CodecError):
        codec.encoder().encode(np.zeros(100, dtype=np.int16))
    with pytest.raises(CodecError):
        codec.encoder(frame_ms=30)
    # After garbage the decoder still works.
    payload = encode_all(codec, sine(440, 0.02))[0]
    assert len(decoder.decode(payload)) == FRAME


@pytest.mark.parametrize("rate", [8000, 16000])
def test_at_a_lower_pcm_rate_libopus_converts_itself(rate: int) -> None:
    """``at_rate`` makes an Opus codec that takes and gives PCM at 8 or 16 kHz (no resampler
    in pycc) while the RTP clock stays 48 kHz; a 1 kHz tone survives both ways, and its
    packets decode at 48 kHz too (the bitstream is the same Opus)."""
    base = OpusCodec()
    codec = base.at_rate(rate)
    assert codec.spec.sample_rate == rate and codec.spec.clock_rate == 48000
    assert base.spec.sample_rate == 48000  # the original is untouched
    assert base.at_rate(44100) is base and base.at_rate(48000) is base
    encoder = codec.encoder(20)
    assert encoder.samples_per_frame == rate // 50
    t = np.arange(rate) / rate
    tone = (np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16)
    frames = [encoder.encode(tone[i:i + rate // 50]) for i in range(0, rate, rate // 50)]
    low = np.concatenate([codec.decoder().decode(f) for f in frames])
    assert len(low) == rate
    spectrum = np.abs(np.fft.rfft(low[rate // 5:].astype(np.float64)))
    assert abs(np.argmax(spectrum) * rate / len(low[rate // 5:]) - 1000) < 20
    full = np.concatenate([base.decoder().decode(f) for f in frames])
    assert len(full) == 48000
    assert len(codec.decoder().conceal(rate // 50)) == rate // 50


def test_opus_complexity_setting_reaches_the_next_encoders() -> None:
    from pycc.codecs.opus import set_opus_complexity

    codec = find("opus", 48000, 2)
    assert isinstance(codec, OpusCodec)
    before = codec.complexity
    try:
        set_opus_complexity(1)
        assert codec.encoder().complexity == 1
        # A transcoder's narrowband copy of the codec keeps the setting.
        assert codec.at_rate(8000).encoder().complexity == 1
        set_opus_complexity(10)
        assert codec.encoder().complexity == 10
    finally:
        codec.complexity = before
    assert codec.encoder().complexity == before


@pytest.mark.parametrize("value", [-1, 11, 2.5, "3", True, None])
def test_opus_complexity_outside_0_to_10_is_refused(value: object) -> None:
    from pycc.codecs.opus import set_opus_complexity

    codec = find("opus", 48000, 2)
    assert isinstance(codec, OpusCodec)
    before = codec.complexity
    with pytest.raises(ValueError, match="whole number from 0 to 10"):
        set_opus_complexity(value)
    assert codec.complexity == before


def test_encoder_reads_each_frame_afresh() -> None:
    # The encoder copies every frame into a buffer of its own: a frame changed (or reused
    # by the caller) after encode must not change what the next packet says.
    encoder = OpusCodec().at_rate(8000).encoder(20)
    decoder = OpusCodec().at_rate(8000).decoder()
    frame = np.zeros(160, dtype=np.int16)
    quiet = [decoder.decode(encoder.encode(frame)) for _ in range(5)]
    t = np.arange(160 * 10) / 8000
    loud = np.rint(8000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    heard = [decoder.decode(encoder.encode(loud[i:i + 160])) for i in range(0, 1600, 160)]
    assert rms_db(np.concatenate(quiet)) < 20
    assert rms_db(np.concatenate(heard[3:])) > 60
