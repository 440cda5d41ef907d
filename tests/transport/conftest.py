"""The ``run`` fixture: each transport test runs on stock asyncio and on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from peers.aio import Run, runner


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Runs a scenario on a fresh loop: stock asyncio, and uvloop, which pycc serve installs."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory = uvloop.new_event_loop
    return runner(factory)
