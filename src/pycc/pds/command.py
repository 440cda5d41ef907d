"""The dialer's CLI commands: ``pycc campaign import NAME FILE``, ``pycc campaign callback
NAME CONTACT --at WHEN`` and ``pycc report campaign|results``, as functions that print through
``out``/``err`` and return the exit status.

The campaign's settings come from what ``pycc apply`` stored for the tenant (its
``campaigns:`` entries, templates resolved); they are copied to the dialer's own campaign
table, so a campaign made through the library API (`pycc.pds.store.DialerStore.save_campaign`)
can be imported into as well. An import prints every row it did not take, one per line as
``LINE: reason`` in line order, then the counts; rows with problems do not make it fail. It
exits 1 only when nothing could be imported: the file cannot be read, the campaign does not
exist, or the database failed (then nothing was written).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from pycc.config import SwitchConfig
from pycc.pds.campaign import CampaignConfig, CampaignError, campaigns_from_entries
from pycc.pds.contacts import ContactsError, ImportReport, mark_dnc, parse_csv, parse_dnc
from pycc.pds.reports import campaign_summary, result_summary
from pycc.pds.store import DialerStore, ImportResult
from pycc.store.config_models import ConfigObject
from pycc.store.db import make_url
from pycc.store.errors import NotFound, StoreError
from pycc.store.models import Tenant
from pycc.store.repo import Store

__all__ = ["FORMATS", "REPORTS", "agent_ids", "applied_campaign", "applied_campaigns",
           "callback_command",
           "import_command", "import_contacts", "parse_when", "report_command",
           "report_lines"]

REPORTS: Final = ("campaign", "results")
FORMATS: Final = ("table", "json", "csv")
_CAMPAIGN_COLUMNS: Final[tuple[str, ...]] = (
    "campaign", "dialed", "answered", "connected", "abandoned", "abandon_rate", "machine",
    "in_progress", "contacts", "done", "by_result")
_RESULT_COLUMNS: Final[tuple[str, ...]] = (
    "campaign", "result", "attempts", "share", "mean_duration")

Printer = Callable[[str], None]


def _to_stdout(line: str) -> None:
    print(line)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def import_command(campaign: str, file: Path, cfg: SwitchConfig, *,
                   dnc_file: Path | None = None, out: Printer = _to_stdout,
                   err: Printer = _to_stderr, clock: Callable[[], float] = time.time) -> int:
    """Import the contacts of ``file`` into ``campaign`` of ``cfg.tenant`` (after adding the
    numbers of ``dnc_file`` to the tenant's do-not-call list); the exit status."""
    store = _open(cfg, err)
    if store is None:
        return 1
    try:
        return _import(store, campaign, file, cfg.tenant, dnc_file, out, err, clock())
    except (StoreError, CampaignError) as exc:
        err(f"pycc: error: {exc}")
        return 1
    finally:
        store.close()


def _open(cfg: SwitchConfig, err: Printer) -> Store | None:
    """The configured database, its tables made; None (said on ``err``) if it cannot be."""
    try:
        store = Store(make_url(cfg.data_dir, cfg.db_url))
        store.create_all()
    except (StoreError, ValueError) as exc:
        err(f"pycc: error: cannot open the database: {exc}")
        return None
    return store


def _import(store: Store, campaign: str, file: Path, tenant: str, dnc_file: Path | None,
            out: Printer, err: Printer, now: float) -> int:
    dialer = DialerStore(store, tenant)
    config = applied_campaign(store, tenant, campaign)
    if config is not None:
        if config.is_template:
            err(f"pycc: error: campaign {campaign!r} is a template: import into a campaign "
                "that uses it")
            return 1
    else:
        try:
            config = dialer.get_campaign(campaign)
        except NotFound:
            err(f"pycc: error: no campaign {campaign!r} in tenant {tenant!r}: add it to the "
                "campaigns: section of the call-center file and run pycc apply")
            return 1
    if dnc_file is not None:
        try:
            listed = parse_dnc(dnc_file, config.country)
        except ContactsError as exc:
            err(f"pycc: error: {dnc_file}: {exc}")
            return 1
        for number, reason in listed.rejected:
            out(f"{dnc_file}:{number}: {reason}")
        added = dialer.add_dnc(tenant, listed.numbers, now)
        out(f"{added} new numbers on the do-not-call list of tenant {tenant!r} "
            f"({len(listed.numbers)} read, {len(listed.rejected)} rejected)")
    try:
        report, result = import_contacts(dialer, config, file, now)
    except ContactsError as exc:
        err(f"pycc: error: {file}: {exc}")
        return 1
    for line in report_lines(report):
        out(line)
    out(f"imported {result.added} contacts into campaign {campaign!r} "
        f"({result.skipped_existing} already there); {len(report.rejected)} rejected, "
        f"{len(report.duplicates)} duplicates, {len(report.dnc)} on the do-not-call list")
    return 0


_RELATIVE = re.compile(r"\+(\d+(?:\.\d+)?)([smhd]?)")
_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_when(text: str, now: float, timezone: str = "UTC") -> float:
    """A callback time: ``+N`` seconds from ``now`` (or ``+Nm``, ``+Nh``, ``+Nd``), or an
    ISO 8601 date and time; one without a UTC offset is in ``timezone`` (the campaign's).
    ValueError names what is wrong."""
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative is not None:
        return now + float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use ISO 8601 (2026-12-02T10:30) or "
                         "+SECONDS, +MINUTESm, +HOURSh, +DAYSd") from None
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
    return moment.timestamp()


def callback_command(campaign: str, contact: str, when: str, cfg: SwitchConfig, *,
                     agent: str | None = None, out: Printer = _to_stdout,
                     err: Printer = _to_stderr, clock: Callable[[], float] = time.time) -> int:
    """Schedule contact ``contact`` (its external id) of ``campaign`` to be called back at
    ``when`` (see `parse_when`), by ``agent`` if given; the exit status."""
    now = clock()
    store = _open(cfg, err)
    if store is None:
        return 1
    try:
        dialer = DialerStore(store, cfg.tenant)
        config = applied_campaign(store, cfg.tenant, campaign)
        if config is None:
            config = dialer.get_campaign(campaign)
        try:
            at = parse_when(when, now, config.timezone)
        except ValueError as exc:
            err(f"pycc: error: --at: {exc}")
            return 2
        if at < now - 60.0:
            err(f"pycc: error: --at: {when!r} is in the past")
            return 2
        if agent is not None and agent not in agent_ids(store, cfg.tenant):
            err(f"pycc: error: --agent: no agent {agent!r} in tenant {cfg.tenant!r}")
            return 2
        contact_id = dialer.find_contact(campaign, contact)
        dialer.schedule_callback(contact_id, at, agent, now=now)
    except NotFound as exc:
        err(f"pycc: error: {exc}")
        return 1
    except StoreError as exc:
        err(f"pycc: error: {exc}")
        return 1
    finally:
        store.close()
    stamp = datetime.fromtimestamp(at, ZoneInfo(config.timezone)).isoformat(timespec="seconds")
    out(f"contact {contact!r} of campaign {campaign!r} will be called back at {stamp}"
        + (f" by agent {agent}" if agent else ""))
    return 0


def agent_ids(store: Store, tenant: str) -> set[str]:
    """The ids of the agents ``pycc apply`` stored for ``tenant``."""
    try:
        with Session(store.engine) as session:
            return set(session.exec(
                select(ConfigObject.name).join(Tenant, col(Tenant.id) == ConfigObject.tenant_id)
                .where(Tenant.name == tenant, ConfigObject.kind == "agent")))
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc


def import_contacts(dialer: DialerStore, config: CampaignConfig, source: str | bytes | Path,
                    now: float) -> tuple[ImportReport, ImportResult]:
    """Import the CSV ``source`` into campaign ``config`` (saved to the dialer's table
    first): its rows checked, do-not-call numbers set aside, the good rows added in one
    transaction. `ContactsError` when the file cannot be read as contacts at all."""
    report = parse_csv(source, config)
    report = mark_dnc(report, dialer.dnc_numbers(row.phone for row in report.good))
    dialer.save_campaign(config, now)
    return report, dialer.import_contacts(config.name, report, now)


def report_lines(report: ImportReport) -> list[str]:
    """``LINE: reason`` for every row not imported, in line order."""
    lines = [(line, reason) for line, reason in report.rejected]
    lines += [(line, f"duplicate of line {first}") for line, first in report.duplicates]
    lines += [(line, f"{number} is on the do-not-call list") for line, number in report.dnc]
    return [f"{line}: {reason}" for line, reason in sorted(lines)]


def applied_campaigns(store: Store, tenant: str) -> dict[str, CampaignConfig]:
    """The campaigns (and templates) ``pycc apply`` stored for ``tenant``, templates
    resolved, by name."""
    try:
        with Session(store.engine) as session:
            specs = list(session.exec(
                select(ConfigObject.spec).join(Tenant, col(Tenant.id) == ConfigObject.tenant_id)
                .where(Tenant.name == tenant, ConfigObject.kind == "campaign")
                .order_by(col(ConfigObject.position), col(ConfigObject.name))))
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc}") from exc
    try:
        entries = [json.loads(spec) for spec in specs]
    except ValueError as exc:
        raise StoreError(f"a stored campaign is not JSON: {exc}") from None
    return {config.name: config
            for config in campaigns_from_entries(entries, "stored campaigns")}


def applied_campaign(store: Store, tenant: str, name: str) -> CampaignConfig | None:
    """Campaign ``name`` as ``pycc apply`` stored it for ``tenant`` (templates resolved),
    or None if it has none by that name."""
    return applied_campaigns(store, tenant).get(name)


def report_command(name: str, cfg: SwitchConfig, fmt: str = "table", *,
                   campaign: str | None = None, since: float | None = None,
                   out: Printer = _to_stdout, err: Printer = _to_stderr) -> int:
    """Print report ``name`` (campaign or results) of ``cfg.tenant`` as a table, JSON or
    CSV; the exit status (2 for an unknown report or format)."""
    if name not in REPORTS:
        err(f"pycc: error: unknown report {name!r}: use {' or '.join(REPORTS)}")
        return 2
    if fmt not in FORMATS:
        err(f"pycc: error: unknown format {fmt!r}: use table, json or csv")
        return 2
    store = _open(cfg, err)
    if store is None:
        return 1
    try:
        if name == "campaign":
            rows = campaign_summary(store, campaign, since, tenant=cfg.tenant)
            columns = _CAMPAIGN_COLUMNS
        else:
            rows = result_summary(store, campaign, since, tenant=cfg.tenant)
            columns = _RESULT_COLUMNS
    except StoreError as exc:
        err(f"pycc: error: {exc}")
        return 1
    finally:
        store.close()
    out(_render(rows, columns, fmt))
    return 0


def _render(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    cells = [{column: _cell(row.get(column), column, fmt) for column in columns}
             for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(cells)
        return buffer.getvalue().rstrip("\n")
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in cells:
        table.add_row(*(row[column] for column in columns))
    buffer = io.StringIO()
    Console(file=buffer, width=160, force_terminal=False, color_system=None).print(table)
    return buffer.getvalue().rstrip("\n")


def _cell(value: object, column: str, fmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return " ".join(f"{key}={count}" for key, count in value.items())
    if isinstance(value, float):
        if fmt == "table" and column in ("abandon_rate", "share"):
            return f"{value:.1%}"
        return f"{value:.4g}" if fmt == "table" else repr(value)
    return str(value)
