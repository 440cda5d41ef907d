"""Switch CPU per call under a SIPp call load it keeps up with, direct media.

    python benchmarks/sip_cpu.py [--rate 250] [--seconds 8] [--label NAME]

Below capacity every version completes every call, so completed calls cannot tell two
versions apart; CPU can. This starts ``pycc serve`` (the ``pycc`` on ``PYTHONPATH``) with
``direct_media = true``, runs SIPp's authenticated calls (`sip_load.run_calls`) at
``--rate`` for ``--seconds``, and prints the CPU the switch's main thread, its whole process
and its child processes (relay and register workers) used meanwhile, from /proc. Run it
alternately against two versions (``PYTHONPATH=/tmp/pycc-ref/src``) in one sitting.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import sip_load  # noqa: E402

from peers.pycc_server import start_pycc  # noqa: E402
from peers.sipp import SipAccount, scenario, start_sipp_uas  # noqa: E402


def cpu_seconds(stat_path: str) -> float:
    """User plus system CPU of a process or thread, from its /proc stat file."""
    with open(stat_path, encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listed:
                found += [int(child) for child in listed.read().split()]
        except OSError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--label", default="pycc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        users = [("1001", sip_load.PASSWORD), ("1002", sip_load.PASSWORD)]
        server = start_pycc(work, users, config={
            "rate_limit": 1e6, "rate_burst": 1e6, "ban_failures": 1_000_000,
            "direct_media": True})
        pid = server.proc.pid
        try:
            account = SipAccount("1002", sip_load.PASSWORD, server.address)
            with start_sipp_uas(scenario("uas_answer"), account=account, transport="u1",
                                calls=None, timeout=None, trace_messages=False,
                                workdir=work / "uas"):
                time.sleep(1)  # the UAS registered; the workers are up
                kids = children(pid)
                main0 = cpu_seconds(f"/proc/{pid}/task/{pid}/stat")
                proc0 = cpu_seconds(f"/proc/{pid}/stat")
                kids0 = sum(cpu_seconds(f"/proc/{k}/stat") for k in kids)
                done, failed = sip_load.run_calls(server.address, args.rate, args.seconds,
                                                  "u1", work, lambda _p: None)
                main1 = cpu_seconds(f"/proc/{pid}/task/{pid}/stat")
                proc1 = cpu_seconds(f"/proc/{pid}/stat")
                kids1 = sum(cpu_seconds(f"/proc/{k}/stat") for k in kids)
        finally:
            server.stop()
    calls = int(args.rate * args.seconds)
    print(f"{args.label}: {done:.1f} calls/s, {failed} failed; CPU s: main thread "
          f"{main1 - main0:.2f}, process {proc1 - proc0:.2f}, children {kids1 - kids0:.2f}; "
          f"main thread per call {1e6 * (main1 - main0) / calls:.0f} µs")


if __name__ == "__main__":
    main()
