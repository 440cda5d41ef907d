"""A mixing room: conferences, supervisor listen/whisper/barge, recorders of several parties.

A :class:`Room` holds members, each with an optional audio source (what the member says: a
:class:`~pycc.media.audio.LegInput`, a player) and an optional sink (what the member hears: a
:class:`~pycc.media.audio.LegOutput`, a recorder channel). On every frame-clock tick it reads
each source once, then writes to each sink the sum of the sources that member hears, never
its own (the conference mixer of RFC 4353 §3, sending each participant everyone but
themselves; RFC 3550 §7.3 for a mixer's place in RTP). By default a member hears every other member
that has a source; ``hears`` narrows that to a set of members, which is how a supervisor
listens (hears agent and customer, heard by nobody), whisper (the agent also hears the
supervisor) and barge (everyone hears everyone) are built from one mechanism:

================  ==================  ====================  ==================
mode              supervisor hears    agent hears           customer hears
================  ==================  ====================  ==================
listen            agent, customer     customer              agent
whisper           agent, customer     customer, supervisor  agent
barge             everyone            everyone              everyone
================  ==================  ====================  ==================

Mixing is vectorised: the talking sources are stacked into one array and the all-hear-all case
is one total minus each row (:func:`pycc.dsp.mixer.mix_minus`), so a room of 200 costs a few
numpy operations beyond the per-member read and write. Sums saturate to int16. A source or
sink that raises is logged, detached from its member and counted; the room goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pycc.dsp.mixer import mix, mix_minus
from pycc.dsp.pcm import Pcm
from pycc.media.clock import AudioSink, AudioSource, frame_samples

__all__ = ["MemberId", "Room", "RoomMember"]

log = logging.getLogger("pycc.media")

MemberId = Hashable


@dataclass(slots=True, eq=False)
class RoomMember:
    """One member: ``hears`` None means every other member with a source."""

    id: MemberId
    source: AudioSource | None
    sink: AudioSink | None
    hears: frozenset[MemberId] | None
    muted: bool = False
    deaf: bool = False
    #: A private voice (a prompt for one caller): heard by these members only, whatever
    #: they hear otherwise. None: an ordinary member.
    heard_by: frozenset[MemberId] | None = None


class Room:
    """Members that hear each other, mixed at ``rate`` once per tick (a frame-clock subscriber).

    Counters: ``ticks``, ``source_errors`` and ``sink_errors`` (each detached the failing
    source or sink), ``bad_frames`` (a source returned something other than one frame of
    int16 at the room's rate; dropped), ``talking`` (sources heard in the last tick).
    """

    def __init__(self, rate: int = 8000) -> None:
        if frame_samples(rate) <= 0:
            raise ValueError(f"bad room rate {rate}")
        self.rate = rate
        self._samples = frame_samples(rate)
        self._members: dict[MemberId, RoomMember] = {}
        self._sources: tuple[RoomMember, ...] = ()
        self._sinks: tuple[RoomMember, ...] = ()
        self.ticks = 0
        self.source_errors = 0
        self.sink_errors = 0
        self.bad_frames = 0
        self.talking = 0

    # -- membership ----------------------------------------------------------------------------
    def add(self, member_id: MemberId, source: AudioSource | None = None,
            sink: AudioSink | None = None, hears: Iterable[MemberId] | None = None, *,
            heard_by: Iterable[MemberId] | None = None) -> RoomMember:
        """Add a member; ``hears`` None: it hears every other member that has a source.
        ``heard_by`` makes its voice private to those members (a prompt, a whisper tone)."""
        if member_id in self._members:
            raise ValueError(f"{member_id!r} is already in the room")
        for part, kind in ((source, "source"), (sink, "sink")):
            if part is not None and part.rate != self.rate:
                raise ValueError(f"{kind} of {member_id!r} runs at {part.rate} Hz, the room at "
                                 f"{self.rate} Hz")
        member = RoomMember(member_id, source, sink, self._hears_set(member_id, hears),
                            heard_by=None if heard_by is None else frozenset(heard_by))
        self._members[member_id] = member
        self._index()
        return member

    def remove(self, member_id: MemberId) -> RoomMember | None:
        """Take a member out; the member (with its source and sink) or None if absent."""
        member = self._members.pop(member_id, None)
        if member is not None:
            self._index()
        return member

    def set_hears(self, member_id: MemberId, hears: Iterable[MemberId] | None) -> None:
        """Which members ``member_id`` hears from now on (None: all others). ``set_hears``,
        ``mute`` and ``deaf`` raise KeyError for a member not in the room; ``hears`` may name
        members that are not (yet) in it."""
        self._members[member_id].hears = self._hears_set(member_id, hears)

    def mute(self, member_id: MemberId, muted: bool = True) -> None:
        """A muted member is heard by nobody (its source still runs, so it stays in time)."""
        self._members[member_id].muted = muted

    def deaf(self, member_id: MemberId, deaf: bool = True) -> None:
        """A deaf member hears silence."""
        self._members[member_id].deaf = deaf

    def member(self, member_id: MemberId) -> RoomMember:
        return self._members[member_id]

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._members

    def __len__(self) -> int:
        return len(self._members)

    @property
    def members(self) -> tuple[RoomMember, ...]:
        return tuple(self._members.values())

    @staticmethod
    def _hears_set(member_id: MemberId, hears: Iterable[MemberId] | None) -> (
        frozenset[MemberId] | None
    ):
        if hears is None:
            return None
        return frozenset(hears) - {member_id}  # no one hears their own voice

    def _index(self) -> None:
        members = self._members.values()
        self._sources = tuple(m for m in members if m.source is not None)
        self._sinks = tuple(m for m in members if m.sink is not None)

    # -- mixing --------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Read every source once and write every sink its mix for this frame."""
        self.ticks += 1
        samples = self._samples
        frames: list[Pcm] = []
        rows: dict[MemberId, int] = {}
        private: list[tuple[frozenset[MemberId], Pcm]] = []
        broken = False
        for member in self._sources:
            source = member.source
            if source is None:
                continue
            try:
                frame = source.read(now)
            except Exception:
                self.source_errors += 1
                log.exception("room member %r: source %r failed; detached", member.id, source)
                member.source = None
                broken = True
                continue
            # Sources are read even when muted: a player keeps its place, a jitter buffer
            # keeps draining, and unmuting does not replay the past.
            if frame is None or member.muted:
                continue
            if (not isinstance(frame, np.ndarray) or frame.shape != (samples,)
                    or frame.dtype != np.int16):
                self.bad_frames += 1
                continue
            if member.heard_by is not None:
                private.append((member.heard_by, frame))
                continue
            rows[member.id] = len(frames)
            frames.append(frame)
        talking = len(frames)
        self.talking = talking
        stacked: npt.NDArray[np.int16] | None = np.stack(frames) if talking else None
        minus: npt.NDArray[np.int16] | None = None
        total: Pcm | None = None
        for member in self._sinks:
            sink = member.sink
            if sink is None:
                continue
            heard: Pcm | None = None
            if stacked is not None and not member.deaf:
                hears = member.hears
                if hears is None:
                    own = rows.get(member.id)
                    if own is None:
                        if total is None:
                            total = mix(stacked)
                        heard = total
                    elif talking > 1:
                        if minus is None:
                            minus = mix_minus(stacked)
                        heard = minus[own]
                else:
                    chosen = [rows[i] for i in hears if i in rows]
                    if len(chosen) == 1:
                        heard = frames[chosen[0]]
                    elif chosen:
                        heard = mix(stacked[chosen])
            if private and not member.deaf:
                extra = [frame for audience, frame in private if member.id in audience]
                if extra:
                    heard = mix(np.stack(extra if heard is None else [heard, *extra]))
            try:
                sink.write(heard, now)
            except Exception:
                self.sink_errors += 1
                log.exception("room member %r: sink %r failed; detached", member.id, sink)
                member.sink = None
                broken = True
        if broken:
            self._index()
