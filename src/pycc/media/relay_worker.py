"""The media relay worker: a process of its own that carries the RTP of bridged calls, so
that their packets cost the switch's event loop nothing.

A bridge whose two directions are relays (same codec both ways, no SRTP, no recorder or
supervisor listening, both parties' sources locked by the latch of `pycc.rtp.latch`) needs no
more per packet than: the source is the party's, the payload type is one negotiated (renumbered
for the far leg), the RFC 3550 reception statistics move on, the packet goes out of the far
leg's socket to the far party. `pycc.media.offload` hands such a bridge over: it passes the two
legs' RTP sockets (their file descriptors, over a Unix socket, `SCM_RIGHTS`), and this process
forwards until told to give the bridge back. Nothing here parses more than the 12-byte header.

A transcoded bridge comes with its two directions' plans (`pycc.media.bridge.TranscodePlan`):
this process rebuilds the bridge's transcoders from them, with codecs of its own, and each
accepted packet goes through the transcoder of its direction, which sends pycc's stream on
from where the switch left it. The codecs are imported with the first such bridge.

What the switch still needs arrives over the same Unix socket, as JSON messages:

- ``tick`` (every `TICK_SECONDS` for each bridge, in at least `TICK_SLICES` messages of at
  most `TICK_PAIRS` bridges each: one pass over a thousand bridges would hold up their
  packets for tens of milliseconds at once): per bridge and side, the packets forwarded,
  those dropped by reason (`pycc.media.relay_native.DROP_REASONS`), and when the last one
  arrived (for the media time-out and the metrics), which
  loop forwards (``"loop": "c"`` or ``"python"``) and how many transcoding directions run
  in C (``"c_transcoding"``);
- ``event``: a copy of every RFC 4733 telephone-event packet (the switch reports the keys);
- ``rtcp``: RTCP that arrives multiplexed on an RTP port (RFC 5761), for the switch to read
  and pass on as it does for its own RTCP ports;
- ``removed``: the answer to ``remove``: the final counts, each side's statistics, and the
  party's packets that still waited unread for the C loop (``pending``), which the switch
  reads as its own;
- ``refused``: the answer to an ``add`` this process cannot carry (a codec it cannot load).

A transcoded bridge's counts also say, per side, what was sent to that party: packets, payload
octets, the last RTP timestamp and when (the switch's RTCP sender reports need them).

Where `pycc accel build` has compiled it, the packets go through the C loop of
`pycc.media.relay_native` instead of `Worker._forward`: the same checks and statistics, with
the interpreter only seeing what it must (RTCP, event copies, packets to transcode). A
direction among PCMU, PCMA, G.729 and Opus whose audio meets at 8000 Hz is transcoded in C as
well, with its transcoder's own codec objects and stream state; the others (G.722, wideband
Opus) go through the Python transcoder.

The control messages from the switch: ``add`` (with the two descriptors), ``remove``,
``loss`` (a party's RTCP report of the share of a transcoded stream it lost, for the encoder's
FEC) and ``exit``. The process ends on ``exit`` or when the switch's end of the socket closes.
Run as ``python -m pycc.media.relay_worker FD``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import pickle
import socket
import struct
import sys
import time
from typing import Any, Final

from pycc.media import relay_native, transcode_native
from pycc.media.relay_native import NativeRelay
from pycc.rtp.errors import RtpError
from pycc.rtp.packet import checked_header_fields
from pycc.rtp.stats import ReceiverStats
from pycc.transport.workers import worker_control

__all__ = ["MAX_MESSAGE", "TICK_SECONDS", "main"]

#: Seconds between the counts of one bridge sent to the switch (the media time-out, 60 s by
#: default, needs no finer) ...
TICK_SECONDS: Final = 1.0
#: ... in this many messages or more, each with its share of the bridges ...
TICK_SLICES: Final = 10
#: ... and at most this many bridges in one.
TICK_PAIRS: Final = 50
#: The largest control message (a tick for many bridges is the longest).
MAX_MESSAGE: Final = 1 << 20
_MAX_DATAGRAM: Final = 2048
#: A handed-back side's waiting packets returned to the switch, the newest (two seconds of
#: 20 ms audio): with a large receive buffer a stalled worker's backlog would not fit in one
#: control message, and older audio is too late to play anyway.
PENDING_LIMIT: Final = 100
#: Sequence number, timestamp and SSRC: header bytes 2 to 11 (RFC 3550 §5.1).
_SEQ_TS_SSRC: Final = struct.Struct("!HII")


def encode_stats(stats: ReceiverStats | None) -> str | None:
    """A side's statistics for a control message (they move between the two processes)."""
    return None if stats is None else base64.b64encode(pickle.dumps(stats)).decode()


def decode_stats(text: str | None) -> ReceiverStats | None:
    if text is None:
        return None
    found = pickle.loads(base64.b64decode(text))
    return found if isinstance(found, ReceiverStats) else None


class _Side:
    """One party of a forwarded bridge: its socket, where it is, what it sends."""

    __slots__ = ("codec_errors", "dropped", "dropped_here", "events", "fd", "last", "last_sent",
                 "last_sent_at", "last_sent_ts", "map", "native_path", "path", "peer",
                 "received", "sent", "sent_octets", "sock", "stats")

    def __init__(self, sock: socket.socket, peer: tuple[str, int], table: list[int],
                 events: list[int], stats: ReceiverStats | None) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        # Second header byte in -> out (-1: a payload type not carried on).
        self.map = table
        self.events = frozenset(events)
        self.stats = stats
        # What the forwarding loop counted (this module's or the C one's) ...
        self.received = 0
        self.dropped: dict[str, int] = {}  # by reason, as relay_native.DROP_REASONS
        self.last = 0.0
        # ... and the packets lost here on the way out (a transcoder's, a failed send).
        self.dropped_here: collections.Counter[str] = collections.Counter()
        #: A transcoding direction from this party to the other (else packets are relayed),
        #: and whether the C loop runs it (with ``path``'s codec objects).
        self.path: Any = None
        self.native_path = False
        # What a transcoding direction sent this party (the switch's sender reports).
        self.sent = 0
        self.sent_octets = 0
        self.last_sent = b""  # its timestamp is read when the counts go out, not per packet
        self.last_sent_at = 0.0
        #: The last timestamp sent, when the C loop's transcoder sends to this party.
        self.last_sent_ts: int | None = None
        self.codec_errors = 0

    def send_rtp(self, data: bytes) -> None:
        """A packet a transcoding direction made for this party."""
        try:
            self.sock.sendto(data, self.peer)
        except OSError:
            self.dropped_here["send"] += 1
            return
        self.sent += 1
        self.sent_octets += len(data) - 12
        self.last_sent = data

    def counts(self) -> list[Any]:
        """This side's counts for a tick; a transcoded bridge's sides say what they sent."""
        dropped = self.dropped
        if self.dropped_here:
            dropped = dict(self.dropped_here + collections.Counter(dropped))
        counts: list[Any] = [self.received, dropped, self.last]
        if self.path is not None:
            last_ts = self.last_sent_ts if self.last_sent_ts is not None else \
                int.from_bytes(self.last_sent[4:8], "big") if self.last_sent else 0
            counts += [self.sent, self.sent_octets, last_ts, self.last_sent_at]
        return counts


class _Pair:
    __slots__ = ("id", "native", "sides")

    def __init__(self, ident: int, sides: tuple[_Side, _Side]) -> None:
        self.id = ident
        self.sides = sides
        #: Carried by the C loop (else by `Worker._forward`).
        self.native = False


class Worker:
    """The forwarding loop over the bridges the switch handed over."""

    def __init__(self, control: socket.socket, loop: asyncio.AbstractEventLoop,
                 native: NativeRelay | None = None) -> None:
        self.control = control
        self.loop = loop
        self.pairs: dict[int, _Pair] = {}
        self.done = loop.create_future()
        self.native = native
        #: The C loop's sides by descriptor: (bridge, side index).
        self.native_sides: dict[int, tuple[_Pair, int]] = {}
        #: Transcoding directions the C loop runs.
        self.c_transcoding = 0
        #: Answers the switch must get ("removed", "refused") that its socket could not take
        #: yet, in order.
        self.outbox: collections.deque[bytes] = collections.deque()
        self._writing = False
        if native is not None:
            # Orders before packets: a bridge handed back is the switch's from that moment,
            # and the packets waiting for this process go back to it unforwarded.
            native.watch_control(control.fileno())
            loop.add_reader(native.fileno, self._drain)

    # -- control --------------------------------------------------------------------------
    def on_control(self) -> None:
        """Follow every order waiting on the control socket."""
        while not self.done.done():
            if not self._order():
                return

    def _order(self) -> bool:
        """Follow one order; False when none was waiting."""
        try:
            payload, fds, _flags, _address = socket.recv_fds(self.control, MAX_MESSAGE, 4)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            payload, fds = b"", []
        if not payload:  # the switch is gone
            for fd in fds:
                socket.close(fd)
            self._finish()
            return False
        try:
            message = json.loads(payload)
            op = message["op"]
            if op == "add":
                self._add(message, fds)
            elif op == "remove":
                self._remove(int(message["id"]))
            elif op == "loss":
                self._loss(int(message["id"]), int(message["side"]), int(message["percent"]))
            elif op == "exit":
                self._finish()
        except (KeyError, TypeError, ValueError, pickle.UnpicklingError) as exc:
            for fd in fds:
                socket.close(fd)
            self._send({"op": "error", "detail": f"{type(exc).__name__}: {exc}"})
        return True

    def _add(self, message: dict[str, Any], fds: list[int]) -> None:
        if len(fds) != 2:
            raise ValueError(f"add needs two descriptors, got {len(fds)}")
        ident = int(message["id"])
        # All read before the descriptors become sockets: on a bad message the caller closes
        # them, once.
        peers = [(str(host), int(port)) for host, port in message["peers"]]
        tables = [_table(pairs) for pairs in message["maps"]]
        events = [list(types) for types in message["events"]]
        stats = [decode_stats(text) for text in message["stats"]]
        if not len(peers) == len(tables) == len(events) == len(stats) == 2:
            raise ValueError("add describes two sides")
        sides = []
        for index, fd in enumerate(fds):
            sock = socket.socket(fileno=fd)
            sock.setblocking(False)
            sides.append(_Side(sock, peers[index], tables[index], events[index], stats[index]))
        pair = _Pair(ident, (sides[0], sides[1]))
        plans = message.get("plans")
        if plans is not None:
            try:
                _transcode(pair, plans, message.get("opus_complexity"))
            except (LookupError, ValueError, TypeError, pickle.UnpicklingError) as exc:
                for side in pair.sides:
                    side.sock.close()
                self._answer({"op": "refused", "id": ident,
                              "detail": f"{type(exc).__name__}: {exc}"})
                return
        self.pairs[ident] = pair
        if self._carry_natively(pair):
            return
        for index, side in enumerate(pair.sides):
            self.loop.add_reader(side.fd, self._forward, pair, index)

    def _carry_natively(self, pair: _Pair) -> bool:
        """Hand ``pair`` to the C loop, if there is one and it takes both sides."""
        native = self.native
        if native is None:
            return False
        added: list[int] = []
        try:
            for index, side in enumerate(pair.sides):
                far = pair.sides[1 - index]
                native.add(side.sock, far.sock, side.peer, side.map, sorted(side.events),
                           side.stats, python=side.path is not None)
                added.append(side.fd)
            for side in pair.sides:
                conf = transcode_native.direction(side.path) if side.path is not None else None
                if conf is not None:
                    native.transcode(side.fd, conf)
                    side.native_path = True
                    self.c_transcoding += 1
        except (OSError, ValueError):
            # An address the C loop cannot hold (not numeric): forwarded here instead.
            for fd in added:
                native.remove(fd)
            for side in pair.sides:
                self.c_transcoding -= side.native_path
                side.native_path = False
            return False
        pair.native = True
        for index, side in enumerate(pair.sides):
            self.native_sides[side.fd] = (pair, index)
        return True

    def _loss(self, ident: int, index: int, percent: int) -> None:
        """Side ``index``'s party reported losing ``percent`` of the stream sent to it."""
        pair = self.pairs.get(ident)
        if pair is None or index not in (0, 1):
            return
        path = pair.sides[1 - index].path
        if path is not None:
            path.expect_loss(percent)

    def _remove(self, ident: int) -> None:
        pair = self.pairs.pop(ident, None)
        if pair is None:
            self._answer({"op": "removed", "id": ident, "sides": None})
            return
        pending: list[list[str]] = []
        for side in pair.sides:
            if side.native_path:
                self.c_transcoding -= 1
                side.native_path = False
            if pair.native and self.native is not None:
                self.native_sides.pop(side.fd, None)
                waiting = self.native.take_pending(side.fd)
                if len(waiting) > PENDING_LIMIT:
                    side.dropped_here["send"] += len(waiting) - PENDING_LIMIT
                    waiting = waiting[-PENDING_LIMIT:]
                pending.append([base64.b64encode(packet).decode() for packet in waiting])
                found = self.native.remove(side.fd)  # its statistics object is up to date
                if found is not None:
                    _take_counts(side, found)
            else:
                self.loop.remove_reader(side.fd)
            side.sock.close()  # the switch keeps its own descriptor of the socket
        self._answer({"op": "removed", "id": ident, "sides": [
            [*side.counts(), encode_stats(side.stats)] for side in pair.sides],
            "pending": pending or [[], []]})

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.control.send(json.dumps(message).encode())
        except (BlockingIOError, InterruptedError):
            # The switch is behind on reading: counts come again with the next tick; an
            # event or RTCP copy is lost, as a packet would be.
            pass
        except OSError:
            self._finish()

    def _answer(self, message: dict[str, Any]) -> None:
        """Send an answer the switch waits for: until a "removed" arrives it counts the
        bridge as still forwarded here, and the packets the answer returns are its to play.
        One the socket cannot take now is sent when it can, in order."""
        self.outbox.append(json.dumps(message).encode())
        if len(self.outbox) == 1:
            self._flush()

    def _flush(self) -> None:
        while self.outbox:
            try:
                self.control.send(self.outbox[0])
            except (BlockingIOError, InterruptedError):
                if not self._writing:
                    self.loop.add_writer(self.control.fileno(), self._flush)
                    self._writing = True
                return
            except OSError:
                self.outbox.clear()
                self._finish()
                return
            self.outbox.popleft()
        if self._writing:
            self.loop.remove_writer(self.control.fileno())
            self._writing = False

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    # -- the packets ----------------------------------------------------------------------
    def _drain(self) -> None:
        """The C loop forwarded what was ready; handle what it passed up."""
        assert self.native is not None
        try:
            records = list(self.native.drain())
        except OSError as exc:
            self._send({"op": "error", "detail": f"relay: {exc}"})
            return
        control = False
        for fd, kind, data in records:
            found = self.native_sides.get(fd)
            if found is None:
                control = control or kind == relay_native.CONTROL
                continue
            pair, index = found
            if kind == relay_native.PATH:
                self._through_path(pair, index, data, time.monotonic())
            elif kind == relay_native.CODEC_ERROR:
                # The C loop counted it dropped, and passes up only the first.
                pair.sides[index].codec_errors += 1
                self._send({"op": "error", "detail": f"transcoding: a payload of "
                            f"{len(data) - 12} bytes the codec refuses"})
            else:
                self._send({"op": "rtcp" if kind == relay_native.RTCP else "event",
                            "id": pair.id, "side": index,
                            "data": base64.b64encode(data).decode()})
        if control:  # the pass stopped for an order: followed before the next packets
            self.on_control()

    def _refresh(self, pairs: list[_Pair]) -> None:
        """Bring the C loop's counts into the sides of ``pairs`` it carries."""
        if self.native is None:
            return
        fds = [side.fd for pair in pairs if pair.native for side in pair.sides]
        if not fds:
            return
        for fd, found in zip(fds, self.native.counts(fds), strict=True):
            if found is not None:
                pair, index = self.native_sides[fd]
                _take_counts(pair.sides[index], found)

    def _forward(self, pair: _Pair, index: int) -> None:
        side = pair.sides[index]
        try:
            data, source = side.sock.recvfrom(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # an ICMP error from an earlier send; the socket stays usable
        # IPv4 sources are (host, port) already; IPv6 ones carry flow and scope after them.
        if (source if len(source) == 2 else source[:2]) != side.peer:
            _drop(side, "source")
            return
        if len(data) < 2 or data[0] >> 6 != 2:
            _drop(side, "short" if len(data) < 2 else "version")
            return
        second = data[1]
        if 192 <= second <= 223:  # RTCP multiplexed on the RTP port (RFC 5761 §4)
            # Told apart by its second byte, as the switch does: a reduced-size RTCP packet
            # (RFC 5506) may be shorter than an RTP header. The switch parses it.
            self._send({"op": "rtcp", "id": pair.id, "side": index,
                        "data": base64.b64encode(data).decode()})
            return
        if len(data) < 12:
            _drop(side, "short")
            return
        if data[0] & 0x3F:  # CSRCs, an extension or padding: rare, and checked then
            try:
                checked_header_fields(data)
            except RtpError as exc:
                _drop(side, exc.reason)
                return
        out = side.map[second]
        if out < 0:
            _drop(side, "payload-type")
            return
        now = time.monotonic()
        stats = side.stats
        if stats is not None:
            seq, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
            stats.update(seq, timestamp, now, ssrc)
        side.received += 1
        side.last = now
        if second & 0x7F in side.events:
            self._send({"op": "event", "id": pair.id, "side": index,
                        "data": base64.b64encode(data).decode()})
        far = pair.sides[1 - index]
        if side.path is not None:
            self._through_path(pair, index, data, now)
            return
        if out != second:
            data = b"%c%c%s" % (data[0], out, data[2:])
        try:
            far.sock.sendto(data, far.peer)
        except OSError:
            _drop(far, "send")

    def _through_path(self, pair: _Pair, index: int, data: bytes, now: float) -> None:
        """An accepted packet of a transcoded direction: through its transcoder to the far
        party."""
        side = pair.sides[index]
        far = pair.sides[1 - index]
        sent = far.sent
        refused = side.path.refused
        try:
            side.path.forward(data)
        except (ArithmeticError, LookupError, ValueError) as exc:
            # A payload the codec library refuses: that packet is lost, not the worker.
            self._codec_error(side, f"transcoding: {exc}")
        else:
            if side.path.refused != refused:  # the decoder refused it: lost, and counted
                self._codec_error(side, f"transcoding: a payload of {len(data) - 12} bytes "
                                        f"the codec refuses")
        if far.sent != sent:
            far.last_sent_at = now

    def _codec_error(self, side: _Side, detail: str) -> None:
        """A packet of ``side`` its transcoder could not take: counted lost; the switch
        hears of the first."""
        side.dropped_here["codec"] += 1
        side.codec_errors += 1
        if side.codec_errors == 1:
            self._send({"op": "error", "detail": detail})

    async def tick(self) -> None:
        while True:
            due = list(self.pairs)
            slices = max(TICK_SLICES, -(-len(due) // TICK_PAIRS))
            for part in range(slices):
                await asyncio.sleep(TICK_SECONDS / slices)
                self._tick([self.pairs[i] for i in due[part::slices] if i in self.pairs])

    def _tick(self, pairs: list[_Pair]) -> None:
        if not pairs:
            return
        self._refresh(pairs)
        self._send({"op": "tick", "loop": "python" if self.native is None else "c",
                    "c_transcoding": self.c_transcoding,
                    "pairs": {str(pair.id): [side.counts() for side in pair.sides]
                              for pair in pairs}})


def _drop(side: _Side, reason: str) -> None:
    side.dropped[reason] = side.dropped.get(reason, 0) + 1


def _take_counts(side: _Side, found: relay_native.SideCounts) -> None:
    """What the C loop counted for ``side``, including what its transcoder sent it."""
    side.received, side.dropped, side.last = found.received, found.dropped_by, found.last
    if found.sent:
        side.sent, side.sent_octets = found.sent, found.sent_octets
        side.last_sent_ts, side.last_sent_at = found.last_sent_ts, found.last_sent_at


def _table(pairs: list[list[int]]) -> list[int]:
    """The second header byte in -> out, from the switch's pairs (-1: not carried on)."""
    table = [-1] * 256
    for second, out in pairs:
        if not (0 <= int(second) <= 255 and 0 <= int(out) <= 255):
            raise ValueError(f"no such second header byte: {second} -> {out}")
        table[int(second)] = int(out)
    return table


def _transcode(pair: _Pair, plans: list[str], opus_complexity: object) -> None:
    """Give both sides of ``pair`` their transcoding direction, rebuilt from the bridge's
    plans (pickled `pycc.media.bridge.TranscodePlan`, x to y then y to x)."""
    # The codecs come in only with the first transcoded bridge: a worker that only relays
    # never loads them.
    from pycc.codecs.opus import set_opus_complexity
    from pycc.codecs.registry import default_registry
    from pycc.media.bridge import TranscodePlan, transcoder_from_plan

    if opus_complexity is not None:
        set_opus_complexity(opus_complexity)
    registry = default_registry()
    if len(plans) != 2:
        raise ValueError(f"a transcoded bridge has two directions, got {len(plans)}")
    for index, text in enumerate(plans):
        plan = pickle.loads(base64.b64decode(text))
        if not isinstance(plan, TranscodePlan):
            raise TypeError(f"not a transcoding plan: {type(plan).__name__}")
        pair.sides[index].path = transcoder_from_plan(plan, pair.sides[1 - index], registry)


async def _run(control: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    library = relay_native.load()
    worker = Worker(control, loop, NativeRelay(library) if library is not None else None)
    loop.add_reader(control.fileno(), worker.on_control)
    ticker = loop.create_task(worker.tick())
    try:
        await worker.done
    finally:
        ticker.cancel()
        loop.remove_reader(control.fileno())
        loop.remove_writer(control.fileno())
        if worker.native is not None:
            loop.remove_reader(worker.native.fileno)
            worker.native.close()
        for pair in list(worker.pairs.values()):
            for side in pair.sides:
                if not pair.native:
                    with contextlib.suppress(OSError, ValueError):
                        loop.remove_reader(side.fd)
                side.sock.close()


def main(argv: list[str] | None = None) -> int:
    control = worker_control("pycc.media.relay_worker", argv)
    if control is None:
        return 2
    control.setblocking(False)
    try:
        import uvloop

        uvloop.run(_run(control))
    except ImportError:
        asyncio.run(_run(control))
    return 0


if __name__ == "__main__":
    sys.exit(main())
