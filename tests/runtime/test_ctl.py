"""The control socket: requests, refusals, bad input, and no switch running."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pycc.bus import Bus, Event
from pycc.ctl import CTL_NAME, ControlError, ControlServer, request


def _serve(tmp_path: Path, lines: list[bytes]) -> list[dict[str, Any]]:
    """Start a server with two commands, send ``lines`` raw, return the answers."""

    async def echo(req: Mapping[str, Any]) -> object:
        return {"echo": req.get("text")}

    async def refuse(_req: Mapping[str, Any]) -> object:
        raise ControlError("not now")

    async def main() -> list[dict[str, Any]]:
        server = ControlServer(tmp_path / CTL_NAME, {"echo": echo, "refuse": refuse})
        await server.start()
        try:
            mode = stat.S_IMODE((tmp_path / CTL_NAME).stat().st_mode)
            assert mode & 0o077 == 0, oct(mode)
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / CTL_NAME))
            answers = []
            for line in lines:
                writer.write(line)
                await writer.drain()
                answers.append(json.loads(await reader.readline()))
            writer.close()
        finally:
            await server.close()
        assert not (tmp_path / CTL_NAME).exists()
        return answers

    return asyncio.run(main())


def test_commands_refusals_and_bad_requests(tmp_path: Path) -> None:
    answers = _serve(tmp_path, [
        b'{"command": "echo", "text": "hi"}\n',
        b'{"command": "refuse"}\n',
        b'{"command": "nope"}\n',
        b"not json\n",
        b'["command"]\n',
    ])
    assert answers[0] == {"ok": True, "result": {"echo": "hi"}}
    assert answers[1] == {"ok": False, "error": "not now"}
    assert not answers[2]["ok"] and "unknown command 'nope'" in answers[2]["error"]
    assert not answers[3]["ok"] and answers[3]["error"].startswith("not JSON")
    assert not answers[4]["ok"] and "command" in answers[4]["error"]


def test_request_without_a_running_switch_names_the_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no pycc is running with data dir"):
        request(tmp_path, "status")


def test_stale_socket_is_replaced_and_a_live_one_refused(tmp_path: Path) -> None:
    path = tmp_path / CTL_NAME
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a killed switch leaves

    async def main() -> None:
        first = ControlServer(path, {})
        await first.start()
        try:
            with pytest.raises(ControlError, match="another pycc"):
                await ControlServer(path, {}).start()
        finally:
            await first.close()

    asyncio.run(main())


def test_bus_delivers_by_topic_and_survives_a_failing_subscriber() -> None:
    bus = Bus()
    seen: list[Event] = []
    every: list[str] = []

    def broken(_event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("agent.state", broken)
    unsubscribe = bus.subscribe("agent.state", seen.append)
    bus.subscribe("*", lambda e: every.append(e.topic))
    bus.publish("agent.state", agent="alice")
    bus.publish("queue.joined", queue="sales")
    unsubscribe()
    bus.publish("agent.state", agent="bob")
    assert [e.data["agent"] for e in seen] == ["alice"]
    assert every == ["agent.state", "queue.joined", "agent.state"]

    async def stream() -> list[str]:
        got: list[str] = []

        async def read() -> None:
            async for event in bus.stream("queue.left", maxsize=2):
                got.append(event.data["n"])
                if len(got) == 2:
                    return

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(0)
        for n in ("1", "2", "3"):
            bus.publish("queue.left", n=n)  # the reader is slow: the oldest is dropped
        await asyncio.wait_for(reader, 2)
        return got

    assert asyncio.run(stream()) == ["2", "3"]
