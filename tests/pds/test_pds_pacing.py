"""Pacers: the state they read, the simple modes' arithmetic, VICIdial's level rules on scripted
drop rates, the predictive pacer's reactions, bounds for any valid state, and the registry."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.pds.pacing import (
    PACERS,
    AdaptivePacer,
    DialerState,
    Pacer,
    PacerParameterError,
    PredictivePacer,
    PreviewPacer,
    ProgressivePacer,
    RatioPacer,
    dial_level,
    make_pacer,
)
from pycc.pds.stats import DialerStats


def state(**kwargs: object) -> DialerState:
    values: dict[str, object] = {"agents_logged_in": 10, "agents_idle": 10}
    values.update(kwargs)
    return DialerState(**values)  # type: ignore[arg-type]


def stats_with(answered: int, dialed: int, abandoned: int = 0, at: float = 0.0,
               **kwargs: float) -> DialerStats:
    """Stats that saw ``dialed`` attempts, ``answered`` of them by a person, ``abandoned`` of
    those dropped, all resolved by ``at + 30``."""
    stats = DialerStats(**kwargs)  # type: ignore[arg-type]
    events: list[tuple[float, int, float]] = []
    for i in range(dialed):
        t = at + i * 0.01
        events.append((t, 0, 0.0))
        # Answers spread evenly over the attempts, so the weighted rate is the plain share.
        hit = (i + 1) * answered // dialed > i * answered // dialed
        events.append((t + (5.0 if hit else 25.0), 1 if hit else 2, 5.0 if hit else 25.0))
    for i in range(abandoned):
        events.append((at + 6.0 + i * 0.01, 3, 0.0))
    for t, kind, seconds in sorted(events):
        if kind == 0:
            stats.record_dialed(t)
        elif kind == 1:
            stats.record_answered(t, seconds)
        elif kind == 2:
            stats.record_no_answer(t, seconds)
        else:
            stats.record_abandoned(t)
    stats.tick(at + dialed * 0.01 + 30.0)
    return stats


# -- the state ------------------------------------------------------------------------------------


def test_state_counts_come_from_the_tuples() -> None:
    s = state(agents_logged_in=12, agents_idle=3, wrapup_remaining=(2.0, 5.0),
              talk_elapsed=(10.0, 20.0, 30.0), ring_elapsed=(1.0,) * 7)
    assert (s.agents_in_wrapup, s.agents_on_call, s.calls_in_flight) == (2, 3, 7)
    assert s.agents_paused == 4


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"agents_idle": -1}, "agents_idle"),
        ({"agents_idle": 11}, "agents_logged_in"),
        ({"talk_elapsed": (1.0, -2.0)}, r"talk_elapsed\[1\]"),
        ({"ring_elapsed": (math.nan,)}, r"ring_elapsed\[0\]"),
        ({"wrapup_remaining": [1.0]}, "wrapup_remaining"),
        ({"abandon_limit": 1.0}, "abandon_limit"),
        ({"calls_waiting": 1.5}, "calls_waiting"),
        ({"contacts_available": -3}, "contacts_available"),
        ({"shift_end": math.inf}, "shift_end"),
    ],
)
def test_bad_state_names_the_field(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        state(**kwargs)


# -- simple modes ---------------------------------------------------------------------------------


def test_preview_never_dials() -> None:
    assert PreviewPacer().decide(state(), DialerStats(), 0.0) == 0


@pytest.mark.parametrize(
    ("ratio", "idle", "flying", "expected"),
    [(1.0, 4, 0, 4), (1.0, 4, 3, 1), (1.0, 2, 5, 0), (2.5, 3, 2, 5), (1.5, 1, 0, 1)],
)
def test_progressive_arithmetic(ratio: float, idle: int, flying: int, expected: int) -> None:
    s = state(agents_idle=idle, ring_elapsed=(3.0,) * flying)
    assert ProgressivePacer(ratio).decide(s, DialerStats(), 0.0) == expected


def test_caps_from_contacts_and_lines() -> None:
    pacer = ProgressivePacer(3.0)
    assert pacer.decide(state(contacts_available=4), DialerStats(), 0.0) == 4
    assert pacer.decide(state(max_lines=12, ring_elapsed=(1.0,) * 5), DialerStats(), 0.0) == 7
    assert pacer.decide(state(agents_logged_in=0, agents_idle=0), DialerStats(), 0.0) == 0


def test_ratio_counts_talking_agents_and_their_calls() -> None:
    s = state(agents_logged_in=10, agents_idle=3, talk_elapsed=(50.0,) * 5,
              ring_elapsed=(2.0,) * 4)
    # level x (idle + talking) minus (ringing + talking), as VICIdial counts lines.
    assert RatioPacer(2.0).decide(s, DialerStats(), 0.0) == round(2.0 * 8) - (4 + 5)
    assert RatioPacer(2.0, available_only_tally=True).decide(s, DialerStats(), 0.0) == 2 * 3 - 4
    assert RatioPacer(1.0).decide(s, DialerStats(), 0.0) == 0


# -- VICIdial's adaptive methods ------------------------------------------------------------------


def adapt(method: str, now: float, s: DialerState, stats: DialerStats, **kwargs: object
          ) -> AdaptivePacer:
    """A pacer that sampled ``s`` for its first 15 seconds and then adjusted once."""
    pacer = AdaptivePacer(method, **kwargs)  # type: ignore[arg-type]
    pacer.decide(s, stats, now)
    pacer.decide(s, stats, now + 15.0)
    return pacer


def test_adapt_raises_the_level_by_the_share_of_waiting_agents() -> None:
    s = state(agents_logged_in=20, agents_idle=5, talk_elapsed=(30.0,) * 15)
    pacer = adapt("adapt_hard_limit", 100.0, s, DialerStats())
    assert pacer.level == pytest.approx(1.0 * (1 + 5 / 20))
    eager = adapt("adapt_hard_limit", 100.0, s, DialerStats(), intensity=40)
    assert eager.level == pytest.approx(1.0 * (1 + 5 / 20 * 1.4))
    capped = adapt("adapt_hard_limit", 100.0, state(), DialerStats(), max_level=1.5)
    assert capped.level == 1.5


def test_adapt_lowers_the_level_when_calls_wait_for_agents() -> None:
    s = state(agents_logged_in=10, agents_idle=0, talk_elapsed=(30.0,) * 10, calls_waiting=2)
    pacer = adapt("adapt_average", 0.0, s, DialerStats(), initial_level=2.0)
    assert pacer.level == pytest.approx(2.0 * (1 - 2 / 10))
    # A difference target of +2 means two waiting calls are the aim: no change.
    aimed = adapt("adapt_average", 0.0, s, DialerStats(), initial_level=2.0, dl_diff_target=2)
    assert aimed.level == pytest.approx(2.0)


BUSY = {"agents_logged_in": 10, "agents_idle": 0, "talk_elapsed": (30.0,) * 10}


@pytest.mark.parametrize(
    ("method", "expected"),
    [("adapt_hard_limit", 1.0), ("adapt_average", 1.2), ("adapt_tapered", 2.4 * 0.5)],
)
def test_over_the_limit_today_each_method_cuts_its_own_way(method: str, expected: float) -> None:
    stats = stats_with(answered=40, dialed=100, abandoned=4, at=0.0)  # 10 % of answered
    now = 400.0
    s = state(**BUSY, shift_end=now + 15 + 5 * 3600.0)  # tapered: 5 h left of a 10 h taper
    pacer = adapt(method, now, s, stats, initial_level=2.4)
    assert pacer.level == pytest.approx(expected)


def test_under_the_limit_nothing_is_cut() -> None:
    stats = stats_with(answered=100, dialed=300, abandoned=2, at=0.0)  # 2 %
    for method in ("adapt_hard_limit", "adapt_average", "adapt_tapered"):
        pacer = adapt(method, 400.0, state(**BUSY, shift_end=10_000.0), stats, initial_level=2.4)
        assert pacer.level == pytest.approx(2.4)


def test_tapered_is_lenient_early_and_hard_at_the_end() -> None:
    stats = stats_with(answered=40, dialed=100, abandoned=4, at=0.0)
    early = adapt("adapt_tapered", 400.0, state(**BUSY, shift_end=400.0 + 12 * 3600.0), stats,
                  initial_level=2.4)
    assert early.level == pytest.approx(2.4)
    late = adapt("adapt_tapered", 400.0, state(**BUSY, shift_end=300.0), stats,
                 initial_level=2.4)
    assert late.level == 1.0


def test_few_calls_today_do_not_trigger_the_drop_rules() -> None:
    stats = stats_with(answered=20, dialed=40, abandoned=10, at=0.0)  # 50 %, but 40 calls
    pacer = adapt("adapt_hard_limit", 400.0, state(**BUSY), stats, initial_level=2.4)
    assert pacer.level == pytest.approx(2.4)


def test_half_of_the_last_minute_dropped_halves_the_level() -> None:
    stats = stats_with(answered=30, dialed=30, abandoned=20, at=0.0,
                       window=1800.0)  # 30 calls in the last minute, 20 dropped
    pacer = AdaptivePacer("adapt_average", initial_level=3.0, min_calls_today=1000)
    pacer.decide(state(**BUSY), stats, 30.0)
    pacer.decide(state(**BUSY), stats, 45.0)
    assert pacer.level == pytest.approx(1.5)


def test_the_level_never_goes_under_one() -> None:
    stats = stats_with(answered=40, dialed=100, abandoned=30)
    pacer = adapt("adapt_average", 400.0, state(**BUSY), stats, initial_level=1.0)
    assert pacer.level == 1.0


# -- the predictive pacer -------------------------------------------------------------------------


def test_predictive_never_dials_without_agents() -> None:
    pacer = PredictivePacer()
    assert pacer.decide(state(agents_logged_in=0, agents_idle=0), DialerStats(), 0.0) == 0
    # Logged in but every one paused.
    assert pacer.decide(state(agents_logged_in=5, agents_idle=0), DialerStats(), 0.0) == 0


def test_predictive_dials_for_idle_agents_and_stops_when_enough_ring() -> None:
    pacer = PredictivePacer()
    stats = stats_with(answered=50, dialed=200, at=0.0)
    fresh = pacer.decide(state(agents_idle=10), stats, 100.0)
    assert fresh > 10  # a quarter answer: more lines than agents
    assert pacer.decide(state(agents_idle=10, ring_elapsed=(1.0,) * 200), stats, 100.0) == 0


def test_predictive_dials_more_when_the_answer_rate_is_low() -> None:
    pacer = PredictivePacer()
    s = state(agents_idle=4, talk_elapsed=(60.0,) * 6)
    low = pacer.decide(s, stats_with(answered=20, dialed=200), 100.0)
    high = pacer.decide(s, stats_with(answered=80, dialed=200), 100.0)
    assert low > high > 0


def test_predictive_dials_less_as_abandonment_nears_the_limit() -> None:
    pacer = PredictivePacer()
    s = state(agents_idle=3, talk_elapsed=(100.0,) * 7, abandon_limit=0.03)
    calm = pacer.decide(s, stats_with(answered=400, dialed=1600, abandoned=0), 100.0)
    close = pacer.decide(s, stats_with(answered=400, dialed=1600, abandoned=11), 100.0)
    over = pacer.decide(s, stats_with(answered=400, dialed=1600, abandoned=20), 100.0)
    assert calm > close >= over


def test_predictive_counts_agents_about_to_be_free() -> None:
    pacer = PredictivePacer()
    stats = stats_with(answered=50, dialed=200)
    busy = state(agents_idle=0, talk_elapsed=(5.0,) * 10)
    ending = state(agents_idle=0, wrapup_remaining=(1.0,) * 5, talk_elapsed=(5.0,) * 5)
    assert pacer.decide(ending, stats, 100.0) > pacer.decide(busy, stats, 100.0)


@st.composite
def valid_states(draw: st.DrawFn) -> DialerState:
    logged_in = draw(st.integers(0, 60))
    idle = draw(st.integers(0, logged_in))
    wrap = draw(st.integers(0, logged_in - idle))
    talking = draw(st.integers(0, logged_in - idle - wrap))
    seconds = st.floats(0.0, 5000.0, allow_nan=False)
    return DialerState(
        agents_logged_in=logged_in,
        agents_idle=idle,
        wrapup_remaining=tuple(draw(st.lists(seconds, min_size=wrap, max_size=wrap))),
        talk_elapsed=tuple(draw(st.lists(seconds, min_size=talking, max_size=talking))),
        ring_elapsed=tuple(draw(st.lists(st.floats(0.0, 120.0), max_size=80))),
        calls_waiting=draw(st.integers(0, 5)),
        abandon_limit=draw(st.floats(0.0, 0.2)),
        shift_end=draw(st.none() | st.floats(-1e5, 1e5)),
        contacts_available=draw(st.none() | st.integers(0, 1000)),
    )


@st.composite
def some_stats(draw: st.DrawFn) -> DialerStats:
    dialed = draw(st.integers(0, 300))
    answered = draw(st.integers(0, dialed))
    abandoned = draw(st.integers(0, answered))
    return stats_with(answered, dialed, abandoned)


@settings(max_examples=150, deadline=None)
@given(s=valid_states(), stats=some_stats(), mode=st.sampled_from(sorted(PACERS)))
def test_no_pacer_returns_a_negative_or_absurd_number(
    s: DialerState, stats: DialerStats, mode: str
) -> None:
    pacer = make_pacer(mode)
    now = (stats.now or 0.0) + 1.0
    for step in range(3):  # the adaptive ones change their level as time passes
        lines = pacer.decide(s, stats, now + 20.0 * step)
        assert isinstance(lines, int)
        assert 0 <= lines <= 50 * s.agents_logged_in
        if s.contacts_available is not None:
            assert lines <= s.contacts_available


# -- the registry ---------------------------------------------------------------------------------


def test_every_mode_builds_a_pacer_with_its_defaults() -> None:
    for mode in PACERS:
        pacer = make_pacer(mode)
        assert isinstance(pacer, Pacer)
        assert pacer.mode == mode


def test_mode_names_ignore_case_and_dashes() -> None:
    pacer = make_pacer("ADAPT-HARD-LIMIT", max_level=2.0)
    assert isinstance(pacer, AdaptivePacer)
    assert pacer.mode == "adapt_hard_limit"


@pytest.mark.parametrize(
    ("mode", "params", "name"),
    [
        ("turbo", {}, "mode"),
        ("progressive", {"level": 2.0}, "level"),
        ("ratio", {"level": -1.0}, "level"),
        ("ratio", {"level": "fast"}, "level"),
        ("predictive", {"safety": 2.0}, "safety"),
        ("adapt_tapered", {"initial_level": 5.0}, "initial_level"),
        ("adapt_average", {"available_only_tally": "yes"}, "available_only_tally"),
        ("adapt_average", {"method": "adapt_hard_limit"}, "method"),
    ],
)
def test_bad_modes_and_parameters_are_named(mode: str, params: dict[str, object],
                                            name: str) -> None:
    with pytest.raises(PacerParameterError) as caught:
        make_pacer(mode, **params)
    assert caught.value.parameter == name
    assert str(caught.value).startswith(f"{name}:")


def test_the_dial_level_reported_is_the_one_in_use() -> None:
    assert dial_level(RatioPacer(level=2.5)) == 2.5
    assert dial_level(ProgressivePacer(ratio=1.5)) == 1.5
    assert dial_level(PreviewPacer()) is None
    assert dial_level(PredictivePacer()) is None
    # An adaptive pacer's level moves, and the report follows it.
    stats = stats_with(answered=30, dialed=30, abandoned=20, at=0.0, window=1800.0)
    pacer = AdaptivePacer("adapt_average", initial_level=3.0, min_calls_today=1000)
    assert dial_level(pacer) == 3.0
    pacer.decide(state(**BUSY), stats, 30.0)
    pacer.decide(state(**BUSY), stats, 45.0)
    assert dial_level(pacer) == pytest.approx(1.5)
