"""RTP and RTCP, sans-I/O: the media path's protocol core.

:mod:`~pycc.rtp.packet` RTP packets (RFC 3550 §5) and the relay fast path,
:mod:`~pycc.rtp.rtcp` RTCP (RFC 3550 §6, RFC 4585, RFC 5104 FIR),
:mod:`~pycc.rtp.stats` reception statistics and reports (RFC 3550 appendix A),
:mod:`~pycc.rtp.latch` symmetric RTP latching (RFC 4961) safe from RTP bleed,
:mod:`~pycc.rtp.dtmf` telephone events (RFC 4733),
:mod:`~pycc.rtp.jitter` the adaptive jitter buffer,
:mod:`~pycc.rtp.stream` one continuous outgoing stream over changing sources,
:mod:`~pycc.rtp.ports` the media port range, :mod:`~pycc.rtp.quality` E-model R and MOS.
No I/O and no clock: every time is passed in as ``now`` (seconds). Parsers raise `RtpError`
(a `ValueError`) with a short ``reason`` for the media layer's drop counters.
"""

from __future__ import annotations

from pycc.rtp.dtmf import (
    DigitEnded,
    DigitStarted,
    DtmfEvent,
    DtmfPacket,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
    parse_event,
)
from pycc.rtp.errors import DtmfError, RtcpError, RtpError
from pycc.rtp.jitter import JitterBuffer, Missing
from pycc.rtp.latch import LatchState, SourceLatch
from pycc.rtp.packet import (
    RtpPacket,
    fixed_header,
    header_fields,
    is_rtcp,
    parse_rtp,
    rewrite_header,
)
from pycc.rtp.ports import PortAllocator, PortRange, PortsExhausted
from pycc.rtp.quality import CodecImpairment, mos_for_leg, mos_from_r, r_factor
from pycc.rtp.rtcp import (
    PSFB,
    RTPFB,
    App,
    Bye,
    Feedback,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    middle32,
    ntp_from_unix,
    parse_rtcp,
    serialize_rtcp,
    unix_from_ntp,
)
from pycc.rtp.stats import ReceiverStats, SenderStats, round_trip
from pycc.rtp.stream import OutgoingHeader, OutgoingStream

__all__ = [
    "PSFB",
    "RTPFB",
    "App",
    "Bye",
    "CodecImpairment",
    "DigitEnded",
    "DigitStarted",
    "DtmfError",
    "DtmfEvent",
    "DtmfPacket",
    "DtmfReceiver",
    "DtmfSender",
    "Feedback",
    "JitterBuffer",
    "LatchState",
    "Missing",
    "OutgoingHeader",
    "OutgoingStream",
    "PortAllocator",
    "PortRange",
    "PortsExhausted",
    "ReceiverReport",
    "ReceiverStats",
    "ReportBlock",
    "RtcpError",
    "RtcpPacket",
    "RtpError",
    "RtpPacket",
    "SenderReport",
    "SenderStats",
    "SourceDescription",
    "SourceLatch",
    "TelephoneEvent",
    "UnknownRtcp",
    "digit_to_event",
    "event_to_digit",
    "fixed_header",
    "header_fields",
    "is_rtcp",
    "middle32",
    "mos_for_leg",
    "mos_from_r",
    "ntp_from_unix",
    "parse_event",
    "parse_rtcp",
    "parse_rtp",
    "r_factor",
    "rewrite_header",
    "round_trip",
    "serialize_rtcp",
    "unix_from_ntp",
]
