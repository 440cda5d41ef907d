"""Two baresip phones call each other through ``pycc serve``, which anchors their media.

pycc rewrites both SDP bodies so that each phone sends its RTP to pycc's own ports (a range
given with ``--rtp-ports``), then relays packets when both phones settled on the same codec and
transcodes (decode, resample, encode) when they did not. Phone A (1001) says 1 kHz, phone B
(1002) 400 Hz; each records what it hears, and the recording must carry the other's tone, loud
and long enough not to be silence. baresip's own log says which codec each phone decoded and
whether its stream went secure, and the SDP it traced says where it sent its media; pycc's call
record says what pycc saw: the codec of each party, relay or transcode, and MOS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from peers.audio import (
    active_part,
    active_seconds,
    dominant_frequency,
    read_wav,
    tone_present,
    wav_format,
)
from peers.baresip import BaresipPhone, SrtpMode, start_baresip
from peers.net import free_port
from peers.process import wait_until
from peers.pycc_server import PyccServer, start_pycc
from pycc.store import Store, make_url
from pycc.store.models import CallRecord

pytestmark = pytest.mark.peer

USERS = [("1001", "secret1001"), ("1002", "secret1002")]
# Long enough for both jitter buffers to fill and the tone to dominate each recording.
TALK_SECONDS = 2.0
RTP_PORT_COUNT = 16

PCMU = ("PCMU", 8000, 1)
PCMA = ("PCMA", 8000, 1)
G722 = ("G722", 16000, 1)
OPUS = ("opus", 48000, 2)


@dataclass
class AnchoredCall:
    """The outcome of one call through pycc: both phones (stopped), what each heard, and
    pycc's record of the call."""

    server: PyccServer
    rtp_ports: range
    caller: BaresipPhone
    callee: BaresipPhone
    heard_by_caller: Path
    heard_by_callee: Path
    record: CallRecord | None = None


@pytest.fixture
def rtp_ports() -> range:
    """A block of free UDP ports for pycc's media, so a parallel pycc cannot take them."""
    first = free_port("udp", count=RTP_PORT_COUNT)
    return range(first, first + RTP_PORT_COUNT)


@pytest.fixture
def pycc(tmp_path: Path, rtp_ports: range) -> Iterator[PyccServer]:
    server = start_pycc(
        tmp_path, USERS, serve_args=["--rtp-ports", f"{rtp_ports[0]}-{rtp_ports[-1]}"]
    )
    yield server
    server.stop()


def call_record(server: PyccServer, timeout: float = 10.0) -> CallRecord:
    """The one call record pycc wrote (read from its database, which has the media columns
    ``pycc report cdr`` does not show)."""
    found: list[CallRecord] = []

    def written() -> bool:
        nonlocal found
        with Store(make_url(server.data_dir, None)) as store:
            found = store.list_call_records()
        return bool(found)

    if not wait_until(written, timeout, interval=0.2):
        raise AssertionError(f"pycc wrote no call record; its log:\n{server.log()}")
    assert len(found) == 1, found
    return found[0]


@contextmanager
def anchored_call(
    server: PyccServer,
    tmp_path: Path,
    rtp_ports: range,
    *,
    caller_codecs: Sequence[str],
    callee_codecs: Sequence[str],
    caller_srtp: SrtpMode = None,
    callee_srtp: SrtpMode = None,
) -> Iterator[AnchoredCall]:
    """1001 (1 kHz) calls 1002 (400 Hz, answers at once) through pycc over UDP.

    Yields once both phones report the call established; after the block 1001 hangs up, both
    phones stop (which copies their recordings) and the record is read.
    """
    callee = start_baresip(
        tmp_path, sip_user="1002", password="secret1002", registrar_port=server.sip_port,
        codecs=callee_codecs, srtp=callee_srtp, tone_hz=400, auto_answer=True,
        record_wav=tmp_path / "heard-by-1002.wav", sip_trace=True,
    )
    with callee:
        caller = start_baresip(
            tmp_path, sip_user="1001", password="secret1001", registrar_port=server.sip_port,
            codecs=caller_codecs, srtp=caller_srtp, tone_hz=1000, auto_answer=False,
            record_wav=tmp_path / "heard-by-1001.wav", sip_trace=True,
        )
        with caller:
            call = AnchoredCall(server, rtp_ports, caller, callee,
                                tmp_path / "heard-by-1001.wav", tmp_path / "heard-by-1002.wav")
            caller.dial("1002")
            caller.wait_event("CALL_ESTABLISHED", timeout=15)
            callee.wait_event("CALL_ESTABLISHED", timeout=15)
            yield call
            caller.hangup()
            callee.wait_event("CALL_CLOSED", timeout=15)
    call.record = call_record(server)


def sdp_media_ports(phone: BaresipPhone) -> set[int]:
    """The ports of every ``m=audio`` line the phone traced (its own and the far end's)."""
    return {int(m[1]) for line in phone.lines if (m := re.match(r"m=audio (\d+) ", line))}


def sdp_media_section(phone: BaresipPhone, port: int) -> list[str]:
    """The first traced ``m=audio`` section with ``port``: its m= line and its attributes."""
    lines = phone.lines
    start = next(i for i, line in enumerate(lines) if line.startswith(f"m=audio {port} "))
    section = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("a="):
            break
        section.append(line)
    return section


def rtp_sources(phone: BaresipPhone) -> set[int]:
    """The source ports baresip saw its incoming RTP come from."""
    pattern = re.compile(r"incoming rtp for 'audio' established, receiving from [\d.]+:(\d+)")
    return {int(m[1]) for line in phone.lines if (m := pattern.search(line))}


def level(path: Path) -> float:
    """RMS of the recording's non-silent part (full scale 1.0; the tones are sent at 0.354)."""
    samples, rate = read_wav(path)
    active = active_part(samples, rate)
    return float(np.sqrt(np.mean(active**2))) if len(active) else 0.0


def assert_each_hears_the_other(call: AnchoredCall) -> None:
    """Each recording holds the other phone's tone, for more than a second, at about the
    level it was sent at (a transcoder that lost 10 dB, or mixed in noise, fails)."""
    for heard, tone, who in ((call.heard_by_callee, 1000, "1002"),
                             (call.heard_by_caller, 400, "1001")):
        found = (f"{who} heard {dominant_frequency(heard):.0f} Hz for "
                 f"{active_seconds(heard):.2f} s at RMS {level(heard):.3f}")
        assert tone_present(heard, tone), f"{found}\npycc:\n{call.server.log()}"
        assert active_seconds(heard) > 1.0, found
        assert 0.2 < level(heard) < 0.5, found


def assert_media_anchored(call: AnchoredCall) -> None:
    """Each phone was told to send to pycc and got its RTP from pycc: the far ``m=audio``
    port it saw and the source of what it received are pycc's ports, never the other
    phone's."""
    pycc_ports = set(call.rtp_ports)
    caller_ports, callee_ports = sdp_media_ports(call.caller), sdp_media_ports(call.callee)
    # Each phone traced its own description and pycc's: one port of each kind.
    assert len(caller_ports & pycc_ports) == 1, (caller_ports, call.rtp_ports)
    assert len(callee_ports & pycc_ports) == 1, (callee_ports, call.rtp_ports)
    assert not (caller_ports - pycc_ports) & (callee_ports - pycc_ports)
    assert rtp_sources(call.caller) == caller_ports & pycc_ports
    assert rtp_sources(call.callee) == callee_ports & pycc_ports


def assert_good_quality(record: CallRecord) -> None:
    """On loopback nothing is lost and delay is tiny: the E-model's MOS is the codec's best."""
    assert record.mos_caller is not None and 3.5 <= record.mos_caller <= 4.5, record
    assert record.mos_callee is not None and 3.5 <= record.mos_callee <= 4.5, record
    # Loopback loses nothing, but allow a packet or two dropped by a loaded machine.
    assert record.packets_lost_caller is not None and record.packets_lost_caller <= 2, record
    assert record.packets_lost_callee is not None and record.packets_lost_callee <= 2, record


def assert_answered(record: CallRecord | None) -> CallRecord:
    assert record is not None
    assert (record.caller, record.callee) == ("1001", "1002")
    assert record.disposition == "answered" and record.hangup_by == "caller"
    assert record.duration > 1.0
    return record


# -- 1, 4: one codec on both sides, relayed ------------------------------------------------

@pytest.mark.parametrize(
    ("codec", "decoder", "name"),
    [
        pytest.param("pcmu", PCMU, "PCMU/8000", id="pcmu"),
        pytest.param("opus", OPUS, "opus/48000", id="opus"),
    ],
)
def test_same_codec_is_relayed(
    pycc: PyccServer, tmp_path: Path, rtp_ports: range, codec: str,
    decoder: tuple[str, int, int], name: str,
) -> None:
    with anchored_call(pycc, tmp_path, rtp_ports, caller_codecs=(codec,),
                       callee_codecs=(codec,)) as call:
        time.sleep(TALK_SECONDS)
    assert set(call.caller.audio_decoders()) == {decoder}
    assert set(call.callee.audio_decoders()) == {decoder}
    assert_media_anchored(call)
    assert_each_hears_the_other(call)
    assert wav_format(call.heard_by_caller) == wav_format(call.heard_by_callee) == (
        decoder[1], decoder[2], 16)
    record = assert_answered(call.record)
    assert (record.codec_caller, record.codec_callee) == (name, name)
    assert record.media_path == "relay"
    assert_good_quality(record)


# -- 2, 3: different codecs, transcoded both ways --------------------------------------------

@pytest.mark.parametrize(
    ("caller_codec", "callee_codec", "caller_decoder", "callee_decoder", "names"),
    [
        pytest.param("opus", "pcmu", OPUS, PCMU, ("opus/48000", "PCMU/8000"), id="opus-pcmu"),
        pytest.param("g722", "pcma", G722, PCMA, ("G722/8000", "PCMA/8000"), id="g722-pcma"),
        pytest.param("pcma", "g722", PCMA, G722, ("PCMA/8000", "G722/8000"), id="pcma-g722"),
    ],
)
def test_different_codecs_are_transcoded(
    pycc: PyccServer, tmp_path: Path, rtp_ports: range, caller_codec: str, callee_codec: str,
    caller_decoder: tuple[str, int, int], callee_decoder: tuple[str, int, int],
    names: tuple[str, str],
) -> None:
    with anchored_call(pycc, tmp_path, rtp_ports, caller_codecs=(caller_codec,),
                       callee_codecs=(callee_codec,)) as call:
        time.sleep(TALK_SECONDS)
    # Each phone decoded its own codec and nothing else: pycc did the converting.
    assert set(call.caller.audio_decoders()) == {caller_decoder}
    assert set(call.callee.audio_decoders()) == {callee_decoder}
    assert wav_format(call.heard_by_caller) == (caller_decoder[1], caller_decoder[2], 16)
    assert wav_format(call.heard_by_callee) == (callee_decoder[1], callee_decoder[2], 16)
    assert_media_anchored(call)
    assert_each_hears_the_other(call)
    record = assert_answered(call.record)
    assert (record.codec_caller, record.codec_callee) == names
    assert record.media_path == "transcode"
    assert_good_quality(record)


# -- 5: an SRTP caller, and a callee with or without SRTP -------------------------------------

@pytest.mark.parametrize(
    ("callee_srtp", "callee_suites"),
    [
        pytest.param(None, [], id="plain-callee"),
        # baresip's "srtp" answers an RTP/AVP offer's keys: pycc's best-effort SRTP takes hold.
        pytest.param("srtp", ["AES_CM_128_HMAC_SHA1_80"], id="best-effort-srtp-callee"),
    ],
)
def test_srtp_caller(
    pycc: PyccServer, tmp_path: Path, rtp_ports: range, callee_srtp: SrtpMode,
    callee_suites: list[str],
) -> None:
    with anchored_call(pycc, tmp_path, rtp_ports, caller_codecs=("pcmu",),
                       callee_codecs=("pcmu",), caller_srtp="srtp-mand",
                       callee_srtp=callee_srtp) as call:
        time.sleep(TALK_SECONDS)
    # The caller's stream went secure with the one suite baresip offers.
    assert call.caller.srtp_suites() == ["AES_CM_128_HMAC_SHA1_80"]
    assert call.callee.srtp_suites() == callee_suites
    caller_m = [line for line in call.caller.lines if line.startswith("m=audio ")]
    callee_m = [line for line in call.callee.lines if line.startswith("m=audio ")]
    assert len(caller_m) >= 2 and all(" RTP/SAVP " in line for line in caller_m), caller_m
    assert len(callee_m) >= 2 and all(" RTP/AVP " in line for line in callee_m), callee_m
    # The caller's offer and pycc's answer each carry one key of that suite and tag, and
    # they differ: pycc answered with a key of its own (RFC 4568 section 6.1).
    caller_keys = {line for line in call.caller.lines if line.startswith("a=crypto:")}
    assert len(caller_keys) == 2, caller_keys
    assert all(k.startswith("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") for k in caller_keys)
    # pycc offered the callee keys of its own (best-effort SRTP), never the caller's.
    callee_keys = {line for line in call.callee.lines if line.startswith("a=crypto:")}
    assert callee_keys and not callee_keys & caller_keys, callee_keys
    assert_media_anchored(call)
    assert_each_hears_the_other(call)
    record = assert_answered(call.record)
    assert (record.codec_caller, record.codec_callee) == ("PCMU/8000", "PCMU/8000")
    assert record.media_path == "relay"
    assert_good_quality(record)


# -- 6: RFC 4733 digits through pycc -----------------------------------------------------------

@pytest.mark.parametrize(
    ("caller_codec", "callee_codec", "media_path"),
    [
        pytest.param("pcmu", "pcmu", "relay", id="relay"),
        pytest.param("opus", "pcmu", "transcode", id="transcode"),
    ],
)
def test_dtmf_digits_arrive_once(
    pycc: PyccServer, tmp_path: Path, rtp_ports: range, caller_codec: str, callee_codec: str,
    media_path: str,
) -> None:
    with anchored_call(pycc, tmp_path, rtp_ports, caller_codecs=(caller_codec,),
                       callee_codecs=(callee_codec,)) as call:
        # Each phone can send RFC 4733 events only if pycc's description to it has them.
        for phone in (call.caller, call.callee):
            # baresip's trace of pycc's SDP may reach its log a moment after the call is up.
            deadline = time.monotonic() + 5.0
            while not sdp_media_ports(phone) & set(rtp_ports) and time.monotonic() < deadline:
                time.sleep(0.05)
            (port,) = sdp_media_ports(phone) & set(rtp_ports)
            section = sdp_media_section(phone, port)
            assert any("telephone-event/" in line for line in section), (phone.sip_user, section)
        started = time.monotonic()
        call.caller.send_digits("123#")
        assert call.callee.wait_digits(4, timeout=5) == "123#"
        time.sleep(max(0.0, TALK_SECONDS - (time.monotonic() - started)))
    # The hang-up came after every digit's end packets: a late or repeated event shows here.
    assert call.callee.received_digits() == "123#"
    assert call.caller.received_digits() == ""
    assert_each_hears_the_other(call)
    record = assert_answered(call.record)
    assert record.media_path == media_path


# -- direct media: pycc carries the signalling alone ------------------------------------------

def assert_media_direct(call: AnchoredCall) -> None:
    """Each phone was told to send to the other and got its RTP from the other: pycc's own
    ports appear nowhere."""
    caller_ports, callee_ports = sdp_media_ports(call.caller), sdp_media_ports(call.callee)
    assert not (caller_ports | callee_ports) & set(call.rtp_ports)
    # Each phone traced its own description and the other's, unchanged.
    assert caller_ports == callee_ports and len(caller_ports) == 2, (caller_ports, callee_ports)
    assert rtp_sources(call.caller) | rtp_sources(call.callee) == caller_ports


@pytest.mark.parametrize("record_calls", [False, True], ids=["direct", "recorded-anchored"])
def test_direct_media_leaves_the_media_to_the_phones(
    tmp_path: Path, rtp_ports: range, record_calls: bool,
) -> None:
    """With ``direct_media``, a call between two phones keeps its media between them (each
    phone's SDP reaches the other unchanged) and its record says "direct"; a call that is
    recorded is anchored all the same."""
    server = start_pycc(
        tmp_path, USERS, serve_args=["--rtp-ports", f"{rtp_ports[0]}-{rtp_ports[-1]}"],
        config={"direct_media": True, "record_calls": record_calls},
    )
    try:
        with anchored_call(server, tmp_path, rtp_ports, caller_codecs=("pcmu",),
                           callee_codecs=("pcmu",)) as call:
            time.sleep(TALK_SECONDS)
    finally:
        server.stop()
    assert_each_hears_the_other(call)
    record = assert_answered(call.record)
    if record_calls:
        assert_media_anchored(call)
        assert record.media_path == "relay" and record.recording, record
    else:
        assert_media_direct(call)
        assert record.media_path == "direct" and record.recording is None, record
        assert record.codec_caller is None and record.mos_caller is None, record
