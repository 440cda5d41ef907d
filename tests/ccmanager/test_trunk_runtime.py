"""Trunks at run time without the network: call counting and max_calls, failover order in
`TrunkManager.select`, inbound matching by source address, the health state machine, the
Request-URI and From of outbound calls with number rewriting, and digest answers to a
provider's challenge of an INVITE (checked by pycc's own verifier)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.ccmanager.trunks import HealthState, Trunk, TrunkConfig, TrunkManager
from pycc.endpoint import SipEndpoint
from pycc.sip.address import Address
from pycc.sip.auth import DigestVerifier, NonceIssuer, ha1, parse_credentials
from pycc.sip.message import Request, Response
from pycc.sip.transaction import TransactionEvent
from pycc.sip.uri import SipUri


def config(name: str, host: str = "192.0.2.1", **settings: Any) -> TrunkConfig:
    return TrunkConfig.from_dict({"name": name, "host": host, **settings}, f"trunks.{name}")


class _NoEvents:
    def handle_event(self, event: TransactionEvent) -> None:
        raise AssertionError(f"unexpected {event!r}")


async def _never(request: Request, destination: Address) -> Response | None:
    raise AssertionError("no request is sent by a manager that was not started")


def manager(*configs: TrunkConfig) -> TrunkManager:
    made = TrunkManager(SipEndpoint(_NoEvents()), _never)
    made.configure(list(configs))
    return made


# -- calls -----------------------------------------------------------------------------------

def test_claim_up_to_max_calls_then_release() -> None:
    trunk = Trunk(config("t", max_calls=2))
    assert trunk.claim() and trunk.claim()
    assert trunk.calls == 2
    assert not trunk.claim()
    assert trunk.calls == 2
    trunk.release()
    assert trunk.calls == 1 and trunk.claim()
    for _ in range(5):
        trunk.release()
    assert trunk.calls == 0


def test_without_max_calls_claims_never_fail() -> None:
    trunk = Trunk(config("t"))
    assert all(trunk.claim() for _ in range(1000))
    assert trunk.calls == 1000


def test_max_calls_zero_keeps_the_trunk_out_of_selection() -> None:
    trunks = manager(config("off", max_calls=0), config("on"))
    assert not trunks.get("off").claim()  # type: ignore[union-attr]
    assert trunks.select(["off", "on"]) is trunks.get("on")


# -- selection -------------------------------------------------------------------------------

def test_select_takes_the_first_usable_trunk_in_the_order_given() -> None:
    trunks = manager(config("a", max_calls=1), config("b", "192.0.2.2"),
                     config("c", "192.0.2.3"))
    a, b, c = (trunks.get(n) for n in "abc")
    assert a is not None and b is not None and c is not None
    assert trunks.select(["a", "b", "c"]) is a
    assert trunks.select(["c", "a"]) is c
    assert a.claim()
    assert trunks.select(["a", "b", "c"]) is b  # a is full
    for _ in range(2):
        b.health.record(False)  # down_after = 2
    assert not b.up
    assert trunks.select(["a", "b", "c"]) is c
    assert trunks.select(["a", "b"]) is None
    assert trunks.select(["nope", "c"]) is c
    a.release()
    b.health.record(True)
    assert trunks.select(["b", "a"]) is b


def test_a_trunk_without_pings_is_always_up() -> None:
    trunk = Trunk(config("t", options_interval=0, down_after=1))
    trunk.health.record(False)
    assert trunk.up


def test_snapshot() -> None:
    trunks = manager(config("a", max_calls=3), config("b", register=True, username="u",
                                                      password="Zq-secret-9"))
    a = trunks.get("a")
    assert a is not None and a.claim()
    assert trunks.snapshot() == [
        {"name": "a", "up": True, "registered": None, "calls": 1, "max_calls": 3,
         "last_error": None},
        {"name": "b", "up": True, "registered": False, "calls": 0, "max_calls": None,
         "last_error": None},
    ]
    assert "Zq-secret-9" not in repr(trunks.get("b")) + repr(trunks.snapshot())


def test_configure_keeps_the_trunk_object_and_its_calls() -> None:
    trunks = manager(config("a", max_calls=1))
    first = trunks.get("a")
    assert first is not None and first.claim()
    trunks.configure([config("a", max_calls=2), config("b", "192.0.2.9")])
    assert trunks.get("a") is first
    assert first.calls == 1 and first.config.max_calls == 2
    assert [t["name"] for t in trunks.snapshot()] == ["a", "b"]
    trunks.configure([config("b", "192.0.2.9")])
    assert trunks.get("a") is None
    with pytest.raises(ValueError, match="duplicate trunk names: b"):
        trunks.configure([config("b"), config("b")])


# -- inbound ---------------------------------------------------------------------------------

def test_match_source_with_addresses_and_networks() -> None:
    trunks = manager(
        config("host-default", "203.0.113.5"),
        config("wide", "carrier.example", ips=["198.51.100.0/24", "2001:db8::/32"]),
        config("narrow", "carrier.example", ips=["198.51.100.128/25"]),
        config("named", "sip.example.net"),
    )
    assert trunks.match_source("203.0.113.5") is trunks.get("host-default")
    assert trunks.match_source("198.51.100.7") is trunks.get("wide")
    # The most specific network wins, whatever the order.
    assert trunks.match_source("198.51.100.200") is trunks.get("narrow")
    assert trunks.match_source("2001:db8:1::9") is trunks.get("wide")
    assert trunks.match_source("[2001:db8::1]") is trunks.get("wide")
    assert trunks.match_source("::ffff:198.51.100.7") is trunks.get("wide")
    for other in ("203.0.113.6", "2001:db9::1", "sip.example.net", "", "not an ip"):
        assert trunks.match_source(other) is None


# -- health ----------------------------------------------------------------------------------

@given(down_after=st.integers(1, 5), answers=st.lists(st.booleans(), max_size=30))
def test_health_state_follows_the_last_answers(down_after: int, answers: list[bool]) -> None:
    state = HealthState(down_after)
    for index, answered in enumerate(answers):
        before = state.up
        changed = state.record(answered)
        assert changed == (state.up != before)
        recent = answers[max(0, index + 1 - down_after):index + 1]
        expected_down = len(recent) == down_after and not any(recent)
        if answered:
            assert state.up
        elif expected_down:
            assert not state.up
        else:
            # Fewer failures in a row than down_after: the state is what it was.
            assert state.up == before
    if not answers:
        assert state.up


# -- outbound calls --------------------------------------------------------------------------

def test_request_uri_and_from_with_number_rewriting() -> None:
    trunk = Trunk(config(
        "t", "carrier.example:5080", transport="tcp",
        translate_called=[{"strip": 1}, {"e164": {"country": "GB"}}],
        translate_caller={"prepend": "+4420"},
    ))
    uri = trunk.request_uri("902071234567")
    assert str(uri) == "sip:+442071234567@carrier.example:5080;transport=tcp"
    assert trunk.from_header("71234567") == "<sip:+442071234567@carrier.example>"
    assert trunk.from_header("") == "<sip:anonymous@carrier.example>"
    with pytest.raises(ValueError, match="no number left"):
        trunk.request_uri("9")


def test_from_user_and_from_domain() -> None:
    trunk = Trunk(config("t", "[2001:db8::7]", from_user="acct-42",
                         from_domain="voip.example.com", translate_caller={"strip": 1}))
    assert trunk.from_header("01234") == "<sip:acct-42@voip.example.com>"
    assert str(trunk.request_uri("5551234")) == "sip:5551234@[2001:db8::7]"
    plain = Trunk(config("p", "192.0.2.1", from_domain="[2001:db8::1]:5062"))
    assert plain.from_header("100") == "<sip:100@[2001:db8::1]:5062>"


# -- credentials for a challenged INVITE -----------------------------------------------------

REALM = "carrier.test"


def _verify(trunk: Trunk, header: str, uri: str, verifier: DigestVerifier, password: str
            ) -> bool:
    creds = parse_credentials(header)

    def lookup(user: str, algorithm: str) -> str | None:
        return ha1(user, REALM, password, algorithm) if user == "acct" else None

    return verifier.verify(creds, "INVITE", lookup, 1000.0, uri, realm=REALM).ok


def test_authorization_answers_the_strongest_challenge_with_counted_nonces() -> None:
    trunk = Trunk(config("t", username="acct", password="pw", realm=REALM))
    verifier = DigestVerifier(NonceIssuer(b"k" * 32))
    challenges = verifier.challenge(REALM, 1000.0, algorithms=("MD5", "SHA-256"))
    uri = "sip:442071234567@192.0.2.1"
    first = trunk.authorization(challenges, "INVITE", uri)
    assert first is not None
    parsed = parse_credentials(first)
    assert (parsed.algorithm, parsed.qop, parsed.nc) == ("SHA-256", "auth", "00000001")
    assert _verify(trunk, first, uri, verifier, "pw")
    # The same nonce again (a second call): the count goes up, the verifier accepts it.
    second = trunk.authorization(challenges[1], "INVITE", uri)
    assert second is not None and parse_credentials(second).nc == "00000002"
    assert _verify(trunk, second, uri, verifier, "pw")
    assert not _verify(trunk, first, uri, verifier, "pw")  # a replay


def test_authorization_refuses_other_realms_and_trunks_without_password() -> None:
    verifier = DigestVerifier(NonceIssuer(b"k" * 32))
    other = verifier.challenge("elsewhere", 1000.0)[0]
    trunk = Trunk(config("t", username="acct", password="pw", realm=REALM))
    assert trunk.authorization(other, "INVITE", "sip:1@192.0.2.1") is None
    assert trunk.authorization("Basic realm=x", "INVITE", "sip:1@192.0.2.1") is None
    assert trunk.authorization("Digest nonsense", "INVITE", "sip:1@192.0.2.1") is None
    any_realm = Trunk(config("t", username="acct", password="pw"))
    assert any_realm.authorization(other, "INVITE", "sip:1@192.0.2.1") is not None
    ip_only = Trunk(config("t"))
    assert ip_only.authorization(other, "INVITE", "sip:1@192.0.2.1") is None


def test_auth_username_is_the_digest_user() -> None:
    trunk = Trunk(config("t", username="4420", auth_username="acct", password="pw"))
    verifier = DigestVerifier(NonceIssuer(b"k" * 32))
    header = trunk.authorization(verifier.challenge(REALM, 1000.0), "INVITE", "sip:1@h")
    assert header is not None and parse_credentials(header).username == "acct"


def test_request_uri_is_a_sip_uri() -> None:
    uri = Trunk(config("t", "192.0.2.1", transport="tls")).request_uri("100")
    assert isinstance(uri, SipUri) and uri.transport == "tls"


def test_manager_without_start_sends_nothing() -> None:
    async def main() -> None:
        trunks = manager(config("a", options_interval=0.01, register=True, username="u",
                                password="p"))
        await asyncio.sleep(0.05)
        await trunks.stop()
        trunk = trunks.get("a")
        assert trunk is not None and trunk.registered is False

    asyncio.run(main())
