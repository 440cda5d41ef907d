"""AsyncStore: the store's methods as coroutines, all run on one worker thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from pycc.store import (
    AlreadyExists,
    AsyncStore,
    BindingUpdate,
    CallRecord,
    NotFound,
    Store,
    make_url,
)

AOR = "sip:1001@pycc"
NOW = 1_700_000_000.0


class _ThreadRecordingStore(Store):
    """Notes the thread each call ran on."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.threads: set[int] = set()

    def add_call_record(self, record: CallRecord) -> CallRecord:
        self.threads.add(threading.get_ident())
        return super().add_call_record(record)


def _record(tenant_id: int, call_id: str, start: float) -> CallRecord:
    return CallRecord(
        tenant_id=tenant_id,
        call_id=call_id,
        caller="1001",
        callee="1002",
        direction="internal",
        start=start,
        end=start + 1,
        disposition="no-answer",
        hangup_cause="487 Request Terminated",
        hangup_by="system",
        sip_status=487,
    )


def test_every_method_through_the_event_loop(store_url: str) -> None:
    async def scenario() -> None:
        db = AsyncStore(Store(store_url))
        await db.create_all()
        tenant = await db.ensure_tenant("default", "pycc")
        assert [t.name for t in await db.list_tenants()] == ["default"]
        assert await db.get_tenant("default") == tenant

        await db.add_extension("default", "1001", "pw", "Alice")
        with pytest.raises(AlreadyExists):
            await db.add_extension("default", "1001", "pw")
        changed = await db.set_password("default", "1001", "new")
        assert await db.get_extension("default", "1001") == changed
        assert [e.number for e in await db.list_extensions("default")] == ["1001"]
        await db.remove_extension("default", "1001")
        with pytest.raises(NotFound):
            await db.remove_extension("default", "1001")

        update = BindingUpdate("sip:1001@192.0.2.1", NOW + 60, "reg-1", 1)
        saved = await db.save_bindings("default", AOR, [update], [], NOW, extension_number="1001")
        assert saved == await db.get_bindings("default", AOR, NOW)
        assert saved[0].extension_number == "1001"
        assert await db.list_bindings(NOW) == saved
        assert await db.purge_expired(NOW + 60) == 1
        await db.save_bindings("default", AOR, [update], [], NOW)
        assert await db.remove_all_bindings("default", AOR) == 1

        assert tenant.id is not None
        stored = await db.add_call_record(_record(tenant.id, "call-1", NOW))
        assert await db.list_call_records("default", NOW, 10) == [stored]
        await db.close()

    asyncio.run(scenario())


def test_calls_run_in_order_on_one_thread(tmp_path: Path) -> None:
    store = _ThreadRecordingStore(make_url(tmp_path, None))

    async def scenario() -> list[str]:
        db = AsyncStore(store)
        await db.create_all()
        tenant = await db.ensure_tenant("default", "pycc")
        assert tenant.id is not None
        tenant_id = tenant.id
        await asyncio.gather(
            *(db.add_call_record(_record(tenant_id, f"call-{n}", NOW + n)) for n in range(50))
        )
        records = await db.list_call_records()
        await db.close()
        return [r.call_id for r in records]

    assert asyncio.run(scenario()) == [f"call-{n}" for n in range(50)]
    assert len(store.threads) == 1
    assert threading.get_ident() not in store.threads


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = AsyncStore(Store(make_url(tmp_path, None)))
        await db.create_all()
        await db.close()
        with pytest.raises(RuntimeError):
            await db.list_tenants()

    asyncio.run(scenario())
