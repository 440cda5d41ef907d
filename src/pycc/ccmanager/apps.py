"""Built-in services for numbers pycc answers itself, named in ``pycc.toml``'s
``[applications]`` table: what an operator sets up to test phones and to meet.

- ``echo``: the caller hears itself (a round-trip test of audio and latency);
- ``conference:NAME``: joins the conference ``NAME`` (everyone hears everyone else; a tone
  when someone joins or leaves);
- ``tone:NAME``: a tone of the tone plan until the caller hangs up (``tone:ringback``,
  ``tone:hold`` ...);
- ``play:FILE``: plays a file (relative paths are under the data dir), then hangs up.

Developers register their own coroutine with :meth:`pycc.switch.Switch.add_application`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from pycc.media.channel import Channel, MediaEngine

__all__ = ["Application", "builtin_application"]

Application = Callable[[Channel], Awaitable[None]]


def builtin_application(spec: str, engine: MediaEngine, data_dir: Path) -> Application:
    """The service ``spec`` names; raises ValueError naming an unknown one."""
    kind, _, argument = spec.partition(":")
    if kind == "echo" and not argument:
        return _echo
    if kind == "conference" and argument:
        return _conference(engine, argument)
    if kind == "tone" and argument:
        return _tone(argument)
    if kind == "play" and argument:
        path = Path(argument)
        return _play(path if path.is_absolute() else data_dir / path)
    raise ValueError(
        f"unknown application {spec!r}: use echo, conference:NAME, tone:NAME or play:FILE")


async def _echo(channel: Channel) -> None:
    mix = channel.engine.mix_for(channel)
    mix.add_source(f"echo-{channel.id}", channel.input(mix.rate), heard_by=[channel.id])
    await channel.ended.wait()


def _conference(engine: MediaEngine, name: str) -> Application:
    async def conference(channel: Channel) -> None:
        room = engine.conference(name)
        await room.join(channel)
        try:
            await channel.ended.wait()
        finally:
            await room.leave(channel)

    return conference


def _tone(name: str) -> Application:
    async def tone(channel: Channel) -> None:
        await channel.play(f"tone:{name}")
        await channel.ended.wait()

    return tone


def _play(path: Path) -> Application:
    async def play(channel: Channel) -> None:
        await channel.play(path)

    return play
