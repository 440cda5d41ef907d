"""Two baresip phones call each other directly, without pycc.

This proves the test phones themselves before pycc anchors media between them: for every
codec the harness offers (G.711 both laws, G.722, Opus, L16), with SDES-SRTP and with another
ptime, phone A plays 1 kHz and phone B 400 Hz, and each recording must carry the other's tone
at the codec's own rate and channel count. A DTMF test checks that digits sent as RFC 4733
events arrive, each once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from peers.audio import (
    active_seconds,
    convert_wav,
    dominant_frequency,
    tone_present,
    wav_format,
    write_tone_wav,
)
from peers.baresip import BaresipPhone, SrtpMode, check_wav, codec_format, start_baresip

pytestmark = pytest.mark.peer

# Long enough for the jitter buffer to fill and the tone to dominate the recording; short
# enough that the whole module stays well under a minute.
TALK_SECONDS = 2.0


@contextmanager
def direct_call(
    tmp_path: Path, *, codecs: Sequence[str], srtp: SrtpMode = None, ptime: int = 20
) -> Iterator[tuple[BaresipPhone, BaresipPhone]]:
    """Phone A (1 kHz, generated in the codec's format) calls phone B (400 Hz from an 8 kHz
    mono file, which the harness converts) at B's own address; both record what they hear.
    Yields once both sides report the call established; hangs up and stops both after."""
    source_b = write_tone_wav(tmp_path / "400hz-8k.wav", 400, 20.0)
    phone_b = start_baresip(
        tmp_path, sip_user="b", registrar_port=None, codecs=codecs, srtp=srtp, ptime=ptime,
        audio_source_wav=source_b, record_wav=tmp_path / "heard-by-b.wav", sip_trace=True,
    )
    with phone_b:
        phone_a = start_baresip(
            tmp_path, sip_user="a", registrar_port=None, codecs=codecs, srtp=srtp, ptime=ptime,
            tone_hz=1000, record_wav=tmp_path / "heard-by-a.wav",
        )
        with phone_a:
            phone_a.dial(phone_b.direct_uri())
            phone_a.wait_event("CALL_ESTABLISHED", timeout=10)
            phone_b.wait_event("CALL_ESTABLISHED", timeout=10)
            yield phone_a, phone_b
            phone_a.hangup()
            phone_b.wait_event("CALL_CLOSED", timeout=10)


@pytest.mark.parametrize(
    ("codec", "srtp", "ptime", "decoder"),
    [
        pytest.param("pcmu", None, 20, ("PCMU", 8000, 1), id="pcmu"),
        pytest.param("pcma", None, 20, ("PCMA", 8000, 1), id="pcma"),
        pytest.param("g722", None, 20, ("G722", 16000, 1), id="g722"),
        pytest.param("opus", None, 20, ("opus", 48000, 2), id="opus"),
        pytest.param("l16/16000/1", None, 20, ("L16", 16000, 1), id="l16-16k-mono"),
        pytest.param("l16", None, 20, ("L16", 48000, 2), id="l16-48k-stereo"),
        pytest.param("pcmu", "srtp-mand", 20, ("PCMU", 8000, 1), id="pcmu-srtp-mand"),
        pytest.param("pcmu", None, 40, ("PCMU", 8000, 1), id="pcmu-ptime40"),
    ],
)
def test_phones_hear_each_other_directly(
    tmp_path: Path, codec: str, srtp: SrtpMode, ptime: int, decoder: tuple[str, int, int]
) -> None:
    with direct_call(tmp_path, codecs=(codec,), srtp=srtp, ptime=ptime) as (phone_a, phone_b):
        time.sleep(TALK_SECONDS)
    heard_by_a, heard_by_b = tmp_path / "heard-by-a.wav", tmp_path / "heard-by-b.wav"

    # The offer/answer chose the one codec asked for, and the recordings are in its format.
    assert set(phone_a.audio_decoders()) == {decoder}
    assert set(phone_b.audio_decoders()) == {decoder}
    assert wav_format(heard_by_a) == wav_format(heard_by_b) == (decoder[1], decoder[2], 16)

    assert tone_present(heard_by_b, 1000), dominant_frequency(heard_by_b)
    assert tone_present(heard_by_a, 400), dominant_frequency(heard_by_a)
    assert active_seconds(heard_by_b) > 1.0 and active_seconds(heard_by_a) > 1.0

    # B traced the SIP messages: both SDP bodies carry the profile and ptime asked for.
    sdp_media = [line for line in phone_b.lines if line.startswith("m=audio ")]
    profile = "RTP/SAVP" if srtp == "srtp-mand" else "RTP/AVP"
    # Offer and answer, or more if a 200 OK was retransmitted.
    assert len(sdp_media) >= 2 and all(f" {profile} " in line for line in sdp_media)
    if decoder != ("L16", 48000, 2):  # l16.so sends 48 kHz stereo in fixed 4 ms packets
        assert phone_a.wait_for(f"aufile: audio ptime={ptime} ", since=0)
        ptimes = [line for line in phone_b.lines if line.startswith("a=ptime:")]
        assert len(ptimes) >= 2 and set(ptimes) == {f"a=ptime:{ptime}"}
    expected_suites = ["AES_CM_128_HMAC_SHA1_80"] if srtp else []
    assert phone_a.srtp_suites() == phone_b.srtp_suites() == expected_suites


def test_dtmf_digits_arrive_once(tmp_path: Path) -> None:
    with direct_call(tmp_path, codecs=("pcmu",)) as (phone_a, phone_b):
        with pytest.raises(ValueError, match="DTMF"):
            phone_a.send_digits("1x")
        phone_a.send_digits("159#")
        assert phone_b.wait_digits(4) == "159#"
    # The hang-up came after every digit's end packets: a late duplicate would show here.
    assert phone_b.received_digits() == "159#"
    assert phone_a.received_digits() == ""
    assert re.search(r"received event: '#' \(end=1\)", "\n".join(phone_b.lines))


def test_codec_names_and_wav_formats(tmp_path: Path) -> None:
    """The harness's own format rules, checked without a phone."""
    assert codec_format("opus").spec == "opus/48000/2"
    assert codec_format("G722").spec == "G722/16000/1"
    assert codec_format("PCMU").spec == "PCMU/8000/1"
    assert codec_format("l16/16000").spec == "L16/16000/1"
    for bad in ("gsm", "opus/16000/1", "l16/22050/1", "pcmu/8000/x", "pcmu/8000/1/1"):
        with pytest.raises(ValueError):
            codec_format(bad)

    # Settings baresip would accept and then fail on silently are refused before it starts.
    with pytest.raises(ValueError, match="Opus frame"):
        start_baresip(tmp_path, sip_user="x", registrar_port=None, codecs=("opus",), ptime=30)
    with pytest.raises(ValueError, match="outside baresip"):
        start_baresip(tmp_path, sip_user="y", registrar_port=None, ptime=80)

    narrow = write_tone_wav(tmp_path / "1k-8k.wav", 1000, 1.0)
    check_wav(narrow)
    with pytest.raises(ValueError, match="48000 Hz, 2 channel"):
        check_wav(narrow, 48000, 2)
    wide = convert_wav(narrow, tmp_path / "1k-48k.wav", 48000, 2)
    check_wav(wide, 48000, 2)
    assert dominant_frequency(wide) == pytest.approx(1000, abs=1)
    assert tone_present(wide, 1000, min_energy_ratio=0.95)
    assert active_seconds(wide) == pytest.approx(1.0, abs=0.03)
