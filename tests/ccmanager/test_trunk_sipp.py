"""Trunks of a running pycc switch against SIPp playing the provider (uas_trunk_provider.xml).

SIPp challenges REGISTER with 401 and checks the credentials with <verifyauth>: pycc
registers (and a wrong password gets 403), refreshes the short binding SIPp grants, and
removes it with ``Expires: 0`` when the manager stops. With the provider gone the OPTIONS
pings go unanswered, the trunk goes down after ``down_after`` of them and `select` fails over
to the next trunk; a provider answering again on the same port brings it back.

Every message goes over 127.0.0.1 UDP through the switch's own endpoint and `SipApplication`.
Run inside a loopback-only namespace::

    unshare -n sh -c 'ip link set lo up; cd /work/main && python -m pytest tests/ccmanager -q'
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from peers.rawsip import prepare_data_dir, switch_config
from peers.sipp import SippProcess, scenario, start_sipp
from pycc.ccmanager.trunks import TrunkConfig, TrunkManager
from pycc.switch import Switch

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed"),
]

USER = "acme-trunk"
PASSWORD = "s3cret-Trunk"
REALM = "provider.test"


def provider(workdir: Path, *, granted: int = 1, port: int | None = None) -> SippProcess:
    return start_sipp(
        scenario("uas_trunk_provider"), None, calls=None, rate=None, timeout=None,
        recv_timeout_ms=None, local_port=port, workdir=workdir,
        keys={"user": USER, "password": PASSWORD, "realm": REALM, "granted": str(granted)},
    )


@asynccontextmanager
async def switch_and_trunks(tmp_path: Path, *configs: TrunkConfig
                            ) -> AsyncIterator[TrunkManager]:
    data = tmp_path / "data"
    prepare_data_dir(data, [])
    # Short transaction timers: an unanswered OPTIONS gives up after 64*T1 = 0.64 s.
    config = switch_config(data, t1=0.01, t2=0.04, t4=0.05)
    async with Switch(config) as switch:
        assert switch.endpoint is not None and switch.app is not None
        trunks = TrunkManager(switch.endpoint, switch.app.request, retry_initial=0.3,
                              unregister_timeout=2.0)
        trunks.configure(list(configs))
        await trunks.start()
        try:
            yield trunks
        finally:
            await trunks.stop()


def messages(path: Path) -> list[str]:
    """The messages of SIPp's -trace_msg log, each from its "UDP message ..." line."""
    chunks = re.split(r"^-{20,} [0-9-]+ [0-9:.]+$", path.read_text(errors="replace"),
                      flags=re.MULTILINE)
    return [chunk.strip() for chunk in chunks if chunk.strip()]


def first_line(message: str) -> str:
    """The start line of a logged message (after SIPp's "UDP message ..." line)."""
    return message.splitlines()[2].strip() if len(message.splitlines()) > 2 else ""


def header(message: str, name: str) -> str | None:
    for line in message.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == name.lower():
            return value.strip()
    return None


def trunk(name: str, sipp: SippProcess, **settings: Any) -> TrunkConfig:
    entry: dict[str, Any] = {"name": name, "host": sipp.address, "options_interval": 0}
    entry.update(settings)
    return TrunkConfig.from_dict(entry, f"trunks.{name}")


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_register_refresh_wrong_password_and_unregister(tmp_path: Path) -> None:
    sipp = provider(tmp_path / "sipp", granted=1)
    account = {"register": True, "username": USER, "realm": REALM}

    async def main() -> None:
        async with switch_and_trunks(
            tmp_path,
            trunk("good", sipp, password=PASSWORD, **account),
            trunk("bad", sipp, password="not-the-password", **account),
        ) as trunks:
            good, bad = trunks.get("good"), trunks.get("bad")
            assert good is not None and bad is not None
            assert good.registration is not None
            await until(lambda: good.registered is True, 5.0)
            await until(lambda: bad.last_error is not None, 5.0)
            assert bad.registered is False
            assert bad.last_error == "403 Forbidden"
            # SIPp grants one second: pycc refreshes at 0.8 s, each refresh accepted.
            await until(lambda: good.registration.accepted >= 3, 5.0)  # type: ignore[union-attr]
            assert good.registered is True and good.last_error is None
        # Unregistered, and the provider's answer to that was a 2xx.
        assert good.registered is False and good.last_error is None

    try:
        asyncio.run(main())
    finally:
        result = sipp.stop(grace=1.0)
    log = messages(result.workdir / "messages.log")
    received = [m for m in log if m.startswith("UDP message received")]
    sent = [m for m in log if m.startswith("UDP message sent")]
    # One removal transaction. With T1 at 10 ms, pycc retransmits it when SIPp is slow to
    # read (a loaded machine), so copies of it (the same branch) may arrive.
    removals = [m for m in received if "\nExpires: 0\n" in m]
    assert len({header(m, "Via") for m in removals}) == 1, result.describe()
    assert "\nAuthorization: Digest " in removals[0]
    call_id, cseq = header(removals[0], "Call-ID"), header(removals[0], "CSeq")
    answers_sent = [m for m in sent if header(m, "Call-ID") == call_id
                    and header(m, "CSeq") == cseq]
    assert answers_sent, result.describe()
    assert {first_line(m) for m in answers_sent} == {"SIP/2.0 200 OK"}, result.describe()
    # verifyauth accepted pycc's answers: MD5 with qop=auth and a counted nonce.
    answers = [m for m in received if "\nAuthorization: Digest " in m]
    assert all("qop=auth" in m for m in answers) and any("nc=00000002" in m for m in answers)


def test_options_health_failover_and_recovery(tmp_path: Path) -> None:
    first = provider(tmp_path / "a")
    second = provider(tmp_path / "b")
    health = {"options_interval": 0.2, "down_after": 2}
    restarted: list[SippProcess] = []

    async def main() -> None:
        async with switch_and_trunks(tmp_path, trunk("a", first, **health),
                                     trunk("b", second, **health)) as trunks:
            a, b = trunks.get("a"), trunks.get("b")
            assert a is not None and b is not None
            await asyncio.sleep(0.5)  # a couple of answered pings
            assert a.up and b.up and trunks.select(["a", "b"]) is a
            port = first.local_port
            await asyncio.to_thread(first.stop)
            await until(lambda: not a.up, 6.0)
            assert a.last_error == "no answer to OPTIONS"
            assert trunks.select(["a", "b"]) is b
            assert b.up
            restarted.append(await asyncio.to_thread(provider, tmp_path / "a2", port=port))
            await until(lambda: a.up, 4.0)
            assert trunks.select(["a", "b"]) is a and a.last_error is None

    try:
        asyncio.run(main())
    finally:
        for sipp in (first, second, *restarted):
            sipp.stop(grace=1.0)
    pinged = messages(restarted[0].workdir / "messages.log")
    assert any("\nOPTIONS sip:" in m for m in pinged), restarted[0].stop().describe()
