"""Register offload: REGISTERs read and authenticated, first INVITEs challenged, by a worker.

A switch that many phones register to spends most of its registrar time reading messages and
checking digests, which need no bindings. With ``register_workers = 1`` the endpoint hands
every REGISTER it receives to `RegisterOffloader` before parsing it; the offloader sends it to
a register worker (`pycc.ccmanager.register_worker`) on another core and acts on the answer:

- an answer the worker made (a challenge, a 403) is sent to the phone; a failed
  authentication counts towards the source's ban here, where every request's ban is checked
  (the failure that bans the source is answered 403, as in the switch's own path);
- an authenticated REGISTER is decided by `Registrar.bind` against the bindings the switch
  holds, stored, and answered, exactly as one the switch read itself;
- anything the worker does not handle (a REGISTER in a dialog, with a Require, malformed)
  goes through the switch's own path, as do the REGISTERs in flight when a worker dies.

The first INVITE of a call from a phone goes to the worker too, when the B2BUA would only
challenge it (`B2BUA.challenges`: not from a trunk trusted by address, no overload refusal)
and it brings no Proxy-Authorization: the worker answers 407 as the B2BUA would, and the ACK
of that answer, recognised by its branch, is dropped unread. Requests the worker answers
count in the switch's SIP metrics as if the switch had answered them.

The answer to a REGISTER over UDP is kept for 32 s (64*T1, the life of a non-INVITE server
transaction, RFC 3261 §17.2.2), so that a retransmission gets it again, as from a server
transaction: not a second challenge with another nonce after the phone answered the first,
nor a replayed nonce count's refusal. A retransmission that arrives before the answer is
dropped, as a server transaction in Trying drops it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import marshal
import re
import socket
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from pycc.ccmanager.register_worker import BATCH_BYTES, MAX_MESSAGE
from pycc.sip.address import Address
from pycc.sip.register_front import compose_answer
from pycc.sip.registrar import RegisterRequest
from pycc.transport.workers import start_worker, stop_worker

if TYPE_CHECKING:
    from pycc.aaa.authenticator import Authenticator
    from pycc.ccmanager.registrar import Registrar
    from pycc.endpoint import SipEndpoint

__all__ = ["RegisterOffloader"]

log = logging.getLogger("pycc.registrar")

#: How long a final answer is kept for retransmissions (64*T1 with T1 = 0.5 s).
KEEP_ANSWERS: Final = 32.0
#: REGISTERs in the worker's hands at most (a few seconds of the heaviest load).
MAX_PENDING: Final = 20_000
#: Pauses between attempts to read an extension's credentials for the worker.
_CREDENTIAL_RETRIES: Final = (0.5, 1.0, 2.0, 4.0, 8.0)
#: Seconds to wait for the worker to end on its own before it is killed.
_EXIT_GRACE: Final = 2.0


class RegisterOffloader:
    """One register worker process and the REGISTERs in its hands."""

    def __init__(self, endpoint: SipEndpoint, registrar: Registrar, auth: Authenticator,
                 *, invite_admitted: Callable[[Address], bool] | None = None,
                 on_answer: Callable[[str, int], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.endpoint = endpoint
        #: Told the method and status of each request answered here, for the metrics.
        self.on_answer = on_answer
        #: Whether an INVITE from a source may be challenged by the worker (None: INVITEs
        #: stay in the switch); the B2BUA's own checks, made before anything is parsed.
        self.invite_admitted = invite_admitted
        self.registrar = registrar
        self.auth = auth
        self.clock = clock
        self._ids = itertools.count(1)
        #: Requests in the worker's hands: where they came from and their bytes.
        self._pending: dict[int, tuple[Address, bytes]] = {}
        #: UDP REGISTERs answered (or being answered: None) and when each is forgotten.
        self._answers: dict[bytes, bytes | None] = {}
        self._expiry: collections.deque[tuple[float, bytes]] = collections.deque()
        #: Challenges the worker made to INVITEs, by branch, until their ACK arrives.
        self._acks: dict[str, _Challenge] = {}
        self._queue: list[tuple[object, ...]] = []
        self._flush_scheduled = False
        #: The worker's socket is full: the queue waits for it to be writable.
        self._blocked = False
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Requests sent to the worker, and those it answered (not those it gave back).
        self.offered_total = 0
        self.handled_total = 0

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, process = start_worker("pycc.ccmanager.register_worker", MAX_MESSAGE)
        self._control, self._process = ours, process
        self._loop = loop
        loop.add_reader(ours.fileno(), self._on_message)
        auth, limits = self.auth, self.endpoint.limits
        self._queue_item(("cfg", auth.realm, auth.secret, tuple(auth.algorithms),
                          auth.nonce_lifetime, self.endpoint.user_agent,
                          (limits.max_message, limits.max_headers, limits.max_line,
                           limits.max_body)))
        now = self.clock()
        for username, ha1, until in auth.cached_credentials(now):
            self._queue_item(("creds", username, ha1, until))
        self.endpoint.request_hook = self.offer
        log.info("register worker %d reads and authenticates the REGISTERs", process.pid)

    @property
    def running(self) -> bool:
        return self._control is not None

    async def close(self) -> None:
        if self.endpoint.request_hook == self.offer:
            self.endpoint.request_hook = None
        control, process = self._control, self._process
        self._control = self._process = None
        if control is not None and self._loop is not None:
            self._loop.remove_reader(control.fileno())
            self._loop.remove_writer(control.fileno())
            control.close()
        if process is not None:
            await stop_worker(process, _EXIT_GRACE)
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for challenge in self._acks.values():
            challenge.timer.cancel()
        self._acks.clear()
        self._reclaim()

    # -- from the endpoint ------------------------------------------------------------------
    def offer(self, data: bytes, source: Address, now: float) -> bool:
        """The endpoint's hook: take ``data`` if it is a REGISTER or an INVITE the worker may
        challenge, or the ACK of such a challenge (True), else leave it."""
        if data.startswith(b"ACK "):
            return bool(self._acks) and self._absorb_ack(data)
        if data.startswith(b"INVITE "):
            # An INVITE with credentials is the B2BUA's to judge: only first INVITEs go.
            if self.invite_admitted is None or _CREDENTIALS.search(data) is not None \
                    or not self.invite_admitted(source):
                return False
        elif not data.startswith(b"REGISTER "):
            return False
        if self._control is None or len(self._pending) >= MAX_PENDING:
            # Past MAX_PENDING the worker is stuck or far behind: the switch's own path
            # answers rather than a queue growing without end.
            return False
        udp = not source.reliable
        if udp:
            self._forget_old(now)
            if data in self._answers:
                answer = self._answers[data]
                if answer is not None:  # else: still being answered, as in Trying
                    self.endpoint.transports.send(answer, source)
                self.endpoint.stats.retransmissions_absorbed += 1
                return True
        ident = next(self._ids)
        self.offered_total += 1
        self._pending[ident] = (source, data)
        if udp:
            self._answers[data] = None
            self._expiry.append((now + KEEP_ANSWERS, data))
        self._queue_item(("req", ident, data, source.transport, source.host, source.port,
                          self.auth.is_banned(source.host, now)))
        return True

    def _forget_old(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, data = expiry.popleft()
            self._answers.pop(data, None)

    def _absorb_ack(self, data: bytes) -> bool:
        """Drop the ACK of a challenge the worker made (it ends a transaction the switch never
        held, RFC 3261 §17.2.1); any other ACK is the switch's."""
        found = _TOP_BRANCH.search(data)
        if found is None:
            return False
        challenge = self._acks.pop(found.group(1).decode("ascii", "replace"), None)
        if challenge is None:
            return False
        challenge.timer.cancel()
        return True

    def _await_ack(self, branch: str, answer: bytes, reply: Address) -> None:
        """Wait for the ACK of the challenge ``answer`` to an INVITE, as the INVITE server
        transaction in Completed does (RFC 3261 §17.2.1): over UDP resend it after T1,
        then at doubling intervals up to T2 (Timer G), until the ACK or Timer H (64*T1)."""
        if self._loop is None:
            return
        old = self._acks.pop(branch, None)
        if old is not None:
            old.timer.cancel()
        t1 = self.endpoint.transactions.timers.t1
        challenge = _Challenge(answer, reply, t1, self._loop.time() + 64 * t1)
        challenge.timer = self._loop.call_later(
            t1 if not reply.reliable else 64 * t1, self._resend, branch)
        self._acks[branch] = challenge

    def _resend(self, branch: str) -> None:
        challenge = self._acks.get(branch)
        if challenge is None or self._loop is None:
            return
        now = self._loop.time()
        if challenge.reply.reliable or now >= challenge.give_up_at:
            del self._acks[branch]  # Timer H: the caller went away without an ACK
            return
        self.endpoint.transports.send(challenge.answer, challenge.reply)
        challenge.interval = min(2 * challenge.interval, self.endpoint.transactions.timers.t2)
        challenge.timer = self._loop.call_later(
            min(challenge.interval, max(challenge.give_up_at - now, 0.0)), self._resend, branch)

    # -- to the worker ----------------------------------------------------------------------
    def _queue_item(self, item: tuple[object, ...]) -> None:
        self._queue.append(item)
        if not self._flush_scheduled and not self._blocked and self._loop is not None:
            # One message per turn of the event loop carries every REGISTER it read.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send what is queued, in messages of up to `BATCH_BYTES`; while the worker's
        socket is full, items wait in the queue and go in the next messages, so that a
        burst travels in a few large messages rather than many small ones."""
        self._flush_scheduled = False
        control = self._control
        if control is None or self._loop is None:
            return
        while self._queue:
            count, size = 0, 0
            for item in self._queue:
                count += 1
                size += len(item[2]) if item[0] == "req" else 256  # type: ignore[arg-type]
                if size >= BATCH_BYTES:
                    break
            try:
                control.send(marshal.dumps(self._queue[:count]))
            except (BlockingIOError, InterruptedError):
                if not self._blocked:
                    self._blocked = True
                    self._loop.add_writer(control.fileno(), self._writable)
                return
            except OSError as exc:
                self._worker_gone(f"cannot be reached ({exc})")
                return
            del self._queue[:count]

    def _writable(self) -> None:
        self._blocked = False
        if self._control is not None and self._loop is not None:
            self._loop.remove_writer(self._control.fileno())
        self._flush()

    # -- from the worker --------------------------------------------------------------------
    def _on_message(self) -> None:
        control = self._control
        if control is None:
            return
        for _ in range(64):
            try:
                data = control.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._worker_gone(f"failed ({exc})")
                return
            if not data:
                self._worker_gone("ended")
                return
            try:
                results = marshal.loads(data)
            except (EOFError, ValueError, TypeError):
                log.error("unreadable message of %d bytes from the register worker", len(data))
                continue
            now = self.clock()
            for result in results:
                try:
                    self._result(result, now)
                except Exception:
                    log.exception("cannot act on the register worker's %r", result[:2])

    def _result(self, result: tuple[object, ...], now: float) -> None:
        op = result[0]
        if op == "need":
            self._spawn(self._send_credentials(str(result[1])))
            return
        ident = result[1]
        pending = self._pending.pop(ident, None) if isinstance(ident, int) else None
        if pending is None:
            return
        source, data = pending
        if op in ("send", "bind"):
            self.handled_total += 1
        if op == "send":
            _, _, answer, port, failure, head, ack = result
            reply = _reply_address(source, port)  # type: ignore[arg-type]
            if failure and self.auth.note_failure(source.host, now, str(failure)):
                answer = compose_answer(str(head), 403, "Forbidden", (),
                                        self.endpoint.user_agent)
            if not source.reliable and data in self._answers:
                self._answers[data] = answer  # type: ignore[assignment]
            if ack:  # first: its ACK may be read before this returns
                self._await_ack(str(ack), answer, reply)  # type: ignore[arg-type]
            self.endpoint.transports.send(answer, reply)  # type: ignore[arg-type]
            self._answered(data, answer)  # type: ignore[arg-type]
        elif op == "bind":
            _, _, number, fields, head, port = result
            try:
                view = RegisterRequest.from_tuple(fields)  # type: ignore[arg-type]
            except (ValueError, TypeError):
                log.error("the register worker sent an unreadable REGISTER of %s", number)
                self._unmark(data, source)
                self.endpoint.process_message(data, source)
                return
            self._spawn(self._bind(str(number), view, str(head),
                                   _reply_address(source, port), source, data))  # type: ignore[arg-type]
        else:  # "back": the switch's own path
            self._unmark(data, source)
            self.endpoint.process_message(data, source)

    def _unmark(self, data: bytes, source: Address) -> None:
        if not source.reliable and self._answers.get(data, b"") is None:
            del self._answers[data]

    async def _send_credentials(self, username: str) -> None:
        # The REGISTERs waiting for these wait in the worker; an unreadable database must
        # not pass for an unknown user (a failure towards the source's ban), so ask again.
        for delay in _CREDENTIAL_RETRIES:
            try:
                ha1, until = await self.auth.ha1_until(username, self.clock())
            except Exception as exc:
                log.warning("cannot read the credentials of %s (%s): asking again in %g s",
                            username, exc, delay)
                await asyncio.sleep(delay)
                continue
            self._queue_item(("creds", username, ha1, until))
            return
        log.error("gave up reading the credentials of %s", username)

    async def _bind(self, number: str, view: RegisterRequest, head: str, reply: Address,
                    source: Address, data: bytes) -> None:
        now = self.clock()
        self.auth.ban.record_success(source.host, now)
        try:
            status, reason, extra = await self.registrar.bind(number, view, source, now)
        except Exception:
            log.exception("cannot store the bindings of %s", number)
            status, reason, extra = 500, "Server Internal Error", []
        answer = compose_answer(head, status, reason, extra, self.endpoint.user_agent)
        if not source.reliable and data in self._answers:
            self._answers[data] = answer
        self.endpoint.transports.send(answer, reply)
        self._answered(data, answer)

    def _answered(self, request: bytes, answer: bytes) -> None:
        if self.on_answer is not None:
            # "SIP/2.0 401 ...": the status is the second word.
            self.on_answer(request.split(b" ", 1)[0].decode("ascii"), int(answer[8:11]))

    def _spawn(self, coro: collections.abc.Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- failure ----------------------------------------------------------------------------
    def _worker_gone(self, why: str) -> None:
        control, process = self._control, self._process
        if control is None:
            return
        log.error("the register worker %s: REGISTERs are handled in this process", why)
        self._control = None
        if self._loop is not None:
            self._loop.remove_reader(control.fileno())
            self._loop.remove_writer(control.fileno())
        control.close()
        if process is not None and process.poll() is None:
            process.kill()
        if self.endpoint.request_hook == self.offer:
            self.endpoint.request_hook = None
        self._reclaim()

    def _reclaim(self) -> None:
        """The REGISTERs the worker had not answered go through the switch's own path."""
        pending, self._pending = self._pending, {}
        self._queue = []
        for source, data in pending.values():
            self._unmark(data, source)
            with contextlib.suppress(Exception):
                self.endpoint.process_message(data, source)


class _Challenge:
    """A challenge the worker made to an INVITE, waiting for its ACK."""

    __slots__ = ("answer", "give_up_at", "interval", "reply", "timer")

    def __init__(self, answer: bytes, reply: Address, interval: float,
                 give_up_at: float) -> None:
        self.answer = answer
        self.reply = reply
        self.interval = interval
        self.give_up_at = give_up_at
        self.timer: asyncio.TimerHandle


#: The branch of the first Via header line of a message (the top Via's).
_TOP_BRANCH = re.compile(rb"\r\n(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch[ \t]*=[ \t]*([^;,\s]+)",
                         re.IGNORECASE)


#: A Proxy-Authorization header line (it has no compact form).
_CREDENTIALS = re.compile(rb"\r\nproxy-authorization[ \t]*:", re.IGNORECASE)


def _reply_address(source: Address, port: int) -> Address:
    if port == source.port:
        return source
    return Address(source.transport, source.host, port, source.connection)
