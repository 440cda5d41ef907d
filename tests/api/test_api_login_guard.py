"""Password guessing at the API's two log-in forms: after ``ban_failures`` wrong passwords
from one address within the window, that address is refused with 429 and Retry-After, even
with the right password, while other addresses log in; the ban ends after ``ban_time``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from api.test_api_core import prepare, problem
from pycc.api import ApiContext, create_app
from pycc.switch import Switch


@pytest.mark.parametrize(("path", "good"), [
    ("/v1/login", 200),
    ("/ui/session", 200),
])
def test_an_address_that_keeps_guessing_is_refused_for_a_while(
        tmp_path: Path, path: str, good: int) -> None:
    config, _tokens = prepare(tmp_path)
    config = config.with_overrides(ban_failures=3, ban_window=60.0, ban_time=1.5)

    async def main() -> None:
        async with Switch(config) as switch:
            assert switch.store is not None
            app = create_app(ApiContext(switch.store, "default", switch))

            def client(address: str) -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(address, 40000))
                return httpx.AsyncClient(transport=transport, base_url="http://pycc.test")

            right = {"user": "alice", "password": "pw-alice-123456"}
            async with client("192.0.2.7") as guesser, client("192.0.2.8") as other:
                for attempt in range(3):
                    problem(await guesser.post(path, json={"user": "alice",
                                                           "password": f"guess-{attempt}"}),
                            401)
                refused = await guesser.post(path, json=right)
                body = problem(refused, 429)
                assert "too many failed log-ins" in str(body["detail"])
                assert 1 <= int(refused.headers["retry-after"]) <= 2
                # Another address is not affected, and its success does not lift the ban.
                assert (await other.post(path, json=right)).status_code == good
                problem(await guesser.post(path, json=right), 429)
                await asyncio.sleep(1.6)
                assert (await guesser.post(path, json=right)).status_code == good

    asyncio.run(main())


def test_a_success_clears_the_failures_before_a_ban(tmp_path: Path) -> None:
    config, _tokens = prepare(tmp_path)
    config = config.with_overrides(ban_failures=3)

    async def main() -> None:
        async with Switch(config) as switch:
            assert switch.store is not None
            app = create_app(ApiContext(switch.store, "default", switch))
            transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 40000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://pycc.test") as c:
                started = time.monotonic()
                for _round in range(3):
                    for attempt in range(2):
                        problem(await c.post("/v1/login", json={
                            "user": "bob", "password": f"typo-{attempt}"}), 401)
                    ok = await c.post("/v1/login", json={"user": "bob",
                                                         "password": "pw-bob-123456"})
                    assert ok.status_code == 200, ok.text
                assert time.monotonic() - started < 60.0  # all within one window

    asyncio.run(main())
