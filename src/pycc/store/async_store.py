"""The store for asyncio code: :class:`AsyncStore` runs a :class:`Store` on one worker thread.

The event loop must never wait on the database (DESIGN.md), so every call goes to a thread. One
thread, not a pool: SQLite allows one writer at a time, and calls queued on one thread run in
the order they were made instead of contending for the lock. A call whose awaiting task is
cancelled still completes on the thread, so a record being written is not lost half-way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from pycc.store.models import (
    AgentEvent,
    Binding,
    BindingLike,
    CallRecord,
    Extension,
    IvrKeyCount,
    Tenant,
)
from pycc.store.repo import BindingChange, Store

_P = ParamSpec("_P")
_T = TypeVar("_T")


class AsyncStore:
    """The methods of :class:`Store`, as coroutines that run on one dedicated thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pycc-store")

    async def _call(self, method: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(method, *args, **kwargs)
        )

    async def run(self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``function`` (which takes the store's thread's time, e.g. a query of another
        service over :class:`Store`) on the store's thread."""
        return await self._call(function, *args, **kwargs)

    async def create_all(self) -> None:
        await self._call(self.store.create_all)

    async def close(self) -> None:
        """Close the store after the calls already queued, then end the thread."""
        await self._call(self.store.close)
        self._executor.shutdown(wait=False)

    async def ensure_tenant(self, name: str, realm: str) -> Tenant:
        return await self._call(self.store.ensure_tenant, name, realm)

    async def get_tenant(self, name: str) -> Tenant | None:
        return await self._call(self.store.get_tenant, name)

    async def list_tenants(self) -> list[Tenant]:
        return await self._call(self.store.list_tenants)

    async def add_extension(
        self, tenant: str, number: str, password: str, display_name: str | None = None
    ) -> Extension:
        return await self._call(self.store.add_extension, tenant, number, password, display_name)

    async def remove_extension(self, tenant: str, number: str) -> None:
        await self._call(self.store.remove_extension, tenant, number)

    async def get_extension(self, tenant: str, number: str) -> Extension | None:
        return await self._call(self.store.get_extension, tenant, number)

    async def list_extensions(self, tenant: str | None = None) -> list[Extension]:
        return await self._call(self.store.list_extensions, tenant)

    async def set_password(self, tenant: str, number: str, password: str) -> Extension:
        return await self._call(self.store.set_password, tenant, number, password)

    async def get_bindings(self, tenant: str, aor: str, now: float) -> list[Binding]:
        return await self._call(self.store.get_bindings, tenant, aor, now)

    async def save_bindings(
        self,
        tenant: str,
        aor: str,
        upserts: Sequence[BindingLike],
        removals: Sequence[str],
        now: float,
        *,
        extension_number: str = "",
    ) -> list[Binding]:
        return await self._call(
            self.store.save_bindings,
            tenant,
            aor,
            upserts,
            removals,
            now,
            extension_number=extension_number,
        )

    async def save_bindings_many(self, changes: Sequence[BindingChange]) -> None:
        await self._call(self.store.save_bindings_many, changes)

    async def remove_all_bindings(self, tenant: str, aor: str) -> int:
        return await self._call(self.store.remove_all_bindings, tenant, aor)

    async def purge_expired(self, now: float) -> int:
        return await self._call(self.store.purge_expired, now)

    async def list_bindings(self, now: float, tenant: str | None = None) -> list[Binding]:
        return await self._call(self.store.list_bindings, now, tenant)

    async def add_call_records(
        self, records: Sequence[CallRecord | Mapping[str, Any]]
    ) -> int:
        return await self._call(self.store.add_call_records, records)

    async def add_call_record(self, record: CallRecord) -> CallRecord:
        return await self._call(self.store.add_call_record, record)

    async def list_call_records(
        self, tenant: str | None = None, since: float | None = None, limit: int | None = None,
        *, include_open: bool = False,
    ) -> list[CallRecord]:
        return await self._call(self.store.list_call_records, tenant, since, limit,
                                include_open=include_open)

    async def open_call_records(self, tenant_id: int, node: str) -> list[CallRecord]:
        return await self._call(self.store.open_call_records, tenant_id, node)

    async def touch_open_call_records(self, tenant_id: int, node: str, now: float) -> int:
        return await self._call(self.store.touch_open_call_records, tenant_id, node, now)

    async def call_cost_total(self, tenant_id: int, since: float | None = None) -> int:
        return await self._call(self.store.call_cost_total, tenant_id, since)

    async def add_agent_events(self, events: Sequence[AgentEvent | Mapping[str, Any]]) -> int:
        return await self._call(self.store.add_agent_events, events)

    async def list_agent_events(self, tenant: str, agent: str | None = None,
                                since: float | None = None) -> list[AgentEvent]:
        return await self._call(self.store.list_agent_events, tenant, agent, since)

    async def add_ivr_keys(self, tenant_id: int,
                           counts: Mapping[tuple[str, str, str], int]) -> None:
        await self._call(self.store.add_ivr_keys, tenant_id, counts)

    async def list_ivr_keys(self, tenant: str) -> list[IvrKeyCount]:
        return await self._call(self.store.list_ivr_keys, tenant)
