"""Hold time in the call record of a call between two phones of a real Switch: a re-INVITE
offering ``sendonly`` holds the call, one offering ``sendrecv`` resumes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pycc.config import load_config, write_initial_config
from pycc.store import CallRecord, Store, make_url
from pycc.switch import Switch
from pycc.ua import UserAgent

PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002"}


def direction(sdp: bytes, value: str, version: int) -> bytes:
    """``sdp`` with its media direction set to ``value`` and its o= version set."""
    lines = sdp.decode().split("\r\n")
    for index, line in enumerate(lines):
        if line.startswith("o="):
            fields = line.split(" ")
            fields[2] = str(version)
            lines[index] = " ".join(fields)
        elif line in ("a=sendrecv", "a=sendonly", "a=inactive", "a=recvonly"):
            lines[index] = f"a={value}"
    return "\r\n".join(lines).encode()


async def record_of(store: Store, call_id: str) -> CallRecord:
    async with asyncio.timeout(8):
        while True:
            for record in await asyncio.to_thread(store.list_call_records, "default"):
                if record.call_id == call_id:
                    return record
            await asyncio.sleep(0.05)


def test_hold_counts_apart_from_talk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_initial_config(data)
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    config = load_config(data).with_overrides(bind="127.0.0.1", sip_port=0, sips_port=-1)

    async def scenario() -> CallRecord:
        async with Switch(config) as switch:
            alice = UserAgent("1001", PASSWORDS["1001"], server=switch.addresses["udp"])
            bob = UserAgent("1002", PASSWORDS["1002"], server=switch.addresses["udp"],
                            auto_answer=True)
            async with alice, bob:
                await alice.register()
                await bob.register()
                call = await alice.call("1002", timeout=5)
                assert call.local_sdp is not None
                held = await call.reinvite(direction(call.local_sdp, "sendonly", 10))
                assert held.status == 200
                await asyncio.sleep(0.8)
                resumed = await call.reinvite(direction(call.local_sdp, "sendrecv", 11))
                assert resumed.status == 200
                await asyncio.sleep(0.4)
                await call.hangup()
                return await record_of(store, call.call_id)

    try:
        record = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        store.close()
    assert (record.direction, record.caller_dialed, record.callee_dialed) == \
        ("internal", "1001", "1002")
    assert record.hold_seconds is not None and 0.75 <= record.hold_seconds <= 1.2
    assert record.talk_seconds is not None and record.duration is not None
    assert abs(record.talk_seconds + record.hold_seconds - record.duration) < 0.01
    assert record.cost == 0 and record.state == "closed"
