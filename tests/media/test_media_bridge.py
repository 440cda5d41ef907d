"""pycc.media bridges between two fake phones on real UDP sockets (127.0.0.1).

Each phone is a plain UDP socket that writes its own SDP (its socket's port) as the offer or
the answer, reads pycc's ports from the SDP pycc returns, and sends RTP built with
:class:`pycc.rtp.packet.RtpPacket`. The media server runs on stock asyncio and on uvloop.

- relay (RFC 3550 §5.1, RFC 3264 §6.1): same codec on both sides, packets arrive byte for
  byte, only the payload type number changes when the two sides numbered the codec
  differently; RTCP passes;
- transcoding: a 1 kHz tone through PCMU→PCMA, PCMU↔Opus, G.722↔PCMU is decoded with pycc's
  own decoders (FFT peak and level), pycc's outgoing stream is continuous (sequence +1,
  timestamps by the frame's clock step, one SSRC of its own, marker on the first packet)
  through lost packets and a change of the sender's SSRC;
- RFC 4733 telephone-events reach the other phone in its numbering and clock and are reported
  once through ``on_digit``;
- SDES-SRTP (RFC 4568, RFC 3711) on one leg only: protected on that leg, clear on the other;
  tampered packets are dropped and counted;
- bad input is dropped and counted in ``leg.dropped`` and the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peers.aio import Run, eventually
from peers.net import free_port
from pycc.codecs.registry import Codec, default_registry
from pycc.media.server import MediaServer
from pycc.media.session import MediaSession
from pycc.media.srtp import SrtpLeg
from pycc.rtp.dtmf import DtmfSender, parse_event
from pycc.rtp.packet import RtpPacket, is_rtcp, parse_rtp
from pycc.rtp.rtcp import ReceiverReport, ReportBlock, SenderReport, parse_rtcp
from pycc.sdp.crypto import new_crypto, parse_crypto
from pycc.sdp.session import SessionDescription

HOST = "127.0.0.1"
TONE_HZ = 1000.0
TONE_PEAK = 8000  # about -15 dBov: far from clipping in every codec
SSRC_A = 0x11223344
SSRC_B = 0x55667788


# -- fake phones ---------------------------------------------------------------------------------


class Phone:
    """A softphone reduced to its sockets. ``rtcp`` says where its RTCP is: ``"mux"`` on the
    RTP port (RFC 5761), ``"rfc3605"`` on a port of its own named by ``a=rtcp``, ``"adjacent"``
    on the RTP port + 1 with no attribute (RFC 3550 §11)."""

    def __init__(self, name: str, *, rtcp: str = "rfc3605") -> None:
        self.name = name
        self.mux = rtcp == "mux"
        self.rtcp_mode = rtcp
        base = free_port("udp", count=2) if rtcp == "adjacent" else 0
        self.rtp = self._socket(base)
        self.rtcp = None if self.mux else self._socket(base + 1 if base else 0)
        self.rtp_in: list[bytes] = []
        self.rtcp_in: list[bytes] = []
        self.pycc_rtp: tuple[str, int] | None = None
        self.pycc_rtcp: tuple[str, int] | None = None
        loop = asyncio.get_running_loop()
        loop.add_reader(self.rtp.fileno(), self._drain, self.rtp, True)
        if self.rtcp is not None:
            loop.add_reader(self.rtcp.fileno(), self._drain, self.rtcp, False)

    @staticmethod
    def _socket(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((HOST, port))
        sock.setblocking(False)
        return sock

    def _drain(self, sock: socket.socket, rtp_port: bool) -> None:
        while True:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error from an earlier send
            if rtp_port and not (self.mux and is_rtcp(data)):
                self.rtp_in.append(data)
            else:
                self.rtcp_in.append(data)

    @property
    def port(self) -> int:
        return int(self.rtp.getsockname()[1])

    def sdp(self, formats: str, *lines: str, proto: str = "RTP/AVP",
            direction: str | None = None, host: str = HOST) -> SessionDescription:
        """This phone's description: one audio line at its own port."""
        rtcp: list[str] = []
        if self.rtcp is None:
            rtcp.append("a=rtcp-mux")
        elif self.rtcp_mode == "rfc3605":
            rtcp.append(f"a=rtcp:{self.rtcp.getsockname()[1]}")
        text = [
            "v=0", f"o={self.name} 1 1 IN IP4 {HOST}", "s=-", f"c=IN IP4 {host}", "t=0 0",
            f"m=audio {self.port} {proto} {formats}", *lines, *rtcp,
        ]
        if direction is not None:
            text.append(f"a={direction}")
        return SessionDescription.parse("\r\n".join(text) + "\r\n")

    def learn(self, description: SessionDescription) -> None:
        """Where pycc's description says to send (RFC 3550 §11: RTCP on port + 1)."""
        media = description.media[0]
        connection = description.media_connection(media)
        assert connection is not None and media.port
        self.pycc_rtp = (connection.address, media.port)
        self.pycc_rtcp = self.pycc_rtp if media.rtcp_mux else (connection.address, media.port + 1)

    def send(self, data: bytes) -> None:
        assert self.pycc_rtp is not None
        self.rtp.sendto(data, self.pycc_rtp)

    def send_rtcp(self, data: bytes) -> None:
        assert self.pycc_rtcp is not None
        (self.rtcp or self.rtp).sendto(data, self.pycc_rtcp)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in (self.rtp, self.rtcp):
            if sock is not None:
                loop.remove_reader(sock.fileno())
                sock.close()


@dataclass
class Call:
    server: MediaServer
    session: MediaSession
    a: Phone
    b: Phone
    offer_to_b: SessionDescription
    answer_to_a: SessionDescription
    #: ``on_digit`` calls: (party, key, how it came: "rfc4733" or "inband")
    digits: list[tuple[str, str, str]] = field(default_factory=list)


def payload_type(description: SessionDescription, encoding: str, rate: int) -> int:
    """The number ``description`` gives a codec."""
    for codec in description.media[0].codecs():
        if codec.encoding.casefold() == encoding.casefold() and codec.clock_rate == rate:
            return codec.payload_type
    raise AssertionError(f"{encoding}/{rate} not in {description.media[0].formats}")


@contextlib.asynccontextmanager
async def call(
    offer: Callable[[Phone], SessionDescription],
    answer: Callable[[Phone, SessionDescription], SessionDescription],
    *, a_rtcp: str = "rfc3605", b_rtcp: str = "rfc3605", relay_workers: int = 0,
) -> AsyncIterator[Call]:
    """A media server and a call between phone A (the offerer) and phone B through it."""
    base = free_port("udp", count=24)
    server = MediaServer(HOST, f"{base}-{base + 23}", relay_workers=relay_workers)
    await server.start()
    a, b = Phone("a", rtcp=a_rtcp), Phone("b", rtcp=b_rtcp)
    digits: list[tuple[str, str, str]] = []
    try:
        session = server.new_session(
            "test", on_digit=lambda party, key, form: digits.append((party, key, form)))
        offer_to_b = session.relay_offer(offer(a), "a")
        b.learn(offer_to_b)
        answer_to_a = session.relay_answer(answer(b, offer_to_b), "b")
        a.learn(answer_to_a)
        yield Call(server, session, a, b, offer_to_b, answer_to_a, digits)
    finally:
        a.close()
        b.close()
        await server.close()


def pcmu_offer(phone: Phone) -> SessionDescription:
    return phone.sdp("0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
                     "a=fmtp:101 0-16", "a=ptime:20")


def pcmu_answer(phone: Phone, offer: SessionDescription) -> SessionDescription:
    event = payload_type(offer, "telephone-event", 8000)
    return phone.sdp(f"0 {event}", "a=rtpmap:0 PCMU/8000",
                     f"a=rtpmap:{event} telephone-event/8000", f"a=fmtp:{event} 0-16")


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, *, marker: bool = False) -> bytes:
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, payload, marker=marker).serialize()


# -- audio ---------------------------------------------------------------------------------------

Pcm = npt.NDArray[np.int16]


def tone(rate: int, seconds: float = 1.0) -> Pcm:
    t = np.arange(int(rate * seconds)) / rate
    return (TONE_PEAK * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)


def rms(pcm: Pcm) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def peak_hz(pcm: Pcm, rate: int) -> float:
    window = np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * window))
    return float(np.argmax(spectrum) * rate / len(pcm))


@dataclass(frozen=True)
class Audio:
    """How a phone speaks one codec: its SDP lines and its pycc codec."""

    name: str
    rate: int  # RTP clock rate
    channels: int
    static: int | None

    @property
    def codec(self) -> Codec:
        return default_registry().find(self.name, self.rate, self.channels)

    @property
    def rtpmap(self) -> str:
        tail = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.rate}{tail}"

    def offer(self, phone: Phone) -> SessionDescription:
        pt = self.static if self.static is not None else 111
        return phone.sdp(f"{pt} 101", f"a=rtpmap:{pt} {self.rtpmap}",
                         f"a=rtpmap:101 telephone-event/{self.rate}", "a=ptime:20")

    def answer(self, phone: Phone, offer: SessionDescription) -> SessionDescription:
        pt = payload_type(offer, self.name, self.rate)
        event = payload_type(offer, "telephone-event", self.rate)
        return phone.sdp(f"{pt} {event}", f"a=rtpmap:{pt} {self.rtpmap}",
                         f"a=rtpmap:{event} telephone-event/{self.rate}", "a=ptime:20")

    def packets(self, pt: int, ssrc: int, *, seconds: float = 1.0, seq: int = 1000,
                ts: int = 50_000, lost: Sequence[int] = ()) -> list[bytes]:
        """The tone as 20 ms packets (marker on the first); indexes in ``lost`` are not sent."""
        codec = self.codec
        encoder = codec.encoder(20)
        pcm = tone(codec.spec.sample_rate, seconds)
        frame = encoder.samples_per_frame
        step = codec.spec.clock_rate * 20 // 1000
        out: list[bytes] = []
        for index in range(len(pcm) // frame):
            payload = encoder.encode(pcm[index * frame:(index + 1) * frame])
            if index not in lost:
                out.append(rtp(pt, seq + index, ts + index * step, ssrc, payload,
                               marker=index == 0))
        return out

    def decode(self, packets: Sequence[RtpPacket]) -> Pcm:
        decoder = self.codec.decoder()
        return np.concatenate([decoder.decode(p.payload) for p in packets])


PCMU = Audio("PCMU", 8000, 1, 0)
PCMA = Audio("PCMA", 8000, 1, 8)
G722 = Audio("G722", 8000, 1, 9)
OPUS = Audio("opus", 48000, 2, None)


def require(*audios: Audio) -> None:
    """Skip when this host lacks a codec's native library (the registry says which)."""
    for audio in audios:
        try:
            audio.codec  # noqa: B018
        except LookupError as exc:
            pytest.skip(str(exc))


def check_tone(audio: Audio, received: Sequence[RtpPacket]) -> None:
    """The far phone's audio is the tone: 1 kHz ±20 Hz, level within 3 dB."""
    pcm = audio.decode(received)
    rate = audio.codec.spec.sample_rate
    settled = pcm[rate // 10:]  # past codec and resampler start-up
    assert abs(peak_hz(settled, rate) - TONE_HZ) <= 20
    expected = TONE_PEAK / np.sqrt(2)
    level_db = 20 * np.log10(max(rms(settled), 1e-9) / expected)
    assert abs(level_db) <= 3, f"level {level_db:+.1f} dB"


def check_stream(packets: Sequence[RtpPacket], pt: int, step: int, source_ssrc: int) -> None:
    """pycc's own stream (RFC 3550 §5.1): +1 sequence, clock-step timestamps, one new SSRC,
    the marker on the first packet only."""
    assert {p.payload_type for p in packets} == {pt}
    assert len({p.ssrc for p in packets}) == 1
    assert packets[0].ssrc != source_ssrc
    seq_steps = {(b.sequence - a.sequence) & 0xFFFF for a, b in itertools.pairwise(packets)}
    ts_steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)}
    assert seq_steps == {1}
    assert ts_steps == {step}, f"timestamp steps {sorted(ts_steps)}, expected {step}"
    assert [p.marker for p in packets] == [True] + [False] * (len(packets) - 1)


def warble_packets(pt: int, ssrc: int, count: int, *, seq: int, ts: int) -> list[bytes]:
    """``count`` PCMU packets of a tone whose pitch swings (300 Hz ± 1.9 kHz at 1.5 Hz): the
    Opus encoder's voice activity detector keeps it active, where it classes a steady tone
    as background after about 0.7 s, and Opus sends FEC only for active frames."""
    t = np.arange(160 * count) / 8000
    pcm = (TONE_PEAK * np.sin(2 * np.pi * (300 * t + 200 * np.sin(2 * np.pi * 1.5 * t))))
    encoder = PCMU.codec.encoder(20)
    return [rtp(pt, seq + n, ts + 160 * n, ssrc,
                encoder.encode(pcm[160 * n:160 * (n + 1)].astype(np.int16)))
            for n in range(count)]


def fec_flags(packets: list[RtpPacket]) -> set[bool]:
    """Whether each Opus packet carries FEC for the frame before it (an LBRR frame).

    pycc's narrowband packets are SILK only, one 20 ms mono frame (TOC byte 0x08). Their
    range-coded header opens with the frame's VAD flag, then the LBRR flag (RFC 6716
    §4.2.3), each a symbol of probability one half: with the VAD flag set (bit 7 of the byte
    after the TOC), the LBRR flag is bit 6."""
    assert {p.payload[0] for p in packets} == {0x08}
    return {bool(p.payload[1] & 0x40) for p in packets if p.payload[1] & 0x80}


# -- relay ---------------------------------------------------------------------------------------


def test_pcmu_both_sides_relays_packets_byte_for_byte(run: Run) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer) as c:
            assert c.session.bridges[0].transcoding is False
            from_a = [rtp(0, 7 + i, 1000 + 160 * i, SSRC_A, bytes([i]) * 160, marker=i == 0)
                      for i in range(20)]
            from_b = [rtp(0, 60000 + i, 9 + 160 * i, SSRC_B, bytes([200 - i]) * 160)
                      for i in range(20)]
            for a_packet, b_packet in zip(from_a, from_b, strict=True):
                c.a.send(a_packet)
                c.b.send(b_packet)
            await eventually(lambda: len(c.b.rtp_in) == 20 and len(c.a.rtp_in) == 20)
            assert c.b.rtp_in == from_a
            assert c.a.rtp_in == from_b
            a_leg = c.session.legs("a")[0]
            assert a_leg.received == 20 and not a_leg.dropped
    run(scenario)


@pytest.mark.parametrize("b_rtcp", ["rfc3605", "adjacent"])
def test_rtcp_passes_through_a_relay(run: Run, b_rtcp: str) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer, a_rtcp="mux", b_rtcp=b_rtcp) as c:
            # RTP first, so both parties are known (latched) sources.
            c.a.send(rtp(0, 1, 160, SSRC_A, bytes(160)))
            c.b.send(rtp(0, 1, 160, SSRC_B, bytes(160)))
            await eventually(lambda: c.a.rtp_in != [] and c.b.rtp_in != [])
            reply = SenderReport(SSRC_B, 0xE000_0001_0000_0000, 320, 1, 160).serialize()
            c.b.send_rtcp(reply)  # from B's RTCP port
            await eventually(lambda: c.a.rtcp_in != [])
            assert c.a.rtcp_in == [reply]  # multiplexed on A's RTP port (RFC 5761)
            report = SenderReport(SSRC_A, 0xE000_0000_8000_0000, 160, 1, 160, [
                ReportBlock(SSRC_B, 0, 0, 1, 0, 0, 0)]).serialize()
            c.a.send_rtcp(report)
            with contextlib.suppress(AssertionError):
                await eventually(lambda: c.b.rtcp_in != [], timeout=1)
            # pycc took both reports (right sources, valid RTCP)...
            assert all(not leg.dropped for p in "ab" for leg in c.session.legs(p))
            # ...and relays them unchanged, the SSRCs being end to end, to B's RTCP port.
            assert c.b.rtcp_in == [report], "A's RTCP did not reach B's RTCP port"
    run(scenario)


def test_dynamic_codec_numbered_differently_changes_only_the_payload_type(run: Run) -> None:
    def offer(phone: Phone) -> SessionDescription:
        return phone.sdp("111 101", "a=rtpmap:111 opus/48000/2",
                         "a=rtpmap:101 telephone-event/48000")

    def answer(phone: Phone, offer: SessionDescription) -> SessionDescription:
        # RFC 3264 §6.1 lets the answerer use its own numbers.
        return phone.sdp("96 97", "a=rtpmap:96 opus/48000/2",
                         "a=rtpmap:97 telephone-event/48000")

    async def scenario() -> None:
        async with call(offer, answer) as c:
            assert c.session.plans[0].relay
            sent = [rtp(111, 500 + i, 960 * i, SSRC_A, b"\xfc" + bytes([i]) * 40,
                        marker=i == 0) for i in range(5)]
            for packet in sent:
                c.a.send(packet)
            await eventually(lambda: len(c.b.rtp_in) == 5)
            for original, got in zip(sent, c.b.rtp_in, strict=True):
                assert got[1] == (0x80 if original[1] & 0x80 else 0) | 96
                assert got[:1] + got[2:] == original[:1] + original[2:]
            # Many phones send with the numbers of their own answer: A gets A's numbering.
            c.b.send(rtp(96, 9, 960, SSRC_B, b"\xfc\x01\x02", marker=True))
            await eventually(lambda: len(c.a.rtp_in) == 1)
            assert c.a.rtp_in[0][1] == 0x80 | 111
    run(scenario)


def test_answerer_sending_with_the_offered_numbers_is_relayed(run: Run) -> None:
    """RFC 3264 §5.1: an SDP's payload numbers are what its author expects to *receive*; the
    answerer sends with the numbers of pycc's offer, even when it renumbered in its answer."""

    def offer(phone: Phone) -> SessionDescription:
        return phone.sdp("111", "a=rtpmap:111 opus/48000/2")

    def answer(phone: Phone, offer: SessionDescription) -> SessionDescription:
        return phone.sdp("96", "a=rtpmap:96 opus/48000/2")

    async def scenario() -> None:
        async with call(offer, answer) as c:
            c.b.send(rtp(111, 9, 960, SSRC_B, b"\xfc\x01\x02"))
            with contextlib.suppress(AssertionError):
                await eventually(lambda: len(c.a.rtp_in) == 1, timeout=1)
            assert c.session.legs("b")[0].dropped == {}, "B's packet was dropped"
            assert len(c.a.rtp_in) == 1 and c.a.rtp_in[0][1] == 111
    run(scenario)


# -- transcoding ---------------------------------------------------------------------------------

PAIRS = [(PCMU, PCMA), (PCMU, OPUS), (OPUS, PCMU), (G722, PCMU), (PCMU, G722)]


@pytest.mark.parametrize(("a_audio", "b_audio"), PAIRS,
                         ids=[f"{a.name}-{b.name}" for a, b in PAIRS])
def test_tone_is_transcoded_both_ways(run: Run, a_audio: Audio, b_audio: Audio) -> None:
    require(a_audio, b_audio)

    async def scenario() -> None:
        async with call(a_audio.offer, b_audio.answer) as c:
            assert c.session.bridges[0].transcoding
            a_pt = payload_type(c.answer_to_a, a_audio.name, a_audio.rate)
            b_pt = payload_type(c.offer_to_b, b_audio.name, b_audio.rate)
            for packet in a_audio.packets(a_pt, SSRC_A):
                c.a.send(packet)
            for packet in b_audio.packets(b_pt, SSRC_B):
                c.b.send(packet)
            # 50 packets of 20 ms each way: one out for every one in.
            await eventually(lambda: len(c.b.rtp_in) >= 50 and len(c.a.rtp_in) >= 50)
            to_b = [parse_rtp(p) for p in c.b.rtp_in]
            to_a = [parse_rtp(p) for p in c.a.rtp_in]
            assert len(to_b) == len(to_a) == 50
            check_stream(to_b, b_pt, b_audio.codec.spec.timestamp_step, SSRC_A)
            check_stream(to_a, a_pt, a_audio.codec.spec.timestamp_step, SSRC_B)
            check_tone(b_audio, to_b)
            check_tone(a_audio, to_a)
    run(scenario)


def test_a_ptime_the_codec_cannot_make_gives_way_to_the_codec_s_own(run: Run) -> None:
    """B answers Opus with a=ptime:30, which no Opus frame is (RFC 6716 §2.1.4): a ptime
    only recommends (RFC 4566 §6), so pycc sends B its 20 ms packets instead of failing."""
    require(PCMU, OPUS)

    def answer(phone: Phone, offer: SessionDescription) -> SessionDescription:
        pt = payload_type(offer, "opus", 48000)
        event = payload_type(offer, "telephone-event", 48000)
        return phone.sdp(f"{pt} {event}", f"a=rtpmap:{pt} opus/48000/2",
                         f"a=rtpmap:{event} telephone-event/48000", "a=ptime:30")

    async def scenario() -> None:
        async with call(PCMU.offer, answer) as c:
            assert c.session.bridges[0].transcoding
            for packet in PCMU.packets(payload_type(c.answer_to_a, "PCMU", 8000), SSRC_A):
                c.a.send(packet)
            await eventually(lambda: len(c.b.rtp_in) >= 50)
            to_b = [parse_rtp(p) for p in c.b.rtp_in]
            check_stream(to_b, payload_type(c.offer_to_b, "opus", 48000), 960, SSRC_A)
            check_tone(OPUS, to_b)
    run(scenario)


@pytest.mark.parametrize(("a_audio", "b_audio"), [(PCMU, PCMA), (OPUS, PCMU)],
                         ids=["PCMU-PCMA", "opus-PCMU"])
def test_lost_packets_are_concealed_without_a_timestamp_jump(
    run: Run, a_audio: Audio, b_audio: Audio,
) -> None:
    require(a_audio, b_audio)

    async def scenario() -> None:
        async with call(a_audio.offer, b_audio.answer) as c:
            a_pt = payload_type(c.answer_to_a, a_audio.name, a_audio.rate)
            b_pt = payload_type(c.offer_to_b, b_audio.name, b_audio.rate)
            sent = a_audio.packets(a_pt, SSRC_A, lost=(20, 21, 22))
            assert len(sent) == 47
            for packet in sent:
                c.a.send(packet)
            # Three concealed frames keep the far side's stream at 50 packets of 20 ms.
            await eventually(lambda: len(c.b.rtp_in) >= 50)
            to_b = [parse_rtp(p) for p in c.b.rtp_in]
            assert len(to_b) == 50
            check_stream(to_b, b_pt, b_audio.codec.spec.timestamp_step, SSRC_A)
            check_tone(b_audio, to_b)
    run(scenario)


def test_a_new_source_ssrc_keeps_pycc_stream(run: Run) -> None:
    async def scenario() -> None:
        async with call(PCMU.offer, PCMA.answer) as c:
            first = PCMU.packets(0, SSRC_A, seconds=0.4)
            # The phone restarted its stream (a transfer behind it): new SSRC, sequence, clock.
            second = PCMU.packets(0, 0xCAFEBABE, seconds=0.4, seq=40000, ts=7_000_000)
            for packet in first + second:
                c.a.send(packet)
            await eventually(lambda: len(c.b.rtp_in) >= 40)
            out = [parse_rtp(p) for p in c.b.rtp_in]
            assert len({p.ssrc for p in out}) == 1
            assert out[0].ssrc not in (SSRC_A, 0xCAFEBABE)
            assert {(b.sequence - a.sequence) & 0xFFFF for a, b in itertools.pairwise(out)} == {1}
            assert {(b.timestamp - a.timestamp) & 0xFFFFFFFF
                    for a, b in itertools.pairwise(out)} == {160}
    run(scenario)


# -- telephone-event -----------------------------------------------------------------------------


def test_digit_is_relayed_with_the_far_party_s_event_number(run: Run) -> None:
    def answer(phone: Phone, offer: SessionDescription) -> SessionDescription:
        # B numbers events 118 in its answer (its own choice, RFC 3264 §6.1).
        return phone.sdp("0 118", "a=rtpmap:0 PCMU/8000", "a=rtpmap:118 telephone-event/8000")

    async def scenario() -> None:
        async with call(pcmu_offer, answer) as c:
            c.a.send(rtp(0, 99, 8000, SSRC_A, bytes(160)))
            plan = DtmfSender(8000, 20).packets("5", 100, timestamp=8160)
            sent = [rtp(101, 100 + i, p.timestamp, SSRC_A, p.payload, marker=p.marker)
                    for i, p in enumerate(plan)]
            for packet in sent:
                c.a.send(packet)
            await eventually(lambda: len(c.b.rtp_in) == 1 + len(sent) and c.digits != [])
            events = [parse_rtp(p) for p in c.b.rtp_in[1:]]
            assert {p.payload_type for p in events} == {118}
            assert [p.payload for p in events] == [p.payload for p in plan]
            assert [parse_event(p.payload).event for p in events] == [5] * len(plan)
            assert events[0].marker and not any(p.marker for p in events[1:])
            assert c.digits == [("a", "5", "rfc4733")]
    run(scenario)


def test_the_opus_party_s_loss_reports_size_pycc_s_fec(run: Run) -> None:
    """pycc's Opus stream to B starts with FEC (a 10 % loss hint); B's RTCP reports of what it
    lost of that stream set the hint: none at 0 %, FEC again at 25 %."""
    require(PCMU, OPUS)

    async def scenario() -> None:
        async with call(PCMU.offer, OPUS.answer) as c:
            a_pt = payload_type(c.answer_to_a, "PCMU", 8000)
            from_a = warble_packets(a_pt, SSRC_A, 30, seq=1000, ts=50_000)
            for packet in from_a[:10]:
                c.a.send(packet)
            await eventually(lambda: len(c.b.rtp_in) >= 10)
            to_b = [parse_rtp(p) for p in c.b.rtp_in]
            assert fec_flags(to_b[2:]) == {True}
            for first, fraction, fec in ((10, 0, False), (20, 64, True)):
                c.b.send_rtcp(ReceiverReport(SSRC_B, [ReportBlock(
                    to_b[0].ssrc, fraction, 0, 0, 0, 0, 0)]).serialize())
                await eventually(lambda fraction=fraction: c.session.bridges[0].y.remote_loss
                                 == fraction / 256)
                c.b.rtp_in.clear()
                for packet in from_a[first:first + 10]:
                    c.a.send(packet)
                await eventually(lambda: len(c.b.rtp_in) >= 10)
                assert fec_flags([parse_rtp(p) for p in c.b.rtp_in[2:]]) == {fec}
    run(scenario)


def test_digit_is_carried_across_a_transcoder_in_the_far_clock(run: Run) -> None:
    require(OPUS)

    async def scenario() -> None:
        async with call(OPUS.offer, PCMU.answer) as c:
            assert c.session.bridges[0].transcoding
            b_event = payload_type(c.offer_to_b, "telephone-event", 8000)
            for packet in OPUS.packets(111, SSRC_A, seconds=0.1):
                c.a.send(packet)
            plan = DtmfSender(48000, 20).packets("5", 100, timestamp=50_000 + 5 * 960)
            for i, p in enumerate(plan):
                c.a.send(rtp(101, 1005 + i, p.timestamp, SSRC_A, p.payload, marker=p.marker))
            await eventually(lambda: c.digits != [] and sum(
                parse_rtp(p).payload_type == b_event for p in c.b.rtp_in) == len(plan))
            events = [parse_rtp(p) for p in c.b.rtp_in if parse_rtp(p).payload_type == b_event]
            assert len({p.timestamp for p in events}) == 1
            assert len({p.ssrc for p in parse_rtp_all(c.b.rtp_in)}) == 1
            durations = [parse_event(p.payload).duration for p in events]
            assert durations == [parse_event(p.payload).duration // 6 for p in plan]
            assert parse_event(events[-1].payload).end
            assert c.digits == [("a", "5", "rfc4733")]
    run(scenario)


def parse_rtp_all(datagrams: Sequence[bytes]) -> list[RtpPacket]:
    return [parse_rtp(d) for d in datagrams]


# -- SRTP on one leg -----------------------------------------------------------------------------


def test_srtp_phone_talks_to_a_plain_phone(run: Run) -> None:
    a_key = new_crypto(1, "AES_CM_128_HMAC_SHA1_80")

    def offer(phone: Phone) -> SessionDescription:
        return phone.sdp("0", "a=rtpmap:0 PCMU/8000", f"a=crypto:{a_key.format()}",
                         proto="RTP/SAVP")

    def answer(phone: Phone, offer: SessionDescription) -> SessionDescription:
        # B knows no SRTP: it ignores pycc's keys and answers plain RTP/AVP.
        return phone.sdp("0", "a=rtpmap:0 PCMU/8000")

    async def scenario() -> None:
        async with call(offer, answer) as c:
            media = c.answer_to_a.media[0]
            assert media.proto == "RTP/SAVP"
            (pycc_line,) = media.attribute_values("crypto")
            pycc_key = parse_crypto(pycc_line)
            assert pycc_key.tag == 1 and pycc_key.key != a_key.key
            phone_srtp = SrtpLeg(a_key, pycc_key)
            clear = PCMU.packets(0, SSRC_A, seconds=0.2)
            for packet in clear:
                c.a.send(phone_srtp.protect_rtp(packet))
            await eventually(lambda: len(c.b.rtp_in) == len(clear))
            assert c.b.rtp_in == clear
            from_b = PCMU.packets(0, SSRC_B, seconds=0.2, seq=3)
            for packet in from_b:
                c.b.send(packet)
            await eventually(lambda: len(c.a.rtp_in) == len(from_b))
            assert c.a.rtp_in != from_b
            assert [phone_srtp.unprotect_rtp(p) for p in c.a.rtp_in] == from_b
            # A forged packet: one payload bit flipped after protection.
            good = rtp(0, 2000, 99_000, SSRC_A, bytes(160))
            forged = bytearray(phone_srtp.protect_rtp(rtp(0, 1999, 98_840, SSRC_A, bytes(160))))
            forged[20] ^= 0x01
            c.a.send(bytes(forged))
            c.a.send(phone_srtp.protect_rtp(good))
            await eventually(lambda: c.b.rtp_in[-1] == good)
            assert c.b.rtp_in.count(good) == 1 and len(c.b.rtp_in) == len(clear) + 1
            assert c.session.legs("a")[0].dropped == {"srtp": 1}
    run(scenario)


# -- bad input -----------------------------------------------------------------------------------


def bad_padding() -> bytes:
    packet = bytearray(rtp(0, 5, 800, SSRC_A, bytes(20)))
    packet[0] |= 0x20  # P bit set, and the count byte says more padding than the packet has
    packet[-1] = 200
    return bytes(packet)


def csrc_overrun() -> bytes:
    packet = bytearray(rtp(0, 5, 800, SSRC_A, b""))
    packet[0] |= 0x0F  # 15 CSRCs announced, none there
    return bytes(packet)


def extension_overrun() -> bytes:
    packet = bytearray(rtp(0, 5, 800, SSRC_A, b"\xbe\xde\x00\x10"))  # 16 words, none there
    packet[0] |= 0x10
    return bytes(packet)


BAD = {
    "short": b"\x80\x00\x00\x01\x00",
    "version": bytes([0x40]) + rtp(0, 5, 800, SSRC_A, bytes(160))[1:],
    "padding": bad_padding(),
    "csrc": csrc_overrun(),
    "extension": extension_overrun(),
    "payload-type": rtp(34, 5, 800, SSRC_A, bytes(160)),
}


@pytest.mark.parametrize("reason", sorted(BAD))
def test_bad_packet_is_dropped_and_counted_and_the_call_goes_on(run: Run, reason: str) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer) as c:
            good = rtp(0, 6, 960, SSRC_A, bytes(160))
            c.a.send(BAD[reason])
            c.a.send(good)
            await eventually(lambda: good in c.b.rtp_in)
            assert c.b.rtp_in == [good]
            leg = c.session.legs("a")[0]
            assert leg.dropped == {reason: 1}
            assert leg.received == 1
    run(scenario)


def test_a_payload_the_codec_refuses_is_dropped_and_counted_and_the_call_goes_on(
        run: Run) -> None:
    """G.729 from A transcoded to PCMU for B: payloads that are not whole G.729 frames are
    counted as the codec's drops on A's leg, and the audio after them still reaches B."""
    g729 = Audio("G729", 8000, 1, 18)
    require(g729, PCMU)

    async def scenario() -> None:
        async with call(g729.offer, PCMU.answer) as c:
            a_pt = payload_type(c.answer_to_a, "G729", 8000)
            packets = g729.packets(a_pt, SSRC_A, seconds=0.2)
            c.a.send(packets[0])
            await eventually(lambda: len(c.b.rtp_in) == 1)
            for n, payload in enumerate((bytes(7), b"", bytes(13))):
                c.a.send(rtp(a_pt, 1001 + n, 50_160 + 160 * n, SSRC_A, payload))
            c.a.send(rtp(a_pt, 1004, 50_640, SSRC_A, parse_rtp(packets[4]).payload))
            await eventually(lambda: len(c.b.rtp_in) >= 2)
            leg = c.session.legs("a")[0]
            assert leg.dropped == {"codec": 3}
    run(scenario)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=30))
def test_random_datagrams_never_break_the_call(run: Run, datagrams: list[bytes]) -> None:
    async def scenario() -> None:
        async with call(pcmu_offer, pcmu_answer) as c:
            leg = c.session.legs("a")[0]
            for data in datagrams:
                c.a.send(data)
            good = rtp(0, 1, 160, 0xABCDEF, b"\x55" * 160)
            c.a.send(good)
            await eventually(lambda: good in c.b.rtp_in)
            rtcp_accepted = sum(1 for d in datagrams if is_rtcp(d) and parses_as_rtcp(d))
            assert leg.received + sum(leg.dropped.values()) + rtcp_accepted == len(datagrams) + 1
            # Whatever was relayed was valid RTP for the call's formats.
            for data in c.b.rtp_in:
                assert parse_rtp(data).payload_type in (0, 13, 101)
    run(scenario)


def parses_as_rtcp(data: bytes) -> bool:
    try:
        parse_rtcp(data)
    except ValueError:
        return False
    return True
