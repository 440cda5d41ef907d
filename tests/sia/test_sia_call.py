"""The coroutine API a developer writes flows with, on real channels (see ivr_lab.py)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from ivr_lab import Lab, WebService, run

from peers.audio import write_tone_wav
from peers.rtp_phone import band_share, level_dbfs
from pycc.media.channel import ChannelGone
from pycc.media.player import PromptError
from pycc.sia.call import IvrCall
from pycc.sia.fetch import FetchError
from pycc.sia.flow import Target
from pycc.sia.runner import run_coroutine

RATE = 8000


def test_a_developer_flow_plays_collects_asks_a_service_and_transfers(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        with WebService() as web:
            web.routes["/accounts"] = (200, b'{"ok": true, "owner": "Ann"}', 0)

            async def flow(call: IvrCall) -> Target | None:
                await call.answer()
                call.set("skipped", await call.play("tone:dial", stop_on="*") or "")
                account = await call.collect(6, prompt="tts:Your account number please",
                                             terminator="#", timeout=3)
                if not account:
                    return None
                data = await call.http("POST", web.url("/accounts"),
                                       json={"account": account, "caller": call.get("caller")})
                call.set("owner", data["owner"])
                await call.say("Thanks ${owner}")
                return call.transfer("queue", "sales") if data.get("ok") else None

            caller = await lab.caller()
            running = asyncio.create_task(run_coroutine(flow, caller.call))
            dial = await caller.phone.hear(0.2)
            assert band_share(dial, RATE, 350) > 0.1 and band_share(dial, RATE, 440) > 0.1
            await caller.phone.press("*")
            await asyncio.sleep(0.3)
            for key in "42#":
                await caller.phone.press(key)
            outcome = await asyncio.wait_for(running, 6)
        assert outcome.target == Target("queue", "sales") and outcome.reason == "transfer"
        assert outcome.variables["skipped"] == "*" and outcome.variables["owner"] == "Ann"
        assert [s.body for s in web.seen] == [{"account": "42", "caller": "1001"}]
        assert caller.keys == ["*", "4", "2", "#"]
        assert lab.tts.path_for("Thanks Ann").exists()  # said with the variable filled in
        assert not caller.channel.ended.is_set()

    run(tmp_path, scenario)


def test_run_coroutine_outcomes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def waits_for_keys(call: IvrCall) -> Target | None:
        await call.collect(4, timeout=5)
        return None

    async def gives_up(call: IvrCall) -> Target | None:
        return None

    async def broken(call: IvrCall) -> Target | None:
        raise RuntimeError("a bug in the flow")

    async def scenario(lab: Lab) -> None:
        leaver = await lab.caller("1001")
        running = asyncio.create_task(run_coroutine(waits_for_keys, leaver.call))
        await asyncio.sleep(0.2)
        lab.caller_hangs_up(leaver)
        outcome = await asyncio.wait_for(running, 1)
        assert (outcome.hung_up, outcome.reason, outcome.target) == (True, "caller", None)

        quitter = await lab.caller("1002")
        outcome = await run_coroutine(gives_up, quitter.call)
        assert (outcome.hung_up, outcome.reason) == (False, "hangup")
        assert quitter.session in lab.hung_up

        buggy = await lab.caller("1003")
        outcome = await run_coroutine(broken, buggy.call)
        assert outcome.reason == "error" and buggy.session in lab.hung_up

    with caplog.at_level(logging.ERROR, logger="pycc.sia"):
        run(tmp_path, scenario)
    assert "a bug in the flow" in caplog.text


def test_keys_typed_ahead_min_digits_and_the_end_of_the_call(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        caller = await lab.caller()
        call = caller.call
        for key in "78":
            await caller.phone.press(key)
        await asyncio.sleep(0.1)
        assert await call.collect(2, timeout=1) == "78"  # pressed before collect began
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await call.collect(4, min=3, timeout=0.3) == ""  # nothing pressed
        assert 0.25 < loop.time() - started < 0.8
        await caller.phone.press("5")
        assert await call.collect(4, min=2, timeout=1, inter_digit=0.2) == ""  # too few
        assert await call.next_key(0.05) is None
        lab.caller_hangs_up(caller)
        with pytest.raises(ChannelGone):
            await call.collect(1, timeout=1)
        with pytest.raises(ChannelGone):
            await call.answer()
        call.hangup()  # harmless once the call is over
        assert caller.keys == ["7", "8", "5"]

    run(tmp_path, scenario)


def test_prompts_variables_and_bad_input(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        write_tone_wav(lab.prompts / "hello.wav", 900, 0.3, amplitude=0.3)
        caller = await lab.caller(variables={"lang": "en"})
        call = caller.call
        assert await call.resolve("hello.wav") == lab.prompts / "hello.wav"
        assert await call.resolve("/srv/prompts/x.wav") == Path("/srv/prompts/x.wav")
        assert await call.resolve("tone:busy") == "tone:busy"
        spoken = await call.resolve("tts:One moment")
        assert spoken == lab.tts.path_for("One moment") and Path(spoken).exists()
        assert await call.play("hello.wav") is None
        heard = caller.phone.heard()
        assert band_share(heard, RATE, 900) > 0.5 and level_dbfs(heard) > -30
        with pytest.raises(PromptError, match=r"nothing\.wav"):
            await call.play("nothing.wav")
        assert call.get("caller") == "1001" and call.get("lang") == "en"
        assert call.get("unset") == "" and call.get("unset", "?") == "?"
        call.set("n", 5)
        assert call.substitute("${n}-${lang}-${caller}") == "5-en-1001"
        with pytest.raises(ValueError, match="not a variable name"):
            call.set("bad name", "x")
        with pytest.raises(ValueError, match="cannot transfer to a 'trunk'"):
            call.transfer("trunk", "carrier")
        with pytest.raises(ValueError, match="needs a name"):
            call.transfer("queue", "")
        assert call.transfer("conference", "room") == Target("conference", "room")
        with pytest.raises(FetchError, match="not an http"):
            await call.http("GET", "ftp://example.org/")
        with pytest.raises(ValueError, match="max >= 1"):
            await call.collect(0)

    run(tmp_path, scenario)


def test_record_through_the_api_stops_on_a_key(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        caller = await lab.caller()
        caller.phone.tone(600)
        recording = asyncio.create_task(caller.call.record("../../etc/evil name", beep=False,
                                                           max_seconds=5, stop_on="*"))
        await asyncio.sleep(0.5)
        await caller.phone.press("#")  # not a stop key here
        await asyncio.sleep(0.2)
        await caller.phone.press("*")
        path = await asyncio.wait_for(recording, 2)
        assert path.parent == lab.files / "messages"  # the name cannot leave the folder
        assert path.name.startswith("etc_evil_name-") and path.suffix == ".wav"
        assert path.stat().st_size > 44 + 2 * RATE // 2  # over half a second of audio
        assert caller.keys == ["#", "*"]

        # Two messages under one name in the same second: the second gets its own file.
        caller.call.clock = lambda: 1_700_000_000.0
        first = await caller.call.record("vm", beep=False, max_seconds=0.1)
        second = await caller.call.record("vm", beep=False, max_seconds=0.1)
        assert [first.name, second.name] == ["vm-20231114T221320Z.wav",
                                             "vm-20231114T221320Z-2.wav"]
        assert first.stat().st_size > 44 and second.stat().st_size > 44

    run(tmp_path, scenario)
