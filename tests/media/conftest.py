"""The ``run`` fixture: each media adapter test runs on stock asyncio and on uvloop."""

from __future__ import annotations

import pytest

from peers.aio import LOOPS, Run, runner_for


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Run:
    return runner_for(request.param)
