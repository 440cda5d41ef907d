"""``pycc.toml``'s plain settings must have the TOML type they are read as: a string where
true or false belongs (``record_calls = "no"``, which Python would take as true) or a
number in quotes is refused with the setting's name, before the switch starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from peers.pycc_server import with_settings
from pycc.config import ConfigError, SwitchConfig, load_config, write_initial_config

#: A wrong TOML value for each kind of setting, and the words of the error.
WRONG = {
    "bool": ('"no"', "expected true or false, not 'no'"),
    "int": ('"5060"', "expected a whole number, not '5060'"),
    "float": ("true", "expected a number, not True"),
    "str": ("7", "expected a string, not 7"),
    "int | None": ("1.5", "expected a whole number, not 1.5"),
    "str | None": ("[1]", "expected a string, not [1]"),
    "tuple[str, ...]": ('["MD5", 5]', "expected a list of strings, not ['MD5', 5]"),
}
PLAIN = sorted((f.name, str(f.type)) for f in SwitchConfig.__dataclass_fields__.values()
               if str(f.type) in WRONG and f.name != "data_dir")


def write(tmp_path: Path, line: str) -> None:
    write_initial_config(tmp_path)
    path = tmp_path / "pycc.toml"
    key = line.split(" = ", 1)[0]
    text = with_settings(path.read_text(encoding="utf-8"), {key: 0})
    path.write_text(text.replace(f"{key} = 0", line), encoding="utf-8")


def test_every_kind_of_setting_is_covered() -> None:
    assert {kind for _, kind in PLAIN} == set(WRONG)
    assert len(PLAIN) >= 35


@pytest.mark.parametrize(("name", "kind"), PLAIN)
def test_a_value_of_the_wrong_type_is_refused_with_its_name(
        tmp_path: Path, name: str, kind: str) -> None:
    value, words = WRONG[kind]
    ranged = {"opus_complexity": "a whole number from 0 to 10",
              "media_workers": "a whole number from -1 to 64",
              "register_workers": "a whole number from -1 to 1"}
    if name in ranged:
        words = words.replace("a whole number", ranged[name])
    if name == "media_priority":
        words = words.replace("a string", "normal, high or realtime")
    write(tmp_path, f"{name} = {value}")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'pycc.toml'}: {name}: {words}"


@pytest.mark.parametrize(("line", "expected"), [
    ("direct_media = true", ("direct_media", True)),
    ("rtp_timeout = 30", ("rtp_timeout", 30)),
    ("t1 = 0.25", ("t1", 0.25)),
    ('auth_algorithms = ["SHA-256", "MD5"]', ("auth_algorithms", ("SHA-256", "MD5"))),
    ("opus_complexity = 3", ("opus_complexity", 3)),
])
def test_values_of_the_right_type_are_read(
        tmp_path: Path, line: str, expected: tuple[str, object]) -> None:
    write(tmp_path, line)
    name, value = expected
    assert getattr(load_config(tmp_path), name) == value


def test_pycc_init_writes_direct_media_off(tmp_path: Path) -> None:
    write_initial_config(tmp_path)
    assert "\ndirect_media = false\n" in (tmp_path / "pycc.toml").read_text()
    assert load_config(tmp_path).direct_media is False
