"""Password hashing: scrypt in a self-describing string, constant-time verify, rehash, and
refusal of damaged or hostile stored hashes without large allocations."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.aaa import passwords
from pycc.aaa.passwords import (
    DEFAULT_PARAMS,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordHashError,
    ScryptParams,
    check_password,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

FAST = ScryptParams(log2_n=4, r=1, p=1)
ENCODED = re.compile(r"\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_the_hash_names_its_algorithm_and_parameters_and_is_scrypt_of_the_salt() -> None:
    encoded = hash_password("correct horse", ScryptParams(log2_n=5, r=2, p=1))
    match = ENCODED.fullmatch(encoded)
    assert match is not None, encoded
    assert match.groups()[:3] == ("5", "2", "1")
    salt, digest = unb64(match[4]), unb64(match[5])
    assert len(salt) == 16 and len(digest) == 32
    # Recomputed independently of the module: the string really describes the hash.
    assert digest == hashlib.scrypt(b"correct horse", salt=salt, n=32, r=2, p=1, dklen=32)
    assert "correct horse" not in encoded


def test_verify_accepts_the_password_and_refuses_others() -> None:
    encoded = hash_password("s3cret-password", FAST)
    assert verify_password("s3cret-password", encoded)
    assert not verify_password("s3cret-passworD", encoded)
    assert not verify_password("", encoded)


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    first, second = hash_password("same password", FAST), hash_password("same password", FAST)
    assert first != second
    assert verify_password("same password", first) and verify_password("same password", second)


@settings(max_examples=60, deadline=None)
@given(password=st.text(max_size=60), other=st.text(max_size=60))
def test_any_password_verifies_and_no_other_does(password: str, other: str) -> None:
    encoded = hash_password(password, FAST)
    assert verify_password(password, encoded)
    same = unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", password)
    assert verify_password(other, encoded) is same


def test_passwords_are_compared_after_nfc_normalisation() -> None:
    composed, decomposed = "caf\u00e9-au-lait", "cafe\u0301-au-lait"
    assert composed != decomposed
    assert verify_password(decomposed, hash_password(composed, FAST))


def test_the_default_parameters_are_memory_hard_and_verify() -> None:
    assert DEFAULT_PARAMS.memory >= 16 * 1024 * 1024
    encoded = hash_password("default cost", DEFAULT_PARAMS)
    assert encoded.startswith(f"$scrypt$ln={DEFAULT_PARAMS.log2_n},r={DEFAULT_PARAMS.r},"
                              f"p={DEFAULT_PARAMS.p}$")
    assert verify_password("default cost", encoded)


def test_needs_rehash_when_the_parameters_changed() -> None:
    old = hash_password("upgrade me", FAST)
    stronger = ScryptParams(log2_n=5, r=1, p=1)
    assert not needs_rehash(old, FAST)
    assert needs_rehash(old, stronger)
    assert not needs_rehash(hash_password("upgrade me", stronger), stronger)


def test_needs_rehash_when_the_salt_is_shorter_than_new_ones() -> None:
    salt = b"12345678"
    digest = hashlib.scrypt(b"pw", salt=salt, n=16, r=1, p=1, dklen=32)
    encoded = (f"$scrypt$ln=4,r=1,p=1${base64.b64encode(salt).decode().rstrip('=')}"
               f"${base64.b64encode(digest).decode().rstrip('=')}")
    assert verify_password("pw", encoded)
    assert needs_rehash(encoded, FAST)


@pytest.mark.parametrize(("encoded", "says"), [
    ("", "not of the form"),
    ("plaintext", "not of the form"),
    ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "unknown algorithm 'argon2id'"),
    ("$scrypt$ln=15,r=8,p=1$!!!!!!!!!!!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "not of the form"),
    ("$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAAA$A", "not of the form"),
    ("$scrypt$ln=0,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "ln: must be between 1 and 20"),
    ("$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "ln: must be between 1 and 20"),
    ("$scrypt$ln=20,r=32,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "more than the 268435456 allowed"),
    ("$scrypt$ln=4,r=999,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "r: must be between 1 and 32"),
    ("$scrypt$ln=4,r=1,p=99$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "p: must be between 1 and 16"),
    ("$scrypt$ln=4,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "the salt is not base64"),
])
def test_unreadable_hashes_raise_a_clear_error(encoded: str, says: str) -> None:
    with pytest.raises(PasswordHashError, match=re.escape(says)):
        verify_password("whatever", encoded)
    with pytest.raises(PasswordHashError):
        needs_rehash(encoded)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_stored_text_is_refused_cleanly_or_verified(encoded: str) -> None:
    try:
        result = verify_password("password", encoded)
    except PasswordHashError as exc:
        assert str(exc).startswith("password hash: ")
    else:
        assert result is False


@settings(max_examples=100, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from("$=,.:A0/+zQ9 \x00"))
def test_a_damaged_hash_never_verifies_and_never_crashes(position: int, char: str) -> None:
    encoded = hash_password("intact", FAST)
    index = position % len(encoded)
    damaged = encoded[:index] + char + encoded[index + 1:]
    try:
        verified = verify_password("intact", damaged)
    except PasswordHashError:
        return
    # Some edits leave the hash as it was (same character) or only touch unused bits.
    assert verified is (damaged == encoded or _same_hash(encoded, damaged))


def _same_hash(original: str, damaged: str) -> bool:
    a, b = ENCODED.fullmatch(original), ENCODED.fullmatch(damaged)
    return (a is not None and b is not None and a.groups()[:3] == b.groups()[:3]
            and unb64(a[4]) == unb64(b[4]) and unb64(a[5]) == unb64(b[5]))


def test_an_overlong_password_never_matches_but_costs_a_hash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = passwords._scrypt

    def counting(password: str, salt: bytes, params: ScryptParams, length: int) -> bytes:
        calls.append(params.log2_n)
        return real(password, salt, params, length)

    encoded = hash_password("x" * MAX_PASSWORD_LENGTH, FAST)
    monkeypatch.setattr(passwords, "_scrypt", counting)
    assert verify_password("x" * MAX_PASSWORD_LENGTH, encoded)
    assert not verify_password("x" * (MAX_PASSWORD_LENGTH + 1), encoded)
    assert calls == [FAST.log2_n, FAST.log2_n]


def test_check_password_bounds_the_length_without_quoting_it() -> None:
    check_password("a" * MIN_PASSWORD_LENGTH)
    check_password("b" * MAX_PASSWORD_LENGTH)
    with pytest.raises(ValueError, match=r"^password: must have at least 8") as short:
        check_password("hunter2")
    assert "hunter2" not in str(short.value)
    with pytest.raises(ValueError, match=r"^password: must have at most 1024"):
        check_password("c" * (MAX_PASSWORD_LENGTH + 1))


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"log2_n": 0}, "ln:"), ({"log2_n": 21}, "ln:"), ({"r": 0}, "r:"), ({"r": 33}, "r:"),
    ({"p": 0}, "p:"), ({"p": 17}, "p:"), ({"log2_n": 18, "r": 16}, "allowed"),
])
def test_scrypt_parameters_are_bounded(kwargs: dict[str, int], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ScryptParams(**kwargs)


def test_the_dummy_hash_uses_the_parameters_and_matches_nothing_guessable() -> None:
    encoded = dummy_hash(FAST)
    assert not needs_rehash(encoded, FAST)
    assert dummy_hash(FAST) == encoded  # made once per parameters
    assert not verify_password("", encoded) and not verify_password("password", encoded)
