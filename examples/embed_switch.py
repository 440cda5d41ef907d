"""Run a pycc Switch inside your own asyncio program.

Creates (or reuses) a data directory, adds two extensions, starts the switch on 127.0.0.1 and
prints who is registered every few seconds until Ctrl-C (or ``--duration`` seconds). Point
two softphones at the printed address, or pass ``--with-phones`` to have two pycc user agents
register as the extensions.

    python examples/embed_switch.py --sip-port 5060
    python examples/embed_switch.py --with-phones --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

from pycc.config import load_config, write_initial_config
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import UserAgent

EXTENSIONS = {"1001": "secret1001", "1002": "secret1002"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data directory (default: a new temporary one)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--sip-port", type=int, default=0,
                        help="UDP and TCP port (default 0: any free port)")
    parser.add_argument("--sips-port", type=int, default=-1,
                        help="TLS port (default -1: no TLS)")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between registration listings")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (default 0: until Ctrl-C)")
    parser.add_argument("--with-phones", action="store_true",
                        help="register two pycc user agents as the extensions")
    return parser.parse_args()


def prepare(data_dir: Path) -> None:
    """Make the data directory, the tenant and the extensions (blocking: run off the loop)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "pycc.toml").is_file():
        write_initial_config(data_dir)
    config = load_config(data_dir)
    with Store(make_url(data_dir, config.db_url)) as store:
        store.create_all()
        store.ensure_tenant(config.tenant, config.realm)
        for number, password in EXTENSIONS.items():
            if store.get_extension(config.tenant, number) is None:
                store.add_extension(config.tenant, number, password)


def print_registrations(switch: Switch) -> None:
    assert switch.registrar is not None
    status = switch.status()
    print(f"-- {status.registrations} registration(s), {status.calls} call(s)")
    for number in EXTENSIONS:
        contacts = [location.binding.contact for location in switch.registrar.lookup(number)]
        print(f"   {number}: {', '.join(contacts) if contacts else 'not registered'}")


async def main(args: argparse.Namespace) -> None:
    data_dir: Path = args.data_dir or Path(tempfile.mkdtemp(prefix="pycc-embed-"))
    await asyncio.to_thread(prepare, data_dir)
    config = load_config(data_dir).with_overrides(
        bind=args.bind, sip_port=args.sip_port, sips_port=args.sips_port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)
    if args.duration > 0:
        loop.call_later(args.duration, stop.set)

    async with Switch(config) as switch, contextlib.AsyncExitStack() as phones:
        print(f"data directory {data_dir}")
        for name, address in switch.addresses.items():
            print(f"listening on {name} {address.host_port}")
        print(f"extensions: {', '.join(f'{n} (password {p})' for n, p in EXTENSIONS.items())}")
        if args.with_phones:
            for number, password in EXTENSIONS.items():
                phone = UserAgent(number, password, server=switch.addresses["udp"],
                                  auto_answer=True)
                await phones.enter_async_context(phone)
                await phone.register()
        while not stop.is_set():
            print_registrations(switch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval)
        print("stopping")


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except Exception as exc:  # one clear line, not a traceback, for a demo program
        print(f"embed_switch: {exc}", file=sys.stderr)
        sys.exit(1)
