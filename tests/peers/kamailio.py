"""Kamailio as a stateful SIP proxy on 127.0.0.1, the yardstick for pycc's benchmarks.

:func:`start_kamailio` writes a small ``kamailio.cfg`` and runs Debian's ``kamailio`` in the
foreground (``-DD -E``). Every initial request is relayed statefully (``t_relay``) to
``127.0.0.1:forward_to_port``; requests inside a dialog follow their Route headers
(``loose_route``), CANCEL follows its INVITE, and INVITEs are record-routed so that the whole
dialog passes through the proxy, as it passes through pycc.

With ``auth_password`` set, Kamailio does the same digest work pycc does: an INVITE without
valid credentials gets 407 and a REGISTER gets 401, checked against that one password for every
user (realm ``pycc``); REGISTERs are then stored in an in-memory location table (usrloc,
``db_mode`` 0) and answered 200. The same SIPp scenarios then run against either server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from .net import LOOPBACK, free_port, port_was_taken, tcp_listening, udp_bound
from .process import start_process, stop_process, tail, wait_until

KAMAILIO = "kamailio"
MODULE_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/aarch64-linux-gnu/kamailio/modules"),
    Path("/usr/lib/kamailio/modules"),
)
REALM = "pycc"

_CONFIG = """\
#!KAMAILIO
# Stateful proxy for pycc's tests and benchmarks; written by tests/peers/kamailio.py.

debug={debug}
log_stderror=yes
log_facility=LOG_LOCAL0
children={children}
tcp_children={children}
auto_aliases=no
# A worker that misses the stop signal is killed after this many seconds (the default
# is a minute), so that a stopped proxy exits promptly and cleanly.
ser_kill_timeout=3
alias="{host}:{port}"
listen=udp:{host}:{port}
listen=tcp:{host}:{port}
dns=no
rev_dns=no
use_dns_cache=off
server_header="Server: kamailio (pycc benchmark)"
user_agent_header="User-Agent: kamailio (pycc benchmark)"

mpath="{module_dir}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "xlog.so"
{auth_modules}
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)
modparam("rr", "enable_full_lr", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}

    if (has_totag()) {{
        if (loose_route()) {{
            route(RELAY);
        }}
        if (is_method("ACK")) {{
            # ACK for a relayed non-2xx goes with its transaction; any other (the ACK of a
            # locally sent 401/407, a stray one) is dropped.
            if (t_check_trans()) {{
                route(RELAY);
            }}
            exit;
        }}
        # In-dialog request without Route: the far end did not record-route us.
        route(FORWARD);
    }}

    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}

    # Absorb retransmissions of requests already being relayed.
    t_check_trans();

{auth_block}
    if (is_method("INVITE|SUBSCRIBE")) {{
        record_route();
    }}
    route(FORWARD);
}}

route[FORWARD] {{
    $du = "sip:{forward_host}:{forward_port};transport=" + {forward_transport};
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""

_AUTH_MODULES = """\
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "nonce_expire", 300)
"""

_AUTH_BLOCK = """\
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("{realm}", "{password}", "0")) {{
            www_challenge("{realm}", "1");
            exit;
        }}
        consume_credentials();
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}

    if (is_method("INVITE")) {{
        if (!pv_proxy_authenticate("{realm}", "{password}", "0")) {{
            proxy_challenge("{realm}", "1");
            exit;
        }}
        consume_credentials();
    }}
"""


def module_dir() -> Path:
    """The directory that holds Kamailio's modules (``tm.so`` etc.)."""
    for candidate in MODULE_DIRS:
        if (candidate / "tm.so").exists():
            return candidate
    raise FileNotFoundError("kamailio modules not found; install the Debian package kamailio")


def kamailio_config(
    *,
    listen_port: int,
    forward_to_port: int,
    forward_host: str = LOOPBACK,
    forward_transport: Literal["udp", "tcp", "same"] = "same",
    auth_password: str | None = None,
    children: int = 4,
    debug: int = 1,
    host: str = LOOPBACK,
) -> str:
    """The text of the proxy's ``kamailio.cfg`` (see the module docstring)."""
    if auth_password is not None and any(c in auth_password for c in '"\\$'):
        raise ValueError("auth_password must not contain quotes, backslashes or '$'")
    auth_modules = "" if auth_password is None else _AUTH_MODULES
    auth_block = (
        "" if auth_password is None else _AUTH_BLOCK.format(realm=REALM, password=auth_password)
    )
    # "same": relay over the transport the request came in on ($pr is "udp" or "tcp").
    transport = "$pr" if forward_transport == "same" else f'"{forward_transport}"'
    return _CONFIG.format(
        debug=debug,
        children=children,
        host=host,
        port=listen_port,
        module_dir=module_dir(),
        auth_modules=auth_modules,
        auth_block=auth_block,
        forward_host=forward_host,
        forward_port=forward_to_port,
        forward_transport=transport,
    )


@dataclass
class KamailioProxy:
    """A running Kamailio; stop it with :meth:`stop` or use it as a context manager."""

    process: subprocess.Popen[bytes]
    workdir: Path
    host: str
    port: int
    forward_to_port: int
    log_path: Path
    _owns_workdir: bool = field(default=False, repr=False)

    @property
    def address(self) -> str:
        """``host:port``, the target to give SIPp."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """The end of Kamailio's log, for assertion messages."""
        return tail(self.log_path)

    def stop(self, timeout: float = 15.0) -> int:
        """Stop Kamailio and all its workers; returns its exit status. The grace is long:
        on a loaded machine its workers take seconds to finish after SIGTERM."""
        code = stop_process(self.process, grace=timeout, whole_group=True)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return code

    def __enter__(self) -> KamailioProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_kamailio(
    workdir: Path | None,
    listen_port: int | None,
    forward_to_port: int,
    *,
    forward_transport: Literal["udp", "tcp", "same"] = "same",
    auth_password: str | None = None,
    children: int = 4,
    shared_memory_mb: int = 128,
    debug: int = 1,
    startup_timeout: float = 10.0,
) -> KamailioProxy:
    """Start Kamailio on 127.0.0.1:``listen_port`` (UDP and TCP), relaying to
    127.0.0.1:``forward_to_port`` over ``forward_transport`` ("same": the transport each
    request arrived on).

    ``workdir`` holds the config, the runtime directory and ``kamailio.log``; with None a
    temporary directory is used and removed on stop. ``listen_port`` None picks a free port.
    Raises RuntimeError (with the log) when Kamailio does not come up.
    """
    if shutil.which(KAMAILIO) is None:
        raise FileNotFoundError("kamailio not installed; run scripts/setup.sh --test")
    owns = workdir is None
    root = Path(tempfile.mkdtemp(prefix="pycc-kamailio-")) if workdir is None else workdir
    # The port free_port found may be taken before Kamailio binds it: then another is tried.
    attempts = 3 if listen_port is None else 1
    for attempt in range(1, attempts + 1):
        port = free_port("both") if listen_port is None else listen_port
        proxy = _launch(root, port, forward_to_port, owns, forward_transport=forward_transport,
                        auth_password=auth_password, children=children,
                        shared_memory_mb=shared_memory_mb, debug=debug)

        def listening(proxy: KamailioProxy = proxy, port: int = port) -> bool:
            # The TCP listener and the UDP socket are both bound once the workers run.
            return not proxy.running or (udp_bound(port) and tcp_listening(port))

        if wait_until(listening, startup_timeout) and proxy.running:
            return proxy
        log = proxy.log()
        proxy.stop()
        if attempt < attempts and port_was_taken(log):
            continue
        raise RuntimeError(f"kamailio did not start on {LOOPBACK}:{port}:\n{log}")
    raise AssertionError("unreachable")


def _launch(root: Path, port: int, forward_to_port: int, owns: bool, *,
            forward_transport: Literal["udp", "tcp", "same"], auth_password: str | None,
            children: int, shared_memory_mb: int, debug: int) -> KamailioProxy:
    """Write the config under ``root`` and start Kamailio on ``port``."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "kamailio.cfg"
    config_path.write_text(
        kamailio_config(
            listen_port=port,
            forward_to_port=forward_to_port,
            forward_transport=forward_transport,
            auth_password=auth_password,
            children=children,
            debug=debug,
        )
    )
    runtime_dir = root / "run"
    runtime_dir.mkdir(exist_ok=True)
    log_path = root / "kamailio.log"
    argv = [
        KAMAILIO,
        "-f",
        str(config_path),
        "-DD",  # stay in the foreground, still fork the workers
        "-E",  # log to stderr (our log file)
        "-Y",
        str(runtime_dir),
        "-w",
        str(root),
        "-P",
        str(runtime_dir / "kamailio.pid"),
        "-m",
        str(shared_memory_mb),
        "-M",
        "8",
    ]
    proc = start_process(argv, cwd=root, log_path=log_path)
    return KamailioProxy(proc, root, LOOPBACK, port, forward_to_port, log_path, owns)
