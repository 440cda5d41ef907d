"""The file service over a real store (SQLite and PostgreSQL) and real files.

Cataloguing: recordings of closed records enter the catalog with the SHA-256 of their
bytes; a recording still being finished waits for the next round; a record naming a file
that is not on disk, or a path outside the recordings, is counted and logged and the round
goes on; a call that was up at the last round is catalogued once it ends; a round that
fails (the database went away) is done again, nothing skipped; after a restart
the first round catches up, including calls a crash interrupted before their record named
the recording. Retention deletes only the expired recordings of its tenant (per-tenant
days), from disk and catalog, audited. Prompts: uploads are checked to be audio, prompts
put in the directory by hand are catalogued, removed ones marked deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from files.audio_files import call_record, opus_bytes, wav_bytes
from pycc.aaa import audit
from pycc.aaa.audit import Origin
from pycc.config import FilesConfig
from pycc.files import FileNameError, catalog
from pycc.files.audio import AudioError
from pycc.files.service import FileService
from pycc.store.async_store import AsyncStore
from pycc.store.errors import StoreError
from pycc.store.repo import Store

DAY = 86_400.0
NOW = 1_700_000_000.0
ADMIN = Origin("admin@default", "api")


def service(store: Store, data: Path, *, config: FilesConfig | None = None,
            busy: Callable[[], list[Path]] = list, tenant: str = "default",
            node: str = "n1") -> FileService:
    owner = store.get_tenant(tenant)
    assert owner is not None and owner.id is not None
    return FileService(AsyncStore(store), data_dir=data, recordings_dir=data / "recordings",
                       tenant=tenant, tenant_id=owner.id, node=node, config=config,
                       busy=busy, clock=lambda: NOW)


def put(data: Path, relative: str, content: bytes) -> Path:
    path = data / "recordings" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(work(), 20))


def test_recordings_of_closed_records_are_catalogued(store: Store, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    content = wav_bytes(2.0, channels=2)
    put(data, "2023-11-14/a.wav", content)
    put(data, "2023-11-14/busy.wav", wav_bytes(0.5))
    put(data, "2023-11-14/other-node.wav", content)
    call_record(store, "a", recording="2023-11-14/a.wav", answer=NOW - 60, agent="alice",
                queue="sales")
    call_record(store, "gone", recording="2023-11-14/gone.wav", answer=NOW - 50)
    call_record(store, "evil", recording="../../outside.wav", answer=NOW - 40)
    call_record(store, "busy", recording="2023-11-14/busy.wav", answer=NOW - 30)
    call_record(store, "other", node="n2", recording="2023-11-14/other-node.wav",
                answer=NOW)
    (tmp_path / "outside.wav").write_bytes(content)
    busy = [data / "recordings" / "2023-11-14" / "busy.wav"]
    files = service(store, data, busy=lambda: list(busy))

    async def work() -> None:
        with caplog.at_level(logging.WARNING, "pycc.files"):
            assert await files.index() == 1
        assert files.indexer.missing == 2
        busy.clear()
        assert await files.index() == 1  # finished now
        assert await files.index() == 0
        assert files.indexer.missing == 2  # looked at once per run, not every round

    run(work)
    rows = {r.call_id: r for r in catalog.list_files(store, "default", catalog.RECORDING)}
    assert set(rows) == {"a", "busy"}
    a = rows["a"]
    assert a.sha256 == hashlib.sha256(content).hexdigest() and a.size == len(content)
    assert (a.format, a.channels, a.sample_rate, a.duration) == ("wav", 2, 8000, 2.0)
    assert (a.agent, a.queue, a.created, a.node, a.path) == (
        "alice", "sales", NOW - 60, "n1", "2023-11-14/a.wav")
    assert "gone.wav, which is not on disk" in caplog.text
    assert "will not open" in caplog.text and "outside.wav" not in [
        r.path for r in rows.values()]


def test_a_call_up_at_one_round_is_catalogued_when_it_ends(store: Store,
                                                           tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = service(store, data)

    async def work() -> None:
        assert await files.index() == 0  # the first round: nothing yet
        up = await asyncio.to_thread(call_record, store, "up", state="open", answer=NOW)
        assert await files.index() == 0
        put(data, "2023-11-14/up.wav", wav_bytes(1.0))
        closed = up.model_copy(update={"state": "closed", "disposition": "answered",
                                       "recording": "2023-11-14/up.wav", "id": None})
        await asyncio.to_thread(store.add_call_record, closed)
        assert await files.index() == 1
        await asyncio.to_thread(call_record, store, "later", recording="2023-11-14/up.wav",
                                answer=NOW)
        assert await files.index() == 0  # the same file, named twice: catalogued once

    run(work)
    (row,) = catalog.list_files(store, "default", catalog.RECORDING)
    assert row.call_id == "up"


def test_a_round_that_fails_is_done_again(store: Store, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    files = service(store, data)
    real = catalog.catalogue
    failures = [StoreError("database error: the server went away")]

    def flaky(*args: Any, **kwargs: Any) -> int:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    async def work() -> None:
        await files.index()
        put(data, "d/a.wav", wav_bytes(0.2))
        await asyncio.to_thread(call_record, store, "a", recording="d/a.wav", answer=NOW)
        monkeypatch.setattr(catalog, "catalogue", flaky)
        with pytest.raises(StoreError):
            await files.index()
        assert await files.index() == 1

    run(work)
    assert [r.call_id for r in catalog.list_files(store, "default", catalog.RECORDING)] == ["a"]


def test_the_first_round_catches_up_with_an_earlier_run(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "data"
    ogg = opus_bytes(tmp_path / "x.ogg", 1.0)
    put(data, "2023-11-14/left.wav", wav_bytes(1.0))
    # Answered 2023-11-14 22:13:20 UTC; the record was written before the recording started.
    put(data, "2023-11-14/cut_host.ogg", ogg)
    call_record(store, "left", recording="2023-11-14/left.wav", answer=NOW)
    call_record(store, "cut@host", recording=None, answer=NOW, disposition="interrupted")
    call_record(store, "cut-unrecorded", recording=None, answer=NOW,
                disposition="interrupted")
    files = service(store, data)

    async def work() -> None:
        assert await files.index() == 2

    run(work)
    rows = {r.call_id: r for r in catalog.list_files(store, "default", catalog.RECORDING)}
    assert set(rows) == {"left", "cut@host"}
    assert rows["cut@host"].sha256 == hashlib.sha256(ogg).hexdigest()
    assert rows["cut@host"].format == "ogg"
    records = {r.call_id: r for r in store.list_call_records("default")}
    assert records["cut@host"].recording == "2023-11-14/cut_host.ogg"
    assert records["cut-unrecorded"].recording is None


def test_retention_deletes_only_expired_recordings(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "data"
    ages = {"old": 40, "edge": 29.9, "new": 1}
    for name, days in ages.items():
        put(data, f"d{name}/{name}.wav", wav_bytes(0.1))
        call_record(store, name, recording=f"d{name}/{name}.wav", answer=NOW - days * DAY)
    put(data, "dacme/acme.wav", wav_bytes(0.1))
    call_record(store, "acme", tenant="acme", recording="dacme/acme.wav",
                answer=NOW - 40 * DAY)
    config = FilesConfig(recordings_keep_days=30, tenants={"acme": 60})
    files = service(store, data, config=config)
    acme = service(store, data, config=config, tenant="acme")
    forever = service(store, data, config=FilesConfig(recordings_keep_days=0))

    async def work() -> None:
        assert await files.index() == 3 and await acme.index() == 1
        assert await forever.expire() == 0
        assert await acme.expire() == 0  # acme keeps 60 days
        assert await files.expire() == 1
        assert await files.expire() == 0

    run(work)
    assert not (data / "recordings" / "dold").exists()  # the emptied day directory too
    for name in ("edge", "new"):
        assert (data / "recordings" / f"d{name}" / f"{name}.wav").is_file()
    assert (data / "recordings" / "dacme" / "acme.wav").is_file()
    live = [r.call_id or "" for r in catalog.list_files(store, "default", catalog.RECORDING)]
    assert sorted(live) == ["edge", "new"]
    (entry,) = audit.query(store, tenant="default").entries
    assert (entry.actor, entry.source, entry.action) == ("retention", "cli", "expire")
    assert audit.detail_of(entry)["keep_days"] == 30


def test_deleting_a_recording_removes_the_file_then_marks_it(store: Store,
                                                            tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = put(data, "d/a.wav", wav_bytes(0.1))
    call_record(store, "a", recording="d/a.wav", answer=NOW)
    files = service(store, data)

    async def work() -> None:
        await files.index()
        (row,) = await asyncio.to_thread(catalog.list_files, store, "default",
                                         catalog.RECORDING)
        assert row.id is not None
        assert await files.delete_recording("acme", row.id, ADMIN) is None
        assert path.is_file()
        deleted = await files.delete_recording("default", row.id, ADMIN)
        assert deleted is not None and deleted.id == row.id
        assert not path.exists()
        assert await files.delete_recording("default", row.id, ADMIN) is None

    run(work)
    assert catalog.list_files(store, "default", catalog.RECORDING) == []
    (entry,) = audit.query(store, tenant="default").entries
    assert (entry.actor, entry.action, entry.target_kind) == (
        "admin@default", "delete", "recording")


def test_prompts_uploaded_or_put_by_hand_are_catalogued(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "data"
    prompts = data / "prompts"
    files = service(store, data)
    greeting = wav_bytes(1.0)

    async def work() -> None:
        row, created = await files.save_prompt("hello.wav", greeting, ADMIN)
        assert created and row.sha256 == hashlib.sha256(greeting).hexdigest()
        assert (prompts / "hello.wav").read_bytes() == greeting
        for name, body in (("bad.wav", b"RIFF not really"), ("bad.ogg", greeting)):
            with pytest.raises(AudioError):
                await files.save_prompt(name, body, ADMIN)
            assert not (prompts / name).exists()
        with pytest.raises(FileNameError):
            await files.save_prompt("../hello.wav", greeting, ADMIN)
        assert sorted(p.name for p in prompts.iterdir()) == ["hello.wav"]  # no leftovers
        (prompts / "by-hand.wav").write_bytes(wav_bytes(0.5))
        (prompts / "notes.txt").write_text("not a prompt")
        (prompts / "junk.wav").write_bytes(b"junk")
        listed = await files.sync_prompts()
        assert [r.path for r in listed] == ["by-hand.wav", "hello.wav"]
        (prompts / "by-hand.wav").unlink()
        assert [r.path for r in await files.sync_prompts()] == ["hello.wav"]
        assert await files.prompt("by-hand.wav") is None
        assert await files.delete_prompt("hello.wav", ADMIN)
        assert not await files.delete_prompt("hello.wav", ADMIN)
        assert await files.sync_prompts() == []

    run(work)
    actions = [(e.action, e.target_kind) for e in audit.query(store, tenant="default").entries]
    assert actions == [("create", "prompt"), ("delete", "prompt")]
