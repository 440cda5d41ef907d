"""A dialer campaign's settings: validation of one ``campaigns:`` entry of ``pycc apply``.

`CampaignConfig.from_dict` checks an entry and raises `CampaignError` naming the exact field
(``campaigns[0].retries.busy.max``) on the first problem. The fields:

- ``name`` (required); ``mode``: preview, progressive, predictive (the default) or one of the
  VICIdial-style baselines ratio, adapt_hard_limit, adapt_tapered, adapt_average;
- ``queue``: the ACD queue whose agents take the calls (a campaign without one is stored but
  cannot start); ``trunk``: a trunk name or a list tried in order (none: the dial plan's
  routes choose);
- ``abandon_limit`` (default 0.03, at most 0.2); ``dial_level`` (or its synonym ``ratio``):
  lines per available agent for progressive and ratio, the starting level of the adaptive
  baselines (default 1); ``max_dial_level`` (default 3), the cap of the adaptive ones;
- ``caller_ids``: E.164 numbers used round-robin; ``country``: the numbering plan of contact
  numbers written without ``+`` (``US``, ``GB``...; none: every number needs its ``+``);
  ``timezone``: the zone of contacts whose zone cannot be told from their number (UTC);
- ``window: {start: "09:00", end: "20:00", days: mon-fri}`` in each contact's own zone;
- ``retries: {busy: {max: 3, after: 600}, ...}`` for busy, no_answer, failed, machine,
  abandoned, rejected (`pycc.pds.states` says how they count);
- ``ring_time`` (seconds before no answer; default 25, at least 15); ``amd: true`` turns on
  answering-machine detection; ``machine``: ``hangup`` (default) or ``message`` (after the
  beep), with the prompt to leave in ``machine_message``;
  ``abandon_message``: the prompt played when no agent is free; ``priority`` among campaigns.

Templates, in their minimal form: an entry with ``template: true`` is a template (it is never
dialed and may leave out what campaigns fill in); ``template: NAME`` in a later entry copies
every field of that template the entry does not set itself. A template comes before the
campaigns that use it, and a template cannot use another. `campaigns_from_entries` resolves a
whole ``campaigns:`` list. Unknown fields are errors. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycc.dsp.tones import tone
from pycc.pds.states import RETRYABLE_RESULTS, RetryRule
from pycc.pds.windows import CallingWindow, WindowError
from pycc.routing.translate import NUMBERING_PLANS

__all__ = [
    "DEFAULT_ABANDON_LIMIT",
    "DEFAULT_RING_TIME",
    "FIELDS",
    "MACHINE_ACTIONS",
    "MAX_ABANDON_LIMIT",
    "MIN_RING_TIME",
    "MODES",
    "CampaignConfig",
    "CampaignError",
    "campaigns_from_entries",
]

MODES: Final = ("preview", "progressive", "predictive", "ratio", "adapt_hard_limit",
                "adapt_tapered", "adapt_average")
MACHINE_ACTIONS: Final = ("hangup", "message")
DEFAULT_ABANDON_LIMIT: Final = 0.03
MAX_ABANDON_LIMIT: Final = 0.2
DEFAULT_RING_TIME: Final = 25.0
#: Ringing shorter than this hangs up on customers still walking to the phone (and
#: regulators, e.g. the US FTC's Telemarketing Sales Rule, require 15 seconds).
MIN_RING_TIME: Final = 15.0
MAX_RING_TIME: Final = 300.0
MAX_DIAL_LEVEL: Final = 20.0

FIELDS: Final = ("name", "mode", "queue", "trunk", "abandon_limit", "dial_level", "ratio",
                 "max_dial_level", "caller_ids", "country", "timezone", "window", "retries",
                 "ring_time", "machine", "machine_message", "abandon_message", "priority",
                 "template", "amd")
_WINDOW_FIELDS: Final = ("start", "end", "days")
_RULE_FIELDS: Final = ("max", "after")
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DTMF: Final = re.compile(r"[0-9*#A-Da-d]+")


class CampaignError(ValueError):
    """A campaign entry is wrong: ``where`` names the field (``campaigns[2].window.start``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    """A validated campaign (see the module docstring for each field's meaning)."""

    name: str
    mode: str = "predictive"
    queue: str | None = None
    trunks: tuple[str, ...] = ()
    abandon_limit: float = DEFAULT_ABANDON_LIMIT
    dial_level: float = 1.0
    max_dial_level: float = 3.0
    caller_ids: tuple[str, ...] = ()
    country: str | None = None
    timezone: str = "UTC"
    window: CallingWindow | None = None
    retries: Mapping[str, RetryRule] = field(default_factory=dict)
    ring_time: float = DEFAULT_RING_TIME
    machine: str = "hangup"
    machine_message: str | None = None
    abandon_message: str | None = None
    priority: int = 0
    #: Answering-machine detection on answered calls (adds up to a few seconds before a
    #: human reaches an agent); ``machine`` says what happens to a machine.
    amd: bool = False
    is_template: bool = False
    #: The template the entry named (its fields are already copied in).
    template: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, entry: object, where: str = "campaign",
                  templates: Mapping[str, Mapping[str, object]] | None = None,
                  ) -> CampaignConfig:
        """Check one entry; ``templates`` are the template entries it may name."""
        if not isinstance(entry, Mapping):
            raise CampaignError(where, f"expected a mapping with a name, not {_kind(entry)}")
        for key in entry:
            if key not in FIELDS:
                raise CampaignError(_at(where, str(key)),
                                    f"unknown field {key!r} (expected one of "
                                    f"{', '.join(FIELDS)})")
        if "name" not in entry:
            raise CampaignError(where, "missing field 'name'")
        name = _name(entry["name"], f"{where}.name")
        is_template, template = _template(entry.get("template", False), f"{where}.template")
        values: Mapping[str, object] = entry
        if template is not None:
            found = (templates or {}).get(template)
            if found is None:
                raise CampaignError(f"{where}.template",
                                    f"no template {template!r} (a template is an entry with "
                                    "template: true written before the campaigns using it)")
            values = {**{k: v for k, v in found.items() if k not in ("name", "template")},
                      **entry}
        return _build(values, where, name, is_template, template)

    @property
    def runnable(self) -> str | None:
        """Why the campaign cannot dial yet (a template, no queue), or None."""
        if self.is_template:
            return f"campaign {self.name!r} is a template"
        if self.queue is None:
            return f"campaign {self.name!r} has no queue whose agents take its calls"
        return None

    def to_dict(self) -> dict[str, object]:
        """The settings as an entry `from_dict` reads back equal (template resolved)."""
        value: dict[str, object] = {
            "name": self.name, "mode": self.mode, "abandon_limit": self.abandon_limit,
            "dial_level": self.dial_level, "max_dial_level": self.max_dial_level,
            "caller_ids": list(self.caller_ids), "timezone": self.timezone,
            "retries": {result: {"max": rule.max, "after": rule.after}
                        for result, rule in self.retries.items()},
            "ring_time": self.ring_time, "machine": self.machine, "priority": self.priority,
        }
        if self.amd:
            value["amd"] = True
        optional: dict[str, object | None] = {
            "queue": self.queue, "country": self.country,
            "window": None if self.window is None else self.window.to_dict(),
            "machine_message": self.machine_message, "abandon_message": self.abandon_message,
        }
        value.update({key: item for key, item in optional.items() if item is not None})
        if self.trunks:
            value["trunk"] = list(self.trunks)
        if self.is_template:
            value["template"] = True
        return value


def campaigns_from_entries(entries: Sequence[object],
                           where: str = "campaigns") -> list[CampaignConfig]:
    """Every entry of a ``campaigns:`` list, templates resolved, in order (templates too:
    see `CampaignConfig.is_template`); the first wrong entry raises `CampaignError`."""
    templates: dict[str, Mapping[str, object]] = {}
    configs: list[CampaignConfig] = []
    names: dict[str, int] = {}
    for index, entry in enumerate(entries):
        place = f"{where}[{index}]"
        config = CampaignConfig.from_dict(entry, place, templates)
        if config.name in names:
            raise CampaignError(f"{place}.name", f"campaign {config.name!r} is defined twice "
                                                 f"(first at {where}[{names[config.name]}])")
        names[config.name] = index
        if config.is_template:
            assert isinstance(entry, Mapping)
            templates[config.name] = entry
        configs.append(config)
    return configs


# -- the fields ----------------------------------------------------------------------------------


def _build(values: Mapping[str, object], where: str, name: str, is_template: bool,
           template: str | None) -> CampaignConfig:
    mode = values.get("mode", "predictive")
    if mode not in MODES:
        raise CampaignError(f"{where}.mode",
                            f"unknown mode {_kind(mode)} (one of {', '.join(MODES)})")
    queue = None
    if values.get("queue") is not None:
        queue = _name(values["queue"], f"{where}.queue")
    trunks = _trunks(values.get("trunk"), f"{where}.trunk")
    abandon = _number(values.get("abandon_limit", DEFAULT_ABANDON_LIMIT),
                      f"{where}.abandon_limit", 0.0, MAX_ABANDON_LIMIT)
    if "dial_level" in values and "ratio" in values:
        raise CampaignError(where, "give dial_level or ratio, not both")
    level_key = "ratio" if "ratio" in values else "dial_level"
    level = _number(values.get(level_key, 1.0), f"{where}.{level_key}", 0.0, MAX_DIAL_LEVEL,
                    above=True)
    maximum = _number(values.get("max_dial_level", max(3.0, level)),
                      f"{where}.max_dial_level", 0.0, MAX_DIAL_LEVEL, above=True)
    if maximum < level:
        raise CampaignError(f"{where}.max_dial_level",
                            f"must be at least the dial level {level:g}, not {maximum:g}")
    caller_ids = _caller_ids(values.get("caller_ids", []), f"{where}.caller_ids")
    country = None
    if values.get("country") is not None:
        country = _country(values["country"], f"{where}.country")
    zone = _zone(values.get("timezone", "UTC"), f"{where}.timezone")
    window = None
    if values.get("window") is not None:
        window = _window(values["window"], f"{where}.window")
    retries = _retries(values.get("retries", {}), f"{where}.retries")
    ring = _number(values.get("ring_time", DEFAULT_RING_TIME), f"{where}.ring_time",
                   MIN_RING_TIME, MAX_RING_TIME)
    machine = values.get("machine", "hangup")
    if machine not in MACHINE_ACTIONS:
        raise CampaignError(f"{where}.machine", f"expected hangup or message, not "
                                                f"{_kind(machine)}")
    machine_message = None
    if values.get("machine_message") is not None:
        machine_message = _prompt(values["machine_message"], f"{where}.machine_message")
    if machine == "message" and machine_message is None and not is_template:
        raise CampaignError(f"{where}.machine_message",
                            "machine: message needs the prompt to leave (machine_message)")
    abandon_message = None
    if values.get("abandon_message") is not None:
        abandon_message = _prompt(values["abandon_message"], f"{where}.abandon_message")
    priority = _whole(values.get("priority", 0), f"{where}.priority")
    amd = values.get("amd", False)
    if not isinstance(amd, bool):
        raise CampaignError(f"{where}.amd", f"expected true or false, not {_kind(amd)}")
    return CampaignConfig(
        name=name, mode=str(mode), queue=queue, trunks=trunks, abandon_limit=abandon,
        dial_level=level, max_dial_level=maximum, caller_ids=caller_ids, country=country,
        timezone=zone, window=window, retries=retries, ring_time=ring, machine=str(machine),
        machine_message=machine_message, abandon_message=abandon_message, priority=priority,
        amd=amd, is_template=is_template, template=template)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if _NAME.fullmatch(key) else f"{where}[{key!r}]"


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise CampaignError(where, f"expected a name (letters, digits, . _ -), not "
                                   f"{_kind(value)}")
    return value


def _template(value: object, where: str) -> tuple[bool, str | None]:
    if isinstance(value, bool):
        return value, None
    return False, _name(value, where)


def _trunks(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (_name(value, where),)
    if not isinstance(value, list) or not value:
        raise CampaignError(where, f"expected a trunk name or a list of them, not "
                                   f"{_kind(value)}")
    names = tuple(_name(item, f"{where}[{index}]") for index, item in enumerate(value))
    for index, trunk in enumerate(names):
        if trunk in names[:index]:
            raise CampaignError(f"{where}[{index}]", f"trunk {trunk!r} is listed twice")
    return names


def _number(value: object, where: str, low: float, high: float, *,
            above: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise CampaignError(where, f"expected a number, not {_kind(value)}")
    if value < low or (above and value == low) or value > high:
        relation = ">" if above else ">="
        raise CampaignError(where, f"must be {relation} {low:g} and <= {high:g}, not {value}")
    return float(value)


def _whole(value: object, where: str, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CampaignError(where, f"expected a whole number, not {_kind(value)}")
    if low is not None and value < low:
        raise CampaignError(where, f"must be >= {low}, not {value}")
    return value


def _caller_ids(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise CampaignError(where, f"expected a list of E.164 numbers, not {_kind(value)}")
    numbers: list[str] = []
    for index, item in enumerate(value):
        place = f"{where}[{index}]"
        if not isinstance(item, str) or not _E164.fullmatch(item):
            raise CampaignError(place, f"expected an E.164 number such as \"+15551230000\", "
                                       f"not {_kind(item)}")
        if item in numbers:
            raise CampaignError(place, f"{item} is listed twice")
        numbers.append(item)
    return tuple(numbers)


def _country(value: object, where: str) -> str:
    key = value.upper() if isinstance(value, str) else ""
    if key == "NANP":
        key = "US"
    if key not in NUMBERING_PLANS:
        raise CampaignError(where, f"no numbering plan for {_kind(value)} (known: "
                                   f"{', '.join(sorted(NUMBERING_PLANS))})")
    return key


def _zone(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise CampaignError(where, f"expected an IANA time zone, not {_kind(value)}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CampaignError(where, f"unknown time zone {value!r}") from None
    return value


def _window(value: object, where: str) -> CallingWindow:
    if not isinstance(value, Mapping):
        raise CampaignError(where, f"expected {{start: \"09:00\", end: \"20:00\"}}, not "
                                   f"{_kind(value)}")
    for key in value:
        if key not in _WINDOW_FIELDS:
            raise CampaignError(_at(where, str(key)), f"unknown field {key!r} (start, end, "
                                                      "days)")
    for key in ("start", "end"):
        if key not in value:
            raise CampaignError(where, f"missing field {key!r}")
        if not isinstance(value[key], str):
            raise CampaignError(f"{where}.{key}", f"expected a time such as \"09:00\", not "
                                                  f"{_kind(value[key])}")
    days = value.get("days")
    if days is not None and not isinstance(days, str) and not (
            isinstance(days, list) and all(isinstance(day, str) for day in days)):
        raise CampaignError(f"{where}.days", f"expected weekdays such as mon-fri, not "
                                             f"{_kind(days)}")
    try:
        hours = CallingWindow.parse(str(value["start"]), str(value["end"]))
    except WindowError as exc:
        raise CampaignError(where, str(exc)) from None
    if days is None:
        return hours
    try:
        weekdays = CallingWindow.parse("00:00", "24:00",
                                       ",".join(days) if isinstance(days, list) else days)
    except WindowError as exc:
        raise CampaignError(f"{where}.days", str(exc)) from None
    return CallingWindow(hours.start, hours.end, weekdays.days)


def _retries(value: object, where: str) -> dict[str, RetryRule]:
    if not isinstance(value, Mapping):
        raise CampaignError(where, f"expected {{busy: {{max: 3, after: 600}}, ...}}, not "
                                   f"{_kind(value)}")
    rules: dict[str, RetryRule] = {}
    for result, rule in value.items():
        place = _at(where, str(result))
        if result not in RETRYABLE_RESULTS:
            raise CampaignError(place, f"no retries for {result!r} (one of "
                                       f"{', '.join(RETRYABLE_RESULTS)})")
        if not isinstance(rule, Mapping):
            raise CampaignError(place, f"expected {{max: N, after: SECONDS}}, not "
                                       f"{_kind(rule)}")
        for key in rule:
            if key not in _RULE_FIELDS:
                raise CampaignError(_at(place, str(key)), f"unknown field {key!r} (max, after)")
        if "max" not in rule:
            raise CampaignError(place, "missing field 'max'")
        most = _whole(rule["max"], f"{place}.max", 1)
        after = _number(rule.get("after", 0), f"{place}.after", 0.0, 366 * 86400.0)
        rules[str(result)] = RetryRule(most, after)
    return rules


def _prompt(value: object, where: str) -> str:
    """A prompt: a file, ``tone:NAME`` or ``tts:TEXT``, as ``pycc apply`` takes them."""
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise CampaignError(where, f"expected a prompt (a file, tone:NAME or tts:TEXT), not "
                                   f"{_kind(value)}")
    if value.startswith("tone:") and not _DTMF.fullmatch(value[5:]):
        try:
            tone(value[5:])
        except KeyError as exc:
            raise CampaignError(where, str(exc.args[0])) from None
    if value.startswith("tts:") and not value[4:].strip():
        raise CampaignError(where, "tts: needs the text to speak")
    return value
