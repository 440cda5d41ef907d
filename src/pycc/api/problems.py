"""Errors as problem documents (RFC 9457): every failure of the API answers with
``application/problem+json`` holding ``type``, ``title``, ``status``, ``detail`` and, for bad
input, ``errors``: one ``{field, message}`` per wrong field, the field written as a dotted
path (``body.skills.sales``, ``query.limit``). An unexpected failure is logged and answered
500 without internals."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["PROBLEM_TYPE", "FieldError", "Problem", "ProblemError", "install",
           "problem_response"]

log = logging.getLogger("pycc.api")

PROBLEM_TYPE: Final = "application/problem+json"


class FieldError(BaseModel):
    """One wrong field: where it is and what is wrong with it."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, detail: str | None = None, *,
                 errors: Iterable[tuple[str, str]] = (), title: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.detail = detail
        self.errors = [FieldError(field=f, message=m) for f, m in errors]
        self.title = title or _phrase(status)
        self.headers = dict(headers or {})

    @classmethod
    def field(cls, status: int, field: str, message: str) -> ProblemError:
        """A problem with one named field."""
        return cls(status, f"{field}: {message}", errors=[(field, message)])


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(request: Request | None, status: int, *, detail: str | None = None,
                     errors: list[FieldError] | None = None, title: str | None = None,
                     headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = Problem(title=title or _phrase(status), status=status, detail=detail,
                   instance=str(request.url.path) if request is not None else None,
                   errors=errors or [])
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=PROBLEM_TYPE, headers=dict(headers or {}))


def _location(loc: Iterable[object]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(request, exc.status, detail=exc.detail, errors=exc.errors,
                                title=exc.title, headers=exc.headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [FieldError(field=_location(error.get("loc", ())),
                             message=str(error.get("msg", "invalid")))
                  for error in exc.errors()]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return problem_response(request, 422, detail=detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, detail=detail,
                                headers=exc.headers)

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("API %s %s failed", request.method, request.url.path, exc_info=exc)
        return problem_response(request, 500, detail="the server failed; see its log")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)
