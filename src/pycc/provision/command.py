"""``pycc apply FILE``: validate a call-center file and make the database match it.

Errors go to stderr one per line as ``FILE:LINE:COL: where: message``, every error of the
file at once, and nothing is written (exit status 1). Otherwise each change is reported
(``created queue sales``), or ``no changes``; ``--dry-run`` reports what would change and
writes nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from pycc.aaa.audit import Origin, local_actor
from pycc.config import SwitchConfig
from pycc.provision.schema import validate
from pycc.provision.source import ApplyError, Source, load_file
from pycc.provision.sync import ApplyResult, apply, stored_names
from pycc.store.db import make_url
from pycc.store.errors import StoreError
from pycc.store.repo import Store

__all__ = ["apply_file", "summary"]


def _to_stdout(line: str) -> None:
    print(line)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def apply_file(path: Path, cfg: SwitchConfig, *, dry_run: bool = False,
               out: Callable[[str], None] = _to_stdout,
               err: Callable[[str], None] = _to_stderr,
               clock: Callable[[], float] = time.time) -> int:
    """Apply the file at ``path`` to the database of ``cfg``; the exit status (0 or 1).

    A file without ``tenant`` configures ``cfg.tenant``; a new tenant named like the
    switch's own gets the switch's realm (``cfg.realm``) unless the file names one.
    """
    try:
        source = load_file(path)
    except ApplyError as exc:
        err(str(exc))
        return 1
    try:
        store = Store(make_url(cfg.data_dir, cfg.db_url))
        store.create_all()
    except (StoreError, ValueError) as exc:
        err(f"pycc: error: cannot open the database: {exc}")
        return 1
    try:
        return _apply(source, store, cfg, dry_run, out, err, clock)
    except StoreError as exc:
        err(f"pycc: error: {exc}")
        return 1
    finally:
        store.close()


def _apply(source: Source, store: Store, cfg: SwitchConfig, dry_run: bool,
           out: Callable[[str], None], err: Callable[[str], None],
           clock: Callable[[], float]) -> int:
    tenant = cfg.tenant
    if isinstance(source.data, dict) and isinstance(source.data.get("tenant"), str):
        tenant = source.data["tenant"]
    spec, errors = validate(source.data, source=source, known=stored_names(store, tenant),
                            default_tenant=cfg.tenant)
    if spec is None:
        for error in errors:
            err(str(error))
        return 1
    default_realm = cfg.realm if spec.tenant == cfg.tenant else None
    try:
        result = apply(store, spec, clock(), dry_run=dry_run, default_realm=default_realm,
                       origin=Origin(local_actor(), "apply"))
    except ApplyError as exc:
        err(str(source.place(exc)))
        return 1
    for line in summary(result):
        out(line)
    return 0


def summary(result: ApplyResult) -> list[str]:
    """One line per change (``created queue sales``), or ``no changes``."""
    verbs = (("would create", "would update", "would delete") if result.dry_run
             else ("created", "updated", "deleted"))
    lines = [f"{verb} {kind} {name}" if name != kind else f"{verb} {kind}"
             for verb, changes in zip(verbs, (result.created, result.updated, result.deleted),
                                      strict=True)
             for kind, name in changes]
    if not lines:
        lines.append("no changes")
    if result.dry_run:
        lines.append("dry run: nothing written")
    return lines
