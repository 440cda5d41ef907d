"""A transcoding direction described for the relay worker's C code (``transcode_core.c``).

`direction` reads a worker's `pycc.media.bridge._Transcoder` (rebuilt from the switch's plan)
into a `Direction`, ``transcode_core.c``'s ``pt_conf``: the codec kinds with the addresses of
the direction's own codec objects (the G.711 tables, the bcg729 and libopus states, which
must live as long as the C code uses them), frame sizes, clocks and payload types, and the
stream's state so far. It describes the pairs among PCMU, PCMA, G.729 and Opus whose audio
meets at 8000 Hz in one channel, without tone detection; for any other it returns None and
the worker's Python transcodes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Final

__all__ = ["Direction", "direction"]

#: transcode_core.c's codec kinds, and its limits.
_G711: Final = 1
_G729: Final = 2
_OPUS: Final = 3
_MAX_PENDING: Final = 960
_EVENT_TIMES: Final = 9


class Direction(ctypes.Structure):
    """transcode_core.c's ``pt_conf``: a transcoding direction and its stream's state."""

    _fields_ = [
        ("decoder", ctypes.c_int32), ("encoder", ctypes.c_int32),
        ("frame", ctypes.c_int32), ("src_frame", ctypes.c_int32),
        ("step", ctypes.c_int32), ("src_step", ctypes.c_int32),
        ("src_clock", ctypes.c_int32), ("dst_clock", ctypes.c_int32),
        ("src_event_clock", ctypes.c_int32), ("dst_event_clock", ctypes.c_int32),
        ("dst_pt", ctypes.c_int32), ("dst_event", ctypes.c_int32),
        ("ssrc", ctypes.c_uint32), ("seq", ctypes.c_int32), ("ts", ctypes.c_uint32),
        ("has_in_ssrc", ctypes.c_int32), ("in_ssrc", ctypes.c_uint32),
        ("has_in_seq", ctypes.c_int32), ("in_seq", ctypes.c_int32),
        ("in_base", ctypes.c_uint32), ("out_base", ctypes.c_uint32),
        ("marker", ctypes.c_int32), ("pending_len", ctypes.c_int32),
        ("events_len", ctypes.c_int32),
        ("event_in", ctypes.c_uint32 * _EVENT_TIMES),
        ("event_out", ctypes.c_uint32 * _EVENT_TIMES),
        ("concealed", ctypes.c_uint64), ("codec_errors", ctypes.c_uint64),
        ("src_pts", ctypes.c_uint8 * 32), ("src_events", ctypes.c_uint8 * 32),
        ("g711_decode", ctypes.c_void_p), ("g711_encode", ctypes.c_void_p),
        ("g729_decoder", ctypes.c_void_p), ("g729_encoder", ctypes.c_void_p),
        ("g729_decode", ctypes.c_void_p), ("g729_encode", ctypes.c_void_p),
        ("opus_decoder", ctypes.c_void_p), ("opus_encoder", ctypes.c_void_p),
        ("opus_decode", ctypes.c_void_p), ("opus_encode", ctypes.c_void_p),
        ("pending", ctypes.c_int16 * _MAX_PENDING),
    ]


def _set_bits(bits: ctypes.Array[ctypes.c_uint8], types: Sequence[int | None]) -> None:
    for kind in types:
        if kind is not None:
            bits[kind >> 3] |= 1 << (kind & 7)


def direction(path: object) -> Direction | None:
    """``path`` (a side's transcoding direction) as transcode_core.c runs it, or None when
    it is one the C code does not do: another codec, PCM at another rate or in two channels,
    resampling, tone detection, a packet longer than 120 ms."""
    from pycc.media.bridge import _Transcoder

    if not isinstance(path, _Transcoder) or path.listens_for_tones:
        return None
    decoder, encoder, resamples = path.coders
    plan = path.plan()
    src, dst, state = plan.src, plan.dst, plan.state
    if resamples or src.codec is None or dst.codec is None:
        return None
    if {decoder.spec.sample_rate, encoder.spec.sample_rate} != {8000} \
            or decoder.spec.pcm_channels != 1 or encoder.spec.pcm_channels != 1:
        return None
    conf = Direction()
    if not (_decoder_in(conf, decoder) and _encoder_in(conf, encoder)):
        return None
    conf.frame = encoder.samples_per_frame
    conf.src_frame = decoder.spec.samples_per_frame
    conf.step = conf.frame * dst.codec.clock_rate // encoder.spec.sample_rate
    conf.src_step = decoder.spec.timestamp_step
    conf.src_clock, conf.dst_clock = src.codec.clock_rate, dst.codec.clock_rate
    conf.src_event_clock = src.event.clock_rate if src.event is not None else 8000
    conf.dst_event_clock = dst.event.clock_rate if dst.event is not None else 8000
    pending = state["pending"]
    event_ts: dict[int, int] = state["event_ts"]
    clocks = {conf.src_clock, conf.dst_clock, conf.src_event_clock, conf.dst_event_clock}
    if not (0 < conf.frame <= _MAX_PENDING and 0 < conf.src_frame <= _MAX_PENDING
            and clocks <= {8000, 48000} and len(pending) < conf.frame
            and len(event_ts) <= _EVENT_TIMES):
        return None
    conf.dst_pt = dst.codec.payload_type
    conf.dst_event = -1 if dst.event is None else dst.event.payload_type
    _set_bits(conf.src_pts, (src.codec.payload_type, src.local_codec_pt))
    _set_bits(conf.src_events, (src.event.payload_type if src.event is not None else None,
                                src.local_event_pt))
    conf.ssrc = plan.ssrc
    conf.seq, conf.ts = state["seq"], state["ts"]
    conf.has_in_ssrc = int(state["in_ssrc"] is not None)
    conf.in_ssrc = state["in_ssrc"] or 0
    conf.has_in_seq = int(state["in_seq"] is not None)
    conf.in_seq = state["in_seq"] or 0
    conf.in_base, conf.out_base = state["in_base"], state["out_base"]
    conf.marker = int(state["marker"])
    conf.pending_len = len(pending)
    for index, sample in enumerate(pending):
        conf.pending[index] = int(sample)
    conf.events_len = len(event_ts)
    for index, (came, went) in enumerate(event_ts.items()):
        conf.event_in[index], conf.event_out[index] = came, went
    return conf


def _address(function: object) -> int | None:
    """A ctypes-bound C function's address."""
    return ctypes.cast(function, ctypes.c_void_p).value  # type: ignore[arg-type]


def _decoder_in(conf: Direction, decoder: object) -> bool:
    """Describe ``decoder`` in ``conf``; False for one the C code cannot run."""
    from pycc.codecs import g711, g729, opus

    if isinstance(decoder, g711.G711Decoder):
        conf.decoder = _G711
        conf.g711_decode = decoder.table.ctypes.data
    elif isinstance(decoder, g729.G729Decoder):
        conf.decoder = _G729
        conf.g729_decoder = decoder.context
        conf.g729_decode = _address(g729.bcg729().decode)
    elif isinstance(decoder, opus.OpusDecoder):
        conf.decoder = _OPUS
        conf.opus_decoder = decoder.state
        conf.opus_decode = _address(opus.decode_function())
    else:
        return False
    return True


def _encoder_in(conf: Direction, encoder: object) -> bool:
    """Describe ``encoder`` in ``conf``; False for one the C code cannot run."""
    from pycc.codecs import g711, g729, opus

    if isinstance(encoder, g711.G711Encoder):
        conf.encoder = _G711
        conf.g711_encode = encoder.table.ctypes.data
    elif isinstance(encoder, g729.G729Encoder) and not encoder.vad:
        conf.encoder = _G729
        conf.g729_encoder = encoder.context
        conf.g729_encode = _address(g729.bcg729().encode)
    elif isinstance(encoder, opus.OpusEncoder):
        conf.encoder = _OPUS
        conf.opus_encoder = encoder.state
        conf.opus_encode = _address(opus.encode_function())
    else:
        return False
    return True
