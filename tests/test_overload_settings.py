"""The overload settings of ``pycc.toml`` (`pycc.switch.overload_config`): what ``pycc init``
writes, how they become the guard's limits, and the one-line error a bad one gets."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from pycc.config import ConfigError, SwitchConfig, load_config, write_initial_config
from pycc.sip.overload import OverloadConfig
from pycc.switch import Switch, overload_config


def test_pycc_init_writes_the_overload_defaults(tmp_path: Path) -> None:
    write_initial_config(tmp_path)
    assert "overload_backlog" in (tmp_path / "pycc.toml").read_text()
    written = overload_config(load_config(tmp_path))
    assert written == overload_config(SwitchConfig())
    assert written.max_backlog == 1024 * 1024 and written.max_calls == 0


def test_settings_become_the_guards_limits() -> None:
    config = overload_config(SwitchConfig(max_calls=40, max_call_rate=2.5,
                                          overload_backlog=0, overload_retry_after=9,
                                          overload_grace=0.5))
    assert config == OverloadConfig(max_calls=40, max_call_rate=2.5, max_backlog=0,
                                    retry_after=9, backlog_grace=0.5)
    assert overload_config(SwitchConfig()).backlog_grace == 0.5


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("max_calls", -1, "max_calls: expected 0 or a whole number above it, not -1"),
    ("max_calls", 2.5, "max_calls: expected 0 or a whole number above it, not 2.5"),
    ("max_call_rate", "fast", "max_call_rate: expected 0 or a number above it, not 'fast'"),
    ("max_call_rate", math.nan, "max_call_rate: expected 0 or a number above it, not nan"),
    ("max_call_rate", math.inf, "max_call_rate: expected 0 or a number above it, not inf"),
    ("overload_backlog", True, "overload_backlog: expected 0 or a whole number above it"),
    ("overload_retry_after", -5, "overload_retry_after: expected 0 or a whole number"),
    ("overload_grace", -0.5, "overload_grace: expected 0 or a number above it, not -0.5"),
    ("overload_grace", math.inf, "overload_grace: expected 0 or a number above it, not inf"),
])
def test_a_bad_setting_is_named(name: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        overload_config(SwitchConfig(**{name: value}))  # type: ignore[arg-type]
    assert str(caught.value).startswith(expected)


def test_a_bad_setting_stops_the_switch_before_it_starts(tmp_path: Path) -> None:
    async def main() -> None:
        async with Switch(SwitchConfig(data_dir=tmp_path, bind="127.0.0.1", sip_port=0,
                                       sips_port=-1, max_calls=-3)):
            pass

    with pytest.raises(ConfigError, match="max_calls: expected 0"):
        asyncio.run(main())
    assert not (tmp_path / "pycc.db").exists()  # nothing was opened
