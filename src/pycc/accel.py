"""The compiled SIP core: pycc's pure protocol modules built into C extensions with mypyc.

Parsing, transactions, dialogs and digest checks run on the switch's event loop for every
SIP message; compiled, the parser takes about 40 % less time per message and the switch's
event loop about 12 % less per call (benchmarks/RESULTS.md). The compiled modules are an option,
never a requirement: ``pycc accel build`` (run by ``scripts/setup.sh``) compiles `MODULES`
from the sources of this checkout into a cache directory named by a hash of those sources
and of the Python ABI, and `install`, which ``import pycc`` calls first of all, serves them
only from the directory of the sources on disk now. An edited module therefore never runs
stale compiled code: the hash changes, and pycc runs the pure Python modules until the next
build. ``PYCC_PURE=1`` turns the compiled modules off; ``PYCC_ACCEL_DIR`` moves the cache.

The same build compiles the C sources of `NATIVE` (the relay worker's packet loop and its
transcoding) into plain shared libraries that pycc binds with ctypes;
`native_library` serves them by the same rule.

This module runs before everything else of pycc and imports nothing of it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

#: The modules compiled: the SIP core that every message goes through. Each is pure (no
#: asyncio, no I/O) and typed throughout, which is what mypyc compiles well.
MODULES: Final[tuple[str, ...]] = (
    "pycc.sip.errors",
    "pycc.sip.ids",
    "pycc.sip.uri",
    "pycc.sip.headers",
    "pycc.sip.message",
    "pycc.sip.address",
    "pycc.sip.auth",
    "pycc.sip.guard",
    "pycc.sip.transaction",
    "pycc.sip.dialog",
    "pycc.sip.framing",
    "pycc.sip.overload",
    "pycc.sip.session_timer",
    "pycc.sip.registrar",
    "pycc.sip.register_front",
)
#: C sources built beside them into plain shared libraries (no Python headers; pycc binds
#: them with ctypes): name -> source, relative to the package's parent directory.
NATIVE: Final[Mapping[str, tuple[str, ...]]] = {
    "relay": ("pycc/media/relay_core.c", "pycc/media/transcode_core.c"),
}
#: The C compiler's flags: no fused multiply-add, so the concealment's floating point is
#: numpy's to the bit.
NATIVE_FLAGS: Final = ("-O2", "-shared", "-fPIC", "-Wall", "-ffp-contract=off")
#: The relay worker's packet loop (`pycc.media.relay_native`).
RELAY_LIBRARY: Final = "relay"
#: mypyc's shared library of the group: a top-level module the compiled modules import.
GROUP: Final = "pycc_accel"
ENV_PURE: Final = "PYCC_PURE"
ENV_DIR: Final = "PYCC_ACCEL_DIR"
#: Written last into a finished build: a directory without it is no build.
MARKER: Final = "complete"
#: Builds kept in the cache (other checkouts, earlier versions); older ones are removed.
KEEP_BUILDS: Final = 4

SOURCE_ROOT: Final = Path(__file__).resolve().parent.parent


class AccelError(Exception):
    """The compiled modules cannot be built here; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class AccelStatus:
    """What `status` reports."""

    key: str
    directory: Path
    built: bool
    active: tuple[str, ...]
    disabled: bool


def extension_suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def module_source(name: str, root: Path = SOURCE_ROOT) -> Path:
    return root.joinpath(*name.split(".")).with_suffix(".py")


def source_key(modules: Sequence[str] = MODULES, root: Path = SOURCE_ROOT) -> str:
    """The name of the build of ``modules`` as they are under ``root`` now, for this Python."""
    digest = hashlib.sha256()
    digest.update(f"{sys.implementation.cache_tag} {extension_suffix()}\n".encode())
    for name in modules:
        digest.update(f"{name}\n".encode())
        digest.update(module_source(name, root).read_bytes())
        digest.update(b"\0")
    for name, sources in sorted(NATIVE.items()):
        for relative in sources:
            source = root / relative
            digest.update(f"{name} {relative}\n".encode())
            digest.update(source.read_bytes() if source.is_file() else b"-")
            digest.update(b"\0")
    return digest.hexdigest()[:24]


def cache_root() -> Path:
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pycc" / "accel"


def compiled_files(directory: Path, modules: Sequence[str] = MODULES) -> dict[str, Path]:
    """Module name -> the extension file a build in ``directory`` has for it."""
    suffix = extension_suffix()
    files = {f"{GROUP}__mypyc": directory / f"{GROUP}__mypyc{suffix}"}
    for name in modules:
        parts = name.split(".")
        files[name] = directory.joinpath(*parts[:-1], parts[-1] + suffix)
    return files


def native_file(directory: Path, name: str) -> Path:
    """Where a build in ``directory`` keeps the shared library of `NATIVE` ``name``."""
    return directory / f"lib{name}.so"


def native_library(name: str) -> Path | None:
    """The library ``name`` built from the sources on disk now, if there is one and compiled
    code is not turned off."""
    if pure_requested():
        return None
    try:
        directory = cache_root() / source_key()
        found = native_file(directory, name)
        return found if (directory / MARKER).is_file() and found.is_file() else None
    except OSError:
        return None


def pure_requested(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(ENV_PURE, "").strip().lower() not in ("", "0", "false", "no")


class CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds exactly the compiled modules of one build; every other import goes on as usual.

    The group's shared library, which holds all their code, is loaded with the first of
    them: if it does not load (a damaged file, another ABI), the finder steps aside and
    every module runs as pure Python, rather than some of each.
    """

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)
        self.group_loaded = False

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        found = self.files.get(fullname)
        if found is None:
            return None
        group = f"{GROUP}__mypyc"
        if fullname != group and not self.group_loaded:
            try:
                importlib.import_module(group)
            except Exception as exc:  # any failure at all means: run pure Python
                self.files.clear()
                sys.stderr.write(f"pycc: the compiled SIP core did not load ({exc}); "
                                 "running pure Python\n")
                return None
            self.group_loaded = True
        return importlib.util.spec_from_file_location(fullname, found)


def install() -> bool:
    """Serve the compiled modules of the sources on disk, when they were built and not
    turned off. Returns whether they will be used. Never raises: pure Python always works."""
    if pure_requested() or any(isinstance(f, CompiledFinder) for f in sys.meta_path):
        return False
    try:
        directory = cache_root() / source_key()
        if not (directory / MARKER).is_file():
            return False
        files = compiled_files(directory)
        if not all(path.is_file() for path in files.values()):
            return False
    except OSError:
        return False
    loaded = [name for name in MODULES if name in sys.modules]
    if loaded:  # too late: a pure module is already in use, and the two must not mix
        return False
    sys.meta_path.insert(0, CompiledFinder(files))
    return True


def active_modules() -> tuple[str, ...]:
    """The modules of `MODULES` imported from a compiled build."""
    suffix = extension_suffix()
    return tuple(name for name in MODULES
                 if str(getattr(sys.modules.get(name), "__file__", "") or "").endswith(suffix))


def status() -> AccelStatus:
    key = source_key()
    directory = cache_root() / key
    for name in MODULES:
        __import__(name)
    return AccelStatus(key, directory, (directory / MARKER).is_file(), active_modules(),
                       pure_requested())


# -- building -------------------------------------------------------------------------------

_BUILD_SCRIPT: Final = """
import os
import sys
from setuptools import setup
from mypyc.build import mypycify
out, work, group, opt, *paths = sys.argv[1:]
setup(
    name=group,
    ext_modules=mypycify([f"--cache-dir={work}/mypy", *paths], opt_level=opt,
                         target_dir=f"{work}/c", group_name=group, multi_file=True),
    script_args=["-q", "build_ext", "--build-lib", out, "--build-temp", f"{work}/o",
                 f"--parallel={os.cpu_count() or 1}"],
)
"""


def check_toolchain() -> None:
    """Raise `AccelError` naming what a build would miss: mypyc, a C compiler, Python.h."""
    import shutil
    import sysconfig

    if importlib.util.find_spec("mypyc") is None:
        raise AccelError("mypyc is not installed (pip install 'pycc[accel]')")
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise AccelError(f"no C compiler {compiler!r} (apt-get install gcc)")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        raise AccelError(f"no Python headers at {headers.parent} (apt-get install python3-dev)")


def build(*, force: bool = False, opt_level: str = "3",
          progress: Callable[[str], None] = lambda _line: None) -> Path:
    """Compile `MODULES` from the sources on disk unless that build exists (or ``force``);
    returns its directory. Raises `AccelError` when it cannot be done."""
    import shutil
    import subprocess
    import tempfile

    key = source_key()
    root = cache_root()
    final = root / key
    if (final / MARKER).is_file() and not force:
        return final
    check_toolchain()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AccelError(f"cannot create the cache directory {root}: {exc.strerror}") from None
    with tempfile.TemporaryDirectory(prefix=f".{key}-", dir=root) as tmp:
        out, work = Path(tmp) / "out", Path(tmp) / "work"
        paths = [str(module_source(name).relative_to(SOURCE_ROOT)) for name in MODULES]
        progress(f"compiling {len(paths)} modules with mypyc into {final}")
        done = subprocess.run(
            [sys.executable, "-c", _BUILD_SCRIPT, str(out), str(work), GROUP, opt_level,
             *paths],
            cwd=SOURCE_ROOT, capture_output=True, text=True, check=False,
            env={**os.environ, ENV_PURE: "1"},
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise AccelError("mypyc failed: " + (lines[-1] if lines else f"exit {done.returncode}"))
        for name, sources in NATIVE.items():
            progress(f"compiling {', '.join(sources)}")
            _compile_native([SOURCE_ROOT / relative for relative in sources],
                            native_file(out, name))
        if source_key() != key:
            raise AccelError("the sources changed during the build; run it again")
        missing = [str(p) for p in compiled_files(out).values() if not p.is_file()]
        if missing:
            raise AccelError(f"mypyc built no {missing[0]}")
        (out / MARKER).write_text("\n".join(MODULES) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        try:
            out.rename(final)
        except OSError:
            if not (final / MARKER).is_file():  # not a build that raced this one
                raise
    _prune(root, keep=final)
    return final


def _compile_native(sources: list[Path], target: Path) -> None:
    import shlex
    import subprocess
    import sysconfig

    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1]
    done = subprocess.run(
        [*compiler, *NATIVE_FLAGS, "-o", str(target), *map(str, sources), "-lm"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise AccelError(f"the C compiler failed on {', '.join(s.name for s in sources)}: "
                         + (lines[0] if lines else f"exit {done.returncode}"))


def _prune(root: Path, keep: Path) -> None:
    import shutil

    builds = sorted((p for p in root.iterdir() if p.is_dir() and (p / MARKER).is_file()
                     and p != keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[KEEP_BUILDS - 1:]:
        shutil.rmtree(old, ignore_errors=True)
