"""schemathesis against the OpenAPI document of a real ``pycc serve``: requests generated
from the document for every operation (valid ones and ones just outside it), as an admin,
and none may answer with a server error."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peers.pycc_server import start_pycc
from pycc.aaa.accounts import create_user, issue_token
from pycc.aaa.audit import Origin
from pycc.aaa.passwords import ScryptParams
from pycc.store.db import make_url
from pycc.store.repo import Store

pytestmark = pytest.mark.peer

CENTER = """
tenant: default
agents:
  - {id: alice, extension: "1001", skills: {sales: 5}}
queues:
  - {name: sales, skill: sales}
campaigns:
  - {name: spring, queue: sales}
"""


@pytest.mark.timeout(400)
def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    command = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(command).exists():
        pytest.fail("schemathesis is not installed (scripts/setup.sh --test installs it)")
    server = start_pycc(tmp_path)
    try:
        (tmp_path / "center.yaml").write_text(CENTER, encoding="utf-8")
        assert server.cli("apply", str(tmp_path / "center.yaml")).returncode == 0
        store = Store(make_url(server.data_dir, None))
        now = time.time()
        create_user(store, "default", "root", "admin", password="pw-root-123456", now=now,
                    origin=Origin("tests", "cli"), params=ScryptParams(log2_n=4, r=1, p=1))
        token = issue_token(store, "default", "root", now=now,
                            origin=Origin("tests", "cli")).plaintext
        store.close()
        done = subprocess.run(
            [command, "run", f"http://127.0.0.1:{server.http_port}/openapi.json",
             "--checks", "not_a_server_error", "-H", f"Authorization: Bearer {token}",
             "--max-examples", "10", "--phases", "fuzzing", "--seed", "1",
             "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
        report = done.stdout[-4000:] + done.stderr[-2000:]
        assert done.returncode == 0, report
        # "N generated, N passed": every case passed the server-error check.
        assert re.search(r"(\d+) generated, \1 passed", done.stdout), report
        assert "Traceback" not in server.log(), server.log()[-3000:]
    finally:
        server.stop()
