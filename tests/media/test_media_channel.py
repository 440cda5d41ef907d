"""pycc's call-control API end to end: applications on a real Switch, phones with real RTP.

Every test starts a Switch on 127.0.0.1 (SQLite in tmp_path, a small RTP port range), adds
applications with ``Switch.add_application`` (or ``[applications]`` in the config), and
calls them with ``UserAgent`` s whose media is an ``RtpPhone`` (tests/peers/rtp_phone.py):
each phone sends a tone of its own and keeps what it hears, and the assertions are on the
spectrum of what was heard. Cases: tones and prompts played by pycc, keys (RFC 4733, SIP
INFO, inband) stopping prompts and collected, echo, a conference (each hears the others and
not itself; join tone, mute, kick), recordings of a bridged call (stereo and mixed, and every
call with ``record_calls``), a prompt to one party of a bridged call, a supervisor's listen,
whisper and barge, and the failures: an application that raises, a caller who hangs up
mid-prompt (nothing leaks), an INVITE without SDP (488).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from peers.audio import write_tone_wav
from peers.net import free_port
from peers.rtp_phone import RtpPhone, band_share, dominant_frequency, level_dbfs
from pycc.ccmanager.b2bua import B2BUA
from pycc.ccmanager.b2bua import Call as SwitchCall
from pycc.config import SwitchConfig
from pycc.dsp.goertzel import DtmfDetector
from pycc.dsp.pcm import Pcm
from pycc.media.channel import Channel, ChannelGone, MediaEngine, Monitor
from pycc.media.server import MediaServer
from pycc.rtp.dtmf import parse_event
from pycc.store.db import make_url
from pycc.store.models import CallRecord
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import Call, CallFailed, UserAgent, minimal_sdp

PASSWORDS = {f"100{n}": f"secret-100{n}" for n in range(1, 6)}
RTP_PORT_COUNT = 60
RATE = 8000
#: A share of the energy that only a tone actually present reaches (a Hann window leaks
#: little; G.711 noise is some 35 dB below the tones used here).
PRESENT = 0.1
#: What leaks into a band from the other tones and the codec: far below PRESENT.
ABSENT = 0.01

T = TypeVar("T")


class Lab:
    """A running switch, its store, and the phones and agents of one test."""

    def __init__(self, switch: Switch, store: Store, stack: contextlib.AsyncExitStack,
                 data: Path) -> None:
        self.switch = switch
        self.store = store
        self.stack = stack
        self.data = data

    @property
    def b2bua(self) -> B2BUA:
        assert self.switch.b2bua is not None
        return self.switch.b2bua

    @property
    def media(self) -> MediaServer:
        assert self.switch.media is not None
        return self.switch.media

    @property
    def engine(self) -> MediaEngine:
        assert self.media.engine is not None
        return self.media.engine

    async def phone(self, user: str, *, register: bool = False,
                    **options: Any) -> tuple[UserAgent, RtpPhone]:
        """A user agent whose SDP sends pycc's RTP to a new RtpPhone."""
        phone = await self.stack.enter_async_context(RtpPhone())
        ua = UserAgent(user, PASSWORDS[user], server=self.switch.addresses["udp"],
                       rtp_port=phone.port, **options)
        await self.stack.enter_async_context(ua)
        if register:
            await ua.register()
        return ua, phone

    async def call(self, ua: UserAgent, phone: RtpPhone, number: str) -> Call:
        """``ua`` calls ``number``; its phone learns pycc's answer and starts sending."""
        call = await ua.call(number, timeout=5)
        phone.learn(call.remote_sdp)
        return call

    async def answered(self, ua: UserAgent, phone: RtpPhone) -> Call:
        """The call ringing at ``ua`` (auto-answered); its phone learns pycc's offer."""
        incoming = await ua.next_call(5)
        await asyncio.wait_for(incoming.answered.wait(), 5)
        phone.learn(incoming.remote_sdp)
        return incoming

    def switch_call(self, call: Call) -> SwitchCall:
        """pycc's side of the call a user agent made."""
        found = [c for c in self.b2bua.calls.values() if c.call_id == call.call_id]
        assert len(found) == 1, f"pycc has {len(found)} calls for {call.call_id}"
        return found[0]

    def channel(self, call: Call, party: str = "a") -> Channel:
        return self.b2bua.channel(self.switch_call(call), party)

    async def record(self, call_id: str, timeout: float = 5.0) -> CallRecord:
        """The call record of ``call_id`` once the switch has written it."""
        async with asyncio.timeout(timeout):
            while True:
                records = await asyncio.to_thread(self.store.list_call_records, "default")
                for record in records:
                    if record.call_id == call_id:
                        return record
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def lab(tmp_path: Path, **overrides: Any) -> AsyncIterator[Lab]:
    data = tmp_path / "data"
    data.mkdir()
    store = Store(make_url(data, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    for number, password in PASSWORDS.items():
        store.add_extension("default", number, password)
    first = free_port("udp", count=RTP_PORT_COUNT)
    config = SwitchConfig(
        data_dir=data, bind="127.0.0.1", sip_port=0, sips_port=-1,
        secret="channel-tests-nonce-secret", rtp_ports=f"{first}-{first + RTP_PORT_COUNT - 1}",
        **overrides)
    try:
        async with Switch(config) as switch, contextlib.AsyncExitStack() as stack:
            yield Lab(switch, store, stack, data)
    finally:
        store.close()


def run(tmp_path: Path, scenario: Callable[[Lab], Awaitable[None]], *, limit: float = 25.0,
        **overrides: Any) -> None:
    async def main() -> None:
        async with asyncio.timeout(limit), lab(tmp_path, **overrides) as the_lab:
            await scenario(the_lab)

    asyncio.run(main())


def share(pcm: Pcm, freq: float) -> float:
    return band_share(pcm, RATE, freq)


def assert_hears(pcm: Pcm, present: Sequence[float], absent: Sequence[float] = ()) -> None:
    """Each frequency of ``present`` is a real part of ``pcm``, none of ``absent`` is."""
    assert len(pcm) > 0, "nothing was heard"
    shares = {f: round(share(pcm, f), 3) for f in [*present, *absent]}
    for freq in present:
        assert shares[freq] > PRESENT, f"{freq} Hz missing from what was heard: {shares}"
    for freq in absent:
        assert shares[freq] < ABSENT, f"{freq} Hz should not be heard: {shares}"


async def comes_to_hear(phone: RtpPhone, present: Sequence[float],
                        absent: Sequence[float] = (), *, timeout: float = 5.0,
                        state: Callable[[], str] = str) -> None:
    """`assert_hears` on half-second windows until one passes: after a change (a mute, a
    phone that starts sending again) the media takes a moment to settle on a loaded
    machine. The last window's failure, with ``state()``, when none does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert_hears(await phone.hear(0.5, since=phone.now() + 0.1), present, absent)
            return
        except AssertionError as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{exc}\n{state()}") from None


def media_state(lab: Lab, calls: dict[str, Call]) -> str:
    """The media server's counters for each call's channel, and the frame clock's: what a
    failure in a conference test needs to say where the audio stopped."""
    clock = lab.engine.clock
    lines = [f"clock: ticks {clock.ticks} late {clock.late_ticks} skipped {clock.skipped} "
             f"errors {clock.errors} subscribers {len(clock.subscribers)}"]
    for user, call in calls.items():
        try:
            channel = lab.channel(call)
        except Exception as exc:  # the call may be gone: say so
            lines.append(f"{user}: {exc!r}")
            continue
        leg = channel.leg_or_none
        parts = [f"{user}: mix {channel.mix.name if channel.mix else None}"]
        if leg is not None:
            parts.append(f"leg received {leg.received} sent {leg.sent} dropped "
                         f"{dict(leg.dropped)}")
        for rate, shared in channel._inputs.items():
            source = shared.source
            jitter = source.jitter
            parts.append(f"in@{rate} frames {source.frames} underruns {source.underruns} "
                         f"concealed {source.concealed} dropped {source.dropped} ignored "
                         f"{source.ignored}")
            if jitter is not None:
                parts.append(f"jitter late {jitter.late} skipped {jitter.skipped} resyncs "
                             f"{jitter.resyncs} overflow {jitter.overflow} held {len(jitter)}")
        output = channel._output
        if output is not None:
            parts.append(f"out packets {output.packets} frames {output.frames} silent "
                         f"{output.silent_frames} unsent {output.unsent}")
        lines.append("; ".join(parts))
    return "\n".join(lines)


async def next_item(outbox: asyncio.Queue[T], timeout: float = 5.0) -> T:
    """What an application reported next."""
    return await asyncio.wait_for(outbox.get(), timeout)


async def first_loud(phone: RtpPhone, since: float, *, timeout: float = 3.0) -> float:
    """When the first packet louder than -40 dBFS arrived after ``since``."""
    async with asyncio.timeout(timeout):
        while True:
            for heard in phone.heard_packets:
                if heard.at >= since and level_dbfs(heard.pcm) > -40:
                    return heard.at
            await asyncio.sleep(0.01)


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def wav_channels(path: Path) -> tuple[int, list[Pcm]]:
    """A 16-bit WAV's rate and its channels."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        rate, count = wav.getframerate(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").reshape(-1, count)
    return rate, [samples[:, i].copy() for i in range(count)]


# -- the test phone itself ----------------------------------------------------------------------


def test_rtp_phone_loopback_tone_rfc4733_and_inband_keys() -> None:
    """Two RtpPhones talk to each other directly: what they send is what the tests below
    rely on (a clean tone, RFC 4733 events as table 5 shapes them, Q.23 key tones)."""

    async def main() -> None:
        async with RtpPhone() as a, RtpPhone() as b:
            assert a.port % 2 == 0 and b.port % 2 == 0
            a.learn(minimal_sdp("127.0.0.1", b.port))
            b.learn(minimal_sdp("127.0.0.1", a.port))
            assert (a.payload_type, a.event_type) == (0, 101)
            a.tone(1000)
            heard = await b.hear(0.4, since=b.now() + 0.05)
            assert dominant_frequency(heard, RATE) == pytest.approx(1000, abs=3)
            assert share(heard, 1000) > 0.99
            assert b.ssrcs() == {a.ssrc}
            mark = b.now()
            await a.press("5")
            await a.press("#", duration_ms=60)
            assert await b.next_digits(2) == ["5", "#"]
            await b.hear(0.04)  # audio again: every event packet before it has arrived
            events = [p for at, p in b.packets if at >= mark and p.payload_type == 101]
            # RFC 4733 §2.5.1: the marker bit on the first packet of each press, one timestamp
            # per press, an update every 20 ms, the final duration three times (the first of
            # them without E when the key went up on an update, as in table 5).
            starts = [p.timestamp for p in events if p.marker]
            assert events[0].marker and len(starts) == 2
            assert [(e.duration, e.end) for e in map(parse_event, (
                p.payload for p in events if p.timestamp == starts[0]))] == [
                (160, False), (320, False), (480, False), (640, False), (800, False),
                (800, True), (800, True)]
            assert len([p for p in events if p.timestamp == starts[1]]) == 5
            a.silence()
            await b.hear(0.1)
            mark = b.now()
            for digit in "78":
                await a.press_inband(digit)
            keys = await b.hear(0.36, since=mark)
            assert DtmfDetector(RATE).feed(keys) == ["7", "8"]
            await a.press_inband("9", duration_ms=30)  # too short for a key (Q.24: 40 ms)
            assert DtmfDetector(RATE).feed(await b.hear(0.1)) == []
        assert a.closed and b.closed

    asyncio.run(asyncio.wait_for(main(), 10))


@pytest.mark.parametrize(("codec", "clock_rate", "channels", "rate"), [
    ("PCMA", 8000, 1, 8000), ("G722", 8000, 1, 16000), ("opus", 48000, 2, 48000)])
def test_rtp_phone_loopback_in_other_codecs(codec: str, clock_rate: int, channels: int,
                                            rate: int) -> None:
    async def main() -> None:
        async with RtpPhone(codec=codec, clock_rate=clock_rate, channels=channels) as a, \
                RtpPhone(codec=codec, clock_rate=clock_rate, channels=channels) as b:
            assert a.rate == rate
            a.learn(b.offer())
            b.learn(a.offer())
            a.tone(1000)
            heard = await b.hear(0.4, since=b.now() + 0.1)
            assert dominant_frequency(heard, rate) == pytest.approx(1000, abs=3)
            assert band_share(heard, rate, 1000) > 0.95

    asyncio.run(asyncio.wait_for(main(), 10))


# -- tones and prompts ------------------------------------------------------------------------


def test_ringback_tone_then_pycc_hangs_up_when_the_application_returns(
        tmp_path: Path) -> None:
    async def ringback(channel: Channel) -> None:
        await channel.play("tone:ringback", duration=1.0)

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7001", ringback)
        ua, phone = await lab.phone("1001")
        call = await lab.call(ua, phone, "7001")
        answered_at = phone.now()
        assert await call.wait_ended(5) == "remote"
        assert call.requests_received["BYE"] == 1
        assert 0.8 < phone.now() - answered_at < 2.5
        heard = phone.heard()
        # One second of the US ringback, 440 + 480 Hz (ANSI T1.401; 2 s on, 4 s off).
        assert 0.8 * RATE <= len(heard) <= 1.3 * RATE
        assert_hears(heard, [440, 480], [350, 620, 1000])
        assert share(heard, 440) + share(heard, 480) > 0.9
        assert level_dbfs(heard) > -30
        record = await lab.record(call.call_id)
        assert (record.callee, record.hangup_by, record.disposition) == (
            "7001", "system", "answered")
        assert not lab.media.sessions and not lab.engine.channels

    run(tmp_path, scenario)


def test_builtin_play_plays_a_file_of_the_data_dir_then_hangs_up(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        write_tone_wav(lab.data / "hello.wav", 1200, 0.6, rate=16000, amplitude=0.3)
        ua, phone = await lab.phone("1001")
        call = await lab.call(ua, phone, "7010")
        assert await call.wait_ended(5) == "remote"
        heard = phone.heard()
        assert 0.5 * RATE <= len(heard) <= 0.8 * RATE  # the file, resampled to 8 kHz
        assert dominant_frequency(heard, RATE) == pytest.approx(1200, abs=10)
        assert share(heard, 1200) > 0.95
        assert (await lab.record(call.call_id)).hangup_by == "system"

    run(tmp_path, scenario, applications={"7010": "play:hello.wav"})


def key_forms(lab: Lab) -> list[tuple[str, str, str]]:
    """(party, digit, form) of every key pycc reports to its listeners, from now on."""
    seen: list[tuple[str, str, str]] = []
    lab.b2bua.dtmf_listeners.append(
        lambda _call, party, digit, form: seen.append((party, digit, form)))
    return seen


def test_rfc4733_key_stops_a_prompt_then_keys_are_collected(tmp_path: Path) -> None:
    prompt = write_tone_wav(tmp_path / "menu.wav", 700, 3.0, amplitude=0.3)
    stopped: asyncio.Queue[tuple[str | None, float]] = asyncio.Queue()
    collected: asyncio.Queue[str] = asyncio.Queue()

    async def menu(channel: Channel) -> None:
        key = await channel.play(prompt, stop_on="5")
        stopped.put_nowait((key, asyncio.get_running_loop().time()))
        collected.put_nowait(await channel.collect(3, terminator="#", timeout=3))

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7002", menu)
        forms = key_forms(lab)
        ua, phone = await lab.phone("1001")
        await lab.call(ua, phone, "7002")
        assert phone.event_type is not None  # pycc's answer has telephone-event
        assert_hears(await phone.hear(0.3), [700])
        pressed = asyncio.get_running_loop().time()
        await phone.press("5")
        key, at = await next_item(stopped)
        # Timed from the key, not the call's start: a loaded machine may be slow to get here.
        assert key == "5", f"play() returned {key!r} {at - pressed:.2f} s after the key"
        assert at - pressed < 1.2, f"the 3 s prompt went on {at - pressed:.2f} s after the key"
        await phone.quiet(0.2)  # the prompt stopped: pycc sends nothing more
        for digit in "12#":
            await phone.press(digit)
        assert await next_item(collected) == "12"
        assert forms == [("a", d, "rfc4733") for d in "512#"]

    run(tmp_path, scenario)


def test_info_key_stops_a_prompt_and_other_keys_are_kept_for_collect(tmp_path: Path) -> None:
    prompt = write_tone_wav(tmp_path / "menu.wav", 700, 3.0, amplitude=0.3)
    stopped: asyncio.Queue[tuple[str | None, float]] = asyncio.Queue()
    collected: asyncio.Queue[str] = asyncio.Queue()

    async def menu(channel: Channel) -> None:
        key = await channel.play(prompt, stop_on="5")
        stopped.put_nowait((key, asyncio.get_running_loop().time()))
        collected.put_nowait(await channel.collect(3, terminator="#", timeout=3))

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7008", menu)
        ua, phone = await lab.phone("1001")
        call = await lab.call(ua, phone, "7008")
        assert_hears(await phone.hear(0.3), [700])
        assert (await call.send_info_dtmf("3")).status == 200  # not a key that stops it
        assert_hears(await phone.hear(0.2), [700])
        pressed = asyncio.get_running_loop().time()
        assert (await call.send_info_dtmf("5")).status == 200
        key, at = await next_item(stopped)
        # The 3 s prompt stops at the key, not at its end; measured from the key, since a
        # loaded machine may be slow to get that far.
        assert key == "5" and at - pressed < 1.2
        await phone.quiet(0.2)
        for digit in "1#":
            assert (await call.send_info_dtmf(digit)).status == 200
        assert await next_item(collected) == "31"  # the 3 pressed during the prompt first

    run(tmp_path, scenario)


def test_collect_timeouts_min_digits_typeahead_and_info_keys(tmp_path: Path) -> None:
    outbox: asyncio.Queue[tuple[str, ...]] = asyncio.Queue()
    timed: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    go = asyncio.Event()

    async def collector(channel: Channel) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        nothing = await channel.collect(4, timeout=0.3)
        timed.put_nowait((nothing, loop.time() - started))
        started = loop.time()
        too_few = await channel.collect(4, min_digits=3, timeout=3, inter_digit=0.3)
        timed.put_nowait((too_few, loop.time() - started))
        outbox.put_nowait(("enough", await channel.collect(4, min_digits=3, timeout=3,
                                                           inter_digit=0.3)))
        await go.wait()  # the caller pressed 7, 8, 9 before this collect began
        outbox.put_nowait(("typeahead", await channel.collect(2, timeout=1),
                           channel.flush_digits()))

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7003", collector)
        forms = key_forms(lab)
        ua, phone = await lab.phone("1001")
        call = await lab.call(ua, phone, "7003")
        digits, elapsed = await next_item(timed)
        assert digits == ""
        # The 0.3 s timeout fired (not sooner); the bound above is loose for loaded machines.
        assert 0.25 < elapsed < 2.5
        for digit in "12":
            assert (await call.send_info_dtmf(digit)).status == 200
        digits, elapsed = await next_item(timed)
        assert digits == ""  # two keys of the three needed, then 0.3 s of nothing
        assert elapsed < 2.8  # the inter-digit timeout, before the 3 s one
        for digit in "456":
            assert (await call.send_info_dtmf(digit)).status == 200
        assert await next_item(outbox) == ("enough", "456")
        for digit in "789":
            assert (await call.send_info_dtmf(digit)).status == 200
        go.set()
        assert await next_item(outbox) == ("typeahead", "78", "9")
        assert forms == [("a", d, "info") for d in "12456789"]

    run(tmp_path, scenario)


def test_inband_keys_from_a_phone_without_telephone_events_are_collected(
        tmp_path: Path) -> None:
    outbox: asyncio.Queue[str] = asyncio.Queue()

    async def collector(channel: Channel) -> None:
        outbox.put_nowait(await channel.collect(3, terminator="#", timeout=4))

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7004", collector)
        forms = key_forms(lab)
        ua, phone = await lab.phone("1001", telephone_events=False)
        await lab.call(ua, phone, "7004")
        assert phone.event_type is None  # pycc answered without telephone-event
        # Key presses of a person's length: a 100 ms tone right after the answer was now and
        # then lost on a loaded machine (a stalled loop's playout drops what is too late).
        for digit in "78#":
            await phone.press_inband(digit, duration_ms=200, gap_ms=150)
        assert await next_item(outbox) == "78"
        assert forms == [("a", d, "inband") for d in "78#"]

    run(tmp_path, scenario)


def test_echo_from_the_config_returns_the_callers_tone(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        ua, phone = await lab.phone("1001")
        await lab.call(ua, phone, "9196")
        silent = await phone.hear(0.2)  # the echo of silence
        assert level_dbfs(silent) < -60
        phone.tone(1000)
        started = phone.now()
        loud = await first_loud(phone, started)
        assert loud - started < 0.3, "the echo is late"
        heard = await phone.hear(0.5, since=loud + 0.1)
        assert abs(dominant_frequency(heard, RATE) - 1000) <= 4
        assert share(heard, 1000) > 0.9
        assert level_dbfs(heard) > -30

    run(tmp_path, scenario, applications={"9196": "echo"})


def test_echo_goes_on_after_the_callers_phone_stalled(tmp_path: Path) -> None:
    """The caller's stream stops for 400 ms and goes on without skipping timestamps, so every
    later packet comes 400 ms later than the jitter buffer knew: more than its longest delay.
    pycc decodes the stream again on a new timeline instead of dropping it for good."""

    async def scenario(lab: Lab) -> None:
        ua, phone = await lab.phone("1001")
        await lab.call(ua, phone, "9196")
        phone.tone(1000)
        await first_loud(phone, phone.now())
        await asyncio.sleep(0.5)
        phone.stall(0.4)
        await asyncio.sleep(0.4 + 1.0)
        heard = await phone.hear(0.5)
        assert share(heard, 1000) > 0.9
        assert level_dbfs(heard) > -30

    run(tmp_path, scenario, applications={"9196": "echo"})


def test_echo_in_wideband_keeps_a_5_khz_tone(tmp_path: Path) -> None:
    """A G.722 caller: the channel mixes at 16 kHz, so a tone narrowband cannot carry comes
    back."""

    async def scenario(lab: Lab) -> None:
        phone = await lab.stack.enter_async_context(RtpPhone(codec="G722"))
        ua = UserAgent("1001", PASSWORDS["1001"], server=lab.switch.addresses["udp"],
                       rtp_port=phone.port)
        await lab.stack.enter_async_context(ua)
        call = await ua.call("9196", sdp=phone.offer(), timeout=5)
        phone.learn(call.remote_sdp)
        assert phone.payload_type == 9
        phone.tone(5000)
        loud = await first_loud(phone, phone.now())
        heard = await phone.hear(0.5, since=loud + 0.1)
        assert dominant_frequency(heard, 16000) == pytest.approx(5000, abs=4)
        assert band_share(heard, 16000, 5000) > 0.9

    run(tmp_path, scenario, applications={"9196": "echo"})


# -- conferences --------------------------------------------------------------------------------


def test_conference_each_hears_the_others_join_tone_mute_and_kick(tmp_path: Path) -> None:
    tones = {"1001": 500.0, "1002": 800.0, "1003": 1100.0}

    async def scenario(lab: Lab) -> None:
        members: dict[str, tuple[Call, RtpPhone]] = {}
        for user, freq in tones.items():
            ua, phone = await lab.phone(user)
            call = await lab.call(ua, phone, "8000")
            phone.tone(freq)
            members[user] = (call, phone)
        conference = lab.engine.conferences["main"]
        await eventually(lambda: len(conference.members) == 3)
        settled = members["1003"][1].now() + 0.3  # after the last join tone
        for user, (_call, phone) in members.items():
            heard = await phone.hear(0.5, since=settled)
            others = [f for u, f in tones.items() if u != user]
            assert_hears(heard, others, [tones[user], 600, 900])

        # A fourth member: the others hear the join tone (600 then 900 Hz), it does not.
        for _call, phone in members.values():
            phone.silence()
        first = members["1001"][1]
        quiet_from = first.now() + 0.2
        await first.hear(0.2, since=quiet_from)
        ua4, phone4 = await lab.phone("1004")
        mark = phone4.now()
        await lab.call(ua4, phone4, "8000")
        await eventually(lambda: len(conference.members) == 4)
        joined = first.heard(mark)
        assert_hears(joined, [600, 900])
        assert_hears(members["1002"][1].heard(mark), [600, 900])
        assert share(phone4.heard(mark), 600) < ABSENT and share(phone4.heard(mark), 900) < ABSENT

        # 1002 muted: nobody hears its 800 Hz any more; 1001 and 1003 are still heard.
        for user, (_call, phone) in members.items():
            phone.tone(tones[user])
        muted = lab.channel(members["1002"][0])
        conference.mute(muted)
        calls = {user: call for user, (call, _phone) in members.items()}

        def state() -> str:
            return media_state(lab, calls)

        await comes_to_hear(first, [1100], [800], state=state)
        await comes_to_hear(phone4, [500, 1100], [800], state=state)
        await comes_to_hear(members["1002"][1], [500, 1100], state=state)
        conference.mute(muted, False)
        await comes_to_hear(first, [800, 1100], state=state)

        # Kicked: 1003's call is hung up by pycc; the others go on without its tone.
        kicked = members["1003"][0]
        await conference.kick(lab.channel(kicked))
        assert await kicked.wait_ended(3) == "remote"
        assert len(conference.members) == 3
        record = await lab.record(kicked.call_id)
        assert record.hangup_by == "system"
        await comes_to_hear(first, [800], [1100], state=state)  # once the leave tone is over

    # Four phones and a dozen listening steps: a loaded machine needs more than the default.
    run(tmp_path, scenario, limit=60.0, applications={"8000": "conference:main"})


# -- bridged calls: recording, prompts, monitoring ---------------------------------------------


async def bridged(lab: Lab, caller_tone: float, callee_tone: float) -> tuple[
        Call, RtpPhone, Call, RtpPhone]:
    """1001 calls 1002 through pycc; each phone sends its tone and hears the other's."""
    callee_ua, callee = await lab.phone("1002", register=True, auto_answer=True)
    caller_ua, caller = await lab.phone("1001")
    call = await lab.call(caller_ua, caller, "1002")
    incoming = await lab.answered(callee_ua, callee)
    caller.tone(caller_tone)
    callee.tone(callee_tone)
    settled = caller.now() + 0.2
    assert_hears(await caller.hear(0.4, since=settled), [callee_tone], [caller_tone])
    assert_hears(await callee.hear(0.4, since=settled), [caller_tone], [callee_tone])
    return call, caller, incoming, callee


def test_keys_in_a_bridged_call_reach_the_channel_and_the_other_phone(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        call, caller, _incoming, callee = await bridged(lab, 500, 1300)
        forms = key_forms(lab)
        collecting = asyncio.create_task(
            lab.channel(call, "a").collect(3, terminator="#", timeout=3))
        for digit in "42#":
            await caller.press(digit)
        assert await asyncio.wait_for(collecting, 3) == "42"
        assert await callee.next_digits(3) == ["4", "2", "#"]  # relayed as RFC 4733
        assert forms == [("a", d, "rfc4733") for d in "42#"]
        assert caller.digits == []

    run(tmp_path, scenario)


def test_recording_a_bridged_call_stereo_and_mixed(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        call, caller, _incoming, _callee = await bridged(lab, 500, 1300)
        a, b = lab.channel(call, "a"), lab.channel(call, "b")
        stereo = lab.engine.record([a, b], tmp_path / "stereo.wav", stereo=True)
        mono = lab.engine.record([a, b], tmp_path / "mono.wav", stereo=False)
        session = lab.switch_call(call).media
        assert session is not None and not session.bridges[0].suspended  # taps only
        await caller.hear(1.0)
        await call.hangup()
        # Both recordings stop by themselves when the call ends, and the files are complete.
        await eventually(lambda: stereo.sha256 is not None and mono.sha256 is not None)
        assert stereo.sha256 == hashlib.sha256(stereo.path.read_bytes()).hexdigest()
        rate, (left, right) = wav_channels(stereo.path)
        assert rate == RATE
        assert len(left) >= 0.8 * RATE
        assert_hears(left, [500], [1300])
        assert_hears(right, [1300], [500])
        rate, (mixed,) = wav_channels(mono.path)
        assert rate == RATE and len(mixed) >= 0.8 * RATE
        assert_hears(mixed, [500, 1300])
        assert not lab.engine.clock.subscribers

    run(tmp_path, scenario)


def test_a_following_recording_goes_on_with_the_next_party(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        first, _caller, _incoming, _callee = await bridged(lab, 500, 1300)
        third_ua, third = await lab.phone("1003")
        fourth_ua, fourth = await lab.phone("1004", register=True, auto_answer=True)
        second = await lab.call(third_ua, third, "1004")
        await lab.answered(fourth_ua, fourth)
        third.tone(700)
        fourth.tone(1100)
        anchor = lab.channel(first, "a")
        recording = lab.engine.record([anchor, lab.channel(second, "a")],
                                      tmp_path / "follows.wav", follows=True)
        assert lab.engine.following(anchor) is recording
        assert lab.engine.following(lab.channel(second, "a")) is None
        started = time.monotonic()
        await asyncio.sleep(1.0)
        rebound = time.monotonic() - started
        recording.rebind(1, lab.channel(second, "b"))
        with pytest.raises(ValueError, match="recorded already"):
            recording.rebind(1, anchor)
        await asyncio.sleep(1.0)
        # The party on the right hangs up: the file goes on, silent on that side.
        await second.hangup()
        left_at = time.monotonic() - started
        await asyncio.sleep(0.8)
        assert recording.live
        await first.hangup()
        await eventually(lambda: recording.sha256 is not None)
        assert not recording.live
        with pytest.raises(ValueError, match="has stopped"):
            recording.rebind(1, anchor)
        rate, (left, right) = wav_channels(recording.path)
        assert rate == RATE and len(left) >= 2.6 * RATE

        def part(pcm: Pcm, start: float, end: float) -> Pcm:
            return pcm[int(start * RATE):int(end * RATE)]

        assert_hears(left, [500], [700, 1100, 1300])
        assert_hears(part(right, 0.1, rebound - 0.2), [700], [1100, 500])
        assert_hears(part(right, rebound + 0.2, left_at - 0.2), [1100], [700, 500])
        quiet = part(right, left_at + 0.3, left_at + 0.7)
        assert len(quiet) > 0 and level_dbfs(quiet) < -50, level_dbfs(quiet)

    run(tmp_path, scenario)


def test_record_calls_records_every_answered_call(tmp_path: Path) -> None:
    async def scenario(lab: Lab) -> None:
        call, caller, _incoming, _callee = await bridged(lab, 700, 1200)
        recording = lab.switch_call(call).recording
        assert recording is not None
        await caller.hear(0.8)
        await call.hangup()
        record = await lab.record(call.call_id)
        assert record.recording is not None
        path = lab.data / "recordings" / record.recording
        assert path == recording.path and path.suffix == ".wav"
        await eventually(lambda: recording.sha256 is not None)
        _rate, (left, right) = wav_channels(path)
        assert_hears(left, [700], [1200])
        assert_hears(right, [1200], [700])

    run(tmp_path, scenario, record_calls=True)


def test_prompt_to_the_caller_during_a_bridged_call(tmp_path: Path) -> None:
    prompt = write_tone_wav(tmp_path / "notice.wav", 900, 1.2, amplitude=0.2)

    async def scenario(lab: Lab) -> None:
        call, caller, _incoming, callee = await bridged(lab, 500, 1300)
        session = lab.switch_call(call).media
        assert session is not None
        playing = asyncio.create_task(lab.channel(call, "a").play(prompt))
        started = await first_loud_tone(caller, 900)
        assert session.bridges[0].suspended
        window = started + 0.1
        assert_hears(await caller.hear(0.5, since=window), [900, 1300], [500])
        assert_hears(await callee.hear(0.5, since=window), [500], [900, 1300])
        assert await asyncio.wait_for(playing, 3) is None  # played to its end
        assert not session.bridges[0].suspended  # relayed again
        after = caller.now() + 0.2
        assert_hears(await caller.hear(0.5, since=after), [1300], [900, 500])
        assert_hears(await callee.hear(0.5, since=after), [500], [900, 1300])

    run(tmp_path, scenario)


async def first_loud_tone(phone: RtpPhone, freq: float, timeout: float = 3.0) -> float:
    """When ``freq`` became a real part of what ``phone`` hears (in 100 ms windows)."""
    async with asyncio.timeout(timeout):
        start = phone.now()
        while True:
            await phone.hear(0.1, since=start)
            if share(phone.heard(start, start + 0.1), freq) > PRESENT:
                return start
            start += 0.1


def test_monitor_listen_whisper_barge(tmp_path: Path) -> None:
    customer_tone, agent_tone, supervisor_tone = 500.0, 1300.0, 2100.0
    watched: list[SwitchCall] = []
    monitors: asyncio.Queue[Monitor] = asyncio.Queue()

    async def scenario(lab: Lab) -> None:
        async def supervise(supervisor: Channel) -> None:
            (target,) = watched
            monitor = Monitor(lab.engine, supervisor, lab.b2bua.channel(target, "b"),
                              lab.b2bua.channel(target, "a"), "listen")
            monitors.put_nowait(monitor)
            try:
                await supervisor.ended.wait()
            finally:
                monitor.stop()

        lab.switch.add_application("7100", supervise)
        call, customer, _incoming, agent = await bridged(lab, customer_tone, agent_tone)
        watched.append(lab.switch_call(call))
        session = watched[0].media
        assert session is not None
        sup_ua, supervisor = await lab.phone("1003")
        sup_call = await lab.call(sup_ua, supervisor, "7100")
        supervisor.tone(supervisor_tone)
        monitor = await next_item(monitors)

        async def hearing() -> tuple[Pcm, Pcm, Pcm]:
            since = supervisor.now() + 0.2
            return (await supervisor.hear(0.5, since=since),
                    await agent.hear(0.5, since=since),
                    await customer.hear(0.5, since=since))

        heard_sup, heard_agent, heard_customer = await hearing()
        assert_hears(heard_sup, [customer_tone, agent_tone], [supervisor_tone])
        assert_hears(heard_agent, [customer_tone], [supervisor_tone, agent_tone])
        assert_hears(heard_customer, [agent_tone], [supervisor_tone, customer_tone])

        monitor.set_mode("whisper")
        heard_sup, heard_agent, heard_customer = await hearing()
        assert_hears(heard_sup, [customer_tone, agent_tone], [supervisor_tone])
        assert_hears(heard_agent, [customer_tone, supervisor_tone], [agent_tone])
        assert_hears(heard_customer, [agent_tone], [supervisor_tone, customer_tone])

        monitor.set_mode("barge")
        heard_sup, heard_agent, heard_customer = await hearing()
        assert_hears(heard_sup, [customer_tone, agent_tone], [supervisor_tone])
        assert_hears(heard_agent, [customer_tone, supervisor_tone], [agent_tone])
        assert_hears(heard_customer, [agent_tone, supervisor_tone], [customer_tone])

        # The supervisor leaves: the call is relayed again, the two still hear each other.
        await sup_call.hangup()
        await eventually(lambda: not session.bridges[0].suspended)
        since = customer.now() + 0.2
        assert_hears(await customer.hear(0.5, since=since), [agent_tone], [supervisor_tone])
        assert_hears(await agent.hear(0.5, since=since), [customer_tone], [supervisor_tone])

    run(tmp_path, scenario)


# -- failures ---------------------------------------------------------------------------------


def test_an_application_that_raises_hangs_up_and_the_switch_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(channel: Channel) -> None:
        raise RuntimeError("a bug in the application")

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7005", broken)
        ua, phone = await lab.phone("1001")
        call = await lab.call(ua, phone, "7005")
        assert await call.wait_ended(3) == "remote"
        record = await lab.record(call.call_id)
        assert (record.hangup_by, record.disposition) == ("system", "answered")
        assert "a bug in the application" in caplog.text  # logged with its traceback
        # The next call works.
        ua2, phone2 = await lab.phone("1002")
        await lab.call(ua2, phone2, "9196")
        phone2.tone(1000)
        loud = await first_loud(phone2, phone2.now())
        assert share(await phone2.hear(0.3, since=loud + 0.1), 1000) > 0.9

    run(tmp_path, scenario, applications={"9196": "echo"})


def test_caller_hanging_up_during_play_raises_channel_gone_and_nothing_leaks(
        tmp_path: Path) -> None:
    prompt = write_tone_wav(tmp_path / "long.wav", 700, 5.0, amplitude=0.3)
    outbox: asyncio.Queue[str] = asyncio.Queue()

    async def long_prompt(channel: Channel) -> None:
        try:
            await channel.play(prompt)
        except ChannelGone:
            outbox.put_nowait("gone")
            raise
        outbox.put_nowait("played to the end")

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7006", long_prompt)
        ua, phone = await lab.phone("1001")
        call = await lab.call(ua, phone, "7006")
        assert_hears(await phone.hear(0.3), [700])
        await call.hangup()
        assert await next_item(outbox, 2) == "gone"
        record = await lab.record(call.call_id)
        assert record.hangup_by == "caller"
        engine = lab.engine
        await eventually(lambda: not lab.media.sessions and not engine.channels
                         and not engine.clock.subscribers and not lab.b2bua.calls)
        await phone.quiet(0.2)

    run(tmp_path, scenario)


def test_invite_without_sdp_to_an_application_gets_488(tmp_path: Path) -> None:
    async def never(channel: Channel) -> None:
        raise AssertionError("an application ran for a call pycc refused")

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7007", never)
        ua, _phone = await lab.phone("1001")
        with pytest.raises(CallFailed) as refused:
            await ua.call("7007", sdp=b"", timeout=5)
        assert refused.value.status == 488
        assert not lab.media.sessions and not lab.engine.channels

    run(tmp_path, scenario)


# -- bridging channels of different calls ------------------------------------------------------


def test_two_calls_answered_by_pycc_are_bridged_then_unbridged(tmp_path: Path) -> None:
    """A service connects two calls it answered (a queued caller and an agent): each hears
    the other, packets are relayed when both use PCMU, keys cross, and after unbridging each
    call is back with its own service, which can play to it again."""
    waiting: asyncio.Queue[Channel] = asyncio.Queue()
    release = asyncio.Event()

    async def hold(channel: Channel) -> None:
        await waiting.put(channel)
        await release.wait()
        await channel.play("tone:beep")
        await channel.ended.wait()

    async def scenario(lab: Lab) -> None:
        lab.switch.add_application("7100", hold)
        lab.switch.add_application("7101", hold)
        caller_ua, caller = await lab.phone("1001")
        agent_ua, agent = await lab.phone("1002")
        await lab.call(caller_ua, caller, "7100")
        await lab.call(agent_ua, agent, "7101")
        first, second = await next_item(waiting), await next_item(waiting)
        caller.tone(700)
        agent.tone(1300)
        lab.engine.bridge(first, second)
        started = caller.now()
        heard_by_caller = await caller.hear(0.5, since=started + 0.2)
        heard_by_agent = await agent.hear(0.5, since=started + 0.2)
        assert_hears(heard_by_caller, [1300], [700])
        assert_hears(heard_by_agent, [700], [1300])
        # Same codec on both calls: the agent gets the caller's own packets (its SSRC).
        assert caller.ssrc in agent.ssrcs(started + 0.2)
        with pytest.raises(ValueError, match="already bridged"):
            lab.engine.bridge(first, second)
        await caller.press("4")
        assert await agent.next_digits(1) == ["4"]
        lab.engine.unbridge(first)
        release.set()
        after = caller.now()
        beep = await caller.hear(0.15, since=after + 0.05)
        assert level_dbfs(beep) > -40  # its own service plays to it again
        await agent.quiet(0.3)  # the caller is no longer heard: nothing comes any more
        assert caller.ssrc not in agent.ssrcs(after + 0.5)

    run(tmp_path, scenario)
