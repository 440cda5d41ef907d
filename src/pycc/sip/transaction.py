"""The SIP transaction layer: retransmissions, timeouts and matching, sans-I/O.

Implements RFC 3261 §17 as updated by RFC 6026: the four transaction state machines
(§17.1.1 INVITE client, §17.1.2 non-INVITE client, §17.2.1 INVITE server, §17.2.2 non-INVITE
server, each with RFC 6026's Accepted state and Timers L and M), the timers of Table 4, the ACK
a client transaction builds for a non-2xx final response (§17.1.1.3), response matching
(§17.1.3), request matching with its RFC 2543 fallback (§17.2.3), building and matching CANCEL
(§9.1, §9.2), the ``received`` stamp and response routing of §18.2.1 and §18.2.2 with RFC 3581
§4 (``rport``), and transport errors (§17.1.4, §17.2.4).

The layer follows aioquic's shape. Three inputs: messages received (`receive_request`,
`receive_response`, `transport_error`, each with ``now``), user actions (`send_request`,
`send_response`, `cancel`, `send_stateless`) and `handle_timer`. Three outputs: `next_event`,
`messages_to_send` (bytes serialized once, so retransmissions cost no serializing) and
`get_timer`. Each machine is a table ``TRANSITIONS[(state, input)] -> (state, actions)``;
a pair missing from a table is ignored, except a response from the user that the state does
not allow, which raises `SipUsageError`. All timers share one heap with lazy deletion, so
stopping a timer is O(1) and thousands of transactions cost one deadline to the adapter.
"""

from __future__ import annotations

import enum
import heapq
import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

from pycc.sip.address import Address
from pycc.sip.errors import SipError, SipUsageError
from pycc.sip.headers import Headers, Via
from pycc.sip.message import Request, Response, make_response

__all__ = [
    "MAGIC_COOKIE",
    "AckReceived",
    "Action",
    "ClientTransaction",
    "Effect",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "RequestReceived",
    "ResponseReceived",
    "ServerTransaction",
    "Start",
    "Stop",
    "StrayResponse",
    "TimerConfig",
    "Transaction",
    "TransactionEvent",
    "TransactionInput",
    "TransactionLayer",
    "TransactionState",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
    "build_ack",
    "build_cancel",
    "response_destination",
    "stamp_top_via",
]

#: RFC 3261 §8.1.1.7: a branch starting with this was built by an RFC 3261 element and is
#: unique on its own; any other branch needs the RFC 2543 matching rules.
MAGIC_COOKIE: Final = "z9hG4bK"


class TransactionState(enum.Enum):
    # Enum's own __hash__ is Python code; members are singletons, so identity will do and
    # keeps the table and timer lookups, done on every message, in C.
    __hash__ = object.__hash__

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class TransactionInput(enum.Enum):
    __hash__ = object.__hash__  # see TransactionState

    # from the peer
    RECV_1XX = "1xx received"
    RECV_2XX = "2xx received"
    RECV_3XX_6XX = "300-699 received"
    REQUEST = "request retransmission received"
    ACK = "ACK received"
    # from the user
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_3XX_6XX = "send 300-699"
    CANCEL = "cancel"
    # from the transport
    TRANSPORT_ERROR = "transport error"
    # timers
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_TRYING = "200 ms without a provisional response"
    TIMER_CANCEL = "64*T1 after CANCEL without a final response"


class Effect(enum.Enum):
    """What a transition does besides changing state."""

    __hash__ = object.__hash__  # see TransactionState

    SEND_REQUEST = "send the request"
    RETRANSMIT_REQUEST = "resend the request, double the interval"
    RETRANSMIT_REQUEST_AT_T2 = "resend the request, next in T2"
    PASS_RESPONSE = "pass the response to the user"
    SEND_ACK = "build and send the ACK"
    RESEND_ACK = "resend the ACK"
    REMEMBER_CANCEL = "remember to cancel"
    REPLAY_CANCEL = "cancel now if asked before"
    SEND_CANCEL = "build and send the CANCEL"
    PASS_REQUEST = "pass the request to the user"
    PASS_ACK = "pass the ACK to the user"
    SEND_TRYING = "send 100 Trying"
    SEND_RESPONSE = "send the user's response"
    RESEND_RESPONSE = "resend the last response"
    RETRANSMIT_RESPONSE = "resend the last response, double the interval"
    REPORT_TIMEOUT = "tell the user it timed out"
    REPORT_TRANSPORT_ERROR = "tell the user the transport failed"


@dataclass(frozen=True, slots=True)
class Start:
    """(Re)start a timer; a timer that does not run on the transport is skipped."""

    timer: TransactionInput


@dataclass(frozen=True, slots=True)
class Stop:
    timer: TransactionInput


Action: TypeAlias = Effect | Start | Stop
Transitions: TypeAlias = Mapping[
    tuple[TransactionState, TransactionInput], tuple[TransactionState, tuple[Action, ...]]
]

# Short names keep the tables below one readable line per edge of the RFC figures.
CALLING = TransactionState.CALLING
TRYING = TransactionState.TRYING
PROCEEDING = TransactionState.PROCEEDING
ACCEPTED = TransactionState.ACCEPTED
COMPLETED = TransactionState.COMPLETED
CONFIRMED = TransactionState.CONFIRMED
TERMINATED = TransactionState.TERMINATED

RECV_1XX = TransactionInput.RECV_1XX
RECV_2XX = TransactionInput.RECV_2XX
RECV_3XX_6XX = TransactionInput.RECV_3XX_6XX
REQUEST = TransactionInput.REQUEST
ACK = TransactionInput.ACK
SEND_1XX = TransactionInput.SEND_1XX
SEND_2XX = TransactionInput.SEND_2XX
SEND_3XX_6XX = TransactionInput.SEND_3XX_6XX
CANCEL = TransactionInput.CANCEL
TRANSPORT_ERROR = TransactionInput.TRANSPORT_ERROR
TIMER_A = TransactionInput.TIMER_A
TIMER_B = TransactionInput.TIMER_B
TIMER_D = TransactionInput.TIMER_D
TIMER_E = TransactionInput.TIMER_E
TIMER_F = TransactionInput.TIMER_F
TIMER_G = TransactionInput.TIMER_G
TIMER_H = TransactionInput.TIMER_H
TIMER_I = TransactionInput.TIMER_I
TIMER_J = TransactionInput.TIMER_J
TIMER_K = TransactionInput.TIMER_K
TIMER_L = TransactionInput.TIMER_L
TIMER_M = TransactionInput.TIMER_M
TIMER_TRYING = TransactionInput.TIMER_TRYING
TIMER_CANCEL = TransactionInput.TIMER_CANCEL

SEND_REQUEST = Effect.SEND_REQUEST
RETRANSMIT_REQUEST = Effect.RETRANSMIT_REQUEST
RETRANSMIT_REQUEST_AT_T2 = Effect.RETRANSMIT_REQUEST_AT_T2
PASS_RESPONSE = Effect.PASS_RESPONSE
SEND_ACK = Effect.SEND_ACK
RESEND_ACK = Effect.RESEND_ACK
REMEMBER_CANCEL = Effect.REMEMBER_CANCEL
REPLAY_CANCEL = Effect.REPLAY_CANCEL
SEND_CANCEL = Effect.SEND_CANCEL
PASS_REQUEST = Effect.PASS_REQUEST
PASS_ACK = Effect.PASS_ACK
SEND_TRYING = Effect.SEND_TRYING
SEND_RESPONSE = Effect.SEND_RESPONSE
RESEND_RESPONSE = Effect.RESEND_RESPONSE
RETRANSMIT_RESPONSE = Effect.RETRANSMIT_RESPONSE
REPORT_TIMEOUT = Effect.REPORT_TIMEOUT
REPORT_TRANSPORT_ERROR = Effect.REPORT_TRANSPORT_ERROR

#: Inputs that are the user's responses: one the state does not allow is a bug of the caller.
#: Every other missing pair is a late timer, a stray retransmission or a race, and is ignored.
USER_RESPONSES: Final = frozenset({SEND_1XX, SEND_2XX, SEND_3XX_6XX})

TIMERS: Final = frozenset({
    TIMER_A, TIMER_B, TIMER_D, TIMER_E, TIMER_F, TIMER_G, TIMER_H, TIMER_I, TIMER_J, TIMER_K,
    TIMER_L, TIMER_M, TIMER_TRYING, TIMER_CANCEL,
})


# -- timers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 (RFC 3261 §17.1.1.1, Table 4) and the timers derived from them.

    ``timer_d`` is Timer D on unreliable transports ("at least 32 s"); ``trying`` is how
    long an INVITE server transaction waits for the user before sending 100 itself (§17.2.1).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    trying: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2 or self.t4 <= 0 or self.timer_d < 0 or self.trying < 0:
            raise ValueError(f"inconsistent SIP timers: {self}")

    def duration(self, timer: TransactionInput, reliable: bool) -> float | None:
        """How long ``timer`` runs: None when it does not run on this transport, 0 at once."""
        t1 = self.t1
        if timer in (TIMER_A, TIMER_E, TIMER_G):
            return None if reliable else t1  # only unreliable transports retransmit
        if timer in (TIMER_B, TIMER_F, TIMER_H, TIMER_L, TIMER_M, TIMER_CANCEL):
            return 64 * t1
        if timer is TIMER_D:
            return 0.0 if reliable else self.timer_d
        if timer is TIMER_J:
            return 0.0 if reliable else 64 * t1
        if timer in (TIMER_I, TIMER_K):
            return 0.0 if reliable else self.t4
        if timer is TIMER_TRYING:
            return self.trying
        raise ValueError(f"{timer} is not a timer")


# -- the four machines ----------------------------------------------------------------------


class Transaction:
    """What the four machines share: the request, the state and the running timers.

    Instances are handles the user gets in events and passes back to the layer; only the
    layer changes them. ``destination`` is where this transaction sends: the request for a
    client transaction, responses for a server transaction.
    """

    __slots__ = ("_timers", "destination", "key", "request", "state")

    TRANSITIONS: ClassVar[Transitions]
    #: The state a new transaction is in and what it does when created.
    INITIAL: ClassVar[tuple[TransactionState, tuple[Action, ...]]]

    def __init__(self, request: Request, destination: Address, key: tuple[object, ...]) -> None:
        self.request = request
        self.destination = destination
        self.key = key
        self.state = self.INITIAL[0]
        # timer -> (deadline, heap sequence number); an entry not matching is stale
        self._timers: dict[TransactionInput, tuple[float, int]] = {}

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def reliable(self) -> bool:
        return self.destination.reliable

    def deadline(self, timer: TransactionInput) -> float | None:
        """When ``timer`` fires, or None when it is not running."""
        entry = self._timers.get(timer)
        return None if entry is None else entry[0]

    @property
    def running_timers(self) -> frozenset[TransactionInput]:
        return frozenset(self._timers)

    def process_input(self, event: TransactionInput) -> tuple[Action, ...]:
        """Move along the table; return the actions the layer must carry out."""
        try:
            next_state, actions = self.TRANSITIONS[(self.state, event)]
        except KeyError:
            if event in USER_RESPONSES:
                raise SipUsageError(
                    f"{type(self).__name__} in state {self.state.value} cannot {event.value}"
                ) from None
            return ()
        self.state = next_state
        return actions

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.key[0]} {self.state.value}>"


class ClientTransaction(Transaction):
    __slots__ = ("_interval", "_wire", "last_response")

    def __init__(self, request: Request, destination: Address, key: tuple[object, ...]) -> None:
        super().__init__(request, destination, key)
        self.last_response: Response | None = None
        self._wire = b""  # the request as sent, for retransmissions
        self._interval = 0.0  # the current retransmission interval

    @property
    def branch(self) -> str:
        return str(self.key[0])


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 with RFC 6026 §7.2 (Figure 5 of RFC 6026)."""

    __slots__ = ("_ack_wire", "cancel_requested", "cancel_transaction")

    INITIAL = (CALLING, (SEND_REQUEST, Start(TIMER_A), Start(TIMER_B)))
    TRANSITIONS: ClassVar[Transitions] = {
        (CALLING, TIMER_A): (CALLING, (RETRANSMIT_REQUEST,)),
        (CALLING, TIMER_B): (TERMINATED, (REPORT_TIMEOUT,)),
        (CALLING, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
        # §9.1: a CANCEL may only follow a provisional response, so it waits for one.
        (CALLING, CANCEL): (CALLING, (REMEMBER_CANCEL,)),
        (CALLING, RECV_1XX): (
            PROCEEDING, (Stop(TIMER_A), Stop(TIMER_B), PASS_RESPONSE, REPLAY_CANCEL),
        ),
        (CALLING, RECV_2XX): (
            ACCEPTED, (Stop(TIMER_A), Stop(TIMER_B), PASS_RESPONSE, Start(TIMER_M)),
        ),
        (CALLING, RECV_3XX_6XX): (
            COMPLETED, (Stop(TIMER_A), Stop(TIMER_B), SEND_ACK, PASS_RESPONSE, Start(TIMER_D)),
        ),
        (PROCEEDING, RECV_1XX): (PROCEEDING, (PASS_RESPONSE,)),
        (PROCEEDING, RECV_2XX): (ACCEPTED, (Stop(TIMER_CANCEL), PASS_RESPONSE, Start(TIMER_M))),
        (PROCEEDING, RECV_3XX_6XX): (
            COMPLETED, (Stop(TIMER_CANCEL), SEND_ACK, PASS_RESPONSE, Start(TIMER_D)),
        ),
        (PROCEEDING, CANCEL): (PROCEEDING, (SEND_CANCEL, Start(TIMER_CANCEL))),
        # §9.1: no final response 64*T1 after the CANCEL: consider the INVITE cancelled.
        (PROCEEDING, TIMER_CANCEL): (TERMINATED, (REPORT_TIMEOUT,)),
        # Proceeding has no Timer B; a dead connection would otherwise leave it waiting forever.
        (PROCEEDING, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
        # RFC 6026 §7.2: every 2xx goes to the user, who ACKs it (each fork is a dialog).
        (ACCEPTED, RECV_2XX): (ACCEPTED, (PASS_RESPONSE,)),
        (ACCEPTED, TIMER_M): (TERMINATED, ()),
        (COMPLETED, RECV_3XX_6XX): (COMPLETED, (RESEND_ACK,)),
        (COMPLETED, TIMER_D): (TERMINATED, ()),
        (COMPLETED, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
    }

    def __init__(self, request: Request, destination: Address, key: tuple[object, ...]) -> None:
        super().__init__(request, destination, key)
        self.cancel_requested = False
        self.cancel_transaction: NonInviteClientTransaction | None = None
        self._ack_wire = b""


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2 (Figure 6)."""

    __slots__ = ()

    INITIAL = (TRYING, (SEND_REQUEST, Start(TIMER_E), Start(TIMER_F)))
    TRANSITIONS: ClassVar[Transitions] = {
        (TRYING, TIMER_E): (TRYING, (RETRANSMIT_REQUEST,)),
        (TRYING, TIMER_F): (TERMINATED, (REPORT_TIMEOUT,)),
        (TRYING, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
        (TRYING, RECV_1XX): (PROCEEDING, (PASS_RESPONSE,)),
        (TRYING, RECV_2XX): (
            COMPLETED, (Stop(TIMER_E), Stop(TIMER_F), PASS_RESPONSE, Start(TIMER_K)),
        ),
        (TRYING, RECV_3XX_6XX): (
            COMPLETED, (Stop(TIMER_E), Stop(TIMER_F), PASS_RESPONSE, Start(TIMER_K)),
        ),
        # §17.1.2.2: once the server is heard from, retransmit every T2 only.
        (PROCEEDING, TIMER_E): (PROCEEDING, (RETRANSMIT_REQUEST_AT_T2,)),
        (PROCEEDING, TIMER_F): (TERMINATED, (REPORT_TIMEOUT,)),
        (PROCEEDING, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
        (PROCEEDING, RECV_1XX): (PROCEEDING, (PASS_RESPONSE,)),
        (PROCEEDING, RECV_2XX): (
            COMPLETED, (Stop(TIMER_E), Stop(TIMER_F), PASS_RESPONSE, Start(TIMER_K)),
        ),
        (PROCEEDING, RECV_3XX_6XX): (
            COMPLETED, (Stop(TIMER_E), Stop(TIMER_F), PASS_RESPONSE, Start(TIMER_K)),
        ),
        (COMPLETED, TIMER_K): (TERMINATED, ()),
    }


class ServerTransaction(Transaction):
    __slots__ = ("_interval", "_wire", "last_response", "received_as", "source")

    def __init__(
        self, request: Request, source: Address, destination: Address, key: tuple[object, ...]
    ) -> None:
        super().__init__(request, destination, key)
        self.source = source
        self.last_response: Response | None = None
        self._wire = b""  # the last response as sent, for retransmissions
        self._interval = 0.0
        #: The request exactly as it arrived, when the transport gave it (see
        #: `TransactionLayer.absorb_retransmission`).
        self.received_as: bytes | None = None

    @property
    def branch(self) -> str | None:
        return self.request.top_via.branch


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 with RFC 6026 §7.1 (Figure 7 of RFC 6026)."""

    __slots__ = ()

    INITIAL = (PROCEEDING, (PASS_REQUEST, Start(TIMER_TRYING)))
    TRANSITIONS: ClassVar[Transitions] = {
        (PROCEEDING, TIMER_TRYING): (PROCEEDING, (SEND_TRYING,)),
        (PROCEEDING, REQUEST): (PROCEEDING, (RESEND_RESPONSE,)),
        (PROCEEDING, SEND_1XX): (PROCEEDING, (Stop(TIMER_TRYING), SEND_RESPONSE)),
        (PROCEEDING, SEND_2XX): (ACCEPTED, (Stop(TIMER_TRYING), SEND_RESPONSE, Start(TIMER_L))),
        (PROCEEDING, SEND_3XX_6XX): (
            COMPLETED,
            (Stop(TIMER_TRYING), SEND_RESPONSE, Start(TIMER_G), Start(TIMER_H)),
        ),
        # RFC 6026 Figure 7: the user is told and decides; the transaction stays.
        (PROCEEDING, TRANSPORT_ERROR): (PROCEEDING, (REPORT_TRANSPORT_ERROR,)),
        # RFC 6026 §7.1: retransmitted INVITEs are absorbed; the user retransmits its 2xx
        # (through this transaction or statelessly) and receives the ACK, which is the dialog's.
        (ACCEPTED, REQUEST): (ACCEPTED, ()),
        (ACCEPTED, ACK): (ACCEPTED, (PASS_ACK,)),
        (ACCEPTED, SEND_2XX): (ACCEPTED, (SEND_RESPONSE,)),
        (ACCEPTED, TRANSPORT_ERROR): (ACCEPTED, (REPORT_TRANSPORT_ERROR,)),
        (ACCEPTED, TIMER_L): (TERMINATED, ()),
        (COMPLETED, REQUEST): (COMPLETED, (RESEND_RESPONSE,)),
        (COMPLETED, TIMER_G): (COMPLETED, (RETRANSMIT_RESPONSE,)),
        (COMPLETED, TIMER_H): (TERMINATED, (REPORT_TIMEOUT,)),
        (COMPLETED, ACK): (CONFIRMED, (Stop(TIMER_G), Stop(TIMER_H), Start(TIMER_I))),
        (COMPLETED, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
        (CONFIRMED, TIMER_I): (TERMINATED, ()),
    }


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2 (Figure 8)."""

    __slots__ = ()

    INITIAL = (TRYING, (PASS_REQUEST,))
    TRANSITIONS: ClassVar[Transitions] = {
        (TRYING, SEND_1XX): (PROCEEDING, (SEND_RESPONSE,)),
        (TRYING, SEND_2XX): (COMPLETED, (SEND_RESPONSE, Start(TIMER_J))),
        (TRYING, SEND_3XX_6XX): (COMPLETED, (SEND_RESPONSE, Start(TIMER_J))),
        (PROCEEDING, REQUEST): (PROCEEDING, (RESEND_RESPONSE,)),
        (PROCEEDING, SEND_1XX): (PROCEEDING, (SEND_RESPONSE,)),
        (PROCEEDING, SEND_2XX): (COMPLETED, (SEND_RESPONSE, Start(TIMER_J))),
        (PROCEEDING, SEND_3XX_6XX): (COMPLETED, (SEND_RESPONSE, Start(TIMER_J))),
        (PROCEEDING, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
        (COMPLETED, REQUEST): (COMPLETED, (RESEND_RESPONSE,)),
        (COMPLETED, TIMER_J): (TERMINATED, ()),
        (COMPLETED, TRANSPORT_ERROR): (TERMINATED, (REPORT_TRANSPORT_ERROR,)),
    }


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (CANCEL included) and the server transaction that will answer it."""

    transaction: ServerTransaction
    request: Request


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for a 2xx: it matched no transaction, or one in the Accepted state."""

    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    transaction: ClientTransaction
    response: Response


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response matching no transaction, such as a 2xx retransmission after Timer M."""

    response: Response
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B, F or the CANCEL guard (no answer), or Timer H (the ACK never came)."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """A send of this transaction failed; `TransactionTerminated` follows unless the state
    leaves the decision to the user (an INVITE server transaction in Proceeding or Accepted)."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The transaction is gone: the user may drop its references."""

    transaction: Transaction


TransactionEvent: TypeAlias = (
    RequestReceived
    | AckReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
)


# -- helpers --------------------------------------------------------------------------------


def response_destination(via: Via, source: Address) -> Address:
    """Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).

    Over a stream, back on the request's connection. Over UDP to the source address when the
    client asked for ``rport``, else to the ``received`` address (the source, which is what
    the layer stamps) at the sent-by port.
    """
    if source.reliable or via.wants_rport:
        return source
    return Address(source.transport, source.host, via.port or 5060)


def stamp_top_via(request: Request, source: Address) -> Via:
    """Stamp ``request``'s top Via as a server transaction does (``received``, ``rport``),
    for a request answered without one; returns the stamped Via."""
    return _stamp_via(request, request.top_via, source)


def _stamp_via(request: Request, via: Via, source: Address) -> Via:
    """Add ``received`` and fill ``rport`` in the top Via (§18.2.1, RFC 3581 §4)."""
    wants_rport = via.wants_rport
    fill_rport = wants_rport and not via.params.get("rport")
    # RFC 3581 §4: with rport the received address is added even when it equals sent-by.
    add_received = (wants_rport or via.host != source.host) and via.received != source.host
    if not fill_rport and not add_received:
        return via
    params = dict(via.params)
    if add_received:
        params["received"] = source.host
    if fill_rport:
        params["rport"] = str(source.port)
    stamped = Via(via.transport, via.host, via.port, params, via.protocol)
    _replace_top_via(request, stamped)
    return stamped


def _replace_top_via(message: Request, via: Via) -> None:
    """Rewrite the top Via value; the other typed values already parsed stay cached."""
    rest = message.vias[1:]
    message.headers.replace_first("via", str(via))
    message.headers.cached("via", lambda: [via, *rest])


def _is_rfc3261_branch(branch: str | None) -> bool:
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def _legacy_key(request: Request, via: Via, method: str, to_tag: str | None) -> tuple[object, ...]:
    # §17.2.3 for RFC 2543 clients: Request-URI, To tag, From tag, Call-ID, CSeq and the top
    # Via. received and rport are left out: the layer itself stamps them on the first copy.
    via_params = frozenset(
        (name, value) for name, value in via.params.items() if name not in ("received", "rport")
    )
    return (
        "rfc2543", str(request.uri), to_tag, request.from_.tag, request.call_id,
        request.cseq.seq, method, via.transport, via.host, via.port, via_params,
    )


def _server_key(request: Request, via: Via, method: str) -> tuple[object, ...]:
    if _is_rfc3261_branch(via.branch):
        # §17.2.3: branch, sent-by and method (ACK looks up its INVITE).
        return (via.branch, via.host, via.port, method)
    return _legacy_key(request, via, method, request.to.tag)


def _copy_for_in_transaction(invite: Request, method: str, to_value: str) -> Request:
    """The ACK of §17.1.1.3 or the CANCEL of §9.1: same Request-URI, Call-ID, From, CSeq
    number, the INVITE's top Via only (same branch) and its Route set."""
    headers = Headers()
    headers.add("Via", invite.headers.values("via")[0])
    for route in invite.headers.get_all("route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("from") or "")
    headers.add("To", to_value)
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} {method}")
    headers.add("Content-Length", "0")
    return Request(headers, b"", method, invite.uri)


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (§17.1.1.3): To comes from the response."""
    return _copy_for_in_transaction(invite, "ACK", response.headers.get("to") or "")


def build_cancel(invite: Request) -> Request:
    """The CANCEL of an INVITE (§9.1)."""
    return _copy_for_in_transaction(invite, "CANCEL", invite.headers.get("to") or "")


def _status_input(status: int, received: bool) -> TransactionInput:
    if status < 200:
        return RECV_1XX if received else SEND_1XX
    if status < 300:
        return RECV_2XX if received else SEND_2XX
    return RECV_3XX_6XX if received else SEND_3XX_6XX


_RETRANSMIT_TIMERS: Final = frozenset({TIMER_A, TIMER_E, TIMER_G})
_HeapEntry: TypeAlias = tuple[float, int, Transaction, TransactionInput]
_DestinationKey: TypeAlias = tuple[str, str, int]


# -- the layer ------------------------------------------------------------------------------


class TransactionLayer:
    """Every client and server transaction of one SIP element.

    ``max_transactions`` bounds memory: beyond it new requests get a stateless 503 with
    ``Retry-After: retry_after``. ``rng`` makes branches and tags reproducible in tests.
    """

    def __init__(
        self,
        timers: TimerConfig = TimerConfig(),  # frozen: one shared default is safe
        rng: random.Random | None = None,
        *,
        max_transactions: int = 100_000,
        retry_after: int = 5,
    ) -> None:
        self.timers = timers
        self._rng: random.Random = rng if rng is not None else random.SystemRandom()
        self.max_transactions = max_transactions
        self.retry_after = retry_after
        self._durations: dict[bool, dict[TransactionInput, float | None]] = {
            reliable: {timer: timers.duration(timer, reliable) for timer in TIMERS}
            for reliable in (False, True)
        }
        # Timer A doubles without bound (Timer B ends it); E and G stop doubling at T2.
        self._caps: dict[TransactionInput, float] = {
            TIMER_A: math.inf, TIMER_E: timers.t2, TIMER_G: timers.t2,
        }
        self._client: dict[tuple[object, ...], ClientTransaction] = {}
        self._server: dict[tuple[object, ...], ServerTransaction] = {}
        # Live server transactions by the bytes of the request that began them: a client's
        # retransmission is the same message again (§17.1.2.2), found here without parsing.
        self._by_wire: dict[bytes, ServerTransaction] = {}
        # transactions by where they send, for transport_error; dicts as ordered sets
        self._by_destination: dict[_DestinationKey, dict[Transaction, None]] = {}
        self._events: deque[TransactionEvent] = deque()
        self._outgoing: list[tuple[bytes, Address]] = []
        self._heap: list[_HeapEntry] = []
        self._sequence = 0
        self._stale = 0  # heap entries whose timer was stopped or restarted

    # -- outputs -----------------------------------------------------------------------------

    def next_event(self) -> TransactionEvent | None:
        return self._events.popleft() if self._events else None

    def messages_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline, or None when no timer runs."""
        heap = self._heap
        while heap:
            _deadline, sequence, txn, timer = heap[0]
            entry = txn._timers.get(timer)
            if entry is not None and entry[1] == sequence:
                return entry[0]
            heapq.heappop(heap)
            self._stale -= 1
        return None

    @property
    def transaction_count(self) -> int:
        return len(self._client) + len(self._server)

    @property
    def timer_count(self) -> int:
        """Heap entries, stale ones included (for leak checks)."""
        return len(self._heap)

    # -- inputs: the network ------------------------------------------------------------------

    def absorb_retransmission(self, data: bytes, now: float) -> bool:
        """Is ``data`` byte for byte the request of a live server transaction? Then it is a
        retransmission: the transaction takes it as §17.2.1 and §17.2.2 say (sending its
        last response again) and True is returned, so the caller need not parse it.

        Under overload this keeps retransmissions, which then come in numbers, from costing
        what new requests cost. A retransmission that differs in any byte (a client that
        rewrites its message) is matched after parsing, by `receive_request`.
        """
        txn = self._by_wire.get(data)
        if txn is None:
            return False
        self._drive(txn, REQUEST, now)
        return True

    def receive_request(
        self, request: Request, source: Address, now: float, raw: bytes | None = None
    ) -> None:
        """A request from the transport, already parsed and validated; ``raw``: the bytes it
        was parsed from, for `absorb_retransmission`."""
        via = request.top_via
        method = request.method
        if method == "ACK":
            self._receive_ack(request, via, source, now)
            return
        key = _server_key(request, via, method)
        txn = self._server.get(key)
        if txn is not None:
            self._drive(txn, REQUEST, now)
            return
        via = _stamp_via(request, via, source)
        destination = response_destination(via, source)
        if self.transaction_count >= self.max_transactions:
            self._reject_overload(request, destination)
            return
        server: ServerTransaction
        if method == "INVITE":
            server = InviteServerTransaction(request, source, destination, key)
        else:
            server = NonInviteServerTransaction(request, source, destination, key)
        self._server[key] = server
        if raw is not None:
            server.received_as = raw
            self._by_wire[raw] = server
        self._begin(server, now)

    def receive_response(self, response: Response, source: Address, now: float) -> None:
        """A response from the transport, already parsed and validated."""
        branch = response.top_via.branch
        txn = self._client.get((branch, response.cseq.method)) if branch is not None else None
        if txn is None:
            self._events.append(StrayResponse(response, source))
            return
        self._drive(txn, _status_input(response.status, received=True), now, response)

    def transport_error(self, destination: Address, now: float) -> None:
        """Sending to ``destination`` failed: its transactions fail as the tables say.

        The connection of ``destination`` is not looked at: a failed host and port fail
        every transaction towards it.
        """
        key = (destination.transport, destination.host, destination.port)
        txns = self._by_destination.get(key)
        if txns:
            for txn in list(txns):
                self._drive(txn, TRANSPORT_ERROR, now)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, in deadline order."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _deadline, sequence, txn, timer = heapq.heappop(heap)
            entry = txn._timers.get(timer)
            if entry is None or entry[1] != sequence:
                self._stale -= 1
                continue
            del txn._timers[timer]
            self._drive(txn, timer, now)

    # -- inputs: the user ---------------------------------------------------------------------

    def send_request(
        self, request: Request, destination: Address, now: float
    ) -> ClientTransaction:
        """Start a client transaction; a top Via without a branch gets a fresh one."""
        if request.method == "ACK":
            raise SipUsageError("an ACK is not a transaction: use send_stateless")
        if not request.headers.get("via"):
            raise SipUsageError("the request needs a top Via before it is sent")
        via = request.top_via
        branch = via.branch
        if branch is None:
            branch = self._new_branch()
            params = dict(via.params)
            params["branch"] = branch
            _replace_top_via(
                request, Via(via.transport, via.host, via.port, params, via.protocol)
            )
        key = (branch, request.method)
        if key in self._client:
            raise SipUsageError(f"branch {branch} is already used by a {request.method}")
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = InviteClientTransaction(request, destination, key)
        else:
            txn = NonInviteClientTransaction(request, destination, key)
        self._client[key] = txn
        self._begin(txn, now)
        return txn

    def send_response(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """Send a response on a server transaction; raises `SipUsageError` if the state forbids."""
        self._drive(transaction, _status_input(response.status, received=False), now, response)

    def send_stateless(self, message: Request | Response, destination: Address) -> None:
        """Send outside any transaction: the ACK for a 2xx, 2xx retransmissions, and the like."""
        self._outgoing.append((message.to_bytes(), destination))

    def cancel(self, transaction: InviteClientTransaction, now: float) -> ClientTransaction | None:
        """Cancel an INVITE (§9.1): returns the CANCEL's transaction once it is sent.

        Before a provisional response the CANCEL waits for one and None is returned; after a
        final response there is nothing to cancel and None is returned too.
        """
        if transaction.cancel_transaction is None:
            self._drive(transaction, CANCEL, now)
        return transaction.cancel_transaction

    def find_invite_server_transaction(self, cancel: Request) -> InviteServerTransaction | None:
        """The INVITE a received CANCEL cancels (§9.2), if its transaction is still there."""
        txn = self._server.get(_server_key(cancel, cancel.top_via, "INVITE"))
        return txn if isinstance(txn, InviteServerTransaction) else None

    # -- the machinery --------------------------------------------------------------------------

    def _receive_ack(self, request: Request, via: Via, source: Address, now: float) -> None:
        txn: ServerTransaction | None
        if _is_rfc3261_branch(via.branch):
            txn = self._server.get(_server_key(request, via, "INVITE"))
        else:
            # The INVITE's To tag is the ACK's for a re-INVITE, or none for an initial one;
            # either way the ACK's To tag must be that of the response we sent (§17.2.3).
            to_tag = request.to.tag
            txn = self._server.get(_legacy_key(request, via, "INVITE", to_tag))
            if txn is None and to_tag is not None:
                txn = self._server.get(_legacy_key(request, via, "INVITE", None))
            if txn is not None and (
                txn.last_response is None or txn.last_response.to.tag != to_tag
            ):
                txn = None
        if txn is None:
            self._events.append(AckReceived(request, source))
            return
        self._drive(txn, ACK, now, request, source)

    def _reject_overload(self, request: Request, destination: Address) -> None:
        response = make_response(
            request, 503, to_tag=self._new_tag(),
            extra=[("Retry-After", str(self.retry_after))],
        )
        self._outgoing.append((response.to_bytes(), destination))

    def _begin(self, txn: Transaction, now: float) -> None:
        key = (txn.destination.transport, txn.destination.host, txn.destination.port)
        self._by_destination.setdefault(key, {})[txn] = None
        self._run(txn, txn.INITIAL[1], None, now, None, None)

    def _drive(
        self,
        txn: Transaction,
        event: TransactionInput,
        now: float,
        message: Request | Response | None = None,
        source: Address | None = None,
    ) -> None:
        was_terminated = txn.state is TERMINATED
        actions = txn.process_input(event)
        ended = not was_terminated and txn.state is TERMINATED
        if actions:
            self._run(txn, actions, event, now, message, source)
        if ended:
            self._terminate(txn)

    def _run(
        self,
        txn: Transaction,
        actions: tuple[Action, ...],
        event: TransactionInput | None,
        now: float,
        message: Request | Response | None,
        source: Address | None,
    ) -> None:
        # Inputs raised by the actions themselves (a zero-length timer, a remembered CANCEL)
        # run after this transition is complete, as if they came next from outside.
        follow_ups: list[TransactionInput] = []
        for action in actions:
            if isinstance(action, Start):
                self._start(txn, action.timer, now, follow_ups)
            elif isinstance(action, Stop):
                if txn._timers.pop(action.timer, None) is not None:
                    self._stale += 1
            else:
                self._apply(txn, action, event, now, message, source, follow_ups)
        for follow_up in follow_ups:
            self._drive(txn, follow_up, now)

    def _apply(
        self,
        txn: Transaction,
        effect: Effect,
        event: TransactionInput | None,
        now: float,
        message: Request | Response | None,
        source: Address | None,
        follow_ups: list[TransactionInput],
    ) -> None:
        out = self._outgoing
        if isinstance(txn, ClientTransaction):
            if effect is SEND_REQUEST:
                txn._wire = txn.request.to_bytes()
                out.append((txn._wire, txn.destination))
            elif effect is RETRANSMIT_REQUEST or effect is RETRANSMIT_REQUEST_AT_T2:
                assert event is not None
                out.append((txn._wire, txn.destination))
                if effect is RETRANSMIT_REQUEST:
                    txn._interval = min(2 * txn._interval, self._caps[event])
                else:
                    txn._interval = self.timers.t2
                self._schedule(txn, event, now + txn._interval)
            elif effect is PASS_RESPONSE:
                assert isinstance(message, Response)
                txn.last_response = message
                self._events.append(ResponseReceived(txn, message))
            elif isinstance(txn, InviteClientTransaction):
                self._apply_invite_client(txn, effect, message, now, follow_ups)
            else:
                self._apply_common(txn, effect)
        elif isinstance(txn, ServerTransaction):
            if effect is PASS_REQUEST:
                self._events.append(RequestReceived(txn, txn.request))
            elif effect is SEND_RESPONSE or effect is SEND_TRYING:
                response = message if effect is SEND_RESPONSE else make_response(txn.request, 100)
                assert isinstance(response, Response)
                txn.last_response = response
                txn._wire = response.to_bytes()
                out.append((txn._wire, txn.destination))
            elif effect is RESEND_RESPONSE:
                if txn._wire:
                    out.append((txn._wire, txn.destination))
            elif effect is RETRANSMIT_RESPONSE:
                assert event is not None
                out.append((txn._wire, txn.destination))
                txn._interval = min(2 * txn._interval, self._caps[event])
                self._schedule(txn, event, now + txn._interval)
            elif effect is PASS_ACK:
                assert isinstance(message, Request) and source is not None
                self._events.append(AckReceived(message, source))
            else:
                self._apply_common(txn, effect)

    def _apply_invite_client(
        self,
        txn: InviteClientTransaction,
        effect: Effect,
        message: Request | Response | None,
        now: float,
        follow_ups: list[TransactionInput],
    ) -> None:
        if effect is SEND_ACK:
            assert isinstance(message, Response)
            txn._ack_wire = build_ack(txn.request, message).to_bytes()
            self._outgoing.append((txn._ack_wire, txn.destination))
        elif effect is RESEND_ACK:
            self._outgoing.append((txn._ack_wire, txn.destination))
        elif effect is REMEMBER_CANCEL:
            txn.cancel_requested = True
        elif effect is REPLAY_CANCEL:
            if txn.cancel_requested:
                follow_ups.append(CANCEL)
        elif effect is SEND_CANCEL:
            cancel = build_cancel(txn.request)
            key = (txn.branch, "CANCEL")
            cancel_txn = NonInviteClientTransaction(cancel, txn.destination, key)
            self._client[key] = cancel_txn
            txn.cancel_transaction = cancel_txn
            self._begin(cancel_txn, now)
        else:
            self._apply_common(txn, effect)

    def _apply_common(self, txn: Transaction, effect: Effect) -> None:
        if effect is REPORT_TIMEOUT:
            self._events.append(TransactionTimedOut(txn))
        elif effect is REPORT_TRANSPORT_ERROR:
            self._events.append(TransportFailed(txn))
        else:  # pragma: no cover - a table names an effect its machine cannot carry out
            raise SipError(f"{type(txn).__name__} cannot {effect.value}")

    def _start(
        self,
        txn: Transaction,
        timer: TransactionInput,
        now: float,
        follow_ups: list[TransactionInput],
    ) -> None:
        duration = self._durations[txn.reliable][timer]
        if duration is None:
            return
        if duration <= 0:
            # Timers D, I, J, K are zero on reliable transports: fire without the heap.
            follow_ups.append(timer)
            return
        if timer in _RETRANSMIT_TIMERS:
            assert isinstance(txn, ClientTransaction | ServerTransaction)
            txn._interval = duration
        self._schedule(txn, timer, now + duration)

    def _schedule(self, txn: Transaction, timer: TransactionInput, deadline: float) -> None:
        if timer in txn._timers:
            self._stale += 1
        self._sequence += 1
        txn._timers[timer] = (deadline, self._sequence)
        heapq.heappush(self._heap, (deadline, self._sequence, txn, timer))
        if self._stale > 1024 and 2 * self._stale > len(self._heap):
            self._compact()

    def _compact(self) -> None:
        # Lazy deletion leaves stopped timers in the heap until they come due; rebuild it
        # when they are the majority so memory follows the live timers.
        live: list[_HeapEntry] = []
        for entry in self._heap:
            current = entry[2]._timers.get(entry[3])
            if current is not None and current[1] == entry[1]:
                live.append(entry)
        heapq.heapify(live)
        self._heap = live
        self._stale = 0

    def _terminate(self, txn: Transaction) -> None:
        self._stale += len(txn._timers)
        txn._timers.clear()
        if isinstance(txn, ClientTransaction):
            if self._client.get(txn.key) is txn:
                del self._client[txn.key]
        elif isinstance(txn, ServerTransaction):
            if self._server.get(txn.key) is txn:
                del self._server[txn.key]
            raw = txn.received_as
            if raw is not None and self._by_wire.get(raw) is txn:
                del self._by_wire[raw]
        key = (txn.destination.transport, txn.destination.host, txn.destination.port)
        same = self._by_destination.get(key)
        if same is not None:
            same.pop(txn, None)
            if not same:
                del self._by_destination[key]
        self._events.append(TransactionTerminated(txn))

    def _new_branch(self) -> str:
        return f"{MAGIC_COOKIE}{self._rng.getrandbits(80):020x}"

    def _new_tag(self) -> str:
        return f"{self._rng.getrandbits(48):012x}"
