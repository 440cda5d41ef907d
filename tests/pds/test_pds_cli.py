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


def test_campaign_callback_through_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "center.yaml").write_text(
        "tenant: default\nagents:\n  - {id: alice, extension: \"1001\", skills: {sales: 1}}\n"
        "queues:\n  - {name: sales, skill: sales}\ncampaigns:\n"
        "  - {name: spring, queue: sales, timezone: Europe/Paris}\n", encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(app, ["init", *data]).exit_code == 0
    done = runner.invoke(app, ["apply", str(tmp_path / "center.yaml"), *data])
    assert done.exit_code == 0, done.output
    (tmp_path / "c.csv").write_text("id,phone\nc1,+33145678901\n", encoding="utf-8")
    assert runner.invoke(app, ["campaign", "import", "spring", str(tmp_path / "c.csv"),
                               *data]).exit_code == 0
    done = runner.invoke(app, ["campaign", "callback", "spring", "c1", "--at",
                               "2099-01-02T10:30", "--agent", "alice", *data])
    assert done.exit_code == 0, done.output
    # Paris time: 10:30 on 2 January is 09:30 UTC.
    assert "2099-01-02T10:30:00+01:00" in done.output and "alice" in done.output
    done = runner.invoke(app, ["campaign", "callback", "spring", "c1", "--at", "+1h",
                               "--agent", "bob", *data])
    assert done.exit_code == 2 and "no agent 'bob'" in done.output
    done = runner.invoke(app, ["campaign", "callback", "spring", "c1", *data])
    assert done.exit_code == 2 and "--at" in done.output
