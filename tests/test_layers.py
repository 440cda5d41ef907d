"""DESIGN.md's layer rule, enforced: imports inside ``pycc`` point downward only.

Every module under ``src/pycc`` is parsed with :mod:`ast` (nothing is imported or run); each
``import pycc.X`` / ``from pycc.X import ...`` (and relative imports, resolved) is mapped to the
layer of its top-level package. Importing from a higher layer fails; the same layer is allowed.
Imports under ``if TYPE_CHECKING:`` count too: a type-only dependency is still a dependency.

The pure core (layer 1) also may not touch the event loop, sockets, the database or the clock:
it imports none of asyncio, socket, selectors, sqlmodel, sqlalchemy, and never calls
``time.time()``, ``time.monotonic()`` and the like (time is passed in as ``now``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE_ROOT = SRC / "pycc"

#: DESIGN.md's layers, lowest first. pycc.switch wires the services, so it sits above them.
LAYERS: dict[str, int] = {
    # 1 pure core
    "pycc.sip": 1,
    "pycc.sdp": 1,
    "pycc.rtp": 1,
    "pycc.codecs": 1,
    "pycc.dsp": 1,
    "pycc.routing": 1,
    # 2 I/O adapters
    "pycc.transport": 2,
    # The loader of the compiled core (mypyc): the package root runs it before anything else.
    "pycc.accel": 2,
    "pycc.media": 2,
    "pycc.store": 2,
    "pycc.config": 2,
    # 3 runtime
    "pycc.endpoint": 3,
    "pycc.bus": 3,
    "pycc.ctl": 3,
    "pycc.ua": 3,
    # 4 services
    "pycc.aaa": 4,
    "pycc.ccmanager": 4,
    "pycc.ccs": 4,
    "pycc.sia": 4,
    "pycc.pds": 4,
    "pycc.oam": 4,
    "pycc.files": 4,
    "pycc.provision": 4,
    "pycc.ccc": 4,
    # 5 the switch
    "pycc.switch": 5,
    # 6 interfaces
    "pycc.api": 6,
    "pycc.demo": 6,
    "pycc.cli": 6,
    "pycc.__main__": 6,
}
LAYER_NAMES = {1: "core", 2: "adapters", 3: "runtime", 4: "services", 5: "switch",
               6: "interfaces"}
#: The package itself (``import pycc`` for ``__version__``) holds no code: any layer may use it.
ROOT = "pycc"

CORE_FORBIDDEN_MODULES = ("asyncio", "socket", "selectors", "sqlmodel", "sqlalchemy")
#: Calls that read a clock: (module, attribute).
CLOCK_CALLS = {
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "monotonic_ns"),
    ("time", "perf_counter"), ("time", "perf_counter_ns"), ("time", "localtime"),
    ("time", "gmtime"), ("time", "strftime"),
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
}
CLOCK_NAMES = {attr for mod, attr in CLOCK_CALLS if mod == "time"}


@dataclass(frozen=True)
class ImportRef:
    module: str  # the importing module, e.g. "pycc.sip.message"
    target: str  # the imported module, e.g. "pycc.store.repo"
    line: int


@dataclass(frozen=True)
class Violation:
    ref: ImportRef
    message: str

    def __str__(self) -> str:
        return f"{self.ref.module}:{self.ref.line}: {self.message}"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def layer_key(module: str) -> str | None:
    """The LAYERS entry a module belongs to (its longest registered prefix), or None."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in LAYERS:
            return candidate
    return None


def resolve_relative(module: str, package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from {'.' * level}{name} import ...`` inside ``module``."""
    base = module.split(".") if package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(tree: ast.AST, module: str, package: bool = False) -> Iterator[ImportRef]:
    """Every module ``tree`` imports (absolute names), wherever the import statement is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportRef(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = resolve_relative(module, package, node.level, node.module)
            else:
                base = node.module or ""
            yield ImportRef(module, base, node.lineno)
            # ``from pycc import store`` imports the submodule pycc.store.
            if base == ROOT:
                for alias in node.names:
                    if alias.name != "*":
                        yield ImportRef(module, f"{base}.{alias.name}", node.lineno)


def layer_violations(tree: ast.AST, module: str, package: bool = False) -> list[Violation]:
    """Upward imports of ``module`` (and pycc modules that belong to no layer)."""
    own_key = layer_key(module)
    found: list[Violation] = []
    for ref in imports_of(tree, module, package):
        if not ref.target.startswith(ROOT + "."):
            continue  # the standard library, third parties, or the empty root package
        target_key = layer_key(ref.target)
        if target_key is None:
            # ``from pycc import __version__`` names an attribute, not a module.
            if ref.target.count(".") == 1 and ref.target.split(".")[1].startswith("__"):
                continue
            found.append(Violation(ref, f"imports {ref.target}, which belongs to no layer"))
            continue
        if own_key is None:
            continue  # reported once by test_every_module_has_a_layer
        own, target = LAYERS[own_key], LAYERS[target_key]
        if target > own:
            found.append(Violation(
                ref,
                f"upward import of {ref.target} (layer {target} {LAYER_NAMES[target]}) from "
                f"layer {own} {LAYER_NAMES[own]}",
            ))
    return found


def core_violations(tree: ast.AST, module: str, package: bool = False) -> list[Violation]:
    """Event loop, socket, database and clock use in a pure-core module."""
    found: list[Violation] = []
    for ref in imports_of(tree, module, package):
        top = ref.target.split(".")[0]
        if top in CORE_FORBIDDEN_MODULES:
            found.append(Violation(ref, f"the pure core imports {ref.target}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "time" and not node.level:
            for alias in node.names:
                if alias.name in CLOCK_NAMES:
                    ref = ImportRef(module, f"time.{alias.name}", node.lineno)
                    found.append(Violation(ref, f"the pure core imports time.{alias.name}"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = (
                owner.id if isinstance(owner, ast.Name)
                else owner.attr if isinstance(owner, ast.Attribute) else None
            )
            if (owner_name, node.func.attr) in CLOCK_CALLS:
                ref = ImportRef(module, f"{owner_name}.{node.func.attr}", node.lineno)
                found.append(Violation(
                    ref, f"the pure core reads the clock: {owner_name}.{node.func.attr}()"
                ))
    return found


def source_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in PACKAGE_ROOT.rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# -- the rule on the real tree ---------------------------------------------------------------


def test_the_source_tree_is_found() -> None:
    modules = dict(source_modules())
    # Guards against a checker that silently walks nothing.
    assert {"pycc.cli", "pycc.switch", "pycc.sip.message", "pycc.store.repo"} <= set(modules)


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name, _ in source_modules()
                if name != ROOT and layer_key(name) is None]
    assert not unplaced, f"add these to LAYERS (and DESIGN.md's layer list): {unplaced}"


def test_imports_point_downward_only() -> None:
    violations = [
        str(v)
        for name, path in source_modules()
        for v in layer_violations(parse(path), name, is_package(path))
    ]
    assert not violations, "\n".join(violations)


def test_the_core_uses_no_event_loop_socket_database_or_clock() -> None:
    core = [(name, path) for name, path in source_modules()
            if (key := layer_key(name)) is not None and LAYERS[key] == 1]
    assert core, "no pure-core module found"
    violations = [
        str(v) for name, path in core for v in core_violations(parse(path), name,
                                                                 is_package(path))
    ]
    assert not violations, "\n".join(violations)


# -- the checker catches what it should ------------------------------------------------------


def check(source: str, module: str, package: bool = False) -> list[str]:
    tree = ast.parse(source)
    return [str(v) for v in layer_violations(tree, module, package)]


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from pycc.store.repo import Store\n", "pycc.sip.message"),
        ("import pycc.switch\n", "pycc.aaa.cdr"),
        ("from pycc import cli\n", "pycc.switch"),
        ("from ..ccmanager import b2bua\n", "pycc.sip.dialog"),
        ("from ...ccmanager.b2bua import B2BUA\n", "pycc.sip.x.y"),
        ("def f() -> None:\n    from pycc.endpoint import SipEndpoint\n", "pycc.transport.udp"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
         "    from pycc.api import app\n", "pycc.ccmanager.b2bua"),
    ],
)
def test_checker_catches_an_upward_import(source: str, module: str) -> None:
    found = check(source, module)
    assert len(found) >= 1 and "upward import" in found[0], found


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from pycc.sip.message import Request\n", "pycc.store.repo"),
        ("from pycc.aaa.cdr import CallRecorder\n", "pycc.ccmanager.b2bua"),  # same layer
        ("from . import errors\n", "pycc.sip.message"),
        ("from .errors import SipParseError\n", "pycc.sip.message"),
        ("import asyncio\nimport pycc\nfrom pycc import __version__\n", "pycc.sip.message"),
        ("from pycc.switch import Switch\n", "pycc.cli"),
    ],
)
def test_checker_allows_downward_and_same_layer_imports(source: str, module: str) -> None:
    assert check(source, module) == []


def test_relative_imports_resolve_from_a_package_init() -> None:
    tree = ast.parse("from .store import repo\nfrom . import cli\n")
    targets = {ref.target for ref in imports_of(tree, "pycc", package=True)}
    assert targets == {"pycc", "pycc.store", "pycc.cli"}
    upward = check("from ..switch import Switch\n", "pycc.sip", package=True)
    assert len(upward) == 1 and "pycc.switch" in upward[0]


def test_checker_reports_unknown_pycc_packages() -> None:
    found = check("from pycc.nowhere import thing\n", "pycc.sip.message")
    assert len(found) == 1 and "belongs to no layer" in found[0]


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio\n",
        "import socket\n",
        "from sqlmodel import Session\n",
        "import sqlalchemy.orm\n",
        "import selectors\n",
        "import time\n\ndef now() -> float:\n    return time.time()\n",
        "import time\nx = time.monotonic()\n",
        "from time import monotonic\n",
        "import datetime\nstamp = datetime.datetime.now()\n",
    ],
)
def test_core_checker_catches_io_and_clock(source: str) -> None:
    found = core_violations(ast.parse(source), "pycc.sip.fake")
    assert found, source


def test_core_checker_allows_pure_code() -> None:
    source = (
        "from __future__ import annotations\nimport ipaddress\nfrom pycc.sip.errors import E\n"
        "def expired(deadline: float, now: float) -> bool:\n    return now >= deadline\n"
    )
    assert core_violations(ast.parse(source), "pycc.sip.fake") == []
