"""The ``pycc apply`` file as text: YAML read into plain values, with where each value was.

`load` turns YAML text into plain Python values (dict, list, str, int, float, bool, None) and
remembers the line and column (1-based) of every mapping key and list item under its field
path, ``queues[0].ring_timeout`` or ``ivr[1].steps[2].menu.options``. `Source.locate` finds a
path, or the deepest part of it that is known, so an error found in the values can point back
into the file. Mapping keys are kept as the text written (``1:`` is the key ``"1"``): they are
names, and the values must round-trip through JSON unchanged.

YAML 1.1, which PyYAML implements, reads some numbers surprisingly: ``0123`` is octal 83 and
``20:00`` is 1200 (base 60). An extension or a time of day must not change like that, so a
number written with a leading zero or a colon stays text, as written. Dates stay text too.

Whatever the text, `load` returns values or raises `ApplyError` naming the place: a syntax
error, a duplicate key (PyYAML would silently keep the last), an unsupported tag, a recursive
alias, or a document too deep or too large once aliases are expanded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "ApplyError",
    "Location",
    "Source",
    "child_path",
    "load",
    "load_file",
    "parse_path",
    "render_path",
]

#: Nesting deeper than this is no call-center configuration.
MAX_DEPTH: Final = 64
#: Values built at most, aliases expanded: a few aliases must not expand into millions.
MAX_VALUES: Final = 200_000

_TAG = "tag:yaml.org,2002:"
_FLOW_SIGNIFICANT: Final = re.compile(r"[\[\]{}'\"#\\]")
_DECIMAL: Final = re.compile(r"[-+]?(0|[1-9][0-9_]*)")
_PATH_PART: Final = re.compile(
    r"\[(\d+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\['([^']*)'\]|\.?([^.\[]+)"
)

PathPart = str | int


class ApplyError(ValueError):
    """One problem with the ``pycc apply`` file: ``where`` is the field path, ``message`` what
    is wrong; ``line`` and ``column`` (1-based) and ``file`` are known once it is located."""

    def __init__(self, where: str, message: str, line: int | None = None,
                 column: int | None = None, *, file: str | None = None) -> None:
        super().__init__(where, message, line, column, file)
        self.where = where
        self.message = message
        self.line = line
        self.column = column
        self.file = file

    def __str__(self) -> str:
        place = [part for part in (self.file,
                                   None if self.line is None else str(self.line),
                                   None if self.column is None else str(self.column))
                 if part is not None]
        text = f"{self.where}: {self.message}" if self.where else self.message
        return ":".join(place) + ": " + text if place else text

    def __repr__(self) -> str:
        return (f"ApplyError({self.where!r}, {self.message!r}, {self.line!r}, "
                f"{self.column!r}, file={self.file!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApplyError):
            return NotImplemented
        return self.args == other.args

    def __hash__(self) -> int:
        return hash(self.args)

    def at(self, location: Location | None, file: str | None) -> ApplyError:
        """The same error placed at ``location`` in ``file`` (kept where it is if None)."""
        if location is None:
            return ApplyError(self.where, self.message, self.line, self.column,
                              file=file if self.line is not None else self.file)
        return ApplyError(self.where, self.message, location.line, location.column, file=file)


class Location(NamedTuple):
    """A place in the file, 1-based."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Source:
    """A loaded file: its values, and where each field path was written."""

    data: object
    #: Field path (as `render_path` writes it: ``queues[0].ring_timeout``) -> location.
    locations: Mapping[str, Location] = field(default_factory=dict)
    file: str | None = None

    def locate(self, path: str) -> Location | None:
        """Where ``path`` was written, or the deepest known prefix of it; None if unknown."""
        parts = tuple(parse_path(path))
        for end in range(len(parts), -1, -1):
            found = self.locations.get(render_path(parts[:end]))
            if found is not None:
                return found
        return None

    def place(self, error: ApplyError) -> ApplyError:
        """``error`` with this file's name and the location of its field path."""
        return error.at(self.locate(error.where), self.file)


def parse_path(path: str) -> list[PathPart]:
    """The parts of a field path: ``ivr[0].steps[1].menu.options["1"]`` ->
    ``["ivr", 0, "steps", 1, "menu", "options", "1"]``."""
    parts: list[PathPart] = []
    for match in _PATH_PART.finditer(path):
        index, double, single, name = match.groups()
        if index is not None:
            parts.append(int(index))
        elif double is not None:
            parts.append(re.sub(r"\\(.)", r"\1", double))
        elif single is not None:
            parts.append(single)
        elif name is not None and name.strip():
            parts.append(name)
    return parts


def child_path(where: str, key: PathPart) -> str:
    """The path of ``key`` (a field name or a list index) inside ``where``."""
    return where + render_path(("x", key))[1:] if where else render_path((key,))


def load_file(path: Path) -> Source:
    """Read and `load` the file at ``path``; unreadable files become an `ApplyError` too."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ApplyError("", f"cannot read the file: {exc.strerror or exc}", file=name) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ApplyError("", "the file is not UTF-8 text", line, column, file=name) from None
    return load(text, name)


def load(text: str, file: str | None = None) -> Source:
    """Parse YAML ``text`` (one document) into values and locations."""
    _check_flow_depth(text, file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ApplyError("", f"character {character!r} is not allowed in YAML", line, column,
                         file=file) from None
    except yaml.YAMLError as exc:
        raise ApplyError("", f"YAML error: {exc}", file=file) from None
    except RecursionError:
        raise ApplyError("", f"the document is nested too deeply (at most {MAX_DEPTH} levels)",
                         file=file) from None
    if root is None:
        return Source(None, {"": Location(1, 1)}, file)
    builder = _Builder(file)
    data = builder.value(root, ())
    return Source(data, builder.locations, file)


def _check_flow_depth(text: str, file: str | None) -> None:
    """Refuse ``[`` / ``{`` nested deeper than `MAX_DEPTH` before PyYAML sees them: its
    scanner takes time quadratic in that depth (seconds for a line of 2000 brackets).

    Brackets inside quoted scalars and comments do not count; a bracket in a plain scalar
    (``_9[1-5]X``) may, which only matters for text made of dozens of unclosed ones.
    """
    depth = 0
    quote = ""
    position, end = 0, len(text)
    while position < end:
        match = _FLOW_SIGNIFICANT.search(text, position)
        if match is None:
            return
        char, position = match.group(), match.end()
        before = text[match.start() - 1] if match.start() else "\n"
        if quote:
            if char == "\\" and quote == '"':
                position += 1  # an escaped character
            elif char == quote:
                if quote == "'" and text.startswith("'", position):
                    position += 1  # '' is a quote inside single quotes
                else:
                    quote = ""
        elif char in "'\"":
            if before in " \t\n[{,":
                quote = char
        elif char == "#":
            if before in " \t\n":
                newline = text.find("\n", position)
                position = end if newline < 0 else newline
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - text.rfind("\n", 0, match.start())
                raise ApplyError("", f"the document is nested too deeply (at most {MAX_DEPTH} "
                                     "levels)", line, column, file=file)
        elif char in "]}":
            depth = max(0, depth - 1)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str | None) -> ApplyError:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or "invalid YAML"
    if exc.context:
        message = f"{message} ({exc.context}"
        if exc.context_mark is not None and exc.context_mark is not mark:
            message += f" at line {exc.context_mark.line + 1}"
        message += ")"
    if mark is None:
        return ApplyError("", f"YAML syntax error: {message}", file=file)
    return ApplyError("", f"YAML syntax error: {message}", mark.line + 1, mark.column + 1,
                      file=file)


def render_path(path: tuple[PathPart, ...]) -> str:
    """The text of a field path, the inverse of `parse_path`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


class _Builder:
    """Builds values from composed nodes, recording locations, with the limits above."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.locations: dict[str, Location] = {}
        self.count = 0
        # Nodes being built right now: an alias back to one of them is a cycle.
        self.active: set[int] = set()
        self.constructor = yaml.SafeLoader("")

    def error(self, node: Node, path: tuple[PathPart, ...], message: str) -> ApplyError:
        mark = node.start_mark
        return ApplyError(render_path(path), message, mark.line + 1, mark.column + 1,
                          file=self.file)

    def mark(self, node: Node, path: tuple[PathPart, ...]) -> None:
        self.locations.setdefault(render_path(path), Location(node.start_mark.line + 1,
                                                              node.start_mark.column + 1))

    def value(self, node: Node, path: tuple[PathPart, ...]) -> object:
        self.mark(node, path)
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.error(node, path, f"the document holds more than {MAX_VALUES} values "
                                         "(aliases expanded)")
        if len(path) > MAX_DEPTH:
            raise self.error(node, path, f"nested too deeply (at most {MAX_DEPTH} levels)")
        if id(node) in self.active:
            raise self.error(node, path, "an alias refers to a value that contains it")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                self.expect_tag(node, path, "seq")
                return [self.value(item, (*path, index))
                        for index, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                self.expect_tag(node, path, "map")
                return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise self.error(node, path, f"unsupported YAML node {type(node).__name__}")

    def expect_tag(self, node: Node, path: tuple[PathPart, ...], kind: str) -> None:
        if node.tag != _TAG + kind:
            raise self.error(node, path, f"unsupported tag {node.tag!r}")

    def mapping(self, node: MappingNode, path: tuple[PathPart, ...]) -> dict[str, object]:
        out: dict[str, object] = {}
        seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.error(key_node, path, "a mapping key must be a plain name, "
                                                 "not a list or mapping")
            if key_node.tag == _TAG + "merge":
                raise self.error(key_node, path, "merge keys (<<) are not supported")
            key = key_node.value
            child = (*path, key)
            first = seen.get(key)
            if first is not None:
                raise self.error(key_node, child, f"duplicate key {key!r} (first at line "
                                                  f"{first.start_mark.line + 1})")
            seen[key] = key_node
            # The key's place: for a nested block the value starts a line later.
            self.mark(key_node, child)
            out[key] = self.value(value_node, child)
        return out

    def scalar(self, node: ScalarNode, path: tuple[PathPart, ...]) -> object:
        tag = node.tag
        text = node.value
        if tag == _TAG + "str" or tag == _TAG + "timestamp":
            return text
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return self.constructor.construct_yaml_bool(node)
        if tag == _TAG + "int":
            if not _DECIMAL.fullmatch(text) or ":" in text:
                return text  # 0123, 0x1F, 20:00: kept as written
            return int(text.replace("_", ""))
        if tag == _TAG + "float":
            if ":" in text:
                return text
            return self.constructor.construct_yaml_float(node)
        raise self.error(node, path, f"unsupported tag {tag!r}")

