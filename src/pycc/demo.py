"""`pycc demo`: the whole call center on loopback, with simulated people and a live view.

`run_demo` builds a small call center in a data directory (a fresh temporary one unless told
otherwise) with ``pycc apply``: agents with the skill "sales", the queue "sales", the IVR
"main" (press 1 for sales) behind the number 8000, a trunk "pstn" and the predictive campaign
"demo" that dials over it, with a generated list of customers imported like ``pycc campaign
import`` does. It starts a `~pycc.switch.Switch` on 127.0.0.1 and, in the same event loop,
the people around it, every one a `~pycc.ua.UserAgent`:

- the agents register, are logged in to the ACD and answer whatever rings;
- one user agent plays the public network the trunk points at: every call the campaign
  places arrives there, and each customer behind it answers after a short ring and talks for
  a while, is busy, or lets it ring until the dialer gives up (`customer_action`);
- a few inbound callers now and then call 8000, press 1 (SIP INFO), wait for an agent, talk
  and hang up, or give up when the wait is too long.

The campaign runs for the given time under a live terminal view (rich), refreshed twice a
second: the campaign's figures, the queue, the agents, the latest events. Then the campaign
stops, the switch hangs every call up and records it, and the campaign and result reports are
printed with a line of totals. Ctrl-C ends the run early and still prints the reports. No
traffic leaves 127.0.0.1; the simulated phones send no audio (their SDP names one UDP port
that discards what the switch sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import signal
import socket
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import yaml
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pycc.bus import Event
from pycc.config import ConfigError, SwitchConfig
from pycc.pds.command import import_command, report_command
from pycc.pds.reports import campaign_summary
from pycc.pds.service import DialerError
from pycc.provision.command import apply_file
from pycc.sip.errors import SipError
from pycc.store.db import make_url
from pycc.store.errors import StoreError
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, UaError, UserAgent

__all__ = [
    "CAMPAIGN",
    "Board",
    "CustomerAction",
    "DemoError",
    "Frame",
    "Person",
    "center_spec",
    "contact_numbers",
    "contacts_csv",
    "customer_action",
    "make_people",
    "render",
    "run_demo",
    "totals_line",
]

log = logging.getLogger("pycc.demo")

CAMPAIGN: Final = "demo"
QUEUE: Final = "sales"
IVR_NUMBER: Final = "8000"
TRUNK: Final = "pstn"
CALLER_ID: Final = "+15550100000"
CONTACTS: Final = 300
#: Area codes of the contact list; each gives the hundred numbers NXX-555-0100..0199 that
#: the North American plan keeps for fiction, so the demo never dials a real subscriber.
AREA_CODES: Final = ("212", "312", "415", "617", "713", "206")
AGENT_NAMES: Final = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
                      "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil")
#: Customer behaviour: shares of answered and busy calls (the rest never answer).
ANSWER_SHARE: Final = 0.65
BUSY_SHARE: Final = 0.15
#: Talk time of an answered customer: lognormal with this mean (seconds) and shape.
TALK_MEAN: Final = 8.0
TALK_SIGMA: Final = 0.6
#: Mean pause (seconds) of an inbound caller between two calls: now and then, so that the
#: inbound calls take a share of the agents' time and the campaign keeps most of it.
CALLER_PAUSE: Final = 20.0
REFRESH: Final = 0.5
RECENT_EVENTS: Final = 12
MAX_AGENTS: Final = 100
#: Exit status of a run ended with Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED: Final = 130

Printer = Callable[[str], None]


class DemoError(Exception):
    """The demo could not be set up; the message says what failed."""


# -- pure parts: people, numbers, the call-center file, the view -------------------------------


@dataclass(frozen=True, slots=True)
class CustomerAction:
    """What one customer does with a call: ``answer`` after ``ring`` seconds and hang up
    ``talk`` seconds later, refuse it as ``busy`` after ``ring`` seconds, or let it ring
    (``no_answer``) until the dialer gives up."""

    kind: Literal["answer", "busy", "no_answer"]
    ring: float
    talk: float = 0.0


def customer_action(rng: random.Random) -> CustomerAction:
    """Draw the next customer's behaviour: about 65 % answer after 1-5 s and talk a
    lognormal time (mean 8 s), 15 % are busy, the rest do not answer."""
    draw = rng.random()
    if draw < ANSWER_SHARE:
        # A lognormal's mean is exp(mu + sigma^2 / 2): solve for mu.
        mu = math.log(TALK_MEAN) - TALK_SIGMA ** 2 / 2
        return CustomerAction("answer", rng.uniform(1.0, 5.0), rng.lognormvariate(mu, TALK_SIGMA))
    if draw < ANSWER_SHARE + BUSY_SHARE:
        return CustomerAction("busy", rng.uniform(0.2, 1.0))
    return CustomerAction("no_answer", 0.0)


def contact_numbers(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct E.164 numbers of the form +1 NPA 555 01XX, in random order."""
    pool = [f"+1{area}55501{n:02d}" for area in AREA_CODES for n in range(100)]
    if not 0 <= count <= len(pool):
        raise ValueError(f"count: between 0 and {len(pool)}, got {count}")
    return rng.sample(pool, count)


def contacts_csv(numbers: Sequence[str], stamp: str) -> str:
    """The contact list as ``pycc campaign import`` reads it; ``stamp`` makes the ids of
    one run its own, so a reused data directory dials the new list too."""
    lines = ["id,phone,name,plan"]
    plans = ("gold", "silver", "bronze")
    for index, number in enumerate(numbers, 1):
        lines.append(f"{stamp}-{index:04d},{number},Customer {index},{plans[index % 3]}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Person:
    """A simulated phone user: an extension and its password, and the agent id if any."""

    extension: str
    password: str
    agent: str | None = None


def make_people(agents: int, callers: int) -> tuple[list[Person], list[Person]]:
    """Agents on extensions 1001.., inbound callers on 2001.., fresh passwords."""
    staff = []
    for index in range(agents):
        name = AGENT_NAMES[index] if index < len(AGENT_NAMES) else f"agent{index + 1}"
        staff.append(Person(str(1001 + index), secrets.token_hex(8), name))
    public = [Person(str(2001 + index), secrets.token_hex(8)) for index in range(callers)]
    return staff, public


def center_spec(agents: Sequence[Person], callers: Sequence[Person],
                pstn: str) -> dict[str, object]:
    """The ``pycc apply`` document of the demo; ``pstn`` is the customers' ``host:port``."""
    return {
        "tenant": "default",
        "extensions": [{"number": p.extension, "password": p.password,
                        **({"name": p.agent.title()} if p.agent else {})}
                       for p in [*agents, *callers]],
        "agents": [{"id": p.agent, "extension": p.extension, "skills": {"sales": 5}}
                   for p in agents],
        "queues": [{"name": QUEUE, "skill": "sales", "strategy": "longest-idle",
                    "ring_timeout": 10, "wrapup": 2, "max_wait": 120, "music": "tone:hold"}],
        "ivr": [{"name": "main", "steps": [
            "answer",
            {"menu": {"prompt": "tone:dial", "timeout": 5, "retries": 2,
                      "options": {"1": {"queue": QUEUE}}}},
            "hangup"]}],
        "routes": [{"match": IVR_NUMBER, "to": {"ivr": "main"}}],
        "trunks": [{"name": TRUNK, "host": pstn, "ips": [], "options_interval": 0}],
        "campaigns": [{"name": CAMPAIGN, "mode": "predictive", "queue": QUEUE,
                       "trunk": TRUNK, "caller_ids": [CALLER_ID], "ring_time": 15,
                       "abandon_message": "tone:beep"}],
    }


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything one picture of the live view shows, as plain data."""

    elapsed: float
    seconds: float
    address: str
    campaign: Mapping[str, object]
    connected: int
    customers: Mapping[str, int]
    inbound: Mapping[str, int]
    queues: Sequence[Mapping[str, object]]
    agents: Sequence[Mapping[str, object]]
    events: Sequence[str]


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def render(frame: Frame) -> RenderableType:
    """The live view: a title, the campaign and the queue side by side, what the simulated
    people did, then the agents and the latest events side by side."""
    title = Text.assemble(
        ("pycc demo", "bold"), f"  {frame.elapsed:4.0f} s of {frame.seconds:g} s",
        f"  switch {frame.address}  ", ("Ctrl-C ends", "dim"))
    campaign = Table(title=f"campaign {CAMPAIGN} ({frame.campaign.get('mode', '-')})",
                     title_justify="left")
    for column in ("dialed", "ringing", "answered", "connected", "abandoned", "abandon %"):
        campaign.add_column(column, justify="right")
    abandoned = _int(frame.campaign.get("abandoned"))
    campaign.add_row(str(_int(frame.campaign.get("dialed"))),
                     str(_int(frame.campaign.get("in_flight"))),
                     str(_int(frame.campaign.get("answered"))), str(frame.connected),
                     str(abandoned), _rate(abandoned, frame.connected + abandoned))
    people = frame.customers
    behaviour = Text(f"customers: {people.get('answer', 0)} answered, "
                     f"{people.get('busy', 0)} busy, {people.get('no_answer', 0)} let it ring"
                     f"    inbound callers: {frame.inbound.get('calls', 0)} calls, "
                     f"{frame.inbound.get('reached', 0)} reached an agent, "
                     f"{frame.inbound.get('gave_up', 0)} gave up")
    queues = Table(title="queues", title_justify="left")
    for column in ("queue", "waiting", "longest wait", "answered", "abandoned", "free"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for queue in frame.queues:
        queues.add_row(str(queue.get("queue", "")), str(queue.get("waiting", 0)),
                       f"{queue.get('longest_wait', 0)} s", str(queue.get("answered", 0)),
                       str(queue.get("abandoned", 0)),
                       f"{queue.get('agents_free', 0)}/{queue.get('agents_logged_in', 0)}")
    agents = Table(title="agents", title_justify="left")
    for column in ("agent", "ext", "status", "state", "calls"):
        agents.add_column(column, justify="right" if column == "calls" else "left")
    for agent in frame.agents:
        state = str(agent.get("state", ""))
        style = {"on_call": "green", "ringing": "yellow", "reserved": "yellow",
                 "wrap_up": "cyan"}.get(state, "")
        agents.add_row(str(agent.get("agent", "")), str(agent.get("extension", "")),
                       str(agent.get("status", "")), Text(state, style=style),
                       str(agent.get("calls_today", 0)))
    events = Table(title="latest events", title_justify="left", show_header=False)
    events.add_column("event", overflow="ellipsis", no_wrap=True, max_width=72)
    for line in frame.events:
        events.add_row(line)
    top = Table.grid(padding=(0, 3))
    top.add_row(campaign, queues)
    bottom = Table.grid(padding=(0, 3))
    bottom.add_row(agents, events)
    return Group(title, top, behaviour, bottom)


def totals_line(summary: Mapping[str, object], inbound: Mapping[str, int], seconds: float,
                agents: int) -> str:
    """The closing line: the campaign's stored figures and the inbound callers' fate."""
    connected, abandoned = _int(summary.get("connected")), _int(summary.get("abandoned"))
    return (f"totals: campaign {CAMPAIGN}: {_int(summary.get('dialed'))} dialed, "
            f"{_int(summary.get('answered'))} answered, {connected} connected, "
            f"{abandoned} abandoned ({_rate(abandoned, connected + abandoned)} of the live "
            f"answers); inbound: {inbound.get('calls', 0)} calls, "
            f"{inbound.get('reached', 0)} reached an agent, {inbound.get('gave_up', 0)} gave "
            f"up; {seconds:.0f} s with {agents} agents")


# -- what the people did, from the switch's events ---------------------------------------------


@dataclass
class Board:
    """Counts and the latest events of one run, fed by the switch's bus and the people."""

    contacts: frozenset[str]
    callers: frozenset[str]
    started: float = field(default_factory=time.time)
    customers: Counter[str] = field(default_factory=Counter)
    inbound: Counter[str] = field(default_factory=Counter)
    connected: int = 0
    events: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    #: Inbound callers waiting for an agent: set when one answers them.
    waiting_for_agent: dict[str, asyncio.Event] = field(default_factory=dict)

    def note(self, text: str, at: float | None = None) -> None:
        self.events.append(f"{max(0.0, (at or time.time()) - self.started):5.1f}  {text}")

    def on_event(self, event: Event) -> None:
        data = event.data
        caller = str(data.get("caller", ""))
        if event.topic == "queue.connected":
            if caller in self.contacts:
                self.connected += 1
                self.note(f"{caller} answered, put through to {data.get('agent')}", event.at)
            elif caller in self.callers:
                self.inbound["reached"] += 1
                reached = self.waiting_for_agent.get(caller)
                if reached is not None:
                    reached.set()
                self.note(f"caller {caller} talks to {data.get('agent')}", event.at)
        elif event.topic == "queue.joined" and caller in self.callers:
            self.note(f"caller {caller} pressed 1: waiting in {data.get('queue')}", event.at)
        elif event.topic == "campaign.result" and data.get("result") != "connected":
            self.note(f"{data.get('phone')}: {data.get('result')}", event.at)
        elif event.topic == "agent.state" and data.get("status") in ("not_ready", "offline"):
            self.note(f"agent {data.get('agent')}: {data.get('status')} "
                      f"({data.get('reason') or 'no reason'})", event.at)


class _Warnings(logging.Handler):
    """Puts pycc's warnings in the view's event list instead of over the live view."""

    def __init__(self, board: Board) -> None:
        super().__init__(logging.WARNING)
        self.board = board
        self.count = 0
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.last = f"{record.name}: {record.getMessage()}"
        self.board.note(f"{record.levelname.lower()} {self.last}")


# -- loopback plumbing ---------------------------------------------------------------------------


def _free_udp_range(count: int) -> str:
    """A range of ``count`` UDP ports free on 127.0.0.1 (starting even) for the media."""
    for _ in range(50):
        first = 2 * random.randrange(10_000, 30_000 - count)
        if _all_free(range(first, first + count)):
            return f"{first}-{first + count - 1}"
    raise DemoError(f"no range of {count} free UDP ports on 127.0.0.1 for the media")


def _all_free(ports: range) -> bool:
    taken: list[socket.socket] = []
    try:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            taken.append(sock)
            sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        for sock in taken:
            sock.close()
    return True


class _RtpSink:
    """One UDP port on 127.0.0.1 that every simulated phone names in its SDP: it reads and
    drops the audio the switch sends, so no packet bounces as port-unreachable. Read with a
    small buffer from the loop's reader callback (the stock datagram transport allocates
    256 KiB per packet)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            self.sock.bind(("127.0.0.1", 0))
        except OSError:
            self.sock.close()
            raise
        self.port: int = self.sock.getsockname()[1]
        self._buffer = bytearray(2048)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> _RtpSink:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._drain)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _drain(self) -> None:
        while True:
            try:
                self.sock.recv_into(self._buffer)
            except OSError:  # BlockingIOError included: nothing more to read now
                return


# -- the people ----------------------------------------------------------------------------------


async def _ended_within(call: Call, seconds: float) -> bool:
    """Wait up to ``seconds``; True when the call ended meanwhile."""
    try:
        await asyncio.wait_for(call.ended.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _customer(call: Call, action: CustomerAction) -> None:
    """One customer at the other end of a campaign call."""
    with contextlib.suppress(UaError, SipError):
        if action.kind == "no_answer":
            await call.ended.wait()  # the dialer cancels after the campaign's ring time
            return
        if await _ended_within(call, action.ring):
            return
        if action.kind == "busy":
            await call.reject(486)
            return
        await call.answer()
        if not await _ended_within(call, action.talk):
            await call.hangup()


class _People:
    """The simulated agents, customers and inbound callers of one run, and their tasks."""

    def __init__(self, board: Board, rng: random.Random) -> None:
        self.board = board
        self.rng = rng
        self.agents: list[UserAgent] = []
        self.callers: list[UserAgent] = []
        self.pstn: UserAgent | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def customers(self) -> None:
        """Every call the campaign places reaches this one endpoint: one customer each."""
        assert self.pstn is not None
        while True:
            call = await self.pstn.next_call(None)
            action = customer_action(self.rng)
            self.board.customers[action.kind] += 1
            self.spawn(_customer(call, action))

    async def agent(self, ua: UserAgent) -> None:
        """Calls are answered by the phone itself (auto-answer) and ended by the switch when
        the customer hangs up; this only takes them off the phone's list of arrivals."""
        while True:
            await ua.next_call(None)

    async def caller(self, ua: UserAgent, first: bool) -> None:
        """Someone who now and then calls the IVR, presses 1 and talks to an agent; the
        ``first`` caller calls at once, so that even a short run shows an inbound call."""
        number = ua.username
        await asyncio.sleep(self.rng.uniform(0.3, 2.0) if first
                            else self.rng.expovariate(1 / CALLER_PAUSE))
        while True:
            reached = asyncio.Event()
            self.board.waiting_for_agent[number] = reached
            self.board.inbound["calls"] += 1
            try:
                call = await ua.call(IVR_NUMBER, timeout=10)
                await asyncio.sleep(self.rng.uniform(0.5, 1.2))  # hears the menu out
                await call.send_info_dtmf("1")
                patience = self.rng.uniform(15.0, 30.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reached.wait(), patience)
                if reached.is_set():
                    await _ended_within(call, self.rng.uniform(2.0, 6.0))
                else:
                    self.board.inbound["gave_up"] += 1
                    self.board.note(f"caller {number} gave up after {patience:.0f} s")
                await call.hangup()
            except (UaError, SipError, TimeoutError) as exc:
                self.board.note(f"caller {number}: {exc}")
            finally:
                self.board.waiting_for_agent.pop(number, None)
            await asyncio.sleep(self.rng.expovariate(1 / CALLER_PAUSE))

    async def stop(self) -> None:
        """End the behaviours (the phones stay up to answer the switch's BYEs)."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2.0)

    async def close(self) -> None:
        for ua in [*self.agents, *self.callers, *([self.pstn] if self.pstn else [])]:
            with contextlib.suppress(Exception):
                await ua.close()


# -- one run -------------------------------------------------------------------------------------


@dataclass
class _Run:
    seconds: float
    agents: int
    data_dir: Path
    rng: random.Random
    live: bool
    out: Printer
    since: float = 0.0
    interrupted: bool = False
    board: Board | None = None
    ran_for: float = 0.0
    #: The data directory is removed when the demo ends.
    temporary: bool = False


async def _apply(run: _Run, config: SwitchConfig, staff: Sequence[Person],
                 public: Sequence[Person], pstn: str, numbers: Sequence[str]) -> None:
    """Write the call-center file and the contact list into the data directory and load
    them as ``pycc apply`` and ``pycc campaign import`` do (in a thread: they block)."""
    center = run.data_dir / "demo.yaml"
    center.write_text("# The call center of `pycc demo`.\n" + yaml.safe_dump(
        center_spec(staff, public, pstn), sort_keys=False), encoding="utf-8")
    problems: list[str] = []
    status = await asyncio.to_thread(apply_file, center, config, out=lambda _line: None,
                                     err=problems.append)
    if status != 0:
        raise DemoError(f"{center}: " + "; ".join(problems))
    contacts = run.data_dir / "demo-contacts.csv"
    contacts.write_text(contacts_csv(numbers, f"d{int(run.since * 1000):x}"), encoding="utf-8")
    lines: list[str] = []
    status = await asyncio.to_thread(import_command, CAMPAIGN, contacts, config,
                                     out=lines.append, err=lines.append)
    if status != 0:
        raise DemoError(f"{contacts}: " + "; ".join(lines))
    run.out(lines[-1])


async def _main(run: _Run) -> None:
    staff, public = make_people(run.agents, max(2, min(3, run.agents // 3)))
    ports = _free_udp_range(40 * (len(staff) + len(public)) + 100)
    config = SwitchConfig(data_dir=run.data_dir, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          rtp_ports=ports, secret=secrets.token_hex(16),
                          # The simulated phones send no audio: silence is no fault here.
                          rtp_timeout=0.0)
    numbers = contact_numbers(CONTACTS, run.rng)
    board = run.board = Board(frozenset(numbers), frozenset(p.extension for p in public))
    try:
        sink = _RtpSink()
    except OSError as exc:
        raise DemoError(f"no UDP port for the phones' audio: {exc.strerror or exc}") from None
    async with sink:
        switch = Switch(config)
        try:
            await switch.start()
        except (OSError, ConfigError) as exc:
            raise DemoError(f"the switch did not start: {exc}") from None
        people = _People(board, run.rng)
        warnings = _Warnings(board)
        pycc_log = logging.getLogger("pycc")
        pycc_log.addHandler(warnings)
        unsubscribe = switch.bus.subscribe("*", board.on_event)
        try:
            try:
                await _start_people(run, switch, people, staff, public, config, numbers, sink)
            except (UaError, TimeoutError, OSError) as exc:
                raise DemoError(f"the simulated phones could not start: {exc}") from None
            await _watch(run, switch, board)
        finally:
            # The behaviours end first; the phones stay up to answer the switch's BYEs.
            await people.stop()
            assert switch.dialer is not None
            with contextlib.suppress(DialerError):
                await switch.dialer.stop(CAMPAIGN)
            await switch.stop()
            await people.close()
            unsubscribe()
            pycc_log.removeHandler(warnings)
    if warnings.count:
        run.out(f"{warnings.count} warnings were logged; the last: {warnings.last}")


async def _start_people(run: _Run, switch: Switch, people: _People,
                        staff: Sequence[Person], public: Sequence[Person],
                        config: SwitchConfig, numbers: Sequence[str], sink: _RtpSink) -> None:
    server = switch.addresses["udp"]
    pstn = people.pstn = UserAgent("pstn", secrets.token_hex(8), server=server,
                                   rtp_port=sink.port, user_agent="pycc-demo-pstn")
    await pstn.start()
    assert pstn.local_address is not None
    await _apply(run, config, staff, public, pstn.local_address.host_port, numbers)
    await switch.reload(force=True)
    assert switch.center is not None and switch.dialer is not None
    for person in staff:
        ua = UserAgent(person.extension, person.password, server=server, rtp_port=sink.port,
                       auto_answer=True, answer_delay=0.3, display_name=person.agent)
        people.agents.append(ua)
        await ua.start()
        await ua.register()
        assert person.agent is not None
        error = switch.center.acd.login(person.agent)
        if error is not None:
            raise DemoError(f"agent {person.agent} cannot log in: {error}")
        people.spawn(people.agent(ua))
    for person in public:
        ua = UserAgent(person.extension, person.password, server=server, rtp_port=sink.port)
        people.callers.append(ua)
        await ua.start()
    run.out(f"pycc demo: switch at {server}, {len(staff)} agents, {len(public)} inbound "
            f"callers, {len(numbers)} customers behind trunk {TRUNK}; data in {run.data_dir}"
            + (" (removed at the end)" if run.temporary else ""))
    try:
        await switch.dialer.start(CAMPAIGN)
    except DialerError as exc:
        raise DemoError(str(exc)) from None
    people.spawn(people.customers())
    for index, ua in enumerate(people.callers):
        people.spawn(people.caller(ua, index == 0))


async def _watch(run: _Run, switch: Switch, board: Board) -> None:
    """Let the demo run for its time (or until Ctrl-C), drawing the view if asked."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        handled = True
    start = loop.time()
    board.started = time.time()
    view = Live(console=Console(), auto_refresh=False, transient=False) if run.live else None
    address = str(switch.addresses.get("udp", ""))
    try:
        with view if view is not None else contextlib.nullcontext():
            while True:
                elapsed = loop.time() - start
                if view is not None:
                    view.update(render(_frame(switch, board, elapsed, run.seconds, address)),
                                refresh=True)
                left = run.seconds - elapsed
                if left <= 0 or stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(REFRESH, left))
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
    run.interrupted = stop.is_set()
    run.ran_for = loop.time() - start


def _frame(switch: Switch, board: Board, elapsed: float, seconds: float,
           address: str) -> Frame:
    assert switch.center is not None and switch.dialer is not None
    snapshot = switch.center.acd.snapshot()
    queues = snapshot.get("queues")
    agents = snapshot.get("agents")
    return Frame(
        elapsed=elapsed, seconds=seconds, address=address,
        campaign=switch.dialer.status(CAMPAIGN), connected=board.connected,
        customers=dict(board.customers), inbound=dict(board.inbound),
        queues=queues if isinstance(queues, list) else [],
        agents=agents if isinstance(agents, list) else [],
        events=list(board.events))


def _report(run: _Run) -> None:
    """The campaign and result reports of this run, and the line of totals."""
    config = SwitchConfig(data_dir=run.data_dir)
    for name in ("campaign", "results"):
        report_command(name, config, "table", campaign=CAMPAIGN, since=run.since,
                       out=run.out, err=run.out)
    store = Store(make_url(run.data_dir, None))
    try:
        rows = campaign_summary(store, CAMPAIGN, run.since)
    finally:
        store.close()
    inbound = dict(run.board.inbound) if run.board is not None else {}
    run.out(totals_line(rows[0] if rows else {}, inbound, run.ran_for, run.agents))


def run_demo(seconds: float = 60.0, *, agents: int = 8, data_dir: Path | None = None,
             seed: int | None = None, live: bool = True, out: Printer = print) -> int:
    """Run the demo call center for ``seconds`` with ``agents`` agents; the exit status
    (0, 1 when it could not be set up, 130 when Ctrl-C ended it early).

    ``data_dir``: where the database, the call-center file and the contact list go (a
    temporary directory removed afterwards by default). ``seed`` makes the contact list and
    the people's choices repeatable. ``live`` False draws no live view (for tests and
    pipes); ``out`` receives the other lines (setup, reports, totals)."""
    if not seconds > 0 or not math.isfinite(seconds):
        out(f"pycc: error: seconds: must be a positive number, got {seconds}")
        return 2
    if not 1 <= agents <= MAX_AGENTS:
        out(f"pycc: error: agents: between 1 and {MAX_AGENTS}, got {agents}")
        return 2
    if data_dir is not None:
        return _run_in(data_dir, seconds, agents, seed, live, out, temporary=False)
    with tempfile.TemporaryDirectory(prefix="pycc-demo-") as temporary:
        return _run_in(Path(temporary), seconds, agents, seed, live, out, temporary=True)


def _run_in(data_dir: Path, seconds: float, agents: int, seed: int | None, live: bool,
            out: Printer, *, temporary: bool) -> int:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        out(f"pycc: error: data dir {data_dir}: {exc.strerror or exc}")
        return 1
    run = _Run(seconds, agents, data_dir, random.Random(seed), live, out, since=time.time(),
               temporary=temporary)
    try:
        _run_loop(_main(run))
    except DemoError as exc:
        out(f"pycc: error: {exc}")
        return 1
    except KeyboardInterrupt:
        # A second Ctrl-C while the calls were being hung up: report what is stored.
        run.interrupted = True
    try:
        _report(run)
    except StoreError as exc:
        out(f"pycc: error: the reports: {exc}")
        return 1
    return INTERRUPTED if run.interrupted else 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
