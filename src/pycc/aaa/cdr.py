"""Call records: one complete, durable record of every call.

Every call gets one `CallRecord` row, keyed by its call id: the B2BUA's calls (a phone or a
trunk calling in, out over a trunk, to an extension, to an IVR or a queue) and the calls pycc
places to customers (`pycc.ccmanager.center.CallCenter.dial_out`: the dialer, queue
callbacks, transfers out to a number). The row is written *open* as soon as the call is placed
("in-progress"), updated when it is answered, and *closed* when it ends with its disposition,
durations and cost. While calls are up, their open rows' ``end`` moves forward every
``heartbeat`` seconds, so that after a ``kill -9`` each open row still says when its call was
last known to be up: `CallRecorder.recover`, run by the switch before it takes calls, closes
this node's open rows as "interrupted" (ended by the "system", at that time). Writes are
idempotent on the call id, and an open row never replaces a closed one, so no call has two
records and none is reopened.

One writer task does all of it on the store's thread: rows queue up, keyed by call id (a
closing row replaces the same call's open row still waiting, so a short call is one write),
and each pass writes everything queued in one transaction (group commit), at most one pass
per `BATCH_GAP` (a busy switch's rows gather meanwhile; so a crash loses at most that much
of the latest changes, as it loses the batch being written), then moves the heartbeat, then
refreshes the tenant's billed total when it is due. The event loop never waits for the
database.

What fills the record: the B2BUA's `Call` and its ``media_info`` (which is also the ``details``
of the channel services run on: the route, IVR path, queue, agent), the trunk of the call's
way out (`pycc.ccmanager.b2bua.Outside`), an `OutboundCall`'s ``details`` (set by the call
center and, once answered, by the services on its channel: the ACD notes the agent and the
wait). The pure helpers here turn those facts into a row: `complete` derives the durations and
the cost (`pycc.routing.rating`), `close_interrupted` closes a row a crash left open.

Durations (seconds): ``duration`` answer to end, what is billed; ``ring_seconds`` from ringing
(or the start) to the answer, or to the end of an unanswered call; ``hold_seconds`` while a
party had the call on hold (a re-INVITE or UPDATE offering ``sendonly``, ``inactive`` or a null
address), the agent's phone included; ``talk_seconds`` from the agent's answer (else the call's
answer) to the end, less the hold; ``wrapup_seconds`` the wrap-up the agent's queue is
configured with (the agent may end it early: the agent events have the real one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from pycc.aaa.billing import CreditTracker
from pycc.routing.rating import RatePlan
from pycc.rtp.quality import mos_for_leg
from pycc.sdp.attributes import Direction
from pycc.sdp.errors import SdpError
from pycc.sdp.session import SessionDescription
from pycc.store.async_store import AsyncStore
from pycc.store.models import CallRecord

if TYPE_CHECKING:
    from pycc.ccmanager.b2bua import Call
    from pycc.ccmanager.outbound import OutboundCall
    from pycc.media.session import MediaSession

    #: A record waiting to be written: a row, or the call whose open row is built then.
    _Pending: TypeAlias = dict[str, Any] | "_OpenRecord"

__all__ = [
    "FACT_COLUMNS",
    "MEDIA_COLUMNS",
    "CallRecorder",
    "HoldClock",
    "close_interrupted",
    "complete",
    "disposition_of",
    "is_hold_offer",
    "media_summary",
]

log = logging.getLogger("pycc.cdr")

#: The call record columns the media server fills in (None when a call had no media).
MEDIA_COLUMNS = ("codec_caller", "codec_callee", "media_path", "mos_caller", "mos_callee",
                 "packets_lost_caller", "packets_lost_callee", "recording", "route", "ivr_path",
                 "queue", "queue_wait", "agent", "agent_answer")
#: Every column taken as it is from a call's facts (``media_info`` / ``details``).
FACT_COLUMNS: Final = (*MEDIA_COLUMNS, "queue_enter", "queue_exit", "campaign", "contact",
                       "caller_dialed", "callee_dialed", "trunk")
#: What agents write on a record (their desktop's wrap-up): never in the switch's rows, so
#: that closing a record cannot erase a disposition given during the call.
AGENT_COLUMNS: Final = ("wrapup_code", "wrapup_notes", "callback_at")
#: Every column of a row (a batch is one executemany: every row has them all).
COLUMNS: Final = tuple(column.name for column in CallRecord.__table__.columns  # type: ignore[attr-defined]
                       if column.name != "id" and column.name not in AGENT_COLUMNS)

#: Seconds between two moves of the open records' ``end``.
HEARTBEAT: Final = 2.0
#: Seconds between two batches of rows, at least (`CallRecorder.batch_gap`).
BATCH_GAP: Final = 0.1
#: Seconds between two reloads of the billed total, for nodes sharing a database.
CREDIT_REFRESH: Final = 60.0
#: What an interrupted record says ended it.
INTERRUPTED_CAUSE: Final = "pycc stopped"

_FAILURES: Final = {486: "busy", 600: "busy", 480: "unavailable", 404: "not-found",
                    408: "no-answer", 487: "cancelled", 603: "rejected", 402: "rejected"}


# -- pure helpers ------------------------------------------------------------------------------


class HoldClock:
    """How long a call was on hold: held while any party's last offer put it on hold."""

    __slots__ = ("_held", "_since", "total")

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._since: float | None = None
        self.total = 0.0

    def set(self, party: str, held: bool, now: float) -> None:
        """``party``'s latest offer holds the call (``held``) or resumes it, at ``now``."""
        was = bool(self._held)
        if held:
            self._held.add(party)
        else:
            self._held.discard(party)
        if self._held and not was:
            self._since = now
        elif was and not self._held and self._since is not None:
            self.total += max(0.0, now - self._since)
            self._since = None

    @property
    def held(self) -> bool:
        return bool(self._held)

    def seconds(self, now: float) -> float:
        """The hold time so far, the current hold counted up to ``now``."""
        current = max(0.0, now - self._since) if self._since is not None else 0.0
        return self.total + current


def is_hold_offer(body: bytes | str | SessionDescription) -> bool:
    """Whether an SDP offer puts the call on hold: its first audio stream is ``sendonly`` or
    ``inactive``, or has the null address 0.0.0.0 (RFC 3264 §8.4, RFC 2543 style)."""
    try:
        sdp = body if isinstance(body, SessionDescription) else SessionDescription.parse(body)
    except SdpError:
        return False
    for media in sdp.media:
        if media.media != "audio" or media.port == 0:
            continue
        if sdp.media_direction(media) in (Direction.SENDONLY, Direction.INACTIVE):
            return True
        connection = sdp.media_connection(media)
        return connection is not None and connection.is_null
    return False


def disposition_of(status: int, answered: bool) -> str:
    """A call's disposition from its final SIP status."""
    if answered:
        return "answered"
    return _FAILURES.get(status, "failed")


def complete(row: dict[str, Any], *, rates: RatePlan | None = None,
             wrapups: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Fill in ``row``'s derived columns (in place, and returned): durations, queue times,
    wrap-up and, for a closed row, its cost.

    Calls out over a trunk (direction "outbound" with a trunk) are rated by ``rates`` on the
    callee after translation and the billed ``duration``; when no table applies they cost 0,
    when a table applies but has no rate for the number the cost is None (unrated). Every
    other call costs 0.
    """
    start, end = float(row["start"]), float(row["end"])
    end = max(end, start)
    row["end"] = end
    answer = row.get("answer")
    duration = max(0.0, end - answer) if answer is not None else 0.0
    row["duration"] = round(duration, 3)
    ring = row.get("ring")
    rang_from = ring if ring is not None else start
    row["ring_seconds"] = round(max(0.0, (answer if answer is not None else end) - rang_from), 3)
    hold = float(row.get("hold_seconds") or 0.0)
    agent_answer = row.get("agent_answer")
    talk_from = agent_answer if agent_answer is not None else answer
    talk = max(0.0, end - talk_from) if talk_from is not None else 0.0
    hold = min(hold, talk) if talk_from is not None else 0.0
    row["hold_seconds"] = round(hold, 3)
    row["talk_seconds"] = round(max(0.0, talk - hold), 3)
    _queue_times(row, end)
    agent, queue = row.get("agent"), row.get("queue")
    if agent is None or queue is None:
        row["wrapup_seconds"] = None
    elif wrapups is not None:
        row["wrapup_seconds"] = wrapups.get(str(queue))
    else:
        row.setdefault("wrapup_seconds", None)
    if row.get("state") == "open":
        row["cost"] = row["rate_table"] = row["rate_prefix"] = None
        return row
    row["cost"], row["rate_table"], row["rate_prefix"] = 0, None, None
    trunk = row.get("trunk")
    if row.get("direction") == "outbound" and trunk and rates is not None:
        table = rates.table_for(str(trunk))
        if table is not None:
            rated = table.rate(str(row.get("callee") or ""), duration)
            row["rate_table"] = table.name
            if rated is None:
                row["cost"] = None
                log.warning("call %s to %s: no rate in table %s", row.get("call_id"),
                            row.get("callee"), table.name)
            else:
                row["cost"], row["rate_prefix"] = rated.micros, rated.prefix
    return row


def _queue_times(row: dict[str, Any], end: float) -> None:
    """Queue entry and exit: as noted, else from the wait the ACD noted and when the call
    left the queue (the agent's answer, or the end)."""
    wait = row.get("queue_wait")
    if wait is None:
        return
    exit_ = row.get("queue_exit")
    if exit_ is None:
        agent_answer = row.get("agent_answer")
        exit_ = agent_answer if agent_answer is not None else end
        if row.get("queue_enter") is not None:
            exit_ = min(float(exit_), float(row["queue_enter"]) + float(wait))
        row["queue_exit"] = round(float(exit_), 3)
    if row.get("queue_enter") is None:
        row["queue_enter"] = round(float(exit_) - float(wait), 3)


def close_interrupted(record: CallRecord | Mapping[str, Any], *,
                      rates: RatePlan | None = None,
                      wrapups: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The closed row of an open record a crash left behind: ended by the "system" at the
    last time the call was known to be up, disposition "interrupted"."""
    row = dict(record) if isinstance(record, Mapping) else record.model_dump(exclude={"id"})
    row.pop("id", None)
    known = [float(value) for value in (row.get("start"), row.get("ring"), row.get("answer"),
                                        row.get("end"), row.get("agent_answer"))
             if value is not None]
    row.update(state="closed", disposition="interrupted", hangup_by="system",
               hangup_cause=INTERRUPTED_CAUSE, end=max(known))
    return complete(row, rates=rates, wrapups=wrapups)


def media_summary(session: MediaSession) -> dict[str, object]:
    """The call record's media columns: codecs, relay or transcode (or "local" for a call pycc
    answered or placed itself), MOS and loss per party, from each party's first stream."""
    info: dict[str, object] = {}
    quality = session.quality()
    bridge = session.bridges[0] if session.bridges else None
    for party, column in (("a", "caller"), ("b", "callee")):
        legs = session.legs(party)
        side = legs[0].side if legs else None
        if side is None or side.codec is None:
            continue
        info[f"codec_{column}"] = f"{side.codec.encoding}/{side.codec.clock_rate}"
        stats = quality.get(party)
        if stats is None or stats["received"] == 0:
            continue
        info[f"mos_{column}"] = round(mos_for_leg(
            side.codec.encoding, stats["rtt"], stats["jitter_ms"], stats["loss"]), 2)
        info[f"packets_lost_{column}"] = int(stats["lost"])
    if session.local_party is not None and not session.plans:
        info["media_path"] = "local"
    elif session.plans and "codec_caller" in info:
        transcoding = bridge.transcoding if bridge is not None else not session.plans[0].relay
        info["media_path"] = "transcode" if transcoding else "relay"
    return info


# -- the recorder ------------------------------------------------------------------------------


class CallRecorder:
    """Writes the records of one tenant's calls on one node (see the module docstring)."""

    def __init__(self, store: AsyncStore, *, tenant_id: int, node: str = "",
                 heartbeat: float = HEARTBEAT, credit_refresh: float = CREDIT_REFRESH,
                 clock: Callable[[], float] = time.time, batch_gap: float = BATCH_GAP) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.node = node
        self.heartbeat = heartbeat
        self.credit_refresh = credit_refresh
        self.clock = clock
        self.max_batch = 500
        #: Seconds the writer lets rows gather after a batch before it writes the next (unless
        #: a full batch waits): under load, a short call's open, answered and closed rows then
        #: often go as one row, and each transaction carries more calls (about a sixth less
        #: CPU per call at 250 calls/s). A lone row after a quiet spell goes at once.
        self.batch_gap = batch_gap
        self._last_batch = -1.0
        #: Closed records written (open ones are not counted).
        self.written = 0
        self.rates: RatePlan | None = None
        self.wrapups: dict[str, float] = {}
        self.credit = CreditTracker()
        # Rows waiting to be written, by call id (a newer row replaces a waiting one); an
        # open record waits as its call, its row built when written.
        self._pending: dict[str, _Pending] = {}
        # Calls whose record is open: the heartbeat moves their end.
        self._open: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._next_touch = 0.0
        self._next_refresh = 0.0

    # -- configuration -----------------------------------------------------------------------
    def configure(self, rates: RatePlan | None = None,
                  wrapups: Mapping[str, float] | None = None,
                  credit_limit: Decimal | None = None,
                  credit_since: float | None = None) -> None:
        """The tenant's rate plan, its queues' wrap-up times and its credit limit (from
        ``pycc apply``); a new limit period reloads the billed total."""
        self.rates = rates
        self.wrapups = dict(wrapups or {})
        if self.credit.configure(credit_limit, credit_since):
            self._kick()

    # -- the calls ---------------------------------------------------------------------------
    def opened(self, call: Call | OutboundCall) -> None:
        """A call was placed: write its open record."""
        self._queue_open(call)

    def answered(self, call: Call | OutboundCall) -> None:
        """A call was answered: its open record gets the answer time."""
        if _call_id(call) in self._open:
            self._queue_open(call)

    def record(self, call: Call | OutboundCall) -> None:
        """Queue the closed record of a finished call; it is written with the next batch."""
        row = self.to_row(call)
        self.closed(row)
        self._queue(row)

    def closed(self, row: Mapping[str, Any]) -> None:
        """Called with each finished call's record as it is queued (for a subclass to count)."""

    def to_record(self, call: Call | OutboundCall) -> CallRecord:
        return CallRecord(**self.to_row(call))

    def to_row(self, call: Call | OutboundCall, *, state: str = "closed") -> dict[str, Any]:
        """The record's columns; building the model object is left to the store."""
        from pycc.ccmanager.b2bua import Call

        row = _call_row(call, self.clock()) if isinstance(call, Call) \
            else _outbound_row(call, self.clock())
        row.update(tenant_id=self.tenant_id, node=self.node, state=state)
        if state == "open":
            row.update(disposition="in-progress", hangup_by="system", hangup_cause="",
                       end=max(float(row["end"]), self.clock()))
        return complete(row, rates=self.rates, wrapups=self.wrapups)

    # -- durability ----------------------------------------------------------------------------
    async def recover(self) -> int:
        """Close the records this node left open (a crash: ``kill -9``, a power cut) as
        "interrupted", and load the billed total. Run it before taking calls. Returns how
        many records were closed."""
        left = await self.store.open_call_records(self.tenant_id, self.node)
        rows = [close_interrupted(record, rates=self.rates, wrapups=self.wrapups)
                for record in left if record.call_id not in self._open]
        if rows:
            await self.store.add_call_records([_full(row) for row in rows])
            log.warning("closed %d call records left open by an earlier run of node %r",
                        len(rows), self.node)
        if self.credit.limit is not None:
            await self._load_credit()
        return len(rows)

    async def drain(self) -> None:
        """Wait until every queued record is written."""
        while self._pending:
            self._kick()
            self._idle.clear()
            await self._idle.wait()

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        await self.drain()
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    # -- the writer ----------------------------------------------------------------------------
    def _queue(self, row: dict[str, Any]) -> None:
        call_id = row["call_id"]
        if row["state"] == "open":
            self._open.add(call_id)
        else:
            self._open.discard(call_id)
        self._pending.pop(call_id, None)
        self._pending[call_id] = row
        self._kick()

    def _queue_open(self, call: Call | OutboundCall) -> None:
        # The open row is built when its batch is written, not now: a short call's open,
        # answered and closed rows usually meet in one batch, where only the last is written.
        call_id = _call_id(call)
        self._open.add(call_id)
        self._pending.pop(call_id, None)
        # A new entry each time: the writer drops what it wrote only if nothing newer came.
        self._pending[call_id] = _OpenRecord(call)
        self._kick()

    def _rows(self, entries: list[tuple[str, _Pending]]) -> list[tuple[str, _Pending,
                                                                       dict[str, Any]]]:
        """The rows of waiting ``entries``: an open call's is built now. A call whose row
        cannot be built is logged and dropped, so that it cannot stop the writer."""
        rows: list[tuple[str, _Pending, dict[str, Any]]] = []
        for key, entry in entries:
            if isinstance(entry, dict):
                rows.append((key, entry, entry))
                continue
            try:
                rows.append((key, entry, self.to_row(entry.call, state="open")))
            except Exception:
                log.exception("call %s: its open record could not be built", key)
                if self._pending.get(key) is entry:
                    del self._pending[key]
        return rows

    def _kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # configured before the switch runs: the first call starts the writer
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._write_pending()
            now = self.clock()
            if self._open and now >= self._next_touch:
                self._next_touch = now + self.heartbeat
                try:
                    await self.store.touch_open_call_records(self.tenant_id, self.node, now)
                except Exception:
                    log.exception("could not move the end of the open call records")
            if self.credit.limit is not None and (self.credit.stale or
                                                  now >= self._next_refresh):
                await self._load_credit()
            if self._pending:
                continue
            self._idle.set()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep(now))

    def _sleep(self, now: float) -> float:
        waits = [self.heartbeat]
        if self._open:
            waits.append(self._next_touch - now)
        if self.credit.limit is not None:
            waits.append(self._next_refresh - now)
        return max(0.05, min(waits))

    async def _write_pending(self) -> None:
        # Group commit: while one batch is written, the next calls' rows queue up and go in
        # the following transaction, so the database sees one commit per batch.
        while self._pending:
            loop = asyncio.get_running_loop()
            gap = self._last_batch + self.batch_gap - loop.time()
            if gap > 0 and len(self._pending) < self.max_batch:
                await asyncio.sleep(gap)
            self._last_batch = loop.time()
            batch = self._rows(list(self._pending.items())[: self.max_batch])
            try:
                try:
                    await self.store.add_call_records([_full(row) for _k, _e, row in batch])
                except ValueError:
                    # A row the store refuses (not the database failing): write the others,
                    # so that one bad record cannot hold back every call after it.
                    batch = await self._write_one_by_one(batch)
            except Exception:
                log.exception("could not write %d call records; retrying", len(batch))
                await asyncio.sleep(1.0)
                continue
            for key, entry, row in batch:
                if self._pending.get(key) is entry:
                    del self._pending[key]
                if row["state"] == "closed":
                    self.written += 1
                    self.credit.add(float(row["start"]), row.get("cost"))

    async def _write_one_by_one(self, batch: list[tuple[str, _Pending, dict[str, Any]]]
                                ) -> list[tuple[str, _Pending, dict[str, Any]]]:
        """Write ``batch`` row by row, dropping the rows refused; the rows written."""
        written: list[tuple[str, _Pending, dict[str, Any]]] = []
        for key, entry, row in batch:
            try:
                await self.store.add_call_records([_full(row)])
            except ValueError as exc:
                log.error("call %s: record refused and dropped: %s", key, exc)
                if self._pending.get(key) is entry:
                    del self._pending[key]
                self._open.discard(key)
                continue
            written.append((key, entry, row))
        return written

    async def _load_credit(self) -> None:
        self._next_refresh = self.clock() + self.credit_refresh
        try:
            total = await self.store.call_cost_total(self.tenant_id, self.credit.since)
        except Exception:
            log.exception("could not load the billed total")
            return
        # Rows written but not yet counted cannot exist here: this task writes and counts.
        self.credit.load(total)


class _OpenRecord:
    """A call whose open record waits to be written (its row is built then)."""

    __slots__ = ("call",)

    def __init__(self, call: Call | OutboundCall) -> None:
        self.call = call


# -- rows from calls ---------------------------------------------------------------------------


def _call_id(call: Call | OutboundCall) -> str:
    from pycc.ccmanager.b2bua import Call

    return call.call_id if isinstance(call, Call) else call.id


def _facts(details: Mapping[str, object]) -> dict[str, Any]:
    return {column: details.get(column) for column in FACT_COLUMNS}


def _call_row(call: Call, now: float) -> dict[str, Any]:
    """A B2BUA call's facts."""
    info = call.media_info
    end = call.end if call.end is not None else max(now, call.start)
    row = _facts(info)
    trunk = _trunk_of(call)
    direction = str(info.get("direction") or ("inbound" if call.from_trunk else "internal"))
    if trunk is None and call.from_trunk is not None:
        trunk = call.from_trunk
    row.update(
        call_id=call.call_id,
        caller=call.caller,
        callee=call.callee,
        caller_contact=str(call.a_source),
        direction=direction,
        trunk=trunk,
        start=call.start,
        ring=call.ring,
        answer=call.answer,
        end=end,
        disposition=call.disposition,
        hangup_cause=call.hangup_cause,
        hangup_by=call.hangup_by,
        sip_status=call.sip_status,
        hold_seconds=call.hold.seconds(end) + float(info.get("hold_seconds") or 0.0),  # type: ignore[arg-type]
    )
    return row


def _trunk_of(call: Call) -> str | None:
    """The trunk a call went out over: its answering leg's, else its last leg's."""
    legs: Iterable[Any] = [call.winner] if call.winner is not None else reversed(call.legs)
    for leg in legs:
        outside = leg.outside
        if outside is not None and outside.trunk:
            return str(outside.trunk)
    return None


def _outbound_row(out: OutboundCall, now: float) -> dict[str, Any]:
    """A call pycc placed: its facts, noted by the call center and the services on it."""
    details = out.details
    end = out.end if out.end is not None else max(now, out.start)
    answered = out.answer is not None
    row = _facts(details)
    row.update(
        call_id=out.id,
        caller=out.caller,
        callee=str(details.get("callee") or out.target),
        caller_contact=None,
        direction=str(details.get("direction") or "outbound"),
        start=out.start,
        ring=out.ring,
        answer=out.answer,
        end=end,
        disposition=disposition_of(out.status, answered),
        hangup_cause=out.hangup_cause,
        hangup_by=out.hangup_by if out.hangup_by in ("caller", "callee") else "system",
        sip_status=out.status if out.end is not None else (200 if answered else 0),
        hold_seconds=out.hold.seconds(end) + float(details.get("hold_seconds") or 0.0),  # type: ignore[arg-type]
    )
    if row["caller_dialed"] is None:
        row["caller_dialed"] = out.caller
    if row["callee_dialed"] is None:
        row["callee_dialed"] = out.target
    return row


def _full(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with every column (the defaults of the model where it has none)."""
    return {column: row.get(column, _DEFAULTS.get(column)) for column in COLUMNS}


_DEFAULTS: Final[dict[str, Any]] = {"duration": 0.0, "node": "", "state": "closed"}
