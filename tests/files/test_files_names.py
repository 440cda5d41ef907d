"""Names of stored files: prompt names and recording paths that could reach outside their
directory (``..``, absolute paths, NUL, backslashes, very long names) are refused naming the
field, and whatever is accepted stays inside the directory once resolved; the recording
name the B2BUA gives a call is rebuilt for calls a crash interrupted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.files.names import (
    PROMPT_NAME_MAX,
    FileNameError,
    check_prompt_name,
    check_relative_path,
    format_of,
    recording_candidates,
    recording_stem,
)
from pycc.files.storage import safe_path


@pytest.mark.parametrize("name", ["welcome.wav", "menu-1_en.ogg", "A.b.c.opus", "x.WAV"])
def test_plain_names_are_prompts(name: str) -> None:
    assert check_prompt_name(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("../etc/passwd.wav", "'/'"),
    ("..%2Fx.wav", "'..'"),
    ("x%2Fy.wav", "letters, digits"),
    ("/etc/passwd.wav", "'/'"),
    ("..", "'..'"),
    ("a..b.wav", "'..'"),
    ("bad\x00.wav", "NUL"),
    ("..\\..\\boot.wav", "backslash"),
    ("dir\\x.wav", "backslash"),
    (".hidden.wav", "starts with '.'"),
    ("x" * (PROMPT_NAME_MAX + 1) + ".wav", "longer than"),
    ("", "empty"),
    ("song.mp3", "must end in"),
    ("noext", "must end in"),
    ("sp ace.wav", "letters, digits"),
    ("caf\u00e9.wav", "letters, digits"),
])
def test_unsafe_prompt_names_are_refused_naming_the_field(name: str, why: str) -> None:
    with pytest.raises(FileNameError) as caught:
        check_prompt_name(name)
    assert caught.value.field == "path.name"
    assert why in caught.value.message


@pytest.mark.parametrize("path", ["2024-05-01/abc_host.wav", "x.ogg", "d/e/f..g.wav",
                                  "2024-05-01/.starts-with-dot.wav"])
def test_recording_paths_of_safe_segments_pass(path: str) -> None:
    assert check_relative_path(path) == path


@pytest.mark.parametrize("path", ["../x.wav", "a/../../x.wav", "/abs/x.wav", "a//b.wav",
                                  "a/./b.wav", "a\\b.wav", "a/b\x00.wav", "a/b.txt",
                                  "a/" * 300 + "b.wav"])
def test_unsafe_recording_paths_are_refused(path: str) -> None:
    with pytest.raises(FileNameError) as caught:
        check_relative_path(path, "recording")
    assert caught.value.field == "recording"


def test_safe_path_refuses_what_resolves_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "day").mkdir(parents=True)
    (tmp_path / "secret.wav").write_bytes(b"x")
    os.symlink(tmp_path / "secret.wav", root / "day" / "link.wav")
    assert safe_path(root, "day/a.wav") == (root / "day" / "a.wav").resolve()
    for bad in ("../secret.wav", "day/link.wav", str(tmp_path / "secret.wav"), "", ".",
                "a\x00b"):
        with pytest.raises(FileNameError):
            safe_path(root, bad)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_every_accepted_prompt_name_stays_in_its_directory(name: str) -> None:
    root = Path("/srv/pycc/prompts")
    try:
        check_prompt_name(name)
    except FileNameError as exc:
        assert exc.field == "path.name" and exc.message
        return
    joined = os.path.normpath(root / name)
    assert os.path.dirname(joined) == str(root)
    assert len(name) <= PROMPT_NAME_MAX and "/" not in name and ".." not in name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "a", "b.wav", "", "/", "\\", "x.ogg", "\x00"]),
                min_size=1, max_size=6).map("/".join))
def test_every_accepted_recording_path_stays_in_its_directory(path: str) -> None:
    root = "/srv/pycc/recordings"
    try:
        check_relative_path(path)
    except FileNameError:
        return
    assert os.path.normpath(os.path.join(root, path)).startswith(root + "/")


def test_formats_from_suffixes() -> None:
    assert [format_of(n) for n in ("a.wav", "b.OGG", "c.opus")] == ["wav", "ogg", "ogg"]
    with pytest.raises(FileNameError):
        format_of(".wav")


def test_the_b2buas_recording_name_is_rebuilt_from_the_call() -> None:
    # 2024-05-01 23:59:59 UTC: the day is the answer's in UTC.
    answered = 1714607999.0
    assert recording_stem("a1b2@10.0.0.1") == "a1b2_10.0.0.1"
    assert recording_candidates("a1b2@10.0.0.1", answered) == [
        "2024-05-01/a1b2_10.0.0.1.wav", "2024-05-01/a1b2_10.0.0.1.ogg"]
    assert recording_candidates("x" * 300, answered + 1)[0] == f"2024-05-02/{'x' * 120}.wav"
    assert recording_candidates("..", answered) == []
