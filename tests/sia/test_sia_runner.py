"""Declarative flows run on real channels: a MediaServer on 127.0.0.1 and RtpPhones pressing
RFC 4733 keys and sending audio (see ivr_lab.py). What the caller hears is checked by its
spectrum; what the flow did by its outcome (target, path, variables), the key tally and the
keys reported."""

from __future__ import annotations

import asyncio
import logging
import wave
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from ivr_lab import Lab, WebService, eventually, run

from peers.audio import write_tone_wav
from peers.rtp_phone import band_share, dominant_frequency, level_dbfs
from pycc.dsp.pcm import Pcm
from pycc.sia.flow import Flow, Target, parse_flow
from pycc.sia.keys import KeyTally
from pycc.sia.runner import FlowOutcome, run_flow

RATE = 8000


def flow_of(steps: list[Any], name: str = "main") -> Flow:
    return parse_flow(name, steps, f"ivr[{name}].steps")


def stopped_clock(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def hears(pcm: Pcm, freq: float) -> bool:
    return len(pcm) > 0 and band_share(pcm, RATE, freq) > 0.1


async def speaks_into_a_new_message(folder: Path, before: set[Path], seconds: float) -> None:
    """Wait until a message not among ``before`` holds ``seconds`` of audio: on a loaded
    machine the recording can start well after the caller heard the beep."""
    wanted = 44 + 2 * int(seconds * RATE)  # a mono 16-bit WAV's header and samples
    async with asyncio.timeout(5):
        while not any(path.stat().st_size >= wanted
                      for path in set(folder.glob("*.wav")) - before):
            await asyncio.sleep(0.02)


def read_wav(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as file:
        assert file.getsampwidth() == 2
        return (file.getframerate(), file.getnchannels(),
                np.frombuffer(file.readframes(file.getnframes()), dtype="<i2"))


# -- menus --------------------------------------------------------------------------------------


def test_menu_key_pressed_as_rfc4733_stops_the_prompt_and_transfers(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        write_tone_wav(lab.prompts / "menu.wav", 700, 3.0, amplitude=0.3)
        flow = flow_of(["answer", {"menu": {"prompt": "menu.wav", "options": {
            "1": {"queue": "sales"}, "2": {"queue": "support"}}}, "id": "menu1"}])
        caller = await lab.caller()
        tally = KeyTally()
        running = asyncio.create_task(run_flow(flow, caller.call, tally=tally))
        assert hears(await caller.phone.hear(0.3), 700)  # the menu prompt
        pressed = caller.phone.now()
        await caller.phone.press("2")
        outcome = await asyncio.wait_for(running, 2)
        assert caller.phone.now() - pressed < 1.0  # the 3 s prompt did not play out
        assert outcome.target == Target("queue", "support")
        assert outcome.path == ["main.1", "main.menu1=2"]
        assert (outcome.hung_up, outcome.reason) == (False, "transfer")
        assert tally.counts() == {("main", "menu1", "2"): 1}
        assert caller.keys == ["2"]
        assert not caller.channel.ended.is_set()  # a transfer leaves the call up
        await caller.phone.quiet(0.2)  # and the prompt stopped

    run(tmp_path, scenario)


def test_menu_timeouts_retry_then_take_on_timeout_or_hang_up(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        flow = flow_of([{"menu": {"prompt": "tone:beep", "timeout": 0.3, "retries": 2,
                                  "options": {"1": {"queue": "sales"}},
                                  "on_timeout": {"voicemail": "general"}}, "id": "m"}])
        caller = await lab.caller()
        tally = KeyTally()
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await run_flow(flow, caller.call, tally=tally)
        elapsed = loop.time() - started
        # Three times: a 0.2 s beep then 0.3 s of waiting.
        assert 1.4 < elapsed < 2.5
        assert outcome.target == Target("voicemail", "general")
        assert outcome.path == ["main.m=timeout"] * 3
        assert tally.counts() == {("main", "m", "timeout"): 3}
        heard = caller.phone.heard()
        loud = sum(1 for h in caller.phone.heard_packets if level_dbfs(h.pcm) > -30)
        assert hears(heard, 1000) and 25 <= loud <= 35  # three beeps of 10 packets

        # Without on_timeout the caller is hung up on after the last try.
        bare = flow_of([{"menu": {"prompt": "tone:beep", "timeout": 0.2, "retries": 0,
                                  "options": {"1": {"queue": "sales"}}}}])
        second = await lab.caller("1002")
        outcome = await run_flow(bare, second.call, tally=tally)
        assert (outcome.target, outcome.reason, outcome.hung_up) == (None, "hangup", False)
        assert outcome.path == ["main.1=timeout"]
        assert second.channel.ended.is_set() and second.session in lab.hung_up
        assert tally.counts()[("main", "1", "timeout")] == 1

    run(tmp_path, scenario)


def test_an_invalid_key_plays_the_invalid_prompt_and_asks_again(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        write_tone_wav(lab.prompts / "menu.wav", 700, 0.3, amplitude=0.3)
        write_tone_wav(lab.prompts / "invalid.wav", 1500, 0.4, amplitude=0.3)
        flow = flow_of([{"menu": {"prompt": "menu.wav", "invalid": "invalid.wav",
                                  "timeout": 2, "options": {"1": {"extension": "1002"}},
                                  "on_invalid": {"queue": "operator"}}, "id": "m"}])
        caller = await lab.caller()
        tally = KeyTally()
        running = asyncio.create_task(run_flow(flow, caller.call, tally=tally))
        await caller.phone.hear(0.2)
        wrong_at = caller.phone.now()
        await caller.phone.press("9")
        heard = await caller.phone.hear(0.3, since=wrong_at + 0.05)
        assert hears(heard, 1500) and not hears(heard, 700)  # "that is not an option"
        await asyncio.sleep(wrong_at + 0.9 - caller.phone.now())  # the menu plays again
        await caller.phone.press("1")
        outcome = await asyncio.wait_for(running, 3)
        assert hears(caller.phone.heard(wrong_at + 0.5), 700)
        assert outcome.target == Target("extension", "1002")
        assert outcome.path == ["main.m=invalid", "main.m=1"]
        assert tally.counts() == {("main", "m", "invalid"): 1, ("main", "m", "1"): 1}
        assert caller.keys == ["9", "1"]

        # Wrong keys on every try: on_invalid.
        again = await lab.caller("1003")
        running = asyncio.create_task(run_flow(
            flow_of([{"menu": {"prompt": "tone:beep", "retries": 1, "timeout": 2,
                               "options": {"1": "hangup"},
                               "on_invalid": {"queue": "operator"}}}]), again.call))
        for _ in range(2):
            await again.phone.press("7")
            await asyncio.sleep(0.3)
        outcome = await asyncio.wait_for(running, 3)
        assert outcome.target == Target("queue", "operator")
        assert outcome.path == ["main.1=invalid", "main.1=invalid"]

    run(tmp_path, scenario)


# -- keys into variables, conditions, goto ------------------------------------------------------


COLLECT_FLOW: list[Any] = [
    {"collect": {"var": "account", "max": 6, "timeout": 3, "inter_digit": 2}},
    {"if": {"var": "account", "equals": "123",
            "then": [{"set": {"greeting": "vip ${account} from ${caller}"}}, {"goto": "pin"}],
            "else": {"queue": "general"}}},
    {"play": "tone:busy"},  # jumped over
    {"collect": {"var": "pin", "max": 4, "timeout": 3, "inter_digit": 0.4}, "id": "pin"},
    {"if": {"var": "pin", "matches": "[0-9]{2}", "then": {"queue": "vip-${pin}"}}},
    "hangup",
]


def test_collect_with_terminator_and_inter_digit_timeout_set_if_goto(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        flow = flow_of(COLLECT_FLOW)
        caller = await lab.caller()
        running = asyncio.create_task(run_flow(flow, caller.call))
        for key in "123#":
            await caller.phone.press(key)
        await caller.phone.press("4")
        last_key = caller.phone.now()  # pycc has the key as soon as it goes down
        await caller.phone.press("5")
        outcome = await asyncio.wait_for(running, 3)
        waited = caller.phone.now() - last_key
        assert 0.4 < waited < 1.2  # the 0.4 s inter-digit timeout ended the PIN
        assert outcome.target == Target("queue", "vip-45")
        assert outcome.variables["account"] == "123" and outcome.variables["pin"] == "45"
        assert outcome.variables["greeting"] == "vip 123 from 1001"
        assert outcome.path == ["main.1", "main.2=then", "main.2.then.1", "main.2.then.2",
                                "main.pin", "main.5=then"]
        assert caller.keys == list("123#45")
        assert not hears(caller.phone.heard(), 480)  # the busy tone was jumped over

        other = await lab.caller("1002")
        running = asyncio.create_task(run_flow(flow, other.call))
        for key in "9#":
            await other.phone.press(key)
        outcome = await asyncio.wait_for(running, 3)
        assert outcome.target == Target("queue", "general")
        assert outcome.path == ["main.1", "main.2=else"]

    run(tmp_path, scenario)


def test_time_condition_uses_the_injected_clock(tmp_path: Path) -> None:
    london = ZoneInfo("Europe/London")
    flow = flow_of([{"time": {
        "when": {"weekdays": "mon-fri", "hours": "09:00-17:00", "zone": "Europe/London"},
        "then": {"queue": "open"},
        "else": [{"play": "tone:beep"}, {"transfer": {"voicemail": "closed"}}]}}])

    async def scenario(lab: Lab) -> None:
        monday = datetime(2025, 6, 2, 9, 30, tzinfo=london)
        saturday = datetime(2025, 6, 7, 9, 30, tzinfo=london)
        monday_night = datetime(2025, 6, 2, 17, 0, tzinfo=london)
        outcomes: list[FlowOutcome] = []
        for index, moment in enumerate([monday, saturday, monday_night]):
            caller = await lab.caller(f"100{index}")
            outcomes.append(await run_flow(flow, caller.call, now=stopped_clock(moment)))
        assert [o.target for o in outcomes] == [
            Target("queue", "open"), Target("voicemail", "closed"), Target("voicemail", "closed")]
        assert outcomes[0].path == ["main.1=then"]
        assert outcomes[1].path == ["main.1=else", "main.1.else.1", "main.1.else.2"]

    run(tmp_path, scenario)


# -- web requests -------------------------------------------------------------------------------


def test_http_step_fills_variables_and_takes_on_error(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        with WebService() as web:
            web.routes["/customer/1001"] = (200, b'{"name": "Ann", "tier": "gold"}', 0)
            web.routes["/customer/1002"] = (200, b'{"name": "Bob", "tier": "silver", '
                                                 b'"balance": 12.5, "tags": ["a"]}', 0)
            web.routes["/log"] = (500, b"{}", 0)
            flow = flow_of([
                {"http": {"url": web.url("/customer/${caller}"), "into": "crm", "timeout": 2,
                          "on_error": {"queue": "fallback"}}},
                {"if": {"var": "crm.tier", "equals": "gold", "then": {"queue": "gold"}}},
                {"http": {"method": "POST", "url": web.url("/log"), "into": "log",
                          "json": {"caller": "${caller}", "name": "${crm.name}", "n": 1}}},
                {"transfer": {"queue": "standard"}},
            ])
            outcomes = {}
            for number in ("1001", "1002", "1003"):
                caller = await lab.caller(number)
                outcomes[number] = await run_flow(flow, caller.call)
        gold, silver, unknown = outcomes["1001"], outcomes["1002"], outcomes["1003"]
        assert gold.target == Target("queue", "gold")
        assert gold.variables["crm.name"] == "Ann" and gold.path == ["main.1", "main.2=then"]
        # 1002: not gold; the log request fails without on_error, so the flow goes on.
        assert silver.target == Target("queue", "standard")
        assert silver.variables["crm.balance"] == "12.5" and "crm.tags" not in silver.variables
        assert "HTTP 500" in silver.variables["log.error"]
        assert silver.path == ["main.1", "main.2=else", "main.3=error", "main.4"]
        # 1003: the service knows nothing of it (404): on_error.
        assert unknown.target == Target("queue", "fallback")
        assert "HTTP 404" in unknown.variables["crm.error"]
        assert unknown.path == ["main.1=error"]
        assert [(s.method, s.path, s.body) for s in web.seen] == [
            ("GET", "/customer/1001", None),
            ("GET", "/customer/1002", None),
            ("POST", "/log", {"caller": "1002", "name": "Bob", "n": 1}),
            ("GET", "/customer/1003", None),
        ]

    run(tmp_path, scenario)


# -- recording -----------------------------------------------------------------------------------


def test_record_writes_a_playable_wav_of_the_caller(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        flow = flow_of([{"record": {"name": "vm-${caller}", "max_seconds": 1.0}},
                        {"transfer": {"voicemail": "done"}}])
        caller = await lab.caller()
        caller.phone.tone(600)
        outcome = await run_flow(flow, caller.call)
        assert outcome.target == Target("voicemail", "done")
        path = Path(outcome.variables["recording"])
        assert path.parent == lab.files / "messages" and path.name.startswith("vm-1001-")
        rate, channels, samples = read_wav(path)
        assert (rate, channels) == (RATE, 1)
        assert 0.8 * RATE <= len(samples) <= 1.3 * RATE
        assert dominant_frequency(samples, RATE) == pytest.approx(600, abs=5)
        assert band_share(samples, RATE, 600) > 0.8
        assert hears(caller.phone.heard(), 1000)  # the beep before the message
        assert band_share(samples, RATE, 1000) < 0.01  # not in the message

        # '#' ends a message early; so does silence; a caller hanging up keeps it.
        messages = lab.files / "messages"
        hasher = await lab.caller("1002")
        hasher.phone.tone(600)
        before = set(messages.glob("*.wav"))
        running = asyncio.create_task(run_flow(flow_of([{"record": {"max_seconds": 10}}]),
                                               hasher.call))
        # The message starts after the beep: on a loaded machine that can be well after the
        # flow does, so the caller speaks until the message holds some of it.
        async with asyncio.timeout(5):
            while not hears(hasher.phone.heard(), 1000):
                await asyncio.sleep(0.02)
        await speaks_into_a_new_message(messages, before, 0.3)
        await hasher.phone.press("#")
        outcome = await asyncio.wait_for(running, 2)
        _rate, _channels, samples = read_wav(Path(outcome.variables["recording"]))
        assert 0.2 * RATE < len(samples) < 0.9 * RATE
        assert outcome.reason == "end"

        quiet = await lab.caller("1003")
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await run_flow(flow_of([{"record": {"max_seconds": 10, "silence": 0.5,
                                                      "beep": False}}]), quiet.call)
        assert loop.time() - started < 1.5
        assert Path(outcome.variables["recording"]).exists()

        leaver = await lab.caller("1004")
        leaver.phone.tone(600)
        before = set(messages.glob("*.wav"))
        running = asyncio.create_task(run_flow(flow, leaver.call))
        # The caller speaks after the beep (200 ms, tone:beep), then hangs up mid-message.
        async with asyncio.timeout(5):
            while not hears(leaver.phone.heard(), 1000):
                await asyncio.sleep(0.02)
        await speaks_into_a_new_message(messages, before, 0.3)
        lab.caller_hangs_up(leaver)
        outcome = await asyncio.wait_for(running, 2)
        assert (outcome.hung_up, outcome.reason, outcome.target) == (True, "caller", None)
        _rate, _channels, samples = read_wav(Path(outcome.variables["recording"]))
        assert len(samples) > 0.1 * RATE and band_share(samples, RATE, 600) > 0.5

    run(tmp_path, scenario)


# -- the caller hangs up, tts, loops, chained flows ---------------------------------------------


def test_caller_hanging_up_mid_menu_ends_the_flow_quietly(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        write_tone_wav(lab.prompts / "long.wav", 700, 3.0, amplitude=0.3)
        flow = flow_of(["answer", {"menu": {"prompt": "long.wav",
                                            "options": {"1": {"queue": "sales"}}}}])
        caller = await lab.caller()
        tally = KeyTally()
        running = asyncio.create_task(run_flow(flow, caller.call, tally=tally))
        assert hears(await caller.phone.hear(0.3), 700)
        lab.caller_hangs_up(caller)
        outcome = await asyncio.wait_for(running, 1)
        assert (outcome.hung_up, outcome.reason, outcome.target) == (True, "caller", None)
        assert outcome.path == ["main.1"]
        assert tally.counts() == {}
        await eventually(lambda: not lab.engine.channels and not lab.engine.clock.subscribers)

    run(tmp_path, scenario)


def test_tts_prompt_is_rendered_by_espeak_and_heard(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        flow = flow_of([{"play": "tts:Hello ${who}"}, "hangup"])
        caller = await lab.caller(variables={"who": "Ann"})
        outcome = await run_flow(flow, caller.call)
        assert (outcome.reason, outcome.path) == ("hangup", ["main.1", "main.2"])
        assert lab.tts.path_for("Hello Ann").exists()
        loud = [h for h in caller.phone.heard_packets if level_dbfs(h.pcm) > -35]
        assert len(loud) >= 25  # at least half a second of speech
        assert caller.session in lab.hung_up

    run(tmp_path, scenario)


def test_a_goto_loop_is_stopped_by_the_step_budget(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(lab: Lab) -> None:
        flow = flow_of([{"set": {"n": "x"}, "id": "top"}, {"goto": "top"}])
        caller = await lab.caller()
        outcome = await run_flow(flow, caller.call, max_steps=50)
        assert (outcome.reason, outcome.target, outcome.steps) == ("loop", None, 51)
        assert caller.channel.ended.is_set()

    with caplog.at_level(logging.ERROR, logger="pycc.sia"):
        run(tmp_path, scenario)
    assert "more than 50 steps" in caplog.text


def test_ivr_targets_continue_in_known_flows_and_bad_prompts_are_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(lab: Lab) -> None:
        main = flow_of([{"play": "missing.wav"}, {"transfer": {"ivr": "sub"}}])
        sub = flow_of([{"play": {"prompt": "tone:dial", "stop_on": "5"}},
                       {"if": {"var": "last_key", "equals": "5", "then": {"ivr": "elsewhere"}}},
                       "hangup"], name="sub")
        caller = await lab.caller()
        running = asyncio.create_task(run_flow(main, caller.call, flows={"sub": sub}))
        await caller.phone.hear(0.3)
        await caller.phone.press("5")
        outcome = await asyncio.wait_for(running, 2)
        assert outcome.target == Target("ivr", "elsewhere")  # not a flow here: returned
        assert outcome.path == ["main.1", "main.2", "sub.1", "sub.2=then"]
        assert hears(caller.phone.heard(), 350)  # the dial tone of sub

    with caplog.at_level(logging.WARNING, logger="pycc.sia"):
        run(tmp_path, scenario)
    assert "prompt skipped" in caplog.text and "missing.wav" in caplog.text
