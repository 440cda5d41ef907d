"""The IVR's web requests: ask an outside service (a CRM, a billing system) during a call.

One request, one JSON object back. Everything that can go wrong (no connection, a slow
service, a non-2xx status, an answer that is not a JSON object, an answer too big) is a
:class:`FetchError` whose message says what; the whole request is bounded by ``timeout``, so a
caller never waits on a dead service for longer than the flow allows.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import math
import ssl
from collections.abc import Mapping
from typing import Literal

import httpx

__all__ = ["FetchError", "fetch_json", "scalar_variables"]

MAX_BYTES = 1_000_000
#: Longest value kept from an answer: variables are spoken, compared and logged, not stored.
MAX_VALUE = 1000


class FetchError(Exception):
    """A web request of a flow failed; the message says which and why."""


_tls: ssl.SSLContext | None = None


async def _tls_context() -> ssl.SSLContext:
    """One TLS context for every request: loading the trusted certificates takes a tenth of
    a second, once, and off the event loop."""
    global _tls
    if _tls is None:
        _tls = await asyncio.to_thread(ssl.create_default_context)
    return _tls


async def fetch_json(method: Literal["GET", "POST"] | str, url: str, *,
                     json: object = None, timeout: float = 5.0,
                     max_bytes: int = MAX_BYTES,
                     transport: httpx.AsyncBaseTransport | None = None) -> dict[str, object]:
    """``method url`` (with ``json`` as the body of a POST); the JSON object answered (an
    empty answer is ``{}``)."""
    method = method.upper()
    if method not in ("GET", "POST"):
        raise FetchError(f"{method} {url}: only GET and POST are supported")
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"{method} {url!r}: not an http:// or https:// address")
    if not math.isfinite(timeout) or timeout <= 0:
        raise FetchError(f"{method} {url}: bad timeout {timeout!r}")
    where = f"{method} {url}"
    tls = await _tls_context()
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, transport=transport,
                verify=tls) as client:
            request = client.build_request(method, url, json=json)
            response = await client.send(request, stream=True)
            try:
                if not 200 <= response.status_code < 300:
                    raise FetchError(f"{where}: HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"{where}: the answer is over {max_bytes} bytes")
            finally:
                await response.aclose()
    except TimeoutError:
        raise FetchError(f"{where}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{where}: {type(exc).__name__}: {exc}") from None
    if not body.strip():
        return {}
    try:
        data = jsonlib.loads(body)
    except (ValueError, RecursionError):
        raise FetchError(f"{where}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise FetchError(f"{where}: the answer is JSON but not an object")
    return data


def scalar_variables(prefix: str, data: Mapping[str, object]) -> dict[str, str]:
    """``prefix.key`` for each top-level scalar of an answer (text, number, true/false,
    null as ""); keys that could not be named in ``${...}`` are left out."""
    found: dict[str, str] = {}
    for key, value in data.items():
        if not key or not all(char.isascii() and (char.isalnum() or char == "_")
                              for char in key):
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = ""
        elif isinstance(value, int | float | str):
            text = str(value)
        else:
            continue
        found[f"{prefix}.{key}"] = text[:MAX_VALUE]
    return found
