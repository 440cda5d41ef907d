"""Dialer pacing on the issue's target: predictive against progressive and VICIdial's methods.

    python benchmarks/dialer_sim.py [--agents 50] [--answer-rate 0.25] [--talk-mean 120]
                                    [--wrapup 10] [--hours 8] [--abandon-limit 0.03]
                                    [--seeds 1,2,3,4,5] [--jobs 2] [--json FILE]

Every mode runs the same simulated shift (`pycc.pds.simulate`) on the same seeds, so each mode
meets the same customers in the same order. Rows: ``predictive`` (pycc's model-based pacing),
``progressive`` 1:1, preview, VICIdial RATIO at the best fixed level under the limit for this
scenario (1.4, found by a sweep) and at 2.0, ADAPT_HARD_LIMIT, ADAPT_TAPERED and ADAPT_AVERAGE
with VICIdial's defaults (start at 1.0, maximum 3.0, talking agents counted, no intensity or
difference target, shift end = end of the run), and the same three "tuned": only waiting agents
counted (available_only_tally) and the maximum level raised to 5.0. For each: median and worst
over the seeds of occupancy (talk + wrap-up over logged-in time), abandonment (abandoned /
answered, the whole shift), the worst abandonment of any 30-minute window, connects per agent
hour and the p95 of answer-to-agent time. The target: predictive at >= 90 % occupancy with
abandonment <= the limit on every seed, judged on the issue's scenario (the defaults) only; the
exit code is 1 if it is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from pycc.pds.simulate import SimulationConfig, SimulationResult, simulate

#: VICIdial's adaptive methods as commonly set up: only waiting agents counted
#: (available_only_tally), the level cap raised to the best of 4, 5 and 6 for this scenario.
TUNED: Mapping[str, Any] = {"available_only_tally": True, "max_level": 5.0}

#: (label, mode, pacer parameters)
MODES: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    ("predictive", "predictive", {}),
    ("progressive 1:1", "progressive", {"ratio": 1.0}),
    ("preview", "preview", {}),
    ("RATIO 1.4", "ratio", {"level": 1.4}),
    ("RATIO 2.0", "ratio", {"level": 2.0}),
    ("ADAPT_HARD_LIMIT", "adapt_hard_limit", {}),
    ("ADAPT_TAPERED", "adapt_tapered", {}),
    ("ADAPT_AVERAGE", "adapt_average", {}),
    ("ADAPT_HARD_LIMIT, tuned", "adapt_hard_limit", TUNED),
    ("ADAPT_TAPERED, tuned", "adapt_tapered", TUNED),
    ("ADAPT_AVERAGE, tuned", "adapt_average", TUNED),
)


def run_one(job: tuple[str, SimulationConfig]) -> tuple[str, SimulationResult, float]:
    label, config = job
    started = time.perf_counter()
    result = simulate(config)
    return label, result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--answer-rate", type=float, default=0.25)
    parser.add_argument("--talk-mean", type=float, default=120.0)
    parser.add_argument("--wrapup", type=float, default=10.0)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--abandon-limit", type=float, default=0.03)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="also write every run's figures to this file")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    jobs = [
        (label, SimulationConfig(
            mode=mode, agents=args.agents, hours=args.hours, answer_rate=args.answer_rate,
            talk_mean=args.talk_mean, wrapup=args.wrapup, abandon_limit=args.abandon_limit,
            seed=seed, pacer_params=dict(params)))
        for label, mode, params in MODES for seed in seeds
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(run_one, jobs))
    elapsed = time.perf_counter() - started

    by_label: dict[str, list[SimulationResult]] = {}
    for label, result, _ in runs:
        by_label.setdefault(label, []).append(result)

    print(f"{args.agents} agents, answer rate {args.answer_rate:.0%}, talk {args.talk_mean:g} s "
          f"(lognormal), wrap-up {args.wrapup:g} s, {args.hours:g} h, limit "
          f"{args.abandon_limit:.0%}, seeds {args.seeds}: median (worst)\n")
    print("| mode | occupancy | abandoned / answered | worst 30-min window "
          "| connects / agent hour | answer-to-agent p95 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, _, _ in MODES:
        results = by_label[label]
        occupancy = [r.occupancy for r in results]
        abandon = [r.abandon_rate for r in results]
        window = [r.worst_window_abandon_rate or 0.0 for r in results]
        cph = [r.connects_per_agent_hour for r in results]
        p95 = [r.p95_answer_to_agent for r in results]
        print(f"| {label} | {statistics.median(occupancy):.1%} ({min(occupancy):.1%}) "
              f"| {statistics.median(abandon):.2%} ({max(abandon):.2%}) "
              f"| {statistics.median(window):.2%} ({max(window):.2%}) "
              f"| {statistics.median(cph):.1f} ({min(cph):.1f}) "
              f"| {statistics.median(p95):.2f} s ({max(p95):.2f} s) |")

    predictive = by_label["predictive"]
    met = all(r.occupancy >= 0.90 and r.abandon_rate <= args.abandon_limit for r in predictive)
    # The issue's target is stated for its scenario only (the defaults, any seeds and jobs).
    issue = (args.agents, args.answer_rate, args.talk_mean, args.wrapup, args.hours,
             args.abandon_limit) == (50, 0.25, 120.0, 10.0, 8.0, 0.03)
    verdict = ("met" if met else "NOT met") if issue else "not judged (not the issue's scenario)"
    print(f"\ntarget (predictive >= 90 % occupancy, abandonment <= {args.abandon_limit:.0%} "
          f"on every seed): {verdict}; {len(runs)} runs in {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump([{"label": label, "seconds": seconds, **result.to_dict()}
                       for label, result, seconds in runs], out, indent=1)
    sys.exit(1 if issue and not met else 0)


if __name__ == "__main__":
    main()
