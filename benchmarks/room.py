"""Cost of one 20 ms tick of a mixing Room with N G.711 members, on one core.

    python benchmarks/room.py [--runs 5] [--ticks 250] [--members 50,100,200] [--talkers all]

Each member is a phone on a fake leg (the attributes LegInput and LegOutput use; ``send_rtp``
only counts): a LegInput fed one PCMU packet per tick through the leg's tap, and a LegOutput
encoding PCMU. A tick is what the FrameClock pays: every member's LegInput.read (jitter buffer,
G.711 decode), the mix (every member hears all others), every member's LegOutput.write (G.711
encode, RTP header, send). Packet delivery (tap, RTP parse, jitter buffer put) is timed
apart: the event loop's socket reader pays it, not the tick. ``--talkers`` is how many
members send audio (the rest send nothing): ``all`` is the worst case, a few is a real
conference. Prints, per room size, the median over ``--runs`` of the mean time per tick and
per packet delivered, and the share of the 20 ms frame budget one tick takes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pycc.codecs.g711 import ulaw_encode
from pycc.media.audio import LegInput, LegOutput
from pycc.media.room import Room
from pycc.rtp.packet import RtpPacket
from pycc.sdp.anchor import StreamSide
from pycc.sdp.attributes import RtpMap

PCMU = RtpMap(0, "PCMU", 8000)
SIDE = StreamSide(PCMU, None, ("192.0.2.1", 4000), None, False, True, True, "RTP/AVP", 20.0,
                  None, None)


@dataclass
class FakeLeg:
    side: StreamSide | None = SIDE
    now: float = 0.0
    own_ssrc: int | None = None
    taps: list[Callable[[object, bytes], None]] = field(default_factory=list)
    sent: int = 0

    def clock(self) -> float:
        return self.now

    def send_rtp(self, data: bytes) -> None:
        self.sent += 1


def phone_packets(member: int, ticks: int) -> list[bytes]:
    """A member's talk: a tone of its own, one 20 ms PCMU packet per tick."""
    t = np.arange(ticks * 160) / 8000
    tone = np.rint(3000 * np.sin(2 * np.pi * (300 + 7 * member) * t)).astype(np.int16)
    return [
        RtpPacket(0, k & 0xFFFF, k * 160, 0x1000 + member, ulaw_encode(tone[k * 160:(k + 1) * 160]),
                  marker=k == 0).serialize()
        for k in range(ticks)
    ]


def run(members: int, talkers: int, ticks: int) -> tuple[float, float]:
    """Mean seconds per tick and per delivered packet."""
    warmup = 10
    room = Room(8000)
    legs = [FakeLeg() for _ in range(members)]
    for number, leg in enumerate(legs):
        source = LegInput(leg, 8000)
        source.attach()
        room.add(number, source, LegOutput(leg, 8000))
    talk = [phone_packets(m, warmup + ticks) for m in range(talkers)]
    tick_time = deliver_time = 0.0
    delivered = 0
    for k in range(warmup + ticks):
        now = k * 0.02
        begin = time.perf_counter()
        for m in range(talkers):
            leg = legs[m]
            leg.now = now
            for tap in leg.taps:
                tap(leg, talk[m][k])
        middle = time.perf_counter()
        room.tick(now)
        end = time.perf_counter()
        if k >= warmup:
            deliver_time += middle - begin
            tick_time += end - middle
            delivered += talkers
    assert room.talking == talkers, "the talkers' audio did not reach the room"
    assert all(leg.sent for leg in legs) or talkers < 2
    return tick_time / ticks, deliver_time / max(delivered, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=250)
    parser.add_argument("--members", default="50,100,200")
    parser.add_argument("--talkers", default="all",
                        help="members that talk: 'all' or a number (default: all)")
    args = parser.parse_args()
    print(f"{'members':>7} {'talkers':>7} {'ms/tick':>8} {'% of 20 ms':>10} {'us/packet in':>12}")
    for members in (int(n) for n in args.members.split(",")):
        talkers = members if args.talkers == "all" else min(members, int(args.talkers))
        results = [run(members, talkers, args.ticks) for _ in range(args.runs)]
        per_tick = statistics.median(r[0] for r in results)
        per_packet = statistics.median(r[1] for r in results)
        print(f"{members:>7} {talkers:>7} {per_tick * 1e3:>8.2f} {per_tick / 0.02:>10.1%} "
              f"{per_packet * 1e6:>12.1f}")


if __name__ == "__main__":
    main()
