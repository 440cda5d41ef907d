"""G.722 wideband audio (ITU-T G.722 at 64 kbit/s) through PyAV's libavcodec ``g722``.

RFC 3551 §4.5.2: the RTP clock is 8000 Hz although the codec samples at 16 kHz (an error in
RFC 1890 kept for compatibility), so a 20 ms packet advances the timestamp by 160 and carries
320 samples as 160 bytes. Each stream keeps its own libavcodec encoder and decoder context:
the sub-band ADPCM predictors are state. The encoder's frame size is set to the packet time so
that libavcodec returns one packet per call instead of buffering. libavcodec has no G.722
concealment; lost packets are concealed by pitch repetition on the decoded 16 kHz signal.
"""

from __future__ import annotations

import av
import av.error
import numpy as np
from av.audio.codeccontext import AudioCodecContext

from pycc.codecs.errors import CodecError
from pycc.codecs.plc import PitchRepetition
from pycc.codecs.registry import Codec, CodecSpec, Decoder, Encoder
from pycc.dsp.pcm import Pcm, require_pcm

__all__ = ["G722", "G722Codec", "G722Decoder", "G722Encoder"]

G722 = CodecSpec("G722", 8000, sample_rate=16000, static_payload_type=9, bitrate=64000)
_RATE = 16000


def _context(mode: str, samples: int | None = None) -> AudioCodecContext:
    context = av.CodecContext.create("g722", "w" if mode == "w" else "r")
    if not isinstance(context, AudioCodecContext):  # pragma: no cover - PyAV guarantees it
        raise TypeError("PyAV returned a non-audio context for g722")
    context.sample_rate = _RATE
    context.layout = "mono"
    context.format = "s16"
    if samples is not None:
        context.bit_rate = 64000
        context.options = {"frame_size": str(samples)}
    context.open()
    return context


class G722Encoder(Encoder):
    __slots__ = ("_context", "_samples")

    def __init__(self, samples: int) -> None:
        if samples <= 0 or samples % 2:
            raise CodecError("G722", f"frame of {samples} samples: must be even and positive")
        self._samples = samples
        self._context = _context("w", samples)

    @property
    def spec(self) -> CodecSpec:
        return G722

    @property
    def samples_per_frame(self) -> int:
        return self._samples

    def encode(self, pcm: Pcm) -> bytes:
        require_pcm(pcm)
        if len(pcm) != self._samples:
            raise CodecError("G722", f"encoder takes {self._samples} samples, got {len(pcm)}")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = _RATE
        return b"".join(bytes(packet) for packet in self._context.encode(frame))


class G722Decoder(Decoder):
    __slots__ = ("_context", "_plc")

    def __init__(self) -> None:
        self._context = _context("r")
        self._plc = PitchRepetition(_RATE)

    @property
    def spec(self) -> CodecSpec:
        return G722

    def decode(self, payload: bytes) -> Pcm:
        if not payload:
            # An empty packet would tell libavcodec the stream has ended.
            raise CodecError("G722", "empty payload")
        try:
            frames = self._context.decode(av.Packet(payload))
        except av.error.FFmpegError as exc:
            raise CodecError("G722", f"undecodable payload: {exc}") from exc
        parts = [frame.to_ndarray().reshape(-1) for frame in frames]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        pcm = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return self._plc.observe(pcm.astype(np.int16, copy=False))

    def conceal(self, samples: int) -> Pcm:
        return self._plc.conceal(samples)


class G722Codec(Codec):
    @property
    def spec(self) -> CodecSpec:
        return G722

    def encoder(self, frame_ms: int | None = None) -> G722Encoder:
        return G722Encoder(G722.samples_for(frame_ms or G722.frame_ms))

    def decoder(self) -> G722Decoder:
        return G722Decoder()
