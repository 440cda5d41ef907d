"""``pycc campaign simulate``: run the dialer simulation and format what it produced.

`simulate_command` takes the command's options as plain values (the CLI layer parses them),
validates them, runs :func:`pycc.pds.simulate.simulate` and returns an exit code with the text
to print: one JSON object for ``--format json``, a short table for ``--format table``. A bad
option gives exit code 2 and one line naming it (``--answer-rate: must be between 0 and 1``).

Besides the fixed options, keyword options may carry any other `SimulationConfig` field
(``machine_rate``, ``busy_rate``, ``failed_rate``, ``answer_delay_mean``,
``answer_delay_sigma``, ``no_answer_timeout``, ``talk_sigma``, ``max_hold``, ``amd_delay``,
``busy_delay``, ``failed_delay``, ``contacts``), ``answer_delay`` as a short name for
``answer_delay_mean``, a parameter of the chosen dial mode by its name (``level=1.4`` for
``ratio``), ``pacer_params`` (a mapping) or ``param`` (``NAME=VALUE`` strings, for a repeatable
``--param`` option). None means "not given".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from pycc.pds.pacing import PACERS, mode_key, pacer_parameters
from pycc.pds.simulate import SimulationConfig, SimulationConfigError, simulate

__all__ = ["EXIT_BAD_OPTION", "simulate_command"]

EXIT_BAD_OPTION = 2

#: Extra keyword names that are shorter spellings of a configuration field.
_ALIASES = {"answer_delay": "answer_delay_mean"}

#: The table's rows: (label, key, format).
_TABLE = (
    ("mode", "mode", "{}"),
    ("agents", "agents", "{}"),
    ("hours", "hours", "{:g}"),
    ("seed", "seed", "{}"),
    ("dialed", "dialed", "{}"),
    ("answered", "answered", "{}"),
    ("connected", "connected", "{}"),
    ("abandoned", "abandoned", "{}"),
    ("abandon rate", "abandon_rate", "{:.2%}"),
    ("worst 30-min abandon rate", "worst_window_abandon_rate", "{:.2%}"),
    ("occupancy", "occupancy", "{:.1%}"),
    ("connects per agent hour", "connects_per_agent_hour", "{:.2f}"),
    ("answer to agent, mean (s)", "mean_answer_to_agent", "{:.3f}"),
    ("answer to agent, p95 (s)", "p95_answer_to_agent", "{:.3f}"),
    ("answering machines", "machines", "{}"),
    ("no answer", "no_answer", "{}"),
    ("busy", "busy", "{}"),
    ("failed", "failed", "{}"),
)


class _BadOption(Exception):
    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")


def _option(name: str) -> str:
    if name.startswith("pacer_params."):
        return f"--param {name.split('.', 1)[1]}"
    return "--" + name.replace("_", "-")


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _params_from_strings(items: Iterable[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise _BadOption("--param", f"expected NAME=VALUE, not {item!r}")
        params[name.strip().replace("-", "_")] = _parse_value(value)
    return params


def _build_config(
    mode: str, agents: int, answer_rate: float, talk_mean: float, wrapup: float, hours: float,
    abandon_limit: float, seed: int | None, more: Mapping[str, Any],
) -> SimulationConfig:
    values: dict[str, Any] = {
        "mode": mode, "agents": agents, "answer_rate": answer_rate, "talk_mean": talk_mean,
        "wrapup": wrapup, "hours": hours, "abandon_limit": abandon_limit, "seed": seed,
    }
    config_fields = {f.name for f in fields(SimulationConfig)} - {"pacer_params"}
    known_mode = isinstance(mode, str) and mode_key(mode) in PACERS
    mode_params = set(pacer_parameters(mode)) if known_mode else set()
    pacer_params: dict[str, Any] = {}
    for raw_name, value in more.items():
        if value is None:
            continue
        name = _ALIASES.get(raw_name, raw_name)
        if name == "pacer_params":
            if not isinstance(value, Mapping):
                raise _BadOption("--param", "must be a mapping of dial-mode parameters")
            pacer_params.update(value)
        elif name == "param":
            items = [value] if isinstance(value, str) else list(value)
            pacer_params.update(_params_from_strings(items))
        elif name in config_fields and name not in values:
            values[name] = value
        elif name in mode_params:
            pacer_params[name] = value
        else:
            raise _BadOption(_option(raw_name), "not an option of campaign simulate"
                             + (f" in {mode_key(mode)} mode" if known_mode else ""))
    return SimulationConfig(pacer_params=pacer_params, **values)


def _format_table(result: Mapping[str, Any]) -> str:
    rows = []
    for label, key, fmt in _TABLE:
        value = result.get(key)
        rows.append((label, "n/a" if value is None else fmt.format(value)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def simulate_command(
    mode: str,
    agents: int,
    answer_rate: float,
    talk_mean: float,
    wrapup: float,
    hours: float,
    abandon_limit: float,
    seed: int | None,
    fmt: str,
    **more: Any,
) -> tuple[int, str]:
    """Run one simulated shift; returns (exit code, text to print)."""
    if fmt not in ("json", "table"):
        return EXIT_BAD_OPTION, f"--format: must be json or table, not {fmt!r}"
    try:
        config = _build_config(
            mode, agents, answer_rate, talk_mean, wrapup, hours, abandon_limit, seed, more)
        result = simulate(config)
    except _BadOption as exc:
        return EXIT_BAD_OPTION, str(exc)
    except SimulationConfigError as exc:
        return EXIT_BAD_OPTION, f"{_option(exc.field)}: {exc.reason}"
    data = {key: _clean(value) for key, value in result.to_dict().items()}
    data["abandon_limit"] = config.abandon_limit
    if fmt == "json":
        return 0, json.dumps(data, sort_keys=False)
    return 0, _format_table(data)
