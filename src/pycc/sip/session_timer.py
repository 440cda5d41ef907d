"""SIP session timers: keeping a call alive with periodic refreshes, or ending a dead one.

A session whose BYE was lost would hold an agent, a trunk channel and a media port forever;
RFC 4028 makes one side re-INVITE or UPDATE every half interval and the other end the call
when the refreshes stop. This module negotiates the interval and the refresher and says when
each deadline falls; the caller sends the refresh or the BYE. Pure: ``now`` is passed in.

Implements RFC 4028 §4 and §5 (the Session-Expires and Min-SE header fields), §6 (422
Session Interval Too Small), §7.2 and §7.4 (UAC: processing the 2xx and the 422), §9 (UAS:
copying the interval, choosing the refresher, ``Require: timer``) with errata 1687 (a UAC
without timer support gets its interval raised, not a 422), and §10 (refresh at half the
interval; the other side sends BYE min(32, interval/3) seconds before the session expires).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pycc.sip.errors import SipParseError
from pycc.sip.headers import format_params, parse_params, parse_uint
from pycc.sip.message import Message, Request, Response

__all__ = [
    "DEFAULT_INTERVAL",
    "MIN_SE_FLOOR",
    "Due",
    "MinSE",
    "Refresher",
    "SessionExpires",
    "SessionTimer",
    "SessionTimerDecision",
    "negotiate_uac",
    "negotiate_uas",
    "uac_request_headers",
]

Refresher = Literal["uac", "uas"]
Due = Literal["refresh", "expire"]

#: RFC 4028 §4: no session interval below 90 seconds.
MIN_SE_FLOOR = 90
#: RFC 4028 §4 recommends 1800 seconds.
DEFAULT_INTERVAL = 1800


def _split(value: str, what: str) -> tuple[int, dict[str, str | None]]:
    text = value.strip()
    semi = text.find(";")
    number = text if semi < 0 else text[:semi]
    params = parse_params("" if semi < 0 else text[semi:], what)
    return parse_uint(number, what), params


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """``Session-Expires: 1800;refresher=uac`` (RFC 4028 §4); other parameters are kept."""

    interval: int
    refresher: Refresher | None = None
    params: tuple[tuple[str, str | None], ...] = ()

    def __str__(self) -> str:
        head = str(self.interval)
        if self.refresher is not None:
            head += f";refresher={self.refresher}"
        return head + format_params(dict(self.params))

    @classmethod
    def parse(cls, value: str) -> SessionExpires:
        interval, params = _split(value, "Session-Expires")
        if interval == 0:
            raise SipParseError("Session-Expires of zero")
        refresher: Refresher | None = None
        if "refresher" in params:
            raw = (params.pop("refresher") or "").lower()
            if raw == "uac":
                refresher = "uac"
            elif raw == "uas":
                refresher = "uas"
            else:
                raise SipParseError("Invalid refresher in Session-Expires")
        return cls(interval, refresher, tuple(params.items()))

    @classmethod
    def of(cls, message: Message) -> SessionExpires | None:
        """The message's Session-Expires (compact form ``x`` too), or None."""
        value = message.headers.get("session-expires")
        return None if value is None else cls.parse(value)


@dataclass(frozen=True, slots=True)
class MinSE:
    """``Min-SE: 90`` (RFC 4028 §5); parameters are kept."""

    interval: int
    params: tuple[tuple[str, str | None], ...] = ()

    def __str__(self) -> str:
        return str(self.interval) + format_params(dict(self.params))

    @classmethod
    def parse(cls, value: str) -> MinSE:
        interval, params = _split(value, "Min-SE")
        return cls(interval, tuple(params.items()))

    @classmethod
    def of(cls, message: Message) -> MinSE | None:
        value = message.headers.get("min-se")
        return None if value is None else cls.parse(value)


def _supports_timer(message: Message) -> bool:
    return "timer" in message.option_tags("supported") or "timer" in message.option_tags("require")


@dataclass(frozen=True, slots=True)
class SessionTimerDecision:
    """The outcome of a negotiation.

    ``status`` is 200 when the request may go on (with a session timer if ``interval`` is
    set), 422 with the Min-SE to send or retry with, or 420 when the peer requires timers
    pycc does not run. ``refresher`` is in the terms of the transaction that negotiated
    (the uac sent the request).
    """

    status: int
    interval: int | None = None
    refresher: Refresher | None = None
    require_timer: bool = False
    min_se: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status < 300

    @property
    def active(self) -> bool:
        return self.accepted and self.interval is not None

    def response_headers(self) -> list[tuple[str, str]]:
        """The header fields a UAS puts in its 2xx, 422 or 420."""
        if self.status == 422:
            return [("Min-SE", str(self.min_se if self.min_se is not None else MIN_SE_FLOOR))]
        if self.status == 420:
            return [("Unsupported", "timer")]
        if self.interval is None:
            return []
        headers = [("Session-Expires", str(SessionExpires(self.interval, self.refresher)))]
        if self.require_timer:
            headers.append(("Require", "timer"))
        return headers


def negotiate_uas(
    request: Request,
    supported: bool = True,
    min_se: int = MIN_SE_FLOOR,
    default_interval: int = DEFAULT_INTERVAL,
    preferred_refresher: Refresher = "uas",
) -> SessionTimerDecision:
    """Decide the session timer for an INVITE or UPDATE received (RFC 4028 §9).

    ``supported=False`` runs no timer (and answers 420 if the request requires one).
    An interval below ``min_se`` is answered 422 when the UAC supports timers; otherwise it
    is raised to the minimum (errata 1687). A request without Session-Expires gets
    ``default_interval``. The refresher is the one the request asked for, else
    ``preferred_refresher`` when the UAC supports timers, else the UAS. Raises
    `SipParseError` (400) for a malformed Session-Expires or Min-SE.
    """
    requested = SessionExpires.of(request)
    request_min = MinSE.of(request)
    if not supported:
        if "timer" in request.option_tags("require"):
            return SessionTimerDecision(420)
        return SessionTimerDecision(200)
    uac_supports = _supports_timer(request)
    # The Min-SE that proxies on the path raised, and ours, both bind the interval (§5).
    floor = max(min_se, MIN_SE_FLOOR, request_min.interval if request_min else 0)
    asked: Refresher | None = None
    if requested is None:
        interval = max(default_interval, floor)
    elif requested.interval < floor:
        if uac_supports:
            return SessionTimerDecision(422, min_se=floor)
        interval = floor
    else:
        # §9: the UAS may lower the interval but never raise it; pycc keeps it.
        interval = requested.interval
        asked = requested.refresher
    if not uac_supports:
        # Only pycc knows about the timer, so only pycc can refresh (§9 table).
        refresher: Refresher = "uas"
    else:
        refresher = asked if asked is not None else preferred_refresher
    # §9: Require is a MUST when the uac refreshes, a SHOULD when the uas does and the UAC
    # supports timers; without support it must not be required.
    return SessionTimerDecision(200, interval, refresher, require_timer=uac_supports)


def negotiate_uac(response: Response) -> SessionTimerDecision:
    """Read the session timer from the response to our INVITE or UPDATE (RFC 4028 §7.2).

    A 422 carries the Min-SE to retry with (§7.4); a 2xx without Session-Expires turns the
    timer off; one without a refresher leaves the refresh to the UAC, the side that asked.
    """
    if response.status == 422:
        found = MinSE.of(response)
        return SessionTimerDecision(422, min_se=found.interval if found else MIN_SE_FLOOR)
    if not 200 <= response.status < 300:
        return SessionTimerDecision(response.status)
    granted = SessionExpires.of(response)
    if granted is None:
        return SessionTimerDecision(response.status)
    return SessionTimerDecision(
        response.status,
        granted.interval,
        granted.refresher or "uac",
        require_timer="timer" in response.option_tags("require"),
    )


def uac_request_headers(
    interval: int = DEFAULT_INTERVAL,
    min_se: int | None = None,
    refresher: Refresher | None = None,
) -> list[tuple[str, str]]:
    """Header fields asking for a session timer in an INVITE or UPDATE (RFC 4028 §7.1).

    After a 422, pass its Min-SE as both ``min_se`` and (at least) ``interval``.
    """
    headers = [
        ("Supported", "timer"),
        ("Session-Expires", str(SessionExpires(interval, refresher))),
    ]
    if min_se is not None:
        headers.append(("Min-SE", str(min_se)))
    return headers


class SessionTimer:
    """When one side of a session must refresh it, or give it up (RFC 4028 §10).

    The refresher refreshes at half the interval after the last refresh; if no refresh
    succeeds the session expires at the full interval. The other side sends its BYE
    min(32, interval/3) seconds before the interval ends. `due` reports each deadline
    once; `refreshed` starts a new interval after a successful refresh either way.
    """

    __slots__ = ("_expired", "_refresh_reported", "interval", "is_refresher", "last_refresh")

    def __init__(self, interval: int, is_refresher: bool, now: float) -> None:
        if interval <= 0:
            raise ValueError("session interval must be positive")
        self.interval = interval
        self.is_refresher = is_refresher
        self.last_refresh = now
        self._refresh_reported = False
        self._expired = False

    @classmethod
    def from_decision(
        cls, decision: SessionTimerDecision, *, is_uac: bool, now: float
    ) -> SessionTimer | None:
        """The timer of one side; ``is_uac`` says whether it sent the negotiating request."""
        if not decision.active or decision.interval is None:
            return None
        ours: Refresher = "uac" if is_uac else "uas"
        return cls(decision.interval, decision.refresher == ours, now)

    def __repr__(self) -> str:
        role = "refresher" if self.is_refresher else "watcher"
        return f"<SessionTimer {self.interval}s {role} next={self.next_deadline()}>"

    @property
    def refresh_at(self) -> float:
        return self.last_refresh + self.interval / 2

    @property
    def expires_at(self) -> float:
        if self.is_refresher:
            return self.last_refresh + self.interval
        # §10: leave time for the BYE to get through before the session expires.
        return self.last_refresh + self.interval - min(32.0, self.interval / 3)

    def next_deadline(self) -> float | None:
        if self._expired:
            return None
        if self.is_refresher and not self._refresh_reported:
            return self.refresh_at
        return self.expires_at

    def due(self, now: float) -> Due | None:
        """``"refresh"`` (send a re-INVITE or UPDATE), ``"expire"`` (send BYE) or None."""
        if self._expired:
            return None
        if now >= self.expires_at:
            self._expired = True
            return "expire"
        if self.is_refresher and not self._refresh_reported and now >= self.refresh_at:
            self._refresh_reported = True
            return "refresh"
        return None

    def refreshed(
        self, now: float, *, interval: int | None = None, is_refresher: bool | None = None
    ) -> None:
        """A refresh succeeded (sent and answered 2xx, or received and answered 2xx).

        Each refresh renegotiates, so the interval and the refresher may change with it.
        """
        if interval is not None:
            if interval <= 0:
                raise ValueError("session interval must be positive")
            self.interval = interval
        if is_refresher is not None:
            self.is_refresher = is_refresher
        self.last_refresh = now
        self._refresh_reported = False
        self._expired = False
