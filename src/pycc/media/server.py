"""The media server: RTP ports, the calls' media sessions, and their supervision.

:class:`MediaServer` hands out RTP/RTCP port pairs from the configured range (``--rtp-ports``,
even RTP ports as RFC 3550 §11 asks), makes one :class:`~pycc.media.session.MediaSession` per
call, and once a second checks every session: a call whose expected RTP has stopped for
``rtp_timeout`` seconds is reported to its owner (the B2BUA hangs it up and records why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pycc.codecs.registry import Registry, default_registry
from pycc.media.bridge import LIVE, Bridge
from pycc.media.channel import MediaEngine
from pycc.media.clock import FrameClock
from pycc.media.leg import MediaLeg
from pycc.media.offload import MAX_PER_SCAN, RelayOffloader, eligible
from pycc.media.rtp_socket import RtpSocketPair
from pycc.media.session import MediaSession
from pycc.rtp.ports import PortAllocator, PortRange, PortsExhausted
from pycc.sdp.anchor import LocalCodec
from pycc.transport.workers import check_priority

__all__ = ["MediaServer", "PortsExhausted"]

log = logging.getLogger("pycc.media")

#: Codecs pycc offers for transcoding when a party's own codecs are not enough, in order of
#: preference, with their RFC 3551 static payload types.
TRANSCODE_PREFERENCE = (
    ("PCMU", 8000, 1), ("PCMA", 8000, 1), ("G722", 8000, 1), ("opus", 48000, 2),
    ("G729", 8000, 1),
)

TimeoutHandler = Callable[[MediaSession], None]

#: Seconds between offload passes while eligible bridges are left over.
OFFLOAD_FOLLOW_UP = 0.1


class MediaServer:
    """Owns the RTP port range and every call's media session."""

    def __init__(
        self,
        host: str,
        ports: PortRange | str,
        *,
        rtp_timeout: float = 60.0,
        registry: Registry | None = None,
        sweep_interval: float = 1.0,
        rtcp_interval: float = 5.0,
        relay_workers: int = 0,
        relay_priority: str = "normal",
    ) -> None:
        try:
            check_priority(relay_priority)
        except ValueError as exc:
            raise ValueError(f"relay_priority: {exc}") from None
        self.host = host
        self.range = PortRange.parse(ports) if isinstance(ports, str) else ports
        self.allocator = PortAllocator(self.range)
        self.rtp_timeout = rtp_timeout
        self.registry = registry or default_registry()
        self.sweep_interval = sweep_interval
        #: Seconds between pycc's own RTCP reports on each leg (RFC 3550 §6.2's 5 s minimum).
        self.rtcp_interval = rtcp_interval
        self._next_rtcp = 0.0
        self.sessions: dict[MediaSession, tuple[float, TimeoutHandler | None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._offload_again: asyncio.TimerHandle | None = None
        #: Bridges one pass hands each worker at most (`pycc.media.offload.MAX_PER_SCAN`).
        self.offload_batch = MAX_PER_SCAN
        self.transcodable = self._transcodable()
        #: Channels, mixes, prompts and recordings (made by :meth:`start`).
        self.engine: MediaEngine | None = None
        #: Worker processes that forward plain relayed bridges, each its share of them.
        self.offloaders: list[RelayOffloader] = [
            RelayOffloader(self, priority=relay_priority)
            for _ in range(max(0, relay_workers))]

    def _sample_rate_of(self, name: str, clock_rate: int, channels: int) -> int:
        try:
            return self.registry.find(name, clock_rate, channels).spec.sample_rate
        except LookupError:
            return clock_rate

    def _transcodable(self) -> list[LocalCodec]:
        result: list[LocalCodec] = []
        for name, rate, channels in TRANSCODE_PREFERENCE:
            try:
                codec = self.registry.find(name, rate, channels)
            except LookupError:
                continue  # e.g. the G.729 library is not installed
            spec = codec.spec
            result.append(LocalCodec(spec.name, spec.clock_rate, spec.channels,
                                     spec.static_payload_type, spec.fmtp or None))
        return result

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.engine = MediaEngine(FrameClock(self._loop), self._sample_rate_of)
        self._sweeper = self._loop.create_task(self._sweep_forever())
        started: list[RelayOffloader] = []
        for offloader in self.offloaders:
            try:
                await offloader.start()
            except OSError as exc:
                log.warning("relay worker %d of %d did not start (%s); relaying with %d",
                            len(started) + 1, len(self.offloaders), exc, len(started))
                break
            started.append(offloader)
        self.offloaders = started

    async def close(self) -> None:
        if self._offload_again is not None:
            self._offload_again.cancel()
            self._offload_again = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.engine is not None:
            await self.engine.drain()
            self.engine.close()
        for session in list(self.sessions):
            session.close()
        self.sessions.clear()
        for offloader in self.offloaders:
            await offloader.close()

    @property
    def offloaded(self) -> int:
        """Bridges the relay workers forward now."""
        return sum(len(offloader.handed) for offloader in self.offloaders)

    def offload(self, bridges: list[Bridge]) -> int:
        """Hand the eligible ``bridges`` to the relay workers, each to the one forwarding
        the fewest; how many went. A worker behind on its messages gets none this time."""
        running = [offloader for offloader in self.offloaders if offloader.running]
        budget = self.offload_batch * len(running)
        moved = 0
        for bridge in bridges:
            if not running or moved == budget:
                break  # the rest at the next sweep: workers take them in batches
            if not eligible(bridge, self):
                continue
            target = min(running, key=lambda offloader: len(offloader.handed))
            if target.hand_over(bridge):
                moved += 1
            else:
                running.remove(target)
        return moved

    def _offload_pass(self) -> None:
        """Hand eligible bridges over. A pass that used its whole budget may have left some
        behind (a burst of new calls): another pass follows shortly rather than at the next
        sweep, so that a thousand calls move in a second, not in ten."""
        self._offload_again = None
        workers = sum(1 for offloader in self.offloaders if offloader.running)
        if not workers or self.offload(list(LIVE)) < self.offload_batch * workers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._offload_again = loop.call_later(OFFLOAD_FOLLOW_UP, self._offload_pass)

    @property
    def running(self) -> bool:
        """Started and supervising its sessions (its sweep task alive)."""
        return self._sweeper is not None and not self._sweeper.done()

    # -- sessions ---------------------------------------------------------------------------
    def new_session(self, name: str = "", *, on_timeout: TimeoutHandler | None = None,
                    on_digit: Callable[[str, str, str], None] | None = None) -> MediaSession:
        session = MediaSession(self._new_leg, self._release_leg, self.transcodable, name=name,
                               on_digit=on_digit)
        self.sessions[session] = (self._now(), on_timeout)
        return session

    def end_session(self, session: MediaSession) -> None:
        self.sessions.pop(session, None)
        if self.engine is not None:
            self.engine.end_session(session)
        session.close()

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def _new_leg(self, name: str) -> MediaLeg:
        loop = self._loop or asyncio.get_running_loop()
        made: list[RtpSocketPair] = []
        leg_ref: list[MediaLeg] = []

        def receive(data: bytes, source: tuple[str, int], on_rtcp_port: bool) -> None:
            leg_ref[0].receive(data, source, on_rtcp_port)

        def try_bind(port: int) -> bool:
            try:
                made.append(RtpSocketPair(loop, self.host, port, receive))
            except OSError:
                return False
            return True

        self.allocator.allocate(try_bind)
        leg = MediaLeg(made[-1], loop.time, name=name)
        leg.owner = self
        leg_ref.append(leg)
        return leg

    def _release_leg(self, leg: MediaLeg) -> None:
        leg.close()
        self.allocator.release(leg.port)

    # -- supervision ------------------------------------------------------------------------
    def send_reports(self) -> None:
        """pycc's own RTCP on every leg whose stream pycc originates or only receives."""
        for session in list(self.sessions):
            for party in ("a", "b"):
                for leg in session.legs(party):
                    report = leg.rtcp_report()
                    if report is not None:
                        leg.send_rtcp(report)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                self.sweep()
            except Exception:  # a bug in one check must not end supervision of all calls
                log.exception("media sweep failed")

    def sweep(self) -> None:
        now = self._now()
        if now >= self._next_rtcp:
            self._next_rtcp = now + self.rtcp_interval
            self.send_reports()
        if self.offloaders and self._offload_again is None:
            self._offload_pass()
        for session, (started, on_timeout) in list(self.sessions.items()):
            if session.closed:
                self.sessions.pop(session, None)
                continue
            if on_timeout is None or self.rtp_timeout <= 0:
                continue
            if session.active and session.silent_for(now, started) >= self.rtp_timeout:
                session.hangup_reason = "rtp-timeout"
                self.sessions[session] = (started, None)  # report once
                on_timeout(session)
