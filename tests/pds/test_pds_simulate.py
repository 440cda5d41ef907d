"""The dialer simulation and ``campaign simulate``: determinism, conservation of calls, the
customers' rules, predictive against progressive on a short shift, and bad options."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pycc.pds.pacing import PACERS
from pycc.pds.simulate import (
    SimulationConfig,
    SimulationConfigError,
    SimulationResult,
    simulate,
)
from pycc.pds.simulate_command import simulate_command

SHORT = SimulationConfig(agents=6, hours=0.25, seed=7, machine_rate=0.1, busy_rate=0.08,
                         failed_rate=0.04)


def assert_conserved(result: SimulationResult) -> None:
    # Every attempt ends one way; answered counts people only (machines apart), and each person
    # who answered either reached an agent or was abandoned.
    assert result.dialed == (result.answered + result.machines + result.busy + result.failed
                             + result.no_answer)
    assert result.answered == result.connected + result.abandoned
    if result.answered:
        assert result.abandon_rate == pytest.approx(result.abandoned / result.answered)
    assert 0.0 <= result.occupancy <= 1.0


def test_same_seed_same_shift() -> None:
    first = simulate(replace(SHORT, mode="predictive"))
    again = simulate(replace(SHORT, mode="predictive"))
    assert first == again
    other = simulate(replace(SHORT, mode="predictive", seed=8))
    assert other != first


@pytest.mark.parametrize("mode", sorted(PACERS))
def test_every_mode_conserves_calls(mode: str) -> None:
    result = simulate(replace(SHORT, mode=mode))
    assert result.mode == mode
    assert result.dialed > 0
    assert_conserved(result)
    assert result.connects_per_agent_hour == pytest.approx(
        result.connected / (SHORT.agents * SHORT.hours))


def test_preview_and_progressive_one_to_one_never_abandon() -> None:
    # One line per idle agent: every answer finds its agent.
    for mode in ("preview", "progressive"):
        result = simulate(replace(SHORT, mode=mode))
        assert result.abandoned == 0
        assert result.connected > 0
        assert result.mean_answer_to_agent == 0.0


def test_machines_are_never_connected() -> None:
    result = simulate(replace(SHORT, mode="progressive", answer_rate=0.0, machine_rate=0.5))
    assert result.machines > 0
    assert result.answered == result.connected == 0
    assert result.occupancy == 0.0


def test_the_contact_supply_runs_out() -> None:
    result = simulate(replace(SHORT, mode="predictive", contacts=40))
    assert result.dialed == 40
    assert_conserved(result)


def test_a_caller_never_waits_past_the_hold_limit() -> None:
    result = simulate(replace(SHORT, mode="ratio", pacer_params={"level": 4.0}, max_hold=2.0))
    assert result.abandoned > 0  # four lines per agent overflows
    assert result.p95_answer_to_agent <= 2.0
    assert result.mean_answer_to_agent <= 2.0


def test_predictive_beats_progressive_within_the_abandon_limit() -> None:
    base = SimulationConfig(agents=10, hours=1.0, answer_rate=0.25, talk_mean=120.0, wrapup=10.0,
                            abandon_limit=0.03)
    for seed in (1, 2):
        predictive = simulate(replace(base, mode="predictive", seed=seed))
        progressive = simulate(replace(base, mode="progressive", seed=seed))
        assert predictive.abandon_rate <= 0.03
        assert predictive.occupancy > progressive.occupancy + 0.1
        assert predictive.connects_per_agent_hour > progressive.connects_per_agent_hour
        assert_conserved(predictive)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"agents": 0}, "agents"),
        ({"answer_rate": 1.5}, "answer_rate"),
        ({"answer_rate": 0.7, "busy_rate": 0.4}, "answer_rate"),
        ({"no_answer_timeout": 10.0}, "no_answer_timeout"),
        ({"answer_delay_mean": 30.0, "no_answer_timeout": 20.0}, "answer_delay_mean"),
        ({"talk_mean": -5.0}, "talk_mean"),
        ({"hours": float("nan")}, "hours"),
        ({"seed": -1}, "seed"),
        ({"mode": "turbo"}, "mode"),
        ({"mode": "ratio", "pacer_params": {"level": 0.0}}, "pacer_params.level"),
        ({"mode": "ratio", "pacer_params": {"ratio": 2.0}}, "pacer_params.ratio"),
    ],
)
def test_bad_configuration_names_the_field(changes: dict[str, object], name: str) -> None:
    with pytest.raises(SimulationConfigError) as caught:
        simulate(replace(SHORT, **changes))  # type: ignore[arg-type]
    assert caught.value.field == name


# -- the command ----------------------------------------------------------------------------------

ISSUE_KEYS = ("dialed", "answered", "connected", "abandoned", "abandon_rate", "occupancy",
              "connects_per_agent_hour")


def run(**changes: object) -> tuple[int, str]:
    options: dict[str, object] = {
        "mode": "predictive", "agents": 5, "answer_rate": 0.25, "talk_mean": 120.0,
        "wrapup": 10.0, "hours": 0.2, "abandon_limit": 0.03, "seed": 3, "fmt": "json",
    }
    options.update(changes)
    return simulate_command(**options)  # type: ignore[arg-type]


def test_json_output_has_the_issue_keys_and_they_agree() -> None:
    code, text = run()
    assert code == 0
    data = json.loads(text)
    for key in ISSUE_KEYS:
        assert key in data
    assert data["answered"] == data["connected"] + data["abandoned"]
    assert data["abandon_rate"] == pytest.approx(data["abandoned"] / data["answered"], abs=1e-6)
    assert data["connects_per_agent_hour"] == pytest.approx(data["connected"] / (5 * 0.2),
                                                            abs=1e-6)
    assert data["mode"] == "predictive"
    assert data["seed"] == 3
    assert text.count("\n") == 0  # one JSON object on one line


def test_extra_options_reach_the_simulation_and_the_pacer() -> None:
    code, text = run(mode="ratio", level=1.2, machine_rate=0.2, answer_delay=6.0)
    assert code == 0
    assert json.loads(text)["machines"] > 0
    code, text = run(mode="progressive", param=["ratio=2"])
    assert code == 0
    assert json.loads(text)["dialed"] > json.loads(run(mode="progressive")[1])["dialed"]


def test_table_output() -> None:
    code, text = run(fmt="table")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["mode", "predictive"]
    assert any(line.startswith("occupancy") and line.rstrip().endswith("%") for line in lines)
    assert any(line.startswith("abandon rate") for line in lines)


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"answer_rate": 1.5}, "--answer-rate: must be between 0 and 1"),
        ({"agents": 0}, "--agents:"),
        ({"hours": -1.0}, "--hours:"),
        ({"abandon_limit": 2.0}, "--abandon-limit:"),
        ({"mode": "turbo"}, "--mode: unknown dial mode"),
        ({"fmt": "xml"}, "--format:"),
        ({"bogus": 1}, "--bogus:"),
        ({"mode": "ratio", "aggressiveness": 2.0}, "--aggressiveness:"),
        ({"mode": "ratio", "param": ["level=fast"]}, "--param level:"),
        ({"param": ["nonsense"]}, "--param:"),
        ({"no_answer_timeout": 5.0}, "--no-answer-timeout:"),
        ({"talk_mean": "long"}, "--talk-mean:"),
    ],
)
def test_bad_options_exit_2_naming_the_option(changes: dict[str, object], option: str) -> None:
    code, text = run(**changes)
    assert code == 2
    assert text.startswith(option)
    assert "\n" not in text
