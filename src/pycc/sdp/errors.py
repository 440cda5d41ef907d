"""The one error type of :mod:`pycc.sdp`.

Every malformed description, whatever line or field is wrong, raises :class:`SdpError`: callers
(the SIP layer answering an INVITE, the B2BUA reading a 200 OK) need exactly one ``except`` and a
message that says where the description went wrong.
"""

from __future__ import annotations

__all__ = ["SdpError"]


class SdpError(ValueError):
    """A session description that cannot be parsed or serialized.

    ``line`` is the 1-based line number in the received text (``None`` when the problem is not
    tied to one line, e.g. a missing ``o=`` or a bad value found while serializing), ``field`` the
    SDP type letter or attribute concerned (``"m"``, ``"o"``, ``"rtpmap"``).
    """

    #: A UAS that cannot parse the SDP body of a request answers 400 (RFC 3261 §21.4.1); one that
    #: parses it but cannot accept any stream answers 488, which is the caller's decision.
    status_hint = 400

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.reason = message
        self.line = line
        self.field = field
        where: list[str] = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"{field}=" if len(field) == 1 else f"a={field}")
        prefix = f"SDP {' '.join(where)}: " if where else "SDP: "
        super().__init__(prefix + message)
