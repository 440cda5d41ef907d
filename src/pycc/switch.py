"""`Switch`: one running pycc, embeddable in a developer's own asyncio program.

It opens the store, makes sure the tenant exists, starts the SIP endpoint on UDP, TCP and TLS,
and wires the registrar, the B2BUA and the call recorder to it. `stop` ends every call (BYE to
answered calls, CANCEL and 503 to ringing ones), writes their records and closes everything.

    async with Switch(SwitchConfig(data_dir=Path("data"), sip_port=5060)) as switch:
        await switch.wait_stopped()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pycc.aaa.authenticator import Authenticator
from pycc.aaa.cdr import CallRecorder
from pycc.bus import Bus
from pycc.ccmanager.apps import Application, builtin_application
from pycc.ccmanager.b2bua import B2BUA
from pycc.ccmanager.center import CallCenter, center_config
from pycc.ccmanager.dispatcher import SipApplication
from pycc.ccmanager.outbound import Originator
from pycc.ccmanager.register_offload import RegisterOffloader
from pycc.ccmanager.registrar import Registrar
from pycc.ccmanager.trunks import TrunkManager
from pycc.codecs.opus import set_opus_complexity
from pycc.config import MAX_MEDIA_WORKERS, ConfigError, SwitchConfig
from pycc.ctl import CTL_NAME, ControlError, ControlServer
from pycc.endpoint import SipEndpoint
from pycc.files.service import FileService
from pycc.media.server import MediaServer
from pycc.oam.alarms import AlarmService
from pycc.oam.health import DiskThresholds, HealthProbe
from pycc.oam.metrics import CountingCallRecorder, SwitchMetrics
from pycc.pds.service import DialerError, DialerService
from pycc.provision import sync as provision
from pycc.rtp.ports import PortRange
from pycc.sia.runner import CoroutineFlow
from pycc.sip.address import Address
from pycc.sip.guard import AuthFailureBan, RateLimiter
from pycc.sip.overload import OverloadConfig, OverloadGuard
from pycc.sip.registrar import RegistrarPolicy
from pycc.sip.transaction import TimerConfig, TransactionEvent
from pycc.store.async_store import AsyncStore
from pycc.store.db import make_url
from pycc.store.repo import Store
from pycc.transport.tls import (
    client_ssl_context,
    make_self_signed_certificate,
    server_ssl_context,
)
from pycc.transport.workers import check_priority

log = logging.getLogger("pycc.switch")


def overload_config(cfg: SwitchConfig) -> OverloadConfig:
    """The overload guard's limits from the settings; ConfigError names a bad one."""
    values: dict[str, float] = {}
    for name in ("max_calls", "max_call_rate", "overload_backlog", "overload_retry_after",
                 "overload_grace"):
        value = getattr(cfg, name)
        whole = name not in ("max_call_rate", "overload_grace")
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float) \
                or not 0 <= value < math.inf:
            kind = "a whole number" if whole else "a number"
            raise ConfigError(f"{name}: expected 0 or {kind} above it, not {value!r}")
        values[name] = value
    return OverloadConfig(
        max_calls=int(values["max_calls"]), max_call_rate=float(values["max_call_rate"]),
        max_backlog=int(values["overload_backlog"]),
        retry_after=int(values["overload_retry_after"]),
        backlog_grace=float(values["overload_grace"]),
    )


@dataclass(frozen=True, slots=True)
class SwitchStatus:
    calls: int
    registrations: int
    addresses: dict[str, str]
    center: dict[str, object] | None = None


class Switch:
    """The whole call center in one object."""

    def __init__(self, config: SwitchConfig | None = None, **overrides: object) -> None:
        base = config or SwitchConfig()
        self.config = base.with_overrides(**overrides) if overrides else base
        self.addresses: dict[str, Address] = {}
        self._stopped = asyncio.Event()
        self._started = False
        self._housekeeping: asyncio.Task[None] | None = None
        self.store: AsyncStore | None = None
        self.endpoint: SipEndpoint | None = None
        self.app: SipApplication | None = None
        self.overload: OverloadGuard | None = None
        self.b2bua: B2BUA | None = None
        self.registrar: Registrar | None = None
        self.register_offload: RegisterOffloader | None = None
        self.recorder: CallRecorder | None = None
        self.media: MediaServer | None = None
        self.bus = Bus()
        self.originator: Originator | None = None
        self.trunks: TrunkManager | None = None
        self.center: CallCenter | None = None
        self.control: ControlServer | None = None
        self.dialer: DialerService | None = None
        self.files: FileService | None = None
        self._config_version = -1
        oam = self.config.oam
        self.metrics = SwitchMetrics(self, self.bus, tenant=self.config.tenant,
                                     node=self.config.node)
        # Readings are reused for a second: load balancers may poll /health many times a
        # second between them.
        self.health = HealthProbe(self, thresholds=DiskThresholds.from_config(oam),
                                  store_timeout=oam.store_timeout, reuse=1.0)
        self.alarms = AlarmService(self.bus, self, self.health, config=oam,
                                   tenant=self.config.tenant, node=self.config.node,
                                   registry=self.metrics.registry)

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        overload = OverloadGuard(overload_config(cfg))
        url = make_url(cfg.data_dir, cfg.db_url)
        store = AsyncStore(Store(url))
        self.store = store
        await store.create_all()
        tenant = await store.ensure_tenant(cfg.tenant, cfg.realm)
        secret = (cfg.secret or "pycc-unset-secret").encode()
        ban = AuthFailureBan(cfg.ban_failures, cfg.ban_window, cfg.ban_time)
        auth = Authenticator(
            store, tenant=cfg.tenant, realm=tenant.realm, secret=secret,
            algorithms=cfg.auth_algorithms, nonce_lifetime=cfg.nonce_lifetime, ban=ban,
        )
        await auth.preload(time.time())
        ssl_server = None
        if cfg.sips_port >= 0:
            if not cfg.cert_path.is_file() or not cfg.key_path.is_file():
                cfg.cert_path.parent.mkdir(parents=True, exist_ok=True)
                make_self_signed_certificate(cfg.cert_path, cfg.key_path)
            ssl_server = server_ssl_context(cfg.cert_path, cfg.key_path)
        endpoint = SipEndpoint(
            self,
            timers=TimerConfig(t1=cfg.t1, t2=cfg.t2, t4=cfg.t4, timer_d=cfg.timer_d),
            rate_limiter=RateLimiter(cfg.rate_limit, cfg.rate_burst),
            ssl_server=ssl_server,
            ssl_client=client_ssl_context(verify=False),
            idle_timeout=cfg.tcp_idle_timeout,
        )
        self.endpoint = endpoint
        registrar = Registrar(
            store, auth, tenant=cfg.tenant, domain=tenant.realm,
            policy=RegistrarPolicy(min_expires=cfg.min_expires, max_expires=cfg.max_expires),
        )
        await registrar.load()
        self.registrar = registrar
        if not -1 <= cfg.register_workers <= 1:
            await store.close()
            raise ConfigError(f"register_workers: expected a whole number from -1 to 1, "
                              f"not {cfg.register_workers}")
        assert tenant.id is not None
        self.recorder = CountingCallRecorder(self.metrics, store, tenant_id=tenant.id,
                                             node=cfg.node)
        try:
            ports = PortRange.parse(cfg.rtp_ports)
        except ValueError as exc:
            await store.close()
            raise ConfigError(f"rtp_ports: {exc}") from None
        if cfg.opus_complexity is not None:
            try:
                set_opus_complexity(cfg.opus_complexity)
            except ValueError as exc:
                await store.close()
                raise ConfigError(f"opus_complexity: {exc}") from None
        if not -1 <= cfg.media_workers <= MAX_MEDIA_WORKERS:
            await store.close()
            raise ConfigError(f"media_workers: expected a whole number from -1 to "
                              f"{MAX_MEDIA_WORKERS}, not {cfg.media_workers}")
        workers = cfg.media_workers if cfg.media_workers >= 0 else \
            int((os.cpu_count() or 1) >= 2)
        try:
            check_priority(cfg.media_priority)
        except ValueError as exc:
            await store.close()
            raise ConfigError(f"media_priority: {exc}") from None
        media = MediaServer(cfg.bind, ports, rtp_timeout=cfg.rtp_timeout,
                            relay_workers=workers, relay_priority=cfg.media_priority)
        await media.start()
        self.media = media
        self.b2bua = B2BUA(endpoint, registrar, auth, self.recorder,
                           ring_timeout=cfg.ring_timeout, media=media,
                           record_dir=cfg.recordings_path if cfg.record_calls else None,
                           record_format=cfg.recording_format,
                           direct_media=cfg.direct_media)
        assert media.engine is not None
        if cfg.record_calls:
            # Calls the call center connects inside the media server (queue callers and
            # agents, dialed customers) are recorded too, not only those the B2BUA bridges.
            media.engine.on_bridge = self.b2bua.record_bridge
        try:
            for number, spec in cfg.applications.items():
                self.b2bua.applications[str(number)] = builtin_application(
                    spec, media.engine, cfg.data_dir)
        except ValueError as exc:
            await media.close()
            await store.close()
            raise ConfigError(f"applications: {exc}") from None
        self.overload = overload
        self.b2bua.overload = overload
        self.app = SipApplication(endpoint, registrar, self.b2bua)
        self.originator = Originator(endpoint, media, domain=tenant.realm)
        self.b2bua.originator = self.originator
        self.trunks = TrunkManager(endpoint, self.app.request)
        self.center = CallCenter(self.b2bua, self.originator, registrar, media.engine,
                                 data_dir=cfg.data_dir, bus=self.bus, store=store,
                                 tenant_id=tenant.id, trunks=self.trunks, node=cfg.node)
        self.b2bua.router = self.center.route
        trunks = self.trunks

        def trusted(ip: str) -> str | None:
            trunk = trunks.match_source(ip)
            return trunk.config.name if trunk is not None else None

        self.b2bua.trusted_source = trusted
        self.dialer = DialerService(self.center, store, tenant=cfg.tenant, bus=self.bus,
                                    node=cfg.node)
        try:
            await self.reload()
        except Exception as exc:
            await media.close()
            await store.close()
            raise ConfigError(f"the stored call-center configuration: {exc}") from None
        try:
            # Before any call: the records a crash left open are closed, once.
            await self.recorder.recover()
        except Exception:
            log.exception("closing the call records left open failed; retried at next start")
        try:
            if cfg.sip_port >= 0:
                udp, tcp = await endpoint.listen_udp_and_tcp(cfg.bind, cfg.sip_port)
                self.addresses["udp"] = udp
                self.addresses["tcp"] = tcp
            if ssl_server is not None:
                self.addresses["tls"] = await endpoint.listen("tls", cfg.bind, cfg.sips_port)
        except OSError:
            await media.close()
            await endpoint.close()
            await store.close()
            raise
        if cfg.register_workers == 1 or (cfg.register_workers == -1 and
                                         (os.cpu_count() or 1) >= 2):
            self.register_offload = RegisterOffloader(
                endpoint, registrar, auth, invite_admitted=self.b2bua.challenges,
                on_answer=self.metrics.sip.count_answered)
            await self.register_offload.start()
        await self.trunks.start()
        await self._start_control()
        try:
            await self.dialer.resume_running()
        except Exception:
            log.exception("resuming the running campaigns failed")
        engine = media.engine
        self.files = FileService(store, data_dir=cfg.data_dir, recordings_dir=cfg.recordings_path,
                                 tenant=cfg.tenant, tenant_id=tenant.id, node=cfg.node,
                                 config=cfg.files,
                                 busy=lambda: [r.path for r in engine.recordings])
        await self.files.start()
        self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())
        self.metrics.start()
        await self.alarms.start()
        self._started = True
        log.info("pycc listening on %s", ", ".join(str(a) for a in self.addresses.values()))

    async def _housekeep(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(2)
            rounds += 1
            try:
                await self.reload()
                if self.center is not None:
                    await self.center.flush()
            except Exception:
                log.exception("reloading the call-center configuration failed")
            if rounds % 15 == 0 and self.registrar is not None:
                try:
                    await self.registrar.purge()
                except Exception:
                    log.exception("purging expired bindings failed")

    async def reload(self, force: bool = False) -> bool:
        """Load the tenant's call-center configuration (``pycc apply``) when it changed;
        True when it was (re)loaded."""
        store, center = self.store, self.center
        if store is None or center is None:
            return False
        tenant = self.config.tenant
        current = await store.run(provision.version, store.store, tenant)
        if current == self._config_version and not force:
            return False
        spec = await store.run(provision.load, store.store, tenant)
        if spec is not None:
            center.configure(center_config(spec))
        self._config_version = current
        log.info("call-center configuration version %d loaded", current)
        return True

    # -- the control socket ------------------------------------------------------------------
    async def _start_control(self) -> None:
        control = ControlServer(self.config.data_dir / CTL_NAME, {
            "status": self._ctl_status,
            "agent": self._ctl_agent,
            "reload": self._ctl_reload,
            "campaign": self._ctl_campaign,
        })
        try:
            await control.start()
        except (ControlError, OSError) as exc:
            log.warning("no control socket: %s", exc)
            return
        self.control = control

    async def _ctl_status(self, _request: object) -> object:
        status = self.status()
        return {"calls": status.calls, "registrations": status.registrations,
                "addresses": status.addresses, **(status.center or {})}

    async def _ctl_reload(self, _request: object) -> object:
        return {"reloaded": await self.reload(force=True), "version": self._config_version}

    async def _ctl_campaign(self, request: object) -> object:
        assert isinstance(request, dict)
        dialer = self.dialer
        if dialer is None:
            raise ControlError("the switch is not started")
        name, action = request.get("campaign"), request.get("action")
        if not isinstance(name, str) or not name:
            raise ControlError("campaign: give the campaign's name")
        try:
            if action == "start":
                await self.reload()
                return await dialer.start(name)
            if action == "stop":
                return await dialer.stop(name)
            if action == "status":
                dialer.config_of(name)
                return dialer.status(name)
            if action == "poke":
                dialer.poke(name)
                return {"campaign": name}
        except DialerError as exc:
            raise ControlError(str(exc)) from None
        raise ControlError(f"action: {action!r} is not start, stop or status")

    async def _ctl_agent(self, request: object) -> object:
        assert isinstance(request, dict)
        center = self.center
        if center is None:
            raise ControlError("the switch is not started")
        agent, action = request.get("agent"), request.get("action")
        if not isinstance(agent, str) or not agent:
            raise ControlError("agent: give the agent id")
        acd = center.acd
        if action == "login":
            extension = request.get("extension")
            error = acd.login(agent, extension if isinstance(extension, str) and extension
                              else None)
        elif action == "logout":
            error = acd.logout(agent)
        elif action == "ready":
            error = acd.ready(agent)
        elif action == "not-ready":
            reason = request.get("reason")
            error = acd.not_ready(agent, reason if isinstance(reason, str) and reason
                                  else "break")
        else:
            raise ControlError(f"action: {action!r} is not login, logout, ready or not-ready")
        if error is not None:
            raise ControlError(f"agent {agent}: {error}")
        state = acd.agent_status(agent)
        assert state is not None
        return {"agent": agent, "status": state[0].value, "state": state[1].value}

    async def stop(self, grace: float = 1.0) -> None:
        """End every call, write the records, close transports and the store."""
        if not self._started:
            return
        self._started = False
        self.health.forget()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        await self.alarms.stop()
        await self.metrics.stop()
        if self.dialer is not None:
            self.dialer.halt()  # no new calls; the ones up finish and record their results
        if self.b2bua is not None and (self.b2bua.calls or (
                self.originator is not None and self.originator.calls)):
            self.b2bua.shutdown()
            # Let BYEs and CANCELs leave (and their answers arrive) before the sockets close.
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self.endpoint is not None and \
                    self.b2bua.pending_client_transactions() > 0:
                await asyncio.sleep(0.05)
        if self.control is not None:
            await self.control.close()
        if self.trunks is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.trunks.stop(), grace + 1.0)
        if self.dialer is not None:
            await self.dialer.close()
        if self.center is not None:
            self.center.close()
            with contextlib.suppress(Exception):
                await self.center.flush()
        if self.app is not None:
            await self.app.drain()
        if self.recorder is not None:
            await self.recorder.close()
        if self.media is not None:
            await self.media.close()
        if self.files is not None:
            # After the media: every recording is finished, so the last ones are catalogued.
            await self.files.stop()
        if self.register_offload is not None:
            await self.register_offload.close()
        if self.endpoint is not None:
            await self.endpoint.close()
        if self.store is not None:
            await self.store.close()
        self.health.close()
        self._stopped.set()

    def add_application(self, number: str, application: Application) -> None:
        """Answer calls to ``number`` with ``application``, a coroutine taking the caller's
        :class:`~pycc.media.channel.Channel` (an IVR flow, a conference, a test)."""
        if self.b2bua is None:
            raise RuntimeError("the switch is not started")
        self.b2bua.applications[number] = application

    def add_flow(self, number: str, flow: CoroutineFlow) -> None:
        """Answer calls to ``number`` with an IVR written as a coroutine::

            async def main(call: IvrCall) -> Target | None:
                await call.play("tts:Welcome")
                digits = await call.collect(max=4, timeout=5)
                return Target("queue", "sales") if digits == "1" else None

        The caller goes on to the Target it returns (a queue, another flow, an extension, an
        outside number); None hangs up."""
        if self.b2bua is None or self.center is None:
            raise RuntimeError("the switch is not started")
        self.b2bua.applications[number] = self.center.flow_application(flow)

    def request_stop(self) -> None:
        asyncio.get_running_loop().create_task(self.stop())

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def __aenter__(self) -> Switch:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- EndpointHandler -------------------------------------------------------------------
    def handle_event(self, event: TransactionEvent) -> None:
        self.metrics.observe_sip(event)
        if self.app is not None:
            self.app.handle_event(event)

    # -- introspection ---------------------------------------------------------------------
    def status(self) -> SwitchStatus:
        return SwitchStatus(
            calls=self.b2bua.active_calls() if self.b2bua else 0,
            registrations=self.registrar.binding_count() if self.registrar else 0,
            addresses={k: str(v) for k, v in self.addresses.items()},
            center=self.center.status() if self.center is not None else None,
        )

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir
