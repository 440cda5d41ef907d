"""Audio and video codecs and the registry that finds them by their SDP name.

:mod:`pycc.codecs.registry` defines :class:`CodecSpec`, the :class:`Codec`, :class:`Encoder`
and :class:`Decoder` interfaces and :class:`Registry` (with how third parties add codecs);
the codec modules implement G.711 (:mod:`~pycc.codecs.g711`, table lookup, bit-exact with
ITU-T G.191), L16 (:mod:`~pycc.codecs.l16`), G.722 (:mod:`~pycc.codecs.g722`, PyAV),
Opus (:mod:`~pycc.codecs.opus`, opuslib), G.729A (:mod:`~pycc.codecs.g729`, the system bcg729
library), telephone-event (:mod:`~pycc.codecs.telephone_event`) and VP8/H.264
(:mod:`~pycc.codecs.video`). Pure code: no event loop, no sockets, no clock.

Typical use::

    codec = find("PCMU", 8000)
    encoder, decoder = codec.encoder(), codec.decoder()
    payload = encoder.encode(pcm_160_samples)
"""

from __future__ import annotations

from pycc.codecs.errors import CodecError, UnknownCodec
from pycc.codecs.registry import (
    PLUGIN_GROUP,
    Codec,
    CodecSpec,
    Decoder,
    Encoder,
    MediaKind,
    Registry,
    SpecOnlyCodec,
    default_registry,
    find,
    load_plugins,
)

__all__ = [
    "PLUGIN_GROUP",
    "Codec",
    "CodecError",
    "CodecSpec",
    "Decoder",
    "Encoder",
    "MediaKind",
    "Registry",
    "SpecOnlyCodec",
    "UnknownCodec",
    "default_registry",
    "find",
    "load_plugins",
]
