"""The HTTP admin API (FastAPI), served by ``pycc serve`` in the switch's own event loop.

:mod:`~pycc.api.app` builds the application, :mod:`~pycc.api.server` serves it with uvicorn
without a loop of its own, :mod:`~pycc.api.problems` turns every error into an RFC 9457
problem document naming the field, :mod:`~pycc.api.auth` resolves the caller (bearer token or
basic credentials) and checks the role table of :mod:`pycc.aaa.roles`,
:mod:`~pycc.api.paging` pages lists by cursor, :mod:`~pycc.api.idempotency` replays a POST
sent again with the same ``Idempotency-Key``. The routes live in ``pycc.api.routes_*``.
"""

from __future__ import annotations

from pycc.api.app import ApiContext, create_app
from pycc.api.server import ApiServer

__all__ = ["ApiContext", "ApiServer", "create_app"]
