"""Worker processes the switch talks to over a ``SOCK_SEQPACKET`` socket pair.

The media relay workers (`pycc.media.relay_worker`) and the register worker
(`pycc.ccmanager.register_worker`) are started the same way: ``python -m MODULE FD`` with one
end of a socket pair that keeps message boundaries, the switch holding the other end. This
module starts such a process, reads its socket on the worker's side, and stops it, and
schedules a worker above the rest of the machine when the operator asks (`set_priority`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

__all__ = ["PRIORITIES", "check_priority", "set_priority", "start_worker", "stop_worker",
           "worker_control"]

#: How a worker process is scheduled against the rest of the machine: "normal" as it was
#: started; "high" with nice -10; "realtime" in the round-robin real-time class at priority
#: 10 (FreeSWITCH's ``-rp``, rtpengine's ``--scheduling=rr``), so that a packet that
#: arrives wakes it at once, ahead of every ordinary process.
PRIORITIES = ("normal", "high", "realtime")
HIGH_NICE = -10
REALTIME_PRIORITY = 10


def start_worker(module: str, max_message: int) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Start ``python -m module FD``; return the switch's end (non-blocking) and the process.

    Both ends take messages of up to ``max_message`` bytes.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for end in (ours, theirs):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, max_message)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, max_message)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", module, str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    ours.setblocking(False)
    return ours, process


async def stop_worker(process: subprocess.Popen[bytes], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``process`` to end on its own, then kill it."""
    try:
        await asyncio.to_thread(process.wait, grace)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)


def worker_control(module: str, argv: list[str] | None = None) -> socket.socket | None:
    """In the worker: its end of the socket pair, from the command line; None (after a
    usage line on stderr) when the command line is not ``FD``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print(f"usage: python -m {module} FD", file=sys.stderr)
        return None
    # The switch stops its workers through their sockets (or by going away); a Ctrl-C meant
    # for the switch's process group must not end a worker first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return socket.socket(fileno=int(args[0]))


def check_priority(priority: str) -> None:
    """Raise ValueError naming the choices unless ``priority`` is one of `PRIORITIES`."""
    if priority not in PRIORITIES:
        raise ValueError(f"expected normal, high or realtime, not {priority!r}")


def set_priority(pid: int, priority: str) -> None:
    """Schedule process ``pid`` at ``priority`` (one of `PRIORITIES`); the threads it starts
    later inherit it. Raises ValueError for an unknown priority and OSError when the system
    refuses (a user without CAP_SYS_NICE, or with too low an RLIMIT_RTPRIO)."""
    check_priority(priority)
    if priority == "high":
        os.setpriority(os.PRIO_PROCESS, pid, HIGH_NICE)
    elif priority == "realtime":
        os.sched_setscheduler(pid, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
