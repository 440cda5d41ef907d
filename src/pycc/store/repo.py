"""The synchronous data access of pycc: :class:`Store`.

Each method is one transaction: it commits everything or, on any error, nothing, and raises a
:class:`~pycc.store.errors.StoreError`. Objects returned are detached from their session with
all columns loaded, so any thread may read them after the call. Tenants are named by
``Tenant.name`` throughout.

Writes that read before they write (create if missing, update if present) can race with another
pycc node on the same PostgreSQL; the loser gets a unique-key violation, and the whole
transaction is run once more, when it sees the winner's row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, func, inspect, or_, text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, SQLModel, col, delete, select

from pycc.store import billing_models  # noqa: F401  (its tables are created with the rest)
from pycc.store.db import WRITE_OPTION, add_missing_indexes, database_url, make_engine
from pycc.store.errors import AlreadyExists, NotFound, StoreError
from pycc.store.models import (
    DIRECTIONS,
    DISPOSITIONS,
    HANGUP_PARTIES,
    RECORD_STATES,
    AgentEvent,
    Binding,
    BindingLike,
    CallRecord,
    Extension,
    IvrKeyCount,
    Tenant,
)

_T = TypeVar("_T")
#: Call-record upsert statements kept, one per set of columns written (the recorder and the
#: model each write one set, so a few at most).
_MAX_UPSERTS = 16


def _ha1(algorithm: str, user: str, realm: str, password: str) -> str:
    return hashlib.new(algorithm, f"{user}:{realm}:{password}".encode()).hexdigest()


class Store:
    """Tenants, extensions, registrations and call records in one SQL database.

    ``url`` is a SQLAlchemy URL (see :func:`pycc.store.make_url`); ``postgresql://`` is
    accepted as is. Safe to call from several threads, but the event loop must not call it
    directly: use :class:`pycc.store.AsyncStore`.
    """

    def __init__(self, url: str) -> None:
        self.url = database_url(url)
        self._engine = make_engine(self.url)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._upsert: Any = None
        self._record_upserts: dict[tuple[str, ...], Any] = {}

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for reports that need their own queries."""
        return self._engine

    def create_all(self) -> None:
        """Create the tables and indexes that do not exist yet, and add the columns and
        indexes a newer pycc has to tables an older one made (only nullable or defaulted
        columns are ever added, so existing rows stay valid)."""
        try:
            SQLModel.metadata.create_all(self._engine)
            self._add_missing_columns()
            add_missing_indexes(self._engine, SQLModel.metadata)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create tables in {self._engine.url!r}: {exc}") from exc

    def _add_missing_columns(self) -> None:
        inspector = inspect(self._engine)
        preparer = self._engine.dialect.identifier_preparer
        for table in SQLModel.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=self._engine.dialect)
                default = ""
                value = getattr(column.default, "arg", None)
                if value is not None and getattr(column.default, "is_scalar", False):
                    default = f" DEFAULT {value!r}" if isinstance(value, str) else (
                        f" DEFAULT {value}")
                elif not column.nullable:
                    raise StoreError(
                        f"table {table.name} lacks column {column.name}, which has no default;"
                        " this database was made by an incompatible pycc")
                with self._engine.begin() as connection:
                    connection.execute(text(
                        f"ALTER TABLE {preparer.quote(table.name)} ADD COLUMN "
                        f"{preparer.quote(column.name)} {kind}{default}"))

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- tenants ---------------------------------------------------------------------------

    def ensure_tenant(self, name: str, realm: str) -> Tenant:
        """Return the tenant ``name``, creating it with ``realm`` if it does not exist.

        Raises :class:`AlreadyExists` if it exists with another realm: every stored HA1
        depends on the realm, so it cannot change silently.
        """

        def work(session: Session) -> Tenant:
            tenant = _tenant(session, name)
            if tenant is None:
                tenant = Tenant(name=name, realm=realm)
                session.add(tenant)
                session.flush()
            elif tenant.realm != realm:
                raise AlreadyExists(
                    f"tenant {name!r} already exists with realm {tenant.realm!r}, not {realm!r}"
                )
            return tenant

        return self._write(work)

    def get_tenant(self, name: str) -> Tenant | None:
        """Return the tenant ``name``, or None."""
        return self._read(lambda session: _tenant(session, name))

    def list_tenants(self) -> list[Tenant]:
        """Return all tenants, by name."""
        return self._read(
            lambda session: list(session.exec(select(Tenant).order_by(col(Tenant.name))))
        )

    # -- extensions ------------------------------------------------------------------------

    def add_extension(
        self, tenant: str, number: str, password: str, display_name: str | None = None
    ) -> Extension:
        """Create extension ``number`` in ``tenant`` with the HA1 hashes of ``password``.

        Raises :class:`NotFound` if the tenant does not exist, :class:`AlreadyExists` if the
        extension does.
        """

        def work(session: Session) -> Extension:
            owner = _require_tenant(session, tenant)
            if _extension(session, owner, number) is not None:
                raise AlreadyExists(f"extension {number} already exists in tenant {tenant!r}")
            extension = Extension(
                tenant_id=_id(owner),
                number=number,
                display_name=display_name,
                ha1_md5=_ha1("md5", number, owner.realm, password),
                ha1_sha256=_ha1("sha256", number, owner.realm, password),
            )
            session.add(extension)
            session.flush()
            return extension

        return self._write(work)

    def remove_extension(self, tenant: str, number: str) -> None:
        """Delete extension ``number`` of ``tenant``; raises :class:`NotFound` if absent."""

        def work(session: Session) -> None:
            session.delete(_require_extension(session, tenant, number))

        self._write(work)

    def get_extension(self, tenant: str, number: str) -> Extension | None:
        """Return extension ``number`` of ``tenant``, or None."""

        def work(session: Session) -> Extension | None:
            owner = _tenant(session, tenant)
            return None if owner is None else _extension(session, owner, number)

        return self._read(work)

    def list_extensions(self, tenant: str | None = None) -> list[Extension]:
        """Return the extensions of ``tenant`` (of all tenants if None), by tenant and number."""
        statement = select(Extension).order_by(col(Extension.tenant_id), col(Extension.number))
        if tenant is not None:
            statement = statement.join(Tenant).where(Tenant.name == tenant)
        return self._read(lambda session: list(session.exec(statement)))

    def set_password(self, tenant: str, number: str, password: str) -> Extension:
        """Replace the HA1 hashes of extension ``number``; raises :class:`NotFound` if absent."""

        def work(session: Session) -> Extension:
            extension = _require_extension(session, tenant, number)
            realm = _require_tenant(session, tenant).realm
            extension.ha1_md5 = _ha1("md5", number, realm, password)
            extension.ha1_sha256 = _ha1("sha256", number, realm, password)
            session.add(extension)
            return extension

        return self._write(work)

    # -- bindings --------------------------------------------------------------------------

    def get_bindings(self, tenant: str, aor: str, now: float) -> list[Binding]:
        """Return the unexpired contacts of ``aor``, highest q first."""
        statement = (
            select(Binding)
            .join(Tenant)
            .where(Tenant.name == tenant, Binding.aor == aor, Binding.expires_at > now)
            .order_by(col(Binding.q).desc(), col(Binding.id))
        )
        return self._read(lambda session: list(session.exec(statement)))

    def save_bindings(
        self,
        tenant: str,
        aor: str,
        upserts: Sequence[BindingLike],
        removals: Sequence[str],
        now: float,
        *,
        extension_number: str = "",
    ) -> list[Binding]:
        """Apply one REGISTER to ``aor``: add or refresh ``upserts``, delete ``removals``.

        ``removals`` are contact URIs; a contact both removed and upserted is kept, refreshed.
        ``extension_number`` is the extension the REGISTER authenticated as, stored with each
        upserted contact. All of it is written or, on error, none of it. Returns the unexpired
        contacts of ``aor`` afterwards, highest q first (what the 200 OK lists).
        """

        return self._write(
            lambda session: _save_bindings(
                session, tenant, aor, upserts, removals, now, extension_number
            )
        )

    def save_bindings_many(self, changes: Sequence[BindingChange]) -> None:
        """Apply the changes of several REGISTERs in one transaction (group commit).

        All are written or, on error, none; the caller may then retry them one by one.
        """

        upsert = self._binding_upsert()

        def work(session: Session) -> None:
            # SQL statements rather than ORM objects: a burst of REGISTERs is one round of
            # deletes and upserts, without loading the rows first.
            connection = session.connection()
            tenant_ids: dict[str, int] = {}
            rows: list[dict[str, Any]] = []
            for change in changes:
                tenant_id = tenant_ids.get(change.tenant)
                if tenant_id is None:
                    tenant_id = _id(_require_tenant(session, change.tenant))
                    tenant_ids[change.tenant] = tenant_id
                kept = {update.contact for update in change.upserts}
                gone = [contact for contact in change.removals if contact not in kept]
                if gone:
                    connection.execute(delete(Binding).where(
                        col(Binding.tenant_id) == tenant_id, col(Binding.aor) == change.aor,
                        col(Binding.contact).in_(gone),
                    ))
                rows.extend(_binding_row(tenant_id, change, u) for u in change.upserts)
            if rows:
                connection.execute(upsert, rows)

        self._write(work)

    def _binding_upsert(self) -> Any:
        """INSERT ... ON CONFLICT DO UPDATE for bindings, built once per store."""
        if self._upsert is None:
            table = Binding.__table__  # type: ignore[attr-defined]
            postgres = self._engine.dialect.name == "postgresql"
            statement = (pg_insert if postgres else sqlite_insert)(table)
            keys = ("tenant_id", "aor", "contact")
            self._upsert = statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={c.name: statement.excluded[c.name] for c in table.columns
                      if c.name not in (*keys, "id")},
            )
        return self._upsert


    def remove_all_bindings(self, tenant: str, aor: str) -> int:
        """Delete every contact of ``aor`` (REGISTER with ``Contact: *``); returns how many."""

        def work(session: Session) -> int:
            owner = _tenant(session, tenant)
            if owner is None:
                return 0
            result = session.exec(
                delete(Binding).where(col(Binding.tenant_id) == owner.id, col(Binding.aor) == aor)
            )
            return result.rowcount

        return self._write(work)

    def purge_expired(self, now: float) -> int:
        """Delete every contact, of any tenant, expired at ``now``; returns how many."""
        statement = delete(Binding).where(col(Binding.expires_at) <= now)
        return self._write(lambda session: session.exec(statement).rowcount)

    def list_bindings(self, now: float, tenant: str | None = None) -> list[Binding]:
        """Return the unexpired contacts of ``tenant`` (of all if None), by tenant, AoR and q."""
        statement = (
            select(Binding)
            .where(Binding.expires_at > now)
            .order_by(
                col(Binding.tenant_id), col(Binding.aor), col(Binding.q).desc(), col(Binding.id)
            )
        )
        if tenant is not None:
            statement = statement.join(Tenant).where(Tenant.name == tenant)
        return self._read(lambda session: list(session.exec(statement)))

    # -- call records ----------------------------------------------------------------------

    def add_call_record(self, record: CallRecord) -> CallRecord:
        """Write ``record``, or overwrite the stored one with the same tenant and Call-ID.

        Writing the same call twice (a retry, a replay after restart) leaves one record; an
        open record never replaces a closed one (the call is over). ``record`` itself is not
        attached to any session; the stored copy is returned.
        """
        values = record.model_dump(exclude={"id"})
        _check_call_record(values)

        def work(session: Session) -> CallRecord:
            stored = session.exec(
                select(CallRecord).where(
                    CallRecord.tenant_id == record.tenant_id, CallRecord.call_id == record.call_id
                )
            ).first()
            if stored is None:
                stored = CallRecord(**values)
            elif stored.state == "closed" and values["state"] == "open":
                return stored
            else:
                for field, value in values.items():
                    setattr(stored, field, value)
            session.add(stored)
            session.flush()
            return stored

        return self._write(work)

    def add_call_records(self, records: Sequence[CallRecord | Mapping[str, Any]]) -> int:
        """Write several call records in one transaction (one commit): all or none.

        Idempotent like `add_call_record`: a record whose (tenant, call id) is stored already
        replaces it, unless it is open and the stored one closed. Mappings must all have the
        same keys. Returns how many were given.
        """
        rows: list[dict[str, Any]] = []
        for record in records:
            # Plain mappings skip building model objects: the recorder writes many at once.
            row = (dict(record) if isinstance(record, Mapping)
                   else record.model_dump(exclude={"id"}))
            row.pop("id", None)
            _check_call_record(row)
            rows.append(row)
        if not rows:
            return 0
        statement = self._record_upsert(tuple(rows[0]))

        def work(session: Session) -> int:
            session.connection().execute(statement, rows)
            return len(rows)

        return self._write(work)

    def _record_upsert(self, columns: tuple[str, ...]) -> Any:
        """INSERT ... ON CONFLICT DO UPDATE for call records with these columns, built once
        per column set: building one makes a copy of every column of the table (the
        ``excluded`` alias), a sixth of the store thread's time under call load."""
        statement = self._record_upserts.get(columns)
        if statement is not None:
            return statement
        table = CallRecord.__table__  # type: ignore[attr-defined]
        postgres = self._engine.dialect.name == "postgresql"
        insert = (pg_insert if postgres else sqlite_insert)(table)
        updates = {name: insert.excluded[name] for name in columns
                   if name not in ("tenant_id", "call_id")}
        statement = insert.on_conflict_do_update(
            index_elements=["tenant_id", "call_id"], set_=updates,
            # A late open record (a retried batch) must not reopen a call already closed.
            where=or_(table.c.state == "open", insert.excluded.state == "closed"),
        )
        if len(self._record_upserts) >= _MAX_UPSERTS:
            self._record_upserts.clear()
        self._record_upserts[columns] = statement
        return statement

    def list_call_records(
        self, tenant: str | None = None, since: float | None = None, limit: int | None = None,
        *, include_open: bool = False,
    ) -> list[CallRecord]:
        """Return call records by start time: of ``tenant`` (or all), started at or after
        ``since`` (or ever), the first ``limit`` of them (or all). Records of calls still up
        (open) are left out unless ``include_open``."""
        statement = select(CallRecord).order_by(col(CallRecord.start), col(CallRecord.id))
        if tenant is not None:
            statement = statement.join(Tenant).where(Tenant.name == tenant)
        if since is not None:
            statement = statement.where(CallRecord.start >= since)
        if not include_open:
            statement = statement.where(CallRecord.state == "closed")
        if limit is not None:
            statement = statement.limit(limit)
        return self._read(lambda session: list(session.exec(statement)))

    def open_call_records(self, tenant_id: int, node: str) -> list[CallRecord]:
        """The open records of ``node`` for the tenant: after a crash, the calls it had up."""
        statement = select(CallRecord).where(
            CallRecord.tenant_id == tenant_id, CallRecord.node == node,
            CallRecord.state == "open").order_by(col(CallRecord.start), col(CallRecord.id))
        return self._read(lambda session: list(session.exec(statement)))

    def touch_open_call_records(self, tenant_id: int, node: str, now: float) -> int:
        """Move the ``end`` of ``node``'s open records to ``now`` (the node is alive), so a
        crash leaves each open record with the last time its call was known to be up."""
        statement = sql_update(CallRecord).where(
            col(CallRecord.tenant_id) == tenant_id, col(CallRecord.node) == node,
            col(CallRecord.state) == "open",
        ).values(end=now)
        return self._write(lambda session: session.exec(statement).rowcount)

    def call_cost_total(self, tenant_id: int, since: float | None = None) -> int:
        """The sum of the costs (micro-units) of the tenant's records started at or after
        ``since`` (or ever)."""
        statement = select(func.coalesce(func.sum(CallRecord.cost), 0)).where(
            CallRecord.tenant_id == tenant_id)
        if since is not None:
            statement = statement.where(CallRecord.start >= since)
        return self._read(lambda session: int(session.exec(statement).one() or 0))

    # -- the call center's own records -----------------------------------------------------

    def add_agent_events(self, events: Sequence[AgentEvent | Mapping[str, Any]]) -> int:
        """Write agent status/state changes in one transaction; returns how many."""
        rows = [AgentEvent.model_validate(e) if isinstance(e, Mapping) else e for e in events]

        def work(session: Session) -> int:
            for row in rows:
                row.id = None
                session.add(row)
            return len(rows)

        return self._write(work) if rows else 0

    def list_agent_events(self, tenant: str, agent: str | None = None,
                          since: float | None = None) -> list[AgentEvent]:
        """The agent events of ``tenant`` (of one agent, or all) in the order they happened."""
        statement = select(AgentEvent).join(Tenant).where(Tenant.name == tenant).order_by(
            col(AgentEvent.at), col(AgentEvent.id))
        if agent is not None:
            statement = statement.where(AgentEvent.agent == agent)
        if since is not None:
            statement = statement.where(AgentEvent.at >= since)
        return self._read(lambda session: list(session.exec(statement)))

    def add_ivr_keys(self, tenant_id: int, counts: Mapping[tuple[str, str, str], int]) -> None:
        """Add key counts of IVR steps ((flow, step, key) -> presses) to the stored totals."""

        def work(session: Session) -> None:
            for (flow, step, key), count in counts.items():
                row = session.exec(select(IvrKeyCount).where(
                    IvrKeyCount.tenant_id == tenant_id, IvrKeyCount.flow == flow,
                    IvrKeyCount.step == step, IvrKeyCount.key == key)).first()
                if row is None:
                    session.add(IvrKeyCount(tenant_id=tenant_id, flow=flow, step=step, key=key,
                                            count=count))
                else:
                    row.count += count
                    session.add(row)

        if counts:
            self._write(work)

    def list_ivr_keys(self, tenant: str) -> list[IvrKeyCount]:
        statement = select(IvrKeyCount).join(Tenant).where(Tenant.name == tenant).order_by(
            col(IvrKeyCount.flow), col(IvrKeyCount.step), col(IvrKeyCount.key))
        return self._read(lambda session: list(session.exec(statement)))

    # -- transactions ----------------------------------------------------------------------

    def read(self, work: Callable[[Session], _T]) -> _T:
        """Run ``work`` in one read transaction; for other services' own tables (the dialer,
        ``pycc apply``). Database errors become :class:`StoreError`."""
        return self._read(work)

    def write(self, work: Callable[[Session], _T]) -> _T:
        """Run ``work`` in one write transaction, all or nothing, tried a second time when a
        concurrent writer won a race for a unique key."""
        return self._write(work)

    def _read(self, work: Callable[[Session], _T]) -> _T:
        return self._transaction(self._engine, work, attempts=1)

    def _write(self, work: Callable[[Session], _T]) -> _T:
        # Two attempts: the second sees the row a concurrent writer won the race with.
        return self._transaction(self._writer, work, attempts=2)

    @staticmethod
    def _transaction(engine: Engine, work: Callable[[Session], _T], attempts: int) -> _T:
        for attempt in range(1, attempts + 1):
            try:
                with Session(engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except IntegrityError as exc:
                if attempt == attempts:
                    raise StoreError(f"constraint violated, nothing written: {exc.orig}") from exc
            except SQLAlchemyError as exc:
                raise StoreError(f"database error: {exc}") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass(frozen=True, slots=True)
class BindingChange:
    """What one REGISTER changes, for `Store.save_bindings_many`."""

    tenant: str
    aor: str
    upserts: Sequence[BindingLike]
    removals: Sequence[str]
    now: float
    extension_number: str = ""


def _save_bindings(
    session: Session,
    tenant: str,
    aor: str,
    upserts: Sequence[BindingLike],
    removals: Sequence[str],
    now: float,
    extension_number: str,
) -> list[Binding]:
    owner = _require_tenant(session, tenant)
    current = {
        binding.contact: binding
        for binding in session.exec(
            select(Binding).where(Binding.tenant_id == owner.id, Binding.aor == aor)
        )
    }
    kept = {update.contact for update in upserts}
    for contact in removals:
        if contact not in kept and (binding := current.pop(contact, None)) is not None:
            session.delete(binding)
    for update in upserts:
        binding = current.get(update.contact)
        if binding is None:
            binding = Binding(
                tenant_id=_id(owner),
                aor=aor,
                contact=update.contact,
                expires_at=update.expires_at,
                call_id=update.call_id,
                cseq=update.cseq,
            )
            current[update.contact] = binding
        _refresh(binding, update, extension_number, now)
        session.add(binding)
    session.flush()
    live = [binding for binding in current.values() if binding.expires_at > now]
    live.sort(key=lambda binding: (-binding.q, _id(binding)))
    return live


def _check_call_record(row: Mapping[str, Any]) -> None:
    if row.get("disposition") not in DISPOSITIONS:
        raise ValueError(f"unknown call disposition {row.get('disposition')!r}")
    if row.get("hangup_by") not in HANGUP_PARTIES:
        raise ValueError(f"unknown hangup party {row.get('hangup_by')!r}")
    if row.get("state", "closed") not in RECORD_STATES:
        raise ValueError(f"unknown call record state {row.get('state')!r}")
    if row.get("direction") not in DIRECTIONS:
        raise ValueError(f"unknown call direction {row.get('direction')!r}")


def _id(row: Tenant | Extension | Binding) -> int:
    # Rows read from or flushed to the database always have their primary key.
    assert row.id is not None
    return row.id


def _binding_row(tenant_id: int, change: BindingChange, update: BindingLike) -> dict[str, Any]:
    path = update.path
    return {
        "tenant_id": tenant_id, "aor": change.aor, "contact": update.contact,
        "extension_number": change.extension_number, "q": update.q,
        "expires_at": update.expires_at, "call_id": update.call_id, "cseq": update.cseq,
        "path": path if isinstance(path, str) else ",".join(path),
        "received": update.received, "user_agent": update.user_agent,
        "instance_id": update.instance_id, "reg_id": update.reg_id, "updated": change.now,
    }


def _refresh(binding: Binding, update: BindingLike, extension_number: str, now: float) -> None:
    binding.q = update.q
    binding.expires_at = update.expires_at
    binding.call_id = update.call_id
    binding.cseq = update.cseq
    path = update.path
    binding.path = path if isinstance(path, str) else ",".join(path)
    binding.received = update.received
    binding.user_agent = update.user_agent
    binding.instance_id = update.instance_id
    binding.reg_id = update.reg_id
    binding.extension_number = extension_number
    binding.updated = now


def _tenant(session: Session, name: str) -> Tenant | None:
    return session.exec(select(Tenant).where(Tenant.name == name)).first()


def _require_tenant(session: Session, name: str) -> Tenant:
    tenant = _tenant(session, name)
    if tenant is None:
        raise NotFound(f"tenant {name!r} does not exist")
    return tenant


def _extension(session: Session, tenant: Tenant, number: str) -> Extension | None:
    return session.exec(
        select(Extension).where(Extension.tenant_id == tenant.id, Extension.number == number)
    ).first()


def _require_extension(session: Session, tenant: str, number: str) -> Extension:
    extension = _extension(session, _require_tenant(session, tenant), number)
    if extension is None:
        raise NotFound(f"extension {number} does not exist in tenant {tenant!r}")
    return extension
