"""``telephone-event``: DTMF and line events as RTP payloads (RFC 4733).

It is negotiated like a codec (``a=rtpmap:101 telephone-event/8000``, ``a=fmtp:101 0-16``,
RFC 4733 §7.1.1) and must use the clock rate of the audio codec it accompanies, so it is
registered at 8000 Hz (G.711, G.729, and G.722's 8000 Hz RTP clock) and 48000 Hz (Opus). It
carries no audio: the event payloads themselves are built and parsed by the RTP layer.
"""

from __future__ import annotations

from pycc.codecs.registry import CodecSpec, SpecOnlyCodec

__all__ = ["TELEPHONE_EVENT_RATES", "telephone_event", "telephone_event_spec"]

#: Clock rates pycc offers telephone-event at.
TELEPHONE_EVENT_RATES = (8000, 48000)


def telephone_event_spec(clock_rate: int) -> CodecSpec:
    # The 50 ms default is RFC 4733 §2.5.1.2's recommended interval between event packets.
    return CodecSpec("telephone-event", clock_rate, frame_ms=50, fmtp="0-16")


def telephone_event(clock_rate: int = 8000) -> SpecOnlyCodec:
    """The telephone-event payload format at ``clock_rate``."""
    return SpecOnlyCodec(telephone_event_spec(clock_rate))
