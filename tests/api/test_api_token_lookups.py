"""Token lookups under load: requests that find a token's cache entry gone share the one
lookup in flight (`pycc.api.auth.resolve`), and a lookup that started before the cache was
cleared (a revoked token, a changed role) is not kept."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from pycc.aaa.roles import Principal, Role
from pycc.api.auth import TokenCache, resolve

ALICE = Principal(user="alice", tenant="default", role=Role.ADMIN)


class SlowStore:
    """An `AsyncStore` stand-in whose token lookups take a while and are counted."""

    def __init__(self, answer: Principal | None) -> None:
        self.answer = answer
        self.lookups = 0
        self.store = object()
        self.release = asyncio.Event()

    async def run(self, _function: Any, *_args: Any) -> Principal | None:
        self.lookups += 1
        await self.release.wait()
        return self.answer


def _state(store: SlowStore) -> SimpleNamespace:
    return SimpleNamespace(token_cache=TokenCache(), context=SimpleNamespace(store=store))


def test_concurrent_requests_share_one_lookup() -> None:
    async def main() -> None:
        store = SlowStore(ALICE)
        state = _state(store)
        waiting = [asyncio.ensure_future(resolve(state, "pycc_t")) for _ in range(50)]
        await asyncio.sleep(0.01)
        store.release.set()
        assert await asyncio.gather(*waiting) == [ALICE] * 50
        assert store.lookups == 1
        assert await resolve(state, "pycc_t") == ALICE and store.lookups == 1  # cached
        assert not state.token_cache.lookups

    asyncio.run(main())


def test_a_lookup_from_before_a_clear_is_not_cached() -> None:
    async def main() -> None:
        store = SlowStore(ALICE)
        state = _state(store)
        pending = asyncio.ensure_future(resolve(state, "pycc_t"))
        await asyncio.sleep(0.01)
        state.token_cache.clear()  # e.g. the token was revoked meanwhile
        store.release.set()
        assert await pending == ALICE
        assert state.token_cache.get("pycc_t") is None
        assert await resolve(state, "pycc_t") == ALICE and store.lookups == 2

    asyncio.run(main())
