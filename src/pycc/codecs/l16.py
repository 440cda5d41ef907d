"""L16: uncompressed 16-bit linear PCM, RFC 3551 §4.5.11.

Samples are signed 16-bit in network byte order (big-endian), channels interleaved; any clock
rate. Static payload types exist only for 44.1 kHz (10 stereo, 11 mono, RFC 3551 §6); other
rates use dynamic ones. Lost packets are concealed by pitch repetition.
"""

from __future__ import annotations

import numpy as np

from pycc.codecs.errors import CodecError
from pycc.codecs.plc import PitchRepetition
from pycc.codecs.registry import Codec, CodecSpec, Decoder, Encoder
from pycc.dsp.pcm import Pcm, require_pcm

__all__ = ["L16Codec", "L16Decoder", "L16Encoder"]

_NETWORK_INT16 = np.dtype(">i2")


def _static_type(rate: int, channels: int) -> int | None:
    if rate == 44100:
        return {1: 11, 2: 10}.get(channels)
    return None


class L16Encoder(Encoder):
    __slots__ = ("_samples", "_spec")

    def __init__(self, spec: CodecSpec, samples: int) -> None:
        self._spec = spec
        self._samples = samples

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    @property
    def samples_per_frame(self) -> int:
        return self._samples

    def encode(self, pcm: Pcm) -> bytes:
        return require_pcm(pcm).astype(_NETWORK_INT16).tobytes()


class L16Decoder(Decoder):
    __slots__ = ("_plc", "_spec")

    def __init__(self, spec: CodecSpec) -> None:
        self._spec = spec
        self._plc = PitchRepetition(spec.sample_rate, spec.channels)

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def decode(self, payload: bytes) -> Pcm:
        width = 2 * self._spec.channels
        if len(payload) % width:
            raise CodecError("L16", f"payload of {len(payload)} bytes is not a whole number "
                                    f"of {width}-byte samples")
        pcm = np.frombuffer(payload, dtype=_NETWORK_INT16).astype(np.int16)
        if self._spec.channels > 1:
            pcm = pcm.reshape(-1, self._spec.channels)
        return self._plc.observe(pcm)

    def conceal(self, samples: int) -> Pcm:
        return self._plc.conceal(samples)


class L16Codec(Codec):
    """L16 at ``sample_rate`` with ``channels`` channels (stereo PCM is shape ``(n, 2)``)."""

    __slots__ = ("_spec",)

    def __init__(self, sample_rate: int, channels: int = 1) -> None:
        self._spec = CodecSpec(
            "L16",
            sample_rate,
            channels,
            static_payload_type=_static_type(sample_rate, channels),
            bitrate=16 * sample_rate * channels,
            pcm_channels=channels,
        )

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def encoder(self, frame_ms: int | None = None) -> L16Encoder:
        return L16Encoder(self._spec, self._spec.samples_for(frame_ms or self._spec.frame_ms))

    def decoder(self) -> L16Decoder:
        return L16Decoder(self._spec)
