"""The media graph's frame clock, and the shapes of what it drives.

Audio moves through pycc's media graph (leg inputs, players, rooms, recorders, leg outputs) in
frames of :data:`FRAME_MS` milliseconds of mono int16 PCM (:data:`Pcm`). One
:class:`FrameClock` per media server paces every frame: an event-loop timer that fires every
20 ms and calls each subscriber's ``tick(now)`` in the order they subscribed. The timer is set
on absolute times ``origin + n * frame`` (``loop.call_at``), so a callback that runs a little
late does not push every later tick back: the clock does not drift. A loop that falls more than
``max_late`` frames behind (a long garbage collection, a blocking call somewhere) skips the
frames it missed instead of firing a burst of them, and counts the event in ``late_ticks``.

``now`` given to subscribers is the tick's place on that schedule, not the moment the callback
ran: every consumer of one tick agrees on the time, and a frame's time is exact.

There is no RFC here; RFC 3550 §6.4.1's media clock is what the graph's timing models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from pycc.dsp.pcm import Pcm

__all__ = [
    "FRAME",
    "FRAME_MS",
    "AudioSink",
    "AudioSource",
    "FrameClock",
    "FrameSubscriber",
    "Pcm",
    "TimerLoop",
    "frame_samples",
]

log = logging.getLogger("pycc.media")

#: Length of one graph frame in milliseconds, and in seconds.
FRAME_MS = 20
FRAME = FRAME_MS / 1000


def frame_samples(rate: int) -> int:
    """Samples in one graph frame at ``rate`` (160 at 8 kHz)."""
    return rate * FRAME_MS // 1000


class AudioSource(Protocol):
    """Something that produces one frame of mono PCM at ``rate`` per tick (None: silence)."""

    @property
    def rate(self) -> int: ...

    def read(self, now: float) -> Pcm | None: ...


class AudioSink(Protocol):
    """Something that consumes one frame of mono PCM at ``rate`` per tick (None: silence).

    Frames handed to a sink may be shared with other sinks: a sink never writes into one.
    """

    @property
    def rate(self) -> int: ...

    def write(self, frame: Pcm | None, now: float) -> None: ...


class FrameSubscriber(Protocol):
    def tick(self, now: float) -> None: ...


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class TimerLoop(Protocol):
    """The part of an asyncio event loop the clock uses (tests pass a scripted one)."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], object], /) -> TimerHandle: ...


class FrameClock:
    """Calls ``tick(now)`` on every subscriber once per ``frame`` seconds while it has any.

    Counters: ``ticks`` (fired), ``late_ticks`` (times the loop was so late that frames were
    skipped), ``skipped`` (frames skipped in all), ``errors`` (subscribers that raised; each
    was logged and unsubscribed).
    """

    def __init__(self, loop: TimerLoop, frame: float = FRAME, *, max_late: int = 3) -> None:
        if frame <= 0:
            raise ValueError(f"frame must be positive, got {frame}")
        self.loop = loop
        self.frame = frame
        self.max_late = max_late
        # A dict as an ordered set: O(1) membership while a tick unsubscribes others.
        self._subscribers: dict[FrameSubscriber, None] = {}
        self._handle: TimerHandle | None = None
        self._origin = 0.0
        self._index = 0
        self._firing = False
        self.ticks = 0
        self.late_ticks = 0
        self.skipped = 0
        self.errors = 0

    @property
    def running(self) -> bool:
        return self._handle is not None or self._firing

    @property
    def subscribers(self) -> tuple[FrameSubscriber, ...]:
        return tuple(self._subscribers)

    def subscribe(self, subscriber: FrameSubscriber) -> None:
        """Add ``subscriber`` after the existing ones; the clock starts if it was idle."""
        if subscriber in self._subscribers:
            return
        self._subscribers[subscriber] = None
        if not self.running:
            self._origin = self.loop.time()
            self._index = 1
            self._schedule()

    def unsubscribe(self, subscriber: FrameSubscriber) -> None:
        """Remove ``subscriber`` (it is not ticked again, even later in the current tick)."""
        self._subscribers.pop(subscriber, None)
        if not self._subscribers and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        self._subscribers.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        self._handle = self.loop.call_at(self._origin + self._index * self.frame, self._fire)

    def _fire(self) -> None:
        self._handle = None
        frame = self.frame
        due = self._origin + self._index * frame
        behind = self.loop.time() - due
        if behind > self.max_late * frame:
            # Catching up tick by tick would hand every consumer a burst of frames at once;
            # the audio of the missed frames is lost either way.
            missed = int(behind / frame)
            self._index += missed
            self.skipped += missed
            self.late_ticks += 1
            due = self._origin + self._index * frame
        self.ticks += 1
        self._firing = True
        try:
            subscribers = self._subscribers
            for subscriber in tuple(subscribers):
                if subscriber not in subscribers:
                    continue
                try:
                    subscriber.tick(due)
                except Exception:
                    self.errors += 1
                    subscribers.pop(subscriber, None)
                    log.exception("frame clock subscriber %r failed; unsubscribed", subscriber)
        finally:
            self._firing = False
        self._index += 1
        if self._subscribers and self._handle is None:
            self._schedule()
