"""The API served in the switch's own event loop: uvicorn's server without a loop, signal
handlers or logging set-up of its own, on a socket bound here (so port 0 works and the bound
address is known at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from pycc.api.routes_phone import close_all

__all__ = ["ApiServer"]

log = logging.getLogger("pycc.api")

# How long an idle HTTP connection stays open. Longer than the idle expiry of the clients'
# pools (httpx and most others keep a connection 5 s, load balancers 60 s): with uvicorn's own
# 5 s, a client reusing a connection at 4.99 s met the server's close and lost its request
# ("server disconnected without sending a response").
KEEP_ALIVE_S = 75


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handling: the switch owns the process's signals
    (uvicorn would put its own handlers in, then put back the ones it found when it stops:
    the default ones, which kill the process on a second SIGTERM)."""

    def install_signal_handlers(self) -> None:
        pass

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """Serves ``app`` on ``host``:``port`` until `stop`."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the bound port when 0 was asked for)."""
        if self._socket is None:
            return self.host, self.port
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(self.app, loop="none", lifespan="off", log_config=None,
                                access_log=False, ws="websockets-sansio",
                                timeout_graceful_shutdown=2, timeout_keep_alive=KEEP_ALIVE_S)
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[sock]))
        # Started once uvicorn says so, or failed.
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        # The browsers' phones first: they hang up and unregister while the switch runs.
        with contextlib.suppress(Exception):
            await close_all(self.app)
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5.0)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
