"""A minimal HTTP server on 127.0.0.1 that receives the alarm webhook's POSTs.

It answers each request with the next status of its script (then 200), after ``delay``
seconds, and keeps every JSON body with its arrival time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Receiver:
    """A minimal HTTP/1.1 server: records each request's JSON body and when it came."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay = delay
        self.bodies: list[object] = []
        self.times: list[float] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/alarms"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                assert lines[0].startswith("POST /alarms "), lines[0]
                length = next(int(line.split(":", 1)[1]) for line in lines
                              if line.lower().startswith("content-length:"))
                body = await reader.readexactly(length)
                self.times.append(time.monotonic())
                self.bodies.append(json.loads(body))
                if self.delay:
                    await asyncio.sleep(self.delay)
                status = self.statuses.pop(0) if self.statuses else 200
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.bodies) < count:
                await asyncio.sleep(0.01)


@asynccontextmanager
async def receiver(statuses: list[int] | None = None, delay: float = 0.0
                   ) -> AsyncIterator[Receiver]:
    made = Receiver(statuses, delay)
    made.server = await asyncio.start_server(made.handle, "127.0.0.1", 0)
    try:
        yield made
    finally:
        made.server.close()
