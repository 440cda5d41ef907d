"""Make the database match a validated ``pycc apply`` file, all or nothing; read it back.

`apply` writes a `CallCenterSpec` in one transaction: the tenant (created if missing), its
extensions (HA1 values for MD5 and SHA-256 under the tenant's realm, RFC 7616 section 3.4.2)
and one `ConfigObject` row per agent, queue, flow, route, trunk, DID, calendar, campaign and
disposition code, plus the blacklist and limits. For each section the file has, stored
objects it does not name are deleted; a section the file leaves out is left as it is. Any
failure rolls all of it back. An object whose canonical JSON and position are unchanged is
not touched, so applying the same file twice changes nothing the second time, not even a
timestamp.

The ``rates`` section is stored in tables of its own (`pycc.store.billing_models`): one row
per rate table and per rate, amounts as decimal text, and which table each trunk (and the
tenant by default) uses. A table whose rates are unchanged is not touched; a changed one has
its rates replaced.

A running switch calls `version` (cheap, one row) to notice a change and `load` to rebuild
the spec from the stored entries with the same validation code. On PostgreSQL the tenant row
is locked for the transaction, so two nodes applying at once take turns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, TypeVar

from sqlmodel import Session, col, select

from pycc.aaa import audit
from pycc.ccc.dispositions import Disposition
from pycc.provision.schema import (
    CallCenterSpec,
    ExtensionSpec,
    RatesSpec,
    route_names,
    validate,
)
from pycc.provision.source import ApplyError
from pycc.routing.rating import Increment, Rate, RateTable
from pycc.sip.auth import ha1
from pycc.store.billing_models import TENANT_DEFAULT, RateAssignment, RateRow, RateTableRow
from pycc.store.config_models import ConfigObject, ConfigVersion
from pycc.store.errors import StoreError
from pycc.store.models import Extension, Tenant
from pycc.store.repo import Store

__all__ = [
    "KIND_OF_SECTION",
    "ApplyResult",
    "StoredConfigError",
    "VersionConflict",
    "apply",
    "canonical_json",
    "desired_objects",
    "load",
    "stored_names",
    "stored_rates",
    "version",
]

#: The ``config_objects`` kind each section's entries are stored as.
KIND_OF_SECTION: Final[Mapping[str, str]] = {
    "agents": "agent",
    "queues": "queue",
    "ivr": "ivr",
    "routes": "route",
    "trunks": "trunk",
    "dids": "did",
    "calendars": "calendar",
    "blacklist": "blacklist",
    "limits": "limits",
    "campaigns": "campaign",
    "dispositions": "disposition",
}
_SECTION_OF_KIND: Final = {kind: section for section, kind in KIND_OF_SECTION.items()}
#: Sections that are one mapping, stored as one row named after the section.
_SINGLE: Final = ("blacklist", "limits")

_T = TypeVar("_T")

Change = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying changed, as (kind, name) pairs in file order; ``version`` is the
    tenant's configuration version afterwards (as it would be, for a dry run)."""

    created: tuple[Change, ...] = ()
    updated: tuple[Change, ...] = ()
    deleted: tuple[Change, ...] = ()
    version: int = 0
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


class StoredConfigError(StoreError):
    """The stored configuration of a tenant no longer validates (``errors`` says why)."""

    def __init__(self, tenant: str, errors: list[ApplyError]) -> None:
        super().__init__(f"the stored configuration of tenant {tenant!r} is invalid: "
                         + "; ".join(str(error) for error in errors))
        self.errors = errors


@dataclass
class _Changes:
    created: list[Change] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    deleted: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


class _DryRun(Exception):
    """Raised at the end of a dry run so the transaction rolls back with its result."""

    def __init__(self, result: ApplyResult) -> None:
        super().__init__("dry run")
        self.result = result


def canonical_json(value: object) -> str:
    """The stored text of an entry: equal entries give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def desired_objects(spec: CallCenterSpec, section: str) -> list[tuple[str, int, object]]:
    """The rows ``section`` of ``spec`` stores: (name, position, entry as written)."""
    if section == "agents":
        return [(a.id, i, a.raw) for i, a in enumerate(spec.agents)]
    if section == "queues":
        return [(q.name, i, q.raw) for i, q in enumerate(spec.queues)]
    if section == "ivr":
        return [(name, i, flow.raw) for i, (name, flow) in enumerate(spec.ivr.items())]
    if section == "routes":
        names = route_names(spec.routes)
        return [(names[i], i, route) for i, route in enumerate(spec.routes)]
    if section == "trunks":
        return [(t.name, i, t.raw) for i, t in enumerate(spec.trunks)]
    if section == "dids":
        return [(d.number, i, d.raw) for i, d in enumerate(spec.dids)]
    if section == "calendars":
        return [(c.name, i, list(c.entries)) for i, c in enumerate(spec.calendars)]
    if section == "blacklist":
        return [("blacklist", 0, spec.blacklist)] if spec.blacklist else []
    if section == "limits":
        return [("limits", 0, spec.limits.raw)] if spec.limits and spec.limits.raw else []
    if section == "campaigns":
        return [(str(c["name"]), i, c) for i, c in enumerate(spec.campaigns)]
    if section == "dispositions":
        return [(d.code, i, _disposition_entry(d))
                for i, d in enumerate(spec.dispositions or ())]
    raise ValueError(f"no stored objects for section {section!r}")


#: Who `apply` says changed things when its caller does not say.
DEFAULT_ORIGIN: Final = audit.Origin("operator", "apply")


class VersionConflict(StoreError):
    """The configuration changed since the version a read-modify-write started from."""

    def __init__(self, tenant: str, expected: int, found: int) -> None:
        super().__init__(f"the configuration of tenant {tenant!r} is at version {found}, "
                         f"not {expected}: read it again")
        self.expected = expected
        self.found = found


def apply(store: Store, spec: CallCenterSpec, now: float, *, dry_run: bool = False,
          default_realm: str | None = None,
          origin: audit.Origin = DEFAULT_ORIGIN,
          expect_version: int | None = None) -> ApplyResult:
    """Make the database match ``spec`` in one transaction (or, with ``dry_run``, report
    what that would change and write nothing). With ``expect_version``, only if the
    tenant's configuration is still at that version (else `VersionConflict`, nothing
    written): what makes an edit of one entry safe against a concurrent one.

    A new tenant gets the file's ``realm``, else ``default_realm``, else the spec's default
    (the tenant name). An existing tenant keeps its realm; a file naming another raises
    `ApplyError`: every stored HA1 depends on it. Database failures raise `StoreError`.
    Each change is written to the audit log by ``origin``, in the same transaction.
    """

    def work(session: Session) -> ApplyResult:
        changes = _Changes()
        tenant = _lock_tenant(session, spec.tenant)
        if expect_version is not None:
            found = _version(session, tenant.id) if tenant is not None and \
                tenant.id is not None else 0
            if found != expect_version:
                raise VersionConflict(spec.tenant, expect_version, found)
        if tenant is None:
            realm = spec.realm if "realm" in spec.sections else (default_realm or spec.realm)
            tenant = Tenant(name=spec.tenant, realm=realm, created=now)
            session.add(tenant)
            session.flush()
            changes.created.append(("tenant", spec.tenant))
        elif "realm" in spec.sections and tenant.realm != spec.realm:
            raise ApplyError("realm", f"tenant {spec.tenant!r} has realm {tenant.realm!r}; "
                                      "changing it would invalidate every stored password hash")
        assert tenant.id is not None  # flushed or read: it has its key
        if "extensions" in spec.sections:
            _sync_extensions(session, tenant.id, tenant.realm, spec.extensions, now, changes)
        for section, kind in KIND_OF_SECTION.items():
            if section in spec.sections:
                _sync_kind(session, tenant.id, kind, desired_objects(spec, section), now,
                           changes)
        if "rates" in spec.sections:
            _sync_rates(session, tenant.id, spec.rates, now, changes)
        number = _bump_version(session, tenant.id, now) if changes else \
            _version(session, tenant.id)
        result = ApplyResult(tuple(changes.created), tuple(changes.updated),
                             tuple(changes.deleted), number, dry_run)
        if dry_run:
            raise _DryRun(result)
        _audit(session, spec.tenant, result, now, origin)
        return result

    try:
        return _write(store, work)
    except _DryRun as done:
        return done.result


def version(store: Store, tenant: str) -> int:
    """The configuration version of ``tenant``: 0 before anything was applied, then one
    more with every `apply` that changed something."""

    def work(session: Session) -> int:
        found = session.exec(
            select(ConfigVersion.version).join(Tenant, col(Tenant.id) == ConfigVersion.tenant_id)
            .where(Tenant.name == tenant)
        ).first()
        return found or 0

    return _read(store, work)


def stored_names(store: Store, tenant: str) -> dict[str, list[str]]:
    """The names stored for ``tenant`` by section (``{"queues": ["sales"], ...}``), what a
    file that leaves a section out may refer to (`pycc.provision.schema.validate`'s
    ``known``)."""

    def work(session: Session) -> dict[str, list[str]]:
        owner = session.exec(select(Tenant).where(Tenant.name == tenant)).first()
        if owner is None:
            return {}
        names: dict[str, list[str]] = {"extensions": list(session.exec(
            select(Extension.number).where(Extension.tenant_id == owner.id)))}
        rows = session.exec(select(ConfigObject.kind, ConfigObject.name)
                            .where(ConfigObject.tenant_id == owner.id))
        for kind, name in rows:
            section = _SECTION_OF_KIND.get(kind)
            if section is not None:
                names.setdefault(section, []).append(name)
        return names

    return _read(store, work)


def load(store: Store, tenant: str) -> CallCenterSpec | None:
    """The stored configuration of ``tenant`` as a spec (None if there is no such tenant).

    Its extensions come from the extensions table, without passwords (only HA1 values are
    stored); its ``sections`` are those with something stored. Raises `StoredConfigError` if
    the stored entries do not validate.
    """

    def work(session: Session) -> tuple[Tenant, list[ConfigObject], list[Extension],
                                        dict[str, object] | None] | None:
        owner = session.exec(select(Tenant).where(Tenant.name == tenant)).first()
        if owner is None:
            return None
        rows = list(session.exec(
            select(ConfigObject).where(ConfigObject.tenant_id == owner.id)
            .order_by(col(ConfigObject.kind), col(ConfigObject.position),
                      col(ConfigObject.name))))
        extensions = list(session.exec(
            select(Extension).where(Extension.tenant_id == owner.id)
            .order_by(col(Extension.number))))
        assert owner.id is not None
        return owner, rows, extensions, stored_rates(session, owner.id)

    found = _read(store, work)
    if found is None:
        return None
    owner, rows, extensions, rates = found
    data: dict[str, object] = {"tenant": tenant}
    if rates is not None:
        data["rates"] = rates
    for row in rows:
        section = _SECTION_OF_KIND.get(row.kind)
        if section is None:
            continue  # written by a newer pycc: not ours to judge
        try:
            entry = json.loads(row.spec)
        except ValueError as exc:
            raise StoredConfigError(tenant, [ApplyError(
                f"{row.kind} {row.name}", f"stored entry is not JSON: {exc}")]) from None
        if section in _SINGLE:
            data[section] = entry
        elif section == "calendars":
            calendars = data.setdefault("calendars", {})
            assert isinstance(calendars, dict)
            calendars[row.name] = entry
        else:
            listed = data.setdefault(section, [])
            assert isinstance(listed, list)
            listed.append(entry)
    numbers = [extension.number for extension in extensions]
    spec, errors = validate(data, known={"extensions": numbers}, default_tenant=tenant)
    if spec is None:
        raise StoredConfigError(tenant, errors)
    sections = spec.sections | ({"extensions"} if extensions else set())
    return dataclasses.replace(
        spec, realm=owner.realm, sections=frozenset(sections),
        extensions=tuple(ExtensionSpec(e.number, "", e.display_name) for e in extensions))


def _disposition_entry(disposition: Disposition) -> dict[str, object]:
    # Written as a file would say it, ``callback`` only when true: the same codes store the
    # same text however the file spelled them, and load() reads it back as a section.
    entry: dict[str, object] = {"code": disposition.code, "label": disposition.label}
    if disposition.callback:
        entry["callback"] = True
    return entry


# -- the writes --------------------------------------------------------------------------------


def _lock_tenant(session: Session, name: str) -> Tenant | None:
    # FOR UPDATE: PostgreSQL serialises applies to one tenant; SQLite's BEGIN IMMEDIATE
    # already holds the database's write lock (SQLAlchemy leaves FOR UPDATE out there).
    return session.exec(select(Tenant).where(Tenant.name == name).with_for_update()).first()


def _sync_extensions(session: Session, tenant_id: int, realm: str,
                     wanted: tuple[ExtensionSpec, ...], now: float, changes: _Changes) -> None:
    stored = {row.number: row for row in
              session.exec(select(Extension).where(Extension.tenant_id == tenant_id))}
    for extension in wanted:
        md5 = ha1(extension.number, realm, extension.password, "MD5")
        sha256 = ha1(extension.number, realm, extension.password, "SHA-256")
        row = stored.pop(extension.number, None)
        if row is None:
            session.add(Extension(tenant_id=tenant_id, number=extension.number,
                                  display_name=extension.name, ha1_md5=md5,
                                  ha1_sha256=sha256, created=now))
            changes.created.append(("extension", extension.number))
        elif (row.display_name, row.ha1_md5, row.ha1_sha256) != (extension.name, md5, sha256):
            row.display_name = extension.name
            row.ha1_md5 = md5
            row.ha1_sha256 = sha256
            session.add(row)
            changes.updated.append(("extension", extension.number))
    for number in sorted(stored):
        session.delete(stored[number])
        changes.deleted.append(("extension", number))
    session.flush()


def _sync_kind(session: Session, tenant_id: int, kind: str,
               wanted: list[tuple[str, int, object]], now: float, changes: _Changes) -> None:
    stored = {row.name: row for row in session.exec(
        select(ConfigObject).where(ConfigObject.tenant_id == tenant_id,
                                   ConfigObject.kind == kind))}
    for name, position, entry in wanted:
        text = canonical_json(entry)
        row = stored.pop(name, None)
        if row is None:
            session.add(ConfigObject(tenant_id=tenant_id, kind=kind, name=name,
                                     position=position, spec=text, updated=now))
            changes.created.append((kind, name))
        elif row.spec != text or row.position != position:
            row.spec = text
            row.position = position
            row.updated = now
            session.add(row)
            changes.updated.append((kind, name))
    for name in sorted(stored):
        session.delete(stored[name])
        changes.deleted.append((kind, name))
    session.flush()


def _version(session: Session, tenant_id: int) -> int:
    row = session.get(ConfigVersion, tenant_id)
    return 0 if row is None else row.version


def _bump_version(session: Session, tenant_id: int, now: float) -> int:
    # The tenant row is locked, so reading and writing the counter cannot interleave.
    row = session.get(ConfigVersion, tenant_id)
    if row is None:
        row = ConfigVersion(tenant_id=tenant_id, version=0)
    row.version += 1
    row.updated = now
    session.add(row)
    session.flush()
    return row.version


def _audit(session: Session, tenant: str, result: ApplyResult, now: float,
           origin: audit.Origin) -> None:
    for action, changes in (("create", result.created), ("update", result.updated),
                            ("delete", result.deleted)):
        for kind, name in changes:
            # The version ties the entry to the reload it caused; an extension's entry
            # never carries its password.
            audit.record(session, now=now, tenant=tenant, origin=origin, action=action,
                         target_kind=kind, target_id=name, detail={"version": result.version})


# -- rates -----------------------------------------------------------------------------------


def _sync_rates(session: Session, tenant_id: int, wanted: RatesSpec | None, now: float,
                changes: _Changes) -> None:
    """Make the tenant's rate tables and assignments those of ``wanted`` (None: none)."""
    tables = wanted.tables if wanted is not None else ()
    stored = {row.name: row for row in session.exec(
        select(RateTableRow).where(RateTableRow.tenant_id == tenant_id))}
    for position, table in enumerate(tables):
        row = stored.pop(table.name, None)
        if row is None:
            row = RateTableRow(tenant_id=tenant_id, name=table.name, position=position,
                               updated=now)
            session.add(row)
            session.flush()
            assert row.id is not None
            _add_rates(session, row.id, table.rates)
            changes.created.append(("rate_table", table.name))
            continue
        assert row.id is not None
        rates = list(session.exec(select(RateRow).where(RateRow.table_id == row.id)))
        if RateTable(table.name, [_rate_of(rate) for rate in rates]) == table:
            if row.position != position:
                row.position = position
                session.add(row)
            continue
        for rate in rates:
            session.delete(rate)
        session.flush()
        _add_rates(session, row.id, table.rates)
        row.position = position
        row.updated = now
        session.add(row)
        changes.updated.append(("rate_table", table.name))
    for name in sorted(stored):
        row = stored[name]
        for rate in session.exec(select(RateRow).where(RateRow.table_id == row.id)):
            session.delete(rate)
        session.flush()
        session.delete(row)
        changes.deleted.append(("rate_table", name))
    chosen: dict[str, str] = {}
    if wanted is not None:
        chosen.update(wanted.trunks)
        if wanted.default is not None:
            chosen[TENANT_DEFAULT] = wanted.default
    assigned = {row.trunk: row for row in session.exec(
        select(RateAssignment).where(RateAssignment.tenant_id == tenant_id))}
    for trunk, table_name in chosen.items():
        label = trunk or "default"
        assignment = assigned.pop(trunk, None)
        if assignment is None:
            session.add(RateAssignment(tenant_id=tenant_id, trunk=trunk, table_name=table_name))
            changes.created.append(("rate_assignment", label))
        elif assignment.table_name != table_name:
            assignment.table_name = table_name
            session.add(assignment)
            changes.updated.append(("rate_assignment", label))
    for trunk in sorted(assigned):
        session.delete(assigned[trunk])
        changes.deleted.append(("rate_assignment", trunk or "default"))
    session.flush()


def _add_rates(session: Session, table_id: int, rates: tuple[Rate, ...]) -> None:
    session.add_all([RateRow(table_id=table_id, prefix=rate.prefix, price=str(rate.price),
                             connection=str(rate.connection),
                             first_seconds=rate.increment.first,
                             next_seconds=rate.increment.next, name=rate.name)
                     for rate in rates])


def _rate_of(row: RateRow) -> Rate:
    # Stored by this module from validated rates: they parse back as they were.
    return Rate(row.prefix, Decimal(row.price), Increment(row.first_seconds, row.next_seconds),
                Decimal(row.connection), row.name)


def stored_rates(session: Session, tenant_id: int) -> dict[str, object] | None:
    """The tenant's stored rates as a ``rates`` section (None: nothing stored)."""
    tables = list(session.exec(select(RateTableRow).where(RateTableRow.tenant_id == tenant_id)
                               .order_by(col(RateTableRow.position), col(RateTableRow.name))))
    assignments = list(session.exec(select(RateAssignment).where(
        RateAssignment.tenant_id == tenant_id).order_by(col(RateAssignment.trunk))))
    if not tables and not assignments:
        return None
    section: dict[str, object] = {"tables": [
        {"name": table.name, "rates": [
            {"prefix": rate.prefix, "price": rate.price, "connection": rate.connection,
             "increment": f"{rate.first_seconds}/{rate.next_seconds}",
             **({"name": rate.name} if rate.name is not None else {})}
            for rate in session.exec(select(RateRow).where(RateRow.table_id == table.id)
                                     .order_by(col(RateRow.prefix)))]}
        for table in tables]}
    trunks = {row.trunk: row.table_name for row in assignments if row.trunk != TENANT_DEFAULT}
    default = next((row.table_name for row in assignments if row.trunk == TENANT_DEFAULT), None)
    if default is not None:
        section["default"] = default
    if trunks:
        section["trunks"] = trunks
    return section


# -- transactions ----------------------------------------------------------------------------


def _read(store: Store, work: Callable[[Session], _T]) -> _T:
    return store.read(work)


def _write(store: Store, work: Callable[[Session], _T]) -> _T:
    # A concurrent node may create the tenant or a row first: Store.write tries again.
    return store.write(work)
