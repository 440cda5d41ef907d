"""The API server's HTTP connections: an idle keep-alive connection outlives the clients' own
idle expiry, so a client reusing it never meets the server's close mid-request."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from pycc.api.server import KEEP_ALIVE_S, ApiServer

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


async def answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head + await asyncio.wait_for(reader.readexactly(length), 5.0)


async def reuse_after(idle_s: float) -> tuple[bytes, bytes]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    server = ApiServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(REQUEST)
        first = await answer(reader)
        await asyncio.sleep(idle_s)
        writer.write(REQUEST)
        try:
            second = await answer(reader)
        except asyncio.IncompleteReadError as closed:
            second = closed.partial
        writer.close()
        return first, second
    finally:
        await server.stop()


def test_an_idle_connection_outlives_the_clients_pool_expiry() -> None:
    assert KEEP_ALIVE_S > 60  # past httpx's 5 s and the load balancers' usual 60 s
    # Past uvicorn's own 5 s default, which closed the connection under the client.
    first, second = asyncio.run(reuse_after(6.0))
    assert first.startswith(b"HTTP/1.1 200") and first.endswith(b'{"pong":"yes"}')
    assert second.startswith(b"HTTP/1.1 200"), second
