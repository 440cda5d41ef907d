"""SIP load: calls/s and digest REGISTER/s through pycc, with Kamailio as the yardstick.

    python benchmarks/sip_load.py [--runs 3] [--seconds 10] [--call-rates 200,400,600]
                                  [--register-rates 1000,2000,3000] [--transport u1]
                                  [--only calls|register] [--reference-src DIR]
                                  [--reference-pure] [--direct-media] [--register-worker]

For each offered rate, SIPp runs for ``--seconds`` against ``pycc serve`` and then against
Kamailio (a stateful proxy that does the same digest checks, see tests/peers/kamailio.py), in
the same invocation; with ``--reference-src`` also against an earlier version of pycc (its
``src`` directory, e.g. from ``git worktree add``), or with ``--reference-pure`` against
these sources with the compiled SIP core turned off (``PYCC_PURE=1``, see pycc.accel). A
rate counts only if every call succeeded. Each figure is the median of ``--runs`` runs; the
ratios are pycc's completed rate over Kamailio's and over the reference's.

Calls: SIPp UAC (INVITE, 407, INVITE with credentials, 180, 200, ACK, BYE) -> server ->
SIPp UAS. Registrations: SIPp REGISTER, 401, REGISTER with credentials, 200, spread over
1,000 extensions that exist when pycc starts; one SIPp "call" is one authenticated
registration.

pycc runs with a per-source rate limit above the offered load (every SIPp request comes from
one address, which the default limit of 500 requests/s would throttle). pycc anchors the
calls' media (its default); with ``--direct-media`` each run also starts a pycc with
``direct_media = true`` ("pycc-direct"), which passes the SDP on and carries the signalling
alone, as Kamailio does; the earlier version then runs with it too and is compared with
"pycc-direct". With ``--register-worker`` each registration run also starts a pycc with
``register_workers = 1`` ("pycc-worker"), whose register worker process reads and
authenticates the REGISTERs on the other core; it is compared with Kamailio and with "pycc",
which then runs with ``register_workers = 0`` and reads them itself (without the option
"pycc" has the default: the worker on a machine with two or more cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from peers.kamailio import start_kamailio  # noqa: E402
from peers.net import free_port  # noqa: E402
from peers.pycc_server import start_pycc  # noqa: E402
from peers.sipp import (  # noqa: E402
    SipAccount,
    SippResult,
    run_sipp,
    scenario,
    start_sipp,
    start_sipp_uas,
    write_credentials,
)

PASSWORD = "bench-secret"
REGISTER_USERS = [str(n) for n in range(3000, 4000)]


def offered(result: SippResult, seconds: float) -> float:
    return result.successful / max(result.elapsed, seconds * 0.5)


def run_calls(target: str, rate: float, seconds: float, transport: str, work: Path,
              uas_target: Callable[[Path], object]) -> tuple[float, int]:
    calls = int(rate * seconds)
    inf = write_credentials(work / "caller.csv", [("1001", PASSWORD)])
    result = run_sipp(scenario("uac_call_auth"), target, transport=transport,  # type: ignore[arg-type]
                      service="1002", inf_file=inf, calls=calls, rate=rate,
                      max_concurrent=int(rate * 3) + 10, pause_ms=100,
                      timeout=seconds * 3 + 20, trace_messages=False, workdir=work / "uac",
                      # A call refused with 503 is acknowledged and counted as failed; no
                      # BYE for it (SIPp's default for a failed call) to load the server.
                      extra_args=("-default_behaviors", "all,-bye"))
    return offered(result, seconds), calls - result.successful


def run_registers(target: str, rate: float, seconds: float, transport: str,
                  work: Path) -> tuple[float, int]:
    calls = int(rate * seconds)
    inf = write_credentials(work / "users.csv", [(u, PASSWORD) for u in REGISTER_USERS])
    result = run_sipp(scenario("uac_register_auth"), target, transport=transport,  # type: ignore[arg-type]
                      inf_file=inf, calls=calls, rate=rate, max_concurrent=int(rate) + 10,
                      timeout=seconds * 3 + 20, trace_messages=False, workdir=work / "reg")
    return offered(result, seconds), calls - result.successful


def measure(kind: str, rates: list[float], args: argparse.Namespace) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for rate in rates:
        reference = bool(args.reference_src or args.reference_pure)
        servers = ["pycc", "kamailio"] + (["pycc-ref"] if reference else []) + \
            (["pycc-direct"] if args.direct_media and kind == "calls" else []) + \
            (["pycc-worker"] if args.register_worker and kind == "register" else [])
        figures: dict[str, list[float]] = {server: [] for server in servers}
        failures: dict[str, int] = dict.fromkeys(servers, 0)
        for _ in range(args.runs):
            for server_kind in servers:
                with tempfile.TemporaryDirectory(prefix="pycc-bench-") as tmp:
                    work = Path(tmp)
                    done, failed = run_one(kind, server_kind, rate, args, work)
                figures[server_kind].append(done)
                failures[server_kind] += failed
        row = {
            "kind": kind, "offered": rate,
            "pycc": round(statistics.median(figures["pycc"]), 1),
            "kamailio": round(statistics.median(figures["kamailio"]), 1),
            "pycc_failed": failures["pycc"], "kamailio_failed": failures["kamailio"],
        }
        kam = float(row["kamailio"])  # type: ignore[arg-type]
        row["ratio"] = round(float(row["pycc"]) / kam, 2) if kam else None  # type: ignore[arg-type]
        if "pycc-direct" in servers:
            direct = statistics.median(figures["pycc-direct"])
            row["pycc_direct"] = round(direct, 1)
            row["pycc_direct_failed"] = failures["pycc-direct"]
            row["direct_ratio"] = round(direct / kam, 2) if kam else None
        if "pycc-worker" in servers:
            worker = statistics.median(figures["pycc-worker"])
            row["pycc_worker"] = round(worker, 1)
            row["pycc_worker_failed"] = failures["pycc-worker"]
            row["worker_ratio"] = round(worker / kam, 2) if kam else None
            pycc = float(row["pycc"])  # type: ignore[arg-type]
            row["worker_over_pycc"] = round(worker / pycc, 2) if pycc else None
        if reference:
            ref = statistics.median(figures["pycc-ref"])
            row["pycc_ref"] = round(ref, 1)
            row["pycc_ref_failed"] = failures["pycc-ref"]
            ours = row["pycc_direct"] if "pycc-direct" in servers else row["pycc"]
            row["ratio_to_ref"] = round(float(ours) / ref, 2) if ref else None  # type: ignore[arg-type]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def run_one(kind: str, server_kind: str, rate: float, args: argparse.Namespace,
            work: Path) -> tuple[float, int]:
    if server_kind == "pycc-ref":
        # The same benchmark against another version of pycc: its sources come first on the
        # path of the `python -m pycc` that start_pycc runs. Or against these sources with
        # the compiled SIP core turned off.
        name, value = (("PYCC_PURE", "1") if args.reference_pure
                       else ("PYTHONPATH", str(Path(args.reference_src).resolve())))
        saved = os.environ.get(name)
        os.environ[name] = value
        try:
            same = "pycc-direct" if args.direct_media and kind == "calls" else "pycc"
            return run_one(kind, same, rate, args, work)
        finally:
            if saved is None:
                del os.environ[name]
            else:
                os.environ[name] = saved
    transport = args.transport
    if server_kind in ("pycc", "pycc-direct", "pycc-worker"):
        # The registering extensions exist before pycc starts, as a switch's extensions do:
        # it loads their credentials at start (Kamailio's side checks one fixed password).
        users = [("1001", PASSWORD), ("1002", PASSWORD)]
        if kind == "register":
            users += [(number, PASSWORD) for number in REGISTER_USERS]
        server = start_pycc(work, users, config={
            "rate_limit": 1e6, "rate_burst": 1e6, "ban_failures": 1_000_000,
            "direct_media": server_kind == "pycc-direct",
            # With --register-worker, "pycc" is the switch reading REGISTERs itself.
            **({"register_workers": 1} if server_kind == "pycc-worker" else
               {"register_workers": 0} if args.register_worker and kind == "register"
               else {})})
        try:
            if kind == "register":
                return run_registers(server.address, rate, args.seconds, transport, work)
            account = SipAccount("1002", PASSWORD, server.address)
            with start_sipp_uas(scenario("uas_answer"), account=account, transport=transport,
                                calls=None, timeout=None, trace_messages=False,
                                workdir=work / "uas"):
                return run_calls(server.address, rate, args.seconds, transport, work,
                                 lambda _p: None)
        finally:
            server.stop()
    uas_port = free_port("both")
    with start_kamailio(work / "kamailio", None, uas_port, auth_password=PASSWORD) as kam:
        if kind == "register":
            return run_registers(kam.address, rate, args.seconds, transport, work)
        with start_sipp(scenario("uas_answer"), None, transport=transport, local_port=uas_port,
                        calls=None, rate=None, timeout=None, trace_messages=False,
                        workdir=work / "uas"):
            return run_calls(kam.address, rate, args.seconds, transport, work, lambda _p: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--call-rates", default="200,400,600")
    parser.add_argument("--register-rates", default="1000,2000,3000")
    parser.add_argument("--transport", default="u1", choices=["u1", "t1"])
    parser.add_argument("--only", choices=["calls", "register"], default=None)
    parser.add_argument("--reference-src", default=None, metavar="DIR",
                        help="also run the pycc whose package is in DIR (e.g. the src of a "
                             "git worktree of an earlier commit) and report pycc over it")
    parser.add_argument("--reference-pure", action="store_true",
                        help="also run this pycc with PYCC_PURE=1 (no compiled SIP core) and "
                             "report pycc over it")
    parser.add_argument("--direct-media", action="store_true",
                        help="calls: also run a pycc with direct_media = true")
    parser.add_argument("--register-worker", action="store_true",
                        help="registrations: also run a pycc with register_workers = 1")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    if args.only in (None, "calls"):
        rows += measure("calls", [float(r) for r in args.call_rates.split(",")], args)
    if args.only in (None, "register"):
        rows += measure("register", [float(r) for r in args.register_rates.split(",")], args)
    print("\nkind      offered  pycc/s  kamailio/s  ratio  failed(pycc/kam)  ref/s  pycc/ref")
    for row in rows:
        print(f"{row['kind']:<9} {row['offered']:>7} {row['pycc']:>7} {row['kamailio']:>11} "
              f"{row['ratio']!s:>6}  {row['pycc_failed']}/{row['kamailio_failed']:<14} "
              f"{row.get('pycc_ref', '-')!s:>6} {row.get('ratio_to_ref', '-')!s:>8}  "
              f"direct: {row.get('pycc_direct', '-')!s} ({row.get('direct_ratio', '-')!s}, "
              f"{row.get('pycc_direct_failed', '-')!s} failed)  "
              f"worker: {row.get('pycc_worker', '-')!s} ({row.get('worker_ratio', '-')!s}, "
              f"{row.get('pycc_worker_failed', '-')!s} failed)")


if __name__ == "__main__":
    main()
