"""IVR flows as data: the declarative steps of the ``pycc apply`` file, parsed and validated.

A flow is a list of steps. A step is a bare name (``answer``, ``hangup``) or a mapping with one
step key and, optionally, an ``id`` (a label for ``goto``, shown in the IVR path)::

    - answer
    - {play: tts:Welcome to pycc, id: hello}
    - menu: {prompt: menu.wav, timeout: 5, retries: 2, options: {"1": {queue: sales}}}

The steps and their fields (durations in seconds; defaults in brackets):

- ``answer``, ``hangup``; ``goto: STEP_ID``;
- ``play: PROMPT`` or ``{prompt, stop_on [""]}`` (the key that stopped it is ``last_key``);
- ``menu: {prompt, options: {KEY: BRANCH}, timeout [5], retries [2], invalid: PROMPT,
  on_invalid: BRANCH, on_timeout: BRANCH}``: one key; no key or a wrong one asks again,
  ``retries`` more times, then takes on_timeout / on_invalid (hang up when not given);
- ``collect: {var, min [1], max [4], terminator ["#"], timeout [5], inter_digit [3], prompt}``;
- ``set: {VAR: TEMPLATE, ...}``;
- ``if: {var, equals | not_equals | in | matches | less | greater, then, else}`` (``matches``
  is a regular expression the whole value must match; ``less``/``greater`` compare numbers);
- ``time: {when: CONDITION or [CONDITION, ...], then, else}`` with the conditions of
  :meth:`pycc.routing.timecond.TimeCondition.from_dict`;
- ``http: {url, method [GET], json (POST only), timeout [5], into ["http"], on_error}``;
- ``transfer: {queue | ivr | extension | number | conference | voicemail: NAME}``;
- ``record: {name ["message"], max_seconds [60], beep [true], silence, stop_on ["#"]}``.

A BRANCH (a menu option, ``then``/``else``, ``on_error`` ...) is a target mapping
(``{queue: sales}``), ``{goto: STEP_ID}``, ``hangup``, or a list of steps run in place, after
which the flow continues after the step that branched.

Templates (``set`` values, ``if`` operands, target names, the ``http`` url and json strings,
``record`` names, ``tts:`` text) take ``${var}``: the caller's number ``caller``, the number
called ``called``, and every variable set so far; an unknown variable is empty. Prompts are a
file (relative to the prompts directory), ``tone:NAME`` or ``tts:TEXT``; only ``tts:`` text is
a template, so a variable can never name a file to play.

Validation checks every field and reports every problem, each with the exact place in the
apply file (``ivr[0].steps[1].menu.timeout``). This module is pure: nothing here waits, reads
a clock or touches the network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, TypedDict, cast

from pycc.dsp.tones import tone
from pycc.routing.timecond import HolidayCalendar, TimeCondition, TimeRule, TimeSchedule

__all__ = [
    "KEYS",
    "STEP_KINDS",
    "TARGET_KINDS",
    "Answer",
    "Branch",
    "Collect",
    "Flow",
    "FlowError",
    "Goto",
    "Hangup",
    "Http",
    "If",
    "Menu",
    "Play",
    "Record",
    "SetVars",
    "Step",
    "Target",
    "TargetKind",
    "Time",
    "Transfer",
    "check_variable",
    "parse_flow",
    "substitute",
    "substitute_json",
    "validate_flow",
]

TargetKind: TypeAlias = Literal["queue", "ivr", "extension", "number", "conference",
                                "voicemail"]
IfTest: TypeAlias = Literal["equals", "not_equals", "in", "matches", "less", "greater"]

#: The keys a menu option or a stop key may name.
KEYS: Final = "0123456789*#"
TARGET_KINDS: Final[tuple[TargetKind, ...]] = (
    "queue", "ivr", "extension", "number", "conference", "voicemail")
#: Targets that name something configured (a number is dialled as it is).
REFERENCE_KINDS: Final = frozenset(TARGET_KINDS) - {"number"}
STEP_KINDS: Final = ("answer", "play", "menu", "collect", "set", "if", "time", "http",
                     "transfer", "record", "goto", "hangup")
IF_TESTS: Final[tuple[IfTest, ...]] = (
    "equals", "not_equals", "in", "matches", "less", "greater")
#: Branches inside branches: deeper than this is a mistake, and keeps every walk shallow.
MAX_DEPTH: Final = 16
MAX_TEXT: Final = 4000
MAX_NAME: Final = 256

_VAR_TEXT = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_VAR = re.compile(_VAR_TEXT)
_REF = re.compile(r"\$\{(" + _VAR_TEXT + r")\}")
# Ids start with a letter so they never look like the numbered labels of unnamed steps.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_*#+-]+")
_DTMF_TONE_KEYS = frozenset("0123456789*#ABCDabcd")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FlowError(ValueError):
    """A problem in a flow: ``where`` it is (``ivr[0].steps[1].menu.timeout``) and what."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where a flow sends the call: a queue, another IVR, an extension, a number, a
    conference or a voicemail box."""

    kind: TargetKind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r} "
                             f"(expected one of: {', '.join(TARGET_KINDS)})")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a {self.kind} target needs a name")


# -- templates -------------------------------------------------------------------------------


def check_variable(name: object) -> str | None:
    """Why ``name`` cannot be a variable name, or None when it can."""
    if not isinstance(name, str) or _VAR.fullmatch(name) is None:
        return (f"{name!r} is not a variable name (letters, digits and _, starting with a "
                "letter; dots between parts)")
    return None


def _template_problem(text: str) -> str | None:
    start = text.find("${")
    while start >= 0:
        end = text.find("}", start)
        if end < 0:
            return f"unclosed '${{' at position {start}"
        inner = text[start + 2:end]
        if _VAR.fullmatch(inner) is None:
            return f"bad variable name {inner!r} in '${{{inner}}}'"
        start = text.find("${", end)
    return None


def substitute(template: str, variables: Mapping[str, str]) -> str:
    """``template`` with each ``${var}`` replaced by its value ("" when it is not set)."""
    if "${" not in template:
        return template
    return _REF.sub(lambda found: variables.get(found[1], ""), template)


def substitute_json(value: object, variables: Mapping[str, str]) -> object:
    """A JSON body with ``${var}`` substituted in every string value."""
    if isinstance(value, str):
        return substitute(value, variables)
    if isinstance(value, list):
        return [substitute_json(item, variables) for item in value]
    if isinstance(value, Mapping):
        return {key: substitute_json(item, variables) for key, item in value.items()}
    return value


# -- the model --------------------------------------------------------------------------------

Steps: TypeAlias = tuple["Step", ...]
#: Steps a branch runs in place; None: go on after the branching step.
Branch: TypeAlias = "Steps | None"
#: A place in a flow: the steps of one level and the index of the next one to run there.
Frame: TypeAlias = tuple[Steps, int]


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step. ``label`` is its name in the IVR path (its ``id``, or its position such as
    ``"3"`` or ``"2.then.1"``); a branch written as a target or goto has none."""

    where: str
    label: str | None = None
    id: str | None = None

    def branches(self) -> tuple[Steps, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class Answer(Step):
    """Answer the call (pycc has normally done so before the flow starts)."""


@dataclass(frozen=True, kw_only=True)
class Hangup(Step):
    """End the call."""


@dataclass(frozen=True, kw_only=True)
class Goto(Step):
    """Continue at the step whose id is ``target``."""

    target: str


@dataclass(frozen=True, kw_only=True)
class Play(Step):
    prompt: str
    stop_on: str = ""


@dataclass(frozen=True, kw_only=True)
class Menu(Step):
    """Play ``prompt`` and take one key, up to ``retries`` more times on no or a bad key."""

    prompt: str
    timeout: float
    retries: int
    options: Mapping[str, Steps]
    invalid: str | None
    on_invalid: Steps
    on_timeout: Steps

    def branches(self) -> tuple[Steps, ...]:
        return (*self.options.values(), self.on_invalid, self.on_timeout)


@dataclass(frozen=True, kw_only=True)
class Collect(Step):
    var: str
    min_digits: int
    max_digits: int
    terminator: str
    timeout: float
    inter_digit: float
    prompt: str | None


@dataclass(frozen=True, kw_only=True)
class SetVars(Step):
    """Set each variable to its template, in order (a later one may use an earlier one)."""

    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class If(Step):
    var: str
    test: IfTest
    operand: str = ""
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    number: float = 0.0
    then: Branch = None
    otherwise: Branch = None

    def holds(self, value: str, fill: Callable[[str], str]) -> bool:
        """Whether the variable's ``value`` passes the test (``fill`` substitutes the
        variables in the operands)."""
        if self.test == "equals":
            return value == fill(self.operand)
        if self.test == "not_equals":
            return value != fill(self.operand)
        if self.test == "in":
            return value in {fill(choice) for choice in self.choices}
        if self.test == "matches":
            return self.pattern is not None and self.pattern.fullmatch(value) is not None
        try:
            number = float(value)
        except ValueError:
            return False
        if not math.isfinite(number):
            return False
        return number < self.number if self.test == "less" else number > self.number

    def branches(self) -> tuple[Steps, ...]:
        return tuple(b for b in (self.then, self.otherwise) if b is not None)


@dataclass(frozen=True, kw_only=True)
class Time(Step):
    condition: TimeRule
    then: Branch = None
    otherwise: Branch = None

    def branches(self) -> tuple[Steps, ...]:
        return tuple(b for b in (self.then, self.otherwise) if b is not None)


@dataclass(frozen=True, kw_only=True)
class Http(Step):
    """Ask a web service; the top-level scalars of its JSON answer become ``into.KEY``."""

    method: Literal["GET", "POST"]
    url: str
    body: Mapping[str, object] | None
    timeout: float
    into: str
    on_error: Branch = None

    def branches(self) -> tuple[Steps, ...]:
        return () if self.on_error is None else (self.on_error,)


@dataclass(frozen=True, kw_only=True)
class Transfer(Step):
    """Send the call to ``target`` (its name a template); ``target_where`` is where the
    name is written."""

    target: Target
    target_where: str


@dataclass(frozen=True, kw_only=True)
class Record(Step):
    """Record a message from the caller; the variable ``recording`` gets the file's path."""

    name: str
    max_seconds: float
    beep: bool
    silence: float | None
    stop_on: str


@dataclass(frozen=True)
class Flow:
    """A parsed, valid flow. ``positions`` maps each step id to where it is (for goto)."""

    name: str
    steps: Steps
    where: str = "steps"
    positions: Mapping[str, tuple[Frame, ...]] = field(default_factory=dict, compare=False,
                                                       repr=False)

    def walk(self) -> Iterator[Step]:
        """Every step, branches included, in the order they are written."""
        yield from _walk(self.steps)

    def references(self) -> list[tuple[str, str, str]]:
        """(where, kind, name) of every queue, IVR, extension, conference and voicemail box
        the flow may transfer to; names made of variables are only known while it runs."""
        found: list[tuple[str, str, str]] = []
        for step in self.walk():
            if isinstance(step, Transfer) and step.target.kind in REFERENCE_KINDS \
                    and "${" not in step.target.name:
                found.append((step.target_where, step.target.kind, step.target.name))
        return found

    def locate(self, step_id: str) -> tuple[Frame, ...]:
        """The frames that make ``step_id`` the next step to run."""
        return self.positions[step_id]


def _walk(steps: Steps) -> Iterator[Step]:
    for step in steps:
        yield step
        for branch in step.branches():
            yield from _walk(branch)


def _positions(steps: Steps, chain: tuple[Frame, ...],
               into: dict[str, tuple[Frame, ...]]) -> None:
    for index, step in enumerate(steps):
        if step.id is not None:
            into[step.id] = (*chain, (steps, index))
        for branch in step.branches():
            # Once the branch is done the flow goes on after the step that took it.
            _positions(branch, (*chain, (steps, index + 1)), into)


# -- parsing ----------------------------------------------------------------------------------


def parse_flow(name: str, steps: object, where: str = "steps", *,
               calendars: Mapping[str, HolidayCalendar] | None = None) -> Flow:
    """The flow ``name`` from its ``steps`` as the apply file has them; the first problem
    raises :class:`FlowError` (``validate_flow`` lists them all). ``calendars`` are the
    holiday calendars ``time`` steps may name."""
    errors, flow = _parse(name, steps, where, calendars)
    if errors:
        raise errors[0]
    assert flow is not None
    return flow


def validate_flow(name: str, steps: object, where: str = "steps", *,
                  calendars: Mapping[str, HolidayCalendar] | None = None) -> list[FlowError]:
    """Every problem in the flow (an empty list when it is valid)."""
    return _parse(name, steps, where, calendars)[0]


def _parse(name: str, steps: object, where: str,
           calendars: Mapping[str, HolidayCalendar] | None) -> tuple[list[FlowError],
                                                                    Flow | None]:
    parser = _Parser(calendars or {})
    if not isinstance(name, str) or not name.strip():
        parser.fail(where, "the flow needs a name")
    parsed = parser.steps(steps, where, None, 0)
    if isinstance(steps, list) and not steps:
        parser.fail(where, "a flow needs at least one step")
    parser.check_gotos()
    if parser.errors or parsed is None:
        return parser.errors, None
    positions: dict[str, tuple[Frame, ...]] = {}
    _positions(parsed, (), positions)
    return [], Flow(name, parsed, where, positions)


def _at(where: str, key: object) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{where}.{key}"
    return f"{where}[{key!r}]"


def _kind(value: object) -> str:
    """How a bad value is described in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{value!r} (true/false)"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _routing_error(exc: Exception, where: str) -> FlowError:
    """A time condition's error, its place split off its message."""
    text = str(exc)
    if text.startswith(where):
        rest = text[len(where):]
        cut = rest.find(": ")
        if cut >= 0:
            return FlowError(where + rest[:cut], rest[cut + 2:])
    return FlowError(where, text)


class _Common(TypedDict):
    """What every step has: its place in the file, its label and its id."""

    where: str
    label: str | None
    id: str | None


_Body: TypeAlias = Callable[[object, str, str, _Common, int], "Step | None"]


class _Parser:
    """Walks the raw steps, collecting every problem; a step with a problem is left out."""

    def __init__(self, calendars: Mapping[str, HolidayCalendar]) -> None:
        self.errors: list[FlowError] = []
        self.calendars = calendars
        self.ids: dict[str, str] = {}
        self.gotos: list[tuple[str, str]] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(FlowError(where, message))

    def check_gotos(self) -> None:
        for where, target in self.gotos:
            if target not in self.ids:
                known = ", ".join(sorted(self.ids)) or "none"
                self.fail(where, f"no step has the id {target!r} (ids: {known})")

    # -- step lists and steps ---------------------------------------------------------------
    def steps(self, value: object, where: str, parent: str | None, depth: int) -> Steps | None:
        if depth > MAX_DEPTH:
            self.fail(where, f"steps nested more than {MAX_DEPTH} deep")
            return None
        if not isinstance(value, list):
            self.fail(where, f"expected a list of steps, not {_kind(value)}")
            return None
        result: list[Step] = []
        complete = True
        for index, item in enumerate(value):
            label = str(index + 1) if parent is None else f"{parent}.{index + 1}"
            step = self.step(item, f"{where}[{index}]", label, depth)
            if step is None:
                complete = False
            else:
                result.append(step)
        return tuple(result) if complete else None

    def step(self, item: object, where: str, label: str, depth: int) -> Step | None:
        expected = ", ".join(STEP_KINDS)
        if isinstance(item, str):
            if item == "answer":
                return Answer(where=where, label=label)
            if item == "hangup":
                return Hangup(where=where, label=label)
            if item in STEP_KINDS:
                self.fail(where, f"the {item} step needs settings: {{{item}: ...}}")
            else:
                self.fail(where, f"unknown step {_kind(item)} (expected one of: {expected})")
            return None
        if not isinstance(item, Mapping):
            self.fail(where, f"expected a step (a name or a mapping with one step), "
                             f"not {_kind(item)}")
            return None
        mark = len(self.errors)
        kinds: list[str] = []
        for key in item:
            if key == "id":
                continue
            if isinstance(key, str) and key in STEP_KINDS:
                kinds.append(key)
            else:
                self.fail(_at(where, key), f"unknown step {key!r} (expected one of: {expected})")
        step_id: str | None = None
        if "id" in item:
            step_id = self.step_id(item["id"], f"{where}.id")
            if step_id is not None:
                label = step_id
        if not kinds:
            if len(self.errors) == mark:
                self.fail(where, f"no step in this item (expected one of: {expected})")
            return None
        if len(kinds) > 1:
            self.fail(where, f"one step per item, found {' and '.join(kinds)}")
            return None
        kind = kinds[0]
        step = self.body(kind, item[kind], where, label, step_id, depth)
        return step if len(self.errors) == mark else None

    def step_id(self, value: object, where: str) -> str | None:
        if not isinstance(value, str) or _ID.fullmatch(value) is None:
            self.fail(where, f"expected a step id (a letter, then letters, digits, _ or -), "
                             f"not {_kind(value)}")
            return None
        first = self.ids.get(value)
        if first is not None:
            self.fail(where, f"duplicate step id {value!r} (also at {first})")
            return None
        self.ids[value] = where
        return value

    def body(self, kind: str, value: object, where: str, label: str, step_id: str | None,
             depth: int) -> Step | None:
        at = f"{where}.{kind}"
        common: _Common = {"where": where, "label": label, "id": step_id}
        if kind in ("answer", "hangup"):
            if not (value is None or (isinstance(value, Mapping) and not value)):
                self.fail(at, f"the {kind} step takes no settings")
            return Answer(**common) if kind == "answer" else Hangup(**common)
        if kind == "goto":
            return self.goto(value, at, common)
        if kind == "transfer":
            return self.transfer(value, at, common)
        parsers: dict[str, _Body] = {
            "play": self.play, "menu": self.menu, "collect": self.collect, "set": self.set_vars,
            "if": self.if_step, "time": self.time, "http": self.http, "record": self.record,
        }
        return parsers[kind](value, at, label, common, depth)

    # -- branches and targets ----------------------------------------------------------------
    def branch(self, value: object, where: str, label: str, depth: int) -> Steps:
        bare: _Common = {"where": where, "label": None, "id": None}
        if value == "hangup":
            return (Hangup(**bare),)
        if isinstance(value, list):
            return self.steps(value, where, label, depth + 1) or ()
        if isinstance(value, Mapping) and value:
            step: Step | None
            if "goto" in value:
                if len(value) != 1:
                    self.fail(where, "a goto branch has nothing else in it")
                step = self.goto(value["goto"], f"{where}.goto", bare)
            else:
                step = self.transfer(value, where, bare)
            return () if step is None else (step,)
        self.fail(where, "expected a branch: a target such as {queue: NAME}, {goto: STEP_ID}, "
                         f"hangup, or a list of steps; not {_kind(value)}")
        return ()

    def optional_branch(self, fields: Mapping[str, object], key: str, where: str, label: str,
                        depth: int) -> Branch:
        if key not in fields:
            return None
        return self.branch(fields[key], f"{where}.{key}", f"{label}.{key}", depth)

    def goto(self, value: object, where: str, common: _Common) -> Goto | None:
        if not isinstance(value, str) or _ID.fullmatch(value) is None:
            self.fail(where, f"expected the id of a step, not {_kind(value)}")
            return None
        self.gotos.append((where, value))
        return Goto(**common, target=value)

    def transfer(self, value: object, where: str, common: _Common) -> Transfer | None:
        kinds = ", ".join(TARGET_KINDS)
        if not isinstance(value, Mapping) or not value:
            self.fail(where, f"expected one target ({kinds}) such as {{queue: sales}}, "
                             f"not {_kind(value)}")
            return None
        found: list[TargetKind] = []
        for key in value:
            if isinstance(key, str) and key in TARGET_KINDS:
                found.append(key)
            else:
                self.fail(_at(where, key), f"unknown target {key!r} (expected one of: {kinds})")
        if len(found) != 1:
            if found:
                self.fail(where, f"one target at a time, found {' and '.join(found)}")
            return None
        kind = found[0]
        name_where = f"{where}.{kind}"
        name = self.name(value[kind], name_where)
        if not name:
            return None
        return Transfer(**common, target=Target(kind, name), target_where=name_where)

    def name(self, value: object, where: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"expected a name, not {_kind(value)}")
            return ""
        if len(value) > MAX_NAME or _CONTROL.search(value):
            self.fail(where, f"a name has at most {MAX_NAME} printable characters")
            return ""
        self.template(value, where)
        return value

    # -- fields ---------------------------------------------------------------------------------
    def fields(self, value: object, where: str, allowed: Collection[str],
               required: Collection[str] = ()) -> Mapping[str, object] | None:
        if not isinstance(value, Mapping):
            self.fail(where, f"expected a mapping of settings ({', '.join(allowed)}), "
                             f"not {_kind(value)}")
            return None
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.fail(_at(where, key),
                          f"unknown field {key!r} (expected one of: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.fail(f"{where}.{key}", "this field is required")
        return cast(Mapping[str, object], value)

    def number(self, fields: Mapping[str, object], key: str, where: str, default: float,
               high: float) -> float:
        value = fields.get(key, default)
        at = f"{where}.{key}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(at, f"expected a number of seconds, not {_kind(value)}")
            return default
        if not math.isfinite(value) or not 0 < value <= high:
            self.fail(at, f"expected more than 0 and at most {high:g}, not {value!r}")
            return default
        return float(value)

    def integer(self, fields: Mapping[str, object], key: str, where: str, default: int,
                low: int, high: int) -> int:
        value = fields.get(key, default)
        at = f"{where}.{key}"
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(at, f"expected a whole number, not {_kind(value)}")
            return default
        if not low <= value <= high:
            self.fail(at, f"expected {low} to {high}, not {value}")
            return default
        return value

    def boolean(self, fields: Mapping[str, object], key: str, where: str,
                default: bool) -> bool:
        value = fields.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{where}.{key}", f"expected true or false, not {_kind(value)}")
            return default
        return value

    def keys(self, fields: Mapping[str, object], key: str, where: str, default: str) -> str:
        value = fields.get(key, default)
        at = f"{where}.{key}"
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if not isinstance(value, str) or any(char not in KEYS for char in value):
            self.fail(at, f"expected keys from 0-9, * and #, not {_kind(value)}")
            return default
        return value

    def variable(self, value: object, where: str) -> str:
        problem = check_variable(value)
        if problem is not None:
            self.fail(where, problem)
            return ""
        assert isinstance(value, str)
        return value

    def template(self, text: str, where: str) -> None:
        problem = _template_problem(text)
        if problem is not None:
            self.fail(where, problem)

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"expected text, not {_kind(value)}")
            return ""
        if len(value) > MAX_TEXT:
            self.fail(where, f"text longer than {MAX_TEXT} characters")
            return ""
        self.template(value, where)
        return value

    def scalar(self, value: object, where: str) -> str:
        """A value written in the file as text, a number, true/false or nothing."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(where, f"expected a finite number, not {value!r}")
                return ""
            return repr(value)
        return self.text(value, where)

    def prompt(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"expected a prompt (a file, tone:NAME or tts:TEXT), "
                             f"not {_kind(value)}")
            return ""
        if value.startswith("tone:"):
            self.tone(value[5:], where)
        elif value.startswith("tts:"):
            spoken = value[4:]
            if not spoken.strip():
                self.fail(where, "tts: needs the text to speak")
            elif len(spoken) > MAX_TEXT:
                self.fail(where, f"tts text longer than {MAX_TEXT} characters")
            else:
                self.template(spoken, where)
        elif "\x00" in value or len(value) > 1024:
            self.fail(where, "not a usable file name")
        elif "${" in value:
            self.fail(where, "variables are only filled in in tts: prompts, not in file names")
        return value

    def tone(self, name: str, where: str) -> None:
        if name.lower().startswith("dtmf:"):
            keys = name[5:]
            if not keys or any(key not in _DTMF_TONE_KEYS for key in keys):
                self.fail(where, f"tone:{name}: expected DTMF keys (0-9, *, #, A-D)")
            return
        if name and all(key in _DTMF_TONE_KEYS for key in name):
            return
        try:
            tone(name)
        except KeyError as exc:
            self.fail(where, str(exc.args[0]) if exc.args else f"unknown tone {name!r}")

    # -- the steps -----------------------------------------------------------------------------
    def play(self, value: object, where: str, label: str, common: _Common,
             depth: int) -> Step | None:
        if isinstance(value, str):
            return Play(**common, prompt=self.prompt(value, where))
        if not isinstance(value, Mapping):
            self.fail(where, "expected a prompt (a file, tone:NAME or tts:TEXT) or "
                             f"{{prompt: ..., stop_on: ...}}, not {_kind(value)}")
            return None
        fields = self.fields(value, where, ("prompt", "stop_on"), ("prompt",))
        if fields is None:
            return None
        prompt = self.prompt(fields["prompt"], f"{where}.prompt") if "prompt" in fields else ""
        return Play(**common, prompt=prompt, stop_on=self.keys(fields, "stop_on", where, ""))

    def menu(self, value: object, where: str, label: str, common: _Common,
             depth: int) -> Step | None:
        allowed = ("prompt", "timeout", "retries", "options", "invalid", "on_invalid",
                   "on_timeout")
        fields = self.fields(value, where, allowed, ("prompt", "options"))
        if fields is None:
            return None
        prompt = self.prompt(fields["prompt"], f"{where}.prompt") if "prompt" in fields else ""
        options: dict[str, Steps] = {}
        raw = fields.get("options")
        at = f"{where}.options"
        if isinstance(raw, Mapping) and raw:
            for key, branch in raw.items():
                option_where = _at(at, key)
                digit = _option_key(key)
                if digit is None:
                    self.fail(option_where, f"an option is one key: 0-9, * or #, not {key!r}")
                elif digit in options:
                    self.fail(option_where, f"the key {digit} is given twice")
                else:
                    options[digit] = self.branch(branch, option_where, f"{label}.{digit}",
                                                 depth)
        elif "options" in fields:
            self.fail(at, f"expected keys (0-9, * and #) with their branches, "
                          f"not {_kind(raw)}")
        invalid = (self.prompt(fields["invalid"], f"{where}.invalid")
                   if "invalid" in fields else None)
        # Without on_invalid / on_timeout, a caller who never chooses is hung up on.
        hangup: Steps = (Hangup(where=where),)
        on_invalid = self.optional_branch(fields, "on_invalid", where, label, depth)
        on_timeout = self.optional_branch(fields, "on_timeout", where, label, depth)
        return Menu(
            **common, prompt=prompt,
            timeout=self.number(fields, "timeout", where, 5.0, 600.0),
            retries=self.integer(fields, "retries", where, 2, 0, 10),
            options=options, invalid=invalid,
            on_invalid=hangup if on_invalid is None else on_invalid,
            on_timeout=hangup if on_timeout is None else on_timeout)

    def collect(self, value: object, where: str, label: str, common: _Common,
                depth: int) -> Step | None:
        allowed = ("var", "min", "max", "terminator", "timeout", "inter_digit", "prompt")
        fields = self.fields(value, where, allowed, ("var",))
        if fields is None:
            return None
        var = self.variable(fields["var"], f"{where}.var") if "var" in fields else ""
        max_digits = self.integer(fields, "max", where, 4, 1, 64)
        min_digits = self.integer(fields, "min", where, 1, 0, 64)
        if min_digits > max_digits:
            self.fail(f"{where}.min", f"min ({min_digits}) is more than max ({max_digits})")
        prompt = self.prompt(fields["prompt"], f"{where}.prompt") if "prompt" in fields \
            else None
        return Collect(**common, var=var, min_digits=min_digits, max_digits=max_digits,
                       terminator=self.keys(fields, "terminator", where, "#"),
                       timeout=self.number(fields, "timeout", where, 5.0, 600.0),
                       inter_digit=self.number(fields, "inter_digit", where, 3.0, 600.0),
                       prompt=prompt)

    def set_vars(self, value: object, where: str, label: str, common: _Common,
                 depth: int) -> Step | None:
        if not isinstance(value, Mapping) or not value:
            self.fail(where, f"expected variables and their values, not {_kind(value)}")
            return None
        values: list[tuple[str, str]] = []
        for key, raw in value.items():
            at = _at(where, key)
            problem = check_variable(key)
            if problem is not None:
                self.fail(at, problem)
                continue
            values.append((cast(str, key), self.scalar(raw, at)))
        return SetVars(**common, values=tuple(values))

    def if_step(self, value: object, where: str, label: str, common: _Common,
                depth: int) -> Step | None:
        fields = self.fields(value, where, ("var", *IF_TESTS, "then", "else"), ("var",))
        if fields is None:
            return None
        var = self.variable(fields["var"], f"{where}.var") if "var" in fields else ""
        then = self.optional_branch(fields, "then", where, label, depth)
        otherwise = self.optional_branch(fields, "else", where, label, depth)
        if then is None and otherwise is None:
            self.fail(where, "needs then, else or both")
        tests = [test for test in IF_TESTS if test in fields]
        if len(tests) != 1:
            if not tests:
                self.fail(where, f"needs one test: {', '.join(IF_TESTS)}")
            else:
                self.fail(where, f"one test per if, found {' and '.join(tests)}")
            return None
        test = tests[0]
        raw = fields[test]
        at = f"{where}.{test}"
        operand, pattern, number = "", None, 0.0
        choices: tuple[str, ...] = ()
        if test in ("equals", "not_equals"):
            operand = self.scalar(raw, at)
        elif test == "in":
            if isinstance(raw, list) and raw:
                choices = tuple(self.scalar(item, f"{at}[{index}]")
                                for index, item in enumerate(raw))
            else:
                self.fail(at, f"expected a list of values, not {_kind(raw)}")
        elif test == "matches":
            pattern = self.regex(raw, at)
        elif isinstance(raw, bool) or not isinstance(raw, int | float) \
                or not math.isfinite(raw):
            self.fail(at, f"expected a number, not {_kind(raw)}")
        else:
            number = float(raw)
        return If(**common, var=var, test=test, operand=operand, choices=choices,
                  pattern=pattern, number=number, then=then, otherwise=otherwise)

    def regex(self, value: object, where: str) -> re.Pattern[str] | None:
        if not isinstance(value, str):
            self.fail(where, f"expected a regular expression, not {_kind(value)}")
            return None
        try:
            return re.compile(value)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            self.fail(where, f"not a valid regular expression: {exc}")
            return None

    def time(self, value: object, where: str, label: str, common: _Common,
             depth: int) -> Step | None:
        fields = self.fields(value, where, ("when", "then", "else"), ("when",))
        if fields is None:
            return None
        then = self.optional_branch(fields, "then", where, label, depth)
        otherwise = self.optional_branch(fields, "else", where, label, depth)
        if then is None and otherwise is None:
            self.fail(where, "needs then, else or both")
        condition = self.condition(fields["when"], f"{where}.when") if "when" in fields \
            else None
        if condition is None:
            return None
        return Time(**common, condition=condition, then=then, otherwise=otherwise)

    def condition(self, value: object, where: str) -> TimeRule | None:
        if isinstance(value, Mapping):
            return self.one_condition(value, where)
        if isinstance(value, list) and value:
            conditions = [self.one_condition(item, f"{where}[{index}]")
                          for index, item in enumerate(value)]
            found = tuple(c for c in conditions if c is not None)
            return TimeSchedule(found) if len(found) == len(conditions) else None
        self.fail(where, "expected a time condition such as {weekdays: mon-fri, "
                         f"hours: 09:00-17:00}} or a list of them, not {_kind(value)}")
        return None

    def one_condition(self, value: object, where: str) -> TimeCondition | None:
        if not isinstance(value, Mapping):
            self.fail(where, f"expected a time condition, not {_kind(value)}")
            return None
        try:
            return TimeCondition.from_dict(value, self.calendars, where=where)
        except (ValueError, TypeError) as exc:
            self.errors.append(_routing_error(exc, where))
            return None

    def http(self, value: object, where: str, label: str, common: _Common,
             depth: int) -> Step | None:
        allowed = ("method", "url", "json", "timeout", "into", "on_error")
        fields = self.fields(value, where, allowed, ("url",))
        if fields is None:
            return None
        method: Literal["GET", "POST"] = "GET"
        raw_method = fields.get("method", "GET")
        if isinstance(raw_method, str) and raw_method.upper() in ("GET", "POST"):
            method = "POST" if raw_method.upper() == "POST" else "GET"
        else:
            self.fail(f"{where}.method", f"expected GET or POST, not {_kind(raw_method)}")
        url = ""
        if "url" in fields:
            url = self.text(fields["url"], f"{where}.url")
            if not url.startswith(("http://", "https://", "${")):
                self.fail(f"{where}.url", "expected an http:// or https:// address")
        body: Mapping[str, object] | None = None
        if "json" in fields:
            raw = fields["json"]
            if not isinstance(raw, Mapping):
                self.fail(f"{where}.json", f"expected a mapping (a JSON object), "
                                           f"not {_kind(raw)}")
            else:
                self.json(raw, f"{where}.json", 0)
                body = cast(Mapping[str, object], raw)
                if method == "GET":
                    self.fail(f"{where}.json", "a GET request has no body: use method: POST")
        into = self.variable(fields["into"], f"{where}.into") if "into" in fields else "http"
        return Http(**common, method=method, url=url, body=body,
                    timeout=self.number(fields, "timeout", where, 5.0, 60.0), into=into,
                    on_error=self.optional_branch(fields, "on_error", where, label, depth))

    def json(self, value: object, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.fail(where, f"nested more than {MAX_DEPTH} deep")
        elif isinstance(value, str):
            self.text(value, where)
        elif isinstance(value, float) and not math.isfinite(value):
            self.fail(where, f"JSON has no {value!r}")
        elif value is None or isinstance(value, bool | int | float):
            return
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.json(item, f"{where}[{index}]", depth + 1)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str):
                    self.json(item, _at(where, key), depth + 1)
                else:
                    self.fail(_at(where, key), "a JSON object's keys are text")
        else:
            self.fail(where, f"not a JSON value: {_kind(value)}")

    def record(self, value: object, where: str, label: str, common: _Common,
               depth: int) -> Step | None:
        allowed = ("name", "max_seconds", "beep", "silence", "stop_on")
        fields = self.fields(value, where, allowed) if value is not None else {}
        if fields is None:
            return None
        name = self.name(fields["name"], f"{where}.name") if "name" in fields else "message"
        silence = (self.number(fields, "silence", where, 3.0, 60.0)
                   if fields.get("silence") is not None else None)
        return Record(**common, name=name,
                      max_seconds=self.number(fields, "max_seconds", where, 60.0, 3600.0),
                      beep=self.boolean(fields, "beep", where, True), silence=silence,
                      stop_on=self.keys(fields, "stop_on", where, "#"))


def _option_key(key: object) -> str | None:
    """A menu option's key; YAML reads an unquoted 1 as a number, which is accepted."""
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 9:
        return str(key)
    if isinstance(key, str) and len(key) == 1 and key in KEYS:
        return key
    return None
