"""Cataloguing recordings: a call's recording enters the catalog once its call record is
closed.

The closed record is the signal that the file is complete: the recorder finishes the file
(final header, fsync) as the call's media ends, and a call that ended abnormally is closed
too, by the B2BUA or, after a crash, as "interrupted" by the restarted node, whose recorder
had been making the file readable every second (`pycc.media.recorder`). A recording the
media engine of this process is still finishing is left for the next round.

Each round reads only what is new: the records written since the last round (by id) and
the records that were open then (by id). The first round, at start, also catalogues every
closed record of this node whose recording the catalog lacks (what the previous run left),
and finds the recordings of calls interrupted before their record named one (the record of
an answered call is written before its recording starts): it looks for the file the B2BUA
names ``DAY/CALL-ID.FORMAT`` and, if it is there, names it in the record too.

Checksums are computed on a worker thread. A file a record names but the disk lacks is
logged and counted (`RecordingIndexer.missing`), never an error that stops the round.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Final

from pycc.files import catalog
from pycc.files.catalog import RecordFacts
from pycc.files.names import FileNameError, check_relative_path, recording_candidates
from pycc.files.storage import FileFacts, describe, safe_path
from pycc.store.async_store import AsyncStore

__all__ = ["RecordingIndexer", "recording_row"]

log = logging.getLogger("pycc.files")

#: Records read per query.
_PAGE: Final = 500


def recording_row(record: RecordFacts, relative: str, facts: FileFacts, *, tenant: str,
                  node: str, now: float) -> dict[str, Any]:
    """The catalog row of the recording ``relative`` of ``record``'s call."""
    audio = facts.audio
    return {
        "tenant": tenant, "kind": catalog.RECORDING, "path": relative,
        "sha256": facts.sha256, "size": facts.size,
        "format": audio.format if audio is not None else relative.rsplit(".", 1)[-1],
        "duration": round(audio.duration, 3) if audio and audio.duration is not None else None,
        "sample_rate": audio.sample_rate if audio is not None else None,
        "channels": audio.channels if audio is not None else None,
        "created": record.answer if record.answer is not None else record.start,
        "indexed": now, "node": node, "call_id": record.call_id, "agent": record.agent,
        "queue": record.queue, "campaign": record.campaign, "deleted_at": None,
    }


class RecordingIndexer:
    """Catalogues the recordings of one tenant's calls on one node (see the module)."""

    def __init__(self, store: AsyncStore, root: Path, *, tenant: str, tenant_id: int,
                 node: str, executor: Executor, clock: Callable[[], float],
                 busy: Callable[[], Iterable[Path]] = tuple) -> None:
        self.store = store
        self.root = root
        self.tenant = tenant
        self.tenant_id = tenant_id
        self.node = node
        self.executor = executor
        self.clock = clock
        self.busy = busy
        #: Recordings catalogued by this indexer.
        self.catalogued = 0
        #: Records naming a recording that is not on disk, not readable or not a path pycc
        #: opens (each is looked at again when the node starts again).
        self.missing = 0
        self._last_id: int | None = None
        self._watch: set[int] = set()
        self._deferred: dict[int, RecordFacts] = {}
        self._reported: set[int] = set()
        # One round at a time: the background rounds and one asked for (at stop, by a test)
        # would otherwise read the same records twice.
        self._round = asyncio.Lock()

    async def run_round(self) -> int:
        """One round (the first one catches up with what earlier runs left); how many
        recordings it catalogued."""
        async with self._round:
            if self._last_id is None:
                return await self._first_round()
            return await self._next_round()

    async def _next_round(self) -> int:
        store = self.store
        assert self._last_id is not None
        # Nothing is taken as done until the round's catalogue is written: a round that
        # fails reads the same records again next time.
        last = self._last_id
        fresh: list[RecordFacts] = []
        while True:
            page = await store.run(catalog.records_after, store.store, self.tenant_id,
                                   self.node, last, _PAGE)
            fresh += page
            if page:
                last = page[-1].id
            if len(page) < _PAGE:
                break
        watched = await store.run(catalog.records_by_id, store.store, sorted(self._watch)) \
            if self._watch else []
        watch = set(self._watch)
        candidates = list(self._deferred.values())
        for record in [*fresh, *watched]:
            if record.state == "open":
                watch.add(record.id)
                continue
            watch.discard(record.id)
            if record.recording is not None:
                candidates.append(record)
        deferred, self._deferred = self._deferred, {}
        try:
            added = await self._catalogue(candidates)
        except BaseException:
            self._deferred.update(deferred)
            raise
        self._last_id, self._watch = last, watch
        return added

    async def _first_round(self) -> int:
        store = self.store
        # The high-water mark first: records written after it are the next round's.
        last = await store.run(catalog.last_record_id, store.store, self.tenant_id, self.node)
        self._watch = set(await store.run(catalog.open_record_ids, store.store,
                                          self.tenant_id, self.node, last))
        added = 0
        after = 0
        while True:
            page = await store.run(catalog.closed_uncatalogued, store.store, self.tenant_id,
                                   self.tenant, self.node, after, last, _PAGE)
            added += await self._catalogue(page)
            if len(page) < _PAGE:
                break
            after = page[-1].id
        after = 0
        while True:
            page = await store.run(catalog.interrupted_unnamed, store.store, self.tenant_id,
                                   self.node, after, last, _PAGE)
            added += await self._find_interrupted(page)
            if len(page) < _PAGE:
                break
            after = page[-1].id
        self._last_id = last
        return added

    async def _find_interrupted(self, records: list[RecordFacts]) -> int:
        """Catalogue the recordings of ``records`` (interrupted, naming none) found on disk
        where the B2BUA puts them, and name them in their records."""
        found: list[RecordFacts] = []
        for record in records:
            assert record.answer is not None
            for relative in recording_candidates(record.call_id, record.answer):
                exists = await self._run(_is_file, self.root, relative)
                if exists:
                    await self.store.run(catalog.name_recording, self.store.store, record.id,
                                         relative)
                    found.append(_with_recording(record, relative))
                    break
        return await self._catalogue(found)

    async def _catalogue(self, records: list[RecordFacts]) -> int:
        if not records:
            return 0
        busy = {os.path.abspath(path) for path in self.busy()}
        rows: list[dict[str, Any]] = []
        for record in records:
            relative = record.recording
            assert relative is not None
            try:
                check_relative_path(relative, "recording")
                path = safe_path(self.root, relative, "recording")
            except FileNameError as exc:
                self._report(record, f"names a recording pycc will not open: {exc}")
                continue
            if os.path.abspath(path) in busy or \
                    os.path.abspath(self.root / relative) in busy:
                self._deferred[record.id] = record  # still being finished
                continue
            try:
                facts = await self._run(describe, path)
            except FileNotFoundError:
                self._report(record, f"names the recording {relative}, which is not on disk")
                continue
            except OSError as exc:
                self._report(record, f"names the recording {relative}, unreadable: {exc}")
                continue
            rows.append(recording_row(record, relative, facts, tenant=self.tenant,
                                      node=self.node, now=self.clock()))
        added = await self.store.run(catalog.catalogue, self.store.store, rows) if rows else 0
        self.catalogued += added
        return added

    def _report(self, record: RecordFacts, message: str) -> None:
        self.missing += 1
        if record.id not in self._reported:
            if len(self._reported) > 100_000:  # bounded: an old report may repeat
                self._reported.clear()
            self._reported.add(record.id)
            log.warning("call record %s (call %s) %s", record.id, record.call_id, message)

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


def _is_file(root: Path, relative: str) -> bool:
    try:
        return safe_path(root, relative).is_file()
    except (FileNameError, OSError):
        return False


def _with_recording(record: RecordFacts, relative: str) -> RecordFacts:
    return RecordFacts(record.id, record.call_id, record.state, record.disposition, relative,
                       record.start, record.answer, record.agent, record.queue,
                       record.campaign)
