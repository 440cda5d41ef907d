"""Parser cost per message: a typical INVITE with SDP, parsed and validated by pycc, and an
authenticated REGISTER as SIPp sends it, parsed, validated and its credentials read (what the
registrar does with each before the digest check).

    python benchmarks/parser.py [--runs 7] [--number 20000]

Prints the median over ``--runs`` of the mean time per message (µs): the INVITE parsed, then
parsed and serialized again; the REGISTER parsed with its Contact and credentials.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from pycc.sip.auth import parse_credentials
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

REGISTER = (
    b"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-31415-17-1;rport\r\n"
    b"From: <sip:user0017@127.0.0.1>;tag=31415SIPpTag0017\r\n"
    b"To: <sip:user0017@127.0.0.1>\r\n"
    b"Call-ID: 17-31415@127.0.0.1\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:user0017@127.0.0.1:5070>;expires=3600\r\n"
    b"Max-Forwards: 70\r\n"
    b'Authorization: Digest username="user0017",realm="pycc",'
    b'nonce="MTcwMDAwMDAwMC4xMjM0NTY.c2lnbmF0dXJlc2lnbmF0dXJl",uri="sip:127.0.0.1:5060",'
    b'response="0123456789abcdef0123456789abcdef",algorithm=MD5,cnonce="6b8b4567",'
    b"qop=auth,nc=00000001\r\n"
    b"Expires: 3600\r\n"
    b"User-Agent: SIPp\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def read_register() -> None:
    message = parse_message(REGISTER)
    message.contacts  # noqa: B018 - the registrar reads them
    credentials = message.headers.get("authorization")
    assert credentials is not None
    parse_credentials(credentials)


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
    register = [t / args.number * 1e6 for t in timeit.repeat(
        read_register, number=args.number, repeat=args.runs)]
    print(f"REGISTER with credentials:      median {statistics.median(register):.1f} µs "
          f"(min {min(register):.1f})")


if __name__ == "__main__":
    main()
