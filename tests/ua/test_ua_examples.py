"""The examples run: ``--help`` works, embed_switch shows registrations, and click_to_call
completes a call through a switch started by the test (a call record proves it)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from pycc.config import load_config, write_initial_config
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.switch import Switch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["embed_switch.py", "click_to_call.py", "ivr_menu.py"])
def test_help(name: str) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


def test_ivr_menu_collects_the_key_the_caller_pressed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "ivr_menu.py"), "--data-dir", str(tmp_path / "d"),
         "--self-test"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "caller chose 2" in done.stdout
    assert done.stdout.rstrip().endswith("done")


def test_embed_switch_lists_registrations(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "embed_switch.py"), "--data-dir", str(tmp_path / "d"),
         "--with-phones", "--duration", "1.5", "--interval", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "listening on udp 127.0.0.1:" in done.stdout
    assert "2 registration(s)" in done.stdout
    assert "1001: sip:1001@127.0.0.1:" in done.stdout
    assert "stopping" in done.stdout


def test_click_to_call_through_a_running_switch(tmp_path: Path) -> None:
    write_initial_config(tmp_path)
    store = Store(make_url(tmp_path, None))
    store.create_all()
    store.ensure_tenant("default", "pycc")
    store.add_extension("default", "2001", "pw-2001")
    store.add_extension("default", "2002", "pw-2002")

    async def main() -> tuple[int, str, str]:
        config = load_config(tmp_path).with_overrides(bind="127.0.0.1", sip_port=0,
                                                      sips_port=-1)
        async with Switch(config) as switch:
            server = switch.addresses["tcp"]
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(EXAMPLES / "click_to_call.py"),
                "--server", server.host_port, "--transport", "tcp",
                "--caller", "2001", "--caller-password", "pw-2001",
                "--callee", "2002", "--callee-password", "pw-2002", "--talk", "0.3",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode is not None
            return process.returncode, out.decode(), err.decode()

    try:
        code, out, err = asyncio.run(main())
        assert code == 0, err
        assert "2002 answered" in out
        assert "call ended (caller hung up)" in out
        (record,) = store.list_call_records("default")
        assert (record.caller, record.callee) == ("2001", "2002")
        assert record.disposition == "answered" and record.hangup_by == "caller"
    finally:
        store.close()


def test_click_to_call_reports_a_failure_in_one_line(tmp_path: Path) -> None:
    # Nothing listens on this TCP port: the REGISTER cannot be sent.
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "click_to_call.py"), "--server", "127.0.0.1:9",
         "--transport", "tcp"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("click_to_call: ")
    assert len(done.stderr.strip().splitlines()) == 1
