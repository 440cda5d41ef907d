"""baresip (Debian ``baresip-core``) as a real SIP phone on 127.0.0.1.

:func:`start_baresip` writes a configuration into its own directory and starts the phone. It
registers with digest authentication to the switch (or, without a registrar, only listens), plays
a WAV file as its microphone and records what it hears, so a test can check that a tone crossed
the call (see :mod:`tests.peers.audio`).

The installed baresip is 1.0.0. Its pieces used here:

- ``ctrl_tcp``: commands (``dial``, ``hangup``, ``accept``, ``quit``) as netstring-framed JSON on
  a TCP port, answered with a response and followed by events (``REGISTER_OK``,
  ``CALL_ESTABLISHED``, ``CALL_CLOSED`` ...); the phone's stdout carries the human-readable log.
  :meth:`BaresipPhone.wait_for` searches both, :meth:`BaresipPhone.wait_event` the events.
- ``aufile`` as the audio source: a 16-bit mono WAV at the codec's rate (8 kHz for G.711).
  This version has no file player, so:
- ``sndfile`` records: it dumps each call's decoded audio to ``dump-<time>-dec.wav`` (and what
  the phone sent to ``...-enc.wav``) in ``snd_path``; the player itself is a silent
  ``aubridge`` device. :meth:`BaresipPhone.stop` copies the last decoded dump to
  ``record_wav``.
- Only G.711 (PCMU, PCMA) is offered. UDP and TCP listen on ``local_port``, TLS on
  ``local_port + 1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from .net import LOOPBACK, free_port, tcp_listening
from .process import start_process, stop_process, tail, wait_until

BARESIP = "baresip"
MODULE_DIRS = (
    Path("/usr/lib/baresip/modules"),
    Path("/usr/lib/x86_64-linux-gnu/baresip/modules"),
    Path("/usr/local/lib/baresip/modules"),
)
REQUIRED_MODULES = ("g711", "aufile", "aubridge", "sndfile", "account", "menu", "ctrl_tcp")

PhoneTransport = Literal["udp", "tcp", "tls"]


def module_dir() -> Path:
    """The directory holding baresip's modules; FileNotFoundError if a needed one is missing."""
    for candidate in MODULE_DIRS:
        if all((candidate / f"{m}.so").exists() for m in REQUIRED_MODULES):
            return candidate
    raise FileNotFoundError(
        f"baresip modules {REQUIRED_MODULES} not found; run scripts/setup.sh --test"
    )


def check_wav(path: Path, rate: int = 8000) -> None:
    """Raise ValueError unless ``path`` is a WAV aufile can play to a G.711 call."""
    with wave.open(str(path), "rb") as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
    if shape != (rate, 1, 2):
        raise ValueError(
            f"{path}: baresip's aufile needs {rate} Hz mono 16-bit, got "
            f"{shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit"
        )


def _silence(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return path


@dataclass(frozen=True)
class PhoneEvent:
    """One ctrl_tcp event, e.g. ``type="CALL_ESTABLISHED"``, ``peer="sip:1002@..."``."""

    type: str
    event_class: str
    peer: str
    param: str
    raw: dict[str, object]


class BaresipError(RuntimeError):
    """The phone failed (did not start, registration failed, a command was refused)."""


@dataclass
class BaresipPhone:
    """A running baresip; see :func:`start_baresip`."""

    process: subprocess.Popen[bytes]
    workdir: Path
    sip_user: str
    local_port: int
    ctrl_port: int
    transport: PhoneTransport
    registrar: str | None
    record_wav: Path | None
    log_path: Path
    _lines: list[str] = field(default_factory=list, repr=False)
    _events: list[PhoneEvent] = field(default_factory=list, repr=False)
    _responses: dict[str, dict[str, object]] = field(default_factory=dict, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _line_cursor: int = 0
    _event_cursor: int = 0
    _ctrl: socket.socket | None = field(default=None, repr=False)
    _token: int = 0
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _stopped: bool = False

    # -- output -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def lines(self) -> list[str]:
        """Every output line so far: baresip's stdout and ``event: TYPE peer param`` lines."""
        with self._cond:
            return list(self._lines)

    @property
    def events(self) -> list[PhoneEvent]:
        with self._cond:
            return list(self._events)

    def output(self) -> str:
        return "\n".join(self.lines) + "\n" + tail(self.log_path, 2000)

    def _add_line(self, line: str) -> None:
        with self._cond:
            self._lines.append(line)
            self._cond.notify_all()

    def wait_for(
        self, text: str | re.Pattern[str], timeout: float = 10.0, *, since: int | None = None
    ) -> str:
        """Wait for an output line containing ``text`` (or matching the pattern) and return it.

        The search starts after the line of the previous :meth:`wait_for` match, so waiting
        for the same text twice waits for its second occurrence; ``since=0`` searches from
        the first line. Raises TimeoutError with the output.
        """
        pattern = text if isinstance(text, re.Pattern) else re.compile(re.escape(text))
        deadline = time.monotonic() + timeout
        with self._cond:
            index = self._line_cursor if since is None else since
            while True:
                while index < len(self._lines):
                    line = self._lines[index]
                    index += 1
                    if pattern.search(line):
                        self._line_cursor = index
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (not self.running and index >= len(self._lines)):
                    break
                self._cond.wait(min(remaining, 0.2))
        raise TimeoutError(
            f"baresip {self.sip_user}: no line matching {pattern.pattern!r} within {timeout}s;"
            f" output:\n{self.output()}"
        )

    def wait_event(
        self, *types: str, timeout: float = 10.0, since: int | None = None
    ) -> PhoneEvent:
        """Wait for the next ctrl_tcp event whose type is one of ``types``; cursor as above."""
        deadline = time.monotonic() + timeout
        with self._cond:
            index = self._event_cursor if since is None else since
            while True:
                while index < len(self._events):
                    event = self._events[index]
                    index += 1
                    if event.type in types:
                        self._event_cursor = index
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.running:
                    break
                self._cond.wait(min(remaining, 0.2))
        raise TimeoutError(
            f"baresip {self.sip_user}: no event {types} within {timeout}s; output:\n"
            f"{self.output()}"
        )

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Wait for the registration to succeed; BaresipError when it fails."""
        pattern = re.compile(r"\{\d+/(UDP|TCP|TLS)/v[46]\} (\d{3})")
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self._events:
                    if event.type == "REGISTER_OK":
                        return
                    if event.type == "REGISTER_FAIL":
                        raise BaresipError(
                            f"{self.sip_user}: registration failed: {event.param}\n"
                            f"{self.output()}"
                        )
                for line in self._lines:
                    match = pattern.search(line)
                    if match and match[2].startswith("2"):
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.running:
                    break
                self._cond.wait(min(remaining, 0.2))
        raise TimeoutError(f"{self.sip_user} did not register:\n{self.output()}")

    # -- commands ---------------------------------------------------------------------------

    def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        """Run a baresip command through ctrl_tcp; returns its text, BaresipError if refused."""
        if self._ctrl is None:
            raise BaresipError("ctrl_tcp is not connected")
        with self._cond:
            self._token += 1
            token = f"pycc-{self._token}"
        payload = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._ctrl.sendall(str(len(payload)).encode() + b":" + payload + b",")
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"baresip gave no answer to {name!r}:\n{self.output()}")
                self._cond.wait(remaining)
            response = self._responses.pop(token)
        if not response.get("ok", False):
            raise BaresipError(f"baresip refused {name} {params!r}: {response.get('data')}")
        return str(response.get("data", ""))

    def uri_for(self, target: str) -> str:
        """A SIP URI for ``target``: kept if it is one, else ``sip:target@registrar``."""
        if target.startswith(("sip:", "sips:")):
            return target
        if self.registrar is None:
            raise ValueError("a bare extension needs a registrar; give a full sip: URI")
        # baresip adds the account's transport parameter to the URI it dials by itself.
        return f"sip:{target}@{self.registrar}"

    def dial(self, target: str) -> None:
        """Call ``target`` (an extension on the registrar, or a full URI)."""
        self.command("dial", self.uri_for(target))

    def accept(self) -> None:
        """Answer the ringing incoming call (when not auto-answering)."""
        self.command("accept")

    def hangup(self) -> None:
        """Hang up the current call."""
        self.command("hangup")

    # -- recordings -------------------------------------------------------------------------

    @property
    def recording_dir(self) -> Path:
        return self.workdir / "recordings"

    def recordings(self) -> list[Path]:
        """The received-audio dumps, oldest first (complete once their call has ended)."""
        return sorted(self.recording_dir.glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)

    def sent_recordings(self) -> list[Path]:
        """What the phone sent (its source after encoding filters), oldest first."""
        return sorted(self.recording_dir.glob("dump-*-enc.wav"), key=lambda p: p.stat().st_mtime)

    def last_recording(self) -> Path | None:
        found = self.recordings()
        return found[-1] if found else None

    # -- life cycle -------------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> int:
        """Quit baresip (``quit``, then signals), and copy the last recording to
        ``record_wav``. Returns the exit status."""
        if not self._stopped:
            self._stopped = True
            if self.running and self._ctrl is not None:
                with contextlib.suppress(OSError, TimeoutError, BaresipError):
                    self.command("quit", timeout=2.0)
                wait_until(lambda: not self.running, timeout)
            stop_process(self.process, grace=timeout)
            if self._ctrl is not None:
                self._ctrl.close()
            for thread in self._threads:
                thread.join(timeout=2.0)
            last = self.last_recording()
            if self.record_wav is not None and last is not None:
                self.record_wav.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(last, self.record_wav)
        return int(self.process.returncode if self.process.returncode is not None else -9)

    def __enter__(self) -> BaresipPhone:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- readers ----------------------------------------------------------------------------

    def _read_stdout(self, stream: IO[bytes]) -> None:
        with self.log_path.open("ab") as log:
            pending = b""
            while chunk := os.read(stream.fileno(), 4096):
                log.write(chunk)
                log.flush()
                pending += chunk
                *complete, pending = re.split(rb"\r\n|\n|\r", pending)
                for raw in complete:
                    line = _strip_ansi(raw.decode(errors="replace")).strip()
                    if line:
                        self._add_line(line)
            if pending.strip():
                self._add_line(_strip_ansi(pending.decode(errors="replace")).strip())
        with self._cond:
            self._cond.notify_all()

    def _read_ctrl(self, sock: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while True:
                message, buffer = _take_netstring(buffer)
                if message is None:
                    break
                self._on_ctrl_message(message)
        with self._cond:
            self._cond.notify_all()

    def _on_ctrl_message(self, message: bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            self._add_line(f"ctrl: unparsable {message!r}")
            return
        if not isinstance(data, dict):
            return
        if data.get("response"):
            with self._cond:
                self._responses[str(data.get("token", ""))] = data
                self._cond.notify_all()
            return
        if data.get("event"):
            event = PhoneEvent(
                type=str(data.get("type", "")),
                event_class=str(data.get("class", "")),
                peer=str(data.get("peeruri", "")),
                param=str(data.get("param", "")),
                raw=data,
            )
            with self._cond:
                self._events.append(event)
                self._lines.append(f"event: {event.type} {event.peer} {event.param}".strip())
                self._cond.notify_all()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _take_netstring(buffer: bytes) -> tuple[bytes | None, bytes]:
    """Split one ``len:payload,`` netstring off ``buffer``; (None, buffer) if incomplete."""
    colon = buffer.find(b":")
    if colon <= 0:
        return None, buffer
    try:
        length = int(buffer[:colon])
    except ValueError:
        # Resynchronise on garbage: drop up to the next byte that could start a length.
        return None, buffer[colon + 1 :]
    end = colon + 1 + length
    if len(buffer) < end + 1:
        return None, buffer
    return buffer[colon + 1 : end], buffer[end + 1 :]


def write_config(
    workdir: Path,
    *,
    sip_user: str,
    password: str | None,
    registrar: str | None,
    transport: PhoneTransport,
    local_port: int,
    ctrl_port: int,
    audio_source_wav: Path,
    auto_answer: bool,
    regint: int,
    rtp_ports: tuple[int, int],
    certificate: Path | None,
    ca_file: Path | None,
) -> None:
    """Write baresip's ``config`` and ``accounts`` into ``workdir``."""
    # baresip 1.0's sndfile module builds the dump's file name in a 128-byte buffer and cuts
    # it there, ".wav" first: keep the directory path short and link it into the workdir.
    short = Path(tempfile.mkdtemp(prefix="pycc-rec-", dir="/tmp"))
    recordings = workdir / "recordings"
    recordings.symlink_to(short, target_is_directory=True)
    recordings = short
    device = f"pycc{local_port}"
    lines = [
        "poll_method epoll",
        f"sip_listen {LOOPBACK}:{local_port}",
        "call_local_timeout 120",
        "call_max_calls 4",
        "audio_buffer 40",
        f"audio_player aubridge,{device}",
        f"audio_alert aubridge,{device}",
        f"audio_source aufile,{audio_source_wav}",
        "ausrc_format s16",
        "auplay_format s16",
        "auenc_format s16",
        "audec_format s16",
        f"rtp_ports {rtp_ports[0]}-{rtp_ports[1]}",
        "rtcp_mux no",
        "jitter_buffer_delay 1-10",
        # Only loopback: no DNS server beyond it, no other interface.
        f"dns_server {LOOPBACK}:53",
        f"net_interface {LOOPBACK}",
        f"module_path {module_dir()}",
        "module g711.so",
        "module aufile.so",
        "module aubridge.so",
        "module sndfile.so",
        "module_tmp uuid.so",
        "module_tmp account.so",
        "module_app menu.so",
        "module_app ctrl_tcp.so",
        f"ctrl_tcp_listen {LOOPBACK}:{ctrl_port}",
        f"snd_path {recordings}",
        "statmode_default off",
        "ringback_disabled yes",
    ]
    if certificate is not None:
        lines.append(f"sip_certificate {certificate}")
    if ca_file is not None:
        lines.append(f"sip_cafile {ca_file}")
    (workdir / "config").write_text("\n".join(lines) + "\n")

    params = [
        f"answermode={'auto' if auto_answer else 'manual'}",
        "audio_codecs=pcmu,pcma",
        "ptime=20",
        "mwi=no",
    ]
    if registrar is None:
        aor = f"<sip:{sip_user}@{LOOPBACK}:{local_port}>"
        params.append("regint=0")
    else:
        aor = f"<sip:{sip_user}@{registrar};transport={transport}>"
        params.append(f"regint={regint}")
    if password is not None:
        params.insert(0, f"auth_pass={password}")
    (workdir / "accounts").write_text(aor + ";" + ";".join(params) + "\n")


def start_baresip(
    workdir: Path | None,
    *,
    sip_user: str,
    password: str | None = None,
    registrar_host: str | None = LOOPBACK,
    registrar_port: int | None = None,
    transport: PhoneTransport = "udp",
    local_port: int | None = None,
    audio_source_wav: Path | None = None,
    record_wav: Path | None = None,
    auto_answer: bool = True,
    regint: int = 600,
    rtp_ports: tuple[int, int] = (40000, 49999),
    certificate: Path | None = None,
    ca_file: Path | None = None,
    sip_trace: bool = False,
    wait_registered: bool = True,
    startup_timeout: float = 10.0,
) -> BaresipPhone:
    """Start a baresip phone for extension ``sip_user``.

    It registers to ``registrar_host:registrar_port`` over ``transport`` with digest
    ``password`` (and by default waits for the 200); with ``registrar_port`` None it does not
    register and only listens on ``local_port`` (None: a free port, with ``local_port + 1``
    free for TLS). ``audio_source_wav`` (8 kHz mono 16-bit; one second of silence if None) is
    what the phone says; the audio it hears is recorded and copied to ``record_wav`` by
    :meth:`BaresipPhone.stop`. ``certificate`` (PEM with certificate and key) lets the phone
    accept TLS; ``ca_file`` is what it trusts as a TLS client. ``sip_trace`` logs every SIP
    message to the output. ``workdir`` None uses a temporary directory.
    """
    if shutil.which(BARESIP) is None:
        raise FileNotFoundError("baresip not installed; run scripts/setup.sh --test")
    root = Path(tempfile.mkdtemp(prefix="pycc-baresip-")) if workdir is None else workdir
    root = root / f"baresip-{sip_user}-{int(time.time() * 1000) % 10**8}"
    root.mkdir(parents=True, exist_ok=False)
    port = free_port("both", count=2) if local_port is None else local_port
    ctrl_port = free_port("tcp")
    if audio_source_wav is None:
        audio_source_wav = _silence(root / "silence.wav")
    check_wav(audio_source_wav)
    registrar = (
        None
        if registrar_port is None or registrar_host is None
        else f"{registrar_host}:{registrar_port}"
    )
    write_config(
        root,
        sip_user=sip_user,
        password=password,
        registrar=registrar,
        transport=transport,
        local_port=port,
        ctrl_port=ctrl_port,
        audio_source_wav=audio_source_wav.resolve(),
        auto_answer=auto_answer,
        regint=regint,
        rtp_ports=rtp_ports,
        certificate=certificate,
        ca_file=ca_file,
    )
    argv: list[str] = []
    if shutil.which("stdbuf"):
        # baresip logs with stdio: line-buffer it so lines arrive as they happen.
        argv += ["stdbuf", "-oL", "-eL"]
    argv += [BARESIP, "-f", str(root)]
    if sip_trace:
        argv.append("-s")
    log_path = root / "baresip.log"
    proc = start_process(argv, cwd=root, log_path=log_path, stdout_pipe=True)
    phone = BaresipPhone(
        process=proc,
        workdir=root,
        sip_user=sip_user,
        local_port=port,
        ctrl_port=ctrl_port,
        transport=transport,
        registrar=registrar,
        record_wav=record_wav,
        log_path=log_path,
    )
    assert proc.stdout is not None
    reader = threading.Thread(
        target=phone._read_stdout, args=(proc.stdout,), daemon=True, name=f"baresip-{sip_user}"
    )
    reader.start()
    phone._threads.append(reader)
    try:
        if not wait_until(lambda: not phone.running or tcp_listening(ctrl_port), startup_timeout):
            raise BaresipError(f"baresip {sip_user} did not open ctrl_tcp:\n{phone.output()}")
        if not phone.running:
            raise BaresipError(f"baresip {sip_user} exited at start:\n{phone.output()}")
        ctrl = socket.create_connection((LOOPBACK, ctrl_port), timeout=5.0)
        ctrl.settimeout(None)
        phone._ctrl = ctrl
        ctrl_reader = threading.Thread(
            target=phone._read_ctrl, args=(ctrl,), daemon=True, name=f"baresip-ctrl-{sip_user}"
        )
        ctrl_reader.start()
        phone._threads.append(ctrl_reader)
        phone.wait_for("baresip is ready", startup_timeout, since=0)
        if registrar is not None and wait_registered:
            phone.wait_registered(startup_timeout)
    except BaseException:
        phone.stop()
        raise
    return phone
