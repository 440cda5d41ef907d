"""Reading ``trunks`` entries of the ``pycc apply`` file: values, defaults, and an error naming
the field for every kind of bad input (and nothing but `TrunkConfigError`, whatever the input)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycc.ccmanager.trunks import (
    FIELDS,
    TrunkConfig,
    TrunkConfigError,
    trunks_from_list,
)
from pycc.sip.address import Address

WHERE = "trunks[0]"


def read(**entry: Any) -> TrunkConfig:
    return TrunkConfig.from_dict(entry, WHERE)


def test_minimal_entry_takes_the_defaults() -> None:
    config = read(name="carrier", host="192.0.2.10")
    assert config.name == "carrier"
    assert (config.host, config.port, config.transport) == ("192.0.2.10", None, "udp")
    assert config.address == Address("udp", "192.0.2.10", 5060)
    assert config.register is False
    assert config.username is None and config.password is None
    assert config.expires == 3600
    assert config.options_interval == 30.0
    assert config.down_after == 2
    assert config.max_calls is None
    # An IP literal host is trusted for inbound calls by default.
    assert config.ips == (ipaddress.ip_network("192.0.2.10/32"),)


def test_full_entry() -> None:
    config = read(
        name="acme-1", host="sip.example.com:5080", transport="TCP", register=True,
        username="4420", password="pw", auth_username="auth4420", realm="example.com",
        expires=600, from_user="4420", from_domain="example.com", options_interval=0.5,
        down_after=3, max_calls=10, ips=["198.51.100.0/24", "2001:db8::1"],
        translate_caller={"e164": {"country": "GB"}},
        translate_called=[{"strip": 1}, {"prepend": "0044"}],
    )
    assert config.address == Address("tcp", "sip.example.com", 5080)
    assert config.transport == "tcp"
    assert config.auth_username == "auth4420"
    assert config.options_interval == 0.5
    assert config.max_calls == 10
    assert config.ips == (ipaddress.ip_network("198.51.100.0/24"),
                          ipaddress.ip_network("2001:db8::1/128"))
    assert config.translate_called.apply("90201234567", "")[0] == "00440201234567"
    assert config.translate_caller.apply("02071234567", "")[0] == "+442071234567"


@pytest.mark.parametrize(("host", "address"), [
    ("[2001:db8::5]", Address("udp", "2001:db8::5", 5060)),
    ("[2001:db8::5]:5070", Address("udp", "2001:db8::5", 5070)),
    ("Carrier.Example.NET", Address("udp", "carrier.example.net", 5060)),
])
def test_hosts(host: str, address: Address) -> None:
    assert read(name="t", host=host).address == address


def test_tls_defaults_to_5061_and_a_host_name_trusts_no_address() -> None:
    config = read(name="t", host="sip.example.com", transport="tls")
    assert config.address == Address("tls", "sip.example.com", 5061)
    assert config.ips == ()


def test_auth_username_defaults_to_username_and_password_stays_out_of_repr() -> None:
    config = read(name="t", host="192.0.2.1", register=True, username="u", password="hunter2")
    assert config.auth_username == "u"
    assert "hunter2" not in repr(config)


def test_single_ip_string_and_options_interval_zero() -> None:
    config = read(name="t", host="sip.example.com", ips="203.0.113.7", options_interval=0)
    assert config.ips == (ipaddress.ip_network("203.0.113.7/32"),)
    assert config.options_interval == 0


@pytest.mark.parametrize(("entry", "where", "message"), [
    ({"host": "192.0.2.1"}, "trunks[0].name", "required"),
    ({"name": "", "host": "192.0.2.1"}, "trunks[0].name", "must not be empty"),
    ({"name": "a b", "host": "192.0.2.1"}, "trunks[0].name", "use up to 64 letters"),
    ({"name": 7, "host": "192.0.2.1"}, "trunks[0].name", "expected text, not 7"),
    ({"name": "t"}, "trunks[0].host", "required"),
    ({"name": "t", "host": "2001:db8::1"}, "trunks[0].host", "brackets"),
    ({"name": "t", "host": "sip:carrier.example.com"}, "trunks[0].host",
     "expected host or host:port"),
    ({"name": "t", "host": "user@carrier.example.com"}, "trunks[0].host",
     "expected host or host:port"),
    ({"name": "t", "host": "carrier.example.com:99999"}, "trunks[0].host", "out of range"),
    ({"name": "t", "host": "carrier.example.com:0"}, "trunks[0].host",
     "port must be between 1 and 65535"),
    ({"name": "t", "host": "192.0.2.1", "transport": "sctp"}, "trunks[0].transport",
     "expected one of udp, tcp, tls"),
    ({"name": "t", "host": "192.0.2.1", "register": "yes"}, "trunks[0].register",
     "expected true or false"),
    ({"name": "t", "host": "192.0.2.1", "register": True}, "trunks[0].username",
     "required when register is true"),
    ({"name": "t", "host": "192.0.2.1", "register": True, "username": "u"},
     "trunks[0].password", "required when register is true"),
    ({"name": "t", "host": "192.0.2.1", "password": "a\r\nb"}, "trunks[0].password",
     "control character"),
    ({"name": "t", "host": "192.0.2.1", "expires": 0}, "trunks[0].expires",
     "between 1 and 4294967295"),
    ({"name": "t", "host": "192.0.2.1", "expires": 60.5}, "trunks[0].expires",
     "expected a whole number"),
    ({"name": "t", "host": "192.0.2.1", "options_interval": -1},
     "trunks[0].options_interval", "between 0 and"),
    ({"name": "t", "host": "192.0.2.1", "options_interval": float("nan")},
     "trunks[0].options_interval", "between 0 and"),
    ({"name": "t", "host": "192.0.2.1", "options_interval": True},
     "trunks[0].options_interval", "expected a number of seconds"),
    ({"name": "t", "host": "192.0.2.1", "down_after": 0}, "trunks[0].down_after",
     "between 1 and 1000"),
    ({"name": "t", "host": "192.0.2.1", "max_calls": -1}, "trunks[0].max_calls",
     "between 0 and"),
    ({"name": "t", "host": "192.0.2.1", "ips": ["10.0.0.1/8"]}, "trunks[0].ips[0]",
     "has host bits set"),
    ({"name": "t", "host": "192.0.2.1", "ips": ["10.0.0.0/8", "nope"]}, "trunks[0].ips[1]",
     "not an IP address or network"),
    ({"name": "t", "host": "192.0.2.1", "ips": 5}, "trunks[0].ips",
     "expected a list of addresses"),
    ({"name": "t", "host": "192.0.2.1", "from_domain": "a b"}, "trunks[0].from_domain",
     "expected host or host:port"),
    ({"name": "t", "host": "192.0.2.1", "translate_called": {"strip": "x"}},
     "trunks[0].translate_called.strip", "expected a whole number"),
    ({"name": "t", "host": "192.0.2.1", "translate_caller": [{"wobble": 1}]},
     "trunks[0].translate_caller[0].wobble", "unknown step"),
    ({"name": "t", "host": "192.0.2.1", "translate_caller": {"called": [{"strip": 1}]}},
     "trunks[0].translate_caller", "called/calling belong to a route"),
    ({"name": "t", "host": "192.0.2.1", "translate_called": {"replace": {"with": "1"}}},
     "trunks[0].translate_called", "needs its own pattern"),
    ({"name": "t", "host": "192.0.2.1", "colour": "blue"}, "trunks[0].colour",
     "unknown field"),
    ({"name": "t", "host": "192.0.2.1", 3: "x"}, "trunks[0]", "field names must be text"),
])
def test_errors_name_the_field(entry: dict[Any, Any], where: str, message: str) -> None:
    with pytest.raises(TrunkConfigError) as caught:
        TrunkConfig.from_dict(entry, WHERE)
    error = caught.value
    assert error.where == where
    assert message in error.message
    assert str(error) == f"{error.where}: {error.message}"


def test_entry_that_is_not_a_mapping() -> None:
    with pytest.raises(TrunkConfigError) as caught:
        TrunkConfig.from_dict(["name", "t"], WHERE)  # type: ignore[arg-type]
    assert caught.value.where == WHERE
    assert "expected a mapping" in caught.value.message


def test_list_with_duplicate_names() -> None:
    entries = [{"name": "a", "host": "192.0.2.1"}, {"name": "b", "host": "192.0.2.2"},
               {"name": "a", "host": "192.0.2.3"}]
    with pytest.raises(TrunkConfigError) as caught:
        trunks_from_list(entries)
    assert caught.value.where == "trunks[2].name"
    assert "duplicate trunk name 'a' (also trunks[0])" in caught.value.message
    assert [c.name for c in trunks_from_list(entries[:2])] == ["a", "b"]
    with pytest.raises(TrunkConfigError) as not_a_list:
        trunks_from_list("a")
    assert not_a_list.value.where == "trunks"


def test_equal_entries_give_equal_configs() -> None:
    entry = {"name": "t", "host": "192.0.2.1", "translate_called": [{"strip": 1}]}
    assert TrunkConfig.from_dict(entry, WHERE) == TrunkConfig.from_dict(dict(entry), WHERE)
    changed = TrunkConfig.from_dict({**entry, "translate_called": [{"strip": 2}]}, WHERE)
    assert changed != TrunkConfig.from_dict(entry, WHERE)


# -- whatever comes in, only TrunkConfigError comes out --------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["192.0.2.1", "[::1]:5060", "host.example", "udp", "tls", "10.0.0.0/8",
                     "0", "1", "sip:x", "a:b:c", "[x]", "%41", "\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["strip", "prepend", "replace", "e164", "pattern",
                                         "with", "country", "called", "calling"]),
                        inner, max_size=3),
    ),
    max_leaves=8,
)
entries = st.dictionaries(
    st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=8)), values, max_size=8,
)


@settings(max_examples=100, deadline=None)
@given(entry=entries)
def test_random_entries_raise_only_trunk_config_errors(entry: dict[str, Any]) -> None:
    try:
        config = TrunkConfig.from_dict(entry, WHERE)
    except TrunkConfigError as exc:
        assert exc.where.startswith(WHERE)
        assert str(exc) == f"{exc.where}: {exc.message}"
    else:
        assert config.address.port > 0


@settings(max_examples=100, deadline=None)
@given(entry=st.fixed_dictionaries(
    {"name": st.just("t"), "host": st.just("192.0.2.1")},
    optional={key: values for key in sorted(FIELDS - {"name", "host"})},
))
def test_random_values_of_known_fields(entry: dict[str, Any]) -> None:
    try:
        TrunkConfig.from_dict(entry, WHERE)
    except TrunkConfigError as exc:
        field = exc.where.removeprefix(f"{WHERE}.").split(".")[0].split("[")[0]
        # The error is about a value given, or about an account value registering needs.
        assert field in entry or (field in ("username", "password") and entry["register"])
