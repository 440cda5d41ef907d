"""Reading and changing a tenant's configuration one entry at a time, on the same rules as
``pycc apply``: the stored document is read, the change made to it, the whole document
validated (so a change can neither break an entry nor leave a reference dangling elsewhere),
and the changed section written with `pycc.provision.sync.apply` in one transaction, only if
no other change came in between (else it is tried again from the new version).

Pure functions over plain data plus the two that touch the store; the routes are in
:mod:`pycc.api.routes_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlmodel import Session, col, select

from pycc.aaa.audit import Origin
from pycc.provision.schema import route_names, validate
from pycc.provision.source import ApplyError
from pycc.provision.sync import (
    KIND_OF_SECTION,
    ApplyResult,
    VersionConflict,
    apply,
    stored_rates,
)
from pycc.store.config_models import ConfigObject, ConfigVersion
from pycc.store.models import Extension, Tenant
from pycc.store.repo import Store

__all__ = ["KEYED", "SECTIONS", "SINGLE", "ConfigDocument", "EditRefused", "commit",
           "entry_name", "read_document"]

#: Sections that are lists of named entries, with the field that names an entry.
KEYED: Final = {"agents": "id", "queues": "name", "ivr": "name", "trunks": "name",
                "dids": "number", "campaigns": "name", "routes": "name",
                "dispositions": "code"}
#: Sections that are one mapping.
SINGLE: Final = ("blacklist", "limits", "rates")
SECTIONS: Final = (*KEYED, "calendars", *SINGLE)
_SECTION_OF_KIND: Final = {kind: section for section, kind in KIND_OF_SECTION.items()}


@dataclass
class ConfigDocument:
    """A tenant's stored configuration as a ``pycc apply`` document, at ``version``."""

    tenant: str
    data: dict[str, Any]
    version: int
    extensions: list[str]


class EditRefused(Exception):
    """The change does not validate: ``errors`` are (field, message); ``own`` says whether
    they are all in the changed entry (else it breaks something else)."""

    def __init__(self, errors: list[tuple[str, str]], own: bool) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors[:5]))
        self.errors = errors
        self.own = own


def read_document(store: Store, tenant: str) -> ConfigDocument | None:
    """The stored document of ``tenant`` (None: no such tenant)."""

    def work(session: Session) -> ConfigDocument | None:
        owner = session.exec(select(Tenant).where(Tenant.name == tenant)).first()
        if owner is None or owner.id is None:
            return None
        data: dict[str, Any] = {"tenant": tenant}
        rows = session.exec(select(ConfigObject).where(ConfigObject.tenant_id == owner.id)
                            .order_by(col(ConfigObject.kind), col(ConfigObject.position),
                                      col(ConfigObject.name)))
        for row in rows:
            section = _SECTION_OF_KIND.get(row.kind)
            if section is None:
                continue
            entry = json.loads(row.spec)
            if section in SINGLE:
                data[section] = entry
            elif section == "calendars":
                data.setdefault("calendars", {})[row.name] = entry
            else:
                data.setdefault(section, []).append(entry)
        rates = stored_rates(session, owner.id)
        if rates is not None:
            data["rates"] = rates
        found = session.get(ConfigVersion, owner.id)
        numbers = list(session.exec(select(Extension.number)
                                    .where(Extension.tenant_id == owner.id)))
        return ConfigDocument(tenant, data, 0 if found is None else found.version, numbers)

    return store.read(work)


def entry_name(section: str, entries: list[Any], index: int) -> str:
    """The name an entry of a keyed section goes by (routes: their name, else match)."""
    if section == "routes":
        return route_names(entries)[index]
    entry = entries[index]
    return str(entry.get(KEYED[section], "")) if isinstance(entry, dict) else ""


Mutation = Callable[[Any], Any]


def commit(store: Store, tenant: str, section: str, mutate: Mutation, *, now: float,
           origin: Origin, expect_version: int | None = None,
           changed: Callable[[Any], int | None] | None = None,
           attempts: int = 3) -> tuple[ApplyResult, Any]:
    """Apply ``mutate`` (old section value -> new) to ``tenant``'s ``section`` and store it;
    the result and the new section value. ``changed(new value)`` gives the index of the
    entry the change is about, so its errors are told apart (`EditRefused.own`).
    `VersionConflict` if ``expect_version`` is given and stale; without it, a concurrent
    change is retried from the new version up to ``attempts`` times."""
    for attempt in range(attempts):
        document = read_document(store, tenant)
        if document is None:
            raise LookupError(f"no tenant {tenant!r}")
        if expect_version is not None and expect_version != document.version:
            raise VersionConflict(tenant, expect_version, document.version)
        data = copy.deepcopy(document.data)
        value = mutate(copy.deepcopy(data.get(section)))
        if value is None:
            data.pop(section, None)
        else:
            data[section] = value
        spec, errors = validate(data, known={"extensions": document.extensions},
                                default_tenant=tenant)
        if spec is None:
            raise _refused(section, errors, changed(value) if changed else None)
        # An emptied section is still written (its entries deleted).
        spec = dataclasses.replace(spec, sections=frozenset({section}))
        try:
            return apply(store, spec, now, origin=origin,
                         expect_version=document.version), value
        except VersionConflict:
            if expect_version is not None or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


_INDEX = re.compile(r"^(?P<section>[a-z_]+)\[(?P<index>\d+)\](?P<rest>.*)$")


def _refused(section: str, errors: list[ApplyError], index: int | None) -> EditRefused:
    fields: list[tuple[str, str]] = []
    own = True
    for error in errors:
        where = error.where
        match = _INDEX.match(where)
        if match and match["section"] == section and index is not None and \
                int(match["index"]) == index:
            rest = match["rest"].lstrip(".")
            fields.append(("body" + (f".{rest}" if rest else ""), error.message))
        elif section in SINGLE and where.startswith(section):
            fields.append(("body" + where[len(section):], error.message))
        elif section == "calendars" and where.startswith(section):
            fields.append((where, error.message))
        else:
            own = False
            fields.append((where, error.message))
    return EditRefused(fields, own)
