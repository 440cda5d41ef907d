"""Click to call: two pycc user agents register to a running switch, one calls the other.

The callee answers automatically; the caller hangs up after ``--talk`` seconds. Start a switch
first (``pycc serve`` or examples/embed_switch.py) with extensions 1001 and 1002:

    python examples/click_to_call.py --server 127.0.0.1:5060
    python examples/click_to_call.py --server 127.0.0.1:5060 --transport tcp --talk 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pycc.sip.address import TRANSPORTS, Address
from pycc.ua import UaError, UserAgent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:5060",
                        help="the switch as HOST:PORT (default 127.0.0.1:5060)")
    parser.add_argument("--transport", choices=TRANSPORTS, default="udp")
    parser.add_argument("--caller", default="1001", help="calling extension")
    parser.add_argument("--caller-password", default="secret1001")
    parser.add_argument("--callee", default="1002", help="called extension")
    parser.add_argument("--callee-password", default="secret1002")
    parser.add_argument("--talk", type=float, default=3.0,
                        help="seconds before the caller hangs up")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the answer")
    return parser.parse_args()


def server_address(text: str, transport: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--server must be HOST:PORT, not {text!r}")
    return Address(transport, host.strip("[]"), int(port))


async def main(args: argparse.Namespace) -> None:
    server = server_address(args.server, args.transport)
    async with (
        UserAgent(args.caller, args.caller_password, server=server) as caller,
        UserAgent(args.callee, args.callee_password, server=server, auto_answer=True) as callee,
    ):
        await caller.register()
        await callee.register()
        print(f"{args.caller} and {args.callee} registered at {server}")
        print(f"{args.caller} calls {args.callee}")
        # wait_answered raises CallFailed (a UaError) with the status if the call fails.
        call = await caller.dial(args.callee)
        await call.wait_answered(args.timeout)
        print(f"{args.callee} answered; hanging up in {args.talk:g} s")
        await asyncio.sleep(args.talk)
        await call.hangup()
        answered = await callee.next_call(1)
        ended_by = await answered.wait_ended(5)
        print(f"call ended ({'caller' if ended_by == 'remote' else 'callee'} hung up)")
        await caller.unregister()
        await callee.unregister()


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except (UaError, ValueError, OSError, TimeoutError) as exc:
        print(f"click_to_call: {exc or type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
