"""Call progress: how an outbound attempt ended, from the SIP response it got (RFC 3261 §21).

The dialer places a call and gets provisional responses (180 Ringing, 183 Session Progress,
often with early media) and then one final response, or none. :func:`result_for_status` turns
that into the :class:`CallResult` the contact's retry rules work with. The Q.850 causes are
those RFC 3398 maps to each SIP status (what a trunk's ISUP side most likely said).

| SIP status    | RFC 3261 (or later) meaning        | Q.850 (RFC 3398)   | result             |
|---------------|------------------------------------|--------------------|--------------------|
| 2xx           | §21.2 success: answered            | 16 normal clearing | answered           |
| 486, 600      | Busy Here, Busy Everywhere         | 17 user busy       | busy               |
| 487           | Request Terminated (our CANCEL)    | (local)            | no_answer after    |
|               |                                    |                    | min_ring, else     |
|               |                                    |                    | cancelled          |
| 480           | Temporarily Unavailable            | 19 no answer (user | no_answer after    |
|               |                                    | alerted), 20 sub-  | min_ring or a 180, |
|               |                                    | scriber absent     | else               |
|               |                                    |                    | network_failure    |
| 408           | Request Timeout (or Timer B,       | 18 no user         | no_answer after    |
|               | §8.1.3.1)                          | responding         | min_ring, else     |
|               |                                    |                    | network_failure    |
| 404, 604      | Not Found, Does Not Exist Anywhere | 1 unallocated      | invalid_number     |
| 410           | Gone                               | 22 number changed  | invalid_number     |
| 484, 485      | Address Incomplete, Ambiguous      | 28 invalid format  | invalid_number     |
| 403, 603      | Forbidden, Decline                 | 21 call rejected   | rejected           |
| 607, 608      | Unwanted (RFC 8197), Rejected      | 21 call rejected   | rejected           |
|               | (RFC 8688)                         |                    |                    |
| other 6xx     | §21.6 global failure for the user  | -                  | rejected           |
| 482, 483      | Loop Detected, Too Many Hops       | (routing)          | network_failure    |
| 5xx           | §21.5 server failure; a trunk's    | 27, 34, 38, 41,    | network_failure    |
|               | 503: no route, circuit, capacity   | 42, 47, 102, 111   |                    |
| 401, 407      | the trunk wants credentials        | -                  | failed             |
| 488, 606      | Not Acceptable: no common codec    | 65, 70             | failed             |
| other 3xx/4xx | redirect not followed, bad request | -                  | failed             |
| 0 (none)      | no response at all: transport      | -                  | network_failure    |
|               | error or Timer B, nothing heard    |                    |                    |
| 1xx (last)    | no final response came             | -                  | as 487             |

Choices, and why:

- *No answer needs ``min_ring`` seconds of ringing* (15 s by default, the issue's rule, and the
  usual regulatory minimum before a dialer may give up). Our own CANCEL earlier than that is
  ``cancelled`` (the campaign stopped or pacing withdrew the call: not the customer's doing).
- *408 or 480 before ``min_ring``* was ended by the network, not by us. 480 after a real
  alerting (``ring_seconds > 0`` and the ringing came as 180, not only as 183 early media) is
  Q.850 19, "no answer from user (user alerted)": the callee's network simply has a shorter
  no-answer timer, so it is ``no_answer``. 480 with no ringing is Q.850 20 "subscriber absent"
  (phone off, out of coverage), and 480 after early media only is in practice an in-band
  announcement of the same: both ``network_failure``, retried like one. 408 before
  ``min_ring`` means nobody's equipment answered in time (Q.850 18): ``network_failure``.
- ``early_media`` is true when the progress came only as 183 with SDP, never as 180.

``machine``, ``abandoned`` and ``connected`` are results of an answered call that the dialer
sets after answering-machine detection or agent hand-off; no SIP status maps to them.
"""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = ["NO_RESPONSE", "CallResult", "result_for_status", "retryable"]

#: Pass as ``status`` when the INVITE got no response at all (transport error, Timer B).
NO_RESPONSE = 0


class CallResult(StrEnum):
    """How one outbound attempt ended; the value is what the store and reports show."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    INVALID_NUMBER = "invalid_number"
    NETWORK_FAILURE = "network_failure"
    FAILED = "failed"
    MACHINE = "machine"
    ABANDONED = "abandoned"
    CONNECTED = "connected"
    CANCELLED = "cancelled"


_BY_STATUS: dict[int, CallResult] = {
    486: CallResult.BUSY,
    600: CallResult.BUSY,
    404: CallResult.INVALID_NUMBER,
    410: CallResult.INVALID_NUMBER,
    484: CallResult.INVALID_NUMBER,
    485: CallResult.INVALID_NUMBER,
    604: CallResult.INVALID_NUMBER,
    403: CallResult.REJECTED,
    603: CallResult.REJECTED,
    607: CallResult.REJECTED,
    608: CallResult.REJECTED,
    482: CallResult.NETWORK_FAILURE,
    483: CallResult.NETWORK_FAILURE,
    488: CallResult.FAILED,
    606: CallResult.FAILED,
}

_BY_CLASS: dict[int, CallResult] = {
    3: CallResult.FAILED,
    4: CallResult.FAILED,
    5: CallResult.NETWORK_FAILURE,
    6: CallResult.REJECTED,
}

#: Worth another attempt later, if the campaign's retry rules allow it.
_RETRYABLE = frozenset({
    CallResult.BUSY,
    CallResult.NO_ANSWER,
    CallResult.NETWORK_FAILURE,
    CallResult.FAILED,
    CallResult.MACHINE,
    CallResult.ABANDONED,
    CallResult.CANCELLED,
})


def _seconds(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


def result_for_status(
    status: int, *, ring_seconds: float, min_ring: float = 15.0, early_media: bool = False
) -> CallResult:
    """The result of an attempt that ended with SIP ``status`` after ``ring_seconds`` of ringing.

    ``status`` is the final response, or the last provisional one when no final came, or
    :data:`NO_RESPONSE`. ``ring_seconds`` counts from the first 180/183 to the end of the
    attempt (0 when there was none). See the module docstring for the table.
    """
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"status must be a SIP status code (int), not {status!r}")
    if status != NO_RESPONSE and not 100 <= status <= 699:
        raise ValueError(f"status must be a SIP status code 100-699 or 0, not {status}")
    rang = _seconds(ring_seconds, "ring_seconds")
    patience = _seconds(min_ring, "min_ring")
    full_ring = rang >= patience
    if status == NO_RESPONSE:
        return CallResult.NETWORK_FAILURE
    if 200 <= status <= 299:
        return CallResult.ANSWERED
    if status < 200 or status == 487:
        return CallResult.NO_ANSWER if full_ring else CallResult.CANCELLED
    if status in (408, 480):
        if full_ring:
            return CallResult.NO_ANSWER
        alerted = rang > 0 and not early_media
        if status == 480 and alerted:
            return CallResult.NO_ANSWER
        return CallResult.NETWORK_FAILURE
    return _BY_STATUS.get(status, _BY_CLASS[status // 100])


def retryable(result: CallResult) -> bool:
    """Whether another attempt may reach the customer (the campaign's rules decide if and when).

    Answered and connected calls reached them; a rejected call or an invalid number will not
    change by retrying.
    """
    if not isinstance(result, CallResult):
        raise TypeError(f"result must be a CallResult, not {result!r}")
    return result in _RETRYABLE
