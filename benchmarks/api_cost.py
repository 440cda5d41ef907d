"""Admin API: pycc's CPU time per request, by operation, with no call up.

    python benchmarks/api_cost.py [--requests 200] [--runs 3] [--workdir DIR]

The latency target of the admin API (p99 under 50 ms at 200 requests/s while 100 calls are
up, `benchmarks/api_load.py`) is mostly a CPU budget: the API shares the switch's event loop,
so every millisecond of CPU a request costs is a millisecond the SIP and media work waits.
This script measures that cost directly. It sets up the same call center as api_load.py
(``pycc init``, ``pycc apply``, contacts, 5,000 call records, an admin token, ``pycc serve``
on loopback), then sends each operation of api_load's mix ``--requests`` times, one after
the other on one keep-alive connection, and reads ``pycc serve``'s CPU time (/proc, all
threads) before and after. The figure is CPU milliseconds per request, the median of
``--runs`` runs; the last line weighs the operations as api_load's mix does and gives the
share of one core that 200 requests/s would take.

CPU time is what the machine's other load inflates least, so figures from a shared machine
still compare; run it before and after a change in the same invocation's conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import (  # type: ignore[import-not-found]
    MIX,
    OPERATIONS,
    Bench,
    Plan,
    RawHttp,
    cpu_seconds,
    mix_cycle,
    request_for,
)


def _plan(bench: Bench, requests: int) -> Plan:
    return Plan(base_url=bench.base_url, token=bench.token, rate=1.0, start=0.0, warmup=0.0,
                seconds=0.0, clients=1, agents=bench.agents, cursors=bench.cursors, seed=1,
                connections=1, timeout=30.0, http_client="raw")


async def _cost(bench: Bench, operation: str, requests: int) -> float:
    """CPU milliseconds pycc spent per request of ``operation``."""
    plan = _plan(bench, requests)
    cycle = mix_cycle(1)
    # The indexes in the schedule where this operation falls (agent states and record
    # cursors vary with the index, as in the load).
    ks = [k for k in range(len(cycle) * requests) if cycle[k % len(cycle)] == operation]
    http = RawHttp(bench.base_url, bench.token)
    assert bench.server is not None
    try:
        await http.request("GET", "/v1/me", None)  # the connection and the token cache
        before = cpu_seconds(bench.server.pid)
        for k in ks[:requests]:
            _, method, path, extra = request_for(k, plan, cycle)
            status, answer = await http.request(method, path, extra)
            if status != 200:
                raise RuntimeError(f"{method} {path}: {status} {answer[:200]!r}")
        after = cpu_seconds(bench.server.pid)
    finally:
        await http.close()
    return (after - before) * 1000.0 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    load_args = argparse.Namespace(agents=20, calls=100, contacts=1000, records=5000,
                                   log_level="warning", profile=False)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pycc-api-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work, load_args)
    try:
        bench._provision()
        bench._serve()
        bench._ready_agents()
        costs: dict[str, list[float]] = {name: [] for name in OPERATIONS}
        for _ in range(args.runs):
            for name in OPERATIONS:
                costs[name].append(asyncio.run(_cost(bench, name, args.requests)))
    finally:
        bench.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print("| operation | CPU ms per request (median) | runs |")
    print("| --- | ---: | --- |")
    for name in OPERATIONS:
        runs = ", ".join(f"{value:.2f}" for value in costs[name])
        print(f"| {name} | {statistics.median(costs[name]):.2f} | {runs} |")
    weights = dict(MIX)
    mean = sum(statistics.median(costs[name]) * weights[name] for name in OPERATIONS) \
        / sum(weights.values())
    print(f"\nmix: {mean:.2f} ms per request; 200 requests/s take {mean * 200 / 10:.0f} % "
          "of one core")


if __name__ == "__main__":
    main()
