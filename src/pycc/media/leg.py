"""One party's side of one media stream on pycc: where its RTP goes and what arrives from it.

A :class:`MediaLeg` owns an RTP/RTCP socket pair. For every datagram it decides, in this order:
RTCP or RTP (RFC 5761 §4 on a multiplexed port), whether the source is the party (symmetric
RTP with protection against a third party taking the stream over, RFC 4961 and
:mod:`pycc.rtp.latch`), SRTP verification (RFC 3711, per leg), then the RTP header checks. What
passes goes to ``on_rtp`` (the bridge, a player's listener, a recorder); what fails is dropped
and counted by reason. Received telephone-events (RFC 4733) become digits, once per key press.

The leg also keeps the RFC 3550 reception statistics pycc reports in RTCP and in the call
record (loss, jitter, round-trip time).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable

from pycc.media.rtp_socket import RtpSocketPair
from pycc.media.srtp import SrtpError, SrtpLeg
from pycc.rtp.dtmf import DigitStarted, DtmfReceiver
from pycc.rtp.errors import RtpError
from pycc.rtp.latch import SourceLatch
from pycc.rtp.packet import checked_header_fields, is_rtcp, parse_rtp
from pycc.rtp.rtcp import (
    CNAME,
    ReceiverReport,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    middle32,
    ntp_from_unix,
    parse_rtcp,
    serialize_rtcp,
)
from pycc.rtp.stats import ReceiverStats, round_trip
from pycc.sdp.anchor import StreamSide

__all__ = ["LEARN_SECONDS", "MediaLeg"]

log = logging.getLogger("pycc.media")

#: How long after the media address is signalled a NATed phone's real source may be learned.
LEARN_SECONDS = 3.0

PacketHandler = Callable[["MediaLeg", bytes], None]
DigitHandler = Callable[["MediaLeg", str], None]
LossHandler = Callable[["MediaLeg", float], None]


class MediaLeg:
    """The socket pair, peer address, security and statistics of one party on one stream."""

    def __init__(self, sockets: RtpSocketPair, clock: Callable[[], float], *,
                 name: str = "", wallclock: Callable[[], float] = time.time) -> None:
        self.sockets = sockets
        self.clock = clock
        #: Wall-clock time for RTCP's NTP timestamps (RFC 3550 §4).
        self.wallclock = wallclock
        self.name = name
        self.side: StreamSide | None = None
        self.latch = SourceLatch(None, 0.0)
        self.srtp: SrtpLeg | None = None
        self.on_rtp: PacketHandler | None = None
        self.on_rtcp: PacketHandler | None = None
        self.on_digit: DigitHandler | None = None
        #: Called with each RTCP report block about pycc's own stream to the party: the
        #: share of its packets the party lost (RFC 3550 §6.4.1, fraction lost).
        self.on_loss_report: LossHandler | None = None
        #: Listeners that see every accepted RTP packet too (recorders, supervisors, players
        #: listening for speech), whatever ``on_rtp`` does with it.
        self.taps: list[PacketHandler] = []
        #: The media server that made the leg (a relay worker takes only its own legs).
        self.owner: object | None = None
        #: Called before anything that a relay worker forwarding this leg's packets would
        #: not see (a new offer/answer, a listener, the leg closing): it takes the leg back.
        self.guard: Callable[[], None] | None = None
        self.dropped: Counter[str] = Counter()
        self.received = 0
        self.sent = 0
        self.sent_octets = 0
        self._last_sent_ts = 0
        self._last_sent_at = 0.0
        #: The SSRC pycc reports on this leg with when it only receives (RFC 3550 §6.4.2).
        self.reporter_ssrc = secrets.randbits(32)
        self.last_received: float | None = None
        self.stats: ReceiverStats | None = None
        self.rtt: float | None = None
        self.remote_loss: float = 0.0
        self.remote_jitter_ms: float = 0.0
        #: The SSRC pycc sends to this party with when it originates the stream (transcoding,
        #: prompts); reports about it give the round-trip time. None while packets are relayed.
        self.own_ssrc: int | None = None
        self._ssrc: int | None = None
        self._dtmf: DtmfReceiver | None = None
        self._event_pt: int | None = None
        self._event_pts: frozenset[int] = frozenset()
        self._payload_types: frozenset[int] = frozenset()
        self._rtcp_mux = False

    # -- configuration -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.sockets.port

    @property
    def host(self) -> str:
        return self.sockets.host

    def _guarded(self) -> None:
        guard = self.guard
        if guard is not None:
            guard()

    def configure(self, side: StreamSide, srtp: SrtpLeg | None) -> None:
        """Apply what the party settled on in the latest offer/answer."""
        self._guarded()
        now = self.clock()
        old = self.side
        self.side = side
        self.srtp = srtp
        if old is None or old.rtp_address != side.rtp_address:
            self.latch.resignal(side.rtp_address, now, now + LEARN_SECONDS)
        self._rtcp_mux = side.rtcp_mux
        types = set(side.receive_types)
        if side.codec is not None and (
                self.stats is None or self.stats.clock_rate != side.codec.clock_rate):
            self.stats = ReceiverStats(side.codec.clock_rate)
            self._ssrc = None
        if side.event is not None:
            if self._dtmf is None or self._event_pt != side.event.payload_type:
                self._dtmf = DtmfReceiver(side.event.clock_rate)
            self._event_pt = side.event.payload_type
            self._event_pts = frozenset(
                t for t in (side.event.payload_type, side.local_event_pt) if t is not None)
        else:
            self._dtmf = None
            self._event_pt = None
            self._event_pts = frozenset()
        # Comfort noise (RFC 3389, static 13) is accepted whatever was negotiated.
        types.add(13)
        self._payload_types = frozenset(types)

    @property
    def event_types(self) -> frozenset[int]:
        """The payload types of the party's telephone-events (as it sends them)."""
        return self._event_pts

    @property
    def payload_types(self) -> frozenset[int]:
        """The payload types accepted from the party (the others are dropped and counted)."""
        return self._payload_types

    @property
    def peer(self) -> tuple[str, int] | None:
        """Where this party receives RTP: the latched source, else the signalled address."""
        return self.latch.peer

    # -- receiving ------------------------------------------------------------------------
    def receive(self, data: bytes, source: tuple[str, int], on_rtcp_port: bool) -> None:
        if on_rtcp_port or is_rtcp(data):
            self._receive_rtcp(data, source)
            return
        now = self.clock()
        if not self.latch.accept(source, now):
            self.dropped["source"] += 1
            return
        if self.srtp is not None:
            clear = self.srtp.unprotect_rtp(data)
            if clear is None:
                self.dropped["srtp"] += 1
                return
            data = clear
        try:
            pt, _marker, seq, ts, ssrc = checked_header_fields(data)
        except RtpError as exc:
            self.dropped[exc.reason] += 1
            return
        if pt not in self._payload_types:
            self.dropped["payload-type"] += 1
            return
        self.received += 1
        self.last_received = now
        stats = self.stats
        if stats is not None:
            if ssrc != self._ssrc:
                self._ssrc = ssrc
                stats.reset()
            stats.update(seq, ts, now)
        if pt in self._event_pts:
            self._receive_event(data, now)
        handler = self.on_rtp
        if handler is not None:
            handler(self, data)
        if self.taps:
            for tap in tuple(self.taps):
                tap(self, data)

    def receive_forwarded(self, data: bytes, event: bool, now: float) -> None:
        """A packet a relay worker read from this party and forwarded itself: a telephone
        event (the keys are this process's to report) or RTCP multiplexed on the RTP port."""
        if event:
            self._receive_event(data, now)
        elif self.latch.peer is not None:
            self._receive_rtcp(data, self.latch.peer)

    def _receive_event(self, data: bytes, now: float) -> None:
        dtmf = self._dtmf
        if dtmf is None:
            return
        try:
            packet = parse_rtp(data)
            events = dtmf.receive_packet(packet, now)
        except (RtpError, ValueError):
            self.dropped["event"] += 1
            return
        for event in events:
            if isinstance(event, DigitStarted) and self.on_digit is not None:
                self.on_digit(self, event.digit)

    def _receive_rtcp(self, data: bytes, source: tuple[str, int]) -> None:
        peer = self.latch.peer
        side = self.side
        rtcp_from = side.rtcp_address if side is not None else None
        # RTCP comes from the party's RTCP address or, multiplexed, from its RTP source.
        if source != peer and source != rtcp_from:
            self.dropped["rtcp-source"] += 1
            return
        if self.srtp is not None:
            clear = self.srtp.unprotect_rtcp(data)
            if clear is None:
                self.dropped["srtcp"] += 1
                return
            data = clear
        try:
            packets = parse_rtcp(data)
        except ValueError:
            self.dropped["rtcp"] += 1
            return
        now = self.clock()
        for packet in packets:
            if isinstance(packet, SenderReport) and self.stats is not None:
                self.stats.sender_report_received(middle32(packet.ntp_timestamp), now)
            if isinstance(packet, (SenderReport, ReceiverReport)):
                for block in packet.reports:
                    if block.ssrc != self.own_ssrc:
                        continue
                    rtt = round_trip(block, _ntp_middle(self.wallclock()))
                    if rtt is not None:
                        self.rtt = rtt
                    self.remote_loss = block.fraction_lost / 256
                    if self.stats is not None:
                        self.remote_jitter_ms = block.jitter * 1000 / self.stats.clock_rate
                    if self.on_loss_report is not None:
                        self.on_loss_report(self, self.remote_loss)
        handler = self.on_rtcp
        if handler is not None:
            handler(self, data)

    # -- sending --------------------------------------------------------------------------
    def send_rtp(self, data: bytes) -> None:
        """Send an RTP packet to the party, if it wants media and pycc knows where it is."""
        side = self.side
        peer = self.latch.peer
        if side is None or peer is None or not side.receives:
            return
        if self.srtp is not None:
            try:
                data = self.srtp.protect_rtp(data)
            except SrtpError:
                # A duplicated packet (libsrtp refuses to reuse keystream) or an oversized one.
                self.dropped["srtp-send"] += 1
                return
        self.sockets.send_rtp(data, peer)
        self.sent += 1
        if self.own_ssrc is not None:
            # What pycc's sender reports need; a relayed stream is reported by its sender.
            self.sent_octets += len(data) - 12
            self._last_sent_ts = int.from_bytes(data[4:8], "big")
            self._last_sent_at = self.clock()

    def note_sent(self, packets: int, octets: int, last_timestamp: int, at: float) -> None:
        """Packets of pycc's own stream that a relay worker sent the party for this leg:
        counted as if sent here, for the sender reports."""
        self.sent += packets
        self.sent_octets += octets
        self._last_sent_ts = last_timestamp
        self._last_sent_at = at

    def rtcp_report(self) -> bytes | None:
        """pycc's own RTCP for this leg (RFC 3550 §6.4): a sender report when pycc
        originates the stream it sends here (transcoding, mixing, prompts), else a receiver
        report; with an SDES CNAME. None while packets are relayed: the parties' own reports
        pass through, and pycc's would describe streams that are not its own."""
        side = self.side
        if side is None or side.codec is None or (self.own_ssrc is None and self.sent):
            return None
        now = self.clock()
        blocks = []
        if self.stats is not None and self._ssrc is not None and self.stats.received:
            blocks.append(self.stats.report_block(self._ssrc, now))
        packets: list[RtcpPacket]
        if self.own_ssrc is not None and self.sent:
            ssrc = self.own_ssrc
            elapsed = max(0.0, now - self._last_sent_at)
            rtp_ts = (self._last_sent_ts + int(elapsed * side.codec.clock_rate)) & 0xFFFFFFFF
            packets = [SenderReport(ssrc, ntp_from_unix(self.wallclock()), rtp_ts,
                                    self.sent & 0xFFFFFFFF, self.sent_octets & 0xFFFFFFFF,
                                    blocks)]
        else:
            ssrc = self.reporter_ssrc
            packets = [ReceiverReport(ssrc, blocks)]
        packets.append(SourceDescription([(ssrc, [(CNAME, b"pycc")])]))
        return serialize_rtcp(packets)

    def send_rtcp(self, data: bytes) -> None:
        side = self.side
        if side is None:
            return
        peer = self.latch.peer
        destination = peer if side.rtcp_mux else side.rtcp_address
        if (not side.rtcp_mux and peer is not None and peer != side.rtp_address
                and side.rtcp_address is not None and side.rtp_address is not None
                and side.rtcp_address[1] == side.rtp_address[1] + 1):
            # The party is behind a NAT (pycc learned another source than it signalled) and
            # named no RTCP port of its own: its RTCP is reachable next to its RTP, by
            # convention, on the learned address.
            destination = (peer[0], peer[1] + 1)
        if destination is None:
            return
        if self.srtp is not None:
            try:
                data = self.srtp.protect_rtcp(data)
            except SrtpError:
                self.dropped["srtcp-send"] += 1
                return
        self.sockets.send_rtcp(data, destination, mux=side.rtcp_mux)

    def close(self) -> None:
        self._guarded()
        self.guard = None
        self.sockets.close()
        self.on_rtp = None
        self.on_rtcp = None
        self.on_digit = None
        self.on_loss_report = None
        self.taps.clear()


def _ntp_middle(now: float) -> int:
    return middle32(ntp_from_unix(now))
