"""`FileService`: the file server of one switch (one tenant on one node) — recordings under
``DATA_DIR/recordings`` and IVR prompts under ``DATA_DIR/prompts`` (where the call center
plays them from, `pycc.ccmanager.center.CallCenter.resolve_prompt`), catalogued with their
SHA-256 in the database.

A background task catalogues the recordings of calls as they end
(`pycc.files.indexer.RecordingIndexer`), every ``index_interval`` seconds from the start,
and once more when the switch stops; every ``retention_interval`` it deletes the tenant's
expired recordings (`pycc.files.retention`) and brings the prompts' catalog in line with
the directory, where an operator may also put prompts by hand. The admin API
(`pycc.api.routes_files`) lists, serves, uploads and deletes through it.

Files are removed before their rows are marked deleted: a removal that fails leaves the row
as it was (retried by the next round or request), and a row marked deleted always means
the file is gone from this node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from pycc.aaa.audit import Origin
from pycc.config import FilesConfig
from pycc.files import catalog, storage
from pycc.files.indexer import RecordingIndexer
from pycc.files.names import FileNameError, check_prompt_name, format_of
from pycc.files.retention import RETENTION_ORIGIN, cutoff
from pycc.files.storage import FileFacts
from pycc.store.async_store import AsyncStore
from pycc.store.files_models import StoredFile

__all__ = ["PROMPTS_DIR", "FileService", "NotHere"]

log = logging.getLogger("pycc.files")

#: The prompts' directory inside the data directory.
PROMPTS_DIR = "prompts"
#: Recordings deleted per retention transaction.
_RETENTION_BATCH = 200

_T = TypeVar("_T")


class NotHere(LookupError):
    """The file is catalogued, but on another node's disk (or another tenant's data
    directory); the message names where."""


class FileService:
    """Recordings and prompts of ``tenant`` on ``node`` (see the module docstring)."""

    def __init__(self, store: AsyncStore, *, data_dir: Path, recordings_dir: Path,
                 tenant: str, tenant_id: int, node: str,
                 config: FilesConfig | None = None,
                 busy: Callable[[], Iterable[Path]] = tuple,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.tenant = tenant
        self.node = node
        self.config = config or FilesConfig()
        self.clock = clock
        self.recordings_root = recordings_dir
        self.prompts_root = data_dir / PROMPTS_DIR
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pycc-files")
        self.indexer = RecordingIndexer(store, recordings_dir, tenant=tenant,
                                        tenant_id=tenant_id, node=node,
                                        executor=self._executor, clock=clock, busy=busy)
        #: Recordings deleted by retention since the start.
        self.expired = 0
        self._prompts = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._unusable: set[str] = set()

    @property
    def prompt_max_bytes(self) -> int:
        return int(self.config.prompt_max_mb * 1024 * 1024)

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the rounds; the first one runs at once (in the background: catching up
        after a crash may hash many files, and calls need not wait for it)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._rounds())

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the rounds after one last catalogue of the calls that ended."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                await asyncio.wait_for(self.indexer.run_round(), timeout)
            except Exception:
                log.exception("the last catalogue of recordings failed; the next start "
                              "catches up")
        self._executor.shutdown(wait=False)

    async def _rounds(self) -> None:
        next_upkeep = 0.0
        while True:
            try:
                await self.indexer.run_round()
            except Exception:
                log.exception("cataloguing recordings failed; retrying")
            now = self.clock()
            if now >= next_upkeep:
                next_upkeep = now + self.config.retention_interval
                try:
                    await self.expire(now)
                except Exception:
                    log.exception("recording retention failed; retrying")
                try:
                    await self.sync_prompts()
                except Exception:
                    log.exception("cataloguing the prompts failed; retrying")
            await asyncio.sleep(self.config.index_interval)

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function,
                                                                *args)

    # -- recordings --------------------------------------------------------------------------
    async def index(self) -> int:
        """Run one catalogue round now; how many recordings it added."""
        return await self.indexer.run_round()

    async def expire(self, now: float | None = None) -> int:
        """Delete the tenant's recordings on this node older than its retention; how many."""
        now = self.clock() if now is None else now
        keep = self.config.keep_days(self.tenant)
        before = cutoff(keep, now)
        if before is None:
            return 0
        store, total = self.store, 0
        while True:
            rows = await store.run(catalog.expired_recordings, store.store, self.tenant,
                                   self.node, before, _RETENTION_BATCH)
            removed = [row.id for row in rows
                       if row.id is not None and await self._remove_recording(row)]
            if removed:
                marked = await store.run(catalog.mark_deleted, store.store, self.tenant,
                                         catalog.RECORDING, removed, now=now,
                                         origin=RETENTION_ORIGIN, action="expire",
                                         detail={"keep_days": keep})
                total += len(marked)
            if len(rows) < _RETENTION_BATCH or not removed:
                break
        self.expired += total
        if total:
            log.info("retention deleted %d recordings older than %g days", total, keep)
        return total

    async def _remove_recording(self, row: StoredFile) -> bool:
        try:
            await self._run(storage.remove, self.recordings_root, row.path)
        except FileNameError:
            return True  # a path that cannot be on disk: nothing to remove
        except OSError as exc:
            log.error("cannot delete recording %s: %s", row.path, exc)
            return False
        return True

    async def delete_recording(self, tenant: str, file_id: int, origin: Origin
                               ) -> StoredFile | None:
        """Delete recording ``file_id`` of ``tenant`` (audited as ``origin``): None if there
        is none (or it was deleted already); `NotHere` if its file is on another node."""
        store = self.store
        row = await store.run(catalog.get_file, store.store, tenant, catalog.RECORDING, file_id)
        if row is None or row.deleted_at is not None:
            return None
        self.local_root(row)
        if not await self._remove_recording(row):
            raise OSError(f"cannot delete the file of recording {file_id}")
        await store.run(catalog.mark_deleted, store.store, tenant, catalog.RECORDING,
                        [file_id], now=self.clock(), origin=origin)
        return row

    def local_root(self, row: StoredFile) -> Path:
        """The directory holding ``row``'s file on this node, or `NotHere`."""
        if row.tenant != self.tenant or row.node != self.node:
            raise NotHere(f"the file is stored on node {row.node!r} of tenant {row.tenant!r},"
                          f" not on this one")
        return self.recordings_root if row.kind == catalog.RECORDING else self.prompts_root

    async def open(self, row: StoredFile) -> tuple[BinaryIO, int]:
        """``row``'s file opened for reading, with its size now; FileNotFoundError if it is
        gone, `NotHere` if it is on another node."""
        root = self.local_root(row)
        return await asyncio.to_thread(_open, root, row.path)

    # -- prompts -------------------------------------------------------------------------------
    async def sync_prompts(self) -> list[StoredFile]:
        """Bring the prompts' catalog in line with the directory (files added or replaced
        by hand are described, files gone are marked deleted); the prompts, by name."""
        async with self._prompts:
            store = self.store
            on_disk = await self._run(_list_prompts, self.prompts_root)
            rows = await store.run(catalog.prompt_rows, store.store, self.tenant)
            for name, (size, mtime) in sorted(on_disk.items()):
                row = rows.get(name)
                if row is None or _stale(row, size, mtime):
                    described = await self._describe_prompt(name)
                    if described is None:
                        continue
                    rows[name] = described
            gone = [row.id for name, row in rows.items()
                    if name not in on_disk and row.deleted_at is None and row.id is not None]
            if gone:
                await store.run(catalog.mark_deleted, store.store, self.tenant,
                                catalog.PROMPT, gone, now=self.clock(), origin=None)
            return [rows[name] for name in sorted(on_disk) if name in rows
                    and rows[name].deleted_at is None]

    async def prompt(self, name: str) -> StoredFile | None:
        """The catalog row of the prompt ``name`` (checked already), described again if the
        file changed since; None if there is no such prompt."""
        async with self._prompts:
            store = self.store
            found = await self._run(_stat_prompt, self.prompts_root, name)
            rows = await store.run(catalog.prompt_rows, store.store, self.tenant)
            row = rows.get(name)
            if found is None:
                return None
            if row is None or _stale(row, *found):
                row = await self._describe_prompt(name)
            return row

    async def _describe_prompt(self, name: str) -> StoredFile | None:
        try:
            facts = await self._run(storage.describe, storage.safe_path(self.prompts_root, name))
        except (OSError, FileNameError) as exc:
            log.warning("prompt %s cannot be read: %s", name, exc)
            return None
        if facts.audio is None:
            if name not in self._unusable:
                self._unusable.add(name)
                log.warning("prompt %s is not audio pycc plays: %s", name, facts.problem)
            return None
        row, _created = await self.store.run(
            catalog.put_prompt, self.store.store, self._prompt_row(name, facts),
            now=self.clock(), origin=None)
        return row

    def _prompt_row(self, name: str, facts: FileFacts) -> dict[str, Any]:
        audio = facts.audio
        assert audio is not None
        return {"tenant": self.tenant, "kind": catalog.PROMPT, "path": name,
                "sha256": facts.sha256, "size": facts.size, "format": audio.format,
                "duration": round(audio.duration, 3) if audio.duration is not None else None,
                "sample_rate": audio.sample_rate, "channels": audio.channels,
                "created": facts.mtime, "indexed": self.clock(), "node": self.node}

    async def save_prompt(self, name: str, data: bytes, origin: Origin
                          ) -> tuple[StoredFile, bool]:
        """Store ``data`` as the prompt ``name`` (audited as ``origin``); the row and
        whether the name is new. Raises `FileNameError` for a bad name and `AudioError` for
        data that is not WAV or Ogg audio matching the name's suffix."""
        check_prompt_name(name)
        fmt = format_of(name, "path.name")
        async with self._prompts:
            facts = await self._run(storage.write_prompt, self.prompts_root, name, data, fmt)
            self._unusable.discard(name)
            return await self.store.run(catalog.put_prompt, self.store.store,
                                        self._prompt_row(name, facts), now=self.clock(),
                                        origin=origin)

    async def delete_prompt(self, name: str, origin: Origin) -> bool:
        """Delete the prompt ``name`` (audited as ``origin``); False if there is none."""
        check_prompt_name(name)
        row = await self.prompt(name)
        async with self._prompts:
            removed = await self._run(_remove_prompt, self.prompts_root, name)
            if row is None or row.id is None:
                return removed
            await self.store.run(catalog.mark_deleted, self.store.store, self.tenant,
                                 catalog.PROMPT, [row.id], now=self.clock(), origin=origin)
            return True


def _stale(row: StoredFile, size: int, mtime: float) -> bool:
    return row.deleted_at is not None or row.size != size or mtime > row.indexed


def _open(root: Path, relative: str) -> tuple[BinaryIO, int]:
    path = storage.safe_path(root, relative)
    file = open(path, "rb")  # noqa: SIM115 (the response streams it, then closes it)
    return file, os.fstat(file.fileno()).st_size


def _list_prompts(root: Path) -> dict[str, tuple[int, float]]:
    """Name -> (size, mtime) of the files under ``root`` that may be prompts."""
    found: dict[str, tuple[int, float]] = {}
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return found
    for entry in entries:
        try:
            check_prompt_name(entry.name)
            if entry.is_file():
                stat = entry.stat()
                found[entry.name] = (stat.st_size, stat.st_mtime)
        except (FileNameError, OSError):
            continue  # not a prompt name (an upload in progress, a stray file)
    return found


def _stat_prompt(root: Path, name: str) -> tuple[int, float] | None:
    try:
        found = storage.safe_path(root, name).stat()
    except (FileNotFoundError, NotADirectoryError, FileNameError):
        return None
    return (found.st_size, found.st_mtime) if stat.S_ISREG(found.st_mode) else None


def _remove_prompt(root: Path, name: str) -> bool:
    try:
        path = storage.safe_path(root, name)
        path.unlink()
    except FileNotFoundError:
        return False
    return True

