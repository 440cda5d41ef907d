"""Trunk registration and health against a provider written in Python on pycc's digest
verifier: SHA-256 and MD5 answers with qop=auth and counted nonces, refresh at 80 % of the
granted interval, 423 Min-Expires, back-off after refusals and silence, unregistration on stop
and on reconfiguration, OPTIONS health with failover, and no password in the logs.

The provider stands where the network would be: it is the ``request`` function the manager
sends through (`SipApplication.request` in the switch), so every REGISTER and OPTIONS the
manager builds is read and judged here. Request and header building still uses a real
`SipEndpoint` listening on 127.0.0.1, for Via and Contact.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from pycc.ccmanager.trunk_register import (
    Backoff,
    granted_expires,
    judge_register_response,
    refresh_delay,
)
from pycc.ccmanager.trunks import TrunkConfig, TrunkManager
from pycc.endpoint import SipEndpoint
from pycc.sip.address import Address
from pycc.sip.auth import (
    AuthOutcome,
    DigestVerifier,
    NonceIssuer,
    ha1,
    parse_credentials,
)
from pycc.sip.headers import Headers
from pycc.sip.message import Request, Response, make_response
from pycc.sip.transaction import TransactionEvent
from pycc.sip.uri import parse_uri

REALM = "carrier.test"
USER = "acct-7"
PASSWORD = "Zx81-very-secret"


@dataclass
class Provider:
    """A registrar and OPTIONS responder for one trunk host."""

    password: str = PASSWORD
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    grant: int | None = None  # None: grant what is asked
    min_expires: int | None = None
    options_status: int = 200
    silent: bool = False
    requests: list[Request] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.verifier = DigestVerifier(NonceIssuer(b"provider-secret-0123456789"))

    def registers(self) -> list[Request]:
        return [r for r in self.requests if r.method == "REGISTER"]

    def _lookup(self, user: str, algorithm: str) -> str | None:
        return ha1(user, REALM, self.password, algorithm) if user == USER else None

    async def answer(self, request: Request) -> Response | None:
        await asyncio.sleep(0)
        # Booked and judged in one step, so a test that turns silent on knows which
        # requests were answered.
        self.requests.append(request)
        self.times.append(time.monotonic())
        if self.silent:
            return None
        if request.method == "OPTIONS":
            return make_response(request, self.options_status, to_tag="p")
        value = request.headers.get("authorization")
        if value is None:
            return self._challenge(request)
        result = self.verifier.verify(parse_credentials(value), "REGISTER", self._lookup,
                                      time.time(), str(request.uri), realm=REALM)
        if result.outcome is AuthOutcome.STALE:
            return self._challenge(request, stale=True)
        if not result.ok:
            return make_response(request, 403, to_tag="p")
        asked = request.expires
        assert asked is not None
        if self.min_expires is not None and 0 < asked < self.min_expires:
            return make_response(request, 423, to_tag="p",
                                 extra=[("Min-Expires", str(self.min_expires))])
        if asked == 0:
            return make_response(request, 200, to_tag="p")
        granted = asked if self.grant is None else self.grant
        contact = request.headers.get("contact")
        return make_response(request, 200, to_tag="p",
                             extra=[("Contact", f"{contact};expires={granted}")])

    def _challenge(self, request: Request, stale: bool = False) -> Response:
        values = self.verifier.challenge(REALM, time.time(), stale=stale,
                                         algorithms=self.algorithms)
        return make_response(request, 401, to_tag="p",
                             extra=[("WWW-Authenticate", v) for v in values])


class Network:
    """Providers by host: the manager's ``request`` function."""

    def __init__(self, **providers: Provider) -> None:
        self.providers = {host.replace("_", "."): p for host, p in providers.items()}

    async def request(self, request: Request, destination: Address) -> Response | None:
        provider = self.providers.get(destination.host)
        return None if provider is None else await provider.answer(request)


class _Quiet:
    def handle_event(self, event: TransactionEvent) -> None:
        pass


@asynccontextmanager
async def running(network: Network, *configs: TrunkConfig, **options: Any
                  ) -> AsyncIterator[TrunkManager]:
    endpoint = SipEndpoint(_Quiet())
    await endpoint.listen("udp", "127.0.0.1", 0)
    options.setdefault("retry_initial", 0.05)
    options.setdefault("unregister_timeout", 1.0)
    trunks = TrunkManager(endpoint, network.request, **options)
    trunks.configure(list(configs))
    await trunks.start()
    try:
        yield trunks
    finally:
        await trunks.stop()
        await endpoint.close()


def trunk(name: str = "carrier", host: str = "192.0.2.10", **settings: Any) -> TrunkConfig:
    entry: dict[str, Any] = {"name": name, "host": host, "register": True, "username": USER,
                             "password": PASSWORD, "options_interval": 0}
    entry.update(settings)
    return TrunkConfig.from_dict(entry, f"trunks.{name}")


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(15):
            await main()

    asyncio.run(bounded())


def credentials(request: Request) -> Any:
    value = request.headers.get("authorization")
    return None if value is None else parse_credentials(value)


# -- the pure decisions ----------------------------------------------------------------------

def _response(status: int, *headers: tuple[str, str]) -> Response:
    return Response(Headers(list(headers)), b"", status, "Whatever")


def test_granted_expires_prefers_our_contact_then_the_header_then_the_request() -> None:
    ours = parse_uri("sip:acct@10.0.0.1:5070")
    both = _response(200, ("Contact", "<sip:other@10.0.0.9>;expires=50"),
                     ("Contact", "<sip:acct@10.0.0.1:5070>;expires=120"), ("Expires", "90"))
    assert granted_expires(both, ours, 3600) == 120
    rewritten = _response(200, ("Contact", "<sip:acct@203.0.113.1:4000>;expires=75"))
    assert granted_expires(rewritten, ours, 3600) == 75
    header = _response(200, ("Contact", "<sip:acct@10.0.0.1:5070>"), ("Expires", "90"))
    assert granted_expires(header, ours, 3600) == 90
    assert granted_expires(_response(200), ours, 3600) == 3600
    garbled = _response(200, ("Contact", "<sip:acct@10.0.0.1:5070>;expires=soon"))
    assert granted_expires(garbled, ours, 600) == 600


def test_judging_answers() -> None:
    ours = parse_uri("sip:acct@10.0.0.1")
    assert judge_register_response(None, 60, ours).error == "timeout"
    assert judge_register_response(_response(200, ("Expires", "30")), 60, ours).granted == 30
    refused = judge_register_response(_response(403), 60, ours)
    assert refused.rejected and refused.error == "403 Whatever" and not refused.ok
    brief = judge_register_response(_response(423, ("Min-Expires", "600")), 60, ours)
    assert brief.min_expires == 600
    busy = judge_register_response(_response(503, ("Retry-After", "20;duration=5")), 60, ours)
    assert busy.retry_after == 20
    dropped = judge_register_response(_response(200, ("Expires", "0")), 60, ours)
    assert not dropped.ok and dropped.rejected


def test_backoff_doubles_to_its_maximum_and_resets() -> None:
    backoff = Backoff(5, 300)
    assert [backoff.next() for _ in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]
    backoff.reset()
    assert backoff.next() == 5
    assert refresh_delay(3600) == pytest.approx(2880)
    with pytest.raises(ValueError):
        Backoff(0, 10)


# -- registration ----------------------------------------------------------------------------

def test_registers_with_sha256_and_builds_the_register_as_specified() -> None:
    provider = Provider()

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}),
                           trunk(host="192.0.2.10:5080", expires=600)) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: carrier.registered is True)
            first, second = provider.registers()[:2]
            assert str(first.uri) == "sip:192.0.2.10:5080"
            assert first.to.uri == parse_uri(f"sip:{USER}@192.0.2.10")
            assert first.from_.uri == first.to.uri and first.from_.tag
            assert first.expires == 600
            assert first.contacts[0].uri.user == USER  # type: ignore[union-attr]
            assert credentials(first) is None
            creds = credentials(second)
            assert (creds.algorithm, creds.qop, creds.nc) == ("SHA-256", "auth", "00000001")
            assert creds.uri == "sip:192.0.2.10:5080" and creds.username == USER
            assert second.call_id == first.call_id
            assert second.cseq.seq == first.cseq.seq + 1
            registration = carrier.registration
            assert registration is not None and registration.accepted == 1
            assert carrier.last_error is None

    run(main)


def test_invite_credentials_continue_the_registration_nonce_count() -> None:
    provider = Provider()

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk()) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: carrier.registered is True)
            used = credentials(provider.registers()[1])
            # A provider that challenges the INVITE with the nonce REGISTER used.
            challenge = (f'Digest realm="{REALM}", nonce="{used.nonce}", qop="auth", '
                         f"algorithm=SHA-256")
            uri = "sip:442071234567@192.0.2.10"
            value = carrier.authorization(challenge, "INVITE", uri)
            assert value is not None
            creds = parse_credentials(value)
            assert creds.nc == "00000002"

            def lookup(user: str, algorithm: str) -> str | None:
                return ha1(user, REALM, PASSWORD, algorithm)

            verdict = provider.verifier.verify(creds, "INVITE", lookup, time.time(), uri,
                                               realm=REALM)
            assert verdict.ok, verdict.reason

    run(main)


def test_md5_only_provider_and_from_domain() -> None:
    provider = Provider(algorithms=("MD5",))

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}),
                           trunk(from_domain="voip.example.com", realm=REALM)) as trunks:
            await until(lambda: trunks.get("carrier").registered is True)  # type: ignore[union-attr]
            second = provider.registers()[1]
            assert credentials(second).algorithm == "MD5"
            assert second.to.uri == parse_uri(f"sip:{USER}@voip.example.com")

    run(main)


def test_refreshes_at_80_percent_reusing_the_nonce_with_the_next_count() -> None:
    provider = Provider(grant=1)  # whatever is asked, one second is granted

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk()) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None and carrier.registration is not None
            registration = carrier.registration
            await until(lambda: registration.accepted >= 3, timeout=4.0)
            registers = provider.registers()
            # Challenge, answer, then refreshes that need no new challenge.
            assert [credentials(r) is not None for r in registers[:4]] == \
                [False, True, True, True]
            counts = [credentials(r).nc for r in registers[1:4]]
            assert counts == ["00000001", "00000002", "00000003"]
            assert len({credentials(r).nonce for r in registers[1:4]}) == 1
            gaps = [b - a for a, b in itertools.pairwise(provider.times[1:4])]
            assert all(0.75 <= gap <= 1.3 for gap in gaps), gaps
            assert carrier.registered is True

    run(main)


def test_423_raises_expires_to_min_expires() -> None:
    provider = Provider(min_expires=900)

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk(expires=60)) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None and carrier.registration is not None
            await until(lambda: carrier.registered is True)
            asked = [r.expires for r in provider.registers()]
            assert asked[:3] == [60, 60, 900]
            assert carrier.registration.expires == 900
            assert carrier.registration.expires_at is not None

    run(main)


def test_wrong_password_gives_403_and_backs_off() -> None:
    provider = Provider(password="something else")

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk(),
                           retry_initial=0.1, retry_max=0.2) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: len(provider.registers()) >= 8)
            assert carrier.registered is False
            assert carrier.last_error == "403 Forbidden"
            registers = provider.registers()
            # Each attempt starts afresh: challenge, one answer, refusal; never insisting.
            assert [credentials(r) is not None for r in registers[:6]] == \
                [False, True, False, True, False, True]
            starts = [t for r, t in zip(provider.requests, provider.times, strict=True)
                      if credentials(r) is None]
            gaps = [b - a for a, b in itertools.pairwise(starts)]
            # 0.1 s, then doubled to the 0.2 s maximum (sleeps never end early; the upper
            # bound shows the cap with room for a loaded machine).
            assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and 0.19 <= gaps[2] < 0.38, gaps

    run(main)


def test_silence_gives_timeout_and_retries() -> None:
    provider = Provider(silent=True)

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk()) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: len(provider.requests) >= 2)
            assert carrier.registered is False and carrier.last_error == "timeout"
            provider.silent = False
            await until(lambda: carrier.registered is True)
            assert carrier.last_error is None

    run(main)


def test_registered_ends_with_the_binding_when_refreshes_go_unanswered() -> None:
    now = [1000.0]
    provider = Provider(grant=100)

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk(),
                           clock=lambda: now[0]) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: carrier.registered is True)
            now[0] += 99.0
            assert carrier.registered is True
            now[0] += 2.0
            assert carrier.registered is False

    run(main)


def test_realm_mismatch_sends_no_credentials() -> None:
    provider = Provider()

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}),
                           trunk(realm="other.example")) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: carrier.last_error is not None)
            assert carrier.last_error == \
                "401 Unauthorized (realm 'carrier.test' is not 'other.example')"
            assert all(credentials(r) is None for r in provider.requests)

    run(main)


def test_no_listener_for_the_transport_is_an_error_not_a_crash() -> None:
    provider = Provider()

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}),
                           trunk(transport="tcp", options_interval=0.05)) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: not carrier.up)
            assert carrier.last_error == "REGISTER not sent: no tcp listener"
            assert provider.requests == []

    run(main)


def test_stop_unregisters_with_expires_zero() -> None:
    provider = Provider()

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk()) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: carrier.registered is True)
            before = len(provider.registers())
        last = provider.registers()[-1]
        assert len(provider.registers()) == before + 1
        assert last.expires == 0 and credentials(last) is not None
        assert last.contacts[0].uri == provider.registers()[0].contacts[0].uri
        assert carrier.registered is False

    run(main)


def test_changed_account_unregisters_the_old_binding_first_and_removed_trunk_unregisters(
) -> None:
    old, new, third = Provider(), Provider(password="new-password"), Provider()

    async def main() -> None:
        network = Network(**{"192_0_2_10": old, "192_0_2_20": new, "192_0_2_30": third})
        async with running(network, trunk(), trunk("other", "192.0.2.30")) as trunks:
            carrier = trunks.get("carrier")
            assert carrier is not None
            await until(lambda: carrier.registered is True)
            await until(lambda: trunks.get("other").registered is True)  # type: ignore[union-attr]
            trunks.configure([trunk(host="192.0.2.20", password="new-password")])
            assert trunks.get("carrier") is carrier
            await until(lambda: carrier.registered is True and bool(new.registers()))
            assert old.registers()[-1].expires == 0
            assert third.registers()[-1].expires == 0
            assert trunks.get("other") is None
            assert new.registers()[0].call_id != old.registers()[0].call_id
            count = len(new.registers())
            # Same settings again: nothing is sent.
            trunks.configure([trunk(host="192.0.2.20", password="new-password")])
            await asyncio.sleep(0.1)
            assert len(new.registers()) == count

    run(main)


def test_password_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    provider = Provider(password="wrong")
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with running(Network(**{"192_0_2_10": provider}), trunk()) as trunks:
            await until(lambda: len(provider.registers()) >= 4)
            assert trunks.get("carrier").last_error == "403 Forbidden"  # type: ignore[union-attr]

    run(main)
    assert "registration failed: 403 Forbidden" in caplog.text
    assert PASSWORD not in caplog.text


# -- health ----------------------------------------------------------------------------------

def test_options_health_takes_a_trunk_down_and_fails_over() -> None:
    first, second = Provider(options_status=404), Provider()
    health = {"register": False, "options_interval": 0.05, "down_after": 3}

    async def main() -> None:
        network = Network(**{"192_0_2_10": first, "192_0_2_20": second})
        async with running(network, trunk("a", "192.0.2.10", **health),
                           trunk("b", "192.0.2.20", **health)) as trunks:
            a, b = trunks.get("a"), trunks.get("b")
            assert a is not None and b is not None
            await until(lambda: len(first.requests) >= 2)
            # A 404 to OPTIONS still shows the provider is there.
            assert a.up and trunks.select(["a", "b"]) is a
            options = first.requests[0]
            assert options.method == "OPTIONS" and str(options.uri) == "sip:192.0.2.10"
            first.silent = True
            mark = len(first.requests)
            await until(lambda: not a.up)
            assert len(first.requests) - mark >= 3  # down only after down_after misses
            assert a.last_error == "no answer to OPTIONS"
            assert trunks.select(["a", "b"]) is b
            first.silent = False
            await until(lambda: a.up)
            assert trunks.select(["a", "b"]) is a and a.last_error is None
            assert a.registered is None

    run(main)
