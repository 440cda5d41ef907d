"""Skill levels and requirement schedules that relax with waiting time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.ccs import SkillError, SkillSchedule, qualifies, skill_levels, skill_score

SALES = SkillSchedule([(0, {"sales": 5}), (30, {"sales": 3}), (60, {"sales": 1})])


def test_levels_are_validated() -> None:
    assert skill_levels({"sales": 1, "support": 10}) == {"sales": 1, "support": 10}
    for bad in ({"sales": 0}, {"sales": 11}, {"sales": 2.5}, {"sales": True}, {"": 3},
                {"sales": "5"}):
        with pytest.raises(SkillError):
            skill_levels(bad)


def test_qualifies_and_score() -> None:
    agent = {"sales": 4, "french": 7}
    assert qualifies(agent, {"sales": 4})
    assert not qualifies(agent, {"sales": 5})
    assert not qualifies(agent, {"sales": 1, "support": 1})
    assert qualifies(agent, {})
    assert skill_score(agent, {"sales": 1, "french": 1, "support": 1}) == 11


@pytest.mark.parametrize(
    ("waited", "needs", "next_change"),
    [(0, {"sales": 5}, 30.0), (29.9, {"sales": 5}, 30.0), (30, {"sales": 3}, 60.0),
     (59, {"sales": 3}, 60.0), (60, {"sales": 1}, None), (1e6, {"sales": 1}, None)],
)
def test_requirements_relax_as_the_caller_waits(waited: float, needs: dict[str, int],
                                                 next_change: float | None) -> None:
    assert dict(SALES.needs_at(waited)) == needs
    assert SALES.next_change(waited) == next_change


def test_after_30_s_any_sales_agent_with_level_3_qualifies() -> None:
    level3 = {"sales": 3}
    assert not qualifies(level3, SALES.needs_at(10))
    assert qualifies(level3, SALES.needs_at(30))
    assert dict(SALES.final) == {"sales": 1} and SALES.names == {"sales"}


@pytest.mark.parametrize(
    "steps",
    [
        [(5, {"sales": 3})],                         # must start at 0
        [(0, {"sales": 3}), (0, {"sales": 2})],      # times must increase
        [(0, {"sales": 3}), (30, {"sales": 4})],     # later steps only relax
        [(0, {"sales": 3}), (30, {"support": 1})],   # ... and name no new skill
        [(-1, {"sales": 3})],
        [(0, {"sales": 0})],
    ],
)
def test_bad_schedules_are_refused(steps: list[tuple[float, dict[str, int]]]) -> None:
    with pytest.raises(SkillError):
        SkillSchedule(steps)


def test_an_empty_schedule_needs_nothing() -> None:
    none = SkillSchedule([])
    assert dict(none.needs_at(0)) == {} and none.next_change(0) is None
    assert dict(SkillSchedule.fixed({"support": 2}).needs_at(1e9)) == {"support": 2}


@given(st.lists(st.integers(1, 10), min_size=1, max_size=6, unique=True).map(sorted),
       st.floats(0, 500), st.floats(0, 500))
def test_the_set_of_qualified_agents_only_grows_with_waiting(
        levels: list[int], t1: float, t2: float) -> None:
    steps = [(i * 20.0, {"sales": lv}) for i, lv in enumerate(reversed(levels))]
    schedule = SkillSchedule(steps)
    early, late = sorted((t1, t2))
    for agent_level in range(1, 11):
        agent = {"sales": agent_level}
        if qualifies(agent, schedule.needs_at(early)):
            assert qualifies(agent, schedule.needs_at(late))
