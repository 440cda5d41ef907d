"""The browser session's defences (`pycc.api.session`): the cookie a log-in sets is HttpOnly
and SameSite=Strict (Secure over HTTPS), a cookie-authenticated request that changes
anything needs the session's X-CSRF-Token, and a cookie-authenticated WebSocket must come
from a page of this origin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from api.test_api_core import prepare, problem
from pycc.api import ApiContext, create_app
from pycc.api.routes_events import socket_principal
from pycc.api.session import COOKIE, csrf_for, same_origin
from pycc.switch import Switch

ALICE = {"user": "alice", "password": "pw-alice-123456"}


def attributes(set_cookie: str) -> dict[str, str]:
    """The attributes of one Set-Cookie value, names lower-cased (flags map to "")."""
    parts = [p.strip() for p in set_cookie.split(";")]
    found = {}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        found[name.lower()] = value
    return found


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_session_cookie_is_httponly_and_samesite_strict(tmp_path: Path,
                                                           scheme: str) -> None:
    config, _tokens = prepare(tmp_path)

    async def main() -> None:
        async with Switch(config) as switch:
            assert switch.store is not None
            app = create_app(ApiContext(switch.store, "default", switch))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url=f"{scheme}://pycc.test") as browser:
                answer = await browser.post("/ui/session", json=ALICE)
                assert answer.status_code == 200, answer.text
                cookies = answer.headers.get_list("set-cookie")
                assert len(cookies) == 1 and cookies[0].startswith(f"{COOKIE}=")
                found = attributes(cookies[0])
                assert "httponly" in found
                assert found["samesite"].lower() == "strict"
                assert found["path"] == "/"
                assert int(found["max-age"]) > 0
                assert ("secure" in found) == (scheme == "https")
                # The page reads its anti-forgery value, never the token itself.
                body = answer.json()
                token = answer.cookies[COOKIE]
                assert body["csrf"] == csrf_for(token) and token not in answer.text

    asyncio.run(main())


def test_a_cookie_request_that_changes_anything_needs_the_csrf_header(tmp_path: Path) -> None:
    config, _tokens = prepare(tmp_path)

    async def main() -> None:
        async with Switch(config) as switch:
            assert switch.store is not None
            app = create_app(ApiContext(switch.store, "default", switch))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://pycc.test") as browser:
                logged_in = await browser.post("/ui/session", json=ALICE)
                csrf = logged_in.json()["csrf"]
                # Reading needs no header.
                assert (await browser.get("/ui/session")).json()["user"] == "alice"
                for headers in ({}, {"X-CSRF-Token": "0" * 32},
                                {"X-CSRF-Token": csrf_for("another-token")}):
                    body = problem(await browser.delete("/ui/session", headers=headers), 403)
                    assert "X-CSRF-Token" in str(body["detail"])
                # Refused requests changed nothing: the session still works.
                assert (await browser.get("/ui/session")).status_code == 200
                out = await browser.delete("/ui/session", headers={"X-CSRF-Token": csrf})
                assert out.status_code == 204
            # The token behind the old cookie is revoked, not merely forgotten by the page.
            token = logged_in.cookies[COOKIE]
            async with httpx.AsyncClient(transport=transport, base_url="http://pycc.test",
                                         cookies={COOKIE: token}) as replay:
                problem(await replay.get("/ui/session"), 401)

    asyncio.run(main())


def connection(headers: dict[str, str], kind: str = "websocket") -> HTTPConnection:
    return HTTPConnection({"type": kind, "headers": [
        (name.lower().encode(), value.encode()) for name, value in headers.items()]})


@pytest.mark.parametrize(("origin", "host", "same"), [
    ("http://pycc.test", "pycc.test", True),
    ("https://PYCC.test:8443", "pycc.test:8443", True),
    ("http://evil.example", "pycc.test", False),
    ("http://pycc.test.evil.example", "pycc.test", False),
    ("http://pycc.test:8081", "pycc.test:8080", False),
    ("null", "pycc.test", False),
    ("file://pycc.test", "pycc.test", False),
    ("", "pycc.test", False),
    ("http://pycc.test", "", False),
])
def test_same_origin(origin: str, host: str, same: bool) -> None:
    headers = {k: v for k, v in (("Origin", origin), ("Host", host)) if v}
    assert same_origin(connection(headers)) is same


def test_a_cookie_websocket_from_another_site_is_not_let_in() -> None:
    async def receive() -> dict[str, object]:
        raise AssertionError("nothing is read before the caller is known")

    async def send(_message: dict[str, object]) -> None:
        raise AssertionError("nothing is sent before the caller is known")

    scope = {"type": "websocket", "path": "/v1/events", "query_string": b"", "headers": [
        (b"host", b"pycc.test"), (b"origin", b"http://evil.example"),
        (b"cookie", f"{COOKIE}=pycc_abc_secret".encode())]}
    # Refused on the Origin alone: the token is not even looked up (no app is needed).
    assert asyncio.run(socket_principal(WebSocket(scope, receive, send))) is None
