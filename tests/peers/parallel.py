"""How the test suite runs in parallel under pytest-xdist.

``scripts/test.sh`` runs pytest with ``-n auto``; :func:`worker_count` decides what ``auto``
means (``tests/conftest.py`` answers xdist's hook with it). :func:`worker_slot` tells a test
process which worker it is, so that the harnesses can give each worker resources of its own
(``peers.net`` gives each its own part of the loopback port pool). :func:`spread` orders
the modules so that those which start real peers are spread over the workers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Overrides the number of workers ``-n auto`` starts (``0`` runs the tests in one process).
WORKERS_ENV = "PYCC_TEST_WORKERS"

#: ``-n auto`` starts at least this many workers: most integration tests spend their time
#: waiting on SIP timers, peers and the media clock, so even a two-core machine runs three
#: workers faster than two.
MIN_WORKERS = 3


class WorkerCountError(ValueError):
    """``PYCC_TEST_WORKERS`` is not a whole number of workers."""


def worker_count(cpus: int, override: str | None) -> int:
    """The number of workers for ``-n auto``: ``override`` (the value of ``PYCC_TEST_WORKERS``)
    when it is set, else one per CPU and at least :data:`MIN_WORKERS`."""
    if override is not None and override.strip():
        try:
            count = int(override)
        except ValueError:
            raise WorkerCountError(
                f"{WORKERS_ENV}={override!r}: expected a whole number of workers (0 or more)"
            ) from None
        if count < 0:
            raise WorkerCountError(f"{WORKERS_ENV}={override!r}: must not be negative")
        return count
    return max(MIN_WORKERS, cpus)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_slot(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(index, count)`` of this xdist worker (``gw2`` of 3 is ``(2, 3)``); ``(0, 1)`` when the
    tests run in one process."""
    env = os.environ if environ is None else environ
    name = env.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(env.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        index = int(name.removeprefix("gw")) if name.startswith("gw") else 0
    except ValueError:
        return 0, 1
    return (index % count, count) if count > 1 else (0, 1)


def spread(heavy: Sequence[T], light: Sequence[T]) -> list[T]:
    """``heavy`` and ``light`` merged so that the heavy entries are evenly spaced, each list
    keeping its order.

    The suite's modules go to the workers in this order: when the modules that start real
    peers (and so use the most CPU and are the most sensitive to a busy machine) are spread out,
    each worker gets its share of them and they do not all run at the same moment.
    """
    placed = [((i + 0.5) / len(heavy), 0, i) for i in range(len(heavy))]
    placed += [((j + 0.5) / len(light), 1, j) for j in range(len(light))]
    placed.sort()
    return [heavy[i] if kind == 0 else light[i] for _, kind, i in placed]
