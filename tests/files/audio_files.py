"""Audio files for the file server's tests, made in memory: WAV through ``wave``, Ogg/Opus
through PyAV (the encoder pycc records with), and a bare Ogg/Vorbis header; and the call
records that name recordings."""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import av
import numpy as np

from pycc.store.models import CallRecord
from pycc.store.repo import Store


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")


def wav_bytes(seconds: float = 1.0, rate: int = 8000, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV of a tone."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(tone(seconds, rate)[:, None], channels, axis=1).tobytes())
    return buffer.getvalue()


def opus_bytes(path: Path, seconds: float = 1.0) -> bytes:
    """An Ogg/Opus file of a tone at 48 kHz mono, written to ``path``."""
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        pcm = tone(seconds, 48000)
        for start in range(0, len(pcm), 960):
            block = pcm[start:start + 960]
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16",
                                               layout="mono")
            frame.sample_rate = 48000
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes()


def ogg_page(packet: bytes, *, granule: int, serial: int = 7, first: bool = False) -> bytes:
    """One Ogg page holding ``packet`` (CRC left 0: pycc's probe does not check it)."""
    segments = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, 0x02 if first else 0, granule, serial, 0,
                         0, len(segments))
    return header + bytes(segments) + packet


def vorbis_header(rate: int = 44100, channels: int = 2) -> bytes:
    """A Vorbis identification packet (no audio follows)."""
    return b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, channels, rate, 0, 128000, 0, 0xB8, 1)


def call_record(store: Store, call_id: str, *, tenant: str = "default", node: str = "n1",
                state: str = "closed", recording: str | None = None, answer: float | None,
                agent: str | None = None, queue: str | None = None,
                disposition: str | None = None) -> CallRecord:
    """Write a call record as the call recorder would (answered at ``answer``)."""
    owner = store.get_tenant(tenant)
    assert owner is not None and owner.id is not None
    start = (answer or 1_700_000_000.0) - 5
    return store.add_call_record(CallRecord(
        tenant_id=owner.id, call_id=call_id, caller="1001", callee="1002",
        direction="internal", start=start, answer=answer, end=start + 60,
        disposition=disposition or ("in-progress" if state == "open" else "answered"),
        hangup_cause="200 BYE", hangup_by="caller" if state == "closed" else "system",
        sip_status=200, node=node, state=state, recording=recording, agent=agent,
        queue=queue))
