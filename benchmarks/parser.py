"""Parser cost per message: a typical INVITE with SDP, parsed and validated by pycc.

    python benchmarks/parser.py [--runs 7] [--number 20000]

Prints the median over ``--runs`` of the mean time per parse (µs), for parse only and for
parse plus serialize.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from pycc.sip.message import parse_message

INVITE = (
    b"INVITE sip:1002@192.0.2.10:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:1001@192.0.2.10>;tag=1928301774\r\n'
    b"To: <sip:1002@192.0.2.10>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:1001@192.0.2.20:5062;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: ExamplePhone/1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 238\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.20\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.20\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    assert len(INVITE.split(b"\r\n\r\n", 1)[1]) == 238
    parse = [t / args.number * 1e6 for t in timeit.repeat(
        lambda: parse_message(INVITE), number=args.number, repeat=args.runs)]
    both = [t / args.number * 1e6 for t in timeit.repeat(
        lambda: parse_message(INVITE).to_bytes(), number=args.number, repeat=args.runs)]
    print(f"parse+validate INVITE with SDP: median {statistics.median(parse):.1f} µs "
          f"(min {min(parse):.1f})")
    print(f"parse+validate+serialize:       median {statistics.median(both):.1f} µs "
          f"(min {min(both):.1f})")


if __name__ == "__main__":
    main()
