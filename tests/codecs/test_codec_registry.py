"""The codec registry: lookups, built-ins, third-party codecs and plugins."""

from __future__ import annotations

import logging
import sys
import types
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.codecs import (
    Codec,
    CodecError,
    CodecSpec,
    Decoder,
    Encoder,
    Registry,
    SpecOnlyCodec,
    UnknownCodec,
    default_registry,
    find,
    load_plugins,
)
from pycc.codecs import g729 as g729_module
from pycc.codecs.builtin import register_builtins
from pycc.codecs.opus import OpusCodec
from pycc.dsp.pcm import Pcm
from pycc.sdp import RtpMap
from pycc.sdp.offer_answer import codec_matches

# -- a third-party codec, as a plugin author would write it ------------------------------------


class ToyEncoder(Encoder):
    """'Toy' codec: 8-bit PCM, the high byte of each sample."""

    def __init__(self, spec: CodecSpec, samples: int) -> None:
        self._spec, self._samples = spec, samples

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    @property
    def samples_per_frame(self) -> int:
        return self._samples

    def encode(self, pcm: Pcm) -> bytes:
        return (pcm >> 8).astype(np.int8).tobytes()


class ToyDecoder(Decoder):
    def __init__(self, spec: CodecSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def decode(self, payload: bytes) -> Pcm:
        return np.frombuffer(payload, dtype=np.int8).astype(np.int16) << 8

    def conceal(self, samples: int) -> Pcm:
        return np.zeros(samples, dtype=np.int16)


class ToyCodec(Codec):
    def __init__(self, rate: int = 8000) -> None:
        self._spec = CodecSpec("X-TOY", rate, bitrate=8 * rate)

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def encoder(self, frame_ms: int | None = None) -> Encoder:
        return ToyEncoder(self._spec, self._spec.samples_for(frame_ms or 20))

    def decoder(self) -> Decoder:
        return ToyDecoder(self._spec)


def test_a_third_party_codec_registers_and_works() -> None:
    registry = Registry()
    register_builtins(registry)
    registry.register(ToyCodec())
    codec = registry.find("x-toy", 8000)
    pcm = np.array([0, 256, -512, 32767], dtype=np.int16)
    assert codec.decoder().decode(codec.encoder().encode(pcm)).tolist() == [0, 256, -512, 32512]
    assert registry.names()[-1] == "X-TOY"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ToyCodec())
    registry.register(ToyCodec(), replace=True)
    with pytest.raises(TypeError):
        registry.register("not a codec")  # type: ignore[arg-type]


# -- lookups ------------------------------------------------------------------------------------


def test_builtins_are_registered_in_preference_order() -> None:
    registry = default_registry()
    names = registry.names()
    assert names[:5] == ["opus", "G722", "PCMU", "PCMA", "G729"]
    assert {"L16", "telephone-event", "VP8", "H264"} <= set(names)
    assert [str(s) for s in registry.specs("video")] == ["VP8/90000", "H264/90000"]
    assert all(s.kind == "audio" for s in registry.specs("audio"))
    assert registry.unavailable() == {}


@pytest.mark.parametrize(
    ("name", "rate", "channels", "sample_rate", "payload_type", "step"),
    [
        ("PCMU", 8000, 1, 8000, 0, 160),
        ("pcma", 8000, 1, 8000, 8, 160),
        ("g722", 8000, 1, 16000, 9, 160),  # RFC 3551 §4.5.2: clock 8000, PCM 16 kHz
        ("G729", 8000, 1, 8000, 18, 160),
        ("OPUS", 48000, 2, 48000, None, 960),  # RFC 7587 §4: always /48000/2
        ("L16", 16000, 1, 16000, None, 320),
        ("telephone-event", 48000, 1, 48000, None, 2400),
        ("h264", 90000, 1, 90000, None, 2970),
    ],
)
def test_find_is_case_insensitive_and_specs_follow_the_rfcs(
    name: str, rate: int, channels: int, sample_rate: int, payload_type: int | None, step: int
) -> None:
    spec = find(name, rate, channels).spec
    assert spec.name.casefold() == name.casefold()
    assert (spec.clock_rate, spec.channels, spec.sample_rate) == (rate, channels, sample_rate)
    assert spec.static_payload_type == payload_type
    assert spec.timestamp_step == step


def test_unknown_codecs_raise_a_lookup_error_with_a_hint() -> None:
    with pytest.raises(UnknownCodec, match="no codec AMR/8000"):
        find("AMR", 8000)
    with pytest.raises(UnknownCodec, match="registered: opus/48000/2"):
        find("opus", 48000)  # channels must be 2, as SDP says
    assert issubclass(UnknownCodec, LookupError)


def test_static_payload_types() -> None:
    registry = default_registry()
    assert str(registry.find_static(0).spec) == "PCMU/8000"
    assert str(registry.find_static(9).spec) == "G722/8000"
    assert str(registry.find_static(18).spec) == "G729/8000"
    with pytest.raises(UnknownCodec):
        registry.find_static(3)  # GSM: not supported


def test_specs_are_sdp_codecs() -> None:
    # pycc.sdp builds answers from anything with encoding, clock_rate and channels.
    spec = find("opus", 48000, 2).spec
    assert codec_matches(RtpMap.parse("111 opus/48000/2"), spec)
    assert spec.fmtp == "minptime=10;useinbandfec=1"
    assert str(spec) == "opus/48000/2" and str(find("PCMU", 8000).spec) == "PCMU/8000"


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        CodecSpec("bad name", 8000)
    with pytest.raises(ValueError):
        CodecSpec("X", 0)
    with pytest.raises(ValueError):
        CodecSpec("X", 8000, static_payload_type=96)
    assert CodecSpec("X", 8000).sample_rate == 8000


def test_spec_only_codecs_have_no_audio_coders() -> None:
    event = find("telephone-event", 8000)
    assert isinstance(event, SpecOnlyCodec) and not event.transcodable
    assert event.spec.fmtp == "0-16"
    with pytest.raises(NotImplementedError):
        event.encoder()
    with pytest.raises(NotImplementedError):
        event.decoder()


def test_base_decoder_falls_back_to_concealment_for_fec() -> None:
    decoder = find("PCMU", 8000).decoder()
    assert not decoder.supports_fec
    assert len(decoder.decode_fec(b"\xff" * 160, 160)) == 160


# -- plugins ------------------------------------------------------------------------------------


@pytest.fixture
def plugin_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("toy_codec_plugin")
    module.codec = ToyCodec(8000)  # type: ignore[attr-defined]
    module.several = lambda: [ToyCodec(16000), ToyCodec(32000)]  # type: ignore[attr-defined]
    module.wrong = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "toy_codec_plugin", module)
    return module.__name__


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="pycc.codecs")


def test_plugins_register_codecs_and_broken_ones_are_logged(
    plugin_module: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()
    register_builtins(registry)
    plugins = [
        entry("toy", f"{plugin_module}:codec"),
        entry("missing", "no_such_module_anywhere:codec"),
        entry("wrong", f"{plugin_module}:wrong"),
        entry("several", f"{plugin_module}:several"),
        entry("pcmu", f"{plugin_module}:codec"),  # the same toy again: replaces quietly
    ]
    with caplog.at_level(logging.INFO, logger="pycc.codecs.registry"):
        added = load_plugins(registry, lambda: plugins)
    assert added == 4
    assert {str(registry.find("x-toy", rate).spec) for rate in (8000, 16000, 32000)} == {
        "X-TOY/8000", "X-TOY/16000", "X-TOY/32000"}
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.args[0] for r in failed] == ["missing", "wrong"]  # type: ignore[index]
    assert str(registry.find("PCMU", 8000).spec) == "PCMU/8000"  # built-ins untouched


def test_installed_plugins_are_read_from_the_entry_point_group(
    monkeypatch: pytest.MonkeyPatch, plugin_module: str
) -> None:
    from pycc.codecs import registry as registry_module

    seen: list[str] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        seen.append(group)
        return [entry("toy", f"{plugin_module}:codec")]

    monkeypatch.setattr(registry_module.metadata, "entry_points", fake_entry_points)
    registry = Registry()
    assert load_plugins(registry) == 1
    assert seen == ["pycc.codecs"]


def test_missing_g729_library_is_reported_by_find(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        with monkeypatch.context() as patch:
            patch.setattr(g729_module, "LIBRARY_NAMES", ["libbcg729-not-here.so.0"])
            patch.setattr(g729_module.ctypes.util, "find_library", lambda name: None)
            g729_module._forget_library()
            registry = Registry()
            register_builtins(registry)  # no import error, no exception
            with pytest.raises(UnknownCodec, match="libbcg729-0"):
                registry.find("G729", 8000)
            assert "G729/8000" in registry.unavailable()
            assert "G729" not in registry.names()
            assert "PCMU" in registry.names()
    finally:
        g729_module._forget_library()
    assert g729_module.unavailable_reason() is None  # the real library loads again


# -- bad input: one failure kind ----------------------------------------------------------------


TRANSCODABLE = [c for c in default_registry() if c.transcodable]


@pytest.mark.parametrize("codec", TRANSCODABLE, ids=lambda c: str(c.spec))
@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=300))
def test_any_payload_decodes_or_raises_codec_error(codec: Codec, payload: bytes) -> None:
    decoder = codec.decoder()
    try:
        pcm = decoder.decode(payload)
    except CodecError:
        return
    assert pcm.dtype == np.int16
    assert pcm.ndim == (1 if codec.spec.pcm_channels == 1 else 2)
    # The decoder survives and still conceals.
    assert len(decoder.conceal(codec.spec.samples_per_frame)) == codec.spec.samples_per_frame


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_opus_fmtp_parses_or_raises_codec_error(fmtp: str) -> None:
    try:
        codec = OpusCodec.from_fmtp(fmtp)
    except CodecError:
        return
    assert 6000 <= codec.bitrate <= 510000
