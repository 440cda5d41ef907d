"""Errors of the SIP core.

Following h11's split, a `SipParseError` is the peer's fault and carries the status a server
answers with (RFC 3261 §21, RFC 4475 §3.1.2 and §3.3 say which); ``status is None`` means the
message must be dropped silently (a malformed response, or a request whose Via cannot be read).
A `SipUsageError` is a bug in the caller of the core.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error raised by :mod:`pycc.sip`."""


class SipParseError(SipError):
    """A received message is malformed.

    ``status``/``reason`` is the answer a server sends when it can still read the Via of the
    request; ``raw_headers`` holds whatever header lines were read, so that answer can be built.
    """

    def __init__(
        self,
        reason: str,
        status: int | None = 400,
        *,
        raw_headers: list[tuple[str, str]] | None = None,
        is_request: bool | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.raw_headers = raw_headers
        self.is_request = is_request

    def __repr__(self) -> str:
        return f"SipParseError({self.status}, {self.reason!r})"


class SipUsageError(SipError):
    """The core was driven in a way its state does not allow (a programming error)."""
