"""Call records: writing them idempotently and listing them for reports."""

from __future__ import annotations

import pytest

from pycc.store import CallRecord, Store, StoreError

T0 = 1_700_000_000.0


@pytest.fixture
def tenant_id(store: Store) -> int:
    tenant = store.ensure_tenant("default", "pycc")
    assert tenant.id is not None
    return tenant.id


def _record(tenant_id: int, call_id: str, start: float, **changes: object) -> CallRecord:
    record = CallRecord(
        tenant_id=tenant_id,
        call_id=call_id,
        caller="1001",
        callee="1002",
        caller_contact="sip:1001@192.0.2.10:5062",
        direction="internal",
        start=start,
        ring=start + 0.2,
        answer=start + 3.0,
        end=start + 63.0,
        disposition="answered",
        hangup_cause="200 BYE",
        hangup_by="caller",
        sip_status=200,
        duration=60.0,
        node="node-a",
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_add_and_read_back_every_field(store: Store, tenant_id: int) -> None:
    record = _record(tenant_id, "call-1", T0)
    stored = store.add_call_record(record)
    assert stored.id is not None
    assert record.id is None  # the caller's object is left alone
    [listed] = store.list_call_records()
    assert listed.model_dump() == stored.model_dump()
    assert listed.model_dump(exclude={"id"}) == record.model_dump(exclude={"id"})


def test_unanswered_call_has_no_answer_time(store: Store, tenant_id: int) -> None:
    store.add_call_record(
        _record(
            tenant_id,
            "call-busy",
            T0,
            answer=None,
            caller_contact=None,
            disposition="busy",
            hangup_cause="486 Busy Here",
            hangup_by="callee",
            sip_status=486,
            duration=0.0,
        )
    )
    [listed] = store.list_call_records()
    assert (listed.answer, listed.caller_contact, listed.sip_status) == (None, None, 486)


def test_writing_the_same_call_twice_keeps_one_record(store: Store, tenant_id: int) -> None:
    first = store.add_call_record(_record(tenant_id, "call-1", T0))
    again = store.add_call_record(_record(tenant_id, "call-1", T0))
    assert again.id == first.id
    corrected = store.add_call_record(
        _record(tenant_id, "call-1", T0, end=T0 + 70.0, duration=67.0, hangup_by="callee")
    )
    assert corrected.id == first.id
    [listed] = store.list_call_records()
    assert (listed.duration, listed.end, listed.hangup_by) == (67.0, T0 + 70.0, "callee")


def test_same_call_id_in_two_tenants_is_two_records(store: Store, tenant_id: int) -> None:
    other = store.ensure_tenant("other", "other")
    assert other.id is not None
    store.add_call_record(_record(tenant_id, "call-1", T0))
    store.add_call_record(_record(other.id, "call-1", T0 + 1))
    assert len(store.list_call_records()) == 2
    assert [r.tenant_id for r in store.list_call_records("other")] == [other.id]
    assert [r.tenant_id for r in store.list_call_records("default")] == [tenant_id]
    assert store.list_call_records("nobody") == []


def test_list_orders_by_start_and_filters(store: Store, tenant_id: int) -> None:
    for call_id, start in [("c3", T0 + 30), ("c1", T0 + 10), ("c4", T0 + 40), ("c2", T0 + 20)]:
        store.add_call_record(_record(tenant_id, call_id, start))
    assert [r.call_id for r in store.list_call_records()] == ["c1", "c2", "c3", "c4"]
    assert [r.call_id for r in store.list_call_records(since=T0 + 20)] == ["c2", "c3", "c4"]
    assert [r.call_id for r in store.list_call_records(limit=2)] == ["c1", "c2"]
    assert [r.call_id for r in store.list_call_records("default", T0 + 25, 1)] == ["c3"]


@pytest.mark.parametrize(
    "changes",
    [{"disposition": "hung-up"}, {"hangup_by": "nobody"}],
)
def test_unknown_vocabulary_is_refused(
    store: Store, tenant_id: int, changes: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        store.add_call_record(_record(tenant_id, "call-1", T0, **changes))
    assert store.list_call_records() == []


def test_record_for_unknown_tenant_is_refused(store: Store, tenant_id: int) -> None:
    with pytest.raises(StoreError):
        store.add_call_record(_record(tenant_id + 100, "call-1", T0))
    assert store.list_call_records() == []


def test_a_table_from_an_older_pycc_gets_the_new_columns(store_url: str) -> None:
    """create_all adds the media columns to a call_records table made before they existed,
    keeping its rows; records can then carry codecs and MOS."""
    import sqlalchemy

    from pycc.aaa.cdr import MEDIA_COLUMNS

    first = Store(store_url)
    first.create_all()
    tenant = first.ensure_tenant("default", "pycc")
    assert tenant.id is not None
    first.add_call_records([_record(tenant.id, "old", T0)])
    first.close()
    engine = sqlalchemy.create_engine(store_url)
    with engine.begin() as connection:  # the table as an older pycc made it
        for column in MEDIA_COLUMNS:
            connection.execute(sqlalchemy.text(f"ALTER TABLE call_records DROP COLUMN {column}"))
    engine.dispose()
    store = Store(store_url)
    try:
        store.create_all()
        store.create_all()  # a second run finds nothing to add
        old = store.list_call_records("default")
        assert [r.call_id for r in old] == ["old"] and old[0].mos_caller is None
        store.add_call_records([_record(tenant.id, "new", T0 + 1, codec_caller="PCMU/8000",
                                        mos_caller=4.3, media_path="relay")])
        by_id = {r.call_id: r for r in store.list_call_records("default")}
        assert by_id["new"].codec_caller == "PCMU/8000" and by_id["new"].mos_caller == 4.3
    finally:
        store.close()
