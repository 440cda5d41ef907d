"""The dialer's commands through the ``pycc`` command line: simulate's JSON contract, bad
options named, and campaign control without a running switch."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pycc.cli import app

runner = CliRunner()


def test_campaign_simulate_prints_one_json_object_with_the_contract_keys() -> None:
    done = runner.invoke(app, ["campaign", "simulate", "--mode", "progressive", "--agents",
                               "5", "--answer-rate", "0.3", "--talk-mean", "60", "--wrapup",
                               "5", "--hours", "0.5", "--abandon-limit", "0.03", "--seed",
                               "7", "--format", "json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    for key in ("dialed", "answered", "connected", "abandoned", "abandon_rate", "occupancy",
                "connects_per_agent_hour"):
        assert key in result, key
    assert result["connected"] + result["abandoned"] == result["answered"] - result["machines"]
    if result["answered"]:
        assert abs(result["abandon_rate"] - result["abandoned"] / result["answered"]) < 1e-6
    again = runner.invoke(app, ["campaign", "simulate", "--mode", "progressive", "--agents",
                                "5", "--answer-rate", "0.3", "--talk-mean", "60", "--wrapup",
                                "5", "--hours", "0.5", "--seed", "7", "--format", "json"])
    assert json.loads(again.output) == result  # same seed, same shift


def test_campaign_simulate_names_a_bad_option() -> None:
    done = runner.invoke(app, ["campaign", "simulate", "--mode", "warp", "--hours", "0.1"])
    assert done.exit_code == 2
    assert "--mode" in done.output
    done = runner.invoke(app, ["campaign", "simulate", "--agents", "-3", "--hours", "0.1"])
    assert done.exit_code == 2 and "--agents" in done.output


def test_campaign_control_without_a_switch_says_so(tmp_path: Path) -> None:
    done = runner.invoke(app, ["campaign", "start", "spring", "--data-dir", str(tmp_path)])
    assert done.exit_code == 1
    assert "no pycc is running" in done.output
