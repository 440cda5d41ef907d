"""G.729 Annex A (8 kbit/s CS-ACELP) through the system library bcg729, bound with ctypes.

RFC 3551 §4.5.6: 10 ms frames of 80 samples become 10 bytes each; an RTP packet carries any
number of them in order, and may end with one 2-byte Annex B SID (comfort noise) frame. pycc
sends 20 ms packets (two frames) by default and accepts SID frames from peers with VAD on.

The binding targets the C API of bcg729 1.1 (``bcg729/encoder.h``, ``bcg729/decoder.h``,
Debian package libbcg729-0; ``codecs/g729/README.md`` at the repository root records it and the
script that makes the conformance vector): ``initBcg729EncoderChannel(uint8 enableVAD)``,
``bcg729Encoder(ctx, const int16[80], uint8[10], uint8 *length)``,
``initBcg729DecoderChannel(void)``, ``bcg729Decoder(ctx, const uint8[], uint8 length,
uint8 frameErasureFlag, uint8 SIDFrameFlag, uint8 rfc3389PayloadFlag, int16[80])`` and the two
``close`` functions, which a :func:`weakref.finalize` calls when a stream's object goes away.
Lost frames use bcg729's own concealment (``frameErasureFlag``).

The library is loaded on first use, never at import: without it the registry's ``find`` raises
:class:`~pycc.codecs.errors.UnknownCodec` naming the package to install.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from pycc.codecs.errors import CodecError
from pycc.codecs.registry import Codec, CodecSpec, Decoder, Encoder
from pycc.dsp.pcm import Pcm, require_pcm

__all__ = [
    "G729",
    "LIBRARY_NAMES",
    "G729Codec",
    "G729Decoder",
    "G729Encoder",
    "bcg729",
    "unavailable_reason",
]

G729 = CodecSpec("G729", 8000, static_payload_type=18, fmtp="annexb=no", bitrate=8000)

FRAME_SAMPLES = 80
FRAME_BYTES = 10
SID_BYTES = 2

#: Where the library is looked for, in order (Debian's soname first).
LIBRARY_NAMES: list[str] = ["libbcg729.so.0", "libbcg729.so", "libbcg729.dylib"]
_PACKAGE = "libbcg729-0"

_u8 = ctypes.c_uint8
_ptr = ctypes.c_void_p


@dataclass(frozen=True, slots=True)
class Bcg729:
    """The loaded library with typed entry points."""

    init_encoder: Any
    close_encoder: Any
    encode: Any
    init_decoder: Any
    close_decoder: Any
    decode: Any


def _bind(lib: ctypes.CDLL) -> Bcg729:
    def function(name: str, restype: Any, *argtypes: Any) -> Any:
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = list(argtypes)
        return fn

    return Bcg729(
        init_encoder=function("initBcg729EncoderChannel", _ptr, _u8),
        close_encoder=function("closeBcg729EncoderChannel", None, _ptr),
        encode=function("bcg729Encoder", None, _ptr, _ptr, _ptr, ctypes.POINTER(_u8)),
        init_decoder=function("initBcg729DecoderChannel", _ptr),
        close_decoder=function("closeBcg729DecoderChannel", None, _ptr),
        decode=function("bcg729Decoder", None, _ptr, _ptr, _u8, _u8, _u8, _u8, _ptr),
    )


_loaded: Bcg729 | None = None
_failure: str | None = None


def _load() -> Bcg729 | str:
    global _loaded, _failure
    if _loaded is not None:
        return _loaded
    if _failure is not None:
        return _failure
    names = list(LIBRARY_NAMES)
    found = ctypes.util.find_library("bcg729")
    if found:
        names.append(found)
    errors: list[str] = []
    for name in names:
        try:
            _loaded = _bind(ctypes.CDLL(name))
            return _loaded
        except (OSError, AttributeError) as exc:
            errors.append(str(exc))
    _failure = (
        f"G.729 needs the system library libbcg729.so.0 (install the Debian/Ubuntu package "
        f"{_PACKAGE}); tried {', '.join(names)}"
    )
    return _failure


def unavailable_reason() -> str | None:
    """Why G.729 cannot be used here, or None when bcg729 loads."""
    result = _load()
    return result if isinstance(result, str) else None


def bcg729() -> Bcg729:
    """The bound library; :class:`CodecError` if it is missing."""
    result = _load()
    if isinstance(result, str):
        raise CodecError("G729", result)
    return result


def _forget_library() -> None:
    """Drop the cached load result (tests that pretend the library is missing)."""
    global _loaded, _failure
    _loaded = None
    _failure = None


class G729Encoder(Encoder):
    """Encodes packets of ``samples_per_frame`` (a multiple of 80) samples.

    With ``vad`` the encoder may emit a 2-byte SID frame or nothing for a silent 10 ms frame;
    RFC 3551 allows a SID frame only at the end of a packet, so a SID that would be followed
    by a speech frame in the same packet is left out.
    """

    __slots__ = ("__weakref__", "_context", "_length", "_length_p", "_lib", "_out", "_pcm",
                 "_pcm_at", "_samples", "vad")

    def __init__(self, samples: int, *, vad: bool = False) -> None:
        if samples <= 0 or samples % FRAME_SAMPLES:
            raise CodecError("G729", f"frame of {samples} samples: must be a multiple of 80")
        self._lib = bcg729()
        self._samples = samples
        self.vad = vad
        self._context = self._lib.init_encoder(int(vad))
        if not self._context:
            raise CodecError("G729", "bcg729 could not create an encoder")
        weakref.finalize(self, self._lib.close_encoder, self._context)
        self._out = (ctypes.c_uint8 * FRAME_BYTES)()
        self._length = ctypes.c_uint8(0)
        self._length_p = ctypes.pointer(self._length)
        # The input is copied into one buffer whose address is taken once: numpy's
        # ``.ctypes`` costs more per packet than the copy.
        self._pcm = np.empty(samples, dtype=np.int16)
        self._pcm_at: int = self._pcm.ctypes.data

    @property
    def spec(self) -> CodecSpec:
        return G729

    @property
    def samples_per_frame(self) -> int:
        return self._samples

    @property
    def context(self) -> int:
        """The bcg729 encoder's address (C code may encode with it while this object lives)."""
        return int(self._context)

    def encode(self, pcm: Pcm) -> bytes:
        samples = require_pcm(pcm)
        if len(samples) != self._samples:
            raise CodecError("G729", f"encoder takes {self._samples} samples, got {len(pcm)}")
        self._pcm[:] = samples
        base = self._pcm_at
        frames: list[bytes] = []
        for offset in range(0, self._samples, FRAME_SAMPLES):
            self._lib.encode(self._context, base + 2 * offset, self._out, self._length_p)
            size = self._length.value
            if size:
                if frames and len(frames[-1]) == SID_BYTES:
                    frames.pop()
                frames.append(bytes(self._out)[:size])
        return b"".join(frames)


#: Frames a decoder's own output buffer holds (a 20 ms packet is two); longer payloads get a
#: buffer of their own.
_DECODE_FRAMES = 8


class G729Decoder(Decoder):
    __slots__ = ("__weakref__", "_context", "_lib", "_pcm", "_pcm_at", "_silent")

    def __init__(self) -> None:
        self._lib = bcg729()
        self._context = self._lib.init_decoder()
        if not self._context:
            raise CodecError("G729", "bcg729 could not create a decoder")
        weakref.finalize(self, self._lib.close_decoder, self._context)
        # Erased frames need a bitstream argument even though bcg729 ignores its content.
        self._silent = (ctypes.c_uint8 * FRAME_BYTES)()
        self._pcm = np.empty(FRAME_SAMPLES * _DECODE_FRAMES, dtype=np.int16)
        self._pcm_at: int = self._pcm.ctypes.data

    @property
    def context(self) -> int:
        """The bcg729 decoder's address (C code may decode with it while this object lives)."""
        return int(self._context)

    def _output(self, frames: int) -> tuple[Pcm, int]:
        """Where ``frames`` decoded frames go: this decoder's buffer when they fit."""
        if frames <= _DECODE_FRAMES:
            return self._pcm, self._pcm_at
        out = np.empty(FRAME_SAMPLES * frames, dtype=np.int16)
        return out, int(out.ctypes.data)

    @property
    def spec(self) -> CodecSpec:
        return G729

    def decode(self, payload: bytes) -> Pcm:
        """Every frame of ``payload``: N 10-byte frames, optionally then one 2-byte SID."""
        frames, tail = divmod(len(payload), FRAME_BYTES)
        if tail not in (0, SID_BYTES) or not payload:
            raise CodecError("G729", f"payload of {len(payload)} bytes is not N x 10 bytes "
                                     f"with an optional 2-byte SID frame")
        data = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
        base = ctypes.addressof(data)
        total = frames + (1 if tail else 0)
        out, target = self._output(total)
        for index in range(frames):
            self._lib.decode(self._context, base + FRAME_BYTES * index, FRAME_BYTES, 0, 0, 0,
                             target + 2 * FRAME_SAMPLES * index)
        if tail:
            self._lib.decode(self._context, base + FRAME_BYTES * frames, SID_BYTES, 0, 1, 0,
                             target + 2 * FRAME_SAMPLES * frames)
        return out[:FRAME_SAMPLES * total].copy()

    def conceal(self, samples: int) -> Pcm:
        frames = -(-samples // FRAME_SAMPLES)
        out, target = self._output(frames)
        for index in range(frames):
            self._lib.decode(self._context, ctypes.addressof(self._silent), FRAME_BYTES, 1, 0, 0,
                             target + 2 * FRAME_SAMPLES * index)
        return out[:samples].copy()


class G729Codec(Codec):
    """G.729A; ``vad`` turns on Annex B silence suppression in new encoders."""

    __slots__ = ("vad",)

    def __init__(self, *, vad: bool = False) -> None:
        self.vad = vad

    @property
    def spec(self) -> CodecSpec:
        return G729 if not self.vad else CodecSpec(
            "G729", 8000, static_payload_type=18, fmtp="annexb=yes", bitrate=8000
        )

    def encoder(self, frame_ms: int | None = None) -> G729Encoder:
        return G729Encoder(G729.samples_for(frame_ms or G729.frame_ms), vad=self.vad)

    def decoder(self) -> G729Decoder:
        return G729Decoder()
