"""The catalog of stored files (`pycc.store.files_models.StoredFile`) and the call records
it is filled from: the queries and writes of the file server, each one transaction on a
:class:`~pycc.store.repo.Store` (asyncio code runs them with ``AsyncStore.run``).

Cataloguing is idempotent: a file already in the catalog (found by another round, or by
another node sharing the database) is left as it is, so rounds may overlap and repeat.
Deleting marks the row (``deleted_at``) and, in the same transaction, writes the audit
entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, func
from sqlalchemy import select as sql_select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from pycc.aaa import audit
from pycc.aaa.audit import Origin
from pycc.store.files_models import StoredFile
from pycc.store.models import CallRecord
from pycc.store.repo import Store

__all__ = [
    "PROMPT",
    "RECORDING",
    "RecordFacts",
    "catalogue",
    "closed_uncatalogued",
    "expired_recordings",
    "get_file",
    "interrupted_unnamed",
    "last_record_id",
    "list_files",
    "mark_deleted",
    "name_recording",
    "open_record_ids",
    "prompt_rows",
    "put_prompt",
    "records_after",
    "records_by_id",
]

RECORDING: Final = "recording"
PROMPT: Final = "prompt"


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the file server reads of a call record."""

    id: int
    call_id: str
    state: str
    disposition: str
    recording: str | None
    start: float
    answer: float | None
    agent: str | None
    queue: str | None
    campaign: str | None


_RECORD_COLUMNS: Final[tuple[Any, ...]] = (CallRecord.id, CallRecord.call_id, CallRecord.state,
                          CallRecord.disposition, CallRecord.recording, CallRecord.start,
                          CallRecord.answer, CallRecord.agent, CallRecord.queue,
                          CallRecord.campaign)


def _facts(rows: Iterable[Any]) -> list[RecordFacts]:
    return [RecordFacts(*row) for row in rows]


def _records(store: Store, statement: Any) -> list[RecordFacts]:
    return store.read(lambda session: _facts(session.execute(statement)))


def _of_node(tenant_id: int, node: str) -> Any:
    return and_(col(CallRecord.tenant_id) == tenant_id, col(CallRecord.node) == node)


# -- call records ----------------------------------------------------------------------------


def last_record_id(store: Store, tenant_id: int, node: str) -> int:
    """The highest id of ``node``'s call records of the tenant (0: none)."""
    statement = select(func.max(CallRecord.id)).where(_of_node(tenant_id, node))
    found = store.read(lambda session: session.execute(statement).scalar())
    return int(found or 0)


def open_record_ids(store: Store, tenant_id: int, node: str, up_to: int) -> list[int]:
    """Ids (at most ``up_to``) of ``node``'s records of calls still up."""
    statement = (select(CallRecord.id)
                 .where(_of_node(tenant_id, node), col(CallRecord.state) == "open",
                        col(CallRecord.id) <= up_to))
    return store.read(lambda session: [int(i) for i in session.execute(statement).scalars()])


def records_after(store: Store, tenant_id: int, node: str, after: int,
                  limit: int) -> list[RecordFacts]:
    """``node``'s records with ids above ``after``, by id, at most ``limit``."""
    statement = (sql_select(*_RECORD_COLUMNS)
                 .where(_of_node(tenant_id, node), col(CallRecord.id) > after)
                 .order_by(col(CallRecord.id)).limit(limit))
    return _records(store, statement)


def records_by_id(store: Store, ids: Sequence[int]) -> list[RecordFacts]:
    """The records with these ids (those that exist)."""
    found: list[RecordFacts] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        found += _records(store, sql_select(*_RECORD_COLUMNS).where(col(CallRecord.id).in_(chunk)))
    return found


def closed_uncatalogued(store: Store, tenant_id: int, tenant: str, node: str, after: int,
                        up_to: int, limit: int) -> list[RecordFacts]:
    """``node``'s closed records (ids in ``after``..``up_to``) naming a recording the
    catalog lacks, by id, at most ``limit``."""
    known = (select(StoredFile.id)
             .where(col(StoredFile.tenant) == tenant, col(StoredFile.kind) == RECORDING,
                    col(StoredFile.path) == CallRecord.recording)
             .exists())
    statement = (sql_select(*_RECORD_COLUMNS)
                 .where(_of_node(tenant_id, node), col(CallRecord.state) == "closed",
                        col(CallRecord.recording).is_not(None),
                        col(CallRecord.id) > after, col(CallRecord.id) <= up_to, ~known)
                 .order_by(col(CallRecord.id)).limit(limit))
    return _records(store, statement)


def interrupted_unnamed(store: Store, tenant_id: int, node: str, after: int, up_to: int,
                        limit: int) -> list[RecordFacts]:
    """``node``'s answered calls a crash interrupted whose record names no recording (the
    recording started after the record was last written), by id."""
    statement = (sql_select(*_RECORD_COLUMNS)
                 .where(_of_node(tenant_id, node), col(CallRecord.state) == "closed",
                        col(CallRecord.disposition) == "interrupted",
                        col(CallRecord.answer).is_not(None),
                        col(CallRecord.recording).is_(None),
                        col(CallRecord.id) > after, col(CallRecord.id) <= up_to)
                 .order_by(col(CallRecord.id)).limit(limit))
    return _records(store, statement)


def name_recording(store: Store, record_id: int, relative: str) -> bool:
    """Note ``relative`` as the recording of a record that names none yet."""
    statement = (sql_update(CallRecord)
                 .where(col(CallRecord.id) == record_id, col(CallRecord.recording).is_(None))
                 .values(recording=relative))
    return bool(store.write(lambda session: session.connection().execute(statement).rowcount))


# -- the catalog -----------------------------------------------------------------------------


def catalogue(store: Store, rows: Sequence[Mapping[str, Any]]) -> int:
    """Add ``rows`` (`StoredFile` columns) to the catalog, leaving any file already in it
    as it is; how many were added."""
    if not rows:
        return 0
    table = StoredFile.__table__  # type: ignore[attr-defined]
    insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    columns = [c.name for c in table.columns if c.name != "id"]
    values = [{name: row.get(name) for name in columns} for row in rows]
    # RETURNING counts the rows added: a driver's rowcount for a batch is not reliable.
    statement = insert(table).on_conflict_do_nothing(
        index_elements=["tenant", "kind", "path"]).returning(table.c.id)

    def work(session: Session) -> int:
        return len(session.connection().execute(statement, values).all())

    return store.write(work)


def get_file(store: Store, tenant: str, kind: str, file_id: int) -> StoredFile | None:
    """The catalog row ``file_id`` of ``tenant``'s files of ``kind`` (deleted or not)."""
    statement = select(StoredFile).where(col(StoredFile.id) == file_id,
                                         col(StoredFile.tenant) == tenant,
                                         col(StoredFile.kind) == kind)
    return store.read(lambda session: session.exec(statement).first())


def list_files(store: Store, tenant: str, kind: str, *, after: int = 0, limit: int = 100,
               equal: Mapping[str, str] | None = None, since: float | None = None,
               until: float | None = None) -> list[StoredFile]:
    """``tenant``'s files of ``kind`` not deleted, by id above ``after``, at most ``limit``;
    ``equal`` filters on columns (agent, queue, call_id), ``since``/``until`` on
    ``created``."""
    statement = (select(StoredFile)
                 .where(col(StoredFile.tenant) == tenant, col(StoredFile.kind) == kind,
                        col(StoredFile.deleted_at).is_(None), col(StoredFile.id) > after)
                 .order_by(col(StoredFile.id)).limit(limit))
    for name, value in (equal or {}).items():
        statement = statement.where(getattr(StoredFile, name) == value)
    if since is not None:
        statement = statement.where(col(StoredFile.created) >= since)
    if until is not None:
        statement = statement.where(col(StoredFile.created) < until)
    return store.read(lambda session: list(session.exec(statement)))


def prompt_rows(store: Store, tenant: str) -> dict[str, StoredFile]:
    """Every prompt row of ``tenant`` (deleted ones too), by name."""
    statement = select(StoredFile).where(col(StoredFile.tenant) == tenant,
                                         col(StoredFile.kind) == PROMPT)
    return store.read(lambda session: {row.path: row for row in session.exec(statement)})


def put_prompt(store: Store, row: Mapping[str, Any], *, now: float,
               origin: Origin | None) -> tuple[StoredFile, bool]:
    """Catalogue the prompt ``row`` describes, replacing the facts of an earlier prompt of
    that name (a deleted one comes back); audited when ``origin`` says who uploaded it.
    Returns the row and whether the name was new."""

    def work(session: Session) -> tuple[StoredFile, bool]:
        stored = session.exec(select(StoredFile).where(
            col(StoredFile.tenant) == row["tenant"], col(StoredFile.kind) == PROMPT,
            col(StoredFile.path) == row["path"])).first()
        created = stored is None or stored.deleted_at is not None
        if stored is None:
            stored = StoredFile(**row)
        else:
            for name, value in row.items():
                setattr(stored, name, value)
            stored.deleted_at = None
        session.add(stored)
        session.flush()
        if origin is not None:
            audit.record(session, now=now, tenant=str(row["tenant"]), origin=origin,
                         action="create" if created else "update", target_kind=PROMPT,
                         target_id=str(row["path"]),
                         detail={"sha256": row["sha256"], "size": row["size"]})
        return stored, created

    return store.write(work)


def mark_deleted(store: Store, tenant: str, kind: str, ids: Sequence[int], *, now: float,
                 origin: Origin | None, action: str = "delete",
                 detail: Mapping[str, Any] | None = None) -> list[int]:
    """Mark ``tenant``'s files ``ids`` of ``kind`` deleted (those not yet); audited as one
    entry when ``origin`` is given. Returns the ids marked."""

    def work(session: Session) -> list[int]:
        rows = list(session.exec(select(StoredFile).where(
            col(StoredFile.tenant) == tenant, col(StoredFile.kind) == kind,
            col(StoredFile.id).in_(list(ids)), col(StoredFile.deleted_at).is_(None))))
        for row in rows:
            row.deleted_at = now
            session.add(row)
        marked = sorted(int(row.id) for row in rows if row.id is not None)
        if marked and origin is not None:
            target = str(marked[0]) if len(marked) == 1 else f"{marked[0]}..{marked[-1]}"
            audit.record(session, now=now, tenant=tenant, origin=origin, action=action,
                         target_kind=kind, target_id=target,
                         detail={**(detail or {}), "ids": marked,
                                 "paths": [row.path for row in rows][:50]})
        return marked

    return store.write(work)


def expired_recordings(store: Store, tenant: str, node: str, before: float,
                       limit: int) -> list[StoredFile]:
    """``tenant``'s recordings on ``node`` made before ``before`` and not yet deleted,
    oldest first, at most ``limit``."""
    statement = (select(StoredFile)
                 .where(col(StoredFile.tenant) == tenant, col(StoredFile.kind) == RECORDING,
                        col(StoredFile.node) == node, col(StoredFile.created) < before,
                        col(StoredFile.deleted_at).is_(None))
                 .order_by(col(StoredFile.created), col(StoredFile.id)).limit(limit))
    return store.read(lambda session: list(session.exec(statement)))
