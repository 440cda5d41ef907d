"""Errors of the RTP core.

Every parser in :mod:`pycc.rtp` raises exactly one kind of error for bad input: `RtpError` or a
subclass, which is a `ValueError`. Its ``reason`` is a short machine-friendly word (``"short"``,
``"version"``, ``"padding"``, ``"extension"``, ``"csrc"``, ...) that the media layer uses as the
key of its drop counters; ``detail`` is the human explanation.
"""

from __future__ import annotations

__all__ = ["DtmfError", "RtcpError", "RtpError"]


class RtpError(ValueError):
    """A packet (or a field given to a serializer) breaks RFC 3550's rules."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, {self.detail!r})"


class RtcpError(RtpError):
    """A malformed RTCP compound packet (RFC 3550 §6.4, RFC 4585 §6.1)."""


class DtmfError(RtpError):
    """A malformed RFC 4733 telephone-event payload."""
