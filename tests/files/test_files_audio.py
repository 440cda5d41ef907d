"""What an audio file is, from its bytes: WAV and Ogg (Opus, Vorbis) headers and lengths,
a WAV whose header lags its data (as a recording killed mid-call leaves it), and garbage of
every kind refused with `AudioError`, never another exception."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from files.audio_files import ogg_page, opus_bytes, vorbis_header, wav_bytes
from pycc.files.audio import AudioError, content_type, probe


def test_a_wav_says_its_format_and_length() -> None:
    data = wav_bytes(1.5, rate=16000, channels=2)
    info = probe(data, data[-100:], len(data))
    assert (info.format, info.codec, info.channels, info.sample_rate) == ("wav", "pcm", 2, 16000)
    assert info.duration == pytest.approx(1.5)
    assert content_type(info.format) == "audio/wav"


def test_a_wav_header_claiming_more_than_the_file_holds_describes_what_is_there() -> None:
    data = wav_bytes(1.0, rate=8000)
    cut = data[: 44 + 8000]  # half a second of 16-bit mono
    assert probe(cut, b"", len(cut)).duration == pytest.approx(0.5)


def test_a_wav_whose_header_lags_its_data_is_as_long_as_its_header_says() -> None:
    data = bytearray(wav_bytes(1.0, rate=8000))
    struct.pack_into("<I", data, 40, 8000)  # the header rewritten at 0.5 s, then killed
    assert probe(bytes(data), b"", len(data)).duration == pytest.approx(0.5)


def test_wav_chunks_before_the_format_and_data_are_skipped() -> None:
    data = wav_bytes(0.25, rate=8000)
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # odd length: padded
    spliced = data[:12] + extra + data[12:]
    assert probe(spliced).duration == pytest.approx(0.25)


@pytest.mark.parametrize(("data", "why"), [
    (b"", "neither"),
    (b"ID3\x03" + bytes(100), "neither"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "not WAVE"),
    (b"RIFF\x00\x00\x00\x00WAVE", "no 'fmt '"),
    (b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd", "before the 'fmt '"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 85, 1, 8000,
                                                                    1000, 1, 0), "format tag"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 0, 8000,
                                                                    0, 2, 16), "0 channels"),
    (b"OggS\x01" + bytes(40), "broken Ogg"),
    (ogg_page(b"OpusTags", granule=0, first=True), "neither Opus nor Vorbis"),
    (ogg_page(b"OpusHead\x01", granule=0, first=True), "OpusHead"),
    (ogg_page(vorbis_header(), granule=0), "does not begin a stream"),
])
def test_what_is_not_audio_is_refused_saying_why(data: bytes, why: str) -> None:
    with pytest.raises(AudioError, match=why):
        probe(data, data, len(data))


def test_an_ogg_opus_file_says_its_length_from_its_last_page(tmp_path: Path) -> None:
    data = opus_bytes(tmp_path / "tone.ogg", seconds=1.2)
    info = probe(data[:65536], data[-65536:], len(data))
    assert (info.format, info.codec, info.channels) == ("ogg", "opus", 1)
    assert info.duration == pytest.approx(1.2, abs=0.03)
    assert probe(data[:65536]).duration is None  # no tail: the length is not known


def test_an_ogg_vorbis_header_is_read() -> None:
    first = ogg_page(vorbis_header(22050, 1), granule=0, first=True)
    last = ogg_page(b"\x00" * 10, granule=44100)
    info = probe(first, first + last)
    assert (info.codec, info.channels, info.sample_rate) == ("vorbis", 1, 22050)
    assert info.duration == pytest.approx(2.0)
    # A page of another stream does not count.
    other = ogg_page(b"\x00", granule=10**9, serial=99)
    assert probe(first, first + last + other).duration == pytest.approx(2.0)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300),
       st.sampled_from([b"", b"RIFF", b"OggS", b"RIFF\x00\x00\x00\x00WAVE"]))
def test_garbage_is_refused_with_audio_error_only(data: bytes, prefix: bytes) -> None:
    blob = prefix + data
    try:
        info = probe(blob, blob, len(blob))
    except AudioError as exc:
        assert str(exc)
        return
    assert info.format in ("wav", "ogg") and info.channels > 0


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=3))
def test_a_cut_or_damaged_wav_never_claims_more_than_it_holds(cut: int, flips: int) -> None:
    whole = bytearray(wav_bytes(0.1, rate=8000))
    for i in range(flips):
        whole[(cut * 7 + i * 13) % len(whole)] ^= 0x5A
    data = bytes(whole[:cut])
    try:
        info = probe(data, b"", len(data))
    except AudioError:
        return
    assert info.duration is not None
    assert info.duration * info.sample_rate * info.channels * 2 <= max(0, len(data) - 44) + 1
