"""The relay worker's packet loop in C (``relay_core.c``), bound with ctypes.

`pycc accel build` compiles ``relay_core.c`` next to the compiled SIP core; `load` finds that
library for the sources on disk now (never a stale one) and returns None when there is none,
when ``PYCC_PURE`` is set, or when it does not load; the worker then forwards in Python.

`NativeRelay` is one relay: sides added with their socket, their party's address, the
payload-type map, the telephone-event types and their RFC 3550 statistics
(`pycc.rtp.stats.ReceiverStats`, handed over field by field and read back the same way);
`drain` forwards what is ready and returns the records the interpreter must handle. Each
side sends through a twin socket on its port, connected to its party (see relay_core.c);
`twinned` says whether a side has one.

A side whose direction is transcoded runs it in C too once `NativeRelay.transcode` is given
its `pycc.media.transcode_native.Direction`.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from pycc import accel
from pycc.media.transcode_native import Direction
from pycc.rtp.stats import ReceiverStats

__all__ = ["CODEC_ERROR", "CONTROL", "DROP_REASONS", "EVENT", "PATH", "PENDING", "RTCP",
           "NativeRelay", "SideCounts", "load"]

#: Record kinds `NativeRelay.drain` returns; CODEC_ERROR: the first payload a side's C
#: transcoder refused (each one is counted dropped).
RTCP: Final = 1
EVENT: Final = 2
PATH: Final = 3
CODEC_ERROR: Final = 4
#: A packet that waited on a side's twin when it was handed back (`NativeRelay.take_pending`).
PENDING: Final = 5
#: The last record of a pass that stopped for the control socket (`NativeRelay.watch_control`).
CONTROL: Final = 6

#: Why the C loop drops a packet, in its order (relay_core.c): the keys of
#: `pycc.media.leg.MediaLeg.dropped`, plus "send" for a packet it could not send on.
DROP_REASONS: Final = ("source", "short", "version", "payload-type", "codec", "send",
                       "csrc", "extension", "padding")

#: What `pr_counts` gives per side: six figures, then the drops of each reason.
_COUNTS: Final = 6 + len(DROP_REASONS)

_RECORD: Final = struct.Struct("=iii")
#: Room for the records of one pass: the C loop stops a pass before it could overflow.
_OUT_BYTES: Final = 256 * 1024
#: Room for the packets waiting on one twin, taken in as many calls as they need.
_PENDING_BYTES: Final = 16 * 1024


class _Stats(ctypes.Structure):
    _fields_ = [
        ("clock_rate", ctypes.c_int32), ("min_sequential", ctypes.c_int32),
        ("has_ssrc", ctypes.c_int32), ("ssrc", ctypes.c_uint32),
        ("has_max_seq", ctypes.c_int32), ("max_seq", ctypes.c_int32),
        ("valid", ctypes.c_int32), ("probation", ctypes.c_int32),
        ("base_seq", ctypes.c_int32), ("bad_seq", ctypes.c_int32),
        ("reset_lsr", ctypes.c_int32), ("has_transit", ctypes.c_int32),
        ("has_last_time", ctypes.c_int32), ("unused", ctypes.c_int32),
        ("cycles", ctypes.c_int64), ("received", ctypes.c_int64),
        ("received_prior", ctypes.c_int64), ("expected_prior", ctypes.c_int64),
        ("transit", ctypes.c_double), ("jitter", ctypes.c_double),
        ("last_time", ctypes.c_double),
    ]


class _Side(ctypes.Structure):
    _fields_ = [
        ("fd", ctypes.c_int32), ("far_fd", ctypes.c_int32),
        ("python", ctypes.c_int32), ("has_stats", ctypes.c_int32),
        ("family", ctypes.c_int32), ("port", ctypes.c_int32),
        ("addr", ctypes.c_uint8 * 16),
        ("map", ctypes.c_int16 * 256),
        ("events", ctypes.c_uint8 * 32),
        ("received", ctypes.c_uint64), ("dropped", ctypes.c_uint64 * len(DROP_REASONS)),
        ("last", ctypes.c_double),
        ("stats", _Stats),
        ("sent", ctypes.c_uint64), ("sent_octets", ctypes.c_uint64),
        ("last_sent_ts", ctypes.c_double), ("last_sent_at", ctypes.c_double),
    ]


#: ReceiverStats fields that may be None, and the flag that says so in C.
_OPTIONAL: Final = {"ssrc": "has_ssrc", "max_seq": "has_max_seq", "transit": "has_transit",
                    "last_time": "has_last_time"}
_PLAIN: Final = ("clock_rate", "min_sequential", "valid", "probation", "base_seq", "bad_seq",
                 "cycles", "received", "received_prior", "expected_prior", "jitter")


def stats_to_c(stats: ReceiverStats, out: _Stats) -> None:
    state = stats.state()
    for name in _PLAIN:
        setattr(out, name, int(bool(state[name])) if name == "valid" else state[name])
    for name, flag in _OPTIONAL.items():
        value = state[name]
        setattr(out, flag, int(value is not None))
        setattr(out, name, 0 if value is None else value)
    out.reset_lsr = 0


def stats_from_c(found: _Stats, stats: ReceiverStats) -> None:
    state: dict[str, int | float | None] = {name: getattr(found, name) for name in _PLAIN}
    state["valid"] = bool(found.valid)
    for name, flag in _OPTIONAL.items():
        state[name] = getattr(found, name) if getattr(found, flag) else None
    if found.reset_lsr:
        state["lsr"] = 0
        state["lsr_arrival"] = 0.0
    stats.restore(state)


class SideCounts:
    """What the C loop counted for one side; ``dropped_by``: its drops by reason (those of
    `DROP_REASONS` that happened); ``sent`` to ``last_sent_at``: what a C transcoding
    direction sent this side's party."""

    __slots__ = ("dropped_by", "last", "last_sent_at", "last_sent_ts", "received", "sent",
                 "sent_octets")

    def __init__(self, received: int, dropped_by: dict[str, int], last: float, sent: int = 0,
                 sent_octets: int = 0, last_sent_ts: int = 0,
                 last_sent_at: float = 0.0) -> None:
        self.received = received
        self.dropped_by = dropped_by
        self.last = last
        self.sent = sent
        self.sent_octets = sent_octets
        self.last_sent_ts = last_sent_ts
        self.last_sent_at = last_sent_at

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by.values())


def _reasons(counts: Sequence[float | int]) -> dict[str, int]:
    return {reason: int(count) for reason, count in zip(DROP_REASONS, counts, strict=True)
            if count}


class NativeRelay:
    """One relay of the C loop: an epoll set of sides (see the module docstring)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        handle = lib.pr_open()
        if not handle:
            raise OSError(ctypes.get_errno(), "the relay's epoll set could not be made")
        self._handle: int | None = handle
        self._buffer = bytearray(_OUT_BYTES)
        self._out = (ctypes.c_uint8 * _OUT_BYTES).from_buffer(self._buffer)
        self._used = ctypes.c_int32()
        #: Each side's statistics object, read back into on `remove`.
        self._stats: dict[int, ReceiverStats] = {}

    @property
    def fileno(self) -> int:
        """The epoll descriptor: readable when a side has a packet."""
        return int(self._lib.pr_fd(self._live()))

    def _live(self) -> int:
        if self._handle is None:
            raise ValueError("the relay is closed")
        return self._handle

    def add(self, sock: socket.socket, far: socket.socket, peer: tuple[str, int],
            table: Sequence[int], events: Sequence[int], stats: ReceiverStats | None,
            *, python: bool = False) -> None:
        """Carry ``sock``'s packets from ``peer`` to ``far``'s side (add both sides).
        ``python``: accepted packets come back from `drain` as `PATH` records, not sent.
        Raises ValueError for an address the socket's family cannot send to, OSError when
        the socket cannot be watched."""
        conf = _Side()
        conf.fd = sock.fileno()
        conf.far_fd = far.fileno()
        conf.python = int(python)
        family = sock.family
        try:
            packed = socket.inet_pton(family, peer[0])
        except (OSError, ValueError):
            raise ValueError(f"not a numeric address of the socket's family: {peer[0]!r}") \
                from None
        conf.family = int(family)
        conf.port = int(peer[1])
        ctypes.memmove(conf.addr, packed, len(packed))
        if len(table) != 256:
            raise ValueError("the payload-type map has 256 entries")
        for index, out in enumerate(table):
            conf.map[index] = out
        for kind in events:
            if not 0 <= kind <= 127:
                raise ValueError(f"no such payload type: {kind}")
            conf.events[kind >> 3] |= 1 << (kind & 7)
        if stats is not None:
            conf.has_stats = 1
            stats_to_c(stats, conf.stats)
        found = self._lib.pr_add(self._live(), ctypes.byref(conf))
        if found < 0:
            if found == -22:  # EINVAL: a port out of range
                raise ValueError(f"no such port: {peer[1]}")
            raise OSError(-found, f"the relay cannot carry descriptor {conf.fd}")
        if stats is not None:
            self._stats[conf.fd] = stats

    def transcode(self, fd: int, conf: Direction) -> None:
        """Transcode side ``fd``'s packets in C as ``conf`` says (see `direction`)."""
        found = self._lib.pr_transcode(self._live(), fd, ctypes.byref(conf))
        if found < 0:
            raise ValueError(f"the C transcoder refused descriptor {fd}'s direction") \
                if found == -22 else OSError(-found, f"descriptor {fd} is not carried")

    def transcoder(self, fd: int) -> Direction | None:
        """Side ``fd``'s C transcoding direction as it stands, or None."""
        conf = Direction()
        if self._lib.pr_transcoder(self._live(), fd, ctypes.byref(conf)) < 0:
            return None
        return conf

    def remove(self, fd: int) -> SideCounts | None:
        """Stop carrying a side; its counts (None if it was not carried). Its statistics
        object, given to `add`, now holds what the C loop computed."""
        conf = _Side()
        if self._lib.pr_get(self._live(), fd, ctypes.byref(conf), 1) < 0:
            return None
        stats = self._stats.pop(fd, None)
        if stats is not None and conf.has_stats:
            stats_from_c(conf.stats, stats)
        return SideCounts(conf.received, _reasons(list(conf.dropped)), conf.last, conf.sent,
                          conf.sent_octets, int(conf.last_sent_ts), conf.last_sent_at)

    def counts(self, fds: Sequence[int]) -> list[SideCounts | None]:
        out = (ctypes.c_double * (_COUNTS * len(fds)))()
        self._lib.pr_counts(self._live(), (ctypes.c_int32 * len(fds))(*fds), len(fds), out)
        flat = memoryview(out).cast("B").cast("d").tolist()  # one conversion, not one per item
        found: list[SideCounts | None] = []
        for at in range(0, len(flat), _COUNTS):
            found.append(None if flat[at] < 0 else SideCounts(
                int(flat[at]), _reasons(flat[at + 6:at + _COUNTS]), flat[at + 1],
                int(flat[at + 2]), int(flat[at + 3]), int(flat[at + 4]), flat[at + 5]))
        return found

    def watch_control(self, fd: int) -> None:
        """Put the caller's control socket in the relay's epoll set: while it is readable,
        `drain` stops before any packet, its last record of kind `CONTROL`."""
        found = self._lib.pr_watch_control(self._live(), fd)
        if found < 0:
            raise OSError(-found, f"the relay cannot watch descriptor {fd}")

    def take_pending(self, fd: int) -> list[bytes]:
        """The party's packets waiting, unread, on side ``fd``'s twin, oldest first: before
        `remove`, for whoever carries the side next (its twin closes with it)."""
        taken: list[bytes] = []
        out = (ctypes.c_uint8 * _PENDING_BYTES)()
        used = ctypes.c_int32()
        while self._lib.pr_take_pending(self._live(), fd, out, _PENDING_BYTES,
                                        ctypes.byref(used)) > 0:
            buffer, at = memoryview(out).cast("B"), 0
            while at < used.value:
                _fd, _kind, length = _RECORD.unpack_from(buffer, at)
                at += _RECORD.size
                taken.append(bytes(buffer[at:at + length]))
                at += length
        return taken

    def twinned(self, fd: int) -> bool | None:
        """Whether side ``fd`` sends through a connected twin socket (False: with
        ``sendto``), or None when it is not carried."""
        found = self._lib.pr_twinned(self._live(), fd)
        return None if found < 0 else bool(found)

    def drain(self) -> Iterator[tuple[int, int, bytes]]:
        """Forward what is ready; yields (descriptor, kind, packet) for each record."""
        found = self._lib.pr_drain(self._live(), self._out, _OUT_BYTES, ctypes.byref(self._used))
        if found < 0:
            raise OSError(-found, "the relay's epoll set failed")
        used = self._used.value
        buffer = self._buffer
        at = 0
        while at < used:
            fd, kind, length = _RECORD.unpack_from(buffer, at)
            at += _RECORD.size
            yield fd, kind, bytes(buffer[at:at + length])
            at += length

    def close(self) -> None:
        if self._handle is not None:
            self._lib.pr_close(self._handle)
            self._handle = None


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    handle = ctypes.c_void_p
    lib.pr_open.restype = handle
    lib.pr_open.argtypes = []
    lib.pr_fd.argtypes = [handle]
    lib.pr_close.argtypes = [handle]
    lib.pr_close.restype = None
    lib.pr_add.argtypes = [handle, ctypes.POINTER(_Side)]
    lib.pr_get.argtypes = [handle, ctypes.c_int, ctypes.POINTER(_Side), ctypes.c_int]
    lib.pr_counts.argtypes = [handle, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32,
                              ctypes.POINTER(ctypes.c_double)]
    lib.pr_twinned.argtypes = [handle, ctypes.c_int]
    lib.pr_watch_control.argtypes = [handle, ctypes.c_int]
    lib.pr_take_pending.argtypes = [handle, ctypes.c_int, ctypes.POINTER(ctypes.c_uint8),
                                    ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)]
    lib.pr_drain.argtypes = [handle, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int32,
                             ctypes.POINTER(ctypes.c_int32)]
    lib.pr_transcode.argtypes = [handle, ctypes.c_int, ctypes.POINTER(Direction)]
    lib.pr_transcoder.argtypes = [handle, ctypes.c_int, ctypes.POINTER(Direction)]
    lib.pr_stats_update.argtypes = [ctypes.POINTER(_Stats), ctypes.c_int32, ctypes.c_uint32,
                                    ctypes.c_double, ctypes.c_uint32]
    return lib


_loaded: dict[Path, ctypes.CDLL] = {}


def load(path: Path | None = None) -> ctypes.CDLL | None:
    """The C loop's library built for the sources on disk (or the one at ``path``); None
    when there is none or it does not load, and pycc forwards in Python."""
    if path is None:
        path = accel.native_library(accel.RELAY_LIBRARY)
        if path is None:
            return None
    if path in _loaded:
        return _loaded[path]
    try:
        lib = _bind(ctypes.CDLL(str(path)))
    except (OSError, AttributeError) as exc:
        sys.stderr.write(f"pycc: the relay's C loop did not load ({exc}); "
                         "forwarding in Python\n")
        return None
    _loaded[path] = lib
    return lib
