"""The codec registry: what a codec is, and how pycc finds one by its SDP name.

A codec is described by a :class:`CodecSpec` (its RTP/SDP identity, RFC 3551 §6 and RFC 8866
§6.6 ``a=rtpmap``, plus the PCM format it converts to) and implemented by a :class:`Codec`
whose factories make one :class:`Encoder` and one :class:`Decoder` per stream: codecs keep
state (ADPCM predictors, LPC history, concealment buffers), so streams never share them.

PCM is a numpy int16 array at ``spec.sample_rate`` (see :mod:`pycc.dsp.pcm`); a spec's
``clock_rate`` is the RTP timestamp rate, which differs for G.722 (8000, RFC 3551 §4.5.2)
and Opus (always 48000 with 2 channels in SDP, RFC 7587 §4).

Lookups go through a :class:`Registry`: ``default_registry()`` holds the built-ins (PCMU, PCMA,
G722, G729, opus, L16, telephone-event, VP8, H264) and every third-party codec installed as a
plugin. ``find(name, clock_rate, channels)`` compares names case-insensitively (RFC 4855 §3).

Adding a codec from another package
-----------------------------------
Subclass :class:`Codec` (with an :class:`Encoder` and a :class:`Decoder`), then either register
an instance yourself::

    from pycc.codecs import default_registry
    default_registry().register(MyCodec())

or let pycc find it: declare an entry point in the group ``pycc.codecs`` in your package's
``pyproject.toml``::

    [project.entry-points."pycc.codecs"]
    amrwb = "my_package.amrwb:codec"

The object the entry point names may be a :class:`Codec`, an iterable of codecs, or a
callable returning either. Plugins load when the default registry is first used; one that
fails to import or returns something else is logged and skipped, never fatal, and a plugin
may replace a built-in with the same name, rate and channels.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

from pycc.codecs.errors import UnknownCodec
from pycc.dsp.pcm import Pcm

__all__ = [
    "PLUGIN_GROUP",
    "Codec",
    "CodecSpec",
    "Decoder",
    "Encoder",
    "MediaKind",
    "Registry",
    "SpecOnlyCodec",
    "default_registry",
    "find",
    "load_plugins",
]

log = logging.getLogger(__name__)

#: Entry-point group through which installed packages add codecs.
PLUGIN_GROUP = "pycc.codecs"

MediaKind = Literal["audio", "video"]
CodecKey = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """A codec's identity in SDP and RTP, and the PCM it exchanges with pycc.

    ``name``, ``clock_rate`` and ``channels`` are the ``a=rtpmap`` triple; ``sample_rate`` and
    ``pcm_channels`` the PCM the encoder takes and the decoder gives (``sample_rate`` 0 means
    "same as the clock rate"); ``frame_ms`` the default packet time; ``fmtp`` the ``a=fmtp``
    parameters pycc offers; ``bitrate`` the nominal rate in bit/s (0: variable or none).
    """

    name: str
    clock_rate: int
    channels: int = 1
    sample_rate: int = 0
    frame_ms: int = 20
    static_payload_type: int | None = None
    fmtp: str = ""
    bitrate: int = 0
    kind: MediaKind = "audio"
    pcm_channels: int = 1

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in " /\t\r\n"):
            raise ValueError(f"bad codec name {self.name!r}")
        if self.clock_rate <= 0 or self.channels <= 0 or self.frame_ms <= 0:
            raise ValueError(f"{self.name}: clock rate, channels and frame time must be > 0")
        if self.sample_rate == 0:
            object.__setattr__(self, "sample_rate", self.clock_rate)
        if self.static_payload_type is not None and not 0 <= self.static_payload_type <= 95:
            raise ValueError(f"{self.name}: static payload type must be 0-95")

    @property
    def encoding(self) -> str:
        """The rtpmap encoding name: with this, a spec is a :class:`pycc.sdp.CodecLike`."""
        return self.name

    @property
    def key(self) -> CodecKey:
        return (self.name.casefold(), self.clock_rate, self.channels)

    @property
    def samples_per_frame(self) -> int:
        """PCM samples (per channel) in one default-size frame."""
        return self.sample_rate * self.frame_ms // 1000

    @property
    def timestamp_step(self) -> int:
        """RTP timestamp increment per default-size frame (RFC 3550 §5.1)."""
        return self.clock_rate * self.frame_ms // 1000

    def samples_for(self, ms: int) -> int:
        """PCM samples (per channel) in ``ms`` milliseconds."""
        return self.sample_rate * ms // 1000

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.clock_rate}{tail}"


class Encoder(ABC):
    """One stream's encoder: PCM frames in, RTP payloads out."""

    __slots__ = ()

    @property
    @abstractmethod
    def spec(self) -> CodecSpec: ...

    @property
    @abstractmethod
    def samples_per_frame(self) -> int:
        """PCM samples (per channel) :meth:`encode` takes for one packet."""

    @abstractmethod
    def encode(self, pcm: Pcm) -> bytes:
        """The payload for one packet's worth of PCM (``samples_per_frame`` samples)."""

    def expect_loss(self, percent: int) -> None:
        """The share of packets the receiver reports losing (RTCP, RFC 3550 §6.4.1), for an
        encoder that sizes its redundancy on it; most have none and ignore it."""
        return None


class Decoder(ABC):
    """One stream's decoder: RTP payloads in, PCM out, with loss concealment."""

    __slots__ = ()

    #: True when :meth:`decode_fec` recovers audio from redundancy (Opus in-band FEC).
    supports_fec: bool = False

    @property
    @abstractmethod
    def spec(self) -> CodecSpec: ...

    @abstractmethod
    def decode(self, payload: bytes) -> Pcm:
        """All the PCM in one payload (it may hold several codec frames).

        Raises :class:`~pycc.codecs.errors.CodecError` for a payload the codec cannot decode.
        """

    @abstractmethod
    def conceal(self, samples: int) -> Pcm:
        """``samples`` of substitute PCM for a lost packet (packet loss concealment)."""

    def decode_fec(self, next_payload: bytes, samples: int) -> Pcm:
        """The lost packet's ``samples`` recovered from the packet after it.

        Codecs without in-band redundancy conceal instead, so a jitter buffer may always call
        this when the next packet has already arrived.
        """
        return self.conceal(samples)


class Codec(ABC):
    """A codec implementation: a spec and per-stream encoder and decoder factories."""

    #: False for payload formats that carry no PCM (telephone-event, video).
    transcodable: bool = True

    @property
    @abstractmethod
    def spec(self) -> CodecSpec: ...

    @abstractmethod
    def encoder(self, frame_ms: int | None = None) -> Encoder:
        """A new encoder producing ``frame_ms`` packets (default ``spec.frame_ms``)."""

    @abstractmethod
    def decoder(self) -> Decoder:
        """A new decoder."""

    def at_rate(self, sample_rate: int) -> Codec:
        """This codec exchanging PCM at ``sample_rate`` if it can do so itself (Opus decodes
        to and encodes from 8 to 48 kHz), saving a resampler; else the codec unchanged."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"


class SpecOnlyCodec(Codec):
    """A payload format pycc negotiates and relays but does not turn into PCM."""

    transcodable = False

    def __init__(self, spec: CodecSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> CodecSpec:
        return self._spec

    def encoder(self, frame_ms: int | None = None) -> Encoder:
        raise NotImplementedError(f"{self._spec} carries no PCM: there is no audio encoder")

    def decoder(self) -> Decoder:
        raise NotImplementedError(f"{self._spec} carries no PCM: there is no audio decoder")


class Registry:
    """Codecs by ``(name, clock_rate, channels)``, in the order of preference they were added.

    ``mark_unavailable`` records a codec that exists but cannot run on this host (its native
    library is missing); ``find`` then explains what to install instead of "unknown".
    """

    __slots__ = ("_codecs", "_unavailable")

    def __init__(self, codecs: Iterable[Codec] = ()) -> None:
        self._codecs: dict[CodecKey, Codec] = {}
        self._unavailable: dict[CodecKey, tuple[CodecSpec, str]] = {}
        for codec in codecs:
            self.register(codec)

    def register(self, codec: Codec, *, replace: bool = False) -> None:
        """Add ``codec``; another one with the same key is an error unless ``replace``."""
        if not isinstance(codec, Codec):
            raise TypeError(f"not a pycc codec: {codec!r}")
        key = codec.spec.key
        if key in self._codecs and not replace:
            raise ValueError(f"codec {codec.spec} is already registered")
        self._codecs[key] = codec
        self._unavailable.pop(key, None)

    def mark_unavailable(self, spec: CodecSpec, reason: str) -> None:
        """Record that ``spec`` cannot be used here, and why (named by :meth:`find`)."""
        if spec.key not in self._codecs:
            self._unavailable[spec.key] = (spec, reason)

    def find(self, name: str, clock_rate: int, channels: int = 1) -> Codec:
        """The codec for an rtpmap triple; :class:`UnknownCodec` says why there is none."""
        key = (name.casefold(), clock_rate, channels)
        codec = self._codecs.get(key)
        if codec is not None:
            return codec
        missing = self._unavailable.get(key)
        if missing is not None:
            raise UnknownCodec(f"codec {missing[0]} is not available: {missing[1]}")
        variants = [str(c.spec) for k, c in self._codecs.items() if k[0] == key[0]]
        hint = f"; registered: {', '.join(variants)}" if variants else ""
        tail = f"/{channels}" if channels != 1 else ""
        raise UnknownCodec(f"no codec {name}/{clock_rate}{tail}{hint}")

    def find_static(self, payload_type: int) -> Codec:
        """The codec of a static RTP payload type (RFC 3551 §6: 0 PCMU, 8 PCMA, 9 G722...)."""
        for codec in self._codecs.values():
            if codec.spec.static_payload_type == payload_type:
                return codec
        raise UnknownCodec(f"no codec for static payload type {payload_type}")

    def names(self) -> list[str]:
        """Distinct codec names, in preference order."""
        return list(dict.fromkeys(c.spec.name for c in self._codecs.values()))

    def specs(self, kind: MediaKind | None = None) -> list[CodecSpec]:
        """The registered specs in preference order (of one media kind if given): the list an
        SDP offer or answer is built from."""
        return [c.spec for c in self._codecs.values() if kind is None or c.spec.kind == kind]

    def unavailable(self) -> dict[str, str]:
        """Codecs known but unusable on this host, with the reason."""
        return {str(spec): reason for spec, reason in self._unavailable.values()}

    def __iter__(self) -> Iterator[Codec]:
        return iter(list(self._codecs.values()))

    def __len__(self) -> int:
        return len(self._codecs)

    def __contains__(self, spec: object) -> bool:
        return isinstance(spec, CodecSpec) and spec.key in self._codecs


EntryPoints = Callable[[], Iterable[metadata.EntryPoint]]


def _installed_plugins() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=PLUGIN_GROUP)


def _codecs_of(obj: object) -> list[Codec]:
    """The codecs a plugin object stands for (see the module docstring), or TypeError."""
    if isinstance(obj, Codec):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, Codec):
        return [obj()]
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        items = list(obj)
        if all(isinstance(item, Codec) for item in items):
            return items
    elif callable(obj):
        return _codecs_of(obj())
    raise TypeError(f"expected a Codec, codecs, or a callable returning them, got {obj!r}")


def load_plugins(registry: Registry, entry_points: EntryPoints = _installed_plugins) -> int:
    """Register the codecs of every plugin; returns how many codecs were added.

    A plugin that fails in any way is logged and skipped.
    """
    added = 0
    for entry in entry_points():
        try:
            codecs = _codecs_of(entry.load())
            for codec in codecs:
                registry.register(codec, replace=True)
        except Exception:
            log.exception("codec plugin %s (%s) failed to load; skipped", entry.name,
                          entry.value)
            continue
        log.info("codec plugin %s added %s", entry.name, ", ".join(str(c.spec) for c in codecs))
        added += len(codecs)
    return added


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry: built-ins, then plugins, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                # Imported here: the codec modules import this one for the base classes.
                from pycc.codecs.builtin import register_builtins

                registry = Registry()
                register_builtins(registry)
                load_plugins(registry)
                _default = registry
    return _default


def find(name: str, clock_rate: int, channels: int = 1) -> Codec:
    """``default_registry().find(...)``."""
    return default_registry().find(name, clock_rate, channels)
