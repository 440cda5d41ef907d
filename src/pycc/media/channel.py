"""The call-control API of the media server: channels, mixes, prompts, recordings, monitors.

A :class:`Channel` is one party of a call as the services (IVR, ACD, dialer) drive it: what it
hears, what it says, the keys it presses. The :class:`MediaEngine` (one per media server) owns
the 20 ms frame clock and makes the mixes everything else is built from:

- **play** a file or a tone to a channel, optionally stopped by a key (:meth:`Channel.play`),
  and **collect** keys (:meth:`Channel.collect`);
- **record** one or two channels, mixed or one per stereo channel (:meth:`MediaEngine.record`);
- **conferences** of N channels, each hearing all but itself, with mute, deaf, kick and join
  and leave tones (:class:`Conference`);
- **monitoring** of a call by a supervisor: listen, whisper, barge (:class:`Monitor`).

A two-party call normally has its media carried by its :class:`~pycc.media.bridge.Bridge`
(relayed without decoding when it can). When something has to be mixed into what a party
hears (a prompt during the call, a whispering supervisor), the call's parties move into a mix
and the bridge is suspended; when the mix has nothing left to add, the bridge takes over again.
Recording only listens (taps), so a recorded call keeps its relay.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, Literal

from pycc.dsp.goertzel import DtmfDetector
from pycc.dsp.pcm import Pcm
from pycc.media.audio import LegInput, LegOutput
from pycc.media.bridge import Bridge
from pycc.media.clock import AudioSource, FrameClock
from pycc.media.leg import MediaLeg
from pycc.media.player import FilePlayer, PromptError, TonePlayer
from pycc.media.recorder import Recorder
from pycc.media.room import Room
from pycc.media.session import MediaSession, Party

__all__ = [
    "Channel",
    "ChannelGone",
    "Conference",
    "MediaEngine",
    "Mix",
    "Monitor",
    "MonitorMode",
    "Recording",
]

log = logging.getLogger("pycc.media")

MonitorMode = Literal["listen", "whisper", "barge"]
_OTHER = {"a": "b", "b": "a"}


class ChannelGone(Exception):
    """The channel's call ended while an operation waited on it."""


class _SharedInput:
    """A leg's input read by several mixes in one tick: decoded once per tick."""

    __slots__ = ("_frame", "_now", "source")

    def __init__(self, source: LegInput) -> None:
        self.source = source
        self._now = -1.0
        self._frame: Pcm | None = None

    @property
    def rate(self) -> int:
        return self.source.rate

    def read(self, now: float) -> Pcm | None:
        if now != self._now:
            self._now = now
            self._frame = self.source.read(now)
        return self._frame


class Channel:
    """One party of a call, driven by a service. Made by :meth:`MediaEngine.channel`."""

    _ids = itertools.count(1)

    def __init__(self, engine: MediaEngine, session: MediaSession, party: Party, *,
                 name: str = "", hangup: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.session = session
        self.party = party
        self.name = name or f"{session.name}/{party}"
        self.id = next(self._ids)
        self._hangup = hangup
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.ended = asyncio.Event()
        self._inputs: dict[int, _SharedInput] = {}
        self._output: LegOutput | None = None
        #: The mix that feeds what this channel hears (None: its bridge, or nothing).
        self.mix: Mix | None = None
        self._tones: _ToneListener | None = None
        #: Who is on this channel and what they dialled, as signalling knows them.
        self.caller = ""
        self.called = ""
        #: What services note about the call for its record (route, IVR path, queue, agent).
        self.details: dict[str, object] = {}

    def listen_for_tones(self, on_key: Callable[[Channel, str], None]) -> None:
        """Detect keys sent as tones (for a party that negotiated no telephone-events)."""
        if self._tones is None and not self.ended.is_set():
            self._tones = _ToneListener(self, on_key)
            self.engine.clock.subscribe(self._tones)

    def __repr__(self) -> str:
        return f"<Channel {self.name}>"

    @property
    def leg(self) -> MediaLeg:
        legs = self.session.legs(self.party)
        if self.ended.is_set() or not legs:
            raise ChannelGone(f"{self.name} has no media")
        return legs[0]

    @property
    def leg_or_none(self) -> MediaLeg | None:
        legs = self.session.legs(self.party)
        return legs[0] if legs else None

    @property
    def rate(self) -> int:
        """The mixing rate that suits this channel's codec: 8 kHz narrowband, else 16 kHz."""
        try:
            side = self.leg.side
        except ChannelGone:
            return 8000
        codec = side.codec if side is not None else None
        if codec is None:
            return 8000
        spec_rate = self.engine.sample_rate_of(codec.encoding, codec.clock_rate, codec.channels)
        return 8000 if spec_rate <= 8000 else 16000

    def input(self, rate: int) -> _SharedInput:
        """What the party says, as 20 ms frames at ``rate`` (decoded once per tick)."""
        shared = self._inputs.get(rate)
        if shared is None:
            source = LegInput(self.leg, rate)
            source.attach()
            shared = self._inputs[rate] = _SharedInput(source)
        return shared

    def output(self, rate: int) -> LegOutput:
        """The party's ear: frames at ``rate`` encoded and sent as pycc's own stream."""
        if self._output is None or self._output.rate != rate:
            if self._output is not None:
                self._output.close()
            self._output = LegOutput(self.leg, rate)
        return self._output

    # -- keys ------------------------------------------------------------------------------
    def press(self, digit: str) -> None:
        """A key the party pressed (any form: RFC 4733, SIP INFO, inband)."""
        self.digits.put_nowait(digit)

    def flush_digits(self) -> str:
        """Drop and return the keys pressed so far and not read yet."""
        pressed = []
        while not self.digits.empty():
            pressed.append(self.digits.get_nowait())
        return "".join(pressed)

    async def _next_digit(self, timeout: float | None,
                          until: asyncio.Event | None = None) -> str | None:
        """The next key; None on timeout or once ``until`` is set; ChannelGone when the call
        ends first."""
        if self.ended.is_set() and self.digits.empty():
            raise ChannelGone(self.name)
        if not self.digits.empty():
            return self.digits.get_nowait()
        getter = asyncio.ensure_future(self.digits.get())
        ender = asyncio.ensure_future(self.ended.wait())
        waits = {getter, ender}
        stopper = asyncio.ensure_future(until.wait()) if until is not None else None
        if stopper is not None:
            waits.add(stopper)
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                if not wait.done():
                    wait.cancel()
        if getter in done:
            return getter.result()
        if ender in done:
            raise ChannelGone(self.name)
        return None

    # -- prompts ---------------------------------------------------------------------------
    async def play(self, what: str | Path | AudioSource, *, stop_on: str = "",
                   country: str = "us", duration: float | None = None) -> str | None:
        """Play a prompt to the party and wait until it ends; the key that stopped it (one of
        ``stop_on``) or None.

        ``what``: a file any format PyAV reads, ``"tone:NAME"`` (ringback, busy, congestion,
        dial, hold, beep ... of ``country``'s tone plan, or DTMF keys such as ``"tone:5"``;
        ``duration`` bounds endless tones), or any audio source. Raises
        :class:`~pycc.media.player.PromptError` for a bad prompt, :class:`ChannelGone` when
        the call ends. Keys not in ``stop_on`` stay queued for :meth:`collect`.
        """
        if self.ended.is_set():
            raise ChannelGone(self.name)
        rate = self.mix.rate if self.mix is not None else self.rate
        source = await self.engine.open_prompt(what, rate, country=country, duration=duration)
        finished = asyncio.Event()
        if hasattr(source, "on_finished"):
            source.on_finished = finished.set
        mix = self.engine.mix_for(self)
        key = f"prompt-{id(source)}"
        mix.add_source(key, source, heard_by=[self.id])
        kept: list[str] = []
        try:
            while not finished.is_set() and not getattr(source, "finished", False):
                if stop_on:
                    digit = await self._next_digit(None, finished)
                    if digit is not None:
                        if digit in stop_on:
                            return digit
                        kept.append(digit)
                else:
                    ender = asyncio.ensure_future(self.ended.wait())
                    waiter = asyncio.ensure_future(finished.wait())
                    try:
                        await asyncio.wait({ender, waiter}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        ender.cancel()
                        waiter.cancel()
                    if self.ended.is_set():
                        raise ChannelGone(self.name)
            return None
        finally:
            for digit in kept:
                self.digits.put_nowait(digit)
            stopper = getattr(source, "stop", None)
            if callable(stopper):
                stopper()
            mix.remove(key)
            self.engine.release_mix(self)

    async def collect(self, max_digits: int, *, min_digits: int = 1, timeout: float = 5.0,
                      inter_digit: float = 3.0, terminator: str = "#",
                      prompt: str | Path | None = None) -> str:
        """Keys the party presses: up to ``max_digits``, ended early by ``terminator`` (not
        included) or when no key comes within ``timeout`` (first) / ``inter_digit`` (next).
        A ``prompt`` plays first and a key stops it (that key counts). Fewer than
        ``min_digits`` keys give ``""``."""
        digits = ""
        if prompt is not None:
            first = await self.play(prompt, stop_on="0123456789*#ABCD")
            if first is not None:
                if first in terminator:
                    return ""
                digits = first
        while len(digits) < max_digits:
            digit = await self._next_digit(timeout if not digits else inter_digit)
            if digit is None:
                break
            if digit in terminator:
                break
            digits += digit
        return digits if len(digits) >= min_digits else ""

    def hangup(self) -> None:
        """End the call this channel belongs to (its signalling layer sends BYE)."""
        if self._hangup is not None:
            self._hangup()

    def end(self) -> None:
        """The call is over: stop listening and sending, leave every mix."""
        if self.ended.is_set():
            return
        self.ended.set()
        if self._tones is not None:
            self.engine.clock.unsubscribe(self._tones)
            self._tones = None
        if self.mix is not None:
            self.mix.remove(self.id)
        for shared in self._inputs.values():
            shared.source.detach()
        self._inputs.clear()
        if self._output is not None:
            self._output.close()
            self._output = None
        self.engine.forget(self)


class _ToneListener:
    """Listens for keys sent as tones by a party without telephone-events (Goertzel)."""

    def __init__(self, channel: Channel, on_key: Callable[[Channel, str], None]) -> None:
        self.channel = channel
        self.on_key = on_key
        self.detector = DtmfDetector(8000)
        self.source = channel.input(8000)

    def tick(self, now: float) -> None:
        frame = self.source.read(now)
        if frame is None:
            return
        for digit in self.detector.feed(frame):
            self.on_key(self.channel, digit)


class Mix:
    """A :class:`~pycc.media.room.Room` on the engine's frame clock, with channels in it."""

    def __init__(self, engine: MediaEngine, rate: int = 8000, *, name: str = "") -> None:
        self.engine = engine
        self.name = name
        self.room = Room(rate)
        self.channels: dict[int, Channel] = {}
        self.extras: set[Hashable] = set()
        self.closed = False
        engine.clock.subscribe(self.room)

    @property
    def rate(self) -> int:
        return self.room.rate

    def add_channel(self, channel: Channel, *, speaks: bool = True, listens: bool = True,
                    hears: Iterable[Hashable] | None = None) -> None:
        """Put ``channel`` in the mix: its voice if ``speaks``, its ear if ``listens`` (then
        this mix alone feeds what it hears). ``hears`` None: every other member."""
        source = channel.input(self.rate) if speaks else None
        sink = None
        if listens:
            if channel.mix is not None and channel.mix is not self:
                channel.mix.remove(channel.id)
            channel.mix = self
            sink = channel.output(self.rate)
            self.engine.suspend_bridge(channel)
        if channel.id in self.room:
            self.room.remove(channel.id)
        self.room.add(channel.id, source, sink, hears)
        self.channels[channel.id] = channel

    def add_source(self, key: Hashable, source: AudioSource,
                   heard_by: Iterable[Hashable] | None = None) -> None:
        """A voice that is not a channel (a prompt, a tone), heard by ``heard_by`` (None:
        every member)."""
        self.room.add(key, source=source, hears=(), heard_by=heard_by)
        self.extras.add(key)

    def remove(self, key: Hashable) -> None:
        self.room.remove(key)
        self.extras.discard(key)
        channel = self.channels.pop(key, None) if isinstance(key, int) else None
        if channel is not None and channel.mix is self:
            channel.mix = None
            self.engine.maybe_resume_bridge(channel)

    def set_hears(self, channel: Channel, hears: Iterable[Hashable] | None) -> None:
        self.room.set_hears(channel.id, hears)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for channel_id in list(self.channels):
            self.remove(channel_id)
        self.engine.clock.unsubscribe(self.room)


#: How long a following recording waits for its first party's new channel (`Recording.hold`).
MOVE_SECONDS = 15.0


class Recording:
    """A recording in progress: :meth:`pause`, :meth:`resume`, ``await`` :meth:`stop`.

    It stops when a party's call ends; one that ``follows`` its first party stops only when
    that party's call ends: whoever else leaves is silence in the file until :meth:`rebind`
    puts the next party in their place (a customer's conversation recorded through a
    transfer, as one file)."""

    def __init__(self, engine: MediaEngine, recorder: Recorder, mix: Mix,
                 channels: list[Channel], *, follows: bool = False) -> None:
        self.engine = engine
        self.recorder = recorder
        self.mix = mix
        self.channels = channels
        self.follows = follows
        self.path = recorder.path
        self._stopped: asyncio.Task[None] | None = None
        #: Set by :meth:`hold` until the first party's new channel comes (:meth:`rebind`).
        self._move: asyncio.Event | None = None
        engine.recordings.add(self)
        self._watch = asyncio.ensure_future(self._stop_when_call_ends())

    @property
    def live(self) -> bool:
        return self._stopped is None

    def rebind(self, index: int, channel: Channel) -> None:
        """Record ``channel`` from now on where the party at ``index`` was (the same side of
        a stereo file). Raises ValueError when the recording has stopped or ``channel`` is
        in it already, ChannelGone when its call is over."""
        if not self.live:
            raise ValueError(f"the recording {self.path.name} has stopped")
        if channel in self.channels:
            raise ValueError(f"{channel.name} is recorded already")
        if channel.ended.is_set():
            raise ChannelGone(f"{channel.name} has ended")
        old = self.channels[index]
        self.mix.remove(old.id)
        self.mix.add_channel(channel, listens=False)
        self.channels[index] = channel
        if self.recorder.channels == 2:
            self.mix.room.set_hears(f"rec-{index}", [channel.id])
        else:
            self.mix.room.set_hears("rec-0", [c.id for c in self.channels])
        if index == 0 and self._move is not None:
            self._move.set()
            self._move = None

    def move_to(self, channel: Channel) -> None:
        """End a :meth:`hold`: go on with ``channel`` as the first party, or, when that
        cannot be, stop here with the file complete."""
        try:
            self.rebind(0, channel)
        except (ValueError, ChannelGone) as exc:
            log.warning("recording %s not continued: %s", self.path.name, exc)
            self.stop_soon()

    def hold(self) -> None:
        """The first party's channel is about to be replaced by a new one of the same party
        (a blind transfer gives the party a fresh channel): its end does not stop a
        following recording; :meth:`rebind` at index 0 (within `MOVE_SECONDS`) or
        :meth:`stop` comes next."""
        if self._move is None:
            self._move = asyncio.Event()

    async def _stop_when_call_ends(self) -> None:
        while True:
            watched = self.channels[:1] if self.follows else list(self.channels)
            waits = [asyncio.ensure_future(c.ended.wait()) for c in watched]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            if not self.follows:
                break
            move = self._move
            if move is not None:
                try:
                    await asyncio.wait_for(move.wait(), MOVE_SECONDS)
                except TimeoutError:
                    break
            # The first party went on in a new channel (moved before or after this woke).
            if self.channels[0].ended.is_set():
                break
        await self.stop()

    def pause(self) -> None:
        self.recorder.pause()

    def resume(self) -> None:
        self.recorder.resume()

    async def stop(self) -> None:
        """Finish the file (complete and playable) and stop listening."""
        await asyncio.shield(self.stop_soon())

    def stop_soon(self) -> asyncio.Future[None]:
        """Start finishing the file (see :meth:`stop`) without waiting for it."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._finish())
        return self._stopped

    async def _finish(self) -> None:
        self.engine.clock.unsubscribe(self.recorder)
        self.mix.close()
        try:
            await self.recorder.stop()
        finally:
            self.engine.recordings.discard(self)
            if not self._watch.done() and self._watch is not asyncio.current_task():
                self._watch.cancel()

    @property
    def sha256(self) -> str | None:
        return self.recorder.sha256


class Conference:
    """N channels, each hearing all the others; with mute, deaf, kick and join/leave tones."""

    def __init__(self, engine: MediaEngine, name: str, *, rate: int = 8000,
                 tones: bool = True) -> None:
        self.engine = engine
        self.name = name
        self.mix = Mix(engine, rate, name=name)
        self.tones = tones
        self.members: dict[int, Channel] = {}

    async def join(self, channel: Channel, *, muted: bool = False, deaf: bool = False) -> None:
        if self.tones and self.members:
            await self._announce("join")
        self.mix.add_channel(channel)
        self.members[channel.id] = channel
        self.mix.room.mute(channel.id, muted)
        self.mix.room.deaf(channel.id, deaf)

    async def leave(self, channel: Channel) -> None:
        if self.members.pop(channel.id, None) is None:
            return
        self.mix.remove(channel.id)
        if not self.members:
            self.close()
            return
        if self.tones:
            await self._announce("leave")

    def mute(self, channel: Channel, muted: bool = True) -> None:
        self.mix.room.mute(channel.id, muted)

    def deaf(self, channel: Channel, deaf: bool = True) -> None:
        self.mix.room.deaf(channel.id, deaf)

    async def kick(self, channel: Channel) -> None:
        """Take ``channel`` out and hang its call up."""
        await self.leave(channel)
        channel.hangup()

    async def _announce(self, tone_name: str) -> None:
        source = TonePlayer(tone_name, self.mix.rate)
        key = f"{tone_name}-{id(source)}"
        self.mix.add_source(key, source, heard_by=list(self.members))
        try:
            while not source.finished:
                await asyncio.sleep(0.02)
        finally:
            self.mix.remove(key)

    def close(self) -> None:
        for channel in list(self.members.values()):
            self.mix.remove(channel.id)
        self.members.clear()
        self.mix.close()
        if self.engine.conferences.get(self.name) is self:
            del self.engine.conferences[self.name]


class Monitor:
    """A supervisor on an agent's call with a customer: listen, whisper or barge."""

    def __init__(self, engine: MediaEngine, supervisor: Channel, agent: Channel,
                 customer: Channel, mode: MonitorMode = "listen") -> None:
        self.engine = engine
        self.supervisor, self.agent, self.customer = supervisor, agent, customer
        self.mix = engine.call_mix(agent)
        self.mix.add_channel(supervisor)
        self.mode: MonitorMode = mode
        self.set_mode(mode)

    def set_mode(self, mode: MonitorMode) -> None:
        s, a, c = self.supervisor.id, self.agent.id, self.customer.id
        hears: dict[int, set[int]] = {
            "listen": {s: {a, c}, a: {c}, c: {a}},
            "whisper": {s: {a, c}, a: {c, s}, c: {a}},
            "barge": {s: {a, c}, a: {c, s}, c: {a, s}},
        }[mode]
        for channel in (self.supervisor, self.agent, self.customer):
            self.mix.set_hears(channel, hears[channel.id])
        self.mode = mode

    def stop(self) -> None:
        self.mix.remove(self.supervisor.id)
        self.engine.release_mix(self.agent)


class MediaEngine:
    """Channels and mixes over one media server's sessions, on one frame clock."""

    def __init__(self, clock: FrameClock,
                 sample_rate_of: Callable[[str, int, int], int]) -> None:
        self.clock = clock
        self.sample_rate_of = sample_rate_of
        self.channels: dict[tuple[MediaSession, Party], Channel] = {}
        self.conferences: dict[str, Conference] = {}
        #: Recordings still being written (a stopping switch waits for them).
        self.recordings: set[Recording] = set()
        #: Mixes of a channel with its peer, by the pair's channel ids.
        self._pair_mixes: dict[frozenset[int], Mix] = {}
        self._own_mixes: dict[int, Mix] = {}
        #: Bridges between channels of different calls: (bridge, first, second) by each end.
        self._links: dict[int, tuple[Bridge, Channel, Channel]] = {}
        #: Told of each :meth:`bridge` (the switch records the pair when it records calls).
        self.on_bridge: Callable[[Channel, Channel], None] | None = None

    def channel(self, session: MediaSession, party: Party, *, name: str = "",
                hangup: Callable[[], None] | None = None) -> Channel:
        """The channel of ``party`` in ``session`` (made on first use)."""
        key = (session, party)
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(self, session, party, name=name,
                                                   hangup=hangup)
        return channel

    def find(self, session: MediaSession, party: Party) -> Channel | None:
        return self.channels.get((session, party))

    def forget(self, channel: Channel) -> None:
        peer = self._peer(channel, create=False)
        self.unbridge(channel)
        self.channels.pop((channel.session, channel.party), None)
        mix = self._own_mixes.pop(channel.id, None)
        if mix is not None:
            mix.close()
        key = frozenset({channel.id} if peer is None else {channel.id, peer.id})
        pair_mix = self._pair_mixes.pop(key, None)
        if pair_mix is not None:
            pair_mix.close()

    def end_session(self, session: MediaSession) -> None:
        """The call of ``session`` ended: end its channels and mixes."""
        for party in ("a", "b"):
            channel = self.channels.get((session, party))
            if channel is not None:
                channel.end()

    def conference(self, name: str, *, rate: int = 8000) -> Conference:
        """The conference called ``name``, made on first use; it goes away when empty."""
        conference = self.conferences.get(name)
        if conference is None or conference.mix.closed:
            conference = self.conferences[name] = Conference(self, name, rate=rate)
        return conference

    # -- what carries a channel's media ----------------------------------------------------
    # A channel talks to a peer through a carrier: its own call's bridge (the other party of
    # the call) or a link made by bridge() (a channel of another call). A mix that feeds
    # what the channel hears suspends the carrier; when no mix needs the pair any more the
    # carrier resumes.
    def _session_bridge(self, session: MediaSession) -> Bridge | None:
        return session.bridges[0] if session.bridges else None

    def _carrier(self, channel: Channel) -> Bridge | None:
        link = self._links.get(channel.id)
        if link is not None:
            return link[0]
        return self._session_bridge(channel.session)

    def _peer(self, channel: Channel, *, create: bool = True) -> Channel | None:
        link = self._links.get(channel.id)
        if link is not None:
            return link[2] if link[1] is channel else link[1]
        if self._session_bridge(channel.session) is None:
            return None
        other = _OTHER[channel.party]
        legs = channel.session.legs(other)
        if not legs or legs[0].side is None:
            return None
        if not create:
            return self.find(channel.session, other)
        return self.channel(channel.session, other)

    def call_mix(self, channel: Channel) -> Mix:
        """The mix of ``channel`` and its peer (the other party of its call, or the channel
        it was bridged to), each hearing the other, the carrier suspended while it exists."""
        peer = self._peer(channel)
        members = [channel] if peer is None else [channel, peer]
        key = frozenset(member.id for member in members)
        mix = self._pair_mixes.get(key)
        if mix is None:
            mix = Mix(self, channel.rate, name=f"{channel.name}-call")
            self._pair_mixes[key] = mix
        for member in members:
            if member.id not in mix.channels and not member.ended.is_set():
                mix.add_channel(member)
        return mix

    def mix_for(self, channel: Channel) -> Mix:
        """Where a prompt for ``channel`` goes: the mix with its peer when it talks to one,
        else a mix of its own."""
        if channel.mix is not None:
            return channel.mix
        if self._peer(channel) is not None:
            return self.call_mix(channel)
        mix = self._own_mixes.get(channel.id)
        if mix is None:
            mix = self._own_mixes[channel.id] = Mix(self, channel.rate, name=channel.name)
            mix.add_channel(channel, speaks=False)
        return mix

    def release_mix(self, channel: Channel) -> None:
        """A prompt or monitor ended: give the pair back to its carrier if nothing else
        needs the mix."""
        for key, mix in list(self._pair_mixes.items()):
            if channel.id in key and not mix.extras and set(mix.channels) <= key:
                del self._pair_mixes[key]
                mix.close()
        own = self._own_mixes.get(channel.id)
        if own is not None and not own.extras:
            self._own_mixes.pop(channel.id, None)
            own.close()

    def suspend_bridge(self, channel: Channel) -> None:
        carrier = self._carrier(channel)
        if carrier is not None and not carrier.suspended:
            carrier.suspend()

    def maybe_resume_bridge(self, channel: Channel) -> None:
        carrier = self._carrier(channel)
        if carrier is None or not carrier.suspended or channel.session.closed:
            return
        peer = self._peer(channel, create=False)
        if channel.mix is not None or (peer is not None and peer.mix is not None):
            return
        carrier.resume()

    # -- connecting channels of different calls ------------------------------------------
    def bridge(self, first: Channel, second: Channel) -> None:
        """Connect two channels of different calls (a queued caller and an agent, a caller
        and an outbound call): each hears the other, relayed when their codecs match, else
        transcoded. Their own calls' bridges stay suspended until :meth:`unbridge`."""
        if first.session is second.session:
            raise ValueError("the two channels belong to one call: it has its own bridge")
        for channel in (first, second):
            if channel.id in self._links:
                raise ValueError(f"{channel.name} is already bridged")
            if channel.mix is not None:
                channel.mix.remove(channel.id)
            session_bridge = self._session_bridge(channel.session)
            if session_bridge is not None and not session_bridge.suspended:
                session_bridge.suspend()
        carrier = Bridge(first.leg, second.leg, on_digit=self._bridged_digit)
        self._links[first.id] = self._links[second.id] = (carrier, first, second)
        if self.on_bridge is not None:
            self.on_bridge(first, second)

    def linked(self, channel: Channel) -> Channel | None:
        """The channel of another call that :meth:`bridge` connected ``channel`` to, if any."""
        link = self._links.get(channel.id)
        if link is None:
            return None
        return link[2] if link[1] is channel else link[1]

    def unbridge(self, channel: Channel) -> None:
        """Undo :meth:`bridge` for ``channel`` and its partner; their own calls' bridges
        carry their media again."""
        link = self._links.pop(channel.id, None)
        if link is None:
            return
        carrier, first, second = link
        self._links.pop(first.id, None)
        self._links.pop(second.id, None)
        carrier.close()
        for member in (first, second):
            if member.mix is not None:
                member.mix.remove(member.id)
            session_bridge = self._session_bridge(member.session)
            if session_bridge is not None and not member.session.closed:
                session_bridge.resume()

    def pass_key(self, channel: Channel, digit: str, duration_ms: int = 160) -> bool:
        """A key ``channel``'s party sent as SIP INFO (RFC 4733 events are relayed by the
        bridge itself): the party of another call that :meth:`bridge` connected it to hears
        it too, as telephone-events when it negotiated them, else as the key's tones in its
        audio. False when the channel is bridged to no one."""
        peer = self.linked(channel)
        if peer is None or peer.ended.is_set() or peer.session.closed:
            return False
        if peer.session.send_digit(peer.party, digit, duration_ms):
            return True
        task = asyncio.ensure_future(peer.play(f"tone:{digit}", duration=duration_ms / 1000))
        task.add_done_callback(_quiet)
        return True

    def _bridged_digit(self, leg: MediaLeg, digit: str, form: str) -> None:
        for (session, party), channel in self.channels.items():
            if channel.leg_or_none is leg:
                session.report_digit(party, digit, form)
                return

    # -- prompts and recordings ------------------------------------------------------------
    async def open_prompt(self, what: str | Path | AudioSource, rate: int, *,
                          country: str = "us", duration: float | None = None) -> AudioSource:
        if not isinstance(what, (str, Path)):
            return what
        text = str(what)
        if text.startswith("tone:"):
            try:
                return TonePlayer(text[5:], rate, country=country, duration=duration)
            except (KeyError, ValueError) as exc:
                raise PromptError(text, str(exc)) from None
        return await FilePlayer.open(Path(text), rate)

    def record(self, channels: list[Channel], path: Path, *, stereo: bool = True,
               fmt: Literal["wav", "ogg"] = "wav", rate: int | None = None,
               follows: bool = False) -> Recording:
        """Record what ``channels`` say (the call's parties): with two channels and
        ``stereo``, one per channel; else mixed. The file is complete and playable even if
        the call ends abruptly (flushed every second). With ``follows`` the recording lasts
        as long as the first channel's call (see :class:`Recording`)."""
        if not channels:
            raise ValueError("nothing to record")
        mix_rate = rate or max(c.rate for c in channels)
        count = 2 if stereo and len(channels) == 2 else 1
        recorder = Recorder(path, mix_rate, channels=count, format=fmt)
        mix = Mix(self, mix_rate, name=f"record-{path.name}")
        for channel in channels:
            mix.add_channel(channel, listens=False)
        if count == 2:
            mix.room.add("rec-0", sink=recorder.channel(0), hears=[channels[0].id])
            mix.room.add("rec-1", sink=recorder.channel(1), hears=[channels[1].id])
        else:
            mix.room.add("rec-0", sink=recorder.channel(0), hears=[c.id for c in channels])
        self.clock.subscribe(recorder)
        return Recording(self, recorder, mix, list(channels), follows=follows)

    def following(self, channel: Channel) -> Recording | None:
        """The live recording that follows ``channel`` (its first party), if any."""
        for recording in self.recordings:
            if recording.follows and recording.live and recording.channels[0] is channel:
                return recording
        return None

    async def drain(self) -> None:
        """Finish every recording: each file complete before the process goes."""
        pending = list(self.recordings)
        if pending:
            await asyncio.gather(*(r.stop() for r in pending), return_exceptions=True)

    def close(self) -> None:
        for channel in list(self.channels.values()):
            channel.end()
        for conference in list(self.conferences.values()):
            conference.close()
        for mix in list(self._pair_mixes.values()) + list(self._own_mixes.values()):
            mix.close()
        self._pair_mixes.clear()
        self._own_mixes.clear()


def _quiet(task: asyncio.Future[Any]) -> None:
    """A key's tones that could not play (the call ended meanwhile) need no one's notice."""
    if not task.cancelled():
        task.exception()
