"""The codecs pycc ships, registered in the order pycc prefers them in an SDP offer.

Wideband first (Opus, G.722), then the G.711 pair every SIP device supports, G.729 for
low-bandwidth trunks, L16 for lossless internal legs, telephone-event (RFC 4733) at both clock
rates, and the video formats. A codec whose native library is missing here is recorded as
unavailable, with the package to install, instead of failing the import.
"""

from __future__ import annotations

from pycc.codecs import g729, opus
from pycc.codecs.g711 import G711Codec
from pycc.codecs.g722 import G722Codec
from pycc.codecs.l16 import L16Codec
from pycc.codecs.registry import Registry
from pycc.codecs.telephone_event import TELEPHONE_EVENT_RATES, telephone_event
from pycc.codecs.video import h264, vp8

__all__ = ["L16_RATES", "register_builtins"]

#: Rates at which mono L16 is registered.
L16_RATES = (8000, 16000, 48000)


def register_builtins(registry: Registry) -> None:
    if opus.UNAVAILABLE is None:
        registry.register(opus.OpusCodec())
    else:
        registry.mark_unavailable(opus.OPUS, opus.UNAVAILABLE)
    registry.register(G722Codec())
    registry.register(G711Codec.ulaw())
    registry.register(G711Codec.alaw())
    g729_missing = g729.unavailable_reason()
    if g729_missing is None:
        registry.register(g729.G729Codec())
    else:
        registry.mark_unavailable(g729.G729, g729_missing)
    for rate in L16_RATES:
        registry.register(L16Codec(rate))
    for rate in TELEPHONE_EVENT_RATES:
        registry.register(telephone_event(rate))
    registry.register(vp8())
    registry.register(h264())
