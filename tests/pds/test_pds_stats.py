"""DialerStats: each figure from known outcome sequences, rolling windows, day resets, priors,
start-order learning, and clear errors for bad input."""

from __future__ import annotations

import math

import pytest

from pycc.pds.stats import DialerStats, EmpiricalDistribution, lognormal_quantiles


def resolved_rate(prior: float, weight: float, outcomes: list[float], horizon: int) -> float:
    """The reference running / exponentially weighted mean, written out independently."""
    value = prior
    for n, x in enumerate(outcomes, start=1):
        value += (x - value) / min(n + weight, horizon)
    return value


def test_priors_before_any_data() -> None:
    stats = DialerStats(prior_answer_rate=0.3, prior_answer_delay=9.0, prior_talk=100.0,
                        prior_wrapup=7.0)
    assert stats.answer_rate == 0.3
    assert stats.answer_delay == pytest.approx(9.0, rel=0.05)
    assert stats.talk_time == pytest.approx(100.0, rel=0.05)
    assert stats.wrapup_time == 7.0
    assert stats.handle_time == pytest.approx(stats.talk_time + 7.0)
    assert stats.abandon_rate_window == 0.0
    assert stats.abandon_rate_day == 0.0


def feed(stats: DialerStats, events: list[tuple[float, str, float]]) -> None:
    """Play (time, kind, seconds) events in time order, as a live campaign would."""
    for now, kind, seconds in sorted(events):
        if kind == "dialed":
            stats.record_dialed(now)
        elif kind == "answered":
            stats.record_answered(now, seconds)
        elif kind == "busy":
            stats.record_busy(now, seconds)
        elif kind == "machine":
            stats.record_machine(now, seconds)
        elif kind == "abandoned":
            stats.record_abandoned(now)
        else:
            stats.record_no_answer(now, seconds)


def test_answer_rate_from_a_known_sequence() -> None:
    stats = DialerStats(prior_answer_rate=0.25, ewma_calls=200)
    outcomes: list[float] = []
    events: list[tuple[float, str, float]] = []
    for i in range(100):
        events.append((float(i), "dialed", 0.0))
        if i % 5 == 0:
            events.append((i + 4.0, "answered", 4.0))
            outcomes.append(1.0)
        else:
            events.append((i + 20.0, "no_answer", 20.0))
            outcomes.append(0.0)
    feed(stats, events)
    stats.tick(200.0)
    assert stats.answer_rate == pytest.approx(resolved_rate(0.25, 10.0, outcomes, 200))
    assert stats.answer_rate == pytest.approx((0.25 * 10 + 20) / 110)
    assert stats.answer_rate_weight == 110


def test_answer_rate_turns_exponentially_weighted() -> None:
    stats = DialerStats(prior_answer_rate=0.5, ewma_calls=50)
    outcomes = [0.0] * 300 + [1.0] * 50
    events: list[tuple[float, str, float]] = []
    for i, hit in enumerate(outcomes):
        events.append((float(i), "dialed", 0.0))
        events.append((i + 0.5, "answered" if hit else "busy", 0.5))
    feed(stats, events)
    expected = resolved_rate(0.5, 10.0, outcomes, 50)
    assert stats.answer_rate == pytest.approx(expected)
    # The last 50 calls answered: an old-style running mean would still say about 0.15.
    assert stats.answer_rate > 0.6


def test_outcomes_are_learned_in_dialing_order() -> None:
    stats = DialerStats(prior_answer_rate=0.25)
    stats.record_dialed(0.0)
    stats.record_dialed(1.0)
    # The second call is busy at once while the first still rings: no early lesson.
    stats.record_busy(2.0, 1.0)
    assert stats.answer_rate == 0.25
    stats.record_answered(6.0, 6.0)
    assert stats.answer_rate == pytest.approx((0.25 * 10 + 1) / 12)
    assert stats.answer_delays.count == 1
    assert stats.unanswered_durations.count == 1


def test_a_lost_outcome_stops_blocking_after_max_pending() -> None:
    stats = DialerStats(prior_answer_rate=0.25, max_pending=60.0)
    stats.record_dialed(0.0)  # never resolved
    stats.record_dialed(1.0)
    stats.record_answered(5.0, 4.0)
    assert stats.answer_rate == 0.25
    stats.tick(61.0)
    assert stats.answer_rate == pytest.approx((0.25 * 10 + 1) / 11)


def test_machine_rate_counts_every_resolved_attempt() -> None:
    stats = DialerStats(prior_machine_rate=0.0)
    events: list[tuple[float, str, float]] = []
    for i in range(40):
        events.append((float(i), "dialed", 0.0))
        if i % 4 == 0:
            events.append((i + 10.0, "machine", 10.0))
        else:
            events.append((i + 25.0, "no_answer", 25.0))
    feed(stats, events)
    stats.tick(100.0)
    outcomes = [1.0 if i % 4 == 0 else 0.0 for i in range(40)]
    assert stats.machine_rate == pytest.approx(resolved_rate(0.0, 10.0, outcomes, 200))
    assert stats.machines_today == 10
    assert stats.answer_rate < 0.25  # machines are not people


def test_answer_delay_and_talk_distributions_replace_the_prior() -> None:
    stats = DialerStats(prior_answer_delay=8.0, prior_talk=120.0, prior_wrapup=10.0)
    rings = [3.0 + (i % 7) for i in range(30)]
    for i, ring in enumerate(rings):
        t = 200.0 * i
        stats.record_dialed(t)
        stats.record_answered(t + ring, ring)
        stats.record_connected(t + ring)
        stats.record_handled(t + ring + 60.0 + i + 5.0, 60.0 + i, 5.0)
    assert stats.answer_delay == pytest.approx(sum(rings) / len(rings))
    talks = [60.0 + i for i in range(30)]
    assert stats.talk_time == pytest.approx(sum(talks) / len(talks))
    assert stats.wrapup_time == pytest.approx(resolved_rate(10.0, 3.0, [5.0] * 30, 200))
    assert stats.handle_time == pytest.approx(stats.talk_time + stats.wrapup_time)


def test_abandonment_over_the_window_and_the_day() -> None:
    stats = DialerStats(window=1800.0)
    feed(stats, [(6.0 * i, "answered", 5.0) for i in range(100)]
         + [(6.0 * i + 2.0, "abandoned", 0.0) for i in range(4)])
    stats.tick(1000.0)
    assert stats.abandon_rate_window == pytest.approx(0.04)
    assert stats.abandon_rate_day == pytest.approx(0.04)
    # 30 minutes after the abandoned calls, the window has forgotten them; the day has not.
    for i in range(50):
        stats.record_answered(1900.0 + i, 5.0)
    assert stats.abandoned_window == 0
    assert stats.abandon_rate_window == 0.0
    assert stats.answered_window == 50 + sum(1 for i in range(100) if 6.0 * i > 1949.0 - 1800)
    assert stats.abandon_rate_day == pytest.approx(4 / 150)


def test_recent_counts_over_the_last_minute() -> None:
    stats = DialerStats()
    for i in range(30):
        stats.record_dialed(float(i))
    for i in range(30, 90):
        stats.record_dialed(float(i))
    for i in range(10):
        stats.record_answered(80.0 + i, 5.0)
    stats.record_abandoned(89.5)
    last = stats.recent(60.0)
    assert last.dialed == sum(1 for i in range(90) if i > 89.5 - 60)
    assert last.answered == 10
    assert last.abandoned == 1
    assert last.abandon_rate == pytest.approx(0.1)
    assert last.drop_rate_of_dialed == pytest.approx(1 / last.dialed)


def test_a_new_day_resets_the_day_counters() -> None:
    stats = DialerStats(day_start=0.0, day_length=86400.0)
    stats.record_dialed(100.0)
    stats.record_answered(110.0, 10.0)
    stats.record_abandoned(112.0)
    assert (stats.dialed_today, stats.answered_today, stats.abandoned_today) == (1, 1, 1)
    stats.tick(86400.0 + 5.0)
    assert (stats.dialed_today, stats.answered_today, stats.abandoned_today) == (0, 0, 0)
    assert stats.abandon_rate_day == 0.0
    stats.record_answered(86410.0, 3.0)
    stats.start_day(86420.0)
    assert stats.answered_today == 0


def test_connected_wait_and_day_counts() -> None:
    stats = DialerStats()
    stats.record_connected(10.0, 0.2)
    stats.record_connected(11.0, 0.6)
    assert stats.connected_today == 2
    assert stats.mean_answer_to_agent == pytest.approx(0.4)
    stats.record_dialed(12.0)
    stats.record_busy(14.0, 2.0)
    stats.record_failed(15.0, 1.0)
    stats.record_no_answer(40.0, 25.0)
    assert (stats.busy_today, stats.failed_today, stats.no_answer_today) == (1, 1, 1)


def test_outcomes_recorded_with_a_stale_clock_still_match_their_start() -> None:
    stats = DialerStats(prior_answer_rate=0.25)
    stats.record_dialed(100.0)
    stats.tick(100.5)
    stats.record_dialed(100.2)  # read before something else ticked the stats
    stats.record_busy(103.2, 3.0)
    stats.record_answered(107.0, 7.0)
    assert stats.answer_rate == pytest.approx((0.25 * 10 + 1) / 12)


def test_a_clock_stepping_back_does_not_revive_expired_samples() -> None:
    stats = DialerStats(window=100.0)
    stats.record_answered(0.0, 1.0)
    stats.record_abandoned(0.0)
    stats.tick(500.0)
    stats.record_answered(400.0, 1.0)  # earlier than the last tick: counted at 500
    assert stats.now == 500.0
    assert stats.abandoned_window == 0
    assert stats.answered_window == 1


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda s: s.record_answered(1.0, -2.0), "ring_time"),
        (lambda s: s.record_no_answer(1.0, math.nan), "ring_time"),
        (lambda s: s.record_handled(1.0, -1.0, 0.0), "talk"),
        (lambda s: s.record_handled(1.0, 1.0, math.inf), "wrapup"),
        (lambda s: s.record_connected(1.0, -0.5), "wait"),
        (lambda s: s.record_dialed(math.nan), "now"),
        (lambda s: s.recent(0.0), "seconds"),
    ],
)
def test_bad_input_names_the_field(call: object, name: str) -> None:
    stats = DialerStats()
    with pytest.raises(ValueError, match=name):
        call(stats)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"window": 0.0}, "window"),
        ({"prior_answer_rate": 1.5}, "prior_answer_rate"),
        ({"prior_answer_rate": 0.8, "prior_machine_rate": 0.5}, "prior_machine_rate"),
        ({"prior_talk": -3.0}, "prior_talk"),
        ({"ewma_calls": 0}, "ewma_calls"),
        ({"day_length": math.nan}, "day_length"),
        ({"max_pending": 0.0}, "max_pending"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DialerStats(**kwargs)  # type: ignore[arg-type]


def test_empirical_distribution_survival_and_cdf() -> None:
    dist = EmpiricalDistribution(prior=[100.0], min_samples=0, capacity=4)
    for value in (1.0, 2.0, 3.0, 4.0):
        dist.add(value)
    assert list(dist.survival([0.5, 1.0, 2.5, 4.0])) == [1.0, 0.75, 0.5, 0.0]
    assert list(dist.cdf([2.0])) == [0.5]
    dist.add(10.0)  # the oldest sample leaves
    assert dist.count == 4
    assert dist.mean == pytest.approx((2 + 3 + 4 + 10) / 4)


def test_lognormal_quantiles_have_the_asked_mean() -> None:
    points = lognormal_quantiles(120.0, 0.8, points=400)
    assert sum(points) / len(points) == pytest.approx(120.0, rel=0.03)
    assert points == sorted(points)
    with pytest.raises(ValueError, match="mean"):
        lognormal_quantiles(0.0, 0.5)
