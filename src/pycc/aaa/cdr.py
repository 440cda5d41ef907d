"""Call records: one durable record at the end of every call attempt.

The B2BUA hands a finished call to `CallRecorder.record`, which queues it; one writer task
writes the queue in batches on the store's thread (group commit: one transaction for all the
calls that ended while the previous batch was written), so the event loop never waits and the
database is not asked for one synchronous commit per call. Writes are idempotent on the call
id (a retried batch cannot duplicate), and `drain` lets a stopping switch wait until every
record is on disk.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from pycc.store.async_store import AsyncStore
from pycc.store.models import CallRecord

if TYPE_CHECKING:
    from pycc.ccmanager.b2bua import Call

log = logging.getLogger("pycc.cdr")

#: The call record columns the media server fills in (None when a call had no media).
MEDIA_COLUMNS = ("codec_caller", "codec_callee", "media_path", "mos_caller", "mos_callee",
                 "packets_lost_caller", "packets_lost_callee", "recording", "route", "ivr_path",
                 "queue", "queue_wait", "agent", "agent_answer")


class CallSink(Protocol):
    def record(self, call: Call) -> None: ...


class CallRecorder:
    """Turns finished calls into `CallRecord` rows."""

    def __init__(self, store: AsyncStore, *, tenant_id: int, node: str = "") -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.node = node
        self._queue: list[dict[str, Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self.max_batch = 500
        self.written = 0

    def to_record(self, call: Call) -> CallRecord:
        return CallRecord(**self.to_row(call))

    def to_row(self, call: Call) -> dict[str, Any]:
        """The record's columns; building the model object is left to the store."""
        end = call.end if call.end is not None else call.start
        duration = max(0.0, end - call.answer) if call.answer is not None else 0.0
        return dict(
            tenant_id=self.tenant_id,
            call_id=call.call_id,
            caller=call.caller,
            callee=call.callee,
            caller_contact=str(call.a_source),
            direction="internal",
            start=call.start,
            ring=call.ring,
            answer=call.answer,
            end=end,
            disposition=call.disposition,
            hangup_cause=call.hangup_cause,
            hangup_by=call.hangup_by,
            sip_status=call.sip_status,
            duration=round(duration, 3),
            node=self.node,
            # Every row has every media column, so a batch is one executemany.
            **{column: call.media_info.get(column) for column in MEDIA_COLUMNS},
        )

    def record(self, call: Call) -> None:
        """Queue the record of a finished call; it is written with the next batch."""
        self._queue.append(self.to_row(call))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())

    async def _write_batches(self) -> None:
        # Group commit: while one batch is being written, the next calls' records queue up
        # and go in the following transaction, so the database sees one commit per batch.
        while self._queue:
            batch = self._queue[: self.max_batch]
            try:
                await self.store.add_call_records(batch)
            except Exception:
                log.exception("could not write %d call records; retrying", len(batch))
                await asyncio.sleep(1.0)
                continue
            del self._queue[: len(batch)]
            self.written += len(batch)

    async def drain(self) -> None:
        """Wait until every queued record is written."""
        while self._queue or (self._writer is not None and not self._writer.done()):
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(self._write_batches())
            await asyncio.shield(self._writer)
