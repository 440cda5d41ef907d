"""baresip (Debian ``baresip-core``) as a real SIP phone on 127.0.0.1.

:func:`start_baresip` writes a configuration into its own directory and starts the phone. It
registers with digest authentication to the switch (or, without a registrar, only listens), plays
a WAV file as its microphone and records what it hears, so a test can check that a tone crossed
the call (see :mod:`tests.peers.audio`).

The installed baresip is 1.0.0. Its pieces used here:

- ``ctrl_tcp``: commands (``dial``, ``hangup``, ``accept``, ``sndcode``, ``quit``) as
  netstring-framed JSON on a TCP port, answered with a response and followed by events
  (``REGISTER_OK``, ``CALL_ESTABLISHED``, ``CALL_DTMF_START``, ``CALL_CLOSED`` ...); the phone's
  stdout carries the human-readable log. :meth:`BaresipPhone.wait_for` searches both,
  :meth:`BaresipPhone.wait_event` the events.
- ``aufile`` as the audio source: a 16-bit WAV at exactly the sample rate and channel count of
  the call's codec (8 kHz mono for G.711, 16 kHz mono for G.722, 48 kHz stereo for Opus), or it
  refuses to start the stream. :func:`start_baresip` converts or generates the WAV in the format
  of the first codec offered. This version has no file player, so:
- ``sndfile`` records: it dumps each call's decoded audio to ``dump-<time>-dec.wav`` (and what
  the phone sent to ``...-enc.wav``) in ``snd_path``, at the codec's rate and channels; the
  player itself is a silent ``aubridge`` device. :meth:`BaresipPhone.stop` copies the last
  decoded dump to ``record_wav``.
- Codecs: ``g711`` (PCMU, PCMA), ``g722``, ``opus`` and ``l16`` as asked for with ``codecs``;
  only those are offered and accepted. ``srtp`` adds SDES-keyed SRTP (RFC 3711, RFC 4568).
- DTMF: baresip 1.0 sends digits only as RFC 4733 telephone-events (``telephone-event/8000`` is
  in every audio offer); there is no account setting for SIP INFO. It receives both RFC 4733
  events and SIP INFO ``application/dtmf-relay`` and reports each digit as a
  ``CALL_DTMF_START`` event (:meth:`BaresipPhone.received_digits`).
- UDP and TCP listen on ``local_port``, TLS on ``local_port + 1``.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from .audio import convert_wav, wav_format, write_silence_wav, write_tone_wav
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
DTMF_DIGITS = "0123456789*#ABCD"
#: baresip's media encryption ids: ``srtp`` offers RTP/AVP with a=crypto and falls back to
#: plain RTP; ``srtp-mand`` offers RTP/SAVP and refuses a call without SRTP.
SrtpMode = Literal[None, "srtp", "srtp-mand"]


@dataclass(frozen=True)
class CodecFormat:
    """An audio codec as baresip 1.0 knows it: the module that provides it and the PCM format
    (rate, channels) its encoder takes and its decoder gives, which aufile and sndfile use."""

    name: str
    module: str
    rate: int
    channels: int

    @property
    def spec(self) -> str:
        """The ``name/rate/channels`` form the account's ``audio_codecs`` wants.

        A bare name does not do: baresip 1.0 then looks the codec up as ``name/8000/1``, finds
        no Opus, G.722 or most L16 variants, and silently offers every loaded codec instead.
        """
        return f"{self.name}/{self.rate}/{self.channels}"


# Names as the modules register them; aucodec_find() compares them case-insensitively. The
# rates are baresip's sampling rates, not the RTP clock rates: G.722 samples at 16 kHz but its
# SDP clock rate stays 8000 (RFC 3551 section 4.5.2). l16.so registers ten variants (8, 16,
# 32, 44.1 and 48 kHz, mono and stereo); a bare "l16" means the first one, 48 kHz stereo.
_CODECS: dict[str, CodecFormat] = {
    "pcmu": CodecFormat("PCMU", "g711", 8000, 1),
    "pcma": CodecFormat("PCMA", "g711", 8000, 1),
    "g722": CodecFormat("G722", "g722", 16000, 1),
    "opus": CodecFormat("opus", "opus", 48000, 2),
    "l16": CodecFormat("L16", "l16", 48000, 2),
}
_L16_RATES = (8000, 16000, 32000, 44100, 48000)
_OPUS_PTIMES = (5, 10, 20, 40, 60)


def codec_format(codec: str) -> CodecFormat:
    """Parse ``name[/rate[/channels]]`` (``pcmu``, ``G722``, ``opus/48000/2``, ``l16/16000/1``).

    As in baresip, a rate without channels means mono. ValueError for a codec the harness
    cannot load or a format its module does not provide.
    """
    name, *rest = codec.split("/")
    known = _CODECS.get(name.strip().lower())
    if known is None or len(rest) > 2:
        raise ValueError(f"unknown audio codec {codec!r}; known: {', '.join(_CODECS)}")
    if not rest:
        return known
    try:
        rate = int(rest[0])
        channels = int(rest[1]) if len(rest) == 2 else 1
    except ValueError:
        raise ValueError(f"bad audio codec {codec!r}: rate and channels are numbers") from None
    allowed = (
        {(r, c) for r in _L16_RATES for c in (1, 2)}
        if known.module == "l16"
        else {(known.rate, known.channels)}
    )
    if (rate, channels) not in allowed:
        raise ValueError(f"baresip's {known.module} has no {known.name} at {rate} Hz/{channels}")
    return CodecFormat(known.name, known.module, rate, channels)


def module_dir() -> Path:
    """The directory holding baresip's modules; FileNotFoundError if a needed one is missing."""
    for candidate in MODULE_DIRS:
        if all((candidate / f"{m}.so").exists() for m in REQUIRED_MODULES):
            return candidate
    raise FileNotFoundError(
        f"baresip modules {REQUIRED_MODULES} not found; run scripts/setup.sh --test"
    )


def check_wav(path: Path, rate: int = 8000, channels: int = 1) -> None:
    """Raise ValueError unless ``path`` is a WAV aufile can play to a call whose codec takes
    ``rate`` Hz and ``channels`` channels (8 kHz mono: G.711)."""
    try:
        shape = wav_format(path)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from None
    if shape != (rate, channels, 16):
        raise ValueError(
            f"{path}: baresip's aufile needs {rate} Hz, {channels} channel(s), 16-bit; got "
            f"{shape[0]} Hz, {shape[1]} channel(s), {shape[2]}-bit"
        )


def _audio_source(
    root: Path,
    fmt: CodecFormat,
    audio_source_wav: Path | None,
    tone_hz: float | None,
    tone_seconds: float,
) -> Path:
    """The WAV aufile plays, in ``fmt``'s rate and channels: the given file (converted when its
    format differs), a generated tone, or one second of silence."""
    if audio_source_wav is not None and tone_hz is not None:
        raise ValueError("give audio_source_wav or tone_hz, not both")
    if tone_hz is not None:
        path = root / f"tone-{tone_hz:g}hz-{fmt.rate}-{fmt.channels}.wav"
        return write_tone_wav(path, tone_hz, tone_seconds, fmt.rate, fmt.channels)
    if audio_source_wav is None:
        return write_silence_wav(root / "silence.wav", 1.0, fmt.rate, fmt.channels)
    try:
        rate, channels, bits = wav_format(audio_source_wav)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{audio_source_wav}: not a PCM WAV file ({exc})") from None
    if bits != 16:
        raise ValueError(f"{audio_source_wav}: aufile plays 16-bit PCM only, not {bits}-bit")
    if (rate, channels) == (fmt.rate, fmt.channels):
        return audio_source_wav.resolve()
    converted = root / f"source-{fmt.rate}-{fmt.channels}.wav"
    return convert_wav(audio_source_wav, converted, fmt.rate, fmt.channels)


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
    codecs: tuple[CodecFormat, ...] = ()
    srtp: SrtpMode = None
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

    def direct_uri(self, transport: PhoneTransport | None = None) -> str:
        """The URI that reaches this phone itself, without a registrar (TLS one port up)."""
        transport = self.transport if transport is None else transport
        port = self.local_port + 1 if transport == "tls" else self.local_port
        return f"sip:{self.sip_user}@{LOOPBACK}:{port};transport={transport}"

    def dial(self, target: str) -> None:
        """Call ``target`` (an extension on the registrar, or a full URI)."""
        self.command("dial", self.uri_for(target))

    def accept(self) -> None:
        """Answer the ringing incoming call (when not auto-answering)."""
        self.command("accept")

    def hangup(self) -> None:
        """Hang up the current call."""
        self.command("hangup")

    # -- media ------------------------------------------------------------------------------

    def audio_decoders(self) -> list[tuple[str, int, int]]:
        """The (codec, rate, channels) baresip set as audio decoder, once per stream start:
        what the offer/answer really chose, e.g. ``("G722", 16000, 1)``."""
        found: list[tuple[str, int, int]] = []
        for line in self.lines:
            match = _DECODER_LINE.search(line)
            if match:
                found.append((match[1], int(match[2]), int(match[3])))
        return found

    def srtp_suites(self) -> list[str]:
        """The SRTP crypto suite of each stream that went secure (``CALL_MENC`` events, whose
        parameter is ``<error>,<media>,<suite>``), e.g. ``["AES_CM_128_HMAC_SHA1_80"]``."""
        return [
            e.param.split(",")[-1]
            for e in self.events
            if e.type == "CALL_MENC" and e.param.startswith("0,")
        ]

    # -- DTMF -------------------------------------------------------------------------------

    def send_digits(self, digits: str) -> None:
        """Send DTMF ``digits`` (0-9, *, #, A-D) in the current call as RFC 4733 events.

        ``sndcode`` (a command menu only registers while a call is up) queues every digit and
        then a key release; baresip sends each digit for at least a few packets and ends it
        (three end packets) when the next one is queued, so one command carries a sequence.
        """
        bad = sorted(set(digits) - set(DTMF_DIGITS))
        if not digits or bad:
            raise ValueError(f"not DTMF digits: {digits!r}")
        self.command("sndcode", digits)

    def received_digits(self) -> str:
        """Every DTMF digit received so far, in order, once per key press (RFC 4733 or INFO).

        baresip reports the start of each received digit as a ``CALL_DTMF_START`` event whose
        parameter is the digit; repeated packets of the same event are not reported again.
        """
        return "".join(e.param for e in self.events if e.type == "CALL_DTMF_START")

    def wait_digits(self, count: int, timeout: float = 10.0) -> str:
        """Wait until ``count`` digits were received and have ended; returns all received."""
        ok = wait_until(
            lambda: sum(e.type == "CALL_DTMF_END" for e in self.events) >= count
            or not self.running,
            timeout,
        )
        if not ok or not self.running:
            raise TimeoutError(
                f"baresip {self.sip_user}: {count} DTMF digits not received within {timeout}s"
                f" (got {self.received_digits()!r}); output:\n{self.output()}"
            )
        return self.received_digits()

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
            self._keep_recordings()
            last = self.last_recording()
            if self.record_wav is not None and last is not None:
                self.record_wav.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(last, self.record_wav)
        return int(self.process.returncode if self.process.returncode is not None else -9)

    def _keep_recordings(self) -> None:
        """Move the dumps from their short folder in /tmp (see `write_config`) into the
        workdir, where the test's other files are cleaned up with it."""
        link = self.recording_dir
        if not link.is_symlink():
            return
        short = Path(os.readlink(link))
        link.unlink()
        if short.is_dir():
            shutil.move(str(short), str(link))
        else:
            link.mkdir()

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
_DECODER_LINE = re.compile(r"audio: Set audio decoder: (\S+) (\d+)Hz (\d+)ch")


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
    codecs: Sequence[str] = ("pcmu", "pcma"),
    srtp: SrtpMode = None,
    ptime: int = 20,
) -> None:
    """Write baresip's ``config`` and ``accounts`` into ``workdir``.

    ``codecs`` (see :func:`codec_format`) become the account's ``audio_codecs``, in order of
    preference, and their modules are loaded; ``srtp`` sets the account's ``mediaenc``.
    """
    formats = [codec_format(c) for c in codecs]
    if not formats:
        raise ValueError("at least one audio codec is needed")
    if not 1 <= ptime <= 60:
        # baresip 1.0 refuses to start the audio stream (the dial fails) outside 1..60 ms.
        raise ValueError(f"ptime {ptime} ms is outside baresip's 1..60 ms")
    if ptime not in _OPUS_PTIMES and any(f.module == "opus" for f in formats):
        # Opus frames are 2.5 to 60 ms long (RFC 6716 section 2.1.4); with any other ptime
        # baresip's encoder fails on every packet and the call is silent.
        raise ValueError(f"ptime {ptime} ms is not an Opus frame length {_OPUS_PTIMES}")
    codec_modules = list(dict.fromkeys(f.module for f in formats))
    for name in codec_modules + (["srtp"] if srtp else []):
        if not (module_dir() / f"{name}.so").exists():
            raise FileNotFoundError(f"baresip module {name}.so is not installed")
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
        *(f"module {name}.so" for name in codec_modules),
        # SDES-keyed SRTP (RFC 4568). baresip 1.0 has no setting for the crypto suites: an
        # offer carries a single a=crypto line, tag 1, AES_CM_128_HMAC_SHA1_80 with a fresh
        # random key; an answerer takes the first offered line whose suite it supports
        # (AES_CM_128_HMAC_SHA1_80 or _32, AEAD_AES_128_GCM, AEAD_AES_256_GCM) and answers it
        # with the same tag and suite and its own key; no lifetime or MKI is sent. "srtp"
        # offers RTP/AVP (SRTP only if the answer has a=crypto), "srtp-mand" RTP/SAVP.
        *(["module srtp.so"] if srtp else []),
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
        f"audio_codecs={','.join(f.spec for f in formats)}",
        f"ptime={ptime}",
        "mwi=no",
    ]
    if srtp is not None:
        params.append(f"mediaenc={srtp}")
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
    codecs: Sequence[str] = ("pcmu", "pcma"),
    tone_hz: float | None = None,
    tone_seconds: float = 20.0,
    srtp: SrtpMode = None,
    ptime: int = 20,
) -> BaresipPhone:
    """Start a baresip phone for extension ``sip_user``.

    It registers to ``registrar_host:registrar_port`` over ``transport`` with digest
    ``password`` (and by default waits for the 200); with ``registrar_port`` None it does not
    register and only listens on ``local_port`` (None: a free port, with ``local_port + 1``
    free for TLS). ``certificate`` (PEM with certificate and key) lets the phone accept TLS;
    ``ca_file`` is what it trusts as a TLS client. ``sip_trace`` logs every SIP message to the
    output. ``workdir`` None uses a temporary directory.

    Media: ``codecs`` are offered and accepted in that order (``pcmu``, ``pcma``, ``g722``,
    ``opus``, ``l16`` or ``l16/<rate>/<channels>``), with ``ptime`` ms packets; ``srtp``
    (``"srtp"`` or ``"srtp-mand"``) encrypts them with SDES-keyed SRTP. The phone says
    ``audio_source_wav`` (16-bit; converted to the first codec's rate and channels when it
    differs) or a ``tone_hz`` sine of ``tone_seconds``, or one second of silence when neither
    is given. aufile plays the file once and then sends silence, so the sound must outlast
    the part of the call a test listens to. The audio the phone hears is recorded and copied
    to ``record_wav`` by :meth:`BaresipPhone.stop`.
    """
    if shutil.which(BARESIP) is None:
        raise FileNotFoundError("baresip not installed; run scripts/setup.sh --test")
    root = Path(tempfile.mkdtemp(prefix="pycc-baresip-")) if workdir is None else workdir
    root = root / f"baresip-{sip_user}-{int(time.time() * 1000) % 10**8}"
    root.mkdir(parents=True, exist_ok=False)
    port = free_port("both", count=2) if local_port is None else local_port
    ctrl_port = free_port("tcp")
    formats = tuple(codec_format(c) for c in codecs)
    if not formats:
        raise ValueError("at least one audio codec is needed")
    source = _audio_source(root, formats[0], audio_source_wav, tone_hz, tone_seconds)
    check_wav(source, formats[0].rate, formats[0].channels)
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
        audio_source_wav=source.resolve(),
        auto_answer=auto_answer,
        regint=regint,
        rtp_ports=rtp_ports,
        certificate=certificate,
        ca_file=ca_file,
        codecs=codecs,
        srtp=srtp,
        ptime=ptime,
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
        codecs=formats,
        srtp=srtp,
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
        # An unknown entry is only a warning, and with none left baresip offers every codec.
        refused = [line for line in phone.lines if "codec not found" in line]
        if refused:
            raise BaresipError(f"baresip {sip_user} rejected codecs: {refused}")
        if registrar is not None and wait_registered:
            phone.wait_registered(startup_timeout)
    except BaseException:
        phone.stop()
        raise
    return phone
