"""A call center for the desktop tests: `serving` starts ``pycc serve`` with extensions,
applies a call-center file (agent alice on 1001, queue sales reached at 8100 or through the
IVR at 8000) and adds the page's users; `log_in` signs a browser page in."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from playwright.async_api import Page

from peers.net import free_port
from peers.pycc_server import PyccServer, start_pycc, with_settings
from pycc.aaa.accounts import create_user
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.ccc.ice import offer_addresses
from pycc.config import write_initial_config
from pycc.store.db import make_url
from pycc.store.repo import Store

__all__ = ["CENTER", "PASSWORD", "campaign_center", "log_in", "recording_settings", "serving"]

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
ivr:
  - name: main
    steps:
      - answer
      - menu:
          prompt: tone:dial
          timeout: 10
          retries: 1
          options:
            "1": {queue: sales}
routes:
  - {match: "8000", to: {ivr: main}}
  - {match: "8100", to: {queue: sales}}
"""
#: Every page user's password.
PASSWORD = "pw-alice-123456"


@contextlib.contextmanager
def serving(tmp_path: Path, *, extensions: Iterable[str] = ("1001", "1002"),
            users: Iterable[tuple[str, str, str | None]] = (("alice", "agent", "alice"),),
            center: str = CENTER) -> Iterator[PyccServer]:
    """A running ``pycc serve`` with ``extensions`` (password ``secret-NUMBER``), the
    ``center`` applied and ``users`` as (name, role, agent); its log is printed when the
    test fails, and it is stopped afterwards."""
    # ICE in this process (a page double's) must offer 127.0.0.1 in a loopback-only network.
    offer_addresses()
    server = start_pycc(tmp_path, [(number, f"secret-{number}") for number in extensions])
    try:
        (tmp_path / "center.yaml").write_text(center, encoding="utf-8")
        done = server.cli("apply", str(tmp_path / "center.yaml"))
        assert done.returncode == 0, done.stderr
        with Store(make_url(server.data_dir, None)) as store:
            for name, role, agent in users:
                create_user(store, "default", name, role, password=PASSWORD, now=time.time(),
                            origin=Origin("tests", "cli"), agent=agent,
                            params=ScryptParams(log2_n=4, r=1, p=1))
        yield server
    except BaseException:
        print(server.log()[-8000:])
        raise
    finally:
        server.stop()


async def log_in(page: Page, base: str, user: str) -> None:
    """Open the page and log ``user`` in."""
    await page.goto(f"{base}/ui/")
    await page.fill("#login-user", user)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")


def recording_settings(data_dir: Path, *, rtp_ports: int = 0) -> None:
    """Write the operator's pycc.toml before `serving` (``pycc init`` keeps it): every call
    recorded, the recordings catalogued and the alarms checked every half second, and with
    ``rtp_ports`` that many RTP ports from a free block."""
    data_dir.mkdir(parents=True)
    path = write_initial_config(data_dir)
    settings: dict[str, object] = {"record_calls": True}
    if rtp_ports:
        first = free_port("udp", count=rtp_ports)
        settings["rtp_ports"] = f"{first}-{first + rtp_ports - 1}"
    text = with_settings(path.read_text(encoding="utf-8"), settings)
    path.write_text(text + "\n[oam]\nalarm_interval = 0.5\n\n[files]\nindex_interval = 0.5\n",
                    encoding="utf-8")


def campaign_center(port: int, *, mode: str, ring_timeout: int, wrapup: int,
                    dial_level: float | None = None) -> str:
    """A call center whose campaign "spring" (``mode``) dials customers through the trunk
    "customers" at 127.0.0.1:``port`` (a SIPp UAS, tests/scenarios/uas_customers.xml) and
    gives them to alice (extension 1001) in the queue "outbound"."""
    level = "" if dial_level is None else f"\n    dial_level: {dial_level:g}"
    return f"""
tenant: default
agents:
  - {{id: alice, extension: "1001", skills: {{sales: 5}}}}
queues:
  - {{name: outbound, skill: sales, ring_timeout: {ring_timeout}, wrapup: {wrapup}}}
trunks:
  - {{name: customers, host: "127.0.0.1:{port}", options_interval: 0, ips: []}}
campaigns:
  - name: spring
    mode: {mode}{level}
    queue: outbound
    trunk: customers
    caller_ids: ["+15551230000"]
    ring_time: 15
"""
