"""The errors of :mod:`pycc.codecs`.

:class:`CodecError` is the one error a decoder raises for a payload it cannot decode (wrong
length, corrupt bitstream): the media layer counts the packet as lost and conceals it.
:class:`UnknownCodec` is a failed registry lookup: the codec is not registered, or it is but its
native library is missing on this host (the message then names the package to install).
"""

from __future__ import annotations

__all__ = ["CodecError", "UnknownCodec"]


class CodecError(ValueError):
    """A payload or parameter that a codec cannot accept; ``codec`` names it (``"G729"``)."""

    def __init__(self, codec: str, reason: str) -> None:
        super().__init__(f"{codec}: {reason}")
        self.codec = codec
        self.reason = reason


class UnknownCodec(LookupError):
    """No usable codec for the name, clock rate and channel count asked for."""
