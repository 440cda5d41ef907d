"""The file server's disk work: paths kept inside their directory, a file's size, SHA-256
and audio facts, prompts written whole or not at all, files removed.

Every function here blocks on the disk: the service runs them on its worker threads, never
on the event loop. A path is only ever made by `safe_path` from a directory and a name the
checks of `pycc.files.names` passed; it is resolved (symbolic links followed) and refused if
it ends up outside the directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pycc.files.audio import HEAD_BYTES, TAIL_BYTES, AudioError, AudioInfo, probe
from pycc.files.names import FileNameError

__all__ = [
    "FileFacts",
    "describe",
    "plays",
    "remove",
    "safe_path",
    "write_prompt",
]

log = logging.getLogger("pycc.files")

_CHUNK: Final = 1 << 20
#: Prefix of the temporary file an upload is written to (a name prompts cannot have).
_UPLOAD_PREFIX: Final = ".upload-"


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the catalog keeps of a file: its size, SHA-256 (hex), modification time and,
    when it is audio pycc reads, its `AudioInfo` (else ``problem`` says why not)."""

    size: int
    sha256: str
    mtime: float
    audio: AudioInfo | None
    problem: str | None = None


def safe_path(root: Path, relative: str, field: str = "path") -> Path:
    """``root / relative``, resolved, or `FileNameError` if that leaves ``root``."""
    if "\x00" in relative or os.path.isabs(relative):
        raise FileNameError(field, "is not a relative path")
    base = root.resolve()
    target = (base / relative).resolve()
    if target == base or not target.is_relative_to(base):
        raise FileNameError(field, "leaves its directory")
    return target


def describe(path: Path) -> FileFacts:
    """Size, SHA-256 and audio facts of the file at ``path`` (FileNotFoundError if none)."""
    digest = hashlib.sha256()
    head = b""
    tail = b""
    with open(path, "rb", buffering=0) as file:
        stat = os.fstat(file.fileno())
        size = 0
        while chunk := file.read(_CHUNK):
            if size < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - size]
            size += len(chunk)
            digest.update(chunk)
            tail = (tail + chunk)[-TAIL_BYTES:]
    try:
        audio: AudioInfo | None = probe(head, tail, size)
        problem = None
    except AudioError as exc:
        audio, problem = None, str(exc)
    return FileFacts(size, digest.hexdigest(), stat.st_mtime, audio, problem)


def plays(path: Path, fmt: str) -> str | None:
    """None if PyAV decodes audio from the ``fmt`` file at ``path``, else why not."""
    import av  # the media stack's decoder, loaded only when a prompt is checked

    try:
        with av.open(str(path), "r", format=fmt) as container:
            if not container.streams.audio:
                return "holds no audio stream"
            for _frame in container.decode(audio=0):
                return None
    except Exception as exc:  # PyAV raises its own error types for every kind of bad input
        return f"cannot be decoded: {exc}"
    return "holds no audio frames"


def write_prompt(root: Path, name: str, data: bytes, fmt: str) -> FileFacts:
    """Write ``data`` as the prompt ``name`` (already checked) under ``root``: to a temporary
    file first, checked to be ``fmt`` audio that plays, synced, then renamed over any
    earlier prompt of that name, so a call playing it never reads half a file. Raises
    `AudioError` (nothing written) for data that is not such audio."""
    root.mkdir(parents=True, exist_ok=True)
    target = safe_path(root, name, "path.name")
    temporary = target.with_name(f"{_UPLOAD_PREFIX}{secrets.token_hex(8)}")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        facts = describe(temporary)
        if facts.audio is None:
            raise AudioError(facts.problem or "not audio")
        if facts.audio.format != fmt:
            raise AudioError(f"the name says {fmt} but the data is {facts.audio.format}")
        reason = plays(temporary, fmt)
        if reason is not None:
            raise AudioError(reason)
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    _sync_directory(root)
    return facts


def remove(root: Path, relative: str) -> bool:
    """Delete the file ``relative`` under ``root`` (False if it was not there) and the
    directories it leaves empty, up to ``root``."""
    path = safe_path(root, relative)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    base = root.resolve()
    parent = path.parent
    while parent != base and parent.is_relative_to(base):
        try:
            parent.rmdir()
        except OSError:
            break  # not empty (or not ours to remove): the rest stays
        parent = parent.parent
    return True


def _sync_directory(directory: Path) -> None:
    # The rename is durable once the directory entry is: a power cut keeps the new prompt.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        log.debug("cannot fsync %s", directory, exc_info=True)
    finally:
        os.close(fd)
