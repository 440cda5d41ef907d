"""Tests for pycc.sip.auth: digest arithmetic, header grammar, nonces, verification."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.sip import auth
from pycc.sip.auth import (
    SUPPORTED_ALGORITHMS,
    AuthOutcome,
    AuthParseError,
    Challenge,
    Credentials,
    DigestVerifier,
    NonceCountTracker,
    NonceIssuer,
    NonceStatus,
    UnsupportedChallengeError,
    build_authorization,
    choose_challenge,
    digest_response,
    ha1,
    parse_challenge,
    parse_credentials,
    quote_string,
)
from pycc.sip.errors import SipParseError

SECRET = b"pycc-test-secret-0123456789abcdef"
REALM = "pycc"
URI = "sip:1001@127.0.0.1"


def counter_bytes() -> Callable[[int], bytes]:
    """Deterministic stand-in for secrets.token_bytes: distinct on every call."""
    counter = itertools.count(1)
    return lambda n: next(counter).to_bytes(n, "big")


class Users:
    """An HA1 store as the switch keeps it: (username, family) -> HA1; records lookups."""

    def __init__(self, passwords: dict[str, str], realm: str = REALM) -> None:
        self.table = {
            (user, family): ha1(user, realm, pw, family)
            for user, pw in passwords.items()
            for family in ("MD5", "SHA-256")
        }
        self.lookups: list[tuple[str, str]] = []

    def __call__(self, username: str, algorithm: str) -> str | None:
        self.lookups.append((username, algorithm))
        return self.table.get((username, algorithm))


def make_verifier(**kwargs: object) -> DigestVerifier:
    issuer = NonceIssuer(SECRET, lifetime=300, random_bytes=counter_bytes())
    return DigestVerifier(issuer, random_bytes=counter_bytes(), **kwargs)  # type: ignore[arg-type]


def answer(
    verifier: DigestVerifier,
    now: float,
    *,
    algorithm: str = "SHA-256",
    username: str = "1001",
    password: str = "secret1001",
    nc: int = 1,
    method: str = "REGISTER",
    uri: str = URI,
    realm: str = REALM,
) -> Credentials:
    values = verifier.challenge(realm, now, algorithms=(algorithm,))
    header = build_authorization(
        parse_challenge(values[0]), method, uri, username, password, nc, "c-nonce/1"
    )
    return parse_credentials(header)


# ------------------------------------------------------------------------------------------
# RFC 7616 §3.9.1

RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_REALM = "http-auth@example.org"
RFC_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_response(algorithm: str) -> None:
    stored = ha1("Mufasa", RFC_REALM, "Circle of Life", algorithm)
    response = digest_response(
        stored,
        algorithm=algorithm,
        method="GET",
        uri="/dir/index.html",
        nonce=RFC_NONCE,
        nc="00000001",
        cnonce=RFC_CNONCE,
        qop="auth",
    )
    assert response == RFC_RESPONSES[algorithm]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example_client_header(algorithm: str) -> None:
    # The challenge as printed in the RFC, folded over several lines.
    challenge = parse_challenge(
        f'Digest\r\n    realm="{RFC_REALM}",\r\n    qop="auth, auth-int",\r\n'
        f"    algorithm={algorithm},\r\n"
        f'    nonce="{RFC_NONCE}",\r\n    opaque="{RFC_OPAQUE}"'
    )
    assert challenge.qop_options == ("auth", "auth-int")
    header = build_authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life", 1, RFC_CNONCE
    )
    creds = parse_credentials(header)
    assert creds.response == RFC_RESPONSES[algorithm]
    assert (creds.username, creds.realm, creds.uri) == ("Mufasa", RFC_REALM, "/dir/index.html")
    assert (creds.qop, creds.nc, creds.cnonce, creds.opaque) == (
        "auth",
        "00000001",
        RFC_CNONCE,
        RFC_OPAQUE,
    )
    # RFC 7616 §3.4: qop and nc are sent as tokens, not quoted strings.
    assert "qop=auth" in header and "nc=00000001" in header


def test_rfc7616_example_authorization_parses() -> None:
    value = (
        'Digest username="Mufasa",\r\n realm="http-auth@example.org",\r\n'
        ' uri="/dir/index.html",\r\n algorithm=MD5,\r\n'
        f' nonce="{RFC_NONCE}",\r\n nc=00000001,\r\n cnonce="{RFC_CNONCE}",\r\n'
        ' qop=auth,\r\n response="8ca523f5e9506fed4657c9700eebdbec",\r\n'
        f' opaque="{RFC_OPAQUE}"'
    )
    creds = parse_credentials(value)
    assert creds.is_digest and creds.algorithm == "MD5" and creds.nonce_count == 1
    assert creds.response == RFC_RESPONSES["MD5"]


def test_ha1_is_per_family_and_sess_uses_base() -> None:
    assert ha1("u", "r", "p", "MD5") == ha1("u", "r", "p", "md5-SESS")
    assert ha1("u", "r", "p", "SHA-256") == ha1("u", "r", "p", "SHA-256-sess")
    assert len(ha1("u", "r", "p", "MD5")) == 32
    assert len(ha1("u", "r", "p", "SHA-256")) == 64
    with pytest.raises(ValueError, match="unsupported"):
        ha1("u", "r", "p", "SHA-1")


# ------------------------------------------------------------------------------------------
# Server: challenge and verify


def test_challenge_lists_sha256_first_with_qop_opaque_algorithm() -> None:
    verifier = make_verifier()
    values = verifier.challenge(REALM, 1000.0)
    challenges = [parse_challenge(v) for v in values]
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    for c in challenges:
        assert c.is_digest and c.realm == REALM and c.qop_options == ("auth",)
        assert c.opaque and not c.stale
        assert verifier.issuer.check(c.nonce or "", 1000.0, REALM) is NonceStatus.VALID
    assert 'qop="auth"' in values[0]
    stale = [parse_challenge(v) for v in verifier.challenge(REALM, 1000.0, stale=True)]
    assert all(c.stale for c in stale)
    with pytest.raises(ValueError):
        verifier.challenge(REALM, 1000.0, algorithms=("SHA-1",))


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_round_trip_ok(algorithm: str) -> None:
    verifier = make_verifier()
    users = Users({"1001": "secret1001"})
    creds = answer(verifier, 1000.0, algorithm=algorithm)
    result = verifier.verify(creds, "REGISTER", users, 1010.0, URI, realm=REALM)
    assert result.outcome is AuthOutcome.OK, result.reason
    assert result.ok and result.username == "1001" and result.algorithm == algorithm
    assert users.lookups == [("1001", algorithm.removesuffix("-sess"))]


@settings(max_examples=60, deadline=None)
@given(
    username=st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=20),
    password=st.text(max_size=20),
    algorithm=st.sampled_from(SUPPORTED_ALGORITHMS),
)
def test_round_trip_any_username_and_password(username: str, password: str, algorithm: str) -> None:
    verifier = make_verifier()
    users = Users({username: password})
    creds = answer(verifier, 50.0, algorithm=algorithm, username=username, password=password)
    assert creds.username == username
    assert verifier.verify(creds, "REGISTER", users, 50.0, URI, realm=REALM).ok
    wrong = Users({username: password + "x"})
    creds2 = answer(verifier, 50.0, algorithm=algorithm, username=username, password=password)
    assert verifier.verify(creds2, "REGISTER", wrong, 50.0, URI, realm=REALM).outcome is (
        AuthOutcome.FAILED
    )


def test_wrong_method_fails() -> None:
    verifier = make_verifier()
    creds = answer(verifier, 0.0, method="INVITE")
    result = verifier.verify(creds, "REGISTER", Users({"1001": "secret1001"}), 0.0, realm=REALM)
    assert result.outcome is AuthOutcome.FAILED and result.reason == "wrong password"


def test_expired_nonce_with_right_password_is_stale() -> None:
    verifier = make_verifier()
    users = Users({"1001": "secret1001"})
    creds = answer(verifier, 1000.0)
    assert verifier.verify(creds, "REGISTER", users, 1300.0, URI, realm=REALM).ok
    creds = answer(verifier, 1000.0)
    result = verifier.verify(creds, "REGISTER", users, 1300.5, URI, realm=REALM)
    assert result.outcome is AuthOutcome.STALE
    assert verifier.issuer.check(creds.nonce or "", 1300.5, REALM) is NonceStatus.STALE


def test_expired_nonce_with_wrong_password_fails() -> None:
    # RFC 7616 §3.3: stale=true only when the digest is right for the old nonce.
    verifier = make_verifier()
    creds = answer(verifier, 1000.0, password="guess")
    result = verifier.verify(creds, "REGISTER", Users({"1001": "secret1001"}), 2000.0, realm=REALM)
    assert result.outcome is AuthOutcome.FAILED


def test_nonce_from_far_future_is_stale_near_future_valid() -> None:
    issuer = NonceIssuer(SECRET, lifetime=300, max_clock_skew=5.0)
    nonce = issuer.issue(1000.0, REALM)
    assert issuer.check(nonce, 996.0, REALM) is NonceStatus.VALID
    assert issuer.check(nonce, 994.0, REALM) is NonceStatus.STALE
    assert issuer.check(nonce, 1300.0, REALM) is NonceStatus.VALID
    assert issuer.check(nonce, 1300.01, REALM) is NonceStatus.STALE


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("index", [0, 5, 12, 20, 30, 42])
def test_tampered_nonce_fails(index: int) -> None:
    verifier = make_verifier()
    users = Users({"1001": "secret1001"})
    challenge = parse_challenge(verifier.challenge(REALM, 0.0)[0])
    assert challenge.nonce is not None
    forged = Challenge(
        scheme="Digest",
        realm=REALM,
        nonce=_flip(challenge.nonce, index),
        opaque=challenge.opaque,
        algorithm="SHA-256",
        qop_options=("auth",),
    )
    # The client computes a correct digest over the forged nonce: only the nonce is wrong.
    creds = parse_credentials(
        build_authorization(forged, "REGISTER", URI, "1001", "secret1001", 1, "cn")
    )
    result = verifier.verify(creds, "REGISTER", users, 0.0, URI, realm=REALM)
    assert result.outcome is AuthOutcome.FAILED
    assert verifier.issuer.check(forged.nonce or "", 0.0, REALM) is NonceStatus.INVALID


def test_nonce_from_other_secret_realm_or_client_is_invalid() -> None:
    issuer = NonceIssuer(SECRET)
    nonce = issuer.issue(0.0, "tenant-a", "192.0.2.1")
    assert issuer.check(nonce, 1.0, "tenant-a", "192.0.2.1") is NonceStatus.VALID
    assert issuer.check(nonce, 1.0, "tenant-b", "192.0.2.1") is NonceStatus.INVALID
    assert issuer.check(nonce, 1.0, "tenant-a", "192.0.2.2") is NonceStatus.INVALID
    other = NonceIssuer(b"another-secret-of-32-bytes......")
    assert other.check(nonce, 1.0, "tenant-a", "192.0.2.1") is NonceStatus.INVALID
    for garbage in ["", "abc", nonce + "A", nonce[:-1] + "!", "=" * 43, nonce + "="]:
        assert issuer.check(garbage, 1.0, "tenant-a", "192.0.2.1") is NonceStatus.INVALID


def test_non_canonical_base64_spelling_of_a_nonce_is_invalid() -> None:
    # The last of 43 base64 characters has 2 unused bits; another spelling decodes to the same
    # bytes and would otherwise let a replay use a "new" nonce string.
    issuer = NonceIssuer(SECRET, random_bytes=counter_bytes())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    nonce = issuer.issue(0.0, REALM)
    last = alphabet.index(nonce[-1])
    for spare in (1, 2, 3):
        twin = nonce[:-1] + alphabet[(last & ~3) | ((last + spare) & 3)]
        assert twin != nonce
        assert issuer.check(twin, 0.0, REALM) is NonceStatus.INVALID


def test_nonce_issuer_rejects_weak_configuration() -> None:
    with pytest.raises(ValueError):
        NonceIssuer(b"short")
    with pytest.raises(ValueError):
        NonceIssuer(SECRET, lifetime=0)


def test_replayed_nonce_count_fails_and_higher_count_passes() -> None:
    verifier = make_verifier()
    users = Users({"1001": "secret1001"})
    values = verifier.challenge(REALM, 0.0)
    challenge = parse_challenge(values[0])

    def creds_for(nc: int) -> Credentials:
        return parse_credentials(
            build_authorization(challenge, "REGISTER", URI, "1001", "secret1001", nc, "cn")
        )

    assert verifier.verify(creds_for(1), "REGISTER", users, 1.0, URI, realm=REALM).ok
    replay = verifier.verify(creds_for(1), "REGISTER", users, 2.0, URI, realm=REALM)
    assert replay.outcome is AuthOutcome.FAILED and "replay" in replay.reason
    assert verifier.verify(creds_for(3), "REGISTER", users, 3.0, URI, realm=REALM).ok
    assert verifier.verify(creds_for(2), "REGISTER", users, 4.0, URI, realm=REALM).outcome is (
        AuthOutcome.FAILED
    )
    assert verifier.verify(creds_for(4), "REGISTER", users, 5.0, URI, realm=REALM).ok


def test_evicted_nonce_count_turns_into_stale_not_replay_window() -> None:
    issuer = NonceIssuer(SECRET, lifetime=300, random_bytes=counter_bytes())
    verifier = DigestVerifier(issuer, nonce_counts=NonceCountTracker(max_entries=1, lifetime=400))
    users = Users({"1001": "secret1001"})
    first = answer(verifier, 10.0, nc=1)
    assert verifier.verify(first, "REGISTER", users, 10.0, URI, realm=REALM).ok
    second = answer(verifier, 20.0, nc=1)
    assert verifier.verify(second, "REGISTER", users, 20.0, URI, realm=REALM).ok
    assert first.nonce not in verifier.nonce_counts
    # The replay of the first request can no longer be recognised; it must not pass.
    result = verifier.verify(first, "REGISTER", users, 30.0, URI, realm=REALM)
    assert result.outcome is AuthOutcome.STALE
    assert verifier.verify(answer(verifier, 40.0), "REGISTER", users, 40.0, URI, realm=REALM).ok


def test_verifier_refuses_tracker_with_short_memory() -> None:
    issuer = NonceIssuer(SECRET, lifetime=300)
    with pytest.raises(ValueError):
        DigestVerifier(issuer, nonce_counts=NonceCountTracker(lifetime=100))


def test_unknown_user_and_wrong_password_are_indistinguishable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = make_verifier()
    users = Users({"1001": "secret1001"})
    hashed: list[bytes] = []
    real = hashlib.new

    def counting(name: str, data: bytes = b"", **kwargs: bool) -> Any:
        hashed.append(data)
        return real(name, data, **kwargs)

    bad_password = answer(verifier, 0.0, password="nope")
    bad_user = answer(verifier, 0.0, username="9999", password="nope")
    # hashlib's own attribute, not pycc.sip.auth's name for it: the compiled build of the
    # module (pycc.accel) calls hashlib.new through the hashlib module.
    monkeypatch.setattr(hashlib, "new", counting)
    wrong = verifier.verify(bad_password, "REGISTER", users, 0.0, URI, realm=REALM)
    monkeypatch.undo()
    finals_wrong = [d for d in hashed if re.match(rb"[0-9a-f]{64}:", d)]
    hashed.clear()
    monkeypatch.setattr(hashlib, "new", counting)
    unknown = verifier.verify(bad_user, "REGISTER", users, 0.0, URI, realm=REALM)
    monkeypatch.undo()
    finals_unknown = [d for d in hashed if re.match(rb"[0-9a-f]{64}:", d)]
    assert wrong.outcome is unknown.outcome is AuthOutcome.FAILED
    # Both looked the user up and computed one full digest, KD(HA1, ...) with a SHA-256 HA1
    # (a dummy one for the unknown user).
    assert users.lookups == [("1001", "SHA-256"), ("9999", "SHA-256")]
    assert len(finals_wrong) == len(finals_unknown) == 1
    # The reasons differ, but they are only for logs.
    assert (wrong.reason, unknown.reason) == ("wrong password", "unknown user")


def test_dummy_digest_never_authenticates_unknown_user() -> None:
    verifier = make_verifier()
    creds = answer(verifier, 0.0, username="ghost", password="")
    assert not verifier.verify(creds, "REGISTER", Users({}), 0.0, realm=REALM).ok


def test_realm_uri_opaque_algorithm_qop_mismatches_fail() -> None:
    users = Users({"1001": "secret1001"})

    def verify(creds: Credentials, verifier: DigestVerifier, **kw: str) -> str:
        result = verifier.verify(
            creds, "REGISTER", users, 0.0, kw.get("uri", URI), realm=kw.get("realm", REALM)
        )
        assert result.outcome is AuthOutcome.FAILED
        return result.reason

    v = make_verifier()
    assert verify(answer(v, 0.0), v, realm="other") == "realm mismatch"
    assert "uri" in verify(answer(v, 0.0), v, uri="sip:1002@127.0.0.1")
    # A nonce issued for another realm (tenant) is refused even with a right digest.
    borrowed = Challenge(
        scheme="Digest",
        realm=REALM,
        nonce=v.issuer.issue(0.0, "tenant-b"),
        opaque=v.issuer.opaque(REALM),
        qop_options=("auth",),
    )
    creds = parse_credentials(
        build_authorization(borrowed, "REGISTER", URI, "1001", "secret1001", 1, "cn")
    )
    assert "nonce" in verify(creds, v)
    sha_only = make_verifier(algorithms=("SHA-256",))
    assert "algorithm" in verify(answer(sha_only, 0.0, algorithm="MD5"), sha_only)

    good = answer(v, 0.0)
    params = dict(good.params)
    for change, fragment in [
        ({"opaque": "tampered"}, "opaque"),
        ({"algorithm": "SHA-512-256"}, "algorithm"),
        ({"qop": "auth-int"}, "qop"),
        ({"userhash": "true"}, "userhash"),
    ]:
        value = "Digest " + ", ".join(
            f"{k}={quote_string(val)}" for k, val in {**params, **change}.items()
        )
        assert fragment in verify(parse_credentials(value), v)


def test_request_uri_none_skips_uri_check_and_matcher_is_pluggable() -> None:
    users = Users({"1001": "secret1001"})
    v = make_verifier(uri_matches=lambda a, b: a.lower() == b.lower())
    creds = answer(v, 0.0, uri="sip:PYCC")
    assert v.verify(creds, "REGISTER", users, 0.0, "sip:pycc", realm=REALM).ok
    creds = answer(v, 0.0, uri="sip:anything")
    assert v.verify(creds, "REGISTER", users, 0.0, None, realm=REALM).ok


def test_other_scheme_fails_verification() -> None:
    v = make_verifier()
    creds = parse_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    result = v.verify(creds, "REGISTER", Users({}), 0.0, realm=REALM)
    assert result.outcome is AuthOutcome.FAILED and "Digest" in result.reason


def _legacy_credentials(verifier: DigestVerifier, algorithm: str = "MD5") -> Credentials:
    nonce = verifier.issuer.issue(0.0, REALM)
    legacy = Challenge(scheme="Digest", realm=REALM, nonce=nonce, algorithm=algorithm)
    return parse_credentials(
        build_authorization(legacy, "REGISTER", URI, "1001", "secret1001", 1, "cn")
    )


def test_rfc2069_response_needs_configuration() -> None:
    users = Users({"1001": "secret1001"})
    strict = make_verifier()
    creds = _legacy_credentials(strict)
    assert creds.qop is None and creds.nc is None and creds.cnonce is None
    assert strict.verify(creds, "REGISTER", users, 0.0, URI, realm=REALM).outcome is (
        AuthOutcome.FAILED
    )
    lenient = make_verifier(allow_legacy=True)
    assert lenient.verify(_legacy_credentials(lenient), "REGISTER", users, 0.0, realm=REALM).ok
    with pytest.raises(UnsupportedChallengeError):
        _legacy_credentials(lenient, "MD5-sess")


# ------------------------------------------------------------------------------------------
# Client helpers


def test_choose_challenge_prefers_sha256_whatever_the_order() -> None:
    md5 = parse_challenge('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"')
    sha = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"')
    odd = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"')
    other = parse_challenge('NoOneKnowsThisScheme realm="r"')
    int_only = parse_challenge('Digest realm="r", nonce="n", qop="auth-int"')
    assert choose_challenge([other, md5, odd, sha]) is sha
    assert choose_challenge([other, odd, int_only]) is None
    assert choose_challenge([other, md5]) is md5


def test_build_authorization_refuses_what_it_cannot_answer() -> None:
    ok = parse_challenge('Digest realm="r", nonce="n", qop="auth"')
    for value in [
        'Basic realm="r"',
        'Digest realm="r", nonce="n", qop="auth-int"',
        'Digest realm="r", nonce="n", algorithm=SHA-512-256',
        'Digest realm="r", nonce="n", userhash=true',
    ]:
        with pytest.raises(UnsupportedChallengeError):
            build_authorization(parse_challenge(value), "REGISTER", URI, "u", "p", 1, "c")
    for nc in (0, 2**32):
        with pytest.raises(ValueError):
            build_authorization(ok, "REGISTER", URI, "u", "p", nc, "c")
    with pytest.raises(ValueError):
        build_authorization(ok, "REGISTER", URI, "u\r\n", "p", 1, "c")
    # An absent algorithm means MD5 (RFC 7616 §3.3), and is left absent in the answer.
    header = build_authorization(ok, "REGISTER", URI, "u", "p", 1, "c")
    assert "algorithm" not in header and "opaque" not in header
    md5 = ha1("u", "r", "p", "MD5")
    creds = parse_credentials(header)
    assert creds.response == digest_response(
        md5,
        algorithm="MD5",
        method="REGISTER",
        uri=URI,
        nonce="n",
        nc="00000001",
        cnonce="c",
        qop="auth",
    )
    # The algorithm name is echoed as the server spelled it.
    lower = parse_challenge('Digest realm="r", nonce="n", algorithm=sha-256, qop="auth"')
    assert "algorithm=sha-256," in build_authorization(lower, "REGISTER", URI, "u", "p", 1, "c")


def test_new_cnonce_uses_injected_randomness() -> None:
    assert auth.new_cnonce(lambda n: b"\x00" * n) == "A" * 22
    assert auth.new_cnonce() != auth.new_cnonce()


# ------------------------------------------------------------------------------------------
# Parsing


def test_parse_weird_but_valid_credentials() -> None:
    value = (
        '  dIgEsT   USERNAME = "al\\"ice\\\\" ,realm="pycc",, '
        'Nonce=\t"abc" ,uri="sip:1001@127.0.0.1;transport=tcp",'
        'response="ABCDEF0123",ALGORITHM="sha-256", cnonce="x,y=z", qop=AUTH, nc=0000000A,'
        'x-vendor=some.token, x-quoted="a \\ b",  '
    )
    creds = parse_credentials(value)
    assert creds.is_digest and creds.scheme == "dIgEsT"
    assert creds.username == 'al"ice\\'
    assert creds.nonce == "abc" and creds.uri == "sip:1001@127.0.0.1;transport=tcp"
    assert creds.response == "abcdef0123"
    assert creds.algorithm == "sha-256" and creds.qop == "auth"
    assert creds.cnonce == "x,y=z" and creds.nonce_count == 10
    assert creds.params["x-vendor"] == "some.token" and creds.params["x-quoted"] == "a  b"


def test_parse_username_star_extended_notation() -> None:
    value = (
        'Digest username*=UTF-8\'\'J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n", '
        'uri="/", response="00"'
    )
    assert parse_credentials(value).username == "Jäsøn Doe"
    assert (
        parse_credentials(
            'Digest username="Jäsøn", realm="r", nonce="n", uri="/", response="00"'
        ).username
        == "Jäsøn"
    )


def test_parse_unknown_scheme_is_returned_for_the_caller_to_skip() -> None:
    creds = parse_credentials('NoOneKnowsThisScheme token=abc, other="x y"')
    assert creds.scheme == "NoOneKnowsThisScheme" and not creds.is_digest
    assert dict(creds.params) == {"token": "abc", "other": "x y"}
    assert creds.username is None and creds.response is None
    basic = parse_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    assert basic.token68 == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==" and not basic.params
    assert parse_credentials("Bearer").params == {}


def test_parse_challenge_fields() -> None:
    c = parse_challenge(
        'Digest realm="pycc", domain="sip:a sip:b", nonce="n1", opaque="o", '
        'stale=TRUE, algorithm=MD5, qop="auth,auth-int , ", x=y'
    )
    assert (c.realm, c.nonce, c.opaque, c.algorithm) == ("pycc", "n1", "o", "MD5")
    assert c.stale and c.domain == "sip:a sip:b" and c.qop_options == ("auth", "auth-int")
    assert not parse_challenge('Digest realm="r", nonce="n", stale=false').stale
    assert parse_challenge('Digest realm="r", nonce="n"').qop_options == ()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ('"Digest"', "scheme"),
        ("Digest", "missing parameter 'username'"),
        ('Digest username="a" realm="b"', "expected ','"),
        ('Digest realm="r", username', "no '='"),
        ('Digest realm="r", username=', "no value"),
        ('Digest realm="r", =x', "parameter name"),
        ('Digest username="abc', "unterminated"),
        ('Digest username="abc\\', "unterminated"),
        ('Digest username="a", username="b"', "duplicate"),
        ('Digest username="a", USERNAME="b"', "duplicate"),
        ('Digest username="a\x01"', "invalid character"),
        ('Digest username="a\\é"', "quoted-pair"),
        ('Digest username="a"\nrealm="b"', "CR or LF"),
        ('Digest username="a", realm="r", nonce="n", uri="/"', "'response'"),
        ('Digest username="a", realm="r", nonce="n", response="00"', "'uri'"),
        ('Digest username="a", realm="r", uri="/", response="00"', "'nonce'"),
        ('Digest username="a", realm="r", nonce="n", uri="/", response="xyz"', "hexadecimal"),
        ('Digest username="a", realm="r", nonce="n", uri="/", response="00", nc=1', "'nc'"),
        (
            'Digest username="a", realm="r", nonce="n", uri="/", response="00", qop=auth, '
            "nc=00000001",
            "cnonce",
        ),
        ("Digest username*=latin1''x, realm=\"r\"", "username*"),
        ('Digest username*=UTF-8\'\'%FF, realm="r", nonce="n", uri="/", response="0"', "UTF-8"),
        (
            'Digest username*=UTF-8\'\'a, username="a", realm="r", nonce="n", uri="/", '
            'response="0"',
            "both",
        ),
        ("Digest QWxhZGRpbg==", "token68"),
        ("Digest@ x=y", "whitespace"),
        ("Foo x=y z=w", "expected ','"),
        ('Foo x="é\ud800"', "invalid character"),
    ],
)
def test_parse_credentials_errors(value: str, fragment: str) -> None:
    with pytest.raises(AuthParseError) as info:
        parse_credentials(value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["", "Digest", 'Digest realm="r"', 'Digest nonce="n"', "Digest abc==", 'Digest realm="r'],
)
def test_parse_challenge_errors(value: str) -> None:
    with pytest.raises(AuthParseError):
        parse_challenge(value)


def test_auth_parse_error_is_a_400_sip_parse_error_and_a_value_error() -> None:
    with pytest.raises(AuthParseError) as info:
        parse_credentials("Digest x")
    assert isinstance(info.value, SipParseError) and isinstance(info.value, ValueError)
    assert info.value.status == 400


@given(st.text(st.characters(codec="utf-8"), max_size=30))
def test_quote_string_round_trips(text: str) -> None:
    if "\r" in text or "\n" in text:
        with pytest.raises(ValueError):
            quote_string(text)
        return
    assert parse_credentials(f"X p={quote_string(text)}").params["p"] == text


VALID_HEADER = (
    'Digest username="1001", realm="pycc", nonce="abc", uri="sip:1001@127.0.0.1", '
    'response="0123abcd", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001, opaque="o"'
)


@st.composite
def mutated_header(draw: st.DrawFn) -> str:
    text = VALID_HEADER
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "cut"]))
        if action == "insert":
            text = text[:pos] + draw(st.sampled_from(list('",=\\ \t\r\n;x\x00é'))) + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + 1 :]
        else:
            text = text[:pos]
    return text


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), mutated_header()))
def test_fuzz_parsers_raise_only_auth_parse_error(value: str) -> None:
    verifier = make_verifier(allow_legacy=True)
    for parse in (parse_credentials, parse_challenge):
        try:
            parsed = parse(value)
        except AuthParseError:
            continue
        assert parsed.scheme
    try:
        creds = parse_credentials(value)
    except AuthParseError:
        return
    # Whatever parsed, verification answers with a result rather than an exception.
    result = verifier.verify(creds, "REGISTER", Users({"1001": "x"}), 0.0, URI, realm=REALM)
    assert result.outcome is AuthOutcome.FAILED


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('Digest =",\\abc\t')), max_size=40))
def test_fuzz_grammar_alphabet(value: str) -> None:
    with contextlib.suppress(AuthParseError):
        parse_credentials(value)


# ------------------------------------------------------------------------------------------
# Nonce counts


def test_nonce_count_tracker_semantics() -> None:
    tracker = NonceCountTracker(max_entries=10, lifetime=100)
    assert tracker.accept("a", 1, 0.0)
    assert not tracker.accept("a", 1, 1.0)
    assert tracker.accept("a", 5, 2.0)
    assert not tracker.accept("a", 4, 3.0)
    assert tracker.accept("b", 1, 3.0)
    assert len(tracker) == 2
    tracker.accept("c", 1, 101.0)  # "a" (first seen at 0) has expired
    assert "a" not in tracker and "b" in tracker
    assert tracker.forgotten_before == float("-inf")  # expiry is not forgetting


LIFETIME = 50.0
EVENTS = st.lists(
    st.tuples(st.sampled_from("abcdefgh"), st.integers(1, 6), st.floats(0, 30)), max_size=60
)


@settings(max_examples=200)
@given(events=EVENTS)
def test_nonce_count_tracker_matches_model_when_not_full(
    events: list[tuple[str, int, float]],
) -> None:
    tracker = NonceCountTracker(max_entries=8, lifetime=LIFETIME)
    now = 0.0
    first_seen: dict[str, float] = {}
    highest: dict[str, int] = {}
    for nonce, nc, step in events:
        now += step
        if nonce in first_seen and now - first_seen[nonce] > LIFETIME:
            del first_seen[nonce], highest[nonce]  # expired: its nonce is stale by now
        expected = nonce not in highest or nc > highest[nonce]
        assert tracker.accept(nonce, nc, now) == expected
        if expected:
            first_seen.setdefault(nonce, now)
            highest[nonce] = nc


@settings(max_examples=200)
@given(max_entries=st.integers(1, 5), events=EVENTS)
def test_nonce_count_tracker_is_bounded_and_rejects_only_replays(
    max_entries: int, events: list[tuple[str, int, float]]
) -> None:
    tracker = NonceCountTracker(max_entries=max_entries, lifetime=LIFETIME)
    now = 0.0
    accepted: dict[str, list[int]] = {}
    previous_watermark = tracker.forgotten_before
    for nonce, nc, step in events:
        now += step
        ok = tracker.accept(nonce, nc, now)
        assert len(tracker) <= max_entries
        assert tracker.forgotten_before >= previous_watermark
        previous_watermark = tracker.forgotten_before
        if ok:
            accepted.setdefault(nonce, []).append(nc)
        else:
            assert nonce in tracker and nc <= max(accepted[nonce])


# -- the one-pass reading of plain parameter lists agrees with the careful parser --------------

_TOKEN_ALPHABET = "abcXYZ019-.!%*_+`'~"
_param_names = st.text(_TOKEN_ALPHABET, min_size=1, max_size=8)
_param_values = st.one_of(
    st.text(_TOKEN_ALPHABET, min_size=1, max_size=10),
    # Quoted, with what a quoted-string may and may not hold (quotes, backslashes, controls).
    st.text(st.sampled_from(list('ab "\\,=\t\x01\x7féü')), max_size=10).map(
        lambda text: f'"{text}"'),
)
_separators = st.sampled_from([",", ", ", " ,", ",,", "\t,\t", ""])
_around = st.sampled_from(["", " ", "\t"])


@given(st.lists(st.tuples(_param_names, _around, _param_values, _separators),
                min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_plain_parameter_lists_read_the_same_in_one_pass(
        items: list[tuple[str, str, str, str]]) -> None:
    rest = "".join(f"{name}{space}={space}{value}{sep}"
                   for name, space, value, sep in items).rstrip(" \t")

    def outcome(read: Callable[[], dict[str, str] | None]) -> object:
        try:
            return read()
        except AuthParseError as exc:
            return str(exc)

    fast = outcome(lambda: auth._simple_params(rest, "credentials"))
    careful = outcome(lambda: auth._params(rest, 0, "credentials"))
    if fast is not None:
        # Whatever the one-pass reading takes, the careful parser reads the same way.
        assert fast == careful, rest


@pytest.mark.parametrize("value", [
    'Digest username="a", realm="b", nonce="c", uri="sip:x", response="0f"',
    'Digest username="a",realm="b",nonce="c",uri="sip:x",response="0f",qop=auth,nc=00000001,'
    'cnonce="z"',
])
def test_a_phones_credentials_take_the_one_pass_reading(value: str) -> None:
    rest = value.split(" ", 1)[1]
    assert auth._simple_params(rest, "credentials") == auth._params(rest, 0, "credentials")
    assert parse_credentials(value).username == "a"


def _quoted_char_by_char(text: str) -> str:
    """RFC 3261 §25.1 quoted-string, one character at a time: the reference for the fast
    path `quote_string` takes for text that needs no quoted-pair."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\' or (code < 0x20 and ch != "\t") or code == 0x7F:
            out.append("\\")
        out.append(ch)
    return "".join(out) + '"'


@given(st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40))
def test_quote_string_matches_the_character_rule(text: str) -> None:
    assert quote_string(text) == _quoted_char_by_char(text)
