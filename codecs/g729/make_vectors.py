#!/usr/bin/env python3
"""Make the G.729A conformance vectors in tests/vectors/g729/ with the system bcg729.

Run from the repository root with pycc installed (``pip install -e .``):

    python codecs/g729/make_vectors.py [--out tests/vectors/g729]

It writes:

- ``input.s16le``: 2 s of 8 kHz signal (a voiced, speech-like harmonic sound with pitch glide
  and syllable envelope, a 1 kHz tone, then low noise), little-endian int16; generated once
  from a fixed seed and stored, so the test never depends on floating-point libm details;
- ``speech.g729``: the bitstream of ``input.s16le`` with VAD off, 10 bytes per 10 ms frame;
- ``speech.decoded.s16le``: ``speech.g729`` decoded, little-endian int16;
- ``vad.frames``: the bitstream with VAD on (Annex B), each frame prefixed by its length byte
  (10: speech, 2: SID, 0: not transmitted);
- ``vad.decoded.s16le``: the transmitted frames of ``vad.frames`` decoded one payload each;
- ``SHA256SUMS``: digests of the above.

tests/codecs/test_g729.py checks that the installed library reproduces every byte.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from pycc.codecs.g729 import FRAME_SAMPLES, G729Decoder, G729Encoder

RATE = 8000


def make_input(seed: int = 729) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    # Voiced sound: harmonics of a fundamental gliding 110 -> 180 Hz, formant-like weights,
    # shaped into four "syllables".
    f0 = 110 + 70 * t
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    weights = [1.0, 0.8, 0.9, 0.6, 0.45, 0.5, 0.3, 0.25, 0.2, 0.15, 0.1, 0.08]
    voiced = sum(w * np.sin((k + 1) * phase) for k, w in enumerate(weights))
    envelope = np.clip(np.sin(np.pi * 4 * t), 0, None) ** 0.5
    speech = 2500 * voiced * envelope + rng.normal(0, 40, RATE)
    tone = 6000 * np.sin(2 * np.pi * 1000 * t[: RATE // 2])
    noise = rng.normal(0, 25, RATE // 2)
    signal = np.concatenate((speech, tone, noise))
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/vectors/g729"))
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    pcm = make_input()
    encoder, decoder = G729Encoder(FRAME_SAMPLES), G729Decoder()
    frames = [encoder.encode(pcm[i:i + FRAME_SAMPLES]) for i in range(0, len(pcm), FRAME_SAMPLES)]
    bitstream = b"".join(frames)
    decoded = np.concatenate([decoder.decode(frame) for frame in frames])

    vad_encoder, vad_decoder = G729Encoder(FRAME_SAMPLES, vad=True), G729Decoder()
    vad_frames = [vad_encoder.encode(pcm[i:i + FRAME_SAMPLES])
                  for i in range(0, len(pcm), FRAME_SAMPLES)]
    vad_decoded = np.concatenate([vad_decoder.decode(f) for f in vad_frames if f])

    files = {
        "input.s16le": pcm.astype("<i2").tobytes(),
        "speech.g729": bitstream,
        "speech.decoded.s16le": decoded.astype("<i2").tobytes(),
        "vad.frames": b"".join(bytes([len(f)]) + f for f in vad_frames),
        "vad.decoded.s16le": vad_decoded.astype("<i2").tobytes(),
    }
    sums = []
    for name, data in files.items():
        (out / name).write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (out / "SHA256SUMS").write_text("".join(sums))
    kinds = {size: sum(1 for f in vad_frames if len(f) == size) for size in (10, 2, 0)}
    print(f"wrote {len(files)} vectors to {out}: {len(frames)} frames; with VAD {kinds}")


if __name__ == "__main__":
    main()
