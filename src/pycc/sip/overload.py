"""Overload control: refuse new work with 503 before the switch falls behind (RFC 6357).

A SIP server pushed past its capacity does not just serve fewer requests: it collapses
(RFC 6357 §2). Over UDP the requests it cannot read wait in the kernel; once that wait
passes T1 every client retransmits, the ACKs and BYEs of calls already set up wait behind new
INVITEs, pycc retransmits its own 200s, and the calls it did accept fail too. The cure is to
answer new work cheaply and early with 503 Service Unavailable and a Retry-After (RFC 3261
§21.5.4), so that what is already running finishes, and an upstream proxy (Kamailio's
dispatcher) tries another node.

`OverloadGuard` decides, with the time passed in, whether a new call (an INVITE outside a
dialog) is admitted. Three limits, each optional:

- ``max_calls``: calls held at once (FreeSWITCH's ``max-sessions``, Asterisk's ``maxcalls``);
- ``max_call_rate``: new calls per second, a token bucket with a one-second burst
  (FreeSWITCH's ``sessions-per-second``);
- ``max_backlog``: bytes of requests waiting unread in the SIP UDP sockets' receive queues.
  This is the load signal that tells how far behind the switch is, whatever the machine's
  speed. (Requests over TCP and TLS wait in each connection's own queue, which is not read.)
  An INVITE that answers pycc's challenge (it carries credentials) has already cost a round
  trip, so it is refused only at twice this backlog. And only once the backlog has stayed
  over the limit for ``backlog_grace`` seconds (every INVITE read looks at it): a moment
  when the machine does not run the switch (another process, a virtual machine's host)
  leaves a backlog that the switch works off within a few tenths of a second, while an
  overload keeps it there. (Measured at 500 calls/s on a 2-core VM: with no grace, a run in
  four lost about a hundred calls to 503s after such a moment; with 0.5 s, none did, and at
  1,200 offered the switch completed as many calls either way. benchmarks/RESULTS.md)

Requests inside a dialog, ACK, CANCEL and responses are never refused: they finish work that
was admitted. Nor are REGISTERs: a refused phone registers again, and answering a challenge
costs about as much as a 503: refusing registrations at this backlog too halved or worse the
digest REGISTERs SIPp completed at 1,600 offered per second (benchmarks/RESULTS.md). A
REGISTER storm still makes new calls wait, and those are refused. Each refusal is counted
by its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["OverloadConfig", "OverloadGuard", "Refusal"]


class Refusal(Enum):
    """Why a request was refused; the value is the 503's reason phrase."""

    MAX_CALLS = "Too Many Calls"
    MAX_CALL_RATE = "Call Rate Too High"
    BACKLOG = "Server Overloaded"

    @property
    def metric_label(self) -> str:
        return "overload_" + self.name.lower()


@dataclass(frozen=True, slots=True)
class OverloadConfig:
    #: Calls held at once; 0: no limit.
    max_calls: int = 0
    #: New calls per second (bursts up to one second's worth); 0: no limit.
    max_call_rate: float = 0.0
    #: Bytes waiting in the SIP receive queues above which new INVITEs get 503;
    #: 0: no limit. A datagram takes about 2 kB there (the kernel's buffer overhead counts).
    max_backlog: int = 0
    #: Seconds a refused client is asked to wait (Retry-After).
    retry_after: int = 1
    #: Seconds the backlog must stay over ``max_backlog`` before new INVITEs are refused.
    backlog_grace: float = 0.0

    def __post_init__(self) -> None:
        if self.max_calls < 0 or self.max_call_rate < 0 or self.max_backlog < 0 \
                or not 0 <= self.backlog_grace < float("inf"):
            raise ValueError("overload limits must be 0 (none) or positive")
        if self.retry_after < 0:
            raise ValueError("retry_after must be 0 or more seconds")


@dataclass(slots=True)
class OverloadGuard:
    """Admits or refuses new calls; counts refusals by reason."""

    config: OverloadConfig
    refused: dict[Refusal, int] = field(default_factory=dict)
    _tokens: float = 0.0
    _updated: float | None = None
    #: Since when every look found the backlog over the limit (None: it was not, last time).
    _over_since: float | None = None

    def admit_request(self, *, backlog: int, now: float,
                      answers_challenge: bool = False) -> Refusal | None:
        """None to go on with a new INVITE as it arrives, else why it gets 503.

        ``backlog``: bytes waiting unread; checked before any work is done on the request.
        """
        return self._count(self._backlog_refusal(backlog, answers_challenge, now))

    def refuses_backlog(self, backlog: int, now: float) -> bool:
        """Whether `admit_request` would refuse a new INVITE without credentials now, with
        nothing counted."""
        return self._backlog_refusal(backlog, False, now) is not None

    def admit_call(self, now: float, *, calls: int) -> Refusal | None:
        """None to place a call that passed authentication, else why it gets 503.

        ``calls``: calls the switch holds now. Checked once the caller is known, so that the
        challenged first INVITE of a call does not count against the call rate.
        """
        c = self.config
        refusal = None
        if c.max_calls and calls >= c.max_calls:
            refusal = Refusal.MAX_CALLS
        elif c.max_call_rate and not self._take_token(now):
            refusal = Refusal.MAX_CALL_RATE
        return self._count(refusal)

    @property
    def retry_after(self) -> tuple[str, str]:
        """The Retry-After header of a refusal."""
        return ("Retry-After", str(self.config.retry_after))

    def _backlog_refusal(self, backlog: int, answers_challenge: bool,
                         now: float) -> Refusal | None:
        limit = self.config.max_backlog
        if not limit or backlog <= limit:
            self._over_since = None
            return None
        if self._over_since is None or now < self._over_since:
            self._over_since = now
        if now - self._over_since < self.config.backlog_grace:
            return None
        if backlog > (2 * limit if answers_challenge else limit):
            return Refusal.BACKLOG
        return None

    def _take_token(self, now: float) -> bool:
        rate = self.config.max_call_rate
        burst = max(1.0, rate)
        if self._updated is None:
            self._tokens = burst
        else:
            # max(): a clock that steps backwards must not drain the bucket.
            self._tokens = min(burst, self._tokens + max(0.0, now - self._updated) * rate)
        self._updated = now if self._updated is None else max(self._updated, now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _count(self, refusal: Refusal | None) -> Refusal | None:
        if refusal is not None:
            self.refused[refusal] = self.refused.get(refusal, 0) + 1
        return refusal
