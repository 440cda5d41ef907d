"""Validation of the ``pycc apply`` file (DESIGN.md) into typed specs, every error at once.

`validate` checks a whole file and returns either a `CallCenterSpec` or the list of every
`ApplyError` in it, each naming its field path (``queues[0].ring_timeout``) and, when the
`Source` is given, its line and column: an operator fixes a file in one pass, not one error
per run. Nothing here raises on bad input.

The sections reuse the validators of the components that run them: queue rules become a
`pycc.ccs.QueueConfig`, IVR steps go through `pycc.sia.flow`, routes and DIDs through
`pycc.routing.DialPlan.from_dicts` (once per rule, so each rule's error is reported), trunks
through `pycc.ccmanager.trunks.TrunkConfig`, rate tables into `pycc.routing.rating` tables.
Then the cross references are checked: a queue's overflow, an IVR branch, a route target, a
trunk given a rate table must name a queue, flow or trunk of the file, or, for a section the
file leaves out, one stored already (``known``).

The ``rates`` section prices calls out, and ``limits.credit`` caps what they may cost::

    rates:
      tables:
        - name: retail
          increment: 60/60            # the table's default (60/60 if not given)
          rates:
            - {prefix: "44", price: 0.02, name: UK}
            - {prefix: "4420", price: "0.015", increment: 1/1, connection: 0.05}
      default: retail                 # the tenant's calls out over any other trunk
      trunks: {carrier: retail}       # a trunk's own table
    limits: {calls: 20, credit: 250.00, credit_since: "2025-06-01"}

Amounts are decimal (a YAML number is taken as written, never through binary floating
point); ``credit_since`` is an ISO date (UTC midnight) or date and time, or epoch seconds.

The ``dispositions`` section lists the codes agents end their calls with in wrap-up
(`pycc.ccc.dispositions`), 1 to 100 of them, each code once (case counts)::

    dispositions:
      - {code: sale, label: Sale}
      - {code: callback, label: Call back, callback: true}   # asks for a time to call back
      - {code: dnc, label: "Do not call"}

A tenant that never had the section gets `pycc.ccc.dispositions.DEFAULT_DISPOSITIONS`.
Unlike the other sections' entries, a disposition is stored in one spelling (``callback``
only when true), not as written: its spec holds the `Disposition` values alone.

Every spec keeps its entry as written (``raw``): the database stores that, canonical JSON, and
`pycc.provision.sync.load` rebuilds the spec from it with this same code. Specs compare by
those plain values; compiled objects (the dial plan, flows, queue configs) are left out of
equality, and so are extension passwords, which are never stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, TypeAlias, TypeVar

from pycc.ccc.dispositions import DEFAULT_DISPOSITIONS, Disposition, disposition_error
from pycc.ccmanager.trunks import TrunkConfig, TrunkConfigError
from pycc.ccs.queue import OverflowKind, OverflowTarget, QueueConfig, QueueError
from pycc.ccs.skills import MAX_LEVEL, MIN_LEVEL, SkillError, SkillSchedule
from pycc.ccs.strategies import STRATEGIES, QueueStrategy
from pycc.dsp.tones import tone
from pycc.pds.campaign import CampaignConfig, CampaignError
from pycc.provision.source import ApplyError, Source, child_path
from pycc.routing.dialplan import DialPlan, Ivr, Queue, Trunk
from pycc.routing.lists import NumberScreen, Screening
from pycc.routing.patterns import RoutingError
from pycc.routing.rating import (
    DEFAULT_INCREMENT,
    Increment,
    Rate,
    RatePlan,
    RateTable,
    RatingError,
    parse_money,
)
from pycc.routing.timecond import HolidayCalendar
from pycc.sia.flow import Flow, FlowError, parse_flow, validate_flow

__all__ = [
    "DEFAULT_TENANT",
    "SECTIONS",
    "AgentSpec",
    "AnnounceSpec",
    "CalendarSpec",
    "CallCenterSpec",
    "CallbackSpec",
    "Destination",
    "DidSpec",
    "ExtensionSpec",
    "IvrSpec",
    "Known",
    "LimitsSpec",
    "QueueSpec",
    "RatesSpec",
    "TrunkSpec",
    "route_names",
    "validate",
]

DEFAULT_TENANT: Final = "default"

#: The top-level keys of the file.
SECTIONS: Final = ("tenant", "realm", "extensions", "agents", "queues", "ivr", "routes",
                   "calendars", "trunks", "dids", "blacklist", "limits", "campaigns", "rates",
                   "dispositions")

#: Names stored already, by section, for references from a file that leaves a section out.
Known: TypeAlias = Mapping[str, Collection[str]]

Raw: TypeAlias = Mapping[str, object]

_S = TypeVar("_S")

_QUEUE_TARGETS: Final = ("queue", "ivr", "voicemail", "extension")
_DID_TARGETS: Final = ("ivr", "queue", "extension", "conference")
_STRATEGY_NAMES: Final = tuple(s.value for s in QueueStrategy)
_EXTENSION_CHARS: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_DIGITS: Final = re.compile(r"[0-9]+")
_DID_NUMBER: Final = re.compile(r"\+?[0-9*#]+")
_DTMF: Final = re.compile(r"[0-9*#A-Da-d]+")
_KEYS: Final = "0123456789*#"
_MIN_PASSWORD: Final = 8
_MAX_DISPOSITIONS: Final = 100

# -- the specs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a queue or a DID sends a call: ``{queue: support}`` is kind "queue"."""

    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class ExtensionSpec:
    """A phone's number and credentials; only the HA1 of ``password`` is ever stored."""

    number: str
    password: str = field(compare=False, repr=False)
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str
    extension: str
    skills: Mapping[str, int]
    name: str | None
    raw: Raw


@dataclass(frozen=True, slots=True)
class AnnounceSpec:
    """Tell waiting callers their place (``position``) and expected wait (``wait``)."""

    every: float
    position: bool
    wait: bool


@dataclass(frozen=True, slots=True)
class CallbackSpec:
    """A waiting caller may press ``key`` to be called back instead of holding."""

    key: str
    prompt: str | None


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue: the ACD's `QueueConfig` and what the media side plays to waiting callers.

    ``overflow`` is the target as written; ``config.overflow`` holds it for the ACD when the
    ACD knows the kind (an extension target is left to the service, from here).
    ``no_agents`` is where callers go at once when nobody is logged in to serve the queue.
    """

    name: str
    config: QueueConfig = field(compare=False)
    overflow: Destination | None
    no_agents: Destination | None
    music: str
    announce: AnnounceSpec | None
    callback: CallbackSpec | None
    raw: Raw


@dataclass(frozen=True, slots=True)
class IvrSpec:
    name: str
    flow: Flow = field(compare=False)
    steps: object
    raw: Raw


@dataclass(frozen=True, slots=True)
class TrunkSpec:
    name: str
    config: TrunkConfig = field(compare=False)
    raw: Raw


@dataclass(frozen=True, slots=True)
class DidSpec:
    """An inbound number and where its calls go; compiled into the dial plan before routes."""

    number: str
    target: Destination
    raw: Raw


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    name: str
    calendar: HolidayCalendar = field(compare=False)
    entries: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class LimitsSpec:
    """Per-tenant limits: ``calls`` concurrent calls at most (None: no limit); calls out over
    trunks stop once the calls started at or after ``credit_since`` (epoch seconds; None:
    ever) have cost ``credit`` (None: no limit)."""

    calls: int | None
    raw: Raw
    credit: Decimal | None = None
    credit_since: float | None = None


@dataclass(frozen=True)
class RatesSpec:
    """The ``rates`` section: named rate tables, the tenant's default table and the tables
    of particular trunks. Compared by the rates themselves, not as written."""

    tables: tuple[RateTable, ...]
    default: str | None
    trunks: Mapping[str, str]
    plan: RatePlan = field(compare=False)


@dataclass(frozen=True)
class CallCenterSpec:
    """A validated ``pycc apply`` file: one tenant's call center.

    ``sections`` are the top-level keys the file has: a section it leaves out is left as it
    is in the database. ``dial_plan`` holds the DIDs (first) and the routes, compiled;
    ``screening`` the blacklist. Equality compares the entries as written (see the module
    docstring); ``sections`` is not compared either, so a spec loaded back from the database
    equals the one applied. ``dispositions`` is None when the file has no such section.
    """

    tenant: str
    realm: str
    extensions: tuple[ExtensionSpec, ...]
    agents: tuple[AgentSpec, ...]
    queues: tuple[QueueSpec, ...]
    ivr: Mapping[str, IvrSpec]
    dial_plan: DialPlan = field(compare=False)
    routes: tuple[Raw, ...]
    trunks: tuple[TrunkSpec, ...]
    dids: tuple[DidSpec, ...]
    calendars: tuple[CalendarSpec, ...]
    screening: Screening = field(compare=False)
    blacklist: Raw | None
    limits: LimitsSpec | None
    campaigns: tuple[Raw, ...]
    sections: frozenset[str] = field(compare=False)
    rates: RatesSpec | None = None
    dispositions: tuple[Disposition, ...] | None = None


def route_names(routes: Collection[Raw]) -> list[str]:
    """A stable name for each route: its ``name``, else its ``match`` (``#2``, ``#3`` ... for
    repeats). The database keys routes by it, so editing one route updates one row."""
    used = {str(route["name"]) for route in routes if isinstance(route.get("name"), str)}
    names: list[str] = []
    for route in routes:
        given = route.get("name")
        if isinstance(given, str):
            names.append(given)
            continue
        base = str(route.get("match", "route"))
        candidate, repeat = base, 2
        while candidate in used:
            candidate, repeat = f"{base}#{repeat}", repeat + 1
        used.add(candidate)
        names.append(candidate)
    return names


def validate(data: object, *, source: Source | None = None, known: Known | None = None,
             default_tenant: str = DEFAULT_TENANT,
             ) -> tuple[CallCenterSpec | None, list[ApplyError]]:
    """Check a whole file: the spec and no errors, or None and every error found.

    ``source`` locates the errors in the file; ``known`` gives the names stored already for
    the sections the file leaves out (``{"queues": ["sales"], ...}``), which references may
    name; ``default_tenant`` is the tenant of a file without ``tenant``.
    """
    checker = _Checker(known or {})
    spec = checker.run(data, default_tenant)
    errors = checker.errors
    if source is not None:
        errors = [source.place(error) for error in errors]
    errors.sort(key=lambda e: (e.line is not None, e.line or 0, e.column or 0))
    return (None, errors) if errors else (spec, [])


# -- the checker -------------------------------------------------------------------------------


class _Checker:
    """Walks the file once, collecting errors; each section method returns its specs."""

    def __init__(self, known: Known) -> None:
        self.known = known
        self.errors: list[ApplyError] = []
        self.present: frozenset[str] = frozenset()
        # Names each section defines: the file's, or the stored ones if the file has none.
        self.names: dict[str, set[str]] = {}
        # extension -> the agent using it: one phone cannot be two agents.
        self.phones: dict[str, str] = {}
        # Holiday calendars by name, for routes' and flows' time conditions.
        self.calendar_map: dict[str, HolidayCalendar] = {}

    def fail(self, where: str, message: str) -> None:
        self.errors.append(ApplyError(where, message))

    # -- building blocks -----------------------------------------------------------------------

    def entry(self, value: object, where: str, allowed: Collection[str],
              required: Collection[str] = ()) -> Raw | None:
        """A mapping with all ``required`` fields, else None. Fields not ``allowed`` are
        reported, and the rest is still checked: the file gets every error at once."""
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping with {', '.join(allowed)}, "
                             f"not {_kind_of(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.fail(child_path(where, str(key)),
                          f"unknown field {key!r} (expected one of {', '.join(allowed)})")
        missing = [key for key in required if key not in value]
        for key in missing:
            self.fail(where, f"missing field {key!r}")
        return None if missing else value

    def items(self, value: object, where: str) -> list[object] | None:
        if not isinstance(value, list):
            self.fail(where, f"expected a list, not {_kind_of(value)}")
            return None
        return value

    def text(self, value: object, where: str, *, numbers: bool = False) -> str | None:
        """Non-empty text; with ``numbers``, a whole number is taken as its digits."""
        if numbers and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"expected text, not {_kind_of(value)}")
            return None
        if value != value.strip() or any(ord(c) < 32 for c in value):
            self.fail(where, f"{value!r}: no spaces at the ends and no control characters")
            return None
        return value

    def seconds(self, value: object, where: str, *, minimum: float = 0.0,
                inclusive: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value):
            self.fail(where, f"expected a number of seconds, not {_kind_of(value)}")
            return None
        if value < minimum or (value == minimum and not inclusive):
            relation = ">=" if inclusive else ">"
            self.fail(where, f"must be {relation} {minimum:g}, not {value}")
            return None
        return float(value)

    def whole(self, value: object, where: str, minimum: int, maximum: int | None = None,
              ) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"expected a whole number, not {_kind_of(value)}")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and <= {maximum}"
            self.fail(where, f"must be >= {minimum}{upper}, not {value}")
            return None
        return value

    def flag(self, value: object, where: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, not {_kind_of(value)}")
            return None
        return value

    def prompt(self, value: object, where: str) -> str | None:
        """A prompt: a file, ``tone:NAME`` or ``tts:TEXT``."""
        text = self.text(value, where)
        if text is None:
            return None
        if text.startswith("tone:"):
            name = text[5:]
            if not _DTMF.fullmatch(name):
                try:
                    tone(name)
                except KeyError as exc:
                    self.fail(where, str(exc.args[0]))
                    return None
        elif text.startswith("tts:") and not text[4:].strip():
            self.fail(where, "tts: needs the text to speak")
            return None
        return text

    def reference(self, section: str, label: str, name: str, where: str) -> None:
        if name in self.names.get(section, set()):
            return
        if section in self.present:
            self.fail(where, f"there is no {label} {name!r}")
        else:
            self.fail(where, f"no {label} {name!r}: the file has no {section} section and "
                             "none by that name is stored")

    def gather(self, data: Raw, section: str, key: str, label: str,
               numbers: bool = False) -> None:
        """The names a list section defines, reporting each name given twice."""
        if section not in data:
            self.names[section] = set(self.known.get(section, ()))
            return
        seen: dict[str, int] = {}
        entries = data[section]
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict) or key not in entry:
                continue
            value = entry[key]
            if numbers and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                continue
            if value in seen:
                self.fail(f"{section}[{index}].{key}",
                          f"{label} {value!r} is defined twice (first at "
                          f"{section}[{seen[value]}])")
            else:
                seen[value] = index
        self.names[section] = set(seen)

    def json_values(self, value: object, where: str) -> bool:
        """Whether ``value`` holds only what JSON stores unchanged."""
        if value is None or isinstance(value, str | bool | int | float):
            return True
        if isinstance(value, list):
            return all([self.json_values(item, child_path(where, index))
                        for index, item in enumerate(value)])
        if isinstance(value, dict):
            ok = True
            for key, item in value.items():
                if not isinstance(key, str):
                    self.fail(where, f"key {key!r}: keys must be text")
                    ok = False
                elif not self.json_values(item, child_path(where, key)):
                    ok = False
            return ok
        self.fail(where, f"unsupported value {_kind_of(value)}")
        return False

    # -- the file ------------------------------------------------------------------------------

    def run(self, data: object, default_tenant: str) -> CallCenterSpec | None:
        if not isinstance(data, dict):
            self.fail("", "expected a mapping of sections (tenant, extensions, agents, queues, "
                          f"ivr, routes, ...), not {_kind_of(data)}")
            return None
        if not self.json_values(data, ""):
            return None
        for key in data:
            if key not in SECTIONS:
                self.fail(key, f"unknown section {key!r} (expected one of "
                               f"{', '.join(SECTIONS)})")
        self.present = frozenset(key for key in data if key in SECTIONS)
        tenant = default_tenant
        if "tenant" in data:
            tenant = self.text(data["tenant"], "tenant") or default_tenant
        realm = tenant
        if "realm" in data:
            realm = self.realm(data["realm"]) or tenant

        self.gather(data, "extensions", "number", "extension", numbers=True)
        self.gather(data, "agents", "id", "agent")
        self.gather(data, "queues", "name", "queue")
        self.gather(data, "ivr", "name", "IVR flow")
        self.gather(data, "trunks", "name", "trunk")
        self.gather(data, "campaigns", "name", "campaign")
        self.gather(data, "dids", "number", "DID", numbers=True)
        if "calendars" in data:
            value = data["calendars"]
            self.names["calendars"] = set(value) if isinstance(value, dict) else set()
        else:
            self.names["calendars"] = set(self.known.get("calendars", ()))

        calendars = self.calendars(data["calendars"]) if "calendars" in data else []
        self.calendar_map = {c.name: c.calendar for c in calendars}
        if "calendars" not in data:
            # Stored calendars: their names resolve here; load() compiles the real ones.
            self.calendar_map = {name: HolidayCalendar(name)
                                 for name in self.names["calendars"]}
        calendar_map = self.calendar_map
        extensions = self.section(data, "extensions", self.extension)
        agents = self.section(data, "agents", self.agent)
        queues = self.section(data, "queues", self.queue)
        flows = self.section(data, "ivr", self.ivr)
        trunks = self.section(data, "trunks", self.trunk)
        screening = self.blacklist(data["blacklist"]) if "blacklist" in data else Screening()
        routes = self.routes(data.get("routes"), calendar_map) if "routes" in data else []
        dids = self.section(data, "dids", self.did)
        limits = self.limits(data["limits"]) if "limits" in data else None
        campaigns = self.section(data, "campaigns", self.campaign)
        rates = self.rates(data["rates"]) if "rates" in data else None
        dispositions = self.dispositions(data["dispositions"]) \
            if "dispositions" in data else None
        if self.errors or screening is None:
            return None
        plan = self.dial_plan(dids, routes, calendar_map, screening)
        if plan is None:
            return None
        blacklist = data.get("blacklist")
        return CallCenterSpec(
            tenant=tenant, realm=realm, extensions=tuple(extensions), agents=tuple(agents),
            queues=tuple(queues), ivr={flow.name: flow for flow in flows}, dial_plan=plan,
            routes=tuple(routes), trunks=tuple(trunks), dids=tuple(dids),
            calendars=tuple(calendars), screening=screening,
            blacklist=blacklist if isinstance(blacklist, dict) else None, limits=limits,
            campaigns=tuple(campaigns), sections=self.present, rates=rates,
            dispositions=dispositions,
        )

    def section(self, data: Raw, name: str,
                check: Callable[[object, str], _S | None]) -> list[_S]:
        if name not in data:
            return []
        entries = self.items(data[name], name)
        if entries is None:
            return []
        found = [check(entry, f"{name}[{index}]") for index, entry in enumerate(entries)]
        return [spec for spec in found if spec is not None]

    def realm(self, value: object) -> str | None:
        text = self.text(value, "realm")
        if text is not None and any(c in text for c in '"\\ '):
            self.fail("realm", f"{text!r}: a digest realm has no spaces, quotes or backslashes")
            return None
        return text

    # -- extensions and agents -----------------------------------------------------------------

    def extension(self, value: object, where: str) -> ExtensionSpec | None:
        entry = self.entry(value, where, ("number", "password", "name"), ("number", "password"))
        if entry is None:
            return None
        number = self.text(entry["number"], f"{where}.number", numbers=True)
        if number is not None and not _EXTENSION_CHARS.fullmatch(number):
            self.fail(f"{where}.number", f"{number!r}: use letters, digits, - _ . +")
            number = None
        password = self.text(entry["password"], f"{where}.password", numbers=True)
        if password is not None and len(password) < _MIN_PASSWORD:
            self.fail(f"{where}.password", f"must be at least {_MIN_PASSWORD} characters")
            password = None
        name = None
        if entry.get("name") is not None:
            name = self.text(entry["name"], f"{where}.name", numbers=True)
            if name is None:
                return None
        if number is None or password is None:
            return None
        return ExtensionSpec(number, password, name)

    def agent(self, value: object, where: str) -> AgentSpec | None:
        entry = self.entry(value, where, ("id", "extension", "skills", "name"),
                           ("id", "extension"))
        if entry is None:
            return None
        agent_id = self.text(entry["id"], f"{where}.id")
        extension = self.text(entry["extension"], f"{where}.extension", numbers=True)
        if extension is not None and extension not in self.names["extensions"] and \
                not _DIGITS.fullmatch(extension):
            self.fail(f"{where}.extension",
                      f"no extension {extension!r} (not in extensions, and not a number that "
                      "may be defined already)")
            extension = None
        if extension is not None and agent_id is not None:
            owner = self.phones.setdefault(extension, agent_id)
            if owner != agent_id:
                self.fail(f"{where}.extension",
                          f"extension {extension!r} is already agent {owner!r}'s")
                extension = None
        skills = self.skill_levels(entry.get("skills", {}), f"{where}.skills")
        name = None
        if entry.get("name") is not None:
            name = self.text(entry["name"], f"{where}.name")
            if name is None:
                return None
        if agent_id is None or extension is None or skills is None:
            return None
        return AgentSpec(agent_id, extension, skills, name, entry)

    def skill_levels(self, value: object, where: str) -> dict[str, int] | None:
        if not isinstance(value, dict):
            self.fail(where, f"expected {{skill: level}}, not {_kind_of(value)}")
            return None
        levels: dict[str, int] = {}
        for skill, level in value.items():
            checked = self.whole(level, child_path(where, skill), MIN_LEVEL, MAX_LEVEL)
            if checked is not None:
                levels[skill] = checked
        return levels if len(levels) == len(value) else None

    # -- queues --------------------------------------------------------------------------------

    _QUEUE_FIELDS: Final = ("name", "skill", "skills", "strategy", "ring_timeout", "wrapup",
                            "max_wait", "max_size", "overflow", "no_agents", "music",
                            "announce", "callback", "service_level", "agent_order")

    def queue(self, value: object, where: str) -> QueueSpec | None:
        entry = self.entry(value, where, self._QUEUE_FIELDS, ("name",))
        if entry is None:
            return None
        before = len(self.errors)
        name = self.text(entry["name"], f"{where}.name") or ""
        skills = self.queue_skills(entry, where)
        strategy = entry.get("strategy", QueueStrategy.LONGEST_IDLE.value)
        known_strategies = [*_STRATEGY_NAMES, *(k for k in STRATEGIES if isinstance(k, str))]
        if strategy not in known_strategies:
            self.fail(f"{where}.strategy", f"unknown strategy {strategy!r} (one of "
                                           f"{', '.join(known_strategies)})")
        ring = self.seconds(entry.get("ring_timeout", 15), f"{where}.ring_timeout")
        wrapup = self.seconds(entry.get("wrapup", 5), f"{where}.wrapup", inclusive=True)
        max_wait = None
        if entry.get("max_wait") is not None:
            max_wait = self.seconds(entry["max_wait"], f"{where}.max_wait")
        max_size = None
        if entry.get("max_size") is not None:
            max_size = self.whole(entry["max_size"], f"{where}.max_size", 1)
        service_level = self.seconds(entry.get("service_level", 20), f"{where}.service_level")
        overflow = no_agents = None
        if entry.get("overflow") is not None:
            overflow = self.queue_target(entry["overflow"], f"{where}.overflow", name)
        if entry.get("no_agents") is not None:
            no_agents = self.queue_target(entry["no_agents"], f"{where}.no_agents", name)
        music = self.prompt(entry.get("music", "tone:hold"), f"{where}.music")
        announce = None
        if entry.get("announce") is not None:
            announce = self.announce(entry["announce"], f"{where}.announce")
        callback = None
        if entry.get("callback") is not None:
            callback = self.callback(entry["callback"], f"{where}.callback")
        order = self.agent_order(entry.get("agent_order", []), f"{where}.agent_order")
        if len(self.errors) > before or skills is None or ring is None or wrapup is None \
                or service_level is None or music is None or order is None:
            return None
        target = None
        if overflow is not None and overflow.kind in {k.value for k in OverflowKind}:
            target = OverflowTarget(OverflowKind(overflow.kind), overflow.name)
        try:
            config = QueueConfig(name, skills, str(strategy), ring, wrapup, max_wait, max_size,
                                 target, order, service_level)
        except QueueError as exc:
            self.fail(where, str(exc))
            return None
        return QueueSpec(name, config, overflow, no_agents, music, announce, callback, entry)

    def queue_skills(self, entry: Raw, where: str) -> SkillSchedule | None:
        if "skill" in entry and "skills" in entry:
            self.fail(where, "give skill or skills, not both")
            return None
        if "skill" in entry:
            skill = self.text(entry["skill"], f"{where}.skill")
            return None if skill is None else SkillSchedule.fixed({skill: MIN_LEVEL})
        value = entry.get("skills", {})
        place = f"{where}.skills"
        if isinstance(value, dict):
            levels = self.skill_levels(value, place)
            return None if levels is None else SkillSchedule.fixed(levels)
        steps = self.items(value, place)
        if steps is None:
            return None
        parsed: list[tuple[float, Mapping[str, object]]] = []
        for index, step in enumerate(steps):
            step_where = f"{place}[{index}]"
            fields = self.entry(step, step_where, ("after", "needs"), ("after", "needs"))
            if fields is None:
                return None
            after = self.seconds(fields["after"], f"{step_where}.after", inclusive=True)
            needs = self.skill_levels(fields["needs"], f"{step_where}.needs")
            if after is None or needs is None:
                return None
            parsed.append((after, needs))
        try:
            return SkillSchedule(parsed)
        except SkillError as exc:
            self.fail(place, str(exc))
            return None

    def queue_target(self, value: object, where: str, queue: str) -> Destination | None:
        target = self.destination(value, where, _QUEUE_TARGETS)
        if target is not None and target.kind == "queue" and target.name == queue:
            self.fail(f"{where}.queue", "a queue cannot send its callers to itself")
            return None
        return target

    def destination(self, value: object, where: str,
                    kinds: Collection[str]) -> Destination | None:
        if not isinstance(value, dict) or len(value) != 1:
            self.fail(where, f"expected one target such as {{queue: NAME}} "
                             f"({', '.join(kinds)})")
            return None
        ((kind, target),) = value.items()
        if kind not in kinds:
            self.fail(child_path(where, kind),
                      f"unknown target {kind!r} (one of {', '.join(kinds)})")
            return None
        place = child_path(where, kind)
        name = self.text(target, place, numbers=kind in ("extension", "voicemail"))
        if name is None:
            return None
        if kind == "queue":
            self.reference("queues", "queue", name, place)
        elif kind == "ivr":
            self.reference("ivr", "IVR flow", name, place)
        return Destination(kind, name)

    def announce(self, value: object, where: str) -> AnnounceSpec | None:
        entry = self.entry(value, where, ("every", "position", "wait"))
        if entry is None:
            return None
        every = self.seconds(entry.get("every", 60), f"{where}.every")
        position = self.flag(entry.get("position", True), f"{where}.position")
        wait = self.flag(entry.get("wait", False), f"{where}.wait")
        if every is None or position is None or wait is None:
            return None
        return AnnounceSpec(every, position, wait)

    def callback(self, value: object, where: str) -> CallbackSpec | None:
        entry = self.entry(value, where, ("key", "prompt"))
        if entry is None:
            return None
        key = self.text(entry.get("key", "*"), f"{where}.key", numbers=True)
        if key is not None and (len(key) != 1 or key not in _KEYS):
            self.fail(f"{where}.key", f"expected one key of {_KEYS}, not {key!r}")
            key = None
        prompt = None
        if entry.get("prompt") is not None:
            prompt = self.prompt(entry["prompt"], f"{where}.prompt")
            if prompt is None:
                return None
        return None if key is None else CallbackSpec(key, prompt)

    def agent_order(self, value: object, where: str) -> tuple[str, ...] | None:
        ids = self.items(value, where)
        if ids is None:
            return None
        order: list[str] = []
        for index, item in enumerate(ids):
            place = f"{where}[{index}]"
            agent = self.text(item, place)
            if agent is None:
                return None
            if agent in order:
                self.fail(place, f"agent {agent!r} is listed twice")
                return None
            self.reference("agents", "agent", agent, place)
            order.append(agent)
        return tuple(order)

    # -- IVR flows and trunks ------------------------------------------------------------------

    def ivr(self, value: object, where: str) -> IvrSpec | None:
        entry = self.entry(value, where, ("name", "steps"), ("name", "steps"))
        if entry is None:
            return None
        name = self.text(entry["name"], f"{where}.name")
        if name is None:
            return None
        steps_where = f"{where}.steps"
        problems = validate_flow(name, entry["steps"], steps_where,
                                 calendars=self.calendar_map)
        for problem in problems:
            self.fail(problem.where, problem.message)
        if problems:
            return None
        try:
            flow = parse_flow(name, entry["steps"], steps_where, calendars=self.calendar_map)
        except FlowError as exc:
            self.fail(exc.where, exc.message)
            return None
        for place, kind, target in flow.references():
            if "${" in target:
                continue  # chosen while the call runs
            if kind == "queue":
                self.reference("queues", "queue", target, place)
            elif kind == "ivr":
                self.reference("ivr", "IVR flow", target, place)
        return IvrSpec(name, flow, entry["steps"], entry)

    def trunk(self, value: object, where: str) -> TrunkSpec | None:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping such as {{name: ..., host: ...}}, not "
                             f"{_kind_of(value)}")
            return None
        try:
            config = TrunkConfig.from_dict(value, where)
        except TrunkConfigError as exc:
            self.fail(exc.where, exc.message)
            return None
        return TrunkSpec(str(value.get("name", "")), config, value)

    # -- the dial plan -------------------------------------------------------------------------

    def calendars(self, value: object) -> list[CalendarSpec]:
        if not isinstance(value, dict):
            self.fail("calendars", f"expected {{name: [dates]}}, not {_kind_of(value)}")
            return []
        found: list[CalendarSpec] = []
        for name, entries in value.items():
            where = child_path("calendars", name)
            listed = self.items(entries, where)
            if listed is None:
                continue
            ok = True
            for index, entry in enumerate(listed):
                try:
                    HolidayCalendar.from_entries(name, [entry])
                except RoutingError as exc:
                    message = str(exc).removeprefix(f"holidays {name!r}[0]: ")
                    self.fail(f"{where}[{index}]", message)
                    ok = False
            if ok:
                found.append(CalendarSpec(name, HolidayCalendar.from_entries(name, listed),
                                          tuple(listed)))
        return found

    def routing_error(self, exc: RoutingError, compiled: str, real: str) -> None:
        """Report ``exc`` from compiling one rule as ``compiled``, at its place ``real``."""
        place = exc.field or compiled
        message = str(exc).removeprefix(f"{place}: ")
        if place.startswith(compiled):
            place = real + place[len(compiled):]
        self.fail(place, message.replace(compiled, real))

    def routes(self, value: object, calendars: Mapping[str, HolidayCalendar]) -> list[Raw]:
        entries = self.items(value, "routes")
        if entries is None:
            return []
        self.gather({"routes": entries}, "routes", "name", "route")
        rules: list[Raw] = []
        for index, rule in enumerate(entries):
            where = f"routes[{index}]"
            if not isinstance(rule, dict):
                self.fail(where, f"expected a mapping such as {{match: ..., to: ...}}, not "
                                 f"{_kind_of(rule)}")
                continue
            try:
                plan = DialPlan.from_dicts([rule], calendars=calendars, where=where)
            except RoutingError as exc:
                self.routing_error(exc, f"{where}[0]", where)
                continue
            self.action_targets(plan, rule, where)
            rules.append(rule)
        return rules

    def action_targets(self, plan: DialPlan, rule: Raw, where: str) -> None:
        action = plan.rules[0].action
        to = rule["to"]
        kind, target = next(iter(to.items())) if isinstance(to, dict) and to else ("", None)
        place = child_path(f"{where}.to", kind) if kind else f"{where}.to"
        # Extensions, conferences and rejects need nothing defined.
        if isinstance(action, Queue):
            self.reference("queues", "queue", action.name, place)
        elif isinstance(action, Ivr):
            self.reference("ivr", "IVR flow", action.flow, place)
        elif isinstance(action, Trunk):
            for index, trunk in enumerate(action.names):
                spot = place if isinstance(target, str) else f"{place}[{index}]"
                self.reference("trunks", "trunk", trunk, spot)

    def did(self, value: object, where: str) -> DidSpec | None:
        entry = self.entry(value, where, ("number", "to"), ("number", "to"))
        if entry is None:
            return None
        number = self.text(entry["number"], f"{where}.number", numbers=True)
        if number is not None and not _DID_NUMBER.fullmatch(number):
            self.fail(f"{where}.number", f"{number!r}: expected digits, optionally after +")
            number = None
        target = self.destination(entry["to"], f"{where}.to", _DID_TARGETS)
        if number is None or target is None:
            return None
        try:
            DialPlan.from_dicts([_did_rule(number, entry["to"], where)], where=where)
        except RoutingError as exc:
            self.routing_error(exc, f"{where}[0]", where)
            return None
        return DidSpec(number, target, entry)

    def dial_plan(self, dids: list[DidSpec], routes: list[Raw],
                  calendars: Mapping[str, HolidayCalendar],
                  screening: Screening) -> DialPlan | None:
        named = [rule if "name" in rule else {**rule, "name": f"routes[{index}]"}
                 for index, rule in enumerate(routes)]
        orders = [0]
        for rule in routes:
            order = rule.get("order")
            if isinstance(order, int):
                orders.append(order)
        # Inbound numbers are looked at before any route, whatever the routes' order.
        first = min(orders) - 1
        did_rules = [{**_did_rule(did.number, did.raw["to"], f"dids[{index}]"),
                      "order": first} for index, did in enumerate(dids)]
        try:
            return DialPlan.from_dicts([*did_rules, *named], calendars=calendars,
                                       screening=screening, where="routes")
        except RoutingError as exc:
            self.fail(exc.field or "routes", str(exc))
            return None

    def blacklist(self, value: object) -> Screening | None:
        entry = self.entry(value, "blacklist", ("inbound", "outbound"))
        if entry is None:
            return None
        inbound = self.screen(entry.get("inbound"), "blacklist.inbound")
        outbound = self.screen(entry.get("outbound"), "blacklist.outbound")
        if inbound is None or outbound is None:
            return None
        return Screening(inbound, outbound)

    def screen(self, value: object, where: str) -> NumberScreen | None:
        """A list of blocked numbers and ``prefix:`` entries, or ``{block, allow, default}``."""
        if value is None:
            return NumberScreen()
        if isinstance(value, dict):
            try:
                return NumberScreen.from_dict(value, where)
            except RoutingError as exc:
                self.routing_error(exc, where, where)
                return None
        entries = self.items(value, where)
        if entries is None:
            return None
        blocked: list[str] = []
        for index, item in enumerate(entries):
            place = f"{where}[{index}]"
            number = self.text(item, place, numbers=True)
            if number is None:
                continue
            try:
                NumberScreen(block=[number])
            except RoutingError as exc:
                self.routing_error(exc, "block[0]", place)
                continue
            blocked.append(number)
        if len(blocked) != len(entries):
            return None
        return NumberScreen(block=blocked)

    # -- the rest ------------------------------------------------------------------------------

    def limits(self, value: object) -> LimitsSpec | None:
        entry = self.entry(value, "limits", ("calls", "credit", "credit_since"))
        if entry is None:
            return None
        calls = None
        if entry.get("calls") is not None:
            calls = self.whole(entry["calls"], "limits.calls", 1)
            if calls is None:
                return None
        credit = since = None
        if entry.get("credit") is not None:
            credit = self.money(entry["credit"], "limits.credit")
            if credit is None:
                return None
        if entry.get("credit_since") is not None:
            since = self.instant(entry["credit_since"], "limits.credit_since")
            if since is None:
                return None
            if credit is None:
                self.fail("limits.credit_since", "needs limits.credit, the limit it counts for")
                return None
        return LimitsSpec(calls, entry, credit, since)

    def money(self, value: object, where: str) -> Decimal | None:
        try:
            return parse_money(value, where)
        except RatingError as exc:
            self.fail(exc.where, exc.message)
            return None

    def instant(self, value: object, where: str) -> float | None:
        """Epoch seconds, an ISO date (midnight UTC) or an ISO date and time (UTC unless
        it says otherwise)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and value >= 0:
                return float(value)
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                return parsed.timestamp()
        self.fail(where, f"expected a date such as 2025-06-01 (or a date and time, or epoch "
                         f"seconds), not {_kind_of(value)}")
        return None

    # -- rates ---------------------------------------------------------------------------------

    def rates(self, value: object) -> RatesSpec | None:
        entry = self.entry(value, "rates", ("tables", "default", "trunks"))
        if entry is None:
            return None
        before = len(self.errors)
        tables: list[RateTable] = []
        names: set[str] = set()
        if entry.get("tables") is not None:
            listed = self.items(entry["tables"], "rates.tables")
            # Names first, so that a broken table is still known to the references.
            self.gather({"rates.tables": listed or []}, "rates.tables", "name", "rate table")
            names = self.names.pop("rates.tables")
            for index, item in enumerate(listed or []):
                table = self.rate_table(item, f"rates.tables[{index}]")
                if table is not None:
                    tables.append(table)
        default = None
        if entry.get("default") is not None:
            default = self.text(entry["default"], "rates.default")
            if default is not None and default not in names:
                self.fail("rates.default", f"no rate table {default!r} in rates.tables")
        trunks: dict[str, str] = {}
        if entry.get("trunks") is not None:
            chosen = entry["trunks"]
            if not isinstance(chosen, dict):
                self.fail("rates.trunks", f"expected {{trunk: rate table}}, not "
                                          f"{_kind_of(chosen)}")
            else:
                for trunk, table_name in chosen.items():
                    place = child_path("rates.trunks", trunk)
                    self.reference("trunks", "trunk", trunk, place)
                    name = self.text(table_name, place)
                    if name is not None and name not in names:
                        self.fail(place, f"no rate table {name!r} in rates.tables")
                    elif name is not None:
                        trunks[trunk] = name
        if len(self.errors) > before:
            return None
        plan = RatePlan({table.name: table for table in tables}, default, trunks)
        return RatesSpec(tuple(tables), default, trunks, plan)

    def rate_table(self, value: object, where: str) -> RateTable | None:
        entry = self.entry(value, where, ("name", "rates", "increment", "connection"),
                           ("name", "rates"))
        if entry is None:
            return None
        name = self.text(entry["name"], f"{where}.name")
        increment = self.increment(entry.get("increment", "60/60"), f"{where}.increment")
        connection = self.money(entry.get("connection", 0), f"{where}.connection")
        listed = self.items(entry["rates"], f"{where}.rates")
        if listed is None:
            return None
        ok = name is not None and increment is not None and connection is not None
        rates: list[Rate] = []
        prefixes: dict[str, int] = {}
        # The rates are checked even when the table's own fields are wrong: every error at once.
        increment = increment or DEFAULT_INCREMENT
        connection = Decimal(0) if connection is None else connection
        for index, item in enumerate(listed):
            place = f"{where}.rates[{index}]"
            rate = self.rate(item, place, increment, connection)
            if rate is None:
                ok = False
                continue
            if rate.prefix in prefixes:
                self.fail(f"{place}.prefix", f"prefix {rate.prefix!r} is rated twice (first at "
                                             f"{where}.rates[{prefixes[rate.prefix]}])")
                ok = False
                continue
            prefixes[rate.prefix] = index
            rates.append(rate)
        return RateTable(name, rates) if ok and name is not None else None

    def rate(self, value: object, where: str, increment: Increment,
             connection: Decimal) -> Rate | None:
        entry = self.entry(value, where, ("prefix", "price", "increment", "connection",
                                          "name"), ("prefix", "price"))
        if entry is None:
            return None
        prefix = self.text(entry["prefix"], f"{where}.prefix", numbers=True)
        if prefix is not None:
            digits = prefix[1:] if prefix.startswith("+") else prefix
            if not (digits.isdigit() and digits.isascii() and len(digits) <= 15):
                self.fail(f"{where}.prefix", f"{prefix!r}: expected 1 to 15 digits, "
                                             "optionally after +")
                prefix = None
            else:
                prefix = digits
        price = self.money(entry["price"], f"{where}.price")
        if "increment" in entry:
            own = self.increment(entry["increment"], f"{where}.increment")
        else:
            own = increment
        fee = self.money(entry["connection"], f"{where}.connection") \
            if "connection" in entry else connection
        name = None
        if entry.get("name") is not None:
            name = self.text(entry["name"], f"{where}.name", numbers=True)
            if name is None:
                return None
        if prefix is None or price is None or own is None or fee is None:
            return None
        return Rate(prefix, price, own, fee, name)

    def increment(self, value: object, where: str) -> Increment | None:
        try:
            return Increment.parse(value, where)
        except RatingError as exc:
            self.fail(exc.where, exc.message)
            return None

    # -- dispositions --------------------------------------------------------------------------

    def dispositions(self, value: object) -> tuple[Disposition, ...] | None:
        listed = self.items(value, "dispositions")
        if listed is None:
            return None
        before = len(self.errors)
        if not 1 <= len(listed) <= _MAX_DISPOSITIONS:
            self.fail("dispositions", f"expected 1 to {_MAX_DISPOSITIONS} disposition codes, "
                                      f"not {len(listed)}")
        # Codes are case-sensitive: "Sale" and "sale" are two codes in the call records.
        self.gather({"dispositions": listed}, "dispositions", "code", "disposition code")
        found = [self.disposition(item, f"dispositions[{index}]")
                 for index, item in enumerate(listed)]
        if len(self.errors) > before:
            return None
        return tuple(item for item in found if item is not None)

    def disposition(self, value: object, where: str) -> Disposition | None:
        entry = self.entry(value, where, ("code", "label", "callback"), ("code", "label"))
        if entry is None:
            return None
        code, label = entry["code"], entry["label"]
        problems = _disposition_problems(code, label)
        for name, why in problems:
            self.fail(f"{where}.{name}", why)
        callback = self.flag(entry.get("callback", False), f"{where}.callback")
        if problems or callback is None or not isinstance(code, str) \
                or not isinstance(label, str):
            return None
        return Disposition(code, label, callback)

    def campaign(self, value: object, where: str) -> Raw | None:
        """A dialer campaign, checked by `pycc.pds.campaign.CampaignConfig.from_dict`.

        Templates (``template: true``) are remembered as they pass, in file order: a
        campaign naming one (``template: NAME``) gets its fields, so the template must come
        first (the order `pycc.provision.sync.load` keeps when it reads them back).
        """
        templates: dict[str, Raw] = vars(self).setdefault("_campaign_templates", {})
        try:
            config = CampaignConfig.from_dict(value, where, templates)
        except CampaignError as exc:
            self.fail(exc.where, exc.message)
            return None
        assert isinstance(value, dict)  # from_dict refuses anything else
        if config.is_template:
            templates[config.name] = value
        # A field copied from a template was checked, and reported, at the template.
        if config.queue is not None and "queue" in value:
            self.reference("queues", "queue", config.queue, f"{where}.queue")
        if "trunk" in value:
            for index, trunk in enumerate(config.trunks):
                place = f"{where}.trunk[{index}]" if isinstance(value["trunk"], list) \
                    else f"{where}.trunk"
                self.reference("trunks", "trunk", trunk, place)
        return value


def _did_rule(number: str, to: object, where: str) -> dict[str, object]:
    # "exact:" so a number is never read as a pattern.
    return {"name": where, "match": f"exact:{number}", "to": to}


def _disposition_problems(code: object, label: object) -> list[tuple[str, str]]:
    """Each of the code's and the label's faults: `disposition_error` stops at the code's,
    and a file's errors are all reported at once."""
    first = disposition_error(code, label)
    if first is None:
        return []
    if first[0] != "code":
        return [first]
    of_label = disposition_error(DEFAULT_DISPOSITIONS[0].code, label)
    return [first] if of_label is None else [first, of_label]


def _kind_of(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"
