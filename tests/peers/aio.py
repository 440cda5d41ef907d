"""Small asyncio helpers for tests that drive pycc's adapters on a real event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

Scenario = Callable[[], Coroutine[object, object, None]]
Run = Callable[[Scenario], None]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds; fail the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def runner(loop_factory: Callable[[], asyncio.AbstractEventLoop] | None) -> Run:
    """Run each scenario on a fresh loop made by ``loop_factory``, at most 30 s."""

    def run(scenario: Scenario) -> None:
        async def bounded() -> None:
            async with asyncio.timeout(30):
                await scenario()

        with asyncio.Runner(loop_factory=loop_factory) as loop_runner:
            loop_runner.run(bounded())

    return run


#: The event loops the adapters are tested on: stock asyncio, and uvloop, which pycc serve uses.
LOOPS = ("asyncio", "uvloop")


def runner_for(loop: str) -> Run:
    """The runner for ``loop`` (one of :data:`LOOPS`), for a parametrised ``run`` fixture."""
    if loop == "uvloop":
        import pytest

        uvloop = pytest.importorskip("uvloop")
        return runner(uvloop.new_event_loop)
    return runner(None)
