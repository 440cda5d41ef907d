"""Shared test set-up: make the peer harnesses in ``tests/peers`` importable as ``peers``, and
prepare the parallel run of ``scripts/test.sh`` (pytest-xdist ``-n auto``): how many workers,
and in which order the modules go to them (see ``tests/peers/parallel.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from peers.parallel import WorkerCountError, spread, usable_cpus, worker_count  # noqa: E402


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    try:
        return worker_count(usable_cpus(), os.environ.get("PYCC_TEST_WORKERS"))
    except WorkerCountError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only xdist workers reorder (all of them the same way, as xdist requires); a run in one
    # process keeps pytest's order. Each module stays in one piece, so that its module-scoped
    # fixtures (a running pycc, say) are set up once per worker.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    heavy = [tests for tests in modules.values()
             if any(item.get_closest_marker("peer") for item in tests)]
    light = [tests for tests in modules.values()
             if not any(item.get_closest_marker("peer") for item in tests)]
    items[:] = [item for module in spread(heavy, light) for item in module]


# Hypothesis's timing health check measures the machine, not pycc: under a full parallel run
# on a shared machine, generating an SDP model can take a second. Correctness checks stay on.
from hypothesis import HealthCheck as _HealthCheck  # noqa: E402
from hypothesis import settings as _settings  # noqa: E402

_settings.register_profile("pycc", suppress_health_check=[_HealthCheck.too_slow],
                           deadline=None)
_settings.load_profile("pycc")
