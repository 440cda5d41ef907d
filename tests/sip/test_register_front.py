"""Tests for pycc.sip.register_front: the sans-I/O REGISTER front of the register worker.

Covered: the stateless challenge and where it goes (RFC 3261 §8.2.6, §18.2.2, §21.4.2;
RFC 3581 rport; RFC 7616 §3.3 WWW-Authenticate), digest verification with parked requests
waiting for an extension's credentials, nonce-count replay and stale nonces (RFC 7616
§3.3, §3.4.5), the 403s for a banned source and for another user's address-of-record
(RFC 3261 §10.3 step 4), what goes back to the switch's own path, `compose_answer`, and the
`RegisterRequest` tuple that crosses the process boundary (RFC 3261 §10.3 steps 5-8), and
the 407 for a call's first INVITE (RFC 3261 §22.3) with what must go back instead.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.sip.auth import digest_response, ha1, parse_challenge
from pycc.sip.message import Response, parse_message
from pycc.sip.register_front import RegisterFront, Result, compose_answer
from pycc.sip.registrar import (
    RegisteredContact,
    RegisterRequest,
    process_register,
    register_request,
)

REALM = "pycc"
SECRET = b"pycc-test-secret-0123456789abcdef"
SERVER = "pycc-test/1.0"
REQUEST_URI = "sip:127.0.0.1:5060"
# A source other than the Via's sent-by host, so that `received` must be added (§18.2.1).
SOURCE_HOST, SOURCE_PORT = "192.0.2.7", 40000
T0 = 1_000.0
FROM = "<sip:1001@127.0.0.1>;tag=a1"
CALL_ID = "c1@127.0.0.1"


def register(*extra: str, to_user: str = "1001", via_params: str = ";rport",
             method: str = "REGISTER", uri: str = REQUEST_URI, to_params: str = "",
             cseq: int | None = 1, contacts: tuple[str, ...] = ("<sip:1001@127.0.0.1:5070>",),
             expires: int | None = 3600) -> bytes:
    lines = [f"{method} {uri} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1{via_params}",
             "Max-Forwards: 70", f"From: {FROM}", f"To: <sip:{to_user}@127.0.0.1>{to_params}",
             f"Call-ID: {CALL_ID}"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq} {method}")
    lines += [f"Contact: {contact}" for contact in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += [*extra, "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def new_front(**options: object) -> RegisterFront:
    return RegisterFront(REALM, SECRET, server=SERVER, **options)  # type: ignore[arg-type]


def handle(front: RegisterFront, data: bytes, *, now: float = T0, banned: bool = False,
           ident: int = 1) -> list[Result]:
    return front.handle(ident, data, "udp", SOURCE_HOST, SOURCE_PORT, banned, now)


def answer_of(result: Result) -> Response:
    assert result[0] == "send"
    response = parse_message(result[2])  # type: ignore[arg-type]
    assert isinstance(response, Response)
    return response


def only_answer(results: list[Result]) -> tuple[Response, Result]:
    assert len(results) == 1
    return answer_of(results[0]), results[0]


def hashes(password: str = "pw", user: str = "1001") -> dict[str, str]:
    return {alg: ha1(user, REALM, password, alg) for alg in ("MD5", "SHA-256")}


def challenge(front: RegisterFront, now: float = T0) -> tuple[str, str]:
    """The nonce and opaque of a fresh 401 (what a phone reads before answering)."""
    response, _ = only_answer(handle(front, register(), now=now))
    md5 = parse_challenge(response.headers.get_all("www-authenticate")[-1])
    assert md5.algorithm == "MD5" and md5.nonce and md5.opaque
    return md5.nonce, md5.opaque


def authorization(nonce: str, opaque: str, *, user: str = "1001", password: str = "pw",
                  nc: int = 1, cnonce: str = "0a4f113b") -> str:
    # Computed from RFC 7616 §3.4.1 by hand rather than with build_authorization, so that a
    # client-side bug cannot hide a server-side one.
    response = digest_response(ha1(user, REALM, password, "MD5"), algorithm="MD5",
                               method="REGISTER", uri=REQUEST_URI, nonce=nonce,
                               nc=f"{nc:08x}", cnonce=cnonce, qop="auth")
    return (f'Authorization: Digest username="{user}", realm="{REALM}", nonce="{nonce}", '
            f'uri="{REQUEST_URI}", response="{response}", algorithm=MD5, cnonce="{cnonce}", '
            f'qop=auth, nc={nc:08x}, opaque="{opaque}"')


def authed(front: RegisterFront, now: float = T0, *, to_user: str = "1001",
           **auth: object) -> bytes:
    return register(authorization(*challenge(front, now), **auth), to_user=to_user)  # type: ignore[arg-type]


def test_challenge_copies_headers_and_stamps_via() -> None:
    front = new_front()
    response, result = only_answer(handle(front, register()))
    assert (response.status, response.reason) == (401, "Unauthorized")
    challenges = [parse_challenge(v) for v in response.headers.get_all("www-authenticate")]
    # One challenge per configured algorithm, most preferred first (RFC 8760 §2.3).
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == REALM and c.qop_options == ("auth",) and not c.stale
               for c in challenges)
    assert all('realm="pycc"' in v and 'qop="auth"' in v
               for v in response.headers.get_all("www-authenticate"))
    via = response.top_via
    assert (via.received, via.rport) == (SOURCE_HOST, SOURCE_PORT)
    assert response.to.tag
    assert response.headers.get("from") == FROM
    assert response.headers.get("call-id") == CALL_ID
    assert response.headers.get("cseq") == "1 REGISTER"
    assert response.headers.get("server") == SERVER
    # An unauthenticated request is no failure: nothing to count towards a ban.
    assert (result[1], result[3], result[4], result[5]) == (1, SOURCE_PORT, "", "")


def test_challenge_without_rport_goes_to_sent_by_port() -> None:
    response, result = only_answer(handle(new_front(), register(via_params="")))
    # RFC 3261 §18.2.2: without rport, the source host (as received) at the sent-by port.
    assert result[3] == 5070
    assert response.top_via.received == SOURCE_HOST
    assert "rport" not in response.top_via.params


def test_parked_requests_are_judged_when_credentials_arrive() -> None:
    front = new_front()
    nonce, opaque = challenge(front)
    first = register(authorization(nonce, opaque, nc=1))
    second = register(authorization(nonce, opaque, nc=2))
    assert handle(front, first, ident=1) == [("need", "1001")]
    # One question per extension however many REGISTERs wait for its answer.
    assert handle(front, second, ident=2) == []
    binds = front.credentials("1001", hashes(), until=T0 + 60, now=T0)
    assert [(r[0], r[1], r[2], r[5]) for r in binds] == [("bind", 1, "1001", SOURCE_PORT),
                                                         ("bind", 2, "1001", SOURCE_PORT)]
    head = str(binds[0][4]).split("\r\n")
    assert head[0].startswith("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;")
    assert f"received={SOURCE_HOST}" in head[0] and f"rport={SOURCE_PORT}" in head[0]
    assert head[1] == f"From: {FROM}"
    assert head[2].startswith("To: <sip:1001@127.0.0.1>;tag=") and len(head[2]) > 30
    assert head[3:] == [f"Call-ID: {CALL_ID}", "CSeq: 1 REGISTER"]
    view = RegisterRequest.from_tuple(binds[0][3])  # type: ignore[arg-type]
    assert view == register_request(parse_message(first))  # type: ignore[arg-type]
    assert (view.call_id, view.cseq, view.expires, view.path, view.user_agent) == (
        CALL_ID, 1, 3600, (), None)
    assert view.contacts == (RegisteredContact("sip:1001@127.0.0.1:5070", True),)


def test_known_credentials_judge_at_once_until_they_expire() -> None:
    front = new_front()
    front.credentials("1001", hashes(), until=T0 + 60, now=T0)
    results = handle(front, authed(front))
    assert [r[0] for r in results] == ["bind"] and results[0][2] == "1001"
    # Past `until` the switch is asked again: a password may have changed.
    later = T0 + 61
    assert handle(front, authed(front, later), now=later) == [("need", "1001")]


def test_wrong_password_and_replayed_nonce_count_are_failures() -> None:
    front = new_front()
    front.credentials("1001", hashes(), until=T0 + 60, now=T0)
    response, result = only_answer(handle(front, authed(front, password="guess")))
    assert response.status == 401 and result[4] and str(result[5]).startswith("Via: ")
    data = authed(front)
    assert handle(front, data)[0][0] == "bind"
    # The same nc with the same nonce again (RFC 7616 §3.4.5): a replay, not a registration.
    response, result = only_answer(handle(front, data))
    assert response.status == 401 and result[4] and result[5]
    assert not any(parse_challenge(v).stale for v in response.headers.get_all("www-authenticate"))


def test_unknown_user_looks_like_wrong_password() -> None:
    front = new_front()
    assert handle(front, authed(front, user="1009", to_user="1009")) == [("need", "1009")]
    assert handle(front, authed(front, password="guess"), ident=2) == [("need", "1001")]
    unknown_result = front.credentials("1009", None, until=T0 + 60, now=T0)[0]
    wrong_result = front.credentials("1001", hashes(), until=T0 + 60, now=T0)[0]
    unknown, wrong = answer_of(unknown_result), answer_of(wrong_result)
    # Nothing in the answer tells which extensions exist.
    assert (unknown.status, unknown.reason) == (wrong.status, wrong.reason) == (401,
                                                                                 "Unauthorized")
    assert [n for n, _ in unknown.headers] == [n for n, _ in wrong.headers]
    assert unknown_result[3] == wrong_result[3] == SOURCE_PORT
    assert unknown_result[4] and wrong_result[4]


def test_a_nonce_not_of_ours_is_refused_without_asking_for_credentials() -> None:
    """Made-up credentials must not make the switch read any extension's credentials, nor
    take a place among the REGISTERs waiting for them."""
    front = new_front()
    _, opaque = challenge(front)
    results = handle(front, register(authorization("forged-nonce", opaque)))
    response, result = only_answer(results)
    assert response.status == 401
    assert "not issued" in str(result[4])
    assert front._parked_count == 0


def test_one_extension_cannot_take_every_parked_place() -> None:
    front = new_front()
    nonce, opaque = challenge(front)
    data = register(authorization(nonce, opaque))
    outcomes = [handle(front, data, ident=i) for i in range(60)]
    assert outcomes[0] == [("need", "1001")]
    assert all(o == [] for o in outcomes[1:50])
    # Past 50 waiting for one extension, the switch's own path answers.
    assert all(o == [("back", i)] for i, o in enumerate(outcomes) if i >= 50)


def test_banned_source_is_refused_before_credentials() -> None:
    front = new_front()
    # A correct Authorization, and no credentials known: no "need", straight to 403.
    response, result = only_answer(handle(front, authed(front), banned=True))
    assert (response.status, response.reason) == (403, "Forbidden")
    assert (result[3], result[4], result[5]) == (SOURCE_PORT, "", "")


def test_other_users_address_is_forbidden() -> None:
    front = new_front()
    front.credentials("1001", hashes(), until=T0 + 60, now=T0)
    response, result = only_answer(handle(front, authed(front, to_user="1002")))
    assert (response.status, response.reason) == (403, "Not allowed to register this address")
    assert response.to.uri.user == "1002"  # type: ignore[union-attr]
    assert result[4] == ""


def test_expired_nonce_with_right_password_is_stale() -> None:
    front = new_front()
    front.credentials("1001", hashes(), until=T0 + 10_000, now=T0)
    old_nonce, _ = challenge(front)
    data = authed(front)
    later = T0 + 300.0 + 10
    response, result = only_answer(handle(front, data, now=later))
    assert response.status == 401
    fresh = [parse_challenge(v) for v in response.headers.get_all("www-authenticate")]
    # RFC 7616 §3.3: stale=true lets the phone retry without asking its user.
    assert [c.stale for c in fresh] == [True, True]
    assert all(c.nonce != old_nonce for c in fresh)
    assert result[4] == ""


@pytest.mark.parametrize("data", [
    register(to_params=";tag=dlg1"),
    register("Require: foo"),
    register(method="OPTIONS"),
    b"\x00\xffnot sip at all\r\n\r\n",
    register(cseq=None),
    register(uri="tel:+1234"),
], ids=["to-tag", "require", "options", "garbage", "no-cseq", "tel-uri"])
def test_requests_for_the_switch_go_back(data: bytes) -> None:
    assert handle(new_front(), data, ident=7) == [("back", 7)]


@pytest.mark.parametrize(("status", "reason", "expected"), [
    (423, None, "Interval Too Brief"), (400, "Bad Contact", "Bad Contact")])
def test_compose_answer(status: int, reason: str | None, expected: str) -> None:
    head = (f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nFrom: {FROM}\r\n"
            f"To: <sip:1001@127.0.0.1>;tag=b2\r\nCall-ID: {CALL_ID}\r\nCSeq: 1 REGISTER")
    extra = [("Min-Expires", "60"), ("Warning", '399 pycc "x"')]
    response = parse_message(compose_answer(head, status, reason, extra, SERVER))
    assert isinstance(response, Response)
    assert (response.status, response.reason) == (status, expected)
    assert [n for n, _ in response.headers] == [
        "Via", "From", "To", "Call-ID", "CSeq", "Min-Expires", "Warning", "Server",
        "Content-Length"]
    assert [v for _, v in response.headers][5:] == ["60", '399 pycc "x"', SERVER, "0"]
    bare = parse_message(compose_answer(head, 200, None, (), None))
    assert "server" not in bare.headers and bare.headers.get("content-length") == "0"


_opt_text = st.none() | st.text(max_size=12)
register_requests = st.builds(
    RegisterRequest, call_id=st.text(max_size=30), cseq=st.integers(0, 2**31 - 1),
    expires=st.none() | st.integers(0, 2**32 - 1), star=st.booleans(),
    star_mixed=st.booleans(),
    contacts=st.lists(st.builds(RegisteredContact, st.text(max_size=20), st.booleans(),
                                _opt_text, _opt_text, _opt_text, _opt_text),
                      max_size=4).map(tuple),
    path=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    path_supported=st.booleans(), user_agent=_opt_text)


@given(register_requests)
def test_register_request_tuple_round_trip(value: RegisterRequest) -> None:
    assert RegisterRequest.from_tuple(value.as_tuple()) == value


# (position, values of the wrong type there): only the fields from_tuple checks.
_wrong = st.sampled_from([0, 1, 2, 5, 6, 8]).flatmap(lambda i: st.tuples(st.just(i), {
    0: st.integers() | st.none(),
    1: st.text() | st.none() | st.floats(),
    2: st.text() | st.floats(),
    5: st.integers() | st.none() | st.dictionaries(st.text(), st.text(), min_size=1),
    6: st.integers() | st.none() | st.lists(st.integers(), min_size=1).map(tuple),
    8: st.integers() | st.floats(),
}[i]))


@given(register_requests, st.integers(0, 12), _wrong, st.booleans())
def test_register_request_from_malformed_tuple(value: RegisterRequest, length: int,
                                              wrong: tuple[int, object],
                                              resize: bool) -> None:
    good = list(value.as_tuple())
    if resize:
        bad = tuple((good * 2)[:length]) if length != len(good) else (*good, None)
    else:
        good[wrong[0]] = wrong[1]
        bad = tuple(good)
    with pytest.raises(ValueError):
        RegisterRequest.from_tuple(bad)


def test_register_request_malformed_contact_item() -> None:
    with pytest.raises(ValueError):
        RegisterRequest.from_tuple(("c", 1, None, False, False, (5,), (), False, None))
    # A six-letter string is no contact, though it unpacks into six fields.
    with pytest.raises(ValueError):
        RegisterRequest.from_tuple(("c", 1, None, False, False, ("abcdef",), (), False, None))
    with pytest.raises(ValueError):
        RegisterRequest.from_tuple(("c", 1, None, False, False, ((1, True, None, None, None,
                                                                   None),), (), False, None))


_contact_params = st.tuples(st.none() | st.integers(0, 7200),
                            st.none() | st.sampled_from(["0.5", "1", "0.1"]))


@given(st.lists(_contact_params, min_size=1, max_size=3), st.none() | st.integers(0, 7200))
def test_process_register_view_matches_request(params: list[tuple[int | None, str | None]],
                                               expires: int | None) -> None:
    contacts = []
    for n, (c_expires, q) in enumerate(params):
        suffix = "" if c_expires is None else f";expires={c_expires}"
        suffix += "" if q is None else f";q={q}"
        contacts.append(f"<sip:1001@10.0.0.{n + 1}:5060>{suffix}")
    request = parse_message(register(contacts=tuple(contacts), expires=expires))
    view = register_request(request)  # type: ignore[arg-type]
    assert [c.key for c in view.contacts] == [c.split(">")[0][1:] for c in contacts]
    assert process_register(view, [], T0) == process_register(request, [], T0)  # type: ignore[arg-type]


# -- the first INVITE of a call (RFC 3261 §22.3) -------------------------------------------

SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 4000 RTP/AVP 0\r\n")


def invite(*extra: str, vias: tuple[str, ...] = ("branch=z9hG4bK-inv1;rport",),
           body: bytes = SDP, content_type: str = "application/sdp") -> bytes:
    lines = ["INVITE sip:1002@127.0.0.1:5060 SIP/2.0"]
    lines += [f"Via: SIP/2.0/UDP 127.0.0.1:5070;{params}" for params in vias]
    lines += ["Max-Forwards: 70", f"From: {FROM}", "To: <sip:1002@127.0.0.1>",
              f"Call-ID: {CALL_ID}", "CSeq: 1 INVITE", "Contact: <sip:1001@127.0.0.1:5070>",
              *extra]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_first_invite_is_challenged_as_the_b2bua_challenges_it() -> None:
    front = new_front()
    response, result = only_answer(handle(front, invite()))
    assert (response.status, response.reason) == (407, "Proxy Authentication Required")
    challenges = [parse_challenge(v) for v in response.headers.get_all("proxy-authenticate")]
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert not response.headers.get_all("www-authenticate")
    # The B2BUA's answers carry no Server header; the registrar's do.
    assert response.headers.get("server") is None
    assert response.to.tag and response.headers.get("cseq") == "1 INVITE"
    assert (response.top_via.received, response.top_via.rport) == (SOURCE_HOST, SOURCE_PORT)
    # The switch is told the branch, to drop the ACK of this 407 unread.
    assert (result[3], result[4], result[6]) == (SOURCE_PORT, "", "z9hG4bK-inv1")
    # The nonce is the switch's: another verifier with the same secret knows it.
    nonce = challenges[0].nonce
    assert nonce and new_front().verifier.issuer.issued_at(nonce, REALM) is not None
    assert RegisterFront(REALM, b"another-secret-0123456789").verifier.issuer.issued_at(
        nonce, REALM) is None


def test_a_first_invite_from_a_banned_source_is_forbidden() -> None:
    response, result = only_answer(handle(new_front(), invite(), banned=True))
    assert (response.status, response.reason) == (403, "Forbidden")
    assert response.headers.get("server") is None and response.to.tag
    assert result[6] == "z9hG4bK-inv1"


@pytest.mark.parametrize("data", [
    invite('Proxy-Authorization: Digest username="1001", realm="pycc", nonce="n", '
           'uri="sip:1002@127.0.0.1:5060", response="0123456789abcdef0123456789abcdef"'),
    invite(vias=("branch=z9hG4bK-inv1;rport", "branch=z9hG4bK-below")),
    invite("Accept: application/sdp"),
    invite(body=b"hello", content_type="text/plain"),
    invite("Require: 100rel"),
    invite().replace(b"To: <sip:1002@127.0.0.1>", b"To: <sip:1002@127.0.0.1>;tag=x"),
], ids=["credentials", "two-vias", "accept", "text-body", "require", "in-dialog"])
def test_an_invite_the_b2bua_must_judge_goes_back(data: bytes) -> None:
    assert handle(new_front(), data, ident=7) == [("back", 7)]
