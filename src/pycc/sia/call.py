"""The IVR's view of a call: what a flow does with a caller, as coroutines over a Channel.

Developers write flows as ``async def flow(call: IvrCall) -> Target | None``; the declarative
runner is built on the same methods. A prompt is a file (a relative one is looked up in the
prompts directory), ``tone:NAME`` (played by the channel) or ``tts:TEXT`` (synthesised by
:class:`~pycc.sia.tts.Tts`, cached). Every key the caller presses while the flow reads keys is
reported to ``on_key`` (a key tally, a live view of the call). When the caller hangs up, the
waiting method raises :class:`~pycc.media.channel.ChannelGone`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pycc.dsp.energy import VoiceActivity
from pycc.media.channel import Channel, ChannelGone, Recording
from pycc.media.player import PromptError
from pycc.sia.fetch import fetch_json
from pycc.sia.flow import TARGET_KINDS, Target, check_variable, substitute
from pycc.sia.tts import Tts, TtsError

__all__ = ["ALL_KEYS", "IvrCall"]

log = logging.getLogger("pycc.sia")

ALL_KEYS = "0123456789*#ABCD"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class IvrCall:
    """One caller in an IVR: play, collect, record, variables, web requests, transfer."""

    def __init__(self, channel: Channel, *, caller: str, called: str,
                 variables: dict[str, str] | None = None, files_dir: Path,
                 prompts_dir: Path | None = None, tts: Tts | None = None,
                 on_key: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.channel = channel
        self.files_dir = Path(files_dir)
        self.prompts_dir = Path(prompts_dir) if prompts_dir is not None \
            else self.files_dir / "prompts"
        self.tts = tts if tts is not None else Tts(self.files_dir / "tts")
        self.on_key = on_key
        self.clock = clock
        self.variables: dict[str, str] = {"caller": caller, "called": called}
        if variables:
            self.variables.update(variables)

    def __repr__(self) -> str:
        return f"<IvrCall {self.variables.get('caller')} -> {self.variables.get('called')}>"

    @property
    def ended(self) -> bool:
        return self.channel.ended.is_set()

    # -- variables --------------------------------------------------------------------------
    def set(self, var: str, value: object) -> None:
        problem = check_variable(var)
        if problem is not None:
            raise ValueError(problem)
        self.variables[var] = value if isinstance(value, str) else str(value)

    def get(self, var: str, default: str = "") -> str:
        return self.variables.get(var, default)

    def substitute(self, template: str) -> str:
        """``template`` with ``${var}`` filled in from the call's variables."""
        return substitute(template, self.variables)

    # -- the call ---------------------------------------------------------------------------
    async def answer(self) -> None:
        """pycc answers a call before its IVR runs; this only checks the caller is there."""
        if self.ended:
            raise ChannelGone(self.channel.name)

    def transfer(self, kind: str, name: str) -> Target:
        """The target to send the call to; the flow returns it."""
        if kind not in TARGET_KINDS:
            raise ValueError(f"cannot transfer to a {kind!r} "
                             f"(expected one of: {', '.join(TARGET_KINDS)})")
        return Target(kind, name)

    def hangup(self) -> None:
        if not self.ended:
            self.channel.hangup()

    # -- prompts ----------------------------------------------------------------------------
    async def resolve(self, prompt: str | Path) -> str | Path:
        """What the channel plays for ``prompt``: a tone as it is, speech rendered to a
        file, a relative file in the prompts directory."""
        if isinstance(prompt, Path):
            return prompt if prompt.is_absolute() else self.prompts_dir / prompt
        if prompt.startswith("tone:"):
            return prompt
        if prompt.startswith("tts:"):
            try:
                return await self.tts.render(prompt[4:])
            except TtsError as exc:
                raise PromptError(prompt, str(exc)) from exc
        path = Path(prompt)
        return path if path.is_absolute() else self.prompts_dir / path

    async def play(self, prompt: str | Path, *, stop_on: str = "") -> str | None:
        """Play ``prompt`` to its end, or until a key of ``stop_on``: that key, or None."""
        key = await self.channel.play(await self.resolve(prompt), stop_on=stop_on)
        if key is not None:
            self._report(key)
        return key

    async def say(self, text: str, *, stop_on: str = "") -> str | None:
        """Speak ``text`` (``${var}`` filled in)."""
        return await self.play(f"tts:{self.substitute(text)}", stop_on=stop_on)

    # -- keys -------------------------------------------------------------------------------
    def _report(self, key: str) -> None:
        if self.on_key is not None:
            self.on_key(key)

    def flush_keys(self) -> str:
        """Forget the keys pressed and not read yet (they are still reported)."""
        pressed = self.channel.flush_digits()
        for key in pressed:
            self._report(key)
        return pressed

    async def next_key(self, timeout: float | None,
                       until: asyncio.Event | None = None) -> str | None:
        """The next key, or None after ``timeout`` seconds or once ``until`` is set."""
        channel = self.channel
        if not channel.digits.empty():
            key = channel.digits.get_nowait()
            self._report(key)
            return key
        if channel.ended.is_set():
            raise ChannelGone(channel.name)
        getter = asyncio.ensure_future(channel.digits.get())
        waits: set[asyncio.Future[Any]] = {getter,
                                              asyncio.ensure_future(channel.ended.wait())}
        if until is not None:
            waits.add(asyncio.ensure_future(until.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                if not wait.done():
                    wait.cancel()
        if getter.done() and not getter.cancelled():
            key = getter.result()
            assert isinstance(key, str)
            self._report(key)
            return key
        if channel.ended.is_set():
            raise ChannelGone(channel.name)
        return None

    async def collect(self, max: int = 4, *, min: int = 1, timeout: float = 5,
                      inter_digit: float = 3, terminator: str = "#",
                      prompt: str | Path | None = None) -> str:
        """Up to ``max`` keys, ended early by ``terminator`` (not included) or when none comes
        within ``timeout`` (the first) / ``inter_digit`` (the next). A ``prompt`` plays first
        and any key stops it (that key counts). Fewer than ``min`` keys give ``""``."""
        if max < 1 or min < 0:
            raise ValueError(f"collect needs max >= 1 and min >= 0, not max={max} min={min}")
        digits = ""
        if prompt is not None:
            first = await self.play(prompt, stop_on=ALL_KEYS)
            if first is not None:
                if first in terminator:
                    return ""
                digits = first
        while len(digits) < max:
            key = await self.next_key(timeout if not digits else inter_digit)
            if key is None or key in terminator:
                break
            digits += key
        return digits if len(digits) >= min else ""

    # -- recording --------------------------------------------------------------------------
    def message_paths(self, name: str) -> Iterator[Path]:
        """Names for a message called ``name`` under ``files_dir/messages``, the first one
        and then others should it be taken (the name is made safe: it may hold variables)."""
        safe = _SAFE.sub("_", name).strip("._")[:80] or "message"
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.files_dir / "messages"
        yield folder / f"{safe}-{stamp}.wav"
        for count in itertools.count(2):
            yield folder / f"{safe}-{stamp}-{count}.wav"

    def _start_recording(self, name: str) -> Recording:
        folder = self.files_dir / "messages"
        folder.mkdir(parents=True, exist_ok=True)
        # The recorder refuses to replace a file (in its writer thread), so pick a free name;
        # two messages under one name in the same second get -2, -3 ...
        path = next(p for p in self.message_paths(name) if not p.exists())
        return self.channel.engine.record([self.channel], path, stereo=False, fmt="wav")

    async def record(self, name: str = "message", *, max_seconds: float = 60,
                     silence: float | None = None, beep: bool = True,
                     stop_on: str = "#") -> Path:
        """Record the caller into a WAV under ``files_dir/messages`` (a beep first) until a
        key of ``stop_on``, ``max_seconds``, ``silence`` seconds without speech, or the caller
        hanging up (the message is kept); the file's path."""
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {max_seconds}")
        if beep:
            await self.channel.play("tone:beep")
        # Keys pressed before the beep must not end the message at once.
        self.flush_keys()
        recording = self._start_recording(name)
        path = recording.path
        engine = self.channel.engine
        quiet = asyncio.Event()
        watch = _SilenceWatch(self.channel, silence, quiet) if silence is not None else None
        if watch is not None:
            engine.clock.subscribe(watch)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_seconds
        try:
            while (remaining := deadline - loop.time()) > 0:
                key = await self.next_key(remaining, quiet)
                if key is None or key in stop_on:
                    break
        except ChannelGone:
            pass  # the caller hung up: the message ends there
        finally:
            if watch is not None:
                engine.clock.unsubscribe(watch)
            await recording.stop()
        log.info("recorded %s for %s", path, self.get("caller"))
        return path

    # -- web requests -----------------------------------------------------------------------
    async def http(self, method: str, url: str, *, json: object = None,
                   timeout: float = 5) -> dict[str, object]:
        """The JSON object a web service answers; :class:`~pycc.sia.fetch.FetchError` when
        the request fails."""
        return await fetch_json(method, url, json=json, timeout=timeout)


class _SilenceWatch:
    """Sets ``quiet`` once the caller has said nothing for ``seconds`` (frame clock)."""

    def __init__(self, channel: Channel, seconds: float, quiet: asyncio.Event) -> None:
        rate = channel.rate
        self.source = channel.input(rate)
        self.vad = VoiceActivity(rate)
        self.seconds = seconds
        self.quiet = quiet
        self.last_voice: float | None = None

    def tick(self, now: float) -> None:
        if self.last_voice is None:
            self.last_voice = now
        frame = self.source.read(now)
        if frame is not None and self.vad.feed(frame):
            self.last_voice = now
        elif now - self.last_voice >= self.seconds:
            self.quiet.set()
