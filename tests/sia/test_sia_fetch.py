"""The IVR's web requests against a real HTTP server on 127.0.0.1: answers, and each way a
request fails, always as a FetchError that says what went wrong, within the timeout."""

from __future__ import annotations

import asyncio
import time

import pytest
from ivr_lab import WebService

from pycc.sia.fetch import FetchError, fetch_json, scalar_variables


def fetch(*args: object, **kwargs: object) -> dict[str, object]:
    return asyncio.run(fetch_json(*args, **kwargs))  # type: ignore[arg-type]


def test_get_and_post_return_the_json_object() -> None:
    with WebService() as web:
        web.routes["/customer"] = (200, b'{"name": "Ann", "tier": "gold", "n": 3}', 0)
        web.routes["/empty"] = (204, b"", 0)
        assert fetch("GET", web.url("/customer?caller=1001")) == {
            "name": "Ann", "tier": "gold", "n": 3}
        assert fetch("post", web.url("/customer"), json={"caller": "1001"}) == {
            "name": "Ann", "tier": "gold", "n": 3}
        assert fetch("GET", web.url("/empty")) == {}
        assert [(s.method, s.path, s.body) for s in web.seen] == [
            ("GET", "/customer?caller=1001", None), ("POST", "/customer", {"caller": "1001"}),
            ("GET", "/empty", None)]


@pytest.mark.parametrize(("status", "body", "message"), [
    (500, b'{"error": "boom"}', "HTTP 500"),
    (302, b"", "HTTP 302"),
    (200, b"<html>hello</html>", "not JSON"),
    (200, b"[1, 2]", "JSON but not an object"),
    (200, b'{"big": "' + b"x" * 2000 + b'"}', "over 1000 bytes"),
])
def test_bad_answers(status: int, body: bytes, message: str) -> None:
    with WebService() as web:
        web.routes["/x"] = (status, body, 0)
        with pytest.raises(FetchError, match=message) as raised:
            fetch("GET", web.url("/x"), max_bytes=1000)
        assert str(raised.value).startswith(f"GET {web.url('/x')}: ")


def test_a_slow_service_fails_within_the_timeout() -> None:
    with WebService() as web:
        web.routes["/slow"] = (200, b"{}", 2.0)
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"no answer within 0\.3 s"):
            fetch("GET", web.url("/slow"), timeout=0.3)
        assert time.monotonic() - started < 1.0


def test_no_service_and_bad_requests() -> None:
    with WebService() as web:
        url = web.url("/gone")
    # The server is closed: nobody listens on its port any more.
    with pytest.raises(FetchError, match="ConnectError"):
        fetch("GET", url)
    with pytest.raises(FetchError, match="only GET and POST"):
        fetch("DELETE", url)
    with pytest.raises(FetchError, match="not an http"):
        fetch("GET", "file:///etc/passwd")
    with pytest.raises(FetchError, match="bad timeout"):
        fetch("GET", url, timeout=0)


def test_scalar_variables_keep_top_level_scalars() -> None:
    answer = {"name": "Ann", "vip": True, "gone": False, "n": 3, "balance": 12.5,
              "note": None, "nested": {"a": 1}, "list": [1], "bad key": "x", "": "y",
              "long": "z" * 5000}
    found = scalar_variables("crm", answer)
    assert found == {"crm.name": "Ann", "crm.vip": "true", "crm.gone": "false", "crm.n": "3",
                     "crm.balance": "12.5", "crm.note": "", "crm.long": "z" * 1000}
