"""Browser sessions for pycc's pages: a login sets an HttpOnly cookie holding an API token.

A page never sees its token: ``POST /ui/session`` checks the user's password like
``/v1/login``, issues a token for half a day and sets it as the ``pycc_session`` cookie
(HttpOnly, SameSite=Strict, Secure over HTTPS). The API accepts that cookie wherever it
accepts ``Authorization: Bearer``.

Cross-site request forgery: a request authenticated by the cookie that changes anything
(every method but GET, HEAD and OPTIONS) must also carry ``X-CSRF-Token``, a value derived
from the session token that only pages of this origin can read (from ``GET /ui/session``).
A forged form or ``fetch`` from another site cannot set that header; SameSite=Strict keeps
the cookie off such requests in the first place. A WebSocket authenticated by the cookie
must come from a page of this origin (its ``Origin`` header), since browsers do not apply
the same-origin policy to WebSockets.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

__all__ = ["COOKIE", "CSRF_HEADER", "SAFE_METHODS", "csrf_for", "csrf_ok", "same_origin",
           "session_token"]

COOKIE: Final = "pycc_session"
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_DOMAIN: Final = b"pycc csrf v1\x00"


def session_token(connection: HTTPConnection) -> str | None:
    """The API token in the request's session cookie, if any."""
    value = connection.cookies.get(COOKIE, "").strip()
    return value or None


def csrf_for(token: str) -> str:
    """The anti-forgery value of a session: a keyed hash of its token, so that the server
    keeps nothing and the value dies with the session."""
    return hmac.new(token.encode(), _CSRF_DOMAIN, hashlib.sha256).hexdigest()[:32]


def csrf_ok(connection: HTTPConnection, token: str) -> bool:
    given = connection.headers.get(CSRF_HEADER, "")
    return bool(given) and hmac.compare_digest(given, csrf_for(token))


def same_origin(connection: HTTPConnection) -> bool:
    """Whether the request's ``Origin`` names this server (the host it was sent to)."""
    origin = connection.headers.get("origin")
    host = connection.headers.get("host")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
