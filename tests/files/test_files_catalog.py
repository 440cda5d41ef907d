"""The catalog's queries and writes, on SQLite and PostgreSQL: cataloguing is idempotent
and per tenant, lists filter and page, deleting marks rows and audits them in one entry,
and the call records the indexer reads are the right ones (closed, of this node and
tenant, naming a recording the catalog lacks; interrupted ones naming none)."""

from __future__ import annotations

from typing import Any

from files.audio_files import call_record
from pycc.aaa import audit
from pycc.aaa.audit import Origin
from pycc.files import catalog
from pycc.store.repo import Store

T0 = 1_700_000_000.0


def row(path: str, *, tenant: str = "default", created: float = T0, agent: str | None = None,
        queue: str | None = None, call_id: str | None = None, node: str = "n1",
        kind: str = catalog.RECORDING) -> dict[str, Any]:
    return {"tenant": tenant, "kind": kind, "path": path, "sha256": "ab" * 32, "size": 10,
            "format": "wav", "duration": 1.0, "sample_rate": 8000, "channels": 2,
            "created": created, "indexed": created + 1, "node": node, "call_id": call_id,
            "agent": agent, "queue": queue, "campaign": None, "deleted_at": None}


def test_cataloguing_is_idempotent_and_per_tenant(store: Store) -> None:
    assert catalog.catalogue(store, [row("d/a.wav"), row("d/b.wav"),
                                     row("d/a.wav", tenant="acme")]) == 3
    # Found again (another round, another node): nothing changes.
    assert catalog.catalogue(store, [row("d/a.wav", created=T0 + 99), row("d/c.wav")]) == 1
    mine = catalog.list_files(store, "default", catalog.RECORDING)
    assert [(r.path, r.created) for r in mine] == [("d/a.wav", T0), ("d/b.wav", T0),
                                                   ("d/c.wav", T0)]
    assert [r.path for r in catalog.list_files(store, "acme", catalog.RECORDING)] == ["d/a.wav"]
    assert catalog.list_files(store, "default", catalog.PROMPT) == []
    other = catalog.list_files(store, "acme", catalog.RECORDING)[0]
    assert other.id is not None
    assert catalog.get_file(store, "default", catalog.RECORDING, other.id) is None
    assert catalog.get_file(store, "acme", catalog.PROMPT, other.id) is None


def test_lists_filter_and_page(store: Store) -> None:
    catalog.catalogue(store, [
        row(f"d/{i}.wav", created=T0 + i, agent="alice" if i % 2 else "bob",
            queue="sales" if i < 4 else "support", call_id=f"call-{i}") for i in range(8)])

    def paths(**options: Any) -> list[str]:
        return [r.path for r in catalog.list_files(store, "default", catalog.RECORDING,
                                                   **options)]

    assert paths(equal={"agent": "alice"}) == ["d/1.wav", "d/3.wav", "d/5.wav", "d/7.wav"]
    assert paths(equal={"agent": "alice", "queue": "sales"}) == ["d/1.wav", "d/3.wav"]
    assert paths(equal={"call_id": "call-6"}) == ["d/6.wav"]
    assert paths(since=T0 + 2, until=T0 + 5) == ["d/2.wav", "d/3.wav", "d/4.wav"]
    first = catalog.list_files(store, "default", catalog.RECORDING, limit=3)
    assert [r.path for r in first] == ["d/0.wav", "d/1.wav", "d/2.wav"]
    assert first[-1].id is not None
    assert paths(after=first[-1].id, limit=3) == ["d/3.wav", "d/4.wav", "d/5.wav"]


def test_marking_deleted_hides_a_file_and_audits_it_once(store: Store) -> None:
    catalog.catalogue(store, [row(f"d/{i}.wav") for i in range(3)])
    ids = [r.id or 0 for r in catalog.list_files(store, "default", catalog.RECORDING)]
    assert all(ids)
    origin = Origin("retention", "cli")
    marked = catalog.mark_deleted(store, "default", catalog.RECORDING, [ids[0], ids[2]],
                                  now=T0 + 5, origin=origin, action="expire",
                                  detail={"keep_days": 30})
    assert marked == sorted([ids[0], ids[2]])
    # Again: nothing left to mark, nothing audited; another tenant's ids are not reached.
    assert catalog.mark_deleted(store, "default", catalog.RECORDING, marked, now=T0 + 6,
                                origin=origin) == []
    assert catalog.mark_deleted(store, "acme", catalog.RECORDING, [ids[1]], now=T0 + 6,
                                origin=origin) == []
    assert [r.id for r in catalog.list_files(store, "default", catalog.RECORDING)] == [ids[1]]
    gone = catalog.get_file(store, "default", catalog.RECORDING, ids[0])
    assert gone is not None and gone.deleted_at == T0 + 5
    (entry,) = audit.query(store, tenant="default").entries
    assert (entry.actor, entry.source, entry.action, entry.target_kind) == (
        "retention", "cli", "expire", "recording")
    detail = audit.detail_of(entry)
    assert detail["ids"] == marked and detail["keep_days"] == 30
    assert detail["paths"] == ["d/0.wav", "d/2.wav"]


def test_closed_records_naming_an_uncatalogued_recording(store: Store) -> None:
    call_record(store, "done", recording="d/done.wav", answer=T0)
    call_record(store, "known", recording="d/known.wav", answer=T0)
    call_record(store, "up", state="open", recording=None, answer=T0)
    call_record(store, "unrecorded", recording=None, answer=T0)
    call_record(store, "elsewhere", node="n2", recording="d/elsewhere.wav", answer=T0)
    call_record(store, "acme-call", tenant="acme", recording="d/acme.wav", answer=T0)
    catalog.catalogue(store, [row("d/known.wav")])
    default = store.get_tenant("default")
    assert default is not None and default.id is not None
    last = catalog.last_record_id(store, default.id, "n1")
    found = catalog.closed_uncatalogued(store, default.id, "default", "n1", 0, last, 100)
    assert [r.call_id for r in found] == ["done"]
    assert found[0].recording == "d/done.wav" and found[0].answer == T0
    assert catalog.closed_uncatalogued(store, default.id, "default", "n1", found[0].id,
                                       last, 100) == []
    assert [r.call_id for r in catalog.records_after(store, default.id, "n1", 0, 100)] == [
        "done", "known", "up", "unrecorded"]
    (up,) = [r for r in catalog.records_after(store, default.id, "n1", 0, 100)
             if r.state == "open"]
    assert catalog.open_record_ids(store, default.id, "n1", last) == [up.id]
    assert [r.call_id for r in catalog.records_by_id(store, [up.id, 10**9])] == ["up"]
    assert catalog.last_record_id(store, default.id, "nobody") == 0


def test_interrupted_records_naming_no_recording_can_be_given_one(store: Store) -> None:
    call_record(store, "cut", recording=None, answer=T0, disposition="interrupted")
    call_record(store, "cut-named", recording="d/x.wav", answer=T0, disposition="interrupted")
    call_record(store, "cut-unanswered", recording=None, answer=None,
                disposition="interrupted")
    call_record(store, "ok", recording=None, answer=T0)
    default = store.get_tenant("default")
    assert default is not None and default.id is not None
    (cut,) = catalog.interrupted_unnamed(store, default.id, "n1", 0, 10**9, 100)
    assert cut.call_id == "cut"
    assert catalog.name_recording(store, cut.id, "2023-11-14/cut.wav")
    assert not catalog.name_recording(store, cut.id, "2023-11-14/other.wav")
    assert catalog.interrupted_unnamed(store, default.id, "n1", 0, 10**9, 100) == []
    (record,) = [r for r in store.list_call_records("default") if r.call_id == "cut"]
    assert record.recording == "2023-11-14/cut.wav"


def test_prompts_are_replaced_by_name_and_come_back_after_deletion(store: Store) -> None:
    origin = Origin("admin@default", "api")
    first, created = catalog.put_prompt(store, row("hello.wav", kind=catalog.PROMPT),
                                        now=T0, origin=origin)
    assert created and first.id is not None
    newer = {**row("hello.wav", kind=catalog.PROMPT), "sha256": "cd" * 32, "size": 20}
    second, created = catalog.put_prompt(store, newer, now=T0 + 1, origin=origin)
    assert not created and second.id == first.id and second.sha256 == "cd" * 32
    catalog.mark_deleted(store, "default", catalog.PROMPT, [first.id], now=T0 + 2,
                         origin=origin)
    third, created = catalog.put_prompt(store, newer, now=T0 + 3, origin=None)
    assert created and third.id == first.id and third.deleted_at is None
    assert set(catalog.prompt_rows(store, "default")) == {"hello.wav"}
    assert catalog.prompt_rows(store, "acme") == {}
    actions = [(e.action, e.target_id) for e in audit.query(store, tenant="default").entries]
    assert actions == [("create", "hello.wav"), ("update", "hello.wav"),
                       ("delete", str(first.id))]


def test_expired_recordings_are_this_nodes_oldest_first(store: Store) -> None:
    catalog.catalogue(store, [row("d/new.wav", created=T0 + 100),
                              row("d/old.wav", created=T0 - 100),
                              row("d/older.wav", created=T0 - 200),
                              row("d/other-node.wav", created=T0 - 300, node="n2"),
                              row("d/acme.wav", created=T0 - 300, tenant="acme")])
    found = catalog.expired_recordings(store, "default", "n1", T0, 10)
    assert [r.path for r in found] == ["d/older.wav", "d/old.wav"]
    assert [r.path for r in catalog.expired_recordings(store, "default", "n1", T0, 1)] == [
        "d/older.wav"]
