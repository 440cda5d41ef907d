"""Names of stored files, checked before any path is made from them.

A prompt's name comes from a client (``PUT /v1/prompts/{name}``) and a recording's relative
path from a call record: neither may reach outside its directory. A prompt name is one plain
file name; a recording path is a few such names joined with "/". Whatever the check lets
through is joined to its directory and resolved again by `pycc.files.storage.safe_path`
before use, so a gap here is not a way out.

The B2BUA names a call's recording ``DAY/CALL-ID.FORMAT`` (`recording_candidates` rebuilds
that name for a call whose record a crash closed before it named its recording). Pure: no
file system, no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "AUDIO_SUFFIXES",
    "PROMPT_NAME_MAX",
    "FileNameError",
    "check_prompt_name",
    "check_relative_path",
    "format_of",
    "recording_candidates",
    "recording_stem",
]

#: The longest prompt name, in characters.
PROMPT_NAME_MAX: Final = 128
#: The longest relative path of a catalogued file.
PATH_MAX: Final = 512
#: File name suffix -> format.
AUDIO_SUFFIXES: Final = {".wav": "wav", ".ogg": "ogg", ".opus": "ogg"}

_SAFE: Final = re.compile(r"[A-Za-z0-9._-]+")
_UNSAFE_CALL_ID: Final = re.compile(r"[^A-Za-z0-9._-]")
#: As many characters of a Call-ID as the B2BUA keeps in a recording's name.
_STEM_MAX: Final = 120


class FileNameError(ValueError):
    """A name that may not be used: ``field`` says where it came from, ``message`` why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_part(part: str, field: str, what: str, *, strict: bool) -> None:
    if not part:
        raise FileNameError(field, f"{what} is empty")
    if "\x00" in part:
        raise FileNameError(field, f"{what} holds a NUL character")
    if "\\" in part:
        raise FileNameError(field, f"{what} holds a backslash")
    if part in (".", "..") or (strict and ".." in part):
        raise FileNameError(field, f"{what} holds '..'")
    if strict and part.startswith("."):
        raise FileNameError(field, f"{what} starts with '.'")
    if not _SAFE.fullmatch(part):
        raise FileNameError(field, f"{what} may hold only letters, digits, '-', '_' and '.'")


def format_of(name: str, field: str = "name") -> str:
    """The format ("wav" or "ogg") a file name's suffix says."""
    dot = name.rfind(".")
    found = AUDIO_SUFFIXES.get(name[dot:].lower()) if dot > 0 else None
    if found is None:
        raise FileNameError(field, f"must end in {', '.join(AUDIO_SUFFIXES)}")
    return found


def check_prompt_name(name: str, field: str = "path.name") -> str:
    """``name`` if it is a prompt's name: one file name of letters, digits, ``-_.``, no
    ``..``, not hidden, at most `PROMPT_NAME_MAX` characters, ending in an audio suffix."""
    if len(name) > PROMPT_NAME_MAX:
        raise FileNameError(field, f"longer than {PROMPT_NAME_MAX} characters")
    if "/" in name:
        raise FileNameError(field, "holds '/': a prompt is one file name, not a path")
    _check_part(name, field, "the name", strict=True)
    format_of(name, field)
    return name


def check_relative_path(path: str, field: str = "path") -> str:
    """``path`` if it is a relative "/"-separated path of safe names (a recording's, as a
    call record names it): no segment is empty, "." or "..", none holds a NUL or a
    backslash, and the last one ends in an audio suffix."""
    if len(path) > PATH_MAX:
        raise FileNameError(field, f"longer than {PATH_MAX} characters")
    if path.startswith("/"):
        raise FileNameError(field, "is absolute")
    for part in path.split("/"):
        _check_part(part, field, "a path segment", strict=False)
    format_of(path.rsplit("/", 1)[-1], field)
    return path


def recording_stem(call_id: str) -> str:
    """The file name (without suffix) the B2BUA gives the recording of ``call_id``."""
    return _UNSAFE_CALL_ID.sub("_", call_id)[:_STEM_MAX]


def recording_candidates(call_id: str, answered: float,
                         formats: tuple[str, ...] = ("wav", "ogg")) -> list[str]:
    """The relative paths the recording of ``call_id``, answered at ``answered`` (epoch
    seconds), has if the B2BUA recorded it: one per format, the day being the answer's in
    UTC."""
    day = datetime.fromtimestamp(answered, UTC).strftime("%Y-%m-%d")
    stem = recording_stem(call_id)
    if stem in ("", ".", ".."):
        return []  # not a file name: the B2BUA could not have recorded under it either
    return [f"{day}/{stem}.{fmt}" for fmt in formats]
