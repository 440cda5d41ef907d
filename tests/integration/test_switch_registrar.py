"""pycc's registrar and location service, seen from phones on raw UDP sockets.

RFC 3261 §10 (bindings added, refreshed and removed; Expires header and parameter; 423 with
Min-Expires; the wildcard; several contacts ordered by q), RFC 3327 (Path kept, echoed, and used
as the Route set of calls to the extension), RFC 4475 §3.3.12-§3.3.14 (contact parameters, URI
parameters and escaped headers kept as registered), bindings that survive a restart and are
purged on expiry, and the authentication rules: a user registers only its own AOR, an unknown
extension gets the same answer as a wrong password, and repeated failures ban the source.

The switch runs in-process (:class:`peers.rawsip.ThreadedSwitch`) so the tests can also look at
its registrar and its database; everything a phone sees goes over 127.0.0.1 UDP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from peers.rawsip import (
    SipAgent,
    SipMessage,
    ThreadedSwitch,
    UdpPeer,
    contact_param,
    contact_uri,
    contact_values,
    invite_request,
    load_vector,
    prepare_data_dir,
    respond_to,
    switch_config,
)
from pycc.ccmanager.registrar import Registrar
from pycc.sip.address import Address
from pycc.sip.auth import parse_challenge
from pycc.store.db import make_url
from pycc.store.models import BindingUpdate
from pycc.store.repo import Store

USERS = [("1001", "secret1001"), ("1002", "secret1002"), ("1003", "secret1003")]
PASSWORDS = dict(USERS)

MakeAgent = Callable[[str], SipAgent]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    prepare_data_dir(path, USERS)
    return path


#: Every test with a switch runs against one that reads REGISTERs itself and against one
#: whose register worker reads and authenticates them (`pycc.ccmanager.register_offload`).
@pytest.fixture(params=[0, 1], ids=["in-switch", "worker"])
def register_workers(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def switch(data_dir: Path, register_workers: int) -> Iterator[ThreadedSwitch]:
    with ThreadedSwitch(switch_config(data_dir, register_workers=register_workers)) as running:
        if register_workers:
            offload = running.switch.register_offload
            assert offload is not None and offload.running
        yield running
        if register_workers:
            # The worker had the REGISTERs (the test would pass in the switch alone otherwise).
            assert offload.offered_total > 0


@pytest.fixture
def agent(switch: ThreadedSwitch) -> Iterator[MakeAgent]:
    made: list[SipAgent] = []

    def make(user: str) -> SipAgent:
        phone = SipAgent(user, PASSWORDS.get(user, "not-a-password"), switch.udp)
        made.append(phone)
        return phone

    yield make
    for phone in made:
        phone.peer.close()


def stored_bindings(data_dir: Path, aor: str, now: float | None = None) -> list[str]:
    """The contacts the database holds for ``aor`` (unexpired at ``now``; all with 0)."""
    store = Store(make_url(data_dir, None))
    try:
        rows = store.get_bindings("default", aor, time.time() if now is None else now)
    finally:
        store.close()
    return [row.contact for row in rows]


def registrar_of(running: ThreadedSwitch) -> Registrar:
    registrar = running.switch.registrar
    assert registrar is not None
    return registrar


def expires_of(response: SipMessage) -> dict[str, int]:
    """Contact URI -> the expires parameter the 200 OK gives it."""
    found: dict[str, int] = {}
    for value in contact_values(response):
        expires = contact_param(value, "expires")
        assert expires is not None and expires.isdigit(), value
        found[contact_uri(value)] = int(expires)
    return found


# -- the digest dance and the 200 --------------------------------------------------------------


def test_register_with_digest(switch: ThreadedSwitch, agent: MakeAgent, data_dir: Path) -> None:
    phone = agent("1001")
    request = phone.register_request()
    challenge = phone.transact(request)
    assert challenge.status == 401
    values = challenge.lines("www-authenticate")
    assert values, challenge.raw
    parsed = parse_challenge(values[0])
    assert parsed.is_digest and parsed.realm == "pycc" and parsed.algorithm == "MD5"
    assert "auth" in parsed.qop_options
    assert stored_bindings(data_dir, "sip:1001@pycc") == []

    ok = phone.transact(phone.authorize(request, challenge))
    assert ok.status == 200, ok.start_line
    # The default interval (3600 s) applies when the REGISTER names none (§10.2.1.1).
    assert expires_of(ok) == {phone.contact_uri: 3600}
    assert ok.to_tag is not None
    assert stored_bindings(data_dir, "sip:1001@pycc") == [phone.contact_uri]
    # The location service sends calls back to where the REGISTER came from.
    locations = switch.run(lambda: registrar_of(switch).lookup("1001"))
    assert [loc.destination for loc in locations] == [
        Address("udp", "127.0.0.1", phone.peer.port)]


def test_refresh_changes_the_interval(agent: MakeAgent) -> None:
    phone = agent("1001")
    first = phone.register(expires=600)
    assert first.status == 200 and expires_of(first) == {phone.contact_uri: 600}
    again = phone.register(expires=1200)
    assert again.status == 200 and expires_of(again) == {phone.contact_uri: 1200}


def test_query_lists_bindings_without_changing_them(agent: MakeAgent) -> None:
    phone = agent("1001")
    assert phone.register(expires=900).status == 200
    # §10.2.3: a REGISTER without Contact asks for the current bindings.
    query = phone.register(contacts=[])
    assert query.status == 200
    listed = expires_of(query)
    assert list(listed) == [phone.contact_uri]
    assert 895 <= listed[phone.contact_uri] <= 900


def test_out_of_order_cseq_is_refused(agent: MakeAgent) -> None:
    phone = agent("1001")
    # CSeq 1 is challenged, CSeq 2 registers.
    first = phone.register_request(expires=600, call_id="refresh-order@test")
    ok = phone.transact(phone.authorize(first, phone.transact(first)))
    assert ok.status == 200 and ok.get("cseq") == "2 REGISTER"
    # The same Call-ID, CSeq not above 2 again: §10.3 step 7 says 500, bindings untouched.
    phone.cseq = 0
    stale = phone.register_request(expires=1800, call_id="refresh-order@test")
    refused = phone.transact(phone.authorize(stale, phone.transact(stale)))
    assert refused.get("cseq") == "2 REGISTER"
    assert refused.status == 500, refused.start_line
    assert expires_of(phone.register(contacts=[]))[phone.contact_uri] <= 600


def test_several_contacts_ordered_by_q(agent: MakeAgent, switch: ThreadedSwitch) -> None:
    phone = agent("1001")
    contacts = ["<sip:1001@127.0.0.1:5071>;q=0.1", "<sip:1001@127.0.0.1:5072>",
                "<sip:1001@127.0.0.1:5073>;q=0.5"]
    ok = phone.register(contacts, expires=600)
    assert ok.status == 200, ok.start_line
    values = contact_values(ok)
    assert [contact_uri(v) for v in values] == [
        "sip:1001@127.0.0.1:5072", "sip:1001@127.0.0.1:5073", "sip:1001@127.0.0.1:5071"]
    assert [contact_param(v, "q") for v in values] in ([None, "0.5", "0.1"], ["1", "0.5", "0.1"])
    locations = switch.run(lambda: registrar_of(switch).lookup("1001"))
    assert [loc.binding.q for loc in locations] == [1.0, 0.5, 0.1]


def test_expires_parameter_overrides_header(agent: MakeAgent) -> None:
    phone = agent("1001")
    ok = phone.register(["<sip:1001@127.0.0.1:5071>;expires=300", "<sip:1001@127.0.0.1:5072>",
                         "<sip:1001@127.0.0.1:5073>;expires=100000"], expires=1800)
    assert ok.status == 200, ok.start_line
    # The parameter wins over the header (§10.2.1.1); the registrar caps long intervals
    # at its maximum (7200 s by default).
    assert expires_of(ok) == {"sip:1001@127.0.0.1:5071": 300, "sip:1001@127.0.0.1:5072": 1800,
                              "sip:1001@127.0.0.1:5073": 7200}


@pytest.mark.parametrize("how", ["header", "parameter"])
def test_interval_too_brief(agent: MakeAgent, data_dir: Path, how: str) -> None:
    phone = agent("1001")
    if how == "header":
        answer = phone.register(expires=30)
    else:
        answer = phone.register([f"<{phone.contact_uri}>;expires=59"])
    assert answer.status == 423, answer.start_line
    assert answer.get("min-expires") == "60"
    assert stored_bindings(data_dir, "sip:1001@pycc") == []
    # Exactly the minimum is accepted.
    assert expires_of(phone.register(expires=60)) == {phone.contact_uri: 60}


def test_expires_zero_removes_one_binding(agent: MakeAgent, data_dir: Path) -> None:
    phone = agent("1001")
    both = phone.register(["<sip:1001@127.0.0.1:5071>", "<sip:1001@127.0.0.1:5072>"],
                          expires=600)
    assert set(expires_of(both)) == {"sip:1001@127.0.0.1:5071", "sip:1001@127.0.0.1:5072"}
    removed = phone.register(["<sip:1001@127.0.0.1:5071>"], expires=0)
    assert removed.status == 200
    assert list(expires_of(removed)) == ["sip:1001@127.0.0.1:5072"]
    assert stored_bindings(data_dir, "sip:1001@pycc") == ["sip:1001@127.0.0.1:5072"]
    by_param = phone.register(["<sip:1001@127.0.0.1:5072>;expires=0"])
    assert by_param.status == 200 and contact_values(by_param) == []
    assert stored_bindings(data_dir, "sip:1001@pycc") == []


def test_wildcard_removes_every_binding(agent: MakeAgent, data_dir: Path,
                                        switch: ThreadedSwitch) -> None:
    phone = agent("1001")
    ok = phone.register(["<sip:1001@127.0.0.1:5071>", "<sip:1001@127.0.0.1:5072>"], expires=600)
    assert len(contact_values(ok)) == 2
    other = agent("1002")
    assert other.register(expires=600).status == 200
    cleared = phone.register(["*"], expires=0)
    assert cleared.status == 200, cleared.start_line
    assert contact_values(cleared) == []
    assert stored_bindings(data_dir, "sip:1001@pycc") == []
    assert switch.run(lambda: registrar_of(switch).lookup("1001")) == []
    # Only that AOR: the other extension keeps its binding.
    assert stored_bindings(data_dir, "sip:1002@pycc") == [other.contact_uri]


@pytest.mark.parametrize("expires", [60, None])
def test_wildcard_needs_expires_zero(agent: MakeAgent, data_dir: Path,
                                     expires: int | None) -> None:
    phone = agent("1001")
    assert phone.register(expires=600).status == 200
    refused = phone.register(["*"], expires=expires)
    assert refused.status == 400, refused.start_line
    assert refused.reason != "Bad Request"
    assert stored_bindings(data_dir, "sip:1001@pycc") == [phone.contact_uri]


def test_wildcard_mixed_with_contacts_is_refused(agent: MakeAgent) -> None:
    phone = agent("1001")
    refused = phone.register(["*", f"<{phone.contact_uri}>"], expires=0)
    assert refused.status == 400, refused.start_line


# -- RFC 4475 §3.3.12-§3.3.14: what a binding keeps ---------------------------------------------


def _vector_contact(name: str) -> str:
    values = SipMessage.parse(load_vector(name)).lines("contact")
    assert len(values) == 1
    return values[0]


def test_contact_header_parameter_is_not_a_uri_parameter(agent: MakeAgent,
                                                         data_dir: Path) -> None:
    """cparam01: without <>, ``;unknownparam`` belongs to the header, not to the URI."""
    contact = _vector_contact("cparam01.dat")
    assert contact == "sip:+19725552222@gw1.example.net;unknownparam"
    ok = agent("1001").register([contact], expires=600)
    assert ok.status == 200, ok.start_line
    assert list(expires_of(ok)) == ["sip:+19725552222@gw1.example.net"]
    assert stored_bindings(data_dir, "sip:1001@pycc") == ["sip:+19725552222@gw1.example.net"]


def test_uri_parameter_is_kept(agent: MakeAgent, data_dir: Path) -> None:
    """cparam02: inside <>, ``;unknownparam`` is a URI parameter and stays in the binding."""
    contact = _vector_contact("cparam02.dat")
    ok = agent("1001").register([contact], expires=600)
    assert ok.status == 200, ok.start_line
    assert list(expires_of(ok)) == ["sip:+19725552222@gw1.example.net;unknownparam"]
    assert stored_bindings(data_dir, "sip:1001@pycc") == [
        "sip:+19725552222@gw1.example.net;unknownparam"]


def test_escaped_header_is_kept_verbatim_and_never_applied(
    agent: MakeAgent, data_dir: Path
) -> None:
    """regescrt: the binding holds ``?Route=%3Csip:sip.example.com%3E`` as registered; a call to
    the extension neither puts it in the Request-URI nor turns it into a Route header."""
    contact = _vector_contact("regescrt.dat")
    callee = agent("1002")
    uri = contact_uri(contact).replace("sip:user@example.com",
                                       f"sip:1002@127.0.0.1:{callee.peer.port}")
    ok = callee.register([f"<{uri}>"], expires=600)
    assert ok.status == 200, ok.start_line
    assert list(expires_of(ok)) == [uri]
    assert uri.endswith("?Route=%3Csip:sip.example.com%3E")
    assert stored_bindings(data_dir, "sip:1002@pycc") == [uri]

    caller = agent("1001")
    incoming = _call_and_reject(caller, callee)
    assert incoming.request_uri == f"sip:1002@127.0.0.1:{callee.peer.port}"
    assert incoming.lines("route") == []


# -- Path (RFC 3327) ---------------------------------------------------------------------------


def _call_and_reject(caller: SipAgent, callee: SipAgent) -> SipMessage:
    """1001 calls ``callee``'s extension with digest; ``callee`` answers 486. Returns the
    INVITE pycc sent to the callee."""
    invite = invite_request(caller, callee.user)
    first = caller.transact(invite)
    assert first.status == 407, first.start_line
    caller.ack_failure(invite, first)
    signed = caller.authorize(invite, first)
    caller.send(signed)
    incoming = callee.peer.request("INVITE", timeout=5.0)
    callee.peer.send(respond_to(incoming, 486, "Busy Here", to_tag="callee"), callee.server)
    call_id = signed.get("Call-ID")
    assert call_id is not None
    busy = caller.peer.response_to(call_id, "INVITE")
    assert busy.status == 486, busy.start_line
    caller.ack_failure(signed, busy)
    callee.peer.request("ACK", timeout=5.0)  # pycc acknowledges the callee's 486
    return incoming


def test_path_is_echoed_and_becomes_the_route_set(agent: MakeAgent, data_dir: Path) -> None:
    callee = agent("1002")
    port = callee.peer.port
    path = [f"<sip:edge@127.0.0.1:{port};lr>", "<sip:core.pycc.test;lr>"]
    ok = callee.register(expires=600, extra=[("Path", ", ".join(path)), ("Supported", "path")])
    assert ok.status == 200, ok.start_line
    assert ok.all("path") == path
    # The call to 1002 carries the Path as its Route set, in order (§5.3), with the
    # registered contact as Request-URI.
    incoming = _call_and_reject(agent("1001"), callee)
    assert incoming.all("route") == path
    assert incoming.request_uri == callee.contact_uri


def test_path_not_echoed_without_supported(agent: MakeAgent) -> None:
    callee = agent("1002")
    path = f"<sip:edge@127.0.0.1:{callee.peer.port};lr>"
    ok = callee.register(expires=600, extra=[("Path", path)])
    assert ok.status == 200, ok.start_line
    assert ok.all("path") == []


# -- durability and expiry ---------------------------------------------------------------------


def test_bindings_survive_a_restart(data_dir: Path) -> None:
    with UdpPeer() as callee_socket, UdpPeer() as caller_socket:
        with ThreadedSwitch(switch_config(data_dir)) as first:
            callee = SipAgent("1002", "secret1002", first.udp, callee_socket)
            assert callee.register(expires=600).status == 200
        assert stored_bindings(data_dir, "sip:1002@pycc") == [callee.contact_uri]
        with ThreadedSwitch(switch_config(data_dir)) as second:
            callee.server = second.udp
            caller = SipAgent("1001", "secret1001", second.udp, caller_socket)
            incoming = _call_and_reject(caller, callee)
            assert incoming.request_uri == callee.contact_uri


def test_expired_binding_is_ignored_and_purged(data_dir: Path) -> None:
    now = time.time()
    store = Store(make_url(data_dir, None))
    try:
        stale = BindingUpdate(contact="sip:1002@127.0.0.1:5999", expires_at=now - 10,
                              call_id="old@test", cseq=1, received="udp:127.0.0.1:5999")
        store.save_bindings("default", "sip:1002@pycc", [stale], [], now - 3610,
                            extension_number="1002")
        assert [b.contact for b in store.get_bindings("default", "sip:1002@pycc", 0.0)] == [
            "sip:1002@127.0.0.1:5999"]
    finally:
        store.close()
    with ThreadedSwitch(switch_config(data_dir)) as running, UdpPeer() as sock:
        registrar = running.switch.registrar
        assert registrar is not None
        assert running.run(lambda: registrar.lookup("1002")) == []
        # A call to it finds nobody: 480, not an INVITE to the dead contact.
        caller = SipAgent("1001", "secret1001", running.udp, sock)
        invite = invite_request(caller, "1002")
        first = caller.transact(invite)
        caller.ack_failure(invite, first)
        answer = caller.transact(caller.authorize(invite, first))
        assert answer.status == 480, answer.start_line
        assert running.call(registrar.purge) == 1
    assert stored_bindings(data_dir, "sip:1002@pycc", now=0.0) == []


def test_registered_binding_expires_and_is_purged(switch: ThreadedSwitch, agent: MakeAgent,
                                                  data_dir: Path) -> None:
    phone = agent("1001")
    assert phone.register(expires=60).status == 200
    registrar = switch.switch.registrar
    assert registrar is not None
    assert len(switch.run(lambda: registrar.lookup("1001"))) == 1
    # Move the registrar's clock past the interval instead of waiting a minute.
    real_clock = registrar.clock
    switch.run(lambda: setattr(registrar, "clock", lambda: real_clock() + 61))
    assert switch.run(lambda: registrar.lookup("1001")) == []
    assert switch.run(registrar.binding_count) == 0
    assert switch.call(registrar.purge) == 1
    assert stored_bindings(data_dir, "sip:1001@pycc", now=0.0) == []


# -- who may register what ---------------------------------------------------------------------


def test_cannot_register_another_users_aor(agent: MakeAgent, data_dir: Path) -> None:
    phone = agent("1001")
    refused = phone.register(aor_user="1002", expires=600)
    assert refused.status == 403, refused.start_line
    assert stored_bindings(data_dir, "sip:1002@pycc") == []


def _shape(response: SipMessage) -> tuple[int, str, list[str], list[str]]:
    """What an attacker can compare: status, reason, header names, challenge parameter names."""
    params = [sorted(parse_challenge(v).params) for v in response.lines("www-authenticate")]
    return (response.status, response.reason, response.header_names(),
            [" ".join(p) for p in params])


def test_unknown_extension_and_wrong_password_look_the_same(agent: MakeAgent) -> None:
    wrong = agent("1001").register(password="not-the-password", expires=600)
    unknown = agent("7777").register(password="not-the-password", expires=600)
    assert wrong.status == 401, wrong.start_line
    assert _shape(wrong) == _shape(unknown)
    # A fresh challenge each time, not a hint.
    assert wrong.lines("www-authenticate") != unknown.lines("www-authenticate")


def test_repeated_failures_ban_the_source(data_dir: Path, register_workers: int) -> None:
    config = switch_config(data_dir, ban_failures=3, register_workers=register_workers)
    with ThreadedSwitch(config) as running, \
            UdpPeer() as sock:
        phone = SipAgent("1001", "secret1001", running.udp, sock)
        statuses = [phone.register(password=f"guess{i}", expires=600).status for i in range(3)]
        assert statuses == [401, 401, 403]
        # Banned: the right password is refused too, and so is a call.
        assert phone.register(expires=600).status == 403
        invite = invite_request(phone, "1002")
        refused = phone.transact(invite)
        assert refused.status == 403, refused.start_line
        phone.ack_failure(invite, refused)
        assert stored_bindings(data_dir, "sip:1001@pycc") == []
