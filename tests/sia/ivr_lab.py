"""A small lab for IVR tests: a real MediaServer on 127.0.0.1 and callers with real RTP.

Each caller is an :class:`RtpPhone` (tests/peers/rtp_phone.py) whose SDP offer pycc answers
locally, as the B2BUA does for a call to an application; the phone's RFC 4733 keys reach the
channel through the media session, exactly as in a running switch. Hanging the caller up ends
the media session, which is what the switch does on a BYE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from peers.net import free_port
from peers.rtp_phone import RtpPhone
from pycc.media.channel import Channel, MediaEngine
from pycc.media.server import MediaServer
from pycc.media.session import MediaSession
from pycc.sdp.session import SessionDescription
from pycc.sia.call import IvrCall
from pycc.sia.tts import Tts

HOST = "127.0.0.1"
RATE = 8000


@dataclass
class Caller:
    """One caller in the IVR: pycc's side (call, channel) and the phone's."""

    call: IvrCall
    channel: Channel
    phone: RtpPhone
    session: MediaSession
    keys: list[str] = field(default_factory=list)


class Lab:
    def __init__(self, server: MediaServer, root: Path, stack: contextlib.AsyncExitStack) -> None:
        self.server = server
        self.root = root
        self.stack = stack
        self.files = root / "files"
        self.prompts = root / "prompts"
        self.prompts.mkdir(parents=True, exist_ok=True)
        self.tts = Tts(root / "tts")
        self.hung_up: list[MediaSession] = []

    @property
    def engine(self) -> MediaEngine:
        assert self.server.engine is not None
        return self.server.engine

    async def caller(self, number: str = "1001", called: str = "8000",
                     variables: dict[str, str] | None = None) -> Caller:
        phone = await self.stack.enter_async_context(RtpPhone())
        channels: list[Channel] = []
        session = self.server.new_session(
            f"ivr-{number}", on_digit=lambda _party, digit, _form: channels[0].press(digit))
        session.set_address("a", HOST)
        answer = session.answer_locally(SessionDescription.parse(phone.offer()), "a")

        def hang_up() -> None:
            self.hung_up.append(session)
            self.server.end_session(session)

        channel = self.engine.channel(session, "a", name=f"ivr-{number}", hangup=hang_up)
        channels.append(channel)
        phone.learn(answer.to_bytes())
        keys: list[str] = []
        call = IvrCall(channel, caller=number, called=called, variables=variables,
                       files_dir=self.files, prompts_dir=self.prompts, tts=self.tts,
                       on_key=keys.append)
        return Caller(call, channel, phone, session, keys)

    def caller_hangs_up(self, caller: Caller) -> None:
        """The caller's BYE: the switch ends the media session."""
        self.server.end_session(caller.session)


@contextlib.asynccontextmanager
async def lab(root: Path) -> AsyncIterator[Lab]:
    base = free_port("udp", count=25)
    first = base + (base & 1)
    server = MediaServer(HOST, f"{first}-{first + 23}")
    await server.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            yield Lab(server, root, stack)
    finally:
        await server.close()


def run(root: Path, scenario: Callable[[Lab], Awaitable[None]], timeout: float = 15) -> None:
    async def main() -> None:
        async with asyncio.timeout(timeout), lab(root) as the_lab:
            await scenario(the_lab)

    asyncio.run(main())


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


# -- a tiny web service on 127.0.0.1 ------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    body: Any


class WebService:
    """An HTTP server in a thread: ``routes`` maps a path to (status, body bytes, delay)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, float]] = {}
        self.seen: list[Seen] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                self.answer(json.loads(raw) if raw else None)

            def answer(self, body: Any) -> None:
                service.seen.append(Seen(self.command, self.path, body))
                status, payload, delay = service.routes.get(
                    self.path.split("?")[0], (404, b'{"error": "not found"}', 0.0))
                if delay:
                    threading.Event().wait(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def __enter__(self) -> WebService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
