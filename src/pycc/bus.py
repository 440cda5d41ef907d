"""The internal event bus: how pycc's services tell each other, and anyone watching, what
happened (an agent changed state, a caller joined or left a queue, a call was connected).

Events are published by topic ("agent.state", "queue.joined", ...) and delivered at once, in
the publisher's turn of the event loop, to every subscriber of that topic or of ``"*"``. A
subscriber that raises is logged and kept; one slow consumer cannot hold the others up because
:meth:`Bus.stream` gives it its own bounded queue that drops the oldest events when full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bus", "Event"]

log = logging.getLogger("pycc.bus")


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    data: Mapping[str, Any]
    at: float = field(default_factory=time.time)


Subscriber = Callable[[Event], None]


class Bus:
    """Topics and their subscribers, in one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}
        self.published = 0

    def subscribe(self, topic: str, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event of ``topic`` (``"*"``: every topic); returns
        the function that ends the subscription."""
        self._subscribers.setdefault(topic, []).append(subscriber)

        def unsubscribe() -> None:
            subscribers = self._subscribers.get(topic, [])
            if subscriber in subscribers:
                subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, topic: str, **data: Any) -> Event:
        event = Event(topic, data)
        self.published += 1
        for key in (topic, "*"):
            for subscriber in tuple(self._subscribers.get(key, ())):
                try:
                    subscriber(event)
                except Exception:
                    log.exception("a subscriber of %s failed", topic)
        return event

    async def stream(self, topic: str = "*", *, maxsize: int = 1000) -> AsyncIterator[Event]:
        """The events of ``topic`` as they come, for a consumer of its own pace."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()  # the oldest goes: a slow reader must not stall the bus
            queue.put_nowait(event)

        unsubscribe = self.subscribe(topic, put)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()
