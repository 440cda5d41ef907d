"""Opus (RFC 6716) over RTP (RFC 7587) through ``opuslib`` and the system libopus.

RFC 7587 §4 fixes the SDP identity: ``opus/48000/2`` whatever the actual audio bandwidth and
channel count, with the RTP clock always 48 kHz. pycc encodes and decodes 48 kHz PCM, mono by
default (``pcm_channels``), in 20 ms frames. The encoder runs in VoIP mode with in-band forward
error correction on (``useinbandfec=1``, RFC 7587 §3.3): each packet carries a low-bitrate copy
of the previous frame, which :meth:`OpusDecoder.decode_fec` extracts when that frame was lost.
Bitrate, DTX (RFC 7587 §3.1.3) and the expected loss percentage (which sizes the FEC) are
settable while the stream runs; :meth:`OpusCodec.from_fmtp` applies the peer's ``a=fmtp``.
Lost packets without FEC use libopus's own concealment.

opuslib is used for the encoder and decoder states and their controls; the per-packet calls go
straight to ``opus_encode``/``opus_decode`` with numpy buffers, avoiding opuslib's per-sample
copies. If libopus is missing, importing this module still works: :data:`UNAVAILABLE` says why
and the registry reports it from ``find``.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
from typing import Any

import numpy as np

from pycc.codecs.errors import CodecError
from pycc.codecs.registry import Codec, CodecSpec, Decoder, Encoder, default_registry
from pycc.dsp.pcm import Pcm, require_pcm
from pycc.sdp.attributes import fmtp_parameters

__all__ = ["OPUS", "UNAVAILABLE", "OpusCodec", "OpusDecoder", "OpusEncoder", "decode_function",
           "encode_function", "opus_complexity", "set_opus_complexity"]

#: Why Opus cannot be used on this host, or None.
UNAVAILABLE: str | None = None
try:
    import opuslib
    import opuslib.api.ctl as opus_ctl
    import opuslib.api.decoder as opus_decoder
    import opuslib.api.encoder as opus_encoder
except Exception as exc:  # opuslib raises a bare Exception when libopus is not installed
    UNAVAILABLE = f"Opus needs the system library libopus (Debian package libopus0): {exc}"

_RATE = 48000
_MAX_PACKET = 1275  # RFC 6716 §3.2.1: the largest single-frame packet
_FRAME_MS = (5, 10, 20, 40, 60)
_INT16_P = ctypes.POINTER(ctypes.c_int16)

OPUS = CodecSpec(
    "opus", _RATE, 2, sample_rate=_RATE, frame_ms=20, fmtp="minptime=10;useinbandfec=1",
    bitrate=32000,
)


def _check(result: int, what: str) -> int:
    if result < 0:
        raise CodecError("opus", f"{what} failed: {opuslib.OpusError(result)}")
    return result


class OpusEncoder(Encoder):
    """One stream's Opus encoder; ``bitrate``, ``dtx`` and ``packet_loss_percentage`` may be
    changed between packets."""

    __slots__ = ("_channels", "_encoder", "_in", "_in_pointer", "_loss", "_out", "_samples",
                 "_spec")

    def __init__(
        self, spec: CodecSpec, frame_ms: int, *, bitrate: int, fec: bool, dtx: bool,
        packet_loss_percentage: int, complexity: int,
    ) -> None:
        if frame_ms not in _FRAME_MS:
            raise CodecError("opus", f"frame of {frame_ms} ms: Opus frames are {_FRAME_MS} ms")
        self._spec = spec
        self._channels = spec.pcm_channels
        self._samples = spec.sample_rate * frame_ms // 1000
        self._encoder: Any = opuslib.Encoder(spec.sample_rate, self._channels,
                                             opuslib.APPLICATION_VOIP)
        self._out = ctypes.create_string_buffer(_MAX_PACKET)
        # The frame is copied into a buffer whose C pointer is made once: converting each
        # frame's array to a ctypes pointer cost more than a tenth of a narrowband encode.
        self._in = np.zeros(self._samples * self._channels, dtype=np.int16)
        self._in_pointer = self._in.ctypes.data_as(_INT16_P)
        self._loss = packet_loss_percentage
        self.bitrate = bitrate
        self.complexity = complexity
        self.fec = fec
        self.dtx = dtx
        self.packet_loss_percentage = packet_loss_percentage

    @property
    def state(self) -> int:
        """The libopus encoder's address (C code may encode with it while this object
        lives)."""
        return int(ctypes.cast(self._encoder.encoder_state, ctypes.c_void_p).value or 0)

    def _set(self, request: Any, value: int) -> None:
        # opuslib 3.0.1's own setters for FEC and DTX do not pass the value; go to the ctl.
        opus_encoder.encoder_ctl(self._encoder.encoder_state, request, value)

    def _get(self, request: Any) -> int:
        return int(opus_encoder.encoder_ctl(self._encoder.encoder_state, request))

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    @property
    def samples_per_frame(self) -> int:
        return self._samples

    @property
    def bitrate(self) -> int:
        return self._get(opus_ctl.get_bitrate)

    @bitrate.setter
    def bitrate(self, value: int) -> None:
        if not 6000 <= value <= 510000:
            raise CodecError("opus", f"bitrate {value} outside 6000-510000 bit/s")
        self._set(opus_ctl.set_bitrate, value)

    @property
    def complexity(self) -> int:
        return self._get(opus_ctl.get_complexity)

    @complexity.setter
    def complexity(self, value: int) -> None:
        self._set(opus_ctl.set_complexity, max(0, min(10, value)))

    @property
    def fec(self) -> bool:
        return bool(self._get(opus_ctl.get_inband_fec))

    @fec.setter
    def fec(self, value: bool) -> None:
        self._set(opus_ctl.set_inband_fec, int(value))

    @property
    def dtx(self) -> bool:
        return bool(self._get(opus_ctl.get_dtx))

    @dtx.setter
    def dtx(self, value: bool) -> None:
        self._set(opus_ctl.set_dtx, int(value))

    @property
    def packet_loss_percentage(self) -> int:
        return self._get(opus_ctl.get_packet_loss_perc)

    @packet_loss_percentage.setter
    def packet_loss_percentage(self, value: int) -> None:
        # The hint makes the encoder spend bits on FEC; RTCP loss reports update it
        # (`expect_loss`). With 0 the encoder sends no FEC and costs about a sixth less.
        self._loss = max(0, min(100, value))
        self._set(opus_ctl.set_packet_loss_perc, self._loss)

    def expect_loss(self, percent: int) -> None:
        """The receiver's reported loss becomes the hint that sizes the in-band FEC (RFC 7587
        §3.3), set only when it changes."""
        percent = max(0, min(100, percent))
        if percent != self._loss:
            self.packet_loss_percentage = percent

    def encode(self, pcm: Pcm) -> bytes:
        """One packet. With DTX on, a payload of at most 2 bytes means "nothing to send"."""
        require_pcm(pcm)
        if pcm.size != self._in.size:
            raise CodecError("opus", f"encoder takes {self._samples} samples x "
                                     f"{self._channels} channels, got shape {pcm.shape}")
        self._in[:] = pcm.reshape(-1)
        size = _check(
            opus_encoder.libopus_encode(
                self._encoder.encoder_state, self._in_pointer, self._samples,
                self._out, _MAX_PACKET,
            ),
            "encode",
        )
        return ctypes.string_at(self._out, size)


class OpusDecoder(Decoder):
    supports_fec = True

    __slots__ = ("_buffer", "_channels", "_decoder", "_granule", "_max_samples", "_pointer",
                 "_spec")

    def __init__(self, spec: CodecSpec) -> None:
        self._spec = spec
        self._channels = spec.pcm_channels
        self._decoder: Any = opuslib.Decoder(spec.sample_rate, self._channels)
        # The longest packet (120 ms) and the 2.5 ms concealment unit at this output rate.
        self._max_samples = spec.sample_rate * 120 // 1000
        self._granule = spec.sample_rate * 25 // 10000
        self._buffer = np.zeros(self._max_samples * self._channels, dtype=np.int16)
        self._pointer = self._buffer.ctypes.data_as(_INT16_P)

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    @property
    def state(self) -> int:
        """The libopus decoder's address (C code may decode with it while this object
        lives)."""
        return int(ctypes.cast(self._decoder.decoder_state, ctypes.c_void_p).value or 0)

    def _run(self, data: bytes | None, samples: int, fec: bool, what: str) -> Pcm:
        length = len(data) if data else 0
        got = _check(
            opus_decoder.libopus_decode(
                self._decoder.decoder_state, data, length, self._pointer, samples, int(fec)
            ),
            what,
        )
        out = self._buffer[: got * self._channels].copy()
        return out if self._channels == 1 else out.reshape(-1, self._channels)

    def decode(self, payload: bytes) -> Pcm:
        if not payload:
            raise CodecError("opus", "empty payload")
        return self._run(payload, self._max_samples, False, "decode")

    def conceal(self, samples: int) -> Pcm:
        granules = -(-samples // self._granule)
        return self._run(None, granules * self._granule, False, "concealment")[:samples]

    def decode_fec(self, next_payload: bytes, samples: int) -> Pcm:
        """The lost frame rebuilt from the FEC data in the packet after it (libopus conceals
        if that packet has none). Decode ``next_payload`` normally afterwards."""
        if not next_payload:
            return self.conceal(samples)
        granules = -(-samples // self._granule)
        return self._run(next_payload, granules * self._granule, True, "FEC decode")[:samples]


def decode_function() -> Any:
    """libopus's ``opus_decode``, as ctypes binds it (for C code that decodes itself)."""
    return opus_decoder.libopus_decode


def encode_function() -> Any:
    """libopus's ``opus_encode``, as ctypes binds it."""
    return opus_encoder.libopus_encode


class OpusCodec(Codec):
    """Opus with the encoder settings every new stream starts from."""

    __slots__ = ("_spec", "bitrate", "complexity", "dtx", "fec", "packet_loss_percentage")

    def __init__(
        self,
        *,
        bitrate: int = 32000,
        fec: bool = True,
        dtx: bool = False,
        packet_loss_percentage: int = 10,
        complexity: int = 5,
        pcm_channels: int = 1,
    ) -> None:
        fmtp = "minptime=10;useinbandfec=1" + (";usedtx=1" if dtx else "")
        self._spec = CodecSpec(
            "opus", _RATE, 2, sample_rate=_RATE, frame_ms=20, fmtp=fmtp, bitrate=bitrate,
            pcm_channels=pcm_channels,
        )
        self.bitrate = bitrate
        self.fec = fec
        self.dtx = dtx
        self.packet_loss_percentage = packet_loss_percentage
        self.complexity = complexity

    @classmethod
    def from_fmtp(cls, fmtp: str, **defaults: Any) -> OpusCodec:
        """Settings for sending to a peer that declared ``fmtp`` (RFC 7587 §6.1):
        ``maxaveragebitrate``, ``useinbandfec`` and ``usedtx``. Bad values raise
        :class:`CodecError`."""
        params = fmtp_parameters(fmtp)
        options: dict[str, Any] = dict(defaults)
        if "maxaveragebitrate" in params:
            text = params["maxaveragebitrate"]
            if not (text.isascii() and text.isdigit()):
                raise CodecError("opus", f"maxaveragebitrate {text!r} is not a number")
            options["bitrate"] = max(6000, min(510000, int(text)))
        for name, option in (("useinbandfec", "fec"), ("usedtx", "dtx")):
            if name in params:
                if params[name] not in ("0", "1"):
                    raise CodecError("opus", f"{name} must be 0 or 1, not {params[name]!r}")
                options[option] = params[name] == "1"
        return cls(**options)

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def encoder(self, frame_ms: int | None = None) -> OpusEncoder:
        return OpusEncoder(
            self._spec, frame_ms or self._spec.frame_ms, bitrate=self.bitrate, fec=self.fec,
            dtx=self.dtx, packet_loss_percentage=self.packet_loss_percentage,
            complexity=self.complexity,
        )

    def decoder(self) -> OpusDecoder:
        return OpusDecoder(self._spec)

    def at_rate(self, sample_rate: int) -> OpusCodec:
        """The same codec exchanging PCM at ``sample_rate`` (8, 12, 16, 24 or 48 kHz): libopus
        encodes from and decodes to any of them itself, cheaper than resampling to 48 kHz.
        The RTP clock stays 48 kHz (RFC 7587 §4.1)."""
        if sample_rate not in (8000, 12000, 16000, 24000, 48000) or (
                sample_rate == self._spec.sample_rate):
            return self
        other = copy.copy(self)
        other._spec = dataclasses.replace(self._spec, sample_rate=sample_rate)
        return other


def set_opus_complexity(value: object) -> None:
    """Make the process's Opus codec (the default registry's) encode at ``value``, 0 to 10,
    from the next encoder on; raises ValueError for anything else. Does nothing where
    libopus is missing."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(f"expected a whole number from 0 to 10, not {value!r}")
    try:
        codec = default_registry().find(OPUS.name, OPUS.clock_rate, OPUS.channels)
    except LookupError:
        return
    if isinstance(codec, OpusCodec):
        codec.complexity = value


def opus_complexity() -> int | None:
    """The complexity the process's Opus codec encodes at; None where libopus is missing."""
    try:
        codec = default_registry().find(OPUS.name, OPUS.clock_rate, OPUS.channels)
    except LookupError:
        return None
    return codec.complexity if isinstance(codec, OpusCodec) else None
