"""Password guessing at the API's log-in forms (``POST /v1/login``, ``POST /ui/session``).

A client address that fails to log in ``ban_failures`` times within ``ban_window`` seconds is
refused for ``ban_time`` seconds (the same settings as the SIP edge's ban, with its own
count): HTTP 429 with ``Retry-After`` (RFC 6585 §4), and the password it sends meanwhile is
never checked, so a guess that happens to be right during the ban teaches it nothing. A
successful log-in clears the address's failures. Each failure is logged with the address and
the user name tried, never the password, for an operator's fail2ban or SIEM.
"""

from __future__ import annotations

import logging
import math
import time

from fastapi import FastAPI, Request

from pycc.api.problems import ProblemError
from pycc.sip.guard import AuthFailureBan

__all__ = ["check_login_allowed", "login_ban", "login_failed", "login_succeeded"]

log = logging.getLogger("pycc.api")


def login_ban(app: FastAPI) -> AuthFailureBan:
    """The app's log-in ban, made on first use from the switch's settings (defaults without
    a switch)."""
    ban: AuthFailureBan | None = getattr(app.state, "login_ban", None)
    if ban is None:
        switch = getattr(app.state.context, "switch", None)
        config = getattr(switch, "config", None)
        if config is not None:
            ban = AuthFailureBan(config.ban_failures, config.ban_window, config.ban_time)
        else:
            ban = AuthFailureBan(10, 60.0, 600.0)
        app.state.login_ban = ban
    return ban


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def check_login_allowed(request: Request) -> None:
    """Refuse (429) a log-in from an address banned for failing too often."""
    until = login_ban(request.app).banned_until(_address(request), time.monotonic())
    if until is not None:
        wait = max(1, math.ceil(until - time.monotonic()))
        raise ProblemError(429, "too many failed log-ins from this address: try again in "
                                f"{wait} s", headers={"Retry-After": str(wait)})


def login_failed(request: Request, user: str) -> None:
    address = _address(request)
    started = login_ban(request.app).record_failure(address, time.monotonic())
    log.warning("failed log-in for user %r from %s%s", user, address,
                ": the address is refused for a while" if started else "")


def login_succeeded(request: Request) -> None:
    login_ban(request.app).record_success(_address(request), time.monotonic())
