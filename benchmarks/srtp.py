"""SRTP cost per packet: protect + unprotect of one G.711 packet on one core, per suite.

    python benchmarks/srtp.py [--runs 5] [--packets 100000] [--payload 160]

For each suite, ``--packets`` RTP packets (12-byte header + ``--payload`` bytes, sequence
numbers counting up) are protected by one :class:`~pycc.media.srtp.SrtpLeg` and unprotected
by its peer; fresh legs each run, since a leg refuses to reuse an index. Prints the median
over ``--runs`` of protect+unprotect pairs per second, and the same loop on bare
``pylibsrtp.Session`` objects to show what the adapter adds.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time

from pylibsrtp import Policy, Session

from pycc.media.srtp import SrtpLeg
from pycc.sdp.crypto import SUITES, new_crypto


def packets(count: int, payload: int) -> list[bytes]:
    body = b"\xd5" * payload
    return [
        struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160, 0x1234) + body for n in range(count)
    ]


def leg_run(suite: str, plain: list[bytes]) -> float:
    a, b = new_crypto(1, suite), new_crypto(1, suite)
    sender, receiver = SrtpLeg(a, b), SrtpLeg(b, a)
    protect, unprotect = sender.protect_rtp, receiver.unprotect_rtp
    start = time.perf_counter()
    for packet in plain:
        unprotect(protect(packet))
    elapsed = time.perf_counter() - start
    assert receiver.auth_failures == receiver.replays == receiver.errors == 0
    return len(plain) / elapsed


def bare_run(suite: str, plain: list[bytes]) -> float:
    key = new_crypto(1, suite)
    profile = getattr(Policy, SUITES[suite].srtp_profile)
    tx = Session(Policy(key=key.key_salt, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(Policy(key=key.key_salt, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    protect, unprotect = tx.protect, rx.unprotect
    start = time.perf_counter()
    for packet in plain:
        unprotect(protect(packet))
    return len(plain) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--payload", type=int, default=160)
    args = parser.parse_args()
    plain = packets(args.packets, args.payload)
    print(f"{args.packets} packets of {12 + args.payload} bytes, median of {args.runs} runs")
    for suite in SUITES:
        leg = [leg_run(suite, plain) for _ in range(args.runs)]
        bare = [bare_run(suite, plain) for _ in range(args.runs)]
        print(
            f"{suite:<24} SrtpLeg {statistics.median(leg):>9,.0f} pairs/s "
            f"(best {max(leg):,.0f})   bare pylibsrtp {statistics.median(bare):>9,.0f} pairs/s"
        )


if __name__ == "__main__":
    main()
