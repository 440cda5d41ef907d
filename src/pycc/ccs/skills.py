"""Skills: agents' skill levels and queues' requirements that relax as the caller waits.

An agent has skills with levels 1 (novice) to 10 (expert). A queue requires skills with minimum
levels, given as a schedule of steps ``[(0, {"sales": 5}), (30, {"sales": 3}), (60, {"sales":
1})]``: a caller who has waited 30 s may be served by any agent with sales >= 3. Later steps may
only relax earlier ones (fewer skills, lower levels), so the last step says who could ever serve
the queue. Bad definitions raise `SkillError` (a `ValueError`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "MAX_LEVEL",
    "MIN_LEVEL",
    "SkillError",
    "SkillSchedule",
    "qualifies",
    "skill_levels",
    "skill_score",
]

MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 10
#: A waiting time this close below a step counts as reaching it: ``(t + 20.0) - t`` can come out
#: as 19.999999999999996, and a relaxation timer set for the step must see the step in force.
_TOLERANCE: Final = 1e-6


class SkillError(ValueError):
    """A skill map or requirement schedule that cannot be used."""


def skill_levels(raw: Mapping[str, object]) -> dict[str, int]:
    """A validated copy of ``{skill: level}``; levels are whole numbers 1-10."""
    levels: dict[str, int] = {}
    for name, level in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise SkillError(f"skill name must be a non-empty string, not {name!r}")
        # bool is an int subclass; True is no skill level.
        if isinstance(level, bool) or not isinstance(level, int):
            raise SkillError(f"level of {name!r} must be a whole number, not {level!r}")
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise SkillError(f"level of {name!r} must be {MIN_LEVEL}-{MAX_LEVEL}, not {level}")
        levels[name] = level
    return levels


def qualifies(skills: Mapping[str, int], needs: Mapping[str, int]) -> bool:
    """Whether an agent with ``skills`` meets every minimum level in ``needs``."""
    # A plain loop: this runs for every candidate of every match, and all() over a generator
    # costs a frame per call.
    for name, level in needs.items():  # noqa: SIM110
        if skills.get(name, 0) < level:
            return False
    return True


def skill_score(skills: Mapping[str, int], needs: Mapping[str, int]) -> int:
    """How well an agent fits: the sum of its levels in the skills the call needs."""
    return sum(skills.get(name, 0) for name in needs)


class SkillSchedule:
    """A queue's requirements over waiting time; `needs_at` gives the step in force."""

    __slots__ = ("_afters", "_needs", "names")

    def __init__(self, steps: Iterable[tuple[float, Mapping[str, object]]]) -> None:
        afters: list[float] = []
        needs: list[Mapping[str, int]] = []
        for after, raw in steps:
            if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
                raise SkillError(f"step time must be seconds >= 0, not {after!r}")
            levels = skill_levels(raw)
            if afters and after <= afters[-1]:
                raise SkillError(f"step times must increase: {after} after {afters[-1]}")
            if needs:
                before = needs[-1]
                stricter = [n for n, lv in levels.items() if before.get(n, 0) < lv]
                if stricter:
                    raise SkillError(f"step at {after} s is stricter than the one before "
                                     f"in {', '.join(sorted(stricter))}")
            afters.append(float(after))
            needs.append(MappingProxyType(levels))
        if not afters:
            afters, needs = [0.0], [MappingProxyType({})]
        if afters[0] != 0.0:
            raise SkillError(f"the first step must start at 0 s, not {afters[0]}")
        self._afters = tuple(afters)
        self._needs = tuple(needs)
        #: Every skill some step names (the first step names them all).
        self.names: frozenset[str] = frozenset(needs[0])

    @classmethod
    def fixed(cls, needs: Mapping[str, object]) -> SkillSchedule:
        """One requirement that never relaxes."""
        return cls([(0.0, needs)])

    @property
    def steps(self) -> tuple[tuple[float, Mapping[str, int]], ...]:
        return tuple(zip(self._afters, self._needs, strict=True))

    @property
    def final(self) -> Mapping[str, int]:
        """The most relaxed requirement: whoever meets it may serve the queue eventually."""
        return self._needs[-1]

    def needs_at(self, waited: float) -> Mapping[str, int]:
        """The requirement for a caller who has waited ``waited`` seconds."""
        return self._needs[max(0, bisect_right(self._afters, waited + _TOLERANCE) - 1)]

    def next_change(self, waited: float) -> float | None:
        """The waiting time at which the requirement next relaxes, if it still will."""
        i = bisect_right(self._afters, waited + _TOLERANCE)
        return self._afters[i] if i < len(self._afters) else None

    def __repr__(self) -> str:
        return f"SkillSchedule({[(a, dict(n)) for a, n in self.steps]!r})"
