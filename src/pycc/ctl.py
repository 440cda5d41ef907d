"""The control socket: how ``pycc status``, ``pycc agent ...`` and ``pycc apply`` reach a running
``pycc serve`` on the same machine (as ``asterisk -rx`` and ``fs_cli`` do).

A UNIX stream socket in the data directory (``pycc.ctl``, mode 0600: only the user running
pycc may use it) takes one JSON request per line and answers one JSON line:
``{"command": "status"}`` -> ``{"ok": true, "result": {...}}``; a refused or bad request gets
``{"ok": false, "error": "why"}``. Commands are handled by a mapping of names to coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CTL_NAME", "ControlError", "ControlServer", "request"]

log = logging.getLogger("pycc.ctl")

CTL_NAME = "pycc.ctl"
#: Longest request line accepted: a control request is a few hundred bytes.
MAX_LINE = 64 * 1024

Handler = Callable[[Mapping[str, Any]], Awaitable[object]]


class ControlError(Exception):
    """The switch refused a request, or no switch is listening."""


class ControlServer:
    """Serves the control socket of a running switch."""

    def __init__(self, path: Path, handlers: Mapping[str, Handler]) -> None:
        self.path = path
        self.handlers = dict(handlers)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self.path.exists() or self.path.is_symlink():
            if _listening(self.path):
                raise ControlError(f"another pycc is running on {self.path}")
            self.path.unlink()  # left by a switch that did not stop cleanly
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                           limit=MAX_LINE)
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await _reply(writer, {"ok": False, "error": "request line too long"})
                    return
                if not line:
                    return
                await _reply(writer, await self._answer(line))
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, object]:
        try:
            request = json.loads(line)
        except ValueError as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": "a request is an object with a \"command\""}
        handler = self.handlers.get(request["command"])
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return {"ok": False, "error": f"unknown command {request['command']!r} ({known})"}
        try:
            return {"ok": True, "result": await handler(request)}
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("control command %s failed", request["command"])
            return {"ok": False, "error": f"internal error: {exc}"}


async def _reply(writer: asyncio.StreamWriter, answer: dict[str, object]) -> None:
    writer.write(json.dumps(answer, default=str).encode() + b"\n")
    await writer.drain()


def _listening(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def request(data_dir: Path, command: str, timeout: float = 10.0, **fields: object) -> Any:
    """Send one request to the switch serving ``data_dir`` (blocking: for the CLI) and return
    its result; raises ControlError when it refuses or when no switch is running there."""
    path = data_dir / CTL_NAME
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no pycc is running with data dir {data_dir}") from None
        client.sendall(json.dumps({"command": command, **fields}).encode() + b"\n")
        buffer = b""
        while not buffer.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                break
            buffer += chunk
    except TimeoutError:
        raise ControlError(f"pycc did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise ControlError(f"cannot talk to pycc at {path}: {exc}") from None
    finally:
        client.close()
    try:
        answer = json.loads(buffer)
    except ValueError:
        raise ControlError("pycc sent an answer that is not JSON") from None
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "refused")))
    return answer.get("result")
