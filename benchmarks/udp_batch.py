"""Batched UDP for the media benchmark's load generator: ``sendmmsg`` and ``recvmmsg``
(Linux) through ctypes, with the packets in numpy arrays.

A generator that calls ``sendto`` and ``recvfrom`` once per packet from Python spends about
as much CPU per packet as the relay it measures; at 100,000 packets/s each way it needs a
core of its own, which a two-core machine does not have beside the relay. Here a tick's
packets go out in a few system calls, their headers written for all calls at once, and
arrivals are read 256 at a time with their kernel receive times (SO_TIMESTAMPNS), so the
generator's own cost per packet is mostly the kernel's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct
import time

import numpy as np
import numpy.typing as npt

__all__ = ["BatchReceiver", "BatchSender", "available"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_MSG_DONTWAIT = 0x40
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
#: Bytes of one received packet's slot (longer packets are cut: only headers are read).
SLOT = 256
_CONTROL = 64  # room for one cmsghdr with a struct timespec


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.c_void_p), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


_SIZE = ctypes.sizeof(_MMsgHdr)
_NAMELEN = _MMsgHdr.hdr.offset + _MsgHdr.namelen.offset
_CONTROLLEN = _MMsgHdr.hdr.offset + _MsgHdr.controllen.offset
_LEN = _MMsgHdr.len.offset
_libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                           ctypes.c_void_p]


def available() -> bool:
    return hasattr(_libc, "sendmmsg") and hasattr(_libc, "recvmmsg") and _SIZE == 64


def _sockaddr_in(host: str, port: int) -> bytes:
    """A struct sockaddr_in: the family in host order, the port and address in network
    order, eight bytes of zero."""
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) \
        + socket.inet_aton(host) + bytes(8)


class BatchSender:
    """``packets`` (one row per destination, ``width`` bytes each) sent from ``sock`` to
    ``ports`` on ``host``; the caller writes the rows, `send` sends rows [lo, hi)."""

    def __init__(self, sock: socket.socket, host: str, ports: list[int], width: int) -> None:
        self.fd = sock.fileno()
        count = len(ports)
        self.packets = np.zeros((count, width), dtype=np.uint8)
        self._names = ctypes.create_string_buffer(
            b"".join(_sockaddr_in(host, port) for port in ports), 16 * count)
        self._iov = (_IoVec * count)()
        self._msgs = (_MMsgHdr * count)()
        base = self.packets.ctypes.data
        names = ctypes.addressof(self._names)
        for i in range(count):
            self._iov[i].base = base + i * width
            self._iov[i].len = width
            header = self._msgs[i].hdr
            header.name = names + 16 * i
            header.namelen = 16
            header.iov = ctypes.addressof(self._iov[i])
            header.iovlen = 1
        self._base = ctypes.addressof(self._msgs)

    def send(self, lo: int, hi: int) -> int:
        """Send rows ``lo`` to ``hi``; how many went."""
        sent = lo
        while sent < hi:
            got = _libc.sendmmsg(self.fd, self._base + sent * _SIZE, hi - sent, 0)
            if got <= 0:
                error = ctypes.get_errno()
                if error in (0, 11):  # EAGAIN: the rest of this batch is lost, as sendto's
                    break
                raise OSError(error, os.strerror(error))
            sent += got
        return sent - lo


class BatchReceiver:
    """Reads up to ``slots`` datagrams per call from ``sock`` (non-blocking), with the
    kernel's receive time of each (SO_TIMESTAMPNS must be on)."""

    def __init__(self, sock: socket.socket, slots: int = 256) -> None:
        self.fd = sock.fileno()
        self.slots = slots
        self.data = np.zeros((slots, SLOT), dtype=np.uint8)
        self._control = np.zeros((slots, _CONTROL), dtype=np.uint8)
        self._names = np.zeros((slots, 16), dtype=np.uint8)
        self._iov = (_IoVec * slots)()
        self._msgs = (_MMsgHdr * slots)()
        for i in range(slots):
            self._iov[i].base = self.data.ctypes.data + i * SLOT
            self._iov[i].len = SLOT
            header = self._msgs[i].hdr
            header.name = self._names.ctypes.data + 16 * i
            header.namelen = 16
            header.iov = ctypes.addressof(self._iov[i])
            header.iovlen = 1
            header.control = self._control.ctypes.data + _CONTROL * i
            header.controllen = _CONTROL
        raw = np.ctypeslib.as_array(
            (ctypes.c_uint8 * (_SIZE * slots)).from_address(ctypes.addressof(self._msgs)))
        self._namelen = np.ndarray((slots,), np.uint32, raw, _NAMELEN, (_SIZE,))
        self._controllen = np.ndarray((slots,), np.uint64, raw, _CONTROLLEN, (_SIZE,))
        self.lengths = np.ndarray((slots,), np.uint32, raw, _LEN, (_SIZE,))
        self._base = ctypes.addressof(self._msgs)

    def receive(self) -> int:
        """Datagrams read into the first rows of ``data`` (0 when none waits)."""
        self._namelen[:] = 16
        self._controllen[:] = _CONTROL
        got = _libc.recvmmsg(self.fd, self._base, self.slots, _MSG_DONTWAIT, None)
        if got < 0:
            error = ctypes.get_errno()
            if error in (11, 4):  # EAGAIN, EINTR
                return 0
            raise OSError(error, os.strerror(error))
        return int(got)

    def arrivals_ns(self, count: int) -> npt.NDArray[np.int64]:
        """The kernel receive times of the first ``count`` datagrams (a cmsghdr of 16 bytes,
        then the struct timespec); now for one without."""
        control = self._control[:count]
        seconds = control[:, 16:24].copy().view(np.int64).reshape(-1)
        nanoseconds = control[:, 24:32].copy().view(np.int64).reshape(-1)
        times = seconds * 1_000_000_000 + nanoseconds
        level = control[:, 8:12].copy().view(np.int32).reshape(-1)
        kind = control[:, 12:16].copy().view(np.int32).reshape(-1)
        missing = (level != socket.SOL_SOCKET) | (kind != _SO_TIMESTAMPNS)
        if missing.any():
            times[missing] = time.time_ns()
        return times

    def source_ports(self, count: int) -> npt.NDArray[np.uint16]:
        return self._names[:count, 2:4].copy().view(">u2").reshape(-1).astype(np.uint16)
