"""A browser's part of the web phone, played by aiortc: what the agent page does, in Python.

`PageDouble` logs in through ``POST /ui/session`` (the session cookie, the anti-forgery
value), opens ``/v1/phone`` with that cookie, sends a WebRTC offer from an aiortc peer
connection whose microphone is a tone, and keeps what it hears and every message pycc sends.
The agent-page tests in Chromium do the same through the real page; this double lets the
phone's protocol and audio be tested in seconds, and its failures read as Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import Callable
from typing import Any

import av
import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import ClientConnection, connect

from peers.rtp_phone import dominant_frequency, level_dbfs

RATE = 48000
FRAME = 960


class ToneTrack(MediaStreamTrack):
    """A microphone that says one tone, in real time."""

    kind = "audio"

    def __init__(self, frequency: float, level: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.level = level
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._pts / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        n = np.arange(self._pts, self._pts + FRAME)
        samples = (np.sin(2 * np.pi * self.frequency * n / RATE) * self.level * 32767)
        frame = av.AudioFrame.from_ndarray(samples.astype(np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


class PageDouble:
    """One agent page: its session, its phone socket, its peer connection."""

    def __init__(self, base: str, tone: float) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base)
        self.csrf = ""
        self.tone = ToneTrack(tone)
        self.pc: RTCPeerConnection | None = None
        self.socket: ClientConnection | None = None
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self.heard: list[tuple[float, np.ndarray[Any, Any]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def login(self, user: str, password: str) -> dict[str, Any]:
        answer = await self.http.post("/ui/session", json={"user": user, "password": password})
        answer.raise_for_status()
        session: dict[str, Any] = answer.json()
        self.csrf = session["csrf"]
        return session

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        return await self.http.request(method, path, headers=headers, **kwargs)

    def cookie_headers(self) -> dict[str, str]:
        """What a page's WebSocket carries: its session cookie and its origin."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        return {"Cookie": cookie, "Origin": self.base}

    async def open_phone(self, query: str = "") -> None:
        url = self.base.replace("http://", "ws://") + "/v1/phone" + query
        self.socket = await connect(url, additional_headers=self.cookie_headers())
        self._tasks.append(asyncio.get_running_loop().create_task(self._read()))
        pc = RTCPeerConnection()
        self.pc = pc
        pc.addTrack(self.tone)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._listen(track)))

        await pc.setLocalDescription(await pc.createOffer())
        await self.send(op="offer", sdp=pc.localDescription.sdp)
        answer = await self.next_message("answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    async def send(self, **message: Any) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message))

    async def _read(self) -> None:
        assert self.socket is not None
        with contextlib.suppress(Exception):
            async for text in self.socket:
                self.messages.append(json.loads(text))
                self._arrived.set()

    async def _listen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                data = frame.to_ndarray().reshape(-1)
                channels = len(frame.layout.channels)
                mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data
                self.heard.append((time.monotonic(), mono.astype(np.int16)))

    async def next_message(self, op: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        """The first message (from the start) with ``op`` and the ``match`` fields; each
        message is returned once."""
        async with asyncio.timeout(timeout):
            while True:
                for index, message in enumerate(self.messages):
                    if message.get("op") == op and all(message.get(k) == v
                                                       for k, v in match.items()):
                        del self.messages[index]
                        return message
                self._arrived.clear()
                await self._arrived.wait()

    async def hear(self, seconds: float, timeout: float = 15.0) -> np.ndarray[Any, Any]:
        """``seconds`` of what the page hears from now on."""
        start = time.monotonic()
        async with asyncio.timeout(timeout):
            while True:
                chunks = [pcm for at, pcm in self.heard if at >= start]
                total = sum(len(c) for c in chunks)
                if total >= seconds * RATE:
                    return np.concatenate(chunks)[:int(seconds * RATE)]
                await asyncio.sleep(0.05)

    async def until_heard(self, share: Callable[[np.ndarray[Any, Any]], float],
                          least: float, timeout: float = 15.0) -> float:
        """Listen in half-second windows until ``share`` of one reaches ``least`` (the
        media of a new path can take a moment to flow on a loaded machine); the share."""
        best = 0.0
        last: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int16)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = await self.hear(0.5)
            best = max(best, share(last))
            if best >= least:
                return best
        # What was heard instead says where the audio went missing.
        raise AssertionError(
            f"heard at best a share of {best:.3f}, wanted {least}; the last half second: "
            f"{dominant_frequency(last, RATE):.0f} Hz at {level_dbfs(last):.1f} dBFS")

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.http.aclose()
