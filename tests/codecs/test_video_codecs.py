"""VP8 and H.264: specs for SDP, and a synthetic picture through the PyAV coders."""

from __future__ import annotations

import av
import numpy as np
import pytest

from pycc.codecs import CodecError, default_registry, find
from pycc.codecs.video import VideoCodec


def test_specs_are_video_at_90khz() -> None:
    vp8, h264 = find("VP8", 90000), find("h264", 90000)
    assert vp8.spec.kind == h264.spec.kind == "video"
    assert h264.spec.fmtp == "profile-level-id=42e01f;packetization-mode=1"
    assert not vp8.transcodable
    assert [s.name for s in default_registry().specs("video")] == ["VP8", "H264"]
    with pytest.raises(NotImplementedError):
        vp8.encoder()


def picture(width: int = 96, height: int = 64) -> np.ndarray:
    """Left half red, right half blue, with a green bar: easy to check after coding."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (220, 30, 30)
    image[:, width // 2:] = (30, 30, 220)
    image[height // 2 - 4: height // 2 + 4] = (30, 200, 30)
    return image


@pytest.mark.parametrize("name", ["VP8", "H264"])
def test_a_synthetic_frame_survives_encode_and_decode(name: str) -> None:
    codec = find(name, 90000)
    assert isinstance(codec, VideoCodec)
    missing = codec.available()
    if missing is not None:
        pytest.skip(f"this PyAV build cannot code {name}: {missing}")
    encoder, decoder = codec.video_encoder(96, 64), codec.video_decoder()
    source = picture()
    decoded = []
    for index in range(4):
        frame = av.VideoFrame.from_ndarray(source, format="rgb24")
        for payload in encoder.encode(frame, keyframe=index == 0):
            decoded += decoder.decode(payload)
    assert len(decoded) == 4  # zero-latency settings: one picture out per picture in
    assert (decoded[0].width, decoded[0].height) == (96, 64)
    rgb = decoded[-1].to_ndarray(format="rgb24").astype(int)
    error = np.abs(rgb - source.astype(int))
    assert error[8:24, 8:40].mean() < 12 and error[40:56, 56:88].mean() < 12


def test_the_encoder_rescales_other_picture_sizes() -> None:
    codec = find("VP8", 90000)
    assert isinstance(codec, VideoCodec)
    encoder, decoder = codec.video_encoder(64, 48), codec.video_decoder()
    frame = av.VideoFrame.from_ndarray(picture(160, 120), format="rgb24")
    frames = [f for payload in encoder.encode(frame, keyframe=True)
              for f in decoder.decode(payload)]
    assert (frames[0].width, frames[0].height) == (64, 48)


def test_bad_video_input() -> None:
    codec = find("H264", 90000)
    assert isinstance(codec, VideoCodec)
    with pytest.raises(CodecError):
        codec.video_encoder(63, 48)
    decoder = codec.video_decoder()
    with pytest.raises(CodecError):
        decoder.decode(b"")
    try:
        pictures = decoder.decode(b"\x00\x00\x00\x01\x67garbage")
    except CodecError:
        pass
    else:
        assert pictures == []
