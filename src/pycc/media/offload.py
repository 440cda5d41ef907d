"""Relay offload: bridged calls' media carried by a worker process, off the event loop.

The switch's event loop carries SIP, the admin API, the IVR, the ACD and the media. Most of
the media of a busy call center is plain relay: two phones (or a customer and an agent) on the
same codec, pycc only passing packets on; the rest is transcoding between two codecs, which
costs far more per packet. `RelayOffloader` hands such bridges to a relay worker
(`pycc.media.relay_worker`, a process started with the media server) once both parties'
sources are locked, and takes them back the moment anything changes: a new offer/answer, a
listener (recorder, supervisor, IVR input), the bridge suspended for a mixing room or closed.
A transcoded bridge goes over with its streams' state (`pycc.media.bridge.TranscodePlan`), so
each party keeps hearing one stream; the worker's codecs start fresh. When a listener takes it
back, the switch's transcoders go on with new streams (new SSRCs, the marker set, as after a
new offer/answer), since they cannot know where the worker's streams ended. Meanwhile the worker's
counts keep the legs' figures (packets, last packet time for the media time-out, RFC 3550
statistics for RTCP and the call record's MOS, and what pycc's own streams sent for its
sender reports), and the switch still sees every telephone-event and every multiplexed RTCP
packet.

Which bridges qualify is `eligible`, a pure check of the bridge and its legs. Every second
the media server's sweep (`MediaServer.offload`) hands the eligible ones over, in batches
0.1 s apart when there are many, each to the worker that forwards the fewest; there are as
many workers as ``media_workers`` asks.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import json
import logging
import pickle
import socket
import subprocess
import time
from typing import Any, Final

from pycc.codecs.opus import opus_complexity
from pycc.media.bridge import Bridge
from pycc.media.leg import MediaLeg
from pycc.media.relay_worker import MAX_MESSAGE, decode_stats, encode_stats
from pycc.rtp.latch import LatchState
from pycc.transport.workers import set_priority, start_worker, stop_worker

__all__ = ["RelayOffloader", "eligible"]

log = logging.getLogger("pycc.media")

#: Bridges handed to one worker in one pass at most, so that a burst of new calls reaches
#: it in batches it can take without its control socket filling up, and each pass holds the
#: event loop for a few milliseconds only (the media server passes again 0.1 s later while
#: bridges are left over).
MAX_PER_SCAN: Final = 100
#: Seconds to wait for the worker to end on its own before it is killed.
_EXIT_GRACE: Final = 2.0


def eligible(bridge: Bridge, owner: object) -> bool:
    """Whether a relay worker can carry ``bridge`` on as the bridge would: both directions
    plain relays of one codec, or both transcoding with no key tones to listen for; both legs
    ``owner``'s, without SRTP or listeners, sending and receiving, their sources locked, and
    nothing but the bridge reading them."""
    if bridge.reclaim is not None or (
            bridge.relay_tables() is None and not bridge.transcodes_alone):
        return False
    for leg in (bridge.x, bridge.y):
        side = leg.side
        if (leg.owner is not owner or leg.srtp is not None or leg.taps or leg.guard is not None
                or side is None or not side.sends or not side.receives
                or leg.latch.state is not LatchState.LOCKED or leg.latch.peer is None):
            return False
    # The bridge's own handlers, not a player's or a room's.
    return bridge.x.on_rtp is not None and bridge.y.on_rtp is not None \
        and getattr(bridge.x.on_rtp, "__self__", None) is bridge \
        and getattr(bridge.y.on_rtp, "__self__", None) is bridge


class _Handed:
    """A bridge in the worker's hands, and what of its counts the legs have already."""

    __slots__ = ("bridge", "counted", "dropped")

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        # Per side: packets received, sent and octets sent (transcoding), and dropped by
        # reason, as far as already added to the legs.
        self.counted = [[0, 0, 0], [0, 0, 0]]
        self.dropped: tuple[dict[str, int], dict[str, int]] = ({}, {})


class RelayOffloader:
    """One relay worker process and the bridges it forwards for one media server."""

    def __init__(self, owner: object, *, priority: str = "normal") -> None:
        self.owner = owner
        #: How the worker is scheduled (`pycc.transport.workers.PRIORITIES`).
        self.priority = priority
        self.handed: dict[int, _Handed] = {}
        #: Bridges given back whose final counts are on their way.
        self._returning: dict[int, _Handed] = {}
        self._ids = itertools.count(1)
        #: Control messages waiting for room in the socket (see `_send`).
        self._outbox: collections.deque[bytes] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.failed = False
        self.offloaded_total = 0
        #: How the worker forwards, as its ticks say: "c" (its compiled loop) or "python".
        self.packet_loop: str | None = None
        #: How many transcoding directions the worker runs in its C loop (as last ticked).
        self.c_transcoding = 0

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, self._process = start_worker("pycc.media.relay_worker", MAX_MESSAGE)
        try:
            set_priority(self._process.pid, self.priority)
        except OSError as exc:
            log.warning("media_priority %s: the system refused it (%s); the relay worker "
                        "runs at normal priority", self.priority, exc.strerror or exc)
        self._control = ours
        self._loop = loop
        loop.add_reader(ours.fileno(), self._on_message)

    @property
    def running(self) -> bool:
        return self._control is not None and not self.failed

    async def close(self) -> None:
        for ident in list(self.handed):
            self._take_back(ident)
        control, process = self._control, self._process
        self._control = self._process = None
        if control is not None:
            # What waits in the outbox is moot: "exit" ends every forwarding.
            self._outbox.clear()
            with contextlib.suppress(OSError):
                control.setblocking(True)
                control.settimeout(_EXIT_GRACE)
                control.send(b'{"op": "exit"}')
            if self._loop is not None:
                self._loop.remove_reader(control.fileno())
                self._loop.remove_writer(control.fileno())
            control.close()
        if process is not None:
            await stop_worker(process, _EXIT_GRACE)

    # -- handing bridges over and back ------------------------------------------------------
    def hand_over(self, bridge: Bridge) -> bool:
        control = self._control
        if control is None or self._outbox:
            return False
        legs = (bridge.x, bridge.y)
        tables = bridge.relay_tables()
        plans = None if tables is not None else bridge.transcode_plans()
        # Per side, the second header bytes that pass and what each becomes, as pairs: a
        # handful where a full table would be 256 numbers to encode and decode.
        if tables is not None:
            maps = [[[second, out] for second, out in enumerate(table) if out is not None]
                    for table in tables]
        elif plans is not None:
            # A transcoded party's packets go to the worker's decoder: only the payload
            # types negotiated with that party pass, the marker bit as it came.
            maps = [[[pt | marker, pt | marker] for pt in sorted(leg.payload_types) if pt < 128
                     for marker in (0, 0x80)] for leg in legs]
        else:
            return False
        ident = next(self._ids)
        message: dict[str, Any] = {
            "op": "add", "id": ident,
            "peers": [list(leg.latch.peer or ("", 0)) for leg in legs],
            "maps": maps,
            "events": [sorted(leg.event_types) for leg in legs],
            "stats": [encode_stats(leg.stats) for leg in legs],
        }
        if plans is not None:
            message["plans"] = [base64.b64encode(pickle.dumps(plan)).decode() for plan in plans]
            message["opus_complexity"] = opus_complexity()
        try:
            socket.send_fds(control, [json.dumps(message).encode()],
                            [leg.sockets.rtp_fileno() for leg in legs])
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            log.warning("the relay worker cannot be reached (%s): relaying in this process",
                        exc)
            self._worker_gone()
            return False
        bridge.reclaim = lambda ident=ident: self._take_back(ident)
        if plans is not None:
            def forward_loss(leg: MediaLeg, percent: int, ident: int = ident) -> None:
                self._send(json.dumps({"op": "loss", "id": ident,
                                       "side": 0 if leg is bridge.x else 1,
                                       "percent": percent}).encode())

            bridge.forward_loss = forward_loss
        for leg in legs:
            leg.sockets.pause_rtp()
            # A listener joining (a recorder, a supervisor) leaves the bridge as it is: a
            # transcoded one goes on with fresh streams, as the worker's went on without it.
            leg.guard = lambda ident=ident: self._take_back(ident, renew=True)
        self.handed[ident] = _Handed(bridge)
        self.offloaded_total += 1
        return True

    def _take_back(self, ident: int, *, renew: bool = False) -> None:
        """The switch reads the bridge's sockets again. ``renew``: the bridge goes on as it
        is, so a transcoded one starts fresh streams (`Bridge.renew`); the bridge's own
        changes (an update, suspending, closing) rebuild or drop its paths themselves."""
        handed = self.handed.pop(ident, None)
        if handed is None:
            return
        bridge = handed.bridge
        bridge.reclaim = bridge.forward_loss = None
        for leg in (bridge.x, bridge.y):
            leg.guard = None
            leg.sockets.resume_rtp()
        if renew:
            bridge.renew()
        self._returning[ident] = handed
        if not self.failed:
            # Must arrive: until it does, the worker forwards the bridge's packets.
            self._send(json.dumps({"op": "remove", "id": ident}).encode())

    def _send(self, message: bytes) -> None:
        """Send a control message, in order; one the socket cannot take now waits for it."""
        control = self._control
        if control is None:
            return
        if not self._outbox:
            try:
                control.send(message)
                return
            except (BlockingIOError, InterruptedError):
                if self._loop is not None:
                    self._loop.add_writer(control.fileno(), self._flush)
            except OSError:
                self._worker_gone()
                return
        self._outbox.append(message)

    def _flush(self) -> None:
        control = self._control
        while control is not None and self._outbox:
            try:
                control.send(self._outbox[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._worker_gone()
                return
            self._outbox.popleft()
        if control is not None and self._loop is not None:
            self._loop.remove_writer(control.fileno())

    # -- what the worker says ---------------------------------------------------------------
    def _on_message(self) -> None:
        control = self._control
        if control is None:
            return
        try:
            payload = control.recv(MAX_MESSAGE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            payload = b""
        if not payload:
            self._worker_gone()
            return
        try:
            message = json.loads(payload)
            self._handle(message)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("relay worker message not understood: %s", exc)

    def _handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "tick":
            self.packet_loop = message.get("loop", self.packet_loop)
            self.c_transcoding = int(message.get("c_transcoding", 0))
            for key, sides in message["pairs"].items():
                handed = self.handed.get(int(key))
                if handed is not None:
                    self._count(handed, sides)
        elif op == "removed":
            handed = self._returning.pop(int(message["id"]), None)
            sides = message["sides"]
            if handed is not None and sides is not None:
                self._count(handed, sides)
                legs = (handed.bridge.x, handed.bridge.y)
                for leg, side in zip(legs, sides, strict=True):
                    # The statistics come last, after the counts.
                    found = decode_stats(side[-1])
                    if found is not None:
                        leg.stats = found
                # What the party sent after the switch took the bridge back and before the
                # worker let go waited on the worker's connected socket: it is the switch's
                # to read (a listener that took the bridge back hears it).
                for leg, packets in zip(legs, message.get("pending") or ([], []), strict=True):
                    peer = leg.peer
                    if peer is not None:
                        for text in packets:
                            leg.receive(base64.b64decode(text), peer, False)
        elif op in ("event", "rtcp"):
            handed = self.handed.get(int(message["id"]))
            if handed is not None:
                leg = handed.bridge.x if int(message["side"]) == 0 else handed.bridge.y
                leg.receive_forwarded(base64.b64decode(message["data"]), op == "event",
                                      leg.clock())
        elif op == "refused":
            # The worker could not take the bridge (a codec it cannot load): the bridge's
            # own paths, untouched meanwhile, go on here.
            ident = int(message["id"])
            log.warning("relay worker refused a bridge: %s", message.get("detail"))
            self._take_back(ident)
        elif op == "error":
            log.warning("relay worker: %s", message.get("detail"))

    @staticmethod
    def _count(handed: _Handed, sides: list[list[Any]]) -> None:
        legs = (handed.bridge.x, handed.bridge.y)
        # A transcoded bridge's sides also say what the worker sent each party: pycc's own
        # streams, which the switch's sender reports describe.
        transcoded = all(len(side) >= 7 for side in sides)
        for index, (received, dropped, last, *rest) in enumerate(sides):
            leg, far = legs[index], legs[1 - index]
            seen = handed.counted[index]
            new_received = int(received) - seen[0]
            seen[0] = int(received)
            if new_received > 0:
                leg.received += new_received
                if not transcoded:
                    far.sent += new_received
                leg.last_received = _loop_time(leg, float(last))
            # By the same reasons as the switch's own drops (a packet the worker could not
            # send on: "send").
            dropped_seen = handed.dropped[index]
            for reason, count in dropped.items():
                new_dropped = count - dropped_seen.get(reason, 0)
                if new_dropped > 0:
                    leg.dropped[reason] += new_dropped
                    dropped_seen[reason] = count
            if transcoded:
                sent, octets, last_ts, last_at = int(rest[0]), int(rest[1]), int(rest[2]), \
                    float(rest[3])
                new_sent, new_octets = sent - seen[1], octets - seen[2]
                seen[1], seen[2] = sent, octets
                if new_sent > 0:
                    leg.note_sent(new_sent, new_octets, last_ts, _loop_time(leg, last_at))

    def _worker_gone(self) -> None:
        """The worker ended: the switch reads every socket itself again."""
        if not self.failed:
            log.error("the media relay worker ended; relaying in the switch process")
        self.failed = True
        for ident in list(self.handed):
            self._take_back(ident, renew=True)
        self._returning.clear()
        self._outbox.clear()
        control = self._control
        if control is not None and self._loop is not None:
            self._loop.remove_reader(control.fileno())
            self._loop.remove_writer(control.fileno())


def _loop_time(leg: MediaLeg, monotonic: float) -> float:
    """A worker's time.monotonic() reading on the leg's clock (the event loop's, which may
    count from elsewhere)."""
    return leg.clock() - (time.monotonic() - monotonic)

