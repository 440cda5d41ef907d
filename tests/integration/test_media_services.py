"""pycc's media services with real peers: conference, call recording, G.729 and DTMF forms.

Every test runs ``pycc serve`` as an operator does (or, where only a developer's hook can
observe the outcome, an embedded :class:`pycc.switch.Switch`) and talks to it with baresip
phones, SIPp and a small Python G.729 phone. Each phone says its own tone and records what it
hears, so every assertion is on the audio that really crossed pycc.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
import signal
import socket
import subprocess
import time
import tomllib
import wave
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from peers.audio import active_seconds, dominant_frequency, tone_energy_ratio, tone_present
from peers.baresip import BaresipPhone, start_baresip
from peers.net import LOOPBACK, free_port
from peers.process import wait_until
from peers.pycc_server import PYCC, PyccServer, log_size, run_cli, wait_serving
from peers.rawsip import ThreadedSwitch, prepare_data_dir, switch_config
from peers.sipp import SipAccount, run_sipp, scenario, start_sipp_uas, write_credentials
from pycc.codecs.registry import default_registry
from pycc.dsp.tones import dtmf_sequence
from pycc.media.channel import Channel
from pycc.rtp.packet import RtpPacket, parse_rtp
from pycc.sdp.session import SessionDescription
from pycc.sip.address import Address
from pycc.store import Store, make_url
from pycc.store.models import CallRecord
from pycc.ua import UserAgent

pytestmark = pytest.mark.peer

PASSWORDS = {ext: f"secret{ext}" for ext in ("1001", "1002", "1003", "1004")}
RTP_PORT_COUNT = 40
#: How long the parties of a two-party call talk: long enough for jitter buffers to fill and
#: each tone to dominate its recording.
TALK_SECONDS = 2.5
#: How long a recorded call lasts before its caller hangs up (or pycc is killed).
RECORDED_SECONDS = 3.0
#: The RFC 4733 captures SIPp's package ships.
SIPP_CAPTURES = Path("/usr/share/sip-tester")


# -- pycc serve with a chosen pycc.toml ------------------------------------------------------

def serve_pycc(
    workdir: Path,
    *,
    rtp_ports: range,
    applications: Mapping[str, str] | None = None,
    record_calls: bool = False,
    users: Sequence[str] = tuple(PASSWORDS),
) -> PyccServer:
    """``pycc init``, then set ``record_calls`` and the ``[applications]`` table in the
    pycc.toml it wrote, add ``users`` and start ``pycc serve`` on free ports with
    ``rtp_ports`` for media.

    (``start_pycc``'s ``config`` appends ``key = value`` lines at the end of the file, which
    now lands them inside the ``[applications]`` table that ``pycc init`` writes last.)
    """
    data_dir = workdir / "data"
    done = run_cli(["init", "--data-dir", str(data_dir)])
    assert done.returncode == 0, done.stderr
    toml = data_dir / "pycc.toml"
    text = toml.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^record_calls = \w+$",
                          f"record_calls = {'true' if record_calls else 'false'}", text)
    assert count == 1, text
    head, table, _ = text.partition("[applications]\n")
    assert table, text
    entries = "".join(f'"{number}" = "{spec}"\n' for number, spec in (applications or {}).items())
    toml.write_text(head + table + entries, encoding="utf-8")
    settings = tomllib.loads(toml.read_text(encoding="utf-8"))
    assert settings["record_calls"] is record_calls
    assert settings["applications"] == dict(applications or {})
    # The extensions go straight into the database: a ``pycc user add`` per user would cost
    # a second each.
    with Store(make_url(data_dir, None)) as store:
        for user in users:
            store.add_extension("default", user, PASSWORDS[user])
    sip_port = free_port("both")
    sips_port = free_port("tcp")
    log_path = workdir / "pycc.log"
    argv = [*PYCC, "serve", "--http-port", "0", "--data-dir", str(data_dir), "--bind", LOOPBACK,
            "--sip-port", str(sip_port), "--sips-port", str(sips_port),
            "--rtp-ports", f"{rtp_ports[0]}-{rtp_ports[-1]}"]
    since = log_size(log_path)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = PyccServer(data_dir, sip_port, sips_port, proc, log_path)
    wait_serving(server, since)
    return server


@pytest.fixture
def rtp_ports() -> range:
    """A block of free UDP ports for pycc's media, so a parallel pycc cannot take them."""
    first = free_port("udp", count=RTP_PORT_COUNT)
    return range(first, first + RTP_PORT_COUNT)


def phone(server: PyccServer, workdir: Path, user: str, **options: object) -> BaresipPhone:
    """A baresip phone registered to ``server`` as ``user``, tracing SIP."""
    return start_baresip(workdir, sip_user=user, password=PASSWORDS[user],
                         registrar_port=server.sip_port, sip_trace=True,
                         **options)  # type: ignore[arg-type]


def call_records(server: PyccServer | Path, count: int = 1,
                 timeout: float = 10.0) -> list[CallRecord]:
    """The call records pycc wrote, once there are ``count`` (read from its database: the
    media columns and the recording are not in ``pycc report cdr``)."""
    data_dir = server.data_dir if isinstance(server, PyccServer) else server
    found: list[CallRecord] = []

    def written() -> bool:
        nonlocal found
        with Store(make_url(data_dir, None)) as store:
            found = store.list_call_records("default")
        return len(found) >= count

    log = server.log() if isinstance(server, PyccServer) else ""
    assert wait_until(written, timeout, interval=0.2), f"{len(found)} call records\n{log}"
    return found


# -- WAV analysis ------------------------------------------------------------------------------

def write_mono_wav(path: Path, pcm: npt.NDArray[np.int16], rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


def split_stereo(path: Path, workdir: Path) -> tuple[Path, Path, int, float]:
    """A stereo 16-bit WAV as two mono WAVs (left, right), its rate and its length (s).

    Python's ``wave`` reads it, so its RIFF header must describe its data."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2), (
            wav.getnchannels(), wav.getsampwidth())
        rate = wav.getframerate()
        frames = wav.getnframes()
        raw = wav.readframes(frames)
    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, 2)
    assert len(pcm) == frames
    left = write_mono_wav(workdir / f"{path.stem}-left.wav", pcm[:, 0], rate)
    right = write_mono_wav(workdir / f"{path.stem}-right.wav", pcm[:, 1], rate)
    return left, right, rate, frames / rate


def assert_pyav_reads(path: Path, rate: int, seconds: float) -> None:
    """PyAV (FFmpeg) decodes the recording as stereo at ``rate``, ``seconds`` long."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        channels, found_rate = stream.channels, stream.rate
        samples = sum(frame.samples for frame in container.decode(stream))
    assert (channels, found_rate) == (2, rate), (channels, found_rate)
    assert abs(samples / rate - seconds) < 0.03, (samples / rate, seconds)


def assert_channel_holds(path: Path, tone: float, other: float) -> None:
    """``path`` (one recording channel) carries ``tone`` and next to nothing of ``other``."""
    found = (f"{path.name}: {dominant_frequency(path):.0f} Hz for {active_seconds(path):.2f} s,"
             f" {tone_energy_ratio(path, tone):.3f} of the energy at {tone:g} Hz,"
             f" {tone_energy_ratio(path, other):.5f} at {other:g} Hz")
    assert tone_present(path, tone, min_energy_ratio=0.8), found
    assert tone_energy_ratio(path, other) < 0.01, found


# -- 1: a conference of three phones with three codecs ----------------------------------------

CONFERENCE = "8000"
#: extension -> (the one codec its phone offers, the tone it says, what baresip decodes)
PARTICIPANTS = {
    "1001": ("opus", 500.0, ("opus", 48000, 2)),
    "1002": ("g722", 800.0, ("G722", 16000, 1)),
    "1003": ("pcmu", 1100.0, ("PCMU", 8000, 1)),
}
CONFERENCE_CODECS = {"1001": "opus/48000", "1002": "G722/8000", "1003": "PCMU/8000"}


def test_conference_each_hears_the_others_and_not_itself(
    tmp_path: Path, rtp_ports: range
) -> None:
    """Three phones with three codecs call 8000 (conference:main); each hears the two other
    tones, each at about the same share, and its own tone is at least 20 dB below them."""
    phones: dict[str, BaresipPhone] = {}
    heard = {user: tmp_path / f"heard-by-{user}.wav" for user in PARTICIPANTS}
    with serve_pycc(tmp_path, rtp_ports=rtp_ports,
                    applications={CONFERENCE: "conference:main"}) as server:
        try:
            for user, (codec, tone, _decoder) in PARTICIPANTS.items():
                phones[user] = phone(server, tmp_path, user, codecs=(codec,), tone_hz=tone,
                                     auto_answer=False, record_wav=heard[user])
            for p in phones.values():
                p.dial(CONFERENCE)
                p.wait_event("CALL_ESTABLISHED", timeout=15)
            # Everyone talks at once for long enough to dominate what came before.
            time.sleep(TALK_SECONDS + 1.0)
            for p in phones.values():
                p.hangup()
                p.wait_event("CALL_CLOSED", timeout=15)
        finally:
            for p in phones.values():
                p.stop()
        records = call_records(server, len(PARTICIPANTS))
    for user, p in phones.items():
        assert set(p.audio_decoders()) == {PARTICIPANTS[user][2]}, (user, p.audio_decoders())
    by_caller = {r.caller: r for r in records}
    assert set(by_caller) == set(PARTICIPANTS), records
    for record in records:
        assert record.callee == CONFERENCE and record.disposition == "answered", record
    for user, (_codec, own, _decoder) in PARTICIPANTS.items():
        shares = {tone: tone_energy_ratio(heard[user], tone)
                  for _c, tone, _d in PARTICIPANTS.values()}
        others = [share for tone, share in shares.items() if tone != own]
        found = f"{user} (says {own:g} Hz) heard {shares}"
        # Two equal tones: each near half the energy (the join tones take a little).
        assert all(0.3 < share < 0.7 for share in others), found
        # The three tones are equally spaced, so a codec's third-order intermodulation of the
        # two others lands exactly on the own one (2 x 800 - 1100 = 500): it may be there,
        # 30 dB down, but the own voice sent back would be as loud as the others.
        assert shares[own] < 0.01 * min(others), found
    # pycc anchored each caller's media itself: its record says which codec it used.
    codecs = {user: by_caller[user].codec_caller for user in PARTICIPANTS}
    assert codecs == CONFERENCE_CODECS, f"codecs in the call records: {codecs}\n{records}"


# -- 2: every answered call recorded, even when pycc is killed ---------------------------------

@contextlib.contextmanager
def recorded_call(server: PyccServer, workdir: Path) -> Iterator[tuple[BaresipPhone,
                                                                     BaresipPhone, float]]:
    """1001 (1 kHz, PCMU) calls 1002 (400 Hz, PCMU, answers at once); yields both phones and
    the time (monotonic) the call was established. The phones stop after the block."""
    with phone(server, workdir, "1002", codecs=("pcmu",), tone_hz=400,
               auto_answer=True) as callee, \
            phone(server, workdir, "1001", codecs=("pcmu",), tone_hz=1000,
                  auto_answer=False) as caller:
        caller.dial("1002")
        caller.wait_event("CALL_ESTABLISHED", timeout=15)
        established = time.monotonic()
        callee.wait_event("CALL_ESTABLISHED", timeout=15)
        yield caller, callee, established


def test_answered_call_is_recorded_in_stereo(tmp_path: Path, rtp_ports: range) -> None:
    """With ``record_calls``, a call's record names a WAV that ``wave`` and PyAV read: stereo,
    the caller's 1 kHz on the left, the callee's 400 Hz on the right, as long as the call."""
    with serve_pycc(tmp_path, rtp_ports=rtp_ports, record_calls=True) as server:
        with recorded_call(server, tmp_path) as (caller, callee, established):
            time.sleep(RECORDED_SECONDS)
            caller.hangup()
            talked = time.monotonic() - established
            callee.wait_event("CALL_CLOSED", timeout=15)
        (record,) = call_records(server)
        log = server.log()
    assert record.disposition == "answered" and (record.caller, record.callee) == (
        "1001", "1002"), record
    assert record.recording, f"the call record names no recording: {record}\n{log}"
    path = server.data_dir / "recordings" / record.recording
    assert path.is_file(), (path, sorted(server.data_dir.rglob("*")))
    left, right, rate, seconds = split_stereo(path, tmp_path)
    assert rate in (8000, 16000, 48000), rate
    assert_pyav_reads(path, rate, seconds)
    assert_channel_holds(left, 1000, 400)
    assert_channel_holds(right, 400, 1000)
    assert abs(seconds - record.duration) <= 1.0, (seconds, record.duration)
    assert abs(seconds - talked) <= 1.0, (seconds, talked)
    # Both parties talked throughout: neither channel has more than a moment of silence.
    assert min(active_seconds(left), active_seconds(right)) > seconds - 0.5, seconds


def test_recording_survives_sigkill(tmp_path: Path, rtp_ports: range) -> None:
    """``pycc serve`` killed with SIGKILL in the middle of a recorded call leaves a valid WAV
    that holds both parties up to about the kill (its header is rewritten every second)."""
    with serve_pycc(tmp_path, rtp_ports=rtp_ports, record_calls=True) as server:
        with recorded_call(server, tmp_path) as (caller, callee, established):
            time.sleep(RECORDED_SECONDS)
            server.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic() - established
            server.proc.wait(10)
            # Nobody would answer their BYE and de-registration: stop the phones at once.
            for p in (caller, callee):
                p.process.kill()
                p.process.wait(5)
                p.stop()
        log = server.log()
    found = sorted((server.data_dir / "recordings").rglob("*.wav"))
    assert len(found) == 1, (found, log)
    left, right, rate, seconds = split_stereo(found[0], tmp_path)
    assert_pyav_reads(found[0], rate, seconds)
    assert_channel_holds(left, 1000, 400)
    assert_channel_holds(right, 400, 1000)
    # The header lags the data by at most its rewrite interval (1 s) and the frames batched
    # for the writer thread: the file describes the call up to about a second before the kill.
    assert killed - 1.6 <= seconds <= killed + 0.2, (seconds, killed)
    # ... and both parties are in it up to its end, not silence after the last flush.
    assert min(active_seconds(left), active_seconds(right)) > seconds - 0.5, seconds


# -- 3: a G.729 caller -----------------------------------------------------------------------

class RtpPhone:
    """The media half of a Python phone: one codec at 8 kHz, 20 ms packets.

    It sends a given PCM signal (then silence) encoded with ``encoding`` as payload type
    ``payload_type`` to pycc, and keeps every packet pycc sends back; :meth:`heard` decodes
    them. Its offer names that codec only, and ``telephone-event/8000`` when ``events``.
    """

    def __init__(self, encoding: str, payload_type: int, *, events: bool) -> None:
        self.codec = default_registry().find(encoding, 8000)
        self.payload_type = payload_type
        self.events = events
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port: int = self.sock.getsockname()[1]
        self.received: list[RtpPacket] = []
        self.sent = 0

    def close(self) -> None:
        self.sock.close()

    def offer(self) -> bytes:
        spec = self.codec.spec
        formats = f"{self.payload_type}" + (" 101" if self.events else "")
        lines = [
            "v=0", f"o=pytest 1 1 IN IP4 {LOOPBACK}", "s=-", f"c=IN IP4 {LOOPBACK}", "t=0 0",
            f"m=audio {self.port} RTP/AVP {formats}",
            f"a=rtpmap:{self.payload_type} {spec.name}/{spec.clock_rate}",
        ]
        if spec.name.upper() == "G729":
            lines.append(f"a=fmtp:{self.payload_type} annexb=no")
        if self.events:
            lines += ["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]
        lines += ["a=ptime:20", "a=sendrecv"]
        return ("\r\n".join(lines) + "\r\n").encode()

    def exchange(self, remote: tuple[str, int], pcm: npt.NDArray[np.int16],
                 seconds: float) -> None:
        """Send ``pcm`` (padded with silence) in real time for ``seconds``, receiving all the
        while."""
        frame = 160
        count = round(seconds / 0.02)
        padded = np.zeros(count * frame, dtype=np.int16)
        padded[: min(len(pcm), len(padded))] = pcm[: len(padded)]
        encoder = self.codec.encoder(20)
        payloads = [encoder.encode(padded[i * frame:(i + 1) * frame]) for i in range(count)]
        ssrc, seq0, ts0 = 0x5EED729, 1000, 160000
        start = time.monotonic()
        while self.sent < count or time.monotonic() < start + seconds + 0.3:
            due = start + self.sent * 0.02
            wait = max(0.0, due - time.monotonic()) if self.sent < count else 0.05
            readable, _, _ = select.select([self.sock], [], [], wait)
            if readable:
                data = self.sock.recv(2048)
                with contextlib.suppress(ValueError):
                    self.received.append(parse_rtp(data))
            if self.sent < count and time.monotonic() >= due:
                packet = RtpPacket(self.payload_type, (seq0 + self.sent) & 0xFFFF,
                                   ts0 + frame * self.sent, ssrc, payloads[self.sent],
                                   marker=self.sent == 0)
                self.sock.sendto(packet.serialize(), remote)
                self.sent += 1

    def heard(self, path: Path) -> Path:
        """pycc's packets in our payload type, decoded in sequence order, as a WAV."""
        decoder = self.codec.decoder()
        audio = sorted((p for p in self.received if p.payload_type == self.payload_type),
                       key=lambda p: p.sequence)
        pcm = [decoder.decode(p.payload) for p in audio]
        return write_mono_wav(path, np.concatenate(pcm) if pcm else np.zeros(0, np.int16),
                              8000)


def media_address(sdp: bytes) -> tuple[str, int]:
    """Where an SDP body's first audio stream wants its RTP."""
    description = SessionDescription.parse(sdp)
    audio = next(m for m in description.media if m.media == "audio")
    connection = description.media_connection(audio)
    assert connection is not None, sdp
    return connection.address, audio.port


def python_call(server: Address, user: str, target: str, media: RtpPhone,
                pcm: npt.NDArray[np.int16], seconds: float) -> bytes:
    """``user`` (a pycc.ua.UserAgent) calls ``target`` with ``media``'s offer, exchanges
    ``pcm`` for ``seconds`` and hangs up; returns pycc's SDP answer."""

    async def run() -> bytes:
        async with UserAgent(user, PASSWORDS[user], server=server) as ua:
            await ua.register()
            call = await ua.call(target, sdp=media.offer(), timeout=15)
            assert call.remote_sdp, "no SDP in the answer"
            await asyncio.to_thread(media.exchange, media_address(call.remote_sdp), pcm,
                                    seconds)
            await call.hangup()
            return call.remote_sdp

    return asyncio.run(run())


def sine(freq: float, seconds: float, rate: int = 8000) -> npt.NDArray[np.int16]:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_g729_caller_talks_to_pcmu_phone(tmp_path: Path, rtp_ports: range) -> None:
    """A phone that speaks only G.729 (1 kHz) calls a PCMU-only baresip (400 Hz): pycc
    transcodes both ways, so baresip hears 1 kHz as PCMU and the G.729 phone gets G.729
    packets that decode to 400 Hz."""
    media = RtpPhone("G729", 18, events=True)
    heard_by_callee = tmp_path / "heard-by-1002.wav"
    try:
        with serve_pycc(tmp_path, rtp_ports=rtp_ports) as server:
            with phone(server, tmp_path, "1002", codecs=("pcmu",), tone_hz=400,
                       auto_answer=True, record_wav=heard_by_callee) as callee:
                answer = python_call(Address("udp", LOOPBACK, server.sip_port), "1003",
                                     "1002", media, sine(1000, TALK_SECONDS), TALK_SECONDS)
                callee.wait_event("CALL_CLOSED", timeout=15)
            (record,) = call_records(server)
            log = server.log()
    finally:
        media.close()
    # pycc answered the G.729 offer with G.729 (and events), nothing else.
    description = SessionDescription.parse(answer)
    codecs = {f"{c.encoding}/{c.clock_rate}".upper() for c in description.media[0].codecs()}
    assert codecs == {"G729/8000", "TELEPHONE-EVENT/8000"}, answer.decode()
    assert set(callee.audio_decoders()) == {("PCMU", 8000, 1)}
    found = f"1002 heard {dominant_frequency(heard_by_callee):.0f} Hz\n{log}"
    assert tone_present(heard_by_callee, 1000), found
    assert active_seconds(heard_by_callee) > TALK_SECONDS - 1.0, found
    # What came back is G.729 in 20 ms packets (two 10-byte frames), and it is the 400 Hz.
    kinds = Counter(p.payload_type for p in media.received)
    audio = [p for p in media.received if p.payload_type == 18]
    assert kinds.keys() <= {18, 101} and len(audio) >= 0.8 * TALK_SECONDS / 0.02, kinds
    assert {len(p.payload) for p in audio} == {20}, Counter(len(p.payload) for p in audio)
    heard_by_caller = media.heard(tmp_path / "heard-by-1003.wav")
    found = f"1003 heard {dominant_frequency(heard_by_caller):.0f} Hz\n{log}"
    assert tone_present(heard_by_caller, 400), found
    assert active_seconds(heard_by_caller) > TALK_SECONDS - 1.0, found
    assert (record.caller, record.callee, record.disposition) == ("1003", "1002", "answered")
    assert (record.codec_caller, record.codec_callee) == ("G729/8000", "PCMU/8000"), record
    assert record.media_path == "transcode", record


# -- 4: keys in every form ---------------------------------------------------------------------

def test_rfc4733_capture_from_sipp_reaches_baresip_once(
    tmp_path: Path, rtp_ports: range
) -> None:
    """SIPp (1003) calls baresip (1002) and replays sip-tester's RFC 4733 captures of 1, 2, 3
    and # (each event's end packet three times): baresip reports each key exactly once."""
    captures = [SIPP_CAPTURES / f"dtmf_2833_{name}.pcap" for name in ("1", "2", "3", "pound")]
    missing = [c for c in captures if not c.is_file()]
    assert not missing, f"SIPp's RFC 4733 captures are missing: {missing}"
    inf = write_credentials(tmp_path / "caller.csv", [("1003", PASSWORDS["1003"])])
    with serve_pycc(tmp_path, rtp_ports=rtp_ports) as server:
        with phone(server, tmp_path, "1002", codecs=("pcmu",), tone_hz=400,
                   auto_answer=True) as callee:
            result = run_sipp(scenario("uac_call_dtmf_pcap"), server.address, service="1002",
                              inf_file=inf, calls=1, timeout=30, workdir=tmp_path / "sipp",
                              extra_args=["-mp", str(free_port("udp", count=4))])
            assert result.ok and result.successful == 1, result.describe()
            callee.wait_event("CALL_CLOSED", timeout=15)
        (record,) = call_records(server)
    # Each key's start once, though its end packet came three times. (baresip reports a key's
    # end when its jitter buffer lets the end packet go, which takes a later packet: the last
    # key's end, with nothing after it, is not reported.)
    keys = [(e.type, e.param) for e in callee.events if e.type.startswith("CALL_DTMF")]
    assert callee.received_digits() == "123#", keys
    assert (record.caller, record.callee, record.disposition) == ("1003", "1002", "answered")
    assert record.media_path == "relay", record


def info_digits(messages: str) -> list[str]:
    """The keys of the ``application/dtmf-relay`` INFO requests in a SIPp message log."""
    return re.findall(r"(?m)^\s*Signal\s*=\s*(\S+)\s*$", messages)


def test_keys_reach_callee_without_events_as_info(tmp_path: Path, rtp_ports: range) -> None:
    """baresip (1001) sends RFC 4733 keys to a callee whose answer has no telephone-event
    (SIPp, 1002): pycc passes each key on as one SIP INFO (application/dtmf-relay).

    (baresip itself cannot be that callee: it offers and answers telephone-event always.)
    """
    with serve_pycc(tmp_path, rtp_ports=rtp_ports) as server:
        account = SipAccount("1002", PASSWORDS["1002"], server.address)
        with start_sipp_uas(scenario("uas_answer_info_dtmf"), account=account,
                            workdir=tmp_path / "sipp", timeout=40,
                            extra_args=["-mp", str(free_port("udp", count=4))]) as callee, \
                phone(server, tmp_path, "1001", codecs=("pcmu",), tone_hz=1000,
                      auto_answer=False) as caller:
            caller.dial("1002")
            caller.wait_event("CALL_ESTABLISHED", timeout=15)
            # pycc's answer to baresip has telephone-events, so baresip sends RFC 4733. (The
            # trace of the SDP may reach baresip's log a moment after the call is up.)
            deadline = time.monotonic() + 5.0
            while True:
                answer = [line for line in caller.lines if line.startswith("a=rtpmap:")]
                if any("telephone-event/8000" in line for line in answer) \
                        or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert any("telephone-event/8000" in line for line in answer), answer
            caller.send_digits("159#")
            time.sleep(TALK_SECONDS)
            caller.hangup()
            caller.wait_event("CALL_CLOSED", timeout=15)
            result = callee.wait(15)
        (record,) = call_records(server)
    assert result.ok, result.describe()
    messages = (result.workdir / "messages.log").read_text(errors="replace")
    assert info_digits(messages) == ["1", "5", "9", "#"], messages
    assert (record.caller, record.callee, record.disposition) == ("1001", "1002", "answered")


# Keys sent as tones are seen only inside pycc: by an application's channel, or by the
# B2BUA's ``dtmf_listeners`` hook. Neither is reachable in ``pycc serve``, so these tests
# embed a Switch (on its own loop in a thread) and talk to it with real phones.

KEYS = "159#"


def dtmf_pcm(keys: str = KEYS) -> npt.NDArray[np.int16]:
    """``keys`` as Q.23 tones (200 ms on, 150 ms off, a person's key press) after 0.5 s of
    silence, at 8 kHz.

    Tones of 100 ms were lost now and then on a loaded machine: the caller's sender shares the
    test process with pycc, and a 80 ms stall of either made pycc's playout drop most of a
    tone (the jitter buffer skips what is too late to play, as it should)."""
    return np.concatenate([np.zeros(4000, dtype=np.int16), dtmf_sequence(keys, 200, 150)])


def dtmf_wav(path: Path, keys: str = KEYS) -> Path:
    """:func:`dtmf_pcm` as a WAV for baresip, 1.5 s more silence before it and 10 s after it
    (baresip hangs up when its audio file ends). baresip plays from the moment the call is
    answered, and on a loaded run the application began listening more than 0.5 s later:
    the first key's tone was gone before it."""
    pcm = np.concatenate([np.zeros(12000, dtype=np.int16), dtmf_pcm(keys),
                          np.zeros(80000, dtype=np.int16)])
    return write_mono_wav(path, pcm, 8000)


@contextlib.contextmanager
def embedded_switch(workdir: Path, rtp_ports: range,
                    applications: Mapping[str, str]) -> Iterator[ThreadedSwitch]:
    data_dir = workdir / "data"
    prepare_data_dir(data_dir, list(PASSWORDS.items()))
    config = switch_config(data_dir, rtp_ports=f"{rtp_ports[0]}-{rtp_ports[-1]}",
                           applications=dict(applications))
    threaded = ThreadedSwitch(config).start()
    try:
        yield threaded
    finally:
        threaded.stop()


def test_tones_from_baresip_are_keys_for_an_application(
    tmp_path: Path, rtp_ports: range
) -> None:
    """baresip (PCMU) plays the tones of 1, 5, 9, # into an application that listens for
    tones on its channel and collects keys up to #: it gets "159", and hangs up."""
    collected: list[str] = []

    async def collect_keys(channel: Channel) -> None:
        channel.listen_for_tones(lambda heard_on, key: heard_on.press(key))
        collected.append(await channel.collect(8, timeout=10, inter_digit=3))

    with embedded_switch(tmp_path, rtp_ports, {}) as threaded:
        threaded.run(lambda: threaded.switch.add_application("7000", collect_keys))
        port = threaded.udp[1]
        with start_baresip(tmp_path, sip_user="1001", password=PASSWORDS["1001"],
                           registrar_port=port, codecs=("pcmu",), auto_answer=False,
                           audio_source_wav=dtmf_wav(tmp_path / "keys.wav")) as caller:
            caller.dial("7000")
            caller.wait_event("CALL_ESTABLISHED", timeout=15)
            # The application hangs up once it has the keys.
            caller.wait_event("CALL_CLOSED", timeout=15)
    assert collected == [KEYS.rstrip("#")], collected


@pytest.mark.parametrize(
    ("target", "callee_codecs"),
    [
        pytest.param("9196", None, id="echo-application"),
        pytest.param("1002", ("g722",), id="transcoded-call"),
    ],
)
def test_tones_from_party_without_events_reach_the_key_hook(
    tmp_path: Path, rtp_ports: range, target: str, callee_codecs: tuple[str, ...] | None
) -> None:
    """A PCMU phone that negotiated no telephone-events plays the tones of 1, 5, 9, # into
    pycc, which decodes its audio (the echo application; a call transcoded to a G.722
    baresip): the B2BUA's key hook hears each key once, as "inband", from the caller."""
    keys: list[tuple[str, str, str]] = []

    def on_key(_call: object, party: str, digit: str, form: str) -> None:
        keys.append((party, digit, form))

    media = RtpPhone("PCMU", 0, events=False)
    try:
        with embedded_switch(tmp_path, rtp_ports, {"9196": "echo"}) as threaded, \
                contextlib.ExitStack() as stack:
            b2bua = threaded.switch.b2bua
            assert b2bua is not None
            threaded.run(lambda: b2bua.dtmf_listeners.append(on_key))
            if callee_codecs is not None:
                stack.enter_context(start_baresip(
                    tmp_path, sip_user="1002", password=PASSWORDS["1002"],
                    registrar_port=threaded.udp[1], codecs=callee_codecs, tone_hz=400,
                    auto_answer=True))
            python_call(Address("udp", *threaded.udp), "1003", target, media, dtmf_pcm(),
                        TALK_SECONDS)
        (record,) = call_records(tmp_path / "data")
    finally:
        media.close()
    assert keys == [("a", key, "inband") for key in KEYS], keys
    assert (record.caller, record.callee, record.disposition) == ("1003", target, "answered")
    if callee_codecs is not None:
        assert record.media_path == "transcode", record
