"""Routing cost per call: a 10,000-rule dial plan (exact, prefix, pattern) and random lookups.

    python benchmarks/routing.py [--rules 10000] [--lookups 1000000] [--seed 1]

Builds a plan of exact numbers (extensions and DIDs), prefixes (country and area codes) and
Asterisk patterns (outside-line and feature-code shapes under many literal starts), plus a few
regexes, a time condition on some rules and a caller condition on others; then routes
``--lookups`` random called numbers (a mix that hits each kind and misses) and prints the
median and p99 time per decision (µs), measured one decision at a time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from array import array
from datetime import UTC, datetime

from pycc.routing import DialPlan, Queue, Rule, TimeCondition, Translation, Trunk

DIGITS = "0123456789"


def build_rules(count: int, rng: random.Random) -> tuple[list[Rule], list[str], list[str],
                                                         list[str]]:
    """The rules and, per kind, numbers that reach them."""
    office = TimeCondition.from_dict({"weekdays": "mon-fri", "hours": "08:00-18:00",
                                      "zone": "Europe/London"})
    strip = Translation.from_dict({"strip": 1})
    rules: list[Rule] = []
    exact: list[str] = []
    prefixed: list[str] = []
    patterned: list[str] = []
    n_exact, n_prefix = count // 2, count * 4 // 10
    n_pattern = count - n_exact - n_prefix
    seen: set[str] = set()
    while len(exact) < n_exact:
        number = "+44" + "".join(rng.choices(DIGITS, k=10)) if rng.random() < 0.7 else \
            str(rng.randrange(1000, 100000))
        if number in seen:
            continue
        seen.add(number)
        exact.append(number)
        rules.append(Rule(f"did-{len(exact)}", number, Queue("q" + number[-2:]),
                          time=office if rng.random() < 0.2 else None))
    while len(prefixed) < n_prefix:
        prefix = "+" + "".join(rng.choices(DIGITS, k=rng.randint(2, 7)))
        if "prefix:" + prefix in seen:
            continue
        seen.add("prefix:" + prefix)
        prefixed.append(prefix)
        rules.append(Rule(f"rate-{len(prefixed)}", "prefix:" + prefix, Trunk(("carrier",)),
                          match_caller="prefix:1" if rng.random() < 0.1 else None))
    shapes = ["NXXXXXX", "X.", "NXXNXXXXXX", "[1-5]XX", "Z!", "XXXX"]
    while len(patterned) < n_pattern:
        start = "".join(rng.choices(DIGITS, k=rng.randint(1, 4)))
        pattern = "_9" + start + rng.choice(shapes)
        if pattern in seen:
            continue
        seen.add(pattern)
        patterned.append(pattern)
        rules.append(Rule(f"out-{len(patterned)}", pattern, Trunk(("a", "b")), translate=strip))
    rules.append(Rule("us", r"re:^\+1(\d{10})$", Trunk(("us",))))
    rules.append(Rule("feature", r"re:^\*\d{2}$", Queue("features")))
    rules.append(Rule("default", "*", Queue("operator"), order=1))
    return rules, exact, prefixed, patterned


def sample_number(rng: random.Random, exact: list[str], prefixed: list[str],
                  patterned: list[str]) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(exact)
    if roll < 0.6:
        return rng.choice(prefixed) + "".join(rng.choices(DIGITS, k=rng.randint(0, 8)))
    if roll < 0.9:
        pattern = rng.choice(patterned)[1:]
        out = []
        for char in pattern.replace("[1-5]", "3"):
            if char in "X.":
                out.append(rng.choice(DIGITS))
            elif char in "NZ!":
                out.append(rng.choice("23456789"))
            else:
                out.append(char)
        return "".join(out)
    return "".join(rng.choices(DIGITS + "+*", k=rng.randint(3, 12)))  # mostly misses


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rules", type=int, default=10000)
    parser.add_argument("--lookups", type=int, default=1000000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rules, exact, prefixed, patterned = build_rules(args.rules, rng)
    started = time.perf_counter()
    plan = DialPlan(rules)
    built = time.perf_counter() - started
    calls = [(sample_number(rng, exact, prefixed, patterned),
              rng.choice(["1001", "+442079460018", "12125550123"]))
             for _ in range(args.lookups)]
    at = datetime(2025, 6, 3, 11, 0, tzinfo=UTC)
    route, clock = plan.route, time.perf_counter_ns
    costs = array("q")
    kinds: dict[str, int] = {}
    for called, caller in calls:
        before = clock()
        decision = route(called, caller, at, tenant_time_zone="Europe/London")
        costs.append(clock() - before)
        kind = decision.rule.split("-")[0] if decision is not None else "none"
        kinds[kind] = kinds.get(kind, 0) + 1
    ordered = sorted(costs)
    median = statistics.median(ordered) / 1000
    p99 = ordered[int(len(ordered) * 0.99)] / 1000
    print(f"{len(rules)} rules ({len(exact)} exact, {len(prefixed)} prefix, {len(patterned)} "
          f"pattern, 3 other), index built in {built * 1000:.0f} ms")
    print(f"{args.lookups} decisions: median {median:.2f} µs, p99 {p99:.2f} µs "
          f"(mean {sum(costs) / len(costs) / 1000:.2f} µs)")
    print("decided by: " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))


if __name__ == "__main__":
    main()
