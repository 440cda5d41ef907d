"""Video payload formats VP8 (RFC 7741) and H.264 (RFC 6184), with thin PyAV coders.

Both use the 90 kHz RTP clock (RFC 7741 §6.1, RFC 6184 §8.2.1). H.264 is offered as
Constrained Baseline level 3.1 in non-interleaved mode (``profile-level-id=42e01f;
packetization-mode=1``), which every WebRTC endpoint and desk phone with video accepts.

The registry holds them as :class:`VideoCodec`, a spec-only codec (no PCM) flagged
``kind="video"`` so SDP code offers them on ``m=video`` lines. For recording, transcoding or
snapshots, :class:`VideoEncoder` and :class:`VideoDecoder` wrap a libavcodec context: they work
on whole encoded frames; splitting frames into RTP packets and reassembling them (RFC 7741 §4,
RFC 6184 §5) is the RTP layer's job. H.264 frames are Annex B byte streams (start codes).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import av
import av.error
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType, VideoFrame

from pycc.codecs.errors import CodecError
from pycc.codecs.registry import CodecSpec, SpecOnlyCodec

__all__ = ["H264", "VP8", "VideoCodec", "VideoDecoder", "VideoEncoder", "h264", "vp8"]

VIDEO_CLOCK = 90000

VP8 = CodecSpec("VP8", VIDEO_CLOCK, frame_ms=33, kind="video", bitrate=500_000)
H264 = CodecSpec(
    "H264", VIDEO_CLOCK, frame_ms=33, kind="video", bitrate=500_000,
    fmtp="profile-level-id=42e01f;packetization-mode=1",
)

#: libavcodec encoder name and low-latency options per format.
_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "vp8": ("libvpx", {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8",
                       "error-resilient": "1"}),
    "h264": ("libx264", {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline",
                         "level": "3.1"}),
}
_DECODERS = {"vp8": "vp8", "h264": "h264"}


def _open(name: str, mode: str) -> VideoCodecContext:
    try:
        context = av.CodecContext.create(name, "w" if mode == "w" else "r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise CodecError(name, f"not in this PyAV build: {exc}") from exc
    if not isinstance(context, VideoCodecContext):  # pragma: no cover - PyAV guarantees it
        raise CodecError(name, "PyAV returned a non-video context")
    return context


class VideoEncoder:
    """Encodes ``av.VideoFrame`` pictures to one encoded frame each, without lookahead."""

    __slots__ = ("_context", "_pts", "frame_rate", "height", "spec", "width")

    def __init__(
        self, spec: CodecSpec, width: int, height: int, *, bitrate: int | None = None,
        frame_rate: int = 30, keyframe_interval: int = 100,
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise CodecError(spec.name, f"picture size {width}x{height}: must be even, > 0")
        name, options = _ENCODERS[spec.name.casefold()]
        context = _open(name, "w")
        context.width = width
        context.height = height
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, VIDEO_CLOCK)
        context.framerate = Fraction(frame_rate, 1)
        context.bit_rate = bitrate or spec.bitrate
        context.gop_size = keyframe_interval
        context.max_b_frames = 0
        context.options = dict(options)
        context.open()
        self._context = context
        self._pts = 0
        self.spec = spec
        self.width = width
        self.height = height
        self.frame_rate = frame_rate

    def encode(self, frame: VideoFrame, *, keyframe: bool = False) -> list[bytes]:
        """The encoded frame(s) for one picture (rescaled to the encoder's size if needed);
        ``keyframe`` forces an intra frame, e.g. after an RTCP PLI or FIR. The encoder sets
        the frame's ``pts`` and ``pict_type``."""
        if (frame.width, frame.height, frame.format.name) != (self.width, self.height,
                                                               "yuv420p"):
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts = self._pts
        frame.time_base = Fraction(1, VIDEO_CLOCK)
        self._pts += VIDEO_CLOCK // self.frame_rate
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        try:
            return [bytes(packet) for packet in self._context.encode(frame)]
        except av.error.FFmpegError as exc:
            raise CodecError(self.spec.name, f"encoding failed: {exc}") from exc


class VideoDecoder:
    """Decodes whole encoded frames (depacketised payloads) to ``av.VideoFrame`` pictures."""

    __slots__ = ("_context", "spec")

    def __init__(self, spec: CodecSpec) -> None:
        self.spec = spec
        self._context = _open(_DECODERS[spec.name.casefold()], "r")
        self._context.open()

    def decode(self, payload: bytes) -> list[VideoFrame]:
        """The pictures in one encoded frame; :class:`CodecError` if it is corrupt."""
        if not payload:
            raise CodecError(self.spec.name, "empty frame")
        try:
            return self._context.decode(av.Packet(payload))
        except av.error.FFmpegError as exc:
            raise CodecError(self.spec.name, f"undecodable frame: {exc}") from exc


class VideoCodec(SpecOnlyCodec):
    """A video format: negotiated and relayed; coded to pictures only on request."""

    def video_encoder(
        self, width: int, height: int, *, bitrate: int | None = None, frame_rate: int = 30,
    ) -> VideoEncoder:
        return VideoEncoder(self.spec, width, height, bitrate=bitrate, frame_rate=frame_rate)

    def video_decoder(self) -> VideoDecoder:
        return VideoDecoder(self.spec)

    def available(self) -> str | None:
        """Why this PyAV build cannot code the format (None if it can)."""
        encoder, _ = _ENCODERS[self.spec.name.casefold()]
        wanted: tuple[tuple[str, Literal["r", "w"]], ...] = (
            (encoder, "w"), (_DECODERS[self.spec.name.casefold()], "r"),
        )
        for name, mode in wanted:
            try:
                av.codec.Codec(name, mode)
            except (av.error.FFmpegError, ValueError) as exc:
                return f"{name} ({'encoder' if mode == 'w' else 'decoder'}) missing: {exc}"
        return None


def vp8() -> VideoCodec:
    return VideoCodec(VP8)


def h264() -> VideoCodec:
    return VideoCodec(H264)
