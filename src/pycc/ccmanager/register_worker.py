"""The register worker: a process that reads and authenticates REGISTERs, and challenges
the first INVITE of a call, for the switch.

Started by `pycc.ccmanager.register_offload.RegisterOffloader` with one end of a
``SOCK_SEQPACKET`` socket pair; it runs a `pycc.sip.register_front.RegisterFront` over the
items the switch sends and sends back its results. Every message either way is one
`marshal`-encoded list of tuples:

- from the switch: ``("cfg", realm, secret, algorithms, nonce_lifetime, server, limits)``
  first, then ``("req", ident, data, transport, host, port, banned)`` and
  ``("creds", username, ha1 or None, until)``;
- to the switch: the front's results (see `pycc.sip.register_front`).

The worker ends when the switch closes its end (or on ``("exit",)``). It holds no state the
switch needs back: killed, the switch handles REGISTERs and INVITEs itself again.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import socket
import sys
import time
from typing import Any, Final

from pycc.sip.message import Limits
from pycc.sip.register_front import RegisterFront, Result
from pycc.transport.workers import worker_control

log = logging.getLogger("pycc.registrar")

#: Largest message either way; the switch splits its batches below it.
MAX_MESSAGE: Final = 1 << 20
#: A batch of results is sent once it holds this many bytes of answers.
BATCH_BYTES: Final = 64 * 1024
#: Messages from the switch read before their items are handled.
_MAX_MESSAGES_PER_PASS: Final = 16


def serve(control: socket.socket) -> None:
    """Answer the switch's items until it closes ``control``."""
    front: RegisterFront | None = None
    while True:
        data = control.recv(MAX_MESSAGE)
        if not data:
            return
        messages = [data]
        # Whatever else waits goes in the same pass, so that its answers share messages.
        while len(messages) < _MAX_MESSAGES_PER_PASS:
            try:
                more = control.recv(MAX_MESSAGE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            if not more:
                break
            messages.append(more)
        items: list[Any] = []  # as the switch sent them; a bad one fails alone below
        for message in messages:
            try:
                decoded = marshal.loads(message)
            except (EOFError, ValueError, TypeError):
                log.error("register worker: unreadable message of %d bytes", len(message))
                continue
            if isinstance(decoded, list):
                items.extend(decoded)
        now = time.time()
        out: list[Result] = []
        size = 0
        for item in items:
            try:
                op = item[0]
                if op == "req" and front is not None:
                    _, ident, datagram, transport, host, port, banned = item
                    results = front.handle(ident, datagram, transport, host, port, banned, now)
                elif op == "creds" and front is not None:
                    results = front.credentials(item[1], item[2], item[3], now)
                elif op == "cfg":
                    front = RegisterFront(item[1], item[2], tuple(item[3]), item[4], item[5],
                                          Limits(*item[6]))
                    continue
                elif op == "exit":
                    return
                else:
                    continue
            except Exception:
                # One bad item must not end the worker: the switch's retransmitting phone
                # gets its answer from the switch's own path if this goes on.
                log.exception("register worker: cannot handle %r", item[:2])
                continue
            out.extend(results)
            size += sum(_size(r) for r in results)
            if size >= BATCH_BYTES:
                control.send(marshal.dumps(out))
                out, size = [], 0
        if out:
            control.send(marshal.dumps(out))


def _size(result: Result) -> int:
    """About how many bytes ``result`` takes in a message: its answer or head."""
    if result[0] == "send" and isinstance(result[2], bytes):
        return len(result[2])
    if result[0] == "bind" and isinstance(result[4], str):
        return len(result[4]) + 200
    return 64


def main(argv: list[str] | None = None) -> int:
    control = worker_control("pycc.ccmanager.register_worker", argv)
    if control is None:
        return 2
    with contextlib.suppress(ConnectionError, OSError):  # the switch went away
        serve(control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
