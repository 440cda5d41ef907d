"""Recordings and prompts (the file server, `pycc.files`).

Recordings come in pages (by id) filtered by time, agent, queue and call; an agent lists
and downloads only the recordings of its own calls, and only an admin deletes one
(audited). Prompts are the IVR's audio files: supervisors and admins list and download
them, admins upload (``PUT`` a WAV or Ogg body) and delete them.

A file is reached only by its catalog id or by a prompt name that passed
`pycc.files.names.check_prompt_name`, never by a path a client wrote, and its path is
resolved and kept inside its directory all the same. Downloads carry the file's SHA-256 as
``Repr-Digest`` (RFC 9530) and ``Digest`` (RFC 3230), and honour one ``Range``
(RFC 9110 section 14).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, BinaryIO, Final

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from pycc.aaa.audit import Origin
from pycc.aaa.roles import Action, Principal
from pycc.api.app import ApiContext, tenant_of
from pycc.api.auth import Caller, check
from pycc.api.paging import Page, Paging, encode_cursor
from pycc.api.problems import ProblemError
from pycc.api.routes_system import Context
from pycc.files import catalog
from pycc.files.audio import AudioError, content_type
from pycc.files.names import FileNameError, check_prompt_name
from pycc.files.ranges import UNSATISFIABLE, select_range
from pycc.files.service import FileService, NotHere
from pycc.store.files_models import StoredFile

__all__ = ["router"]

log = logging.getLogger("pycc.api")

router = APIRouter(prefix="/v1", tags=["files"])

_CHUNK: Final = 256 * 1024
#: Media types an upload may be sent as (the content itself is checked whatever it says).
_UPLOAD_TYPES: Final = frozenset({
    "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/ogg", "audio/opus",
    "application/ogg", "application/octet-stream"})
_AUDIO_BODY: Final = {"schema": {"type": "string", "format": "binary"}}
_DOWNLOAD: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"audio/wav": _AUDIO_BODY, "audio/ogg": _AUDIO_BODY},
          "description": "the file"},
    206: {"description": "the range asked for"},
    416: {"description": "the range is outside the file"},
}


#: The ``{id}`` of a recording's routes: checked by `_recording_id`, so that a traversal
#: attempt (``..%2F``) is answered with a problem naming it rather than "no such route".
RecordingId = Annotated[str, PathParam(alias="id", json_schema_extra={
    "pattern": r"^[1-9][0-9]{0,17}$"})]
#: The ``{name}`` of a prompt's routes, checked by `check_prompt_name`.
PromptName = Annotated[str, PathParam(json_schema_extra={
    "pattern": r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,123}\.(wav|ogg|opus)$", "maxLength": 128})]


class RecordingOut(BaseModel):
    id: int
    call_id: str | None
    agent: str | None
    queue: str | None
    campaign: str | None
    format: str
    content_type: str
    size: int
    sha256: str
    duration: float | None
    sample_rate: int | None
    channels: int | None
    created: float
    node: str
    deleted_at: float | None


class PromptOut(BaseModel):
    name: str
    format: str
    content_type: str
    size: int
    sha256: str
    duration: float | None
    sample_rate: int | None
    channels: int | None
    created: float


def _recording_out(row: StoredFile) -> RecordingOut:
    assert row.id is not None
    return RecordingOut(id=row.id, call_id=row.call_id, agent=row.agent, queue=row.queue,
                        campaign=row.campaign, format=row.format,
                        content_type=content_type(row.format), size=row.size,
                        sha256=row.sha256, duration=row.duration,
                        sample_rate=row.sample_rate, channels=row.channels,
                        created=row.created, node=row.node, deleted_at=row.deleted_at)


def _prompt_out(row: StoredFile) -> PromptOut:
    return PromptOut(name=row.path, format=row.format, content_type=content_type(row.format),
                     size=row.size, sha256=row.sha256, duration=row.duration,
                     sample_rate=row.sample_rate, channels=row.channels, created=row.created)


def _files(ctx: ApiContext) -> FileService:
    switch = ctx.switch
    if switch is None or switch.files is None:
        raise ProblemError(503, "the switch is not running")
    return switch.files


def _bad_name(exc: FileNameError) -> ProblemError:
    return ProblemError.field(422, exc.field, exc.message)


def _recording_id(text: str) -> int:
    """The id of ``/recordings/{id}``: a path segment of digits, nothing else."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) < 1:
        raise ProblemError.field(422, "path.id", "not a recording id (a positive whole "
                                                 "number)")
    return int(text)


# -- recordings ----------------------------------------------------------------------------


@router.get("/recordings", response_model=Page[RecordingOut])
async def list_recordings(principal: Caller, ctx: Context,
                          page: Paging,
                          since: Annotated[float | None, Query(ge=0)] = None,
                          until: Annotated[float | None, Query(ge=0)] = None,
                          agent: Annotated[str | None, Query(max_length=128)] = None,
                          queue: Annotated[str | None, Query(max_length=128)] = None,
                          call_id: Annotated[str | None, Query(max_length=256)] = None,
                          ) -> Page[RecordingOut]:
    """The tenant's recordings: ``since``/``until`` are epoch seconds of the call's answer;
    an agent sees those of its own calls only."""
    tenant = tenant_of(principal, ctx)
    if principal.agent is not None:
        if agent not in (None, principal.agent):
            raise ProblemError(403, "an agent lists the recordings of its own calls only")
        agent = principal.agent
        check(principal, Action.RECORDINGS_READ, tenant=tenant, agent=agent)
    else:
        check(principal, Action.RECORDINGS_READ, tenant=tenant)
    equal = {name: value for name, value in
             (("agent", agent), ("queue", queue), ("call_id", call_id)) if value is not None}
    store = ctx.store
    rows = await store.run(catalog.list_files, store.store, tenant, catalog.RECORDING,
                           after=page.after, limit=page.limit, equal=equal, since=since,
                           until=until)
    items = [_recording_out(row) for row in rows]
    following = encode_cursor(items[-1].id) if len(items) == page.limit else None
    return Page[RecordingOut](items=items, next=following)


async def _readable_recording(principal: Principal, ctx: ApiContext, text: str) -> StoredFile:
    tenant = tenant_of(principal, ctx)
    file_id = _recording_id(text)
    check(principal, Action.RECORDINGS_READ, tenant=tenant, agent=principal.agent)
    store = ctx.store
    row = await store.run(catalog.get_file, store.store, tenant, catalog.RECORDING, file_id)
    if row is None:
        raise ProblemError.field(404, "path.id", f"no recording {file_id}")
    check(principal, Action.RECORDINGS_READ, tenant=tenant, agent=row.agent)
    return row


@router.get("/recordings/{id:path}/content", response_class=StreamingResponse,
            responses=_DOWNLOAD)
async def recording_content(principal: Caller, ctx: Context, request: Request,
                            recording_id: RecordingId) -> Response:
    """The recording's audio, with its SHA-256 in ``Repr-Digest``; one ``Range`` may be
    asked for."""
    row = await _readable_recording(principal, ctx, recording_id)
    if row.deleted_at is not None:
        raise ProblemError(410, f"recording {row.id} was deleted")
    return await _serve(_files(ctx), row, request)


@router.get("/recordings/{id:path}", response_model=RecordingOut)
async def get_recording(principal: Caller, ctx: Context,
                        recording_id: RecordingId) -> RecordingOut:
    """What is known of a recording (deleted ones too, with ``deleted_at``)."""
    return _recording_out(await _readable_recording(principal, ctx, recording_id))


@router.delete("/recordings/{id:path}", status_code=204)
async def delete_recording(principal: Caller, ctx: Context,
                           recording_id: RecordingId) -> Response:
    """Delete a recording's file (its catalog entry stays, marked deleted); admins only."""
    tenant = tenant_of(principal, ctx)
    file_id = _recording_id(recording_id)
    check(principal, Action.RECORDINGS_DELETE, tenant=tenant)
    files = _files(ctx)
    try:
        row = await files.delete_recording(tenant, file_id, Origin(principal.label, "api"))
    except NotHere as exc:
        raise ProblemError(409, str(exc)) from None
    except OSError as exc:
        log.error("deleting recording %s failed: %s", file_id, exc)
        raise ProblemError(500, "the recording's file could not be deleted; see the log") \
            from None
    if row is None:
        raise ProblemError.field(404, "path.id", f"no recording {file_id}")
    return Response(status_code=204)


# -- prompts ---------------------------------------------------------------------------------


def _prompts_of(principal: Principal, ctx: ApiContext, action: Action) -> FileService:
    tenant = tenant_of(principal, ctx)
    check(principal, action, tenant=tenant)
    files = _files(ctx)
    if tenant != files.tenant:
        raise ProblemError(404, f"the prompts of tenant {tenant!r} are not on this node")
    return files


def _prompt_name(name: str) -> str:
    try:
        return check_prompt_name(name, "path.name")
    except FileNameError as exc:
        raise _bad_name(exc) from None


@router.get("/prompts", response_model=list[PromptOut])
async def list_prompts(principal: Caller, ctx: Context) -> list[PromptOut]:
    """The tenant's prompts, by name."""
    files = _prompts_of(principal, ctx, Action.CONFIG_READ)
    return [_prompt_out(row) for row in await files.sync_prompts()]


@router.get("/prompts/{name:path}", response_class=StreamingResponse, responses=_DOWNLOAD)
async def get_prompt(name: PromptName, principal: Caller, ctx: Context,
                     request: Request) -> Response:
    """A prompt's audio, with its SHA-256 in ``Repr-Digest``."""
    files = _prompts_of(principal, ctx, Action.CONFIG_READ)
    row = await files.prompt(_prompt_name(name))
    if row is None:
        raise ProblemError.field(404, "path.name", f"no prompt {name!r}")
    return await _serve(files, row, request)


@router.put("/prompts/{name:path}", response_model=PromptOut, status_code=200,
            responses={201: {"description": "a new prompt", "model": PromptOut}},
            openapi_extra={"requestBody": {"required": True, "content": {
                "audio/wav": _AUDIO_BODY, "audio/ogg": _AUDIO_BODY,
                "application/octet-stream": _AUDIO_BODY}}})
async def put_prompt(name: PromptName, principal: Caller, ctx: Context, request: Request,
                     response: Response,
                     content_type_header: Annotated[str | None,
                                                    Header(alias="content-type")] = None,
                     ) -> PromptOut:
    """Upload a prompt: a WAV or Ogg (Opus, Vorbis) file, named ``NAME.wav`` or
    ``NAME.ogg``; an existing prompt of that name is replaced."""
    files = _prompts_of(principal, ctx, Action.CONFIG_WRITE)
    name = _prompt_name(name)
    media_type = (content_type_header or "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in _UPLOAD_TYPES:
        raise ProblemError.field(415, "header.content-type",
                                 f"{media_type!r} is not a WAV or Ogg media type")
    data = await _body(request, files.prompt_max_bytes)
    try:
        row, created = await files.save_prompt(name, data, Origin(principal.label, "api"))
    except FileNameError as exc:
        raise _bad_name(exc) from None
    except AudioError as exc:
        raise ProblemError.field(422, "body", f"not a usable prompt: {exc}") from None
    response.status_code = 201 if created else 200
    return _prompt_out(row)


@router.delete("/prompts/{name:path}", status_code=204)
async def delete_prompt(name: PromptName, principal: Caller, ctx: Context) -> Response:
    """Delete a prompt; admins only."""
    files = _prompts_of(principal, ctx, Action.CONFIG_WRITE)
    if not await files.delete_prompt(_prompt_name(name), Origin(principal.label, "api")):
        raise ProblemError.field(404, "path.name", f"no prompt {name!r}")
    return Response(status_code=204)


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError.field(413, "body", f"larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError.field(413, "body", f"larger than {limit} bytes")
        parts.append(chunk)
    if size == 0:
        raise ProblemError.field(422, "body", "empty: send the audio file as the body")
    return b"".join(parts)


# -- downloads -------------------------------------------------------------------------------


async def _serve(files: FileService, row: StoredFile, request: Request) -> Response:
    what = f"recording {row.id}" if row.kind == catalog.RECORDING else f"prompt {row.path}"
    try:
        file, size = await files.open(row)
    except NotHere as exc:
        raise ProblemError(404, f"{what}: {exc}") from None
    except (FileNotFoundError, NotADirectoryError, FileNameError):
        log.error("%s is catalogued but its file %s is missing", what, row.path)
        raise ProblemError(404, f"the file of {what} is missing") from None
    if size != row.size:
        file.close()
        log.error("%s: the file %s changed since it was catalogued", what, row.path)
        raise ProblemError(409, f"the file of {what} changed since it was catalogued, so "
                                "its checksum is not known")
    digest = base64.b64encode(bytes.fromhex(row.sha256)).decode()
    etag = f'"{row.sha256}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag,
               "Repr-Digest": f"sha-256=:{digest}:", "Digest": f"sha-256={digest}",
               "Content-Disposition": f'attachment; filename="{row.path.rsplit("/", 1)[-1]}"',
               "Last-Modified": _http_date(row.created)}
    asked = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        asked = None  # RFC 9110 section 13.1.5: the file changed, so send all of it
    selected = select_range(asked, size)
    if selected == UNSATISFIABLE:
        file.close()
        raise ProblemError(416, f"the range {asked!r} is outside the {size} bytes of {what}",
                           headers={"Content-Range": f"bytes */{size}"})
    first, length, status = 0, size, 200
    if selected is not None:
        first, length, status = selected.first, selected.length, 206
        headers["Content-Range"] = selected.content_range
    headers["Content-Length"] = str(length)
    return StreamingResponse(_chunks(file, first, length), status_code=status,
                             media_type=content_type(row.format), headers=headers,
                             background=BackgroundTask(file.close))


async def _chunks(file: BinaryIO, first: int, length: int) -> AsyncIterator[bytes]:
    try:
        if first:
            await asyncio.to_thread(file.seek, first)
        remaining = length
        while remaining > 0:
            data = await asyncio.to_thread(file.read, min(_CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        file.close()


def _http_date(at: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(at))
