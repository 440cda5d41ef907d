"""G.711 µ-law (PCMU) and A-law (PCMA), RFC 3551 §4.5.14, by table lookup.

The tables are built once with numpy from the ITU-T G.191 Software Tools Library reference
algorithm (``g711.c``), so pycc is bit-exact with the G.191 conformance sweep: a 65 536-entry
encode table indexed by the 16-bit sample and a 256-entry decode table per law. Two details of
the reference matter: the encoders take the magnitude of a negative sample as its one's
complement (``~x``, not ``-x``), and decoding lands in the middle of each quantisation interval.

Direct PCMU<->PCMA transcode tables (decode with one law, encode with the other) let the media
layer bridge a µ-law and an A-law leg with ``bytes.translate`` and no PCM in between. Frame
sizes are free: one byte per sample, any number of samples per packet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pycc.codecs.plc import PitchRepetition
from pycc.codecs.registry import Codec, CodecSpec, Decoder, Encoder
from pycc.dsp.pcm import Pcm, require_pcm

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "ALAW_TO_ULAW",
    "PCMA",
    "PCMU",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "ULAW_TO_ALAW",
    "G711Codec",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]

_EVERY_SAMPLE = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)
_EVERY_CODE = np.arange(256, dtype=np.int32)


def _bit_length(values: npt.NDArray[np.int32]) -> npt.NDArray[np.intp]:
    """``int.bit_length`` of small non-negative integers (below 2**15)."""
    return np.searchsorted(1 << np.arange(15), values, side="right")


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    x = _EVERY_SAMPLE.astype(np.int32)
    # G.191: magnitude of a negative sample is ~x (one's complement), biased by 33.
    magnitude = np.minimum(np.where(x < 0, ~x, x) >> 2, 0x1FFF - 33) + 33
    segment = 1 + _bit_length(magnitude >> 6)
    high = 8 - segment
    low = 0x0F - ((magnitude >> segment) & 0x0F)
    code = (high << 4) | low
    code = np.where(x >= 0, code | 0x80, code)
    table: npt.NDArray[np.uint8] = code.astype(np.uint8)
    return table


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = _EVERY_CODE
    inverted = ~code
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return np.where(code < 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    x = _EVERY_SAMPLE.astype(np.int32)
    ix = np.where(x < 0, ~x, x) >> 4
    # Segment 0 is linear; segment e >= 1 keeps the 4 bits below the leading one.
    exponent = np.maximum(_bit_length(ix) - 4, 0)
    mantissa = np.where(exponent > 0, (ix >> np.maximum(exponent - 1, 0)) & 0x0F, ix)
    code = (exponent << 4) | mantissa
    code = np.where(x >= 0, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = _EVERY_CODE
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mantissa = ix & 0x0F
    mantissa = np.where(exponent > 0, mantissa + 16, mantissa)
    magnitude = (mantissa << 4) + 8
    magnitude = np.where(exponent > 1, magnitude << np.maximum(exponent - 1, 0), magnitude)
    return np.where(code > 127, magnitude, -magnitude).astype(np.int16)


#: Code for every 16-bit sample, indexed by the sample's bit pattern (``pcm.view(uint16)``).
ULAW_ENCODE = _ulaw_encode_table()
ALAW_ENCODE = _alaw_encode_table()
#: Linear value of every code.
ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
#: ``bytes.translate`` tables between the two laws.
ULAW_TO_ALAW = ALAW_ENCODE[ULAW_DECODE.view(np.uint16)].tobytes()
ALAW_TO_ULAW = ULAW_ENCODE[ALAW_DECODE.view(np.uint16)].tobytes()
for _table in (ULAW_ENCODE, ALAW_ENCODE, ULAW_DECODE, ALAW_DECODE):
    _table.flags.writeable = False


def ulaw_encode(pcm: Pcm) -> bytes:
    return ULAW_ENCODE[require_pcm(pcm).view(np.uint16)].tobytes()


def alaw_encode(pcm: Pcm) -> bytes:
    return ALAW_ENCODE[require_pcm(pcm).view(np.uint16)].tobytes()


def ulaw_decode(payload: bytes) -> Pcm:
    return ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def alaw_decode(payload: bytes) -> Pcm:
    return ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def ulaw_to_alaw(payload: bytes) -> bytes:
    """PCMU payload to PCMA without going through PCM."""
    return payload.translate(ULAW_TO_ALAW)


def alaw_to_ulaw(payload: bytes) -> bytes:
    """PCMA payload to PCMU without going through PCM."""
    return payload.translate(ALAW_TO_ULAW)


PCMU = CodecSpec("PCMU", 8000, static_payload_type=0, bitrate=64000)
PCMA = CodecSpec("PCMA", 8000, static_payload_type=8, bitrate=64000)


class G711Encoder(Encoder):
    __slots__ = ("_samples", "_spec", "_table")

    def __init__(self, spec: CodecSpec, table: npt.NDArray[np.uint8], samples: int) -> None:
        self._spec = spec
        self._table = table
        self._samples = samples

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    @property
    def samples_per_frame(self) -> int:
        return self._samples

    @property
    def table(self) -> npt.NDArray[np.uint8]:
        """The code of every sample, by its bit pattern (`ULAW_ENCODE` or `ALAW_ENCODE`)."""
        return self._table

    def encode(self, pcm: Pcm) -> bytes:
        return self._table[require_pcm(pcm).view(np.uint16)].tobytes()


class G711Decoder(Decoder):
    __slots__ = ("_plc", "_spec", "_table")

    def __init__(self, spec: CodecSpec, table: npt.NDArray[np.int16]) -> None:
        self._spec = spec
        self._table = table
        self._plc = PitchRepetition(spec.sample_rate)

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    @property
    def table(self) -> npt.NDArray[np.int16]:
        """The linear value of every code (`ULAW_DECODE` or `ALAW_DECODE`)."""
        return self._table

    def decode(self, payload: bytes) -> Pcm:
        return self._plc.observe(self._table[np.frombuffer(payload, dtype=np.uint8)])

    def conceal(self, samples: int) -> Pcm:
        return self._plc.conceal(samples)


class G711Codec(Codec):
    """PCMU or PCMA; ``G711Codec.ulaw()`` / ``G711Codec.alaw()``."""

    __slots__ = ("_decode", "_encode", "_spec")

    def __init__(
        self, spec: CodecSpec, encode: npt.NDArray[np.uint8], decode: npt.NDArray[np.int16]
    ) -> None:
        self._spec = spec
        self._encode = encode
        self._decode = decode

    @classmethod
    def ulaw(cls) -> G711Codec:
        return cls(PCMU, ULAW_ENCODE, ULAW_DECODE)

    @classmethod
    def alaw(cls) -> G711Codec:
        return cls(PCMA, ALAW_ENCODE, ALAW_DECODE)

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def encoder(self, frame_ms: int | None = None) -> G711Encoder:
        samples = self._spec.samples_for(frame_ms or self._spec.frame_ms)
        return G711Encoder(self._spec, self._encode, samples)

    def decoder(self) -> G711Decoder:
        return G711Decoder(self._spec, self._decode)
