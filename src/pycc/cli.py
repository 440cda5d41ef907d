"""The ``pycc`` command line (DESIGN.md's command-line contract).

Errors are one line on stderr and a non-zero exit code: 1 for a failed operation, 2 for bad
usage (typer's own convention).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gc
import io
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pycc.aaa.command import admin_app
from pycc.config import (
    CONFIG_FILE,
    ConfigError,
    SwitchConfig,
    default_data_dir,
    load_config,
    write_initial_config,
)
from pycc.store.db import make_url
from pycc.store.errors import StoreError
from pycc.store.repo import Store

#: How long a thread may hold the GIL while another waits for it, in `pycc serve`.
GIL_SWITCH_SECONDS = 0.001

app = typer.Typer(help="pycc: a call center soft switch.", no_args_is_help=True,
                  add_completion=False)
user_app = typer.Typer(help="Manage extensions (SIP users).", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
app.add_typer(user_app, name="user")
agent_app = typer.Typer(help="Agents of the running switch: log in and out, ready, not ready.",
                        no_args_is_help=True)
campaign_app = typer.Typer(help="Outbound campaigns: import contacts, start, stop, status, "
                           "simulate.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(agent_app, name="agent")
app.add_typer(campaign_app, name="campaign")
app.add_typer(admin_app, name="admin")
accel_app = typer.Typer(help="The compiled SIP core (mypyc): build it, or see whether it runs.",
                        no_args_is_help=True)
app.add_typer(accel_app, name="accel")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $PYCC_DATA_DIR or ./data)."),
]
DbUrl = Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite).")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"pycc: error: {message}", err=True)
    return typer.Exit(code)


def _config(data_dir: Path | None, db: str | None = None) -> SwitchConfig:
    directory = data_dir or default_data_dir()
    try:
        cfg = load_config(directory)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return cfg.with_overrides(db_url=db)


@contextmanager
def _store(cfg: SwitchConfig) -> Iterator[Store]:
    try:
        store = Store(make_url(cfg.data_dir, cfg.db_url))
        store.create_all()
    except Exception as exc:
        raise fail(f"cannot open the database: {exc}") from None
    try:
        yield store
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()


@app.command()
def init(data_dir: DataDir = None, db: DbUrl = None,
         realm: Annotated[str, typer.Option(help="SIP digest realm.")] = "pycc") -> None:
    """Create a data directory: pycc.toml, the database and a self-signed TLS certificate."""
    from pycc.transport.tls import make_self_signed_certificate

    directory = data_dir or default_data_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create {directory}: {exc.strerror}") from None
    if not (directory / CONFIG_FILE).exists():
        write_initial_config(directory, realm=realm)
    cfg = _config(directory, db)
    if not cfg.cert_path.exists():
        cfg.cert_path.parent.mkdir(parents=True, exist_ok=True)
        make_self_signed_certificate(cfg.cert_path, cfg.key_path)
    with _store(cfg) as store:
        store.ensure_tenant(cfg.tenant, cfg.realm)
    typer.echo(f"initialised {directory}")


@app.command()
def serve(
    data_dir: DataDir = None,
    bind: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    sip_port: Annotated[int | None, typer.Option(help="UDP and TCP port.")] = None,
    sips_port: Annotated[int | None, typer.Option(help="TLS port.")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP API port.")] = None,
    rtp_ports: Annotated[str | None, typer.Option(help="RTP port range, e.g. 20000-20999.")] = None,
    db: DbUrl = None,
    ring_timeout: Annotated[float | None, typer.Option(help="Seconds a call rings.")] = None,
    rtp_timeout: Annotated[float | None, typer.Option(
        help="Seconds without RTP before a call is hung up (0: never).")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run the switch until SIGTERM or SIGINT."""
    from pycc.rtp.ports import PortRange
    from pycc.switch import Switch

    cfg = _config(data_dir, db).with_overrides(
        bind=bind, sip_port=sip_port, sips_port=sips_port, http_port=http_port,
        rtp_ports=rtp_ports, ring_timeout=ring_timeout, rtp_timeout=rtp_timeout,
    )
    try:
        PortRange.parse(cfg.rtp_ports)
    except ValueError as exc:
        raise fail(f"--rtp-ports: {exc}") from None
    if cfg.rtp_timeout < 0:
        raise fail(f"--rtp-timeout: must not be negative, got {cfg.rtp_timeout}")
    if cfg.recording_format not in ("wav", "ogg"):
        raise fail(f"recording_format: use wav or ogg, not {cfg.recording_format!r}")
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if cfg.http_port >= 0:
        # Loaded before the SIP sockets open: an import on the running loop would hold
        # the first messages for the second it takes.
        from pycc.api import ApiContext, ApiServer, create_app

    async def run() -> None:
        switch = Switch(cfg)
        try:
            await switch.start()
        except OSError as exc:
            raise fail(f"cannot listen: {exc.strerror or exc}") from None
        except ConfigError as exc:
            raise fail(str(exc)) from None
        # Everything loaded so far lives as long as the process: keep the cyclic collector
        # off it, and let it run less often (signalling makes many short-lived objects).
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        # The store's thread and the event loop share the GIL. Each SQLite call lets it go,
        # and taking it back waits for the loop to give it up, by default up to 5 ms each
        # time: a query of a few ms took several times that while calls were up.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        api = None
        listening = [f"{k}={v}" for k, v in switch.status().addresses.items()]
        if cfg.http_port >= 0:
            assert switch.store is not None
            api = ApiServer(create_app(ApiContext(switch.store, cfg.tenant, switch)),
                            cfg.bind, cfg.http_port)
            try:
                await api.start()
            except OSError as exc:
                await switch.stop()
                raise fail(f"cannot listen for HTTP on port {cfg.http_port}: "
                           f"{exc.strerror or exc}") from None
            host, port = api.address
            listening.append(f"http={host}:{port}")
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        typer.echo("pycc serving " + " ".join(listening), err=True)
        await stopping.wait()
        if api is not None:
            await api.stop()  # no request may find the store closed
        await switch.stop()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


@user_app.command("add")
def user_add(
    number: Annotated[str, typer.Argument(help="Extension number, e.g. 1001.")],
    password: Annotated[str, typer.Option(help="SIP password.", prompt=True,
                                          hide_input=True)],
    tenant: Annotated[str | None, typer.Option(help="Tenant name.")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Add an extension with its digest credentials."""
    if not number or not all(c.isalnum() or c in "-_.+" for c in number):
        raise fail(f"invalid extension {number!r}: use letters, digits, - _ . +", 2)
    if not password:
        raise fail("the password must not be empty", 2)
    cfg = _config(data_dir, db)
    with _store(cfg) as store:
        tenant_name = tenant or cfg.tenant
        if store.get_tenant(tenant_name) is None:
            raise fail(f"unknown tenant {tenant_name!r}")
        store.add_extension(tenant_name, number, password, display_name=name)
    typer.echo(f"added extension {number}")


@user_app.command("list")
def user_list(data_dir: DataDir = None, db: DbUrl = None,
              tenant: Annotated[str | None, typer.Option(help="Tenant name.")] = None) -> None:
    """List extensions."""
    cfg = _config(data_dir, db)
    with _store(cfg) as store:
        for ext in store.list_extensions(tenant):
            typer.echo(f"{ext.number}\t{ext.display_name or ''}")


@user_app.command("remove")
def user_remove(number: str, data_dir: DataDir = None, db: DbUrl = None,
                tenant: Annotated[str | None, typer.Option(help="Tenant name.")] = None) -> None:
    """Remove an extension."""
    cfg = _config(data_dir, db)
    with _store(cfg) as store:
        store.remove_extension(tenant or cfg.tenant, number)
    typer.echo(f"removed extension {number}")


@accel_app.command("build")
def accel_build(
    force: Annotated[bool, typer.Option("--force", help="Build again even if built.")] = False,
) -> None:
    """Compile the SIP core of these sources with mypyc into the cache (PYCC_ACCEL_DIR)."""
    from pycc import accel

    try:
        directory = accel.build(force=force, progress=lambda line: typer.echo(line, err=True))
    except accel.AccelError as exc:
        raise fail(f"cannot build the compiled SIP core: {exc}") from None
    typer.echo(f"compiled SIP core: {directory}")


@accel_app.command("status")
def accel_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Whether the compiled SIP core and the relay workers' C loop are built for these
    sources and in use."""
    from pycc import accel

    found = accel.status()
    relay = accel.native_library(accel.RELAY_LIBRARY)
    facts = {"key": found.key, "directory": str(found.directory), "built": found.built,
             "active": list(found.active), "modules": list(accel.MODULES),
             "disabled": found.disabled, "relay_loop": None if relay is None else str(relay)}
    if as_json:
        typer.echo(json.dumps(facts))
        return
    state = ("in use" if len(found.active) == len(accel.MODULES)
             else f"turned off ({accel.ENV_PURE})" if found.disabled
             else "built, not in use" if found.built else "not built (pycc accel build)")
    loop = ("C (relay workers forward in C)" if relay is not None
            else "Python" + (f" ({accel.ENV_PURE})" if found.disabled else " (not built)"))
    typer.echo(f"compiled SIP core: {state}\nrelay workers' packet loop: {loop}\n"
               f"build: {found.directory}")


CDR_FIELDS = ["call_id", "caller", "callee", "start", "ring", "answer", "end", "duration",
              "disposition", "hangup_cause", "hangup_by", "sip_status", "codec_caller",
              "codec_callee", "media_path", "mos_caller", "mos_callee", "packets_lost_caller",
              "packets_lost_callee"]
#: What fits a terminal: the table leaves out ring/answer/end times and the loss counts.
CDR_TABLE_FIELDS = ["call_id", "caller", "callee", "start", "duration", "disposition",
                    "hangup_cause", "hangup_by", "codec_caller", "codec_callee", "mos_caller",
                    "mos_callee"]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@report_app.command("cdr")
def report_cdr(
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    since: Annotated[str | None, typer.Option(help="ISO date/time or epoch seconds.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many records.")] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Call records, oldest first."""
    if fmt not in ("table", "json", "csv"):
        raise fail(f"unknown format {fmt!r}: use table, json or csv", 2)
    since_ts: float | None = None
    if since is not None:
        try:
            since_ts = float(since)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(since)
            except ValueError:
                raise fail(f"invalid --since {since!r}: use ISO 8601 or epoch seconds", 2) from None
            since_ts = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    cfg = _config(data_dir, db)
    with _store(cfg) as store:
        records = store.list_call_records(since=since_ts, limit=limit)
    rows = []
    for rec in records:
        row: dict[str, object] = {name: getattr(rec, name) for name in CDR_FIELDS}
        for key in ("start", "ring", "answer", "end"):
            row[key] = _iso(getattr(rec, key))
        rows.append(row)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CDR_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(out.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*CDR_TABLE_FIELDS)
        for row in rows:
            table.add_row(*("" if row[k] is None else str(row[k]) for k in CDR_TABLE_FIELDS))
        Console().print(table)


@app.command("apply")
def apply_command(
    path: Annotated[Path, typer.Argument(help="The call-center YAML file.")],
    data_dir: DataDir = None,
    db: DbUrl = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show the changes "
                                          "without writing them.")] = False,
) -> None:
    """Make the database match FILE (routes, trunks, queues, agents, IVR flows ...): all or
    nothing. A running switch on the same data dir picks the change up at once."""
    from pycc.ctl import ControlError, request
    from pycc.provision.command import apply_file

    cfg = _config(data_dir, db)
    code = apply_file(path, cfg, dry_run=dry_run)
    if code != 0:
        raise typer.Exit(code)
    if not dry_run:
        # No switch running here is fine: it loads the configuration when it starts.
        with contextlib.suppress(ControlError):
            request(cfg.data_dir, "reload", timeout=5.0)


@app.command("status")
def status_command(
    data_dir: DataDir = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Live calls, registrations, queues, agents and trunks of the running switch."""
    from pycc.ctl import ControlError, request

    if fmt not in ("table", "json"):
        raise fail(f"--format: {fmt!r} is not table or json", 2)
    directory = data_dir or default_data_dir()
    try:
        state = request(directory, "status")
    except ControlError as exc:
        raise fail(str(exc)) from None
    if fmt == "json":
        typer.echo(json.dumps(state, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"calls: {state.get('calls', 0)}  registrations: "
                  f"{state.get('registrations', 0)}")
    for title, key, columns in (
        ("queues", "queues", ("queue", "waiting", "longest_wait", "answered", "abandoned",
                              "overflowed", "service_level", "agents_logged_in",
                              "agents_free")),
        ("agents", "agents", ("agent", "extension", "status", "state", "reason", "call",
                              "calls_today")),
        ("trunks", "trunks", ("name", "up", "registered", "calls", "max_calls",
                              "last_error")),
    ):
        rows = state.get(key) or []
        if not rows:
            continue
        table = Table(*columns, title=title)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        console.print(table)


def _agent(action: str, agent: str, data_dir: Path | None, **fields: object) -> None:
    from pycc.ctl import ControlError, request

    directory = data_dir or default_data_dir()
    try:
        result = request(directory, "agent", 10.0, action=action, agent=agent, **fields)
    except ControlError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{result['agent']}: {result['status']} / {result['state']}")


AgentId = Annotated[str, typer.Argument(help="The agent's id.")]


@agent_app.command("login")
def agent_login(agent: AgentId, data_dir: DataDir = None,
                extension: Annotated[str | None, typer.Option(
                    help="Log in on this extension (default: the agent's own).")] = None,
                ) -> None:
    """Log AGENT in and make it available."""
    _agent("login", agent, data_dir, extension=extension or "")


@agent_app.command("logout")
def agent_logout(agent: AgentId, data_dir: DataDir = None) -> None:
    """Log AGENT out."""
    _agent("logout", agent, data_dir)


@agent_app.command("ready")
def agent_ready(agent: AgentId, data_dir: DataDir = None) -> None:
    """Make AGENT available for calls."""
    _agent("ready", agent, data_dir)


@agent_app.command("not-ready")
def agent_not_ready(agent: AgentId, data_dir: DataDir = None,
                    reason: Annotated[str, typer.Option(help="Why (a reason code).")] = "break",
                    ) -> None:
    """Take AGENT out of call distribution, with a reason."""
    _agent("not-ready", agent, data_dir, reason=reason)


# -- campaigns -------------------------------------------------------------------------------

CampaignName = Annotated[str, typer.Argument(help="The campaign's name (from pycc apply).")]


@campaign_app.command("import")
def campaign_import(
    name: CampaignName,
    file: Annotated[Path, typer.Argument(help="A CSV file with a phone column.")],
    data_dir: DataDir = None,
    db: DbUrl = None,
    dnc: Annotated[Path | None, typer.Option(
        "--dnc", help="Add this file's numbers to the do-not-call list first.")] = None,
) -> None:
    """Import contacts into NAME: bad rows are reported with their line numbers, good rows
    imported in one transaction; importing the same ids again adds nothing."""
    from pycc.ctl import ControlError, request
    from pycc.pds.command import import_command

    cfg = _config(data_dir, db)
    code = import_command(name, file, cfg, dnc_file=dnc)
    if code != 0:
        raise typer.Exit(code)
    with contextlib.suppress(ControlError):  # a running campaign dials the new ones at once
        request(cfg.data_dir, "campaign", 5.0, action="poke", campaign=name)


@campaign_app.command("callback")
def campaign_callback(
    name: CampaignName,
    contact: Annotated[str, typer.Argument(help="The contact's id from the imported file.")],
    at: Annotated[str, typer.Option(
        "--at", help="When: ISO 8601 (in the campaign's zone unless it has an offset), or "
                     "+SECONDS, +MINUTESm, +HOURSh, +DAYSd from now.")],
    agent: Annotated[str | None, typer.Option(
        "--agent", help="Only this agent calls the contact back (while logged in).")] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Schedule a callback of CONTACT in campaign NAME; the dialer calls it first when due,
    ringing the given agent before it dials the customer."""
    from pycc.ctl import ControlError, request
    from pycc.pds.command import callback_command

    cfg = _config(data_dir, db)
    code = callback_command(name, contact, at, cfg, agent=agent)
    if code != 0:
        raise typer.Exit(code)
    with contextlib.suppress(ControlError):
        request(cfg.data_dir, "campaign", 5.0, action="poke", campaign=name)


def _campaign(action: str, name: str, data_dir: Path | None) -> None:
    from pycc.ctl import ControlError, request

    directory = data_dir or default_data_dir()
    try:
        result = request(directory, "campaign", 30.0, action=action, campaign=name)
    except ControlError as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(result, sort_keys=True))


@campaign_app.command("start")
def campaign_start(name: CampaignName, data_dir: DataDir = None) -> None:
    """Start dialing NAME on the running switch (it resumes after a restart)."""
    _campaign("start", name, data_dir)


@campaign_app.command("stop")
def campaign_stop(name: CampaignName, data_dir: DataDir = None) -> None:
    """Stop dialing NAME; calls already up finish."""
    _campaign("stop", name, data_dir)


@campaign_app.command("status")
def campaign_status(name: CampaignName, data_dir: DataDir = None) -> None:
    """Live figures of NAME: dialed, answered, connected, abandoned, in flight."""
    _campaign("status", name, data_dir)


@campaign_app.command("simulate")
def campaign_simulate(
    mode: Annotated[str, typer.Option(help="predictive, progressive, preview, or a baseline: "
                                      "ratio, adapt_hard_limit, adapt_tapered, "
                                      "adapt_average.")] = "predictive",
    agents: Annotated[int, typer.Option(help="Agents logged in.")] = 50,
    answer_rate: Annotated[float, typer.Option(help="Share of dialed calls answered.")] = 0.25,
    talk_mean: Annotated[float, typer.Option(help="Mean talk time, seconds (lognormal).")
                         ] = 120.0,
    wrapup: Annotated[float, typer.Option(help="Wrap-up after each call, seconds.")] = 10.0,
    hours: Annotated[float, typer.Option(help="Length of the shift.")] = 8.0,
    abandon_limit: Annotated[float, typer.Option(help="Abandoned / answered, at most.")
                             ] = 0.03,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    answer_delay: Annotated[float | None, typer.Option(
        help="Mean ring time before an answer, seconds.")] = None,
    machine_rate: Annotated[float | None, typer.Option(
        help="Share of answers that are machines.")] = None,
    busy_rate: Annotated[float | None, typer.Option(help="Share of calls busy.")] = None,
    talk_sigma: Annotated[float | None, typer.Option(
        help="Sigma of the talk time's lognormal.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or table.")] = "table",
) -> None:
    """Run the dialer's pacing on a simulated clock and print what the shift gave: dialed,
    answered, connected, abandoned, abandon_rate, occupancy, connects_per_agent_hour."""
    from pycc.pds.simulate_command import simulate_command

    code, text = simulate_command(
        mode, agents, answer_rate, talk_mean, wrapup, hours, abandon_limit, seed, fmt,
        answer_delay=answer_delay, machine_rate=machine_rate, busy_rate=busy_rate,
        talk_sigma=talk_sigma)
    if code != 0:
        raise fail(text, code)
    typer.echo(text)


def _report_command(name: str, title: str) -> Callable[..., None]:
    """``pycc report NAME``: one command per report of `pycc.aaa.reports.REPORTS`."""

    def command(
        fmt: Annotated[str, typer.Option(
            "--format", help="table, json, csv, or svg (summary-daily's chart).")] = "table",
        since: Annotated[str | None, typer.Option(
            help="Calls started at or after this: epoch seconds or ISO 8601 (in --tz).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Calls started before this.")] = None,
        agent: Annotated[str | None, typer.Option(help="Only this agent.")] = None,
        queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
        campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
        tz: Annotated[str | None, typer.Option(
            "--tz", help="Time zone of hours, days and times (IANA name; default UTC).")
        ] = None,
        limit: Annotated[str | None, typer.Option(help="At most this many rows (lists).")
                         ] = None,
        threshold: Annotated[str | None, typer.Option(
            help="Service-level target in seconds for every queue.")] = None,
        data_dir: DataDir = None,
        db: DbUrl = None,
    ) -> None:
        _run_report(name, fmt, {"since": since, "until": until, "agent": agent,
                                "queue": queue, "campaign": campaign, "tz": tz,
                                "limit": limit, "threshold": threshold}, data_dir, db)

    command.__doc__ = f"{title}."
    # Typer reads each command's annotations, which this module keeps as text: resolved
    # once here instead of once per report on every start of the program.
    command.__annotations__ = _report_hints(command)
    return command


_REPORT_HINTS: dict[str, object] = {}


def _report_hints(command: Callable[..., None]) -> dict[str, object]:
    if not _REPORT_HINTS:
        import typing

        _REPORT_HINTS.update(typing.get_type_hints(command, include_extras=True))
    return _REPORT_HINTS


def _run_report(name: str, fmt: str, raw: dict[str, str | None], data_dir: Path | None,
                db: str | None) -> None:
    import time

    from pycc.aaa.reports import REPORTS, ReportError, parse_options

    spec = REPORTS[name]
    try:
        spec.check_format(fmt)
        options = parse_options(raw, now=time.time())
        spec.check(options)
    except ReportError as exc:
        raise fail(f"--{exc.field}: {exc.message}", 2) from None
    cfg = _config(data_dir, db)
    with _store(cfg) as store:
        try:
            rows = spec.run(store, cfg.tenant, options)
        except ReportError as exc:
            raise fail(f"{exc.field}: {exc.message}") from None
    typer.echo(spec.render(rows, fmt, options), nl=False)


def _add_report_commands() -> None:
    from pycc.aaa.reports import REPORTS

    for name, spec in REPORTS.items():
        report_app.command(name, help=f"{spec.title}.")(_report_command(name, spec.title))


_add_report_commands()


@app.command("demo")
def demo_command(
    seconds: Annotated[float, typer.Option(help="How long the demo runs.")] = 60.0,
    agents: Annotated[int, typer.Option(help="Simulated agents.")] = 8,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Keep the demo's data here (default: a temporary dir).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """The whole call center on loopback for a minute: simulated agents, customers and
    callers, a predictive campaign and an inbound queue, a live view, then the reports."""
    from pycc.demo import run_demo

    if seconds <= 0:
        raise fail(f"--seconds: must be positive, not {seconds:g}", 2)
    if agents < 1:
        raise fail(f"--agents: must be at least 1, not {agents}", 2)
    raise typer.Exit(run_demo(seconds, agents=agents, data_dir=data_dir, seed=seed,
                              live=sys.stdout.isatty()))


def main() -> None:
    app()
