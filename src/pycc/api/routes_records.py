"""Call records and reports. Call records come in pages (newest last, by id), filtered by
time, agent, queue, direction; an agent reads only the records of its own calls. Reports are
looked up by name in `REPORTS`."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic_core import to_json
from sqlalchemy import select

from pycc.aaa.reports import AGENT_REPORTS, ReportError, parse_options
from pycc.aaa.reports import REPORTS as ALL_REPORTS
from pycc.aaa.reports.sql import table_of
from pycc.aaa.roles import Action
from pycc.api.app import tenant_of
from pycc.api.auth import Caller, check
from pycc.api.paging import Page, Paging, encode_cursor
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.store.models import CallRecord, Tenant
from pycc.store.repo import Store

__all__ = ["REPORTS", "router"]

router = APIRouter(prefix="/v1", tags=["records"])



_RECORDS: Final = table_of(CallRecord)
_TENANTS: Final = table_of(Tenant)


def _records(store: Store, tenant: str, after: int, limit: int, filters: dict[str, Any],
             since: float | None, until: float | None,
             newest_first: bool = False) -> list[dict[str, Any]]:
    # SQL rows straight to dicts: building ORM objects to dump them again cost most of the
    # request.
    c, tenants = _RECORDS.c, _TENANTS.c
    statement = select(_RECORDS).join(_TENANTS, tenants.id == c.tenant_id).where(
        tenants.name == tenant)
    if newest_first:
        # The cursor is then the oldest id seen: the next page holds the older ones.
        statement = statement.where(c.id < after) if after else statement
        statement = statement.order_by(c.id.desc()).limit(limit)
    else:
        statement = statement.where(c.id > after).order_by(c.id).limit(limit)
    for name, value in filters.items():
        statement = statement.where(c[name] == value)
    if since is not None:
        statement = statement.where(c.start >= since)
    if until is not None:
        statement = statement.where(c.start < until)
    with store.engine.connect() as connection:
        result = connection.execute(statement)
        names = tuple(result.keys())
        return [dict(zip(names, row, strict=True)) for row in result]


@router.get("/records", response_model=Page[dict[str, Any]])
async def list_records(principal: Caller, ctx: Context, page: Paging,
                       since: Annotated[float | None, Query(ge=0)] = None,
                       until: Annotated[float | None, Query(ge=0)] = None,
                       agent: Annotated[str | None, Query(max_length=128)] = None,
                       queue: Annotated[str | None, Query(max_length=128)] = None,
                       direction: Annotated[str | None, Query(max_length=16)] = None,
                       order: Annotated[Literal["oldest", "newest"], Query()] = "oldest",
                       ) -> Response:
    """Call records of the tenant: ``since``/``until`` are epoch seconds of the call's
    start; ``order=newest`` gives the latest first (an agent's own history)."""
    tenant = tenant_of(principal, ctx)
    if principal.agent is not None:
        if agent not in (None, principal.agent):
            raise ProblemError(403, "an agent reads the records of its own calls only")
        agent = principal.agent
        check(principal, Action.RECORDS_READ, tenant=tenant, agent=agent)
    else:
        check(principal, Action.RECORDS_READ, tenant=tenant)
    filters = {name: value for name, value in
               (("agent", agent), ("queue", queue), ("direction", direction))
               if value is not None}
    store = ctx.store
    rows = await store.run(_records, store.store, tenant, page.after, page.limit, filters,
                           since, until, order == "newest")
    following = encode_cursor(int(rows[-1]["id"])) if len(rows) == page.limit else None
    # The rows are plain JSON values already: no model to validate them against again, and
    # pydantic's serializer writes a page of them in a tenth of the json module's time.
    return Response(to_json({"items": rows, "next": following}),
                    media_type="application/json")


#: The reports, by name (`pycc.aaa.reports.REPORTS`).
REPORTS = ALL_REPORTS

_MEDIA_TYPES: Final = {"json": "application/json", "csv": "text/csv; charset=utf-8",
                       "svg": "image/svg+xml"}


@router.get("/reports", tags=["reports"])
async def list_reports(principal: Caller) -> dict[str, str]:
    """The reports there are, with what each shows (an agent sees those it may read)."""
    names = AGENT_REPORTS if principal.agent is not None else REPORTS.keys()
    return {name: REPORTS[name].title for name in sorted(names)}


@router.get("/reports/{name}", tags=["reports"], response_model=list[dict[str, Any]],
            responses={200: {"content": {"text/csv": {}, "image/svg+xml": {}}}})
async def report(name: str, principal: Caller, ctx: Context,
                 since: Annotated[str | None, Query(max_length=40)] = None,
                 until: Annotated[str | None, Query(max_length=40)] = None,
                 agent: Annotated[str | None, Query(max_length=128)] = None,
                 queue: Annotated[str | None, Query(max_length=128)] = None,
                 campaign: Annotated[str | None, Query(max_length=128)] = None,
                 tz: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[str | None, Query(max_length=12)] = None,
                 threshold: Annotated[str | None, Query(max_length=24)] = None,
                 format: Annotated[str, Query(max_length=8)] = "json",
                 ) -> Response:
    """Report ``name`` (see ``GET /v1/reports``) as JSON rows, CSV or (summary-daily) an SVG
    chart. ``since`` and ``until`` are epoch seconds or ISO 8601 of the call's start; ``tz``
    the IANA time zone of hours and days. An agent reads only the agent reports, of itself."""
    tenant = tenant_of(principal, ctx)
    spec = REPORTS.get(name)
    if spec is None:
        raise ProblemError.field(404, "path.name", f"no report {name!r}; see GET /v1/reports")
    if principal.agent is not None:
        if name not in AGENT_REPORTS:
            raise ProblemError(403, f"an agent reads only its own agent reports "
                                    f"({', '.join(sorted(AGENT_REPORTS))})")
        if agent not in (None, principal.agent):
            raise ProblemError(403, "an agent reads its own figures only")
        agent = principal.agent
        check(principal, Action.REPORTS_READ, tenant=tenant, agent=agent)
    else:
        check(principal, Action.REPORTS_READ, tenant=tenant)
    raw = {"since": since, "until": until, "agent": agent, "queue": queue,
           "campaign": campaign, "tz": tz, "limit": limit, "threshold": threshold}
    try:
        if format == "table":
            raise ReportError("format", "use json, csv or svg")
        spec.check_format(format)
        options = parse_options(raw, now=time.time())
        spec.check(options)
    except ReportError as exc:
        raise ProblemError.field(422, f"query.{exc.field}", exc.message) from None
    try:
        # A worker thread of its own: a report may take a second or two, and the store's
        # own thread writes the call records meanwhile.
        rows = await asyncio.to_thread(spec.run, ctx.store.store, tenant, options)
    except ReportError as exc:
        raise ProblemError.field(404, exc.field, exc.message) from None
    if format == "json":
        return JSONResponse(jsonable_encoder(rows))
    return Response(spec.render(rows, format, options), media_type=_MEDIA_TYPES[format])
