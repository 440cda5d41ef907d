"""``pycc admin``: users of the admin API, their API tokens, and the audit log, from the CLI.

Whoever can run the CLI on the data directory is the operator: these commands need no
login, and the audit log names them by their OS login name with source ``cli``. The
operator's own super-admin is a user of tenant ``*``
(``pycc admin user add root --role admin --tenant '*'``).

Passwords come from ``--password-stdin`` (one line), ``--password``, or a hidden prompt when
stdin is a terminal; they are never echoed. A new API token is printed once, alone on
stdout, so ``TOKEN=$(pycc admin token create NAME)`` captures it.

Errors are one line on stderr: exit status 1 for a failed operation (unknown user, name
taken, database down), 2 for bad usage (a bad role, name or password).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import typer

from pycc.aaa import accounts, audit
from pycc.aaa.accounts import AccountError
from pycc.aaa.audit import Origin
from pycc.config import ConfigError, SwitchConfig, default_data_dir, load_config
from pycc.store.db import make_url
from pycc.store.errors import StoreError
from pycc.store.repo import Store

__all__ = ["admin_app"]

admin_app = typer.Typer(help="Users of the admin API (admins, supervisors, agents), their "
                        "API tokens, and the audit log.", no_args_is_help=True)
user_app = typer.Typer(help="Users who log in to the admin API.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (bearer tokens for the HTTP API).",
                        no_args_is_help=True)
admin_app.add_typer(user_app, name="user")
admin_app.add_typer(token_app, name="token")

#: Longest validity ``--expires`` accepts, in days.
MAX_TOKEN_DAYS: Final = 3650
_DAY: Final = 86_400.0

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $PYCC_DATA_DIR or ./data)."),
]
DbUrl = Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite).")]
TenantOption = Annotated[str | None, typer.Option(
    help="Tenant name ('*': the operator's own users; default: the switch's tenant).")]
UserName = Annotated[str, typer.Argument(help="The user's name.")]
Format = Annotated[str, typer.Option("--format", help="table or json.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"pycc: error: {message}", err=True)
    return typer.Exit(code)


def _config(data_dir: Path | None, db: str | None) -> SwitchConfig:
    try:
        cfg = load_config(data_dir or default_data_dir())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    return cfg.with_overrides(db_url=db)


@contextmanager
def _store(data_dir: Path | None, db: str | None) -> Iterator[tuple[Store, SwitchConfig]]:
    cfg = _config(data_dir, db)
    try:
        store = Store(make_url(cfg.data_dir, cfg.db_url))
        store.create_all()
    except (StoreError, ValueError) as exc:
        raise _fail(f"cannot open the database: {exc}") from None
    try:
        yield store, cfg
    except AccountError as exc:
        raise _fail(str(exc), 2) from None
    except StoreError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()


def _origin() -> Origin:
    return Origin(audit.local_actor(), "cli")


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise _fail(f"--format: {fmt!r} is not table or json", 2)


def _iso(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _read_password(password: str | None, from_stdin: bool) -> str:
    if password is not None and from_stdin:
        raise _fail("give either --password or --password-stdin, not both", 2)
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    if password is not None:
        return password
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    raise _fail("no password: give --password-stdin or --password", 2)


# -- users -----------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: UserName,
    role: Annotated[str, typer.Option(help="admin, supervisor or agent.")],
    tenant: TenantOption = None,
    agent: Annotated[str | None, typer.Option(
        help="The agent id (from pycc apply) of a user with the role agent.")] = None,
    password: Annotated[str | None, typer.Option(
        help="The password (visible in the process list: prefer --password-stdin).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin.")] = False,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Add a user who logs in to the admin API."""
    secret = _read_password(password, password_stdin)
    with _store(data_dir, db) as (store, cfg):
        account = accounts.create_user(store, tenant or cfg.tenant, name, role,
                                       password=secret, agent=agent, now=time.time(),
                                       origin=_origin())
    typer.echo(f"added {account.role} {account.name} to tenant {account.tenant}")


@user_app.command("list")
def user_list(tenant: Annotated[str | None, typer.Option(
                  help="Only this tenant's users (default: every tenant's).")] = None,
              fmt: Format = "table", data_dir: DataDir = None, db: DbUrl = None) -> None:
    """List users (never their passwords)."""
    _check_format(fmt)
    with _store(data_dir, db) as (store, _cfg):
        users = accounts.list_users(store, tenant)
    if fmt == "json":
        typer.echo(json.dumps([asdict(u) for u in users], indent=2))
        return
    _print_table(("tenant", "name", "role", "agent", "enabled", "created"),
                 [(u.tenant, u.name, u.role.value, u.agent or "", "yes" if u.enabled else "no",
                   _iso(u.created)) for u in users])


@user_app.command("remove")
def user_remove(name: UserName, tenant: TenantOption = None, data_dir: DataDir = None,
                db: DbUrl = None) -> None:
    """Delete a user and its API tokens."""
    with _store(data_dir, db) as (store, cfg):
        owner = tenant or cfg.tenant
        accounts.delete_user(store, owner, name, now=time.time(), origin=_origin())
    typer.echo(f"removed {name} from tenant {owner}")


@user_app.command("disable")
def user_disable(name: UserName, tenant: TenantOption = None, data_dir: DataDir = None,
                 db: DbUrl = None) -> None:
    """Stop a user from logging in and from using its API tokens."""
    with _store(data_dir, db) as (store, cfg):
        account = accounts.disable_user(store, tenant or cfg.tenant, name, now=time.time(),
                                        origin=_origin())
    typer.echo(f"disabled {account.name} of tenant {account.tenant}")


@user_app.command("enable")
def user_enable(name: UserName, tenant: TenantOption = None, data_dir: DataDir = None,
                db: DbUrl = None) -> None:
    """Let a disabled user log in and use its API tokens again."""
    with _store(data_dir, db) as (store, cfg):
        account = accounts.update_user(store, tenant or cfg.tenant, name, enabled=True,
                                       now=time.time(), origin=_origin())
    typer.echo(f"enabled {account.name} of tenant {account.tenant}")


@user_app.command("passwd")
def user_passwd(
    name: UserName,
    tenant: TenantOption = None,
    password: Annotated[str | None, typer.Option(help="The new password.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the new password from the first line of stdin.")
    ] = False,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Set a user's password."""
    secret = _read_password(password, password_stdin)
    with _store(data_dir, db) as (store, cfg):
        account = accounts.update_user(store, tenant or cfg.tenant, name, password=secret,
                                       now=time.time(), origin=_origin())
    typer.echo(f"changed the password of {account.name} of tenant {account.tenant}")


# -- tokens ----------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    name: UserName,
    tenant: TenantOption = None,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires: Annotated[float | None, typer.Option(
        help=f"Valid for this many days (at most {MAX_TOKEN_DAYS}; default: until revoked).")
    ] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Issue an API token for a user and print it (once: only its hash is kept)."""
    if expires is not None and not 0 < expires <= MAX_TOKEN_DAYS:
        raise _fail(f"--expires: must be more than 0 and at most {MAX_TOKEN_DAYS} days, "
                    f"not {expires:g}", 2)
    now = time.time()
    with _store(data_dir, db) as (store, cfg):
        issued = accounts.issue_token(
            store, tenant or cfg.tenant, name, label=label, now=now, origin=_origin(),
            expires=None if expires is None else now + expires * _DAY)
    info = issued.info
    until = f"until {_iso(info.expires)}" if info.expires is not None else "until revoked"
    typer.echo(f"token {info.prefix} for {info.user} of tenant {info.tenant}, valid {until}; "
               "it is shown only now", err=True)
    typer.echo(issued.plaintext)


@token_app.command("revoke")
def token_revoke(prefix: Annotated[str, typer.Argument(
                     help="The 12 hex digits after pycc_ in the token (token list shows "
                          "them).")],
                 data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Revoke an API token at once."""
    with _store(data_dir, db) as (store, _cfg):
        info = accounts.revoke_token(store, prefix, now=time.time(), origin=_origin())
    typer.echo(f"revoked token {info.prefix} of {info.user} of tenant {info.tenant}")


@token_app.command("list")
def token_list(tenant: Annotated[str | None, typer.Option(
                   help="Only this tenant's tokens (default: every tenant's).")] = None,
               fmt: Format = "table", data_dir: DataDir = None, db: DbUrl = None) -> None:
    """List API tokens by prefix (never the tokens themselves)."""
    _check_format(fmt)
    with _store(data_dir, db) as (store, _cfg):
        tokens = accounts.list_tokens(store, tenant)
    if fmt == "json":
        typer.echo(json.dumps([asdict(t) for t in tokens], indent=2))
        return
    _print_table(("prefix", "tenant", "user", "label", "created", "expires", "last used",
                  "revoked"),
                 [(t.prefix, t.tenant, t.user, t.label, _iso(t.created), _iso(t.expires),
                   _iso(t.last_used), "yes" if t.revoked else "no") for t in tokens])


# -- the audit log ---------------------------------------------------------------------------


def _parse_since(since: str) -> float:
    try:
        return float(since)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(since)
    except ValueError:
        raise _fail(f"--since: {since!r} is neither ISO 8601 nor epoch seconds", 2) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@admin_app.command("audit")
def audit_command(
    since: Annotated[str | None, typer.Option(
        help="Only changes at or after this time: ISO 8601 (UTC unless given) or epoch "
             "seconds.")] = None,
    tenant: Annotated[str | None, typer.Option(
        help="Only this tenant's changes (default: every tenant's).")] = None,
    limit: Annotated[int, typer.Option(help=f"At most this many (1 to {audit.MAX_PAGE}).")
                     ] = 100,
    after: Annotated[int | None, typer.Option(
        help="Only entries with a higher id (the next page).")] = None,
    fmt: Format = "table",
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Administrative changes, oldest first: who changed what, when, through what."""
    _check_format(fmt)
    since_ts = None if since is None else _parse_since(since)
    with _store(data_dir, db) as (store, _cfg):
        try:
            page = audit.query(store, tenant=tenant, since=since_ts, after=after, limit=limit)
        except ValueError as exc:
            raise _fail(f"--{exc}", 2) from None
    if fmt == "json":
        typer.echo(json.dumps([
            {"id": e.id, "at": _iso(e.at), "tenant": e.tenant, "actor": e.actor,
             "source": e.source, "action": e.action, "target_kind": e.target_kind,
             "target_id": e.target_id, "detail": audit.detail_of(e)}
            for e in page.entries], indent=2))
    else:
        _print_table(("id", "at", "tenant", "actor", "source", "action", "target", "detail"),
                     [(str(e.id), _iso(e.at), e.tenant, e.actor, e.source, e.action,
                       f"{e.target_kind} {e.target_id}", e.detail) for e in page.entries])
    if page.next_after is not None:
        typer.echo(f"more entries: --after {page.next_after}", err=True)
