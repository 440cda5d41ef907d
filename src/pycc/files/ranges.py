"""Byte ranges of a download (RFC 9110 section 14): ``Range: bytes=FIRST-LAST``,
``bytes=FIRST-`` and ``bytes=-SUFFIX``, one range per request.

`select_range` decides what to send for a ``Range`` header and a file's size: the whole
file (no header, a header it does not understand, or several ranges, which RFC 9110 section
14.2 lets a server ignore), one `ByteRange`, or `UNSATISFIABLE` (answered 416 with
``Content-Range: bytes */SIZE``). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["UNSATISFIABLE", "ByteRange", "select_range"]

#: The header asks only for bytes the file does not have.
UNSATISFIABLE: Final = "unsatisfiable"

_ONE: Final = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*", re.ASCII)
#: Longer numbers than any file has are not worth converting.
_MAX_DIGITS: Final = 19


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``first`` to ``last`` (inclusive) of a file of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def select_range(header: str | None, size: int
                 ) -> ByteRange | Literal["unsatisfiable"] | None:
    """What to send of a ``size``-byte file for the ``Range`` header ``header``: None for
    the whole file, a `ByteRange`, or `UNSATISFIABLE`."""
    if header is None:
        return None
    found = _ONE.fullmatch(header)
    if found is None:
        return None  # several ranges, another unit, or not a range at all
    first_text, last_text = found.groups()
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
        return None
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(0, size - suffix), size - 1, size)
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # RFC 9110 section 14.1.1: invalid, so ignored
    if first >= size:
        return UNSATISFIABLE
    last = min(int(last_text), size - 1) if last_text else size - 1
    return ByteRange(first, last, size)
