"""What an audio file is, from its first and last bytes: WAV (RIFF/WAVE with a ``fmt `` and
a ``data`` chunk) or Ogg carrying Opus (RFC 7845) or Vorbis.

`probe` reads the header an uploaded prompt must have to be audio pycc plays, and the
format, channels, rate and length the catalog keeps for a recording. The length of a WAV
comes from its ``data`` chunk (what players trust; after a crash the recorder's header
describes the audio up to its last rewrite), the length of an Ogg stream from the granule
position of its last page (RFC 7845 section 4: less the Opus pre-skip, at 48 kHz). Bad
input raises `AudioError` saying what is wrong; nothing else escapes. Pure: bytes in,
facts out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = ["HEAD_BYTES", "TAIL_BYTES", "AudioError", "AudioInfo", "content_type", "probe"]

#: Bytes from the start of a file that `probe` needs at most.
HEAD_BYTES: Final = 65_536
#: Bytes from the end of an Ogg file that hold its last page (a page is < 65,308 bytes).
TAIL_BYTES: Final = 65_536

#: WAVE format tags pycc's player reads: PCM, IEEE float, A-law, mu-law, extensible.
_WAVE_TAGS: Final = {1: "pcm", 3: "float", 6: "alaw", 7: "mulaw", 0xFFFE: "extensible"}
_CONTENT_TYPES: Final = {"wav": "audio/wav", "ogg": "audio/ogg"}
_OGG_HEADER: Final = struct.Struct("<4sBBqIIIB")  # capture .. page segments (27 bytes)


class AudioError(ValueError):
    """Not an audio file pycc reads; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """``format`` "wav" or "ogg"; ``codec`` a WAVE format ("pcm", "alaw", ...) or "opus",
    "vorbis"; ``duration`` in seconds when the file says."""

    format: str
    codec: str
    channels: int
    sample_rate: int
    duration: float | None


def content_type(fmt: str) -> str:
    """The media type of a file of format ``fmt`` ("wav", "ogg")."""
    return _CONTENT_TYPES.get(fmt, "application/octet-stream")


def probe(head: bytes, tail: bytes = b"", size: int | None = None) -> AudioInfo:
    """What the file starting with ``head`` (ending with ``tail``, ``size`` bytes long) is."""
    if head[:4] == b"RIFF":
        return _probe_wav(head, size)
    if head[:4] == b"OggS":
        return _probe_ogg(head, tail)
    raise AudioError("neither a WAV (RIFF/WAVE) nor an Ogg file")


def _probe_wav(head: bytes, size: int | None) -> AudioInfo:
    if len(head) < 12 or head[8:12] != b"WAVE":
        raise AudioError("a RIFF file but not WAVE")
    offset = 12
    fmt: tuple[int, int, int, int, int] | None = None
    while True:
        if offset + 8 > len(head):
            what = "fmt " if fmt is None else "data"
            raise AudioError(f"no {what!r} chunk in the first {len(head)} bytes")
        chunk, length = struct.unpack_from("<4sI", head, offset)
        body = offset + 8
        if chunk == b"fmt ":
            if length < 16 or body + 16 > len(head):
                raise AudioError("the 'fmt ' chunk is too short")
            tag, channels, rate, _byte_rate, align, bits = struct.unpack_from(
                "<HHIIHH", head, body)
            fmt = (tag, channels, rate, align, bits)
            _check_fmt(fmt)
        elif chunk == b"data":
            if fmt is None:
                raise AudioError("the 'data' chunk comes before the 'fmt ' chunk")
            return _wav_info(fmt, length, body, size)
        # RIFF chunks are padded to an even length.
        offset = body + length + (length & 1)


def _check_fmt(fmt: tuple[int, int, int, int, int]) -> str:
    """The codec of a ``fmt `` chunk's (tag, channels, rate, block align, bits)."""
    tag, channels, rate, align, bits = fmt
    codec = _WAVE_TAGS.get(tag)
    if codec is None:
        raise AudioError(f"WAVE format tag {tag:#x} is not PCM, float, A-law or mu-law")
    if not 1 <= channels <= 8:
        raise AudioError(f"{channels} channels; 1 to 8 are read")
    if not 1000 <= rate <= 384_000:
        raise AudioError(f"a sample rate of {rate} Hz; 1000 to 384000 are read")
    if bits not in (8, 16, 24, 32, 64) or align == 0:
        raise AudioError(f"{bits} bits per sample in blocks of {align} bytes")
    return codec


def _wav_info(fmt: tuple[int, int, int, int, int], length: int, data_at: int,
              size: int | None) -> AudioInfo:
    codec = _check_fmt(fmt)
    _tag, channels, rate, align, _bits = fmt
    available = length
    if size is not None:
        # A header claiming more than the file holds (streamed, or cut short) describes
        # only what is there.
        available = min(length, max(0, size - data_at))
    return AudioInfo("wav", codec, channels, rate, available / (rate * align))


def _ogg_page(data: bytes, offset: int) -> tuple[int, int, int, int] | None:
    """(header type, granule position, serial, header length) of the page at ``offset``."""
    if offset + _OGG_HEADER.size > len(data):
        return None
    capture, version, kind, granule, serial, _seq, _crc, segments = _OGG_HEADER.unpack_from(
        data, offset)
    if capture != b"OggS" or version != 0:
        return None
    header = _OGG_HEADER.size + segments
    if offset + header > len(data):
        return None
    return kind, granule, serial, header


def _probe_ogg(head: bytes, tail: bytes) -> AudioInfo:
    page = _ogg_page(head, 0)
    if page is None:
        raise AudioError("a broken Ogg page header")
    kind, _granule, serial, header = page
    if not kind & 0x02:
        raise AudioError("the first Ogg page does not begin a stream")
    packet = head[header:header + 64]
    if packet[:8] == b"OpusHead":
        if len(packet) < 19 or packet[8] & 0xF0:
            raise AudioError("an OpusHead packet pycc does not read")
        channels, pre_skip, input_rate = struct.unpack_from("<BHI", packet, 9)
        if channels == 0:
            raise AudioError("an Opus stream of 0 channels")
        granule = _last_granule(tail, serial)
        duration = max(0, granule - pre_skip) / 48_000 if granule is not None else None
        return AudioInfo("ogg", "opus", channels, input_rate or 48_000, duration)
    if packet[:7] == b"\x01vorbis":
        if len(packet) < 16:
            raise AudioError("a Vorbis identification packet cut short")
        version, channels, rate = struct.unpack_from("<IBI", packet, 7)
        if version != 0 or channels == 0 or rate == 0:
            raise AudioError("a Vorbis identification header pycc does not read")
        granule = _last_granule(tail, serial)
        return AudioInfo("ogg", "vorbis", channels, rate,
                         granule / rate if granule is not None else None)
    raise AudioError("an Ogg file holding neither Opus nor Vorbis")


def _last_granule(tail: bytes, serial: int) -> int | None:
    """The granule position of the last page of stream ``serial`` in ``tail`` that ends a
    packet (a page that ends none has the granule -1)."""
    at = tail.rfind(b"OggS")
    while at >= 0:
        page = _ogg_page(tail, at)
        if page is not None and page[2] == serial and page[1] >= 0:
            return page[1]
        at = tail.rfind(b"OggS", 0, at)
    return None
