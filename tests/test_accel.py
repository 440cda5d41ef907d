"""The compiled SIP core (pycc.accel): built from the sources on disk, used only for exactly
those sources, turned off by PYCC_PURE, and parsing every torture vector as pure Python does.

The module-scoped build is a no-op when ``scripts/setup.sh`` built the same sources already
(the usual case); after an edit of a compiled module it compiles them again (about 80 s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycc import accel

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors" / "sip-torture"

#: Parses every torture vector and prints one JSON line each: the error it raised, or what
#: the parsed message says through the views the switch reads.
DESCRIBE = r"""
import json, sys
from pathlib import Path
import pycc.accel
from pycc.sip.errors import SipParseError
from pycc.sip.message import Request, parse_message
print(json.dumps({"active": list(pycc.accel.active_modules())}))
for path in sorted(Path(sys.argv[1]).rglob("*.dat")):
    data = path.read_bytes()
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        out = ["error", str(exc), exc.status]
    else:
        out = [
            msg.to_bytes().decode("utf-8", "surrogateescape"),
            [str(v) for v in msg.vias], str(msg.from_), str(msg.to), msg.call_id,
            str(msg.cseq.seq), msg.cseq.method,
            [str(c) for c in msg.contacts] if not msg.contact_is_star else "*",
            str(msg.uri) if isinstance(msg, Request) else msg.status,
        ]
    print(json.dumps([path.name, out]))
"""


def run_python(code: str, *args: str, pure: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != accel.ENV_PURE}
    if pure:
        env[accel.ENV_PURE] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def built() -> Iterator[Path]:
    yield accel.build()


def test_the_key_names_the_sources_and_nothing_else(tmp_path: Path) -> None:
    for name in ("pycc.sip.a", "pycc.sip.b"):
        path = accel.module_source(name, tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"X = {name!r}\n")
    modules = ("pycc.sip.a", "pycc.sip.b")
    key = accel.source_key(modules, tmp_path)
    assert accel.source_key(modules, tmp_path) == key
    accel.module_source("pycc.sip.b", tmp_path).write_text("X = 'edited'\n")
    assert accel.source_key(modules, tmp_path) != key
    assert accel.source_key(("pycc.sip.a",), tmp_path) != key


def test_the_compiled_modules_run_when_built(built: Path) -> None:
    done = run_python("import json, pycc.accel\nfor name in pycc.accel.MODULES: __import__(name)\n"
                      "print(json.dumps(pycc.accel.active_modules()))")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == list(accel.MODULES)
    status = json.loads(run_python("from pycc.cli import app; app()", "accel", "status",
                                   "--json").stdout)
    assert status["built"] and status["active"] == list(accel.MODULES)
    assert status["directory"] == str(built)
    assert status["relay_loop"] == str(accel.native_file(built, accel.RELAY_LIBRARY))
    text = run_python("from pycc.cli import app; app()", "accel", "status").stdout
    assert "relay workers' packet loop: C" in text


def test_pycc_pure_turns_them_off(built: Path) -> None:
    done = run_python("import pycc.accel, pycc.sip.message as m; "
                      "print(pycc.accel.active_modules(), m.__file__)", pure=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["()", str(ROOT / "src/pycc/sip/message.py")]
    text = run_python("from pycc.cli import app; app()", "accel", "status", pure=True).stdout
    assert f"relay workers' packet loop: Python ({accel.ENV_PURE})" in text


def test_a_build_of_other_sources_is_never_loaded(built: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The same compiled files under another key: what an earlier version of the sources left.
    shutil.copytree(built, tmp_path / "0123456789abcdef01234567")
    monkeypatch.setenv(accel.ENV_DIR, str(tmp_path))
    done = run_python("import pycc.accel; import pycc.sip.message; "
                      "print(pycc.accel.active_modules())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "()"


def test_a_build_without_its_marker_is_no_build(built: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    partial = tmp_path / built.name
    shutil.copytree(built, partial)
    (partial / accel.MARKER).unlink()
    monkeypatch.setenv(accel.ENV_DIR, str(tmp_path))
    done = run_python("import pycc.accel; import pycc.sip.message; "
                      "print(pycc.accel.active_modules())")
    assert done.stdout.strip() == "()", done.stderr


def test_a_damaged_build_falls_back_to_pure_python(built: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / built.name
    shutil.copytree(built, damaged)
    group = accel.compiled_files(damaged)[f"{accel.GROUP}__mypyc"]
    group.write_bytes(b"not a shared library")
    monkeypatch.setenv(accel.ENV_DIR, str(tmp_path))
    done = run_python("import pycc.accel, pycc.sip.message as m\n"
                      "from pycc.sip.message import parse_message\n"
                      "print(pycc.accel.active_modules(), m.__file__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["()", str(ROOT / "src/pycc/sip/message.py")]
    assert "the compiled SIP core did not load" in done.stderr


def test_compiled_and_pure_parse_every_torture_vector_alike(built: Path) -> None:
    compiled = run_python(DESCRIBE, str(VECTORS))
    pure = run_python(DESCRIBE, str(VECTORS), pure=True)
    assert compiled.returncode == 0, compiled.stderr
    assert pure.returncode == 0, pure.stderr
    compiled_lines, pure_lines = compiled.stdout.splitlines(), pure.stdout.splitlines()
    assert "pycc.sip.message" in json.loads(compiled_lines[0])["active"]
    assert json.loads(pure_lines[0]) == {"active": []}
    assert len(compiled_lines) > 50  # every vector, RFC 5118's included
    assert compiled_lines[1:] == pure_lines[1:]


def test_the_sip_unit_tests_pass_in_pure_python_too(built: Path) -> None:
    # This suite runs with the compiled modules; the pure ones are what runs wherever they
    # were not built (no compiler), so their own tests run here as well.
    env = {**os.environ, accel.ENV_PURE: "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "no:randomly", str(ROOT / "tests" / "sip")],
        capture_output=True, text=True, env=env, timeout=600, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout


def test_a_missing_compiler_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sysconfig

    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var",
                        lambda name: "no-such-cc -pthread" if name == "CC" else real(name))
    with pytest.raises(accel.AccelError, match="no C compiler 'no-such-cc'"):
        accel.check_toolchain()


def test_the_cli_names_a_failed_build(tmp_path: Path) -> None:
    # A cache directory that cannot be created (a file stands in its way).
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, accel.ENV_DIR: str(blocker / "accel")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pycc", "accel", "build"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("pycc: error: cannot build the compiled SIP core")
