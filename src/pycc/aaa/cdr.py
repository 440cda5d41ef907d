"""Call records: one durable record at the end of every call attempt.

The B2BUA hands a finished call to `CallRecorder.record`, which writes it on the store's
thread without making the event loop wait. Writes are idempotent on the call id, and
`drain` lets a stopping switch wait until every record is on disk.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from pycc.store.async_store import AsyncStore
from pycc.store.models import CallRecord

if TYPE_CHECKING:
    from pycc.ccmanager.b2bua import Call

log = logging.getLogger("pycc.cdr")


class CallSink(Protocol):
    def record(self, call: Call) -> None: ...


class CallRecorder:
    """Turns finished calls into `CallRecord` rows."""

    def __init__(self, store: AsyncStore, *, tenant_id: int, node: str = "") -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.node = node
        self._pending: set[asyncio.Task[None]] = set()
        self.written = 0

    def to_record(self, call: Call) -> CallRecord:
        end = call.end if call.end is not None else call.start
        duration = max(0.0, end - call.answer) if call.answer is not None else 0.0
        return CallRecord(
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
        )

    def record(self, call: Call) -> None:
        record = self.to_record(call)
        task = asyncio.get_running_loop().create_task(self._write(record))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, record: CallRecord) -> None:
        try:
            await self.store.add_call_record(record)
            self.written += 1
        except Exception:
            log.exception("could not write the call record of %s", record.call_id)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
