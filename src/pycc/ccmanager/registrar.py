"""The registrar and location service (RFC 3261 §10, RFC 3327 Path).

Authenticates REGISTER requests, applies :func:`pycc.sip.registrar.process_register` and keeps
the bindings both in memory (the location service the B2BUA reads on every call) and in the
database, written before the 200 OK goes out, so they survive a restart. Expired bindings are
purged by a periodic sweep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pycc.aaa.authenticator import Authenticator, Verdict
from pycc.sip.address import Address
from pycc.sip.errors import SipParseError
from pycc.sip.message import Request, Response, make_response
from pycc.sip.registrar import (
    Binding,
    RegisterRequest,
    RegistrarPolicy,
    process_register,
    register_request,
)
from pycc.sip.uri import SipUri, parse_uri
from pycc.store.async_store import AsyncStore
from pycc.store.repo import BindingChange

log = logging.getLogger("pycc.registrar")


@dataclass(frozen=True, slots=True)
class Location:
    """Where to send a request for one binding."""

    binding: Binding
    destination: Address | None


class Registrar:
    """Bindings of one tenant's extensions."""

    def __init__(
        self,
        store: AsyncStore,
        auth: Authenticator,
        *,
        tenant: str,
        domain: str,
        policy: RegistrarPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.auth = auth
        self.tenant = tenant
        self.domain = domain
        self.policy = policy or RegistrarPolicy()
        self.clock = clock
        self._bindings: dict[str, list[Binding]] = {}
        self._aors: dict[str, str] = {}
        self._date_cache: tuple[int, str] = (-1, "")
        #: Live stream connections bindings arrived on; they do not survive a restart.
        self._connections: dict[tuple[str, str], int] = {}
        # One lock per AOR, kept: a released lock whose waiter has not run yet looks unlocked,
        # so dropping it could let two REGISTERs for one AOR interleave. Only authenticated
        # users reach it, so there are at most as many as extensions.
        self._locks: dict[str, asyncio.Lock] = {}
        self._writes: list[tuple[BindingChange, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def aor_for(self, number: str) -> str:
        """The AOR key of an extension: every domain of the switch maps to one key."""
        aor = self._aors.get(number)
        if aor is None:
            aor = SipUri("sip", number, None, self.domain, None, {}, {}).aor()
            if len(self._aors) < 100_000:  # numbers asked for are extensions' and callers'
                self._aors[number] = aor
        return aor

    async def load(self) -> None:
        now = self.clock()
        for row in await self.store.list_bindings(now, tenant=self.tenant):
            binding = Binding(
                contact=row.contact,
                expires_at=row.expires_at,
                q=row.q,
                call_id=row.call_id,
                cseq=row.cseq,
                path=[p for p in row.path.split(",") if p] if row.path else [],
                received=row.received,
                instance_id=row.instance_id,
                reg_id=row.reg_id,
                user_agent=row.user_agent,
            )
            self._bindings.setdefault(row.aor, []).append(binding)

    def lookup(self, number: str) -> list[Location]:
        """The unexpired bindings of extension ``number``, best q first."""
        aor = self.aor_for(number)
        now = self.clock()
        current = [b for b in self._bindings.get(aor, []) if b.expires_at > now]
        current.sort(key=lambda b: -b.q)
        return [Location(b, self._destination(aor, b)) for b in current]

    def binding_count(self) -> int:
        now = self.clock()
        return sum(1 for bs in self._bindings.values() for b in bs if b.expires_at > now)

    def _destination(self, aor: str, binding: Binding) -> Address | None:
        if not binding.received:
            return None
        transport, _, rest = binding.received.partition(":")
        host, _, port = rest.rpartition(":")
        connection = self._connections.get((aor, binding.contact))
        if transport in ("tcp", "tls"):
            # A stream binding is reached over the connection it registered on while that
            # lives (RFC 5626 §5.3); after that, by connecting to its Contact.
            contact = parse_uri(binding.contact)
            if isinstance(contact, SipUri):
                return Address(transport, contact.host, contact.port or 5060, connection)
        # Over UDP the source address is what gets through a NAT (RFC 3581).
        return Address(transport, host.strip("[]"), int(port), connection)

    def answer_now(self, request: Request, source: Address) -> Response | None:
        """The answer to a REGISTER without credentials (400 for a To that is no AOR, 403 for
        a banned address, else a challenge), made at once; None when the request brings
        credentials, which `handle` judges. Every phone's first REGISTER is one of these."""
        if request.headers.lines_of("authorization"):
            return None
        now = self.clock()
        number = self._number_in(request)
        if isinstance(number, Response):
            return number
        if self.auth.is_banned(source.host, now):
            return make_response(request, 403, "Forbidden")
        challenge = self.auth.challenge(proxy=False, now=now, source_ip=source.host)
        return make_response(request, 401, extra=challenge.headers)

    @staticmethod
    def _number_in(request: Request) -> str | Response:
        # A To that is no SIP AOR can never be registered (RFC 4475 §3.3.4): 400 at once,
        # rather than a challenge whose answer would still be refused. It reveals nothing.
        try:
            aor_uri = request.to.uri
            if not isinstance(aor_uri, SipUri):
                raise SipParseError("To header of a REGISTER must be a SIP or SIPS URI")
            return aor_uri.user or ""
        except SipParseError as exc:
            return make_response(request, exc.status or 400, exc.reason)

    async def handle(self, request: Request, source: Address) -> Response:
        """Process one REGISTER and return the answer."""
        now = self.clock()
        number = self._number_in(request)
        if isinstance(number, Response):
            return number
        decision = await self.auth.check(request, proxy=False, source_ip=source.host, now=now)
        if decision.verdict is Verdict.BANNED:
            return make_response(request, 403, "Forbidden")
        if decision.verdict is Verdict.CHALLENGE:
            return make_response(request, 401, extra=decision.headers)
        if number != decision.username:
            # RFC 3261 §10.3 step 4: a user may only change its own bindings.
            return make_response(request, 403, "Not allowed to register this address")
        try:
            view = register_request(request)
        except SipParseError as exc:
            return make_response(request, exc.status or 400, exc.reason)
        status, reason, extra = await self.bind(number, view, source, now)
        return make_response(request, status, reason, extra=extra)

    async def bind(self, number: str, view: RegisterRequest, source: Address,
                   now: float) -> tuple[int, str, list[tuple[str, str]]]:
        """Apply an authenticated REGISTER of extension ``number`` (§10.3 steps 5-8) and
        store the change; returns the answer's status, reason and header lines."""
        aor = self.aor_for(number)
        received = f"{source.transport}:{source.host_port}"
        lock = self._locks.setdefault(aor, asyncio.Lock())
        async with lock:
            current = [b for b in self._bindings.get(aor, []) if b.expires_at > now]
            try:
                outcome = process_register(view, current, now, received=received,
                                           policy=self.policy)
            except SipParseError as exc:
                return exc.status or 400, exc.reason, []
            if outcome.status != 200:
                return outcome.status, outcome.reason, outcome.extra_headers
            if outcome.upserts or outcome.removals:
                await self._persist(BindingChange(self.tenant, aor, outcome.upserts,
                                                  outcome.removals, now, number))
            self._apply(aor, current, outcome.upserts, outcome.removals, source)
        extra = [("Contact", c) for c in outcome.contacts] + outcome.extra_headers
        extra.append(("Date", self._date(now)))
        return 200, "OK", extra

    def _date(self, now: float) -> str:
        """The Date of a 200 OK (RFC 3261 §20.17), made once per second."""
        second = int(now)
        if self._date_cache[0] != second:
            text = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second))
            self._date_cache = (second, text)
        return self._date_cache[1]

    async def _persist(self, change: BindingChange) -> None:
        """Write one REGISTER's changes; returns once they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((change, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        # Group commit: the REGISTERs that arrive while a batch is committed go in the next
        # one. Each 200 OK still waits for its own changes to be durable.
        while self._writes:
            batch = self._writes[:500]
            del self._writes[: len(batch)]
            try:
                await self.store.save_bindings_many([change for change, _ in batch])
            except Exception:
                # One bad change must not fail the others: retry them one at a time.
                for change, done in batch:
                    try:
                        await self.store.save_bindings_many([change])
                    except Exception as exc:
                        if not done.done():
                            done.set_exception(exc)
                    else:
                        if not done.done():
                            done.set_result(None)
                continue
            for _change, done in batch:
                if not done.done():
                    done.set_result(None)

    def _apply(
        self,
        aor: str,
        current: list[Binding],
        upserts: list[Binding],
        removals: list[str],
        source: Address,
    ) -> None:
        gone = set(removals) | {b.contact for b in upserts}
        kept = [b for b in current if b.contact not in gone] + upserts
        if kept:
            self._bindings[aor] = kept
        else:
            self._bindings.pop(aor, None)
        for contact in removals:
            self._connections.pop((aor, contact), None)
        if source.connection is not None:
            for binding in upserts:
                self._connections[(aor, binding.contact)] = source.connection

    async def purge(self) -> int:
        """Drop expired bindings from memory and the database."""
        now = self.clock()
        for aor in list(self._bindings):
            alive = [b for b in self._bindings[aor] if b.expires_at > now]
            if alive:
                self._bindings[aor] = alive
            else:
                del self._bindings[aor]
                for key in [k for k in self._connections if k[0] == aor]:
                    del self._connections[key]
        return await self.store.purge_expired(now)
