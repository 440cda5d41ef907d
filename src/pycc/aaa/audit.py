"""The audit log: one entry for every administrative change, and the query that reads it.

`record` adds an entry inside the caller's transaction, so a change and its entry are
written together or not at all; it never commits by itself. `query` reads entries oldest
first with filters, a page at a time: the next page starts after the last id of this one,
which stays correct while new entries are appended (an offset would shift).

Details are JSON objects and must never hold a secret: callers put in what changed (the
field names of a password change, not the password).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlmodel import Session, col, select

from pycc.store.admin_models import AuditEntry
from pycc.store.repo import Store

__all__ = [
    "MAX_PAGE",
    "SOURCES",
    "AuditPage",
    "Origin",
    "detail_of",
    "local_actor",
    "query",
    "record",
]

#: Where a change can come from.
SOURCES: Final = ("api", "cli", "apply")
#: The most entries one `query` returns.
MAX_PAGE: Final = 1000
#: Longest stored detail, in characters of JSON: an entry describes a change, not data.
_MAX_DETAIL: Final = 16_384


@dataclass(frozen=True, slots=True)
class Origin:
    """Who makes a change (``actor``: ``user@tenant`` for a principal, the login name of
    whoever ran the CLI) and through what (``source``, one of `SOURCES`)."""

    actor: str
    source: str

    def __post_init__(self) -> None:
        if not self.actor:
            raise ValueError("actor: must not be empty")
        if self.source not in SOURCES:
            raise ValueError(f"source: must be one of {', '.join(SOURCES)}, "
                             f"not {self.source!r}")


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Entries oldest first; ``next_after`` is the ``after`` of the next page, or None when
    this page was the last."""

    entries: list[AuditEntry]
    next_after: int | None


def local_actor() -> str:
    """The login name of the user running pycc here, the actor of CLI changes."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No login name in the environment and no passwd entry (a bare container).
        return "operator"


def record(session: Session, *, now: float, tenant: str, origin: Origin, action: str,
           target_kind: str, target_id: str,
           detail: Mapping[str, Any] | None = None) -> AuditEntry:
    """Add an entry to ``session``'s transaction; it is written when the change is."""
    text = json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"))
    if len(text) > _MAX_DETAIL:
        raise ValueError(f"detail: {len(text)} characters of JSON, more than {_MAX_DETAIL}")
    entry = AuditEntry(at=now, tenant=tenant, actor=origin.actor, action=action,
                       target_kind=target_kind, target_id=target_id, detail=text,
                       source=origin.source)
    session.add(entry)
    return entry


def detail_of(entry: AuditEntry) -> dict[str, Any]:
    """The detail of ``entry`` as a dict (empty if the stored text is not a JSON object)."""
    try:
        value = json.loads(entry.detail)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def query(store: Store, *, tenant: str | None = None, actor: str | None = None,
          action: str | None = None, target_kind: str | None = None,
          target_id: str | None = None, source: str | None = None,
          since: float | None = None, until: float | None = None,
          after: int | None = None, limit: int = 100) -> AuditPage:
    """Entries matching every filter given, oldest first: of ``tenant`` (all if None), at
    or after ``since`` and before ``until``, with ids above ``after``, at most ``limit``.

    Raises ValueError naming the argument for a ``limit`` outside 1..`MAX_PAGE` or a
    negative ``after``.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit: must be between 1 and {MAX_PAGE}, not {limit}")
    if after is not None and after < 0:
        raise ValueError(f"after: must not be negative, not {after}")
    statement = select(AuditEntry).order_by(col(AuditEntry.id)).limit(limit + 1)
    equal = {"tenant": tenant, "actor": actor, "action": action, "target_kind": target_kind,
             "target_id": target_id, "source": source}
    for name, value in equal.items():
        if value is not None:
            statement = statement.where(getattr(AuditEntry, name) == value)
    if since is not None:
        statement = statement.where(col(AuditEntry.at) >= since)
    if until is not None:
        statement = statement.where(col(AuditEntry.at) < until)
    if after is not None:
        statement = statement.where(col(AuditEntry.id) > after)
    # One row more than asked tells whether another page exists without a COUNT.
    rows = store.read(lambda session: list(session.exec(statement)))
    page = rows[:limit]
    more = len(rows) > limit
    return AuditPage(page, page[-1].id if more and page else None)
