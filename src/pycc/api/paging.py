"""Lists in pages: ``?limit=N&after=CURSOR``, answered with ``{"items": [...], "next": C}``
where ``next`` is the cursor of the following page (None at the end). Cursors are opaque to
clients; here they are the last row's id, so a page is stable while rows are added."""

from __future__ import annotations

import base64
from typing import Annotated, Final, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from pycc.api.problems import ProblemError

__all__ = ["MAX_LIMIT", "Page", "PageQuery", "Paging", "decode_cursor", "encode_cursor",
           "page_query"]

MAX_LIMIT: Final = 1000
_T = TypeVar("_T")


class Page(BaseModel, Generic[_T]):
    items: list[_T]
    next: str | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a cursor stands for (0: from the start); a bad one is a problem naming it."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        number = int(value)
        if kind != "id" or number < 0:
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError.field(422, "query.after", "not a cursor this API gave") from None
    return number


class PageQuery:
    """``limit`` and ``after`` (the id it stands for) of a list request."""

    def __init__(self, limit: int = 100, after: str | None = None) -> None:
        self.limit = limit
        self.after = decode_cursor(after)


async def page_query(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
                     after: Annotated[str | None, Query(max_length=64)] = None) -> PageQuery:
    """The page a request asks for (a FastAPI dependency). A coroutine, because FastAPI runs
    a class or plain function dependency in a worker thread, which costs more than this."""
    return PageQuery(limit, after)


#: A route's page parameters.
Paging = Annotated[PageQuery, Depends(page_query)]
