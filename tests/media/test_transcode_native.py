"""The relay worker's transcoding in C (transcode_core.c, `pycc.media.transcode_native`)
against the Python it stands in for: `pycc.media.bridge._Transcoder` among PCMU, PCMA, G.729
and Opus (with events at 8 or 48 kHz), and the G.711 concealment of
`pycc.codecs.plc.PitchRepetition`.

Both run the same drawn streams (in order, with losses, duplicates, late packets, new SSRCs,
RFC 4733 events, comfort noise, headers with CSRCs, extensions and padding, payloads the codec
refuses, real Opus packets of 10 to 60 ms) from the same state, and must send the same
bytes. The library is compiled here from
the checkout (`test_relay_native.compile_relay`)."""

from __future__ import annotations

import contextlib
import ctypes
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_relay_native import compile_relay

from pycc.codecs import g729, opus
from pycc.codecs.plc import PitchRepetition
from pycc.codecs.registry import default_registry
from pycc.media.bridge import TranscodePlan, _Transcoder, transcoder_from_plan
from pycc.media.transcode_native import Direction, direction
from pycc.sdp.anchor import StreamSide
from pycc.sdp.attributes import RtpMap

CODECS = {"PCMU": RtpMap(0, "PCMU", 8000), "PCMA": RtpMap(8, "PCMA", 8000),
          "G729": RtpMap(18, "G729", 8000), "opus": RtpMap(111, "opus", 48000, 2)}
PAIRS = [(a, b) for a in CODECS for b in CODECS if a != b]
IN_EVENT, OUT_EVENT = 101, 96
SSRC = 0x5EED


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if g729.unavailable_reason() is not None:
        pytest.skip(str(g729.unavailable_reason()))
    found = compile_relay(tmp_path_factory.mktemp("transcode") / "librelay.so")
    found.pt_new.restype = ctypes.c_void_p
    found.pt_new.argtypes = [ctypes.POINTER(Direction)]
    found.pt_free.argtypes = [ctypes.c_void_p]
    found.pt_get.argtypes = [ctypes.c_void_p, ctypes.POINTER(Direction)]
    found.pt_forward.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, SEND,
                                 ctypes.c_void_p]
    found.pt_plc_size.restype = ctypes.c_int32
    found.pt_plc_conceal.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
    found.pt_plc_observe.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
    found.pt_pitch_of.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    return found


SEND = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int32)


def side(name: str, ptime: float | None = 20, *, events: int | None = None,
         event_clock: int = 8000) -> StreamSide:
    event = RtpMap(events, "telephone-event", event_clock) if events is not None else None
    return StreamSide(CODECS[name], event, ("127.0.0.1", 4000), None, False, True, True,
                      "RTP/AVP", ptime, None, None)


class Sink:
    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def send_rtp(self, data: bytes) -> None:
        self.packets.append(data)


class CDirection:
    """A C transcoder made from a Python direction, collecting what it sends."""

    def __init__(self, lib: ctypes.CDLL, path: _Transcoder) -> None:
        conf = direction(path)
        assert conf is not None
        self.lib = lib
        self.path = path  # its codec objects: the C code uses their contexts
        self.handle = lib.pt_new(ctypes.byref(conf))
        assert self.handle
        self.packets: list[bytes] = []
        self._send = SEND(lambda _ctx, data, size: self.packets.append(
            ctypes.string_at(data, size)))

    def forward(self, data: bytes) -> int:
        return int(self.lib.pt_forward(self.handle, data, len(data), self._send, None))

    def state(self) -> Direction:
        out = Direction()
        self.lib.pt_get(self.handle, ctypes.byref(out))
        return out

    def close(self) -> None:
        self.lib.pt_free(self.handle)


def pair_of(lib: ctypes.CDLL, src: StreamSide, dst: StreamSide,
            state: dict[str, Any] | None = None) -> tuple[_Transcoder, Sink, CDirection]:
    """The Python direction and a C one on the same stream state, each with its own codecs."""
    registry = default_registry()
    sink = Sink()
    python = _Transcoder(src, dst, sink, registry, SSRC)
    plan = python.plan()
    if state is not None:
        plan = TranscodePlan(src, dst, SSRC, {**plan.state, **state})
        python = transcoder_from_plan(plan, sink, registry)  # type: ignore[assignment]
    twin = transcoder_from_plan(plan, Sink(), registry)
    assert isinstance(python, _Transcoder) and isinstance(twin, _Transcoder)
    return python, sink, CDirection(lib, twin)


def packet(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, *, marker: bool = False,
           csrcs: int = 0, extension: bytes | None = None, padding: int = 0) -> bytes:
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | csrcs
    head = struct.pack("!BBHII", first, pt | (0x80 if marker else 0), seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc) + bytes(4 * csrcs)
    if extension is not None:
        head += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    tail = bytes(padding - 1) + bytes([padding]) if padding else b""
    return head + payload + tail


def _opus_packets() -> dict[int, list[bytes]]:
    """Real Opus packets of a warbling tone, by length in ms (from PCM at 8000 Hz, as pycc
    encodes for a narrowband far party)."""
    codec = default_registry().find("opus", 48000, 2).at_rate(8000)
    t = np.arange(8000) / 8000
    pcm = (9000 * np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 3 * t)) * t)).astype(
        np.int16)
    found: dict[int, list[bytes]] = {}
    for ms in (10, 20, 40, 60):
        encoder = codec.encoder(ms)
        n = encoder.samples_per_frame
        found[ms] = [encoder.encode(pcm[i:i + n]) for i in range(0, len(pcm) - n + 1, n)]
    return found


OPUS_PACKETS = _opus_packets() if opus.UNAVAILABLE is None else {}


def audio_payload(name: str, draw: st.DrawFn, ms: int) -> bytes:
    if name == "opus":
        if ms not in OPUS_PACKETS or draw(st.integers(0, 20)) == 0:
            return draw(st.binary(max_size=60))  # what libopus may refuse, or not
        return draw(st.sampled_from(OPUS_PACKETS[ms]))
    if name == "G729":
        frames = draw(st.binary(min_size=10 * (ms // 10), max_size=10 * (ms // 10)))
        return frames + draw(st.sampled_from([b"", b"", b"\x12\x34"]))  # an Annex B SID
    return draw(st.binary(min_size=8 * ms, max_size=8 * ms))


@st.composite
def streams(draw: st.DrawFn, src: str) -> list[bytes]:
    """What a party sends: mostly 20 ms packets in order, with the drawn mishaps."""
    seq, ts, ssrc = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF)), 0xA1
    pt = CODECS[src].payload_type
    per_ms = CODECS[src].clock_rate // 1000
    packet_ts = 20 * per_ms
    out: list[bytes] = []
    steps = draw(st.lists(st.sampled_from(
        ["next"] * 8 + ["lose", "lose_many", "duplicate", "late", "ssrc", "event", "cn",
                        "dressed", "refused", "long", "silence", "backwards"]), max_size=40))
    key_ts = None
    for step in steps:
        if step == "late":
            out.append(packet(pt, seq - 3, ts - 3 * packet_ts, ssrc,
                              audio_payload(src, draw, 20)))
            continue
        if step == "duplicate" and out:
            out.append(out[-1])
            continue
        if step == "event":
            key_ts = key_ts if key_ts is not None and draw(st.booleans()) else ts
            duration = draw(st.integers(0, 0xFFFF))
            out.append(packet(IN_EVENT, seq, key_ts, ssrc,
                              bytes([5, 0x0A]) + duration.to_bytes(2, "big"),
                              marker=draw(st.booleans())))
            seq += 1
            continue
        if step == "cn":
            out.append(packet(13, seq, ts, ssrc, b"\x40"))
            seq += 1
            continue
        ms = 20
        if step == "lose":
            seq, ts = seq + draw(st.integers(1, 5)), ts + packet_ts * draw(st.integers(1, 5))
        elif step == "lose_many":
            seq, ts = seq + draw(st.integers(6, 40)), ts + packet_ts * draw(st.integers(6, 40))
        elif step == "ssrc":
            ssrc, seq, ts = ssrc + 1, draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 1 << 31))
        elif step == "long":
            ms = draw(st.sampled_from([10, 30, 40, 60]))
        elif step == "silence":
            ts += packet_ts * draw(st.integers(1, 50))  # the sender suppressed silence
        elif step == "backwards":
            ts -= draw(st.integers(1, 1 << 31))  # a sender's clock that jumps back
        payload = audio_payload(src, draw, ms)
        if step == "refused":
            payload = draw(st.binary(max_size=30)) if src == "G729" else b""
        if step == "dressed":
            out.append(packet(pt, seq, ts, ssrc, payload, csrcs=draw(st.integers(0, 3)),
                              extension=bytes(4 * draw(st.integers(0, 2))),
                              padding=draw(st.integers(1, 8))))
        else:
            out.append(packet(pt, seq, ts, ssrc, payload, marker=draw(st.booleans())))
        seq, ts = seq + 1, ts + per_ms * ms
    return out


class Refusals:
    """A decoder that counts the payloads it refuses (the Python direction drops them
    silently; the C one reports each, for the worker to count)."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.count = 0

    def decode(self, payload: bytes) -> Any:
        try:
            return self.decoder.decode(payload)
        except ValueError:
            self.count += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.decoder, name)


def same_state(python: _Transcoder, c: CDirection) -> None:
    state, found = python.plan().state, c.state()
    assert (found.seq, found.ts, found.marker) == (state["seq"], state["ts"], state["marker"])
    assert found.pending_len == len(state["pending"])
    assert list(found.pending[:found.pending_len]) == state["pending"].tolist()
    assert found.concealed == python.concealed


@settings(max_examples=200, deadline=None)
@given(data=st.data(), pair=st.sampled_from(PAIRS), ptime=st.sampled_from([10, 20, 30, 40]),
       clocks=st.sampled_from([(8000, 8000), (48000, 8000), (8000, 48000)]))
def test_the_c_transcoder_sends_what_python_sends(lib: ctypes.CDLL, data: st.DataObject,
                                                  pair: tuple[str, str], ptime: int,
                                                  clocks: tuple[int, int]) -> None:
    src, dst = pair
    if "opus" in pair and not OPUS_PACKETS:
        pytest.skip("no libopus here")
    python, sink, c = pair_of(lib, side(src, events=IN_EVENT, event_clock=clocks[0]),
                              side(dst, ptime, events=OUT_EVENT, event_clock=clocks[1]))
    refusing = Refusals(python._decoder)
    python._decoder = refusing
    errors = 0
    try:
        for sent in data.draw(streams(src)):
            before = refusing.count
            try:
                python.forward(sent)
                failed = 0
            except ValueError:  # libopus failed to conceal or encode
                failed = 1
            errors += refusing.count - before + failed
            assert c.forward(sent) == refusing.count - before + failed, sent.hex()
        assert c.packets == sink.packets
        same_state(python, c)
        assert c.state().codec_errors == errors
    finally:
        c.close()


@settings(max_examples=100, deadline=None)
@given(pair=st.sampled_from(PAIRS), datagrams=st.lists(st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda pt, body: bytes([0x80 | body[0] % 64, pt]) + body[1:],
              st.sampled_from([0, 8, 18, 111, 101, 0x80 | 18, 13]), st.binary(min_size=11,
                                                                             max_size=1200))),
    max_size=30))
def test_any_datagram_is_taken_as_python_takes_it(lib: ctypes.CDLL, pair: tuple[str, str],
                                                  datagrams: list[bytes]) -> None:
    """Whatever arrives (the relay only checks the version and the source first), the C
    direction neither reads nor writes out of bounds and does what the Python does."""
    if "opus" in pair and not OPUS_PACKETS:
        pytest.skip("no libopus here")
    src, dst = pair
    python, sink, c = pair_of(lib, side(src, events=IN_EVENT), side(dst, 30, events=OUT_EVENT))
    try:
        for sent in datagrams:
            with contextlib.suppress(ValueError):
                python.forward(sent)
            c.forward(sent)
        assert c.packets == sink.packets
        same_state(python, c)
    finally:
        c.close()


def test_a_stream_goes_on_from_the_state_handed_over(lib: ctypes.CDLL) -> None:
    """Sequence number, timestamps, the samples waiting and the key presses' timestamps
    carry over from the switch's plan, as the Python rebuilt from it goes on."""
    state = {"seq": 0xFFFE, "ts": 0xFFFFFF00, "in_ssrc": 0xA1, "in_seq": 99, "in_base": 1000,
             "out_base": 0xFFFFF000, "marker": False, "pending": np.arange(50, dtype=np.int16),
             "event_ts": {1000 + 160 * k: 7 * k for k in range(8)}}
    python, sink, c = pair_of(lib, side("PCMU", events=IN_EVENT),
                              side("G729", events=OUT_EVENT), state)
    try:
        for n in range(6):
            sent = packet(0, 100 + n, 1000 + 160 * (100 + n), 0xA1, bytes(range(160)))
            python.forward(sent)
            c.forward(sent)
        # A new key press: nine remembered now; then one of the first eight again.
        for key_ts in (1000 + 160 * 106, 1000 + 160 * 3):
            key = packet(IN_EVENT, 106, key_ts, 0xA1, b"\x05\x0a\x01\x40")
            python.forward(key)
            c.forward(key)
        assert len(sink.packets) == 8 and c.packets == sink.packets
        assert struct.unpack_from("!H", sink.packets[0], 2)[0] == 0xFFFE  # and it wraps
        assert struct.unpack_from("!I", sink.packets[-1], 4)[0] == 7 * 3  # the key's own
        same_state(python, c)
    finally:
        c.close()


def test_a_refused_payload_is_counted_and_the_stream_goes_on(lib: ctypes.CDLL) -> None:
    _python, _sink, c = pair_of(lib, side("G729", events=IN_EVENT), side("PCMA", events=None))
    try:
        assert c.forward(packet(18, 1, 160, 7, bytes(20))) == 0
        assert c.forward(packet(18, 2, 320, 7, bytes(7))) == 1
        assert c.forward(packet(18, 3, 480, 7, b"")) == 1
        assert c.forward(packet(IN_EVENT, 4, 480, 7, b"\x05\x0a\x01\x40")) == 0  # no events
        assert c.forward(packet(18, 5, 640, 7, bytes(20))) == 0
        assert c.state().codec_errors == 2
        # The first packet, then the last with the one before it (an event's number,
        # so a loss to the audio) concealed.
        assert len(c.packets) == 3 and {p[1] & 0x7F for p in c.packets} == {8}
    finally:
        c.close()


def test_what_the_c_code_does_not_do_stays_in_python(lib: ctypes.CDLL) -> None:
    registry = default_registry()
    opus = StreamSide(RtpMap(111, "opus", 48000, 2), None, ("127.0.0.1", 4000), None, False,
                      True, True, "RTP/AVP", 20, None, None)
    wideband = StreamSide(RtpMap(9, "G722", 8000), None, ("127.0.0.1", 4000), None, False,
                          True, True, "RTP/AVP", 20, None, None)
    # Audio meeting at 16 kHz (G.722 with Opus), or resampled (G.711 with G.722).
    assert direction(_Transcoder(opus, wideband, Sink(), registry, 1)) is None
    assert direction(_Transcoder(side("PCMU"), wideband, Sink(), registry, 1)) is None
    assert direction(_Transcoder(side("PCMU"), opus, Sink(), registry, 1)) is not None
    # Keys sent as tones are listened for in the decoded audio: Python's detector.
    heard = _Transcoder(side("PCMU"), side("G729"), Sink(), registry, 1, on_inband=print)
    assert heard.listens_for_tones and direction(heard) is None
    # Events at another clock than the audio's.
    odd = StreamSide(CODECS["PCMU"], RtpMap(101, "telephone-event", 16000), ("127.0.0.1", 1),
                     None, False, True, True, "RTP/AVP", 20, None, None)
    assert direction(_Transcoder(odd, side("G729"), Sink(), registry, 1)) is None
    assert direction(object()) is None
    assert direction(_Transcoder(side("PCMU"), side("G729"), Sink(), registry, 1)) is not None


def test_a_direction_the_c_code_cannot_hold_is_refused(lib: ctypes.CDLL) -> None:
    conf = direction(_Transcoder(side("PCMU"), side("PCMA"), Sink(), default_registry(), 1))
    assert conf is not None
    for field, value in (("frame", 0), ("frame", 961), ("pending_len", 160),
                         ("events_len", 10), ("src_frame", -1), ("decoder", 3),
                         ("encoder", 0), ("g711_decode", None), ("g711_encode", None),
                         ("dst_pt", 128), ("dst_event", -2), ("seq", 0x10000),
                         ("in_seq", -1)):
        bad = Direction.from_buffer_copy(conf)
        setattr(bad, field, value)
        assert not lib.pt_new(ctypes.byref(bad)), field
    g729_conf = direction(_Transcoder(side("PCMU"), side("G729"), Sink(), default_registry(), 1))
    assert g729_conf is not None
    for field, value in (("frame", 100), ("g729_encoder", None), ("g729_encode", None)):
        bad = Direction.from_buffer_copy(g729_conf)
        setattr(bad, field, value)  # not whole 10 ms frames; no bcg729 to encode with
        assert not lib.pt_new(ctypes.byref(bad)), field
    made = lib.pt_new(ctypes.byref(g729_conf))
    assert made
    lib.pt_free(made)


# -- concealment ---------------------------------------------------------------------------

def _steps(draw: st.DrawFn) -> Iterator[tuple[str, np.ndarray | int]]:
    kinds = draw(st.lists(st.sampled_from(["frame", "frame", "tone", "lost"]), max_size=30))
    for kind in kinds:
        if kind == "lost":
            yield "lost", draw(st.integers(1, 500))
            continue
        n = draw(st.integers(0, 480))
        if kind == "tone":
            hz = draw(st.floats(60.0, 1000.0))
            level = draw(st.integers(0, 32767))
            start = draw(st.integers(0, 8000))
            t = (start + np.arange(n)) / 8000.0
            yield "frame", (level * np.sin(2 * np.pi * hz * t)).astype(np.int16)
        else:
            raw = draw(st.binary(min_size=2 * n, max_size=2 * n))
            yield "frame", np.frombuffer(raw, dtype=np.int16).copy()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_c_concealment_is_pitch_repetition_to_the_sample(lib: ctypes.CDLL,
                                                            data: st.DataObject) -> None:
    python = PitchRepetition(8000)
    state = ctypes.create_string_buffer(lib.pt_plc_size())
    for kind, value in _steps(data.draw):
        if kind == "lost":
            assert isinstance(value, int)
            out = np.zeros(value, dtype=np.int16)
            lib.pt_plc_conceal(state, out.ctypes.data, value)
            assert out.tolist() == python.conceal(value).tolist()
        else:
            assert isinstance(value, np.ndarray)
            frame = value.copy()
            lib.pt_plc_observe(state, frame.ctypes.data, len(frame))
            assert frame.tolist() == python.observe(value).tolist()


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(min_size=780, max_size=780), hz=st.floats(60.0, 400.0))
def test_the_c_pitch_is_pythons(lib: ctypes.CDLL, raw: bytes, hz: float) -> None:
    noise = np.frombuffer(raw, dtype=np.int16).astype(np.float64) / 8
    voiced = 8000 * np.sin(2 * np.pi * hz * np.arange(390) / 8000) + noise
    for history in (noise, voiced, np.zeros(390)):
        mono = np.ascontiguousarray(history, dtype=np.float64)
        assert lib.pt_pitch_of(mono.ctypes.data, len(mono)) == \
            PitchRepetition(8000)._pitch_of(mono)

