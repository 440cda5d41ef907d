"""The alarm rules and their hysteresis (pure: readings and ``now`` in, changes out)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.oam.alarms import (
    AlarmBook,
    AlarmKind,
    CampaignReading,
    Hysteresis,
    Observation,
    Severity,
    abandon_rule,
    disk_rule,
    overload_rule,
    store_rule,
    trunk_rule,
)
from pycc.oam.health import MB, DiskReading, DiskThresholds, StoreReading, TrunkReading

RAISE, CLEAR = 0.8, 0.6


def observe(value: float) -> tuple[bool, bool]:
    """A threshold rule with a band: raise at RAISE and above, clear under CLEAR."""
    return value >= RAISE, value < CLEAR


values = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
steps = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


def feed(state: Hysteresis, series: list[tuple[float, float]]) -> list[int]:
    """Feed (time step, value) pairs; the indexes where the state changed."""
    now, changed = 0.0, []
    for index, (step, value) in enumerate(series):
        now += step
        if state.update(*observe(value), now):
            changed.append(index)
    return changed


# -- hysteresis --------------------------------------------------------------------------------


@given(st.lists(st.tuples(steps, st.floats(min_value=CLEAR, max_value=1.0)), max_size=60),
       st.booleans())
def test_a_value_that_never_falls_under_the_clear_threshold_changes_the_state_once_at_most(
        series: list[tuple[float, float]], active: bool) -> None:
    state = Hysteresis(active=active)
    changes = feed(state, series)
    assert len(changes) <= 1
    if changes:  # only ever raised, never cleared
        assert not active and state.active


@given(st.lists(st.tuples(steps, st.floats(min_value=0.0, max_value=RAISE,
                                             exclude_max=True)), max_size=60),
       st.booleans())
def test_a_value_that_never_reaches_the_raise_threshold_changes_the_state_once_at_most(
        series: list[tuple[float, float]], active: bool) -> None:
    state = Hysteresis(active=active)
    changes = feed(state, series)
    assert len(changes) <= 1
    if changes:  # only ever cleared, never raised
        assert active and not state.active


@given(st.lists(st.tuples(steps, values), max_size=80))
def test_without_delays_the_state_follows_the_last_value_outside_the_band(
        series: list[tuple[float, float]]) -> None:
    state, expected, now = Hysteresis(), False, 0.0
    for step, value in series:
        now += step
        changed = state.update(*observe(value), now)
        before = expected
        if value >= RAISE:
            expected = True
        elif value < CLEAR:
            expected = False
        assert state.active is expected
        assert changed is (before is not expected)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.floats(min_value=0.0, max_value=3.0), values), max_size=60),
       st.floats(min_value=0.0, max_value=5.0), st.floats(min_value=0.0, max_value=5.0))
def test_with_delays_a_change_comes_exactly_when_its_condition_has_held_long_enough(
        series: list[tuple[float, float]], raise_after: float, clear_after: float) -> None:
    state = Hysteresis(raise_after, clear_after)
    now, active = 0.0, False
    streak_start: float | None = None  # since when the condition toward a change held
    for step, value in series:
        now += step
        bad, good = observe(value)
        toward = good if active else bad
        streak_start = (now if streak_start is None else streak_start) if toward else None
        due = toward and streak_start is not None and \
            now - streak_start >= (clear_after if active else raise_after)
        assert state.update(bad, good, now) is due
        if due:
            active, streak_start = not active, None
        assert state.active is active


def test_a_clock_stepping_back_restarts_the_wait_rather_than_raising_early() -> None:
    state = Hysteresis(raise_after=10.0)
    assert not state.update(True, False, 100.0)
    assert not state.update(True, False, 50.0)  # stepped back: the wait starts again at 50
    assert not state.update(True, False, 59.0)
    assert state.update(True, False, 60.0)


def test_an_observation_cannot_be_bad_and_good_at_once() -> None:
    with pytest.raises(ValueError, match="trunk_down carrier"):
        Observation(AlarmKind.TRUNK_DOWN, "carrier", True, True, "")


# -- the rules ---------------------------------------------------------------------------------


def campaign(rate: float, answered: int = 50, *, running: bool = True,
             limit: float = 0.03) -> CampaignReading:
    return CampaignReading("spring", running, limit, rate, answered)


@pytest.mark.parametrize(
    ("rate", "bad", "good"),
    [
        (0.030, True, False),   # at the limit
        (0.024, True, False),   # 80 % of 3 %
        (0.0239, False, False),  # in the band: the alarm keeps its state
        (0.0181, False, False),  # just over 60 % of the limit: still in the band
        (0.0179, False, True),  # under 3/4 of the warning share: clears
        (0.0, False, True),
    ],
)
def test_abandonment_raises_at_80_percent_of_the_limit_and_clears_under_60(
        rate: float, bad: bool, good: bool) -> None:
    seen = abandon_rule(campaign(rate))
    assert (seen.bad, seen.good) == (bad, good)
    assert seen.kind is AlarmKind.ABANDON_NEAR_LIMIT and seen.subject == "spring"
    assert seen.value == pytest.approx(rate)
    assert "spring" in seen.message and "3.0%" in seen.message


def test_abandonment_needs_enough_answered_calls_and_a_running_campaign() -> None:
    few = abandon_rule(campaign(0.5, answered=9))
    assert not few.bad and not few.good  # 1 of 2 abandoned is noise: nothing changes
    assert abandon_rule(campaign(0.5, answered=10)).bad
    stopped = abandon_rule(campaign(0.5, running=False))
    assert not stopped.bad and stopped.good


def test_a_zero_abandon_limit_allows_no_abandonment() -> None:
    assert abandon_rule(campaign(0.01, limit=0.0)).bad
    assert abandon_rule(campaign(0.0, limit=0.0)).good


def test_the_warning_share_is_a_parameter() -> None:
    assert not abandon_rule(campaign(0.024), 0.9).bad
    assert abandon_rule(campaign(0.027), 0.9).bad


def disk(free_mb: float, total_mb: float = 100_000.0) -> DiskReading:
    return DiskReading("/data", 0.0, total=int(total_mb * MB), free=int(free_mb * MB))


@pytest.mark.parametrize(
    ("free_mb", "bad", "good"),
    [
        (9_999.0, True, False),   # under 10 %
        (10_000.0, False, False),  # at 10 %: not short, not yet clear of the band
        (12_499.0, False, False),
        (12_500.0, False, True),   # 12.5 %: clear
        (50_000.0, False, True),
    ],
)
def test_disk_by_share(free_mb: float, bad: bool, good: bool) -> None:
    seen = disk_rule(disk(free_mb), DiskThresholds(free_percent=10.0, free_mb=100.0))
    assert (seen.bad, seen.good) == (bad, good)
    assert "/data" in seen.message


def test_disk_by_megabytes_on_a_large_disk() -> None:
    thresholds = DiskThresholds(free_percent=1.0, free_mb=1024.0)
    big = 10_000_000.0  # 10 TB: 1 GB free is only 0.01 %
    assert disk_rule(disk(1000.0, big), thresholds).bad
    assert not disk_rule(disk(1200.0, big), thresholds).good  # in the band
    assert disk_rule(disk(200_000.0, big), thresholds).good


def test_an_unreadable_disk_keeps_the_alarm_as_it_is() -> None:
    seen = disk_rule(DiskReading("/data", 0.0, error="No such file or directory"),
                     DiskThresholds())
    assert not seen.bad and not seen.good
    assert "No such file" in seen.message


def test_trunk_and_store_rules() -> None:
    down = trunk_rule(TrunkReading("carrier", False, "no answer to OPTIONS"))
    assert down.bad and "carrier" in down.message and "no answer to OPTIONS" in down.message
    assert trunk_rule(TrunkReading("carrier", True)).good
    lost = store_rule(StoreReading(False, 0.0, error="no answer within 2 s"))
    assert lost.bad and "no answer within 2 s" in lost.message
    assert store_rule(StoreReading(True, 0.0, latency=0.001)).good


# -- the book ----------------------------------------------------------------------------------


def test_the_book_raises_and_clears_once_with_the_kind_s_severity() -> None:
    book = AlarmBook()
    down = trunk_rule(TrunkReading("carrier", False))
    first = book.evaluate([down], 10.0)
    assert [(c.raised, c.alarm.kind, c.alarm.severity) for c in first] == \
        [(True, AlarmKind.TRUNK_DOWN, Severity.MAJOR)]
    assert first[0].topic == "alarm.raised" and first[0].to_dict()["subject"] == "carrier"
    assert book.evaluate([down], 15.0) == []  # still down: no second alarm
    assert [a.subject for a in book.active()] == ["carrier"]
    cleared = book.evaluate([trunk_rule(TrunkReading("carrier", True))], 20.0)
    assert [(c.raised, c.topic, c.alarm.raised_at) for c in cleared] == \
        [(False, "alarm.cleared", 10.0)]
    assert "back in service" in cleared[0].alarm.message
    assert book.active() == []


def test_an_alarm_whose_subject_is_gone_clears_for_complete_kinds_only() -> None:
    book = AlarmBook()
    book.evaluate([trunk_rule(TrunkReading("old", False)),
                   store_rule(StoreReading(False, 0.0, error="x"))], 0.0)
    assert [a.kind for a in book.active()] == [AlarmKind.TRUNK_DOWN]  # the store waits 4 s
    changes = book.evaluate([], 5.0, complete=[AlarmKind.TRUNK_DOWN])
    assert [(c.raised, c.alarm.subject) for c in changes] == [(False, "old")]
    assert "no longer monitored" in changes[0].alarm.message
    # The store's observation was not part of this round, but its kind is not complete:
    # its wait goes on.
    raised = book.evaluate([store_rule(StoreReading(False, 6.0, error="x"))], 6.0)
    assert [(c.raised, c.alarm.kind, c.alarm.severity) for c in raised] == \
        [(True, AlarmKind.STORE_UNREACHABLE, Severity.CRITICAL)]


def test_one_failed_store_probe_is_not_an_alarm() -> None:
    book = AlarmBook()
    failed = store_rule(StoreReading(False, 0.0, error="timeout"))
    assert book.evaluate([failed], 0.0) == []
    assert book.evaluate([store_rule(StoreReading(True, 1.0))], 1.0) == []
    assert book.evaluate([failed], 5.0) == []
    assert [c.raised for c in book.evaluate([failed], 9.0)] == [True]


def test_abandonment_wavering_in_the_band_does_not_flap() -> None:
    book = AlarmBook()
    rates = [0.025, 0.023, 0.0245, 0.019, 0.026, 0.021, 0.0185]
    changes = [c for t, rate in enumerate(rates)
               for c in book.evaluate([abandon_rule(campaign(rate))], float(t))]
    assert [c.raised for c in changes] == [True]
    assert math.isclose(book.active()[0].value or 0.0, 0.025)


# -- overload ------------------------------------------------------------------------------


def test_overload_raises_on_new_refusals_and_clears_after_a_quiet_minute() -> None:
    book = AlarmBook()
    assert overload_rule(0, None) == Observation(
        AlarmKind.OVERLOADED, "calls", False, False, "0 new calls refused for load so far", 0)
    assert book.evaluate([overload_rule(0, None)], 0.0) == []
    raised = book.evaluate([overload_rule(7, 0)], 10.0)
    assert [(c.raised, c.alarm.kind, c.alarm.severity) for c in raised] == \
        [(True, AlarmKind.OVERLOADED, Severity.MAJOR)]
    assert "7 new calls refused with 503" in raised[0].alarm.message
    # Refusals stop: the alarm holds for a minute of quiet rounds, then clears once.
    assert book.evaluate([overload_rule(7, 7)], 20.0) == []
    assert book.evaluate([overload_rule(9, 7)], 40.0) == []  # a burst again: wait restarts
    assert book.evaluate([overload_rule(9, 9)], 50.0) == []
    assert book.evaluate([overload_rule(9, 9)], 100.0) == []
    cleared = book.evaluate([overload_rule(9, 9)], 110.0)
    assert [(c.raised, c.alarm.kind) for c in cleared] == [(False, AlarmKind.OVERLOADED)]
