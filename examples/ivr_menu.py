"""Answer a number with a key menu: a coroutine drives the caller's channel.

Starts a pycc Switch on 127.0.0.1 with extension 1001 and the number 7000, which answers,
plays a beep, waits for one key and plays that key back as a DTMF tone, then hangs up. With
``--self-test`` a pycc user agent registers as 1001, calls 7000 and presses 2 (SIP INFO);
otherwise point a softphone at the printed address (user 1001, password secret1001) and
dial 7000.

    python examples/ivr_menu.py --self-test
    python examples/ivr_menu.py --sip-port 5060 --duration 600
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from pycc.config import load_config, write_initial_config
from pycc.media.channel import Channel
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch
from pycc.ua import UserAgent

choices: list[str] = []


async def menu(channel: Channel) -> None:
    """The service behind 7000: one key, played back."""
    key = await channel.collect(1, prompt="tone:beep", timeout=5)
    choices.append(key)
    print(f"caller chose {key or 'nothing'}", flush=True)
    if key:
        await channel.play(f"tone:{key}")


async def run(args: argparse.Namespace) -> None:
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="pycc-ivr-"))
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "pycc.toml").exists():
        write_initial_config(data)
    with Store(make_url(data, None)) as store:
        store.create_all()
        store.ensure_tenant("default", "pycc")
        if not any(e.number == "1001" for e in store.list_extensions("default")):
            store.add_extension("default", "1001", "secret1001")
    config = load_config(data).with_overrides(bind="127.0.0.1", sip_port=args.sip_port,
                                              sips_port=-1)
    async with Switch(config) as switch:
        switch.add_application("7000", menu)
        server = switch.addresses["udp"]
        print(f"listening on udp {server.host}:{server.port}; dial 7000", flush=True)
        if not args.self_test:
            await asyncio.sleep(args.duration)
            return
        async with UserAgent("1001", "secret1001", server=server) as phone:
            await phone.register()
            call = await phone.call("7000", timeout=5)
            await asyncio.sleep(0.3)
            await call.send_info_dtmf("2")
            await call.wait_ended(5)
        print("done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sip-port", type=int, default=0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--self-test", action="store_true",
                        help="call 7000 from a pycc user agent and press 2")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
