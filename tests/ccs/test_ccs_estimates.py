"""Handle-time average, wait estimates, service level, abandon rate, snapshots."""

from __future__ import annotations

import pytest

from pycc.ccs import HandleTimeAverage, QueueStatistics, estimated_wait


def test_handle_time_is_an_exponentially_weighted_average() -> None:
    avg = HandleTimeAverage(weight=0.5, initial=100.0)
    assert avg.update(200) == 200.0  # a measurement replaces the configured guess
    assert avg.update(100) == 150.0
    assert avg.update(50) == 100.0
    assert avg.samples == 3
    with pytest.raises(ValueError):
        HandleTimeAverage(weight=0)


def test_estimated_wait() -> None:
    assert estimated_wait(1, 120.0, 4) == 30.0
    assert estimated_wait(6, 120.0, 4) == 180.0
    assert estimated_wait(1, None, 4) is None
    assert estimated_wait(1, 120.0, 0) is None


def test_service_level_abandon_rate_and_snapshot() -> None:
    stats = QueueStatistics(service_level_target=20)
    assert stats.service_level is None and stats.abandon_rate is None
    for waited in (5, 19, 20, 21, 90):
        stats.record_answered(waited)
    stats.record_abandoned(40)
    stats.record_overflowed(300)
    stats.record_abandoned(2)
    # 3 of 8 answered within 20 s; 2 of 8 abandoned.
    assert stats.service_level == 3 / 8 and stats.abandon_rate == 2 / 8
    stats.record_handled(180)
    snap = stats.snapshot("sales", 1000.0, [990.0, 900.0], agents_logged_in=5, agents_free=1)
    assert (snap.waiting, snap.longest_wait) == (2, 100.0)
    assert (snap.answered, snap.abandoned, snap.overflowed) == (5, 2, 1)
    assert snap.handle_time == 180.0 and snap.agents_logged_in == 5
    stats.reset()
    assert stats.total == 0
