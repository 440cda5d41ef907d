"""ACD decision time: 1,000 agents in 100 queues under a stream of call and agent events.

    python benchmarks/acd.py [--agents 1000] [--queues 100] [--calls 20000] [--load 0.95]
                             [--strategy longest-idle] [--seed 1]

A discrete-event simulation drives one `pycc.ccs.Distributor` on a simulated clock: callers
arrive (Poisson, sized to keep the agents ``--load`` busy), wait with limited patience (they
abandon), relaxing skill requirements, ring-no-answer (10 % of offers ring out), talk
(exponential, mean 180 s), wrap-up, agents taking breaks. Each call into the distributor is one
decision; the script prints p50/p99/max of its wall time and what happened to the calls. The
target is p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

from pycc.ccs import (
    CallBackThenOffer,
    CallLeftQueue,
    Decision,
    Distributor,
    OfferCall,
    OverflowKind,
    OverflowTarget,
    QueueConfig,
    RingAll,
    SkillSchedule,
)

TALK = 180.0
WRAP_UP = 10.0


def build(args: argparse.Namespace, rng: random.Random) -> Distributor:
    d = Distributor(rng=random.Random(args.seed), default_handle_time=TALK + WRAP_UP)
    for i in range(args.queues):
        skill = f"q{i}"
        d.add_queue(QueueConfig(
            f"queue{i}",
            SkillSchedule([(0, {skill: 6}), (20, {skill: 3}), (45, {skill: 1})]),
            strategy=args.strategy, ring_timeout=12, wrap_up=WRAP_UP, max_wait=240,
            max_size=60, overflow=OverflowTarget(OverflowKind.VOICEMAIL, skill),
        ))
    for a in range(args.agents):
        # Each agent serves a home queue and one or two others, at varied levels.
        home = a % args.queues
        skills = {f"q{home}": rng.randint(3, 10)}
        for _ in range(rng.randint(1, 2)):
            skills[f"q{rng.randrange(args.queues)}"] = rng.randint(1, 10)
        d.add_agent(f"agent{a}", skills)
    return d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--load", type=float, default=0.95)
    parser.add_argument("--strategy", default="longest-idle")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    d = build(args, rng)
    timings: list[float] = []
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    # (time, seq, action): the world's future events, merged with the distributor's timer.
    world: list[tuple[float, int, Callable[[float], None]]] = []
    seq = 0

    def at(t: float, action: Callable[[float], None]) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(world, (t, seq, action))

    def decide(kind: str, fn: Callable[[], list[Decision]]) -> None:
        start = time.perf_counter()
        out = fn()
        timings.append(time.perf_counter() - start)
        kinds[kind] += 1
        for dec in out:
            if isinstance(dec, OfferCall | CallBackThenOffer):
                offered(dec.call_id, dec.agent_id, dec_time)
            elif isinstance(dec, RingAll):
                for agent_id in dec.agent_ids:
                    offered(dec.call_id, agent_id, dec_time)
            elif isinstance(dec, CallLeftQueue):
                outcomes[dec.outcome.value] += 1

    def offered(call_id: str, agent_id: str, now: float) -> None:
        if rng.random() < 0.9:
            at(now + rng.uniform(1, 6), lambda t: answer(call_id, agent_id, t))
        # else the ring timeout in the distributor fires

    def answer(call_id: str, agent_id: str, now: float) -> None:
        agent = d.agents[agent_id]
        if agent.call_id != call_id or agent.state.value != "reserved":
            return
        decide("answered", lambda: d.answered(call_id, agent_id, now))
        at(now + rng.expovariate(1 / TALK), lambda t: decide(
            "call_ended", lambda: d.call_ended(agent_id, t)))

    def arrive(n: int, now: float) -> None:
        call_id = f"call{n}"
        queue = f"queue{rng.randrange(args.queues)}"
        decide("enqueued", lambda: d.on_call_enqueued(
            call_id, queue, now, priority=rng.choice((0, 0, 0, 1)),
            callback=rng.random() < 0.02))
        at(now + rng.expovariate(1 / 90.0), lambda t: give_up(call_id, t))
        if n + 1 < args.calls:
            at(now + rng.expovariate(rate), lambda t: arrive(n + 1, t))

    def give_up(call_id: str, now: float) -> None:
        call = d.call(call_id)
        if call is not None and not call.offered and not call.callback:
            decide("abandon", lambda: d.abandon(call_id, now))

    def agent_break(agent_id: str, now: float) -> None:
        decide("not_ready", lambda: d.set_not_ready(agent_id, "break", now))
        at(now + rng.uniform(60, 600), lambda t: decide(
            "available", lambda: d.set_available(agent_id, t)))
        at(now + rng.uniform(600, 3600), lambda t: agent_break(agent_id, t))

    def back_after_no_answer(now: float) -> None:
        # Agents set not ready by a ring timeout come back after a while.
        for agent in d.agents.values():
            if agent.not_ready_reason == "no-answer":
                aid = agent.agent_id
                decide("available", lambda aid=aid: d.set_available(aid, now))
        at(now + 30.0, back_after_no_answer)

    rate = args.load * args.agents / (TALK + WRAP_UP + 5.0)
    dec_time = 0.0
    for i, agent_id in enumerate(d.agents):
        decide("login", lambda a=agent_id, i=i: d.login(a, f"{10000 + i}", 0.0))
        at(rng.uniform(0, 1800), lambda t, a=agent_id: agent_break(a, t))
    at(0.0, lambda t: arrive(0, t))
    at(30.0, back_after_no_answer)
    wall = time.perf_counter()
    while world:
        timer = d.get_timer()
        if timer is not None and timer <= world[0][0]:
            dec_time = timer
            decide("tick", partial(d.tick, timer))
            continue
        dec_time, _, action = heapq.heappop(world)
        action(dec_time)
        if sum(outcomes.values()) >= args.calls:
            break
    wall = time.perf_counter() - wall
    timings.sort()

    def p(q: float) -> float:
        return timings[min(len(timings) - 1, int(q * len(timings)))] * 1e3

    print(f"{args.agents} agents, {args.queues} queues, strategy {args.strategy}, "
          f"{args.calls} calls over {dec_time / 3600:.1f} simulated hours")
    print(f"decisions: {len(timings)} ({', '.join(f'{k} {v}' for k, v in kinds.most_common())})")
    print(f"decision time: p50 {p(0.50):.3f} ms, p99 {p(0.99):.3f} ms, max {timings[-1] * 1e3:.3f}"
          f" ms, mean {statistics.fmean(timings) * 1e3:.3f} ms; wall {wall:.1f} s")
    print(f"calls: {dict(outcomes)}")
    snap = d.snapshot("queue0", dec_time)
    print(f"queue0: SL {snap.service_level}, abandon rate {snap.abandon_rate}, "
          f"handle time {snap.handle_time}")


if __name__ == "__main__":
    main()
