"""Recordings of real calls enter the catalog: a `Switch` with ``record_calls``, two
``pycc.ua`` phones sending tones over RTP (`peers.rtp_phone.RtpPhone`).

One call is hung up by the caller; the other is still up when the switch stops, which
ends it (BYE from the system) and catalogues its recording in its last round. Each
catalog row's SHA-256 and size are those of the file on disk, its length that of the
call's talk, and it names the call, its answer time and the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

from peers.net import free_port
from peers.rtp_phone import RtpPhone
from pycc.config import FilesConfig, SwitchConfig
from pycc.files import catalog
from pycc.store.db import make_url
from pycc.store.files_models import StoredFile
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, UserAgent

PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002"}


async def talk(switch: Switch, stack: contextlib.AsyncExitStack, tone: float) -> Call:
    """1001 calls 1002 through ``switch``; both phones send tones once it is answered."""
    phones = {}
    for number in ("1002", "1001"):
        rtp = await stack.enter_async_context(RtpPhone())
        ua = UserAgent(number, PASSWORDS[number], server=switch.addresses["udp"],
                       rtp_port=rtp.port, auto_answer=True)
        await stack.enter_async_context(ua)
        if number == "1002":
            await ua.register()
        phones[number] = (ua, rtp)
    call = await phones["1001"][0].call("1002", timeout=5)
    phones["1001"][1].learn(call.remote_sdp)
    incoming = await phones["1002"][0].next_call(5)
    await asyncio.wait_for(incoming.answered.wait(), 5)
    phones["1002"][1].learn(incoming.remote_sdp)
    phones["1001"][1].tone(tone)
    phones["1002"][1].tone(tone * 2)
    return call


async def catalogued(store: Store, count: int, timeout: float = 8.0) -> list[StoredFile]:
    async with asyncio.timeout(timeout):
        while True:
            rows = await asyncio.to_thread(catalog.list_files, store, "default",
                                           catalog.RECORDING)
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.1)


def test_recordings_of_ended_calls_are_catalogued_with_their_checksum(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=20)
    config = SwitchConfig(data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
                          secret="files-tests-nonce-secret", rtp_ports=f"{first}-{first + 19}",
                          record_calls=True, files=FilesConfig(index_interval=0.2))

    async def main() -> tuple[str, str]:
        async with contextlib.AsyncExitStack() as stack:
            switch = Switch(config)
            await switch.start()
            try:
                hung_up = await talk(switch, stack, 600)
                await asyncio.sleep(1.0)
                await hung_up.hangup()
                (row,) = await catalogued(store, 1)
                assert row.call_id == hung_up.call_id
                left_up = await talk(switch, stack, 700)
                await asyncio.sleep(0.6)
            finally:
                await switch.stop()
            return hung_up.call_id, left_up.call_id

    call_ids = asyncio.run(asyncio.wait_for(main(), 40))
    rows = catalog.list_files(store, "default", catalog.RECORDING)
    records = {r.call_id: r for r in store.list_call_records("default")}
    store.close()
    assert sorted(row.call_id or "" for row in rows) == sorted(call_ids)
    for row in rows:
        record: CallRecord = records[row.call_id or ""]
        assert record.recording == row.path
        path = data / "recordings" / row.path
        content = path.read_bytes()
        assert row.sha256 == hashlib.sha256(content).hexdigest()
        assert row.size == len(content)
        assert (row.format, row.channels, row.node) == ("wav", 2, config.node)
        assert row.created == record.answer
        assert row.duration is not None and abs(row.duration - record.duration) < 0.5, (
            row.duration, record.duration)
        assert row.deleted_at is None
    ended_by = {r.call_id: r.hangup_by for r in records.values()}
    assert ended_by == {call_ids[0]: "caller", call_ids[1]: "system"}
