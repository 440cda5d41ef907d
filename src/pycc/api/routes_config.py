"""Configuration CRUD: ``/v1/config/{section}`` for the sections of the ``pycc apply`` file
(agents, queues, ivr, routes, trunks, dids, campaigns, calendars, blacklist, limits) and
``/v1/extensions`` for phones' extensions. An entry is written as it would be in the file;
each change is validated with the whole configuration (see :mod:`pycc.api.config_edit`),
audited, and the running switch picks it up at once.

``ETag`` carries the configuration's version; a write with ``If-Match`` is refused (412)
when the configuration changed since, and without it a concurrent change is merged (the
write is re-applied to the newer version).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from pycc.aaa import audit
from pycc.aaa.audit import Origin
from pycc.aaa.roles import Action, Principal
from pycc.api.app import ApiContext, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.config_edit import (
    KEYED,
    SECTIONS,
    SINGLE,
    EditRefused,
    commit,
    entry_name,
    read_document,
)
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.ccc.dispositions import DEFAULT_DISPOSITIONS
from pycc.provision.sync import VersionConflict
from pycc.sip.auth import ha1
from pycc.store.models import Extension, Tenant
from pycc.store.repo import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["configuration"])

Entry = Annotated[Any, Body(description="The entry as in the pycc apply file.")]
IfMatch = Annotated[str | None, Header(description="The ETag of the version edited.")]



def _section(section: str) -> None:
    if section not in SECTIONS:
        raise ProblemError.field(404, "path.section",
                                 f"no section {section!r}; one of {', '.join(SECTIONS)}")


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ProblemError.field(422, "header.If-Match", "not an ETag this API gave")
    return int(text)


async def _reload(ctx: ApiContext, tenant: str) -> None:
    if ctx.switch is not None and ctx.switch.center is not None and tenant == ctx.tenant:
        await ctx.switch.reload()


async def _commit(ctx: ApiContext, principal: Principal, tenant: str, section: str,
                  mutate: Any, changed: Any, if_match: str | None,
                  response: Response) -> Any:
    store = ctx.store
    try:
        result, value = await store.run(
            commit, store.store, tenant, section, mutate, now=time.time(),
            origin=Origin(principal.label, "api"), expect_version=_version(if_match),
            changed=changed)
    except EditRefused as exc:
        raise ProblemError(422 if exc.own else 409, str(exc), errors=exc.errors) from None
    except VersionConflict as exc:
        raise ProblemError(412, str(exc)) from None
    except LookupError as exc:
        raise ProblemError(404, str(exc)) from None
    response.headers["ETag"] = f'"{result.version}"'
    await _reload(ctx, tenant)
    return value


@router.get("/config", tags=["configuration"])
async def whole(principal: Caller, ctx: Context, response: Response) -> dict[str, Any]:
    """The tenant's whole configuration as a ``pycc apply`` document (extensions without
    passwords)."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    document = await ctx.store.run(read_document, ctx.store.store, tenant)
    if document is None:
        raise ProblemError(404, f"no tenant {tenant!r}")
    response.headers["ETag"] = f'"{document.version}"'
    return {**document.data, "extensions": [{"number": n} for n in document.extensions]}


@router.get("/config/{section}")
async def read_section(section: str, principal: Caller, ctx: Context,
                       response: Response) -> Any:
    """A section: a list of entries, a mapping of calendars, or one mapping."""
    _section(section)
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    document = await ctx.store.run(read_document, ctx.store.store, tenant)
    if document is None:
        raise ProblemError(404, f"no tenant {tenant!r}")
    response.headers["ETag"] = f'"{document.version}"'
    default: Any = {} if section in SINGLE or section == "calendars" else []
    value = _in_force(section, document.data.get(section))
    return default if value is None else value


@router.put("/config/{section}")
async def replace_section(section: str, body: Entry, principal: Caller, ctx: Context,
                          response: Response, if_match: IfMatch = None) -> Any:
    """Replace a whole section (the routes' order matters: that is how to reorder them)."""
    _section(section)
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    return await _commit(ctx, principal, tenant, section, lambda _old: body, None, if_match,
                         response)


def _in_force(section: str, value: Any) -> Any:
    """A section as the switch uses it: a tenant that lists no dispositions has the default
    ones, so that is what is read, and what an entry is added to or deleted from (adding
    one code must not drop the rest)."""
    if value is None and section == "dispositions":
        return [{"code": d.code, "label": d.label, "callback": d.callback}
                for d in DEFAULT_DISPOSITIONS]
    return value


def _find(section: str, entries: list[Any], name: str) -> int | None:
    return next((i for i in range(len(entries)) if entry_name(section, entries, i) == name),
                None)


@router.get("/config/{section}/{name}")
async def read_entry(section: str, name: str, principal: Caller, ctx: Context,
                     response: Response) -> Any:
    entries = await read_section(section, principal, ctx, response)
    if section == "calendars":
        if name not in entries:
            raise ProblemError(404, f"no calendar {name!r}")
        return entries[name]
    if section in SINGLE:
        raise ProblemError.field(404, "path.section", f"{section} is one mapping: GET it whole")
    index = _find(section, entries, name)
    if index is None:
        raise ProblemError(404, f"no {section} entry {name!r}")
    return entries[index]


@router.put("/config/{section}/{name}")
async def put_entry(section: str, name: str, body: Entry, principal: Caller, ctx: Context,
                    response: Response, if_match: IfMatch = None) -> Any:
    """Create or replace one entry (201 when created). Its name in the body, if given,
    must be ``name``."""
    _section(section)
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    if section in SINGLE:
        raise ProblemError.field(404, "path.section", f"{section} is one mapping: PUT it whole")
    created: list[bool] = []
    if section == "calendars":
        def mutate_calendar(old: Any) -> Any:
            calendars = dict(old or {})
            created.append(name not in calendars)
            calendars[name] = body
            return calendars

        value = await _commit(ctx, principal, tenant, section, mutate_calendar, None,
                              if_match, response)
        response.status_code = 201 if created and created[-1] else 200
        return value[name]
    if not isinstance(body, dict):
        raise ProblemError.field(422, "body", "an entry is a mapping")
    key = KEYED[section]
    if section == "routes" and key not in body:
        key = "match"  # a route without a name goes by its match
    if str(body.get(key, name)) != name:
        raise ProblemError.field(422, f"body.{key}", f"must be {name!r}, as in the path")
    if section != "routes":
        body = {key: name, **body}

    def mutate(old: Any) -> Any:
        entries = list(_in_force(section, old) or [])
        index = _find(section, entries, name)
        created.append(index is None)
        if index is None:
            entries.append(body)
        else:
            entries[index] = body
        return entries

    def changed(entries: Any) -> int | None:
        return _find(section, entries, name)

    await _commit(ctx, principal, tenant, section, mutate, changed, if_match, response)
    response.status_code = 201 if created and created[-1] else 200
    return body


@router.delete("/config/{section}/{name}", status_code=204)
async def delete_entry(section: str, name: str, principal: Caller, ctx: Context,
                       response: Response, if_match: IfMatch = None) -> Response:
    """Delete one entry; refused (409, naming the fields) while others refer to it."""
    _section(section)
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    if section in SINGLE:
        raise ProblemError.field(404, "path.section", f"{section} is one mapping: PUT it whole")

    def mutate(old: Any) -> Any:
        if section == "calendars":
            calendars = dict(old or {})
            if calendars.pop(name, None) is None:
                raise _Missing()
            return calendars
        entries = list(_in_force(section, old) or [])
        index = _find(section, entries, name)
        if index is None:
            raise _Missing()
        del entries[index]
        return entries

    try:
        await _commit(ctx, principal, tenant, section, mutate, None, if_match, response)
    except _Missing:
        raise ProblemError(404, f"no {section} entry {name!r}") from None
    return Response(status_code=204, headers={"ETag": response.headers.get("ETag", "")})


class _Missing(Exception):
    """The entry to delete is not there."""


# -- extensions ------------------------------------------------------------------------------

class ExtensionIn(BaseModel):
    password: str | None = Field(default=None, min_length=6, max_length=128,
                                 description="required when the extension is created")
    name: str | None = Field(default=None, max_length=128)


class ExtensionOut(BaseModel):
    number: str
    name: str | None


def _put_extension(store: Store, tenant: str, number: str, body: ExtensionIn, now: float,
                   origin: Origin) -> bool:
    def work(session: Session) -> bool:
        owner = session.exec(select(Tenant).where(Tenant.name == tenant)).first()
        if owner is None or owner.id is None:
            raise LookupError(f"no tenant {tenant!r}")
        row = session.exec(select(Extension).where(Extension.tenant_id == owner.id,
                                                   Extension.number == number)).first()
        created = row is None
        if row is None:
            if body.password is None:
                raise ProblemError.field(422, "body.password", "a new extension needs one")
            row = Extension(tenant_id=owner.id, number=number, ha1_md5="", ha1_sha256="",
                            created=now)
        if body.password is not None:
            row.ha1_md5 = ha1(number, owner.realm, body.password, "MD5")
            row.ha1_sha256 = ha1(number, owner.realm, body.password, "SHA-256")
        if body.name is not None:
            row.display_name = body.name
        session.add(row)
        audit.record(session, now=now, tenant=tenant, origin=origin,
                     action="create" if created else "update", target_kind="extension",
                     target_id=number, detail={"name": body.name,
                                               "password": body.password is not None})
        return created

    return store.write(work)


def _delete_extension(store: Store, tenant: str, number: str, now: float,
                      origin: Origin) -> bool:
    def work(session: Session) -> bool:
        row = session.exec(select(Extension).join(Tenant).where(
            Tenant.name == tenant, Extension.number == number)).first()
        if row is None:
            return False
        session.delete(row)
        audit.record(session, now=now, tenant=tenant, origin=origin, action="delete",
                     target_kind="extension", target_id=number)
        return True

    return store.write(work)


@router.get("/extensions", response_model=list[ExtensionOut], tags=["configuration"])
async def list_extensions(principal: Caller, ctx: Context) -> list[ExtensionOut]:
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_READ, tenant=tenant)
    rows = await ctx.store.run(ctx.store.store.list_extensions, tenant)
    return [ExtensionOut(number=r.number, name=r.display_name) for r in rows]


@router.put("/extensions/{number}", response_model=ExtensionOut, tags=["configuration"])
async def put_extension(number: str, body: ExtensionIn, principal: Caller, ctx: Context,
                        response: Response) -> ExtensionOut:
    """Create an extension (with a password) or change its password or display name."""
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    if not (1 <= len(number) <= 32 and number.replace("+", "", 1).isalnum()):
        raise ProblemError.field(422, "path.number", "1 to 32 letters or digits")
    try:
        created = await ctx.store.run(_put_extension, ctx.store.store, tenant, number, body,
                                      time.time(), Origin(principal.label, "api"))
    except LookupError as exc:
        raise ProblemError(404, str(exc)) from None
    response.status_code = 201 if created else 200
    return ExtensionOut(number=number, name=body.name)


@router.delete("/extensions/{number}", status_code=204, tags=["configuration"])
async def delete_extension(number: str, principal: Caller, ctx: Context) -> Response:
    tenant = tenant_of(principal, ctx)
    check(principal, Action.CONFIG_WRITE, tenant=tenant)
    if not await ctx.store.run(_delete_extension, ctx.store.store, tenant, number,
                               time.time(), Origin(principal.label, "api")):
        raise ProblemError(404, f"no extension {number!r}")
    return Response(status_code=204)
